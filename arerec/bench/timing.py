"""The one timing harness of both benches (:mod:`arerec.bench.update_modes`, :mod:`arerec.bench.backends`).

:func:`median_step` times a step function as both report it: ``warmup`` calls first, then ``repeats`` repetitions of
``steps`` calls each; a repetition's seconds per step is its time over ``steps``, and the figure reported is the
median of the repetitions (each one is reported too, as ``*_runs_s``).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any


def wait_for(value: Any) -> None:
    """Return once ``value`` (a tensor, an array, or a nest of them) is computed: an asynchronous backend (JAX, a
    CUDA device) hands results back before it has computed them, so the clock stops only after this."""
    import keras

    if keras.backend.backend() == "torch":  # eager on the CPU; on a GPU its kernels are queued until synchronised
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()
        return
    for leaf in keras.tree.flatten(value):
        if hasattr(leaf, "block_until_ready"):
            leaf.block_until_ready()
        elif hasattr(leaf, "numpy"):
            leaf.numpy()


def median_step(fn: Callable[..., Any], batches: Sequence[Sequence[Any]], warmup: int, repeats: int,
                steps: int) -> tuple[float, list[float]]:
    """(median seconds per step, each repetition's seconds per step) of ``fn(*batch)``.

    The batches are taken in turn, wrapping around: the first ``warmup`` for the warm-up (not timed), then ``steps``
    for each repetition, chosen before its clock starts. A repetition's clock stops once its last step's result is
    computed (:func:`wait_for`).
    """
    if repeats < 1 or steps < 1 or warmup < 0:
        raise ValueError(f"timing needs repeats >= 1, steps >= 1 and warmup >= 0 (--repeats, --steps, --warmup), "
                         f"received: repeats={repeats}, steps={steps}, warmup={warmup}")
    if not batches:
        raise ValueError("timing needs at least one batch to call the step with")
    for batch in batches[:warmup]:
        fn(*batch)
    per_step = []
    for r in range(repeats):
        chosen = [batches[(warmup + r * steps + s) % len(batches)] for s in range(steps)]
        t0 = time.perf_counter()
        for batch in chosen:
            out = fn(*batch)
        wait_for(out)
        per_step.append((time.perf_counter() - t0) / steps)
    return statistics.median(per_step), per_step
