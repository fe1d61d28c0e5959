"""Did I reproduce it? The rebuilt ``metrics.json`` against the copy committed in git, figure by figure.

``python -m arerec report check --experiment base`` (``make check``) compares the rebuilt
``{reports_dir}/{experiment}/metrics.json`` with git's copy (:func:`compare_metrics`): deterministic
figures must be identical, trained ones (:data:`TRAINED_PATTERNS`) within :data:`TRAINED_TOLERANCE`.

Settings (what produced the figures, not figures: every leaf under a key of :data:`SETTING_SUBTREES`, such as a
run's ``config`` or a notebook's ``parameters``) are compared apart from the figures (:func:`compare_setting`):

- a setting that one side lacks while the other holds it at its default (a :class:`~arerec.config.Config` field's, or
  a notebook parameter's, :data:`arerec.report.parameters.EXTRAS`) is no difference: an older kit did not record it;
- a setting that differs in value is reported, and fails the check only when it changes what was computed: where the
  runs' files live and how they were spread over devices, processes and hosts (:func:`computes`) do not.

Exit status 0: reproduced; 1: not reproduced; 2: the two could not be compared.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arerec.errors import ComparisonError, ConfigError
from arerec.files import path_under
from arerec.report import formatting

# The figures that come out of ARERec training. Their float rounding follows the CPU, the thread
# count and the BLAS build, so a rebuild elsewhere matches them only within TRAINED_TOLERANCE; every
# figure no pattern matches is deterministic and must be identical. A pattern is matched against a
# figure's whole path as `check` prints it: `*` matches any run of characters (dots included), `?` one
# character, and every other character itself (`[` too, unlike fnmatch). Records of a list are named by
# RECORD_KEYS, so e.g. "02_training.headline_summary[model=ARERec*" selects ARERec's rows of the
# headline table alone, leaving the baselines' rows deterministic.
TRAINED_PATTERNS = [
    "02_training.seed_run[*].ours: *",  # the seed run per epoch; the original's own figures beside it are constants
    "02_training.seed_schedule_summary[model=ARERec*", "02_training.runs[model=ARERec*",
    "02_training.headline_summary[model=ARERec*", "02_training.headline_table[model=ARERec*",
    "02_training.tuning*",  # every configuration's validation score and epochs (tuning_rounds too)
    "02_training.verdicts*", "02_training.claims",  # computed from ARERec's figures
    "03_ablation.*", "04_attention.*",  # ARERec runs and their attention
]
# Absolute, in each figure's own units (HR, NDCG and shares in [0, 1]; RMSE and MAE in stars). Stated,
# not measured: to revise once rebuilds on two kinds of CPU have been compared. `check --tolerance` overrides it.
TRAINED_TOLERANCE = 0.02
DETERMINISTIC_RTOL = 1e-12  # floats: the same sums of the same rows, but vectorised sums may round the last bits per CPU
# Not figures: timings, clock times and what describes the machine or the settings rather than a result.
SKIPPED_KEY_PARTS = ("seconds", "wall", "time")
SKIPPED_KEY_SUFFIXES = ("_at",)  # started_at, finished_at (a substring '_at' would also skip '..._attention')
SKIPPED_SUBTREES = ("provenance",)  # under any section
SKIPPED_PATHS = ("run.notebooks", "run.git", "run.machine", "run.compute", "run.packages", "run.params_files", "run.overrides",
                 "run.data.ratings_file", "run.data.source")
# Settings, not figures: every leaf under one of these keys (at any depth, e.g. `02_training.chosen.config`, a
# notebook's `parameters`, a search trial's `params`), or under a key ending in one of SETTING_SUFFIXES
# (`baseline_settings`); and a text leaf under a key of SETTING_TEXT_KEYS (a search's settings as one JSON string).
SETTING_SUBTREES = ("config", "params", "parameters", "overrides", "settings", "grid", "search_space")
SETTING_SUFFIXES = ("_config", "_settings", "_params", "_grids")
SETTING_TEXT_KEYS = ("search",)
# Settings that say where files live, what is printed, and how a run is spread over devices, processes, hosts and
# workers, not what it computes: a difference in them is reported and passes. So do the Config fields of the group
# "devices" and every notebook parameter named ray_*.
PLACEMENT_SETTINGS = ("data_path", "model_path", "reports_dir", "experiment", "verbose", "mmap_threshold_mb",
                      "workers", "executor")
# Records of a list are paired by these keys (those every record has, when they tell the records apart), else by index.
RECORD_KEYS = ("model", "protocol", "variant", "seed")
MAX_FAILURES_SHOWN = 20


@dataclass(frozen=True)
class Leaf:
    """One value of a metrics.json, with the CI half-width its record holds beside it (``<key>_ci``)."""

    value: Any
    ci: float | None = None


@dataclass(frozen=True)
class Figure:
    """One compared value: ``kind`` is 'deterministic' or 'trained'; a side that lacks it holds :data:`MISSING`."""

    path: str
    kind: str
    committed: Any
    rebuilt: Any
    ok: bool
    difference: float | None = None  # |rebuilt - committed| for numbers
    ci: float | None = None  # the CI half-width beside the figure (the committed record's, else the rebuilt one's)
    note: str = ""  # settings: why a difference passes, or that it changes what was computed


MISSING = object()


@dataclass
class Comparison:
    """Every compared figure of two metrics.json, and the verdict."""

    figures: list[Figure]
    tolerance: float
    trained_patterns: list[str] = field(default_factory=lambda: list(TRAINED_PATTERNS))

    def of_kind(self, kind: str) -> list[Figure]:
        return [f for f in self.figures if f.kind == kind]

    settings: list[Figure] = field(default_factory=list)  # kind 'setting', compared apart from the figures

    @property
    def failures(self) -> list[Figure]:
        return [f for kind in ("deterministic", "trained") for f in self.of_kind(kind) if not f.ok]

    @property
    def setting_differences(self) -> list[Figure]:
        """Settings whose values differ (absent at the default is no difference), failing or not."""
        return [s for s in self.settings if s.note]

    @property
    def setting_failures(self) -> list[Figure]:
        return [s for s in self.settings if not s.ok]

    @property
    def reproduced(self) -> bool:
        return bool(self.figures) and not self.failures and not self.setting_failures


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_trained(path: str, patterns: Sequence[str] = TRAINED_PATTERNS) -> bool:
    """Whether ``path`` matches one of ``patterns`` (see :data:`TRAINED_PATTERNS` for the syntax)."""
    return any(_glob(pattern).fullmatch(path) for pattern in patterns)


def _glob(pattern: str) -> re.Pattern:
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern), re.S)


def _skipped_key(key: str) -> bool:
    low = key.lower()
    return (low in SKIPPED_SUBTREES or any(part in low for part in SKIPPED_KEY_PARTS)
            or low.endswith(SKIPPED_KEY_SUFFIXES))


def _skipped_path(path: str) -> bool:
    return any(path == p or path.startswith((p + ".", p + "[")) for p in SKIPPED_PATHS)


def _record_labels(records: list[Any]) -> list[str]:
    """``[model=x; protocol=y]`` per record when :data:`RECORD_KEYS` tell the records apart, else ``[i]``."""
    index = [f"[{n}]" for n in range(len(records))]
    if not records or not all(isinstance(r, dict) for r in records):
        return index
    keys = [k for k in RECORD_KEYS if all(isinstance(r.get(k), (str, int)) for r in records)]
    labels = ["[" + "; ".join(f"{k}={r[k]}" for k in keys) + "]" for r in records]
    return labels if keys and len(set(labels)) == len(labels) else index


def _is_setting_key(key: str) -> bool:
    low = key.lower()
    return low in SETTING_SUBTREES or low.endswith(SETTING_SUFFIXES)


def _split_leaves(metrics: Mapping[str, Any]) -> tuple[dict[str, Leaf], dict[str, Leaf]]:
    """The figures and the settings of a metrics.json, each by path (see :func:`flatten_figures`). A setting's
    :attr:`Leaf.ci` is unused; a list of plain values under a setting is one setting (``topk: [3, 5]``)."""
    figures: dict[str, Leaf] = {}
    settings: dict[str, Leaf] = {}

    def walk(node: Any, path: str, ci: float | None = None, setting: bool = False) -> None:
        if _skipped_path(path):
            return
        if isinstance(node, Mapping):
            for key, value in node.items():
                if _skipped_key(str(key)):
                    continue
                sibling = node.get(f"{key}_ci")
                inner = setting or _is_setting_key(str(key)) or (str(key).lower() in SETTING_TEXT_KEYS
                                                                   and isinstance(value, str))
                walk(value, f"{path}.{key}" if path else str(key), sibling if is_number(sibling) else None, inner)
        elif isinstance(node, list) and not (setting and not any(isinstance(v, (Mapping, list)) for v in node)):
            for label, value in zip(_record_labels(node), node, strict=True):
                walk(value, path + label, None, setting)
        else:
            (settings if setting else figures)[path] = Leaf(node, ci)

    walk(metrics, "")
    return figures, settings


def flatten_figures(metrics: Mapping[str, Any]) -> dict[str, Leaf]:
    """Every leaf of a metrics.json that is a figure, by path: ``section.key.key``, ``list[i]`` or
    ``list[model=x; protocol=y]`` (see :func:`_record_labels`); timings, provenance and settings are left out."""
    return _split_leaves(metrics)[0]


def flatten_settings(metrics: Mapping[str, Any]) -> dict[str, Leaf]:
    """Every setting of a metrics.json, by path (:data:`SETTING_SUBTREES`)."""
    return _split_leaves(metrics)[1]


def _setting_keys(path: str) -> list[str | int]:
    """The keys below the outermost setting subtree of ``path``: ``x.chosen.config.lr`` -> ``['lr']``,
    ``x.parameters.validation_search.grid.lr`` -> ``['validation_search', 'grid', 'lr']``; list places as ints."""
    parts: list[str | int] = []
    for token in re.findall(r"\.?([^.\[\]]+)|\[([^\]]*)\]", path):
        key, index = token
        parts.append(key if key else int(index) if index.isdigit() else index)
    for n, part in enumerate(parts):
        text_leaf = n == len(parts) - 1 and str(part).lower() in SETTING_TEXT_KEYS  # `search` as one JSON string
        if isinstance(part, str) and (_is_setting_key(part) or text_leaf):
            return parts[n + 1:] or [part]
    return parts[-1:]


def setting_name(path: str) -> str:
    """The name of the setting at ``path``: the innermost mapping key (``...config.regularizer`` -> 'regularizer')."""
    names = [k for k in _setting_keys(path) if isinstance(k, str)]
    return names[-1] if names else path


_NO_DEFAULT = object()


def setting_default(path: str) -> Any:
    """The value a kit that did not record the setting at ``path`` ran with: the default of the Config field or the
    notebook parameter it names (descending into a nested parameter), else :data:`_NO_DEFAULT`."""

    from arerec.config import Config
    from arerec.report.parameters import EXTRAS

    keys = _setting_keys(path)
    head = keys[0]
    if head in Config.field_names():
        value: Any = Config().to_dict()[head]
    elif head in EXTRAS:
        value = EXTRAS[head].default
    else:
        return _NO_DEFAULT
    for key in keys[1:]:
        try:
            value = value[key]
        except (KeyError, IndexError, TypeError):
            return _NO_DEFAULT
    return value


def computes(name: str) -> bool:
    """Whether a setting changes what is computed: False for where files live, what is printed, and how runs are
    spread over devices, processes, hosts and workers (:data:`PLACEMENT_SETTINGS`, the Config group 'devices',
    ray_*)."""
    from arerec.config import Config

    devices = set(Config.group_keys("devices"))
    return not (name in PLACEMENT_SETTINGS or name in devices or name.startswith("ray_"))


def _same_setting(a: Any, b: Any) -> bool:
    """Equal values, numbers by value (3 and 3.0: a float field an older kit wrote as an int), lists item by item."""
    if is_number(a) and is_number(b):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_setting(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_same_setting(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def compare_setting(path: str, committed: Any, rebuilt: Any) -> Figure:
    """One setting. A side that lacks it (:data:`MISSING`) is read at its default (:func:`setting_default`); a
    setting with no known default recorded on one side only is reported and passes (the figures it produced are
    compared anyway). A difference fails only when the setting :func:`computes`."""
    name = setting_name(path)
    if committed is MISSING or rebuilt is MISSING:
        default = setting_default(path)
        if default is _NO_DEFAULT:
            return Figure(path, "setting", committed, rebuilt, True, note="recorded on one side only; no default known")
        present = rebuilt if committed is MISSING else committed
        if _same_setting(present, default):
            return Figure(path, "setting", committed, rebuilt, True)
    elif _same_setting(committed, rebuilt):
        return Figure(path, "setting", committed, rebuilt, True)
    if computes(name):
        return Figure(path, "setting", committed, rebuilt, False, note="changes what was computed")
    return Figure(path, "setting", committed, rebuilt, True, note=f"{name} does not change what was computed")


def compare_figure(path: str, committed: Any, rebuilt: Any, *, trained: bool, tolerance: float,
                   ci: float | None = None) -> Figure | None:
    """One figure; None for text under a trained section (formatted from trained numbers, e.g. '0.59 ± 0.04').

    Deterministic: ints and text equal, floats equal to :data:`DETERMINISTIC_RTOL` relative. Trained:
    numbers within ``tolerance`` absolute. A value on one side only, or a number against text, fails.
    """
    kind = "trained" if trained else "deterministic"
    if committed is MISSING or rebuilt is MISSING:
        return Figure(path, kind, committed, rebuilt, False, None, ci)
    if is_number(committed) and is_number(rebuilt):
        if math.isnan(committed) or math.isnan(rebuilt):
            both = math.isnan(committed) and math.isnan(rebuilt)
            return Figure(path, kind, committed, rebuilt, both, 0.0 if both else math.inf, ci)
        difference = abs(rebuilt - committed)
        if trained:
            ok = difference <= tolerance
        elif isinstance(committed, int) and isinstance(rebuilt, int):
            ok = committed == rebuilt
        else:
            ok = math.isclose(committed, rebuilt, rel_tol=DETERMINISTIC_RTOL, abs_tol=0.0)
        return Figure(path, kind, committed, rebuilt, ok, difference, ci)
    if trained and not is_number(committed) and not is_number(rebuilt):
        return None
    ok = type(committed) is type(rebuilt) and committed == rebuilt
    return Figure(path, kind, committed, rebuilt, ok, None, ci)


def compare_metrics(committed: Mapping[str, Any], rebuilt: Mapping[str, Any], *,
                    trained_patterns: Sequence[str] = TRAINED_PATTERNS,
                    tolerance: float = TRAINED_TOLERANCE) -> Comparison:
    """Pair the figures of two metrics.json by path and compare each (:func:`compare_figure`)."""
    if tolerance < 0:
        raise ConfigError(f"tolerance must be >= 0, received: {tolerance}")
    (old, old_settings), (new, new_settings) = _split_leaves(committed), _split_leaves(rebuilt)
    settings = [compare_setting(path, old_settings[path].value if path in old_settings else MISSING,
                                new_settings[path].value if path in new_settings else MISSING)
                for path in [*old_settings, *(p for p in new_settings if p not in old_settings)]]
    figures = []
    for path in [*old, *(p for p in new if p not in old)]:
        before, after = old.get(path), new.get(path)
        either = before or after  # the path comes from one of the two
        figure = compare_figure(path, MISSING if before is None else before.value,
                                MISSING if after is None else after.value,
                                trained=is_trained(path, trained_patterns), tolerance=tolerance,
                                ci=either.ci if either is not None else None)
        if figure is not None:
            figures.append(figure)
    return Comparison(figures, tolerance, list(trained_patterns), settings)


def _shown_value(value: Any) -> str:
    return "(absent)" if value is MISSING else formatting.text(value)


def _describe(figure: Figure, tolerance: float) -> str:
    text = f"{figure.path}: committed {_shown_value(figure.committed)}, rebuilt {_shown_value(figure.rebuilt)}"
    if figure.difference is not None and figure.committed is not MISSING and figure.rebuilt is not MISSING:
        text += f", difference {formatting.significant(figure.rebuilt - figure.committed, sign=True)}"
        if figure.kind == "trained":
            text += f" ({'within' if figure.ok else 'beyond'} ±{formatting.significant(tolerance)})"
    if figure.ci is not None:
        text += f"; 95% CI ±{formatting.significant(figure.ci)}"
    if figure.note:
        text += f" ({figure.note})"
    return text


def format_comparison(comparison: Comparison, *, title: str = "") -> str:
    """The short report: counts per kind, the largest difference of each, the failures, the verdict."""
    lines = [title] if title else []
    tol = comparison.tolerance
    for kind, passed in (("deterministic", "identical"), ("trained", f"within ±{formatting.significant(tol)}")):
        figures = comparison.of_kind(kind)
        good = sum(f.ok for f in figures)
        largest = max((f for f in figures if f.difference), key=lambda f: f.difference or 0.0, default=None)
        most = ("; no number differs" if largest is None else
                f"; largest difference {formatting.significant(largest.difference)} at {largest.path}"
                + (f" (95% CI ±{formatting.significant(largest.ci)})" if largest.ci is not None else ""))
        lines.append(f"{kind} figures: {len(figures)} compared, {good} {passed}{most}")
    if comparison.trained_patterns:
        lines.append(f"trained figures are those matching: {', '.join(comparison.trained_patterns)}")
    differences = comparison.setting_differences
    lines.append(f"settings: {len(comparison.settings)} compared (one absent at its default counts as equal), "
                 f"{len(differences)} differ, {len(comparison.setting_failures)} of them in what was computed")
    lines += [f"  [setting] {_describe(s, tol)}" for s in differences[:MAX_FAILURES_SHOWN]]
    if len(differences) > MAX_FAILURES_SHOWN:
        lines.append(f"  ... and {len(differences) - MAX_FAILURES_SHOWN} more")
    failures = comparison.failures
    if failures:
        lines.append(f"failures ({len(failures)}):")
        lines += [f"  [{f.kind}] {_describe(f, tol)}" for f in failures[:MAX_FAILURES_SHOWN]]
        if len(failures) > MAX_FAILURES_SHOWN:
            lines.append(f"  ... and {len(failures) - MAX_FAILURES_SHOWN} more")
    lines.append(verdict(comparison))
    return "\n".join(lines)


def verdict(comparison: Comparison) -> str:
    """'REPRODUCED' or 'NOT REPRODUCED: ' and why."""
    if comparison.reproduced:
        return "REPRODUCED"
    if not comparison.figures:
        return "NOT REPRODUCED: no figures to compare"
    reasons = []
    deterministic = [f for f in comparison.of_kind("deterministic") if not f.ok]
    trained = [f for f in comparison.of_kind("trained") if not f.ok]
    if deterministic:
        reasons.append(f"{len(deterministic)} of {len(comparison.of_kind('deterministic'))} deterministic figures differ")
    if trained:
        reasons.append(f"{len(trained)} of {len(comparison.of_kind('trained'))} trained figures beyond "
                       f"±{formatting.significant(comparison.tolerance)}")
    changed = comparison.setting_failures
    if changed:
        named = ", ".join(s.path for s in changed[:3]) + (f", and {len(changed) - 3} more" if len(changed) > 3 else "")
        reasons.append(f"{len(changed)} of {len(comparison.settings)} settings differ in what was computed ({named})")
    return "NOT REPRODUCED: " + "; ".join(reasons)


def _git(root: Path, *args: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["git", "--no-optional-locks", "-C", str(root), *args], capture_output=True,
                              text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ComparisonError(f"`git {' '.join(args)}` failed in {root}: {exc}") from None


def committed_metrics(root: str | Path, path: str, against: str = "HEAD") -> dict[str, Any]:
    """The metrics.json at ``path`` (relative to ``root``) as committed in ``against`` (read-only git calls)."""
    root = Path(root)
    resolved = _git(root, "rev-parse", "--verify", "--quiet", f"{against}^{{commit}}")
    if resolved.returncode != 0:
        why = resolved.stderr.strip() or f"{against!r} is not a commit"
        raise ComparisonError(f"git cannot read commit {against!r} in {root}: {why}")
    spec = f"{against}:./{path}"
    if _git(root, "cat-file", "-e", spec).returncode != 0:
        raise ComparisonError(f"git has no committed copy of {path} in {against!r}: nothing to compare the "
                              "rebuilt reports with (name another commit with --against)")
    shown = _git(root, "show", spec)
    if shown.returncode != 0:
        raise ComparisonError(f"`git show {spec}` failed in {root}: {shown.stderr.strip()}")
    return _parse_metrics(shown.stdout, f"{against}:{path}")


def _parse_metrics(text: str, source: str) -> dict[str, Any]:
    try:
        metrics = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ComparisonError(f"{source} is not valid JSON ({exc})") from None
    if not isinstance(metrics, dict):
        raise ComparisonError(f"{source}: expected a JSON object, found {type(metrics).__name__}")
    return metrics


def check(experiment: str = "base", *, root: str | Path = ".", reports_dir: str = "reports",
          against: str = "HEAD", tolerance: float = TRAINED_TOLERANCE) -> int:
    """Print how the rebuilt ``{reports_dir}/{experiment}/metrics.json`` compares with git's ``against`` copy.

    0 when reproduced, 1 when not; :class:`ComparisonError` when either copy cannot be read.
    """
    root = Path(root).resolve()
    rebuilt_path = path_under(root, reports_dir) / experiment / "metrics.json"
    if not rebuilt_path.is_file():
        raise ComparisonError(f"no rebuilt metrics.json at {rebuilt_path}: run `make reproduce` (or "
                              "`python -m arerec report run`) for this experiment first")
    rebuilt = _parse_metrics(rebuilt_path.read_text(), str(rebuilt_path))
    if not rebuilt_path.resolve().is_relative_to(root):
        raise ComparisonError(f"{rebuilt_path} is outside the repository root {root}: git holds no copy of it")
    relative = rebuilt_path.resolve().relative_to(root).as_posix()
    committed = committed_metrics(root, relative, against)
    comparison = compare_metrics(committed, rebuilt, tolerance=tolerance)
    print(format_comparison(comparison, title=f"{relative} rebuilt, against {against}:{relative} committed"))
    return 0 if comparison.reproduced else 1


CHECK_DESCRIPTION = (
    "Compare the rebuilt {reports_dir}/{experiment}/metrics.json with the copy committed in git, figure by figure. "
    "Timings and provenance are skipped; settings (a run's config, the parameters) are compared apart: one absent at "
    "its default is no difference, and one that differs fails only when it changes what was computed. Trained figures (TRAINED_PATTERNS in arerec/report/check.py) must be within "
    "--tolerance, every other figure identical. Exit status 0: REPRODUCED; 1: NOT REPRODUCED; 2: cannot compare."
)
