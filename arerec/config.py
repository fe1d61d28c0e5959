"""The run's configuration, in typed groups, validated by pydantic.

:class:`Config` holds five groups: ``data``, ``model``, ``training`` (whose run control, :class:`RunControl`, says
how a run ends and which epoch it keeps), ``evaluation`` and ``devices``. Each field has a type, a default and a
one-line meaning; the rules that tie fields together (``emb_size`` divisible by ``num_head``, lazy updates with Adam
only, ...) are validators of the group, or of the Config when they span groups. Every error is a
:class:`~arerec.errors.ConfigError` in one format, ``KEY must be ..., received: VALUE`` (:func:`describe`); an unknown
key names the closest valid one and lists them all (:func:`check_keys`).

Users write the configuration flat, as the original's flags: ``--use_attention 1``, ``dropout: [0, 0, 0, 0.5, 0.5,
0, 0, 0, 0]`` or ``topk: [3, 5]`` in a params file. :class:`Grouped` maps each flat key onto its group's field
(``Config(lr=0.001)``, ``cfg.replace(num_head=4)``), and :meth:`Grouped.to_dict` writes the flat form back: the
same 55 keys as before the groups, the switches as the integers 0 and 1 and the rates as lists in slot order. That
form is what ``config.json``, the run names, the search's study keys and ``make check`` read, so it stays byte for
byte what it was (``tests/test_flat_config.py``).

The search settings and the notebooks' settings are groups of the same kind beside these five
(:class:`arerec.report.parameters.Parameters`), read by the one loader, :func:`load_layers`, which merges the
params files deeply (:func:`merge_layers`).
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from arerec.errors import ConfigError

# --------------------------------------------------------------------------------------------
# Errors in one format
# --------------------------------------------------------------------------------------------
FIELD_ERROR = "arerec_field"  # a field's rule: the message says what it must be; the key and value are added
RULE_ERROR = "arerec_rule"  # a rule over several fields: the message is the whole sentence


def field_error(phrase: str) -> PydanticCustomError:
    """A field's value broke its rule: ``phrase`` ('must be in (0, 1)') follows the key; the value follows it."""
    return PydanticCustomError(FIELD_ERROR, phrase)


def rule_error(message: str) -> PydanticCustomError:
    """A rule over several fields broke: ``message`` names them and their values."""
    return PydanticCustomError(RULE_ERROR, message)


# pydantic's own error types, in words
_PHRASES = {
    "greater_than_equal": "must be >= {ge}", "greater_than": "must be > {gt}", "less_than": "must be < {lt}",
    "less_than_equal": "must be <= {le}", "literal_error": "must be one of {choices}", "int_parsing": "must be an integer",
    "int_from_float": "must be an integer", "int_type": "must be an integer", "float_parsing": "must be a number",
    "float_type": "must be a number", "bool_parsing": "must be true or false (1 or 0)",
    "bool_type": "must be true or false (1 or 0)", "string_type": "must be text", "list_type": "must be a list",
    "dict_type": "must be a mapping", "model_type": "must be a mapping", "too_short": "must not be empty",
    "finite_number": "must be a finite number", "extra_forbidden": "is not a valid key", "missing": "is missing",
}


def describe(exc: ValidationError, keyed: Mapping[str, str] | None = None, flat: Iterable[str] = (), *,
             prefix: str = "", renames: Mapping[str, str] | None = None) -> str:
    """Every error of ``exc`` as ``KEY must be ..., received: VALUE``, joined by '; '. ``KEY`` is the key as users
    write it: a flat key (``num_head``, not ``model.num_head``), ``validation_search.n_trials`` for a group kept under
    one key (``keyed``: group -> key; ``prefix`` for a group validated alone), ``dropout.k_ui`` or ``topk[1]`` inside
    a value; ``renames`` maps the start of a key to the name users write (``validation_search.runs.`` ->
    ``validation_search.``)."""
    keyed, flat = keyed or {}, set(flat)
    lines = []
    for error in exc.errors(include_url=False):
        if error["type"] == RULE_ERROR:
            lines.append(error["msg"])
            continue
        phrase = error["msg"] if error["type"] == FIELD_ERROR else _PHRASES.get(error["type"], error["msg"])
        context = dict(error.get("ctx", {}))
        if error["type"] == "literal_error":  # "'every' or 'lean'" -> every, lean
            context["choices"] = ", ".join(re.findall(r"'([^']*)'", str(context.get("expected", ""))))
        phrase = phrase.format(**context) if error["type"] in _PHRASES else phrase
        received = "" if error["type"] in ("missing", "extra_forbidden") else f", received: {error['input']!r}"
        key = _key(error["loc"], keyed, flat)
        key = f"{prefix}.{key}" if prefix else key
        for old, new in (renames or {}).items():
            if key.startswith(old):
                key = new + key[len(old):]
                break
        lines.append(f"{key} {phrase}{received}")
    return "; ".join(lines)


