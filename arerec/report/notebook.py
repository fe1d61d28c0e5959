"""What a notebook calls: its parameters as a :class:`Config`, its report folder, its outputs.

A notebook's ``parameters`` cell assigns plain values: fields of :class:`Config` and the few
notebooks' own settings (:class:`arerec.report.parameters.ReportSettings`). papermill injects its own cell of
assignments after it. The cell after those calls::

    nb = notebook.start(globals(), "02_training")

which collects every name assigned by a cell made only of ``name = literal`` statements (the
parameters cell, papermill's injected cell, or one typed by hand), checks the names against the
valid keys (an unknown one is an error that lists them), and returns a :class:`Notebook`: the
:class:`Config`, the validated extras and the report folder ``{reports_dir}/{experiment}/``.

``nb.figure(fig, name)`` and ``nb.table(frame, name)`` show a result and save it as
``figures/{name}.png`` and ``.pdf`` or ``tables/{name}.csv`` (and ``.tex`` when asked); ``nb.say(markdown)``
shows prose: a page holds tables, figures and Markdown, never a printed stream. ``nb.record(...)`` merges numbers
into ``metrics.json`` under the notebook's name; ``nb.finish()`` records the provenance and wall time and shows them.
"""

from __future__ import annotations

import ast
import logging
import re
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from arerec.config import Config
from arerec.files import atomic_path, write_text_atomic
from arerec.report import names
from arerec.report.metrics_json import read_metrics, update_metrics
from arerec.report.parameters import Parameters, resolve
from arerec.report.provenance import provenance, provenance_rows
from arerec.report.tables import Table, shown_columns, to_latex

# The kit's notebooks, in the order the runner runs them (notebooks/{name}.ipynb).
NOTEBOOKS = ("01_data_exploration", "02_training", "03_ablation", "04_attention")

# Names IPython puts into every namespace; never parameters.
_IPYTHON_NAMES = {"In", "Out", "get_ipython", "exit", "quit", "open"}
_PLAIN = (str, int, float, bool, list, dict, tuple, type(None))


def literal_assignments(source: str) -> set[str] | None:
    """Names assigned by a cell made only of ``name = literal`` statements; None for any other cell."""
    try:
        tree = ast.parse(source)
    except SyntaxError:  # IPython magics and the like: not a parameters cell
        return None
    names: set[str] = set()
    for statement in tree.body:
        if isinstance(statement, ast.Assign) and all(isinstance(t, ast.Name) for t in statement.targets):
            targets, value = [t.id for t in statement.targets if isinstance(t, ast.Name)], statement.value
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


@dataclass
class Notebook:
    """One notebook's run: its parameters, report folder and outputs. ``cfg`` is the run's configuration;
    ``extras`` a read-only mapping of the notebooks' settings and ``validation_search`` (the search's settings), both
    views of :attr:`params` (:class:`arerec.report.parameters.Parameters`)."""

    name: str
    params: Parameters
    folder: Path
    started: float = field(default_factory=time.perf_counter)

    @property
    def cfg(self) -> Config:
        return self.params.config

    @property
    def extras(self) -> Mapping[str, Any]:
        return self.params.extras

    @property
    def figures_dir(self) -> Path:
        return self.folder / "figures"

    @property
    def tables_dir(self) -> Path:
        return self.folder / "tables"

    @property
    def k(self) -> int:
        """The cut-off the pages show (10, the paper's, when evaluated): a bare ``ndcg`` column is NDCG@k."""
        from arerec.evaluate.scoring import headline_k

        return headline_k(self.cfg.evaluation.topk)

    def figure(self, fig, name: str) -> None:
        """Save ``fig`` (a matplotlib Figure) as ``figures/{name}.png`` (150 dpi) and ``figures/{name}.pdf`` (vector)
        after :func:`arerec.report.plots.tidy`, show the PNG at 100 px per inch, and close the figure."""
        from arerec.report.plots import save_figure

        png = save_figure(fig, self.figures_dir / name)
        _show_png(png)
        _close(fig)

    def table(self, frame: pd.DataFrame | Mapping[str, Any], name: str, *, index: bool = False,
              show: Sequence[str] | None = None, intervals: bool = False, view: pd.DataFrame | None = None,
              latex: str | None = None) -> None:
        """Save ``frame`` as ``tables/{name}.csv`` (every column, every digit) and show it (:mod:`arerec.report.tables`);
        a dict becomes a 'what, value' table. ``show``: the columns to show on the page when the whole table would not
        fit it (with their ``_ci`` columns), with a line that names the CSV holding the rest; ``show=()``: the CSV only.
        ``intervals``: each ``m`` with its ``m_ci`` as one 'mean ± 95% CI' column. ``view``: what the page shows
        instead, cells computed from ``frame`` (a difference with its interval). ``latex``: also write the shown table
        as ``tables/{name}.tex`` (booktabs) with this caption: the same cells as the page."""
        if isinstance(frame, Mapping):
            frame, index = pd.DataFrame({"value": pd.Series(dict(frame), dtype=object)}).rename_axis("what"), True
        with atomic_path(self.tables_dir / f"{name}.csv") as tmp:
            frame.to_csv(tmp, index=index)
        if show is not None and not show:  # the CSV only: the page shows the same numbers another way
            return
        shown = view if view is not None else shown_columns(frame, show)
        index = index and view is None
        _show(Table(shown, name=name, index=index, k=self.k, intervals=intervals))
        if latex is not None:
            write_text_atomic(self.tables_dir / f"{name}.tex", to_latex(shown, caption=latex, name=name, index=index,
                                                                        k=self.k, intervals=intervals))
        hidden = [names.column(c, self.k) for c in frame.columns if c not in shown.columns and not
                  (str(c).endswith("_ci") and str(c)[:-3] in shown.columns)] if view is None else []
        if hidden or view is not None:
            also = f", with the columns not shown here ({', '.join(hidden)})" if hidden else ""
            _show_markdown(f"*Every digit in [tables/{name}.csv](tables/{name}.csv){also}.*")

    def say(self, text: str) -> None:
        """Show ``text`` (Markdown) on the page as prose: claims, verdicts and notes read as sentences that wrap;
        nothing for an empty one (a note with nothing to say)."""
        if text:
            _show_markdown(text)

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

    def finish(self) -> None:
        """Record the provenance and the wall time since :func:`start`, and show them as a table in words (hashes cut
        to 12 characters on the page; whole in ``metrics.json`` and ``tables/provenance_{name}.csv``)."""
        record = {**provenance(self.cfg), "wall_seconds": round(time.perf_counter() - self.started, 2)}
        self.record(provenance=record, parameters=self.params.to_dict())
        link = log_link(self.name)
        if link:
            _show_markdown(link)
        _show_markdown("### Provenance")
        shown = {**record, "compute": {**record.get("compute", {})}}
        if "keras" not in sys.modules:  # the runner's placeholder would send the reader to this very table
            shown["compute"]["devices"] = "none: this notebook builds no Keras model"
        rows = pd.DataFrame(provenance_rows(shown), columns=["what", "value"])
        self.table(rows, f"provenance_{self.name}")


