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

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from arerec.config import Config
from arerec.evaluate.stats import format_mean_ci, paired, summarise_seeds, verdict  # noqa: F401 (re-exported)
from arerec.files import write_csv_atomic
from arerec.sweeps.executors import Executor, RunOutcome, train_runs

log = logging.getLogger(__name__)

# The faithful row is the reference's Keras Adam without XLA, as the original ran it: a dense Adam step compiled by
# XLA grew the process's heap from 3 GB to 22 GB in its second epoch on ML-100K (docs/decisions.md 40).
DEFAULT_VARIANTS: dict[str, dict] = {
    "ARERec (faithful: dense Adam)": {"update_mode": "dense", "second_moment": "elementwise", "jit_compile": 0},
    "ARERec (fast: lazy Adam)": {"update_mode": "lazy", "second_moment": "rowwise"},
    "ARERec, attention off (item-only)": {"use_attention": 0, "update_mode": "lazy"},
}
PROTOCOLS = ("reference", "clean")


def metrics(k: int) -> list[str]:
    """The headline columns: faithful HR@k and NDCG@k, standard NDCG@k, RMSE and MAE."""
    return [f"hr@{k}", f"ndcg@{k}", f"std_ndcg@{k}", "rmse", "mae"]


def train_all(cfg: Config, seeds: Sequence[int], protocols: Sequence[str] = PROTOCOLS,
              variants: Mapping[str, Mapping] | None = None, executor: Executor | None = None) -> list[RunOutcome]:
    """Train the headline's unfinished ARERec runs with ``executor`` (worker processes, or Ray tasks on a cluster).

    With the default executor (local, one worker) nothing is trained here: :func:`run` then trains them one by
    one. Call it before :func:`run` (notebook 02 does), which then loads them. Prints, and returns, what trained
    each run (:func:`arerec.sweeps.executors.train_runs`).
    """
    from arerec.sweeps.seeds import sweep

    variants = DEFAULT_VARIANTS if variants is None else variants
    cfgs = [run_cfg for protocol in protocols for _, _, run_cfg in sweep(cfg.replace(protocol=protocol), seeds, variants)]
    return train_runs(cfgs, executor)


def run(cfg: Config, seeds: Sequence[int], protocols: Sequence[str] = PROTOCOLS,
        variants: Mapping[str, Mapping] | None = None, baselines: Sequence[str] = (),
        out: str | Path | None = None, progress=None) -> pd.DataFrame:
    """Train (or load) every ARERec variant and fit every baseline, per protocol and seed.

    One row per (protocol, model, seed) with the test metrics: for ARERec the last epoch under
    ``reference`` and the epoch of lowest validation loss under ``clean``. Finished runs are
    loaded, not retrained (see :func:`train_all` to train them first, several at a time or on a cluster). With
    ``out`` the table is rewritten atomically as it grows.
    """
    from arerec.data.inputs import load_experiment
    from arerec.evaluate.scoring import baseline_metrics
    from arerec.sweeps.seeds import run_seeds

    variants = DEFAULT_VARIANTS if variants is None else variants
    frames: list[pd.DataFrame] = []
    for protocol in protocols:
        base = cfg.replace(protocol=protocol)
        runs = run_seeds(base, seeds, variants, columns={"protocol": protocol, "kind": "ARERec"}, progress=progress)
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


def _compare(name_a: str, a: tuple[float, float], name_b: str, b: tuple[float, float], lower_is_better: bool,
             name: Callable[[str], str] = str) -> str:
    if name_a == name_b:
        return f"left out: both sides are the same row ({name(name_a)})"
    name_a, name_b = name(name_a), name(name_b)
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


