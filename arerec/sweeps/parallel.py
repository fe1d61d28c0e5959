"""Training a sweep's runs several at a time, each in its own worker process.

A worker is ``python -m arerec.sweeps.parallel --worker CONFIG``: it trains (or loads) one run; the
sweep's own loop then loads it.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from arerec.config import Config
from arerec.console import LOG_ENV, say
from arerec.errors import ArerecError

if TYPE_CHECKING:
    from arerec.train.runs import RunPaths


def unfinished_runs(cfgs: Sequence[Config]) -> tuple[list[tuple[Config, RunPaths]], list[str]]:
    """The runs of ``cfgs`` that :func:`arerec.train.loop.train_or_load` would train (or resume), and the names of
    those it would only load, each run once (two configurations that name the same run count once).

    Data are prepared here (:func:`arerec.data.inputs.load_experiment`), so that the processes or tasks that
    then train the runs never prepare the same version at once.
    """
    from arerec.data.inputs import load_experiment
    from arerec.train.loop import is_finished
    from arerec.train.runs import experiment_paths

    pending: list[tuple[Config, RunPaths]] = []
    finished: list[str] = []
    names: set[str] = set()
    for cfg in cfgs:
        exp = load_experiment(cfg)
        paths = experiment_paths(exp)
        if paths.name not in names:
            if is_finished(cfg, exp):
                finished.append(paths.name)
            else:
                pending.append((cfg, paths))
        names.add(paths.name)
    return pending, finished


def train_in_parallel(cfgs: Sequence[Config], workers: int, poll_s: float = 1.0, *, score_test: bool = True) -> list[str]:
    """Train the runs of ``cfgs`` that have not finished, ``workers`` at a time, each in its own process.

    A sweep's loop (:func:`arerec.sweeps.seeds.run_seeds`, the ablation) then loads them instead of training them.
    With ``workers`` <= 1, or fewer than two runs to train, it does nothing and the loop trains
    them one by one. Each worker is ``python -m arerec.sweeps.parallel --worker CONFIG`` under the
    allocator settings of arerec/malloc_tuning.py; its output goes to ``{run folder}.log`` beside the run
    folder. Data are prepared here first, so workers never prepare the same version at once.
    ``score_test`` False: a clean run's test figures are not computed (the validation search's runs).

    Measured on the 2-core machine, where the XLA step already keeps both cores busy: a 4-run
    ML-100K sweep (2 fast, 2 dense, one epoch each) took 319 s with 2 workers and 351 s one by one,
    with the same metrics (docs/decisions.md, 15). Each run's epoch times are then contended ones. Memory
    adds up: keep ``workers`` at 1 where one run's peak is near half the RAM (ML-1M).

    Returns the names of the runs it trained. A failed run stops the launching of new ones and,
    once the running ones end, raises :class:`ArerecError` naming the run and its log.
    """
    if workers <= 1:
        return []
    return train_pending(unfinished_runs(cfgs)[0], workers, poll_s, score_test=score_test)


def train_pending(pending: Sequence[tuple[Config, RunPaths]], workers: int, poll_s: float = 1.0, *,
                  score_test: bool = True) -> list[str]:
    """:func:`train_in_parallel` for runs already known to be unfinished (:func:`unfinished_runs`)."""
    from arerec.malloc_tuning import tuned_environment
    from arerec.sweeps.progress import pool_line

    if workers <= 1 or len(pending) < 2:
        return []
    queue = list(pending)
    total = len(queue)
    say(f"training {total} runs, {min(workers, total)} at a time in worker processes "
        f"(each run's output: <run folder>.log)")
    running: dict[str, tuple[subprocess.Popen, Path, float]] = {}
    failed: list[str] = []
    trained: list[str] = []
    env = tuned_environment()
    env.pop(LOG_ENV, None)  # a worker's lines go to its own <run folder>.log
    clock = time.perf_counter()
    try:
        while queue or running:
            if failed:
                queue = []  # start nothing new; let the running ones end
            while queue and len(running) < workers:
                cfg, paths = queue.pop(0)
                paths.root.parent.mkdir(parents=True, exist_ok=True)
                log_path = paths.root.parent / f"{paths.name}.log"
                command = [sys.executable, "-m", "arerec.sweeps.parallel", "--worker", json.dumps(cfg.to_dict())]
                with open(log_path, "w") as out:
                    process = subprocess.Popen(command + ([] if score_test else ["--no-test"]),
                                               stdout=out, stderr=subprocess.STDOUT, env=env)
                running[paths.name] = (process, log_path, time.perf_counter())
                say(f"  started {paths.name}")
            time.sleep(poll_s)
            ended = 0
            for name, (process, log_path, started) in list(running.items()):
                if process.poll() is None:
                    continue
                del running[name]
                ended += 1
                seconds = time.perf_counter() - started
                if process.returncode:
                    failed.append(f"{name} (exit status {process.returncode}; its log: {log_path})")
                    say(f"  FAILED {name} after {seconds:.0f} s: see {log_path}")
                else:
                    trained.append(name)
                    say(f"  [{len(trained)}/{total}] finished {name} in {seconds:.0f} s")
            if ended:
                say("  " + pool_line("workers", len(trained) + len(failed), len(running), len(queue),
                                     time.perf_counter() - clock))
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
    parser.add_argument("--no-test", action="store_true", help="do not score a clean run on test (search runs)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(message)s")
    result = train_or_load(Config.from_dict(json.loads(args.worker), source="--worker"), score_test=not args.no_test)
    print(f"{result.name}: {len(result.history)} epochs in {result.seconds:.0f} s", flush=True)


if __name__ == "__main__":
    _worker_main(sys.argv[1:])
