"""Parameters: the whole configuration a params file, a ``--set`` override or a notebook's ``parameters`` cell sets.

:class:`Parameters` holds eight groups: the run's five (:class:`~arerec.config.Config`: ``data``, ``model``,
``training``, ``evaluation``, ``devices``), the validation search (``search``,
:class:`~arerec.sweeps.search_settings.SearchSettings`, written ``validation_search``), the notebooks' own
settings (``report``, :class:`ReportSettings`) and where a sweep's runs train (``execution``,
:class:`ExecutionSettings`). Users write them flat; every key is checked (an unknown one is an
error that lists the valid ones) and every value validated, with errors in one format
(:func:`arerec.config.describe`). :func:`load` is the one loader, for the CLI and the runner alike.

``--params`` names the layers, later winning (:func:`params_files`; deeply: a nested key a later layer sets
replaces only that key): a tier's name expands to its documented layers (``base``: ``params/base.yaml`` and
``params/ablation.yaml``; any other tier ``X``: those two, then ``params/X.yaml``), a name after the first
(``ci,cluster``) or a path to a YAML file (``params/ml-1m.yaml``) is that one file. ``PARAMS=X,Y`` thus adds a
layer that says how to run experiment X, not what it is (``ci,cluster``: the ci experiment on a Ray cluster).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, Field, model_validator

from arerec.config import (
    Config,
    Count,
    DataSettings,
    DeviceSettings,
    EvaluationSettings,
    Float,
    Folder,
    Group,
    Grouped,
    Int,
    ModelSettings,
    Text,
    TrainingSettings,
    field_error,
    load_layers,
    merge_files,
    read_yaml_mapping,
    rule_error,
)
from arerec.errors import ConfigError
from arerec.evaluate.baselines import BASELINES
from arerec.sweeps.executors import EXECUTORS, from_extras
from arerec.sweeps.headline import DEFAULT_VARIANTS
from arerec.sweeps.search_settings import KEY_RENAMES, SearchSettings


def _folder_name(value: str) -> str:
    if value.strip() in ("", ".", "..") or "/" in value:
        raise field_error("must be a folder name without '/'")
    return value


def _baselines(names: list[str]) -> list[str]:
    unknown = [n for n in names if n not in BASELINES]
    if unknown:
        raise field_error(f"must name baselines: unknown {unknown}; valid names: {', '.join(BASELINES)}")
    return names


def _seeds(seeds: list[int]) -> list[int]:
    if not seeds or len(set(seeds)) != len(seeds) or any(s < 0 for s in seeds):
        raise field_error("must be a non-empty list of distinct integers >= 0")
    return seeds


def _share(value: float) -> float:
    if not 0 < value <= 1:
        raise field_error("must be a share in (0, 1] (0.95: a model that predicts one class for 95% of the test rows "
                          "or more has collapsed)")
    return value


Seeds = Annotated[list[Int], AfterValidator(_seeds)]
Baselines = Annotated[list[str], AfterValidator(_baselines)]
Overrides = dict[str, Any]


class ReportSettings(Group):
    """The notebooks' own settings: what each notebook runs beside the configuration, and where its pages go."""

    experiment: Annotated[Text, AfterValidator(_folder_name)] = Field(
        "base", description="report folder name: outputs go to {reports_dir}/{experiment}/")
    reports_dir: Folder = Field("reports/", description="folder that holds one sub-folder per experiment, "
                                "index.html and README.md")
    max_seq_grid: list[Count] = Field([10, 25, 50, 101, 200, 327], description="01: max_seq values of the "
                                      "truncation table (the model's own is added)")
    baselines: Baselines = Field(list(BASELINES), description="02: rating baselines scored beside ARERec on the "
                                 "same split")
    committed_optimum: Text = Field(
        "params/optimum/{dataset}.yaml", description="02: the file of a committed study's optimum ({dataset} filled "
        "in); when it exists for this data, every model is retrained at it without a search; '' always searches")
    collapse_share: Annotated[Float, AfterValidator(_share)] = Field(
        0.95, description="02: a model whose test predictions fall in one class for at least this share of the rows "
        "on a seed has collapsed: its claims are not judged (arerec.evaluate.claims)")
    ablation_grid: Annotated[list[Overrides], Field(min_length=1)] = Field(
        [{"use_attention": 0}, {"use_attention": 1}, {"num_head": 1}, {"num_head": 2}, {"num_head": 4},
         {"region_size": 1}, {"region_size": 3}, {"region_size": 7}],
        description="03: one dict of Config overrides per variant; {} is the base configuration")
    ablation_seeds: Seeds = Field([0], description="03: seeds of every ablation variant (mean ± 95% CI over them "
                                  "when 2 or more)")
    seeds: Seeds = Field([0, 1, 2], description="02: seeds of the headline at the validation optimum (mean ± 95% CI "
                         "over them)")
    schedule_seeds: Seeds = Field([0], description="02: seeds of the seed README's schedule (part 1: the seed's run "
                                  "reproduced)")
    protocols: Annotated[list[Literal["reference", "clean"]], Field(min_length=1)] = Field(
        ["reference"], description="02: protocols of the seed-schedule table (part 1)")
    headline_variants: Annotated[dict[str, Overrides], Field(min_length=1)] = Field(
        {"ARERec (faithful: dense Adam)": DEFAULT_VARIANTS["ARERec (faithful: dense Adam)"]},
        description="02: ARERec rows at the seed's schedule (part 1): label -> Config overrides; the first is the "
        "seed run")
    schedule_baselines: Baselines = Field([], description="02: untuned baselines beside the seed-schedule rows "
                                          "(part 1)")
    attention_pairs: Count = Field(4, description="04: sampled (user, item) test pairs drawn as attention heatmaps")
    attention_rows: Count = Field(2000, description="04: sampled test rows behind the position and similarity "
                                  "analyses")


