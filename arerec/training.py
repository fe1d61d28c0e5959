"""Training, evaluation, checkpoints and resume (REFERENCE.md §4).

Everything for a run lives under ``Model/{dataset}/{model_name}/``:

- ``weight/cp-{epoch:04d}.ckpt``: weights and optimiser state (HDF5), every
  ``save_checkpoints_epochs`` epochs, written atomically;
- ``result_{model_name}``: the per-epoch results CSV (one header, one row per epoch);
- ``logs_{model_name}/``: TensorBoard event files;
- ``config.json``: the full configuration, so that resume restores exactly what was saved.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from arerec.config import DEFAULT_DROPOUT_RATES, DEFAULT_REGULARIZER_RATES, Config, lower_is_better
from arerec.data.inputs import Experiment, load_experiment  # noqa: F401 (re-exported until train/ exists)
from arerec.errors import CheckpointError, ConfigError
from arerec.files import atomic_path, write_json_atomic

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "arerec-checkpoint-1"
# Fields a resumed or evaluate-only run may change; everything else comes from the saved run.
SCHEDULE_FIELDS = (
    "epochs", "save_checkpoints_epochs", "do_train", "do_eval", "save_model", "load_model", "model_name", "load_weight_path",
    "verbose", "topk", "hrcutoff", "data_path", "model_path", "jit_compile", "mmap_threshold_mb", "patience",
)


def quiet_tensorflow() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


# --------------------------------------------------------------------------------------------
# Names and folders
# --------------------------------------------------------------------------------------------
def model_name(cfg: Config, max_seq: int) -> str:
    """``{dataset}_{split}_bs{B}_lr{lr}_emb{d}_reg{R}_ms{max_seq}_op{optimizer}[_h{H}][_do][_rz]``.

    Then our additions, each only when not the reference's: ``_win`` (region_mode), ``_lazy``
    (update_mode), ``_rw`` (second_moment), ``_clean`` (protocol), ``_s{seed}``.
    """
    name = (
        f"{cfg.dataset}_{cfg.split_name}_bs{cfg.batch_size}_lr{cfg.lr}_emb{cfg.emb_size}"
        f"_reg{cfg.region_size}_ms{max_seq}_op{cfg.optimizer}"
    )
    if cfg.use_attention:
        name += f"_h{cfg.num_head}"
    if cfg.use_dropout:
        name += "_do" + _rates_tag(cfg.dropout, DEFAULT_DROPOUT_RATES)
    if cfg.use_regularizer:
        name += "_rz" + _rates_tag(cfg.regularizer, DEFAULT_REGULARIZER_RATES)
    if cfg.region_mode != "reference":
        name += "_win"
    if cfg.update_mode != "dense":
        name += f"_{cfg.update_mode}"
    if cfg.second_moment != "elementwise":
        name += "_rw"
    if cfg.protocol != "reference":
        name += f"_{cfg.protocol}"
    if cfg.seed:
        name += f"_s{cfg.seed}"
    return name


def _rates_tag(rates: list, default: list) -> str:
    """'' for the reference's default rates, else '-' and 8 hex digits of their digest, so that runs
    with other dropout or L2 rates get folders of their own (config.json holds the rates)."""
    if [float(r) for r in rates] == [float(r) for r in default]:
        return ""
    return "-" + hashlib.sha256(json.dumps([float(r) for r in rates]).encode()).hexdigest()[:8]


_NAME_RE = re.compile(
    r"^(?P<dataset>.+)_(?P<split>\d{4})_bs(?P<batch_size>\d+)_lr(?P<lr>[0-9.eE+-]+)_emb(?P<emb_size>\d+)"
    r"_reg(?P<region_size>\d+)_ms(?P<max_seq>\d+)_op(?P<optimizer>[a-z]+)"
    r"(?:_h(?P<num_head>\d+))?(?P<do>_do(?:-[0-9a-f]{8})?)?(?P<rz>_rz(?:-[0-9a-f]{8})?)?(?P<win>_win)?(?P<lazy>_lazy)?(?P<rw>_rw)?(?P<clean>_clean)?(?:_s(?P<seed>\d+))?$"
)


def parse_model_name(name: str) -> dict[str, object]:
    """The hyper-parameters encoded in a model name, as the reference parses them back."""
    match = _NAME_RE.match(name)
    if not match:
        raise ConfigError(
            f"model_name {name!r} does not look like "
            "'{dataset}_{split}_bs{B}_lr{lr}_emb{d}_reg{R}_ms{max_seq}_op{optimizer}[_h{H}][_do][_rz]'"
        )
    g = match.groupdict()
    if "-" in (g["do"] or "") or "-" in (g["rz"] or ""):
        raise ConfigError(f"model_name {name!r} has dropout or L2 rates other than the reference's defaults; "
                          "they are kept only in the run's config.json, which is missing")
    test = int(g["split"][2:])
    values: dict[str, object] = {
        "dataset": g["dataset"],
        "test_ratio": test / 100,
        "batch_size": int(g["batch_size"]),
        "lr": float(g["lr"]),
        "emb_size": int(g["emb_size"]),
        "region_size": int(g["region_size"]),
        "max_seq": int(g["max_seq"]),
        "optimizer": g["optimizer"],
        "use_attention": int(g["num_head"] is not None),
        "use_dropout": int(g["do"] is not None),
        "use_regularizer": int(g["rz"] is not None),
        "seed": int(g["seed"] or 0),
        "update_mode": "lazy" if g["lazy"] else "dense",
        "region_mode": "window" if g["win"] else "reference",
        "protocol": "clean" if g["clean"] else "reference",
        "second_moment": "rowwise" if g["rw"] else "elementwise",
    }
    if g["num_head"]:
        values["num_head"] = int(g["num_head"])
    return values


@dataclass
class RunPaths:
    root: Path
    name: str

    @property
    def weights(self) -> Path:
        return self.root / "weight"

    @property
    def results(self) -> Path:
        return self.root / f"result_{self.name}"

    @property
    def logs(self) -> Path:
        return self.root / f"logs_{self.name}"

    @property
    def config(self) -> Path:
        return self.root / "config.json"

    @property
    def best_checkpoint(self) -> Path:
        """Clean protocol: the epoch with the lowest validation loss so far."""
        return self.weights / "best.ckpt"

    @property
    def test_metrics(self) -> Path:
        return self.root / "test_metrics.json"

    def checkpoint(self, epoch: int) -> Path:
        return self.weights / f"cp-{epoch:04d}.ckpt"

    def checkpoints(self) -> list[Path]:
        return sorted(self.weights.glob("cp-*.ckpt")) if self.weights.is_dir() else []


def run_paths(cfg: Config, name: str) -> RunPaths:
    return RunPaths(Path(cfg.model_path) / cfg.dataset / name, name)


def experiment_paths(exp: Experiment) -> RunPaths:
    """Where a run of ``exp`` lives: ``cfg.model_name`` when given, else the name :func:`model_name` derives."""
    return run_paths(exp.cfg, exp.cfg.model_name or model_name(exp.cfg, exp.tables.max_seq))


def checkpoint_epoch(path: str | Path) -> int:
    match = re.search(r"cp-(\d+)\.ckpt$", str(path))
    if not match:
        raise CheckpointError(f"checkpoint name {Path(path).name!r} is not of the form cp-NNNN.ckpt")
    return int(match.group(1))


# --------------------------------------------------------------------------------------------
# Data for the model
# --------------------------------------------------------------------------------------------






def _epoch_arrays(exp: Experiment, split: str, shuffle: bool, epoch: int) -> tuple[np.ndarray, ...]:
    """A split's (users, items, labels, ends) in the epoch's order.

    The shuffle order is a function of (seed, epoch), so a resumed run sees the same batches.
    """
    arrays = exp.arrays(split)
    if shuffle:
        order = np.random.default_rng([exp.cfg.seed, epoch]).permutation(len(arrays[0]))
        arrays = tuple(a[order] for a in arrays)
    return arrays


def batch_gather(exp: Experiment):
    """(users, items, ends) of a batch of rows -> the model's inputs, as TensorFlow ops.

    Each row gathers its item's neighbour and LCU ids from the per-item tables, so nothing is
    padded up front and no one-hot matrix is built. Used by :func:`make_batches` and, inside the
    compiled step, by :func:`make_train_step`.
    """
    import tensorflow as tf

    length = exp.tables.max_seq
    if exp.clean:  # each row reads the latest max_seq raters before its own time
        full_neighbours = tf.constant(exp.tables.full_neighbours)
        full_lcu = tf.constant(exp.tables.full_lcu)
        width = exp.tables.full_neighbours.shape[1]

        def gather(u, i, end):
            positions = tf.maximum(end - length, 0)[:, None] + tf.range(length)[None, :]  # [B, L]
            valid = tf.cast(positions < end[:, None], tf.int32)
            positions = tf.minimum(positions, width - 1)
            neighbours = tf.gather(tf.gather(full_neighbours, i), positions, batch_dims=1) * valid
            lcu = tf.gather(tf.gather(full_lcu, i), positions, batch_dims=1) * valid
            return {"user": u, "item": i, "neighbours": neighbours, "lcu": lcu}
    else:  # every row of an item shares the item's first max_seq raters
        neighbours_table = tf.constant(exp.tables.neighbours)
        lcu_table = tf.constant(exp.tables.lcu)

        def gather(u, i, end):
            return {"user": u, "item": i, "neighbours": tf.gather(neighbours_table, i), "lcu": tf.gather(lcu_table, i)}
    return gather


def id_batches(exp: Experiment, split: str, *, shuffle: bool, epoch: int = 0):
    """(users, items, integer labels, ends) per batch, as NumPy slices, in :func:`make_batches`' order.

    The training loop feeds these to a step made with ``make_train_step(..., gather=batch_gather(exp))``,
    which gathers the neighbour and LCU ids inside the compiled step: no input pipeline thread
    competes with the step for the two cores.
    """
    arrays = _epoch_arrays(exp, split, shuffle, epoch)
    size = exp.cfg.batch_size
    for start in range(0, len(arrays[0]), size):
        yield tuple(a[start:start + size] for a in arrays)


def run_epoch(exp: Experiment, train_step, epoch: int, *, shuffle: bool = True, on_step=None) -> tuple[float, int]:
    """One pass over the training rows: ``train_step`` (``make_train_step(..., gather=batch_gather(exp))``)
    on every batch of :func:`id_batches`. Returns (sum of the step losses, steps); ``on_step(done, loss)``
    is called after each step. :func:`train` and ``python -m arerec bench`` both time this loop.
    """
    total, done = 0.0, 0
    for batch in id_batches(exp, "train", shuffle=shuffle, epoch=epoch):
        loss = float(train_step(*batch))
        total, done = total + loss, done + 1
        if on_step is not None:
            on_step(done, loss)
    return total, done


def _bar_update(bar, done: int, loss: float) -> None:
    bar.update(done, [("loss", loss)])


def make_batches(exp: Experiment, split: str, *, shuffle: bool, epoch: int = 0):
    """A ``tf.data`` pipeline of (inputs, integer label) batches (see :func:`batch_gather`), in the
    order of :func:`id_batches`."""
    import tensorflow as tf

    gather = batch_gather(exp)
    ds = tf.data.Dataset.from_tensor_slices(_epoch_arrays(exp, split, shuffle, epoch)).batch(exp.cfg.batch_size)
    # Fixed parallelism and no autotuning: the map is one gather per batch, and tf.data's autotune
    # thread held the end of an epoch until its next wake-up (measured: a 46 s epoch ended at 82 s).
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.map(lambda u, i, y, end: (gather(u, i, end), y), num_parallel_calls=2).prefetch(2).with_options(options)


# --------------------------------------------------------------------------------------------
# Model, optimiser, checkpoints
# --------------------------------------------------------------------------------------------
def set_seed(seed: int) -> None:
    import keras

    keras.utils.set_random_seed(seed)


def apply_memory_settings(cfg: Config) -> None:
    """The run's allocator setting (``mmap_threshold_mb``; see arerec/runtime.py)."""
    from arerec.runtime import set_mmap_threshold

    if cfg.mmap_threshold_mb > 0 and not set_mmap_threshold(cfg.mmap_threshold_mb):
        log.warning("mmap_threshold_mb=%d has no effect here: it needs glibc's mallopt", cfg.mmap_threshold_mb)


