"""The training loop: the compiled step, an epoch, :func:`train` as ``run.py`` does it, and
:func:`train_or_load`, which re-uses a finished run and resumes one that stopped part-way.

Clean protocol: each epoch is scored on validation, the best epoch kept and restored, and test
scored once at the end (:func:`score_test_at_chosen_epoch`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

import numpy as np
import pandas as pd

from arerec.config import Config
from arerec.console import say
from arerec.data.inputs import Experiment, load_experiment
from arerec.errors import BusyError, CheckpointError
from arerec.files import atomic_path, sha256_file, write_json_atomic
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
    drop_checkpoints,
    experiment_paths,
    final_epoch,
    latest_checkpoint,
    read_results,
    resolve_run_config,
    results_columns,
    write_results,
)
from arerec.train.selection import best_so_far, chosen_epoch, selection

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


def _last_row(history: pd.DataFrame) -> dict[str, Any]:
    return {str(key): value for key, value in history.iloc[-1].items()}


def _verbosity(cfg: Config) -> int:
    if cfg.verbose != "auto":
        return int(cfg.verbose)
    return 1 if sys.stdout.isatty() else 2


def _epoch_line(row: dict, last_epoch: int, k: int) -> str:
    line = f"epoch {row['epoch']}/{last_epoch} - {row['seconds']:.1f}s - loss {row['loss']:.4f}"
    if "val_loss" in row:
        line += (f" - val_loss {row['val_loss']:.4f} - hr@{k} {row[f'hr@{k}']:.4f} - ndcg@{k} {row[f'ndcg@{k}']:.4f}"
                 f" - rmse {row['rmse']:.4f} (eval {row['eval_seconds']:.1f}s)")
    return line


def _bar_update(bar, done: int, loss: float) -> None:
    bar.update(done, [("loss", loss)])


def run_epoch(exp: Experiment, train_step, epoch: int, *, shuffle: bool = True, on_step=None,
              at_steps: Mapping[int, Callable[[], None]] | None = None) -> tuple[float, int]:
    """One pass over the training rows: ``train_step`` (a trainer's step, :mod:`arerec.train.backends`)
    on every batch of :func:`arerec.train.batches.id_batches`. Returns (sum of the step losses, steps); ``on_step(done, loss)``
    is called after each step, and ``at_steps[n]()`` after step ``n`` (a report to a pruner, say).
    :func:`train` and ``python -m arerec bench`` both time this loop.

    Without ``on_step`` the losses are read once, at the end, so that an asynchronous backend (JAX on a GPU)
    can queue the steps instead of waiting for each one.
    """
    losses = []
    for batch in id_batches(exp, "train", shuffle=shuffle, epoch=epoch):
        losses.append(train_step(*batch))
        if on_step is not None:
            on_step(len(losses), float(losses[-1]))
        if at_steps and len(losses) in at_steps:
            at_steps[len(losses)]()
    return sum((float(np.asarray(loss)) for loss in losses), start=0.0), len(losses)


class Monitor(Protocol):
    """Told a clean run's validation figure ``reports_per_epoch`` times an epoch (a hyper-parameter search's
    pruner: :mod:`arerec.sweeps.tuning`). ``report`` may raise to stop the run (the trial is pruned); it is not
    allowed to once the run has trained its last epoch (``final``)."""

    reports_per_epoch: int

    def report(self, step: int, value: float, *, final: bool = False) -> None: ...


def validation_value(model, exp: Experiment, metric: str, regularization: float = 0.0) -> float:
    """``metric`` (a selection metric) on the validation rows, as the epoch's row of the results CSV has it."""
    probs = predict_probs(model, exp, exp.eval_split)
    labels = exp.arrays(exp.eval_split)[2]
    if metric in ("val_loss", "val_ce"):
        return cross_entropy(probs, labels) + (regularization if metric == "val_loss" else 0.0)
    return float(evaluate_probs(exp, probs, exp.eval_split)[metric])


def _report_points(steps: int, per_epoch: int) -> list[int]:
    """The steps of an epoch after which a monitor is told (the last is the epoch's end)."""
    return sorted({max(1, round(steps * k / per_epoch)) for k in range(1, per_epoch)} - {steps})


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
    if cfg.load_model or (not cfg.do_train and cfg.model_name):
        cfg = resolve_run_config(cfg)
    if exp is None or exp.cfg != cfg:
        exp = load_experiment(cfg)
    paths = experiment_paths(exp)
    apply_memory_settings(cfg)
    model, optimizer = build(exp)  # joins a multi-process job first, so that is_chief() is known
    with hold_run(paths, wait=False):
        return _train_held(cfg, exp, paths, model, optimizer, started, score_test, monitor)


