"""Hyper-parameters chosen on validation: one Optuna study per model, the same trial budget for every model.

``validation_search`` (``params/ablation.yaml``) holds the settings and one search space per model
(:mod:`arerec.sweeps.spaces`)::

    validation_search:
      n_trials: 35              # trials per searched model: ARERec, ARERec with attention off, each baseline
      sampler: tpe              # seeded TPE (its first n_startup_trials are random), or random
      n_startup_trials: 5
      pruner: successive_halving  # or median, hyperband, none (ARERec trials only)
      pruner_startup_trials: 5  # median: completed trials before it stops any
      warmup_epochs: 2          # epochs every ARERec trial trains before the pruner may stop it (the first rung)
      reports_per_epoch: 2      # validation figures reported to the pruner per epoch
      max_epochs: 40            # each ARERec trial trains to its validation optimum (early stopping) ...
      patience: 3
      selection_metric: val_ce  # ... on this validation figure, which is also the study's objective
      seed: 0
      spaces: {arerec: {lr: {low: 0.00001, high: 0.03, log: true}, ...}, biased_mf: {...}, ...}
      continue_from: {arerec: 1fb420ffd032}  # optional: a refined space's new study starts with an earlier one's trials

An ARERec trial is a run like any other (:func:`arerec.train.loop.train_or_load`, clean protocol, the search's
seed), trained with ``checkpoint_policy: lean``: it reports its validation figure ``reports_per_epoch`` times an
epoch, and once it has trained ``warmup_epochs`` epochs the pruner may stop it when it falls behind the other trials
at the same point (successive halving: at 2, 4, 8, 16 epochs it goes on only in the better half; docs/decisions.md
26 and 35 say why not the median pruner or a factor of 3, measured). A trial the pruner
lets through trains until its validation figure has not improved for ``patience`` epochs. A pruned trial's weights
are deleted at once, a completed one's once a better trial completes, so the study keeps only the best trial's
weights (and, with ``choose_within``, those of the trials within its margin of the best, which the one-standard-error
rule chooses among: :func:`choose`): the chosen run is the tuned headline's first seed. A baseline trial fits on the training rows and is scored on
validation (RMSE, the objective; its faithful and standard NDCG are kept beside it).

Each study is stored in a journal file under ``{model_path}/{dataset}/search/`` beside the runs (or in the folder
``journals`` names: the full tier keeps its journals in the repository, under ``studies/ml-100k/``), named after what
it searches, so an interrupted search resumes where it stopped, through Optuna's public API: finished trials are
read, not trained again; a trial that was cut off (its process killed, or an error) is told FAIL and its
parameters enqueued (``study.enqueue_trial``), so the next trial is the same one again, and it resumes from its
run's last checkpoint with the validation figures it had reported. The study's one sampler seeds itself before each
trial from the search's seed and the number of trials started before it (:class:`TrialSeededSampler`), so a resumed
study draws what an uninterrupted one would. A range widened later continues the same study (its bounds are not
part of the study's name; a categorical's choices are, as Optuna cannot change them within a study). A space
refined beyond that (a finer step, more choices) is a new study; ``continue_from: {model: KEY}`` starts it with the
finished trials of the earlier study ``{model}-KEY`` whose values fit the new space (:func:`continue_earlier`).
``start_from: {model: {label: configuration}}`` gives a new study configurations to try first, in their labels'
order (enqueued: the paper's, or one an earlier study found), before the sampler draws; they count as trials and are
pruned like the others, and the trial table names them. Only one process may run a study at a time (a lock beside
its journal). Test is never read.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from arerec.config import Config, lower_is_better
from arerec.errors import ConfigError
from arerec.sweeps.search_settings import SearchSettings
from arerec.sweeps.spaces import (
    ARERECS,
    Space,
    arerec_overrides,
    baseline_params,
    parse_space,
    quiet_optuna,
    rounded,
)

log = logging.getLogger(__name__)

BASELINE_OBJECTIVE = "val_rmse"  # the baselines' studies minimise validation RMSE
EPOCHS_REACHED = (1, 2, 4, 8, 16, 32)  # the report counts the trials that trained at least this many epochs
# How an ARERec trial's figures reach the pruner; part of its study's key, raised when that changes (decisions 34).
# 2: a trial's last figure, a loaded run's figures and an earlier study's copies are all told the pruner, so
#    each counts at the rungs it reached.
PRUNING_RULES = 2
INFEASIBLE = "infeasible"  # the user attribute of a trial with no score: its batch was too large, or its fit diverged
START_POINT = "start_point"  # the user attribute of a trial the study was given (validation_search.start_from): its label


class InfeasibleTrial(Exception):
    """A drawn configuration with no score: an ARERec batch that would gather more than ``max_batch_values`` LCU
    values (not trained), or a baseline whose fit diverged (its predictions not finite). Told FAIL
    (``study.optimize`` catches it) with the reason in its ``infeasible`` attribute, and not run again."""


def _infeasible(study) -> int:
    TrialState = quiet_optuna().trial.TrialState
    return sum(INFEASIBLE in t.user_attrs for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)))


def _check_feasible(study, tune: SearchSettings) -> None:
    """ConfigError once the space has given 10 draws with no score per trial of the budget: nothing, or too little,
    of it fits ``max_batch_values`` (ARERec) or fits without diverging (a baseline)."""
    if (n := _infeasible(study)) < 10 * tune.n_trials:
        return
    if study.study_name in ARERECS:
        raise ConfigError(f"validation_search: {n} configurations drawn for {study.study_name} gathered more LCU values "
                          f"a batch than max_batch_values ({tune.max_batch_values:,}) allows: raise it, or lower the "
                          "upper ends of batch_size, emb_size and region_size")
    raise ConfigError(f"validation_search: {n} configurations drawn for {study.study_name} diverged (predictions not "
                      "finite): narrow its space, e.g. lower the upper end of its learning rate")


def batch_values(cfg: Config, max_seq: int) -> int:
    """The LCU values one training batch of ``cfg`` gathers: batch_size x max_seq x region_size x emb_size."""
    return cfg.data.batch_size * max_seq * cfg.model.region_size * cfg.model.emb_size


def check(base: Config, values: SearchSettings | Mapping[str, Any] | None) -> SearchSettings:
    """``values`` (settings, or their flat mapping) as the search's settings, checked against ``base`` before any
    training: ConfigError for an unknown key or an impossible value (:meth:`SearchSettings.check`)."""
    return SearchSettings.checked(values).check(base)


def label(overrides: Mapping[str, Any]) -> str:
    """A short, readable name of a configuration: ``lr=0.003, emb_size=32``."""
    if not overrides:
        return "as configured"
    return ", ".join(f"{k}={_short(v)}" for k, v in overrides.items())


def _short(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value) + "]"
    return f"{value:g}" if isinstance(value, float) else str(value)


# --------------------------------------------------------------------------------------------
# Studies on disk
# --------------------------------------------------------------------------------------------
def study_key(base: Config, tune: SearchSettings, model: str) -> str:
    """What a study's trials depend on: its model, its parameters (with a categorical's choices and a range's scale,
    not its bounds: a widened range continues the study), the search's settings except the budget (a larger
    ``n_trials`` continues the same study), the configuration it starts from, the trials it is given first (its own
    ``start_from``, not another model's) and, for ARERec, ``PRUNING_RULES``; not which trial is chosen from them
    (``choose_within``), nor where the journal is kept (``journals``)."""
    what: dict[str, Any] = {
        "model": model, "space": parse_space(model, tune.spaces[model]).key(),
        "settings": {k: v for k, v in tune.to_dict().items()
                     if k not in ("n_trials", "spaces", "continue_from", "start_from", "choose_within", "journals")},
        "base": base.replace(seed=0).to_dict()}
    if model in tune.start_from:
        what["start_from"] = tune.start_from[model]
    if model in ARERECS:  # a study decided under other pruning rules is not continued
        what["pruning_rules"] = PRUNING_RULES
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:12]


def study_path(base: Config, tune: SearchSettings, model: str) -> Path:
    """The journal of ``model``'s study: in ``journals`` when set (a folder the repository keeps), else beside the
    runs, under ``{model_path}/{dataset}/search``."""
    folder = (Path(tune.journals.format(dataset=base.data.dataset)) if tune.journals
              else Path(base.training.model_path) / base.data.dataset / "search")
    return folder / f"{model}-{study_key(base, tune, model)}.journal"


_STARTED = ("COMPLETE", "PRUNED", "RUNNING")


def trial_seeded_sampler(tune: SearchSettings):
    """The study's sampler: :class:`TrialSeededSampler` over TPE or random search (made here, where Optuna is
    imported, so that the module imports without it)."""
    optuna = quiet_optuna()

    class TrialSeededSampler(optuna.samplers.BaseSampler):  # type: ignore[name-defined]
        """One sampler per study that seeds its TPE (or random) draw before each trial from the search's seed and
        the number of trials started before this one (complete, pruned or running, or found infeasible; a trial
        that failed otherwise, which is enqueued again, does not count). A resumed study's next draw then depends
        only on its stored trials, never on what the process drew before, so it is the draw of an uninterrupted study; trials started at once on a
        cluster get different seeds. Optuna's samplers keep their random state in memory only, so this is how a
        seeded study stays reproducible across processes."""

        def __init__(self) -> None:
            self._inner = self._seeded(0)

        @staticmethod
        def _seeded(index: int):
            seed = tune.runs.seed * 100_003 + index
            if tune.sampler == "random":
                return optuna.samplers.RandomSampler(seed=seed)
            return optuna.samplers.TPESampler(seed=seed, n_startup_trials=tune.n_startup_trials)

        def before_trial(self, study, trial) -> None:
            started = [t for t in study.get_trials(deepcopy=False)
                       if (t.state.name in _STARTED or INFEASIBLE in t.user_attrs) and t.number != trial.number]
            self._inner = self._seeded(len(started))
            self._inner.before_trial(study, trial)

        def infer_relative_search_space(self, study, trial):
            return self._inner.infer_relative_search_space(study, trial)

        def sample_relative(self, study, trial, search_space):
            return self._inner.sample_relative(study, trial, search_space)

        def sample_independent(self, study, trial, param_name, param_distribution):
            return self._inner.sample_independent(study, trial, param_name, param_distribution)

        def after_trial(self, study, trial, state, values) -> None:
            self._inner.after_trial(study, trial, state, values)

        def reseed_rng(self) -> None:
            self._inner.reseed_rng()

    return TrialSeededSampler()


def _pruner(tune: SearchSettings):
    """The search's pruner; its first decision comes after ``warmup_epochs`` epochs of a trial. Successive halving's
    competitors are the trials that did not fail (:func:`without_failed`)."""
    optuna = quiet_optuna()
    steps = tune.reports_per_epoch
    warmup = tune.warmup_epochs * steps  # in reports: the pruner is told step (epoch - 1) * steps + k
    if tune.pruner == "median":  # pruned when its best so far is worse than the completed trials' median there
        return optuna.pruners.MedianPruner(n_startup_trials=tune.pruner_startup_trials, n_warmup_steps=warmup)
    factor = tune.reduction_factor
    if tune.pruner == "successive_halving":  # rungs at warmup, f x warmup, f^2 x warmup, ... reports: the best 1/f
        # of the trials that reached a rung go on (Optuna's asynchronous version: the first trials at a rung go on
        # while they are among the best there)
        return without_failed(optuna.pruners.SuccessiveHalvingPruner(min_resource=max(1, warmup),
                                                                     reduction_factor=factor))
    if tune.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=max(1, warmup), max_resource=tune.runs.epochs * steps,
                                              reduction_factor=factor)
    return optuna.pruners.NopPruner()


def without_failed(inner):
    """``inner`` (a successive-halving pruner) deciding as if the study's failed trials were not there.

    It compares a trial with every trial of the study that reached the same rung, whatever its state. A
    trial cut off by an interrupted process is told FAIL and enqueued again (:func:`requeue_cut_off`); its
    resumption reaches the same rungs with the same values, so the cut-off copy would count a second time and a
    resumed study would decide otherwise than an uninterrupted one. A trial that failed for another reason is no
    competitor either."""
    optuna = quiet_optuna()
    failed = optuna.trial.TrialState.FAIL

    class _StudyWithoutFailed:
        def __init__(self, study) -> None:
            self._study = study

        def get_trials(self, deepcopy: bool = True, states=None):
            return [t for t in self._study.get_trials(deepcopy=deepcopy, states=states) if t.state != failed]

        def __getattr__(self, name: str):
            return getattr(self._study, name)

    class WithoutFailed(optuna.pruners.BasePruner):
        def __init__(self) -> None:
            self.inner = inner

        def prune(self, study, trial) -> bool:
            return self.inner.prune(_StudyWithoutFailed(study), trial)

    return WithoutFailed()


def open_study(path: Path, model: str, direction: str, tune: SearchSettings):
    """The study stored at ``path`` (created when new), with the search's pruner.

    A stored study is loaded, not created again: ``create_study(load_if_exists=True)`` appends a creation record to
    the journal each time, so a committed journal would change on every run that only reads it."""
    optuna = quiet_optuna()
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

    path.parent.mkdir(parents=True, exist_ok=True)
    storage = JournalStorage(JournalFileBackend(str(path), lock_obj=JournalFileOpenLock(str(path))))
    settings = {"study_name": model, "storage": storage, "pruner": _pruner(tune), "sampler": trial_seeded_sampler(tune)}
    if model in optuna.get_all_study_names(storage):
        return optuna.load_study(**settings)
    return optuna.create_study(**settings, direction=direction)


def continue_earlier(study, earlier: Path, space: Space) -> int:
    """Start the new, empty ``study`` with the finished (complete and pruned) trials of the earlier study stored at
    ``earlier`` whose parameters fit ``space``, in their order, through Optuna's public API. Each is checked against
    the new space by ``optuna.trial.create_trial`` (a value outside a range raises), then run through the new study as
    a trial with those parameters (``enqueue_trial``, ``ask``): its validation figures are reported, the pruner is
    asked after each one and its answer ignored (the copy went as far as it did), and it is told its state and value.
    So each copy competes at the rungs it reached, under the new study's pruner, as a trial run there would. A copy
    keeps its user attributes (its run, epochs and seconds) and names the trial it copies in ``continued_from``.
    Returns how many were copied; the others are logged."""
    optuna = quiet_optuna()
    TrialState = optuna.trial.TrialState
    if not earlier.is_file():
        raise ConfigError(f"validation_search.continue_from: no earlier study at {earlier}; name the key of a "
                          f"journal under {earlier.parent} (the 12 characters after '{study.study_name}-'), "
                          "or leave continue_from out to start afresh")
    old = open_study(earlier, study.study_name, study.direction.name.lower(), SearchSettings())
    distributions = space.distributions()
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):  # a copy cut off by a killed process
        study.tell(t.number, state=TrialState.FAIL)
    done = {t.user_attrs.get("continued_from") for t in _finished(study)}
    copies, left = [], []
    for t in old.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
        if f"{earlier.stem} #{t.number}" in done:  # copied before the process was killed
            continue
        try:
            copies.append(optuna.trial.create_trial(
                state=t.state, value=t.value, params=t.params, intermediate_values=t.intermediate_values,
                distributions={name: distributions[name] for name in t.params},
                user_attrs={**t.user_attrs, "continued_from": f"{earlier.stem} #{t.number}"}))
        except (KeyError, ValueError):  # a parameter this space lacks, or a value outside its range
            left.append(t.number)
    for copy in copies:
        study.enqueue_trial(copy.params, user_attrs=copy.user_attrs)
        trial = study.ask(copy.distributions)
        for step, value in sorted(copy.intermediate_values.items()):
            trial.report(value, step)
            trial.should_prune()
        study.tell(trial, copy.value if copy.state == TrialState.COMPLETE else None, state=copy.state)
    log.info("%s: continued %s: %d finished trials copied%s", study.study_name, earlier.name, len(copies),
             f"; left out, as they do not fit the space: {left}" if left else "")
    return len(copies)


def _study_lock(path: Path):
    """One process per study: a lock the OS releases when its holder dies (fails at once if held)."""
    from filelock import FileLock, Timeout

    lock = FileLock(str(path.with_suffix(".searching")))  # not Optuna's own journal lock ({journal}.lock)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise ConfigError(f"the study {path.name} is being searched by another process (lock {lock.lock_file}); "
                          "wait for it to finish, or stop it, then run again: finished trials are kept") from None
    return lock


# --------------------------------------------------------------------------------------------
# Trials
# --------------------------------------------------------------------------------------------
@dataclass
class StudyResult:
    """One model's search: every trial, the chosen one, and what the budget bought."""

    model: str
    space: Space
    objective: str
    direction: str
    trials: list[dict[str, Any]]
    chosen: dict[str, Any]  # the best trial's parameters (as sampled, rounded); {} when nothing is searched
    settings: dict[str, Any]  # what the chosen parameters give: Config overrides (ARERec) or a baseline's params
    seconds: float = 0.0
    study: Any = field(default=None, repr=False)
    source: str = "searched here"  # or the committed study's file, whose optimum is retrained without a search
    infeasible: int = 0  # drawn configurations with no score: a batch over max_batch_values, or a diverged fit
    chosen_trial: int | None = None  # the number of the trial whose parameters are chosen (choose)
    choose_within: float | None = None  # the margin of the one-standard-error rule, or None: the best trial

    @property
    def edges(self) -> dict[str, str]:
        """Chosen parameters on an edge of their range that is not a natural bound: the range should be wider."""
        return self.space.edges(self.chosen)

    @property
    def natural_edges(self) -> dict[str, str]:
        return self.space.natural_edges(self.chosen)

    def epochs_reached(self) -> dict[str, int] | None:
        """ARERec: how many trials trained at least 1, 2, 4, 8, ... epochs (None for a baseline)."""
        epochs = [t.get("epochs") for t in self.trials]
        if not self.trials or any(e is None for e in epochs):
            return None
        return {str(n): sum(float(e or 0) >= n for e in epochs) for n in EPOCHS_REACHED}

    def record(self) -> dict[str, Any]:
        """``02_training.search[model]`` in metrics.json."""
        pruned = [t for t in self.trials if t["state"] == "pruned"]
        reached = self.epochs_reached()
        return {"trials": self.trials, "n_trials": len(self.trials), "pruned": len(pruned),
                "pruned_before_one_epoch": sum((t.get("epochs") or 0) < 1 for t in pruned),
                "epochs": round(sum(t.get("epochs") or 0 for t in self.trials), 2) if reached is not None else None,
                "epochs_reached": reached,
                "seconds": round(sum(t.get("seconds") or 0 for t in self.trials), 1),
                "objective": self.objective, "direction": self.direction, "chosen": self.chosen,
                "settings": self.settings, "edges": self.edges, "natural_edges": self.natural_edges,
                "space": self.space.table(), "source": self.source,
                "continued": sum(bool(t.get("continued_from")) for t in self.trials),  # copied from an earlier study
                "infeasible": self.infeasible, "chosen_trial": self.chosen_trial,
                "choose_within": self.choose_within}


