"""Classic rating-prediction baselines, scored on the same split and with the same metrics as ARERec.

Four baselines are scikit-surprise's algorithms, the field's reference implementations:

==================  ================================================  ==========================================
name                prediction ``r_hat(u, i)``                        implementation
==================  ================================================  ==========================================
``user_item_bias``  ``mu + b_u + b_i``                                ``surprise.BaselineOnly``, ALS
``biased_mf``       ``mu + b_u + b_i + p_u . q_i``                    ``surprise.SVD`` (biased MF by SGD)
``item_knn``        ``b_ui + sum_j s_ij (r_uj - b_uj) / sum_j s_ij``  ``surprise.KNNBaseline``, item-based
``user_knn``        ``b_ui + sum_v s_uv (r_vi - b_vi) / sum_v s_uv``  ``surprise.KNNBaseline``, user-based
==================  ================================================  ==========================================

Two are our own, because Surprise has no algorithm for them:

- ``global_mean`` (``r_hat = mu``): Surprise's algorithms fall back to ``mu`` only when a
  prediction is impossible; none predicts it for every pair (``NormalPredictor`` draws random
  ratings around it).
- ``item_mean`` (``r_hat = mu + sum_{v in R(i)} (r_vi - mu) / (n_i + shrinkage)``, the plain
  item mean when ``shrinkage = 0``): Surprise has no item-mean predictor. ``BaselineOnly``'s
  ``b_i`` is damped and fitted jointly with ``b_u``, and ``KNNWithMeans`` adds a neighbour term.
- ``global_mode`` and ``item_mode``: the most frequent training rating, overall or per item (an unseen item gets the
  global mode; a tie goes to the rating nearest the item's mean, then to the lower). They are the class floors of
  the faithful metric, which scores ARERec's argmax class: a model that has learned nothing per item predicts the
  global mode, the class prior, for every row (issue 29).

``mu`` is the mean training rating, ``R(i)`` the users who rated item ``i`` and ``n_i = |R(i)|``.
In the kNN models ``b_ui`` is the ALS baseline of ``user_item_bias``, and the neighbours are the
``k`` most similar items rated by ``u`` (users who rated ``i``), of which those with a
non-positive similarity are dropped. The similarity defaults to Surprise's 'pearson_baseline'
(Pearson correlation of ``r - b`` over co-raters, shrunk by support): of Surprise's four it is
the one that reproduces the kit's former own kNN (ML-100K clean test RMSE 0.9748 user-based and
0.9829 item-based, against 0.9748 and 0.9819; 'msd', 'pearson' and 'cosine' give 0.975 to 1.001).

Each baseline takes hyper-parameters (:data:`BASELINES` ``[name].params``, with Surprise's
defaults), passed as ``params`` to :func:`fit_predict`. An unknown name or an impossible value is
a :class:`~arerec.errors.ConfigError` that names the baseline, the key and the valid keys or
values. Each baseline's hyper-parameters are searched on a validation split by its own Optuna study
(:mod:`arerec.sweeps.tuning`; the ranges are in ``params/ablation.yaml``).

An id unseen at fit time gets Surprise's own fallback: its bias and factor terms are 0, so the
prediction is ``mu + b_i`` for an unseen user, ``mu + b_u`` for an unseen item, and for kNN the
baseline ``b_ui`` (``mu`` for ``item_mean`` and an unseen item).

ARERec predicts a class (1..5, or half stars); :func:`ratings_to_probs` turns a continuous
prediction into a one-hot distribution at the nearest class, so that the classification metrics
score a baseline exactly as they score the model.
"""

from __future__ import annotations

import difflib
import logging
import math
import numbers
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import surprise

from arerec.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

RATING_COLUMNS = ("userId", "itemId", "rating")

Params = dict[str, Any]


# --- hyper-parameters -----------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    """One hyper-parameter: its default, its meaning and the values it may take.

    ``kind`` is ``int``, ``float`` (an int is accepted too) or ``str`` (one of ``choices``).
    Numbers must be ``>= low``, or ``> low`` when ``strict``.
    """

    default: Any
    meaning: str
    kind: type = float
    low: float = 0.0
    strict: bool = False
    choices: tuple[str, ...] = ()

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is impossible (e.g. 'must be an integer >= 1'), or None when it is valid."""
        if self.kind is str:
            return None if value in self.choices else f"must be one of {', '.join(map(repr, self.choices))}"
        bound = f"{'>' if self.strict else '>='} {self.low:g}"
        number = numbers.Integral if self.kind is int else numbers.Real
        wanted = f"must be {'an integer' if self.kind is int else 'a number'} {bound}"
        if isinstance(value, bool) or not isinstance(value, number) or not math.isfinite(value):
            return wanted
        if value < self.low or (self.strict and value == self.low):
            return wanted
        return None


