"""One process at a time per run folder and per data version: an OS file lock held while it is written.

:func:`exclusive` takes ``filelock``'s native lock (``flock`` on Linux and macOS, ``LockFileEx`` on Windows) on a
lock file, never its soft fallback: the operating system releases it when its process ends, however it ends, so a
killed run never blocks the next one. After taking it, the holder writes its pid, host, start time and command
beside the lock file (``<lock>.holder.json``), so that a process it turns away can say who holds it.

Who waits and who fails (docs/decisions.md, "One process per run folder"):

- ``python -m arerec train|resume|evaluate`` (:func:`arerec.train.loop.train`) and ``prepare`` fail at once with a
  :class:`~arerec.errors.BusyError` naming the holder: they were asked to write that folder now, and writing it after
  the other process would start the run over (or prepare the data again) for nothing;
- a sweep (:func:`arerec.train.loop.train_or_load`, every notebook and ``compare``) and a run that prepares its data
  (:func:`arerec.data.inputs.load_experiment`) wait for the holder, then look again: a run's folder is named by its
  settings, so the holder trains the very run the sweep wants, and the sweep then loads it instead of training it twice.

A process may enter the same lock again (a sweep's preparation inside its training); the lock file and its holder
file stay in the folder after use (``.lock``: an empty file, which holds nothing once its process has gone).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from arerec.errors import BusyError
from arerec.files import write_json_atomic

log = logging.getLogger(__name__)

HOLDER_SUFFIX = ".holder.json"
_held: dict[str, list] = {}  # lock file -> [FileLock, times entered] for the locks this process holds


@dataclass(frozen=True)
class Holder:
    """The process that holds a lock, as it recorded itself."""

    pid: int | None
    host: str
    since: str
    command: str

    def describe(self) -> str:
        if self.pid is None:
            return "another process (it has not yet recorded its pid and host)"
        return f"pid {self.pid} on host {self.host} (since {self.since}: {self.command})"


def holder_path(lock_file: str | Path) -> Path:
    lock_file = Path(lock_file)
    return lock_file.with_name(lock_file.name + HOLDER_SUFFIX)


def read_holder(lock_file: str | Path) -> Holder:
    """Who holds ``lock_file`` by its own record; an unknown holder when there is none yet."""
    try:
        record = json.loads(holder_path(lock_file).read_text())
        return Holder(int(record["pid"]), str(record["host"]), str(record["since"]), str(record["command"]))
    except (OSError, ValueError, KeyError, TypeError):
        return Holder(None, "", "", "")


def _shortened(text: str, most: int = 160) -> str:
    return text if len(text) <= most else text[:most - 1] + "…"


def _native_lock(lock_file: Path):
    from filelock import FileLock

    # fallback_to_soft=False: a soft (marker file) lock outlives a killed process, the OS lock does not.
    # preserve_lock_file=True: the file is never unlinked, so two processes can never lock two files of one path.
    return FileLock(lock_file, thread_local=False, fallback_to_soft=False, preserve_lock_file=True)


@contextlib.contextmanager
def exclusive(lock_file: str | Path, what: str, *, wait: bool, advice: str) -> Iterator[None]:
    """Hold ``lock_file`` for the block, as the only process.

    When another process holds it: with ``wait`` False, raise :class:`BusyError` naming ``what``, the holder's pid and
    host, and ``advice`` (what to do); with ``wait`` True, log who holds it and wait until it is released.
    """
    from filelock import Timeout

    lock_file = Path(lock_file).absolute()
    key = str(lock_file)
    if key in _held:  # this process holds it already
        _held[key][1] += 1
        try:
            yield
        finally:
            _held[key][1] -= 1
        return
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    lock = _native_lock(lock_file)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        holder = read_holder(lock_file).describe()
        if not wait:
            raise BusyError(f"{what} is in use by {holder}: {advice}") from None
        log.warning("%s is in use by %s: waiting until it is released", what, holder)
        started = time.perf_counter()
        lock.acquire()
        log.info("%s released after %.0f s", what, time.perf_counter() - started)
    try:
        write_json_atomic(holder_path(lock_file), {
            "pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "command": _shortened(" ".join([os.path.basename(sys.executable), *sys.argv]))})
        _held[key] = [lock, 1]
        yield
    finally:
        _held.pop(key, None)
        with contextlib.suppress(OSError):
            holder_path(lock_file).unlink()
        lock.release()
