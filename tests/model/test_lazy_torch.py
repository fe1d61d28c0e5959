"""arerec.model.lazy.torch and the PyTorch trainer's row-sparse gather, under KERAS_BACKEND=torch: SparseLazyAdam
against the NumPy lazy Adam (tests/model/lazy_reference.py); tests/model/test_optimizers.py compares it with
TensorFlow's LazyAdam from the TensorFlow suite."""

import keras
import numpy as np
import pytest
from conftest import tiny_config
from lazy_reference import lazy_adam, small_case

if keras.backend.backend() != "torch":
    pytest.skip("PyTorch's own code path: run with KERAS_BACKEND=torch (make test-torch)", allow_module_level=True)

import torch  # noqa: E402
from torch_lazy import sparse_steps  # noqa: E402

from arerec.data.inputs import load_experiment  # noqa: E402
from arerec.model.layers import table_layers  # noqa: E402
from arerec.model.lazy.torch import SparseLazyAdam  # noqa: E402
from arerec.train import backends, build  # noqa: E402
from arerec.train.backends.torch import sparse_gather  # noqa: E402
from arerec.train.batches import id_batches  # noqa: E402


@pytest.mark.parametrize("rank, rowwise", [(2, False), (3, False), (3, True)])
def test_sparse_lazy_adam_is_the_numpy_lazy_adam(rank, rowwise):
    start, steps = small_case(rank)
    table, optimizer = sparse_steps(start, steps, rowwise)
    w, m, v = lazy_adam(start, steps, rowwise=rowwise and rank >= 3)
    for got, expected in zip((table, optimizer._momentums[0], optimizer._velocities[0]), (w, m, v), strict=True):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(got), expected, rtol=1e-5, atol=1e-6)  # float32
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(table)[[2, 3]], start[[2, 3]])  # never gathered


def test_a_dense_gradient_gets_the_masked_update():
    """A dense gradient (no sparse gather) moves only its non-zero rows, as MaskedLazyAdam does."""
    start, steps = small_case()
    table = keras.Variable(start.copy(), name="table")
    optimizer = SparseLazyAdam(learning_rate=0.1)
    for rows, values in steps:
        dense = np.zeros_like(start)
        np.add.at(dense, rows, values)
        optimizer.apply([torch.tensor(dense)], [table])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(table), lazy_adam(start, steps)[0], rtol=1e-5, atol=1e-7)


def test_the_gather_gives_the_rows_and_the_dense_gradient_as_sparse_rows():
    start, _ = small_case()
    ids = torch.tensor([[1, 4], [1, 0]])
    sparse_table, dense_table = keras.Variable(start.copy()), keras.Variable(start.copy())
    weights = torch.arange(2 * 2 * 2 * 3, dtype=torch.float32).reshape(2, 2, 2, 3)
    rows = sparse_gather(sparse_table, ids)
    np.testing.assert_array_equal(rows.detach().numpy(), start[ids.numpy()])
    (rows * weights).sum().backward()
    (keras.ops.take(dense_table, ids, axis=0) * weights).sum().backward()
    sparse = sparse_table.value.grad
    assert sparse.is_sparse and sparse._indices().tolist() == [[1, 4, 1, 0]]  # one entry per lookup
    np.testing.assert_array_equal(sparse.to_dense().numpy(), dense_table.value.grad.numpy())


@pytest.mark.parametrize("mode, sparse", [("lazy", True), ("dense", False)])
def test_the_trainer_gives_the_tables_sparse_gradients_in_the_fast_mode_only(tmp_path, mode, sparse):
    exp = load_experiment(tiny_config(tmp_path, update_mode=mode))
    model, optimizer = build.build(exp)
    trainer = backends.current().make_trainer(model, optimizer, exp)
    trainer.step(*next(id_batches(exp, "train", shuffle=False)))
    tables = {id(layer.trainable_variables[0]) for layer in table_layers(model)}
    for variable in model.trainable_variables:
        assert variable.value.grad.is_sparse == (sparse and id(variable) in tables), variable.path


def _rows_args(rowwise: bool):
    """Arguments of arerec.model.lazy.torch.rows_update for 5 distinct rows of a [rows, 3, 4] table."""
    gen = torch.Generator().manual_seed(0)
    values, m, w = (torch.randn(5, 3, 4, generator=gen) for _ in range(3))
    v = torch.rand(5, 3, generator=gen) if rowwise else torch.rand(5, 3, 4, generator=gen)
    return values, m, v, w, torch.tensor(0.9), torch.tensor(0.999), 1e-7, torch.tensor(0.01), rowwise


@pytest.mark.parametrize("rowwise", [False, True])
def test_the_compiled_row_update_is_the_eager_one(rowwise):
    from arerec.model.lazy.torch import rows_update
    from arerec.train.backends.torch import compiled_rows_update

    args = _rows_args(rowwise)
    for got, expected in zip(compiled_rows_update()(*args), rows_update(*args), strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-7)


def test_a_row_update_that_cannot_be_compiled_says_so_and_runs_eagerly(monkeypatch, caplog):
    from arerec.model.lazy.torch import rows_update
    from arerec.train.backends import torch as torch_backend

    def no_compiler(fn):
        def fail(*args):
            raise RuntimeError("InductorError: no C++ compiler found")

        return fail

    monkeypatch.setattr(torch, "compile", no_compiler)
    torch_backend.compiled_rows_update.cache_clear()
    try:
        update = torch_backend.compiled_rows_update()
    finally:
        torch_backend.compiled_rows_update.cache_clear()
    args = _rows_args(True)
    with caplog.at_level("WARNING"):
        for _ in range(2):
            for got, expected in zip(update(*args), rows_update(*args), strict=True):
                torch.testing.assert_close(got, expected, rtol=0, atol=0)
    warnings = [r.getMessage() for r in caplog.records if "could not compile" in r.getMessage()]
    assert len(warnings) == 1 and "no C++ compiler" in warnings[0] and "jit_compile 0" in warnings[0]