def claims(summary: pd.DataFrame, k: int, epochs: int, runs: pd.DataFrame | None = None,
           name: Callable[[str], str] = str) -> str:
    """A plain paragraph of what the numbers say, computed from ``summary`` (no hand-typed figures).

    With ``runs`` (one row per run) it also counts the ARERec runs that still sit at the class prior. ``name`` gives
    the name shown for a model key (a report page passes :func:`arerec.report.names.model`).
    """
    variants = [m for m in dict.fromkeys(summary["model"]) if m.startswith("ARERec")]
    baselines = [m for m in dict.fromkeys(summary["model"]) if not m.startswith("ARERec")]
    faithful = next((m for m in variants if "faithful" in m), None)
    off = next((m for m in variants if "attention off" in m), None)
    fast = next((m for m in variants if "fast" in m), None)
    sentences = [f"Every figure is a mean over {int(summary['n'].min())} or more seeds after {epochs} epoch"
                 f"{'s' if epochs != 1 else ''} of ARERec training; intervals are 95% confidence intervals over seeds."]
    if faithful is None:
        return " ".join([*sentences, "No faithful (dense Adam) row: its comparisons are left out."])
    for protocol in dict.fromkeys(summary["protocol"]):
        part = summary[summary["protocol"] == protocol]
        said = []
        if baselines:
            best = part[part["model"].isin(baselines)].sort_values("rmse").iloc[0]["model"]
            best_ndcg = part[part["model"].isin(baselines)].sort_values(f"ndcg@{k}").iloc[-1]["model"]
            said.append("by RMSE, " + _compare(faithful, _cell(summary, protocol, faithful, "rmse"), best,
                                               _cell(summary, protocol, best, "rmse"), True, name))
            said.append(f"by faithful NDCG@{k}, " + _compare(
                faithful, _cell(summary, protocol, faithful, f"ndcg@{k}"), best_ndcg,
                _cell(summary, protocol, best_ndcg, f"ndcg@{k}"), False, name))
        if off is not None:
            said.append("switching attention off: " + _compare(
                off, _cell(summary, protocol, off, f"ndcg@{k}"), faithful,
                _cell(summary, protocol, faithful, f"ndcg@{k}"), False, name) + f" (faithful NDCG@{k})")
        if fast is not None:
            said.append("the fast mode: " + _compare(
                fast, _cell(summary, protocol, fast, "rmse"), faithful, _cell(summary, protocol, faithful, "rmse"),
                True, name) + " (RMSE)")
        if said:
            sentences.append(f"Under the {protocol} protocol, " + "; ".join(said) + ".")
    if runs is not None and "global_mean" in set(runs["model"]):
        sentences += _at_prior_sentences(runs, k, epochs)
    if set(summary["protocol"]) >= {"reference", "clean"}:
        ref, clean = (_cell(summary, p, faithful, f"ndcg@{k}") for p in ("reference", "clean"))
        sentences.append(f"{name(faithful)}'s faithful NDCG@{k} is {ref[0]:.3f} under the reference protocol and "
                         f"{clean[0]:.3f} under the clean one: the two protocols score different test rows, so "
                         "compare models within a protocol, not across.")
    return " ".join(sentences)


def _at_prior_sentences(runs: pd.DataFrame, k: int, epochs: int) -> list[str]:
    """Per protocol, how many ARERec runs still score exactly as the global mean (:func:`at_prior`)."""
    stuck = at_prior(runs, k)
    arerec = runs.loc[stuck.index]
    sentences = []
    for protocol in dict.fromkeys(arerec["protocol"]):
        mine = stuck[arerec["protocol"] == protocol]
        if mine.any():
            sentences.append(
                f"Under the {protocol} protocol {int(mine.sum())} of {len(mine)} ARERec runs score exactly as the "
                f"global mean: after {epochs} epoch{'s' if epochs != 1 else ''} they still predict the majority class "
                "for every row, so "
                "those comparisons measure the training schedule more than the model.")
    return sentences


# --------------------------------------------------------------------------------------------
# Part 1: the seed's run, reproduced beside the original's own figures
# --------------------------------------------------------------------------------------------
# docs/reference.md §7: the original code on ML-100K with the seed README's settings, attention on, one run
# (its quicksort split of timestamp ties may differ slightly from ours, which is portable).
ORIGINAL_ML100K = pd.DataFrame({
    "epoch": [1, 2, 3, 4, 5, 6],
    "loss": [1.597, 1.544, 1.424, 1.377, 1.361, 1.354],
    "val_loss": [1.585, 1.478, 1.401, 1.382, 1.375, 1.371],
    "hr@10": [0.581, 0.598, 0.628, 0.623, 0.624, 0.622],
    "ndcg@10": [0.478, 0.527, 0.572, 0.569, 0.570, 0.567],
})
ORIGINAL_RMSE_AFTER_6 = 1.023


