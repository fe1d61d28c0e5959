"""A baseline's validation RMSE against its epochs alone, the other parameters held: whether a study's epochs sit on a
plateau or at an optimum (docs/decisions.md 43).

    python scripts/baseline_epochs.py --params full --model biased_mf \\
        --set n_factors=362 --set reg_all=0.11472 --set lr_all=0.02996 --epochs 5,10,15,20,25,30,40,60,80,100

One fit per count, on the tier's validation split (the split its study searches on, seeded as the study seeds it);
one JSON line per fit, with the seconds it took. Run it from the repository root, where the tier's data lies.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from arerec.data.inputs import load_experiment
from arerec.errors import ConfigError
from arerec.evaluate.baselines import fit_predict
from arerec.evaluate.scoring import score_ratings
from arerec.report.parameters import load, parse_set


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", default="full", help="the tier (params/NAME.yaml over base and ablation)")
    parser.add_argument("--model", default="biased_mf", help="a baseline with n_epochs: biased_mf, user_item_bias")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a parameter held fixed (repeat)")
    parser.add_argument("--epochs", required=True, help="comma-separated epoch counts, e.g. 10,25,100")
    args = parser.parse_args(argv)
    try:
        held = parse_set(args.set)
    except ConfigError as error:
        parser.error(str(error))
    try:
        counts = [int(n) for n in args.epochs.split(",")]
    except ValueError:
        parser.error(f"--epochs takes comma-separated integers, received: {args.epochs!r}")
    params = load(args.params, Path("."))
    exp = load_experiment(params.search.tuned_config(params.config))
    if exp.prepared.valid is None:
        parser.error(f"params {args.params!r} has no validation split: its protocol must be 'clean'")
    for n in counts:
        started = time.perf_counter()
        pred, _ = fit_predict(args.model, exp.prepared.train, exp.prepared.valid, seed=params.search.runs.seed,
                              params={**held, "n_epochs": n})
        rmse = float(score_ratings(exp, pred, "valid")["rmse"]) if np.isfinite(pred).all() else float("nan")
        print(json.dumps({**held, "n_epochs": n, "val_rmse": round(rmse, 5),
                          "seconds": round(time.perf_counter() - started, 1)}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
