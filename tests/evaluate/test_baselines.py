"""Tests for arerec/evaluate/baselines.py: hand-computed predictions, Surprise's wiring, parameters and tuning."""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
import pytest
import surprise

from arerec.errors import ConfigError, DataError
from arerec.evaluate import baselines as bl

SURPRISE_BACKED = ["user_item_bias", "biased_mf", "item_knn", "user_knn"]

# Three users (A, B, C), three items (x, y, z); (A, z) is the cell to predict.
#        x  y  z
#   A    5  3  ?
#   B    4  2  4
#   C    1  5  2
SMALL = [
    ("A", "x", 5),
    ("A", "y", 3),
    ("B", "x", 4),
    ("B", "y", 2),
    ("B", "z", 4),
    ("C", "x", 1),
    ("C", "y", 5),
    ("C", "z", 2),
]


def frame(rows) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=["userId", "itemId", "rating"])


def small_frames():
    return frame(SMALL), frame([("A", "z", 4), ("C", "w", 3)])  # w is unseen


def predict(name, train, pairs, **kwargs) -> np.ndarray:
    test = frame((u, i, 0.0) for u, i in pairs)
    return bl.fit_predict(name, train, test, **kwargs)[0]


def low_rank_frames(seed: int = 3):
    """A rating matrix ``3 + b_u + b_i + p_u . q_i`` (rank 2), 60% observed; train rows and held-out rows."""
    rng = np.random.default_rng(seed)
    n_users, n_items = 40, 25
    p, q = rng.normal(0, 0.7, (n_users, 2)), rng.normal(0, 0.7, (n_items, 2))
    full = 3.0 + rng.normal(0, 0.3, (n_users, 1)) + rng.normal(0, 0.3, (1, n_items)) + p @ q.T  # [U, I]
    observed = rng.random((n_users, n_items)) < 0.6
    users, items = np.nonzero(observed)
    held_u, held_i = np.nonzero(~observed)
    train = pd.DataFrame({"userId": users, "itemId": items, "rating": full[users, items]})
    held = pd.DataFrame({"userId": held_u, "itemId": held_i, "rating": full[held_u, held_i]})
    return train, held


def rmse(a, b) -> float:
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


# --- our own baselines: hand-computed -------------------------------------------------------


def test_global_mean_is_the_mean_rating_for_any_pair():
    train, _ = small_frames()
    np.testing.assert_allclose(predict("global_mean", train, [("A", "z"), ("nobody", "nothing")]), [3.25, 3.25])


def test_item_mean_and_unseen_item_falls_back_to_global_mean():
    train, _ = small_frames()
    pred = predict("item_mean", train, [("A", "x"), ("A", "z"), ("C", "new-item")])
    np.testing.assert_allclose(pred, [10 / 3, 3.0, 26 / 8])


def test_item_mean_shrinkage_pulls_toward_global_mean():
    train, _ = small_frames()
    mu = 3.25  # z: mu + ((4 - mu) + (2 - mu)) / (2 + 2)
    pred = predict("item_mean", train, [("A", "z")], params={"shrinkage": 2.0})
    assert pred[0] == pytest.approx(mu + ((4 - mu) + (2 - mu)) / 4)


def test_ids_may_be_integers():
    train = frame([(10, 7, 1.0), (11, 7, 3.0), (10, 8, 5.0)])
    np.testing.assert_allclose(predict("item_mean", train, [(11, 7), (99, 8)]), [2.0, 5.0])


# --- Surprise-backed baselines: hand-computed -----------------------------------------------


def test_user_item_bias_one_als_round_by_hand():
    train = frame([(1, 1, 4.0), (1, 2, 2.0), (2, 1, 5.0)])
    algo = bl.fit_surprise("user_item_bias", train, params={"reg_u": 2.0, "reg_i": 1.0, "n_epochs": 1})
    assert isinstance(algo, surprise.BaselineOnly)
    mu = 11 / 3
    b_i1 = ((4 - mu) + (5 - mu)) / (1 + 2)  # 5/9
    b_i2 = (2 - mu) / (1 + 1)  # -5/6
    b_u1 = ((4 - mu - b_i1) + (2 - mu - b_i2)) / (2 + 2)  # -19/72
    assert (b_i1, b_i2, b_u1) == pytest.approx((5 / 9, -5 / 6, -19 / 72))
    pred = predict("user_item_bias", train, [(1, 2), (3, 2)], params={"reg_u": 2.0, "reg_i": 1.0, "n_epochs": 1})
    np.testing.assert_allclose(pred, [mu + b_u1 + b_i2, mu + b_i2])  # unseen user 3: no user bias