def build(exp: Experiment):
    """The Keras model and its optimiser for an experiment, seeded by ``cfg.seed``."""
    from arerec.model.layers import build_model
    from arerec.model.optimizers import make_optimizer

    set_seed(exp.cfg.seed)
    model = build_model(
        exp.cfg,
        num_users=exp.prepared.num_users,
        num_items=exp.prepared.num_items,
        num_lcu=exp.tables.num_lcu,
        num_classes=len(exp.prepared.classes),
        max_seq=exp.tables.max_seq,
    )
    optimizer = make_optimizer(exp.cfg.optimizer, exp.cfg.lr, exp.cfg.update_mode, jit_compile=bool(exp.cfg.jit_compile),
                               second_moment=exp.cfg.second_moment)
    optimizer.build(model.trainable_variables)
    return model, optimizer


def free_models() -> None:
    """Drop every Keras model of this process (a sweep holds one at a time: the LCU tables are large)."""
    import gc

    import keras

    keras.backend.clear_session()
    gc.collect()


def _fingerprint(exp: Experiment) -> str:
    keys = ("dataset", "emb_size", "region_size", "region_mode", "num_head", "use_attention", "optimizer", "update_mode",
            "test_ratio",
            "min_seq", "batch_size", "data_percent")
    return json.dumps({**{k: getattr(exp.cfg, k) for k in keys}, "max_seq": exp.tables.max_seq,
                       "num_lcu": exp.tables.num_lcu, "version": exp.prepared.version}, sort_keys=True)