def _key(loc: tuple[int | str, ...], keyed: Mapping[str, str], flat: set[str]) -> str:
    parts = list(loc)
    if parts and parts[0] in keyed:
        parts[0] = keyed[str(parts[0])]
    elif len(parts) > 1 and parts[0] in flat:
        parts = parts[1:]  # a group whose fields users write as top-level keys
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "the configuration"


# --------------------------------------------------------------------------------------------
# Field types: each refuses what it cannot hold with a phrase of the one format
# --------------------------------------------------------------------------------------------
def _no_bool(value: Any) -> Any:
    if isinstance(value, bool):  # True is not the number 1 here (pydantic's lax mode would take it)
        raise field_error("must be a number, not true or false")
    return value


def _text(value: Any) -> Any:
    return "" if value is None else value  # an empty YAML value


def _as_list(value: Any) -> Any:
    """A list from a list, a tuple, JSON-like text ('[3, 5]') or comma-separated text ('3,5'), or one value."""
    if isinstance(value, str):
        import ast

        text = value.strip()
        try:
            value = ast.literal_eval(text) if text.startswith(("[", "(")) else [v for v in text.split(",") if v.strip()]
        except (ValueError, SyntaxError):
            raise field_error("must be a list such as [3, 5]") from None
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _within(low: float, high: float, *, high_closed: bool = False, low_closed: bool = False):
    shown = f"{'[' if low_closed else '('}{low:g}, {high:g}{']' if high_closed else ')'}"

    def check(value: float) -> float:
        above = value >= low if low_closed else value > low
        below = value <= high if high_closed else value < high
        if not (above and below):
            raise field_error(f"must be in {shown}")
        return value

    return AfterValidator(check)


def _seed(value: int) -> int:
    if not 0 <= value < 2**32:  # NumPy's and Keras' seeds
        raise field_error("must be in 0..4294967295")
    return value


def _name(value: str) -> str:
    if "/" in value or "\\" in value or value in (".", ".."):
        raise field_error("must be a name without '/'")
    return value


def _not_empty(value: str) -> str:
    if value.strip() == "":
        raise field_error("must not be empty")
    return value


def _host_port(value: str) -> str:
    host, colon, port = value.rpartition(":")
    if value and not (colon and host and port.isdigit()):
        raise field_error("must be the coordinator's host:port, or empty")
    return value


def _topk(value: list[int]) -> list[int]:
    if not value or any(k < 1 for k in value):
        raise field_error("must be a list of k >= 1")
    return value


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise field_error("must be a finite rating")
    return value


Int = Annotated[int, BeforeValidator(_no_bool)]
Float = Annotated[float, BeforeValidator(_no_bool)]
Text = Annotated[str, BeforeValidator(_text)]
Seed = Annotated[Int, AfterValidator(_seed)]
Name = Annotated[Text, AfterValidator(_name)]
Folder = Annotated[Text, AfterValidator(_not_empty)]
Fraction = Annotated[Float, _within(0, 1)]
Rate = Annotated[Float, _within(0, 1, low_closed=True)]
Count = Annotated[Int, Field(ge=1)]


# --------------------------------------------------------------------------------------------
# The groups
# --------------------------------------------------------------------------------------------
class Group(BaseModel):
    """A group of settings: typed, frozen, no key but its fields."""

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)

    @classmethod
    def help(cls) -> dict[str, str]:
        return {name: info.description or "" for name, info in cls.model_fields.items()}


