"""Scoring ARERec and the rating baselines on the same split, as tidy tables.

Every model is scored by :func:`arerec.metrics.evaluate_predictions` on the test rows of one
:class:`arerec.training.Experiment`:

- ARERec: its class probabilities, exactly as the training loop scores each epoch.
- A baseline predicts a continuous rating. Its class is the nearest rating class
  (:func:`arerec.baselines.ratings_to_probs`), which gives the faithful HR@k and NDCG@k, the
  accuracy and ``rmse_argmax``, as for ARERec's argmax. ``rmse``, ``mae`` and ``std_ndcg@k`` use
  the continuous prediction itself, as ARERec's use its expected rating.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from arerec.config import Config
from arerec.errors import DataError
from arerec.metrics import evaluate_predictions, tie_aware_ndcg

log = logging.getLogger(__name__)

MODEL = "ARERec"


def headline_k(topk: Sequence[int]) -> int:
    """The cut-off shown in headlines: 10 (the paper's) when evaluated, else the largest k."""
    return 10 if 10 in topk else max(topk)


def metric_columns(topk: Sequence[int]) -> list[str]:
    """Faithful metrics first (HR@k, NDCG@k), then the standard ones."""
    ks = list(topk)
    return ([f"hr@{k}" for k in ks] + [f"ndcg@{k}" for k in ks]
            + ["rmse", "mae", "accuracy", "rmse_argmax"] + [f"std_ndcg@{k}" for k in ks])


def score_ratings(exp, pred: np.ndarray, split: str = "test") -> dict[str, float]:
    """All metrics of a continuous rating prediction for every row of ``split`` (see the module docstring)."""
    from arerec.baselines import ratings_to_probs

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

    ``settings`` maps a baseline to its params (e.g. ``chosen`` of :func:`tune_baselines`); a
    baseline without an entry uses its defaults.
    """
    from arerec.baselines import run_baselines

    predictions = run_baselines(exp.prepared.train, exp.prepared.test, names=list(names), seed=seed,
                                settings=settings)
    return {name: score_ratings(exp, pred) for name, pred in predictions.items()}


def tune_baselines(exp, names: Sequence[str], grids: Mapping[str, Mapping[str, Sequence[Any]]] | None = None,
                   seed: int = 0) -> tuple[pd.DataFrame, dict[str, dict[str, Any]]]:
    """Tune each baseline on the experiment's train rows, scored on its validation rows only.

    ``grids`` maps a baseline to its grid (:func:`arerec.baselines.tune`); a baseline without an
    entry uses ``DEFAULT_GRIDS``. Every grid is checked before the first fit, and the test rows
    are never read. Returns ``(table, chosen)``: one row per configuration tried, with columns
    model, params (JSON), val_rmse, val_mae, the faithful ``val_ndcg@k`` for each k of
    ``cfg.topk`` and seconds; and ``{name: params}`` of lowest validation RMSE, for
    :func:`baseline_metrics`'s ``settings``.
    """
    from arerec.baselines import DEFAULT_GRIDS, check_grids, tune

    valid = getattr(exp.prepared, "valid", None)
    if valid is None:
        protocol = getattr(exp.prepared, "protocol", "this")
        raise DataError(f"the {protocol} protocol has no validation split to tune baselines on; "
                        "use protocol 'clean' (tuning on test would select on test)")
    names = list(names)
    grids = {} if grids is None else grids
    check_grids(grids)
    grids = {name: grids.get(name, DEFAULT_GRIDS.get(name, {})) for name in names}  # unknown names fail below
    check_grids(grids)

    def faithful_ndcg(pred: np.ndarray) -> dict[str, float]:
        metrics = score_ratings(exp, pred, "valid")
        return {f"val_ndcg@{k}": metrics[f"ndcg@{k}"] for k in exp.cfg.topk}

    tables, chosen = [], {}
    for n, name in enumerate(names, start=1):
        table, chosen[name] = tune(name, exp.prepared.train, valid, grids[name], seed=seed, score=faithful_ndcg)
        tables.append(table.assign(model=name))
        log.info("tuned baseline %d/%d %s: %d configurations in %.1f s, chose %s", n, len(names), name,
                 len(table), table["seconds"].sum(), chosen[name])
        print(f"baseline {n}/{len(names)}: {name}, {len(table)} configurations in {table['seconds'].sum():.0f} s",
              flush=True)
    table = pd.concat(tables, ignore_index=True)
    return table[["model", *[c for c in table.columns if c != "model"]]], chosen


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
    from arerec.metrics import argmax_rating

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


# --------------------------------------------------------------------------------------------
# Ablation
# --------------------------------------------------------------------------------------------
@dataclass
class Variant:
    """One configuration of an ablation grid; ``label`` says how it differs from the base."""

    label: str
    cfg: Config
    overrides: dict[str, Any]


def ablation_variants(base: Config, grid: Sequence[Mapping[str, Any]], epochs: int,
                      model_path: str | Path | None = None) -> list[Variant]:
    """The distinct configurations of ``grid`` (dicts of overrides of ``base``), trained for ``epochs``.

    Entries that resolve to the same configuration are one variant (``{num_head: 2}`` is the base
    when the base has two heads); the base's label is 'base'. Runs live under ``model_path``
    (default: ``base.model_path`` when ``epochs`` equals ``base.epochs``, so that the main runs
    are re-used, else ``{base.model_path}/ablation``: a run's folder name does not hold its
    epochs, so a run with another schedule must not share a folder with the main run).
    """
    if model_path is None:
        model_path = Path(base.model_path) if epochs == base.epochs else Path(base.model_path) / "ablation"
    base = base.replace(epochs=epochs, model_path=str(model_path), load_model=0, model_name="",
                        load_weight_path="", do_train=1)
    variants: list[Variant] = []
    for overrides in [{}, *grid]:
        cfg = base.replace(**overrides)
        if any(v.cfg == cfg for v in variants):
            continue
        label = "base" if cfg == base else ", ".join(f"{k}={v}" for k, v in overrides.items())
        if cfg.use_attention == 0 and base.use_attention == 1:
            label += " (item-only)"
        variants.append(Variant(label, cfg, dict(overrides)))
    return variants


def run_ablation(variants: Sequence[Variant], k: int, seeds: Sequence[int] | None = None,
                 workers: int = 1, progress=None) -> pd.DataFrame:
    """Train (or load, when finished before) every variant under every seed; one row per (variant, seed).

    With ``workers`` > 1 the unfinished runs first train that many at a time in their own processes
    (:func:`arerec.experiments.train_in_parallel`); the loop then loads them.

    Columns: variant, seed, run (the model name under model_path), the variant's key settings,
    the test metrics (reference protocol: of the last epoch; clean: of the epoch chosen on validation, with
    best_epoch and stopped_early), ndcg (faithful NDCG@k), train_seconds (the epochs' training time,
    whenever they ran) and seconds (this call: small when a finished run was loaded). Without
    ``seeds`` each variant runs with its own configured seed. ``progress`` (:class:`arerec.progress.Progress`)
    is told each run.
    """
    from arerec.experiments import train_in_parallel
    from arerec.training import train_or_load

    runs = [(n, variant, seed, variant.cfg.replace(seed=seed)) for n, variant in enumerate(variants, start=1)
            for seed in (seeds if seeds is not None else [variant.cfg.seed])]
    train_in_parallel([cfg for *_, cfg in runs], workers)
    rows = []
    for n, variant, seed, cfg in runs:
        log.info("ablation variant %d/%d: %s, seed %d", n, len(variants), variant.label, seed)
        if progress is None:
            print(f"variant {n}/{len(variants)}: {variant.label}, seed {seed}", flush=True)
        else:
            progress.start(f"variant {n}/{len(variants)}: {variant.label}, seed {seed}")
        result = train_or_load(cfg)
        if progress is not None:
            progress.done(result.seconds)
        if cfg.protocol == "clean":  # scored on test once, at the epoch chosen on validation
            scores = {c: float(result.final[c]) for c in metric_columns(cfg.topk) if c in result.final}
            scores.update(best_epoch=int(result.final["best_epoch"]), stopped_early=int(result.final["stopped_early"]))
        else:
            scores = final_metrics(result.history, cfg.topk)
        rows.append({
            "variant": variant.label,
            "seed": seed,
            "run": result.name,
            "use_attention": cfg.use_attention,
            "num_head": cfg.num_head if cfg.use_attention else np.nan,
            "region_size": cfg.region_size,
            "region_mode": cfg.region_mode,
            "epochs": int(result.history["epoch"].max()),
            **scores,
            "ndcg": scores[f"ndcg@{k}"],
            "train_seconds": round(float(result.history["seconds"].sum()), 1),
            "seconds": round(result.seconds, 1),
        })
        del result  # the LCU tables are large: keep one model in memory at a time
        free_models()
    return pd.DataFrame(rows)


def summarise_ablation(results: pd.DataFrame, k: int) -> pd.DataFrame:
    """Per variant: seeds, and mean with 95% CI half-width of faithful NDCG@k, std NDCG@k, RMSE and MAE."""
    from arerec.stats import summarise_seeds

    present = [m for m in ("ndcg", f"std_ndcg@{k}", "rmse", "mae") if m in results.columns]
    return summarise_seeds(results, ["variant"], present)


def free_models() -> None:
    import keras

    keras.backend.clear_session()
    gc.collect()


def ablation_verdicts(results: pd.DataFrame, k: int) -> list[dict[str, object]]:
    """The paper's claim that the ablation can judge: its windowed region beats the code's region
    (faithful NDCG@k and RMSE, paired by seed against the base variant). Left out, with the reason,
    when the grid has no windowed variant."""
    from arerec.stats import verdict

    runs = results.rename(columns={"variant": "model"})
    window = next((v for v in dict.fromkeys(runs["model"]) if "region_mode=window" in str(v)), None)
    claim = "The paper's windowed region beats the code's region"
    claims = [(f"{claim} (faithful NDCG@{k})", f"ndcg@{k}"), (f"{claim} (RMSE, lower is better)", "rmse")]
    if window is None:
        why = "the ablation grid has no {region_mode: window} variant (params/full.yaml has one)"
        return [{"claim": text, "metric": metric, "a": None, "b": "base", "verdict": "left out", "why": why}
                for text, metric in claims]
    return [verdict(runs, text, window, "base", metric) for text, metric in claims]