def save_checkpoint(path: Path, exp: Experiment, model, optimizer, epoch: int) -> None:
    """Weights and optimiser state in one HDF5 file, written atomically."""
    import h5py

    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as h5:
            h5.attrs["format"] = CHECKPOINT_FORMAT
            h5.attrs["epoch"] = epoch
            h5.attrs["fingerprint"] = _fingerprint(exp)
            h5.attrs["config"] = json.dumps(exp.cfg.to_dict())
            for group, variables in (("model", model.variables), ("optimizer", optimizer.variables)):
                g = h5.create_group(group)
                for n, var in enumerate(variables):
                    g.create_dataset(f"{n:06d}", data=np.asarray(var.numpy())).attrs["path"] = var.path


def load_checkpoint(path: Path, exp: Experiment, model, optimizer) -> int:
    """Restore weights and optimiser state; return the checkpoint's epoch."""
    import h5py

    if not path.is_file():
        available = ", ".join(p.name for p in sorted(path.parent.glob("cp-*.ckpt"))) or "none"
        raise CheckpointError(f"checkpoint not found: {path} (available: {available})")
    try:
        with h5py.File(path, "r") as h5:
            if h5.attrs.get("format") != CHECKPOINT_FORMAT:
                raise CheckpointError(f"{path} is not an arerec checkpoint (format {h5.attrs.get('format')!r})")
            if h5.attrs["fingerprint"] != _fingerprint(exp):
                saved, current = json.loads(h5.attrs["fingerprint"]), json.loads(_fingerprint(exp))
                differ = ", ".join(f"{k}: saved {saved.get(k)!r}, now {current.get(k)!r}"
                                   for k in sorted(set(saved) | set(current)) if saved.get(k) != current.get(k))
                raise CheckpointError(f"{path} was saved with a different configuration ({differ})")
            for group, variables in (("model", model.variables), ("optimizer", optimizer.variables)):
                stored = h5[group]
                if len(stored) != len(variables):
                    raise CheckpointError(f"{path}: {group} has {len(stored)} variables, the model {len(variables)}")
                for n, var in enumerate(variables):
                    value = stored[f"{n:06d}"][()]
                    if tuple(value.shape) != tuple(var.shape):
                        raise CheckpointError(
                            f"{path}: {group} variable {var.path} has shape {value.shape}, expected {tuple(var.shape)}"
                        )
                    var.assign(value)
            return int(h5.attrs["epoch"])
    except (OSError, KeyError) as exc:
        raise CheckpointError(f"{path} is corrupted or unreadable ({exc}); delete it and resume from another") from None