class Slots(Group):
    """Rates with a name each, written flat as a list in field order (the original's ``--dropout "[...]"``)."""

    KEY: ClassVar[str] = ""

    @model_validator(mode="before")
    @classmethod
    def _from_list(cls, value: Any) -> Any:
        if isinstance(value, (str, list, tuple)):
            rates, names = _as_list(value), list(cls.model_fields)
            if len(rates) != len(names):
                raise rule_error(f"{cls.KEY} must have {len(names)} values ({', '.join(names)}), received "
                                 f"{len(rates)}: {rates!r}")
            return dict(zip(names, rates, strict=True))
        return value

    def as_list(self) -> list[float]:
        return [float(v) for v in self.model_dump().values()]


class DropoutRates(Slots):
    """The nine dropout rates of the model, where each applies (``model.use_dropout`` switches them on)."""

    KEY: ClassVar[str] = "dropout"
    user_emb: Rate = Field(0.0, description="the target user's embedding")
    neighbour_emb: Rate = Field(0.0, description="the neighbours' embeddings")
    item_emb: Rate = Field(0.0, description="the item's embedding")
    k_ui: Rate = Field(0.5, description="the K_UI lookup (the item's LCU rows)")
    k_iu: Rate = Field(0.5, description="the K_IU lookup (the neighbours' LCU rows)")
    neighbour_profile: Rate = Field(0.0, description="the neighbours' profiles after the region embedding")
    item_profile: Rate = Field(0.0, description="the item's profile after the region embedding")
    neighbour_rating: Rate = Field(0.0, description="the neighbours' rating vectors")
    user_rating_vector: Rate = Field(0.0, description="the pooled rating vector before the classifier")


class L2Rates(Slots):
    """The five L2 rates of the model's weights (``model.use_regularizer`` switches them on)."""

    KEY: ClassVar[str] = "regularizer"
    q: Annotated[Float, Field(ge=0)] = Field(0.001, description="attention: the query weights")
    k: Annotated[Float, Field(ge=0)] = Field(0.001, description="attention: the key weights")
    v: Annotated[Float, Field(ge=0)] = Field(0.001, description="attention: the value weights")
    concat: Annotated[Float, Field(ge=0)] = Field(0.001, description="attention: the output weights")
    fc: Annotated[Float, Field(ge=0)] = Field(0.001, description="the classifier's weights")


DROPOUT_SLOTS = tuple(DropoutRates.model_fields)
DROPOUT_MAX_BITS = 8  # arerec.model.layers.BitDropout draws a rate of k / 2**n exactly for n up to this


def dropout_bits(rate: float) -> int | None:
    """The fewest random bits n (1 to 8) with ``rate`` = k / 2**n, which ``BitDropout`` draws exactly from n bits
    per element; None for any other rate (which falls back to one random float per element)."""
    return next((n for n in range(1, DROPOUT_MAX_BITS + 1) if (rate * 2**n).is_integer()), None)
REGULARIZER_SLOTS = tuple(L2Rates.model_fields)


