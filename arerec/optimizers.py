"""Optimisers: the reference's dense Adam, and a row-sparse ("lazy") Adam beside it.

Keras 3 ``Adam`` turns the sparse ``IndexedSlices`` gradient of a gathered table into a dense
tensor and rewrites every row of the table and of its two moment copies at every step. For
ARERec's LCU tables (57.6 M floats on ML-100K) that dominates the cost of a step.

:class:`LazyAdam` updates only the rows present in the batch, and only their moments. For
dense gradients it is exactly Adam. For a sparse one it differs from dense Adam in one way:
rows absent from a batch keep their moments unchanged instead of decaying them, and do not move
(dense Adam keeps moving them with their decaying momentum). This is the usual "lazy Adam".

Its distinct rows are found with ``tf.unique`` or, inside an XLA-compiled step, by sorting with
static shapes; XLA then fuses the element-wise update (measured by ``python -m arerec bench``).
"""

from __future__ import annotations

import keras
import tensorflow as tf

UPDATE_MODES = ("dense", "lazy")


def _rows_unique(indices):
    """Distinct rows of a sparse gradient with ``tf.unique`` (dynamic shapes, no XLA kernel).

    Returns ``(rows [U], position [N] -> row slot, slots U, valid None)``.
    """
    rows, position = tf.unique(indices)
    return rows, position, tf.shape(rows)[0], None


def _rows_sorted(indices):
    """The same with static shapes, so that XLA can compile it: sort, mark run starts, cumsum.

    There are always N slots; slots past the last distinct row hold row 0 with ``valid`` False,
    and receive no gradient. Rows come out in increasing order (good for gather and scatter).
    """
    indices = tf.cast(indices, tf.int32)
    n = tf.shape(indices)[0]
    order = tf.argsort(indices, stable=True)
    ordered = tf.gather(indices, order)
    starts = tf.concat([[True], ordered[1:] != ordered[:-1]], axis=0)
    slot_sorted = tf.cumsum(tf.cast(starts, tf.int32)) - 1  # slot of each sorted entry
    position = tf.scatter_nd(order[:, None], slot_sorted, [n])  # slot of each original entry
    rows = tf.tensor_scatter_nd_update(tf.zeros([n], tf.int32), slot_sorted[:, None], ordered)
    valid = tf.range(n) <= slot_sorted[-1]
    return rows, position, n, valid


@keras.saving.register_keras_serializable(package="arerec")
class LazyAdam(keras.optimizers.Adam):
    """Adam whose update of a sparse (``tf.IndexedSlices``) gradient touches only those rows.

    For rows r in the batch (duplicates summed first):
        m_r <- b1 m_r + (1 - b1) g_r
        v_r <- b2 v_r + (1 - b2) g_r^2
        w_r <- w_r - lr sqrt(1 - b2^t) / (1 - b1^t) * m_r / (sqrt(v_r) + eps)

    Args:
        static_shapes: find the distinct rows by sorting, with shapes fixed by the batch, instead
            of ``tf.unique``. Required inside an XLA-compiled step (``jit_compile``); slower
            without XLA. Both give the same update.
        **kwargs: as ``keras.optimizers.Adam``.
    """

    def __init__(self, *args, static_shapes: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.static_shapes = bool(static_shapes)

    def get_config(self):
        return {**super().get_config(), "static_shapes": self.static_shapes}

    def update_step(self, gradient, variable, learning_rate):
        if not isinstance(gradient, tf.IndexedSlices):
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        find_rows = _rows_sorted if self.static_shapes else _rows_unique
        rows, position, slots, valid = find_rows(gradient.indices)
        grad = tf.math.unsorted_segment_sum(tf.cast(gradient.values, dtype), position, slots)  # [slots, ...]
        step = tf.cast(self.iterations + 1, dtype)
        beta_1 = tf.cast(self.beta_1, dtype)
        beta_2 = tf.cast(self.beta_2, dtype)
        alpha = tf.cast(learning_rate, dtype) * tf.sqrt(1 - tf.pow(beta_2, step)) / (1 - tf.pow(beta_1, step))

        index = self._get_variable_index(variable)
        m = self._momentums[index]
        v = self._velocities[index]
        m_old = tf.gather(m.value, rows)
        v_old = tf.gather(v.value, rows)
        # The moments move by increments, so that the unused slots (row 0, increment 0) of the
        # static path are harmless even though row 0 may appear among them several times.
        dm = (1 - beta_1) * (grad - m_old)
        dv = (1 - beta_2) * (tf.square(grad) - v_old)
        step_rows = alpha * (m_old + dm) / (tf.sqrt(v_old + dv) + self.epsilon)
        if valid is not None:
            keep = tf.reshape(tf.cast(valid, dtype), [-1] + [1] * (len(variable.shape) - 1))
            dm, dv, step_rows = dm * keep, dv * keep, step_rows * keep
        self.assign_add(m, tf.IndexedSlices(dm, rows))
        self.assign_add(v, tf.IndexedSlices(dv, rows))
        self.assign_sub(variable, tf.IndexedSlices(step_rows, rows))


def make_optimizer(name: str, lr: float, update_mode: str = "dense", jit_compile: bool = False) -> keras.optimizers.Optimizer:
    """The optimiser for a run: 'adam' or 'rmsprop', with dense (reference) or lazy updates.

    ``jit_compile`` says the step will be XLA-compiled, so lazy Adam uses static shapes.
    """
    if update_mode not in UPDATE_MODES:
        raise ValueError(f"update_mode must be one of {UPDATE_MODES}, received: {update_mode!r}")
    if name == "adam":
        return LazyAdam(learning_rate=lr, static_shapes=jit_compile) if update_mode == "lazy" else keras.optimizers.Adam(learning_rate=lr)
    if name == "rmsprop":
        if update_mode == "lazy":
            raise ValueError("update_mode 'lazy' is implemented for adam only; use update_mode 'dense' with rmsprop")
        return keras.optimizers.RMSprop(learning_rate=lr)
    raise ValueError(f"optimizer must be 'adam' or 'rmsprop', received: {name!r}")
