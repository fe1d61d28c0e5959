"""Tests for arerec/baselines.py: hand-computed predictions on tiny datasets."""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
import pytest

from arerec import baselines as bl
from arerec.errors import ConfigError, DataError

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


def small_columns():
    users, items, ratings = zip(*SMALL, strict=True)
    return np.array(users), np.array(items), np.array(ratings, dtype=float)


def fit_small(model):
    return model.fit(*small_columns())


def predict_one(model, user, item):
    return float(model.predict(np.array([user]), np.array([item]))[0])


# --- simple baselines -----------------------------------------------------------------------


def test_global_mean_is_the_mean_rating_for_any_pair():
    model = fit_small(bl.GlobalMean())
    assert model.global_mean_ == pytest.approx(26 / 8)
    np.testing.assert_allclose(model.predict(np.array(["A", "nobody"]), np.array(["z", "nothing"])), [3.25, 3.25])


def test_item_mean_and_unseen_item_falls_back_to_global_mean():
    model = fit_small(bl.ItemMean())
    pred = model.predict(np.array(["A", "A", "C"]), np.array(["x", "z", "new-item"]))
    np.testing.assert_allclose(pred, [10 / 3, 3.0, 26 / 8])


def test_item_mean_shrinkage_pulls_toward_global_mean():
    model = fit_small(bl.ItemMean(shrinkage=2.0))
    # z: mu + ((4 - mu) + (2 - mu)) / (2 + 2)
    mu = 3.25
    assert predict_one(model, "A", "z") == pytest.approx(mu + ((4 - mu) + (2 - mu)) / 4)


def test_ids_may_be_integers():
    model = bl.ItemMean().fit(np.array([10, 11, 10]), np.array([7, 7, 8]), np.array([1.0, 3.0, 5.0]))
    np.testing.assert_allclose(model.predict(np.array([11, 99]), np.array([7, 8])), [2.0, 5.0])


def test_user_item_bias_one_round_by_hand():
    users, items, ratings = np.array([1, 1, 2]), np.array([1, 2, 1]), np.array([4.0, 2.0, 5.0])
    model = bl.UserItemBias(reg_user=2.0, reg_item=1.0, n_iters=1).fit(users, items, ratings)
    mu = 11 / 3
    b_i1 = ((4 - mu) + (5 - mu)) / (1 + 2)  # 5/9
    b_i2 = (2 - mu) / (1 + 1)  # -5/6
    b_u1 = ((4 - mu - b_i1) + (2 - mu - b_i2)) / (2 + 2)  # -19/72
    b_u2 = (5 - mu - b_i1) / (2 + 1)  # 7/27
    np.testing.assert_allclose(model.item_bias_, [5 / 9, -5 / 6])
    np.testing.assert_allclose(model.user_bias_, [-19 / 72, 7 / 27])
    assert (b_i1, b_i2, b_u1, b_u2) == pytest.approx((5 / 9, -5 / 6, -19 / 72, 7 / 27))
    assert predict_one(model, 1, 2) == pytest.approx(mu + b_u1 + b_i2)
    assert predict_one(model, 3, 2) == pytest.approx(mu + b_i2)  # unseen user: no user bias


def test_user_item_bias_without_regularisation_recovers_additive_ratings():
    user_bias = np.array([0.5, -0.5, 1.0, 0.0])
    item_bias = np.array([0.25, -0.75, 0.5])
    cells = [(u, i) for u in range(4) for i in range(3)]
    held_out = [(0, 2), (3, 0)]
    train = [c for c in cells if c not in held_out]
    users, items = np.array([u for u, _ in train]), np.array([i for _, i in train])
    ratings = 3.0 + user_bias[users] + item_bias[items]
    model = bl.UserItemBias(reg_user=0.0, reg_item=0.0, n_iters=500).fit(users, items, ratings)
    np.testing.assert_allclose(model.predict(users, items), ratings, atol=1e-6)
    hu, hi = np.array([u for u, _ in held_out]), np.array([i for _, i in held_out])
    np.testing.assert_allclose(model.predict(hu, hi), 3.0 + user_bias[hu] + item_bias[hi], atol=1e-6)


# --- biased matrix factorisation ------------------------------------------------------------


def low_rank_data(seed: int = 3):
    rng = np.random.default_rng(seed)
    n_users, n_items = 40, 25
    p, q = rng.normal(0, 0.7, (n_users, 2)), rng.normal(0, 0.7, (n_items, 2))
    full = 3.0 + rng.normal(0, 0.3, (n_users, 1)) + rng.normal(0, 0.3, (1, n_items)) + p @ q.T  # [U, I]
    observed = rng.random((n_users, n_items)) < 0.6
    users, items = np.nonzero(observed)
    held_u, held_i = np.nonzero(~observed)
    return (users, items, full[users, items]), (held_u, held_i, full[held_u, held_i])


