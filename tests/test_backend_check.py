"""arerec.backend_check: without the Keras backend installed, an error that names the extra to install."""

from __future__ import annotations

import builtins
import os

import pytest

from arerec.backend_check import require_keras
from arerec.errors import BackendMissingError


def without(monkeypatch, module: str) -> None:
    """Importing keras fails as it does when ``module`` (its backend) is not installed."""
    real = builtins.__import__

    def fake(name, *args, **kwargs):
        if name == "keras":
            raise ModuleNotFoundError(f"No module named '{module}'", name=module)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake)


def test_a_missing_backend_names_the_extras_that_install_it(monkeypatch):
    without(monkeypatch, "tensorflow")
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    with pytest.raises(BackendMissingError) as error:
        require_keras()
    assert str(error.value).startswith("Keras' backend 'tensorflow' is not installed (KERAS_BACKEND=tensorflow; ")
    assert "`pip install -e '.[cpu]'`" in str(error.value) and "'.[cuda]'" in str(error.value)
    without(monkeypatch, "jaxlib")
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    with pytest.raises(BackendMissingError, match=r"'jax' is not installed \(KERAS_BACKEND=jax; .*'\.\[jax\]'"):
        require_keras()
    without(monkeypatch, "torch")
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    with pytest.raises(BackendMissingError) as error:
        require_keras()
    message = str(error.value)
    assert message.startswith("Keras' backend 'torch' is not installed (KERAS_BACKEND=torch; ") and "\n" not in message
    assert "`pip install -e '.[torch]'" in message and "whl/cpu" in message and "'.[torch-cuda]'" in message


def test_another_missing_module_is_not_hidden(monkeypatch):
    without(monkeypatch, "optree")
    with pytest.raises(ModuleNotFoundError, match="optree"):
        require_keras()


def test_with_a_backend_it_is_keras():
    assert require_keras().__name__ == "keras"


def test_xla_is_told_to_be_deterministic_unless_the_user_said_otherwise(monkeypatch):
    from arerec.backend_check import DETERMINISTIC_XLA_FLAG, deterministic_xla

    monkeypatch.delenv("XLA_FLAGS", raising=False)
    deterministic_xla()
    assert os.environ["XLA_FLAGS"] == DETERMINISTIC_XLA_FLAG
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
    deterministic_xla()
    assert os.environ["XLA_FLAGS"] == f"--xla_force_host_platform_device_count=2 {DETERMINISTIC_XLA_FLAG}"
    monkeypatch.setenv("XLA_FLAGS", "--xla_gpu_deterministic_ops=false")
    deterministic_xla()
    assert os.environ["XLA_FLAGS"] == "--xla_gpu_deterministic_ops=false"