def test_user_item_bias_without_regularisation_recovers_additive_ratings():
    user_bias, item_bias = np.array([0.5, -0.5, 1.0, 0.0]), np.array([0.25, -0.75, 0.5])
    cells = [(u, i) for u in range(4) for i in range(3)]
    held_out = [(0, 2), (3, 0)]
    train = frame((u, i, 3.0 + user_bias[u] + item_bias[i]) for u, i in cells if (u, i) not in held_out)
    pred = predict("user_item_bias", train, held_out, clip=False, params={"reg_u": 0, "reg_i": 0, "n_epochs": 500})
    np.testing.assert_allclose(pred, [3.0 + user_bias[u] + item_bias[i] for u, i in held_out], atol=1e-6)


# Raw-rating cosines over co-raters, from the SMALL table (Surprise's 'cosine').
COS_ZX = (4 * 4 + 2 * 1) / math.sqrt((4**2 + 2**2) * (4**2 + 1**2))  # co-raters B, C
COS_ZY = (4 * 2 + 2 * 5) / math.sqrt((4**2 + 2**2) * (2**2 + 5**2))  # co-raters B, C
COS_AB = (5 * 4 + 3 * 2) / math.sqrt((25 + 9) * (16 + 4))  # co-rated x, y
COS_AC = (5 * 1 + 3 * 5) / math.sqrt((25 + 9) * (1 + 25))  # co-rated x, y


def baseline_of(algo):
    """``b(u, i) = mu + b_u + b_i`` of a fitted KNNBaseline, by raw ids."""
    ts = algo.trainset
    return lambda u, i: ts.global_mean + algo.bu[ts.to_inner_uid(u)] + algo.bi[ts.to_inner_iid(i)]


def test_item_knn_weights_the_k_most_similar_items_rated_by_the_user():
    train, _ = small_frames()
    b = baseline_of(bl.fit_surprise("item_knn", train))  # the same ALS baseline whatever k and similarity
    k1 = predict("item_knn", train, [("A", "z")], clip=False, params={"k": 1, "similarity": "cosine"})
    assert COS_ZX > COS_ZY
    assert k1[0] == pytest.approx(b("A", "z") + (5 - b("A", "x")))
    k2 = predict("item_knn", train, [("A", "z")], clip=False, params={"k": 2, "similarity": "cosine"})
    term = (COS_ZX * (5 - b("A", "x")) + COS_ZY * (3 - b("A", "y"))) / (COS_ZX + COS_ZY)
    assert k2[0] == pytest.approx(b("A", "z") + term)


def test_user_knn_weights_the_users_who_rated_the_item():
    train, _ = small_frames()
    b = baseline_of(bl.fit_surprise("user_knn", train))
    pred = predict("user_knn", train, [("A", "z")], clip=False, params={"k": 2, "similarity": "cosine"})
    term = (COS_AB * (4 - b("B", "z")) + COS_AC * (2 - b("C", "z"))) / (COS_AB + COS_AC)
    assert pred[0] == pytest.approx(b("A", "z") + term)


def test_knn_shrinkage_scales_pearson_baseline_by_support():
    train, _ = small_frames()
    plain = bl.fit_surprise("item_knn", train, params={"shrinkage": 0})
    shrunk = bl.fit_surprise("item_knn", train, params={"shrinkage": 4})
    x, y = (plain.trainset.to_inner_iid(name) for name in "xy")
    assert plain.sim[x, y] != 0
    assert shrunk.sim[x, y] == pytest.approx(plain.sim[x, y] * (3 - 1) / (3 - 1 + 4))  # 3 co-raters


# --- Surprise-backed baselines: every row, unseen ids, seeds --------------------------------


@pytest.mark.parametrize("name", SURPRISE_BACKED)
def test_surprise_baselines_predict_every_row_including_unseen_ids(name):
    train, held = low_rank_frames()
    test = pd.concat([held.head(20), frame([(999, 0, 3.0), (0, 999, 3.0), (999, 998, 3.0)])], ignore_index=True)
    algo = bl.fit_surprise(name, train, params={"n_epochs": 5} if name == "biased_mf" else None)
    pred = bl.predict_surprise(algo, test)
    # the vectorised estimate of BaselineOnly and SVD is Surprise's own, row by row
    expected = [algo.predict(u, i, clip=False).est for u, i in zip(test["userId"], test["itemId"], strict=True)]
    np.testing.assert_allclose(pred, expected, rtol=0, atol=1e-12)
    mu, ts = algo.trainset.global_mean, algo.trainset
    assert pred[-3] == pytest.approx(mu + algo.bi[ts.to_inner_iid(0)])  # unseen user: mu + b_i
    assert pred[-2] == pytest.approx(mu + algo.bu[ts.to_inner_uid(0)])  # unseen item: mu + b_u
    assert pred[-1] == pytest.approx(mu)
    clipped, _ = bl.fit_predict(name, train, test, params={"n_epochs": 5} if name == "biased_mf" else None)
    np.testing.assert_allclose(clipped, np.clip(pred, train["rating"].min(), train["rating"].max()))


