"""What a long sweep has done and what is left: ``[02_training] run 3/14 ... 2/14 [00:31<03:10]``.

One :class:`Progress` per notebook counts its runs (trained or loaded) with a tqdm bar. Each
line names the notebook, the run's number of the total and what it is; tqdm adds the time so far
and the time left, from the mean pace of the runs finished so far. Lines go to
:mod:`arerec.console`'s channel (the terminal of ``make reproduce`` and the notebook's log file),
not to the report page. :func:`pool_line` says the same of runs trained several at a time.
"""

from __future__ import annotations

import logging

from tqdm import tqdm  # the plain bar: it writes to a file, never a notebook widget

from arerec.console import stream

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
        self.title = title
        self.started_n = 0
        self.durations: list[float] = []
        # smoothing=0: the ETA is the mean pace of all finished runs, not of the latest one
        self.bar = tqdm(total=total, desc=f"[{title}]", unit="run", file=stream(), smoothing=0, ascii=True,
                        dynamic_ncols=False, ncols=120, mininterval=0, leave=True,
                        bar_format="{desc} | {n_fmt}/{total_fmt} done [{elapsed}<{remaining}]")

    @property
    def total(self) -> int:
        return int(self.bar.total)

    def add(self, runs: int) -> None:
        """Runs that became known later (e.g. a sweep whose size depends on an earlier result)."""
        self._resize(self.total + runs)

    def _resize(self, total: int) -> None:
        self.bar.total = total
        self.bar.refresh()

    def eta(self) -> float | None:
        """Seconds left: the mean of the finished runs' times, times the runs not finished; None before any."""
        if not self.durations:
            return None
        return sum(self.durations) / len(self.durations) * max(self.total - len(self.durations), 0)

    def line(self, what: str) -> str:
        """The line :meth:`start` writes, as text."""
        left = self.eta()
        tail = "ETA after the first run" if left is None else f"about {_minutes(left)} left"
        return f"[{self.title}] run {self.started_n}/{self.total}: {what} ({len(self.durations)} done, {tail})"

    def start(self, what: str) -> None:
        self.started_n += 1
        if self.started_n > self.total:
            self._resize(self.started_n)
        log.info("%s", self.line(what))
        self.bar.set_description_str(f"[{self.title}] run {self.started_n}/{self.total}: {what}", refresh=True)

    def done(self, seconds: float) -> None:
        self.durations.append(float(seconds))
        self.bar.update(1)
        if self.bar.n >= self.total:
            self.bar.close()

    def close(self) -> None:
        self.bar.close()


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
