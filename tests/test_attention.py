"""arerec.attention: relative attention, position profiles, similarity in the train ratings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from arerec import attention
from arerec.errors import ConfigError


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
    from arerec.training import build, load_experiment

    exp = load_experiment(tiny_cfg)
    model, _ = build(exp)
    rows = attention.sample_rows(exp, 10, seed=0)
    assert len(rows) == 10 and rows["row"].is_monotonic_increasing
    pd.testing.assert_frame_equal(rows.drop(columns="row"), exp.prepared.test.iloc[rows["row"]]
                                  [["userId", "itemId", "rating"]].reset_index(drop=True), check_dtype=False)
    weights = attention.attention_for(model, exp, rows, batch_size=4)  # several batches
    neighbours = exp.tables.neighbours[rows["itemId"]]
    assert weights.shape == (10, tiny_cfg.num_head, exp.tables.max_seq)
    np.testing.assert_allclose((weights * (neighbours != 0)[:, None, :]).sum(axis=2), 1.0, rtol=1e-5)

    pair = attention.pair_attention(exp, rows.iloc[0], weights[0])
    n = int((neighbours[0] != 0).sum())
    assert pair.weights.shape == (tiny_cfg.num_head, n) and len(pair.neighbours) == n
    if pair.target_position is not None:
        assert pair.neighbours[pair.target_position] == rows["userId"].iloc[0]

    table = attention.attention_similarity(exp, rows, weights)
    assert len(table) == int((neighbours != 0).sum())
    assert (table.loc[table["is_target"], "rms_diff"].fillna(0) == 0).all()


def test_attention_off_is_an_error_that_says_why(tiny_cfg):
    from arerec.training import build, load_experiment

    exp = load_experiment(tiny_cfg.replace(use_attention=0))
    model, _ = build(exp)
    with pytest.raises(ConfigError, match="item-only model"):
        attention.attention_for(model, exp, attention.sample_rows(exp, 3, seed=0))
