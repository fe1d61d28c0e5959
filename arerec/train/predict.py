"""Prediction: a model's class probabilities for every row of a split, and the metrics of an epoch."""

from __future__ import annotations

import numpy as np

from arerec.data.inputs import Experiment
from arerec.evaluate.metrics import evaluate_predictions
from arerec.train import backends


def predict_probs(model, exp: Experiment, split: str = "test") -> np.ndarray:
    """Class probabilities [N, C] for every row of a split, in row order, batched (on this process's backend)."""
    return backends.current().predict(model, exp, split)


def evaluate_probs(exp: Experiment, probs: np.ndarray, split: str = "test") -> dict[str, float]:
    rows = exp.rows(split)
    return evaluate_predictions(
        rows["userId"].to_numpy(), rows["rating"].to_numpy(dtype=float), probs,
        exp.prepared.classes.astype(float), exp.cfg.evaluation.topk, exp.cfg.evaluation.hrcutoff,
    )


def cross_entropy(probs: np.ndarray, labels: np.ndarray) -> float:
    picked = probs[np.arange(len(labels)), labels]
    return float(-np.mean(np.log(np.clip(picked, 1e-7, 1.0))))
