"""Evaluation metrics: the reference's own HR@k / NDCG@k, rating errors, and a standard tie-aware NDCG.

All functions take per-test-row arrays in row order (one entry per test row) and group the rows by
user once, with a stable sort, so the cost is a few vectorised passes over the rows whatever the
number of users. A "user's item" is one of that user's test rows, identified by its row index.

Two families are reported side by side:

* :func:`faithful_hr_ndcg` reproduces ``evaluate.py`` of the original code exactly, oddities
  included (docs/reference.md §5), so that numbers compare with the paper's.
* :func:`rating_metrics` and :func:`tie_aware_ndcg` are standard measures that do not depend on row
  order or on how ties are broken.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

DEFAULT_TOPK = (3, 5, 7, 10)
DEFAULT_HRCUTOFF = 3.0


@dataclass(frozen=True)
class _UserGroups:
    """Rows grouped by user: ``codes[i]`` is the user of row i, users numbered 0..n_users-1."""

    codes: np.ndarray  # [N] int64
    counts: np.ndarray  # [U] test rows per user
    starts: np.ndarray  # [U] first index of each user in any (user, key)-sorted order
    uniques: np.ndarray  # [U] the user ids, in code order

    @property
    def n_users(self) -> int:
        return len(self.counts)


def _group_users(users: Sequence | np.ndarray) -> _UserGroups:
    codes, uniques = pd.factorize(np.asarray(users))
    codes = codes.astype(np.int64, copy=False)
    counts = np.bincount(codes, minlength=len(uniques))
    starts = np.cumsum(counts) - counts
    return _UserGroups(codes=codes, counts=counts, starts=starts, uniques=np.asarray(uniques))


@dataclass(frozen=True)
class _Ranking:
    """Each user's rows sorted by a key, descending, ties in row order.

    Within one user this is the order of ``heapq.nlargest(n, rows, key=key)``: ``nlargest`` is
    documented as equivalent to ``sorted(rows, key=key, reverse=True)[:n]``, a stable sort, so tied
    rows come out earlier row first.
    """

    order: np.ndarray  # [N] row indices, sorted by user code then key descending
    position: np.ndarray  # [N] by row: 0-based position of the row in its user's sorted list


def _rank_within_user(groups: _UserGroups, key: np.ndarray) -> _Ranking:
    order = np.lexsort((-key, groups.codes))  # lexsort is stable: equal keys keep row order
    position = np.empty(len(order), dtype=np.int64)
    position[order] = np.arange(len(order)) - groups.starts[groups.codes[order]]
    return _Ranking(order=order, position=position)


def _min_rank_sorted(values_sorted: np.ndarray, codes_sorted: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """1-based "min" tied rank of each value in a per-user descending-sorted array.

    Tied values share the rank of the first of them, e.g. ``[5, 5, 4]`` gives ``[1, 1, 3]``.
    """
    n = len(values_sorted)
    index = np.arange(n)
    run_starts = np.ones(n, dtype=bool)
    if n > 1:
        run_starts[1:] = (values_sorted[1:] != values_sorted[:-1]) | (codes_sorted[1:] != codes_sorted[:-1])
    first_of_run = np.maximum.accumulate(np.where(run_starts, index, 0))
    return first_of_run - starts[codes_sorted] + 1


def _gain(rating: np.ndarray) -> np.ndarray:
    return np.exp2(rating) - 1.0


def _nanmean(values: np.ndarray) -> float:
    """Mean of the non-NaN values; NaN (without a warning) when there are none."""
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else float("nan")


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Element-wise numerator / denominator, NaN where the denominator is 0."""
    out = np.full(len(numerator), np.nan)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def _as_1d(name: str, values: Sequence | np.ndarray, length: int | None = None) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional (one entry per test row), received shape: {array.shape}")
    if length is not None and len(array) != length:
        raise ValueError(f"{name} must have one entry per test row ({length}), received: {len(array)}")
    return array


def _as_float_1d(name: str, values: Sequence | np.ndarray, length: int) -> np.ndarray:
    array = _as_1d(name, values, length).astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite, received {int(np.sum(~np.isfinite(array)))} NaN or inf values")
    return array


def _check_k(name: str, k: int) -> int:
    if int(k) != k or k < 1:
        raise ValueError(f"{name} must be an integer >= 1, received: {k}")
    return int(k)