# --------------------------------------------------------------------------------------------
# Prediction and evaluation
# --------------------------------------------------------------------------------------------
def predict_probs(model, exp: Experiment, split: str = "test") -> np.ndarray:
    """Class probabilities [N, C] for every row of a split, in row order, batched."""
    forward = _compiled_forward(model)
    chunks = [forward(inputs).numpy() for inputs, _ in make_batches(exp, split, shuffle=False)]
    return np.concatenate(chunks) if chunks else np.zeros((0, len(exp.prepared.classes)), np.float32)


def _compiled_forward(model):
    import tensorflow as tf

    if getattr(model, "_arerec_forward", None) is None:
        model._arerec_forward = tf.function(lambda inputs: model(inputs, training=False), reduce_retracing=True)
    return model._arerec_forward


def evaluate_probs(exp: Experiment, probs: np.ndarray, split: str = "test") -> dict[str, float]:
    from arerec.evaluate.metrics import evaluate_predictions

    rows = exp.rows(split)
    return evaluate_predictions(
        rows["userId"].to_numpy(), rows["rating"].to_numpy(dtype=float), probs,
        exp.prepared.classes.astype(float), exp.cfg.topk, exp.cfg.hrcutoff,
    )


def cross_entropy(probs: np.ndarray, labels: np.ndarray) -> float:
    picked = probs[np.arange(len(labels)), labels]
    return float(-np.mean(np.log(np.clip(picked, 1e-7, 1.0))))


