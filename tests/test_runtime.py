import subprocess
import sys

from arerec.runtime import MALLOC_ENV, tuned_environment


def test_reexec_restarts_the_process_with_the_allocator_settings():
    env = {k: v for k, v in tuned_environment({"PATH": "/usr/bin"}).items() if k not in MALLOC_ENV}
    env["PYTHONPATH"] = ":".join(p for p in sys.path if p)
    child = "import os; print(os.environ['MALLOC_ARENA_MAX'], os.environ['MALLOC_TRIM_THRESHOLD_'])"
    parent = f"from arerec.runtime import reexec_tuned; reexec_tuned(['-c', {child!r}]); print('not restarted')"
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
