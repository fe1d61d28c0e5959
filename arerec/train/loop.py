"""The training loop: the compiled step, an epoch, :func:`train` as ``run.py`` does it, and
:func:`train_or_load`, which re-uses a finished run and resumes one that stopped part-way.

Clean protocol: each epoch is scored on validation, the best epoch kept and restored, and test
scored once at the end (:func:`test_best_epoch`).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from arerec.config import Config
from arerec.console import say
from arerec.data.inputs import Experiment, load_experiment
from arerec.errors import CheckpointError
from arerec.files import sha256_file, write_json_atomic
from arerec.train import backends
from arerec.train.batches import id_batches
from arerec.train.build import apply_memory_settings, build, quiet_tensorflow
from arerec.train.checkpoints import load_checkpoint, save_checkpoint
from arerec.train.distribution import is_chief
from arerec.train.predict import cross_entropy, evaluate_probs, predict_probs
from arerec.train.runs import (
    SCHEDULE_FIELDS,
    RunPaths,
    checkpoint_epoch,
    experiment_paths,
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


def run_epoch(exp: Experiment, train_step, epoch: int, *, shuffle: bool = True, on_step=None) -> tuple[float, int]:
    """One pass over the training rows: ``train_step`` (a trainer's step, :mod:`arerec.train.backends`)
    on every batch of :func:`arerec.train.batches.id_batches`. Returns (sum of the step losses, steps); ``on_step(done, loss)``
    is called after each step. :func:`train` and ``python -m arerec bench`` both time this loop.

    Without ``on_step`` the losses are read once, at the end, so that an asynchronous backend (JAX on a GPU)
    can queue the steps instead of waiting for each one.
    """
    losses = []
    for batch in id_batches(exp, "train", shuffle=shuffle, epoch=epoch):
        losses.append(train_step(*batch))
        if on_step is not None:
            on_step(len(losses), float(losses[-1]))
    return sum((float(np.asarray(loss)) for loss in losses), start=0.0), len(losses)


def train(cfg: Config, exp: Experiment | None = None, *, score_test: bool = True) -> RunResult:
    """Train (or, with ``do_train=0``, only evaluate) an ARERec model as ``run.py`` does.

    Clean protocol: each epoch is scored on validation; the best epoch on ``selection_metric`` is
    kept in ``weight/best.ckpt`` and restored at the end; with ``patience`` > 0 the run stops after
    that many epochs without improvement. Test is then scored once at the chosen epoch, unless
    ``score_test`` is False (hyper-parameter search: choosing never looks at test).
    """
    quiet_tensorflow()
    import keras

    started = time.perf_counter()
    if cfg.load_model or (not cfg.do_train and cfg.model_name):
        cfg = resolve_run_config(cfg)
    if exp is None or exp.cfg != cfg:
        exp = load_experiment(cfg)
    paths = experiment_paths(exp)
    apply_memory_settings(cfg)
    model, optimizer = build(exp)
    start_epoch = 1
    history = read_results(paths)

    if cfg.load_model or not cfg.do_train:
        checkpoint = paths.weights / cfg.load_weight_path if cfg.load_weight_path else latest_checkpoint(paths)
        start_epoch = load_checkpoint(checkpoint, exp, model, optimizer) + 1
        log.info("loaded %s: continuing at epoch %d", checkpoint, start_epoch)
        if not history.empty:
            history = history[history["epoch"] < start_epoch]
        chosen = selection(history, cfg.selection_metric) if exp.clean and cfg.do_train else None
        if chosen is not None and chosen.best_epoch == start_epoch - 1:  # best.ckpt may hold a later, dropped epoch
            save_checkpoint(paths.best_checkpoint, exp, model, optimizer, start_epoch - 1)
    elif not history.empty:
        log.warning("%s exists: starting a new run from epoch 1 over it", paths.root)
        history = pd.DataFrame()

    chief = is_chief()  # the one process of a multi-process job that writes the run's files
    if chief:
        paths.root.mkdir(parents=True, exist_ok=True)
        for stale in paths.root.rglob(".*.tmp"):  # left by a process killed while writing
            stale.unlink()
        if cfg.do_train and paths.test_metrics.is_file():  # the epoch chosen may change: test is scored again at the end
            paths.test_metrics.unlink()
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
        total, count = run_epoch(exp, trainer.step, epoch, shuffle=bool(cfg.shuffle),
                                 on_step=None if bar is None else partial(_bar_update, bar))
        trainer.sync()
        train_seconds = time.perf_counter() - t0
        row = {"epoch": epoch, "loss": total / max(count, 1), "seconds": train_seconds}
        if cfg.do_eval or epoch == last_epoch or exp.clean:
            probs = predict_probs(model, exp, exp.eval_split)
            row.update(val_loss=cross_entropy(probs, eval_labels) + trainer.regularization(),
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
        if exp.clean and row["best_epoch"] == epoch:
            save_checkpoint(paths.best_checkpoint, exp, model, optimizer, epoch)
        if verbose:
            say(_epoch_line(row, last_epoch, max(cfg.topk)))
        if stop:
            say(f"early stop after epoch {epoch}: {cfg.selection_metric} on validation has not improved for "
                f"{cfg.patience} epoch(s) since epoch {row['best_epoch']}")
            break

    if cfg.do_train and exp.clean and not score_test:
        model, optimizer = build(exp)
        load_checkpoint(paths.best_checkpoint, exp, model, optimizer)
        final = chosen_epoch(cfg, history)
    elif cfg.do_train and exp.clean:
        final, model = test_best_epoch(exp, paths, history)
    elif cfg.do_train:
        final = _last_row(history) if not history.empty else {}
    else:
        probs = predict_probs(model, exp)
        final = {"epoch": start_epoch - 1, "val_loss": cross_entropy(probs, exp.arrays("test")[2]),
                 **evaluate_probs(exp, probs)}
    return RunResult(name=paths.name, paths=paths, history=history, final=final, model=model, experiment=exp,
                     seconds=time.perf_counter() - started)


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


def test_best_epoch(exp: Experiment, paths: RunPaths, history: pd.DataFrame):
    """Clean protocol: score the test rows once, with the epoch chosen on validation.

    Returns the test metrics (also written to ``test_metrics.json``) and that epoch's model.
    """
    model, optimizer = build(exp)
    epoch = load_checkpoint(paths.best_checkpoint, exp, model, optimizer)
    probs = predict_probs(model, exp, "test")
    final = {**chosen_epoch(exp.cfg, history), "test_loss": cross_entropy(probs, exp.arrays("test")[2]),
             **evaluate_probs(exp, probs, "test")}
    if final["best_epoch"] != epoch:
        raise CheckpointError(f"{paths.best_checkpoint} holds epoch {epoch}, but the results CSV chooses epoch "
                              f"{final['best_epoch']}: train the run again (delete {paths.root})")
    if is_chief():
        write_json_atomic(paths.test_metrics, final)
    log.info("clean protocol: epoch %d chosen on validation; test %s", epoch, final)
    return final, model


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
    if set(range(1, cfg.epochs + 1)) <= done and paths.checkpoint(cfg.epochs).is_file():
        return cfg.epochs
    if cfg.protocol == "clean" and cfg.patience > 0 and done == set(range(1, max(done, default=0) + 1)):
        chosen = selection(history, cfg.selection_metric)
        if chosen is not None and chosen.exhausted(cfg.patience) and paths.checkpoint(max(done)).is_file():
            return max(done)
    return None


def _finished(paths: RunPaths, cfg: Config, history: pd.DataFrame) -> bool:
    return _last_epoch(paths, cfg, history) is not None


def is_finished(cfg: Config, exp: Experiment | None = None) -> bool:
    """True when :func:`train_or_load` would load ``cfg``'s run instead of training it."""
    exp = exp if exp is not None and exp.cfg == cfg else load_experiment(cfg)
    return _saved_config_matches(experiment_paths(exp), cfg, exp) and _finished(experiment_paths(exp), cfg, read_results(experiment_paths(exp)))


def train_or_load(cfg: Config, exp: Experiment | None = None, *, score_test: bool = True) -> RunResult:
    """Train ``cfg`` unless the same run already finished; resume a run that stopped part-way.

    A run counts as finished when its saved configuration and prepared data match, its results
    CSV has every epoch up to ``cfg.epochs`` (or up to the epoch where early stopping ended it) and
    that epoch's checkpoint exists. Then the model is loaded and nothing is trained. A clean run
    loads its chosen epoch; its test metrics are computed once, when first asked for
    (``score_test``; see :func:`train`).
    """
    exp = exp if exp is not None and exp.cfg == cfg else load_experiment(cfg)
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
                    final, model = test_best_epoch(exp, paths, history)
                else:
                    model, optimizer = build(exp)
                    load_checkpoint(paths.best_checkpoint, exp, model, optimizer)
                    final = (json.loads(paths.test_metrics.read_text()) if score_test
                             else chosen_epoch(cfg, history))
                return RunResult(paths.name, paths, history, final, model, exp, time.perf_counter() - started)
            model, optimizer = build(exp)
            load_checkpoint(paths.checkpoint(last), exp, model, optimizer)
            return RunResult(paths.name, paths, history, _last_row(history), model, exp,
                             time.perf_counter() - started)
        resumable = [p for p in paths.checkpoints() if checkpoint_epoch(p) < cfg.epochs]
        if resumable:
            log.info("%s stopped part-way: resuming from %s", paths.name, resumable[-1].name)
            return train(cfg.replace(load_model=1, model_name=paths.name, load_weight_path=resumable[-1].name),
                         score_test=score_test)
    return train(cfg, exp, score_test=score_test)