# --------------------------------------------------------------------------------------------
# The training loop
# --------------------------------------------------------------------------------------------
@dataclass
class RunResult:
    name: str
    paths: RunPaths
    history: pd.DataFrame
    final: dict[str, float]
    model: object
    experiment: Experiment
    seconds: float


def resolve_run_config(cfg: Config) -> Config:
    """For resume or evaluate-only: the configuration saved with the run, plus schedule fields."""
    name = cfg.model_name
    if not name:
        raise ConfigError("model_name is required with load_model=1 (the run to resume, under model_path/dataset/)")
    root = Path(cfg.model_path) / cfg.dataset / name
    if not root.is_dir():
        raise CheckpointError(f"no run named {name!r} under {root.parent}; check --model_name and --dataset")
    schedule = {k: getattr(cfg, k) for k in SCHEDULE_FIELDS}
    saved_path = root / "config.json"
    if saved_path.is_file():
        saved = json.loads(saved_path.read_text())
        saved = {k: v for k, v in saved.items() if k in Config.field_names()}
    else:
        log.warning("%s has no config.json; parsing the hyper-parameters out of the model name", root)
        saved = {**cfg.to_dict(), **parse_model_name(name)}
    return Config.from_dict({**saved, **schedule}, source=str(saved_path))


def _verbosity(cfg: Config) -> int:
    if cfg.verbose != "auto":
        return int(cfg.verbose)
    return 1 if sys.stdout.isatty() else 2


def _results_columns(cfg: Config) -> list[str]:
    ks = list(cfg.topk)
    columns = (["epoch", "loss", "val_loss"] + [f"hr@{k}" for k in ks] + [f"ndcg@{k}" for k in ks]
               + ["rmse", "mae", "accuracy", "rmse_argmax"] + [f"std_ndcg@{k}" for k in ks] + ["seconds", "eval_seconds"])
    if cfg.protocol == "clean":  # the epoch chosen so far on validation, and whether the run stopped there
        columns += ["best_epoch", "stopped_early"]
    return columns


@dataclass(frozen=True)
class Selection:
    """Where a clean-protocol run stands on its validation ``metric`` after its last epoch."""

    metric: str
    best_epoch: int
    best_value: float
    epochs_since_best: int  # the patience count: epochs after the best one

    def exhausted(self, patience: int) -> bool:
        """True when early stopping with ``patience`` ends the run here."""
        return patience > 0 and self.epochs_since_best >= patience


def selection(history: pd.DataFrame, metric: str) -> Selection | None:
    """The best epoch of ``history`` on ``metric`` (ties: the earliest) and the epochs since it.

    Everything early stopping needs is derived from the results CSV, so a resumed run keeps its
    best-so-far value and its patience count. None when no epoch has been scored.
    """
    if history.empty or metric not in history.columns:
        return None
    scored = history.dropna(subset=[metric])
    if scored.empty:
        return None
    values = scored[metric].to_numpy(float)
    best = int(np.argmin(values) if lower_is_better(metric) else np.argmax(values))
    best_epoch = int(scored["epoch"].iloc[best])
    return Selection(metric, best_epoch, float(values[best]), int(scored["epoch"].max()) - best_epoch)


def _epoch_line(row: dict, last_epoch: int, k: int) -> str:
    line = f"epoch {row['epoch']}/{last_epoch} - {row['seconds']:.1f}s - loss {row['loss']:.4f}"
    if "val_loss" in row:
        line += (f" - val_loss {row['val_loss']:.4f} - hr@{k} {row[f'hr@{k}']:.4f} - ndcg@{k} {row[f'ndcg@{k}']:.4f}"
                 f" - rmse {row['rmse']:.4f} (eval {row['eval_seconds']:.1f}s)")
    return line


