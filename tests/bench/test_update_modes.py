"""`python -m arerec bench` end to end on tiny synthetic data: each mode in its own worker."""

import json
import statistics

import pytest
from conftest import tiny_config

from arerec.bench.update_modes import ratios, run_bench

pytestmark = pytest.mark.tensorflow_only  # TensorFlow's own code path


def test_bench_times_each_mode_and_an_epoch_and_writes_json_and_plot(tmp_path, caplog):
    cfg = tiny_config(tmp_path)
    out = tmp_path / "bench"
    record = run_bench(cfg, data="synthetic", modes=["dense", "lazy-jit-rowwise"], warmup=1, repeats=2, steps=1,
                       epoch=2, name="tiny", out=out)
    saved = json.loads((out / "tiny.json").read_text())
    assert (out / "tiny.png").stat().st_size > 0
    assert saved["modes"].keys() == {"dense", "lazy-jit-rowwise"}
    for values in saved["modes"].values():
        assert "error" not in values, values
        assert values["train_step_s"] > 0 and values["forward_backward_s"] > 0 and values["epoch_s"] > 0
        assert len(values["train_step_runs_s"]) == 2
        assert len(values["epoch_runs_s"]) == 2 and values["epoch_s"] == statistics.median(values["epoch_runs_s"])
        assert values["peak_rss_mb"] > 0
    fast = saved["modes"]["lazy-jit-rowwise"]
    assert (fast["update_mode"], fast["jit_compile"], fast["second_moment"]) == ("lazy", 1, "rowwise")
    assert fast["optimizer_mb"] < saved["modes"]["dense"]["optimizer_mb"]  # one v per LCU row, not per float
    assert saved["ratios"] == record["ratios"]
    assert saved["ratios"]["step_dense_over_lazy-jit-rowwise"] > 0
    assert set(saved["git"]) == {"commit", "dirty"}
    assert saved["machine"]["cores"] >= 1 and saved["preparation"]["train_rows"] > 0


def test_ratios_compare_every_fast_mode_with_dense_in_the_same_run():
    modes = {"dense": {"train_step_s": 0.3, "forward_backward_s": 0.05, "epoch_s": 30.0},
             "lazy-jit": {"train_step_s": 0.1, "forward_backward_s": 0.05, "epoch_s": 10.0},
             "lazy": {"error": "the worker exited with status 1 (its log is above)"}}
    got = ratios(modes)
    assert got["step_dense_over_lazy-jit"] == pytest.approx(3.0)
    assert got["epoch_dense_over_lazy-jit"] == pytest.approx(3.0)
    assert got["step_lazy-jit_over_forward_backward"] == pytest.approx(2.0)
    assert not any("_lazy_" in key or key.endswith("_lazy") for key in got)