def _run_seconds(base: Config, run: str, epochs: Any) -> float | None:
    """What an ARERec trial's run took to train and evaluate its first ``epochs`` epochs, from the run's results CSV:
    whichever process trained them (a run loaded from another study, or resumed after a kill, counts its whole
    training, not the seconds it took to load). None without the CSV."""
    from arerec.train.runs import read_results, run_paths

    if not run or epochs is None:
        return None
    history = read_results(run_paths(base, run))
    if history.empty or not {"epoch", "seconds"} <= set(history.columns):
        return None
    done = history[history["epoch"] <= math.ceil(float(epochs))]
    spent = done["seconds"].sum() + (done["eval_seconds"].sum() if "eval_seconds" in done else 0.0)
    return round(float(spent), 1) if len(done) else None


def _trial_row(trial, space: Space, base: Config | None = None) -> dict[str, Any]:
    """One trial as the report shows it. With ``base`` (an ARERec study), its seconds are its run's training and
    evaluation time (:func:`_run_seconds`) where the run's results are on disk; otherwise the trial's own wall time."""
    attrs = trial.user_attrs
    state = trial.state.name.lower()
    seconds = _run_seconds(base, attrs.get("run", ""), attrs.get("epochs")) if base is not None else None
    params = {k: rounded(v) for k, v in space.values(trial.params).items()}
    return {"number": trial.number, "params": params, "state": state,
            "epochs": attrs.get("epochs"), "best_epoch": attrs.get("best_epoch"),
            "val_score": trial.value if trial.value is not None else attrs.get("last_value"),
            **{k: v for k, v in attrs.items() if k.startswith("val_") and k != "val_score"},
            "stopped_early": attrs.get("stopped_early"), "at_cap": attrs.get("at_cap"),
            "resumes": attrs.get("resumes"), "seconds": attrs.get("seconds") if seconds is None else seconds,
            "run": attrs.get("run", ""),
            "continued_from": attrs.get("continued_from"), START_POINT: attrs.get(START_POINT)}


