"""arerec.model.optimizers: lazy (row-sparse) Adam against Keras Adam, its XLA helpers, and the masked lazy
Adam of the other backends against it."""

import keras
import numpy as np
import pytest

pytestmark = pytest.mark.tensorflow_only  # TensorFlow's own code path
tf = pytest.importorskip("tensorflow")  # a JAX machine without TensorFlow skips this module

from arerec.model.lazy.tensorflow import LazyAdam  # noqa: E402
from arerec.model.optimizers import make_optimizer  # noqa: E402


def _variables():
    table = keras.Variable(np.arange(12, dtype="float32").reshape(6, 2), name="table")
    dense = keras.Variable(np.ones((2,), dtype="float32"), name="dense")
    return table, dense


def test_lazy_adam_equals_adam_on_dense_gradients():
    a_vars, b_vars = _variables(), _variables()
    lazy, dense = LazyAdam(learning_rate=0.1), keras.optimizers.Adam(learning_rate=0.1)
    grads = [tf.constant(np.linspace(-1, 1, 12, dtype="float32").reshape(6, 2)), tf.constant([0.5, -2.0])]
    for _ in range(3):
        lazy.apply_gradients(zip(grads, a_vars, strict=True))
        dense.apply_gradients(zip(grads, b_vars, strict=True))
    for a, b in zip(a_vars, b_vars, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6)


def test_lazy_adam_updates_only_the_rows_in_the_batch():
    table, _ = _variables()
    before = np.asarray(table).copy()
    opt = LazyAdam(learning_rate=0.1)
    # row 1 appears twice: its gradients are summed, as a dense gradient would sum them
    grad = tf.IndexedSlices(tf.constant([[1.0, -1.0], [1.0, 1.0], [2.0, 0.0]]), tf.constant([1, 4, 1]),
                            tf.constant([6, 2]))
    opt.apply_gradients([(grad, table)])
    after = np.asarray(table)
    untouched = [0, 2, 3, 5]
    np.testing.assert_array_equal(after[untouched], before[untouched])
    # first Adam step: m = (1-b1) g, v = (1-b2) g^2, alpha = lr sqrt(1-b2)/(1-b1)
    g = np.array([[3.0, -1.0], [1.0, 1.0]])
    m, v = 0.1 * g, 0.001 * g**2
    alpha = 0.1 * np.sqrt(1 - 0.999) / (1 - 0.9)
    expected = before[[1, 4]] - alpha * m / (np.sqrt(v) + 1e-7)
    np.testing.assert_allclose(after[[1, 4]], expected, rtol=1e-5)


def test_dense_adam_moves_rows_outside_the_batch():
    """Why the reference's optimiser is slow: it rewrites every row at every step."""
    table, _ = _variables()
    opt = keras.optimizers.Adam(learning_rate=0.1)
    for rows in ([1], [4]):
        grad = tf.IndexedSlices(tf.ones((1, 2)), tf.constant(rows), tf.constant([6, 2]))
        opt.apply_gradients([(grad, table)])
    lazy_table, _ = _variables()
    lazy = LazyAdam(learning_rate=0.1)
    for rows in ([1], [4]):
        grad = tf.IndexedSlices(tf.ones((1, 2)), tf.constant(rows), tf.constant([6, 2]))
        lazy.apply_gradients([(grad, lazy_table)])
    # row 1 keeps moving under dense Adam at step 2 (momentum), not under lazy Adam
    assert not np.allclose(np.asarray(table)[1], np.asarray(lazy_table)[1])
    np.testing.assert_allclose(np.asarray(table)[4], np.asarray(lazy_table)[4], rtol=1e-6)


def test_make_optimizer_choices():
    assert type(make_optimizer("adam", 1e-3, "dense")) is keras.optimizers.Adam
    assert isinstance(make_optimizer("adam", 1e-3, "lazy"), LazyAdam)
    assert isinstance(make_optimizer("rmsprop", 1e-3), keras.optimizers.RMSprop)
    with pytest.raises(ValueError, match="lazy' is implemented for adam only"):
        make_optimizer("rmsprop", 1e-3, "lazy")


def _sparse_steps(static_shapes: bool, jit: bool):
    table, _ = _variables()
    opt = LazyAdam(learning_rate=0.1, static_shapes=static_shapes)
    opt.build([table])

    def apply(values, indices):
        opt.apply_gradients([(tf.IndexedSlices(values, indices, tf.constant([6, 2])), table)])

    apply = tf.function(apply, jit_compile=jit) if jit else apply
    # duplicates, row 0 present, and a batch without row 0
    batches = [([[1.0, -1.0], [1.0, 1.0], [2.0, 0.0]], [1, 4, 1]),
               ([[0.5, 0.5], [-1.0, 2.0], [3.0, 3.0], [1.0, 0.0]], [0, 4, 0, 5]),
               ([[1.0, 1.0], [2.0, 2.0]], [3, 3])]
    for values, indices in batches:
        apply(tf.constant(values), tf.constant(indices, tf.int32))
    return np.asarray(table)


