"""Runs over seeds and variants, summarised as mean ± 95% CI (issue: seeds and uncertainty)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from arerec.config import Config
from arerec.errors import ArerecError
from arerec.evaluate.stats import summarise_seeds
from arerec.files import write_csv_atomic

log = logging.getLogger(__name__)

HEADLINE_METRICS = ("hr@10", "ndcg@10", "std_ndcg@10", "rmse", "mae", "accuracy")


def sweep(cfg: Config, seeds: Sequence[int], variants: Mapping[str, Mapping] | None = None):
    """(label, seed, Config) of every run of a sweep: each variant's overrides under each seed."""
    return [(label, seed, cfg.replace(**{**overrides, "seed": seed}))
            for label, overrides in (variants or {"arerec": {}}).items() for seed in seeds]


def run_seeds(cfg: Config, seeds: Sequence[int], variants: Mapping[str, Mapping] | None = None,
              out: str | Path | None = None, columns: Mapping[str, object] | None = None,
              progress=None) -> pd.DataFrame:
    """Train (or re-use) every variant under every seed; one row per (variant, seed).

    ``variants`` maps a label to Config overrides (default: the configuration itself). Finished
    runs under ``model_path`` are loaded, not retrained, so an interrupted sweep resumes. With
    ``out``, the table is rewritten atomically after every run. ``columns`` are constant
    columns put first in every row (e.g. the protocol). Only one model is held at a time.
    """
    from arerec.train.build import free_models
    from arerec.train.loop import train_or_load

    rows = []
    for label, seed, run_cfg in sweep(cfg, seeds, variants):
        log.info("variant %s, seed %d", label, seed)
        what = " ".join([*(f"{v}:" for v in (columns or {}).values()), f"{label}, seed {seed}"])
        if progress is None:
            print(what, flush=True)
        else:
            progress.start(what)
        started = time.perf_counter()
        result = train_or_load(run_cfg)
        if progress is not None:
            progress.done(time.perf_counter() - started)
        final = {k: v for k, v in result.final.items() if isinstance(v, (int, float))}
        rows.append({**(columns or {}), "variant": label, "seed": seed, "model_name": result.name,
                     "train_seconds": float(result.history["seconds"].sum()), **final})
        del result
        free_models()  # the LCU tables are large
        if out is not None:
            write_csv_atomic(out, pd.DataFrame(rows))
    return pd.DataFrame(rows)


def train_in_parallel(cfgs: Sequence[Config], workers: int, poll_s: float = 1.0) -> list[str]:
    """Train the runs of ``cfgs`` that have not finished, ``workers`` at a time, each in its own process.

    A sweep's loop (:func:`run_seeds`, the ablation) then loads them instead of training them.
    With ``workers`` <= 1, or fewer than two runs to train, it does nothing and the loop trains
    them one by one. Each worker is ``python -m arerec.experiments --worker CONFIG`` under the
    allocator settings of arerec/runtime.py; its output goes to ``{run folder}.log`` beside the run
    folder. Data are prepared here first, so workers never prepare the same version at once.

    Measured on the 2-core machine, where the XLA step already keeps both cores busy: a 4-run
    ML-100K sweep (2 fast, 2 dense, one epoch each) took 319 s with 2 workers and 351 s one by one,
    with the same metrics (README, Speed). Each run's epoch times are then contended ones. Memory
    adds up: keep ``workers`` at 1 where one run's peak is near half the RAM (ML-1M).

    Returns the names of the runs it trained. A failed run stops the launching of new ones and,
    once the running ones end, raises :class:`ArerecError` naming the run and its log.
    """
    from arerec.data.inputs import load_experiment
    from arerec.runtime import tuned_environment
    from arerec.train.loop import is_finished
    from arerec.train.runs import experiment_paths

    if workers <= 1:
        return []
    pending, names = [], set()
    for cfg in cfgs:
        exp = load_experiment(cfg)
        paths = experiment_paths(exp)
        if paths.name not in names and not is_finished(cfg, exp):
            pending.append((cfg, paths))
        names.add(paths.name)
    if len(pending) < 2:
        return []
    total = len(pending)
    print(f"training {total} runs, {min(workers, total)} at a time in worker processes "
          f"(each run's output: <run folder>.log)", flush=True)
    running: dict[str, tuple[subprocess.Popen, Path, float]] = {}
    failed: list[str] = []
    trained: list[str] = []
    env = tuned_environment()
    try:
        while pending or running:
            if failed:
                pending = []  # start nothing new; let the running ones end
            while pending and len(running) < workers:
                cfg, paths = pending.pop(0)
                paths.root.parent.mkdir(parents=True, exist_ok=True)
                log_path = paths.root.parent / f"{paths.name}.log"
                with open(log_path, "w") as out:
                    process = subprocess.Popen([sys.executable, "-m", "arerec.experiments", "--worker",
                                                json.dumps(cfg.to_dict())],
                                               stdout=out, stderr=subprocess.STDOUT, env=env)
                running[paths.name] = (process, log_path, time.perf_counter())
                print(f"  started {paths.name}", flush=True)
            time.sleep(poll_s)
            for name, (process, log_path, started) in list(running.items()):
                if process.poll() is None:
                    continue
                del running[name]
                seconds = time.perf_counter() - started
                if process.returncode:
                    failed.append(f"{name} (exit status {process.returncode}; its log: {log_path})")
                    print(f"  FAILED {name} after {seconds:.0f} s: see {log_path}", flush=True)
                else:
                    trained.append(name)
                    print(f"  [{len(trained)}/{total}] finished {name} in {seconds:.0f} s", flush=True)
    finally:
        for process, _, _ in running.values():
            process.terminate()
            process.wait()
    if failed:
        raise ArerecError("training in worker processes failed: " + "; ".join(failed)
                          + ". Read the log, fix the cause and run again: finished runs are kept.")
    return trained


def _worker_main(argv: Sequence[str]) -> None:
    import argparse

    from arerec.train.loop import train_or_load

    parser = argparse.ArgumentParser(description="train one run (used by train_in_parallel)")
    parser.add_argument("--worker", required=True, help="the run's Config as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(message)s")
    result = train_or_load(Config.from_dict(json.loads(args.worker), source="--worker"))
    print(f"{result.name}: {len(result.history)} epochs in {result.seconds:.0f} s", flush=True)


def summarise(runs: pd.DataFrame, metrics: Sequence[str] = HEADLINE_METRICS) -> pd.DataFrame:
    present = [m for m in metrics if m in runs.columns]
    return summarise_seeds(runs, ["variant"], present)


if __name__ == "__main__":
    _worker_main(sys.argv[1:])
