"""arerec.locks: one process per lock file, an OS lock that a killed holder does not keep, and who holds it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from arerec.errors import BusyError
from arerec.locks import exclusive, holder_path, read_holder

# A second process that holds a lock file until it is killed or its time is up.
HOLD = """
import sys, time
from arerec.locks import exclusive
with exclusive(sys.argv[1], "the test folder", wait=False, advice="wait"):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
print("released", flush=True)
"""


def start_holder(lock_file, seconds: float) -> subprocess.Popen:
    """A holder process, returned once it holds ``lock_file``."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(lock_file), str(seconds)], stdout=subprocess.PIPE,
                              text=True)
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    return holder


def test_a_second_process_is_refused_naming_the_holder_and_a_killed_holder_leaves_no_lock(tmp_path):
    lock_file = tmp_path / "run" / ".lock"
    holder = start_holder(lock_file, 60)
    try:
        recorded = read_holder(lock_file)
        assert (recorded.pid, recorded.host) == (holder.pid, socket.gethostname())
        started = time.perf_counter()
        with pytest.raises(BusyError) as refused, exclusive(lock_file, "run x", wait=False, advice="stop it"):
            pytest.fail("entered a lock another process holds")
        assert time.perf_counter() - started < 1  # at once, not after a timeout
        assert str(refused.value).startswith(f"run x is in use by pid {holder.pid} on host {socket.gethostname()} ")
        assert str(refused.value).endswith(": stop it")
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    assert holder.returncode == -signal.SIGKILL and holder_path(lock_file).is_file()  # its record is left behind
    with exclusive(lock_file, "run x", wait=False, advice=""):  # but not its lock: the OS released it
        assert read_holder(lock_file).pid == os.getpid()
    assert not holder_path(lock_file).exists() and lock_file.exists()  # the lock file stays, holding nothing


def test_waiting_for_a_holder_then_holding_the_lock(tmp_path, caplog):
    lock_file = tmp_path / ".lock"
    holder = start_holder(lock_file, 1.5)
    started = time.perf_counter()
    with caplog.at_level("WARNING", logger="arerec.locks"), exclusive(lock_file, "run x", wait=True, advice=""):
        waited = time.perf_counter() - started
        assert holder.poll() is not None or holder.wait(5) == 0  # the holder had finished
    assert holder.stdout is not None and holder.stdout.read() == "released\n"
    assert waited > 0.5
    assert f"run x is in use by pid {holder.pid} on host" in caplog.text and "waiting until it is released" in caplog.text


def test_a_process_may_enter_its_own_lock_again(tmp_path):
    lock_file = tmp_path / ".lock"
    with exclusive(lock_file, "x", wait=False, advice=""):
        with exclusive(lock_file, "x", wait=False, advice=""):
            pass
        assert read_holder(lock_file).pid == os.getpid()  # still held after the inner block
    assert read_holder(lock_file).pid is None
    assert "not yet recorded" in read_holder(lock_file).describe()
