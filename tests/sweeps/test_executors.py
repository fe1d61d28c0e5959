"""arerec.sweeps.executors: a sweep's runs as Ray tasks give the local executor's numbers, survive a killed worker by
resuming from its checkpoint, and every misconfiguration fails before training, naming the fix."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import tiny_config

from arerec.errors import ClusterError, ConfigError, SharedStorageError
from arerec.sweeps import ablation, executors
from arerec.sweeps.executors import Executor, train_runs
from arerec.sweeps.seeds import run_seeds
from arerec.train.loop import is_finished

TIMES = ["train_seconds", "seconds"]  # wall times: the only columns allowed to differ


# --------------------------------------------------------------------------------------------
# Without a Ray instance: settings, a missing Ray, an unreachable cluster, storage a node cannot see
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("values, fragment", [
    ({"kind": "slurm"}, "executor must be one of 'local', 'ray'"),
    ({"kind": "ray", "num_cpus": 0}, "ray_num_cpus must be a number > 0"),
    ({"kind": "ray", "num_gpus": -1}, "ray_num_gpus must be a number >= 0"),
    ({"kind": "ray", "num_gpus": 1.5}, "a whole one above 1"),
    ({"workers": 0}, "workers must be an integer >= 1"),
    ({"ray_address": None}, "ray_address must be ''"),
])
def test_bad_settings_fail_naming_the_valid_values(values, fragment):
    with pytest.raises(ConfigError, match=re.escape(fragment)) as error:
        Executor(**values)
    assert "received: " in str(error.value)


def test_the_notebook_settings_make_the_executor_and_are_checked_with_the_others():
    from arerec.report.parameters import resolve

    extras = resolve({"executor": "ray", "ray_address": "auto", "ray_num_cpus": 2, "ray_num_gpus": 1}).extras
    assert executors.from_extras(extras) == Executor("ray", 1, "auto", 2, 1)
    with pytest.raises(ConfigError, match=r"ray_num_cpus must be > 0, received: -2"):
        resolve({"ray_num_cpus": -2})


def test_each_task_gets_the_backend_and_the_allocator_settings(monkeypatch):
    from arerec.malloc_tuning import MALLOC_ENV

    for key in MALLOC_ENV:  # `make test` runs pytest under them
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")  # set by hand: kept, as arerec.malloc_tuning does
    monkeypatch.delenv("AREREC_MALLOC_TUNING", raising=False)
    env = executors.task_environment()
    assert env["KERAS_BACKEND"] == "jax" and env["MALLOC_ARENA_MAX"] == "4" and set(MALLOC_ENV) <= set(env)
    monkeypatch.setenv("AREREC_MALLOC_TUNING", "0")
    monkeypatch.delenv("MALLOC_ARENA_MAX")
    assert not set(MALLOC_ENV) & set(executors.task_environment())  # tuning off: glibc's defaults, as here


def test_without_ray_the_error_gives_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    cfg = tiny_config(tmp_path)
    with pytest.raises(ConfigError, match=re.escape("install it with `pip install -e '.[cluster]'`")):
        train_runs([cfg], Executor("ray"))
    assert not (tmp_path / "Data").exists()  # failed before preparing (or training) anything


def test_an_unreachable_address_names_it_and_the_fix(tmp_path):
    with socket.socket() as probe:  # a port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    address = f"127.0.0.1:{port}"
    started = time.perf_counter()
    with pytest.raises(ClusterError) as error:
        train_runs([tiny_config(tmp_path)], Executor("ray", ray_address=address))
    message = str(error.value)
    assert f"ray_address '{address}'" in message and "ray start --head" in message and "executor: local" in message
    # refused at once, not after ray.init's own wait (over 200 s measured): the bound leaves room for importing Ray on
    # a loaded machine (22 s seen with the load average at 9)
    assert time.perf_counter() - started < 6 * executors.CONNECT_TIMEOUT_S and not (tmp_path / "Data").exists()
    with pytest.raises(ClusterError, match=r"waited 0\.3 s"):  # TEST-NET-1: nothing answers there
        executors.check_reachable("ray://192.0.2.1:10001", timeout_s=0.3)
    with pytest.raises(ConfigError, match="ray_address must be '', 'auto' or 'HOST:PORT'"):
        executors.check_reachable("head:port")


def test_a_task_that_cannot_see_the_drivers_marker_names_the_folder_and_the_node(tmp_path):
    cfg = executors.shipped(tiny_config(tmp_path))
    seen = executors.write_markers([cfg], "seen")
    assert Path(seen["model_path", cfg.training.model_path]).is_file() and Path(seen["data_path", cfg.data.data_path]).is_file()
    missing = str(tmp_path / "elsewhere" / ".arerec-shared-x")  # as on a node that mounts another disk there
    with pytest.raises(SharedStorageError) as error:
        executors.run_task(cfg.to_dict(), "a_run", {"data_path": seen["data_path", cfg.data.data_path], "model_path": missing})
    message = str(error.value)
    assert "model_path must be shared storage that every node" in message and missing in message
    assert f"node {executors.node_name()}" in message and "executor: local" in message
    assert [p.name for p in (tmp_path / "Model").iterdir()] == [".arerec-shared-seen"]  # nothing trained


# --------------------------------------------------------------------------------------------
# On a local Ray instance of 2 CPUs
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ray_instance():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_an_ablation_on_ray_gives_the_local_table(ray_instance, tmp_path, capsys):
    def variants(folder):
        return ablation.ablation_variants(tiny_config(tmp_path / folder), [{"use_attention": 0}], epochs=2)

    local = ablation.run_ablation(variants("local"), k=5, seeds=[0])
    assert "executor local: 2 left to the sweep's loop (one by one)" in capsys.readouterr().err  # the log channel
    on_ray = ablation.run_ablation(variants("ray"), k=5, seeds=[0], executor=Executor("ray"))
    out = capsys.readouterr().err
    assert "executor ray: 2 trained as Ray tasks" in out and "[ray] 2/2 runs done, 0 running, 0 queued" in out
    assert len(local) == 2 and (local["epochs_trained"] == 2).all()
    # same seeds, same numbers: every column but the wall times (the loss and each metric, to the last digit)
    pd.testing.assert_frame_equal(on_ray.drop(columns=TIMES), local.drop(columns=TIMES), check_exact=True)
    again = ablation.run_ablation(variants("ray"), k=5, seeds=[0], executor=Executor("ray"))
    assert "executor ray: 2 loaded (finished before)" in capsys.readouterr().err
    pd.testing.assert_frame_equal(again.drop(columns="seconds"), on_ray.drop(columns="seconds"))
    assert not list((tmp_path / "ray").rglob(".arerec-shared-*"))  # the driver's markers are gone


@pytest.mark.slow
def test_a_killed_worker_is_retried_and_its_run_resumes_from_its_checkpoint(ray_instance, tmp_path, monkeypatch):
    monkeypatch.setenv(executors.PAUSE_ENV, "30")  # each task waits after cp-0001: the window to kill it in
    cfg = tiny_config(tmp_path / "ray", epochs=2)
    runs = tmp_path / "ray" / "Model" / "synthetic"
    killed: dict = {}

    def kill_after_the_first_checkpoint():
        deadline = time.time() + 120
        while time.time() < deadline and not list(runs.glob("*/weight/cp-0001.ckpt")):
            time.sleep(0.05)
        run = next(runs.glob("*/weight/cp-0001.ckpt")).parents[1]
        killed["pid"] = int((runs / f"{run.name}.pid").read_text().split()[0])
        killed["epoch 1"] = pd.read_csv(run / f"result_{run.name}")
        os.kill(killed["pid"], signal.SIGKILL)

    killer = threading.Thread(target=kill_after_the_first_checkpoint)
    killer.start()
    [outcome] = train_runs([cfg], Executor("ray"), poll_s=0.2)
    killer.join()
    assert killed["epoch 1"]["epoch"].tolist() == [1]  # killed mid-run: epoch 1 done, epoch 2 not
    assert (outcome.trained_by, outcome.attempts, outcome.resumed_from) == ("ray", 2, "cp-0001.ckpt")
    run = runs / outcome.name
    log = (runs / f"{outcome.name}.log").read_text()
    assert f"attempt 1 on {executors.node_name()}, pid {killed['pid']}" in log
    assert "attempt 2" in log and "stopped part-way: resuming from cp-0001.ckpt" in log
    results = pd.read_csv(run / f"result_{outcome.name}")
    assert results["epoch"].tolist() == [1, 2]  # each epoch trained once
    pd.testing.assert_frame_equal(results.iloc[:1], killed["epoch 1"])  # epoch 1's row, its time too, is the original
    assert is_finished(cfg) and not (runs / f"{outcome.name}.pid").exists()
    # the resumed run's numbers are those of an uninterrupted local run with the same seed
    resumed = run_seeds(cfg, [0])
    local = run_seeds(tiny_config(tmp_path / "local", epochs=2), [0])
    pd.testing.assert_frame_equal(resumed.drop(columns=["train_seconds", "seconds", "eval_seconds"]),
                                  local.drop(columns=["train_seconds", "seconds", "eval_seconds"]), check_exact=True)


@pytest.mark.slow
def test_a_node_that_cannot_see_model_path_stops_the_sweep_with_the_fix(ray_instance, tmp_path, monkeypatch):
    real = executors.write_markers

    def elsewhere(cfgs, token):  # the driver's markers land where the node does not look
        return {key: str(Path(marker).with_name(".not-here")) for key, marker in real(cfgs, token).items()}

    monkeypatch.setattr(executors, "write_markers", elsewhere)
    cfg = tiny_config(tmp_path)
    with pytest.raises(SharedStorageError, match=r"model_path must be shared storage .* node "):
        train_runs([cfg], Executor("ray"), poll_s=0.2)
    assert not list((tmp_path / "Model").rglob("cp-*.ckpt")) and not is_finished(cfg)


def compare_args(tmp_path: Path, *extra: str) -> list[str]:
    cfg = tiny_config(tmp_path)
    return ["compare", "--seeds", "0", "--data_path", cfg.data.data_path, "--model_path", cfg.training.model_path,
            "--dataset", "synthetic", "--synthetic_users", "40", "--synthetic_items", "16", "--synthetic_ratings", "500",
            "--min_seq", "5", "--batch_size", "16", "--emb_size", "8", "--region_size", "3", "--lr", "0.01",
            "--epochs", "1", "--topk", "3", "5", "--verbose", "0", *extra]


def test_compare_refuses_a_bad_executor_before_training(tmp_path, capsys):
    from arerec import cli

    assert cli.main(compare_args(tmp_path, "--executor", "slurm")) == 2
    assert "error: executor must be one of local, ray, received: 'slurm'" in capsys.readouterr().err
    assert not (tmp_path / "Model").exists()


@pytest.mark.slow
def test_compare_trains_its_runs_on_ray_from_a_params_layer(ray_instance, tmp_path, capsys):
    from conftest import REPO

    from arerec import cli

    assert cli.run(compare_args(tmp_path, "--params", str(REPO / "params" / "cluster.yaml"))) == 0
    captured = capsys.readouterr()
    out = captured.out
    assert "executor ray: 1 trained as Ray tasks" in captured.err and re.search(r"^\w+ \(n=1\): rmse ", out, re.M)


@pytest.mark.slow
def test_a_search_on_ray_gives_the_local_trials_and_a_killed_trial_resumes_from_its_checkpoint(
        ray_instance, tmp_path, monkeypatch):
    from arerec.sweeps import tuning
    from arerec.train.runs import read_results, run_paths

    values = {"n_trials": 2, "n_startup_trials": 1, "reports_per_epoch": 2, "max_epochs": 2, "patience": 2,
              "pruner": "none", "selection_metric": "val_ce", "seed": 0,
              "spaces": {"arerec": {"lr": {"low": 0.003, "high": 0.1, "log": True}}}}

    def base(folder: str):
        return tiny_config(tmp_path / folder, synthetic_ratings=640, test_ratio=0.3)

    def table(result):
        return [(t["params"], t["state"], t["epochs"], round(t["val_score"], 10))
                for t in result.studies["arerec"].trials]

    local = tuning.search(base("local"), values)
    monkeypatch.setenv(executors.PAUSE_ENV, "5")  # each trial's task waits after cp-0001: the window to kill it in
    runs = tmp_path / "ray" / "Model"
    killed: dict = {}

    def kill_the_first_trial_after_its_first_checkpoint():
        deadline = time.time() + 180
        while time.time() < deadline and not list(runs.rglob("weight/cp-0001.ckpt")):
            time.sleep(0.05)
        run = next(runs.rglob("weight/cp-0001.ckpt")).parents[1]
        holder = run / ".lock.holder.json"
        while time.time() < deadline and not holder.is_file():
            time.sleep(0.05)
        killed["run"] = run.name
        killed["pid"] = int(json.loads(holder.read_text())["pid"])
        # epoch 1's training time as the killed process wrote it: a run trained again from epoch 1 would differ
        killed["epoch1_seconds"] = float(pd.read_csv(run / f"result_{run.name}")["seconds"].iloc[0])
        os.kill(killed["pid"], signal.SIGKILL)

    killer = threading.Thread(target=kill_the_first_trial_after_its_first_checkpoint)
    killer.start()
    on_ray = tuning.search(base("ray"), values, executor=Executor("ray"))
    killer.join()
    assert killed["pid"] != os.getpid()  # a worker died, not the driver
    # the same trials as the local search: parameters, states, epochs and validation scores to 10 digits
    assert table(on_ray) == table(local) and len(table(on_ray)) == 2
    # the retried task told the killed trial FAIL and ran it again (Optuna's enqueue_trial), as trial 1
    assert [(t["number"], t["resumes"]) for t in on_ray.studies["arerec"].trials] == [(1, 0), (2, None)]
    # the killed trial's run resumed from cp-0001: each epoch trained once, epoch 1 by the killed worker
    trial = next(t for t in on_ray.studies["arerec"].trials if t["run"] == killed["run"])
    history = read_results(run_paths(base("ray"), trial["run"]))
    assert history["epoch"].tolist() == [1, 2]
    assert float(history["seconds"].iloc[0]) == killed["epoch1_seconds"]
