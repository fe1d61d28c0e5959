"""Tables formatted for reading on a report page; the CSV beside each keeps every digit.

:func:`readable` turns a DataFrame into text cells: numbers rounded to the precision of their column,
whole numbers as integers, missing values as "–", column names in words. :func:`to_html` renders it
without an index column, with long labels wrapped at word boundaries rather than cut, in a table that
fits the page (1280 px). :class:`Notebook.table <arerec.report.notebook.Notebook>` shows tables this way.
"""

from __future__ import annotations

import html
import math
import re
import textwrap
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

MISSING = "–"
WRAP = 36  # characters per line of a long label

# Column names in words; a name not here has its underscores turned into spaces.
WORDS = {
    "rmse": "RMSE", "mae": "MAE", "val_loss": "validation loss", "loss": "training loss",
    "n": "seeds", "seed": "seed", "best_epoch": "chosen epoch", "stopped_early": "stopped early",
    "lr": "learning rate", "num_head": "heads", "emb_size": "embedding size", "max_seq": "max_seq",
    "min_seq": "min_seq", "region_size": "region size", "model_name": "run",
    "train_seconds": "training time (s)", "seconds": "time (s)", "eval_seconds": "evaluation time (s)",
    "mean_diff": "mean difference", "ci": "± 95% CI", "relative_attention": "relative attention (1 = uniform)",
    "share_of_kept_rows": "share of kept rows", "ndcg": "faithful NDCG@k", "hr": "faithful HR@k",
}
# Columns shown with a fixed number of decimals, by the end of their name (times: a tenth of a second).
FIXED_DECIMALS = {"seconds": 1, "_s": 1}
_METRIC = re.compile(r"^(std_)?(ndcg|hr)@(\d+)(_ci)?$")


def column_words(name: Any) -> str:
    """A column name in words: ``ndcg@10`` -> ``faithful NDCG@10``, ``rmse_ci`` -> ``RMSE ± 95% CI``."""
    text = str(name)
    match = _METRIC.match(text)
    if match:
        std, metric, k, ci = match.groups()
        words = f"{'standard' if std else 'faithful'} {metric.upper()}@{k}"
        return words + (" ± 95% CI" if ci else "")
    if text in WORDS:
        return WORDS[text]
    if text.endswith("_ci") and text[:-3] in WORDS:
        return f"{WORDS[text[:-3]]} ± 95% CI"
    if text.endswith("_ci"):
        return f"{text[:-3].replace('_', ' ')} ± 95% CI"
    return text.replace("_", " ")


def decimals(values: pd.Series | np.ndarray) -> int:
    """Decimals that show a column's values to about three significant digits of its largest one.

    Below 10, at least 3 decimals (metrics and shares), more for small values (a CI of 0.0043 keeps
    two significant digits); 106.04 gets 1, 1234.5 gets 0. At most 6, and no more than the values need
    (0.5 and 4.5 get 1).
    """
    finite = np.asarray(values, dtype=float)
    finite = np.abs(finite[np.isfinite(finite)])
    finite = finite[finite > 0]
    if finite.size == 0:
        return 3
    magnitude = math.floor(math.log10(finite.max()))
    if magnitude < 1:
        smallest = math.floor(math.log10(np.median(finite)))
        wanted = int(min(max(3, 1 - smallest), 6))
    else:
        wanted = max(0, 3 - magnitude)
    exact = next((d for d in range(wanted) if np.allclose(finite, np.round(finite, d), rtol=0, atol=1e-12)), wanted)
    return exact  # no trailing zeros that every value shares: half epochs as 0.5 and 5.0, not 0.500 and 5.000


def _is_whole(values: pd.Series) -> bool:
    finite = pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=float)
    finite = finite[np.isfinite(finite)]
    return bool(finite.size) and bool(np.all(finite == np.round(finite))) and bool(np.all(np.abs(finite) < 2**53))


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    try:
        return bool(isinstance(value, float) and math.isnan(value))
    except TypeError:  # pragma: no cover
        return False


def _cell(value: Any, digits: int | None) -> str:
    if _missing(value):
        return MISSING
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}".replace(",", " ") if abs(int(value)) >= 10_000 else str(int(value))
    if isinstance(value, (float, np.floating)):
        if not np.isfinite(value):
            return str(value)
        if digits is None:  # a whole number
            return _cell(int(round(float(value))), None)
        return f"{float(value):.{digits}f}"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or MISSING
    if isinstance(value, (list, tuple, np.ndarray)):
        return ", ".join(str(v) for v in value) or MISSING
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d") if value == value.normalize() else value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def _column(values: pd.Series) -> list[str]:
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if not numeric and values.map(lambda v: isinstance(v, (int, float, np.number)) or _missing(v)).all():
        numeric = bool(values.map(lambda v: not isinstance(v, bool)).all())  # object columns of numbers
    if numeric and not _spans_magnitudes(values):
        fixed = next((d for end, d in FIXED_DECIMALS.items() if str(values.name).endswith(end)), None)
        digits = None if _is_whole(values) else fixed if fixed is not None else decimals(
            pd.to_numeric(values, errors="coerce"))
        return [_cell(v, digits) for v in values]
    # an object column that mixes types, or one whose numbers differ by orders of magnitude (a "value" column
    # of counts and correlations, a "chosen" column of learning rates and sizes): each number at its own
    # precision, three significant digits
    return [significant(v) if isinstance(v, (float, np.floating)) and not _missing(v) else _cell(v, None)
            for v in values]