class DataSettings(Group):
    """Which ratings, how they are filtered and split, and the synthetic generator's settings."""

    data_path: Folder = Field("Data/", description="folder holding {dataset}/{dataset}_ratings.csv and the .id files")
    dataset: Annotated[Folder, AfterValidator(_name)] = Field(
        "ml-100k", description="dataset name: ml-100k, ml-1m, synthetic, or any folder under data_path")
    min_seq: Count = Field(20, description="drop users, then items, with fewer ratings than this (one pass)")
    test_ratio: Fraction = Field(0.2, description="fraction of rows in the test split, in (0, 1)")
    batch_size: Count = Field(128, description="rows per batch; train and test are cut to whole batches")
    data_percent: Annotated[Float, _within(0, 1, high_closed=True)] = Field(
        1.0, description="keep the earliest fraction of ratings, in (0, 1]")
    data_version: Name = Field("", description="prepared data to use; empty means derive it from the fields above")
    protocol: Literal["reference", "clean"] = Field(
        "reference", description="'reference': the paper's random split with leaky sequences; 'clean': per-user "
        "temporal split, train-only sequences, a validation split")
    val_ratio: Fraction = Field(0.1, description="clean protocol: each user's last fraction of training ratings held "
                                "out to choose the epoch")
    sort_kind: Literal["quicksort", "stable"] = Field(
        "quicksort", description="time sort: 'quicksort' (the reference's pandas default, kept for parity by "
        "`python -m arerec prepare`; the order of equal timestamps depends on numpy and the CPU) or 'stable' (equal "
        "timestamps keep the file's order on every machine; the experiments of params/base.yaml use it; its data "
        "version ends in '_stable')")
    split_seed: Seed = Field(32, description="random_state of the train/test split (the reference uses 32)")
    synthetic_users: Count = Field(120, description="synthetic dataset: number of users")
    synthetic_items: Count = Field(60, description="synthetic dataset: number of items")
    synthetic_ratings: Count = Field(4000, description="synthetic dataset: number of (user, item) ratings")
    synthetic_seed: Seed = Field(7, description="synthetic dataset: generator seed")

    @property
    def split_name(self) -> str:
        """'8020' for test_ratio 0.2: the train and test percentages."""
        test = int(round(self.test_ratio * 100))
        return f"{100 - test}{test}"

    @property
    def derived_data_version(self) -> str:
        version = f"{self.dataset}_{self.split_name}_minseq{self.min_seq}_bs{self.batch_size}_dper{self.data_percent}"
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


class ModelSettings(Group):
    """The model's shape, its attention, its region embedding, dropout and L2."""

    region_size: Count = Field(7, description="R: rows of each local context unit (LCU)")
    emb_size: Count = Field(64, description="d: embedding size; must be divisible by num_head")
    use_attention: bool = Field(True, description="personalise neighbours with multi-head attention (1), or not (0)")
    num_head: Count = Field(2, description="H: attention heads")
    max_seq: Int = Field(0, description="neighbours per item; <= 0 lets max_seq_mode decide")
    max_seq_mode: Literal["mean", "max"] = Field(
        "mean", description="when max_seq <= 0: 'mean' or 'max' item-sequence length")
    region_mode: Literal["reference", "window"] = Field(
        "reference", description="'reference': every LCU row meets the same neighbour (the code); 'window': row t "
        "meets the neighbour at offset t - R//2 (the paper's figure)")
    use_dropout: bool = Field(False, description="apply the dropout rates (1), or none (0)")
    dropout: DropoutRates = Field(DropoutRates(), description="nine rates: " + ", ".join(DROPOUT_SLOTS))
    use_regularizer: bool = Field(False, description="apply the L2 regularizer rates (1), or none (0)")
    regularizer: L2Rates = Field(L2Rates(), description="five L2 rates: " + ", ".join(REGULARIZER_SLOTS))
    table_l2: Annotated[Float, Field(ge=0)] = Field(
        0.0, description="L2 rate on the embedding and LCU table rows a batch looks up (user/neighbour, item, K_IU, "
        "K_UI): table_l2 * sum of their squares / batch_size is added to the training loss; 0: off")

    @model_validator(mode="after")
    def _heads_divide(self) -> ModelSettings:
        if self.emb_size % self.num_head:
            raise rule_error(f"emb_size must be divisible by num_head, received: emb_size={self.emb_size}, "
                             f"num_head={self.num_head}")
        return self


class RunControl(Group):
    """How a run ends and which epoch it keeps: the one definition of these settings, for a run of its own
    (:class:`TrainingSettings`) and for the validation search's trials and tuned runs
    (:class:`arerec.sweeps.search_settings.SearchSettings` ``.runs``)."""

    epochs: Annotated[Int, Field(ge=0)] = Field(2, description="last epoch to train (resume continues up to it)")
    patience: Annotated[Int, Field(ge=0)] = Field(
        0, description="clean protocol: stop after this many epochs without improving selection_metric on the "
        "validation split (epochs is then the maximum); 0: train every epoch")
    selection_metric: str = Field(
        "val_loss", description="clean protocol: validation figure that chooses the epoch (and stops early): "
        "'val_loss', 'val_ce' (cross-entropy without any L2 term), 'rmse', 'mae', or 'ndcg@k' / 'hr@k' / "
        "'std_ndcg@k' for a k of topk")
    seed: Seed = Field(0, description="seed for weights, dropout and batch order")