class ExecutionSettings(Group):
    """Where a sweep's runs train (02, 03 and ``python -m arerec compare``): here, in worker processes, or on Ray."""

    workers: Count = Field(1, description="02, 03: ARERec runs trained at once, each in its own process (1: one by "
                           "one)")
    executor: Literal[tuple(EXECUTORS)] = Field(  # type: ignore[valid-type]
        "local", description=f"02, 03: where a sweep's runs train: {' or '.join(EXECUTORS)} (one Ray task per run; "
        "docs/cluster.md)")
    ray_address: Text = Field("", description="02, 03, executor ray: '' a Ray instance on this machine, 'auto' the "
                              "cluster `ray start` runs here, or the head node's HOST:PORT")
    ray_num_cpus: Annotated[Float, Field(gt=0)] = Field(1.0, description="02, 03, executor ray: CPUs each run's task "
                                                        "asks for")
    ray_num_gpus: Annotated[Float, Field(ge=0)] = Field(0.0, description="02, 03, executor ray: GPUs each run's task "
                                                        "asks for (1 per run on GPU nodes)")

    @model_validator(mode="after")
    def _executor(self) -> ExecutionSettings:
        try:
            from_extras(self.model_dump())  # its own rules too: a whole number of GPUs above one, ...
        except ConfigError as exc:
            raise rule_error(str(exc)) from None
        return self


class Parameters(Grouped):
    """Everything a params file or a notebook sets: the run's five groups, the search and the notebooks' settings.

    :attr:`config` is the run's :class:`~arerec.config.Config`; :attr:`extras` a read-only mapping of the notebooks'
    settings and ``validation_search`` (the search's settings), as the notebooks read them; :meth:`to_dict` the flat
    form a params file writes (``run.parameters`` of ``metrics.json``).
    """

    FLAT: ClassVar[tuple[str, ...]] = (*Config.FLAT, "report", "execution")
    KEYED: ClassVar[dict[str, str]] = {"search": "validation_search"}
    RENAMES: ClassVar[dict[str, str]] = KEY_RENAMES
    data: DataSettings = DataSettings()
    model: ModelSettings = ModelSettings()
    training: TrainingSettings = TrainingSettings()
    evaluation: EvaluationSettings = EvaluationSettings()
    devices: DeviceSettings = DeviceSettings()
    search: SearchSettings = Field(default_factory=SearchSettings, description="the validation search: one Optuna "
                                   "study per model (arerec.sweeps.search_settings)")
    report: ReportSettings = ReportSettings()
    execution: ExecutionSettings = ExecutionSettings()

    @model_validator(mode="after")
    def _across_groups(self) -> Parameters:
        """The run's own rules (:class:`~arerec.config.Config`), the search against it (its spaces' corners), and
        each Config change the notebooks make."""
        try:
            cfg = self.config
            self.search.check(cfg)
            _check_overrides(cfg, self.report)
        except ConfigError as exc:
            raise rule_error(str(exc)) from None
        return self

    @property
    def config(self) -> Config:
        return Config(**{group: getattr(self, group) for group in Config.FLAT})

    @property
    def extras(self) -> Mapping[str, Any]:
        return Extras(self)


def _check_overrides(cfg: Config, report: ReportSettings) -> None:
    """Each headline variant and ablation entry is a valid change of ``cfg`` (its keys and the result)."""
    entries = [(f"headline_variants entry {label!r}", v) for label, v in report.headline_variants.items()]
    entries += [(f"ablation_grid entry {n}", v) for n, v in enumerate(report.ablation_grid)]
    for where, overrides in entries:
        try:
            cfg.replace(**overrides)
        except ConfigError as exc:
            raise ConfigError(f"{where} {overrides!r}: {exc}") from None