def _check_topk(topk: Iterable[int]) -> list[int]:
    ks = [_check_k("each k of topk", k) for k in topk]
    if not ks:
        raise ValueError("topk must hold at least one k, received: []")
    return ks


def faithful_hr_ndcg(
    users: Sequence | np.ndarray,
    true_ratings: Sequence | np.ndarray,
    pred_ratings: Sequence | np.ndarray,
    topk: Iterable[int] = DEFAULT_TOPK,
    hrcutoff: float = DEFAULT_HRCUTOFF,
) -> dict[str, float]:
    """HR@k and NDCG@k exactly as the original ``evaluate.py`` computes them.

    For each k, and each user with at least k test rows (users with fewer are skipped):

    * ideal top-k: the user's rows by true rating, in the order of
      ``heapq.nlargest(k, rows, key=true rating)``, i.e. ties broken by earlier row first;
    * predicted top-k: the same by predicted rating;
    * ``HR@k``: among the ideal top-k rows with true rating >= ``hrcutoff``, the fraction that are
      in the predicted top-k; NaN for the user when there are none;
    * ``NDCG@k``: with ideal ratings ``r_0 >= ... >= r_{k-1}`` and ``rank_j`` the 1-based "min" tied
      rank of ``r_j`` (``[5, 5, 4]`` gives ``[1, 1, 3]``),
      ``DCG = sum_j (2**r_{p_j} - 1) / log2(rank_j + 1)`` over ideal rows j that sit at position
      ``p_j`` of the predicted top-k (others add 0), and
      ``IDCG = sum_j (2**r_j - 1) / log2(rank_j + 1)``; ``NDCG = DCG / IDCG`` (NaN if IDCG is 0).

    Each metric is the nanmean over the qualifying users (NaN when none qualifies).

    Oddities of the reference, kept on purpose:

    * the gain of ideal row j is the true rating of the *ideal* row at index ``p_j``, not row j's
      own rating, while the discount is row j's tied rank; so this is not a standard NDCG, even
      without ties (a cyclic shift of a user's top-3 scores differently from a standard NDCG);
    * only a user's own test rows are ranked, never the catalogue;
    * ``pred_ratings`` is an argmax class, so ties are frequent and the result depends on the row
      order of the test set through the tie-breaking.

    Args:
        users: [N] user id of each test row (any hashable values).
        true_ratings: [N] true rating of each row.
        pred_ratings: [N] predicted rating of each row (the argmax class mapped back to a rating).
        topk: the cut-offs k.
        hrcutoff: a true rating >= this counts as relevant for HR@k.

    Returns:
        ``{"hr@k": ..., "ndcg@k": ...}`` for each k in ``topk``, as plain floats.
    """
    users = _as_1d("users", users)
    true = _as_float_1d("true_ratings", true_ratings, len(users))
    pred = _as_float_1d("pred_ratings", pred_ratings, len(users))
    ks = _check_topk(topk)
    groups = _group_users(users)
    return _faithful(groups, true, pred, ks, hrcutoff, _rank_within_user(groups, true))


def _faithful(
    groups: _UserGroups, true: np.ndarray, pred: np.ndarray, ks: list[int], hrcutoff: float, ideal: _Ranking
) -> dict[str, float]:
    per_user = _faithful_per_user(groups, true, pred, ks, hrcutoff, ideal)
    return {name: _nanmean(values) for name, values in per_user.items()}