def hold_run(paths: RunPaths, *, wait: bool):
    """The run folder's lock (:func:`arerec.locks.exclusive`), taken by the chief process only: fail at once when
    another process trains the run, or with ``wait`` wait for it."""
    if not is_chief():
        return contextlib.nullcontext()
    advice = ("a run folder is trained by one process at a time. Wait for that process to finish (a sweep or "
              "notebook asked for the same run then loads it), or stop it; a killed process holds nothing")
    return exclusive(paths.lock, f"run {paths.name} ({paths.root})", wait=wait, advice=advice)


def _train_held(cfg: Config, exp: Experiment, paths: RunPaths, model, optimizer, started: float,
                score_test: bool, monitor: Monitor | None) -> RunResult:
    """The rest of :func:`train`, with the run folder held."""
    import keras

    start_epoch = 1
    history = read_results(paths)
    lean = cfg.checkpoint_policy == "lean"  # only the latest checkpoint; best.ckpt without optimiser state

    if cfg.load_model or not cfg.do_train:
        checkpoint = paths.weights / cfg.load_weight_path if cfg.load_weight_path else latest_checkpoint(paths)
        start_epoch = load_checkpoint(checkpoint, exp, model, optimizer if cfg.do_train else None) + 1
        log.info("loaded %s: continuing at epoch %d", checkpoint, start_epoch)
        if not history.empty:
            history = history[history["epoch"] < start_epoch]
        chosen = selection(history, cfg.selection_metric) if exp.clean and cfg.do_train else None
        if chosen is not None and chosen.best_epoch == start_epoch - 1:  # best.ckpt may hold a later, dropped epoch
            save_checkpoint(paths.best_checkpoint, exp, model, None if lean else optimizer, start_epoch - 1)
    elif not history.empty:
        log.warning("%s exists: starting a new run from epoch 1 over it", paths.root)
        history = pd.DataFrame()

    chief = is_chief()  # the one process of a multi-process job that writes the run's files
    if chief:
        paths.root.mkdir(parents=True, exist_ok=True)
        for stale in paths.root.rglob(".*.tmp"):  # left by a process killed while writing
            stale.unlink()
        if cfg.do_train:  # the epoch chosen may change: test is scored again at the end
            paths.test_metrics.unlink(missing_ok=True)
            paths.test_probs.unlink(missing_ok=True)
        if cfg.do_train:  # a lean run that trains again is not finished until it says so again
            paths.final_marker.unlink(missing_ok=True)
        write_json_atomic(paths.config, {**cfg.to_dict(), "load_model": 0, "load_weight_path": "",
                                         "data_sha256": _data_fingerprint(exp), "keras_backend": backends.name()})
    verbose = _verbosity(cfg) if chief else 0
    eval_labels = exp.arrays(exp.eval_split)[2]

    trainer = backends.current().make_trainer(model, optimizer, exp)

    rows: list[dict[Any, Any]] = history.to_dict("records")
    last_epoch = cfg.epochs if cfg.do_train else start_epoch - 1
    writer = _summary_writer(paths) if cfg.do_train and chief else None
    steps = int(np.ceil(len(exp.prepared.train) / cfg.batch_size))
    for epoch in range(start_epoch, last_epoch + 1):
        t0 = time.perf_counter()
        bar = keras.utils.Progbar(steps, unit_name="step") if verbose == 1 else None
        if bar is not None:
            print(f"Epoch {epoch}/{last_epoch}")
        at_steps = None
        if monitor is not None and exp.clean:
            per = monitor.reports_per_epoch
            at_steps = {n: partial(_tell, monitor, model, exp, cfg.selection_metric, trainer, (epoch - 1) * per + k)
                        for k, n in enumerate(_report_points(steps, per), start=1)}
        total, count = run_epoch(exp, trainer.step, epoch, shuffle=bool(cfg.shuffle),
                                 on_step=None if bar is None else partial(_bar_update, bar), at_steps=at_steps)
        trainer.sync()
        train_seconds = time.perf_counter() - t0
        row = {"epoch": epoch, "loss": total / max(count, 1), "seconds": train_seconds}
        if cfg.do_eval or epoch == last_epoch or exp.clean:
            probs = predict_probs(model, exp, exp.eval_split)
            val_ce = cross_entropy(probs, eval_labels)  # no L2 term: comparable across L2 rates
            row.update(val_loss=val_ce + trainer.regularization(), val_ce=val_ce,
                       **evaluate_probs(exp, probs, exp.eval_split))
        row["eval_seconds"] = time.perf_counter() - t0 - train_seconds
        rows.append(row)
        stop = False
        if exp.clean:
            chosen = best_so_far(pd.DataFrame(rows), cfg.selection_metric)
            stop = chosen.exhausted(cfg.patience) and epoch < last_epoch
            row.update(best_epoch=chosen.best_epoch, stopped_early=int(stop))
        history = pd.DataFrame(rows).reindex(columns=results_columns(cfg))
        if chief:
            write_results(paths, history)
        if writer is not None:
            writer(epoch, row)
        if cfg.save_model and (epoch % cfg.save_checkpoints_epochs == 0 or epoch == last_epoch or stop):
            save_checkpoint(paths.checkpoint(epoch), exp, model, optimizer, epoch)
            if lean and chief:  # the new one is written (atomically): the older ones can go
                drop_checkpoints(paths, keep=paths.checkpoint(epoch))
        if exp.clean and row["best_epoch"] == epoch:
            save_checkpoint(paths.best_checkpoint, exp, model, None if lean else optimizer, epoch)
        if verbose:
            say(_epoch_line(row, last_epoch, max(cfg.topk)))
        if monitor is not None and exp.clean:
            monitor.report(epoch * monitor.reports_per_epoch, float(row[cfg.selection_metric]),
                           final=stop or epoch == last_epoch)
        if stop:
            say(f"early stop after epoch {epoch}: {cfg.selection_metric} on validation has not improved for "
                f"{cfg.patience} epoch(s) since epoch {row['best_epoch']}")
            break

    if cfg.do_train and lean and cfg.save_model and not history.empty:
        _finish_lean(paths, exp, model, int(history["epoch"].max()))
    if cfg.do_train and exp.clean and not score_test:
        model, optimizer = build(exp)
        load_checkpoint(paths.best_checkpoint, exp, model)
        final = chosen_epoch(cfg, history)
    elif cfg.do_train and exp.clean:
        final, model = score_test_at_chosen_epoch(exp, paths, history)
    elif cfg.do_train:
        final = _last_row(history) if not history.empty else {}
    else:
        probs = predict_probs(model, exp)
        final = {"epoch": start_epoch - 1, "val_loss": cross_entropy(probs, exp.arrays("test")[2]),
                 **evaluate_probs(exp, probs)}
    return RunResult(name=paths.name, paths=paths, history=history, final=final, model=model, experiment=exp,
                     seconds=time.perf_counter() - started)