class _Reporter:
    """Reports an ARERec trial's validation figure to its study ``reports_per_epoch`` times an epoch and
    raises ``optuna.TrialPruned`` when the pruner says so (:func:`arerec.train.loop.train`'s ``monitor``)."""

    def __init__(self, trial, reports_per_epoch: int, metric: str, reported: Mapping[int, float]) -> None:
        self.trial, self.reports_per_epoch, self.metric = trial, reports_per_epoch, metric
        self.reported = set(reported)  # steps a cut-off attempt reported (carried over): a resumed run repeats them
        self._pruned = quiet_optuna().TrialPruned  # looked up once, not at every report

    def report(self, step: int, value: float, *, final: bool = False) -> None:
        """Tell the trial ``value`` at ``step`` and ask the pruner. After the run's last epoch (``final``) its answer
        is ignored, but it is still asked: successive halving records a trial's value at a rung when asked there,
        and a trial that ends at a rung competes there with later ones."""
        if step not in self.reported:
            self.trial.report(float(value), step)
            self.reported.add(step)
        if self.trial.should_prune() and not final:
            raise self._pruned(f"pruned at step {step} ({self.metric} {value:.4f})")

    def report_history(self, history) -> None:
        """A run loaded, not trained (the same configuration finished in an earlier study): each epoch's figure, as
        training it would have told them. Its reports inside an epoch are not in the results CSV; with
        ``warmup_epochs`` >= 1 every rung falls at an epoch's end, so the pruner decides as it would have."""
        last = int(history["epoch"].max()) if len(history) else 0
        for epoch, value in zip(history["epoch"], history[self.metric], strict=True):
            if (step := int(epoch) * self.reports_per_epoch) not in self.reported:
                self.report(step, float(value), final=int(epoch) == last)