def seed_run_histories(cfg: Config, seeds: Sequence[int], overrides: Mapping) -> pd.DataFrame:
    """The per-epoch results CSVs of the seed-schedule runs of one variant (reference protocol), one row
    per (seed, epoch). The runs must have been trained (:func:`run`)."""
    from arerec.data.inputs import load_experiment
    from arerec.train.runs import experiment_paths, read_results

    frames = []
    for seed in seeds:
        exp = load_experiment(cfg.replace(protocol="reference", seed=seed, **dict(overrides)))
        paths = experiment_paths(exp)
        frames.append(read_results(paths).assign(seed=seed, run=paths.name))
    return pd.concat(frames, ignore_index=True)


def beside_original(histories: pd.DataFrame, k: int = 10) -> pd.DataFrame:
    """Our seed-schedule run per epoch (mean over seeds) beside the original code's own figures."""
    metrics = [m for m in ("loss", "val_loss", f"hr@{k}", f"ndcg@{k}", "rmse") if m in histories.columns]
    ours = histories.groupby("epoch")[metrics].mean().add_prefix("ours: ")
    ours["seeds"] = histories.groupby("epoch")["seed"].nunique().astype("Int64")
    original = ORIGINAL_ML100K.set_index("epoch").add_prefix("original: ")
    original["original: rmse"] = np.where(original.index == 6, ORIGINAL_RMSE_AFTER_6, np.nan)
    table = original.join(ours, how="outer")
    table.index.name = "epoch"
    return table.reset_index()


# --------------------------------------------------------------------------------------------
# Part 2: trained to the validation optimum (clean protocol)
# --------------------------------------------------------------------------------------------
TUNED = "ARERec (tuned)"
TUNED_OFF = "ARERec, attention off (tuned)"
WINDOW = "ARERec, windowed region"  # the tuned ARERec's configuration with the paper's windowed region


@dataclass
class Outcome:
    """The tuned headline's test results: ``runs`` one row per (model, seed) with its test metrics (ARERec at its
    epoch chosen on validation); ``users`` one row per (model, seed, user) with that user's metrics
    (:func:`arerec.evaluate.metrics.per_user_metrics`), for the tests over users; ``shares`` per (model, seed) the
    most predicted class and its share of the test rows, for the collapse rule; ``confusion`` per (model, seed) the
    counts of (true, predicted) ratings."""

    runs: pd.DataFrame
    users: pd.DataFrame
    shares: pd.DataFrame
    confusion: pd.DataFrame


def optimum(configs: Mapping[str, Config], seeds: Sequence[int], baselines: Sequence[str] = (),
            baseline_settings: Mapping[str, Mapping] | None = None, progress=None,
            out: str | Path | None = None, executor: Executor | None = None) -> Outcome:
    """Each tuned ARERec model of ``configs`` (label -> its own chosen configuration: clean protocol, early
    stopping) over ``seeds``, and the tuned baselines, scored on test (:class:`Outcome`).

    Each run is scored on test once, at its epoch chosen on validation. Baselines are fitted on the training
    rows with ``baseline_settings`` (chosen on validation) and scored on the same test rows (the clean split
    does not depend on the batch size or any model setting). The unfinished ARERec runs first train with
    ``executor`` (:func:`arerec.sweeps.executors.train_runs`); the loop then loads them. ``out``: the runs table's CSV.
    """
    from arerec.data.inputs import load_experiment
    from arerec.evaluate.baselines import run_baselines
    from arerec.sweeps.seeds import run_seeds, sweep
    from arerec.train.loop import test_probabilities

    train_runs([run_cfg for label, cfg in configs.items() for _, _, run_cfg in sweep(cfg, seeds, {label: {}})],
               executor)
    frames = [run_seeds(cfg, seeds, {label: {}}, columns={"protocol": "clean", "kind": "ARERec"},
                        progress=progress).rename(columns={"variant": "model", "model_name": "run"})
              for label, cfg in configs.items()]
    exp = load_experiment(next(iter(configs.values())))
    details = [_details(exp, label, seed, probs=test_probabilities(cfg.replace(seed=seed)))
               for label, cfg in configs.items() for seed in seeds]
    for seed in seeds:
        predictions = run_baselines(exp.prepared.train, exp.prepared.test, names=list(baselines), seed=seed,
                                    settings=baseline_settings) if baselines else {}
        for name, pred in predictions.items():
            details.append(_details(exp, name, seed, pred=pred))
    frames.append(pd.DataFrame([{"protocol": "clean", "kind": "baseline", "model": d["model"], "seed": d["seed"],
                                 **d["scores"]} for d in details if d["model"] not in configs]))
    table = pd.concat(frames, ignore_index=True)
    shares = pd.DataFrame([{"model": d["model"], "seed": d["seed"], "majority_class": d["share"][0],
                            "majority_share": d["share"][1]} for d in details])
    # every row has its majority_share already (a metric of the scores); the class it is the share of comes from here
    table = table.merge(shares[["model", "seed", "majority_class"]], on=["model", "seed"], how="left")
    if out is not None:
        write_csv_atomic(out, table)
    return Outcome(table, pd.concat([d["users"] for d in details], ignore_index=True), shares,
                   pd.concat([d["confusion"] for d in details], ignore_index=True))


