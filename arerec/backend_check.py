"""What an install provides: the Keras backend is an extra of ``pyproject.toml``, not a base dependency.

:func:`require_keras` imports Keras, and when the backend it is set to (``KERAS_BACKEND``, TensorFlow by default) is not
installed, raises :class:`~arerec.errors.BackendMissingError` naming the extras that install one, instead of
Keras' ``ModuleNotFoundError`` from deep inside it. The model (:mod:`arerec.model`) and training
(:func:`arerec.train.backends.name`) call it before their first Keras import.
"""

from __future__ import annotations

import os
from types import ModuleType

from arerec.errors import BackendMissingError

# The pyproject.toml extras that install each backend (one per environment: `cpu` and `cuda` never side by side).
BACKEND_EXTRAS = {
    "tensorflow": "`pip install -e '.[cpu]'` (TensorFlow on CPU, what `make setup` installs) or `pip install -e "
                  "'.[cuda]'` (TensorFlow with CUDA, on an NVIDIA GPU; in an environment without tensorflow-cpu)",
    "jax": "`pip install -e '.[jax]'` (JAX on CPU) or `pip install -e '.[jax-cuda]'` (JAX with CUDA 12, on an NVIDIA GPU)",
    "torch": "`pip install -e '.[torch]' --extra-index-url https://download.pytorch.org/whl/cpu` (PyTorch on CPU) or "
             "`pip install -e '.[torch-cuda]'` (PyTorch with CUDA, on an NVIDIA GPU)",
}
BACKEND_MODULES = {"tensorflow": "tensorflow", "jax": "jax", "jaxlib": "jax", "torch": "torch"}


def require_keras() -> ModuleType:
    """``keras``, once its backend imports; :class:`BackendMissingError` naming the extra to install when not."""
    try:
        import keras
    except ModuleNotFoundError as exc:
        missing = BACKEND_MODULES.get((exc.name or "").split(".")[0])
        if missing is None:
            raise
        chosen = os.environ.get("KERAS_BACKEND", "tensorflow")
        extras = BACKEND_EXTRAS.get(missing, "the extra of that backend")
        raise BackendMissingError(
            f"Keras' backend {missing!r} is not installed (KERAS_BACKEND={chosen}; the base install carries no "
            f"backend): run {extras}, or set KERAS_BACKEND to a backend that is installed") from None
    return keras