def _frozen(study, number: int):
    return next(t for t in study.get_trials(deepcopy=False) if t.number == number)


def _carry_over(study, trial) -> dict[int, float]:
    """A trial that resumes a cut-off one (``resumes``, set when it was enqueued) takes over the validation
    figures that one reported, so the pruner sees the whole curve. Returns them.

    The pruner is asked after each one, as it was when they were first reported, and its answer ignored (the trial
    went on then): successive halving records a trial's value at each rung when asked there, so the resumed trial
    keeps its rung values from the epochs they belong to, not from the epoch it resumes at."""
    resumes = _frozen(study, trial.number).user_attrs.get("resumes")
    if resumes is None:
        return {}
    values = dict(_frozen(study, int(resumes)).intermediate_values)
    for step, value in sorted(values.items()):
        trial.report(value, step)
        trial.should_prune()
    return values


def _arerec_trial(study, trial, model: str, base: Config, tune: SearchSettings, space: Space) -> tuple[float, dict]:
    """Train (or resume, or load) one ARERec trial's run; its best validation figure."""
    from arerec.data.inputs import load_experiment
    from arerec.train.build import free_models
    from arerec.train.loop import train_or_load

    cfg = _trial_config(trial, model, base, tune, space)
    exp = load_experiment(cfg)  # loaded once: the cap's max_seq, then the run
    values = batch_values(cfg, exp.tables.max_seq)
    if values > tune.max_batch_values:
        reason = f"a batch gathers {values:,} LCU values, over max_batch_values {tune.max_batch_values:,}"
        trial.set_user_attr(INFEASIBLE, reason)
        log.warning("%s: trial %d is not trained: %s", model, trial.number, reason)
        raise InfeasibleTrial(reason)
    reporter = _Reporter(trial, tune.reports_per_epoch, tune.runs.selection_metric, _carry_over(study, trial))
    try:
        result = train_or_load(cfg, exp, score_test=False, monitor=reporter)
        reporter.report_history(result.history)  # a loaded run; a trained one has told them all
    finally:
        free_models()
    final = result.final
    attrs = {"epochs": int(final["epochs_trained"]), "best_epoch": int(final["best_epoch"]), "run": result.name,
             "val_loss": float(final["val_loss"]), "stopped_early": bool(final["stopped_early"]),
             "at_cap": bool(final["at_cap"])}
    del result
    return float(final["val_score"]), attrs