def _details(exp, model: str, seed: int, probs=None, pred=None) -> dict[str, Any]:
    """One run's (or baseline's) scores, per-user metrics, majority class and confusion counts on test."""
    from arerec.evaluate.claims import class_shares
    from arerec.evaluate.scoring import confusion_counts, per_user, predicted_classes, score_ratings

    scores = score_ratings(exp, pred) if pred is not None else {}
    classes = predicted_classes(exp, probs=probs, pred=pred)
    users = per_user(exp, probs=probs, pred=pred).reset_index().assign(model=model, seed=seed)
    return {"model": model, "seed": seed, "scores": scores, "users": users, "share": class_shares(classes),
            "confusion": confusion_counts(exp, classes).assign(model=model, seed=seed)}


def run_ends(runs: pd.DataFrame) -> pd.DataFrame:
    """Per ARERec run: its chosen epoch, the epochs it trained and how it ended, early stopping (converged) or at
    its cap while still improving (not converged: the study is not finished while a chosen run ends there)."""
    arerec = runs[runs["kind"] == "ARERec"]
    ends = arerec[["model", "seed", "best_epoch", "epochs_trained"]].copy()
    ends["stopped early"] = arerec["stopped_early"].astype(bool).to_numpy()
    ends["at cap"] = arerec["at_cap"].fillna(0).astype(bool).to_numpy() if "at_cap" in arerec else False
    return ends.reset_index(drop=True)


def ends_note(ends: pd.DataFrame, cap: int, name: Callable[[str], str] = str) -> str:
    """One sentence on how the ARERec runs ended (``name``: the name shown for a model key)."""
    capped = ends[ends["at cap"]]
    if capped.empty:
        full = ends[~ends["stopped early"]]  # trained to the cap, its best epoch earlier: patience had not run out
        if full.empty:
            return (f"Every one of the {len(ends)} ARERec runs above stopped early: its validation figure stopped "
                    f"improving before the cap of {cap} epochs.")
        return (f"None of the {len(ends)} ARERec runs above was still improving at the cap of {cap} epochs: "
                f"{len(ends) - len(full)} stopped early, and {len(full)} trained to the cap with its best epoch "
                "earlier (the validation figure had stopped improving, for fewer epochs than the patience).")
    by_model = capped.groupby("model", sort=False)["seed"]
    names = "; ".join(f"{name(str(m))}, seed{'s' if len(s) > 1 else ''} {', '.join(str(int(v)) for v in sorted(s))}"
                      for m, s in by_model)
    return (f"**{len(capped)} of {len(ends)} ARERec runs ended at the cap of {cap} epochs while still improving** "
            f"({names}): they have not converged, so the study is not finished. Raise `validation_search.max_epochs` "
            "and run again (finished epochs are kept).")


def run_histories(cfg: Config, runs: pd.DataFrame) -> pd.DataFrame:
    """The per-epoch results CSV of every ARERec run of ``runs`` (a table of :func:`optimum`), one row per
    (model, seed, epoch), with the run's chosen ``best_epoch``: what :func:`arerec.report.plots.run_curves` draws."""
    from arerec.train.runs import read_results, run_paths

    frames = []
    arerec = runs[runs["kind"] == "ARERec"]
    for run, model, seed, best in zip(arerec["run"], arerec["model"], arerec["seed"], arerec["best_epoch"], strict=True):
        history = read_results(run_paths(cfg, str(run)))
        frames.append(history.assign(model=str(model), seed=int(seed), best_epoch=int(best)))
    return pd.concat(frames, ignore_index=True)