def rmse(a, b):
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


def test_biased_mf_fits_a_low_rank_matrix():
    (users, items, ratings), (held_u, held_i, held_r) = low_rank_data()
    model = bl.BiasedMF(n_factors=2, n_epochs=60, reg=1e-4, seed=0).fit(users, items, ratings)
    assert rmse(model.predict(users, items), ratings) < 0.01
    assert rmse(model.predict(held_u, held_i), held_r) < 0.02
    assert model.user_factors_.shape == (40, 2) and model.item_factors_.shape == (25, 2)
    # the factor term is used: biases alone are far off
    biases_only = model.global_mean_ + model.user_bias_[users] + model.item_bias_[items]
    assert rmse(biases_only, ratings) > 0.3


def test_biased_mf_is_deterministic_for_a_seed():
    (users, items, ratings), (held_u, held_i, _) = low_rank_data()
    first = bl.BiasedMF(n_factors=4, n_epochs=5, seed=7).fit(users, items, ratings)
    again = bl.BiasedMF(n_factors=4, n_epochs=5, seed=7).fit(users, items, ratings)
    other = bl.BiasedMF(n_factors=4, n_epochs=5, seed=8).fit(users, items, ratings)
    np.testing.assert_array_equal(first.predict(held_u, held_i), again.predict(held_u, held_i))
    np.testing.assert_array_equal(first.item_factors_, again.item_factors_)
    assert not np.allclose(first.item_factors_, other.item_factors_)


def test_biased_mf_unseen_ids_get_no_personal_terms():
    (users, items, ratings), _ = low_rank_data()
    model = bl.BiasedMF(n_factors=2, n_epochs=3).fit(users, items, ratings)
    assert predict_one(model, 999, 0) == pytest.approx(model.global_mean_ + model.item_bias_[0])
    assert predict_one(model, 999, 999) == pytest.approx(model.global_mean_)


# --- neighbourhood models: hand-computed values ---------------------------------------------

# Raw-rating cosines over co-raters, from the SMALL table.
COS_ZX = (4 * 4 + 2 * 1) / math.sqrt((4**2 + 2**2) * (4**2 + 1**2))  # co-raters B, C
COS_ZY = (4 * 2 + 2 * 5) / math.sqrt((4**2 + 2**2) * (2**2 + 5**2))  # co-raters B, C
COS_XY = (5 * 3 + 4 * 2 + 1 * 5) / math.sqrt((25 + 16 + 1) * (9 + 4 + 25))  # co-raters A, B, C
COS_AB = (5 * 4 + 3 * 2) / math.sqrt((25 + 9) * (16 + 4))  # co-rated x, y
COS_AC = (5 * 1 + 3 * 5) / math.sqrt((25 + 9) * (1 + 25))  # co-rated x, y
ITEM_MEAN = {"x": 10 / 3, "y": 10 / 3, "z": 3.0}
USER_MEAN = {"A": 4.0, "B": 10 / 3, "C": 8 / 3}


def item_knn(**kwargs):
    return fit_small(bl.ItemKNN(centering="mean", shrinkage=0.0, **kwargs))


def user_knn(**kwargs):
    return fit_small(bl.UserKNN(centering="mean", shrinkage=0.0, **kwargs))


def test_item_knn_cosine_k1_uses_the_most_similar_item():
    model = item_knn(k=1, similarity="cosine")
    assert COS_ZX > COS_ZY
    assert predict_one(model, "A", "z") == pytest.approx(ITEM_MEAN["z"] + (5 - ITEM_MEAN["x"]), abs=1e-6)


def test_item_knn_cosine_k2_weights_both_items():
    model = item_knn(k=2, similarity="cosine")
    expected = ITEM_MEAN["z"] + (COS_ZX * (5 - ITEM_MEAN["x"]) + COS_ZY * (3 - ITEM_MEAN["y"])) / (COS_ZX + COS_ZY)
    assert predict_one(model, "A", "z") == pytest.approx(expected, abs=1e-6)
    x, y, z = (model.item_ids_.get_loc(name) for name in "xyz")
    assert model.similarity_[z, x] == pytest.approx(COS_ZX, abs=1e-9)
    assert model.similarity_[x, y] == pytest.approx(COS_XY, abs=1e-9)
    assert model.similarity_[z, z] == 0.0  # an item is never its own neighbour


