"""TensorFlow: the compiled step (``tf.function``, optionally XLA) with sparse lazy Adam, and ``tf.data`` prediction.

The default backend and the only one with the sparse fast mode (:class:`arerec.model.lazy.tensorflow.LazyAdam`).
The step updates the Keras variables in place, so :meth:`Trainer.sync` has nothing to do.
"""

from __future__ import annotations

import functools

import numpy as np

from arerec.data.inputs import Experiment
from arerec.errors import ConfigError


def batch_gather(exp: Experiment):
    """(users, items, ends) of a batch of rows -> the model's inputs, as TensorFlow ops.

    Each row gathers its item's neighbour and LCU ids from the per-item tables, so nothing is
    padded up front and no one-hot matrix is built. Used by :func:`make_batches` and, inside the
    compiled step, by :func:`make_train_step`. :func:`arerec.train.batches.gather_ops` is the same
    with ``keras.ops``, for the other backends.
    """
    import tensorflow as tf

    length = exp.tables.max_seq
    if exp.clean:  # each row reads the latest max_seq raters before its own time
        whole_neighbours, whole_lcu = exp.tables.whole_sequences()
        full_neighbours, full_lcu = tf.constant(whole_neighbours), tf.constant(whole_lcu)
        width = whole_neighbours.shape[1]

        def gather(u, i, end):
            positions = tf.maximum(end - length, 0)[:, None] + tf.range(length)[None, :]  # [B, L]
            valid = tf.cast(positions < end[:, None], tf.int32)
            positions = tf.minimum(positions, width - 1)
            neighbours = tf.gather(tf.gather(full_neighbours, i), positions, batch_dims=1) * valid
            lcu = tf.gather(tf.gather(full_lcu, i), positions, batch_dims=1) * valid
            return {"user": u, "item": i, "neighbours": neighbours, "lcu": lcu}
    else:  # every row of an item shares the item's first max_seq raters
        neighbours_table = tf.constant(exp.tables.neighbours)
        lcu_table = tf.constant(exp.tables.lcu)

        def gather(u, i, end):
            return {"user": u, "item": i, "neighbours": tf.gather(neighbours_table, i), "lcu": tf.gather(lcu_table, i)}
    return gather


def make_batches(exp: Experiment, split: str, *, shuffle: bool, epoch: int = 0):
    """A ``tf.data`` pipeline of (inputs, integer label) batches (see :func:`batch_gather`), in the
    order of :func:`arerec.train.batches.id_batches`."""
    import tensorflow as tf

    from arerec.train.batches import epoch_arrays

    gather = batch_gather(exp)
    ds = tf.data.Dataset.from_tensor_slices(epoch_arrays(exp, split, shuffle, epoch)).batch(exp.cfg.data.batch_size)
    # Fixed parallelism and no autotuning: the map is one gather per batch, and tf.data's autotune
    # thread held the end of an epoch until its next wake-up (measured: a 46 s epoch ended at 82 s).
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.map(lambda u, i, y, end: (gather(u, i, end), y), num_parallel_calls=2).prefetch(2).with_options(options)


def _regularization(model):
    import tensorflow as tf

    def reg_loss():
        return tf.add_n(model.losses) if model.losses else tf.constant(0.0)

    return reg_loss


def make_train_step(model, optimizer, jit_compile: bool = False, gather=None, table_l2: float = 0.0):
    """One compiled step: cross-entropy (+ L2) on integer labels, gradients, optimiser update.

    ``table_l2`` > 0 adds ``table_l2 / B`` times the squared norms of the table rows the batch looks up
    (:class:`arerec.model.layers.RowSquares`; its gradient stays sparse, so lazy Adam touches only those rows);
    at 0 the step is exactly the one without it.

    With ``jit_compile`` XLA fuses the optimiser's element-wise passes over the tables; lazy Adam
    must then have been made with static shapes (``make_optimizer(..., jit_compile=True)``).
    Called as ``step(inputs, labels)``; with ``gather`` (:func:`batch_gather`) as
    ``step(users, items, labels, ends)``, the inputs being gathered inside the compiled step.
    """
    import tensorflow as tf

    if jit_compile and getattr(optimizer, "static_shapes", True) is False:
        raise ConfigError("an XLA-compiled step needs LazyAdam(static_shapes=True): build the optimiser with "
                          "make_optimizer(..., jit_compile=True)")

    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy()
    reg_loss = _regularization(model)
    if table_l2 > 0:
        from arerec.model.layers import start_squares, take_squares

        tables = start_squares(model)

    def step(inputs, labels):
        with tf.GradientTape() as tape:
            probs = model(inputs, training=True)
            loss = loss_fn(labels, probs) + reg_loss()
            if table_l2 > 0:
                batch = tf.cast(tf.shape(labels)[0], loss.dtype)
                loss = loss + table_l2 * take_squares(tables) / batch
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    if gather is None:
        return tf.function(step, jit_compile=jit_compile)
    return tf.function(lambda users, items, labels, ends: step(gather(users, items, ends), labels),
                       jit_compile=jit_compile)


class Trainer:
    """The training step of a run (see :mod:`arerec.train.backends`)."""

    def __init__(self, model, optimizer, exp: Experiment):
        self.step = make_train_step(model, optimizer, jit_compile=bool(exp.cfg.training.jit_compile), gather=batch_gather(exp),
                                    table_l2=exp.cfg.model.table_l2)
        self._reg_loss = _regularization(model)

    def sync(self) -> None:
        """Nothing to do: the step assigns the variables."""

    def regularization(self) -> float:
        return float(self._reg_loss())


def make_trainer(model, optimizer, exp: Experiment) -> Trainer:
    return Trainer(model, optimizer, exp)


class _NoRetracingWarning:
    """Drops TensorFlow's "triggered tf.function retracing" warning. Every model a sweep builds (a trial, a
    seed) traces its own forward function once per batch shape, which that warning counts as retracing; it
    says nothing about the run, and on a report page it reads as a fault."""

    def filter(self, record) -> bool:
        return "tf.function retracing" not in record.getMessage()


@functools.cache
def _quiet_retracing() -> None:
    import tensorflow as tf

    tf.get_logger().addFilter(_NoRetracingWarning())  # once per process


def _compiled_forward(model):
    import tensorflow as tf

    _quiet_retracing()
    if getattr(model, "_arerec_forward", None) is None:
        model._arerec_forward = tf.function(lambda inputs: model(inputs, training=False), reduce_retracing=True)
    return model._arerec_forward


def predict(model, exp: Experiment, split: str) -> np.ndarray:
    forward = _compiled_forward(model)
    chunks = [forward(inputs).numpy() for inputs, _ in make_batches(exp, split, shuffle=False)]
    return np.concatenate(chunks) if chunks else np.zeros((0, len(exp.prepared.classes)), np.float32)


def to_numpy(variable) -> np.ndarray:
    return np.asarray(variable.numpy())


def barrier(name: str) -> None:
    """One process: nothing to wait for."""
