"""The search's pruner against an alternative, replayed on the same learning curves.

A study keeps every trial's validation figures as it reported them (Optuna's intermediate values, ``reports_per_epoch``
an epoch). This replays those curves, trial by trial in the study's order, through a pruner in a fresh in-memory study:
the pruner sees what it would have seen, and says where it would have stopped each trial. Replaying the study's own
pruner gives back its own decisions (a check of the replay); replaying another says what that one would have done
with the same trials::

    python -m arerec.bench.pruners --journal studies/ml-100k/arerec-<key>.journal \
        --reports_per_epoch 2 --out reports/bench/pruners-arerec.json

What a replay cannot know: a trial that the study's pruner stopped, but the other would have let go on, has no figures
beyond where it was stopped; it is counted as going on past the record, and its final value is unknown. And with
another pruner, TPE would have drawn other trials after the first decision that differs: the replay compares the two
pruners' decisions on the same trials, not two whole studies.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arerec.files import write_json_atomic
from arerec.sweeps.spaces import quiet_optuna

PRUNERS = ("median", "successive_halving", "hyperband", "none")


@dataclass(frozen=True)
class Curve:
    """One finished trial as its study recorded it."""

    number: int
    state: str  # complete or pruned
    values: dict[int, float]  # step -> validation figure
    value: float | None  # a complete trial's objective


def read_curves(journal: str | Path, study_name: str | None = None) -> tuple[list[Curve], str, str]:
    """The finished trials of the study stored in ``journal`` (its only study, or ``study_name``), its direction and
    its name."""
    optuna = quiet_optuna()
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

    storage = JournalStorage(JournalFileBackend(str(journal), lock_obj=JournalFileOpenLock(str(journal))))
    names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
    study = optuna.load_study(study_name=study_name or names[0], storage=storage)
    finished = [t for t in study.get_trials(deepcopy=False)
                if t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)]
    curves = [Curve(t.number, t.state.name.lower(), dict(t.intermediate_values), t.value) for t in finished]
    return curves, study.direction.name.lower(), study.study_name


def make_pruner(name: str, *, warmup_epochs: int, reports_per_epoch: int, max_epochs: int, startup_trials: int = 5,
                reduction_factor: int = 2):
    """The pruner ``name`` as :mod:`arerec.sweeps.tuning` builds it."""
    from arerec.sweeps.search_settings import SearchSettings
    from arerec.sweeps.tuning import _pruner

    return _pruner(SearchSettings.checked({"pruner": name, "warmup_epochs": warmup_epochs,
                                           "reports_per_epoch": reports_per_epoch, "max_epochs": max_epochs,
                                           "pruner_startup_trials": startup_trials,
                                           "reduction_factor": reduction_factor}))


def replay(curves: Sequence[Curve], pruner, direction: str, reports_per_epoch: int,
           study_name: str = "arerec") -> list[dict[str, Any]]:
    """Each curve through ``pruner``, in order: where it stops the trial (epochs), or that it lets it finish (a
    complete trial), or that it lets it go on past its record (one the study's own pruner stopped)."""
    optuna = quiet_optuna()
    # named as the study replayed: Hyperband puts a trial in a bracket by a hash of the study's name and the trial's
    # number, so an unnamed study (a random name) would replay differently each time
    study = optuna.create_study(study_name=study_name, direction=direction, pruner=pruner,
                                sampler=optuna.samplers.RandomSampler(seed=0))
    rows = []
    for curve in curves:
        trial = study.ask()
        stopped = None
        last = max(curve.values, default=0)
        for step in sorted(curve.values):
            trial.report(curve.values[step], step)
            # asked at a complete trial's last figure too, its answer ignored, as the search does (tuning._Reporter)
            if trial.should_prune() and not (curve.state == "complete" and step == last):
                stopped = step
                break
        if stopped is not None:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            outcome, epochs = "pruned", stopped / reports_per_epoch
        elif curve.state == "complete":
            study.tell(trial, curve.value)
            outcome, epochs = "complete", last / reports_per_epoch
        else:  # the study's pruner stopped it here; this one would not have: what followed is unknown
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            outcome, epochs = "beyond the record", last / reports_per_epoch
        rows.append({"number": curve.number, "recorded": curve.state, "outcome": outcome, "epochs": epochs})
    return rows


def summary(rows: Sequence[Mapping[str, Any]], curves: Sequence[Curve], direction: str) -> dict[str, Any]:
    """Trials stopped before 1 and 2 epochs, epochs in all (a lower bound when some go past the record), and whether
    the study's best trial completes."""
    complete = [c for c in curves if c.state == "complete" and c.value is not None]
    pick = min if direction == "minimize" else max
    best = pick(complete, key=lambda c: float(c.value or 0.0)) if complete else None
    outcome = {r["number"]: r["outcome"] for r in rows}
    return {"trials": len(rows), "pruned": sum(r["outcome"] == "pruned" for r in rows),
            "pruned_before_1_epoch": sum(r["outcome"] == "pruned" and r["epochs"] < 1 for r in rows),
            "pruned_before_2_epochs": sum(r["outcome"] == "pruned" and r["epochs"] < 2 for r in rows),
            "beyond_the_record": sum(r["outcome"] == "beyond the record" for r in rows),
            "epochs_at_least": round(sum(r["epochs"] for r in rows), 2),
            "best_trial": best.number if best else None,
            "best_trial_completes": outcome.get(best.number) == "complete" if best else None}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m arerec.bench.pruners", description=__doc__.split("\n\n")[0])
    parser.add_argument("--journal", required=True, help="a study's journal file (Model/<dataset>/search/*.journal)")
    parser.add_argument("--pruners", nargs="+", default=["median", "successive_halving"], choices=PRUNERS)
    parser.add_argument("--warmup_epochs", type=int, default=2,
                        help="median's warm-up and the other pruners' first rung, in epochs (default 2: the study's)")
    parser.add_argument("--reports_per_epoch", type=int, default=2)
    parser.add_argument("--max_epochs", type=int, default=40)
    parser.add_argument("--reduction_factor", type=int, default=2,
                        help="successive halving's and Hyperband's (default 2: the search's)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    curves, direction, study_name = read_curves(args.journal)
    result: dict[str, Any] = {"command": "python -m arerec.bench.pruners " + " ".join(sys.argv[1:] if argv is None else argv),
                              "journal": str(args.journal), "direction": direction,
                              "reduction_factor": args.reduction_factor, "pruners": {}}
    for pruner_name in args.pruners:
        pruner = make_pruner(pruner_name, warmup_epochs=args.warmup_epochs, reports_per_epoch=args.reports_per_epoch,
                             max_epochs=args.max_epochs, reduction_factor=args.reduction_factor)
        rows = replay(curves, pruner, direction, args.reports_per_epoch, study_name)
        result["pruners"][pruner_name] = {"warmup_epochs": args.warmup_epochs, **summary(rows, curves, direction),
                                          "trials_by": rows}
    write_json_atomic(args.out, result)
    print(json.dumps({pruner_name: {k: v for k, v in entry.items() if k != "trials_by"}
                      for pruner_name, entry in result["pruners"].items()}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
