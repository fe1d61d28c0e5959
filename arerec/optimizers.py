"""Optimisers: the reference's dense Adam, and a row-sparse ("lazy") Adam beside it.

Keras 3 ``Adam`` turns the sparse ``IndexedSlices`` gradient of a gathered table into a dense
tensor and rewrites every row of the table and of its two moment copies at every step. For
ARERec's LCU tables (57.6 M floats on ML-100K) that dominates the cost of a step.

:class:`LazyAdam` updates only the rows present in the batch, and only their moments. For
dense gradients it is exactly Adam. For a sparse one it differs from dense Adam in one way:
rows absent from a batch keep their moments unchanged instead of decaying them, and do not move
(dense Adam keeps moving them with their decaying momentum). This is the usual "lazy Adam".
"""

from __future__ import annotations

import keras
import tensorflow as tf

UPDATE_MODES = ("dense", "lazy")


@keras.saving.register_keras_serializable(package="arerec")
class LazyAdam(keras.optimizers.Adam):
    """Adam whose update of a sparse (``tf.IndexedSlices``) gradient touches only those rows.

    For rows r in the batch (duplicates summed first):
        m_r <- b1 m_r + (1 - b1) g_r
        v_r <- b2 v_r + (1 - b2) g_r^2
        w_r <- w_r - lr sqrt(1 - b2^t) / (1 - b1^t) * m_r / (sqrt(v_r) + eps)
    """

    def update_step(self, gradient, variable, learning_rate):
        if not isinstance(gradient, tf.IndexedSlices):
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        rows, position = tf.unique(gradient.indices)  # [U], [N]
        grad = tf.math.unsorted_segment_sum(
            tf.cast(gradient.values, dtype), position, tf.shape(rows)[0]
        )  # [U, ...]
        step = tf.cast(self.iterations + 1, dtype)
        beta_1 = tf.cast(self.beta_1, dtype)
        beta_2 = tf.cast(self.beta_2, dtype)
        alpha = tf.cast(learning_rate, dtype) * tf.sqrt(1 - tf.pow(beta_2, step)) / (1 - tf.pow(beta_1, step))

        index = self._get_variable_index(variable)
        m = self._momentums[index]
        v = self._velocities[index]
        m_rows = beta_1 * tf.gather(m.value, rows) + (1 - beta_1) * grad
        v_rows = beta_2 * tf.gather(v.value, rows) + (1 - beta_2) * tf.square(grad)
        self.assign(m, tf.IndexedSlices(m_rows, rows))
        self.assign(v, tf.IndexedSlices(v_rows, rows))
        self.assign_sub(variable, tf.IndexedSlices(alpha * m_rows / (tf.sqrt(v_rows) + self.epsilon), rows))


def make_optimizer(name: str, lr: float, update_mode: str = "dense") -> keras.optimizers.Optimizer:
    """The optimiser for a run: 'adam' or 'rmsprop', with dense (reference) or lazy updates."""
    if update_mode not in UPDATE_MODES:
        raise ValueError(f"update_mode must be one of {UPDATE_MODES}, received: {update_mode!r}")
    if name == "adam":
        return LazyAdam(learning_rate=lr) if update_mode == "lazy" else keras.optimizers.Adam(learning_rate=lr)
    if name == "rmsprop":
        if update_mode == "lazy":
            raise ValueError("update_mode 'lazy' is implemented for adam only; use update_mode 'dense' with rmsprop")
        return keras.optimizers.RMSprop(learning_rate=lr)
    raise ValueError(f"optimizer must be 'adam' or 'rmsprop', received: {name!r}")