def _als_params(prefix: str = "", of: str = "") -> dict[str, Param]:
    """The ALS bias baseline ``mu + b_u + b_i`` (Surprise's ``bsl_options``; Koren's defaults)."""
    return {
        f"{prefix}reg_u": Param(15.0, f"damping of the user biases{of}"),
        f"{prefix}reg_i": Param(10.0, f"damping of the item biases{of}"),
        f"{prefix}n_epochs": Param(10, f"ALS rounds of the biases{of}", int, low=1),
    }


_SIMILARITIES = ("pearson_baseline", "pearson", "cosine", "msd")

_KNN_PARAMS = {
    "k": Param(40, "most neighbours used per prediction", int, low=1),
    "min_k": Param(1, "fewest positive-similarity neighbours for a neighbour term (else the baseline)", int, low=1),
    "similarity": Param("pearson_baseline", "Surprise's similarity measure", str, choices=_SIMILARITIES),
    "shrinkage": Param(100.0, "support shrinkage of 'pearson_baseline': s * (n - 1) / (n - 1 + shrinkage)"),
    "min_support": Param(1, "fewest common raters (items, for user-kNN) for a similarity other than 0", int, low=1),
    **_als_params("bsl_", " in the baseline b_ui"),
}

_SVD_PARAMS = {
    "n_factors": Param(100, "length of p_u and q_i", int, low=1),
    "n_epochs": Param(20, "SGD passes over the training ratings", int, low=1),
    "lr_all": Param(0.005, "SGD learning rate of every term", strict=True),
    "reg_all": Param(0.02, "L2 penalty of every term, per rating"),
    "init_std_dev": Param(0.1, "standard deviation of the initial factors"),
}


# --- our own baselines: what Surprise lacks -------------------------------------------------


def _global_mean(train: pd.DataFrame, test: pd.DataFrame, params: Params) -> np.ndarray:
    return np.full(len(test), train["rating"].to_numpy(np.float64).mean())


def _item_mean(train: pd.DataFrame, test: pd.DataFrame, params: Params) -> np.ndarray:
    ratings = train["rating"].to_numpy(np.float64)
    mu = ratings.mean()
    residuals = pd.Series(ratings - mu).groupby(train["itemId"].to_numpy(), sort=False)  # sort=False: mixed id types
    offset = residuals.sum() / (residuals.count() + params["shrinkage"])  # [I]
    return mu + test["itemId"].map(offset).fillna(0.0).to_numpy(np.float64)  # an unseen item gets mu


def _modes(ratings: pd.DataFrame, by: str | None) -> pd.Series:
    """The modal rating per ``by`` group (one value for None): the most frequent, then the one nearest the group's
    mean rating, then the lower. Stable sorts only, so every machine picks the same mode."""
    key = ratings[by] if by is not None else pd.Series(0, index=ratings.index)
    frame = pd.DataFrame({"group": key.to_numpy(), "rating": ratings["rating"].to_numpy(np.float64)})
    counts = frame.groupby(["group", "rating"], sort=True).size().rename("count").reset_index()
    counts["distance"] = (counts["rating"] - counts["group"].map(frame.groupby("group")["rating"].mean())).abs()
    counts = counts.sort_values(["group", "count", "distance", "rating"], ascending=[True, False, True, True],
                                kind="stable")
    return counts.drop_duplicates("group").set_index("group")["rating"]


def _global_mode(train: pd.DataFrame, test: pd.DataFrame, params: Params) -> np.ndarray:
    return np.full(len(test), float(_modes(train, None).iloc[0]))


def _item_mode(train: pd.DataFrame, test: pd.DataFrame, params: Params) -> np.ndarray:
    fallback = float(_modes(train, None).iloc[0])
    return test["itemId"].map(_modes(train, "itemId")).fillna(fallback).to_numpy(np.float64)


# --- Surprise's algorithms ------------------------------------------------------------------


def _bsl_options(params: Params, prefix: str = "") -> dict[str, Any]:
    return {"method": "als", "reg_u": params[f"{prefix}reg_u"], "reg_i": params[f"{prefix}reg_i"],
            "n_epochs": params[f"{prefix}n_epochs"]}


def _baseline_only(params: Params, seed: int) -> surprise.AlgoBase:
    return surprise.BaselineOnly(bsl_options=_bsl_options(params), verbose=False)


