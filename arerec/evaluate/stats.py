"""Uncertainty over seeds: means with Student-t confidence intervals, paired per-seed differences and verdicts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as _stats

from arerec.config import lower_is_better


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


# --------------------------------------------------------------------------------------------
# Paired comparisons and verdicts
# --------------------------------------------------------------------------------------------
def paired(runs: pd.DataFrame, a: str, b: str, metric: str, confidence: float = 0.95) -> dict[str, Any]:
    """Per-seed differences ``a - b`` of ``metric`` on the seeds both models ran, with their mean and CI
    (95% unless ``confidence`` says otherwise).

    Both models are scored on the same split, so the pairing removes what the seed does to both.
    """
    left = runs[runs["model"] == a].set_index("seed")[metric]
    right = runs[runs["model"] == b].set_index("seed")[metric]
    seeds = sorted(set(left.index) & set(right.index))
    diffs = (left.loc[seeds] - right.loc[seeds]).to_numpy(float)
    mean, half = mean_ci(diffs, confidence)
    return {"a": a, "b": b, "metric": metric, "seeds": seeds, "n": len(seeds), "diffs": diffs.tolist(),
            "mean_diff": mean, "ci": half}


def verdict(runs: pd.DataFrame, claim: str, a: str | None, b: str | None, metric: str,
            confidence: float = 0.95) -> dict[str, object]:
    """``claim``: model ``a`` beats model ``b`` on ``metric``, judged on the per-seed paired differences.

    - supported: the 95% CI of the mean difference lies wholly on ``a``'s better side;
    - not supported: it lies wholly on the other side;
    - not resolved by N seeds: it contains 0 (or N < 2, so no interval can be formed).
    A claim whose two sides are the same row, or whose other side is missing, is left out and says why.
    ``confidence`` sets another level than 95% (a correction for several claims).
    """
    entry: dict[str, object] = {"claim": claim, "metric": metric, "a": a, "b": b}
    present = set(runs["model"])
    if a is None or b is None or a not in present or b not in present:
        missing = [m for m in (a, b) if m is None or m not in present]
        names = ", ".join("no model chosen" if m is None else str(m) for m in missing)
        return {**entry, "verdict": "left out", "why": f"no runs to compare ({names})"}
    if a == b:
        return {**entry, "verdict": "left out", "why": f"both sides are the same row ({a})"}
    p = paired(runs, a, b, metric, confidence)
    n, mean, half = p["n"], p["mean_diff"], p["ci"]
    better = -1 if lower_is_better(metric) else 1  # the sign of a difference in a's favour
    mean_a, mean_b = (float(runs.loc[runs["model"] == m, metric].mean()) for m in (a, b))
    numbers = (f"{a} {mean_a:.4f} vs {b} {mean_b:.4f}; paired difference {mean:+.4f}"
               + (f" ({n} seed: no interval)" if np.isnan(half) else f" ± {half:.4f} ({_percent(confidence)} CI, {n} seeds)"))
    if n >= 2 and not np.isnan(half) and (mean - half) * better > 0 and (mean + half) * better > 0:
        word = "supported"
    elif n >= 2 and not np.isnan(half) and (mean - half) * better < 0 and (mean + half) * better < 0:
        word = "not supported"
    else:
        word = f"not resolved by {n} seed{'s' if n != 1 else ''}"
    return {**entry, "verdict": word, "numbers": numbers, "mean_a": mean_a, "mean_b": mean_b, "mean_diff": mean,
            "ci": half, "n": n, "diffs": p["diffs"]}


def _percent(confidence: float) -> str:
    """'95%', '99.17%': a confidence level with the digits it needs."""
    return f"{confidence * 100:.4g}%"