def _baseline_trial(trial, model: str, exp, space: Space, tune: SearchSettings) -> tuple[float, dict]:
    from arerec.evaluate.baselines import fit_predict
    from arerec.evaluate.scoring import score_ratings

    params = baseline_params(space.suggest(trial))
    pred, _ = fit_predict(model, exp.prepared.train, exp.prepared.valid, seed=tune.runs.seed, params=params)
    if not np.isfinite(pred).all():  # e.g. biased_mf's SGD at a large lr_all and a small reg_all
        reason = (f"diverged: {np.count_nonzero(~np.isfinite(pred)):,} of its {len(pred):,} validation predictions "
                  "are not finite")
        trial.set_user_attr(INFEASIBLE, reason)
        log.warning("%s: trial %d has no score: %s", model, trial.number, reason)
        raise InfeasibleTrial(reason)
    scores = score_ratings(exp, pred, "valid")
    k = max(exp.cfg.evaluation.topk)
    attrs = {f"val_ndcg@{k}": scores[f"ndcg@{k}"], f"val_std_ndcg@{k}": scores[f"std_ndcg@{k}"],
             "val_mae": scores["mae"]}
    return float(scores["rmse"]), attrs


def _objective(model: str, tune: SearchSettings) -> tuple[str, str]:
    """The study's objective and direction: ARERec's selection metric, or a baseline's validation RMSE."""
    if model in ARERECS:
        metric = tune.runs.selection_metric
        return metric, "minimize" if lower_is_better(metric) else "maximize"
    return BASELINE_OBJECTIVE, "minimize"


def _only_copies(study) -> bool:
    """Whether every trial of ``study`` is a copy of an earlier study's (true of a new one)."""
    return all("continued_from" in t.user_attrs for t in study.get_trials(deepcopy=False))


def _finished(study) -> list:
    TrialState = quiet_optuna().trial.TrialState
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))


def requeue_cut_off(study, trials: Sequence | None = None) -> list[int]:
    """Tell FAIL every trial that a killed process left running (all of ``trials``, default: every running one;
    the caller holds the study), and enqueue the parameters of each failed trial not enqueued again yet, so that the
    next trial the study runs is that one again. Returns the numbers enqueued."""
    TrialState = quiet_optuna().trial.TrialState

    everything = study.get_trials(deepcopy=False)
    running = [t for t in everything if t.state == TrialState.RUNNING] if trials is None else list(trials)
    for t in running:
        study.tell(t.number, state=TrialState.FAIL)
    again = {t.user_attrs.get("resumes") for t in everything}
    cut = [t for t in everything if (t.state == TrialState.FAIL or t in running) and t.number not in again
           and INFEASIBLE not in t.user_attrs and "continued_from" not in t.user_attrs]  # a cut-off copy is copied again
    for t in cut:
        log.info("%s: trial %d was cut off: it runs again and goes on from its run's last checkpoint",
                 study.study_name, t.number)
        given = {START_POINT: t.user_attrs[START_POINT]} if START_POINT in t.user_attrs else {}
        study.enqueue_trial(dict(t.params), user_attrs={"resumes": t.number, **given})
    return [t.number for t in cut]


def _make_objective(study, model: str, base: Config, tune: SearchSettings, space: Space, exp, *,
                    task: str = "", progress=None):
    """The function ``study.optimize`` calls with each trial: its value, its figures as user attributes; a pruned
    trial records how far it got, loses its weights and is told PRUNED."""
    optuna = quiet_optuna()
    is_arerec = model in ARERECS

    def objective(trial) -> float:
        from arerec.train.runs import discard_weights

        t0 = time.perf_counter()
        if task:
            trial.set_user_attr("task", task)
        if progress is not None:
            progress.start(f"search {model}: trial {len(_finished(study)) + 1}/{tune.n_trials}")
        space.suggest(trial)
        try:
            if is_arerec:
                value, attrs = _arerec_trial(study, trial, model, base, tune, space)
            else:
                value, attrs = _baseline_trial(trial, model, exp, space, tune)
        except optuna.TrialPruned:
            steps = _frozen(study, trial.number).intermediate_values
            step = max(steps) if steps else 0
            paths = _trial_paths(trial, model, base, tune, space)
            for key, val in {"epochs": round(step / tune.reports_per_epoch, 2), "last_value": steps.get(step),
                             "seconds": round(time.perf_counter() - t0, 1), "run": paths.name}.items():
                trial.set_user_attr(key, val)
            discard_weights(paths)
            log.info("%s: trial %d pruned after %.2f epochs", model, trial.number, step / tune.reports_per_epoch)
            if progress is not None:
                progress.done()
            raise
        for key, val in {**attrs, "seconds": round(time.perf_counter() - t0, 1)}.items():
            trial.set_user_attr(key, val)
        if progress is not None:
            progress.done()
        return value

    return objective


def _first_trials(study, path: Path, model: str, tune: SearchSettings, space) -> None:
    """What a study runs before its sampler draws: an earlier study's copies, its given configurations, its cut-off
    trials again."""
    if model in tune.continue_from and _only_copies(study):  # new, or killed while it copied
        earlier = path.with_name(f"{model}-{tune.continue_from[model]}.journal")
        if earlier.is_file():
            continue_earlier(study, earlier, space)
        else:  # a fresh clone has no earlier study: this one starts afresh, and its report counts no copies
            log.warning("%s: continue_from names %s, which is not there: the study starts afresh, so its first "
                        "trials are not the committed study's", model, earlier)
    if not study.get_trials(deepcopy=False):  # a new study: its given configurations first
        for label, params in tune.start_points(model).items():
            study.enqueue_trial(params, user_attrs={START_POINT: label})
    requeue_cut_off(study)


