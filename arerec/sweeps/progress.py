"""What a long sweep has done and what is left: ``[02_training] run 3/14 ... ETA 6 min``.

One :class:`Progress` per notebook counts its runs (trained or loaded). Each line names the notebook,
the run's number of the total, what it is, and an ETA from the mean time of the runs finished so
far. Lines go to stdout, which papermill streams to the terminal of ``make reproduce``.
:func:`pool_line` says the same of runs trained several at a time (done, running, queued).
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger(__name__)


def _minutes(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"


class Progress:
    """Counts ``total`` runs of one notebook; ``start(what)`` before each, ``done(seconds)`` after it."""

    def __init__(self, total: int, title: str) -> None:
        if total < 0:
            raise ValueError(f"total must be >= 0, received: {total}")
        self.total, self.title = total, title
        self.started_n = 0
        self.durations: list[float] = []
        self.clock = time.perf_counter()

    def add(self, runs: int) -> None:
        """Runs that became known later (e.g. a sweep whose size depends on an earlier result)."""
        self.total += runs

    def eta(self) -> float | None:
        """Seconds left: the mean of the finished runs' times, times the runs not finished; None before any."""
        if not self.durations:
            return None
        return sum(self.durations) / len(self.durations) * max(self.total - len(self.durations), 0)

    def line(self, what: str) -> str:
        left = self.eta()
        tail = "ETA after the first run" if left is None else f"about {_minutes(left)} left"
        return (f"[{self.title}] run {self.started_n}/{self.total}: {what} "
                f"({len(self.durations)} done, {_minutes(time.perf_counter() - self.clock)} so far, {tail})")

    def start(self, what: str) -> None:
        self.started_n += 1
        self.total = max(self.total, self.started_n)
        text = self.line(what)
        log.info(text)
        print(text, flush=True)

    def done(self, seconds: float) -> None:
        self.durations.append(float(seconds))


def pool_line(title: str, done: int, running: int, queued: int, elapsed: float) -> str:
    """The state of runs trained several at a time (worker processes, Ray tasks):
    ``[ray] 3/8 runs done, 2 running, 3 queued (2.5 min so far, about 4.2 min left)``.

    ``done`` counts finished runs, failed ones included. The ETA is the runs not done at the pace so far
    (``elapsed / done`` per run), so it counts the runs that train at once; there is none before the first.
    """
    total = done + running + queued
    tail = ("ETA after the first run" if done == 0
            else f"about {_minutes(elapsed / done * (total - done))} left")
    return f"[{title}] {done}/{total} runs done, {running} running, {queued} queued ({_minutes(elapsed)} so far, {tail})"