def validation_scores(exp, baselines: Sequence[str], settings: Mapping[str, Mapping] | None = None,
                      seed: int = 0) -> pd.DataFrame:
    """Each baseline at its chosen ``settings``, fitted on the training rows and scored on the validation rows:
    one row per baseline (the best baseline of a verdict is chosen on these, never on test)."""
    from arerec.evaluate.baselines import fit_predict
    from arerec.evaluate.scoring import score_ratings

    rows = []
    for name in baselines:
        pred, _ = fit_predict(name, exp.prepared.train, exp.prepared.valid, seed=seed,
                              params=dict((settings or {}).get(name, {})))
        rows.append({"model": name, **score_ratings(exp, pred, "valid")})
    return pd.DataFrame(rows)


def best_on_validation(scores: pd.DataFrame, metric: str) -> str | None:
    """The baseline with the best validation ``metric`` (the first of a tie), None without baselines."""
    from arerec.config import lower_is_better

    values = scores.set_index("model")[metric].dropna() if not scores.empty else pd.Series(dtype=float)
    if values.empty:  # e.g. NDCG@k where no user has k validation rows
        return None
    return str(values.idxmin() if lower_is_better(metric) else values.idxmax())


def claim_metrics(k: int) -> list[tuple[str, str]]:
    """The metrics every claim is judged on: (column, words)."""
    return [(f"ndcg@{k}", f"faithful NDCG@{k}"), (f"std_ndcg@{k}", f"standard NDCG@{k}"), ("rmse", "RMSE")]


# --------------------------------------------------------------------------------------------
# Part 3: the paper's claims as verdicts
# --------------------------------------------------------------------------------------------
def claim_family(k: int, best: Mapping[str, str | None], window: bool = False) -> list:
    """Every claim the reports judge, as one family (:func:`arerec.evaluate.claims.judge`): on faithful NDCG@k,
    standard NDCG@k and RMSE, ARERec against the baseline that was best on validation for that metric (``best``:
    metric -> name, :func:`best_on_validation`), attention on against attention off (each tuned on its own), ARERec
    against the item mean and the global mean; on faithful NDCG@k, which scores classes, ARERec against the item
    mode (the class floor of an argmax model); and with ``window`` the paper's windowed region against the code's
    region at ARERec's tuned configuration (faithful NDCG@k and RMSE, the ablation's claim). A claim that repeats
    another's two sides and metric (the best baseline may be the item mean) is kept once."""
    from arerec.evaluate.claims import Claim

    family = [Claim(f"ARERec beats the best baseline ({words})", TUNED, best.get(metric), metric)
              for metric, words in claim_metrics(k)]
    family += [Claim(f"Attention beats attention off ({words})", TUNED, TUNED_OFF, metric)
               for metric, words in claim_metrics(k)]
    for floor, name in (("item_mean", "the item mean"), ("global_mean", "the global mean")):
        family += [Claim(f"ARERec beats {name} ({words})", TUNED, floor, metric) for metric, words in claim_metrics(k)]
    family.append(Claim(f"ARERec beats the item mode (faithful NDCG@{k})", TUNED, "item_mode", f"ndcg@{k}"))
    if window:
        family += [Claim(f"The paper's windowed region beats the code's region ({words})", WINDOW, TUNED, metric)
                   for metric, words in claim_metrics(k) if metric != f"std_ndcg@{k}"]
    seen: set[tuple] = set()
    kept = []
    for claim in family:
        if (claim.a, claim.b, claim.metric) not in seen:
            seen.add((claim.a, claim.b, claim.metric))
            kept.append(claim)
    return kept


