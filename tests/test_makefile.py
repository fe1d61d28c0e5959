"""The Makefile's installs: a stamp per backend, so that another backend's setup installs its extra, and the two
TensorFlow builds never in one venv. Run against a venv folder of stamps only (``make -n`` prints, runs nothing)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from conftest import REPO

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def make(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-C", str(REPO), *args], capture_output=True, text=True)


@pytest.fixture
def cpu_venv(tmp_path):
    """A venv folder that `make setup` (BACKEND=cpu) has set up, as far as the Makefile can tell."""
    (tmp_path / ".arerec-installed-cpu").touch()
    return tmp_path


def test_another_backend_after_a_cpu_setup_installs_its_extra(cpu_venv):
    assert "Nothing to be done" in make("setup", f"VENV={cpu_venv}").stdout
    plan = make("-n", "setup", "BACKEND=jax", f"VENV={cpu_venv}")
    assert plan.returncode == 0 and "pip install --quiet -e '.[jax]'" in plan.stdout
    assert f"touch {cpu_venv}/.arerec-installed-jax" in plan.stdout
    tests = make("-n", "test", "BACKEND=jax", f"VENV={cpu_venv}").stdout  # and make test adds dev beside it
    assert "pip install --quiet -e '.[jax,dev]'" in tests


def test_tensorflow_with_cuda_never_goes_beside_tensorflow_cpu(cpu_venv):
    refused = make("setup", "BACKEND=cuda", f"VENV={cpu_venv}")
    assert refused.returncode != 0
    assert f"BACKEND=cuda: {cpu_venv} holds BACKEND=cpu" in refused.stderr
    assert "make setup BACKEND=cuda VENV=.venv-cuda" in refused.stderr
    assert not (cpu_venv / "bin").exists()  # refused before anything was made


def test_an_unknown_backend_is_named_with_the_known_ones(tmp_path):
    refused = make("setup", "BACKEND=gpu", f"VENV={tmp_path}")
    assert refused.returncode != 0
    assert "BACKEND=gpu is not a backend extra of pyproject.toml: use one of cpu cuda jax jax-cuda" in refused.stderr