class TrainingSettings(RunControl):
    """The optimiser, the schedule, checkpoints, resume, and how a run reports."""

    model_path: Folder = Field("Model/", description="folder for runs: Model/{dataset}/{model_name}/")
    lr: Annotated[Float, Field(gt=0)] = Field(0.0001, description="learning rate")
    optimizer: Literal["adam", "rmsprop"] = Field("adam", description="'adam' or 'rmsprop'")
    update_mode: Literal["dense", "lazy"] = Field(
        "dense", description="'dense': Keras Adam as the reference; 'lazy': row-sparse Adam for gathered tables")
    second_moment: Literal["elementwise", "rowwise"] = Field(
        "elementwise", description="'rowwise' (lazy only): one Adam second moment per LCU row instead of per float, "
        "about half the tables' optimiser state")
    jit_compile: bool = Field(False, description="compile the train step with XLA (1), which fuses the optimiser's "
                              "passes over the tables")
    mmap_threshold_mb: Annotated[Int, Field(ge=0)] = Field(
        0, description="> 0: from the start of training to the end of the process, memory blocks of at least this "
        "many MB are mmap'ed and returned after each step (lower peak memory for large tables, a slower step); 0 "
        "leaves the allocator as it is")
    save_checkpoints_epochs: Count = Field(2, description="save a checkpoint every this many epochs")
    checkpoint_policy: Literal["every", "lean"] = Field(
        "every", description="'every': a cp-NNNN.ckpt with weights and Adam state every save_checkpoints_epochs (the "
        "reference); 'lean': only the latest checkpoint while training, and once finished only the chosen epoch's "
        "weights, without optimiser state")
    do_train: bool = Field(True, description="train then evaluate (1), or evaluate only (0)")
    do_eval: bool = Field(True, description="evaluate on the test rows after every epoch (1), or only after the "
                          "last (0)")
    save_model: bool = Field(True, description="save checkpoints every save_checkpoints_epochs epochs (1), or none (0)")
    load_model: bool = Field(False, description="resume from model_name/load_weight_path (1)")
    model_name: Name = Field("", description="run to resume or evaluate; empty means derive it")
    load_weight_path: Name = Field("", description="checkpoint file under weight/, e.g. cp-0002.ckpt")
    shuffle: bool = Field(True, description="shuffle training rows each epoch (1), or not (0)")
    verbose: Annotated[Literal["auto", "0", "1", "2"], BeforeValidator(lambda v: str(v) if isinstance(v, int) else v)]\
        = Field("auto", description="'auto' (bar when interactive, a line per epoch otherwise), '0', '1' or '2'")

    @model_validator(mode="after")
    def _optimiser_modes(self) -> TrainingSettings:
        if self.update_mode == "lazy" and self.optimizer != "adam":
            raise rule_error(f"update_mode 'lazy' needs optimizer 'adam', received: optimizer={self.optimizer!r}")
        if self.second_moment == "rowwise" and self.update_mode != "lazy":
            raise rule_error("second_moment 'rowwise' needs update_mode 'lazy', received: "
                             f"update_mode={self.update_mode!r}")
        return self

    @property
    def run_control(self) -> RunControl:
        return RunControl(**{name: getattr(self, name) for name in RunControl.model_fields})


class EvaluationSettings(Group):
    """The cut-offs of the ranking metrics and what counts as relevant."""

    topk: Annotated[list[Int], BeforeValidator(_as_list), AfterValidator(_topk)] = Field(
        [3, 5, 7, 10], description="cut-offs k for HR@k and NDCG@k")
    hrcutoff: Annotated[Float, AfterValidator(_finite)] = Field(
        3.0, description="a rating >= this counts as relevant for HR@k")


