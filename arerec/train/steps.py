"""The steps of a run's epoch loop (:func:`arerec.train.loop.train`), one job each.

Per epoch, the loop trains with the backend's trainer (:mod:`arerec.train.backends`), writes the trained values into
the Keras variables (``trainer.sync()``), scores the epoch, and hands its row to each step in turn. These are Keras
callbacks (:class:`keras.callbacks.Callback`, whose hooks they implement), and work under every trainer, since
every trainer syncs before they read the model:

1. :class:`RunFolder`: at the start, stale temporary files go, a new training's test scores and finished marker go,
   and ``config.json`` is written;
2. :class:`EarlyStopping`: the epoch chosen so far on validation and the patience count (from the rows, so a resumed
   run keeps them); it stops the loop (``model.stop_training``) and says why;
3. :class:`ResultsLog`: the results CSV (one header, a row per epoch) and the TensorBoard scalars;
4. :class:`CheckpointPolicy`: ``cp-NNNN.ckpt`` every ``save_checkpoints_epochs`` epochs (with ``lean``, only the
   latest), ``best.ckpt`` at each new best epoch, and once finished, under ``lean``, only the chosen weights;
5. :class:`EpochLog`: the progress bar and a line per epoch;
6. :class:`PruningReport`: the validation figure, ``reports_per_epoch`` times an epoch, to a search's pruner.

Two steps are not callbacks, as no hook fits them: :class:`Resume` decides where the run starts, loading a
checkpoint into the model and optimiser before the trainer is made from them (the JAX trainer copies the values
then), and :class:`FinalScore` scores the run once it has ended and returns its figures and model.

Keras' :class:`~keras.callbacks.CallbackList` does not call these: it copies each epoch's logs with every value made a
float (the epoch 3 would be written 3.0 in the results CSV) and runs batch-end hooks on a thread pool; the steps'
own order and one shared row are what keep the files as they were. Keras' built-in ModelCheckpoint, EarlyStopping,
CSVLogger and TensorBoard callbacks write other files than the reference's (its checkpoint with optimiser state, a
results CSV whose choice of epoch survives a resume).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import keras
import numpy as np
import pandas as pd

from arerec.config import Config
from arerec.console import say
from arerec.data.inputs import Experiment
from arerec.errors import CheckpointError
from arerec.files import atomic_path, sha256_file, write_json_atomic
from arerec.train import backends
from arerec.train.build import build
from arerec.train.checkpoints import has_optimizer_state, load_checkpoint, save_checkpoint
from arerec.train.distribution import is_chief
from arerec.train.predict import cross_entropy, evaluate_probs, predict_probs
from arerec.train.runs import (
    RunPaths,
    drop_checkpoints,
    latest_checkpoint,
    read_results,
    results_columns,
    write_results,
)
from arerec.train.selection import best_so_far, chosen_epoch, selection

log = logging.getLogger(__name__)


@dataclass
class RunState:
    """What the steps of one run share: the run, where it starts and ends, its rows so far, and its trainer."""

    cfg: Config
    exp: Experiment
    paths: RunPaths
    model: Any
    optimizer: Any
    chief: bool = field(default_factory=is_chief)  # the one process of a multi-process job that writes the files
    start_epoch: int = 1
    rows: list[dict[str, Any]] = field(default_factory=list)
    history: pd.DataFrame = field(default_factory=pd.DataFrame)
    trainer: Any = None
    # what writes a checkpoint: the loop's own save_checkpoint, which tests replace to watch or interrupt the writes
    save: Callable[..., None] = save_checkpoint

    @property
    def last_epoch(self) -> int:
        """The last epoch to train (``epochs``); evaluating only, the checkpoint's."""
        return self.cfg.training.epochs if self.cfg.training.do_train else self.start_epoch - 1

    @property
    def lean(self) -> bool:
        """``checkpoint_policy: lean``: only the latest checkpoint, best.ckpt without optimiser state."""
        return self.cfg.training.checkpoint_policy == "lean"


class Step(keras.callbacks.Callback):
    """A step of the loop, on one run's :class:`RunState`. Batch hooks: ``every_step`` steps get
    ``on_train_batch_end(n, {"loss": loss})`` after every training step ``n`` (1, 2, ...; reading the loss waits for
    the step); :meth:`report_steps` names the steps after which ``on_train_batch_end(n)`` runs otherwise."""

    every_step = False

    def __init__(self, state: RunState) -> None:
        super().__init__()
        self.state = state
        self.set_model(state.model)

    def report_steps(self, steps: int) -> list[int]:
        return []


