"""Process settings that must be in place before Python starts: glibc malloc tuning, and OpenMP's wait policy.

TensorFlow on CPU allocates and frees tensors of tens to hundreds of MB at every training step
(the gathered LCU units, their gradients, and with dense Adam the densified table gradients).
With glibc's defaults such blocks are mmap'ed and returned to the kernel on free, so every step
page-faults them in again: on ML-100K most of a step's time was kernel time. Keeping them in one
arena that is not trimmed removes that cost (measured with `python -m arerec bench`).
Set ``AREREC_MALLOC_TUNING=0`` to run with glibc's defaults.

Large tables are the exception (ML-1M at max_seq 327): there the heap fragments around the
step's 0.7 GB XLA buffer and grows by about 3 GB over an epoch. :func:`set_mmap_threshold`
lowers the threshold for one run (the ``mmap_threshold_mb`` setting), so that such buffers are
mmap'ed and returned after every step; ``glibc.malloc.hugetlb=1`` backs them with transparent
huge pages, which makes faulting them in again cheap (measured in docs/decisions.md, 13).

PyTorch on CPU runs its operations on OpenMP threads, which by default spin at the end of each parallel region
waiting for the next. On a 2-core machine shared with other processes a spinning thread holds a core that the
thread it waits for needs: an epoch of ``params/ci.yaml`` under PyTorch took 117 s with 2 threads, 5.7 s with one,
and 3.1 s with ``OMP_WAIT_POLICY=PASSIVE`` (threads sleep instead; load average 9-11; docs/backends.md). TensorFlow
and JAX use their own thread pools and do not read it.
"""

from __future__ import annotations

import os
import sys

MALLOC_ENV = {
    "MALLOC_ARENA_MAX": "1",  # one arena: blocks freed by one TF thread are re-used by the others
    "MALLOC_MMAP_THRESHOLD_": str(2**30),  # large tensors come from the heap, not fresh mmaps
    "MALLOC_TRIM_THRESHOLD_": str(2**32),  # and the heap is not handed back after each step
    "MALLOC_TOP_PAD_": str(2**28),
    # madvise(MADV_HUGEPAGE) on malloc's memory: no change on ML-100K (measured), and it makes
    # mmap'ed step buffers 2 MB pages when a run lowers the mmap threshold (see above)
    "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1",
    # not the allocator's, but needed as early (libgomp reads it once): OpenMP threads (PyTorch's) sleep when idle
    "OMP_WAIT_POLICY": "PASSIVE",
}
M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number


def malloc_tuning_enabled() -> bool:
    return os.environ.get("AREREC_MALLOC_TUNING", "1") != "0"


def tuned_environment(env: dict[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process's) with the malloc settings added where not already set."""
    env = dict(os.environ if env is None else env)
    if malloc_tuning_enabled():
        for key, value in MALLOC_ENV.items():
            env.setdefault(key, value)
    return env


def untuned() -> bool:
    """Whether this process should have the settings (tuning enabled) and started without them."""
    return malloc_tuning_enabled() and not all(key in os.environ for key in MALLOC_ENV)


def reexec_tuned(argv: list[str]) -> None:
    """Restart this Python process with the malloc settings unless it already has them.

    glibc reads them only at start-up, so they cannot be set from inside a running process.
    """
    if not untuned():
        return
    os.execve(sys.executable, [sys.executable, *argv], tuned_environment())


_warned = False


def warn_if_untuned(log) -> bool:
    """Warn once per process when it trains without the allocator settings (True when it warned).

    ``python -m arerec``, ``make reproduce`` and the ``arerec`` kernel start with them; a script that imports the
    package and trains does not, and there an ML-100K epoch took about twice as long (measured on 2026-12-06: the
    paper's configuration, fast mode, clean protocol: 99.1 s against 55.3 s; docs/performance.md §11).
    """
    global _warned
    if _warned or not untuned():
        return False
    _warned = True
    log.warning("this process trains without the glibc allocator settings of arerec.malloc_tuning, so an epoch may "
                "take about twice as long: start it as `python -m arerec.malloc_tuning python SCRIPT.py` (python -m "
                "arerec and the arerec kernel do this themselves), or set AREREC_MALLOC_TUNING=0 to silence this")
    return True


def set_mmap_threshold(megabytes: int) -> bool:
    """From now on, serve blocks of at least ``megabytes`` MB with mmap, and unmap them on free.

    glibc only (mallopt); returns False, changing nothing, where it is not available or
    ``megabytes`` is not positive.
    """
    if megabytes <= 0:
        return False
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, int(megabytes) << 20))
    except (OSError, AttributeError):
        return False


def allocator_settings() -> dict[str, str]:
    """The settings in effect in this process, for benchmark and report records."""
    return {key: os.environ.get(key, "glibc default") for key in MALLOC_ENV}


if __name__ == "__main__":  # python -m arerec.malloc_tuning CMD ...: run CMD with the settings
    if len(sys.argv) < 2:
        sys.exit("usage: python -m arerec.malloc_tuning COMMAND [ARGS...]")
    os.execvpe(sys.argv[1], sys.argv[1:], tuned_environment())