def start(namespace: Mapping[str, Any], notebook: str) -> Notebook:
    """Check the notebook's parameters and open its report folder (see the module docstring)."""
    values = parameter_values(namespace)
    params = resolve(values, source=f"the parameters of {notebook}")
    folder = Path(params.report.reports_dir) / params.report.experiment
    folder.mkdir(parents=True, exist_ok=True)
    route_logs()
    return Notebook(name=notebook, params=params, folder=folder)


# What a warning of the package means for the reader of a page, by the start of its message's
# pattern; the warning itself goes to the log file with the rest.
READER_NOTES = {
    r"exists: starting a new run from epoch 1 over it": (
        "A run folder was found from an earlier run that did not finish or had no checkpoint to continue "
        "from, so that run was trained again from epoch 1 and its old files replaced. The results on this "
        "page come from the new run only; nothing from the earlier attempt is mixed in."),
}


class _PageNotes(logging.Handler):
    """Shows a package warning on the page in words a reader can act on (:data:`READER_NOTES`)."""

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        note = next((text for pattern, text in READER_NOTES.items() if re.search(pattern, message)), None)
        if note is None:
            note = f"The run logged a warning (see the log file of this notebook): {message}"
        _show_markdown(f"**Note.** {note}")


def route_logs(level: int = logging.INFO) -> None:
    """Send the package's log records to the log channel (:mod:`arerec.console`) instead of the page's
    stderr, and show each warning on the page as a note that says what it means for the reader."""
    from arerec.console import ChannelHandler, log_path

    if log_path() is None and not _in_ipython():  # a script or a test: logging stays the caller's
        return
    package = logging.getLogger("arerec")
    for handler in [h for h in package.handlers if isinstance(h, (ChannelHandler, _PageNotes))]:
        package.removeHandler(handler)
    channel = ChannelHandler()
    channel.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    notes = _PageNotes(level=logging.WARNING)
    package.addHandler(channel)
    package.addHandler(notes)
    package.setLevel(level)
    package.propagate = False


def log_link(name: str) -> str | None:
    """A markdown line linking the notebook's log file (relative to its page), when the runner named one."""
    from arerec.console import log_path

    path = log_path()
    if path is None:
        return None
    relative = f"{path.parent.name}/{path.name}"
    return (f"Progress and per-epoch lines of this run are not on this page: they are in "
            f"[{relative}]({relative}) (also shown in the terminal of `make reproduce`).")


def _show(obj: Any) -> None:
    try:
        from IPython.display import display
    except ImportError:  # pragma: no cover - IPython comes with the kit
        return
    display(obj)


def _in_ipython() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return False
    return get_ipython() is not None


def _show_markdown(text: str) -> None:
    try:
        from IPython.display import Markdown
    except ImportError:  # pragma: no cover
        return
    _show(Markdown(text))


def _show_png(data: bytes) -> None:
    """Show a PNG saved at :data:`arerec.report.plots.DPI` at 100 CSS pixels per inch: as large as a 100-dpi figure."""
    try:
        from IPython.display import Image
    except ImportError:  # pragma: no cover
        return
    from arerec.report.plots import DPI

    width = int.from_bytes(data[16:20], "big")  # the PNG's IHDR: width, then height, as 4-byte integers
    _show(Image(data=data, format="png", width=round(width * 100 / DPI)))


def _close(fig) -> None:
    import matplotlib.pyplot as plt

    plt.close(fig)
