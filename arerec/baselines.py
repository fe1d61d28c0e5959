"""Classic rating-prediction baselines, scored on the same split and with the same metrics as ARERec.

Every baseline is a class with ``fit(users, items, ratings) -> self`` and
``predict(users, items) -> np.ndarray`` (one float per row). Ids may be ints or strings. A user
or item unseen at fit time gets no personal term, so the prediction falls back to the coarser
estimate (item mean -> global mean, mu + b_u + b_i -> mu + b_i, and so on).

ARERec predicts a class (1..5, or half stars); :func:`ratings_to_probs` turns a continuous
prediction into a one-hot distribution at the nearest class, so that the classification metrics
score a baseline exactly as they score the model.

Notation in the docstrings: ``mu`` is the global mean training rating, ``R(u)`` the items rated
by user ``u``, ``R(i)`` the users who rated item ``i``, ``n_u = |R(u)|`` and ``n_i = |R(i)|``.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits  # installed with scikit-learn

from arerec.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

RATING_COLUMNS = ("userId", "itemId", "rating")


# --- shared helpers -------------------------------------------------------------------------


def _id_index(ids: np.ndarray) -> pd.Index:
    """Distinct ids, sorted when they can be, so fitted attributes do not depend on row order."""
    index = pd.Index(ids).unique()
    try:
        return index.sort_values()
    except TypeError:  # mixed id types cannot be ordered; keep first-seen order
        return index


def _offsets(index: np.ndarray, values: np.ndarray, size: int, shrinkage: float) -> np.ndarray:
    """Per-group ``sum(values) / (count + shrinkage)``; groups without rows get 0."""
    sums = np.bincount(index, weights=values, minlength=size)  # [size]
    counts = np.bincount(index, minlength=size)  # [size]
    denom = counts + shrinkage
    return np.divide(sums, denom, out=np.zeros(size), where=denom > 0)


def _lookup(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``values[index]`` with 0 (or a zero row) where ``index`` is -1, i.e. an unseen id."""
    known = index >= 0
    out = np.zeros((len(index),) + values.shape[1:])
    out[known] = values[index[known]]
    return out