def _svd(params: Params, seed: int) -> surprise.AlgoBase:
    return surprise.SVD(biased=True, random_state=seed, **params)


def _knn_baseline(user_based: bool) -> Callable[[Params, int], surprise.AlgoBase]:
    def build(params: Params, seed: int) -> surprise.AlgoBase:
        sim_options = {"name": params["similarity"], "user_based": user_based, "shrinkage": params["shrinkage"],
                       "min_support": params["min_support"]}
        return surprise.KNNBaseline(k=params["k"], min_k=params["min_k"], sim_options=sim_options,
                                    bsl_options=_bsl_options(params, "bsl_"), verbose=False)

    return build


# --- the registry ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Baseline:
    """One baseline: its implementation and hyper-parameters.

    Exactly one of ``build_surprise`` (``(params, seed) -> unfitted Surprise algorithm``) and
    ``predict_own`` (``(train, test, params) -> predictions``) is set.
    """

    implementation: str
    params: Mapping[str, Param] = field(default_factory=dict)
    build_surprise: Callable[[Params, int], surprise.AlgoBase] | None = None
    predict_own: Callable[[pd.DataFrame, pd.DataFrame, Params], np.ndarray] | None = None


BASELINES: dict[str, Baseline] = {
    "global_mean": Baseline("arerec (Surprise has no global-mean predictor)", predict_own=_global_mean),
    "item_mean": Baseline(
        "arerec (Surprise has no item-mean predictor)",
        {"shrinkage": Param(0.0, "pseudo-count of mu ratings added to every item (0: the plain item mean)")},
        predict_own=_item_mean,
    ),
    "global_mode": Baseline("arerec: the most frequent training rating (the class prior)", predict_own=_global_mode),
    "item_mode": Baseline("arerec: each item's most frequent training rating", predict_own=_item_mode),
    "user_item_bias": Baseline("surprise.BaselineOnly (ALS)", _als_params(), build_surprise=_baseline_only),
    "biased_mf": Baseline("surprise.SVD (biased, SGD)", _SVD_PARAMS, build_surprise=_svd),
    "item_knn": Baseline("surprise.KNNBaseline (item-based)", _KNN_PARAMS, build_surprise=_knn_baseline(False)),
    "user_knn": Baseline("surprise.KNNBaseline (user-based)", _KNN_PARAMS, build_surprise=_knn_baseline(True)),
}
"""Name -> :class:`Baseline`; ``BASELINES[name].params`` lists its hyper-parameters and defaults."""

def describe_baselines() -> pd.DataFrame:
    """One row per (baseline, hyper-parameter): implementation, default and meaning."""
    rows = []
    for name, spec in BASELINES.items():
        base = {"model": name, "implementation": spec.implementation}
        rows += [{**base, "param": key, "default": p.default, "meaning": p.meaning} for key, p in spec.params.items()]
        if not spec.params:
            rows.append({**base, "param": None, "default": None, "meaning": "no parameters"})
    return pd.DataFrame(rows)


def _check_name(name: str) -> Baseline:
    if name not in BASELINES:
        raise ConfigError(f"unknown baseline {name!r}; valid names: {', '.join(BASELINES)}")
    return BASELINES[name]


