"""arerec.bench.timing: the harness both benches time their steps with."""

import time

import pytest

from arerec.bench.timing import median_step


class Pending:
    """A result an asynchronous backend hands back before it is computed: ready only after ``seconds``."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.waited = False

    def block_until_ready(self) -> None:
        time.sleep(self.seconds)
        self.waited = True


def test_warm_up_then_repetitions_of_steps_each_over_the_batches_in_turn():
    calls, results = [], []

    def step(x):
        calls.append(x)
        results.append(Pending(0.05))
        return results[-1]

    median, runs = median_step(step, [(n,) for n in range(4)], warmup=1, repeats=3, steps=2)
    assert calls == [0, 1, 2, 3, 0, 1, 2]  # warm-up 0, then 1 2 | 3 0 | 1 2, wrapping around
    assert len(runs) == 3 and median == sorted(runs)[1]
    # each repetition's clock stopped once its last result was ready: 0.05 s over its 2 steps at least
    assert all(run >= 0.025 for run in runs)
    assert [r.waited for r in results] == [False, False, True, False, True, False, True]


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match=r"repeats >= 1, steps >= 1 .*received: repeats=1, steps=0"):
        median_step(lambda: None, [()], warmup=0, repeats=1, steps=0)
    with pytest.raises(ValueError, match="at least one batch"):
        median_step(lambda: None, [], warmup=0, repeats=1, steps=1)
