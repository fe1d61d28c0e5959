"""arerec.evaluate.attention: relative attention, position profiles, uniformity, similarity in the train ratings."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import tiny_config
from keras.ops import convert_to_numpy as to_numpy

from arerec.errors import ConfigError
from arerec.evaluate import attention


def test_relative_attention_is_one_for_a_uniform_head_and_nan_at_padding():
    neighbours = np.array([[4, 5, 6, 0], [7, 8, 0, 0]])
    weights = np.array([[[1 / 3, 1 / 3, 1 / 3, 0.0]], [[0.9, 0.1, 0.0, 0.0]]])  # [N=2, H=1, L=4]
    rel = attention.relative_attention(weights, neighbours)
    np.testing.assert_allclose(rel[0, 0, :3], 1.0)
    np.testing.assert_allclose(rel[1, 0, :2], [1.8, 0.2])
    assert np.isnan(rel[0, 0, 3]) and np.isnan(rel[1, 0, 2:]).all()
    mean = attention.relative_attention(np.concatenate([weights, weights[:, :, ::-1]], axis=1), neighbours,
                                        mean_of_heads=True)
    assert mean.shape == (2, 4) and mean[0, 0] == pytest.approx((1.0 + 0.0) / 2)


def test_position_profile_finds_attention_on_the_latest_neighbour():
    neighbours = np.array([[1, 2, 3, 4, 0], [5, 6, 0, 0, 0]])
    weights = np.zeros((2, 1, 5))
    weights[0, 0, 3] = 1.0  # all on the latest of four
    weights[1, 0, 1] = 1.0  # all on the latest of two
    profile = attention.position_profile(weights, neighbours, bins=2)
    head = profile[profile["head"] == "1"].set_index("bin")
    assert head.loc[1, "relative_attention"] == pytest.approx((4 + 0 + 2) / 3)  # positions 2, 3 of row 0; 1 of row 1
    assert head.loc[0, "relative_attention"] == pytest.approx(0.0)
    assert head["count"].tolist() == [3, 3]
    assert (profile[profile["head"] == "mean"]["relative_attention"].to_numpy() == head["relative_attention"]).all()
    wide = attention.position_wide(profile)  # a row per bin, a column per head with its interval beside it
    assert wide.columns.tolist() == ["position (bin centre)", "head 1", "head 1_ci", "mean of heads", "mean of heads_ci",
                                     "neighbours"]
    assert wide["position (bin centre)"].tolist() == [0.25, 0.75] and wide["neighbours"].tolist() == [3, 3]
    assert wide["head 1"].tolist() == pytest.approx([0.0, 2.0])
    assert wide["head 1_ci"].tolist() == head["ci"].tolist()


def test_uniform_weights_have_entropy_one_and_are_never_peaked():
    neighbours = np.array([[1, 2, 3, 4], [5, 6, 0, 0]])
    weights = np.array([[[0.25] * 4, [0.25] * 4], [[0.5, 0.5, 0, 0], [0.5, 0.5, 0, 0]]])  # [N=2, H=2, L=4]
    table = attention.uniformity(weights, neighbours).set_index("head")
    assert table.index.tolist() == ["1", "2", "all"]
    assert table["rows"].tolist() == [2, 2, 2]
    np.testing.assert_allclose(table["normalised_entropy"], 1.0)
    np.testing.assert_allclose(table["share_peaked"], 0.0)
    np.testing.assert_allclose(table["max_weight_mean"], 1.0)


def test_a_one_hot_head_has_entropy_zero_and_is_always_peaked():
    neighbours = np.array([[1, 2, 3, 4]])
    weights = np.array([[[0.0, 1.0, 0.0, 0.0], [0.25] * 4]])  # head 1 one-hot, head 2 uniform
    table = attention.uniformity(weights, neighbours).set_index("head")
    assert table.loc["1", "normalised_entropy"] == pytest.approx(0.0)
    assert table.loc["1", "share_peaked"] == 1.0 and table.loc["1", "max_weight_mean"] == pytest.approx(4.0)
    assert table.loc["all", "normalised_entropy"] == pytest.approx(0.5)  # mean of 0 and 1
    assert table.loc["all", "share_peaked"] == 0.5 and table.loc["all", "max_weight_mean"] == pytest.approx(2.5)


def test_uniformity_ignores_padding_and_skips_rows_with_one_neighbour():
    neighbours = np.array([[7, 8, 9, 0, 0], [3, 0, 0, 0, 0]])  # 3 real of L = 5; then a single neighbour
    weights = np.array([[[0.5, 0.25, 0.25, 0.0, 0.0]], [[1.0, 0.0, 0.0, 0.0, 0.0]]])
    table = attention.uniformity(weights, neighbours).set_index("head")
    entropy = -(0.5 * np.log(0.5) + 2 * 0.25 * np.log(0.25)) / np.log(3)  # 1.5 log 2 / log 3 = 0.946
    assert table.loc["1", "rows"] == 1
    assert table.loc["1", "normalised_entropy"] == pytest.approx(entropy)
    assert table.loc["1", "share_peaked"] == 0.0  # 0.5 < 2/3
    assert table.loc["1", "max_weight_mean"] == pytest.approx(1.5)
    peaked = attention.uniformity(np.array([[[0.7, 0.15, 0.15, 0, 0]]]), neighbours[:1])
    assert peaked["share_peaked"].tolist() == [1.0, 1.0]  # 0.7 > 2/3


def test_uniformity_with_no_usable_rows_is_nan_and_wrong_neighbours_are_an_error():
    table = attention.uniformity(np.array([[[1.0, 0.0]]]), np.array([[4, 0]]))
    assert table["rows"].tolist() == [0, 0] and table["normalised_entropy"].isna().all()
    with pytest.raises(ValueError, match="sum to 1 over the row's real neighbours"):
        attention.uniformity(np.array([[[0.5, 0.5, 0.0]]]), np.array([[4, 0, 6]]))


def test_uniformity_summary_is_plain_floats_for_metrics_json():
    weights = np.array([[[0.0, 1.0, 0.0], [1 / 3] * 3]])
    summary = attention.uniformity_summary(attention.uniformity(weights, np.array([[1, 2, 3]])))
    assert list(summary) == ["normalised_entropy_per_head", "normalised_entropy", "share_peaked_per_head",
                             "share_peaked"]
    assert summary["normalised_entropy_per_head"] == pytest.approx([0.0, 1.0])
    assert summary["normalised_entropy"] == pytest.approx(0.5)
    assert summary["share_peaked_per_head"] == [1.0, 0.0] and summary["share_peaked"] == 0.5
    assert all(type(v) is float for v in summary["normalised_entropy_per_head"] + [summary["share_peaked"]])
    json.dumps(summary)


def test_neighbour_similarity_is_computed_on_co_rated_train_items():
    train = pd.DataFrame({"userId": [1, 1, 1, 2, 2, 3], "itemId": [1, 2, 3, 1, 2, 4], "rating": [5, 3, 1, 4, 3, 2]})
    table = attention.neighbour_similarity(train, np.array([1, 1, 2]), np.array([2, 3, 2]))
    assert table["co_rated"].tolist() == [2, 0, 2]
    assert table["rms_diff"].iloc[0] == pytest.approx(np.sqrt(((5 - 4) ** 2 + 0) / 2))
    assert np.isnan(table["rms_diff"].iloc[1])
    assert table["rms_diff"].iloc[2] == pytest.approx(0.0)


def test_similarity_summary_separates_the_target_user():
    table = pd.DataFrame({
        "row": [0, 0, 0, 1, 1],
        "is_target": [True, False, False, False, False],
        "relative_attention": [2.0, 0.5, 0.5, 1.5, 0.5],
        "co_rated": [9, 1, 2, 4, 3],
        "rms_diff": [0.0, 2.0, 1.0, 0.5, 1.5],
    })
    summary = attention.similarity_summary(table)
    assert summary["pairs"] == 4
    assert summary["share_rows_with_target_in_window"] == 0.5
    assert summary["mean_relative_attention_on_target"] == 2.0
    assert summary["share_rows_where_target_gets_most_attention"] == 0.5
    assert summary["spearman_attention_rms_diff"] < 0 < summary["spearman_attention_co_rated"]


def test_binned_excludes_the_target_and_averages_per_quantile():
    table = pd.DataFrame({"is_target": [True] + [False] * 4, "co_rated": [50, 1, 2, 3, 4],
                          "relative_attention": [9.0, 1.0, 2.0, 3.0, 4.0]})
    bins = attention.binned(table, "co_rated", bins=2)
    assert bins["relative_attention"].tolist() == [1.5, 3.5] and bins["count"].tolist() == [2, 2]


def test_weights_of_a_real_model_and_the_target_user(tiny_cfg):
    from arerec.data.inputs import load_experiment
    from arerec.train.build import build

    exp = load_experiment(tiny_cfg)
    model, _ = build(exp)
    rows = attention.sample_rows(exp, 10, seed=0)
    assert len(rows) == 10 and rows["row"].is_monotonic_increasing
    pd.testing.assert_frame_equal(rows.drop(columns="row"), exp.prepared.test.iloc[rows["row"]]
                                  [["userId", "itemId", "rating"]].reset_index(drop=True), check_dtype=False)
    weights = attention.attention_for(model, exp, rows, batch_size=4)  # several batches
    neighbours = exp.tables.neighbours[rows["itemId"]]
    assert weights.shape == (10, tiny_cfg.model.num_head, exp.tables.max_seq)
    np.testing.assert_allclose((weights * (neighbours != 0)[:, None, :]).sum(axis=2), 1.0, rtol=1e-5)

    pair = attention.pair_attention(exp, rows.iloc[0], weights[0])
    n = int((neighbours[0] != 0).sum())
    assert pair.weights.shape == (tiny_cfg.model.num_head, n) and len(pair.neighbours) == n
    if pair.target_position is not None:
        assert pair.neighbours[pair.target_position] == rows["userId"].iloc[0]

    table = attention.attention_similarity(exp, rows, weights)
    assert len(table) == int((neighbours != 0).sum())
    assert (table.loc[table["is_target"], "rms_diff"].fillna(0) == 0).all()


def test_clean_protocol_weights_are_over_each_rows_own_window(tmp_path):
    from arerec.data.inputs import load_experiment
    from arerec.errors import DataError
    from arerec.model.layers import attention_weights
    from arerec.train.batches import gather_ops
    from arerec.train.build import build

    exp = load_experiment(tiny_config(tmp_path, protocol="clean"))
    model, _ = build(exp)
    rows = attention.sample_rows(exp, 40, seed=0)
    assert rows.columns.tolist() == ["row", "userId", "itemId", "rating", "seq_end"]
    assert (rows["seq_end"].to_numpy() == exp.prepared.test["seq_end"].to_numpy()[rows["row"]]).all()
    neighbours = attention.neighbours_for(exp, rows)  # [N, L]
    users, items, ends = (rows[c].to_numpy(np.int32) for c in ("userId", "itemId", "seq_end"))
    seen = gather_ops(exp)(users, items, ends)["neighbours"]  # what training and evaluation feed the model
    np.testing.assert_array_equal(neighbours, np.asarray(seen))
    table = exp.tables.neighbours[items]  # the item's latest raters overall: not what a row sees
    differs = (neighbours != table).any(axis=1)
    assert differs.any()

    weights = attention.attention_for(model, exp, rows, batch_size=16)
    np.testing.assert_array_equal(weights * (neighbours == 0)[:, None, :], 0.0)  # nothing on the padding
    real = (neighbours != 0).sum(axis=1) > 0
    np.testing.assert_allclose((weights * (neighbours != 0)[:, None, :]).sum(axis=2)[real], 1.0, rtol=1e-5)
    table_weights = to_numpy(attention_weights(model, exp.inputs(users, items)))  # without the windows
    assert not np.allclose(weights[differs], table_weights[differs])

    first = int(np.flatnonzero(differs)[0])
    pair = attention.pair_attention(exp, rows.iloc[first], weights[first])
    n = int((neighbours[first] != 0).sum())
    np.testing.assert_array_equal(pair.neighbours, neighbours[first, :n])
    assert pair.weights.shape == (exp.cfg.model.num_head, n)
    with pytest.raises(DataError, match="seq_end"):
        attention.neighbours_for(exp, rows.drop(columns="seq_end"))


def test_attention_off_is_an_error_that_says_why(tiny_cfg):
    from arerec.data.inputs import load_experiment
    from arerec.train.build import build

    exp = load_experiment(tiny_cfg.replace(use_attention=0))
    model, _ = build(exp)
    with pytest.raises(ConfigError, match="item-only model"):
        attention.attention_for(model, exp, attention.sample_rows(exp, 3, seed=0))


def test_spearman_ci_brackets_rho_by_fisher_z_and_by_a_bootstrap_over_groups():
    rng = np.random.default_rng(0)
    x = rng.normal(size=400)
    y = x + rng.normal(size=400)
    rho, low, high = attention.spearman_ci(x, y)
    assert low < rho < high and 0.5 < rho < 0.8
    # Fisher z with se = sqrt(1.06 / (n - 3)), by hand
    z, se = np.arctanh(rho), np.sqrt(1.06 / 397)
    assert (low, high) == pytest.approx((np.tanh(z - 1.959964 * se), np.tanh(z + 1.959964 * se)), abs=1e-5)
    rho_b, low_b, high_b = attention.spearman_ci(x, y, groups=np.repeat(np.arange(40), 10), n_boot=100)
    assert rho_b == rho and low_b < rho < high_b
    assert all(np.isnan(v) for v in attention.spearman_ci([1, 2, 3], [1, 2, 3]))


def test_position_spearman_sees_attention_rising_towards_the_latest_neighbour():
    neighbours = np.array([[5, 6, 7, 8], [5, 6, 7, 0], [1, 2, 3, 4]] * 4)
    weights = np.array([[[0.1, 0.2, 0.3, 0.4]], [[0.2, 0.3, 0.5, 0.0]], [[0.1, 0.2, 0.3, 0.4]]] * 4)
    rho, low, high = attention.position_spearman(weights, neighbours, n_boot=50)
    assert rho > 0.9 and low <= rho <= high


def test_sample_pairs_draws_different_users_and_items_reproducibly():
    rows = pd.DataFrame({"userId": [1, 1, 1, 2, 2, 3, 4], "itemId": [10, 11, 12, 10, 13, 14, 14]})
    picked = attention.sample_pairs(rows, 4, seed=3)
    assert picked == attention.sample_pairs(rows, 4, seed=3)
    chosen = rows.iloc[picked]
    assert chosen["userId"].is_unique and chosen["itemId"].is_unique and len(chosen) >= 3


def test_profiles_carry_a_confidence_interval_of_each_mean():
    table = pd.DataFrame({"is_target": [False] * 4, "co_rated": [1, 2, 3, 4], "relative_attention": [1.0, 3.0, 2.0, 2.0]})
    bins = attention.binned(table, "co_rated", bins=2)
    assert bins["ci"].tolist() == pytest.approx([1.96 * np.std([1.0, 3.0], ddof=1) / np.sqrt(2), 0.0])
