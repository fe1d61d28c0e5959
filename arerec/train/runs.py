"""A run's name and folder (docs/reference.md §4).

Everything for a run lives under ``Model/{dataset}/{model_name}/``:

- ``weight/cp-{epoch:04d}.ckpt``: weights and optimiser state (HDF5), every
  ``save_checkpoints_epochs`` epochs, written atomically (:mod:`arerec.train.checkpoints`);
- ``result_{model_name}``: the per-epoch results CSV (one header, one row per epoch);
- ``logs_{model_name}/``: TensorBoard event files;
- ``config.json``: the full configuration, so that resume restores exactly what was saved.

With ``checkpoint_policy: lean`` a run keeps only its latest ``cp-NNNN.ckpt`` while it trains; once finished, only
the chosen epoch's weights without optimiser state (``best.ckpt`` under the clean protocol, the last
``cp-NNNN.ckpt`` under the reference one) and ``weight/final.json``, which names them.

The name encodes the hyper-parameters as the reference's does, so a run is found again from its
configuration alone, and an old run without ``config.json`` is resumed from its name.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from arerec.config import DEFAULT_DROPOUT_RATES, DEFAULT_REGULARIZER_RATES, Config
from arerec.data.inputs import Experiment
from arerec.errors import CheckpointError, ConfigError
from arerec.files import atomic_path

log = logging.getLogger(__name__)

# Fields a resumed or evaluate-only run may change; everything else comes from the saved run.
SCHEDULE_FIELDS = (
    "epochs", "save_checkpoints_epochs", "do_train", "do_eval", "save_model", "load_model", "model_name", "load_weight_path",
    "verbose", "topk", "hrcutoff", "data_path", "model_path", "jit_compile", "mmap_threshold_mb", "patience",
    "distribution", "model_axis", "job_addresses", "num_processes", "process_id", "checkpoint_policy",
)


def model_name(cfg: Config, max_seq: int) -> str:
    """``{dataset}_{split}_bs{B}_lr{lr}_emb{d}_reg{R}_ms{max_seq}_op{optimizer}[_h{H}][_do][_rz]``.

    Then our additions, each only when not the reference's: ``_tl{table_l2}`` (L2 on the tables' rows),
    ``_win`` (region_mode), ``_lazy`` (update_mode), ``_rw`` (second_moment), ``_clean`` (protocol), ``_s{seed}``, ``_jax`` or
    ``_torch`` (trained under ``KERAS_BACKEND=jax`` or ``torch``: its initial weights and dropout draws differ from
    TensorFlow's, so it is a run of its own; a checkpoint still resumes under any backend, given its ``model_name``).
    """
    from arerec.train.backends import name as backend_name

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
    if cfg.table_l2 > 0:
        name += f"_tl{cfg.table_l2}"
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
    if backend_name() != "tensorflow":
        name += f"_{backend_name()}"
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
    r"(?:_h(?P<num_head>\d+))?(?P<do>_do(?:-[0-9a-f]{8})?)?(?P<rz>_rz(?:-[0-9a-f]{8})?)?(?:_tl(?P<table_l2>[0-9.]+(?:e-?\d+)?))?(?P<win>_win)?(?P<lazy>_lazy)?(?P<rw>_rw)?(?P<clean>_clean)?(?:_s(?P<seed>\d+))?(?:_(?P<backend>jax|torch))?$"
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
        "table_l2": float(g["table_l2"] or 0.0),
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

    @property
    def test_probs(self) -> Path:
        """Clean protocol: the chosen epoch's class probabilities for the test rows ([N, C] in test-file order, as
        predicted), written with ``test_metrics.json``: what a test over users and a confusion matrix read."""
        return self.root / "test_probs.npy"

    @property
    def final_marker(self) -> Path:
        """``checkpoint_policy: lean``: written once the run finished and kept only its chosen epoch's weights."""
        return self.weights / "final.json"

    @property
    def lock(self) -> Path:
        """Held by the one process that trains the run (:func:`arerec.train.loop.hold_run`); ``.lock.holder.json``
        beside it names that process."""
        return self.root / ".lock"

    def checkpoint(self, epoch: int) -> Path:
        return self.weights / f"cp-{epoch:04d}.ckpt"

    def checkpoints(self) -> list[Path]:
        return sorted(self.weights.glob("cp-*.ckpt")) if self.weights.is_dir() else []


def final_epoch(paths: RunPaths) -> int | None:
    """The last epoch of a finished lean run (its :attr:`RunPaths.final_marker`), when the weights it names exist;
    else None."""
    if not paths.final_marker.is_file():
        return None
    final = json.loads(paths.final_marker.read_text())
    return int(final["epoch"]) if (paths.weights / final["weights"]).is_file() else None


def drop_checkpoints(paths: RunPaths, keep: Path) -> None:
    """Delete every ``cp-NNNN.ckpt`` of the run but ``keep`` (``checkpoint_policy: lean``, once ``keep`` is written)."""
    for path in paths.checkpoints():
        if path != keep:
            path.unlink(missing_ok=True)


def discard_weights(paths: RunPaths) -> int:
    """Delete a run's weights entirely (every checkpoint, ``best.ckpt`` and the lean marker: the ``weight/`` folder),
    keeping its results CSV, ``config.json``, ``test_metrics.json`` and logs. For a search's trials that were pruned or
    not chosen. Returns the bytes freed. The run no longer counts as finished: ``train_or_load`` would train it again.
    """
    import shutil

    if not paths.weights.is_dir():
        return 0
    freed = sum(p.stat().st_size for p in paths.weights.rglob("*") if p.is_file())
    shutil.rmtree(paths.weights)
    log.info("%s: weights discarded (%.1f MB)", paths.name, freed / 1e6)
    return freed


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


def latest_checkpoint(paths: RunPaths) -> Path:
    found = paths.checkpoints()
    if not found:
        raise CheckpointError(
            f"no checkpoint under {paths.weights}; train first or pass --load_weight_path cp-NNNN.ckpt"
        )
    return found[-1]


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


def results_columns(cfg: Config) -> list[str]:
    ks = list(cfg.topk)
    columns = (["epoch", "loss", "val_loss"] + [f"hr@{k}" for k in ks] + [f"ndcg@{k}" for k in ks]
               + ["rmse", "mae", "accuracy", "rmse_argmax"] + [f"std_ndcg@{k}" for k in ks]
               + ["majority_share"]  # the share of rows given the most frequent argmax class (1: collapsed)
               + ["val_ce"]  # val_loss without any L2 term: comparable across L2 rates
               + ["seconds", "eval_seconds"])
    if cfg.protocol == "clean":  # the epoch chosen so far on validation, and whether the run stopped there
        columns += ["best_epoch", "stopped_early"]
    return columns


def write_results(paths: RunPaths, history: pd.DataFrame) -> None:
    with atomic_path(paths.results) as tmp:
        history.to_csv(tmp, index=False)


def read_results(paths: RunPaths) -> pd.DataFrame:
    if not paths.results.is_file():
        return pd.DataFrame()
    return pd.read_csv(paths.results)
