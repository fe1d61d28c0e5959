"""Hyper-parameters chosen on validation: a grid searched by successive halving (clean protocol).

A grid is a mapping of axes to lists (``params/ablation.yaml``, key ``validation_search``)::

    grid:
      lr: [0.001, 0.003]                 # an axis named after a Config field: its values
      regularisation:                    # any other name: a list of dicts of Config overrides
        - {}
        - {use_dropout: 1}

Every combination of one entry per axis is a configuration. Successive halving trains them all
to the first rung's epochs, keeps the better ``keep`` share (at least one) on the validation
``selection_metric``, trains those to the next rung's epochs, and so on. A run that continues
resumes from its own checkpoint, so nothing is trained twice, and the winner's run is the first
seed of the tuned headline. Early stopping (``patience``) applies inside rungs too: a run that
stopped is finished and keeps its score.

Test is never looked at while choosing: the search trains with ``score_test=False`` and reads only
validation figures. :func:`search` returns every configuration tried with its validation score
and epochs (the report's tuning table) and the chosen one.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from arerec.config import Config, lower_is_better
from arerec.errors import ConfigError
from arerec.sweeps.cluster import Executor, train_runs

log = logging.getLogger(__name__)

SETTINGS = {
    "grid": "axes: a Config field with a list of values, or a name with a list of dicts of Config overrides",
    "rungs": "epochs each surviving configuration has trained after each round, increasing (e.g. [1, 2, 4])",
    "keep": "share of configurations kept after each round, in (0, 1)",
    "max_epochs": "the tuned runs' maximum epochs (early stopping usually ends them sooner)",
    "patience": "epochs without improvement on validation before a tuned run stops (>= 1)",
    "selection_metric": "validation figure that ranks configurations and chooses epochs",
    "seed": "seed of the search's runs (the tuned headline's first seed re-uses its winner)",
}
DEFAULTS: dict[str, Any] = {"grid": {"lr": [0.001, 0.003]}, "rungs": [1, 2], "keep": 0.5, "max_epochs": 8,
                            "patience": 1, "selection_metric": "val_loss", "seed": 0}


# --------------------------------------------------------------------------------------------
# The grid
# --------------------------------------------------------------------------------------------
def configurations(grid: Mapping[str, Sequence]) -> list[dict[str, Any]]:
    """Every combination of one entry per axis, as one dict of Config overrides, in grid order."""
    fields = set(Config.field_names())
    axes = []
    for name, values in grid.items():
        axes.append([{name: v} for v in values] if name in fields else [dict(v) for v in values])
    combos = []
    for parts in itertools.product(*axes):
        merged: dict[str, Any] = {}
        for part in parts:
            merged.update(part)
        combos.append(merged)
    return combos


def label(overrides: Mapping[str, Any]) -> str:
    """A short, readable name of a configuration: ``lr=0.003, use_dropout=1``."""
    if not overrides:
        return "as configured"
    return ", ".join(f"{k}={_short(v)}" for k, v in overrides.items())


def _short(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value) + "]"
    return f"{value:g}" if isinstance(value, float) else str(value)


def settings(values: Mapping[str, Any] | None) -> dict[str, Any]:
    """The search settings with defaults filled in, checked (see :func:`check`)."""
    merged = {**DEFAULTS, **(values or {})}
    unknown = sorted(set(merged) - set(SETTINGS))
    if unknown:
        raise ConfigError(f"unknown validation_search setting(s) {unknown}; valid: "
                          + "; ".join(f"{k} ({v})" for k, v in SETTINGS.items()))
    return merged


def check(base: Config, values: Mapping[str, Any] | None) -> dict[str, Any]:
    """Raise ConfigError, before any training, for an unknown key or an impossible value of the search.

    Every configuration of the grid is built as a Config, so a bad value fails here with Config's
    own message, naming the grid entry.
    """
    tune = settings(values)

    def need(ok: bool, message: str) -> None:
        if not ok:
            raise ConfigError(f"validation_search: {message}")

    grid = tune["grid"]
    need(isinstance(grid, Mapping) and len(grid) >= 1, f"grid must be a non-empty mapping of axes, received: {grid!r}")
    fields = set(Config.field_names())
    for axis, values_ in grid.items():
        need(isinstance(values_, list) and len(values_) >= 1,
             f"grid axis {axis!r} must be a non-empty list, received: {values_!r}")
        if axis not in fields:
            need(all(isinstance(v, Mapping) for v in values_),
                 f"grid axis {axis!r} is not a Config field, so each entry must be a dict of Config overrides; "
                 f"received: {values_!r}. Config fields: {', '.join(sorted(fields))}")
    rungs = tune["rungs"]
    need(isinstance(rungs, list) and len(rungs) >= 1 and all(isinstance(r, int) and r >= 1 for r in rungs)
         and rungs == sorted(set(rungs)), f"rungs must be a non-empty increasing list of epochs >= 1, received: {rungs!r}")
    need(isinstance(tune["keep"], (int, float)) and 0 < tune["keep"] < 1, f"keep must be in (0, 1), received: {tune['keep']!r}")
    need(isinstance(tune["max_epochs"], int) and tune["max_epochs"] >= rungs[-1],
         f"max_epochs must be an integer >= the last rung ({rungs[-1]}), received: {tune['max_epochs']!r}")
    need(isinstance(tune["patience"], int) and tune["patience"] >= 1,
         f"patience must be an integer >= 1, received: {tune['patience']!r}")
    need(isinstance(tune["seed"], int) and tune["seed"] >= 0, f"seed must be an integer >= 0, received: {tune['seed']!r}")
    tuned = tuned_config(base, {}, tune)  # checks selection_metric against Config's list
    for overrides in configurations(grid):
        try:
            tuned.replace(**overrides)
        except ConfigError as exc:
            raise ConfigError(f"validation_search: grid configuration {label(overrides)!r}: {exc}") from None
    return tune


def tuned_config(base: Config, overrides: Mapping[str, Any], tune: Mapping[str, Any]) -> Config:
    """``base`` under the clean protocol with ``overrides``, the search's schedule and early stopping."""
    return base.replace(protocol="clean", epochs=tune["max_epochs"], patience=tune["patience"],
                        selection_metric=tune["selection_metric"], load_model=0, model_name="", load_weight_path="",
                        do_train=1, **dict(overrides))


