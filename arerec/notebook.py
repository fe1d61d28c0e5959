"""What a notebook calls: its parameters as a :class:`Config`, its report folder, its outputs.

A notebook's ``parameters`` cell assigns plain values: fields of :class:`Config` and the few
notebook-only settings in :data:`EXTRAS`. papermill injects its own cell of assignments after
it. The cell after those calls::

    nb = notebook.start(globals(), "02_training")

which collects every name assigned by a cell made only of ``name = literal`` statements (the
parameters cell, papermill's injected cell, or one typed by hand), checks the names against the
valid keys (an unknown one is an error that lists them), and returns a :class:`Notebook`: the
:class:`Config`, the validated extras and the report folder ``{reports_dir}/{experiment}/``.

``nb.figure(fig, name)`` and ``nb.table(frame, name)`` show a result and save it as
``figures/{name}.png`` or ``tables/{name}.csv``; ``nb.record(...)`` merges numbers into
``metrics.json`` under the notebook's name; ``nb.finish()`` records the provenance and wall time.
"""

from __future__ import annotations

import ast
import copy
import io
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from arerec.config import Config, check_keys
from arerec.errors import ConfigError
from arerec.evaluate.baselines import DEFAULT_GRIDS as BASELINE_GRIDS
from arerec.sweeps.headline import DEFAULT_VARIANTS
from arerec.sweeps.tuning import DEFAULTS as TUNING_DEFAULTS


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
        ["global_mean", "item_mean", "user_item_bias", "biased_mf", "item_knn", "user_knn"],
        "02: rating baselines scored beside ARERec on the same split",
    ),
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
    "validation_search": Extra(dict(TUNING_DEFAULTS), "02, 03, 04: the validation search (arerec.sweeps.tuning.SETTINGS: grid, rungs, "
                    "keep, max_epochs, patience, selection_metric, seed)"),
    "baseline_grids": Extra(dict(BASELINE_GRIDS), "02: per baseline, the grid of its settings searched on validation"),
    "workers": Extra(1, "02, 03: ARERec runs trained at once, each in its own process (1: one by one)"),
    "attention_pairs": Extra(4, "04: sampled (user, item) test pairs drawn as attention heatmaps"),
    "attention_rows": Extra(2000, "04: sampled test rows behind the position and similarity analyses"),
}

# Names IPython puts into every namespace; never parameters.
_IPYTHON_NAMES = {"In", "Out", "get_ipython", "exit", "quit", "open"}
_PLAIN = (str, int, float, bool, list, dict, tuple, type(None))


