"""Uncertainty over seeds: means with Student-t confidence intervals."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats as _stats


def mean_ci(values: Sequence[float] | np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """Mean and half-width of its ``confidence`` interval: t_{n-1} * s / sqrt(n).

    NaNs are dropped. One value gives a NaN half-width (no spread can be estimated).
    """
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if x.size == 0:
        return float("nan"), float("nan")
    if x.size == 1:
        return float(x[0]), float("nan")
    half = _stats.t.ppf(0.5 + confidence / 2, df=x.size - 1) * x.std(ddof=1) / np.sqrt(x.size)
    return float(x.mean()), float(half)


def summarise_seeds(frame: pd.DataFrame, by: Sequence[str], metrics: Sequence[str],
                    confidence: float = 0.95) -> pd.DataFrame:
    """One row per group of ``by``: ``n`` seeds, and ``<metric>`` mean and ``<metric>_ci`` half-width."""
    rows = []
    for key, group in frame.groupby(list(by), sort=False, dropna=False):
        row = dict(zip(by, key if isinstance(key, tuple) else (key,), strict=True))
        row["n"] = len(group)
        for metric in metrics:
            row[metric], row[f"{metric}_ci"] = mean_ci(group[metric].to_numpy(), confidence)
        rows.append(row)
    return pd.DataFrame(rows)


def format_mean_ci(mean: float, half: float, digits: int = 3) -> str:
    if np.isnan(mean):
        return "n/a"
    return f"{mean:.{digits}f}" if np.isnan(half) else f"{mean:.{digits}f} ± {half:.{digits}f}"