class DeviceSettings(Group):
    """Devices and hosts (any of these may change when a run resumes; docs/backends.md)."""

    distribution: Literal["none", "data", "model"] = Field(
        "none", description="keras.distribution under KERAS_BACKEND=jax: 'none' (one device), 'data' (DataParallel: "
        "the batch split over every device, the model replicated) or 'model' (ModelParallel: the two LCU tables and "
        "their optimiser state sharded by row over the 'model' mesh axis, the batch over the 'batch' axis)")
    model_axis: Annotated[Int, Field(ge=0)] = Field(
        0, description="distribution 'model': devices on the 'model' mesh axis (it must divide the device count); "
        "0: all of them")
    job_addresses: Annotated[Text, AfterValidator(_host_port)] = Field(
        "", description="several hosts: the coordinator's host:port (keras.distribution.initialize); empty: "
        "KERAS_DISTRIBUTION_JOB_ADDRESSES, or one host")
    num_processes: Annotated[Int, Field(ge=0)] = Field(
        0, description="several hosts: processes in the job; 0: KERAS_DISTRIBUTION_NUM_PROCESSES, or one")
    process_id: Annotated[Int, Field(ge=-1)] = Field(
        -1, description="several hosts: this process's id, 0 to num_processes - 1 (0 writes the run's files); -1: "
        "KERAS_DISTRIBUTION_PROCESS_ID")

    @model_validator(mode="after")
    def _process_in_job(self) -> DeviceSettings:
        if self.num_processes and self.process_id >= self.num_processes:
            raise rule_error(f"process_id must be in 0..num_processes - 1, or -1 (from the environment), received: "
                             f"process_id={self.process_id}, num_processes={self.num_processes}")
        return self


# --------------------------------------------------------------------------------------------
# Groups written flat
# --------------------------------------------------------------------------------------------
G = TypeVar("G", bound="Grouped")