def _group_rows(owner: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Stable order of rows grouped by ``owner`` and CSR-style pointers: group g is ``order[ptr[g]:ptr[g+1]]``."""
    order = np.argsort(owner, kind="stable")  # [N]
    ptr = np.zeros(size + 1, dtype=np.int64)
    np.cumsum(np.bincount(owner, minlength=size), out=ptr[1:])
    return order, ptr


def _padded_groups(owner: np.ndarray, size: int, chunk: int = 64) -> list[tuple[np.ndarray, np.ndarray]]:
    """Owners in chunks of similar row counts, for batched linear algebra without a Python loop per owner.

    Returns ``[(owners [b], rows [b, L])]``: ``rows[g]`` lists the rows of ``owners[g]`` padded with
    ``len(owner)``, an index one past the last row, that callers point at a row of zeros.
    """
    order, ptr = _group_rows(owner, size)
    counts = np.diff(ptr)  # [S]
    by_count = np.argsort(counts, kind="stable")  # [S]: similar counts side by side, so little padding
    chunks = []
    for start in range(0, size, chunk):
        owners = by_count[start : start + chunk]  # [b]
        width = np.arange(counts[owners].max())  # [L]
        valid = width[None, :] < counts[owners][:, None]  # [b, L]
        rows = np.full(valid.shape, len(owner))  # [b, L]
        rows[valid] = order[(ptr[owners][:, None] + width[None, :])[valid]]
        chunks.append((owners, rows))
    return chunks


def _check_choice(name: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(map(repr, choices))}, received: {value!r}")


def _check_at_least(name: str, value: float, low: float) -> None:
    if not value >= low:
        raise ConfigError(f"{name} must be >= {low}, received: {value}")


# --- the common interface -------------------------------------------------------------------


class RatingBaseline:
    """Base class: maps ids to indices, then delegates to ``_fit_indexed`` / ``_predict_indexed``.

    Fitted attributes (all baselines): ``global_mean_`` (mu), ``user_ids_`` and ``item_ids_``
    (``pd.Index`` of the ids seen at fit time; position = internal index).
    """

    def fit(self, users: Sequence[Any], items: Sequence[Any], ratings: Sequence[float]) -> RatingBaseline:
        """Fit on rating rows; ``users``, ``items`` and ``ratings`` are equal-length 1-D arrays."""
        users, items = np.asarray(users), np.asarray(items)
        ratings = np.asarray(ratings, dtype=np.float64)
        if not (users.ndim == items.ndim == ratings.ndim == 1 and len(users) == len(items) == len(ratings)):
            raise ValueError(
                "users, items and ratings must be 1-D and of equal length, received shapes "
                f"{users.shape}, {items.shape}, {ratings.shape}"
            )
        if len(ratings) == 0:
            raise ValueError("cannot fit a baseline on 0 ratings")
        if not np.all(np.isfinite(ratings)):
            raise ValueError("ratings must be finite, received NaN or inf")
        self.user_ids_ = _id_index(users)
        self.item_ids_ = _id_index(items)
        self.global_mean_ = float(ratings.mean())
        self._fit_indexed(self.user_ids_.get_indexer(users), self.item_ids_.get_indexer(items), ratings)
        return self

    def predict(self, users: Sequence[Any], items: Sequence[Any]) -> np.ndarray:
        """Predicted rating per row, float64 ``[N]``; unseen ids fall back as the class docstring says."""
        if not hasattr(self, "global_mean_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted yet: call fit() first")
        users, items = np.asarray(users), np.asarray(items)
        if users.shape != items.shape or users.ndim != 1:
            raise ValueError(f"users and items must be 1-D and of equal length, received {users.shape}, {items.shape}")
        u = self.user_ids_.get_indexer(users) if len(users) else np.zeros(0, dtype=np.int64)
        i = self.item_ids_.get_indexer(items) if len(items) else np.zeros(0, dtype=np.int64)
        return self._predict_indexed(u, i)

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, enough to rebuild an unfitted copy: ``type(m)(**m.get_config())``."""
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {name: getattr(self, name) for name in names}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    def _fit_indexed(self, u: np.ndarray, i: np.ndarray, r: np.ndarray) -> None:
        """Fit on internal indices (``u`` in [0, n_users), ``i`` in [0, n_items))."""

    def _predict_indexed(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        """Predict on internal indices, -1 marking an id unseen at fit time."""
        raise NotImplementedError

    @property
    def n_users(self) -> int:
        return len(self.user_ids_)

    @property
    def n_items(self) -> int:
        return len(self.item_ids_)


class _AdditiveBaseline(RatingBaseline):
    """Predicts ``mu + b_u + b_i`` from the fitted ``user_bias_`` and ``item_bias_`` (0 for unseen ids)."""

    def _predict_indexed(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        return self.global_mean_ + _lookup(self.user_bias_, u) + _lookup(self.item_bias_, i)


class GlobalMean(RatingBaseline):
    """``r_hat(u, i) = mu``, the mean of all training ratings."""

    def __init__(self) -> None:
        pass

    def _predict_indexed(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        return np.full(len(u), self.global_mean_)


class ItemMean(_AdditiveBaseline):
    """``r_hat(u, i) = mu + sum_{v in R(i)} (r_vi - mu) / (n_i + shrinkage)``.

    With ``shrinkage = 0`` (the default) this is the plain mean rating of item ``i``; a positive
    ``shrinkage`` pulls rarely rated items toward ``mu``. An unseen item gets ``mu``.

    Args:
        shrinkage: pseudo-count of ``mu`` ratings added to every item, >= 0.
    """

    def __init__(self, shrinkage: float = 0.0) -> None:
        _check_at_least("shrinkage", shrinkage, 0.0)
        self.shrinkage = shrinkage

    def _fit_indexed(self, u: np.ndarray, i: np.ndarray, r: np.ndarray) -> None:
        self.user_bias_ = np.zeros(self.n_users)
        self.item_bias_ = _offsets(i, r - self.global_mean_, self.n_items, self.shrinkage)


class UserItemBias(_AdditiveBaseline):
    """Regularised biases: ``r_hat(u, i) = mu + b_u + b_i``.

    Fitted by ``n_iters`` rounds of alternating closed-form updates, each the exact minimiser of
    ``sum (r_ui - mu - b_u - b_i)^2 + reg_user * sum b_u^2 + reg_item * sum b_i^2`` in one block
    with the other held fixed (starting from ``b_u = 0``)::

        b_i = sum_{u in R(i)} (r_ui - mu - b_u) / (reg_item + n_i)
        b_u = sum_{i in R(u)} (r_ui - mu - b_i) / (reg_user + n_u)

    The regularisers act as damping: a bias estimated from few ratings is shrunk toward 0, as if
    ``reg`` extra ratings equal to the current baseline had been seen. The defaults (10, 15, 10
    rounds) are Koren's (TKDD 2010). An unseen user or item gets a bias of 0.

    Args:
        reg_user: damping of the user biases, >= 0.
        reg_item: damping of the item biases, >= 0.
        n_iters: rounds of (item update, user update), >= 1.
    """

    def __init__(self, reg_user: float = 15.0, reg_item: float = 10.0, n_iters: int = 10) -> None:
        _check_at_least("reg_user", reg_user, 0.0)
        _check_at_least("reg_item", reg_item, 0.0)
        _check_at_least("n_iters", n_iters, 1)
        self.reg_user = reg_user
        self.reg_item = reg_item
        self.n_iters = n_iters

    def _fit_indexed(self, u: np.ndarray, i: np.ndarray, r: np.ndarray) -> None:
        self.user_bias_, self.item_bias_ = _alternating_biases(
            u, i, r - self.global_mean_, self.n_users, self.n_items, self.reg_user, self.reg_item, self.n_iters
        )


def _alternating_biases(
    u: np.ndarray,
    i: np.ndarray,
    residual: np.ndarray,
    n_users: int,
    n_items: int,
    reg_user: float,
    reg_item: float,
    n_iters: int,
) -> tuple[np.ndarray, np.ndarray]:
    """``(b_u [U], b_i [I])`` after ``n_iters`` rounds of the updates in :class:`UserItemBias`; ``residual = r - mu``."""
    b_u = np.zeros(n_users)
    b_i = np.zeros(n_items)
    for _ in range(n_iters):
        b_i = _offsets(i, residual - b_u[u], n_items, reg_item)
        b_u = _offsets(u, residual - b_i[i], n_users, reg_user)
    return b_u, b_i


class BiasedMF(_AdditiveBaseline):
    """Biased matrix factorisation (SVD-style): ``r_hat(u, i) = mu + b_u + b_i + p_u . q_i``.

    Minimises, by alternating least squares (ALS) with weighted-lambda regularisation
    (Zhou et al. 2008),::

        sum_{(u,i)} (r_ui - mu - b_u - b_i - p_u . q_i)^2
            + reg * ( sum_u n_u (b_u^2 + |p_u|^2) + sum_i n_i (b_i^2 + |q_i|^2) )

    Each epoch solves every user's ``[b_u, p_u]`` exactly given the items (a ridge regression on
    ``[1, q_i]`` with target ``r_ui - mu - b_i``), then every item's ``[b_i, q_i]`` given the users.
    Weighting the penalty by ``n_u`` and ``n_i`` gives the same per-rating penalty as the usual SGD
    training. The only randomness is the initial ``q_i ~ N(0, init_std^2)`` from ``seed``, so a seed
    gives the same model every time. An unseen user or item contributes no bias and no factor.
    The default ``reg`` was picked on a validation split cut from ML-100K training rows: 0.12 to
    0.15 did best, 0.05 overfits badly (RMSE +0.06) and 0.25 underfits (+0.02).

    Args:
        n_factors: length of ``p_u`` and ``q_i``, >= 1.
        n_epochs: ALS epochs (one user pass plus one item pass each), >= 1.
        reg: weighted L2 penalty per rating, >= 0.
        init_std: standard deviation of the initial item factors, >= 0.
        seed: seed of the initial item factors.
    """

    def __init__(
        self, n_factors: int = 32, n_epochs: int = 20, reg: float = 0.12, init_std: float = 0.1, seed: int = 0
    ) -> None:
        _check_at_least("n_factors", n_factors, 1)
        _check_at_least("n_epochs", n_epochs, 1)
        _check_at_least("reg", reg, 0.0)
        _check_at_least("init_std", init_std, 0.0)
        self.n_factors = n_factors
        self.n_epochs = n_epochs
        self.reg = reg
        self.init_std = init_std
        self.seed = seed

    def _fit_indexed(self, u: np.ndarray, i: np.ndarray, r: np.ndarray) -> None:
        rng = np.random.default_rng(self.seed)
        k = self.n_factors
        user_w = np.zeros((self.n_users, k + 1))  # [U, 1+K]: column 0 is b_u, then p_u
        item_w = np.zeros((self.n_items, k + 1))  # [I, 1+K]: column 0 is b_i, then q_i
        item_w[:, 1:] = rng.normal(0.0, self.init_std, size=(self.n_items, k))
        residual = r - self.global_mean_  # [N]
        by_user = _padded_groups(u, self.n_users)
        by_item = _padded_groups(i, self.n_items)
        # Thousands of tiny products: BLAS threads only add overhead (and stall badly on a busy machine).
        with threadpool_limits(limits=1, user_api="blas"):
            for epoch in range(self.n_epochs):
                user_w = self._solve_side(item_w, i, residual, by_user)
                item_w = self._solve_side(user_w, u, residual, by_item)
                if logger.isEnabledFor(logging.DEBUG):
                    fit = user_w[u, 0] + item_w[i, 0] + np.einsum("nk,nk->n", user_w[u, 1:], item_w[i, 1:])
                    rmse = float(np.sqrt(np.mean((residual - fit) ** 2)))
                    logger.debug("BiasedMF epoch %d/%d: train RMSE %.4f", epoch + 1, self.n_epochs, rmse)
        self.user_bias_, self.user_factors_ = user_w[:, 0], user_w[:, 1:]  # [U], [U, K]
        self.item_bias_, self.item_factors_ = item_w[:, 0], item_w[:, 1:]  # [I], [I, K]

    def _predict_indexed(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        dot = np.einsum("nk,nk->n", _lookup(self.user_factors_, u), _lookup(self.item_factors_, i))  # [N]
        return super()._predict_indexed(u, i) + dot

    def _solve_side(
        self,
        other_w: np.ndarray,
        other: np.ndarray,
        residual: np.ndarray,
        groups: list[tuple[np.ndarray, np.ndarray]],
    ) -> np.ndarray:
        """Ridge solution of ``[b, p]`` for every user (or item), the other side held fixed.

        ``other[n]`` is the other side's index of rating ``n``; ``groups`` are the owners' rating
        rows from :func:`_padded_groups`.
        """
        n, (n_other, dim) = len(other), other_w.shape
        table = np.zeros((n_other + 1, dim))  # [O+1, 1+K]: [1, q_o] per other-side row, then zeros for padding
        table[:n_other, 0] = 1.0
        table[:n_other, 1:] = other_w[:, 1:]
        other_bias = np.append(other_w[:, 0], 0.0)  # [O+1]
        other_of_row = np.append(other, n_other)  # [N+1]: the padding row points at the zero entry
        residual = np.append(residual, 0.0)  # [N+1]
        size = sum(len(owners) for owners, _ in groups)
        gram = np.empty((size, dim, dim))  # [S, 1+K, 1+K]
        rhs = np.empty((size, dim))  # [S, 1+K]
        counts = np.empty(size)  # [S]
        for owners, rows in groups:
            idx = other_of_row[rows]  # [b, L]
            x = table[idx]  # [b, L, 1+K]
            target = residual[rows] - other_bias[idx]  # [b, L]: r - mu - b_other
            gram[owners] = np.matmul(x.transpose(0, 2, 1), x)  # [b, 1+K, 1+K]
            rhs[owners] = np.einsum("bl,bld->bd", target, x)  # [b, 1+K]
            counts[owners] = (rows < n).sum(axis=1)
        # weighted-lambda ridge; the tiny floor keeps the system solvable when reg = 0
        damping = np.maximum(self.reg * counts, 1e-9)  # [S]
        gram[:, np.arange(dim), np.arange(dim)] += damping[:, None]
        return np.linalg.solve(gram, rhs[..., None])[..., 0]  # [S, 1+K]


# --- neighbourhood models -------------------------------------------------------------------


class _NeighbourhoodModel(RatingBaseline):
    """kNN rating prediction, shared by :class:`ItemKNN` and :class:`UserKNN`.

    The code is written for ItemKNN ("owners" are users, "neighbours" are items); UserKNN is the
    same computation on the transposed matrix.
    """

    neighbours_are_items: bool = True

    def __init__(
        self,
        k: int = 40,
        similarity: str = "pearson",
        centering: str = "bias",
        shrinkage: float = 100.0,
        reg_user: float = 15.0,
        reg_item: float = 10.0,
        n_iters: int = 10,
    ) -> None:
        _check_at_least("k", k, 1)
        _check_choice("similarity", similarity, ("cosine", "pearson"))
        _check_choice("centering", centering, ("mean", "bias"))
        _check_at_least("shrinkage", shrinkage, 0.0)
        UserItemBias(reg_user, reg_item, n_iters)  # validates the baseline's arguments
        self.k = k
        self.similarity = similarity
        self.centering = centering
        self.shrinkage = shrinkage
        self.reg_user = reg_user
        self.reg_item = reg_item
        self.n_iters = n_iters

    def _fit_indexed(self, u: np.ndarray, i: np.ndarray, r: np.ndarray) -> None:
        self._fit_baseline(u, i, r)
        residual = r - self._baseline(u, i)  # [N]
        owner, neighbour = (u, i) if self.neighbours_are_items else (i, u)
        n_owners, n_neighbours = (
            (self.n_users, self.n_items) if self.neighbours_are_items else (self.n_items, self.n_users)
        )
        signal = residual if self.similarity == "pearson" else r
        self.similarity_ = _co_rated_cosine(owner, neighbour, signal, n_owners, n_neighbours, self.shrinkage)
        by_neighbour = np.argsort(neighbour, kind="stable")
        order, ptr = _group_rows(owner[by_neighbour], n_owners)
        order = by_neighbour[order]  # grouped by owner, each group in ascending neighbour index
        self._owner_ptr = ptr  # [O+1]
        self._owner_neighbours = neighbour[order]  # [N]: neighbours rated by each owner, grouped
        self._owner_residuals = residual[order]  # [N]

    def _fit_baseline(self, u: np.ndarray, i: np.ndarray, r: np.ndarray) -> None:
        """Fit ``user_bias_`` and ``item_bias_`` so that the baseline is ``mu + b_u + b_i``."""
        if self.centering == "bias":
            self.user_bias_, self.item_bias_ = _alternating_biases(
                u, i, r - self.global_mean_, self.n_users, self.n_items, self.reg_user, self.reg_item, self.n_iters
            )
            return
        # centering == "mean": the neighbour's own mean rating (item mean for ItemKNN, user mean for UserKNN)
        self.user_bias_ = np.zeros(self.n_users)
        self.item_bias_ = np.zeros(self.n_items)
        if self.neighbours_are_items:
            self.item_bias_ = _offsets(i, r - self.global_mean_, self.n_items, 0.0)
        else:
            self.user_bias_ = _offsets(u, r - self.global_mean_, self.n_users, 0.0)

    def _baseline(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        return self.global_mean_ + _lookup(self.user_bias_, u) + _lookup(self.item_bias_, i)

    def _predict_indexed(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        pred = self._baseline(u, i)  # [N]
        owner, target = (u, i) if self.neighbours_are_items else (i, u)
        rows = np.flatnonzero((owner >= 0) & (target >= 0))
        if len(rows) == 0:
            return pred
        rows = rows[np.argsort(owner[rows], kind="stable")]
        starts = np.flatnonzero(np.r_[True, np.diff(owner[rows]) != 0])
        ends = np.r_[starts[1:], len(rows)]
        with threadpool_limits(limits=1, user_api="blas"):  # many small products, as in BiasedMF
            for start, end in zip(starts, ends, strict=True):
                group = rows[start:end]
                pred[group] += self._neighbour_term(owner[group[0]], target[group])
        return pred

    def _neighbour_term(self, owner: int, targets: np.ndarray) -> np.ndarray:
        """``sum_j s_tj z_oj / sum_j s_tj`` over the top-k positive-similarity neighbours j of each target."""
        lo, hi = self._owner_ptr[owner], self._owner_ptr[owner + 1]
        rated = self._owner_neighbours[lo:hi]  # [M]
        z = self._owner_residuals[lo:hi]  # [M]
        sims = self.similarity_[np.ix_(targets, rated)]  # [T, M]
        weights = np.maximum(sims, 0.0)  # [T, M]: non-positive similarities are not neighbours
        if len(rated) > self.k:
            weights *= _top_k_mask(sims, self.k)
        total = weights.sum(axis=1)  # [T]
        weighted = weights @ z  # [T]
        return np.divide(weighted, total, out=np.zeros(len(targets)), where=total > 0)


def _top_k_mask(values: np.ndarray, k: int) -> np.ndarray:
    """``[T, M]`` 0/1 mask of the ``k`` largest entries of each row, ties going to the lower column.

    A partition finds each row's k-th largest value, so this is linear in ``M`` (a sort is not) and,
    unlike ``argpartition``, picks the same entries on every numpy version.
    """
    m = values.shape[1]
    kth = np.partition(values, m - k, axis=1)[:, m - k : m - k + 1]  # [T, 1]: the k-th largest value
    above = values > kth  # [T, M]
    tied = values == kth  # [T, M]
    room = k - above.sum(axis=1, keepdims=True)  # [T, 1]: places left for entries equal to kth (>= 1)
    return above | (tied & (np.cumsum(tied, axis=1) <= room))


def _co_rated_cosine(
    owner: np.ndarray, neighbour: np.ndarray, x: np.ndarray, n_owners: int, n_neighbours: int, shrinkage: float
) -> np.ndarray:
    """Shrunk cosine between neighbours' columns of ``x``, each norm taken over co-rating owners only.

    ``s_ij = n_ij / (n_ij + shrinkage) * sum_o x_oi x_oj / sqrt(sum_o x_oi^2 * sum_o x_oj^2)``, the
    sums over owners ``o`` who rated both ``i`` and ``j``, ``n_ij`` their number. The diagonal is 0
    so that a neighbour never votes for itself. Dense float64 ``[J, J]``.
    """
    values = np.zeros((n_owners, n_neighbours))  # [O, J]
    rated = np.zeros((n_owners, n_neighbours))  # [O, J] 1 where rated
    values[owner, neighbour] = x
    rated[owner, neighbour] = 1.0
    sims = values.T @ values  # [J, J]
    values *= values
    sq_norms = values.T @ rated  # [J, J]: sum of x_oi^2 over owners who also rated j
    del values
    denom = sq_norms * sq_norms.T
    del sq_norms
    np.sqrt(denom, out=denom)
    np.divide(sims, denom, out=sims, where=denom > 0)
    sims[denom <= 0] = 0.0
    del denom
    if shrinkage > 0:
        support = rated.T @ rated  # [J, J]: n_ij
        support /= support + shrinkage
        sims *= support
    np.fill_diagonal(sims, 0.0)
    return sims


_KNN_DOC = """{kind}-based kNN rating prediction with baseline-adjusted ratings.

    ``{formula}`` where ``N`` holds the {neighbours} {rule}.

    - ``b_ui = mu + b_u + b_i`` is the baseline. ``centering='bias'`` fits it as
      :class:`UserItemBias` (``reg_user``, ``reg_item``, ``n_iters``); ``centering='mean'`` uses
      the {kind_l}'s own mean rating, ``b_ui = mean_{idx}`` (``mu`` when unseen){resnick}.
    - ``s`` is the cosine between two {neighbours}' rating vectors, both norms taken only over the
      {co} (``n`` of them), times ``n / (n + shrinkage)``.
      ``similarity='pearson'`` applies it to the baseline-adjusted ratings ``r - b`` (the Pearson
      correlation about each {kind_l}'s baseline; Koren's pearson-baseline when centering is
      'bias'); ``'cosine'`` applies it to the raw ratings.
    - ``N`` keeps the ``k`` most similar of those {neighbours} with positive similarity (ties go to
      the {kind_l} that sorts first by id). With none (or with an unseen user or item) the
      prediction is the baseline.

    Memory is ``O(n_{owners} * n_{neighbours} + n_{neighbours}^2)`` floats: sized for ML-100K and ML-1M.

    Args:
        k: number of neighbours, >= 1.
        similarity: 'pearson' (baseline-adjusted ratings) or 'cosine' (raw ratings).
        centering: 'bias' (mu + b_u + b_i) or 'mean' (the {kind_l} mean).
        shrinkage: support shrinkage of the similarities, >= 0 (0: none).
        reg_user, reg_item, n_iters: the :class:`UserItemBias` baseline, used when centering is 'bias'.
    """


class ItemKNN(_NeighbourhoodModel):
    __doc__ = _KNN_DOC.format(
        kind="Item",
        kind_l="item",
        idx="i",
        formula="r_hat(u, i) = b_ui + sum_{j in N} s_ij (r_uj - b_uj) / sum_{j in N} s_ij",
        rule="``j`` rated by ``u``",
        resnick="",
        owners="users",
        neighbours="items",
        co="users who rated both",
    )
    neighbours_are_items = True


class UserKNN(_NeighbourhoodModel):
    __doc__ = _KNN_DOC.format(
        kind="User",
        kind_l="user",
        idx="u",
        formula="r_hat(u, i) = b_ui + sum_{v in N} s_uv (r_vi - b_vi) / sum_{v in N} s_uv",
        rule="``v`` who rated ``i``",
        resnick=", which with 'pearson' is Resnick's classic formula",
        owners="items",
        neighbours="users",
        co="items both rated",
    )
    neighbours_are_items = False


# --- registry, class distributions and the runner -------------------------------------------

BASELINES: dict[str, Callable[[int], RatingBaseline]] = {
    "global_mean": lambda seed: GlobalMean(),
    "item_mean": lambda seed: ItemMean(),
    "user_item_bias": lambda seed: UserItemBias(),
    "biased_mf": lambda seed: BiasedMF(seed=seed),
    "item_knn": lambda seed: ItemKNN(),
    "user_knn": lambda seed: UserKNN(),
}
"""Name -> factory: ``BASELINES[name](seed)`` is an unfitted baseline with the default settings."""


def _check_classes(classes: Sequence[float]) -> np.ndarray:
    classes = np.asarray(classes, dtype=np.float64)
    if classes.ndim != 1 or len(classes) == 0 or not np.all(np.isfinite(classes)):
        raise ValueError(f"classes must be a non-empty 1-D list of finite ratings, received: {classes!r}")
    if len(np.unique(classes)) != len(classes):
        raise ValueError(f"classes must be distinct, received: {classes.tolist()}")
    return classes


def clip_to_range(pred: np.ndarray, classes: Sequence[float]) -> np.ndarray:
    """``pred`` clipped to ``[min(classes), max(classes)]``, float64."""
    classes = _check_classes(classes)
    return np.clip(np.asarray(pred, dtype=np.float64), classes.min(), classes.max())


def ratings_to_probs(pred: np.ndarray, classes: Sequence[float]) -> np.ndarray:
    """One-hot class distribution ``[N, C]`` at the class nearest to each predicted rating.

    Column ``c`` belongs to ``classes[c]`` (any order), so ``classes[argmax]`` is the nearest
    class. A prediction half-way between two classes goes to the lower one.
    """
    classes = _check_classes(classes)
    pred = np.asarray(pred, dtype=np.float64)
    if pred.ndim != 1:
        raise ValueError(f"pred must be 1-D, received shape {pred.shape}")
    if not np.all(np.isfinite(pred)):
        raise ValueError("pred must be finite, received NaN or inf")
    ascending = np.argsort(classes)  # [C]
    distance = np.abs(pred[:, None] - classes[ascending][None, :])  # [N, C], columns in ascending order
    nearest = ascending[np.argmin(distance, axis=1)]  # [N]: argmin takes the first, i.e. lower, of a tie
    probs = np.zeros((len(pred), len(classes)))
    probs[np.arange(len(pred)), nearest] = 1.0
    return probs


def _check_frame(frame: pd.DataFrame, name: str) -> None:
    missing = [c for c in RATING_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"{name} lacks column(s) {missing}; it needs {list(RATING_COLUMNS)}, has {list(frame.columns)}")


def fit_predict(
    name: str, train_df: pd.DataFrame, test_df: pd.DataFrame, seed: int = 0, clip: bool = True
) -> tuple[np.ndarray, float]:
    """Fit baseline ``name`` on ``train_df`` and predict ``test_df``; returns ``(pred [N], seconds)``.

    With ``clip`` the predictions are clipped to the range of the training ratings.
    """
    if name not in BASELINES:
        raise ConfigError(f"unknown baseline {name!r}; valid names: {', '.join(BASELINES)}")
    _check_frame(train_df, "train_df")
    _check_frame(test_df, "test_df")
    started = time.perf_counter()
    model = BASELINES[name](seed)
    model.fit(train_df["userId"].to_numpy(), train_df["itemId"].to_numpy(), train_df["rating"].to_numpy())
    pred = model.predict(test_df["userId"].to_numpy(), test_df["itemId"].to_numpy())
    if clip:
        pred = clip_to_range(pred, np.unique(train_df["rating"].to_numpy(dtype=np.float64)))
    return pred, time.perf_counter() - started


def run_baselines(
    train_df: pd.DataFrame,
    test_df: pd.DataFrame,
    names: Sequence[str] | None = None,
    seed: int = 0,
    clip: bool = True,
) -> dict[str, np.ndarray]:
    """Predictions for the rows of ``test_df`` from each baseline in ``names`` (default: all).

    Both frames have columns ``userId``, ``itemId``, ``rating``. Returns ``{name: pred [N]}`` in
    the order of ``names``; the fit+predict time of each is logged at INFO level.
    """
    names = list(BASELINES) if names is None else list(names)
    unknown = [n for n in names if n not in BASELINES]
    if unknown:
        raise ConfigError(f"unknown baseline(s) {unknown}; valid names: {', '.join(BASELINES)}")
    results: dict[str, np.ndarray] = {}
    for name in names:
        results[name], seconds = fit_predict(name, train_df, test_df, seed=seed, clip=clip)
        logger.info("baseline %s: fit+predict on %d/%d rows in %.2f s", name, len(train_df), len(test_df), seconds)
    return results
