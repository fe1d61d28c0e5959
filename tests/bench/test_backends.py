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
    phases = ["forward", "forward_backward", "train_step"]
    phases += {"jax": ["jitted_train_step"], "torch": ["lazy_train_step", "lazy_train_step_compiled"]}.get(
        keras.backend.backend(), [])
    for phase in phases:
        assert record[f"{phase}_s"] > 0
        assert len(record[f"{phase}_runs_s"]) == 2
    assert record["epoch_estimated_s"] == pytest.approx(record["train_step_s"] * record["steps_per_epoch"])


def test_backend_bench_rejects_an_unknown_shape():
    with pytest.raises(ValueError, match="shape must be one of"):
        backends.run("ml-20m")


def test_the_update_mode_bench_names_the_epoch_bench_under_another_backend(tmp_path, monkeypatch):
    from arerec.bench.update_modes import run_bench
    from arerec.config import Config
    from arerec.errors import ConfigError

    monkeypatch.setenv("KERAS_BACKEND", "jax")
    with pytest.raises(ConfigError, match="python -m arerec.bench.epochs"):
        run_bench(Config(), data="synthetic", modes=["dense"], warmup=1, repeats=1, steps=1, epoch=0, name="x",
                  out=tmp_path / "x.json")


def test_the_epoch_bench_rejects_a_bad_variant():
    import argparse

    from arerec.bench.epochs import parse_variant

    assert parse_variant("jax:lazy") == ("jax", "lazy")
    assert parse_variant("torch:dense") == ("torch", "dense")
    with pytest.raises(argparse.ArgumentTypeError, match="BACKEND:MODE"):
        parse_variant("numpy:dense")
