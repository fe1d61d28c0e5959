"""Choosing the epoch: the best epoch on a validation metric, and early stopping's patience count.

Everything is derived from the results CSV, so a resumed run keeps its best-so-far value and its
patience count. The reference instead picks the epoch of highest test NDCG@k (:func:`best_epoch`):
that is selection on test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from arerec.config import Config, lower_is_better
from arerec.errors import CheckpointError


@dataclass(frozen=True)
class Selection:
    """Where a clean-protocol run stands on its validation ``metric`` after its last epoch."""

    metric: str
    best_epoch: int
    best_value: float
    epochs_since_best: int  # the patience count: epochs after the best one

    def exhausted(self, patience: int) -> bool:
        """True when early stopping with ``patience`` ends the run here."""
        return patience > 0 and self.epochs_since_best >= patience


def selection(history: pd.DataFrame, metric: str) -> Selection | None:
    """The best epoch of ``history`` on ``metric`` (ties: the earliest) and the epochs since it.

    Everything early stopping needs is derived from the results CSV, so a resumed run keeps its
    best-so-far value and its patience count. None when no epoch has been scored.
    """
    if history.empty or metric not in history.columns:
        return None
    scored = history.dropna(subset=[metric])
    if scored.empty:
        return None
    values = scored[metric].to_numpy(float)
    best = int(np.argmin(values) if lower_is_better(metric) else np.argmax(values))
    best_epoch = int(scored["epoch"].iloc[best])
    return Selection(metric, best_epoch, float(values[best]), int(scored["epoch"].max()) - best_epoch)


def best_epoch(history: pd.DataFrame, k: int = 10) -> dict[str, float]:
    """The reference's "best epoch": the highest test NDCG@k. This is selection on test."""
    row = history.iloc[int(np.nanargmax(history[f"ndcg@{k}"].to_numpy(float)))]
    return {str(key): value for key, value in row.items()}


def best_so_far(history: pd.DataFrame, metric: str) -> Selection:
    """:func:`selection` of a history that has an epoch scored on ``metric``; CheckpointError when it has none."""
    chosen = selection(history, metric)
    if chosen is None:
        raise CheckpointError("the run has no scored epoch to choose from; train at least one epoch")
    return chosen


def chosen_epoch(cfg: Config, history: pd.DataFrame) -> dict[str, Any]:
    """Clean protocol: the epoch chosen on validation and how the run ended: early stopping, or at its cap
    (``epochs``) while still improving (no test figure)."""
    chosen = best_so_far(history, cfg.selection_metric)
    row = history.loc[history["epoch"] == chosen.best_epoch].iloc[0]
    trained = int(history["epoch"].max())
    return {"best_epoch": chosen.best_epoch, "selected_by": f"validation {cfg.selection_metric}",
            "val_score": chosen.best_value, "val_loss": float(row["val_loss"]),
            "epochs_trained": trained,
            "stopped_early": int(chosen.exhausted(cfg.patience) and trained < cfg.epochs),
            # ended at its last allowed epoch still improving (the best epoch within patience of it): the optimum
            # may lie beyond the cap, so the run has not converged
            "at_cap": int(trained >= cfg.epochs and not chosen.exhausted(max(cfg.patience, 1)))}