def _faithful_per_user(
    groups: _UserGroups, true: np.ndarray, pred: np.ndarray, ks: list[int], hrcutoff: float, ideal: _Ranking
) -> dict[str, np.ndarray]:
    """Each user's faithful HR@k and NDCG@k ([U] arrays in code order), NaN for a user with fewer than k rows (or
    none relevant, for HR): the reference's mean over users is the nanmean of these."""
    codes = groups.codes
    pred_position = _rank_within_user(groups, pred).position
    ideal_true = true[ideal.order]  # [N] ideal ratings; user u's list starts at starts[u]
    rank_sorted = _min_rank_sorted(ideal_true, codes[ideal.order], groups.starts)
    discount = np.empty(len(true))
    discount[ideal.order] = 1.0 / np.log2(rank_sorted + 1.0)  # [N] by row

    result: dict[str, np.ndarray] = {}
    for k in ks:
        qualifies = groups.counts >= k  # [U]
        in_ideal = ideal.position < k  # [N]
        in_pred = pred_position < k  # [N]

        relevant = in_ideal & (true >= hrcutoff)
        n_relevant = np.bincount(codes[relevant], minlength=groups.n_users)
        n_hit = np.bincount(codes[relevant & in_pred], minlength=groups.n_users)
        hr_per_user = _ratio(n_hit.astype(np.float64), n_relevant.astype(np.float64))

        idcg = np.bincount(
            codes[in_ideal], weights=_gain(true[in_ideal]) * discount[in_ideal], minlength=groups.n_users
        )
        hit_rows = np.flatnonzero(in_ideal & in_pred)
        # the reference's gain: the ideal rating found at the row's *predicted* position
        odd_gain = _gain(ideal_true[groups.starts[codes[hit_rows]] + pred_position[hit_rows]])
        dcg = np.bincount(codes[hit_rows], weights=odd_gain * discount[hit_rows], minlength=groups.n_users)
        ndcg_per_user = _ratio(dcg, idcg)

        result[f"hr@{k}"] = np.where(qualifies, hr_per_user, np.nan)
        result[f"ndcg@{k}"] = np.where(qualifies, ndcg_per_user, np.nan)
    return result


def _check_probs(probs: np.ndarray | Sequence, classes: np.ndarray | Sequence) -> tuple[np.ndarray, np.ndarray]:
    probs = np.asarray(probs, dtype=np.float64)
    classes = np.asarray(classes, dtype=np.float64)
    if probs.ndim != 2:
        raise ValueError(f"probs must have shape [N, C], received shape: {probs.shape}")
    if classes.ndim != 1 or len(classes) != probs.shape[1]:
        raise ValueError(
            f"classes must have shape [C] with C = probs.shape[1] = {probs.shape[1]}, received shape: {classes.shape}"
        )
    return probs, classes


def expected_rating(probs: np.ndarray | Sequence, classes: np.ndarray | Sequence) -> np.ndarray:
    """Probability-weighted rating ``sum_c probs[n, c] * classes[c]``.

    Args:
        probs: [N, C] class probabilities (rows are used as given, not renormalised).
        classes: [C] the rating of each class.

    Returns:
        [N] float64 expected ratings.
    """
    probs, classes = _check_probs(probs, classes)
    return probs @ classes  # [N]


def argmax_rating(probs: np.ndarray | Sequence, classes: np.ndarray | Sequence) -> np.ndarray:
    """Rating of the most probable class (the first such class on a tie, as ``np.argmax``).

    Args:
        probs: [N, C] class probabilities.
        classes: [C] the rating of each class.

    Returns:
        [N] float64 ratings taken from ``classes``.
    """
    probs, classes = _check_probs(probs, classes)
    return classes[np.argmax(probs, axis=1)]  # [N]


def _rmse(error: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(error)))) if error.size else float("nan")


def rating_metrics(
    true_ratings: Sequence | np.ndarray, probs: np.ndarray | Sequence, classes: np.ndarray | Sequence
) -> dict[str, float]:
    """Rating errors of the predicted class distribution.

    Args:
        true_ratings: [N] true ratings.
        probs: [N, C] class probabilities.
        classes: [C] the rating of each class.

    Returns:
        ``rmse`` and ``mae`` of :func:`expected_rating`, ``accuracy`` (the share of rows whose
        :func:`argmax_rating` equals the true rating), ``rmse_argmax`` (RMSE of the argmax
        rating) and ``majority_share`` (the share of rows given the most frequent argmax class: 1.0 for a model
        that predicts one class for every row, the collapse of :mod:`arerec.evaluate.claims`), as plain floats;
        NaN for empty input.
    """
    probs, classes = _check_probs(probs, classes)
    true = _as_float_1d("true_ratings", true_ratings, probs.shape[0])
    expected = expected_rating(probs, classes)
    argmax = argmax_rating(probs, classes)
    n = len(true)
    return {
        "rmse": _rmse(expected - true),
        "mae": float(np.mean(np.abs(expected - true))) if n else float("nan"),
        "accuracy": float(np.mean(np.isclose(argmax, true, rtol=0.0, atol=1e-9))) if n else float("nan"),
        "rmse_argmax": _rmse(argmax - true),
        "majority_share": float(np.unique(argmax, return_counts=True)[1].max() / n) if n else float("nan"),
    }


