"""A training process killed mid-epoch resumes from its last checkpoint, each epoch recorded once."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

TINY = ["--dataset", "synthetic", "--synthetic_users", "40", "--synthetic_items", "16", "--synthetic_ratings",
        "500", "--min_seq", "5", "--batch_size", "8", "--emb_size", "8", "--region_size", "3", "--lr", "0.01",
        "--topk", "3", "5", "--verbose", "2", "--save_checkpoints_epochs", "1"]


def test_sigkill_mid_epoch_then_resume(tmp_path):
    common = ["--data_path", str(tmp_path / "Data"), "--model_path", str(tmp_path / "Model"), *TINY]
    subprocess.run([sys.executable, "-m", "arerec", "prepare", *common], check=True, capture_output=True)
    proc = subprocess.Popen([sys.executable, "-m", "arerec", "train", *common, "--epochs", "30"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    runs = tmp_path / "Model" / "synthetic"
    deadline = time.time() + 240
    while time.time() < deadline and not list(runs.glob("*/weight/cp-0002.ckpt")):
        time.sleep(0.2)
    time.sleep(0.3)  # into epoch 3
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    run = next(runs.iterdir())
    done = sorted(p.name for p in (run / "weight").glob("cp-*.ckpt"))
    assert "cp-0002.ckpt" in done and "cp-0030.ckpt" not in done
    last = done[-1]

    resumed = subprocess.run([sys.executable, "-m", "arerec", "resume", *common, "--model_name", run.name,
                              "--epochs", "5"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert f"continuing at epoch {int(last[3:7]) + 1}" in resumed.stderr
    results = pd.read_csv(run / f"result_{run.name}")
    assert results["epoch"].tolist() == [1, 2, 3, 4, 5]
    assert not [p for p in Path(run).rglob("*.tmp")]  # no half-written file survives


def test_sigkill_mid_epoch_then_resume_under_the_lean_policy(tmp_path):
    """checkpoint_policy lean: a killed run holds its latest checkpoint (and, at most, the one that checkpoint was
    replacing), resumes from it, and once finished keeps only its last epoch's weights."""
    common = ["--data_path", str(tmp_path / "Data"), "--model_path", str(tmp_path / "Model"), *TINY,
              "--checkpoint_policy", "lean"]
    subprocess.run([sys.executable, "-m", "arerec", "prepare", *common], check=True, capture_output=True)
    proc = subprocess.Popen([sys.executable, "-m", "arerec", "train", *common, "--epochs", "30"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    runs = tmp_path / "Model" / "synthetic"
    deadline = time.time() + 240
    while time.time() < deadline and not list(runs.glob("*/weight/cp-0002.ckpt")):
        time.sleep(0.2)
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    run = next(runs.iterdir())
    done = sorted(p.name for p in (run / "weight").glob("cp-*.ckpt"))
    assert 1 <= len(done) <= 2 and "cp-0001.ckpt" not in done[-1:], done
    resumed = subprocess.run([sys.executable, "-m", "arerec", "resume", *common, "--model_name", run.name,
                              "--epochs", "5"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert f"continuing at epoch {int(done[-1][3:7]) + 1}" in resumed.stderr
    assert pd.read_csv(run / f"result_{run.name}")["epoch"].tolist() == [1, 2, 3, 4, 5]
    assert sorted(p.name for p in (run / "weight").iterdir()) == ["cp-0005.ckpt", "final.json"]
