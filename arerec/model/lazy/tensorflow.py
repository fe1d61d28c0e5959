"""Lazy Adam for TensorFlow: updates only the rows of a sparse (``tf.IndexedSlices``) gradient.

Keras 3 ``Adam`` turns the sparse ``IndexedSlices`` gradient of a gathered table into a dense
tensor and rewrites every row of the table and of its two moment copies at every step. For
ARERec's LCU tables (57.6 M floats on ML-100K) that dominates the cost of a step.

:class:`LazyAdam` updates only the rows present in the batch, and only their moments. For
dense gradients it is exactly Adam. For a sparse one it differs from dense Adam in one way:
rows absent from a batch keep their moments unchanged instead of decaying them, and do not move
(dense Adam keeps moving them with their decaying momentum). This is the usual "lazy Adam".

Its distinct rows are found with ``tf.unique`` or, inside an XLA-compiled step, with static
shapes and no sort (:func:`_rows_owned`); XLA then fuses the element-wise update (measured by
``python -m arerec bench``).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from arerec.model.lazy.rowwise import RowwiseMoments


def _rows_unique(indices):
    """Distinct rows of a sparse gradient with ``tf.unique`` (dynamic shapes, no XLA kernel).

    Returns ``(rows [U], position [N] -> row slot, slots U, valid None)``.
    """
    rows, position = tf.unique(indices)
    return rows, position, tf.shape(rows)[0], None


def _rows_owned(indices, num_rows: int):
    """Distinct rows with static shapes, so that XLA can compile it: each row is owned by its last entry.

    One scatter-max of the entry numbers into a [num_rows] buffer names, for every row, the
    last entry that holds it; every entry then reads its owner. Slot s is valid when entry s
    owns its row, and holds row ``indices[s]``. Non-owning slots repeat a row that a valid slot
    holds, and the update masks them out. Cost: O(num_rows) integers. It replaced a sort of the
    N entries (argsort, run starts, cumsum): XLA's CPU sort took 8.5 ms of a 78 ms step on
    ML-100K (profiled).

    Returns ``(rows [N], position [N] -> slot, slots N, valid [N])``.
    """
    indices = tf.cast(indices, tf.int32)
    n = tf.shape(indices)[0]
    entries = tf.range(n)
    owner = tf.tensor_scatter_nd_max(tf.fill([num_rows], -1), indices[:, None], entries)
    position = tf.gather(owner, indices)
    return indices, position, n, tf.equal(position, entries)


def _sum_into_owners(values, position, valid):
    """Each owning slot's sum of its row's entries (:func:`_rows_owned`), computed in ``values``' buffer.

    The same as ``unsorted_segment_sum(values, position, N)`` at owning slots: an owner keeps its
    own entry and the other entries of its row are added to it. Non-owning slots keep their own
    entry, which the update masks out. Unlike the segment sum, XLA needs no zero-filled [N, ...]
    buffer (and its copies, one per table): it scatters into the gradient in place. Measured on
    ML-100K at 30b725f: fast-mode epochs 43.3, 43.9 and 42.9 s against 45.6, 45.9 and 45.3 s before
    (alternating processes, one epoch each, params/base.yaml; docs/decisions.md, 11).
    """
    others = values * _per_slot(1.0 - tf.cast(valid, values.dtype), values)
    return tf.tensor_scatter_nd_add(values, position[:, None], others)


def _per_slot(weights, x):
    """[N] -> broadcastable against x [N, ...]."""
    return tf.reshape(weights, [-1] + [1] * (len(x.shape) - 1))


@keras.saving.register_keras_serializable(package="arerec")
class LazyAdam(RowwiseMoments, keras.optimizers.Adam):
    """Adam whose update of a sparse (``tf.IndexedSlices``) gradient touches only those rows.

    For rows r in the batch (duplicates summed first):
        m_r <- b1 m_r + (1 - b1) g_r
        v_r <- b2 v_r + (1 - b2) g_r^2
        w_r <- w_r - lr sqrt(1 - b2^t) / (1 - b1^t) * m_r / (sqrt(v_r) + eps)

    ``rowwise``: see :class:`arerec.model.lazy.rowwise.RowwiseMoments`.

    Args:
        static_shapes: find the distinct rows with shapes fixed by the batch (:func:`_rows_owned`), instead
            of ``tf.unique``. Required inside an XLA-compiled step (``jit_compile``); slower
            without XLA. Both give the same update.
        rowwise: row-wise second moments for variables of rank >= 3.
        **kwargs: as ``keras.optimizers.Adam`` (``amsgrad`` is not supported with ``rowwise``).
    """

    def __init__(self, *args, static_shapes: bool = False, rowwise: bool = False, **kwargs):
        super().__init__(*args, rowwise=rowwise, **kwargs)
        self.static_shapes = bool(static_shapes)

    def get_config(self):
        return {**super().get_config(), "static_shapes": self.static_shapes}

    def _moments(self, grad, m_old, v_old, rowwise: bool):
        """Increments of m and v, and the new moments' step direction m / (sqrt(v) + eps)."""
        beta_1, beta_2 = tf.cast(self.beta_1, grad.dtype), tf.cast(self.beta_2, grad.dtype)
        dm = (1 - beta_1) * (grad - m_old)
        square = tf.reduce_mean(tf.square(grad), axis=-1) if rowwise else tf.square(grad)
        dv = (1 - beta_2) * (square - v_old)
        root = tf.sqrt(v_old + dv)
        direction = (m_old + dm) / ((root[..., None] if rowwise else root) + self.epsilon)
        return dm, dv, direction

    def update_step(self, gradient, variable, learning_rate):
        rowwise = self._is_rowwise(variable)
        if not isinstance(gradient, tf.IndexedSlices) and not rowwise:
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        if not isinstance(gradient, tf.IndexedSlices):  # a dense gradient of a row-wise variable
            return self._dense_rowwise_step(tf.cast(gradient, dtype), variable, learning_rate)
        values = tf.cast(gradient.values, dtype)
        if self.static_shapes:
            rows, position, _, valid = _rows_owned(gradient.indices, variable.shape[0])
            grad = _sum_into_owners(values, position, valid)  # [N, ...]; valid at owning slots
        else:
            rows, position, slots, valid = _rows_unique(gradient.indices)
            grad = tf.math.unsorted_segment_sum(values, position, slots)  # [slots, ...]
        index = self._get_variable_index(variable)
        m = self._momentums[index]
        v = self._velocities[index]
        m_old = tf.gather(m.value, rows)
        v_old = tf.gather(v.value, rows)
        # The moments move by increments, masked to 0 on the static path's non-owning slots, so that
        # those slots (which repeat a row that its owning slot updates) change nothing.
        dm, dv, direction = self._moments(grad, m_old, v_old, rowwise)
        step_rows = self._alpha(learning_rate, dtype) * direction
        if valid is not None:
            keep = tf.cast(valid, dtype)
            dm, dv, step_rows = (x * _per_slot(keep, x) for x in (dm, dv, step_rows))
        self.assign_add(m, tf.IndexedSlices(dm, rows))
        self.assign_add(v, tf.IndexedSlices(dv, rows))
        self.assign_sub(variable, tf.IndexedSlices(step_rows, rows))

    def _alpha(self, learning_rate, dtype):
        step = tf.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)  # powers in the variable's dtype
        return tf.cast(learning_rate, dtype) * tf.sqrt(1 - tf.pow(beta_2, step)) / (1 - tf.pow(beta_1, step))

    def _dense_rowwise_step(self, grad, variable, learning_rate):
        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]
        dm, dv, direction = self._moments(grad, m.value, v.value, rowwise=True)
        self.assign_add(m, dm)
        self.assign_add(v, dv)
        self.assign_sub(variable, self._alpha(learning_rate, grad.dtype) * direction)
