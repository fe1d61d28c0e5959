"""Runs over seeds and variants, summarised as mean ± 95% CI (issue: seeds and uncertainty)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from arerec.config import Config
from arerec.files import atomic_path
from arerec.stats import summarise_seeds

log = logging.getLogger(__name__)

HEADLINE_METRICS = ("hr@10", "ndcg@10", "std_ndcg@10", "rmse", "mae", "accuracy")


def run_seeds(cfg: Config, seeds: Sequence[int], variants: Mapping[str, Mapping] | None = None,
              out: str | Path | None = None) -> pd.DataFrame:
    """Train (or re-use) every variant under every seed; one row per (variant, seed).

    ``variants`` maps a label to Config overrides (default: the configuration itself). Finished
    runs under ``model_path`` are loaded, not retrained, so an interrupted sweep resumes. With
    ``out``, the table is rewritten atomically after every run.
    """
    from arerec.training import train_or_load

    variants = variants or {"arerec": {}}
    rows = []
    for label, overrides in variants.items():
        for seed in seeds:
            run_cfg = cfg.replace(**{**overrides, "seed": seed})
            log.info("variant %s, seed %d", label, seed)
            result = train_or_load(run_cfg)
            final = {k: v for k, v in result.final.items() if isinstance(v, (int, float))}
            rows.append({"variant": label, "seed": seed, "model_name": result.name, **final})
            if out is not None:
                _write_csv(pd.DataFrame(rows), Path(out))
    return pd.DataFrame(rows)


def summarise(runs: pd.DataFrame, metrics: Sequence[str] = HEADLINE_METRICS) -> pd.DataFrame:
    present = [m for m in metrics if m in runs.columns]
    return summarise_seeds(runs, ["variant"], present)


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