# --------------------------------------------------------------------------------------------
# The search
# --------------------------------------------------------------------------------------------
@dataclass
class Trial:
    """One configuration of the grid and how far it got."""

    number: int
    overrides: dict[str, Any]
    cfg: Config
    rung: int = 0
    score: float = float("nan")
    best_epoch: int = 0
    epochs: int = 0
    stopped_early: int = 0
    val_loss: float = float("nan")
    seconds: float = 0.0
    run: str = ""

    def row(self) -> dict[str, Any]:
        return {"config": self.number, "label": label(self.overrides), "overrides": json.dumps(self.overrides),
                "rounds": self.rung, "epochs": self.epochs, "best_epoch": self.best_epoch,
                "val_score": self.score, "val_loss": self.val_loss, "stopped_early": self.stopped_early,
                "train_seconds": round(self.seconds, 1), "run": self.run}


@dataclass
class SearchResult:
    table: pd.DataFrame  # one row per configuration tried, best first
    chosen: dict[str, Any]  # the winner's overrides
    metric: str
    rounds: list[dict[str, Any]] = field(default_factory=list)

    def chosen_config(self, base: Config, tune: Mapping[str, Any]) -> Config:
        return tuned_config(base, self.chosen, tune)

    def records(self) -> list[dict[str, Any]]:
        """The table for metrics.json: one entry per configuration, with its ``config`` (the overrides)."""
        rows: list[dict[Any, Any]] = self.table.to_dict("records")
        return [{**row, "config": json.loads(row["overrides"])} for row in rows]