def run_study(model: str, base: Config, tune: SearchSettings, *, exp=None, progress=None,
              executor=None) -> StudyResult:
    """Run (or resume) ``model``'s study to ``n_trials`` finished trials; see the module docstring.

    Here: ``study.optimize`` with a ``MaxTrialsCallback`` over complete and pruned trials. With ``executor`` ray,
    ARERec's trials are Ray tasks (``workers`` at a time; 1 keeps the order, so the same trials as here), each
    running one trial of the study from its journal, which must be on storage every node sees.
    """
    optuna = quiet_optuna()
    TrialState = optuna.trial.TrialState

    space = parse_space(model, tune.spaces[model])
    is_arerec = model in ARERECS
    objective, direction = _objective(model, tune)
    on_ray = is_arerec and executor is not None and executor.kind == "ray"
    path = study_path(base, tune, model).resolve() if on_ray else study_path(base, tune, model)
    lock = _study_lock(path)
    started = time.perf_counter()
    try:
        study = open_study(path, model, direction, tune)
        _first_trials(study, path, model, tune, space)
        before = len(_finished(study))
        if progress is not None:  # a resumed or committed study's finished trials: read back, not trained
            shown = min(before, tune.n_trials)
            progress.loaded(shown, f"search {model}: {shown} trial{'' if shown == 1 else 's'} finished before")
        if before < tune.n_trials:
            if on_ray:
                _trials_on_ray(study, path, model, base, tune, executor)
            else:
                keep = (lambda s, _t: _keep_only_best(base, s.get_trials(deepcopy=False), direction,
                                                      tune.choose_within.get(model))) if is_arerec \
                    else (lambda s, _t: None)
                study.optimize(_make_objective(study, model, base, tune, space, exp, progress=progress),
                               catch=(InfeasibleTrial,), callbacks=[optuna.study.MaxTrialsCallback(
                                   tune.n_trials, states=(TrialState.COMPLETE, TrialState.PRUNED)), keep,
                                   lambda s, _t: _check_feasible(s, tune)])
        trials = _finished(study)[: tune.n_trials]
        infeasible = _infeasible(study)
    finally:
        lock.release()
    rows = [_trial_row(t, space, base if is_arerec else None) for t in trials]
    if is_arerec:
        rows = _with_sizes(rows, model, base, tune)
    pick = choose(rows, direction, tune.choose_within.get(model))
    chosen = dict(pick["params"]) if pick is not None else {}
    chosen_settings = (arerec_overrides(chosen, base) if is_arerec else baseline_params(chosen))
    return StudyResult(model, space, objective, direction, rows, chosen, chosen_settings,
                       time.perf_counter() - started, study, infeasible=infeasible,
                       chosen_trial=pick["number"] if pick is not None else None,
                       choose_within=tune.choose_within.get(model))


def _trials_on_ray(study, path: Path, model: str, base: Config, tune: SearchSettings, executor) -> None:
    """Ray tasks of one trial each, ``workers`` at a time, until the study has ``n_trials`` finished trials."""
    from arerec.sweeps.executors import run_calls_on_ray, shipped

    cfg = shipped(base)
    direction = _objective(model, tune)[1]
    while (left := tune.n_trials - len(_finished(study))) > 0:
        calls = [(f"a trial of {model}", trial_task,
                  {"journal": str(path), "model": model, "base": cfg.to_dict(), "settings": tune.to_dict(),
                   "task": uuid.uuid4().hex}) for _ in range(min(left, executor.workers))]
        run_calls_on_ray(calls, executor, [cfg], what=f"{model} trials")
        _keep_only_best(base, study.get_trials(deepcopy=False), direction, tune.choose_within.get(model))
        _check_feasible(study, tune)


def trial_task(journal: str, model: str, base: Mapping[str, Any], settings: Mapping[str, Any], task: str) -> int:
    """One ARERec trial in a Ray worker: the study opened from its journal and one trial run through
    ``study.optimize``. A retry of this task (its worker died) first tells FAIL the trial its earlier attempt left
    running and enqueues it, so that trial runs again and resumes from its run's last checkpoint. Returns the
    number of the trial run."""
    optuna = quiet_optuna()
    TrialState = optuna.trial.TrialState

    cfg = Config.from_dict(base, source="a Ray task's configuration")
    tune = SearchSettings.checked(settings)
    study = open_study(Path(journal), model, _objective(model, tune)[1], tune)
    mine = [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)) if t.user_attrs.get("task") == task]
    if mine:
        requeue_cut_off(study, mine)
    ran: list[int] = []
    study.optimize(_make_objective(study, model, cfg, tune, parse_space(model, tune.spaces[model]), None, task=task), n_trials=1,
                   catch=(InfeasibleTrial,), callbacks=[lambda _s, t: ran.append(t.number)])
    return ran[0]


def _trial_config(trial, model: str, base: Config, tune: SearchSettings, space: Space) -> Config:
    params = space.values(trial.params)
    return tune.tuned_config(base, {**ARERECS[model], **arerec_overrides(params, base)})


def _trial_paths(trial, model, base, tune, space):
    """The run folder of an ARERec trial (its name holds the data's max_seq, so the experiment is loaded)."""
    from arerec.data.inputs import load_experiment
    from arerec.train.runs import experiment_paths

    return experiment_paths(load_experiment(_trial_config(trial, model, base, tune, space)))


def _earliest_best(complete: Sequence, direction: str, value: Callable[[Any], float], number: Callable[[Any], int]):
    """The best of these completed trials by ``value`` in the study's direction (the earliest of a tie), or None:
    one rule for Optuna's trials and for the rows a report recorded."""
    sign = 1 if direction == "minimize" else -1
    return min(complete, key=lambda t: (sign * value(t), number(t)), default=None)


def _best(trials: Sequence, direction: str):
    """The best completed trial (the earliest of a tie), or None."""
    TrialState = quiet_optuna().trial.TrialState

    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    return _earliest_best(complete, direction, lambda t: t.value, lambda t: t.number)


def _keep_only_best(base: Config, trials: Sequence, direction: str, within: float | None = None) -> None:
    """Delete the weights of every completed trial but those the choice may take: the best, and with ``within``
    (``choose_within``) every trial within that margin of it (a pruned trial's go when it is pruned)."""
    TrialState = quiet_optuna().trial.TrialState

    from arerec.train.runs import discard_weights, run_paths

    best = _best(trials, direction)
    keep = {t.user_attrs.get("run") for t in trials if best is not None and t.state == TrialState.COMPLETE
            and _within(t.value, best.value, direction, within or 0.0)}
    for t in trials:
        run = t.user_attrs.get("run")
        if t.state == TrialState.COMPLETE and run and run not in keep:
            discard_weights(run_paths(base, run))


def _within(value: float, best: float, direction: str, margin: float) -> bool:
    """Whether ``value`` is at most ``margin`` worse than ``best`` in the study's direction."""
    return (value - best if direction == "minimize" else best - value) <= margin


def choose(rows: Sequence[Mapping[str, Any]], direction: str, within: float | None = None) -> Mapping[str, Any] | None:
    """A study's chosen trial from its trial rows (as metrics.json records them): the best completed one (the
    earliest of a tie); with ``within`` (``choose_within``), the smallest model (its rows' ``parameters``) of the
    completed trials within that margin of the best, then the better score, then the earlier trial."""
    complete = [r for r in rows if r["state"] == "complete" and r["val_score"] is not None]
    best = _earliest_best(complete, direction, lambda r: float(r["val_score"]), lambda r: r["number"])
    if best is None or within is None:
        return best
    sign = 1 if direction == "minimize" else -1
    near = [r for r in complete if _within(float(r["val_score"]), float(best["val_score"]), direction, within)]
    return min(near, key=lambda r: (r["parameters"], sign * float(r["val_score"]), r["number"]))


