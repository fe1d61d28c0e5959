"""The headline table: ARERec and rating baselines, under both protocols, over seeds.

Rows are models: ARERec variants (by default the faithful mode with dense Adam, the fast mode
with lazy Adam, and attention off) and the rating baselines. Every number is the mean over
seeds with the half-width of its 95% confidence interval (Student t). Each protocol has its own
split: ``reference`` (the original's random split, leaky sequences, last epoch on test) and
``clean`` (temporal per-user split, train-only sequences, epoch chosen on validation, test once).

The split itself does not depend on the seed (``split_seed`` fixes the reference's split; the
clean split is deterministic), so the intervals measure model seeds: initialisation, dropout and
batch order for ARERec, and the random start of biased MF. The other baselines are
deterministic, so their interval is 0.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from arerec.config import Config
from arerec.files import write_csv_atomic
from arerec.stats import format_mean_ci, summarise_seeds

log = logging.getLogger(__name__)

DEFAULT_VARIANTS: dict[str, dict] = {
    "ARERec (faithful: dense Adam)": {"update_mode": "dense", "second_moment": "elementwise"},
    "ARERec (fast: lazy Adam)": {"update_mode": "lazy", "second_moment": "rowwise"},
    "ARERec, attention off (item-only)": {"use_attention": 0, "update_mode": "lazy"},
}
PROTOCOLS = ("reference", "clean")


def metrics(k: int) -> list[str]:
    """The headline columns: faithful HR@k and NDCG@k, standard NDCG@k, RMSE and MAE."""
    return [f"hr@{k}", f"ndcg@{k}", f"std_ndcg@{k}", "rmse", "mae"]


def train_all(cfg: Config, seeds: Sequence[int], protocols: Sequence[str] = PROTOCOLS,
              variants: Mapping[str, Mapping] | None = None, workers: int = 1) -> list[str]:
    """Train the headline's unfinished ARERec runs, ``workers`` at a time in their own processes.

    Nothing happens with ``workers`` 1: :func:`run` then trains them one by one. Call it before
    :func:`run` (notebook 02 does), which then loads them.
    See :func:`arerec.experiments.train_in_parallel`.
    """
    from arerec.experiments import sweep, train_in_parallel

    variants = DEFAULT_VARIANTS if variants is None else variants
    cfgs = [run_cfg for protocol in protocols for _, _, run_cfg in sweep(cfg.replace(protocol=protocol), seeds, variants)]
    return train_in_parallel(cfgs, workers)


def run(cfg: Config, seeds: Sequence[int], protocols: Sequence[str] = PROTOCOLS,
        variants: Mapping[str, Mapping] | None = None, baselines: Sequence[str] = (),
        out: str | Path | None = None) -> pd.DataFrame:
    """Train (or load) every ARERec variant and fit every baseline, per protocol and seed.

    One row per (protocol, model, seed) with the test metrics: for ARERec the last epoch under
    ``reference`` and the epoch of lowest validation loss under ``clean``. Finished runs are
    loaded, not retrained (see :func:`train_all` to train them several at a time first). With
    ``out`` the table is rewritten atomically as it grows.
    """
    from arerec.evaluation import baseline_metrics
    from arerec.experiments import run_seeds
    from arerec.training import load_experiment

    variants = DEFAULT_VARIANTS if variants is None else variants
    frames: list[pd.DataFrame] = []
    for protocol in protocols:
        base = cfg.replace(protocol=protocol)
        runs = run_seeds(base, seeds, variants, columns={"protocol": protocol, "kind": "ARERec"})
        frames.append(runs.rename(columns={"variant": "model", "model_name": "run"}))
        if baselines:
            exp = load_experiment(base)
            frames.append(pd.DataFrame([
                {"protocol": protocol, "kind": "baseline", "model": name, "seed": seed, **values}
                for seed in seeds for name, values in baseline_metrics(exp, baselines, seed).items()]))
        if out is not None:
            write_csv_atomic(out, pd.concat(frames, ignore_index=True))
    return pd.concat(frames, ignore_index=True)


def summarise(runs: pd.DataFrame, k: int) -> pd.DataFrame:
    """Mean and 95% CI half-width per (protocol, model): columns ``m`` and ``m_ci`` for each metric."""
    present = [m for m in metrics(k) if m in runs.columns]
    summary = summarise_seeds(runs, ["protocol", "model"], present)
    kinds = runs.drop_duplicates(["protocol", "model"]).set_index(["protocol", "model"])["kind"]
    summary["kind"] = [kinds[(p, m)] for p, m in zip(summary["protocol"], summary["model"], strict=True)]
    return summary


def wide(summary: pd.DataFrame, k: int) -> pd.DataFrame:
    """One row per model, one column per (metric, protocol), each cell 'mean ± CI'."""
    labels = {f"hr@{k}": f"HR@{k}", f"ndcg@{k}": f"NDCG@{k}", f"std_ndcg@{k}": f"std NDCG@{k}",
              "rmse": "RMSE", "mae": "MAE"}
    models = list(dict.fromkeys(summary["model"]))
    table = pd.DataFrame(index=pd.Index(models, name="model"))
    for protocol in dict.fromkeys(summary["protocol"]):
        part = summary[summary["protocol"] == protocol].set_index("model")
        for metric, label in labels.items():
            if metric in part.columns:
                table[f"{label} ({protocol})"] = [
                    format_mean_ci(part.at[m, metric], part.at[m, f"{metric}_ci"]) if m in part.index else "n/a"
                    for m in models]
    table["seeds"] = [int(summary.loc[summary["model"] == m, "n"].min()) for m in models]
    return table


def _cell(summary: pd.DataFrame, protocol: str, model: str, metric: str) -> tuple[float, float]:
    row = summary[(summary["protocol"] == protocol) & (summary["model"] == model)]
    if row.empty or metric not in row.columns:
        return float("nan"), float("nan")
    return float(row[metric].iloc[0]), float(row[f"{metric}_ci"].iloc[0])


def _apart(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """True when the two 95% intervals do not overlap (a zero or missing width counts as a point)."""
    (ma, ha), (mb, hb) = a, b
    return abs(ma - mb) > np.nan_to_num(ha) + np.nan_to_num(hb)


def _compare(name_a: str, a: tuple[float, float], name_b: str, b: tuple[float, float], lower_is_better: bool) -> str:
    if np.isnan(a[0]) or np.isnan(b[0]):
        return f"{name_a} and {name_b} cannot be compared (missing)"
    better = (a[0] < b[0]) if lower_is_better else (a[0] > b[0])
    word = "better" if better else "worse"
    tail = "the 95% intervals do not overlap" if _apart(a, b) else "within the 95% intervals of each other"
    return f"{name_a} ({a[0]:.3f}) is {word} than {name_b} ({b[0]:.3f}); {tail}"


def at_prior(runs: pd.DataFrame, k: int, reference: str = "global_mean") -> pd.Series:
    """Per ARERec run: True when its faithful NDCG@k equals the global mean's on the same protocol.

    Such a run still predicts one class for every row (the majority class, as the global mean's
    nearest class does): it has not left the class prior.
    """
    prior = runs[runs["model"] == reference].groupby("protocol")[f"ndcg@{k}"].first()
    arerec = runs[runs["kind"] == "ARERec"]
    return pd.Series(np.isclose(arerec[f"ndcg@{k}"], arerec["protocol"].map(prior), rtol=0, atol=1e-9),
                     index=arerec.index)


def claims(summary: pd.DataFrame, k: int, epochs: int, runs: pd.DataFrame | None = None) -> str:
    """A plain paragraph of what the numbers say, computed from ``summary`` (no hand-typed figures).

    With ``runs`` (one row per run) it also counts the ARERec runs that still sit at the class prior.
    """
    variants = [m for m in dict.fromkeys(summary["model"]) if m.startswith("ARERec")]
    baselines = [m for m in dict.fromkeys(summary["model"]) if not m.startswith("ARERec")]
    faithful = next((m for m in variants if "faithful" in m), variants[0] if variants else None)
    off = next((m for m in variants if "attention off" in m), None)
    fast = next((m for m in variants if "fast" in m), None)
    sentences = [f"Every figure is a mean over {int(summary['n'].min())} or more seeds after {epochs} epoch(s) of "
                 f"ARERec training; intervals are 95% confidence intervals over seeds."]
    if faithful is None:
        return " ".join(sentences)
    for protocol in dict.fromkeys(summary["protocol"]):
        part = summary[summary["protocol"] == protocol]
        said = []
        if baselines:
            best = part[part["model"].isin(baselines)].sort_values("rmse").iloc[0]["model"]
            best_ndcg = part[part["model"].isin(baselines)].sort_values(f"ndcg@{k}").iloc[-1]["model"]
            said.append("by RMSE, " + _compare(faithful, _cell(summary, protocol, faithful, "rmse"), best,
                                               _cell(summary, protocol, best, "rmse"), True))
            said.append(f"by faithful NDCG@{k}, " + _compare(
                faithful, _cell(summary, protocol, faithful, f"ndcg@{k}"), best_ndcg,
                _cell(summary, protocol, best_ndcg, f"ndcg@{k}"), False))
        if off is not None:
            said.append("switching attention off: " + _compare(
                off, _cell(summary, protocol, off, f"ndcg@{k}"), faithful,
                _cell(summary, protocol, faithful, f"ndcg@{k}"), False) + f" (NDCG@{k})")
        if fast is not None:
            said.append("the fast mode: " + _compare(
                fast, _cell(summary, protocol, fast, "rmse"), faithful, _cell(summary, protocol, faithful, "rmse"),
                True) + " (RMSE)")
        sentences.append(f"Under the {protocol} protocol, " + "; ".join(said) + ".")
    if runs is not None and "global_mean" in set(runs["model"]):
        stuck = at_prior(runs, k)
        arerec = runs.loc[stuck.index]
        for protocol in dict.fromkeys(arerec["protocol"]):
            mine = stuck[arerec["protocol"] == protocol]
            if mine.any():
                sentences.append(
                    f"Under the {protocol} protocol {int(mine.sum())} of {len(mine)} ARERec runs score exactly as the "
                    f"global mean: after {epochs} epoch(s) they still predict the majority class for every row, so "
                    "those comparisons measure the training schedule more than the model.")
    if set(summary["protocol"]) >= {"reference", "clean"}:
        ref, clean = (_cell(summary, p, faithful, f"ndcg@{k}") for p in ("reference", "clean"))
        sentences.append(f"{faithful}'s faithful NDCG@{k} is {ref[0]:.3f} under the reference protocol and "
                         f"{clean[0]:.3f} under the clean one: the two protocols score different test rows, so "
                         "compare models within a protocol, not across.")
    return " ".join(sentences)
