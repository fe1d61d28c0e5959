"""The validation search's settings: the ``search`` group of the configuration, written ``validation_search`` in a
params file (:mod:`arerec.sweeps.tuning` runs it).

Its trials' and tuned runs' run control is a :class:`~arerec.config.RunControl`, the same definition as a single
run's (``training``): users write it flat inside ``validation_search`` as before (``max_epochs``, ``patience``,
``selection_metric``, ``seed``), and :meth:`SearchSettings.to_dict` writes that flat form back, which the studies'
keys and the recorded choice's fingerprint hash (so it stays what it was: ``tests/test_flat_config.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, ValidationError, model_validator

from arerec.config import Config, Count, Group, Int, RunControl, describe, rule_error, selection_metrics
from arerec.errors import ConfigError

KEY = "validation_search"
SAMPLERS = ("tpe", "random")
PRUNERS = ("median", "successive_halving", "hyperband", "none")
# the run control's flat names inside validation_search -> RunControl's fields
RUN_KEYS = {"max_epochs": "epochs", "patience": "patience", "selection_metric": "selection_metric", "seed": "seed"}
RUN_HELP = {
    "max_epochs": "an ARERec trial's and tuned run's maximum epochs (early stopping should end them sooner), >= 1",
    "patience": "epochs without improvement on validation before an ARERec run stops, >= 1",
    "selection_metric": "validation figure that chooses ARERec's epochs and is its studies' objective",
    "seed": "seed of the studies and of the trials' runs (the tuned headline's first seed re-uses the best trial)",
}
KEY_RENAMES = {f"{KEY}.runs.epochs": f"{KEY}.max_epochs", f"{KEY}.runs.": f"{KEY}."}  # the names users write
Spaces = dict[str, dict[str, dict[str, Any]]]
NonNegative = Annotated[Int, Field(ge=0)]
# A batch of ML-100K's clean protocol at batch 1024, max_seq 73, region 21 and emb 256 gathers 402 M LCU values;
# TensorFlow then asked for 12.9 GiB at once and failed on this 24 GB machine (docs/decisions.md 33). The largest
# finished trial of the full study had gathered 72 M.
MAX_BATCH_VALUES = 2**27
StudyKey = Annotated[str, Field(pattern=r"^[0-9a-f]{12}$")]


class SearchedRuns(RunControl):
    """The run control of the search's trials and tuned runs: as a run's, but a searched run trains at least one
    epoch and stops early (``max_epochs`` and ``patience`` in ``validation_search``)."""

    epochs: Annotated[Int, Field(ge=1)] = Field(40, description=RUN_HELP["max_epochs"])
    patience: Annotated[Int, Field(ge=1)] = Field(3, description=RUN_HELP["patience"])


class SearchSettings(Group):
    """One Optuna study per model, the same number of trials each (docs/decisions.md, 22)."""

    FLAT_NAMES: ClassVar[tuple[str, ...]] = ("n_trials", "sampler", "n_startup_trials", "pruner",
                                             "pruner_startup_trials", "warmup_epochs", "reduction_factor",
                                             "reports_per_epoch",
                                             *RUN_KEYS, "spaces", "start_from", "continue_from",
                                             "choose_within", "max_batch_values", "journals")

    n_trials: Count = Field(4, description="trials per searched model (the same for every model), >= 1")
    sampler: Literal["tpe", "random"] = Field("tpe", description="Optuna sampler, seeded: tpe or random")
    n_startup_trials: NonNegative = Field(
        5, description="tpe: random trials before the sampler models the results (Dacrema et al. use 5), >= 0")
    pruner: Literal["median", "successive_halving", "hyperband", "none"] = Field(
        "successive_halving", description=f"Optuna pruner of ARERec trials: {', '.join(PRUNERS)}")
    pruner_startup_trials: NonNegative = Field(5, description="median: completed trials before the pruner stops "
                                               "any, >= 0")
    warmup_epochs: NonNegative = Field(
        2, description="epochs every ARERec trial trains before the pruner may stop it (median: its warm-up; "
        "successive_halving and hyperband: the first rung), an integer from 0 to max_epochs")
    reduction_factor: Annotated[Int, Field(ge=2)] = Field(
        2, description="successive_halving and hyperband: a trial goes on from a rung while it is in the best "
        "1/reduction_factor of the trials that reached it, and the rungs are this factor apart (2: the better half, "
        "rungs at 1, 2, 4, 8 times warmup_epochs; docs/decisions.md 35), >= 2")
    reports_per_epoch: Count = Field(2, description="validation figures an ARERec trial reports to the pruner per "
                                     "epoch, >= 1")
    runs: SearchedRuns = Field(SearchedRuns(), description="the trials' and tuned runs' run "
                             "control: " + "; ".join(f"{k} ({v})" for k, v in RUN_HELP.items()))
    spaces: Spaces = Field({"arerec": {"lr": {"low": 0.001, "high": 0.01, "log": True}}}, description=(
        "model -> parameter -> range ({low, high[, log, step]} or {choices}); arerec.sweeps.spaces"))
    max_batch_values: Count = Field(MAX_BATCH_VALUES, description=(
        "the most LCU values an ARERec trial's batch may gather (batch_size x max_seq x region_size x emb_size): a "
        "drawn configuration above it is not trained but told FAIL as infeasible, is not run again and does not "
        "count towards n_trials (the default, 2^27, keeps that allocation near 4 GiB), >= 1"))
    start_from: dict[str, dict[str, dict[str, Any]]] = Field({}, description=(
        "model -> label -> a configuration (every parameter of its space, in its own values: batch_size 1024): the "
        "trials a new study of that model runs first, in the order of their labels (a notebook's parameters arrive "
        "sorted), before its sampler draws any (Optuna's enqueue_trial); the trial table names each by its label"))
    continue_from: dict[str, StudyKey] = Field({}, description=(
        "model -> the 12-character key of an earlier study of it (its journal's name): a new study of that model "
        "starts with the earlier one's finished trials that fit its space, so a range refined beyond what "
        "continues a study (a finer step, more choices) keeps the trials it had; where that journal is not there "
        "(a fresh clone), the study starts afresh, with a warning"))

    choose_within: dict[str, Annotated[float, Field(ge=0)]] = Field({}, description=(
        "model -> a margin of its objective, >= 0: its chosen trial is then the smallest model (fewest parameters; "
        "the better score, then the earlier trial, among equals) of the completed trials within this margin of the "
        "best, the one-standard-error rule (Hastie et al., ESL 7.10), with the objective's seed-to-seed standard "
        "deviation as the margin; a model not named, or a baseline, gets its best trial"))

    journals: str = Field("", description=(
        "the folder of the studies' Optuna journals ({dataset} filled in), relative to where the notebooks run (the "
        "repository): a folder under version control keeps a study across clones, so a fresh clone continues or "
        "reads it back instead of training its trials again; empty (the default): {model_path}/{dataset}/search, "
        "beside the runs. Where the journal lives is not part of the study's key"))

    @model_validator(mode="before")
    @classmethod
    def _from_flat(cls, values: Any) -> Any:
        """``validation_search`` as users write it: the run control's keys beside the others."""
        if not isinstance(values, Mapping):
            return values
        unknown = sorted(set(values) - set(cls.FLAT_NAMES) - {"runs"})
        if unknown:
            raise rule_error(f"unknown {KEY} setting(s) {unknown}; valid: " + "; ".join(
                f"{k} ({v})" for k, v in cls.flat_help().items()))
        runs = dict(values.get("runs") or {})
        runs.update({RUN_KEYS[k]: v for k, v in values.items() if k in RUN_KEYS})
        return {**{k: v for k, v in values.items() if k not in RUN_KEYS}, "runs": runs}

    @model_validator(mode="after")
    def _consistent(self) -> SearchSettings:
        from arerec.sweeps.spaces import ARERECS, parse_space

        if self.warmup_epochs > self.runs.epochs:
            raise rule_error(f"{KEY}.warmup_epochs must be at most max_epochs ({self.runs.epochs}): the pruner would "
                             f"never act, received: {self.warmup_epochs!r}")
        if not self.spaces:
            raise rule_error(f"{KEY}.spaces must be a non-empty mapping of model -> space, received: {self.spaces!r}")
        for model, spec in self.spaces.items():
            try:
                parse_space(model, spec)
            except ConfigError as exc:
                raise rule_error(str(exc)) from None
        try:
            self.journals.format(dataset="ml-100k")
        except (KeyError, IndexError, ValueError):
            raise rule_error(f"{KEY}.journals may name only {{dataset}} in braces (the folder of the studies' "
                             f"journals), received: {self.journals!r}") from None
        for model in self.choose_within:
            if model not in self.spaces or model not in ARERECS:
                raise rule_error(f"{KEY}.choose_within.{model}: only a searched ARERec model's choice can weigh its "
                                 f"size; searched ARERec models: {', '.join(m for m in self.spaces if m in ARERECS)}")
        for model in self.start_from:
            where = f"{KEY}.start_from.{model}"
            if model not in self.spaces:
                raise rule_error(f"{where}: {model} has no space to search; models with one: {', '.join(self.spaces)}")
            if model in self.continue_from:
                raise rule_error(f"{where}: a study either starts from given configurations or continues an earlier "
                                 "study (continue_from), not both: leave one out")
            try:
                self.start_points(model)
            except ConfigError as exc:
                raise rule_error(str(exc)) from None
        return self

    def start_points(self, model: str) -> dict[str, dict[str, Any]]:
        """``model``'s start points (``start_from``), label -> parameters as its Optuna trials store them, in the
        order of their labels: the order its study runs them in, however the mapping was written or passed."""
        from arerec.sweeps.spaces import parse_space

        space = parse_space(model, self.spaces[model])
        return {label: space.start_point(values, f"{KEY}.start_from.{model}.{label}")
                for label, values in sorted(self.start_from.get(model, {}).items())}

    @classmethod
    def flat_help(cls) -> dict[str, str]:
        """Each key users write inside ``validation_search`` -> its meaning."""
        return {name: RUN_HELP.get(name) or cls.model_fields[name].description or "" for name in cls.FLAT_NAMES}

    @classmethod
    def checked(cls, values: Mapping[str, Any] | SearchSettings | None) -> SearchSettings:
        """``values`` (the flat mapping of a params file, or settings already made) as settings; ConfigError in the
        one format for an unknown key or an impossible value."""
        if isinstance(values, SearchSettings):
            return values
        try:
            return cls.model_validate(dict(values or {}))
        except ValidationError as exc:
            raise ConfigError(describe(exc, prefix=KEY, renames=KEY_RENAMES)) from None

    def to_dict(self) -> dict[str, Any]:
        """The flat form users write (and the studies' keys hash): the run control under its flat names."""
        runs = self.runs.model_dump()
        return {k: runs[RUN_KEYS[k]] if k in RUN_KEYS else getattr(self, k) for k in self.FLAT_NAMES
                if (k not in ("continue_from", "start_from", "choose_within", "journals") or getattr(self, k))
                and (k != "max_batch_values" or self.max_batch_values != MAX_BATCH_VALUES)}  # defaults unwritten: the
        # studies' keys stay (the default cap only leaves out draws that could not train here)

    def check(self, base: Config) -> SearchSettings:
        """These settings against the configuration the search starts from, before any training: the selection
        metric against ``base``'s topk, and every corner of every space built as a model
        (:func:`arerec.sweeps.spaces.check_space`). Returns them."""
        from arerec.sweeps.spaces import ARERECS, check_space, parse_space

        metrics = selection_metrics(base.evaluation.topk)
        if self.runs.selection_metric not in metrics:
            raise ConfigError(f"{KEY}.selection_metric must be one of {', '.join(metrics)}, received: "
                              f"{self.runs.selection_metric!r}")
        for model, spec in self.spaces.items():
            check_space(parse_space(model, spec), self.tuned_config(base, ARERECS.get(model, {})))
        return self

    def tuned_config(self, base: Config, overrides: Mapping[str, Any] | None = None) -> Config:
        """The configuration of a searched or tuned run: ``base`` with ``overrides``, run as the search runs them:
        its run control (:attr:`runs`), the clean protocol (a validation split), lean checkpoints (a finished run
        keeps its chosen epoch's weights only), and a new run, not one resumed."""
        searched = {"data": {"protocol": "clean"},
                    "training": {**self.runs.model_dump(), **FRESH_RUN, "checkpoint_policy": "lean"}}
        return base.replace(**dict(overrides or {})).replace(**searched)


# a run trained from its first epoch, not resumed nor only evaluated
FRESH_RUN = {"do_train": True, "load_model": False, "model_name": "", "load_weight_path": ""}
