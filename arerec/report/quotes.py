"""Numbers that README.md and docs/ quote from a report, tied to the ``metrics.json`` they come from.

A quoted number is written between two HTML comments (invisible once the Markdown is rendered)::

    the tuned ARERec scores <!--q:full:02_training.headline_summary[model=ARERec (tuned)].ndcg@10|3f-->0.562<!--/q-->

The opening comment names the experiment (``reports/full/metrics.json``), the path of the value inside it (keys
joined by dots; ``[key=value]`` picks the item of a list whose ``key`` is ``value``) and how it is written
(:data:`FORMATS`). ``tests/test_quotes.py`` checks every quote against the committed reports, so a rebuilt report
that changes a quoted number fails until the docs follow it; ``python -m arerec.report.quotes --write`` rewrites
every quote from the reports (after ``make reproduce PARAMS=full``, for example) and lists what changed.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from arerec.files import write_text_atomic
from arerec.report import formatting, names, verdicts
from arerec.report.metrics_json import read_metrics

QUOTE = re.compile(r"<!--q:(?P<experiment>[\w.-]+):(?P<path>[^|>]+)\|(?P<format>\w+)-->(?P<text>.*?)<!--/q-->",
                   flags=re.S)
_STEP = re.compile(r"\[(?P<key>[^=\]]+)=(?P<value>[^\]]+)\]|(?P<name>[^.\[\]]+)")


def _ascii(text: str) -> str:
    return text.replace(formatting.NBSP, " ").replace(formatting.MINUS, "-")


def _mean_ci(value: Any, parent: Mapping[str, Any], key: str) -> str:
    return _ascii(formatting.interval(value, parent.get(f"{key}_ci"), 3))


FORMATS: dict[str, Callable[[Any, Mapping[str, Any], str], str]] = {
    "1f": lambda v, *_: _ascii(formatting.fixed(v, 1)),
    "3f": lambda v, *_: _ascii(formatting.fixed(v, 3)),
    "4f": lambda v, *_: _ascii(formatting.fixed(v, 4)),
    "int": lambda v, *_: f"{round(float(v)):,}",
    "mean_ci": _mean_ci,  # the value and the half-width beside it (key_ci), at 3 decimals
    "diff_seeds": lambda v, parent, _: _ascii(formatting.signed(v, half=parent.get("ci"))),  # a verdict's mean_diff
    "diff_users": lambda v, parent, _: _ascii(formatting.signed(v, low=parent.get("ci_low"), high=parent.get("ci_high"))),
    "p": lambda v, *_: _ascii(formatting.p_value(v)),
    "model": lambda v, *_: names.model(v),  # a model's key as the pages name it
    "verdict": lambda v, *_: verdicts.short(v),
    "commit": lambda v, *_: str(v)[:7],
}


@dataclass(frozen=True)
class Quote:
    """One quoted number: where it stands, where it comes from, how it is written, and what the text says now."""

    file: Path
    experiment: str
    path: str
    format: str
    text: str

    def expected(self, reports: Path) -> str:
        """What the quote should say: the value at ``path`` in ``reports/{experiment}/metrics.json``, formatted."""
        parent, key = lookup(read_metrics(reports / self.experiment), self.path)
        return FORMATS[self.format](parent[key], parent, key)


def lookup(metrics: Mapping[str, Any], path: str) -> tuple[Mapping[str, Any], str]:
    """The mapping that holds the value at ``path`` and the value's key (a ``KeyError`` names a missing step)."""
    steps = [m.groupdict() for m in _STEP.finditer(path) if m.group(0) != "."]
    node: Any = metrics
    for step in steps[:-1]:
        node = _step(node, step, path)
    last = steps[-1]["name"]
    if not isinstance(node, Mapping) or last not in node:
        raise KeyError(f"{path}: no {last!r}")
    return node, last


def _step(node: Any, step: Mapping[str, str | None], path: str) -> Any:
    if step["name"] is not None:
        if not isinstance(node, Mapping) or step["name"] not in node:
            raise KeyError(f"{path}: no {step['name']!r}")
        return node[step["name"]]
    found = [item for item in node if isinstance(item, Mapping) and str(item.get(step["key"])) == step["value"]]
    if len(found) != 1:
        raise KeyError(f"{path}: {len(found)} items with {step['key']}={step['value']}")
    return found[0]


def files(root: Path) -> list[Path]:
    """README.md and the Markdown files under docs/."""
    return [root / "README.md", *sorted((root / "docs").rglob("*.md"))]


def find(root: Path) -> list[Quote]:
    """Every quote in :func:`files`."""
    return [Quote(path, m["experiment"], m["path"].strip(), m["format"], m["text"])
            for path in files(root) if path.is_file() for m in QUOTE.finditer(path.read_text())]


def stale(root: Path, reports: Path) -> list[tuple[Quote, str]]:
    """The quotes whose text is not what their report says now, each with what it should say."""
    return [(q, want) for q in find(root) if (want := q.expected(reports)) != q.text]


def _fresh(match: re.Match, path: Path, reports: Path) -> str:
    quote = Quote(path, match["experiment"], match["path"].strip(), match["format"], match["text"])
    return match.group(0).replace(f"-->{match['text']}<!--/q-->", f"-->{quote.expected(reports)}<!--/q-->")


def write(root: Path, reports: Path) -> list[tuple[Quote, str]]:
    """Rewrite every stale quote from its report (atomically, file by file); returns what changed."""
    changed = stale(root, reports)
    for path in {q.file for q, _ in changed}:
        write_text_atomic(path, QUOTE.sub(partial(_fresh, path=path, reports=reports), path.read_text()))
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check (or with --write, rewrite) the numbers README.md and docs/ "
                                                 "quote from reports/*/metrics.json.")
    parser.add_argument("--root", type=Path, default=Path("."))
    parser.add_argument("--reports-dir", type=Path, default=None, help="default: ROOT/reports")
    parser.add_argument("--write", action="store_true", help="rewrite the stale quotes")
    args = parser.parse_args(argv)
    reports = args.reports_dir or args.root / "reports"
    changed = write(args.root, reports) if args.write else stale(args.root, reports)
    for quote, want in changed:
        print(f"{quote.file}: {quote.experiment}:{quote.path}: {quote.text!r} -> {want!r}")
    print(f"{len(find(args.root))} quotes, {len(changed)} {'rewritten' if args.write else 'stale'}")
    return 0 if args.write or not changed else 1


if __name__ == "__main__":
    sys.exit(main())
