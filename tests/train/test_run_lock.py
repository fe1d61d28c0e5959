"""One process per run folder, with real processes: a second `train` is refused at once naming the holder, writes
nothing, and a SIGKILLed holder leaves no lock (the next process trains); a sweep's train_or_load waits instead."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import tiny_config

from arerec.locks import read_holder
from arerec.train import loop
from arerec.train.runs import experiment_paths

TINY = ["--dataset", "synthetic", "--synthetic_users", "40", "--synthetic_items", "16", "--synthetic_ratings", "500",
        "--min_seq", "5", "--batch_size", "16", "--emb_size", "8", "--region_size", "3", "--lr", "0.01",
        "--topk", "3", "5", "--verbose", "2", "--save_checkpoints_epochs", "1"]


def train_command(tmp_path: Path, epochs: int) -> list[str]:
    return [sys.executable, "-m", "arerec", "train", *TINY, "--data_path", str(tmp_path / "Data"),
            "--model_path", str(tmp_path / "Model"), "--epochs", str(epochs)]


def wait_for(found, what: str, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


@pytest.mark.slow
def test_a_second_train_is_refused_and_a_killed_holder_leaves_no_lock(tmp_path):
    # A trains for long enough (many tiny epochs); B, the same run, is refused while A holds it
    a = subprocess.Popen(train_command(tmp_path, 10_000), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        results = wait_for(lambda: next((tmp_path / "Model" / "synthetic").glob("*/result_*"), None)
                           if (tmp_path / "Model" / "synthetic").is_dir() else None, "A's first epoch")
        root = results.parent
        assert read_holder(root / ".lock").pid == a.pid
        config_written = (root / "config.json").stat().st_mtime_ns
        started = time.perf_counter()
        b = subprocess.run(train_command(tmp_path, 10_000), capture_output=True, text=True, timeout=300)
        print(f"B exited {b.returncode} after {time.perf_counter() - started:.1f} s; its stderr:\n{b.stderr}")
        assert b.returncode == 2
        assert (f"error: run {root.name} ({root}) is in use by pid {a.pid} on host {socket.gethostname()} "
                in b.stderr)
        assert "Wait for that process to finish" in b.stderr
        assert (root / "config.json").stat().st_mtime_ns == config_written  # B wrote nothing
        assert a.poll() is None  # and A trains on
    finally:
        os.kill(a.pid, signal.SIGKILL)
        a.wait()
    epochs = pd.read_csv(results)["epoch"].tolist()
    assert epochs == list(range(1, len(epochs) + 1))  # one history, each epoch once
    # C: the same run after A was killed mid-run trains (its lock died with A), from epoch 1 over A's run
    c = subprocess.run(train_command(tmp_path, 2), capture_output=True, text=True, timeout=300)
    print(f"C exited {c.returncode}; the last lines of its output:\n{c.stdout[-400:]}")
    assert c.returncode == 0, c.stderr[-2000:]
    assert pd.read_csv(results)["epoch"].tolist() == [1, 2]
    assert read_holder(root / ".lock").pid is None  # C released it


HOLD_RUN = """
import sys, time
from arerec.locks import exclusive
with exclusive(sys.argv[1], "the run", wait=False, advice="wait"):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def test_a_sweeps_train_or_load_waits_for_the_run_then_trains_it(tmp_path, caplog):
    cfg = tiny_config(tmp_path, epochs=1)
    paths = experiment_paths(loop.load_experiment(cfg))
    holder = subprocess.Popen([sys.executable, "-c", HOLD_RUN, str(paths.lock), "2"], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    started = time.perf_counter()
    with caplog.at_level("WARNING", logger="arerec.locks"):
        result = loop.train_or_load(cfg)
    assert time.perf_counter() - started > 1 and holder.wait(5) == 0
    assert f"is in use by pid {holder.pid} on host" in caplog.text
    assert result.history["epoch"].tolist() == [1] and result.paths == paths
