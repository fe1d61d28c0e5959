"""Tables for reading: one renderer (pandas' Styler) for the report pages, the index, README.md and ``tables/*.tex``.

:func:`readable` turns a DataFrame into text cells with :mod:`arerec.report.formatting` (numbers at their column's
precision, whole numbers as integers, "–" for missing values, yes/no, hashes cut to 12 characters) and names every
column, and every cell of a column that holds keys (a model, a metric), with :mod:`arerec.report.names`. With
``intervals``, a column ``m`` and its ``m_ci`` become one "mean ± 95% CI" column.

:func:`render` puts those cells into a :class:`pandas.io.formats.style.Styler` for one target: ``html`` (no index
column, numbers right-aligned and never broken inside, long labels wrapped at word boundaries, an id of the
table's name), ``latex`` (booktabs rules) or ``markdown``. The CSV beside each table keeps every digit.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pandas.io.formats.style import Styler

from arerec.report import formatting, names

_HASH = re.compile(r"^[0-9a-f]{40}$|^[0-9a-f]{64}$")
# Columns shown with a fixed number of decimals, by the end of their name (times: a tenth of a second).
FIXED_DECIMALS = {"seconds": 1, "_s": 1, "(s)": 1}


@dataclass(frozen=True)
class Link:
    """A cell that links somewhere: ``text`` shown, ``href`` relative to the page."""

    text: str
    href: str

    def __str__(self) -> str:
        return self.text


def _is_whole(values: pd.Series) -> bool:
    finite = pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=float)
    finite = finite[np.isfinite(finite)]
    return bool(finite.size) and bool(np.all(finite == np.round(finite))) and bool(np.all(np.abs(finite) < 2**53))


def _spans_magnitudes(values: pd.Series, ratio: float = 1e4) -> bool:
    """Whether a numeric column's non-zero, non-whole values sit more than ``ratio`` apart from its largest value,
    so that one number of decimals would show some of them as 0."""
    finite = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    finite = np.abs(finite[np.isfinite(finite) & (finite != 0)])
    fractional = finite[finite != np.round(finite)]
    return bool(fractional.size) and float(finite.max()) > ratio * float(fractional.min())


def is_numeric(values: pd.Series) -> bool:
    """A column of numbers (booleans are not), also as an object column of numbers and missing values."""
    if pd.api.types.is_bool_dtype(values):
        return False
    if pd.api.types.is_numeric_dtype(values):
        return True
    numbers = values.map(lambda v: formatting.missing(v) or (isinstance(v, (int, float, np.number))
                                                              and not isinstance(v, (bool, np.bool_))))
    return bool(numbers.all()) and not bool(values.map(formatting.missing).all())


def _text(value: Any, column: Any, k: int | None) -> Any:
    value = names.cell(column, value, k)
    if isinstance(value, str) and _HASH.match(value):
        return formatting.short_hash(value) + "…"
    return value if isinstance(value, Link) else formatting.plain(value)


def column_cells(values: pd.Series, k: int | None = None) -> list[Any]:
    """A column as text cells (a :class:`Link` stays a link): see the module docstring."""
    if str(values.name) in names.FLAGS and values.dropna().isin([0, 1]).all():
        values = values.map(lambda v: v if formatting.missing(v) else bool(v))
    if is_numeric(values) and not _spans_magnitudes(values):
        fixed = next((d for end, d in FIXED_DECIMALS.items() if str(values.name).endswith(end)), None)
        digits = None if _is_whole(values) else fixed if fixed is not None else formatting.decimals(
            pd.to_numeric(values, errors="coerce"))
        return [formatting.number(v, digits) for v in values]
    # a column that mixes types, or whose numbers differ by orders of magnitude (a "value" column of counts and
    # correlations, a "chosen" column of learning rates and sizes): each number at three significant digits
    return [_text(v, values.name, k) for v in values]


def _with_intervals(frame: pd.DataFrame) -> pd.DataFrame:
    """Each column ``m`` that has an ``m_ci`` beside it as one column of "mean ± CI" text."""
    out: dict[Any, Any] = {}
    for column in frame.columns:
        name = str(column)
        if name.endswith("_ci") and name[:-3] in frame.columns:
            continue
        if f"{name}_ci" in frame.columns and is_numeric(frame[column]):
            pairs = list(zip(frame[column], frame[f"{name}_ci"], strict=True))
            base = max(formatting.decimals(frame[column]), 3)
            digits = max(formatting.pair_decimals(m, [h], base) for m, h in pairs if not formatting.missing(m)) \
                if frame[column].notna().any() else base
            out[column] = [formatting.interval(m, h, digits) for m, h in pairs]
        else:
            out[column] = frame[column]
    return pd.DataFrame(out, index=frame.index)


def readable(frame: pd.DataFrame, *, index: bool = False, k: int | None = None,
             intervals: bool = False) -> pd.DataFrame:
    """``frame`` as text cells with its columns named in words (see the module docstring). With ``index`` the index
    becomes the first column, its values (row names, which are keys) in words."""
    if index:
        label = frame.index.name if frame.index.name not in (None, "index") else "what"
        frame = frame.rename(index=lambda key: names.shown(key, k)).rename_axis(str(label)).reset_index()
    if intervals:
        frame = _with_intervals(frame)
    out = pd.DataFrame({n: column_cells(frame.iloc[:, n], k) for n in range(frame.shape[1])})
    out.columns = [names.column(c, k) for c in frame.columns]
    return out


_NUMBER = re.compile(r"^(<\u00a0)?[+\u2212-]?\d[\d.\u00a0]*(e[+\u2212-]?\d+)?(\u00a0±\u00a0[\d.]+| \(.+ to .+\))?$")


def numeric_columns(cells: pd.DataFrame) -> list[bool]:
    """Which shown columns hold numbers (right-aligned, never broken inside): every cell a number, a number with its
    interval, or missing, and at least one number."""
    def numbers(column: pd.Series) -> bool:
        texts = [str(v) for v in column if not isinstance(v, Link)]
        given = [t for t in texts if t not in (formatting.MISSING, "n/a")]
        return len(texts) == len(column) and bool(given) and all(_NUMBER.match(t) for t in given)

    return [numbers(cells.iloc[:, n]) for n in range(cells.shape[1])]


# --------------------------------------------------------------------------------------------
# One renderer: a Styler over the text cells, for HTML, LaTeX or Markdown
# --------------------------------------------------------------------------------------------
_TABLE_CSS = ("border-collapse:collapse;font-size:12px;margin:4px 0 12px;font-variant-numeric:tabular-nums;"
              "table-layout:auto;width:auto;max-width:100%")
_CELL_CSS = "border-bottom:1px solid #ddd;padding:2px 8px;vertical-align:top;text-align:left;white-space:normal"
LONG_WORD = 30  # characters: a longer word (a run name, a configuration) may break after '_', '=' or ','


def _html_cell(value: Any) -> str:
    if isinstance(value, Link):
        return f'<a href="{html.escape(value.href)}">{html.escape(value.text)}</a>'
    text = html.escape(str(value))
    return " ".join(re.sub(r"([_=,/])", r"\1<wbr>", w) if len(w) > LONG_WORD else w for w in text.split(" "))


def _latex_cell(value: Any) -> str:
    text = str(value)
    for char, latex in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("$", r"\$"), ("#", r"\#"),
                        ("_", r"\_"), ("{", r"\{"), ("}", r"\}"), ("~", r"\textasciitilde{}"),
                        ("^", r"\textasciicircum{}")):
        text = text.replace(char, latex)
    text = text.replace("<", "$<$").replace(">", "$>$")  # T1 and OT1 alike
    return (text.replace(formatting.NBSP + "±" + formatting.NBSP, r"~$\pm$~").replace("±", r"$\pm$")
            .replace(formatting.MINUS, "$-$").replace(formatting.NBSP, "~").replace("–", "--").replace("…", r"\ldots{}"))


def _markdown_cell(value: Any) -> str:
    text = f"[{value.text}]({value.href})" if isinstance(value, Link) else str(value)
    return text.replace("|", r"\|").replace(formatting.NBSP, " ")


_ESCAPE = {"html": _html_cell, "latex": _latex_cell, "markdown": _markdown_cell}


@dataclass
class Rendered:
    """One table ready for a target: its escaped text cells, which columns hold numbers, and the :class:`Styler`."""

    cells: pd.DataFrame
    numeric: list[bool]
    styler: Styler


def _html_styles(numeric: Sequence[bool]) -> list[Any]:
    styles: list[Any] = [{"selector": "", "props": _TABLE_CSS}, {"selector": "th, td", "props": _CELL_CSS},
                         {"selector": "thead th", "props": "background:#f4f4f4;vertical-align:bottom"},
                         {"selector": "td", "props": "max-width:30em"}]
    styles += [{"selector": f"td.col{n}", "props": "text-align:right;white-space:nowrap"}
               for n, is_number in enumerate(numeric) if is_number]  # a number never breaks; its heading may
    return styles + [{"selector": f"th.col{n}", "props": "text-align:right"} for n, is_number in enumerate(numeric)
                     if is_number]


def render(frame: pd.DataFrame, target: str = "html", *, name: str = "table", index: bool = False,
           k: int | None = None, intervals: bool = False, row_classes: Sequence[str] | None = None) -> Rendered:
    """``frame``'s readable cells, escaped for ``target`` (html, latex or markdown), in a :class:`Styler` without an
    index; ``row_classes``: a CSS class per row for its cells (HTML)."""
    cells = readable(frame, index=index, k=k, intervals=intervals)
    numeric = numeric_columns(cells)
    escape = _ESCAPE[target]
    shown = cells.apply(lambda column: column.map(escape))
    shown.columns = [escape(c) for c in cells.columns]
    styler = Styler(shown, cell_ids=False).hide(axis="index").set_uuid(re.sub(r"\W", "_", name))
    if target == "html":
        styler = styler.set_table_styles(_html_styles(numeric)).set_table_attributes('class="arerec-table"')
        if row_classes is not None:
            styler = styler.set_td_classes(pd.DataFrame([[c] * shown.shape[1] for c in row_classes],
                                                        index=shown.index, columns=shown.columns))
    return Rendered(shown, numeric, styler)


def to_html(frame: pd.DataFrame, *, name: str = "table", index: bool = False, k: int | None = None,
            intervals: bool = False, row_classes: Sequence[str] | None = None) -> str:
    """An HTML table (with its scoped style) of ``frame``: see :func:`render`."""
    return render(frame, "html", name=name, index=index, k=k, intervals=intervals,
                  row_classes=row_classes).styler.to_html()


def _latex_columns(table: Rendered) -> str:
    """Numbers right-aligned; a text column whose longest cell has more than 24 characters wraps, ragged right, in a
    ``p`` column 6 to 11 em wide (``\\usepackage{array}``), so that a table of sentences (the claims) fits a page. A
    column with no space to break at (an interval: its spaces are ``~``) never wraps: in a ``p`` column it would run
    into the next one."""
    out = []
    for n, is_number in enumerate(table.numeric):
        column = [str(v) for v in table.cells.iloc[:, n]]
        longest = max((len(v) for v in column), default=0)
        breakable = any(" " in v.strip() for v in column)
        width = f"{min(11.0, max(6.0, longest * 0.2)):.1f}em"
        wraps = longest > 24 and breakable
        out.append("r" if is_number else rf">{{\raggedright\arraybackslash}}p{{{width}}}" if wraps else "l")
    return "".join(out)


def to_latex(frame: pd.DataFrame, *, caption: str, name: str = "table", index: bool = False, k: int | None = None,
             intervals: bool = False) -> str:
    """A booktabs LaTeX table (``\\usepackage{booktabs, array}``) of the same cells as :func:`to_html`, in a ``table``
    float with ``caption`` and the label ``tab:{name}``, at ``\\small``."""
    table = render(frame, "latex", name=name, index=index, k=k, intervals=intervals)
    latex = table.styler.to_latex(hrules=True, column_format=_latex_columns(table), caption=_latex_cell(caption),
                                  label=f"tab:{name}", position_float="centering")
    return latex.replace("\\centering\n", "\\centering\n\\small\n", 1)


def to_markdown(frame: pd.DataFrame, *, index: bool = False, k: int | None = None, intervals: bool = False) -> str:
    """A Markdown (GitHub) table of the same cells as :func:`to_html`."""
    table = render(frame, "markdown", index=index, k=k, intervals=intervals)
    lines = table.styler.to_string(delimiter=" | ").splitlines()
    rule = "|" + "|".join("---:" if n else "---" for n in table.numeric) + "|"
    return "\n".join([f"| {lines[0]} |", rule, *(f"| {line} |" for line in lines[1:])]) + "\n"


class Table:
    """What a notebook displays for a table: the HTML of :func:`to_html` (and plain text elsewhere)."""

    def __init__(self, frame: pd.DataFrame, *, name: str = "table", index: bool = False, k: int | None = None,
                 intervals: bool = False) -> None:
        self.frame, self.name, self.index, self.k, self.intervals = frame, name, index, k, intervals

    def _repr_html_(self) -> str:
        return to_html(self.frame, name=self.name, index=self.index, k=self.k, intervals=self.intervals)

    def __repr__(self) -> str:
        return readable(self.frame, index=self.index, k=self.k, intervals=self.intervals).to_string(index=False)


def shown_columns(frame: pd.DataFrame, show: Sequence[str] | None) -> pd.DataFrame:
    """The columns of ``frame`` named in ``show`` (with their ``_ci`` columns), in that order; all without ``show``."""
    if show is None:
        return frame
    keep = [c for s in show for c in (s, f"{s}_ci") if c in frame.columns]
    return frame[list(dict.fromkeys(keep))]
