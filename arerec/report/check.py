"""Did I reproduce it? The rebuilt ``metrics.json`` against the copy committed in git, figure by figure.

``python -m arerec.report check --experiment base`` (``make check``) compares the rebuilt
``{reports_dir}/{experiment}/metrics.json`` with git's copy (:func:`compare_metrics`): deterministic
figures must be identical, trained ones (:data:`TRAINED_PATTERNS`) within :data:`TRAINED_TOLERANCE`.
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
SKIPPED_SUBTREES = ("provenance", "parameters")  # under any section
SKIPPED_PATHS = ("run.notebooks", "run.git", "run.machine", "run.compute", "run.packages", "run.params_files", "run.overrides",
                 "run.data.ratings_file", "run.data.source")
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


MISSING = object()


@dataclass
class Comparison:
    """Every compared figure of two metrics.json, and the verdict."""

    figures: list[Figure]
    tolerance: float
    trained_patterns: list[str] = field(default_factory=lambda: list(TRAINED_PATTERNS))

    def of_kind(self, kind: str) -> list[Figure]:
        return [f for f in self.figures if f.kind == kind]

    @property
    def failures(self) -> list[Figure]:
        return [f for kind in ("deterministic", "trained") for f in self.of_kind(kind) if not f.ok]

    @property
    def reproduced(self) -> bool:
        return bool(self.figures) and not self.failures


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


def flatten_figures(metrics: Mapping[str, Any]) -> dict[str, Leaf]:
    """Every leaf of a metrics.json that is a figure, by path: ``section.key.key``, ``list[i]`` or
    ``list[model=x; protocol=y]`` (see :func:`_record_labels`); timings and provenance are left out."""
    leaves: dict[str, Leaf] = {}

    def walk(node: Any, path: str, ci: float | None = None) -> None:
        if _skipped_path(path):
            return
        if isinstance(node, Mapping):
            for key, value in node.items():
                if _skipped_key(str(key)):
                    continue
                sibling = node.get(f"{key}_ci")
                walk(value, f"{path}.{key}" if path else str(key), sibling if is_number(sibling) else None)
        elif isinstance(node, list):
            for label, value in zip(_record_labels(node), node, strict=True):
                walk(value, path + label)
        else:
            leaves[path] = Leaf(node, ci)

    walk(metrics, "")
    return leaves


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
    old, new = flatten_figures(committed), flatten_figures(rebuilt)
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
    return Comparison(figures, tolerance, list(trained_patterns))


def _shown_value(value: Any) -> str:
    if value is MISSING:
        return "(absent)"
    if isinstance(value, float):
        return f"{value:.6g}"
    text = repr(value)
    return text if len(text) <= 44 else text[:40] + "…" + text[-3:]


def _describe(figure: Figure, tolerance: float) -> str:
    text = f"{figure.path}: committed {_shown_value(figure.committed)}, rebuilt {_shown_value(figure.rebuilt)}"
    if figure.difference is not None and figure.committed is not MISSING and figure.rebuilt is not MISSING:
        text += f", difference {figure.rebuilt - figure.committed:+.3g}"
        if figure.kind == "trained":
            text += f" ({'within' if figure.ok else 'beyond'} ±{tolerance:g})"
    if figure.ci is not None:
        text += f"; 95% CI ±{figure.ci:.3g}"
    return text


def format_comparison(comparison: Comparison, *, title: str = "") -> str:
    """The short report: counts per kind, the largest difference of each, the failures, the verdict."""
    lines = [title] if title else []
    tol = comparison.tolerance
    for kind, passed in (("deterministic", "identical"), ("trained", f"within ±{tol:g}")):
        figures = comparison.of_kind(kind)
        good = sum(f.ok for f in figures)
        largest = max((f for f in figures if f.difference), key=lambda f: f.difference or 0.0, default=None)
        most = ("; no number differs" if largest is None else
                f"; largest difference {largest.difference:.3g} at {largest.path}"
                + (f" (95% CI ±{largest.ci:.3g})" if largest.ci is not None else ""))
        lines.append(f"{kind} figures: {len(figures)} compared, {good} {passed}{most}")
    if comparison.trained_patterns:
        lines.append(f"trained figures are those matching: {', '.join(comparison.trained_patterns)}")
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
                       f"±{comparison.tolerance:g}")
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
                              "`python -m arerec.report run`) for this experiment first")
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
    "Timings and provenance are skipped; trained figures (TRAINED_PATTERNS in arerec/report/check.py) must be within "
    "--tolerance, every other figure identical. Exit status 0: REPRODUCED; 1: NOT REPRODUCED; 2: cannot compare."
)