# --------------------------------------------------------------------------------------------
# Keys and values
# --------------------------------------------------------------------------------------------
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

    from arerec.evaluate.baselines import BASELINES

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
    from arerec.evaluate.baselines import check_grids
    from arerec.sweeps.tuning import check as check_tuning

    grids = extras["baseline_grids"]
    need(isinstance(grids, dict), f"baseline_grids must be a mapping of baseline -> grid, received: {grids!r}")
    check_grids(grids)
    extras["validation_search"] = check_tuning(cfg, extras["validation_search"])
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
# Reading the parameters out of a notebook's namespace
# --------------------------------------------------------------------------------------------
def literal_assignments(source: str) -> set[str] | None:
    """Names assigned by a cell made only of ``name = literal`` statements; None for any other cell."""
    try:
        tree = ast.parse(source)
    except SyntaxError:  # IPython magics and the like: not a parameters cell
        return None
    names: set[str] = set()
    for statement in tree.body:
        if isinstance(statement, ast.Assign) and all(isinstance(t, ast.Name) for t in statement.targets):
            targets, value = [t.id for t in statement.targets], statement.value
        elif isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name) and statement.value:
            targets, value = [statement.target.id], statement.value
        else:
            return None
        try:
            ast.literal_eval(value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return None
        names.update(targets)
    return names if names else None


def parameter_values(namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters defined in a notebook namespace, with their current values.

    In a kernel, these are the names assigned by any executed cell made only of literal
    assignments (IPython keeps every executed cell in ``In``). Outside IPython (no ``In``), every
    public name holding a plain value counts.
    """
    history = namespace.get("In")
    if isinstance(history, list):
        names: set[str] = set()
        for source in history:
            names |= literal_assignments(source) or set()
    else:
        names = {n for n, v in namespace.items() if not n.startswith("_") and isinstance(v, _PLAIN)}
    return {n: namespace[n] for n in sorted(names - _IPYTHON_NAMES) if n in namespace}


# --------------------------------------------------------------------------------------------
# metrics.json
# --------------------------------------------------------------------------------------------
def jsonable(value: Any) -> Any:
    """``value`` with NaN and infinities as None and numpy scalars as Python numbers (strict JSON)."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def read_metrics(folder: str | Path) -> dict[str, Any]:
    import json

    path = Path(folder) / "metrics.json"
    if not path.is_file():
        return {}
    return json.loads(path.read_text())


def update_metrics(folder: str | Path, section: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``values`` into ``metrics.json[section]`` in ``folder`` and write it atomically."""
    from arerec.files import write_json_atomic

    metrics = read_metrics(folder)
    metrics.setdefault(section, {}).update(jsonable(dict(values)))
    write_json_atomic(Path(folder) / "metrics.json", metrics)
    return metrics


# --------------------------------------------------------------------------------------------
# The notebook object
# --------------------------------------------------------------------------------------------
@dataclass
class Notebook:
    """One notebook's run: its configuration, extras, report folder and outputs."""

    name: str
    cfg: Config
    extras: dict[str, Any]
    folder: Path
    started: float = field(default_factory=time.perf_counter)

    @property
    def figures_dir(self) -> Path:
        return self.folder / "figures"

    @property
    def tables_dir(self) -> Path:
        return self.folder / "tables"

    def figure(self, fig, name: str) -> None:
        """Save ``fig`` (a matplotlib Figure) as ``figures/{name}.png``, show that PNG, close the figure."""
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
        path = self.figures_dir / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(buffer.getvalue())
        _show_png(buffer.getvalue())
        _close(fig)

    def table(self, frame: pd.DataFrame | Mapping[str, Any], name: str, *, index: bool = False) -> None:
        """Save ``frame`` as ``tables/{name}.csv`` and show it; a dict becomes a 'what, value' table."""
        if isinstance(frame, Mapping):
            frame, index = pd.DataFrame({"value": pd.Series(dict(frame), dtype=object)}).rename_axis("what"), True
        path = self.tables_dir / f"{name}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path, index=index)
        _show(frame)

    def recorded(self, section: str) -> dict[str, Any]:
        """What an earlier notebook of this experiment recorded under ``section`` of ``metrics.json``."""
        return read_metrics(self.folder).get(section, {})

    def progress(self, total: int):
        """A :class:`arerec.sweeps.progress.Progress` of ``total`` runs, titled with this notebook's name."""
        from arerec.sweeps.progress import Progress

        return Progress(total, self.name)

    def record(self, **values: Any) -> None:
        """Merge ``values`` into ``metrics.json`` under this notebook's name."""
        update_metrics(self.folder, self.name, values)

    def finish(self) -> pd.DataFrame:
        """Record the provenance and the wall time since :func:`start`; return them as a table."""
        from arerec.reports import provenance

        record = {**provenance(self.cfg), "wall_seconds": round(time.perf_counter() - self.started, 2)}
        self.record(provenance=record, parameters={**self.cfg.to_dict(), **self.extras})
        rows = [(key, value) for key, value in _flatten(record)]
        return pd.DataFrame(rows, columns=["what", "value"]).set_index("what")


def start(namespace: Mapping[str, Any], notebook: str) -> Notebook:
    """Check the notebook's parameters and open its report folder (see the module docstring)."""
    values = parameter_values(namespace)
    cfg, extras = resolve(values, source=f"the parameters of {notebook}")
    folder = Path(extras["reports_dir"]) / extras["experiment"]
    folder.mkdir(parents=True, exist_ok=True)
    return Notebook(name=notebook, cfg=cfg, extras=extras, folder=folder)


def _flatten(record: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    rows = []
    for key, value in record.items():
        if isinstance(value, Mapping):
            rows.extend(_flatten(value, f"{prefix}{key}."))
        else:
            rows.append((f"{prefix}{key}", str(value)))
    return rows


def _show(obj: Any) -> None:
    try:
        from IPython.display import display
    except ImportError:  # pragma: no cover - IPython comes with the kit
        return
    display(obj)


def _show_png(data: bytes) -> None:
    try:
        from IPython.display import Image
    except ImportError:  # pragma: no cover
        return
    _show(Image(data=data, format="png"))


def _close(fig) -> None:
    import matplotlib.pyplot as plt

    plt.close(fig)
