"""arerec.sweeps.parallel: runs trained in worker processes give what one by one gives; a failure names its log."""

import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import tiny_config

from arerec.console import LOG_ENV
from arerec.errors import ArerecError
from arerec.sweeps import parallel
from arerec.sweeps.parallel import train_in_parallel
from arerec.sweeps.seeds import run_seeds, sweep
from arerec.train.loop import is_finished


def test_train_in_parallel_gives_the_runs_of_training_one_by_one(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(LOG_ENV, raising=False)
    variants = {"lazy": {"update_mode": "lazy"}}
    together = tiny_config(tmp_path / "together", epochs=1)
    cfgs = [c for _, _, c in sweep(together, [0, 1], variants)]
    trained = train_in_parallel(cfgs, workers=2)
    assert len(trained) == 2 and all(is_finished(c) for c in cfgs)
    said = capsys.readouterr().err
    # the other run may have ended too by the time the first is reported
    assert re.search(r"\[workers\] 1/2 runs done, [01] running, 0 queued \(\d+ s so far, about \d+ s left\)", said)
    assert "[workers] 2/2 runs done, 0 running, 0 queued" in said
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

    def failing(command, **kwargs):  # fails after a moment: both workers have started by then
        broken = "import sys, time; print('worker broke', flush=True); time.sleep(0.5); sys.exit(3)"
        return real_popen([sys.executable, "-c", broken], **kwargs)

    monkeypatch.setattr(parallel.subprocess, "Popen", failing)
    cfgs = [c for _, _, c in sweep(tiny_config(tmp_path, epochs=1), [0, 1, 2])]
    with pytest.raises(ArerecError) as error:
        train_in_parallel(cfgs, workers=2)
    message = str(error.value)
    assert "exit status 3" in message and ".log" in message and "finished runs are kept" in message
    log_path = message.split("its log: ")[1].split(")")[0]
    assert "worker broke" in open(log_path).read()
    # the first failure stops new launches: the third run never started
    assert message.count("exit status 3") == 2


def test_an_interrupted_sweep_leaves_no_worker_running(tmp_path, monkeypatch):
    real_popen = subprocess.Popen
    runs = iter(["pass"] + ["import time; time.sleep(120)"] * 2)  # the first ends at once, the others would not
    workers = []

    def worker(command, **kwargs):
        workers.append(real_popen([sys.executable, "-c", next(runs)], **kwargs))
        return workers[-1]

    def interrupted(text):  # Ctrl-C reaches the sweep as it reports the first run that ended
        if "finished" in text:
            raise KeyboardInterrupt
    monkeypatch.setattr(parallel.subprocess, "Popen", worker)
    monkeypatch.setattr(parallel, "say", interrupted)
    cfgs = [c for _, _, c in sweep(tiny_config(tmp_path, epochs=1), [0, 1, 2])]
    started = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        train_in_parallel(cfgs, workers=2)
    assert time.perf_counter() - started < 60  # it did not wait for the sleeping workers to end by themselves
    # the first ended by itself; every sleeper (the second, and the third when its thread started it before Ctrl-C
    # stopped the pool) was terminated and reaped
    assert workers[0].returncode == 0 and len(workers) in (2, 3)
    assert [w.returncode for w in workers[1:]] == [-signal.SIGTERM] * (len(workers) - 1)
