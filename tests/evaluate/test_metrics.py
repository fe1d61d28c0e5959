"""Tests for arerec.evaluate.metrics: hand-computed values, tie handling, and a literal heapq reference."""

from __future__ import annotations

import heapq
import itertools
import logging
import math

import numpy as np
import pytest

from arerec.evaluate.metrics import (
    argmax_rating,
    evaluate_predictions,
    expected_rating,
    faithful_hr_ndcg,
    rating_metrics,
    repeated_pairs,
    score_predictions,
    tie_aware_ndcg,
)

LOG2_3 = math.log2(3)


def _literal_reference(users, true, pred, topk, hrcutoff):
    """A slow, line-by-line transcription of REFERENCE.md section 5, using heapq.nlargest itself."""
    by_user: dict = {}
    for row, user in enumerate(users):
        by_user.setdefault(user, []).append(row)
    result = {}
    for k in topk:
        hrs, ndcgs = [], []
        for rows in by_user.values():
            if len(rows) < k:
                continue
            ideal = heapq.nlargest(k, rows, key=lambda r: true[r])
            predicted = heapq.nlargest(k, rows, key=lambda r: pred[r])
            ideal_ratings = [true[r] for r in ideal]
            ranks = [1 + sum(other > rating for other in ideal_ratings) for rating in ideal_ratings]
            relevant = [r for r in ideal if true[r] >= hrcutoff]
            hrs.append(sum(r in predicted for r in relevant) / len(relevant) if relevant else math.nan)
            dcg = idcg = 0.0
            for j, row in enumerate(ideal):
                idcg += (2 ** ideal_ratings[j] - 1) / math.log2(ranks[j] + 1)
                if row in predicted:
                    p = predicted.index(row)
                    dcg += (2 ** ideal_ratings[p] - 1) / math.log2(ranks[j] + 1)
            ndcgs.append(dcg / idcg)
        result[f"hr@{k}"] = float(np.nanmean(hrs)) if hrs and not all(map(math.isnan, hrs)) else math.nan
        result[f"ndcg@{k}"] = float(np.nanmean(ndcgs)) if ndcgs else math.nan
    return result


def _standard_ndcg_one_user(true_in_rank_order, true_all, k):
    dcg = sum((2.0**r - 1) / math.log2(i + 2) for i, r in enumerate(true_in_rank_order[:k]))
    ideal = sorted(true_all, reverse=True)
    idcg = sum((2.0**r - 1) / math.log2(i + 2) for i, r in enumerate(ideal[:k]))
    return dcg / idcg


# --- faithful_hr_ndcg -------------------------------------------------------------------------


def test_odd_gain_index_differs_from_standard_ndcg():
    # Ideal order rows 0,1,2 (ratings 5,4,3, ranks 1,2,3); predicted order rows 1,2,0.
    # Row 0 is at predicted position 2 -> gain of ideal[2]=3; row 1 at 0 -> ideal[0]=5; row 2 at 1 -> ideal[1]=4.
    users, true, pred = ["a"] * 3, [5, 4, 3], [3, 5, 4]
    got = faithful_hr_ndcg(users, true, pred, topk=(3,))
    idcg = 31 / 1 + 15 / LOG2_3 + 7 / 2
    assert got["ndcg@3"] == pytest.approx((7 / 1 + 31 / LOG2_3 + 15 / 2) / idcg)
    assert got["ndcg@3"] == pytest.approx(0.7746989345664829)
    assert got["hr@3"] == 1.0
    # A standard NDCG of the predicted order (ratings 4, 3, 5) is different: 0.7942.
    standard = (15 / 1 + 7 / LOG2_3 + 31 / 2) / idcg
    assert standard == pytest.approx(0.794207781846995)
    assert tie_aware_ndcg(users, true, pred, 3) == pytest.approx(standard)
    assert abs(got["ndcg@3"] - standard) > 0.01


