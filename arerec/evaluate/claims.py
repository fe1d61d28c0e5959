"""The paper's claims as one family of verdicts: over seeds and over users, Holm-adjusted, with collapse named.

A claim says that model ``a`` beats model ``b`` on one metric. It is judged twice, on the same test rows:

- **over seeds** (:func:`arerec.evaluate.stats.verdict`): the 95% Student-t interval of the per-seed paired
  differences ``a - b``; it measures what training does (initialisation, dropout, batch order);
- **over users** (:func:`user_test`): each test user's metric under ``a`` and under ``b`` (averaged over the seeds
  both ran), a two-sided Wilcoxon signed-rank test of the per-user differences, and a seeded paired bootstrap 95%
  interval of their mean, as Elliot and other recommender libraries test models over users.

Every claim the reports judge forms one family (:func:`judge`): the users' p-values are adjusted by Holm's step-down
method (:func:`holm`), which keeps the chance of any false "supported" or "not supported" at 5% for the whole
family. A claim is **supported** when both tests put ``a`` ahead (the per-seed interval on ``a``'s side, and the
Holm-adjusted p below 0.05 with the mean difference over users on ``a``'s side), **not supported** when both put
``b`` ahead, and **not resolved** otherwise, saying which test did not decide. With one seed there is no interval
over seeds, and the test over users decides alone (the default tier's quick look).

**Collapse.** A model whose argmax (ARERec) or nearest rating class (a baseline) falls in one class for at least
``collapse_share`` (95% by default) of the test rows on some seed predicts the class prior, not what a user thinks of
an item. A claim whose ``a`` or ``b`` collapsed is **not judged**, and says which model predicts which class for how
many rows: comparing with it measures the search, not the model. The global mean and the global mode predict one
class by construction: they are the floor a claim is measured against (:data:`FLOORS`), so they are never a reason
not to judge.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from arerec.config import lower_is_better
from arerec.evaluate.stats import verdict as seed_verdict

FLOORS = ("global_mean", "global_mode")  # one class by construction: the floor, not a collapsed model
ALPHA = 0.05
N_BOOTSTRAP = 10_000
DEFAULT_COLLAPSE_SHARE = 0.95
USER_TEST = "Wilcoxon signed-rank (two-sided) over users; paired bootstrap 95% CI of the mean difference"


# --------------------------------------------------------------------------------------------
# Collapse
# --------------------------------------------------------------------------------------------
def class_shares(classes: np.ndarray) -> tuple[float, float]:
    """The most frequent predicted class and its share of the rows (the lower class of a tie)."""
    values, counts = np.unique(np.asarray(classes, dtype=float), return_counts=True)
    top = int(np.argmax(counts))  # np.unique sorts: the first maximum is the lower class
    return float(values[top]), float(counts[top] / counts.sum())


@dataclass(frozen=True)
class Collapse:
    """A model that predicts one class for at least ``share`` of the test rows on ``seed``."""

    model: str
    seed: int
    rating: float
    share: float

    def words(self) -> str:
        rating = int(self.rating) if float(self.rating).is_integer() else self.rating
        return f"{self.model} predicts {rating} for {self.share:.1%} of test rows (seed {self.seed})"


def collapsed(shares: pd.DataFrame, threshold: float = DEFAULT_COLLAPSE_SHARE) -> dict[str, Collapse]:
    """The models of ``shares`` (columns model, seed, majority_class, majority_share) that collapsed on some seed,
    each with its worst seed; the floors (:data:`FLOORS`) are left out."""
    check_threshold(threshold)
    found: dict[str, Collapse] = {}
    for model, rows in shares.groupby("model", sort=False):
        if model in FLOORS:
            continue
        worst = rows.sort_values(["majority_share", "seed"], ascending=[False, True], kind="stable").iloc[0]
        if worst["majority_share"] >= threshold:
            found[str(model)] = Collapse(str(model), int(worst["seed"]), float(worst["majority_class"]),
                                         float(worst["majority_share"]))
    return found


def check_threshold(threshold: Any) -> float:
    from arerec.errors import ConfigError

    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold <= 1:
        raise ConfigError(f"collapse_share must be a share in (0, 1] (0.95: a model that predicts one class for 95% "
                          f"of the test rows or more has collapsed), received: {threshold!r}")
    return float(threshold)


# --------------------------------------------------------------------------------------------
# Tests over users
# --------------------------------------------------------------------------------------------
def user_test(a: pd.Series, b: pd.Series, *, seed: int = 0, n_bootstrap: int = N_BOOTSTRAP,
              confidence: float = 0.95) -> dict[str, Any]:
    """Paired test of two models over users: ``a`` and ``b`` map each user to a metric value (NaN: the user does not
    count, e.g. fewer than k test rows for NDCG@k). Returns the users paired, the mean of ``a - b``, its seeded
    percentile-bootstrap interval (users resampled with replacement, ``n_bootstrap`` times) and the two-sided
    Wilcoxon signed-rank p-value (zero differences dropped, as Wilcoxon's test does; 1.0 when every difference
    is zero)."""
    from scipy import stats as _stats

    both = pd.concat([a.rename("a"), b.rename("b")], axis=1, join="inner").dropna()
    diffs = (both["a"] - both["b"]).to_numpy(float)
    n = len(diffs)
    result: dict[str, Any] = {"test": USER_TEST, "n_users": n, "mean_diff": float(diffs.mean()) if n else math.nan}
    if n < 2:
        return {**result, "ci_low": math.nan, "ci_high": math.nan, "p_value": math.nan}
    rng = np.random.default_rng(seed)
    means = np.concatenate([diffs[rng.integers(0, n, size=(chunk, n))].mean(axis=1)
                            for chunk in _chunks(n_bootstrap, 1000)])
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    nonzero = diffs[diffs != 0]
    p = float(_stats.wilcoxon(nonzero).pvalue) if nonzero.size else 1.0
    return {**result, "ci_low": float(low), "ci_high": float(high), "p_value": p}


def _chunks(total: int, size: int) -> list[int]:
    return [min(size, total - start) for start in range(0, total, size)]


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the given order: sort ascending, multiply the i-th smallest (from 0)
    by m - i, carry the running maximum, cap at 1. NaN stays NaN and does not count in m."""
    p = np.asarray(p_values, dtype=float)
    finite = np.flatnonzero(~np.isnan(p))
    adjusted = np.full(len(p), np.nan)
    m = len(finite)
    order = finite[np.argsort(p[finite], kind="stable")]
    running = 0.0
    for i, index in enumerate(order):
        running = max(running, min(1.0, (m - i) * p[index]))
        adjusted[index] = running
    return adjusted.tolist()


