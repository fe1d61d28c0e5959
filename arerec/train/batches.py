"""Feeding the model: a split's rows in an epoch's order, in batches, with their neighbour and LCU ids.

The training step gathers each batch's ids from the per-item tables itself, inside the compiled
step, fed NumPy slices by :func:`id_batches`: with TensorFlow ops
(:func:`arerec.train.backends.tensorflow.batch_gather`) or, for the other backends, with
``keras.ops`` (:func:`gather_ops`). Both give the same ids.
"""

from __future__ import annotations

import numpy as np

from arerec.data.inputs import Experiment


def epoch_arrays(exp: Experiment, split: str, shuffle: bool, epoch: int) -> tuple[np.ndarray, ...]:
    """A split's (users, items, labels, ends) in the epoch's order.

    The shuffle order is a function of (seed, epoch), so a resumed run sees the same batches.
    """
    arrays = exp.arrays(split)
    if shuffle:
        order = np.random.default_rng([exp.cfg.training.seed, epoch]).permutation(len(arrays[0]))
        arrays = tuple(a[order] for a in arrays)
    return arrays


def gather_ops(exp: Experiment, constant=None):
    """(users, items, ends) of a batch -> the model's inputs, with ``keras.ops`` (any backend, inside ``jax.jit``).

    The same ids as :func:`arerec.train.backends.tensorflow.batch_gather`. ``constant`` turns the per-item
    NumPy tables into the backend's arrays once (placed on the devices of a distribution, for JAX);
    default ``keras.ops.convert_to_tensor``.
    """
    from keras import ops

    constant = constant or ops.convert_to_tensor
    length = exp.tables.max_seq
    if exp.clean:  # each row reads the latest max_seq raters before its own time
        whole_neighbours, whole_lcu = exp.tables.whole_sequences()
        width = whole_neighbours.shape[1]
        # one flat index per (row, position) into the [items, width] tables: no [B, width] intermediate
        flat_neighbours = constant(whole_neighbours.reshape(-1))
        flat_lcu = constant(whole_lcu.reshape(-1))
        steps = np.arange(length, dtype=np.int32)[None, :]

        def gather(u, i, end):
            positions = ops.maximum(end - length, 0)[:, None] + steps  # [B, L]
            valid = ops.cast(positions < end[:, None], "int32")
            index = i[:, None] * width + ops.minimum(positions, width - 1)
            return {"user": u, "item": i, "neighbours": ops.take(flat_neighbours, index) * valid,
                    "lcu": ops.take(flat_lcu, index) * valid}
    else:  # every row of an item shares the item's first max_seq raters
        neighbours_table, lcu_table = constant(exp.tables.neighbours), constant(exp.tables.lcu)

        def gather(u, i, end):
            return {"user": u, "item": i, "neighbours": ops.take(neighbours_table, i, axis=0),
                    "lcu": ops.take(lcu_table, i, axis=0)}
    return gather


def id_batches(exp: Experiment, split: str, *, shuffle: bool, epoch: int = 0):
    """(users, items, integer labels, ends) per batch, as NumPy slices, in the epoch's order.

    The trainers of :mod:`arerec.train.backends` gather the neighbour and LCU ids inside their
    compiled step: no input pipeline thread competes with the step for the cores.
    """
    arrays = epoch_arrays(exp, split, shuffle, epoch)
    size = exp.cfg.data.batch_size
    for start in range(0, len(arrays[0]), size):
        yield tuple(a[start:start + size] for a in arrays)
