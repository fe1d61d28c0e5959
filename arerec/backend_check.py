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


# Same seed, same numbers on a GPU too: XLA may otherwise add a scatter's or a reduction's terms in any order (measured:
# two JAX runs of one seed on an H100 predicted probabilities 3e-6 apart; docs/backends.md section 6). Set before the
# backend starts; a user's own XLA_FLAGS are kept, and ``--xla_gpu_deterministic_ops=false`` among them wins.
DETERMINISTIC_XLA_FLAG = "--xla_gpu_deterministic_ops=true"


def deterministic_xla() -> None:
    """Add :data:`DETERMINISTIC_XLA_FLAG` to ``XLA_FLAGS`` unless they already say how (read when XLA starts)."""
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_gpu_deterministic_ops" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {DETERMINISTIC_XLA_FLAG}".strip()


def require_keras() -> ModuleType:
    """``keras``, once its backend imports; :class:`BackendMissingError` naming the extra to install when not."""
    deterministic_xla()
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