def tie_aware_ndcg(
    users: Sequence | np.ndarray,
    true_ratings: Sequence | np.ndarray,
    scores: Sequence | np.ndarray,
    k: int,
) -> float:
    """Standard per-user NDCG@k over each user's own test rows, tie-aware (McSherry & Najork, 2008).

    Each user's rows are ranked by ``scores`` descending. Gain is ``2**rating - 1`` and the row at
    0-based position ``i`` is discounted by ``1 / log2(i + 2)``. Rows with equal scores form a tie
    group; every position the group occupies receives the group's average gain, which equals the
    expected DCG over all orderings of the ties, so the result does not depend on row order. Only
    positions ``< k`` count. IDCG is the DCG of the user's true ratings sorted descending.

    Users with fewer than k test rows are kept and ranked over all their rows (NDCG@n for that
    user); users whose IDCG is 0 (all gains 0) are left out of the mean.

    Args:
        users: [N] user id of each test row.
        true_ratings: [N] true rating of each row.
        scores: [N] predicted score of each row, e.g. the expected rating.
        k: the cut-off.

    Returns:
        The mean NDCG@k over users, a plain float (NaN when no user has a positive IDCG).
    """
    users = _as_1d("users", users)
    true = _as_float_1d("true_ratings", true_ratings, len(users))
    score = _as_float_1d("scores", scores, len(users))
    k = _check_k("k", k)
    groups = _group_users(users)
    return _tie_aware(groups, true, score, [k], _rank_within_user(groups, true))[k]


def _tie_aware(
    groups: _UserGroups, true: np.ndarray, score: np.ndarray, ks: list[int], ideal: _Ranking
) -> dict[int, float]:
    """Tie-aware NDCG@k for several k, sharing the sorts; see :func:`tie_aware_ndcg`."""
    return {k: _nanmean(values) for k, values in _tie_aware_per_user(groups, true, score, ks, ideal).items()}


def _tie_aware_per_user(
    groups: _UserGroups, true: np.ndarray, score: np.ndarray, ks: list[int], ideal: _Ranking
) -> dict[int, np.ndarray]:
    """Each user's tie-aware NDCG@k ([U] arrays in code order; NaN where the user's IDCG is 0)."""
    codes = groups.codes
    n = len(true)
    gain = _gain(true)
    ranking = _rank_within_user(groups, score)
    score_sorted, codes_sorted = score[ranking.order], codes[ranking.order]
    new_tie = np.ones(n, dtype=bool)
    if n > 1:
        new_tie[1:] = (score_sorted[1:] != score_sorted[:-1]) | (codes_sorted[1:] != codes_sorted[:-1])
    tie_id = np.cumsum(new_tie) - 1  # [N] tie group of each sorted row
    tie_user = codes_sorted[new_tie]  # [T]
    tie_size = np.bincount(tie_id)  # [T]
    tie_mean_gain = np.bincount(tie_id, weights=gain[ranking.order]) / np.maximum(tie_size, 1)  # [T]
    tie_start = ranking.position[ranking.order][new_tie]  # [T]
    tie_end = tie_start + tie_size  # [T]
    ideal_weight = gain / np.log2(ideal.position + 2.0)  # [N] each row's term of the untruncated IDCG

    result: dict[int, np.ndarray] = {}
    for k in ks:
        # cumulative_discount[m] = sum of the discounts of positions 0..m-1, for m <= k
        cumulative_discount = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(k) + 2.0))])
        group_discount = (
            cumulative_discount[np.minimum(tie_end, k)] - cumulative_discount[np.minimum(tie_start, k)]
        )  # [T] discounts of the positions < k that the group occupies
        dcg = np.bincount(tie_user, weights=tie_mean_gain * group_discount, minlength=groups.n_users)
        in_ideal = ideal.position < k
        idcg = np.bincount(codes[in_ideal], weights=ideal_weight[in_ideal], minlength=groups.n_users)
        result[k] = _ratio(dcg, idcg)
    return result