def _side(mean_diff: float, metric: str) -> int:
    """+1 when a mean difference a - b is in a's favour on ``metric``, -1 against, 0 for none."""
    if math.isnan(mean_diff) or mean_diff == 0:
        return 0
    better = -1 if lower_is_better(metric) else 1
    return 1 if mean_diff * better > 0 else -1


# --------------------------------------------------------------------------------------------
# The family
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Claim:
    """``a`` beats ``b`` on ``metric``; ``text`` is the claim as the pages say it."""

    text: str
    a: str | None
    b: str | None
    metric: str


def seed_mean_users(users: pd.DataFrame, model: str, metric: str) -> pd.Series:
    """Each user's ``metric`` under ``model``, averaged over the model's seeds (NaN where it is NaN on every seed)."""
    rows = users[users["model"] == model]
    return rows.groupby("user", sort=True)[metric].mean()


def judge(claims: Sequence[Claim], runs: pd.DataFrame, users: pd.DataFrame, shares: pd.DataFrame, *,
          collapse_share: float = DEFAULT_COLLAPSE_SHARE, seed: int = 0) -> list[dict[str, Any]]:
    """Every claim judged over seeds (``runs``: model, seed and one column per metric) and over users (``users``:
    model, seed, user and the same metrics), one family under Holm's adjustment; see the module docstring.

    ``shares`` (model, seed, majority_class, majority_share) names the collapsed models, whose claims are not judged
    and leave the family.
    """
    fallen = collapsed(shares, collapse_share)
    judged: list[dict[str, Any]] = []
    for claim in claims:
        entry = seed_verdict(runs, claim.text, claim.a, claim.b, claim.metric)
        entry = {**entry, "verdict_seeds": entry["verdict"]}
        gone = [fallen[m] for m in (claim.a, claim.b) if m in fallen]
        if entry["verdict"] != "left out":
            entry["user_test"] = user_test(seed_mean_users(users, str(claim.a), claim.metric),
                                           seed_mean_users(users, str(claim.b), claim.metric), seed=seed)
        if gone:
            entry.update(verdict="not judged: " + "; ".join(c.words() for c in gone),
                         collapsed=[c.words() for c in gone])
        judged.append(entry)
    family = [v for v in judged if "user_test" in v and "collapsed" not in v]
    for v, p in zip(family, holm([v["user_test"]["p_value"] for v in family]), strict=True):
        v["user_test"]["p_holm"] = p
        v["verdict_users"] = _user_verdict(v["user_test"], str(v["metric"]), p)
        v["verdict"] = (_combined(str(v["verdict_seeds"]), v["verdict_users"]) if (v.get("n") or 0) >= 2
                        else v["verdict_users"])  # one seed has no interval: the users decide alone
        v["family"] = len(family)
    return judged


def _user_verdict(test: Mapping[str, Any], metric: str, p_holm: float) -> str:
    side = _side(float(test["mean_diff"]), metric)
    if math.isnan(p_holm) or p_holm >= ALPHA or side == 0:
        return f"not resolved over {test['n_users']} users"
    return "supported" if side > 0 else "not supported"


def _combined(over_seeds: str, over_users: str) -> str:
    if over_seeds == over_users and over_seeds in ("supported", "not supported"):
        return over_seeds
    return f"not resolved (over seeds: {over_seeds}; over users, Holm: {over_users})"


def family_note(verdicts: Sequence[Mapping[str, Any]], collapse_share: float = DEFAULT_COLLAPSE_SHARE) -> str:
    """What the family of claims is, in one paragraph: how many are judged, and why the others are not."""
    m = sum("p_holm" in v.get("user_test", {}) for v in verdicts)
    out = sum(str(v["verdict"]).startswith("not judged") for v in verdicts)
    left = sum(v["verdict"] == "left out" for v in verdicts)
    if m > 1:
        lead, holm = f"{m} claims form one family: each is judged", f", its p-value adjusted by Holm's method over all {m}"
    elif m == 1:
        lead, holm = "1 claim is judged, so Holm's method leaves its p-value as it is: it is judged", ""
    else:
        lead, holm = "No claim is judged, so there is no family to adjust. A claim would be judged", ""
    text = (f"{lead} over seeds (95% interval of the paired per-seed differences) and over users (Wilcoxon signed-rank "
            f"test{holm}, with a seeded bootstrap 95% interval of the mean per-user difference). A claim is supported "
            "or not supported only when both agree; with one seed, the test over users decides alone.")
    if out:
        text += (f" {out} claim{'s are' if out > 1 else ' is'} not judged: a side predicts one class for "
                 f"{collapse_share:.0%} of the test rows or more on some seed.")
    if left:
        text += f" {left} left out: a side has no runs."
    return text