def test_faithful_metrics_depend_on_tie_order_but_tie_aware_does_not():
    # The same four (true, pred) pairs in two row orders; every prediction is tied at 4, so the
    # predicted top-3 is simply the first three rows.
    pred = [4, 4, 4, 4]
    first = faithful_hr_ndcg(["u"] * 4, [4, 5, 4, 3], pred, topk=(3,))
    second = faithful_hr_ndcg(["u"] * 4, [3, 4, 5, 4], pred, topk=(3,))
    # first: ideal rows 1,0,2 (ratings 5,4,4, min ranks 1,2,2), predicted rows 0,1,2: all hit.
    assert first["hr@3"] == 1.0
    assert first["ndcg@3"] == pytest.approx((15 / 1 + 31 / LOG2_3 + 15 / LOG2_3) / (31 + 15 / LOG2_3 + 15 / LOG2_3))
    assert first["ndcg@3"] == pytest.approx(0.8817269539229106)
    # second: ideal rows 2,1,3, predicted rows 0,1,2: row 3 is missed.
    assert second["hr@3"] == pytest.approx(2 / 3)
    assert second["ndcg@3"] == pytest.approx((15 / 1 + 15 / LOG2_3) / (31 + 15 / LOG2_3 + 15 / LOG2_3))
    assert second["ndcg@3"] == pytest.approx(0.48998555769348734)
    # Tie-aware: each of the 3 positions gets the average gain (31+15+15+7)/4 = 17 of the tied group.
    expected = 17 * (1 + 1 / LOG2_3 + 1 / 2) / (31 + 15 / LOG2_3 + 15 / 2)
    assert tie_aware_ndcg(["u"] * 4, [4, 5, 4, 3], pred, 3) == pytest.approx(expected)
    assert tie_aware_ndcg(["u"] * 4, [3, 4, 5, 4], pred, 3) == pytest.approx(expected)
    assert expected == pytest.approx(0.7552715863168469)


def test_users_with_fewer_than_k_rows_are_skipped():
    # User a: 3 rows, perfect. User b: 2 rows, reversed.
    users = ["a", "a", "a", "b", "b"]
    true = [5, 4, 3, 1, 5]
    pred = [5, 4, 3, 5, 1]
    got = faithful_hr_ndcg(users, true, pred, topk=(2, 3, 4))
    # k=3: only a qualifies (b would drag the mean down to 0.825).
    assert got["hr@3"] == 1.0
    assert got["ndcg@3"] == 1.0
    # k=2: b counts. Ideal [row4 (5), row3 (1)], predicted [row3, row4]; odd gains:
    # row4 at predicted position 1 -> ideal[1]=1 -> 1/1, row3 at position 0 -> ideal[0]=5 -> 31/log2(3).
    b_ndcg = (1 / 1 + 31 / LOG2_3) / (31 / 1 + 1 / LOG2_3)
    assert b_ndcg == pytest.approx(0.6499594707105908)
    assert got["ndcg@2"] == pytest.approx((1.0 + b_ndcg) / 2)
    assert got["hr@2"] == 1.0
    # k=4: nobody qualifies.
    assert math.isnan(got["hr@4"]) and math.isnan(got["ndcg@4"])


def test_hr_is_nan_without_relevant_items_and_ignored_in_the_mean():
    # User c has no rating >= 3. Ideal rows 1,2,0 (ratings 2,2,1, min ranks 1,1,3);
    # predicted rows 0,1,2. Odd gains: row1 at p=1 -> 3/1, row2 at p=2 -> 1/1, row0 at p=0 -> 3/log2(4).
    only_c = faithful_hr_ndcg(["c"] * 3, [1, 2, 2], [2, 2, 1], topk=(3,))
    assert math.isnan(only_c["hr@3"])
    assert only_c["ndcg@3"] == pytest.approx((3 + 1 + 1.5) / (3 + 3 + 0.5))  # 11/13
    both = faithful_hr_ndcg(["a"] * 3 + ["c"] * 3, [5, 4, 3, 1, 2, 2], [5, 4, 3, 2, 2, 1], topk=(3,))
    assert both["hr@3"] == 1.0
    assert both["ndcg@3"] == pytest.approx((1 + 11 / 13) / 2)


def test_hrcutoff_selects_relevant_items():
    # Ideal top-2 rows 0 (5) and 1 (3); predicted top-2 rows 0 and 2. With cutoff 3 row 1 counts and is missed.
    users, true, pred = ["u"] * 3, [5, 3, 2], [5, 1, 4]
    assert faithful_hr_ndcg(users, true, pred, topk=(2,), hrcutoff=3)["hr@2"] == pytest.approx(0.5)
    assert faithful_hr_ndcg(users, true, pred, topk=(2,), hrcutoff=4)["hr@2"] == 1.0