@pytest.mark.parametrize("jit", [False, True])
def test_static_shape_rows_give_the_same_update_as_unique(jit):
    """The static-shape path (for XLA) equals the tf.unique path, duplicates and row 0 included."""
    expected = _sparse_steps(static_shapes=False, jit=False)
    np.testing.assert_allclose(_sparse_steps(static_shapes=True, jit=jit), expected, rtol=1e-6)
    before = np.arange(12, dtype="float32").reshape(6, 2)
    np.testing.assert_array_equal(expected[2], before[2])  # row 2 never appears: never moves
    assert not np.allclose(expected[[0, 1, 3, 4, 5]], before[[0, 1, 3, 4, 5]])


@pytest.mark.parametrize("jit", [False, True])
def test_owned_rows_name_one_slot_per_distinct_row(jit):
    from arerec.model.lazy.tensorflow import _rows_owned

    indices = tf.constant([3, 0, 3, 5, 0, 3], tf.int32)
    find = tf.function(lambda i: _rows_owned(i, 7), jit_compile=True) if jit else (lambda i: _rows_owned(i, 7))
    rows, position, slots, valid = find(indices)
    assert int(slots) == 6
    np.testing.assert_array_equal(position, [5, 4, 5, 3, 4, 5])  # each entry -> the last entry of its row
    np.testing.assert_array_equal(valid, [False, False, False, True, True, True])
    np.testing.assert_array_equal(np.asarray(rows)[np.asarray(valid)], [5, 0, 3])


def test_static_shapes_are_serialised_and_chosen_for_jit():
    opt = make_optimizer("adam", 1e-3, "lazy", jit_compile=True)
    assert opt.static_shapes is True
    assert LazyAdam.from_config(opt.get_config()).static_shapes is True
    assert make_optimizer("adam", 1e-3, "lazy").static_shapes is False


def _rowwise_table():
    return keras.Variable(np.arange(24, dtype="float32").reshape(4, 3, 2), name="lcu_table")


@pytest.mark.parametrize("static_shapes, jit", [(False, False), (True, False), (True, True)])
def test_rowwise_second_moment_is_one_per_row_and_matches_its_formula(static_shapes, jit):
    table = _rowwise_table()
    before = np.asarray(table).copy()
    opt = LazyAdam(learning_rate=0.1, rowwise=True, static_shapes=static_shapes)
    opt.build([table])
    velocity = opt._velocities[0]
    assert tuple(velocity.shape) == (4, 3)  # one per (row, region position), not per float
    values = np.linspace(-1, 1, 18, dtype="float32").reshape(3, 3, 2)

    def apply():
        opt.apply_gradients([(tf.IndexedSlices(tf.constant(values), tf.constant([2, 0, 2]), tf.constant([4, 3, 2])),
                              table)])

    (tf.function(apply, jit_compile=True) if jit else apply)()
    after = np.asarray(table)
    np.testing.assert_array_equal(after[[1, 3]], before[[1, 3]])  # untouched rows
    g = {0: values[1], 2: values[0] + values[2]}
    alpha = 0.1 * np.sqrt(1 - 0.999) / (1 - 0.9)
    for row, grad in g.items():
        m, v = 0.1 * grad, 0.001 * np.mean(grad**2, axis=-1, keepdims=True)
        np.testing.assert_allclose(after[row], before[row] - alpha * m / (np.sqrt(v) + 1e-7), rtol=1e-5)
        np.testing.assert_allclose(np.asarray(velocity)[row], v[:, 0], rtol=1e-4)  # float32 (1 - b2)


def test_rowwise_handles_a_dense_gradient_and_leaves_small_variables_elementwise():
    table, small = _rowwise_table(), keras.Variable(np.ones((3, 2), dtype="float32"))
    opt = LazyAdam(learning_rate=0.1, rowwise=True)
    opt.build([table, small])
    assert tuple(opt._velocities[1].shape) == (3, 2)  # rank 2 (embeddings): element-wise as Adam
    grad = np.ones((4, 3, 2), dtype="float32")
    opt.apply_gradients([(tf.constant(grad), table), (tf.ones((3, 2)), small)])
    # equal gradients: row-wise and element-wise second moments agree, so this is one Adam step
    np.testing.assert_allclose(np.asarray(table), np.arange(24).reshape(4, 3, 2) - 0.1, rtol=1e-5)
    assert LazyAdam.from_config(opt.get_config()).rowwise is True


def test_rowwise_needs_lazy_updates():
    assert make_optimizer("adam", 1e-3, "lazy", second_moment="rowwise").rowwise is True
    with pytest.raises(ValueError, match="needs update_mode 'lazy'"):
        make_optimizer("adam", 1e-3, "dense", second_moment="rowwise")


