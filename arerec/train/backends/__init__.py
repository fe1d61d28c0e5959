"""One training interface, one module per Keras backend (as keras-rs splits its embeddings).

Each module (:mod:`.tensorflow`, :mod:`.jax`, :mod:`.torch`) provides:

- ``make_trainer(model, optimizer, exp) -> Trainer``: ``trainer.step(users, items, labels, ends)``
  trains on one batch (NumPy id arrays from :func:`arerec.train.batches.id_batches`) and returns its
  loss; ``trainer.sync()`` writes the trained values into the Keras variables (a no-op where the
  step updates them in place); ``trainer.regularization()`` is the current L2 term.
- ``predict(model, exp, split) -> np.ndarray``: class probabilities [N, C] for a split, in row order.
- ``to_numpy(variable) -> np.ndarray``: a variable's whole value on this host (gathered from every
  process of a multi-process job).
- ``barrier(name)``: wait for every process of the job (a no-op with one).

The rest of the kit (the loop, evaluation, checkpoints, notebooks, CLI) calls :func:`current` and
never imports a backend itself. docs/backends.md compares the three.
"""

from __future__ import annotations

from types import ModuleType

from arerec.backend_check import require_keras
from arerec.errors import ConfigError

SUPPORTED = ("tensorflow", "jax", "torch")


def name() -> str:
    return require_keras().backend.backend()  # a missing backend: an error naming the extra to install


def current() -> ModuleType:
    """The module of the Keras backend this process runs (``KERAS_BACKEND``)."""
    backend = name()
    if backend == "tensorflow":
        from arerec.train.backends import tensorflow as module
    elif backend == "jax":
        from arerec.train.backends import jax as module  # type: ignore[no-redef]
    elif backend == "torch":
        from arerec.train.backends import torch as module  # type: ignore[no-redef]
    else:
        raise ConfigError(f"KERAS_BACKEND={backend} is not supported for training; use one of {', '.join(SUPPORTED)} "
                          "(docs/backends.md)")
    return module