def test_perfect_predictions_score_one():
    rng = np.random.default_rng(0)
    users = rng.integers(0, 30, size=600)
    true = rng.integers(1, 6, size=600)
    got = faithful_hr_ndcg(users, true, true, topk=(3, 5, 7, 10))
    assert set(got) == {f"{m}@{k}" for k in (3, 5, 7, 10) for m in ("hr", "ndcg")}
    assert all(v == pytest.approx(1.0, rel=1e-12) for v in got.values())
    assert tie_aware_ndcg(users, true, true.astype(float), 10) == pytest.approx(1.0)


def test_matches_literal_heapq_reference_with_many_ties():
    rng = np.random.default_rng(1)
    n = 900
    users = rng.integers(0, 60, size=n)
    true = rng.integers(1, 6, size=n)
    pred = rng.integers(2, 5, size=n)  # few classes: many ties, as from an argmax
    got = faithful_hr_ndcg(users, true, pred, topk=(3, 5, 7, 10, 20), hrcutoff=3)
    want = _literal_reference(users.tolist(), true.tolist(), pred.tolist(), (3, 5, 7, 10, 20), 3)
    assert got.keys() == want.keys()
    for key in want:
        assert got[key] == pytest.approx(want[key], rel=1e-12), key


def test_result_keys_in_topk_order_and_plain_floats():
    got = faithful_hr_ndcg([1, 1, 1], [5, 4, 3], [5, 4, 3], topk=(3, 1))
    assert list(got) == ["hr@3", "ndcg@3", "hr@1", "ndcg@1"]
    assert all(type(v) is float for v in got.values())


def test_faithful_rejects_bad_input():
    with pytest.raises(ValueError, match="true_ratings must have one entry per test row \\(3\\), received: 2"):
        faithful_hr_ndcg([1, 1, 1], [5, 4], [5, 4, 3])
    with pytest.raises(ValueError, match="received: 0"):
        faithful_hr_ndcg([1, 1, 1], [5, 4, 3], [5, 4, 3], topk=(0,))


# --- tie_aware_ndcg ---------------------------------------------------------------------------


def test_tie_aware_equals_mean_over_all_tie_orders():
    # McSherry & Najork: the tie-aware DCG is the average DCG over every ordering of tied items.
    true = [5, 1, 3, 4, 2]
    scores = [0.5, 0.5, 0.9, 0.5, 0.1]
    k = 3
    tied = [0, 1, 3]
    values = []
    for perm in itertools.permutations(tied):
        ranked = [2, *perm, 4]
        values.append(_standard_ndcg_one_user([true[r] for r in ranked], true, k))
    assert tie_aware_ndcg(["u"] * 5, true, scores, k) == pytest.approx(np.mean(values))


def test_tie_aware_is_invariant_to_row_order():
    rng = np.random.default_rng(2)
    users = rng.integers(0, 20, size=400)
    true = rng.integers(1, 6, size=400)
    scores = rng.integers(1, 4, size=400).astype(float)
    perm = rng.permutation(400)
    a = tie_aware_ndcg(users, true, scores, 5)
    b = tie_aware_ndcg(users[perm], true[perm], scores[perm], 5)
    assert a == pytest.approx(b, rel=1e-12)
    faithful_a = faithful_hr_ndcg(users, true, scores, topk=(5,))
    faithful_b = faithful_hr_ndcg(users[perm], true[perm], scores[perm], topk=(5,))
    assert faithful_a != faithful_b


def test_tie_aware_uses_all_rows_of_short_users_and_averages_users():
    # User s has 2 rows (< k=5): NDCG@2 over both. Ranked order: rating 3 then 5.
    short = (7 / 1 + 31 / LOG2_3) / (31 / 1 + 7 / LOG2_3)
    assert tie_aware_ndcg(["s", "s"], [3, 5], [0.9, 0.1], 5) == pytest.approx(short)
    assert short == pytest.approx(0.7498995145002061)
    # Add a perfectly ranked user: the mean is over users, not rows.
    users = ["s", "s", "t", "t", "t"]
    got = tie_aware_ndcg(users, [3, 5, 1, 2, 3], [0.9, 0.1, 1.0, 2.0, 3.0], 5)
    assert got == pytest.approx((short + 1.0) / 2)


