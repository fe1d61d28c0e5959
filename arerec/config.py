"""The one typed configuration of the kit.

Every setting (data, model, training, evaluation) is a field of :class:`Config`, with a default
and a one-line meaning. The CLI flags, the ``params/*.yaml`` files and the notebook
``parameters`` cells are all views of this object: an unknown key is an error that lists the
valid ones, never a silent default.
"""

from __future__ import annotations

import dataclasses
import json
import math
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arerec.errors import ConfigError

DEFAULT_DROPOUT_RATES = [0.0, 0.0, 0.0, 0.5, 0.5, 0.0, 0.0, 0.0, 0.0]
DEFAULT_REGULARIZER_RATES = [0.001] * 5
DROPOUT_SLOTS = (
    "user_emb",
    "neighbour_emb",
    "item_emb",
    "k_ui",
    "k_iu",
    "neighbour_profile",
    "item_profile",
    "neighbour_rating",
    "user_rating_vector",
)
REGULARIZER_SLOTS = ("q", "k", "v", "concat", "fc")
DISTRIBUTIONS = ("none", "data", "model")
CHECKPOINT_POLICIES = ("every", "lean")


def _f(default: Any, help: str, group: str) -> Any:
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"help": help, "group": group})
    return field(default=default, metadata={"help": help, "group": group})