def test_biased_mf_is_deterministic_for_a_seed():
    train, held = low_rank_frames()
    params = {"n_factors": 4, "n_epochs": 5}
    first, _ = bl.fit_predict("biased_mf", train, held, seed=7, params=params)
    again, _ = bl.fit_predict("biased_mf", train, held, seed=7, params=params)
    other, _ = bl.fit_predict("biased_mf", train, held, seed=8, params=params)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


@pytest.mark.parametrize("name", ["user_item_bias", "item_knn", "user_knn"])
def test_other_baselines_do_not_depend_on_the_seed(name):
    train, held = low_rank_frames()
    np.testing.assert_array_equal(bl.fit_predict(name, train, held, seed=1)[0], bl.fit_predict(name, train, held, seed=2)[0])


def test_biased_mf_fits_a_low_rank_matrix_with_its_factors():
    train, held = low_rank_frames()
    params = {"n_factors": 2, "n_epochs": 300, "lr_all": 0.02, "reg_all": 0.0}
    algo = bl.fit_surprise("biased_mf", train, seed=0, params=params)
    assert algo.pu.shape == (40, 2) and algo.qi.shape == (25, 2)
    biases_only = bl.predict_surprise(bl.fit_surprise("user_item_bias", train, params={"reg_u": 0, "reg_i": 0}), held)
    factors = bl.predict_surprise(algo, held)
    assert rmse(factors, held["rating"]) < 0.5 * rmse(biases_only, held["rating"])


# --- parameters -----------------------------------------------------------------------------


def test_resolve_params_fills_surprise_defaults():
    assert bl.resolve_params("biased_mf", {"n_factors": 50}) == {
        "n_factors": 50, "n_epochs": 20, "lr_all": 0.005, "reg_all": 0.02, "init_std_dev": 0.1}
    assert bl.resolve_params("user_item_bias") == {"reg_u": 15.0, "reg_i": 10.0, "n_epochs": 10}
    assert bl.resolve_params("item_knn")["k"] == 40 and bl.resolve_params("item_knn")["shrinkage"] == 100.0
    assert bl.resolve_params("global_mean", None) == {}


@pytest.mark.parametrize(("name", "params", "message"), [
    ("biased_mf", {"factors": 5}, "biased_mf: unknown parameter 'factors' \\(did you mean 'n_factors'\\?\\); "
                                  "valid parameters: n_factors, n_epochs, lr_all, reg_all, init_std_dev"),
    ("global_mean", {"shrinkage": 1}, "global_mean: unknown parameter 'shrinkage'; valid parameters: none"),
    ("item_knn", {"k": 0}, "item_knn: k must be an integer >= 1, received: 0"),
    ("item_knn", {"k": 2.5}, "item_knn: k must be an integer >= 1, received: 2.5"),
    ("user_knn", {"k": True}, "user_knn: k must be an integer >= 1, received: True"),
    ("user_item_bias", {"reg_u": -1}, "user_item_bias: reg_u must be a number >= 0, received: -1"),
    ("biased_mf", {"lr_all": 0}, "biased_mf: lr_all must be a number > 0, received: 0"),
    ("biased_mf", {"reg_all": float("nan")}, "biased_mf: reg_all must be a number >= 0, received: nan"),
    ("item_knn", {"similarity": "jaccard"}, "item_knn: similarity must be one of 'pearson_baseline', 'pearson'"),
    ("item_knn", {"k": 5, "min_k": 6}, "item_knn: min_k must be <= k, received: min_k=6, k=5"),
    ("user_knn", {"similarity": "cosine", "shrinkage": 10}, "shrinkage applies only to similarity 'pearson_baseline'"),
    ("svd", {}, "unknown baseline 'svd'; valid names: global_mean"),
])
def test_bad_params_name_the_baseline_key_and_valid_values(name, params, message):
    train, test = small_frames()
    with pytest.raises(ConfigError, match=message):
        bl.fit_predict(name, train, test, params=params)


def test_bad_seed_and_frames_are_rejected():
    train, test = small_frames()
    with pytest.raises(ConfigError, match="seed must be an integer"):
        bl.fit_predict("biased_mf", train, test, seed=-1)
    with pytest.raises(DataError, match="no rows"):
        bl.fit_predict("user_knn", train.head(0), test)
    with pytest.raises(ConfigError, match="not a Surprise algorithm"):
        bl.fit_surprise("item_mean", train)