def test_tie_aware_cutoff_splits_a_tie_group():
    # Scores: row0 alone on top, rows 1,2,3 tied. k=2 lets only one position of the group count,
    # and it gets the group's average gain (15 + 7 + 1) / 3.
    true = [1, 4, 3, 1]
    got = tie_aware_ndcg(["u"] * 4, true, [9.0, 1.0, 1.0, 1.0], 2)
    assert got == pytest.approx((1 / 1 + (23 / 3) / LOG2_3) / (15 / 1 + 7 / LOG2_3))


# --- rating metrics ---------------------------------------------------------------------------

PROBS = np.array([[0.1, 0.2, 0.7], [0.5, 0.5, 0.0]])
CLASSES = np.array([1.0, 2.0, 3.0])


def test_expected_and_argmax_rating():
    np.testing.assert_allclose(expected_rating(PROBS, CLASSES), [0.1 + 0.4 + 2.1, 0.5 + 1.0])
    np.testing.assert_array_equal(argmax_rating(PROBS, CLASSES), [3.0, 1.0])  # tie -> first class


def test_rating_metrics_by_hand():
    got = rating_metrics([3, 2], PROBS, CLASSES)
    # expected ratings 2.6 and 1.5: errors -0.4 and -0.5; argmax ratings 3 and 1: errors 0 and -1.
    assert got["rmse"] == pytest.approx(math.sqrt((0.16 + 0.25) / 2))
    assert got["mae"] == pytest.approx(0.45)
    assert got["accuracy"] == 0.5
    assert got["rmse_argmax"] == pytest.approx(math.sqrt(0.5))
    assert got["majority_share"] == 0.5  # classes 3 and 1, one row each
    assert rating_metrics([3, 2, 1], np.array([[0, 0, 1.0]] * 3), CLASSES)["majority_share"] == 1.0  # one class


def test_rating_metrics_rejects_mismatched_classes():
    with pytest.raises(ValueError, match="classes must have shape \\[C\\]"):
        rating_metrics([3, 2], PROBS, [1.0, 2.0])
    with pytest.raises(ValueError, match="probs must have shape \\[N, C\\]"):
        expected_rating([0.2, 0.8], CLASSES)


# --- evaluate_predictions ---------------------------------------------------------------------


def test_evaluate_predictions_combines_everything():
    classes = np.arange(1.0, 6.0)
    pred = [3, 5, 4]
    probs = np.eye(5)[np.array(pred) - 1]  # one-hot: argmax and expected rating both equal pred
    got = evaluate_predictions(["a"] * 3, [5, 4, 3], probs, classes, topk=(3,), hrcutoff=3)
    assert set(got) == {"hr@3", "ndcg@3", "rmse", "mae", "accuracy", "rmse_argmax", "majority_share", "std_ndcg@3"}
    assert all(type(v) is float for v in got.values())
    assert got["hr@3"] == 1.0
    assert got["ndcg@3"] == pytest.approx(0.7746989345664829)
    assert got["std_ndcg@3"] == pytest.approx(0.794207781846995)
    assert got["rmse"] == pytest.approx(math.sqrt(2))  # errors -2, 1, 1
    assert got["mae"] == pytest.approx(4 / 3)
    assert got["accuracy"] == 0.0
    assert got["rmse_argmax"] == pytest.approx(math.sqrt(2))


def test_evaluate_predictions_equals_the_separate_functions():
    rng = np.random.default_rng(3)
    n = 500
    users = rng.integers(100, 140, size=n)
    true = rng.integers(1, 6, size=n)
    probs = rng.dirichlet(np.ones(5), size=n)
    classes = np.arange(1.0, 6.0)
    got = evaluate_predictions(users, true, probs, classes, topk=(3, 10), hrcutoff=4)
    want = faithful_hr_ndcg(users, true, argmax_rating(probs, classes), topk=(3, 10), hrcutoff=4)
    want.update(rating_metrics(true, probs, classes))
    for k in (3, 10):
        want[f"std_ndcg@{k}"] = tie_aware_ndcg(users, true, expected_rating(probs, classes), k)
    assert list(got) == list(want)
    for key in want:
        assert got[key] == pytest.approx(want[key], rel=1e-12), key


# --- score_predictions: repeated (user, item) pairs ---------------------------------------------


