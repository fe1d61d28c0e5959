"""Why does a tuned ARERec's argmax drift to the majority class? Each suspect switched off in turn, measured.

The study before issue 29 (35 Optuna trials per model, ``reports/full`` built at 4cf0604) chose, for ARERec and for
ARERec with attention off, configurations whose test argmax was the majority class for nearly every row. This trains
each of them on the clean split (seed 0) as chosen and with its regularisation switched off piece by piece (dropout,
the L2 terms, both), each run to convergence (early stopping with ``patience``, at most ``max_epochs``), and records
per epoch the validation cross-entropy and the share of validation rows given the most frequent argmax class
(``majority_share``), and at the chosen epoch the test accuracy and majority share::

    python -m arerec.bench.collapse --params params/base.yaml --out reports/bench/collapse.json

The runs are ordinary run folders under ``model_path`` (a second call loads them). docs/decisions.md reads the result.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from arerec.config import DEFAULT_DROPOUT_RATES, DEFAULT_REGULARIZER_RATES, Config, load_yaml_layers
from arerec.files import write_csv_atomic, write_json_atomic

log = logging.getLogger(__name__)

# What the 35-trial study at 4cf0604 chose (reports/full/metrics.json, 02_training.search[model].settings).
EARLIER_OPTIMA: dict[str, dict[str, Any]] = {
    "ARERec": {"batch_size": 64, "emb_size": 16, "lr": 0.00178, "num_head": 2, "region_size": 11,
               "use_dropout": 1, "dropout": [0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25],
               "use_regularizer": 1, "regularizer": [9.49e-07] * 5, "table_l2": 8.99e-06},
    "ARERec, attention off": {"use_attention": 0, "batch_size": 128, "emb_size": 32, "lr": 0.0041, "region_size": 11,
                              "use_dropout": 1, "dropout": [0.25, 0.25, 0.25] + [0.375] * 6,
                              "use_regularizer": 1, "regularizer": [4.41e-06] * 5, "table_l2": 2.27e-06},
}
NO_DROPOUT = {"use_dropout": 0, "dropout": list(DEFAULT_DROPOUT_RATES)}
NO_L2 = {"use_regularizer": 0, "regularizer": list(DEFAULT_REGULARIZER_RATES), "table_l2": 0.0}
VARIANTS: dict[str, dict[str, Any]] = {"as chosen": {}, "dropout off": NO_DROPOUT, "L2 off": NO_L2,
                                       "dropout and L2 off": {**NO_DROPOUT, **NO_L2}}


def variants(base: Config, models: Mapping[str, Mapping[str, Any]] = EARLIER_OPTIMA,
             switches: Mapping[str, Mapping[str, Any]] = VARIANTS, *, max_epochs: int = 20,
             patience: int = 3) -> dict[tuple[str, str], Config]:
    """(model, variant) -> the run's configuration: clean protocol, early stopping on validation cross-entropy."""
    runs = {}
    for model, chosen in models.items():
        for name, switch in switches.items():
            runs[(model, name)] = base.replace(
                protocol="clean", epochs=max_epochs, patience=patience, selection_metric="val_ce",
                checkpoint_policy="lean", load_model=0, model_name="", load_weight_path="", do_train=1,
                **{**chosen, **switch})
    return runs


def measure(runs: Mapping[tuple[str, str], Config]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train (or load) every run; (per-epoch table, per-run table)."""
    from arerec.train.build import free_models
    from arerec.train.loop import train_or_load

    epochs, finals = [], []
    for (model, variant), cfg in runs.items():
        log.info("collapse: %s, %s", model, variant)
        result = train_or_load(cfg)
        history = result.history
        epochs.append(history[["epoch", "loss", "val_ce", "majority_share", "accuracy"]]
                      .assign(model=model, variant=variant))
        final = result.final
        first_off_prior = history.loc[history["majority_share"] < 0.95, "epoch"]
        finals.append({"model": model, "variant": variant, "run": result.name,
                       "best_epoch": int(final["best_epoch"]), "epochs_trained": int(final["epochs_trained"]),
                       "stopped_early": bool(final["stopped_early"]), "val_ce": float(final["val_score"]),
                       "val_majority_share_at_best": float(
                           history.loc[history["epoch"] == final["best_epoch"], "majority_share"].iloc[0]),
                       "first_epoch_below_95pct": int(first_off_prior.iloc[0]) if len(first_off_prior) else None,
                       "test_accuracy": float(final["accuracy"]),
                       "test_majority_share": float(final.get("majority_share", float("nan"))),
                       "test_ndcg@10": float(final["ndcg@10"]), "test_rmse": float(final["rmse"])})
        del result
        free_models()
    return pd.concat(epochs, ignore_index=True), pd.DataFrame(finals)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m arerec.bench.collapse", description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", nargs="+", default=["params/base.yaml"], help="params files, layered in order")
    parser.add_argument("--max_epochs", type=int, default=20)
    parser.add_argument("--patience", type=int, default=3)
    parser.add_argument("--out", default="reports/bench/collapse.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    base = load_yaml_layers(args.params)
    per_epoch, per_run = measure(variants(base, max_epochs=args.max_epochs, patience=args.patience))
    out = Path(args.out)
    write_csv_atomic(out.with_suffix(".epochs.csv"), per_epoch)
    write_json_atomic(out, {"command": "python -m arerec.bench.collapse " + " ".join(argv or []),
                            "configurations": EARLIER_OPTIMA, "variants": VARIANTS, "max_epochs": args.max_epochs,
                            "patience": args.patience, "runs": per_run.to_dict("records")})
    print(per_run.to_string(index=False))
    print(json.dumps({"out": str(out)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