# --------------------------------------------------------------------------------------------
# Before the loop and after it
# --------------------------------------------------------------------------------------------
class Resume:
    """Where a run starts. A new run: epoch 1, and an earlier run's results in its folder are replaced (warned). A
    resumed one (``load_model``) or one evaluated only: the checkpoint's next epoch, its optimiser state loaded when it
    trains, with the results CSV's rows before it (best.ckpt rewritten when the chosen epoch is the checkpoint's: it
    may hold a later epoch, one of the rows dropped)."""

    def __call__(self, state: RunState) -> None:
        cfg, paths, history = state.cfg, state.paths, read_results(state.paths)
        if cfg.training.load_model or not cfg.training.do_train:
            history = self._load(state, history)
        elif not history.empty:
            log.warning("%s exists: starting a new run from epoch 1 over it", paths.root)
            history = pd.DataFrame()
        state.history, state.rows = history, [{str(k): v for k, v in row.items()} for row in history.to_dict("records")]

    @staticmethod
    def _load(state: RunState, history: pd.DataFrame) -> pd.DataFrame:
        cfg, paths, exp = state.cfg, state.paths, state.exp
        name = cfg.training.load_weight_path
        checkpoint = paths.weights / name if name else latest_checkpoint(paths)
        optimizer = state.optimizer if cfg.training.do_train else None
        state.start_epoch = load_checkpoint(checkpoint, exp, state.model, optimizer) + 1
        log.info("loaded %s: continuing at epoch %d", checkpoint, state.start_epoch)
        if not history.empty:
            history = history[history["epoch"] < state.start_epoch]
        chosen = selection(history, cfg.training.selection_metric) if exp.clean and cfg.training.do_train else None
        if chosen is not None and chosen.best_epoch == state.start_epoch - 1:
            state.save(paths.best_checkpoint, exp, state.model, None if state.lean else state.optimizer,
                       state.start_epoch - 1)
        return history


class FinalScore:
    """The run's figures once it has ended, and the model they come from: under the clean protocol the chosen
    epoch's (test scored once and kept, :func:`score_test_at_chosen_epoch`, unless ``score_test`` is False: a search
    never reads test), else the last epoch's row; evaluating only, the checkpoint's test figures."""

    def __init__(self, score_test: bool) -> None:
        self.score_test = score_test

    def __call__(self, state: RunState) -> tuple[dict[str, Any], Any]:
        cfg, exp, paths, history = state.cfg, state.exp, state.paths, state.history
        if not cfg.training.do_train:
            probs = predict_probs(state.model, exp)
            return {"epoch": state.start_epoch - 1, "val_loss": cross_entropy(probs, exp.arrays("test")[2]),
                    **evaluate_probs(exp, probs)}, state.model
        if not exp.clean:
            return ({str(k): v for k, v in history.iloc[-1].items()} if not history.empty else {}), state.model
        if self.score_test:
            return score_test_at_chosen_epoch(exp, paths, history)
        model, _ = build(exp)
        load_checkpoint(paths.best_checkpoint, exp, model)
        return chosen_epoch(cfg, history), model