def test_sum_into_owners_is_the_segment_sum_at_owning_slots():
    from arerec.model.lazy.tensorflow import _rows_owned, _sum_into_owners

    indices = tf.constant([3, 0, 3, 5, 0, 3], tf.int32)
    values = tf.constant(np.arange(12, dtype="float32").reshape(6, 2))
    _, position, _, valid = _rows_owned(indices, 7)
    summed = np.asarray(_sum_into_owners(values, position, valid))
    expected = np.asarray(tf.math.unsorted_segment_sum(values, position, 6))
    owning = np.asarray(valid)
    np.testing.assert_array_equal(summed[owning], expected[owning])
    np.testing.assert_array_equal(summed[~owning], np.asarray(values)[~owning])  # masked out by the update


@pytest.mark.parametrize("rowwise", [False, True])
def test_masked_lazy_adam_is_lazy_adam_from_a_dense_gradient(rowwise):
    """The update JAX and PyTorch get (keras.ops on the dense gradient of a gather) is TensorFlow's sparse one."""
    from arerec.model.lazy.masked import MaskedLazyAdam

    rng = np.random.default_rng(0)
    start = rng.normal(size=(6, 2, 3)).astype("float32")
    sparse_table = keras.Variable(start.copy(), name="table")
    masked_table = keras.Variable(start.copy(), name="table")
    sparse = LazyAdam(learning_rate=0.1, rowwise=rowwise)
    masked = MaskedLazyAdam(learning_rate=0.1, rowwise=rowwise)
    for rows in ([1, 4, 1], [0, 4], [5]):  # row 1 twice in a batch; rows 2 and 3 never gathered
        values = rng.normal(size=(len(rows), 2, 3)).astype("float32")
        sparse.apply_gradients([(tf.IndexedSlices(tf.constant(values), tf.constant(rows), tf.constant([6, 2, 3])),
                                 sparse_table)])
        dense = np.zeros_like(start)
        np.add.at(dense, rows, values)
        masked.apply_gradients([(tf.constant(dense), masked_table)])
    np.testing.assert_allclose(np.asarray(masked_table), np.asarray(sparse_table), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(np.asarray(masked_table)[[2, 3]], start[[2, 3]])
    for a, b in zip(masked.variables, sparse.variables, strict=True):  # same state, same order: one checkpoint
        assert tuple(a.shape) == tuple(b.shape)
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)


def test_make_optimizer_gives_the_backends_lazy_adam(monkeypatch):
    from arerec.model.lazy.masked import MaskedLazyAdam

    assert type(make_optimizer("adam", 0.1, "lazy")) is LazyAdam  # this suite's backend: TensorFlow
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    assert type(make_optimizer("adam", 0.1, "lazy", second_moment="rowwise")) is MaskedLazyAdam


CASES = [(2, False), (3, True)]  # an embedding table; an LCU table with row-wise second moments
TORCH_LAZY = """
    import json, sys
    sys.path.insert(0, {here!r})
    import keras
    from lazy_reference import small_case
    from torch_lazy import sparse_steps
    out = []
    for rank, rowwise in {cases!r}:
        table, optimizer = sparse_steps(*small_case(rank), rowwise)
        out.append([keras.ops.convert_to_numpy(v).tolist() for v in optimizer.variables + [table]])
    print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def torch_lazy_states():
    """SparseLazyAdam's state after the small case's steps, per case, from a process under KERAS_BACKEND=torch."""
    pytest.importorskip("torch", reason="PyTorch is not installed: make test-torch installs .[torch]")
    from pathlib import Path

    from subprocesses import backend_env, run_python

    return run_python(TORCH_LAZY.format(here=str(Path(__file__).parent), cases=CASES), backend_env("torch"))


@pytest.mark.torch
@pytest.mark.parametrize("case", range(len(CASES)))
def test_torch_sparse_lazy_adam_is_tensorflow_lazy_adam(case, torch_lazy_states):
    """PyTorch's row-sparse update (its trainer's gather, SparseLazyAdam) equals TensorFlow's on the same gradients,
    state included, and both equal the NumPy lazy Adam."""
    from lazy_reference import lazy_adam, small_case

    rank, rowwise = CASES[case]
    start, steps = small_case(rank)
    table = keras.Variable(start.copy(), name="table")
    optimizer = LazyAdam(learning_rate=0.1, rowwise=rowwise)
    optimizer.build([table])
    for rows, values in steps:
        optimizer.apply_gradients([(tf.IndexedSlices(tf.constant(values), tf.constant(rows), tf.constant(start.shape)),
                                    table)])
    for got, expected in zip(torch_lazy_states[case], [*optimizer.variables, table], strict=True):
        np.testing.assert_allclose(np.asarray(got, "float32"), np.asarray(expected), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(np.asarray(table), lazy_adam(start, steps, rowwise=rowwise)[0], rtol=1e-5, atol=1e-6)