@dataclass
class Config:
    # --- data -------------------------------------------------------------------------------
    data_path: str = _f("Data/", "folder holding {dataset}/{dataset}_ratings.csv and the .id files", "data")
    dataset: str = _f("ml-100k", "dataset name: ml-100k, ml-1m, synthetic, or any folder under data_path", "data")
    min_seq: int = _f(20, "drop users, then items, with fewer ratings than this (one pass)", "data")
    test_ratio: float = _f(0.2, "fraction of rows in the test split, in (0, 1)", "data")
    batch_size: int = _f(128, "rows per batch; train and test are cut to whole batches", "data")
    data_percent: float = _f(1.0, "keep the earliest fraction of ratings, in (0, 1]", "data")
    data_version: str = _f("", "prepared data to use; empty means derive it from the fields above", "data")
    protocol: str = _f("reference", "'reference': the paper's random split with leaky sequences; 'clean': per-user temporal split, train-only sequences, a validation split", "data")
    val_ratio: float = _f(0.1, "clean protocol: each user's last fraction of training ratings held out to choose the epoch", "data")
    sort_kind: str = _f("quicksort", "time sort: 'quicksort' (the reference's pandas default, kept for parity by `python -m arerec prepare`; the order of equal timestamps depends on numpy and the CPU) or 'stable' (equal timestamps keep the file's order on every machine; the experiments of params/base.yaml use it; its data version ends in '_stable')", "data")
    split_seed: int = _f(32, "random_state of the train/test split (the reference uses 32)", "data")
    synthetic_users: int = _f(120, "synthetic dataset: number of users", "data")
    synthetic_items: int = _f(60, "synthetic dataset: number of items", "data")
    synthetic_ratings: int = _f(4000, "synthetic dataset: number of (user, item) ratings", "data")
    synthetic_seed: int = _f(7, "synthetic dataset: generator seed", "data")
    # --- model ------------------------------------------------------------------------------
    region_size: int = _f(7, "R: rows of each local context unit (LCU)", "model")
    emb_size: int = _f(64, "d: embedding size; must be divisible by num_head", "model")
    use_attention: int = _f(1, "1: personalise neighbours with multi-head attention; 0: off", "model")
    num_head: int = _f(2, "H: attention heads", "model")
    max_seq: int = _f(0, "neighbours per item; <= 0 lets max_seq_mode decide", "model")
    max_seq_mode: str = _f("mean", "when max_seq <= 0: 'mean' or 'max' item-sequence length", "model")
    region_mode: str = _f("reference", "'reference': every LCU row meets the same neighbour (the code); 'window': row t meets the neighbour at offset t - R//2 (the paper's figure)", "model")
    use_dropout: int = _f(0, "1: apply the dropout rates", "model")
    dropout: list = _f(DEFAULT_DROPOUT_RATES, "nine rates: " + ", ".join(DROPOUT_SLOTS), "model")
    use_regularizer: int = _f(0, "1: apply the L2 regularizer rates", "model")
    regularizer: list = _f(DEFAULT_REGULARIZER_RATES, "five L2 rates: " + ", ".join(REGULARIZER_SLOTS), "model")
    table_l2: float = _f(0.0, "L2 rate on the embedding and LCU table rows a batch looks up (user/neighbour, item, K_IU, K_UI): table_l2 * sum of their squares / batch_size is added to the training loss; 0: off", "model")
    # --- training ---------------------------------------------------------------------------
    model_path: str = _f("Model/", "folder for runs: Model/{dataset}/{model_name}/", "training")
    epochs: int = _f(2, "last epoch to train (resume continues up to it)", "training")
    lr: float = _f(0.0001, "learning rate", "training")
    optimizer: str = _f("adam", "'adam' or 'rmsprop'", "training")
    update_mode: str = _f("dense", "'dense': Keras Adam as the reference; 'lazy': row-sparse Adam for gathered tables", "training")
    second_moment: str = _f("elementwise", "'rowwise' (lazy only): one Adam second moment per LCU row instead of per float, about half the tables' optimiser state", "training")
    jit_compile: int = _f(0, "1: compile the train step with XLA, which fuses the optimiser's passes over the tables", "training")
    mmap_threshold_mb: int = _f(0, "> 0: from the start of training to the end of the process, memory blocks of at least this many MB are mmap'ed and returned after each step (lower peak memory for large tables, a slower step); 0 leaves the allocator as it is", "training")
    # --- devices (any value of these may change when a run resumes; see docs/backends.md) --------
    distribution: str = _f("none", "keras.distribution under KERAS_BACKEND=jax: 'none' (one device), 'data' (DataParallel: the batch split over every device, the model replicated) or 'model' (ModelParallel: the two LCU tables and their optimiser state sharded by row over the 'model' mesh axis, the batch over the 'batch' axis)", "devices")
    model_axis: int = _f(0, "distribution 'model': devices on the 'model' mesh axis (it must divide the device count); 0: all of them", "devices")
    job_addresses: str = _f("", "several hosts: the coordinator's host:port (keras.distribution.initialize); empty: KERAS_DISTRIBUTION_JOB_ADDRESSES, or one host", "devices")
    num_processes: int = _f(0, "several hosts: processes in the job; 0: KERAS_DISTRIBUTION_NUM_PROCESSES, or one", "devices")
    process_id: int = _f(-1, "several hosts: this process's id, 0 to num_processes - 1 (0 writes the run's files); -1: KERAS_DISTRIBUTION_PROCESS_ID", "devices")
    save_checkpoints_epochs: int = _f(2, "save a checkpoint every this many epochs", "training")
    checkpoint_policy: str = _f("every", "'every': a cp-NNNN.ckpt with weights and Adam state every save_checkpoints_epochs (the reference); 'lean': only the latest checkpoint while training, and once finished only the chosen epoch's weights, without optimiser state", "training")
    do_train: int = _f(1, "1: train then evaluate; 0: evaluate only", "training")
    do_eval: int = _f(1, "1: evaluate on the test rows after every epoch; 0: only after the last", "training")
    save_model: int = _f(1, "1: save checkpoints every save_checkpoints_epochs epochs; 0: none", "training")
    load_model: int = _f(0, "1: resume from model_name/load_weight_path", "training")
    model_name: str = _f("", "run to resume or evaluate; empty means derive it", "training")
    load_weight_path: str = _f("", "checkpoint file under weight/, e.g. cp-0002.ckpt", "training")
    patience: int = _f(0, "clean protocol: stop after this many epochs without improving selection_metric on the validation split (epochs is then the maximum); 0: train every epoch", "training")
    selection_metric: str = _f("val_loss", "clean protocol: validation figure that chooses the epoch (and stops early): 'val_loss', 'val_ce' (cross-entropy without any L2 term), 'rmse', 'mae', or 'ndcg@k' / 'hr@k' / 'std_ndcg@k' for a k of topk", "training")
    seed: int = _f(0, "seed for weights, dropout and batch order", "training")
    shuffle: int = _f(1, "1: shuffle training rows each epoch", "training")
    verbose: str = _f("auto", "'auto' (bar when interactive, a line per epoch otherwise), '0', '1' or '2'", "training")
    # --- evaluation -------------------------------------------------------------------------
    topk: list = _f([3, 5, 7, 10], "cut-offs k for HR@k and NDCG@k", "evaluation")
    hrcutoff: float = _f(3.0, "a rating >= this counts as relevant for HR@k", "evaluation")

    # ---------------------------------------------------------------------------------------
    def __post_init__(self) -> None:
        self._coerce_types()
        self.validate()

    def _coerce_types(self) -> None:
        """Each field to the type its annotation names (``hrcutoff: float`` takes 3 and 3.5; ``epochs: int`` takes 3
        and '3' but not 3.5); a list field takes a list, a JSON list or comma-separated text."""
        kinds = field_types()
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            kind = kinds[f.name]
            try:
                if kind is list:
                    if isinstance(value, str):
                        value = json.loads(value) if value.strip().startswith("[") else value.split(",")
                    if not isinstance(value, (list, tuple)):
                        value = [value]
                    value = [_to_int(v) if f.name in INT_LISTS else float(v) for v in value]
                elif kind is int:
                    value = _to_int(value)
                elif kind is float:
                    if isinstance(value, bool):
                        raise ValueError
                    value = float(value)
                elif kind is str:
                    value = "" if value is None else str(value)
            except (TypeError, ValueError, json.JSONDecodeError):
                raise ConfigError(
                    f"{f.name} must be {'a list' if kind is list else kind.__name__}, received: {value!r}"
                ) from None
            setattr(self, f.name, value)

    def validate(self) -> None:
        def need(ok: bool, message: str) -> None:
            if not ok:
                raise ConfigError(message)

        need(0 < self.test_ratio < 1, f"test_ratio must be in (0, 1), received: {self.test_ratio}")
        need(0 < self.data_percent <= 1, f"data_percent must be in (0, 1], received: {self.data_percent}")
        need(self.min_seq >= 1, f"min_seq must be >= 1, received: {self.min_seq}")
        need(self.batch_size >= 1, f"batch_size must be >= 1, received: {self.batch_size}")
        need(self.region_size >= 1, f"region_size must be >= 1, received: {self.region_size}")
        need(self.emb_size >= 1, f"emb_size must be >= 1, received: {self.emb_size}")
        need(self.num_head >= 1, f"num_head must be >= 1, received: {self.num_head}")
        need(
            self.emb_size % self.num_head == 0,
            f"emb_size must be divisible by num_head, received: emb_size={self.emb_size}, num_head={self.num_head}",
        )
        need(self.use_attention in (0, 1), f"use_attention must be 0 or 1, received: {self.use_attention}")
        need(self.use_dropout in (0, 1), f"use_dropout must be 0 or 1, received: {self.use_dropout}")
        need(self.use_regularizer in (0, 1), f"use_regularizer must be 0 or 1, received: {self.use_regularizer}")
        need(self.do_train in (0, 1), f"do_train must be 0 or 1, received: {self.do_train}")
        need(self.do_eval in (0, 1), f"do_eval must be 0 or 1, received: {self.do_eval}")
        need(self.save_model in (0, 1), f"save_model must be 0 or 1, received: {self.save_model}")
        need(self.load_model in (0, 1), f"load_model must be 0 or 1, received: {self.load_model}")
        need(
            self.max_seq > 0 or self.max_seq_mode in ("mean", "max"),
            f"max_seq_mode must be 'mean' or 'max' when max_seq <= 0, received: {self.max_seq_mode!r}",
        )
        need(
            len(self.dropout) == len(DROPOUT_SLOTS),
            f"dropout must have {len(DROPOUT_SLOTS)} values ({', '.join(DROPOUT_SLOTS)}), "
            f"received {len(self.dropout)}",
        )
        need(all(0 <= r < 1 for r in self.dropout), f"dropout must be in [0, 1), received: {self.dropout}")
        need(
            len(self.regularizer) == len(REGULARIZER_SLOTS),
            f"regularizer must have {len(REGULARIZER_SLOTS)} values ({', '.join(REGULARIZER_SLOTS)}), "
            f"received {len(self.regularizer)}",
        )
        need(all(r >= 0 for r in self.regularizer), f"regularizer must be >= 0, received: {self.regularizer}")
        need(self.table_l2 >= 0, f"table_l2 must be >= 0 (0: off), received: {self.table_l2}")
        need(self.epochs >= 0, f"epochs must be >= 0, received: {self.epochs}")
        need(self.lr > 0, f"lr must be > 0, received: {self.lr}")
        need(self.optimizer in ("adam", "rmsprop"), f"optimizer must be 'adam' or 'rmsprop', received: {self.optimizer!r}")
        need(self.update_mode in ("dense", "lazy"), f"update_mode must be 'dense' or 'lazy', received: {self.update_mode!r}")
        need(
            self.update_mode == "dense" or self.optimizer == "adam",
            f"update_mode 'lazy' needs optimizer 'adam', received: optimizer={self.optimizer!r}",
        )
        need(self.jit_compile in (0, 1), f"jit_compile must be 0 or 1, received: {self.jit_compile}")
        need(self.second_moment in ("elementwise", "rowwise"),
             f"second_moment must be 'elementwise' or 'rowwise', received: {self.second_moment!r}")
        need(self.second_moment == "elementwise" or self.update_mode == "lazy",
             f"second_moment 'rowwise' needs update_mode 'lazy', received: update_mode={self.update_mode!r}")
        need(self.mmap_threshold_mb >= 0, f"mmap_threshold_mb must be >= 0 (0: off), received: {self.mmap_threshold_mb}")
        need(self.checkpoint_policy in CHECKPOINT_POLICIES,
             f"checkpoint_policy must be one of {', '.join(CHECKPOINT_POLICIES)}, received: {self.checkpoint_policy!r}")
        need(self.save_checkpoints_epochs >= 1, f"save_checkpoints_epochs must be >= 1, received: {self.save_checkpoints_epochs}")
        need(len(self.topk) >= 1 and all(k >= 1 for k in self.topk), f"topk must be a list of k >= 1, received: {self.topk}")
        need(self.protocol in ("reference", "clean"), f"protocol must be 'reference' or 'clean', received: {self.protocol!r}")
        need(0 < self.val_ratio < 1, f"val_ratio must be in (0, 1), received: {self.val_ratio}")
        need(self.region_mode in ("reference", "window"), f"region_mode must be 'reference' or 'window', received: {self.region_mode!r}")
        need(self.sort_kind in ("quicksort", "stable"), f"sort_kind must be 'quicksort' or 'stable', received: {self.sort_kind!r}")
        need(self.patience >= 0, f"patience must be >= 0 (0: no early stopping), received: {self.patience}")
        metrics = selection_metrics(self.topk)
        need(self.selection_metric in metrics,
             f"selection_metric must be one of {', '.join(metrics)}, received: {self.selection_metric!r}")
        need(self.patience == 0 or self.protocol == "clean",
             f"patience > 0 needs protocol 'clean': early stopping reads the validation split, and the reference "
             f"protocol has none (its epochs are scored on test); received: patience={self.patience}, "
             f"protocol={self.protocol!r}")
        need(self.distribution in DISTRIBUTIONS,
             f"distribution must be one of {', '.join(DISTRIBUTIONS)}, received: {self.distribution!r}")
        need(self.model_axis >= 0, f"model_axis must be >= 0 (0: every device), received: {self.model_axis}")
        need(self.num_processes >= 0, f"num_processes must be >= 0 (0: from the environment), received: {self.num_processes}")
        need(self.process_id >= -1 and (self.num_processes == 0 or self.process_id < self.num_processes),
             f"process_id must be in 0..num_processes - 1, or -1 (from the environment), received: "
             f"process_id={self.process_id}, num_processes={self.num_processes}")
        need(self.verbose in ("auto", "0", "1", "2"), f"verbose must be 'auto', '0', '1' or '2', received: {self.verbose!r}")
        for name in ("synthetic_users", "synthetic_items", "synthetic_ratings"):
            need(getattr(self, name) >= 1, f"{name} must be >= 1, received: {getattr(self, name)}")
        need(self.shuffle in (0, 1), f"shuffle must be 0 or 1, received: {self.shuffle}")
        for name in ("seed", "split_seed", "synthetic_seed"):  # NumPy's and Keras' seeds: 0 to 2**32 - 1
            value = getattr(self, name)
            need(0 <= value < 2**32, f"{name} must be in 0..4294967295, received: {value}")
        need(math.isfinite(self.hrcutoff), f"hrcutoff must be a finite rating, received: {self.hrcutoff}")
        for name in ("data_path", "model_path", "dataset"):
            need(getattr(self, name).strip() != "", f"{name} must not be empty, received: {getattr(self, name)!r}")
        for name in ("dataset", "data_version", "model_name", "load_weight_path"):  # one folder or file name each
            value = getattr(self, name)
            need("/" not in value and "\\" not in value and value not in (".", ".."),
                 f"{name} must be a name without '/', received: {value!r}")
        host, colon, port = self.job_addresses.rpartition(":")
        need(self.job_addresses == "" or bool(colon and host and port.isdigit()),
             f"job_addresses must be the coordinator's host:port, or empty, received: {self.job_addresses!r}")

    # --- views ------------------------------------------------------------------------------
    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def field_help(cls) -> dict[str, str]:
        return {f.name: f.metadata["help"] for f in dataclasses.fields(cls)}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], *, source: str = "parameters") -> Config:
        check_keys(values.keys(), source=source)
        return cls(**dict(values))

    def replace(self, **changes: Any) -> Config:
        check_keys(changes.keys(), source="replace()")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def split_name(self) -> str:
        """'8020' for test_ratio 0.2: the train and test percentages."""
        test = int(round(self.test_ratio * 100))
        return f"{100 - test}{test}"

    @property
    def derived_data_version(self) -> str:
        version = (
            f"{self.dataset}_{self.split_name}_minseq{self.min_seq}"
            f"_bs{self.batch_size}_dper{self.data_percent}"
        )
        if self.sort_kind == "stable":  # another split: it must neither overwrite nor reuse the quicksort one
            version += "_stable"  # before the protocol suffix, which data.is_clean_version reads at the end
        if self.protocol == "clean":
            version += f"_clean{int(round(self.val_ratio * 100))}"
        return version

    @property
    def resolved_data_version(self) -> str:
        return self.data_version or self.derived_data_version

    @property
    def dataset_dir(self) -> Path:
        return Path(self.data_path) / self.dataset


