"""table_l2: L2 on the embedding and LCU table rows a batch looks up, in every update mode and on both backends."""

import numpy as np
import pytest
from conftest import tiny_config
from keras.ops import convert_to_numpy as to_numpy

from arerec.data.inputs import load_experiment
from arerec.model.layers import TABLE_LAYERS, start_squares, table_layers, take_squares
from arerec.train import backends, build, loop
from arerec.train.batches import gather_ops, id_batches

MODES = [dict(update_mode="dense"), dict(update_mode="lazy"),
         dict(update_mode="lazy", second_moment="rowwise")]


def _batches(exp, n):
    return list(id_batches(exp, "train", shuffle=False))[:n]


def _gathered(exp, batch) -> dict[str, set[int]]:
    """{table layer: the rows this batch reads (padding neighbours excluded, as the model masks them)}."""
    users, items, _, ends = batch
    ids = {k: np.asarray(v) for k, v in gather_ops(exp)(users, items, ends).items()}
    real = ids["neighbours"] != 0
    lcu = set(ids["lcu"][real].tolist())
    return {"user_embedding": set(ids["user"].tolist()) | set(ids["neighbours"][real].tolist()),
            "item_embedding": set(ids["item"].tolist()), "k_iu": lcu, "k_ui": lcu}


def _norms(table, rows) -> np.ndarray:
    return np.sqrt((table[rows].reshape(len(rows), -1) ** 2).sum(axis=1))


def _tables(model) -> dict:
    """{table layer: its table variable}."""
    return {layer.name: layer.trainable_variables[0] for layer in table_layers(model)}


def _state(model, optimizer) -> dict[str, list[np.ndarray]]:
    """{table layer: [weights, Adam m, Adam v]} as arrays."""
    backend = backends.current()
    index = {id(v): n for n, v in enumerate(model.trainable_variables)}
    out = {}
    for name, var in _tables(model).items():
        n = index[id(var)]
        out[name] = [backend.to_numpy(x) for x in (var, optimizer._momentums[n], optimizer._velocities[n])]
    return out


def _steps(tmp_path, table_l2, n, lr=1e-3, **mode):
    """The tables' state before and after each of ``n`` steps on the first ``n`` batches."""
    exp = load_experiment(tiny_config(tmp_path, table_l2=table_l2, lr=lr, **mode))
    model, optimizer = build.build(exp)
    trainer = backends.current().make_trainer(model, optimizer, exp)
    batches = _batches(exp, n)
    states = [_state(model, optimizer)]
    for batch in batches:
        trainer.step(*batch)
        trainer.sync()
        states.append(_state(model, optimizer))
    return exp, batches, states