def test_item_knn_pearson_ignores_negative_similarity():
    model = item_knn(k=2, similarity="pearson")
    x, y, z = (model.item_ids_.get_loc(name) for name in "xyz")
    # deviations from item means: z (B 1, C -1); x (B 2/3, C -7/3); y (B -4/3, C 5/3)
    assert model.similarity_[z, x] == pytest.approx(9 / math.sqrt(106), abs=1e-9)
    assert model.similarity_[z, y] == pytest.approx(-9 / math.sqrt(82), abs=1e-9)
    assert predict_one(model, "A", "z") == pytest.approx(3 + 5 / 3, abs=1e-6)


def test_item_knn_shrinkage_scales_by_support():
    model = fit_small(bl.ItemKNN(centering="mean", similarity="cosine", shrinkage=2.0))
    x, y, z = (model.item_ids_.get_loc(name) for name in "xyz")
    assert model.similarity_[z, x] == pytest.approx(COS_ZX * 2 / (2 + 2), abs=1e-9)
    assert model.similarity_[x, y] == pytest.approx(COS_XY * 3 / (3 + 2), abs=1e-9)


def test_user_knn_cosine_k1_and_k2():
    k1 = user_knn(k=1, similarity="cosine")
    assert COS_AB > COS_AC
    assert predict_one(k1, "A", "z") == pytest.approx(USER_MEAN["A"] + (4 - USER_MEAN["B"]), abs=1e-6)
    k2 = user_knn(k=2, similarity="cosine")
    expected = USER_MEAN["A"] + (COS_AB * (4 - USER_MEAN["B"]) + COS_AC * (2 - USER_MEAN["C"])) / (COS_AB + COS_AC)
    assert predict_one(k2, "A", "z") == pytest.approx(expected, abs=1e-6)


def test_user_knn_pearson_by_hand():
    model = user_knn(k=2, similarity="pearson")
    a, b, c = (model.user_ids_.get_loc(name) for name in "ABC")
    # deviations from user means on x, y: A (1, -1); B (2/3, -4/3); C (-5/3, 7/3)
    assert model.similarity_[a, b] == pytest.approx(6 / math.sqrt(40), abs=1e-9)
    assert model.similarity_[a, c] < 0
    assert predict_one(model, "A", "z") == pytest.approx(4 + 2 / 3, abs=1e-6)


def test_knn_falls_back_to_the_baseline_for_unseen_ids():
    users, items, ratings = small_columns()
    knn = bl.ItemKNN().fit(users, items, ratings)
    biases = bl.UserItemBias().fit(users, items, ratings)
    new_user, new_item = np.array(["D", "A"]), np.array(["x", "w"])
    np.testing.assert_allclose(knn.predict(new_user, new_item), biases.predict(new_user, new_item), atol=1e-12)
    mean_knn = bl.UserKNN(centering="mean").fit(users, items, ratings)
    assert predict_one(mean_knn, "D", "x") == pytest.approx(26 / 8)  # unseen user: global mean


# --- neighbourhood models: against a brute-force reference ----------------------------------


def reference_knn(model, users, items, ratings, targets, neighbours_are_items):
    """Plain-Python r_hat = b + sum s z / sum s over the top-k positive neighbours (pearson, bias centering)."""
    u_idx, i_idx = model.user_ids_.get_indexer(users), model.item_ids_.get_indexer(items)

    def base(u, i):
        return model.global_mean_ + (model.user_bias_[u] if u >= 0 else 0) + (model.item_bias_[i] if i >= 0 else 0)

    z = {}
    for u, i, r in zip(u_idx, i_idx, ratings, strict=True):
        key = (u, i) if neighbours_are_items else (i, u)  # (owner, neighbour)
        z[key] = r - base(u, i)
    rated_by = {}
    for owner, neighbour in z:
        rated_by.setdefault(neighbour, set()).add(owner)

    def sim(a, b):
        common = rated_by[a] & rated_by[b]
        num = sum(z[o, a] * z[o, b] for o in common)
        den = math.sqrt(sum(z[o, a] ** 2 for o in common) * sum(z[o, b] ** 2 for o in common))
        return 0.0 if den == 0 else num / den * (len(common) / (len(common) + model.shrinkage))

    out = []
    for user, item in targets:
        u, i = model.user_ids_.get_indexer([user])[0], model.item_ids_.get_indexer([item])[0]
        owner, target = (u, i) if neighbours_are_items else (i, u)
        pred = base(u, i)
        if owner >= 0 and target >= 0:
            cands = [(sim(target, n), n, z[o, n]) for (o, n) in z if o == owner and n != target]
            # most similar first; ties go to the lower neighbour index
            top = sorted((c for c in cands if c[0] > 0), key=lambda c: (-c[0], c[1]))[: model.k]
            if top:
                pred += sum(s * r for s, _, r in top) / sum(s for s, _, _ in top)
        out.append(pred)
    return np.array(out)