def _with_sizes(rows: list[dict[str, Any]], model: str, base: Config, tune: SearchSettings) -> list[dict[str, Any]]:
    """ARERec's trial rows, each with its model's size: ``parameters``, the weights its configuration builds
    (:func:`arerec.model.layers.parameter_count`, on the study's data)."""
    from arerec.data.inputs import load_experiment
    from arerec.model.layers import parameter_count

    exp = load_experiment(tune.tuned_config(base, ARERECS[model]))
    dims = {"num_users": exp.prepared.num_users, "num_items": exp.prepared.num_items,
            "num_lcu": exp.tables.num_lcu, "num_classes": len(exp.prepared.classes)}
    for row in rows:
        cfg = tune.tuned_config(base, {**ARERECS[model], **arerec_overrides(row["params"], base)})
        row["parameters"] = parameter_count(cfg, **dims)
    return rows


# --------------------------------------------------------------------------------------------
# The whole search
# --------------------------------------------------------------------------------------------
@dataclass
class SearchResult:
    studies: dict[str, StudyResult]
    tune: SearchSettings

    @property
    def searched(self) -> bool:
        """True when the studies ran here (they have trials); False for a committed study's optimum."""
        return any(study.trials for study in self.studies.values())

    def config(self, base: Config, model: str) -> Config:
        """An ARERec model's chosen configuration (clean protocol, early stopping, lean checkpoints)."""
        return self.tune.tuned_config(base, {**ARERECS[model], **self.studies[model].settings})

    def baseline_settings(self) -> dict[str, dict[str, Any]]:
        return {m: s.settings for m, s in self.studies.items() if m not in ARERECS}

    def trials_table(self) -> pd.DataFrame:
        """Every trial of every model: its parameters, an ARERec model's size, state, epochs and validation score
        (and, where a study was given configurations to start from, which trial was which)."""
        rows, any_given = [], any(t.get(START_POINT) for s in self.studies.values() for t in s.trials)
        for model, study in self.studies.items():
            for t in study.trials:
                given = {START_POINT: t.get(START_POINT) or ""} if any_given else {}
                rows.append({"model": model, "trial": t["number"], **given, "state": t["state"],
                             "params": label(t["params"]), "parameters": t.get("parameters"),
                             "epochs": t["epochs"], "best_epoch": t["best_epoch"],
                             "objective": study.objective, "val_score": t["val_score"], "seconds": t["seconds"],
                             "chosen": t["number"] == study.chosen_trial})
        table = pd.DataFrame(rows)
        return table.astype({"parameters": "Int64"}) if len(table) else table  # an ARERec model's size, or none

    def budget_table(self) -> pd.DataFrame:
        """Per model: trials, pruned trials (and those pruned before one epoch), the trials that reached 1, 2, 4,
        8, ... epochs, the epochs and seconds in all, the objective and the best validation score."""
        rows = []
        for model, study in self.studies.items():
            rec = study.record()
            best = [t["val_score"] for t in study.trials if t["state"] == "complete"]
            pick = min if study.direction == "minimize" else max
            reached = {f"reached {n} epochs": c for n, c in (rec["epochs_reached"] or {}).items()}
            rows.append({"model": model, "trials": rec["n_trials"], "pruned": rec["pruned"],
                         "pruned before 1 epoch": rec["pruned_before_one_epoch"] if model in ARERECS else None,
                         **reached, "epochs": rec["epochs"], "seconds": rec["seconds"],
                         "objective": study.objective, "best_val_score": pick(best) if best else math.nan})
        table = pd.DataFrame(rows)
        counts = [c for c in table.columns if c == "pruned before 1 epoch" or c.startswith("reached ")]
        return table.astype({c: "Int64" for c in counts})  # counts stay whole where a baseline has none

    def effort(self) -> dict[str, Any] | None:
        """What ARERec's and attention off's searches got, in epochs and in seconds, and attention off's share of
        ARERec's (1.0: the same effort): the issue of equal trials but unequal training is measured, not assumed.
        None when either model was not searched here."""
        on, off = (self.studies.get(m) for m in ("arerec", "arerec_attention_off"))
        if on is None or off is None or not on.trials or not off.trials:
            return None
        a, b = on.record(), off.record()
        share = {k: (b[k] / a[k] if a[k] else math.nan) for k in ("epochs", "seconds")}
        kept = ("n_trials", "epochs", "seconds", "continued", "infeasible")
        return {"arerec": {k: a[k] for k in kept}, "arerec_attention_off": {k: b[k] for k in kept},
                "off_over_on_epochs": share["epochs"], "off_over_on_seconds": share["seconds"]}

    def chosen_table(self) -> pd.DataFrame:
        """Per model and parameter: the range searched, the chosen value, and whether it sits on an edge (or on a
        natural bound, which has nothing beyond it)."""
        rows = []
        for model, study in self.studies.items():
            edges, natural = study.edges, study.natural_edges
            for d in study.space.dimensions:
                rows.append({"model": model, "parameter": d.name, "range": d.describe(),
                             "chosen": study.chosen.get(d.name), "on edge": edges.get(d.name, ""),
                             "natural bound": natural.get(d.name, "")})
        return pd.DataFrame(rows)

    def records(self) -> dict[str, Any]:
        return {model: study.record() for model, study in self.studies.items()}


def search(base: Config, values: SearchSettings | Mapping[str, Any] | None, progress=None, exp=None,
           executor=None) -> SearchResult:
    """Every model of ``values.spaces`` searched with the same budget, one study each (ARERec's first).

    ``exp`` is the clean experiment whose training and validation rows the baselines use (default: ``base``'s
    under the clean protocol). ``executor`` ray runs ARERec's trials as Ray tasks (:func:`run_study`). Test is
    never read.
    """
    from arerec.data.inputs import load_experiment

    tune = check(base, values)
    studies = {}
    for model in tune.spaces:
        if model not in ARERECS and exp is None:
            exp = load_experiment(tune.tuned_config(base))
        studies[model] = run_study(model, base, tune, exp=exp, progress=progress, executor=executor)
        log.info("search %s: %d trials, chose %s", model, len(studies[model].trials), studies[model].chosen)
    return SearchResult(studies, tune)


def planned_trials(values: SearchSettings | Mapping[str, Any] | None) -> int:
    """The trials :func:`search` runs, every model's (for progress before it starts: each one counts)."""
    tune = SearchSettings.checked(values)
    return tune.n_trials * len(tune.spaces)