@pytest.mark.parametrize("mode", MODES, ids=lambda m: "-".join(m.values()))
def test_table_l2_zero_is_the_step_without_it(tmp_path, mode):
    """table_l2 = 0 adds nothing to the step: the same tables, bit for bit, as a run that never heard of it."""
    _, _, zero = _steps(tmp_path / "a", 0.0, 3, **mode)
    exp = load_experiment(tiny_config(tmp_path / "b", lr=1e-3, **mode))
    assert exp.cfg.table_l2 == 0.0  # the default
    _, _, default = _steps(tmp_path / "b", 0.0, 3, **mode)
    for name in TABLE_LAYERS:
        for a, b in zip(zero[-1][name], default[-1][name], strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("mode", MODES[1:], ids=lambda m: "-".join(m.values()))
def test_lazy_l2_moves_only_the_rows_the_batch_gathered(tmp_path, mode):
    """Lazy Adam with table_l2: a row the batch did not gather keeps its weights and Adam state; a gathered row
    ends up nearer 0 than it does with table_l2 = 0."""
    exp, batches, decayed = _steps(tmp_path / "l2", 10.0, 2, **mode)
    _, _, plain = _steps(tmp_path / "plain", 0.0, 2, **mode)
    gathered = _gathered(exp, batches[1])
    for name in TABLE_LAYERS:
        rows = np.arange(decayed[0][name][0].shape[0])
        untouched = np.setdiff1d(rows, sorted(gathered[name]))
        assert len(untouched) > 0, name
        for before, after in zip(decayed[1][name], decayed[2][name], strict=True):  # step 2 leaves them alone
            np.testing.assert_array_equal(before[untouched], after[untouched])
        touched = sorted(gathered[name])
        assert np.all(_norms(decayed[2][name][0], touched) < _norms(plain[2][name][0], touched)), name


def test_dense_l2_penalises_the_gathered_rows_only(tmp_path):
    """Dense Adam gets the same per-batch penalty: after one step from a fresh optimiser (zero moments), the rows the
    batch did not gather are exactly as without table_l2 and the gathered rows are nearer 0. (Later steps keep moving
    earlier rows with Adam's momentum under dense Adam, with or without table_l2: docs/decisions.md.)"""
    exp, batches, decayed = _steps(tmp_path / "l2", 10.0, 1, update_mode="dense")
    _, _, plain = _steps(tmp_path / "plain", 0.0, 1, update_mode="dense")
    gathered = _gathered(exp, batches[0])
    for name in TABLE_LAYERS:
        rows = np.arange(decayed[0][name][0].shape[0])
        untouched = np.setdiff1d(rows, sorted(gathered[name]))
        touched = sorted(gathered[name])
        np.testing.assert_array_equal(decayed[1][name][0][untouched], plain[1][name][0][untouched])
        assert np.all(_norms(decayed[1][name][0], touched) < _norms(plain[1][name][0], touched)), name


def test_the_term_is_the_squared_norms_of_the_looked_up_rows(tmp_path):
    """The layers collect the squared norms of the rows a training call looks up, padding neighbours left out
    (the step adds table_l2 / B times their sum); nothing when not training."""
    exp = load_experiment(tiny_config(tmp_path, use_dropout=1))
    model, _ = build.build(exp)
    users, items, _, ends = _batches(exp, 1)[0]
    inputs = {k: np.asarray(v) for k, v in gather_ops(exp)(users, items, ends).items()}
    tables = {k: backends.current().to_numpy(v) for k, v in _tables(model).items()}
    real = inputs["neighbours"] != 0
    expected = ((tables["user_embedding"][inputs["user"]] ** 2).sum() + (tables["item_embedding"][inputs["item"]] ** 2).sum()
                + (tables["user_embedding"][inputs["neighbours"][real]] ** 2).sum()
                + (tables["k_iu"][inputs["lcu"][real]] ** 2).sum() + (tables["k_ui"][inputs["lcu"][real]] ** 2).sum())
    layers = start_squares(model)
    model(inputs, training=False)
    assert take_squares(layers) == 0.0
    model(inputs, training=True)
    assert float(to_numpy(take_squares(layers))) == pytest.approx(expected, rel=1e-5)
    assert all(layer.squares is None for layer in layers)


def test_a_run_with_table_l2_has_its_own_name_and_val_ce(tmp_path):
    plain = loop.train(tiny_config(tmp_path, epochs=1))
    l2 = loop.train(tiny_config(tmp_path, epochs=1, table_l2=1e-4))
    assert "_tl" not in plain.name and "_tl0.0001" in l2.name
    assert l2.history["val_ce"].notna().all()
    # without the other L2 (use_regularizer 0), val_loss is the cross-entropy
    np.testing.assert_allclose(plain.history["val_ce"], plain.history["val_loss"], rtol=0, atol=0)
    assert not np.allclose(plain.history["loss"], l2.history["loss"], rtol=0, atol=0)
    rz = loop.train(tiny_config(tmp_path, epochs=1, use_regularizer=1, selection_metric="val_ce", protocol="clean"))
    assert (rz.history["val_loss"] > rz.history["val_ce"]).all()


@pytest.mark.tensorflow_only
def test_lazy_l2_under_xla_moves_only_the_gathered_rows(tmp_path):
    test_lazy_l2_moves_only_the_rows_the_batch_gathered(tmp_path, dict(update_mode="lazy", jit_compile=1))


def test_the_name_parses_back(tmp_path):
    from arerec.train.runs import model_name, parse_model_name

    for rate in (1e-05, 0.003, 2.5e-7):
        assert parse_model_name(model_name(tiny_config(tmp_path, table_l2=rate), 20))["table_l2"] == rate
    assert parse_model_name(model_name(tiny_config(tmp_path), 20))["table_l2"] == 0.0