def search(base: Config, values: Mapping[str, Any] | None, progress=None,
           executor: Executor | None = None) -> SearchResult:
    """Successive halving over the grid of ``values`` (see the module docstring).

    ``progress`` (an :class:`arerec.sweeps.progress.Progress`) is told each run as it starts and ends. Each
    round's unfinished runs first train with ``executor`` (:func:`arerec.sweeps.cluster.train_runs`, without
    scoring test); the round's loop then loads them.
    """
    from arerec.train.build import free_models
    from arerec.train.loop import train_or_load
    tune = check(base, values)
    metric = tune["selection_metric"]
    trials = [Trial(n, overrides, tuned_config(base, overrides, tune).replace(seed=tune["seed"]))
              for n, overrides in enumerate(configurations(tune["grid"]), start=1)]
    alive = list(trials)
    rounds = []
    for rung, epochs in enumerate(tune["rungs"], start=1):
        train_runs([trial.cfg.replace(epochs=epochs) for trial in alive], executor, score_test=False)
        for trial in alive:
            cfg = trial.cfg.replace(epochs=epochs)
            if progress is not None:
                progress.start(f"tuning round {rung}/{len(tune['rungs'])} ({epochs} epoch(s)): {label(trial.overrides)}")
            started = time.perf_counter()
            result = train_or_load(cfg, score_test=False)
            final = result.final  # the epoch chosen on validation (selection.chosen_epoch); no test figure
            trial.rung, trial.run = rung, result.name
            trial.score, trial.best_epoch = float(final["val_score"]), int(final["best_epoch"])
            trial.epochs, trial.stopped_early = int(final["epochs_trained"]), int(final["stopped_early"])
            trial.val_loss, trial.seconds = float(final["val_loss"]), float(result.history["seconds"].sum())
            del result
            free_models()
            if progress is not None:
                progress.done(time.perf_counter() - started)
        ranked = ranking(alive, metric)
        keep = max(1, math.ceil(len(ranked) * tune["keep"])) if rung < len(tune["rungs"]) else 1
        rounds.append({"round": rung, "epochs": epochs, "trained": len(alive), "kept": keep,
                       "kept_configs": [t.number for t in ranked[:keep]]})
        log.info("tuning round %d: kept %s", rung, [label(t.overrides) for t in ranked[:keep]])
        alive = ranked[:keep]
    winner = alive[0]
    table = pd.DataFrame([t.row() for t in ranking(trials, metric, by_round=True)])
    table.insert(1, "chosen", table["config"] == winner.number)
    return SearchResult(table, dict(winner.overrides), metric, rounds)


def ranking(trials: Sequence[Trial], metric: str, *, by_round: bool = False) -> list[Trial]:
    """Best first on the validation score; ``by_round`` puts those that reached later rounds first.
    Ties keep grid order."""
    sign = 1 if lower_is_better(metric) else -1

    def key(t: Trial):
        return ((-t.rung if by_round else 0), sign * t.score if t.score == t.score else math.inf, t.number)

    return sorted(trials, key=key)


def planned_runs(values: Mapping[str, Any] | None) -> int:
    """How many train-or-load calls :func:`search` makes (for progress before it starts)."""
    tune = settings(values)
    alive, total = len(configurations(tune["grid"])), 0
    for rung in range(len(tune["rungs"])):
        total += alive
        alive = max(1, math.ceil(alive * tune["keep"])) if rung < len(tune["rungs"]) - 1 else 1
    return total


def recorded_choice(base: Config, values: Mapping[str, Any] | None, recorded: Mapping[str, Any] | None,
                    progress=None, executor: Executor | None = None) -> dict[str, Any]:
    """The chosen overrides that notebook 02 recorded (``metrics.json``, ``02_training.chosen``), when it
    recorded them for the same search; otherwise the search is run with ``executor`` (finished runs are only read)."""
    tune = check(base, values)
    if recorded and recorded.get("search") == _fingerprint(base, tune):
        return dict(recorded["overrides"])
    return search(base, tune, progress, executor).chosen


def _fingerprint(base: Config, tune: Mapping[str, Any]) -> str:
    """What a recorded choice depends on: the search settings and the configuration it started from."""
    return json.dumps({"tuning": dict(tune), "base": base.replace(seed=0).to_dict()}, sort_keys=True, default=str)


def choice_record(base: Config, tune: Mapping[str, Any], result: SearchResult) -> dict[str, Any]:
    """``02_training.chosen`` in metrics.json: the winner's overrides, its label and full configuration."""
    cfg = result.chosen_config(base, tune)
    return {"overrides": result.chosen, "label": label(result.chosen), "selection_metric": result.metric,
            "config": cfg.to_dict(), "search": _fingerprint(base, tune)}