def _tell(monitor: Monitor, model, exp: Experiment, metric: str, trainer, step: int) -> None:
    trainer.sync()
    monitor.report(step, validation_value(model, exp, metric, trainer.regularization()))


def _summary_writer(paths: RunPaths):
    """TensorBoard scalars per epoch under ``logs_{name}/``: ``write(epoch, row)``; None where TensorFlow's
    summary writer is not installed (a JAX machine without TensorFlow: the results CSV holds the same figures)."""
    try:
        import tensorflow as tf
    except ImportError:
        log.info("no TensorFlow here: no TensorBoard logs (the results CSV has every epoch's figures)")
        return None
    writer = tf.summary.create_file_writer(str(paths.logs))

    def write(epoch: int, row: dict) -> None:
        with writer.as_default(step=epoch):
            for key, value in row.items():
                if key != "epoch" and np.isfinite(value):
                    tf.summary.scalar(key, value)
        writer.flush()

    return write


def score_test_at_chosen_epoch(exp: Experiment, paths: RunPaths, history: pd.DataFrame):
    """Clean protocol: score the test rows once, with the epoch chosen on validation.

    Returns the test metrics (also written to ``test_metrics.json``) and that epoch's model.
    """
    model, _ = build(exp)
    epoch = load_checkpoint(paths.best_checkpoint, exp, model)
    probs = predict_probs(model, exp, "test")
    final = {**chosen_epoch(exp.cfg, history), "test_loss": cross_entropy(probs, exp.arrays("test")[2]),
             **evaluate_probs(exp, probs, "test")}
    if final["best_epoch"] != epoch:
        raise CheckpointError(f"{paths.best_checkpoint} holds epoch {epoch}, but the results CSV chooses epoch "
                              f"{final['best_epoch']}: train the run again (delete {paths.root})")
    if is_chief():
        _write_probs(paths, probs)
        write_json_atomic(paths.test_metrics, final)
    log.info("clean protocol: epoch %d chosen on validation; test %s", epoch, final)
    return final, model


