"""PyTorch: an autograd step over the Keras model, with row-sparse gradients for the tables in the fast mode.

The step calls the Keras model eagerly (its layers are ``torch.nn.Module``s and its variables hold
``torch.nn.Parameter``s), back-propagates the loss and hands the gradients to the Keras optimiser, which updates
the variables in place: :meth:`Trainer.sync` has nothing to do.

In the fast mode (``update_mode: lazy``) the four table layers gather their rows with :func:`sparse_gather`,
whose gradient is a sparse COO tensor (one entry per lookup, as TensorFlow's ``tf.IndexedSlices``), and
:class:`arerec.model.lazy.torch.SparseLazyAdam` updates only those rows. With ``update_mode: dense`` the
gradients are dense and Keras Adam updates every row, as the reference does.
"""

from __future__ import annotations

import functools
import logging

import keras
import numpy as np
import torch
from keras import ops

from arerec.data.inputs import Experiment
from arerec.train.batches import gather_ops, id_batches

log = logging.getLogger(__name__)


class _RowGather(torch.autograd.Function):
    """``table[ids]`` whose gradient with respect to ``table`` is a sparse COO tensor of the looked-up rows."""

    @staticmethod
    def forward(table, ids):
        return table.index_select(0, ids.reshape(-1)).reshape(*ids.shape, *table.shape[1:])

    @staticmethod
    def setup_context(ctx, inputs, output):
        table, ids = inputs
        ctx.save_for_backward(ids)
        ctx.table_shape = table.shape

    @staticmethod
    def backward(ctx, grad):
        (ids,) = ctx.saved_tensors
        flat = ids.reshape(-1)
        values = grad.reshape(flat.shape[0], *ctx.table_shape[1:])
        return (torch.sparse_coo_tensor(flat[None], values, ctx.table_shape, is_coalesced=False, check_invariants=False),
                None)


def sparse_gather(table, ids):
    """Rows ``ids`` of a Keras variable ``table`` ([rows, ...] -> [*ids.shape, ...]), with a row-sparse gradient
    (:attr:`arerec.model.layers.RowSquares.row_gather`)."""
    return _RowGather.apply(table.value, ops.convert_to_tensor(ids).long())


def make_train_step(model, optimizer, jit_compile: bool = False, table_l2: float = 0.0):
    """``step(inputs, labels) -> loss``: cross-entropy (+ L2) on integer labels, back-propagated, and the optimiser's
    update of the variables in place.

    With :class:`~arerec.model.lazy.torch.SparseLazyAdam` (``update_mode: lazy``) the four table layers gather with
    :func:`sparse_gather`, so that their gradients are row-sparse and only the gathered rows are updated;
    ``jit_compile`` then compiles the optimiser's row maths with ``torch.compile`` (:func:`compiled_rows_update`).
    ``table_l2`` as :func:`arerec.train.backends.tensorflow.make_train_step`.
    """
    from arerec.model.layers import start_squares, table_layers, take_squares
    from arerec.model.lazy.torch import SparseLazyAdam

    variables = list(model.trainable_variables)
    if isinstance(optimizer, SparseLazyAdam):
        for layer in table_layers(model):
            layer.row_gather = sparse_gather
        if jit_compile:
            optimizer.rows_update = compiled_rows_update()
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    tables = start_squares(model) if table_l2 > 0 else []

    def step(inputs, labels):
        for variable in variables:
            variable.value.grad = None
        probs = model(inputs, training=True)
        loss = loss_fn(labels, probs) + sum(model.losses, start=0.0)
        if table_l2 > 0:  # L2 on the rows this batch looked up; 0: the step without it
            loss = loss + table_l2 * take_squares(tables) / labels.shape[0]
        loss.backward()
        with torch.no_grad():
            optimizer.apply([variable.value.grad for variable in variables], variables)
        return loss.detach()

    return step


@functools.cache
def compiled_rows_update():
    """:func:`arerec.model.lazy.torch.rows_update` under ``torch.compile``: one fused pass over the gathered rows
    instead of a pass per operation (the same numbers). Compiled once per process and shape rank (the distinct rows'
    count is dynamic after the first batches). Where it cannot be compiled (Inductor needs a C++ compiler on a CPU)
    it says so once and runs eagerly."""
    from arerec.model.lazy.torch import rows_update

    compiled = torch.compile(rows_update)
    eager = False

    def update(*args):
        nonlocal eager
        if not eager:
            try:
                return compiled(*args)
            except Exception as exc:  # noqa: BLE001 - any compiler failure: the eager maths are the same
                eager = True
                log.warning("torch.compile could not compile the lazy Adam's row update (%s: %s); it runs eagerly, "
                            "slower, with the same numbers. Install a C++ compiler (g++) for Inductor, or set "
                            "jit_compile 0 to skip the attempt", type(exc).__name__, str(exc).splitlines()[0][:200])
        return rows_update(*args)

    return update


class Trainer:
    """The training step of a run (see :mod:`arerec.train.backends`)."""

    def __init__(self, model, optimizer, exp: Experiment):
        self.model = model
        self._gather = gather_ops(exp)
        self._step = make_train_step(model, optimizer, jit_compile=bool(exp.cfg.jit_compile), table_l2=exp.cfg.table_l2)

    def step(self, users, items, labels, ends):
        users, items, labels, ends = (ops.convert_to_tensor(a) for a in (users, items, labels, ends))
        return self._step(self._gather(users, items, ends), labels)

    def sync(self) -> None:
        """Nothing to do: the optimiser updates the variables in place."""

    def regularization(self) -> float:
        with torch.no_grad():
            return sum((float(loss) for loss in self.model.losses), start=0.0)


def make_trainer(model, optimizer, exp: Experiment) -> Trainer:
    return Trainer(model, optimizer, exp)


def predict(model, exp: Experiment, split: str) -> np.ndarray:
    """Class probabilities [N, C] in row order, one forward pass per batch without autograd."""
    gather = gather_ops(exp)
    chunks = []
    with torch.no_grad():
        for users, items, _, ends in id_batches(exp, split, shuffle=False):
            inputs = gather(*(ops.convert_to_tensor(a) for a in (users, items, ends)))
            chunks.append(ops.convert_to_numpy(model(inputs, training=False)))
    return np.concatenate(chunks) if chunks else np.zeros((0, len(exp.prepared.classes)), np.float32)


def to_numpy(variable) -> np.ndarray:
    return variable.value.detach().cpu().numpy()


def barrier(name: str) -> None:
    """One process: nothing to wait for."""
