"""PyTorch's lazy Adam on the small case of lazy_reference.py, as the PyTorch trainer makes its gradients (imported
under KERAS_BACKEND=torch only: by test_lazy_torch.py, and in a subprocess by test_optimizers.py)."""

from __future__ import annotations

import keras
import torch

from arerec.model.lazy.torch import SparseLazyAdam
from arerec.train.backends.torch import sparse_gather


def sparse_steps(start, steps, rowwise: bool):
    """SparseLazyAdam (lr 0.1) on the gradients of sum(values * table[rows]) per step; returns (table, optimizer)."""
    table = keras.Variable(start.copy(), name="table")
    optimizer = SparseLazyAdam(learning_rate=0.1, rowwise=rowwise)
    optimizer.build([table])
    for rows, values in steps:
        table.value.grad = None
        (sparse_gather(table, torch.tensor(rows)) * torch.tensor(values)).sum().backward()
        assert table.value.grad.is_sparse
        optimizer.apply([table.value.grad], [table])
    return table, optimizer