def _write_results(paths: RunPaths, history: pd.DataFrame) -> None:
    with atomic_path(paths.results) as tmp:
        history.to_csv(tmp, index=False)


def read_results(paths: RunPaths) -> pd.DataFrame:
    if not paths.results.is_file():
        return pd.DataFrame()
    return pd.read_csv(paths.results)


def _regularization(model):
    import tensorflow as tf

    def reg_loss():
        return tf.add_n(model.losses) if model.losses else tf.constant(0.0)

    return reg_loss


def make_train_step(model, optimizer, jit_compile: bool = False, gather=None):
    """One compiled step: cross-entropy (+ L2) on integer labels, gradients, optimiser update.

    With ``jit_compile`` XLA fuses the optimiser's element-wise passes over the tables; lazy Adam
    must then have been made with static shapes (``make_optimizer(..., jit_compile=True)``).
    Called as ``step(inputs, labels)``; with ``gather`` (:func:`batch_gather`) as
    ``step(users, items, labels, ends)``, the inputs being gathered inside the compiled step.
    """
    import tensorflow as tf

    if jit_compile and getattr(optimizer, "static_shapes", True) is False:
        raise ConfigError("an XLA-compiled step needs LazyAdam(static_shapes=True): build the optimiser with "
                          "make_optimizer(..., jit_compile=True)")

    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy()
    reg_loss = _regularization(model)

    def step(inputs, labels):
        with tf.GradientTape() as tape:
            probs = model(inputs, training=True)
            loss = loss_fn(labels, probs) + reg_loss()
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    if gather is None:
        return tf.function(step, jit_compile=jit_compile)
    return tf.function(lambda users, items, labels, ends: step(gather(users, items, ends), labels),
                       jit_compile=jit_compile)


def train(cfg: Config, exp: Experiment | None = None, *, score_test: bool = True) -> RunResult:
    """Train (or, with ``do_train=0``, only evaluate) an ARERec model as ``run.py`` does.

    Clean protocol: each epoch is scored on validation; the best epoch on ``selection_metric`` is
    kept in ``weight/best.ckpt`` and restored at the end; with ``patience`` > 0 the run stops after
    that many epochs without improvement. Test is then scored once at the chosen epoch, unless
    ``score_test`` is False (hyper-parameter search: choosing never looks at test).
    """
    quiet_tensorflow()
    import tensorflow as tf

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
        checkpoint = paths.weights / cfg.load_weight_path if cfg.load_weight_path else _latest(paths)
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

    paths.root.mkdir(parents=True, exist_ok=True)
    for stale in paths.root.rglob(".*.tmp"):  # left by a process killed while writing
        stale.unlink()
    if cfg.do_train and paths.test_metrics.is_file():  # the epoch chosen may change: test is scored again at the end
        paths.test_metrics.unlink()
    write_json_atomic(paths.config, {**cfg.to_dict(), "load_model": 0, "load_weight_path": "",
                                     "data_sha256": _data_fingerprint(exp)})
    verbose = _verbosity(cfg)
    eval_labels = exp.arrays(exp.eval_split)[2]

    reg_loss = _regularization(model)
    train_step = make_train_step(model, optimizer, jit_compile=bool(cfg.jit_compile), gather=batch_gather(exp))

    rows = history.to_dict("records")
    last_epoch = cfg.epochs if cfg.do_train else start_epoch - 1
    writer = tf.summary.create_file_writer(str(paths.logs)) if cfg.do_train else None
    steps = int(np.ceil(len(exp.prepared.train) / cfg.batch_size))
    for epoch in range(start_epoch, last_epoch + 1):
        t0 = time.perf_counter()
        bar = tf.keras.utils.Progbar(steps, unit_name="step") if verbose == 1 else None
        if bar is not None:
            print(f"Epoch {epoch}/{last_epoch}")
        total, count = run_epoch(exp, train_step, epoch, shuffle=bool(cfg.shuffle),
                                 on_step=None if bar is None else partial(_bar_update, bar))
        train_seconds = time.perf_counter() - t0
        row = {"epoch": epoch, "loss": total / max(count, 1), "seconds": train_seconds}
        if cfg.do_eval or epoch == last_epoch or exp.clean:
            probs = predict_probs(model, exp, exp.eval_split)
            row.update(val_loss=cross_entropy(probs, eval_labels) + float(reg_loss()),
                       **evaluate_probs(exp, probs, exp.eval_split))
        row["eval_seconds"] = time.perf_counter() - t0 - train_seconds
        rows.append(row)
        stop = False
        if exp.clean:
            chosen = selection(pd.DataFrame(rows), cfg.selection_metric)
            stop = chosen.exhausted(cfg.patience) and epoch < last_epoch
            row.update(best_epoch=chosen.best_epoch, stopped_early=int(stop))
        history = pd.DataFrame(rows).reindex(columns=_results_columns(cfg))
        _write_results(paths, history)
        with writer.as_default(step=epoch):
            for key, value in row.items():
                if key != "epoch" and np.isfinite(value):
                    tf.summary.scalar(key, value)
        writer.flush()
        if cfg.save_model and (epoch % cfg.save_checkpoints_epochs == 0 or epoch == last_epoch or stop):
            save_checkpoint(paths.checkpoint(epoch), exp, model, optimizer, epoch)
        if exp.clean and row["best_epoch"] == epoch:
            save_checkpoint(paths.best_checkpoint, exp, model, optimizer, epoch)
        if verbose:
            print(_epoch_line(row, last_epoch, max(cfg.topk)), flush=True)
        if stop:
            print(f"early stop after epoch {epoch}: {cfg.selection_metric} on validation has not improved for "
                  f"{cfg.patience} epoch(s) since epoch {row['best_epoch']}", flush=True)
            break

    if cfg.do_train and exp.clean and not score_test:
        model, optimizer = build(exp)
        load_checkpoint(paths.best_checkpoint, exp, model, optimizer)
        final = chosen_epoch(cfg, history)
    elif cfg.do_train and exp.clean:
        final, model = test_best_epoch(exp, paths, history)
    elif cfg.do_train:
        final = history.iloc[-1].to_dict() if not history.empty else {}
    else:
        probs = predict_probs(model, exp)
        final = {"epoch": start_epoch - 1, "val_loss": cross_entropy(probs, exp.arrays("test")[2]),
                 **evaluate_probs(exp, probs)}
    return RunResult(name=paths.name, paths=paths, history=history, final=final, model=model, experiment=exp,
                     seconds=time.perf_counter() - started)