def score_test_at_chosen_epoch(exp: Experiment, paths: RunPaths, history: pd.DataFrame):
    """Clean protocol: score the test rows once, with the epoch chosen on validation.

    Returns the test metrics (also written to ``test_metrics.json``, the probabilities to ``test_probs.npy``) and that
    epoch's model.
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
        write_probs(paths, probs)
        write_json_atomic(paths.test_metrics, final)
    log.info("clean protocol: epoch %d chosen on validation; test %s", epoch, final)
    return final, model


def write_probs(paths: RunPaths, probs: np.ndarray) -> None:
    with atomic_path(paths.test_probs) as tmp, open(tmp, "wb") as out:
        np.save(out, np.asarray(probs))


# --------------------------------------------------------------------------------------------
# The callbacks
# --------------------------------------------------------------------------------------------
class RunFolder(Step):
    """The run folder before the first epoch (chief only): temporary files a killed process left go; a run that
    trains again has its test scores and lean marker removed (the chosen epoch may change); ``config.json`` holds the
    configuration (with the data's digest and the backend), which resume and :func:`train_or_load` read."""

    def on_train_begin(self, logs: dict | None = None) -> None:
        state, paths, cfg = self.state, self.state.paths, self.state.cfg
        if not state.chief:
            return
        paths.root.mkdir(parents=True, exist_ok=True)
        for stale in paths.root.rglob(".*.tmp"):  # left by a process killed while writing
            stale.unlink()
        if cfg.training.do_train:  # scored again at the end; a lean run is not finished until it says so again
            for done in (paths.test_metrics, paths.test_probs, paths.final_marker):
                done.unlink(missing_ok=True)
        write_json_atomic(paths.config, {**cfg.to_dict(), "load_model": 0, "load_weight_path": "",
                                         "data_sha256": data_fingerprint(state.exp), "keras_backend": backends.name()})


def data_fingerprint(exp: Experiment) -> str:
    """SHA-256 of the prepared rows a run trains and is scored on."""
    return sha256_file(exp.prepared.paths["train"]) + sha256_file(exp.prepared.paths["test"])[:16]


class EarlyStopping(Step):
    """Clean protocol: each epoch's row gets the best epoch so far on ``selection_metric`` and whether the run stops
    there (``patience`` epochs without improvement, before its last epoch); then ``model.stop_training``."""

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.model.stop_training = False
        self.stopped: dict[str, Any] | None = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        state, training = self.state, self.state.cfg.training
        if not state.exp.clean or logs is None:
            return
        chosen = best_so_far(pd.DataFrame(state.rows), training.selection_metric)
        stop = chosen.exhausted(training.patience) and epoch < state.last_epoch
        logs.update(best_epoch=chosen.best_epoch, stopped_early=int(stop))
        if stop:
            self.model.stop_training = True
            self.stopped = logs

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.stopped is not None:
            training = self.state.cfg.training
            say(f"early stop after epoch {self.stopped['epoch']}: {training.selection_metric} on validation has not "
                f"improved for {training.patience} epoch(s) since epoch {self.stopped['best_epoch']}")


class ResultsLog(Step):
    """The results CSV, rewritten whole after each epoch (chief only), and the TensorBoard scalars under
    ``logs_{name}/`` (a training run's; none where TensorFlow is not installed: the CSV holds the same figures)."""

    def on_train_begin(self, logs: dict | None = None) -> None:
        state = self.state
        self.writer = summary_writer(state.paths) if state.cfg.training.do_train and state.chief else None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        state = self.state
        state.history = pd.DataFrame(state.rows).reindex(columns=results_columns(state.cfg))
        if state.chief:
            write_results(state.paths, state.history)
        if self.writer is not None and logs is not None:
            self.writer(epoch, logs)


def summary_writer(paths: RunPaths):
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


class CheckpointPolicy(Step):
    """``checkpoint_policy``: ``cp-NNNN.ckpt`` (weights and optimiser state) every ``save_checkpoints_epochs`` epochs,
    at the last epoch and where the run stops early (``every`` keeps them all, ``lean`` the latest); ``best.ckpt``
    at each new best epoch of the clean protocol; once a lean run has ended, only the chosen epoch's weights."""

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        state, training = self.state, self.state.cfg.training
        stop = bool(getattr(self.model, "stop_training", False))
        if training.save_model and (epoch % training.save_checkpoints_epochs == 0 or epoch == state.last_epoch or stop):
            state.save(state.paths.checkpoint(epoch), state.exp, state.model, state.optimizer, epoch)
            if state.lean and state.chief:  # the new one is written (atomically): the older ones can go
                drop_checkpoints(state.paths, keep=state.paths.checkpoint(epoch))
        if state.exp.clean and logs is not None and logs["best_epoch"] == epoch:
            state.save(state.paths.best_checkpoint, state.exp, state.model, None if state.lean else state.optimizer,
                       epoch)

    def on_train_end(self, logs: dict | None = None) -> None:
        state, training = self.state, self.state.cfg.training
        if training.do_train and state.lean and training.save_model and not state.history.empty:
            finish_lean(state.paths, state.exp, state.model, int(state.history["epoch"].max()), state.save)


def finish_lean(paths: RunPaths, exp: Experiment, model, last: int,
                save: Callable[..., None] = save_checkpoint) -> None:
    """``checkpoint_policy: lean``, once the run ended at epoch ``last``: keep only what scoring reads, the chosen
    epoch's weights without optimiser state (``best.ckpt`` under the clean protocol; under the reference one
    ``cp-{last}.ckpt``, rewritten from ``model``, which must hold epoch ``last``'s weights), and say so in
    ``weight/final.json`` before the other checkpoints go (a process killed in between leaves a finished run)."""
    if exp.clean:
        keep = paths.best_checkpoint
    else:
        keep = paths.checkpoint(last)
        if not keep.is_file() or has_optimizer_state(keep):
            save(keep, exp, model, None, last)
    if is_chief():
        write_json_atomic(paths.final_marker, {"policy": "lean", "epoch": last, "weights": keep.name})
        drop_checkpoints(paths, keep=keep)


class EpochLog(Step):
    """What a run says as it trains (chief only): with ``verbose`` 1 a progress bar per epoch, with 1 or 2 a line per
    epoch (loss, and its validation or test figures); ``auto`` is 1 at a terminal, else 2."""

    def __init__(self, state: RunState) -> None:
        super().__init__(state)
        verbose = state.cfg.training.verbose
        self.verbose = (int(verbose) if verbose != "auto" else 1 if sys.stdout.isatty() else 2) if state.chief else 0
        self.every_step = self.verbose == 1
        self.bar: Any = None

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if self.every_step:
            state = self.state
            self.bar = keras.utils.Progbar(steps_per_epoch(state), unit_name="step")
            print(f"Epoch {epoch}/{state.last_epoch}")

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self.bar is not None and logs is not None:
            self.bar.update(batch, [("loss", float(logs["loss"]))])

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.verbose and logs is not None:
            say(epoch_line(logs, self.state.last_epoch, max(self.state.cfg.evaluation.topk)))


def steps_per_epoch(state: RunState) -> int:
    return int(np.ceil(len(state.exp.prepared.train) / state.cfg.data.batch_size))


def epoch_line(row: dict, last_epoch: int, k: int) -> str:
    line = f"epoch {row['epoch']}/{last_epoch} - {row['seconds']:.1f}s - loss {row['loss']:.4f}"
    if "val_loss" in row:
        line += (f" - val_loss {row['val_loss']:.4f} - hr@{k} {row[f'hr@{k}']:.4f} - ndcg@{k} {row[f'ndcg@{k}']:.4f}"
                 f" - rmse {row['rmse']:.4f} (eval {row['eval_seconds']:.1f}s)")
    return line


class Monitor(Protocol):
    """Told a clean run's validation figure ``reports_per_epoch`` times an epoch (a hyper-parameter search's
    pruner: :mod:`arerec.sweeps.tuning`). ``report`` may raise to stop the run (the trial is pruned); it is not
    allowed to once the run has trained its last epoch (``final``)."""

    reports_per_epoch: int

    def report(self, step: int, value: float, *, final: bool = False) -> None: ...


class PruningReport(Step):
    """Clean protocol, a search's trial: the validation ``selection_metric`` told to ``monitor`` at step
    ``(epoch - 1) * reports_per_epoch + k``, ``k`` = 1 .. reports_per_epoch, the last at the epoch's end (as its row
    has it). The monitor may stop the run by raising: the epoch's partial work is lost, the epochs before it stay."""

    def __init__(self, state: RunState, monitor: Monitor) -> None:
        super().__init__(state)
        self.monitor, self.epoch = monitor, 1

    def report_steps(self, steps: int) -> list[int]:
        """The steps of an epoch after which the monitor is told (the epoch's end is told from its row)."""
        per = self.monitor.reports_per_epoch
        return sorted({max(1, round(steps * k / per)) for k in range(1, per)} - {steps})

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch = epoch
        self.told = self.report_steps(steps_per_epoch(self.state))

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        state = self.state
        if batch in self.told:
            state.trainer.sync()
            value = validation_value(state.model, state.exp, state.cfg.training.selection_metric,
                                     state.trainer.regularization())
            self.monitor.report((self.epoch - 1) * self.monitor.reports_per_epoch + self.told.index(batch) + 1, value)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None:
            final = bool(getattr(self.model, "stop_training", False)) or epoch == self.state.last_epoch
            self.monitor.report(epoch * self.monitor.reports_per_epoch,
                                float(logs[self.state.cfg.training.selection_metric]), final=final)


def validation_value(model, exp: Experiment, metric: str, regularization: float = 0.0) -> float:
    """``metric`` (a selection metric) on the validation rows, as the epoch's row of the results CSV has it."""
    probs = predict_probs(model, exp, exp.eval_split)
    labels = exp.arrays(exp.eval_split)[2]
    if metric in ("val_loss", "val_ce"):
        return cross_entropy(probs, labels) + (regularization if metric == "val_loss" else 0.0)
    return float(evaluate_probs(exp, probs, exp.eval_split)[metric])


def loop_steps(state: RunState, monitor: Monitor | None) -> list[Step]:
    """The callbacks of a run, in the order the loop calls them."""
    steps: list[Step] = [RunFolder(state), EarlyStopping(state), ResultsLog(state), CheckpointPolicy(state),
                         EpochLog(state)]
    if monitor is not None and state.exp.clean:
        steps.append(PruningReport(state, monitor))
    return steps
