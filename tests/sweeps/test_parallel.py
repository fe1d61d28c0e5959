"""arerec.sweeps.parallel: runs trained in worker processes give what one by one gives; a failure names its log."""

import subprocess
import sys

import numpy as np
import pytest
from conftest import tiny_config

from arerec.errors import ArerecError
from arerec.sweeps import parallel
from arerec.sweeps.parallel import train_in_parallel
from arerec.sweeps.seeds import run_seeds, sweep
from arerec.train.loop import is_finished


def test_train_in_parallel_gives_the_runs_of_training_one_by_one(tmp_path):
    variants = {"lazy": {"update_mode": "lazy"}}
    together = tiny_config(tmp_path / "together", epochs=1)
    cfgs = [c for _, _, c in sweep(together, [0, 1], variants)]
    trained = train_in_parallel(cfgs, workers=2, poll_s=0.2)
    assert len(trained) == 2 and all(is_finished(c) for c in cfgs)
    for name in trained:  # each worker's output, beside its run folder
        assert (tmp_path / "together" / "Model" / "synthetic" / f"{name}.log").read_text().strip()
    assert train_in_parallel(cfgs, workers=2) == []  # finished: nothing to do
    loaded = run_seeds(together, [0, 1], variants)  # the sweep loads what the workers trained
    alone = run_seeds(tiny_config(tmp_path / "alone", epochs=1), [0, 1], variants)
    assert sorted(loaded["model_name"]) == sorted(trained)
    # same seed, same numbers, whether trained in a worker process or here
    np.testing.assert_allclose(loaded["rmse"], alone["rmse"], rtol=1e-5)
    np.testing.assert_allclose(loaded["loss"], alone["loss"], rtol=1e-5)


def test_train_in_parallel_leaves_one_worker_to_the_sweep(tmp_path):
    cfgs = [c for _, _, c in sweep(tiny_config(tmp_path, epochs=1), [0, 1])]
    assert train_in_parallel(cfgs, workers=1) == []
    assert not any(is_finished(c) for c in cfgs)


def test_train_in_parallel_names_a_failed_run_and_its_log(tmp_path, monkeypatch):
    real_popen = subprocess.Popen

    def failing(command, **kwargs):
        return real_popen([sys.executable, "-c", "import sys; print('worker broke'); sys.exit(3)"], **kwargs)

    monkeypatch.setattr(parallel.subprocess, "Popen", failing)
    cfgs = [c for _, _, c in sweep(tiny_config(tmp_path, epochs=1), [0, 1, 2])]
    with pytest.raises(ArerecError) as error:
        train_in_parallel(cfgs, workers=2, poll_s=0.1)
    message = str(error.value)
    assert "exit status 3" in message and ".log" in message and "finished runs are kept" in message
    log_path = message.split("its log: ")[1].split(")")[0]
    assert "worker broke" in open(log_path).read()
    # the first failure stops new launches: the third run never started
    assert message.count("exit status 3") == 2