def _original_dict_loop(users, items, true, pred, topk, hrcutoff):
    """The original's score, written as it is: per user, dicts keyed by item, then heapq.nlargest.

    Assigning to an existing key keeps its place and replaces its value, so a repeated pair sits at
    its first row with its last rating and prediction. Written from REFERENCE.md section 5 and the
    dict semantics, independently of arerec.evaluate.metrics and of _literal_reference.
    """
    true_by_user: dict = {}
    pred_by_user: dict = {}
    for user, item, rating, prediction in zip(users, items, true, pred, strict=True):
        true_by_user.setdefault(user, {})[item] = rating
        pred_by_user.setdefault(user, {})[item] = prediction
    result = {}
    for k in topk:
        hrs, ndcgs = [], []
        for user, truths in true_by_user.items():
            if len(truths) < k:
                continue
            ideal = heapq.nlargest(k, truths.items(), key=lambda pair: pair[1])  # [(item, rating)]
            predicted = [item for item, _ in heapq.nlargest(k, pred_by_user[user].items(), key=lambda pair: pair[1])]
            ratings = [rating for _, rating in ideal]
            relevant = [item for item, rating in ideal if rating >= hrcutoff]
            hrs.append(sum(item in predicted for item in relevant) / len(relevant) if relevant else math.nan)
            dcg = idcg = 0.0
            for item, rating in ideal:
                rank = 1 + sum(other > rating for other in ratings)  # "min" tied rank
                idcg += (2**rating - 1) / math.log2(rank + 1)
                if item in predicted:
                    dcg += (2 ** ratings[predicted.index(item)] - 1) / math.log2(rank + 1)
            ndcgs.append(dcg / idcg)
        finite_hrs = [h for h in hrs if not math.isnan(h)]
        result[f"hr@{k}"] = sum(finite_hrs) / len(finite_hrs) if finite_hrs else math.nan
        result[f"ndcg@{k}"] = sum(ndcgs) / len(ndcgs) if ndcgs else math.nan
    return result


def _assert_same(got, want):
    assert list(got) == list(want)
    for key in want:
        if math.isnan(want[key]):
            assert math.isnan(got[key]), key
        else:
            assert got[key] == pytest.approx(want[key], rel=0, abs=1e-12), key


# One user; item a is rated twice: first (5, pred 3) on row 0, last (2, pred 5) on row 3.
DUP_USERS = [1, 1, 1, 1, 1]
DUP_ITEMS = ["a", "b", "c", "a", "d"]
DUP_TRUE = [5, 4, 3, 2, 1]
DUP_PRED = [3, 5, 4, 5, 1]


def test_repeated_pair_keeps_its_first_position_and_its_last_values(caplog):
    # As the dict: a (2, 5) at position 0, b (4, 5), c (3, 4), d (1, 1). Ideal top-3: b 4, c 3, a 2
    # (ranks 1, 2, 3). Predicted top-3: a 5 and b 5 tie, a first by position, then c: [a, b, c].
    # Odd gains: b at p=1 -> ideal[1]=3, c at p=2 -> ideal[2]=2, a at p=0 -> ideal[0]=4.
    idcg = 15 / 1 + 7 / LOG2_3 + 3 / 2
    by_hand = (7 / 1 + 3 / LOG2_3 + 15 / 2) / idcg
    with caplog.at_level(logging.WARNING, logger="arerec.evaluate.metrics"):
        got = score_predictions(DUP_USERS, DUP_TRUE, DUP_PRED, topk=(3, 4), items=DUP_ITEMS)
    assert got["faithful"]["ndcg@3"] == pytest.approx(by_hand, rel=0, abs=1e-12)
    assert by_hand == pytest.approx(0.7837249432452995, rel=1e-12)
    _assert_same(got["faithful"], _original_dict_loop(DUP_USERS, DUP_ITEMS, DUP_TRUE, DUP_PRED, (3, 4), 3))
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        "1 (user, item) pair(s) occur on more than one row (1 extra row(s)); as the original's per-user dict, "
        "the faithful metrics count each pair once, at its first row, with the rating and prediction of its "
        "last row; the standard metrics score every row"]
    # The other readings give other numbers, so the test tells them apart: every row ...
    every_row = faithful_hr_ndcg(DUP_USERS, DUP_TRUE, DUP_PRED, topk=(3,))["ndcg@3"]
    # ... or the repeated pair at its last row (a then loses the tie to b).
    at_last_row = faithful_hr_ndcg([1] * 4, [4, 3, 2, 1], [5, 4, 5, 1], topk=(3,))["ndcg@3"]
    # ... or the first row's values kept (later rows dropped).
    first_values = faithful_hr_ndcg([1] * 4, [5, 4, 3, 1], [3, 5, 4, 1], topk=(3,))["ndcg@3"]
    assert all(abs(other - by_hand) > 0.005 for other in (every_row, at_last_row, first_values))
    # The standard metrics score every row.
    assert got["standard"]["rmse"] == pytest.approx(math.sqrt((4 + 1 + 1 + 9 + 0) / 5))


