"""Feeding the model: a split's rows in an epoch's order, in batches, with their neighbour and LCU ids.

The training step gathers each batch's ids from the per-item tables itself (:func:`batch_gather`
inside the compiled step, fed NumPy slices by :func:`id_batches`); :func:`make_batches` is the
same as a ``tf.data`` pipeline, for prediction.
"""

from __future__ import annotations

import numpy as np

from arerec.data.inputs import Experiment


def _epoch_arrays(exp: Experiment, split: str, shuffle: bool, epoch: int) -> tuple[np.ndarray, ...]:
    """A split's (users, items, labels, ends) in the epoch's order.

    The shuffle order is a function of (seed, epoch), so a resumed run sees the same batches.
    """
    arrays = exp.arrays(split)
    if shuffle:
        order = np.random.default_rng([exp.cfg.seed, epoch]).permutation(len(arrays[0]))
        arrays = tuple(a[order] for a in arrays)
    return arrays


def batch_gather(exp: Experiment):
    """(users, items, ends) of a batch of rows -> the model's inputs, as TensorFlow ops.

    Each row gathers its item's neighbour and LCU ids from the per-item tables, so nothing is
    padded up front and no one-hot matrix is built. Used by :func:`make_batches` and, inside the
    compiled step, by :func:`arerec.train.loop.make_train_step`.
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


def id_batches(exp: Experiment, split: str, *, shuffle: bool, epoch: int = 0):
    """(users, items, integer labels, ends) per batch, as NumPy slices, in :func:`make_batches`' order.

    The training loop feeds these to a step made with ``make_train_step(..., gather=batch_gather(exp))``,
    which gathers the neighbour and LCU ids inside the compiled step: no input pipeline thread
    competes with the step for the two cores.
    """
    arrays = _epoch_arrays(exp, split, shuffle, epoch)
    size = exp.cfg.batch_size
    for start in range(0, len(arrays[0]), size):
        yield tuple(a[start:start + size] for a in arrays)


def make_batches(exp: Experiment, split: str, *, shuffle: bool, epoch: int = 0):
    """A ``tf.data`` pipeline of (inputs, integer label) batches (see :func:`batch_gather`), in the
    order of :func:`id_batches`."""
    import tensorflow as tf

    gather = batch_gather(exp)
    ds = tf.data.Dataset.from_tensor_slices(_epoch_arrays(exp, split, shuffle, epoch)).batch(exp.cfg.batch_size)
    # Fixed parallelism and no autotuning: the map is one gather per batch, and tf.data's autotune
    # thread held the end of an epoch until its next wake-up (measured: a 46 s epoch ended at 82 s).
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.map(lambda u, i, y, end: (gather(u, i, end), y), num_parallel_calls=2).prefetch(2).with_options(options)