INT_LISTS = ("topk",)  # list fields of integers; the other list fields hold rates


def _to_int(value: Any) -> int:
    """An int from an int, an integral float (3.0) or integer text ('3'); 3.5, '3.5' and True are refused."""
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError(value)
    return int(value)


def field_types() -> dict[str, type]:
    """Each field's type, from the annotations (strings here: ``from __future__ import annotations``)."""
    return typing.get_type_hints(Config)


def selection_metrics(topk: Iterable[int]) -> list[str]:
    """The validation figures that may choose a run's epoch (``selection_metric``)."""
    ks = list(topk)
    return (["val_loss", "rmse", "mae"] + [f"ndcg@{k}" for k in ks] + [f"hr@{k}" for k in ks]
            + [f"std_ndcg@{k}" for k in ks] + ["val_ce"])


def lower_is_better(metric: str) -> bool:
    """True for losses and rating errors, False for ranking figures."""
    return metric in ("val_loss", "val_ce", "loss", "rmse", "mae", "rmse_argmax")


def check_keys(keys: Iterable[str], *, source: str, extra: Iterable[str] = ()) -> None:
    """Raise ConfigError naming each unknown key (and the closest valid one) and all valid keys.

    ``extra`` adds keys that are valid beside the Config fields (e.g. notebook-only settings).
    """
    valid = set(Config.field_names()) | set(extra)
    unknown = sorted(set(keys) - valid)
    if unknown:
        import difflib

        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, valid, n=1)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ConfigError(
            f"unknown key(s) in {source}: {', '.join(hints)}. Valid keys: {', '.join(sorted(valid))}"
        )