class Extras(Mapping[str, Any]):
    """The notebooks' settings and ``validation_search`` of :class:`Parameters`, as a read-only mapping: what the
    notebooks read as ``nb.extras[...]`` (``nb.extras["validation_search"]`` is the search's
    :class:`~arerec.sweeps.search_settings.SearchSettings`)."""

    def __init__(self, params: Parameters) -> None:
        self._values = {**dict(params.report), **dict(params.execution), "validation_search": params.search}

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


# the notebooks' settings with their defaults and meanings, derived from the groups (make check reads the defaults)
@dataclass(frozen=True)
class Extra:
    default: Any
    help: str


def _extras() -> dict[str, Extra]:
    extras = {}
    for group in (ReportSettings, ExecutionSettings):
        defaults = group().model_dump()
        extras.update({name: Extra(defaults[name], info.description or "") for name, info in group.model_fields.items()})
    return {**extras, "validation_search": Extra(SearchSettings().to_dict(), Parameters.model_fields["search"].description
                                                 or "")}


EXTRAS: dict[str, Extra] = _extras()


def valid_keys() -> list[str]:
    """Every key a params file or a parameters cell may set."""
    return sorted(Parameters.field_names())


def resolve(values: Mapping[str, Any], *, source: str = "parameters") -> Parameters:
    """Checked parameters from flat ``values`` (missing keys take their defaults)."""
    return Parameters.from_dict(values, source=source)


def load(params: str | Sequence[str], root: str | Path = ".", overrides: Mapping[str, Any] | None = None
         ) -> Parameters:
    """The one loader: the layers ``params`` names (:func:`params_files`: tiers, names, YAML paths), then
    ``overrides``, every key and value checked."""
    return load_layers(Parameters, params_files(params, root), overrides)


# --------------------------------------------------------------------------------------------
# The params files
# --------------------------------------------------------------------------------------------
def _named_file(name: str, root: str | Path) -> Path:
    """A name under ``params/`` (``ci``) or a path to a YAML file."""
    folder = Path(root) / "params"
    chosen = Path(name) if name.endswith((".yaml", ".yml")) else folder / f"{name}.yaml"
    if not chosen.is_file():
        names = sorted(p.stem for p in folder.glob("*.yaml"))
        raise ConfigError(f"params file not found: {chosen}. Available under {folder}: {', '.join(names)}")
    return chosen


def _names(params: str | Sequence[str]) -> list[str]:
    parts = [params] if isinstance(params, str) else list(params)
    names = [name.strip() for part in parts for name in str(part).split(",")]
    if not all(names):
        raise ConfigError(f"params must name one file or several separated by commas (ci,cluster), received: {params!r}")
    return names


def is_tier(name: str) -> bool:
    """A tier's name (``base``, ``ci``), not a path to a YAML file."""
    return not name.endswith((".yaml", ".yml"))


def params_file(params: str, root: str | Path = ".") -> Path:
    """The experiment's own params file, which names it: ``params`` (``ci``, or a path to a YAML file), or the
    first of several separated by commas (``ci`` of ``ci,cluster``)."""
    return _named_file(_names(params)[0], root)


def params_files(params: str | Sequence[str], root: str | Path = ".") -> list[Path]:
    """The layers ``params`` names, later winning: a tier's name first expands to ``params/base.yaml`` and
    ``params/ablation.yaml`` then its own file (``base`` is those two alone); a later name or a YAML path is that
    one file (``ci,cluster``: base, ablation, ci, then cluster; ``params/ml-1m.yaml``: that file alone)."""
    folder = Path(root) / "params"
    names = _names(params)
    layers = [folder / "base.yaml", folder / "ablation.yaml"] if is_tier(names[0]) else []
    for name in names:
        chosen = _named_file(name, root)
        if chosen.resolve() not in {p.resolve() for p in layers}:
            layers.append(chosen)
    return layers


def merge_parameters(files: Sequence[Path], overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The files' values merged in order, later winning and deeply (:func:`arerec.config.merge_layers`: a layer that
    sets ``validation_search: {n_trials: 35}`` keeps the spaces below it), then ``overrides``; every key checked."""
    return merge_files(Parameters, files, overrides)


def shallow_merge_differs(files: Sequence[Path], merged: Mapping[str, Any]) -> list[str]:
    """The keys whose deep merge differs from papermill's own, shallow one of the same ``-f`` files (a later file's
    mapping replaces a whole mapping): the runner passes them to papermill again, merged, so that the notebooks see
    what was checked."""
    shallow: dict[str, Any] = {}
    for path in files:
        shallow.update(read_yaml_mapping(path))
    return [key for key, value in merged.items() if key in shallow and shallow[key] != value]


def parse_set(items: Sequence[str]) -> dict[str, Any]:
    """``["key=value", ...]`` with each value read as YAML (``epochs=3`` is an int)."""
    import yaml

    values = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set expects key=value, received: {item!r}")
        values[key.strip()] = yaml.safe_load(text)
    return values
