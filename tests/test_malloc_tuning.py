import subprocess
import sys

import pytest

from arerec.malloc_tuning import MALLOC_ENV, set_mmap_threshold, tuned_environment


def test_reexec_restarts_the_process_with_the_allocator_settings():
    env = {k: v for k, v in tuned_environment({"PATH": "/usr/bin"}).items() if k not in MALLOC_ENV}
    env["PYTHONPATH"] = ":".join(p for p in sys.path if p)
    child = "import os; print(os.environ['MALLOC_ARENA_MAX'], os.environ['MALLOC_TRIM_THRESHOLD_'])"
    parent = f"from arerec.malloc_tuning import reexec_tuned; reexec_tuned(['-c', {child!r}]); print('not restarted')"
    done = subprocess.run([sys.executable, "-c", parent], capture_output=True, text=True, env=env)
    assert done.stdout.split() == ["1", MALLOC_ENV["MALLOC_TRIM_THRESHOLD_"]]
    cli = subprocess.run([sys.executable, "-m", "arerec", "--help"], capture_output=True, text=True, env=env)
    assert cli.returncode == 0 and "prepare" in cli.stdout


def test_tuned_environment_keeps_what_the_user_set(monkeypatch):
    monkeypatch.delenv("AREREC_MALLOC_TUNING", raising=False)
    env = tuned_environment({"MALLOC_ARENA_MAX": "4"})
    assert env["MALLOC_ARENA_MAX"] == "4" and env["MALLOC_TRIM_THRESHOLD_"] == MALLOC_ENV["MALLOC_TRIM_THRESHOLD_"]
    monkeypatch.setenv("AREREC_MALLOC_TUNING", "0")
    assert "MALLOC_ARENA_MAX" not in tuned_environment({})


_CHILD = """
import ctypes, sys
from arerec.malloc_tuning import set_mmap_threshold
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 >> 20
if sys.argv[1] != "0":
    assert set_mmap_threshold(int(sys.argv[1]))
before = rss()
block = libc.malloc(320 << 20)  # more than the top pad (256 MB), which malloc carves first
ctypes.memset(block, 1, 320 << 20)
libc.free(block)
print(rss() - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt and /proc")
def test_mmap_threshold_hands_large_blocks_back_after_free():
    env = {**tuned_environment(), "PYTHONPATH": ":".join(p for p in sys.path if p)}

    def kept_mb(threshold_mb: int) -> int:
        done = subprocess.run([sys.executable, "-c", _CHILD, str(threshold_mb)], capture_output=True, text=True,
                              env=env, check=True)
        return int(done.stdout)

    assert kept_mb(0) >= 300  # the tuned heap keeps a freed 320 MB block (fast re-use, more memory)
    assert kept_mb(16) < 8  # with the threshold below it, the block is unmapped on free
    assert not set_mmap_threshold(0)


def test_training_without_the_allocator_settings_is_warned_about_once(monkeypatch, caplog):
    import logging

    from arerec import malloc_tuning

    log = logging.getLogger("arerec.test")
    monkeypatch.setattr(malloc_tuning, "_warned", False)
    for key in MALLOC_ENV:
        monkeypatch.setenv(key, MALLOC_ENV[key])
    monkeypatch.delenv("AREREC_MALLOC_TUNING", raising=False)
    assert not malloc_tuning.warn_if_untuned(log)  # started with them: nothing to say
    monkeypatch.delenv("MALLOC_ARENA_MAX")
    monkeypatch.setenv("AREREC_MALLOC_TUNING", "0")
    assert not malloc_tuning.warn_if_untuned(log)  # turned off on purpose
    monkeypatch.delenv("AREREC_MALLOC_TUNING")
    with caplog.at_level(logging.WARNING, logger="arerec.test"):
        assert malloc_tuning.warn_if_untuned(log)
        assert not malloc_tuning.warn_if_untuned(log)  # once per process
    assert len(caplog.records) == 1 and "python -m arerec.malloc_tuning python SCRIPT.py" in caplog.text