def verdict_table(verdicts: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per claim: its sides and metric, the per-seed mean difference a - b with its 95% interval and
    verdict, the test over users (users, mean difference, bootstrap 95% interval, Wilcoxon p, Holm-adjusted p and
    verdict), and the claim's verdict."""
    rows = []
    for v in verdicts:
        test = v.get("user_test") or {}
        rows.append({"claim": v["claim"], "a": v["a"], "b": v["b"], "metric": v["metric"], "seeds": v.get("n"),
                     "mean_diff": v.get("mean_diff"), "ci": v.get("ci"), "verdict_seeds": v.get("verdict_seeds"),
                     "users": test.get("n_users"), "user_mean_diff": test.get("mean_diff"),
                     "user_ci_low": test.get("ci_low"), "user_ci_high": test.get("ci_high"),
                     "p_value": test.get("p_value"), "p_holm": test.get("p_holm"),
                     "verdict_users": v.get("verdict_users"), "verdict": v["verdict"],
                     "per_seed": ", ".join(f"{d:+.4f}" for d in v.get("diffs", []))})
    return pd.DataFrame(rows)


def shares_table(shares: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Per model: its most predicted class on test, the smallest and largest share of the rows it takes over the
    seeds, and whether the model collapsed (a share of ``threshold`` or more on a seed; never a floor)."""
    from arerec.evaluate.claims import FLOORS

    rows = []
    for model, part in shares.groupby("model", sort=False):
        worst = part.sort_values(["majority_share", "seed"], ascending=[False, True], kind="stable").iloc[0]
        rows.append({"model": model, "most predicted class": worst["majority_class"],
                     "share (lowest seed)": float(part["majority_share"].min()),
                     "share (highest seed)": float(worst["majority_share"]),
                     "collapsed": "floor: one class by construction" if model in FLOORS
                     else ("yes" if worst["majority_share"] >= threshold else "no")})
    return pd.DataFrame(rows)


def shares_record(shares: pd.DataFrame, threshold: float) -> dict[str, dict[str, Any]]:
    """``02_training.majority_class`` in metrics.json: per model, its most predicted class and share on each seed,
    the largest share, and whether it collapsed (never for the floors, which predict one class by construction)."""
    from arerec.evaluate.claims import FLOORS

    record = {}
    for model, rows in shares.groupby("model", sort=False):
        worst = float(rows["majority_share"].max())
        record[str(model)] = {"per_seed": rows[["seed", "majority_class", "majority_share"]].to_dict("records"),
                              "largest_share": worst, "collapsed": model not in FLOORS and worst >= threshold}
    return record


def split_digest(exp) -> str:
    """SHA-256 over the SHA-256 of each prepared split file of ``exp`` (train, validation, test, sequences)."""
    from arerec.files import sha256_file

    digest = hashlib.sha256()
    for key in sorted(exp.prepared.paths):
        digest.update(f"{key}:{sha256_file(exp.prepared.paths[key])}".encode())
    return digest.hexdigest()


DATASET_NAMES = {"ml-100k": "MovieLens-100K", "ml-1m": "MovieLens-1M", "synthetic": "synthetic ratings"}


def scope_line(cfg: Config, seeds: Sequence[int], split_sha256: str | None = None) -> str:
    """One line of what the verdicts cover: dataset, protocol, split and seeds."""
    dataset = DATASET_NAMES.get(cfg.data.dataset, cfg.data.dataset)
    test, val = int(round(cfg.data.test_ratio * 100)), int(round(cfg.data.val_ratio * 100))
    split = f"split SHA-256 {split_sha256[:12]}, " if split_sha256 else ""
    return (f"Scope: {dataset}, clean protocol (per user, the last {test}% of their ratings in time are test and the "
            f"last {val}% of the rest validation; item sequences from training rows only, each row seeing only "
            f"earlier raters), {split}seeds {', '.join(map(str, seeds))}.")


def planned_runs(extras: Mapping[str, Any]) -> int:
    """Runs and trials notebook 02 counts (trained or loaded): part 1's ARERec runs, every searched model's trials
    (a committed optimum takes them off again: :meth:`arerec.sweeps.progress.Progress.add`), and part 2's ARERec
    runs, each tuned model per seed, with ARERec's configuration with the windowed region when the ablation grid
    holds it (the first seed of a tuned model is its chosen trial's run, loaded, and counts too)."""
    from arerec.sweeps.ablation import has_window
    from arerec.sweeps.search_settings import SearchSettings
    from arerec.sweeps.spaces import ARERECS
    from arerec.sweeps.tuning import planned_trials

    schedule = len(extras["headline_variants"]) * len(extras["schedule_seeds"]) * len(extras["protocols"])
    models = sum(m in ARERECS for m in SearchSettings.checked(extras["validation_search"]).spaces)
    models += has_window(extras["ablation_grid"])
    return schedule + planned_trials(extras["validation_search"]) + models * len(extras["seeds"])
