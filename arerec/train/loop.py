"""The training loop: an epoch, :func:`train` as ``run.py`` does it, and :func:`train_or_load`, which re-uses a
finished run and resumes one that stopped part-way.

:func:`train` is an epoch loop over named steps (:mod:`arerec.train.steps`): where the run starts
(:class:`~arerec.train.steps.Resume`), then per epoch the backend's trainer and the epoch's scores, handed to the
early stopping, the results log, the checkpoint policy, the epoch's log line and a search's pruning report, each a
Keras callback; then the run's final scores (:class:`~arerec.train.steps.FinalScore`). Clean protocol: each epoch is
scored on validation, the best epoch kept and restored, and test scored once at the end
(:func:`~arerec.train.steps.score_test_at_chosen_epoch`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from arerec.config import Config
from arerec.data.inputs import Experiment, load_experiment
from arerec.errors import BusyError
from arerec.locks import exclusive
from arerec.train import backends
from arerec.train.batches import id_batches
from arerec.train.build import apply_memory_settings, build, quiet_tensorflow
from arerec.train.checkpoints import has_optimizer_state, load_checkpoint, save_checkpoint
from arerec.train.distribution import initialize_hosts, is_chief
from arerec.train.predict import cross_entropy, evaluate_probs, predict_probs
from arerec.train.runs import (
    SCHEDULE_FIELDS,
    RunPaths,
    checkpoint_epoch,
    experiment_paths,
    final_epoch,
    read_results,
    resolve_run_config,
)
from arerec.train.selection import chosen_epoch, selection
from arerec.train.steps import (
    FinalScore,
    Monitor,
    Resume,
    RunState,
    Step,
    data_fingerprint,
    finish_lean,
    loop_steps,
    score_test_at_chosen_epoch,
    steps_per_epoch,
    write_probs,
)

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    name: str
    paths: RunPaths
    history: pd.DataFrame
    final: dict[str, Any]  # the chosen (clean) or last epoch's figures, and how the run ended
    model: object
    experiment: Experiment
    seconds: float
    loaded: bool = False  # finished before: loaded, not trained


def _last_row(history: pd.DataFrame) -> dict[str, Any]:
    return {str(key): value for key, value in history.iloc[-1].items()}


def run_epoch(exp: Experiment, train_step, epoch: int, *, shuffle: bool = True, on_step=None,
              at_steps: Mapping[int, Callable[[], None]] | None = None) -> tuple[float, int]:
    """One pass over the training rows: ``train_step`` (a trainer's step, :mod:`arerec.train.backends`)
    on every batch of :func:`arerec.train.batches.id_batches`. Returns (sum of the step losses, steps); ``on_step(done, loss)``
    is called after each step, and ``at_steps[n]()`` after step ``n`` (a report to a pruner, say).
    :func:`train` and ``python -m arerec bench`` both time this loop.

    Without ``on_step`` the losses are read once, at the end, so that an asynchronous backend (JAX on a GPU)
    can queue the steps instead of waiting for each one.
    """
    from keras import ops  # Keras is imported once the backend is chosen (arerec.backend_check)

    losses = []
    for batch in id_batches(exp, "train", shuffle=shuffle, epoch=epoch):
        losses.append(train_step(*batch))
        if on_step is not None:
            on_step(len(losses), float(losses[-1]))
        if at_steps and len(losses) in at_steps:
            at_steps[len(losses)]()
    return sum((float(ops.convert_to_numpy(loss)) for loss in losses), start=0.0), len(losses)  # a GPU's too


def train(cfg: Config, exp: Experiment | None = None, *, score_test: bool = True,
          monitor: Monitor | None = None) -> RunResult:
    """Train (or, with ``do_train=0``, only evaluate) an ARERec model as ``run.py`` does.

    Clean protocol: each epoch is scored on validation; the best epoch on ``selection_metric`` is
    kept in ``weight/best.ckpt`` and restored at the end; with ``patience`` > 0 the run stops after
    that many epochs without improvement. Test is then scored once at the chosen epoch, unless
    ``score_test`` is False (hyper-parameter search: choosing never looks at test). A ``monitor`` (clean protocol)
    is told the validation ``selection_metric`` ``monitor.reports_per_epoch`` times an epoch, at step
    ``(epoch - 1) * reports_per_epoch + k``; it may stop the run by raising (the epoch's partial work is lost,
    the epochs before it stay in the folder).

    One process at a time trains a run folder: when another holds it (:func:`hold_run`), this raises
    :class:`~arerec.errors.BusyError` at once, naming it. In a multi-process job process 0 holds it for the job.
    """
    quiet_tensorflow()

    started = time.perf_counter()
    if cfg.training.load_model or (not cfg.training.do_train and cfg.training.model_name):
        cfg = resolve_run_config(cfg)
    if exp is None or exp.cfg != cfg:
        exp = load_experiment(cfg)
    paths = experiment_paths(exp)
    apply_memory_settings(cfg)
    model, optimizer = build(exp)  # joins a multi-process job first, so that is_chief() is known
    with hold_run(paths, wait=False):
        state = RunState(cfg, exp, paths, model, optimizer, save=save_checkpoint)
        final, model = _train_held(state, FinalScore(score_test), monitor)
        return RunResult(name=paths.name, paths=paths, history=state.history, final=final, model=model,
                         experiment=exp, seconds=time.perf_counter() - started)


def hold_run(paths: RunPaths, *, wait: bool):
    """The run folder's lock (:func:`arerec.locks.exclusive`), taken by the chief process only: fail at once when
    another process trains the run, or with ``wait`` wait for it."""
    if not is_chief():
        return contextlib.nullcontext()
    advice = ("a run folder is trained by one process at a time. Wait for that process to finish (a sweep or "
              "notebook asked for the same run then loads it), or stop it; a killed process holds nothing")
    return exclusive(paths.lock, f"run {paths.name} ({paths.root})", wait=wait, advice=advice)


def _train_held(state: RunState, final_score: FinalScore, monitor: Monitor | None) -> tuple[dict[str, Any], Any]:
    """The rest of :func:`train`, with the run folder held: the epoch loop over the steps
    (:mod:`arerec.train.steps`); the run's final figures and model."""
    Resume()(state)
    steps = loop_steps(state, monitor)
    for step in steps:
        step.on_train_begin()
    state.trainer = backends.current().make_trainer(state.model, state.optimizer, state.exp)
    for epoch in range(state.start_epoch, state.last_epoch + 1):
        for step in steps:
            step.on_epoch_begin(epoch)
        row = _epoch(state, epoch, steps)
        state.rows.append(row)
        for step in steps:
            step.on_epoch_end(epoch, row)
        if state.model.stop_training:
            break
    for step in steps:
        step.on_train_end()
    return final_score(state)


def _epoch(state: RunState, epoch: int, steps: list[Step]) -> dict[str, Any]:
    """One epoch trained and scored: its row of the results CSV (the steps add the chosen epoch to it). Scored on
    validation under the clean protocol, else on test when ``do_eval`` or at the last epoch."""
    cfg, exp, t0 = state.cfg, state.exp, time.perf_counter()
    every = [step for step in steps if step.every_step]
    told = {n: partial(step.on_train_batch_end, n) for step in steps for n in step.report_steps(steps_per_epoch(state))}
    on_step = partial(_every_step, every) if every else None
    total, count = run_epoch(exp, state.trainer.step, epoch, shuffle=bool(cfg.training.shuffle), on_step=on_step,
                             at_steps=told or None)
    state.trainer.sync()
    train_seconds = time.perf_counter() - t0
    row: dict[str, Any] = {"epoch": epoch, "loss": total / max(count, 1), "seconds": train_seconds}
    if cfg.training.do_eval or epoch == state.last_epoch or exp.clean:
        probs = predict_probs(state.model, exp, exp.eval_split)
        val_ce = cross_entropy(probs, exp.arrays(exp.eval_split)[2])  # no L2 term: comparable across L2 rates
        row.update(val_loss=val_ce + state.trainer.regularization(), val_ce=val_ce,
                   **evaluate_probs(exp, probs, exp.eval_split))
    row["eval_seconds"] = time.perf_counter() - t0 - train_seconds
    return row


def _every_step(steps: list[Step], done: int, loss: float) -> None:
    for step in steps:
        step.on_train_batch_end(done, {"loss": loss})


def test_probabilities(cfg: Config) -> np.ndarray:
    """A finished clean run's class probabilities for the test rows at its chosen epoch ([N, C], test-file order):
    read from ``test_probs.npy``, or (a run scored before the kit kept them) predicted once from its chosen
    weights and kept. Trains the run first when it has not finished (:func:`train_or_load`)."""
    exp = load_experiment(cfg)
    paths = experiment_paths(exp)
    if paths.test_probs.is_file() and paths.test_metrics.is_file():
        probs = np.load(paths.test_probs)
        if probs.shape[0] == len(exp.prepared.test):
            return probs
    result = train_or_load(cfg, exp)
    probs = predict_probs(result.model, exp, "test")
    if is_chief():
        write_probs(paths, probs)
    return np.asarray(probs)


def _saved_config_matches(paths: RunPaths, cfg: Config, exp: Experiment) -> bool:
    """Same settings and the same prepared data as the saved run."""
    if not paths.config.is_file():
        return False
    saved = json.loads(paths.config.read_text())
    if saved.get("data_sha256") != data_fingerprint(exp):
        return False
    defaults = Config().to_dict()  # a field added since the run was saved had its default then
    ignore = set(SCHEDULE_FIELDS)
    return all(saved.get(k, defaults[k]) == v for k, v in cfg.to_dict().items() if k not in ignore)


def _last_epoch(paths: RunPaths, cfg: Config, history: pd.DataFrame) -> int | None:
    """The epoch a finished run ends at (``cfg.training.epochs``, or earlier when early stopping ended it); None while
    it still has epochs to train."""
    history = history[history["epoch"] <= cfg.training.epochs] if not history.empty else history
    done = set(history["epoch"]) if not history.empty else set()
    if set(range(1, cfg.training.epochs + 1)) <= done and _has_weights(paths, cfg.training.epochs):
        return cfg.training.epochs
    if cfg.data.protocol == "clean" and cfg.training.patience > 0 and done == set(range(1, max(done, default=0) + 1)):
        chosen = selection(history, cfg.training.selection_metric)
        if chosen is not None and chosen.exhausted(cfg.training.patience) and _has_weights(paths, max(done)):
            return max(done)
    return None


def _has_weights(paths: RunPaths, epoch: int) -> bool:
    """Epoch ``epoch``'s checkpoint exists, or a finished lean run ended there (weight/final.json)."""
    return paths.checkpoint(epoch).is_file() or final_epoch(paths) == epoch


def _finished(paths: RunPaths, cfg: Config, history: pd.DataFrame) -> bool:
    return _last_epoch(paths, cfg, history) is not None


def is_finished(cfg: Config, exp: Experiment | None = None) -> bool:
    """True when :func:`train_or_load` would load ``cfg``'s run instead of training it."""
    exp = exp if exp is not None and exp.cfg == cfg else load_experiment(cfg)
    return _saved_config_matches(experiment_paths(exp), cfg, exp) and _finished(experiment_paths(exp), cfg, read_results(experiment_paths(exp)))


def train_or_load(cfg: Config, exp: Experiment | None = None, *, score_test: bool = True,
                  monitor: Monitor | None = None) -> RunResult:
    """Train ``cfg`` unless the same run already finished; resume a run that stopped part-way.

    A run counts as finished when its saved configuration and prepared data match, its results
    CSV has every epoch up to ``cfg.training.epochs`` (or up to the epoch where early stopping ended it) and
    that epoch's checkpoint exists. Then the model is loaded and nothing is trained. A clean run
    loads its chosen epoch; its test metrics are computed once, when first asked for
    (``score_test``; see :func:`train`).

    When another process trains the run, this waits for it and then looks again (the sweeps' rule,
    :mod:`arerec.locks`): the run is the same, so it is then loaded, not trained twice.
    """
    exp = exp if exp is not None and exp.cfg == cfg else load_experiment(cfg)
    initialize_hosts(cfg)  # is_chief() below: in a multi-process job only process 0 waits for the lock
    while True:
        with hold_run(experiment_paths(exp), wait=True):
            pass  # held by nobody now
        try:
            return _train_or_load_now(cfg, exp, score_test=score_test, monitor=monitor)
        except BusyError as exc:  # another process took the run between the two: wait for it again
            log.info("%s", exc)


def _train_or_load_now(cfg: Config, exp: Experiment, *, score_test: bool, monitor: Monitor | None) -> RunResult:
    paths = experiment_paths(exp)
    if _saved_config_matches(paths, cfg, exp):
        history = read_results(paths)
        last = _last_epoch(paths, cfg, history)
        if last is not None:
            log.info("%s already finished: loading it", paths.name)
            return _load_finished(cfg, exp, history[history["epoch"] <= last], last, score_test)
        resumable = [p for p in paths.checkpoints()
                     if checkpoint_epoch(p) < cfg.training.epochs and has_optimizer_state(p)]
        if resumable:
            log.info("%s stopped part-way: resuming from %s", paths.name, resumable[-1].name)
            return train(cfg.replace(load_model=1, model_name=paths.name, load_weight_path=resumable[-1].name),
                         score_test=score_test, monitor=monitor)
    return train(cfg, exp, score_test=score_test, monitor=monitor)


def _load_finished(cfg: Config, exp: Experiment, history: pd.DataFrame, last: int, score_test: bool) -> RunResult:
    """A finished run's chosen (clean protocol) or last epoch, loaded; test scored the first time it is asked for.
    A lean run that was killed before it tidied up, or one kept under ``every``, keeps its chosen weights only."""
    started, paths = time.perf_counter(), experiment_paths(exp)
    if exp.clean and paths.best_checkpoint.is_file():
        if score_test and not paths.test_metrics.is_file():
            final, model = score_test_at_chosen_epoch(exp, paths, history)
        else:
            model, _ = build(exp)
            load_checkpoint(paths.best_checkpoint, exp, model)
            final = json.loads(paths.test_metrics.read_text()) if score_test else chosen_epoch(cfg, history)
    else:
        model, _ = build(exp)
        load_checkpoint(paths.checkpoint(last), exp, model)
        final = _last_row(history)
    if cfg.training.checkpoint_policy == "lean":
        finish_lean(paths, exp, model, last, save_checkpoint)
    return RunResult(paths.name, paths, history, final, model, exp, time.perf_counter() - started, loaded=True)
