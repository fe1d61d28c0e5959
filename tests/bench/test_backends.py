"""The backend-agnostic step timer (what ran on the GPU machine) works end to end on tiny shapes."""

import json

import keras
import pytest

from arerec.bench import backends


def test_backend_bench_times_every_phase_and_writes_json(tmp_path):
    out = tmp_path / "gpu.json"
    backends.main(["--shape", "tiny", "--warmup", "1", "--repeats", "2", "--steps", "1", "--out", str(out)])
    record = json.loads(out.read_text())
    assert record["backend"] == keras.backend.backend()
    assert record["num_lcu"] == backends.SHAPES["tiny"]["num_lcu"]
    for phase in ("forward", "forward_backward", "train_step"):
        assert record[f"{phase}_s"] > 0
        assert len(record[f"{phase}_runs_s"]) == 2
    assert record["epoch_estimated_s"] == pytest.approx(record["train_step_s"] * record["steps_per_epoch"])


def test_backend_bench_rejects_an_unknown_shape():
    with pytest.raises(ValueError, match="shape must be one of"):
        backends.run("ml-20m")