def _unknown_key(name: str, key: Any, valid: Sequence[str]) -> ConfigError:
    close = difflib.get_close_matches(str(key), valid, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    listed = ", ".join(valid) if valid else "none: it takes no parameters"
    return ConfigError(f"{name}: unknown parameter {key!r}{hint}; valid parameters: {listed}")


def resolve_params(name: str, params: Mapping[str, Any] | None = None) -> Params:
    """The complete settings of baseline ``name``: its defaults overridden by ``params``, checked.

    Raises ConfigError for an unknown baseline or key, an impossible value, ``min_k > k``, or a
    ``shrinkage`` given with a kNN similarity other than 'pearson_baseline' (it would be ignored).
    """
    spec = _check_name(name)
    params = {} if params is None else params
    if not isinstance(params, Mapping):
        raise ConfigError(f"{name}: params must be a mapping of parameter -> value, received: {params!r}")
    valid = list(spec.params)
    for key, value in params.items():
        if key not in spec.params:
            raise _unknown_key(name, key, valid)
        problem = spec.params[key].problem(value)
        if problem:
            raise ConfigError(f"{name}: {key} {problem}, received: {value!r}")
    settings = {key: p.default for key, p in spec.params.items()} | dict(params)
    if "min_k" in settings and settings["min_k"] > settings["k"]:
        raise ConfigError(f"{name}: min_k must be <= k, received: min_k={settings['min_k']}, k={settings['k']}")
    if "shrinkage" in params and settings.get("similarity", "pearson_baseline") != "pearson_baseline":
        raise ConfigError(f"{name}: shrinkage applies only to similarity 'pearson_baseline', "
                          f"received: similarity={settings['similarity']!r}")
    return settings


# --- fitting and predicting -----------------------------------------------------------------


def _check_frame(frame: pd.DataFrame, name: str) -> None:
    missing = [c for c in RATING_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"{name} lacks column(s) {missing}; it needs {list(RATING_COLUMNS)}, has {list(frame.columns)}")


def _check_train(train_df: pd.DataFrame) -> None:
    _check_frame(train_df, "train_df")
    if len(train_df) == 0:
        raise DataError("train_df has no rows: cannot fit a baseline on 0 ratings")
    if not np.all(np.isfinite(train_df["rating"].to_numpy(np.float64))):
        raise DataError("train_df ratings must be finite, received NaN or inf")


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed < 2**32:
        raise ConfigError(f"seed must be an integer in [0, 2**32), received: {seed!r}")
    return int(seed)


def fit_surprise(name: str, train_df: pd.DataFrame, seed: int = 0, params: Mapping[str, Any] | None = None
                 ) -> surprise.AlgoBase:
    """Surprise's algorithm for baseline ``name``, fitted on every row of ``train_df``.

    The rating scale is the range of the training ratings. Raises ConfigError for a baseline
    that is our own (``global_mean``, ``item_mean``).
    """
    spec = _check_name(name)
    if spec.build_surprise is None:
        surprise_names = [n for n, s in BASELINES.items() if s.build_surprise is not None]
        raise ConfigError(f"{name} is not a Surprise algorithm; those are: {', '.join(surprise_names)}")
    settings = resolve_params(name, params)
    _check_train(train_df)
    ratings = train_df["rating"].to_numpy(np.float64)
    frame = pd.DataFrame({"userId": train_df["userId"].to_numpy(), "itemId": train_df["itemId"].to_numpy(),
                          "rating": ratings})
    reader = surprise.Reader(rating_scale=(float(ratings.min()), float(ratings.max())))
    trainset = surprise.Dataset.load_from_df(frame, reader).build_full_trainset()
    return spec.build_surprise(settings, _check_seed(seed)).fit(trainset)


def _inner_ids(raw: np.ndarray, n_known: int, to_raw: Callable[[int], Any]) -> np.ndarray:
    """Surprise's inner id of each raw id, -1 for an id unseen at fit time."""
    known = pd.Index([to_raw(inner) for inner in range(n_known)])
    return known.get_indexer(raw) if len(raw) else np.zeros(0, dtype=np.int64)


def _take(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``values[index]``, 0 where ``index`` is -1 (an unseen id)."""
    return np.where(index >= 0, values[np.maximum(index, 0)], 0.0)


def predict_surprise(algo: surprise.AlgoBase, test_df: pd.DataFrame) -> np.ndarray:
    """Unclipped ``algo.predict(u, i).est`` for every row of ``test_df``, float64 ``[N]``.

    For ``BaselineOnly`` and ``SVD`` the estimate ``mu + b_u + b_i (+ p_u . q_i)`` is computed in
    numpy from the fitted attributes, with Surprise's rule for unseen ids (their terms are 0);
    the kNN algorithms are asked row by row.
    """
    _check_frame(test_df, "test_df")
    users, items = test_df["userId"].to_numpy(), test_df["itemId"].to_numpy()
    if not isinstance(algo, surprise.BaselineOnly | surprise.SVD):
        return np.array([algo.predict(u, i, clip=False).est for u, i in zip(users, items, strict=True)],
                        dtype=np.float64)
    trainset = algo.trainset
    u = _inner_ids(users, trainset.n_users, trainset.to_raw_uid)  # [N]
    i = _inner_ids(items, trainset.n_items, trainset.to_raw_iid)  # [N]
    pred = trainset.global_mean + _take(algo.bu, u) + _take(algo.bi, i)  # [N]
    if isinstance(algo, surprise.SVD):
        both = (u >= 0) & (i >= 0)
        pred[both] += np.einsum("nk,nk->n", algo.pu[u[both]], algo.qi[i[both]])  # p_u . q_i
    return pred


def fit_predict(name: str, train_df: pd.DataFrame, test_df: pd.DataFrame, seed: int = 0, clip: bool = True,
                params: Mapping[str, Any] | None = None) -> tuple[np.ndarray, float]:
    """Fit baseline ``name`` with ``params`` on ``train_df`` and predict ``test_df``: ``(pred [N], seconds)``.

    ``seed`` seeds ``biased_mf``'s initial factors (the other baselines are deterministic). With
    ``clip`` the predictions are clipped to the range of the training ratings.
    """
    spec = _check_name(name)
    settings = resolve_params(name, params)
    seed = _check_seed(seed)
    _check_train(train_df)
    _check_frame(test_df, "test_df")
    started = time.perf_counter()
    if spec.predict_own is not None:
        pred = spec.predict_own(train_df, test_df, settings)
    else:
        pred = predict_surprise(fit_surprise(name, train_df, seed, params), test_df)
    if clip:
        pred = clip_to_range(pred, np.unique(train_df["rating"].to_numpy(np.float64)))
    return pred, time.perf_counter() - started


def _check_settings(settings: Mapping[str, Mapping[str, Any]] | None) -> dict[str, Mapping[str, Any]]:
    settings = {} if settings is None else settings
    if not isinstance(settings, Mapping):
        raise ConfigError(f"settings must be a mapping of baseline -> params, received: {settings!r}")
    for name, params in settings.items():
        resolve_params(name, params)
    return dict(settings)


def run_baselines(
    train_df: pd.DataFrame,
    test_df: pd.DataFrame,
    names: Sequence[str] | None = None,
    seed: int = 0,
    clip: bool = True,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, np.ndarray]:
    """Predictions for the rows of ``test_df`` from each baseline in ``names`` (default: all).

    ``settings`` maps a baseline to its params (e.g. :func:`tune`'s choice); a baseline without
    an entry uses its defaults. Both frames have columns ``userId``, ``itemId``, ``rating``.
    Returns ``{name: pred [N]}`` in the order of ``names``; each fit+predict time is logged at INFO.
    """
    names = list(BASELINES) if names is None else list(names)
    unknown = [n for n in names if n not in BASELINES]
    if unknown:
        raise ConfigError(f"unknown baseline(s) {unknown}; valid names: {', '.join(BASELINES)}")
    settings = _check_settings(settings)  # every setting checked before the first fit
    results: dict[str, np.ndarray] = {}
    for name in names:
        results[name], seconds = fit_predict(name, train_df, test_df, seed=seed, clip=clip,
                                             params=settings.get(name))
        logger.info("baseline %s: fit+predict on %d/%d rows in %.2f s", name, len(train_df), len(test_df), seconds)
    return results


# --- tuning on a validation split -----------------------------------------------------------


# --- class distributions --------------------------------------------------------------------


def _check_classes(classes: Sequence[float] | np.ndarray) -> np.ndarray:
    values = np.asarray(classes, dtype=np.float64)
    if values.ndim != 1 or len(values) == 0 or not np.all(np.isfinite(values)):
        raise ValueError(f"classes must be a non-empty 1-D list of finite ratings, received: {values!r}")
    if len(np.unique(values)) != len(values):
        raise ValueError(f"classes must be distinct, received: {values.tolist()}")
    return values


def clip_to_range(pred: np.ndarray, classes: Sequence[float] | np.ndarray) -> np.ndarray:
    """``pred`` clipped to ``[min(classes), max(classes)]``, float64."""
    values = _check_classes(classes)
    return np.clip(np.asarray(pred, dtype=np.float64), values.min(), values.max())


def ratings_to_probs(pred: np.ndarray, classes: Sequence[float] | np.ndarray) -> np.ndarray:
    """One-hot class distribution ``[N, C]`` at the class nearest to each predicted rating.

    Column ``c`` belongs to ``classes[c]`` (any order), so ``classes[argmax]`` is the nearest
    class. A prediction half-way between two classes goes to the lower one.
    """
    values = _check_classes(classes)
    pred = np.asarray(pred, dtype=np.float64)
    if pred.ndim != 1:
        raise ValueError(f"pred must be 1-D, received shape {pred.shape}")
    if not np.all(np.isfinite(pred)):
        raise ValueError("pred must be finite, received NaN or inf")
    ascending = np.argsort(values)  # [C]
    distance = np.abs(pred[:, None] - values[ascending][None, :])  # [N, C], columns in ascending order
    nearest = ascending[np.argmin(distance, axis=1)]  # [N]: argmin takes the first, i.e. lower, of a tie
    probs = np.zeros((len(pred), len(values)))
    probs[np.arange(len(pred)), nearest] = 1.0
    return probs
