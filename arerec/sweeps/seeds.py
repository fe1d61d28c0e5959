"""Runs over seeds and variants, summarised as mean ± 95% CI (issue: seeds and uncertainty)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from arerec.config import Config
from arerec.console import say
from arerec.evaluate.stats import summarise_seeds
from arerec.files import write_csv_atomic

log = logging.getLogger(__name__)


HEADLINE_METRICS = ("hr@10", "ndcg@10", "std_ndcg@10", "rmse", "mae", "accuracy")


def sweep(cfg: Config, seeds: Sequence[int], variants: Mapping[str, Mapping] | None = None):
    """(label, seed, Config) of every run of a sweep: each variant's overrides under each seed."""
    return [(label, seed, cfg.replace(**{**overrides, "seed": seed}))
            for label, overrides in (variants or {"arerec": {}}).items() for seed in seeds]


def run_seeds(cfg: Config, seeds: Sequence[int], variants: Mapping[str, Mapping] | None = None,
              out: str | Path | None = None, columns: Mapping[str, object] | None = None,
              progress=None) -> pd.DataFrame:
    """Train (or re-use) every variant under every seed; one row per (variant, seed).

    ``variants`` maps a label to Config overrides (default: the configuration itself). Finished
    runs under ``model_path`` are loaded, not retrained, so an interrupted sweep resumes. With
    ``out``, the table is rewritten atomically after every run. ``columns`` are constant
    columns put first in every row (e.g. the protocol). Only one model is held at a time.
    """
    from arerec.train.build import free_models
    from arerec.train.loop import train_or_load

    rows = []
    for label, seed, run_cfg in sweep(cfg, seeds, variants):
        log.info("variant %s, seed %d", label, seed)
        what = " ".join([*(f"{v}:" for v in (columns or {}).values()), f"{label}, seed {seed}"])
        if progress is None:
            say(what)
        else:
            progress.start(what)
        result = train_or_load(run_cfg)
        if progress is not None:
            progress.done(loaded=result.loaded)
        final = {k: v for k, v in result.final.items() if isinstance(v, (int, float))}
        rows.append({**(columns or {}), "variant": label, "seed": seed, "model_name": result.name,
                     "train_seconds": float(result.history["seconds"].sum()), **final})
        del result
        free_models()  # the LCU tables are large
        if out is not None:
            write_csv_atomic(out, pd.DataFrame(rows))
    return pd.DataFrame(rows)


def summarise(runs: pd.DataFrame, metrics: Sequence[str] = HEADLINE_METRICS) -> pd.DataFrame:
    present = [m for m in metrics if m in runs.columns]
    return summarise_seeds(runs, ["variant"], present)