def evaluate_predictions(
    users: Sequence | np.ndarray,
    true_ratings: Sequence | np.ndarray,
    probs: np.ndarray | Sequence,
    classes: np.ndarray | Sequence,
    topk: Iterable[int] = DEFAULT_TOPK,
    hrcutoff: float = DEFAULT_HRCUTOFF,
) -> dict[str, float]:
    """All test metrics of one set of predictions, as plain floats.

    The rows are grouped and sorted by true rating once, and the result is the same as calling
    :func:`faithful_hr_ndcg`, :func:`rating_metrics` and :func:`tie_aware_ndcg` one by one.

    Args:
        users: [N] user id of each test row.
        true_ratings: [N] true rating of each row.
        probs: [N, C] predicted class probabilities.
        classes: [C] the rating of each class.
        topk: the cut-offs k.
        hrcutoff: a true rating >= this counts as relevant for HR@k.

    Returns:
        ``hr@k`` and ``ndcg@k`` of :func:`faithful_hr_ndcg` on the argmax ratings; ``rmse``,
        ``mae``, ``accuracy`` and ``rmse_argmax`` of :func:`rating_metrics`; and ``std_ndcg@k``,
        the :func:`tie_aware_ndcg` of the expected rating, for every k in ``topk``.
    """
    probs, classes = _check_probs(probs, classes)
    users = _as_1d("users", users, probs.shape[0])
    true = _as_float_1d("true_ratings", true_ratings, probs.shape[0])
    ks = _check_topk(topk)
    groups = _group_users(users)
    ideal = _rank_within_user(groups, true)  # shared by both ranking metrics
    result = _faithful(groups, true, argmax_rating(probs, classes), ks, hrcutoff, ideal)
    result.update(rating_metrics(true, probs, classes))
    std_ndcg = _tie_aware(groups, true, expected_rating(probs, classes), ks, ideal)
    result.update({f"std_ndcg@{k}": value for k, value in std_ndcg.items()})
    logger.debug("evaluated %d rows of %d users: %s", len(true), groups.n_users, result)
    return {name: float(value) for name, value in result.items()}


def per_user_metrics(
    users: Sequence | np.ndarray,
    true_ratings: Sequence | np.ndarray,
    classes_predicted: Sequence | np.ndarray,
    scores: Sequence | np.ndarray,
    topk: Iterable[int] = DEFAULT_TOPK,
    hrcutoff: float = DEFAULT_HRCUTOFF,
) -> pd.DataFrame:
    """Each user's metrics, one row per user (indexed by user id, in first-seen order): the faithful ``hr@k`` and
    ``ndcg@k`` of the predicted classes (NaN for a user with fewer than k test rows, as the reference skips them),
    the tie-aware ``std_ndcg@k`` and the user's ``rmse`` and ``mae`` of ``scores`` (a continuous rating: ARERec's
    expected rating, a baseline's prediction), and ``n`` rows.

    The nanmean of a faithful or standard NDCG column is what :func:`evaluate_predictions` reports; a user's RMSE is
    over that user's rows, so their mean is not the RMSE over all rows. A test over users (:mod:`arerec.evaluate.claims`)
    pairs two models' rows of this table.
    """
    users = _as_1d("users", users)
    true = _as_float_1d("true_ratings", true_ratings, len(users))
    pred = _as_float_1d("classes_predicted", classes_predicted, len(users))
    score = _as_float_1d("scores", scores, len(users))
    ks = _check_topk(topk)
    groups = _group_users(users)
    ideal = _rank_within_user(groups, true)
    columns: dict[str, np.ndarray] = {"n": groups.counts.astype(np.int64)}
    columns.update(_faithful_per_user(groups, true, pred, ks, hrcutoff, ideal))
    columns.update({f"std_ndcg@{k}": v for k, v in _tie_aware_per_user(groups, true, score, ks, ideal).items()})
    error = score - true
    columns["rmse"] = np.sqrt(np.bincount(groups.codes, weights=error**2) / groups.counts)
    columns["mae"] = np.bincount(groups.codes, weights=np.abs(error)) / groups.counts
    return pd.DataFrame(columns, index=pd.Index(groups.uniques, name="user"))


