"""Parameters: the notebook-only settings beside :class:`~arerec.config.Config`, and the layered params files.

Every key a ``params/*.yaml`` file, a ``--set`` override or a notebook's ``parameters`` cell may set
is a Config field or one of :data:`EXTRAS`; an unknown key is an error that lists the valid ones.
``make reproduce PARAMS=X`` layers ``params/base.yaml``, ``params/ablation.yaml`` and ``params/X.yaml``
(later wins, :func:`params_files`; deeply: a nested key a later layer sets replaces only that key), then the
overrides. ``PARAMS=X,Y`` adds ``params/Y.yaml`` after ``X``: a
layer that says how to run experiment X, not what it is (``ci,cluster``: the ci experiment on a Ray cluster).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arerec.config import Config, check_keys, merge_yaml_layers, read_yaml_mapping
from arerec.errors import ConfigError
from arerec.evaluate.baselines import BASELINES
from arerec.evaluate.claims import check_threshold
from arerec.sweeps.executors import EXECUTORS, from_extras
from arerec.sweeps.headline import DEFAULT_VARIANTS
from arerec.sweeps.tuning import DEFAULTS as TUNING_DEFAULTS
from arerec.sweeps.tuning import check as check_tuning


@dataclass(frozen=True)
class Extra:
    """A notebook-only parameter: its default and a one-line meaning."""

    default: Any
    help: str


EXTRAS: dict[str, Extra] = {
    "experiment": Extra("base", "report folder name: outputs go to {reports_dir}/{experiment}/"),
    "reports_dir": Extra("reports/", "folder that holds one sub-folder per experiment, index.html and README.md"),
    "max_seq_grid": Extra(
        [10, 25, 50, 101, 200, 327], "01: max_seq values of the truncation table (the model's own is added)"
    ),
    "baselines": Extra(
        ["global_mean", "global_mode", "item_mean", "item_mode", "user_item_bias", "biased_mf", "item_knn", "user_knn"],
        "02: rating baselines scored beside ARERec on the same split",
    ),
    "committed_optimum": Extra("params/optimum/{dataset}.yaml",
                               "02: the file of a committed study's optimum ({dataset} filled in); when it exists for "
                               "this data, every model is retrained at it without a search; '' always searches"),
    "collapse_share": Extra(0.95, "02: a model whose test predictions fall in one class for at least this share of "
                            "the rows on a seed has collapsed: its claims are not judged (arerec.evaluate.claims)"),
    "ablation_grid": Extra(
        [{"use_attention": 0}, {"use_attention": 1}, {"num_head": 1}, {"num_head": 2}, {"num_head": 4},
         {"region_size": 1}, {"region_size": 3}, {"region_size": 7}],
        "03: one dict of Config overrides per variant; {} is the base configuration",
    ),
    "ablation_seeds": Extra([0], "03: seeds of every ablation variant (mean ± 95% CI over them when 2 or more)"),
    "seeds": Extra([0, 1, 2], "02: seeds of the headline at the validation optimum (mean ± 95% CI over them)"),
    "schedule_seeds": Extra([0], "02: seeds of the seed README's schedule (part 1: the seed's run reproduced)"),
    "protocols": Extra(["reference"], "02: protocols of the seed-schedule table (part 1)"),
    "headline_variants": Extra(
        {"ARERec (faithful: dense Adam)": DEFAULT_VARIANTS["ARERec (faithful: dense Adam)"]},
        "02: ARERec rows at the seed's schedule (part 1): label -> Config overrides; the first is the seed run"),
    "schedule_baselines": Extra([], "02: untuned baselines beside the seed-schedule rows (part 1)"),
    "validation_search": Extra(dict(TUNING_DEFAULTS), "02, 03, 04: the validation search, one Optuna study per model "
                               "(arerec.sweeps.tuning.SETTINGS: n_trials, sampler, pruner, spaces, ...)"),
    "workers": Extra(1, "02, 03: ARERec runs trained at once, each in its own process (1: one by one)"),
    "executor": Extra("local", f"02, 03: where a sweep's runs train: {' or '.join(EXECUTORS)} (one Ray task per run; "
                      "docs/cluster.md)"),
    "ray_address": Extra("", "02, 03, executor ray: '' a Ray instance on this machine, 'auto' the cluster `ray start` "
                         "runs here, or the head node's HOST:PORT"),
    "ray_num_cpus": Extra(1, "02, 03, executor ray: CPUs each run's task asks for"),
    "ray_num_gpus": Extra(0, "02, 03, executor ray: GPUs each run's task asks for (1 per run on GPU nodes)"),
    "attention_pairs": Extra(4, "04: sampled (user, item) test pairs drawn as attention heatmaps"),
    "attention_rows": Extra(2000, "04: sampled test rows behind the position and similarity analyses"),
}


def valid_keys() -> list[str]:
    """Every key a params file or a parameters cell may set: the Config fields and EXTRAS."""
    return sorted(set(Config.field_names()) | set(EXTRAS))


def check_parameter_keys(keys: Iterable[str], *, source: str) -> None:
    """Raise ConfigError naming each unknown key (with the closest valid one) and all valid keys."""
    check_keys(keys, source=source, extra=EXTRAS)


def resolve(values: Mapping[str, Any], *, source: str = "parameters") -> tuple[Config, dict[str, Any]]:
    """Split checked parameters into a validated :class:`Config` and the validated extras.

    Missing extras take their defaults; missing Config fields take the Config defaults.
    """
    check_parameter_keys(values.keys(), source=source)
    cfg = Config.from_dict({k: v for k, v in values.items() if k not in EXTRAS}, source=source)
    extras = {name: copy.deepcopy(extra.default) for name, extra in EXTRAS.items()}
    extras.update({k: v for k, v in values.items() if k in EXTRAS})
    return cfg, _check_extras(cfg, extras)


def _check_extras(cfg: Config, extras: dict[str, Any]) -> dict[str, Any]:
    def need(ok: bool, message: str) -> None:
        if not ok:
            raise ConfigError(message)

    experiment = extras["experiment"]
    need(
        isinstance(experiment, str) and experiment.strip() not in ("", ".", "..") and "/" not in experiment,
        f"experiment must be a folder name without '/', received: {experiment!r}",
    )
    need(isinstance(extras["reports_dir"], str) and extras["reports_dir"] != "",
         f"reports_dir must be a folder path, received: {extras['reports_dir']!r}")
    for name in ("attention_pairs", "attention_rows", "workers"):
        value = extras[name]
        need(isinstance(value, int) and not isinstance(value, bool) and value >= 1,
             f"{name} must be an integer >= 1, received: {value!r}")
    grid = extras["max_seq_grid"]
    need(isinstance(grid, list) and all(isinstance(v, int) and v >= 1 for v in grid),
         f"max_seq_grid must be a list of integers >= 1, received: {grid!r}")

    names = extras["baselines"]
    need(isinstance(names, list), f"baselines must be a list of names, received: {names!r}")
    unknown = [n for n in names if n not in BASELINES]
    need(not unknown, f"unknown baseline(s) {unknown}; valid names: {', '.join(BASELINES)}")

    for key in ("seeds", "schedule_seeds", "ablation_seeds"):
        seeds = extras[key]
        need(isinstance(seeds, list) and len(seeds) >= 1 and len(set(seeds)) == len(seeds)
             and all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in seeds),
             f"{key} must be a non-empty list of distinct integers >= 0, received: {seeds!r}")
    schedule_baselines = extras["schedule_baselines"]
    need(isinstance(schedule_baselines, list) and all(n in BASELINES for n in schedule_baselines),
         f"schedule_baselines must be a list of baseline names ({', '.join(BASELINES)}), received: {schedule_baselines!r}")
    extras["validation_search"] = check_tuning(cfg, extras["validation_search"])
    extras["collapse_share"] = check_threshold(extras["collapse_share"])
    need(isinstance(extras["committed_optimum"], str),
         f"committed_optimum must be a file path (or '' to always search), received: {extras['committed_optimum']!r}")
    from_extras(extras)  # executor, ray_address, ray_num_cpus, ray_num_gpus: ConfigError naming the valid values
    protocols = extras["protocols"]
    need(isinstance(protocols, list) and len(protocols) >= 1 and set(protocols) <= {"reference", "clean"},
         f"protocols must be a non-empty list of 'reference' and/or 'clean', received: {protocols!r}")
    headline = extras["headline_variants"]
    need(isinstance(headline, dict) and len(headline) >= 1 and all(isinstance(v, dict) for v in headline.values()),
         f"headline_variants must be a non-empty dict of label -> Config overrides, received: {headline!r}")
    for label, overrides in headline.items():
        try:
            cfg.replace(**overrides)
        except ConfigError as exc:
            raise ConfigError(f"headline_variants entry {label!r} {overrides!r}: {exc}") from None

    variants = extras["ablation_grid"]
    need(isinstance(variants, list) and len(variants) >= 1 and all(isinstance(v, dict) for v in variants),
         f"ablation_grid must be a non-empty list of dicts of Config overrides, received: {variants!r}")
    for n, overrides in enumerate(variants):
        try:
            cfg.replace(**overrides)
        except ConfigError as exc:
            raise ConfigError(f"ablation_grid entry {n} {overrides!r}: {exc}") from None
    return extras


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


def _names(params: str) -> list[str]:
    names = [name.strip() for name in params.split(",")]
    if not all(names):
        raise ConfigError(f"params must name one file or several separated by commas (ci,cluster), received: {params!r}")
    return names


def params_file(params: str, root: str | Path = ".") -> Path:
    """The experiment's own params file, which names it: ``params`` (``ci``, or a path to a YAML file), or the
    first of several separated by commas (``ci`` of ``ci,cluster``)."""
    return _named_file(_names(params)[0], root)


def params_files(params: str, root: str | Path = ".") -> list[Path]:
    """The layers, later winning: ``params/base.yaml``, ``params/ablation.yaml``, then each file ``params`` names
    (:func:`params_file`; ``ci,cluster``: ``ci.yaml``, then ``cluster.yaml``)."""
    folder = Path(root) / "params"
    layers = [folder / "base.yaml", folder / "ablation.yaml"]
    for name in _names(params):
        chosen = _named_file(name, root)
        if chosen.resolve() not in {p.resolve() for p in layers}:
            layers.append(chosen)
    return layers


def read_params_file(path: Path) -> dict[str, Any]:
    """One params file's mapping, every key checked (:func:`arerec.config.read_yaml_mapping`)."""
    values = read_yaml_mapping(path)
    check_parameter_keys(values.keys(), source=str(path))
    return values


def merge_parameters(files: Sequence[Path], overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The files' values merged in order, later winning and deeply (:func:`arerec.config.merge_layers`: a layer that
    sets ``validation_search: {rungs: [1]}`` keeps the grid below it), then ``overrides``; every key checked."""
    return merge_yaml_layers(files, overrides, extra=EXTRAS)


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