class Grouped(BaseModel):
    """A configuration of groups that users write flat.

    Every field of a group in :attr:`FLAT` is a top-level key (``lr``, ``num_head``); a group in :attr:`KEYED` is one
    key holding the whole group (``validation_search``). The constructor, :meth:`from_dict` and :meth:`replace`
    take flat keys, group names with a mapping, or both; :meth:`to_dict` gives the flat form back. Errors are
    :class:`~arerec.errors.ConfigError` in the one format (:func:`describe`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    FLAT: ClassVar[tuple[str, ...]] = ()
    KEYED: ClassVar[dict[str, str]] = {}
    RENAMES: ClassVar[dict[str, str]] = {}  # the start of an error's key -> the name users write (:func:`describe`)

    def __init__(self, /, **values: Any) -> None:
        nested = self.nest(values, source="parameters")
        try:
            super().__init__(**nested)
        except ValidationError as exc:
            kind = type(self)
            raise ConfigError(describe(exc, kind.KEYED, kind.FLAT, renames=kind.RENAMES)) from None

    # --- the flat keys ------------------------------------------------------------------------
    @classmethod
    def group_class(cls, group: str) -> type[Group]:
        annotation = cls.model_fields[group].annotation
        assert isinstance(annotation, type) and issubclass(annotation, Group)
        return annotation

    @classmethod
    def flat_keys(cls) -> dict[str, tuple[str, str | None]]:
        """Flat key -> (group, field), or (group, None) for a group kept under one key."""
        return dict(_flat_table(cls))

    @classmethod
    def field_names(cls) -> list[str]:
        """Every flat key."""
        return list(cls.flat_keys())

    @classmethod
    def group_keys(cls, group: str) -> list[str]:
        """The flat keys of one group."""
        return [key for key, (owner, _) in cls.flat_keys().items() if owner == group]

    @classmethod
    def field_help(cls) -> dict[str, str]:
        """Flat key -> its one-line meaning."""
        help_ = {}
        for key, (group, name) in cls.flat_keys().items():
            info = cls.model_fields[group] if name is None else cls.group_class(group).model_fields[name]
            help_[key] = info.description or ""
        return help_

    @classmethod
    def nest(cls, values: Mapping[str, Any], *, source: str) -> dict[str, Any]:
        """Flat keys (and whole groups) -> ``{group: {field: value}}``; an unknown key is a ConfigError. A group given
        as a group object stays one unless flat keys of the same group change it."""
        table = _flat_table(cls)
        check_keys(values.keys(), valid=[*table, *cls.model_fields], source=source)
        nested: dict[str, Any] = {}
        fields: dict[str, dict[str, Any]] = {}
        for key, value in values.items():
            if key in cls.model_fields:  # a whole group
                nested[key] = value
            elif (place := table[key])[1] is None:
                nested[place[0]] = value  # a group kept under one key
            else:
                fields.setdefault(place[0], {})[str(place[1])] = value
        for group, changes in fields.items():
            whole = nested.get(group, {})
            whole = whole.model_dump() if isinstance(whole, BaseModel) else whole
            nested[group] = merge_layers(whole, changes) if isinstance(whole, Mapping) else changes
        return nested

    # --- views ----------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls: type[G], values: Mapping[str, Any], *, source: str = "parameters") -> G:
        """From flat keys (a params file's, config.json's), checked: an unknown key names ``source``."""
        cls.nest(values, source=source)
        return cls(**dict(values))

    def replace(self: G, **changes: Any) -> G:
        """A copy with ``changes`` (flat keys or groups; a group's mapping changes only the fields it names),
        validated again."""
        values: dict[str, Any] = {group: getattr(self, group) for group in type(self).model_fields}
        for group, change in self.nest(changes, source="replace()").items():
            current = values[group]
            values[group] = (merge_layers(current.model_dump(), change)
                             if isinstance(change, Mapping) and isinstance(current, BaseModel) else change)
        return type(self)(**values)

    def to_dict(self) -> dict[str, Any]:
        """The flat form: one key per field of the flat groups (switches as 0 and 1, named rates as a list in slot
        order), and a keyed group's own flat form under its key."""
        flat: dict[str, Any] = {}
        for group in self.FLAT:
            for name, value in getattr(self, group):
                flat[name] = _flat_value(value)
        for group, key in self.KEYED.items():
            value = getattr(self, group)
            flat[key] = value.to_dict() if hasattr(value, "to_dict") else value.model_dump()
        return flat

    def grouped(self) -> dict[str, dict[str, Any]]:
        """``{group: {field: value}}``, booleans as booleans, a keyed group in the form users write it: what
        ``python -m arerec report params`` prints."""
        dumped = self.model_dump()
        for group in self.KEYED:
            value = getattr(self, group)
            dumped[group] = value.to_dict() if hasattr(value, "to_dict") else dumped[group]
        return dumped

    @classmethod
    def summary(cls) -> dict[str, int]:
        """Fields per group (a group of named slots counts each slot): the evidence of how large it is."""
        return {group: _count_fields(cls.group_class(group)) for group in cls.model_fields}


_FLAT_TABLES: dict[type, dict[str, tuple[str, str | None]]] = {}


def _flat_table(kind: type[Grouped]) -> dict[str, tuple[str, str | None]]:
    """``kind``'s flat keys, built once per class."""
    if kind not in _FLAT_TABLES:
        table: dict[str, tuple[str, str | None]] = {}
        for group in kind.FLAT:
            table.update({name: (group, name) for name in kind.group_class(group).model_fields})
        table.update({key: (group, None) for group, key in kind.KEYED.items()})
        _FLAT_TABLES[kind] = table
    return _FLAT_TABLES[kind]


def _count_fields(group: type[BaseModel]) -> int:
    total = 0
    for info in group.model_fields.values():
        inner = info.annotation
        total += _count_fields(inner) if isinstance(inner, type) and issubclass(inner, BaseModel) else 1
    return total


def _flat_value(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, Slots):
        return value.as_list()
    return list(value) if isinstance(value, list) else value


class Config(Grouped):
    """One run's configuration: what ``python -m arerec train`` takes, what ``config.json`` holds."""

    FLAT: ClassVar[tuple[str, ...]] = ("data", "model", "training", "evaluation", "devices")
    data: DataSettings = DataSettings()
    model: ModelSettings = ModelSettings()
    training: TrainingSettings = TrainingSettings()
    evaluation: EvaluationSettings = EvaluationSettings()
    devices: DeviceSettings = DeviceSettings()

    @model_validator(mode="after")
    def _across_groups(self) -> Config:
        metrics = selection_metrics(self.evaluation.topk)
        if self.training.selection_metric not in metrics:
            raise rule_error(f"selection_metric must be one of {', '.join(metrics)}, received: "
                             f"{self.training.selection_metric!r}")
        if self.training.patience > 0 and self.data.protocol != "clean":
            raise rule_error(f"patience > 0 needs protocol 'clean': early stopping reads the validation split, and "
                             f"the reference protocol has none (its epochs are scored on test); received: patience="
                             f"{self.training.patience}, protocol={self.data.protocol!r}")
        return self

    def with_run_control(self, control: RunControl) -> Config:
        """This configuration with another run control (the search's, for its trials and tuned runs)."""
        return self.replace(training=control.model_dump())


def selection_metrics(topk: Iterable[int]) -> list[str]:
    """The validation figures that may choose a run's epoch (``selection_metric``)."""
    ks = list(topk)
    return (["val_loss", "rmse", "mae"] + [f"ndcg@{k}" for k in ks] + [f"hr@{k}" for k in ks]
            + [f"std_ndcg@{k}" for k in ks] + ["val_ce"])


def lower_is_better(metric: str) -> bool:
    """True for losses and rating errors, False for ranking figures."""
    return metric in ("val_loss", "val_ce", "loss", "rmse", "mae", "rmse_argmax")


# --------------------------------------------------------------------------------------------
# Keys, layers and the one loader
# --------------------------------------------------------------------------------------------
def check_keys(keys: Iterable[str], *, source: str, valid: Iterable[str] | None = None) -> None:
    """Raise ConfigError naming each unknown key (and the closest valid one) and all valid keys (default: the
    :class:`Config` keys)."""
    valid = set(Config.field_names() if valid is None else valid)
    unknown = sorted(set(keys) - valid)
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, valid, n=1)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ConfigError(f"unknown key(s) in {source}: {', '.join(hints)}. Valid keys: {', '.join(sorted(valid))}")


