"""Training a sweep's runs several at a time, each in its own worker process.

A worker is ``python -m arerec.sweeps.parallel --worker CONFIG``: it trains (or loads) one run; the
sweep's own loop then loads it. A :class:`~concurrent.futures.ThreadPoolExecutor` of ``workers`` threads runs
them: each thread starts one worker process and waits for it, and the sweep takes each run as it ends.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
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


def train_in_parallel(cfgs: Sequence[Config], workers: int, *, score_test: bool = True) -> list[str]:
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
    return train_pending(unfinished_runs(cfgs)[0], workers, score_test=score_test)


@dataclass(frozen=True)
class _Ended:
    """A worker process that ended: its run, exit status, log and seconds."""

    name: str
    returncode: int
    log_path: Path
    seconds: float


class _Workers:
    """The worker processes of one :func:`train_pending`, each started and waited for by a thread of its pool.

    A process of our own per run, rather than a :class:`~concurrent.futures.ProcessPoolExecutor`'s: its allocator
    settings are in its environment before it starts (glibc reads them only then), its output (TensorFlow's
    included) goes to its own log file, its memory goes back when it ends, and a worker that is killed fails its
    own run only, where a process pool turns one lost worker into a ``BrokenProcessPool`` for every run.
    """

    def __init__(self, score_test: bool) -> None:
        from arerec.malloc_tuning import tuned_environment

        self.score_test = score_test
        self.env = tuned_environment()
        self.env.pop(LOG_ENV, None)  # a worker's lines go to its own <run folder>.log
        self.lock = threading.Lock()
        self.running: dict[str, subprocess.Popen] = {}
        self.started = 0
        self.stopped = False  # set by a failed run or an interruption: nothing new starts

    def run(self, cfg: Config, paths: RunPaths) -> _Ended | None:
        """Train one run in a worker process and wait for it; None when it is not started (stopped before)."""
        with self.lock:  # one at a time with stop(): a process is either never started or terminated by it
            if self.stopped:
                return None
            paths.root.parent.mkdir(parents=True, exist_ok=True)
            log_path = paths.root.parent / f"{paths.name}.log"
            command = [sys.executable, "-m", "arerec.sweeps.parallel", "--worker", json.dumps(cfg.to_dict())]
            with open(log_path, "w") as out:
                process = subprocess.Popen(command + ([] if self.score_test else ["--no-test"]),
                                           stdout=out, stderr=subprocess.STDOUT, env=self.env)
            self.running[paths.name] = process
            self.started += 1
        started = time.perf_counter()
        say(f"  started {paths.name}")
        returncode = process.wait()
        with self.lock:
            del self.running[paths.name]
            self.stopped = self.stopped or returncode != 0
        return _Ended(paths.name, returncode, log_path, time.perf_counter() - started)

    def state(self, total: int) -> tuple[int, int]:
        """(runs running, runs queued that will still start) of ``total``."""
        with self.lock:
            return len(self.running), 0 if self.stopped else total - self.started

    def stop(self) -> None:
        """Start nothing more and terminate the running workers (their threads then return)."""
        with self.lock:
            self.stopped = True
            for process in self.running.values():
                process.terminate()


def train_pending(pending: Sequence[tuple[Config, RunPaths]], workers: int, *, score_test: bool = True) -> list[str]:
    """:func:`train_in_parallel` for runs already known to be unfinished (:func:`unfinished_runs`)."""
    from arerec.sweeps.progress import PoolProgress

    if workers <= 1 or len(pending) < 2:
        return []
    total = len(pending)
    say(f"training {total} runs, {min(workers, total)} at a time in worker processes "
        f"(each run's output: <run folder>.log)")
    pool = _Workers(score_test)
    progress = PoolProgress("workers", total)
    failed: list[str] = []
    trained: list[str] = []
    with ThreadPoolExecutor(max_workers=min(workers, total), thread_name_prefix="arerec-worker") as threads:
        futures = [threads.submit(pool.run, cfg, paths) for cfg, paths in pending]
        try:
            for future in as_completed(futures):
                ended = future.result()
                if ended is None:  # not started: an earlier run failed
                    continue
                progress.done()
                if ended.returncode:
                    failed.append(f"{ended.name} (exit status {ended.returncode}; its log: {ended.log_path})")
                    say(f"  FAILED {ended.name} after {ended.seconds:.0f} s: see {ended.log_path}")
                else:
                    trained.append(ended.name)
                    say(f"  [{len(trained)}/{total}] finished {ended.name} in {ended.seconds:.0f} s")
                say("  " + progress.line(*pool.state(total)))
        except BaseException:  # interrupted (or a bug here): no worker outlives the sweep
            pool.stop()
            raise
        finally:
            progress.close()
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