def significant(value: Any, digits: int = 3) -> str:
    """``value`` to ``digits`` significant digits: a whole number as an integer, 0.00376, 2.27e-08, -0.049."""
    value = float(value)
    if not np.isfinite(value):
        return str(value)
    if value.is_integer():
        return _cell(int(value), None)
    return f"{value:.{digits}g}"


def _spans_magnitudes(values: pd.Series, ratio: float = 1e4) -> bool:
    """Whether a numeric column's non-zero, non-whole values sit more than ``ratio`` apart from its largest value,
    so that one number of decimals would show some of them as 0."""
    finite = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    finite = np.abs(finite[np.isfinite(finite) & (finite != 0)])
    fractional = finite[finite != np.round(finite)]
    return bool(fractional.size) and float(finite.max()) > ratio * float(fractional.min())


def readable(frame: pd.DataFrame, *, index: bool = False, words: bool = True) -> pd.DataFrame:
    """``frame`` as text cells for reading (see the module docstring); with ``index``, the index becomes
    the first column(s), so that no bare 0..n index is shown."""
    if index:
        frame = frame.reset_index()
        if frame.columns[0] == "index":
            frame = frame.rename(columns={"index": "what"})  # an unnamed index: its rows name what they show
    out = pd.DataFrame({n: _column(frame.iloc[:, n]) for n in range(frame.shape[1])})
    out.columns = [column_words(c) if words else str(c) for c in frame.columns]
    return out


def wrap(text: str, width: int = WRAP) -> list[str]:
    """``text`` broken into lines of at most ``width`` characters at spaces, commas and '='; never cut."""
    if len(text) <= width:
        return [text]
    spaced = re.sub(r"([,;=/|])(?=\S)", r"\1 ", text) if " " not in text[:width] else text
    lines = textwrap.wrap(spaced, width=width, break_long_words=False, break_on_hyphens=True)
    return lines or [text]


def _breakable(text: str) -> str:
    """A long word (a run name) that the browser may break after '_', '=' or ',' (<wbr>), never cut."""
    return re.sub(r"([_=,])", r"\1<wbr>", text)


_STYLE = ("border-collapse:collapse;font-size:12px;max-width:1240px;margin:4px 0 12px;"
          "font-variant-numeric:tabular-nums")
_CELL = "border-bottom:1px solid #ddd;padding:2px 8px;vertical-align:top;"


def to_html(frame: pd.DataFrame, *, index: bool = False, width: int = WRAP) -> str:
    """An HTML table of :func:`readable` ``frame``: no index column, numbers right-aligned, long labels
    wrapped onto several lines."""
    table = readable(frame, index=index)
    numeric = [bool(pd.api.types.is_numeric_dtype(frame.reset_index().iloc[:, n] if index else frame.iloc[:, n]))
               for n in range(table.shape[1])]

    def cell(text: str, tag: str, right: bool) -> str:
        lines = "<br>".join(_breakable(html.escape(line)) if len(line) > width else html.escape(line)
                            for line in wrap(text, width))
        align = "right" if right else "left"
        return f"<{tag} style='{_CELL}text-align:{align}'>{lines}</{tag}>"

    head = "".join(cell(str(c), "th", r) for c, r in zip(table.columns, numeric, strict=True))
    rows = "".join("<tr>" + "".join(cell(v, "td", r) for v, r in zip(row, numeric, strict=True)) + "</tr>"
                   for row in table.itertuples(index=False))
    return (f"<table class='arerec-table' style='{_STYLE}'><thead><tr style='background:#f4f4f4'>{head}</tr>"
            f"</thead><tbody>{rows}</tbody></table>")


class Table:
    """What a notebook displays for a table: the HTML of :func:`to_html` (and plain text elsewhere)."""

    def __init__(self, frame: pd.DataFrame, *, index: bool = False) -> None:
        self.frame, self.index = frame, index

    def _repr_html_(self) -> str:
        return to_html(self.frame, index=self.index)

    def __repr__(self) -> str:
        return readable(self.frame, index=self.index).to_string(index=False)
