"""Lazy Adam on any Keras backend, from the dense gradient of a gather (JAX, PyTorch)."""

from __future__ import annotations

import keras
from keras import ops

from arerec.model.lazy.rowwise import RowwiseMoments

# Variables that a batch reads by row, by their names: the Embedding layers' and the LCU tables' (RegionEmbedding).
TABLE_NAMES = ("embeddings", "table")


def _per_row(weights, x):
    """[rows] -> broadcastable against x [rows, ...]."""
    return ops.reshape(weights, (-1,) + (1,) * (len(x.shape) - 1))


@keras.saving.register_keras_serializable(package="arerec")
class MaskedLazyAdam(RowwiseMoments, keras.optimizers.Adam):
    """The update of :class:`arerec.model.lazy.tensorflow.LazyAdam`, computed with ``keras.ops``.

    Under JAX the gradient of a gathered table is a dense array with zeros in the rows the batch did
    not gather. For each table (a variable named ``embeddings`` or ``table``) a row is
    *touched* when any entry of its gradient is non-zero; touched rows get Adam's update, the other
    rows keep their moments and do not move:

        m_r <- b1 m_r + (1 - b1) g_r,   v_r <- b2 v_r + (1 - b2) g_r^2     (touched rows r)
        w_r <- w_r - lr sqrt(1 - b2^t) / (1 - b1^t) * m_r / (sqrt(v_r) + eps)

    The one difference from TensorFlow's lazy Adam: a gathered row whose gradient is exactly zero
    (padding id 0, whose gradient the mask zeroes) is left alone here, while TensorFlow decays its
    moments; its m is 0 either way, so it does not move under either. Other variables get Keras Adam.
    The cost is a dense pass over every table, as dense Adam's (on a GPU that pass is cheap; on a CPU,
    TensorFlow's sparse LazyAdam is the fast mode).
    """

    def _is_table(self, variable) -> bool:
        # the Keras variable's path (TensorFlow hands update_step its backend variable, which has none)
        return self._trainable_variables[self._get_variable_index(variable)].path.split("/")[-1] in TABLE_NAMES

    def update_step(self, gradient, variable, learning_rate):
        rowwise = self._is_rowwise(variable)
        table = self._is_table(variable)
        if not table and not rowwise:
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        grad = ops.cast(gradient, dtype)
        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]
        beta_1, beta_2 = ops.cast(self.beta_1, dtype), ops.cast(self.beta_2, dtype)
        if table:  # [rows]: 1 where the batch gathered the row
            touched = ops.cast(ops.any(ops.not_equal(ops.reshape(grad, (grad.shape[0], -1)), 0), axis=1), dtype)
        else:
            touched = ops.ones((grad.shape[0],), dtype)
        square = ops.mean(ops.square(grad), axis=-1) if rowwise else ops.square(grad)
        dm = (1 - beta_1) * (grad - m.value) * _per_row(touched, grad)
        dv = (1 - beta_2) * (square - v.value) * _per_row(touched, square)
        root = ops.sqrt(v.value + dv)
        direction = (m.value + dm) / ((root[..., None] if rowwise else root) + self.epsilon)
        self.assign_add(m, dm)
        self.assign_add(v, dv)
        self.assign_sub(variable, self._alpha(learning_rate, dtype) * direction * _per_row(touched, grad))

    def _alpha(self, learning_rate, dtype):
        """Adam's step size at this step, lr sqrt(1 - b2^t) / (1 - b1^t), in the variable's dtype."""
        step = ops.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = ops.cast(self.beta_1, dtype), ops.cast(self.beta_2, dtype)
        return ops.cast(learning_rate, dtype) * ops.sqrt(1 - ops.power(beta_2, step)) / (1 - ops.power(beta_1, step))