def test_describe_baselines_lists_every_parameter_with_its_default():
    table = bl.describe_baselines()
    assert set(table["model"]) == set(bl.BASELINES)
    row = table[(table["model"] == "biased_mf") & (table["param"] == "n_factors")].iloc[0]
    assert row["default"] == 100 and row["implementation"].startswith("surprise.SVD")


# --- class distributions --------------------------------------------------------------------


def test_ratings_to_probs_picks_the_nearest_class_and_lower_on_ties():
    probs = bl.ratings_to_probs(np.array([0.2, 1.49, 1.5, 2.51, 4.5, 7.0]), [1, 2, 3, 4, 5])
    expected = np.zeros((6, 5))
    expected[np.arange(6), [0, 0, 0, 2, 3, 4]] = 1.0
    np.testing.assert_array_equal(probs, expected)


def test_ratings_to_probs_half_stars_and_unsorted_classes():
    half_stars = np.arange(0.5, 5.01, 0.5)
    probs = bl.ratings_to_probs(np.array([0.75, 4.8, 3.26]), half_stars)
    np.testing.assert_array_equal(half_stars[probs.argmax(axis=1)], [0.5, 5.0, 3.5])
    descending = [5, 4, 3, 2, 1]
    np.testing.assert_array_equal(bl.ratings_to_probs(np.array([1.5, 4.4]), descending).argmax(axis=1), [4, 1])


def test_clip_to_range():
    np.testing.assert_array_equal(bl.clip_to_range(np.array([-1.0, 3.3, 9.0]), [1, 2, 3, 4, 5]), [1.0, 3.3, 5.0])


# --- runner ---------------------------------------------------------------------------------


def test_baselines_registry_names_and_backends():
    assert list(bl.BASELINES) == ["global_mean", "item_mean", "global_mode", "item_mode", "user_item_bias", "biased_mf",
                                  "item_knn", "user_knn"]
    assert [n for n, spec in bl.BASELINES.items() if spec.build_surprise is not None] == SURPRISE_BACKED


def test_run_baselines_predicts_every_test_row_and_logs_time(caplog):
    train, test = small_frames()
    with caplog.at_level(logging.INFO, logger="arerec.evaluate.baselines"):
        results = bl.run_baselines(train, test, seed=1)
    assert list(results) == list(bl.BASELINES)
    assert all(pred.shape == (2,) for pred in results.values())
    np.testing.assert_allclose(results["global_mean"], [3.25, 3.25])
    np.testing.assert_allclose(results["item_mean"], [3.0, 3.25])  # w is unseen
    assert all(pred.min() >= 1 and pred.max() <= 5 for pred in results.values())
    assert sum("baseline user_knn: fit+predict" in rec.getMessage() for rec in caplog.records) == 1


def test_run_baselines_uses_settings_per_baseline():
    train, test = small_frames()
    results = bl.run_baselines(train, test, names=["item_mean", "global_mean"],
                               settings={"item_mean": {"shrinkage": 1e9}})
    np.testing.assert_allclose(results["item_mean"], [3.25, 3.25], atol=1e-6)  # shrunk all the way to mu
    with pytest.raises(ConfigError, match="item_mean: unknown parameter 'k'"):
        bl.run_baselines(train, test, names=["global_mean"], settings={"item_mean": {"k": 3}})


def test_run_baselines_rejects_unknown_names_and_missing_columns():
    train, test = small_frames()
    with pytest.raises(ConfigError, match="valid names: global_mean, item_mean"):
        bl.run_baselines(train, test, names=["svd++"])
    with pytest.raises(DataError, match="lacks column"):
        bl.run_baselines(train.rename(columns={"itemId": "item"}), test, names=["global_mean"])


# --- grids and tuning -----------------------------------------------------------------------


def test_the_modes_are_the_most_frequent_training_rating_with_a_stable_tie_rule():
    train = pd.DataFrame({"userId": [1, 2, 3, 4, 5, 6, 7], "itemId": [1, 1, 1, 2, 2, 3, 3],
                          "rating": [5.0, 5.0, 3.0, 4.0, 2.0, 1.0, 2.0]})
    test = pd.DataFrame({"userId": [1, 2, 3, 4], "itemId": [1, 2, 3, 9], "rating": [5.0, 4.0, 1.0, 2.0]})
    item, _ = bl.fit_predict("item_mode", train, test)
    # item 1: 5 twice; item 2: 4 and 2 once each, both 1 from the mean 3, so the lower; item 3: 1 and 2 once
    # each, both 0.5 from the mean 1.5: the lower. Overall 5 and 2 are seen twice each; 2 is nearer the mean 22/7,
    # so the global mode is 2, which an unseen item gets
    np.testing.assert_array_equal(item, [5.0, 2.0, 1.0, 2.0])
    np.testing.assert_array_equal(bl.fit_predict("global_mode", train, test)[0], [2.0] * 4)
