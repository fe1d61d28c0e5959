"""JAX: a stateless step under ``jax.jit`` (forward, backward and the Keras optimiser in one compiled call).

The trainer holds the model's and the optimiser's values as JAX arrays between steps and hands them
to the compiled step, which returns the new ones (its inputs are donated, so the tables are updated
in place on the device). :meth:`Trainer.sync` writes them back into the Keras variables, which the
loop does before it evaluates or saves a checkpoint.

Under a ``keras.distribution`` (arerec/train/distribution.py) the values keep their layouts
(the LCU tables sharded by row under ``model``), each batch is split over the ``batch`` axis when its
size divides, and the per-item id tables are replicated. With several processes every array is a
global one: each process builds the same batch and contributes its own devices' part of it.
"""

from __future__ import annotations

import jax
import keras
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from arerec.data.inputs import Experiment
from arerec.train.batches import gather_ops, id_batches


def _mesh():
    """The distribution's JAX mesh and its batch axis name, or (None, None)."""
    dist = keras.distribution.distribution()
    if dist is None:
        return None, None
    return dist.device_mesh.backend_mesh, getattr(dist, "batch_dim_name", None) or dist.device_mesh.axis_names[0]


def _global(array: np.ndarray, sharding) -> jax.Array:
    """A host array as a (possibly multi-process) global array: each process supplies its devices' slices."""
    return jax.make_array_from_callback(array.shape, sharding, lambda index: array[index])


def _placer():
    """NumPy batch arrays -> device arrays: split over the batch axis when the batch divides, else replicated."""
    mesh, batch_axis = _mesh()
    if mesh is None:
        return lambda *arrays: tuple(jax.numpy.asarray(a) for a in arrays)
    replicated = NamedSharding(mesh, PartitionSpec())
    split, ways = NamedSharding(mesh, PartitionSpec(batch_axis)), mesh.shape[batch_axis]

    def place(*arrays):
        return tuple(_global(a, split if len(a) % ways == 0 else replicated) for a in arrays)

    return place


def _constant():
    """Per-item id tables as device arrays (replicated over a distribution's devices)."""
    mesh, _ = _mesh()
    if mesh is None:
        return jax.numpy.asarray
    replicated = NamedSharding(mesh, PartitionSpec())
    return lambda array: _global(np.asarray(array), replicated)


def _replicated_out():
    mesh, _ = _mesh()
    return None if mesh is None else NamedSharding(mesh, PartitionSpec())


class Trainer:
    """The training step of a run (see :mod:`arerec.train.backends`)."""

    def __init__(self, model, optimizer, exp: Experiment):
        self.model, self.optimizer = model, optimizer
        gather = gather_ops(exp, constant=_constant())
        self._place = _placer()
        loss_fn = keras.losses.SparseCategoricalCrossentropy()
        table_l2 = exp.cfg.model.table_l2
        if table_l2 > 0:  # the table layers collect their lookups' squared norms (arerec.model.layers.RowSquares)
            from arerec.model.layers import start_squares, take_squares

            tables = start_squares(model)

        def loss_of(trainable, fixed, inputs, labels):
            probs, fixed, losses = model.stateless_call(trainable, fixed, inputs, training=True, return_losses=True)
            loss = loss_fn(labels, probs) + sum(losses, start=0.0)
            if table_l2 > 0:  # L2 on the rows this batch looked up; 0: the step without it
                loss = loss + table_l2 * take_squares(tables) / labels.shape[0]
            return loss, fixed

        def step(trainable, optimizer_state, fixed, users, items, labels, ends):
            (loss, fixed), grads = jax.value_and_grad(loss_of, has_aux=True)(
                trainable, fixed, gather(users, items, ends), labels)
            trainable, optimizer_state = optimizer.stateless_apply(optimizer_state, grads, trainable)
            return loss, trainable, optimizer_state, fixed

        self._take_values()
        # Virtual CPU devices deadlock when one step's collectives overlap the next step (measured: an all-reduce
        # of DataParallel waited for a device thread forever on 2 cores): wait for each step there.
        self._wait = _mesh()[0] is not None and jax.devices()[0].platform == "cpu"
        out = None
        if _mesh()[0] is not None:  # keep every value's layout (the tables stay sharded)
            out = (_replicated_out(), *([v.sharding for v in values] for values in self._values()))
        self._step = jax.jit(step, donate_argnums=(0, 1, 2), out_shardings=out)

    def _take_values(self) -> None:
        self.trainable = [v.value for v in self.model.trainable_variables]
        self.optimizer_state = [v.value for v in self.optimizer.variables]
        self.fixed = [v.value for v in self.model.non_trainable_variables]

    def _values(self):
        return self.trainable, self.optimizer_state, self.fixed

    def step(self, users, items, labels, ends):
        loss, self.trainable, self.optimizer_state, self.fixed = self._step(
            self.trainable, self.optimizer_state, self.fixed, *self._place(users, items, labels, ends))
        if self._wait:
            loss.block_until_ready()
        return loss

    def sync(self) -> None:
        """Write the step's values into the Keras variables (and hold the variables' own arrays from now on)."""
        for variables, values in zip((self.model.trainable_variables, self.optimizer.variables,
                                      self.model.non_trainable_variables), self._values(), strict=True):
            for variable, value in zip(variables, values, strict=True):
                variable.assign(value)
        self._take_values()

    def regularization(self) -> float:
        """The L2 term of the synced variables (Keras computes each layer's from its current values)."""
        return sum((float(np.asarray(loss)) for loss in self.model.losses), start=0.0)


def make_trainer(model, optimizer, exp: Experiment) -> Trainer:
    return Trainer(model, optimizer, exp)


def predict(model, exp: Experiment, split: str) -> np.ndarray:
    """Class probabilities [N, C] in row order: one jitted forward pass per batch (replicated output)."""
    gather = gather_ops(exp, constant=_constant())
    place = _placer()
    trainable = [v.value for v in model.trainable_variables]
    fixed = [v.value for v in model.non_trainable_variables]

    def forward(trainable, fixed, users, items, ends):
        return model.stateless_call(trainable, fixed, gather(users, items, ends), training=False)[0]

    compiled = jax.jit(forward, out_shardings=_replicated_out())
    chunks = [np.asarray(compiled(trainable, fixed, *place(users, items, ends)))
              for users, items, _, ends in id_batches(exp, split, shuffle=False)]
    return np.concatenate(chunks) if chunks else np.zeros((0, len(exp.prepared.classes)), np.float32)


def to_numpy(variable) -> np.ndarray:
    value = variable.value
    if getattr(value, "is_fully_addressable", True):
        return np.asarray(value)
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.process_allgather(value, tiled=True))


def barrier(name: str) -> None:
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)