@dataclass(frozen=True)
class RepeatedPairs:
    """Test rows grouped by (user, item), as the original's per-user dict keyed by item sees them.

    Python's dict keeps a key at its first insertion and overwrites its value on each later one,
    so a repeated (user, item) pair counts once, at the row where it first occurs, with the values
    of the row where it last occurs.
    """

    first: np.ndarray  # [P] row of each distinct pair's first occurrence, ascending
    last: np.ndarray  # [P] row of the same pair's last occurrence
    n_rows: int  # rows before grouping
    n_repeated: int  # distinct pairs that occur on more than one row

    @property
    def n_dropped(self) -> int:
        return self.n_rows - len(self.first)

    def describe(self) -> str:
        return (f"{self.n_repeated} (user, item) pair(s) occur on more than one row ({self.n_dropped} extra row(s)); "
                "as the original's per-user dict, the faithful metrics count each pair once, at its first row, "
                "with the rating and prediction of its last row; the standard metrics score every row")


def repeated_pairs(users: Sequence | np.ndarray, items: Sequence | np.ndarray) -> RepeatedPairs:
    """Find the repeated (user, item) pairs among the test rows; see :class:`RepeatedPairs`.

    Args:
        users: [N] user id of each test row (any hashable values).
        items: [N] item id of each test row.
    """
    users = _as_1d("users", users)
    items = _as_1d("items", items, len(users))
    user_codes = pd.factorize(users, use_na_sentinel=False)[0].astype(np.int64)
    item_codes, item_uniques = pd.factorize(items, use_na_sentinel=False)
    pair = user_codes * max(len(item_uniques), 1) + item_codes  # [N] one code per distinct (user, item)
    n = len(pair)
    _, first, counts = np.unique(pair, return_index=True, return_counts=True)  # first index of each code
    _, from_end = np.unique(pair[::-1], return_index=True)  # same code order, counted from the end
    last = n - 1 - from_end
    order = np.argsort(first, kind="stable")
    return RepeatedPairs(first=first[order], last=last[order], n_rows=n, n_repeated=int(np.sum(counts > 1)))


def score_predictions(
    users: Sequence | np.ndarray,
    true_ratings: Sequence | np.ndarray,
    predictions: Sequence | np.ndarray,
    topk: Iterable[int] = DEFAULT_TOPK,
    hrcutoff: float = DEFAULT_HRCUTOFF,
    *,
    items: Sequence | np.ndarray | None = None,
) -> dict[str, dict[str, float]]:
    """Score any model's predicted ratings, in test-file order, with the paper's and standard metrics.

    ``faithful`` is :func:`faithful_hr_ndcg` with the predictions as given (their ties and row
    order decide, as in the reference). ``standard`` has RMSE and MAE of the predictions, the
    accuracy of the nearest rating value, and the tie-aware NDCG@k.

    When ``items`` ([N] item id of each row) is given, the faithful metrics see each user's rows as
    the original's dict keyed by item does: a repeated (user, item) pair counts once, at its first
    row, with the rating and prediction of its last row (:func:`repeated_pairs`), and a warning
    says how many pairs were repeated. The standard metrics always score every row.
    """
    true = _as_float_1d("true_ratings", true_ratings, len(true_ratings))
    pred = _as_float_1d("predictions", predictions, len(true))
    users = _as_1d("users", users, len(true))
    ks = _check_topk(topk)
    classes = np.unique(true)
    nearest = classes[np.abs(pred[:, None] - classes[None, :]).argmin(axis=1)]
    standard = {
        "rmse": _rmse(pred - true),
        "mae": float(np.mean(np.abs(pred - true))),
        "accuracy": float(np.mean(np.isclose(nearest, true))),
        **{f"std_ndcg@{k}": tie_aware_ndcg(users, true, pred, k) for k in ks},
    }
    faithful_users, faithful_true, faithful_pred = users, true, pred
    if items is not None:
        pairs = repeated_pairs(users, _as_1d("items", items, len(true)))
        if pairs.n_repeated:
            logger.warning(pairs.describe())
            faithful_users, faithful_true, faithful_pred = users[pairs.first], true[pairs.last], pred[pairs.last]
    return {"faithful": faithful_hr_ndcg(faithful_users, faithful_true, faithful_pred, ks, hrcutoff),
            "standard": {k: float(v) for k, v in standard.items()}}