# --------------------------------------------------------------------------------------------
# A committed study's optimum (the default tier retrains at it, with no search)
# --------------------------------------------------------------------------------------------
OPTIMUM_FILE = "params/optimum/{dataset}.yaml"
DATA_KEYS = ("dataset", "min_seq", "test_ratio", "val_ratio", "data_percent", "sort_kind", "split_seed", "max_seq",
             "max_seq_mode", "topk", "hrcutoff")


def data_key(base: Config, ratings_sha256: str | None = None) -> dict[str, Any]:
    """What a committed optimum applies to: the dataset, its ratings file's SHA-256 (read from the file unless
    given) and the split settings."""
    from arerec.data.ratings import ratings_path
    from arerec.files import sha256_file

    if ratings_sha256 is None:
        path = ratings_path(base)
        ratings_sha256 = sha256_file(path) if path.is_file() else None
    flat = base.to_dict()
    return {**{k: flat[k] for k in DATA_KEYS}, "ratings_sha256": ratings_sha256}


def optimum_record(base: Config, tune: SearchSettings, search: Mapping[str, Any], *, experiment: str,
                   commit: str, ratings_sha256: str) -> dict[str, Any]:
    """The content of ``params/optimum/{dataset}.yaml``: each model's chosen parameters from a study
    (``search``: metrics.json's ``02_training.search``) with the trial that found them (its number, epochs and
    seconds on the machine that ran the study: what retraining it costs), the spaces and settings it searched, and
    the data it ran on."""
    def chosen_trial(entry: Mapping[str, Any]) -> Mapping[str, Any] | None:
        if entry.get("chosen_trial") is not None:  # the trial the study chose (choose), which may not be the best
            return next(t for t in entry["trials"] if t["number"] == entry["chosen_trial"])
        return choose(entry["trials"], entry["direction"])

    models = {}
    for model, entry in search.items():
        trial, best = chosen_trial(entry), choose(entry["trials"], entry["direction"])
        models[model] = {"chosen": dict(entry["chosen"]), "objective": entry["objective"],
                         "best_val_score": best["val_score"] if best else None, "n_trials": entry["n_trials"],
                         "trial": {k: trial.get(k) for k in ("number", "val_score", "epochs", "seconds", "parameters")
                                   if k in trial} if trial else None}
        if entry.get("choose_within") is not None:
            models[model]["choose_within"] = entry["choose_within"]
    return {"study": {"experiment": experiment, "commit": commit, "data": data_key(base, ratings_sha256),
                      "settings": {k: v for k, v in tune.to_dict().items() if k != "spaces"},
                      "spaces": dict(tune.spaces)},
            "models": models}


def retraining_seconds(record: Mapping[str, Any]) -> dict[str, float]:
    """What retraining an optimum costs, by the study's own trial times (seconds on the machine that ran it): each
    model's chosen trial. A model without a recorded trial (a study written before they were) counts 0."""
    return {model: float((entry.get("trial") or {}).get("seconds") or 0.0)
            for model, entry in record["models"].items()}


def committed(base: Config, values: SearchSettings | Mapping[str, Any], template: str) -> tuple[SearchResult | None, str]:
    """The optimum a committed study found for this data (``template`` names its file, ``{dataset}`` filled in), as a
    search result without trials, and a sentence saying where the configurations came from. (None, why) when there
    is no such file, or it was found on other data: the notebook then runs the quick search."""
    import yaml

    tune = SearchSettings.checked(values)
    quick = f"a quick search of {tune.n_trials} trials per model ran instead"
    if not template:
        return None, f"Every model was searched here ({tune.n_trials} Optuna trials each)."
    path = Path(template.format(dataset=base.data.dataset))
    if not path.is_file():
        return None, f"No committed study for {base.data.dataset} ({path}): {quick}."
    record = yaml.safe_load(path.read_text())
    wanted, found = data_key(base), record["study"]["data"]
    differ = sorted(k for k in set(wanted) | set(found) if wanted.get(k) != found.get(k))
    if differ:
        return None, (f"The committed study {path} ran on other data ({', '.join(differ)} differ): {quick}.")
    studies = {}
    for model, entry in record["models"].items():
        space = parse_space(model, record["study"]["spaces"][model])
        objective, direction = _objective(model, tune)
        chosen = {k: rounded(v) for k, v in entry["chosen"].items()}
        settings = arerec_overrides(chosen, base) if model in ARERECS else baseline_params(chosen)
        studies[model] = StudyResult(model, space, entry["objective"], direction, [], chosen, settings,
                                     source=str(path))
    study = record["study"]
    trials = min(e["n_trials"] for e in record["models"].values())
    rule = "".join(f" `{model}`'s configuration is its study's trial {e['trial']['number']}, the smallest model within "
                   f"{e['choose_within']:g} of its best (the one-standard-error rule, docs/decisions.md 38)."
                   for model, e in record["models"].items() if e.get("choose_within") is not None and e.get("trial"))
    return SearchResult(studies, tune), (
        f"No search here: every model is retrained at the optimum of the study committed in {path} ({trials} Optuna "
        f"trials per model, `make reproduce PARAMS={study['experiment']}` at {str(study['commit'])[:12]}), to "
        "convergence, on the same data." + rule)


# --------------------------------------------------------------------------------------------
# What 03 and 04 read back
# --------------------------------------------------------------------------------------------
def fingerprint(base: Config, tune: SearchSettings) -> str:
    """What a recorded choice depends on: the search settings and the configuration it started from."""
    return json.dumps({"tuning": tune.to_dict(), "base": base.replace(seed=0).to_dict()}, sort_keys=True, default=str)


def choice_record(base: Config, tune: SearchSettings, result: SearchResult, model: str = "arerec") -> dict:
    """``02_training.chosen`` in metrics.json: ARERec's chosen overrides, their label and the full configuration."""
    study = result.studies[model]
    cfg = result.config(base, model)
    return {"overrides": study.settings, "label": label(study.chosen), "selection_metric": study.objective,
            "config": cfg.to_dict(), "search": fingerprint(base, tune)}


def recorded_choice(base: Config, values: SearchSettings | Mapping[str, Any] | None,
                    recorded: Mapping[str, Any] | None, progress=None, executor=None) -> dict[str, Any]:
    """ARERec's chosen overrides as notebook 02 recorded them (``02_training.chosen``) for the same search;
    otherwise ARERec's study is run (or read back: a finished study trains nothing)."""
    tune = check(base, values)
    if recorded and recorded.get("search") == fingerprint(base, tune):
        return dict(recorded["overrides"])
    return run_study("arerec", base, tune, progress=progress, executor=executor).settings