def merge_layers(base: Mapping[str, Any], layer: Mapping[str, Any]) -> dict[str, Any]:
    """``layer`` over ``base``, deeply: a key of a nested mapping that ``layer`` sets replaces only that key (the
    mapping's other keys stay); any other value, a list included, replaces the whole value. Neither input changes."""
    merged = {key: _copied(value) for key, value in base.items()}
    for key, value in layer.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_layers(merged[key], value)
        else:
            merged[key] = _copied(value)
    return merged


def _copied(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _copied(v) for k, v in value.items()}
    return [_copied(v) for v in value] if isinstance(value, list) else value


def read_yaml_mapping(path: str | Path) -> dict[str, Any]:
    """A params file's ``key: value`` mapping (empty for an empty file); ConfigError for a missing file, bad YAML or
    anything but a mapping. The one YAML reader of params files (also :mod:`arerec.report.parameters`)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"params file not found: {path}")
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a mapping of key: value, received {type(values).__name__}")
    return values


def merge_yaml_layers(paths: Iterable[str | Path], overrides: Mapping[str, Any] | None = None,
                      *, extra: Iterable[str] = ()) -> dict[str, Any]:
    """The files' mappings merged in order, later winning (:func:`merge_layers`, deep), then ``overrides``; every
    key checked against the Config fields and ``extra`` (notebook settings)."""
    extra = set(extra)
    merged: dict[str, Any] = {}
    for path in paths:
        values = read_yaml_mapping(path)
        check_keys(values.keys(), source=str(path), extra=extra)
        merged = merge_layers(merged, values)
    check_keys((overrides or {}).keys(), source="the --set overrides", extra=extra)
    return merge_layers(merged, overrides or {})


def load_yaml_layers(paths: Iterable[str | Path], overrides: Mapping[str, Any] | None = None,
                     *, ignore: Iterable[str] = ()) -> Config:
    """A Config from YAML files merged in order (later wins, deeply), then ``overrides``, as papermill does.

    Keys in ``ignore`` are allowed in the files but are not Config fields (notebook settings).
    """
    ignore = set(ignore)
    merged = merge_yaml_layers(paths, extra=ignore)
    merged = {k: v for k, v in merged.items() if k not in ignore}
    merged.update(overrides or {})
    return Config.from_dict(merged, source="parameters")
