"""Scoring ARERec and the rating baselines on the same split, as tidy tables.

Every model is scored by :func:`arerec.evaluate.metrics.evaluate_predictions` on the test rows of one
:class:`arerec.data.inputs.Experiment`:

- ARERec: its class probabilities, exactly as the training loop scores each epoch.
- A baseline predicts a continuous rating. Its class is the nearest rating class
  (:func:`arerec.evaluate.baselines.ratings_to_probs`), which gives the faithful HR@k and NDCG@k, the
  accuracy and ``rmse_argmax``, as for ARERec's argmax. ``rmse``, ``mae`` and ``std_ndcg@k`` use
  the continuous prediction itself, as ARERec's use its expected rating.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from arerec.errors import DataError
from arerec.evaluate.baselines import ratings_to_probs, run_baselines
from arerec.evaluate.metrics import (
    argmax_rating,
    evaluate_predictions,
    expected_rating,
    per_user_metrics,
    tie_aware_ndcg,
)

log = logging.getLogger(__name__)

MODEL = "ARERec"


def headline_k(topk: Sequence[int]) -> int:
    """The cut-off shown in headlines: 10 (the paper's) when evaluated, else the largest k."""
    return 10 if 10 in topk else max(topk)


def metric_columns(topk: Sequence[int]) -> list[str]:
    """Faithful metrics first (HR@k, NDCG@k), then the standard ones."""
    ks = list(topk)
    return ([f"hr@{k}" for k in ks] + [f"ndcg@{k}" for k in ks]
            + ["rmse", "mae", "accuracy", "rmse_argmax"] + [f"std_ndcg@{k}" for k in ks] + ["majority_share"])


def score_ratings(exp, pred: np.ndarray, split: str = "test") -> dict[str, float]:
    """All metrics of a continuous rating prediction for every row of ``split`` (see the module docstring)."""
    rows = getattr(exp.prepared, split, None)
    if rows is None:
        raise DataError(f"the experiment has no {split!r} split to score")
    users, true = rows["userId"].to_numpy(), rows["rating"].to_numpy(dtype=float)
    classes = exp.prepared.classes.astype(float)
    pred = np.asarray(pred, dtype=float)
    if pred.shape != true.shape:
        raise ValueError(f"pred must hold one rating per {split} row, shape {true.shape}, received: {pred.shape}")
    metrics = evaluate_predictions(users, true, ratings_to_probs(pred, classes), classes,
                                   exp.cfg.topk, exp.cfg.hrcutoff)
    error = pred - true
    metrics["rmse"] = float(np.sqrt(np.mean(error**2)))
    metrics["mae"] = float(np.mean(np.abs(error)))
    for k in exp.cfg.topk:
        metrics[f"std_ndcg@{k}"] = tie_aware_ndcg(users, true, pred, k)
    return metrics


def baseline_metrics(exp, names: Sequence[str], seed: int = 0,
                     settings: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, dict[str, float]]:
    """Fit each baseline on the experiment's train rows and score it on its test rows.

    ``settings`` maps a baseline to its params (e.g. what :mod:`arerec.sweeps.tuning` chose on validation); a
    baseline without an entry uses its defaults.
    """
    predictions = run_baselines(exp.prepared.train, exp.prepared.test, names=list(names), seed=seed,
                                settings=settings)
    return {name: score_ratings(exp, pred) for name, pred in predictions.items()}


def comparison_table(models: Mapping[str, Mapping[str, float]], topk: Sequence[int]) -> pd.DataFrame:
    """One row per model (the index, named 'model'), one column per metric of :func:`metric_columns`."""
    table = pd.DataFrame.from_dict({name: dict(values) for name, values in models.items()}, orient="index")
    table.index.name = "model"
    return table[[c for c in metric_columns(topk) if c in table.columns]]


def final_metrics(history: pd.DataFrame, topk: Sequence[int]) -> dict[str, float]:
    """The metrics of the last trained epoch (not the best: choosing the best epoch selects on test)."""
    last = history.iloc[-1]
    return {c: float(last[c]) for c in metric_columns(topk) if c in history.columns}


def confusion(exp, probs: np.ndarray, split: str = "test") -> pd.DataFrame:
    """Counts of (true rating, predicted argmax rating): rows true, columns predicted, every class."""
    classes = exp.prepared.classes
    true = getattr(exp.prepared, split)["rating"].to_numpy()
    pred = argmax_rating(probs, classes.astype(float))
    labels = pd.Index([_label(c) for c in classes])
    table = pd.crosstab(pd.Categorical(true, categories=classes), pd.Categorical(pred, categories=classes),
                        dropna=False)
    table.index, table.columns = labels.rename("true"), labels.rename("predicted")
    return table


def _label(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def predicted_classes(exp, probs: np.ndarray | None = None, pred: np.ndarray | None = None) -> np.ndarray:
    """The rating class each test row is given: ARERec's argmax of ``probs``, or a baseline's ``pred`` at its
    nearest class (what the faithful metric scores)."""
    classes = exp.prepared.classes.astype(float)
    if probs is not None:
        return argmax_rating(probs, classes)
    return argmax_rating(ratings_to_probs(np.asarray(pred, dtype=float), classes), classes)


def per_user(exp, probs: np.ndarray | None = None, pred: np.ndarray | None = None, split: str = "test") -> pd.DataFrame:
    """Each user's metrics on ``split`` (:func:`arerec.evaluate.metrics.per_user_metrics`): of ARERec's ``probs``
    (argmax class; expected rating) or of a baseline's continuous ``pred`` (nearest class; the prediction itself),
    as :func:`score_ratings` and the training loop score them."""
    rows = getattr(exp.prepared, split)
    classes = exp.prepared.classes.astype(float)
    scores = expected_rating(probs, classes) if probs is not None else np.asarray(pred, dtype=float)
    return per_user_metrics(rows["userId"].to_numpy(), rows["rating"].to_numpy(dtype=float),
                            predicted_classes(exp, probs, pred), scores, exp.cfg.topk, exp.cfg.hrcutoff)


def confusion_counts(exp, predicted: np.ndarray, split: str = "test") -> pd.DataFrame:
    """Long form of a confusion matrix: one row per (true, predicted) rating class with its count, every pair of
    classes present (zeros included)."""
    classes = exp.prepared.classes.astype(float)
    true = getattr(exp.prepared, split)["rating"].to_numpy(dtype=float)
    table = pd.crosstab(pd.Categorical(true, categories=classes), pd.Categorical(predicted, categories=classes),
                        dropna=False)
    return pd.DataFrame([{"true": float(t), "predicted": float(p), "count": int(table.loc[t, p])}
                         for t in classes for p in classes])