def _write_probs(paths: RunPaths, probs: np.ndarray) -> None:
    with atomic_path(paths.test_probs) as tmp, open(tmp, "wb") as out:
        np.save(out, np.asarray(probs))


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
        _write_probs(paths, probs)
    return np.asarray(probs)


def _finish_lean(paths: RunPaths, exp: Experiment, model, last: int) -> None:
    """``checkpoint_policy: lean``, once the run ended at epoch ``last``: keep only what scoring reads, the chosen
    epoch's weights without optimiser state (``best.ckpt`` under the clean protocol; under the reference one
    ``cp-{last}.ckpt``, rewritten from ``model``, which must hold epoch ``last``'s weights), and say so in
    ``weight/final.json`` before the other checkpoints go (a process killed in between leaves a finished run)."""
    if exp.clean:
        keep = paths.best_checkpoint
    else:
        keep = paths.checkpoint(last)
        if not keep.is_file() or has_optimizer_state(keep):
            save_checkpoint(keep, exp, model, None, last)
    if is_chief():
        write_json_atomic(paths.final_marker, {"policy": "lean", "epoch": last, "weights": keep.name})
        drop_checkpoints(paths, keep=keep)


def _data_fingerprint(exp: Experiment) -> str:
    """SHA-256 of the prepared rows a run trains and is scored on."""
    return sha256_file(exp.prepared.paths["train"]) + sha256_file(exp.prepared.paths["test"])[:16]


def _saved_config_matches(paths: RunPaths, cfg: Config, exp: Experiment) -> bool:
    """Same settings and the same prepared data as the saved run."""
    if not paths.config.is_file():
        return False
    saved = json.loads(paths.config.read_text())
    if saved.get("data_sha256") != _data_fingerprint(exp):
        return False
    defaults = Config().to_dict()  # a field added since the run was saved had its default then
    ignore = set(SCHEDULE_FIELDS)
    return all(saved.get(k, defaults[k]) == v for k, v in cfg.to_dict().items() if k not in ignore)


def _last_epoch(paths: RunPaths, cfg: Config, history: pd.DataFrame) -> int | None:
    """The epoch a finished run ends at (``cfg.epochs``, or earlier when early stopping ended it); None while
    it still has epochs to train."""
    history = history[history["epoch"] <= cfg.epochs] if not history.empty else history
    done = set(history["epoch"]) if not history.empty else set()
    if set(range(1, cfg.epochs + 1)) <= done and _has_weights(paths, cfg.epochs):
        return cfg.epochs
    if cfg.protocol == "clean" and cfg.patience > 0 and done == set(range(1, max(done, default=0) + 1)):
        chosen = selection(history, cfg.selection_metric)
        if chosen is not None and chosen.exhausted(cfg.patience) and _has_weights(paths, max(done)):
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
    CSV has every epoch up to ``cfg.epochs`` (or up to the epoch where early stopping ended it) and
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
            started = time.perf_counter()
            history = history[history["epoch"] <= last]
            if exp.clean and paths.best_checkpoint.is_file():
                if score_test and not paths.test_metrics.is_file():
                    final, model = score_test_at_chosen_epoch(exp, paths, history)
                else:
                    model, _ = build(exp)
                    load_checkpoint(paths.best_checkpoint, exp, model)
                    final = (json.loads(paths.test_metrics.read_text()) if score_test
                             else chosen_epoch(cfg, history))
                if cfg.checkpoint_policy == "lean":  # one killed before it tidied up, or kept under 'every'
                    _finish_lean(paths, exp, model, last)
                return RunResult(paths.name, paths, history, final, model, exp, time.perf_counter() - started)
            model, _ = build(exp)
            load_checkpoint(paths.checkpoint(last), exp, model)
            if cfg.checkpoint_policy == "lean":
                _finish_lean(paths, exp, model, last)
            return RunResult(paths.name, paths, history, _last_row(history), model, exp,
                             time.perf_counter() - started)
        resumable = [p for p in paths.checkpoints() if checkpoint_epoch(p) < cfg.epochs and has_optimizer_state(p)]
        if resumable:
            log.info("%s stopped part-way: resuming from %s", paths.name, resumable[-1].name)
            return train(cfg.replace(load_model=1, model_name=paths.name, load_weight_path=resumable[-1].name),
                         score_test=score_test, monitor=monitor)
    return train(cfg, exp, score_test=score_test, monitor=monitor)
