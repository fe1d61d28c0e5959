"""What a long sweep has done and what is left: ``[02_training] run 3/14 ... 2/14 [00:31<03:10]``.

One :class:`Progress` per notebook counts its runs (trained or loaded) with a tqdm bar. Each
line names the notebook, the run's number of the total and what it is; tqdm adds the time so far
and the time left. Lines go to :mod:`arerec.console`'s channel (the terminal of ``make reproduce``
and the notebook's log file), not to the report page. :class:`PoolProgress` says the same of runs
trained several at a time (worker processes, Ray tasks), and :func:`counter` counts steps for lines
written another way (the bench's epochs).

Every time left is tqdm's own estimate, read from its bar by :func:`clock`: the items not done at the
bar's mean pace since it started (``smoothing=0``), so the bar's ``<remaining`` and the lines agree. Runs loaded, not
trained, are left out of the pace (``Progress.done(loaded=True)``): a resumed sweep loads its finished runs in
seconds, and counted in, they made hours of training look like minutes.
"""

from __future__ import annotations

import logging

from tqdm import tqdm  # the plain bar: it writes to a file, never a notebook widget

from arerec.console import stream

log = logging.getLogger(__name__)


def clock(bar: tqdm) -> tuple[float, float | None]:
    """(seconds since ``bar`` started, seconds left by tqdm's estimate), from one reading of the bar's state; the
    time left is None before the first item is done (the first one timed: items counted in ``initial`` are not).

    The estimate is tqdm's ``remaining_s`` (:meth:`tqdm.format_meter` over :attr:`tqdm.format_dict`): the items not
    done at the bar's rate, which with ``smoothing=0`` is the items done over the time since the bar started.
    """
    state = bar.format_dict
    if not state["n"] - state["initial"]:  # nothing done since the bar started timing (loaded runs are initial)
        return float(state["elapsed"]), None
    return float(state["elapsed"]), float(tqdm.format_meter(**{**state, "bar_format": "{remaining_s}"}))


# tqdm gives a bar the lowest position no other open bar holds, and a bar drawn below position 0 writes cursor moves:
# a counter holds a fixed position of its own, far out of the way, so that a bar drawn while one is open stays at 0.
COUNTER_POSITION = 1000


def counter(total: int) -> tqdm:
    """A tqdm bar of ``total`` items that counts and times but never draws (its display is delayed without end):
    for progress written as lines of one's own, whose time left is then :func:`clock`'s."""
    return tqdm(total=total, smoothing=0, delay=float("inf"), position=COUNTER_POSITION, file=stream())


def _minutes(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"


class Progress:
    """Counts ``total`` runs of one notebook; ``start(what)`` before each, ``done()`` after it."""

    def __init__(self, total: int, title: str) -> None:
        if total < 0:
            raise ValueError(f"total must be >= 0, received: {total}")
        self.title = title
        self.started_n = 0
        # smoothing=0: the ETA is the mean pace of all finished runs, not of the latest one
        self.bar = tqdm(total=total, desc=f"[{title}]", unit="run", file=stream(), smoothing=0, ascii=True,
                        dynamic_ncols=False, ncols=120, mininterval=0, leave=True,
                        bar_format="{desc} | {n_fmt}/{total_fmt} done [{elapsed}<{remaining}]")

    @property
    def total(self) -> int:
        return int(self.bar.total)

    def add(self, runs: int) -> None:
        """Runs that became known later (e.g. a sweep whose size depends on an earlier result), or, negative, runs
        planned that will not happen (a search a committed optimum replaces); never below the runs started."""
        self._resize(max(self.total + runs, self.started_n))

    def _resize(self, total: int) -> None:
        self.bar.total = total
        self.bar.refresh()

    def eta(self) -> float | None:
        """Seconds left by the bar (:func:`clock`); None before the first run is done."""
        return clock(self.bar)[1]

    def line(self, what: str) -> str:
        """The line :meth:`start` writes, as text."""
        left = self.eta()
        tail = "ETA after the first run trained" if left is None else f"about {_minutes(left)} left"
        return f"[{self.title}] run {self.started_n}/{self.total}: {what} ({self.bar.n} done, {tail})"

    def _begin(self, runs: int) -> int:
        """Count ``runs`` as started (the total grows to hold them); the number of the first."""
        first = self.started_n + 1
        self.started_n += runs
        if self.started_n > self.total:
            self._resize(self.started_n)
        return first

    def start(self, what: str) -> None:
        self._begin(1)
        log.info("%s", self.line(what))
        self.bar.set_description_str(f"[{self.title}] run {self.started_n}/{self.total}: {what}", refresh=True)

    def done(self, runs: int = 1, *, loaded: bool = False) -> None:
        """``runs`` done (one by default). A run ``loaded`` (it finished before) takes a second or so: it counts as
        done but not in the pace, as tqdm's ``initial`` items are not, so a resumed sweep's time left is that of the
        runs it trains."""
        if loaded:
            self.bar.initial += runs
        self.bar.update(runs)
        if self.bar.n >= self.total:
            self.bar.close()

    def loaded(self, runs: int, what: str) -> None:
        """``runs`` that finished before and are read back at once (a study's trials from its journal): counted as
        done, not in the pace (as :meth:`done` with ``loaded``), in one line, e.g.
        ``[02_training] runs 19-53/243: search arerec: 35 trials finished before | 53/243 done [00:12<01:40:00]``."""
        if runs <= 0:
            return
        first = self._begin(runs)
        self.bar.set_description_str(f"[{self.title}] runs {first}-{self.started_n}/{self.total}: {what}")
        self.done(runs, loaded=True)
        log.info("[%s] runs %d-%d/%d: %s (%d done)", self.title, first, self.started_n, self.total, what, self.bar.n)

    def close(self) -> None:
        self.bar.close()


class PoolProgress:
    """``total`` runs trained several at a time (worker processes, Ray tasks): ``done()`` as each ends, failed ones
    included, and :meth:`line` for the state, e.g.
    ``[ray] 3/8 runs done, 2 running, 3 queued (2.5 min so far, about 4.2 min left)``.

    The time left is :func:`clock`'s: the runs not done at the pace so far, so it counts the runs that train at once;
    there is none before the first.
    """

    def __init__(self, title: str, total: int) -> None:
        self.title = title
        self.bar = counter(total)

    def done(self) -> None:
        self.bar.update(1)

    def line(self, running: int, queued: int) -> str:
        elapsed, left = clock(self.bar)
        tail = "ETA after the first run" if left is None else f"about {_minutes(left)} left"
        return (f"[{self.title}] {self.bar.n}/{self.bar.total} runs done, {running} running, {queued} queued "
                f"({_minutes(elapsed)} so far, {tail})")

    def close(self) -> None:
        self.bar.close()