def test_repeated_pairs_match_the_original_dict_loop_on_random_rows():
    rng = np.random.default_rng(5)
    n = 400
    users = rng.integers(0, 15, size=n)
    items = rng.integers(0, 12, size=n)  # about 27 rows per user over 12 items: many repeats
    true = rng.integers(1, 6, size=n)
    pred = rng.integers(2, 5, size=n)
    topk = (3, 5, 7, 10)
    got = score_predictions(users, true, pred, topk=topk, hrcutoff=3, items=items)["faithful"]
    want = _original_dict_loop(users.tolist(), items.tolist(), true.tolist(), pred.tolist(), topk, 3)
    _assert_same(got, want)
    assert abs(got["ndcg@10"] - faithful_hr_ndcg(users, true, pred, topk=(10,))["ndcg@10"]) > 1e-3


def test_without_repeated_pairs_items_change_nothing(caplog):
    rng = np.random.default_rng(6)
    n = 300
    users = rng.integers(0, 20, size=n)
    items = np.arange(n)[rng.permutation(n)]  # every pair distinct
    true = rng.integers(1, 6, size=n)
    pred = rng.integers(1, 6, size=n)
    with caplog.at_level(logging.WARNING, logger="arerec.evaluate.metrics"):
        with_items = score_predictions(users, true, pred, topk=(3, 10), items=items)
    assert with_items == score_predictions(users, true, pred, topk=(3, 10))
    _assert_same(with_items["faithful"],
                 _original_dict_loop(users.tolist(), items.tolist(), true.tolist(), pred.tolist(), (3, 10), 3))
    assert not caplog.records


def test_repeated_pairs_by_hand():
    # (u, x) on rows 0, 2, 5; (v, x) on rows 1, 4; (u, y) on row 3. The same item of two users is two pairs.
    pairs = repeated_pairs(["u", "v", "u", "u", "v", "u"], ["x", "x", "x", "y", "x", "x"])
    assert pairs.first.tolist() == [0, 1, 3]
    assert pairs.last.tolist() == [5, 4, 3]
    assert (pairs.n_rows, pairs.n_repeated, pairs.n_dropped) == (6, 2, 3)
    with pytest.raises(ValueError, match="items must have one entry per test row \\(2\\), received: 1"):
        repeated_pairs([1, 2], ["a"])


def test_the_worked_example_of_docs_metric_md():
    """docs/metric.md: one user, five rows, k = 3; the faithful NDCG moves with row order, the standard one does not."""
    from arerec.evaluate.metrics import faithful_hr_ndcg, tie_aware_ndcg

    predicted = [4, 4, 4, 4, 3]
    first = faithful_hr_ndcg([7] * 5, [3, 5, 4, 4, 2], predicted, topk=[3])
    assert first["hr@3"] == pytest.approx(2 / 3)
    assert first["ndcg@3"] == pytest.approx((15 + 15 / np.log2(3)) / (31 + 30 / np.log2(3)))
    assert round(first["ndcg@3"], 3) == 0.490
    second = faithful_hr_ndcg([7] * 5, [5, 3, 4, 4, 2], predicted, topk=[3])
    assert round(second["ndcg@3"], 3) == 0.810 and second["hr@3"] == pytest.approx(2 / 3)
    ideal = 31 + 15 / np.log2(3) + 15 / np.log2(4)
    for true in ([3, 5, 4, 4, 2], [5, 3, 4, 4, 2]):
        standard = tie_aware_ndcg([7] * 5, true, np.array(predicted, dtype=float), k=3)
        assert standard == pytest.approx(17 * (1 + 1 / np.log2(3) + 1 / np.log2(4)) / ideal)
        assert round(standard, 3) == 0.755
