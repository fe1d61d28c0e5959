"""Lazy Adam for PyTorch: updates only the rows of a row-sparse (COO) gradient.

PyTorch's gradient of ``index_select`` is a dense table, zero outside the gathered rows. The PyTorch trainer
gathers the tables' rows with :func:`arerec.train.backends.torch.sparse_gather` instead, whose gradient is a
sparse COO tensor: one entry per lookup, as TensorFlow's ``tf.IndexedSlices``. :class:`SparseLazyAdam` updates
just those rows, with the maths of :class:`arerec.model.lazy.tensorflow.LazyAdam` (duplicates summed first,
moments and weights moved by increments at the distinct rows); a dense gradient gets
:class:`arerec.model.lazy.masked.MaskedLazyAdam`'s update.
"""

from __future__ import annotations

import keras
import torch

from arerec.model.lazy.masked import MaskedLazyAdam


def rows_update(values, m_old, v_old, w_old, beta_1, beta_2, epsilon: float, alpha, rowwise: bool):
    """Adam at the distinct rows of a sparse gradient: ``values`` [U, ...] and the rows' old moments and weights ->
    their new ones. Element-wise only, so that ``torch.compile`` can fuse it into one pass."""
    m_new = m_old + (1 - beta_1) * (values - m_old)
    square = values.square().mean(dim=-1) if rowwise else values.square()
    v_new = v_old + (1 - beta_2) * (square - v_old)
    root = v_new.sqrt()
    w_new = w_old - alpha * (m_new / ((root[..., None] if rowwise else root) + epsilon))
    return m_new, v_new, w_new


@keras.saving.register_keras_serializable(package="arerec")
class SparseLazyAdam(MaskedLazyAdam):
    """Adam whose update of a sparse COO gradient touches only its rows (the fast mode under PyTorch).

    For the distinct rows r of the gradient (``coalesce`` sums duplicates and sorts them):
        m_r <- b1 m_r + (1 - b1) g_r
        v_r <- b2 v_r + (1 - b2) g_r^2          (``rowwise``: the mean of g_r^2 over the last axis)
        w_r <- w_r - lr sqrt(1 - b2^t) / (1 - b1^t) * m_r / (sqrt(v_r) + eps)

    As under TensorFlow, a gathered row whose gradient is zero (padding id 0) has its moments decayed; its m
    stays 0, so it does not move. Its variables are :class:`MaskedLazyAdam`'s, in the same order and shapes
    as the other backends' lazy Adams: one checkpoint serves all three.

    ``rows_update``: the row maths (:func:`rows_update`, or a compiled copy of it).
    """

    rows_update = staticmethod(rows_update)

    def update_step(self, gradient, variable, learning_rate):
        if not (isinstance(gradient, torch.Tensor) and gradient.is_sparse):
            return super().update_step(gradient, variable, learning_rate)
        table = variable.value
        grad = gradient.coalesce()
        rows, values = grad.indices()[0], grad.values().to(table.dtype).clone()
        index = self._get_variable_index(variable)
        m, v = self._momentums[index].value, self._velocities[index].value
        # the betas in the variable's dtype, as TensorFlow's LazyAdam casts them
        beta_1, beta_2 = (torch.tensor(b, dtype=table.dtype, device=table.device) for b in (self.beta_1, self.beta_2))
        with torch.no_grad():
            m_new, v_new, w_new = self.rows_update(
                values, m.index_select(0, rows), v.index_select(0, rows), table.index_select(0, rows), beta_1, beta_2,
                self.epsilon, self._alpha(learning_rate, variable.dtype), self._is_rowwise(variable))
            # the rows are distinct: each is written once (index_add_ was 8x slower on a CPU)
            m.index_copy_(0, rows, m_new)
            v.index_copy_(0, rows, v_new)
            table.index_copy_(0, rows, w_new)