@pytest.mark.parametrize("cls", [bl.ItemKNN, bl.UserKNN])
def test_knn_matches_brute_force_reference(cls):
    rng = np.random.default_rng(5)
    observed = rng.random((15, 12)) < 0.55
    users, items = np.nonzero(observed)
    ratings = rng.integers(1, 6, size=len(users)).astype(float)
    model = cls(k=3, shrinkage=4.0, reg_user=2.0, reg_item=3.0, n_iters=4).fit(users, items, ratings)
    targets = [(u, i) for u, i in zip(*np.nonzero(~observed), strict=True)] + [(99, 0), (0, 99)]
    expected = reference_knn(model, users, items, ratings, targets, cls is bl.ItemKNN)
    target_users, target_items = np.array([t[0] for t in targets]), np.array([t[1] for t in targets])
    got = model.predict(target_users, target_items)
    np.testing.assert_allclose(got, expected, atol=1e-9)
    # the neighbours move the prediction away from the bias baseline
    biases = bl.UserItemBias(reg_user=2.0, reg_item=3.0, n_iters=4).fit(users, items, ratings)
    assert np.std(got - biases.predict(target_users, target_items)) > 0.05


def test_top_k_mask_breaks_ties_toward_the_lower_column():
    values = np.array([[0.5, 0.2, 0.2, 0.9, 0.2], [0.1, 0.3, 0.3, 0.3, 0.0]])
    expected = np.array([[1, 1, 0, 1, 0], [0, 1, 1, 1, 0]], dtype=bool)
    np.testing.assert_array_equal(bl._top_k_mask(values, 3), expected)


# --- arguments ------------------------------------------------------------------------------


def test_bad_arguments_name_the_argument_and_value():
    with pytest.raises(ConfigError, match="k must be >= 1, received: 0"):
        bl.ItemKNN(k=0)
    with pytest.raises(ConfigError, match="similarity must be one of 'cosine', 'pearson', received: 'msd'"):
        bl.UserKNN(similarity="msd")
    with pytest.raises(ConfigError, match="reg_item must be >= 0.0, received: -2"):
        bl.ItemKNN(reg_item=-2)
    with pytest.raises(ConfigError, match="reg must be >= 0.0, received: -1"):
        bl.BiasedMF(reg=-1)
    with pytest.raises(RuntimeError, match="not fitted"):
        bl.GlobalMean().predict(np.array([1]), np.array([1]))
    with pytest.raises(ValueError, match="equal length"):
        bl.GlobalMean().fit(np.array([1, 2]), np.array([1]), np.array([3.0]))


def test_get_config_rebuilds_the_model():
    model = bl.BiasedMF(n_factors=8, reg=0.3, seed=4)
    assert model.get_config() == {"n_factors": 8, "n_epochs": 20, "reg": 0.3, "init_std": 0.1, "seed": 4}
    assert type(model)(**model.get_config()).get_config() == model.get_config()


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


def small_frames():
    train = pd.DataFrame(SMALL, columns=["userId", "itemId", "rating"])
    test = pd.DataFrame([("A", "z", 4), ("C", "w", 3)], columns=["userId", "itemId", "rating"])
    return train, test


def test_baselines_registry_names():
    assert list(bl.BASELINES) == ["global_mean", "item_mean", "user_item_bias", "biased_mf", "item_knn", "user_knn"]
    assert isinstance(bl.BASELINES["biased_mf"](5), bl.BiasedMF) and bl.BASELINES["biased_mf"](5).seed == 5


def test_run_baselines_predicts_every_test_row_and_logs_time(caplog):
    train, test = small_frames()
    with caplog.at_level(logging.INFO, logger="arerec.baselines"):
        results = bl.run_baselines(train, test, seed=1)
    assert list(results) == list(bl.BASELINES)
    assert all(pred.shape == (2,) for pred in results.values())
    np.testing.assert_allclose(results["global_mean"], [3.25, 3.25])
    np.testing.assert_allclose(results["item_mean"], [3.0, 3.25])  # w is unseen
    assert all(pred.min() >= 1 and pred.max() <= 5 for pred in results.values())
    assert sum("baseline user_knn: fit+predict" in rec.getMessage() for rec in caplog.records) == 1


def test_run_baselines_rejects_unknown_names_and_missing_columns():
    train, test = small_frames()
    with pytest.raises(ConfigError, match="valid names: global_mean, item_mean"):
        bl.run_baselines(train, test, names=["svd++"])
    with pytest.raises(DataError, match="lacks column"):
        bl.run_baselines(train.rename(columns={"itemId": "item"}), test, names=["global_mean"])