def merge_layers(base: Mapping[str, Any], layer: Mapping[str, Any], *, nulls_remove: bool = False,
                 _nested: bool = False) -> dict[str, Any]:
    """``layer`` over ``base``, deeply: a key of a nested mapping that ``layer`` sets replaces only that key (the
    mapping's other keys stay); any other value, a list included, replaces the whole value. With ``nulls_remove``
    (params files' layers), a key of a nested mapping set to null is removed from it: a tier leaves out a row of
    ``headline_variants`` that the layer below defines. A search range that changes kind (``{choices: [...]}`` over
    ``{low, high, ...}``, or the other way) replaces the whole range: the two kinds' keys do not combine. Neither
    input changes."""
    merged = {key: _copied(value) for key, value in base.items()}
    for key, value in layer.items():
        below = merged.get(key)
        if value is None and nulls_remove and _nested:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(below, Mapping) and ("choices" in value) == ("choices" in below):
            merged[key] = merge_layers(merged[key], value, nulls_remove=nulls_remove, _nested=True)
        else:
            merged[key] = _copied(value)
    return merged


def _copied(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _copied(v) for k, v in value.items()}
    return [_copied(v) for v in value] if isinstance(value, list) else value


def read_yaml_mapping(path: str | Path) -> dict[str, Any]:
    """A params file's ``key: value`` mapping (empty for an empty file); ConfigError for a missing file, bad YAML or
    anything but a mapping. The one YAML reader of params files."""
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


def merge_files(kind: type[Grouped], paths: Iterable[str | Path],
                overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The files' flat mappings merged in order, later winning (:func:`merge_layers`, deeply; a nested key set to
    null removes it), then ``overrides``; every key checked against ``kind``'s."""
    merged: dict[str, Any] = {}
    for path in paths:
        values = read_yaml_mapping(path)
        kind.nest(values, source=str(path))
        merged = merge_layers(merged, values, nulls_remove=True)
    kind.nest(overrides or {}, source="the overrides")
    return merge_layers(merged, overrides or {}, nulls_remove=True)


def load_layers(kind: type[G], paths: Iterable[str | Path], overrides: Mapping[str, Any] | None = None) -> G:
    """The one loader: ``kind`` (:class:`Config`, or the whole :class:`arerec.report.parameters.Parameters`) from
    YAML files merged in order (later wins, deeply), then ``overrides``; every key and value checked."""
    paths = list(paths)
    return kind.from_dict(merge_files(kind, paths, overrides), source=" + ".join(map(str, paths)) or "parameters")