def chosen_epoch(cfg: Config, history: pd.DataFrame) -> dict[str, object]:
    """Clean protocol: the epoch chosen on validation and how the run ended (no test figure)."""
    chosen = selection(history, cfg.selection_metric)
    if chosen is None:
        raise CheckpointError("the run has no scored epoch to choose from; train at least one epoch")
    row = history.loc[history["epoch"] == chosen.best_epoch].iloc[0]
    return {"best_epoch": chosen.best_epoch, "selected_by": f"validation {cfg.selection_metric}",
            "val_score": chosen.best_value, "val_loss": float(row["val_loss"]),
            "epochs_trained": int(history["epoch"].max()),
            "stopped_early": int(chosen.exhausted(cfg.patience) and int(history["epoch"].max()) < cfg.epochs)}


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
    write_json_atomic(paths.test_metrics, final)
    log.info("clean protocol: epoch %d chosen on validation; test %s", epoch, final)
    return final, model


def _latest(paths: RunPaths) -> Path:
    found = paths.checkpoints()
    if not found:
        raise CheckpointError(
            f"no checkpoint under {paths.weights}; train first or pass --load_weight_path cp-NNNN.ckpt"
        )
    return found[-1]


def best_epoch(history: pd.DataFrame, k: int = 10) -> dict[str, float]:
    """The reference's "best epoch": the highest test NDCG@k. This is selection on test."""
    return history.loc[history[f"ndcg@{k}"].idxmax()].to_dict()


def _data_fingerprint(exp: Experiment) -> str:
    """SHA-256 of the prepared rows a run trains and is scored on."""
    from arerec.files import sha256_file

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
            return RunResult(paths.name, paths, history, history.iloc[-1].to_dict(), model, exp,
                             time.perf_counter() - started)
        resumable = [p for p in paths.checkpoints() if checkpoint_epoch(p) < cfg.epochs]
        if resumable:
            log.info("%s stopped part-way: resuming from %s", paths.name, resumable[-1].name)
            return train(cfg.replace(load_model=1, model_name=paths.name, load_weight_path=resumable[-1].name),
                         score_test=score_test)
    return train(cfg, exp, score_test=score_test)
