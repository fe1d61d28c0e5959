"""The index: ``reports/index.html`` and ``reports/README.md``, rebuilt from every experiment's ``metrics.json``.

Both come from Jinja2 templates (``arerec/report/templates/index.html.j2`` and ``README.md.j2``) over one data
structure, :class:`Index`: the experiments' overview, each experiment's headline (the paper's claims as verdicts
beside the headline figure and the verdict figure, the tuned headline, the search, the seed's run beside the
original's figures), and each experiment's reports, runs, figures, tables and provenance; a failed or unfinished
run is shown as such. Tables are :class:`pandas.DataFrame` rendered by the one renderer of
:mod:`arerec.report.tables` (HTML for the page, Markdown for the README); numbers by :mod:`arerec.report.formatting`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from arerec.files import write_text_atomic
from arerec.report import captions, formatting, names, verdicts
from arerec.report.metrics_json import read_metrics
from arerec.report.notebook import NOTEBOOKS
from arerec.report.tables import Link, to_html, to_markdown

# A figure the index shows, by what it shows: its file names, newest first (older builds named them otherwise).
FIGURE_FILES = {"headline": ("headline_test_metrics", "headline"), "verdicts": ("verdicts_differences", "verdicts")}
HEATMAPS = ("attention_heatmaps", "attention_pair")  # file name prefixes, newest first
PAGE_ANCHORS = {"headline": "The-headline-at-the-optimum", "verdicts": "Part-3:-the-paper's-claims-as-verdicts"}


@dataclass
class ExperimentReport:
    """What the index shows of one experiment folder."""

    name: str
    folder: Path
    metrics: dict[str, Any]

    @property
    def run(self) -> dict[str, Any]:
        return self.metrics.get("run", {})

    @property
    def status(self) -> str:
        status = self.run.get("status")
        if status == "ok":
            return "ok"
        if status == "failed":
            return f"FAILED in {self.run.get('failed_step')}: {self.run.get('error')}"
        if status == "running":
            return "INCOMPLETE: the run stopped before it finished"
        return "not run by the runner (notebooks run by hand)"

    @property
    def ok(self) -> bool:
        return self.run.get("status") == "ok"

    def notebooks(self) -> list[tuple[str, str | None, str | None, dict[str, Any]]]:
        """(name, html, ipynb, run entry) of every notebook with a report or a run entry."""
        entries = self.run.get("notebooks", {})
        rows = []
        for name in NOTEBOOKS:
            page, nb = f"{name}.html", f"{name}.ipynb"
            if name in entries or (self.folder / nb).is_file():
                rows.append((name, page if (self.folder / page).is_file() else None,
                             nb if (self.folder / nb).is_file() else None, entries.get(name, {})))
        return rows

    def files(self, sub: str, suffix: str) -> list[str]:
        return sorted(p.name for p in (self.folder / sub).glob(f"*{suffix}")) if (self.folder / sub).is_dir() else []

    def figure(self, what: str) -> str | None:
        """The file of the figure that shows ``what`` (:data:`FIGURE_FILES`), relative to the reports folder."""
        found = next((f for f in FIGURE_FILES[what] if (self.folder / "figures" / f"{f}.png").is_file()), None)
        return f"{self.name}/figures/{found}.png" if found else None

    @property
    def training(self) -> dict[str, Any]:
        return self.metrics.get("02_training", {})

    @property
    def parameters(self) -> dict[str, Any]:
        return self.run.get("parameters") or self.training.get("parameters", {})

    def parts(self) -> dict[str, str]:
        """What each part trained: epochs (the most trained, and the one chosen per run) and seeds."""
        training, params = self.training, self.parameters
        tune = params.get("validation_search") or {}
        limit = f" of at most {tune['max_epochs']}" if isinstance(tune, Mapping) and "max_epochs" in tune else ""
        parts: dict[str, str] = {}
        if training:
            seeds = training.get("schedule_seeds") or params.get("schedule_seeds") or []
            epochs = training.get("epochs", params.get("epochs"))
            parts["seed schedule"] = f"{_plural(epochs, 'epoch')}; {captions.seeds(seeds)}"
            arerec = [r for r in training.get("runs", []) if r.get("kind") == "ARERec" and r.get("protocol") == "clean"]
            if arerec:
                parts["tuned headline"] = (f"{_epochs_line(arerec, 'epochs_trained', limit)}; "
                                           f"{captions.seeds(training.get('seeds', []))}")
        ablation = self.metrics.get("03_ablation", {})
        if ablation.get("runs"):
            # 'epochs_trained' since the runs train to convergence; a build from before then recorded 'epochs'
            trained = "epochs_trained" if any("epochs_trained" in r for r in ablation["runs"]) else "epochs"
            parts["ablation"] = (f"{_epochs_line(ablation['runs'], trained, limit)}; "
                                 f"{captions.seeds(ablation.get('seeds', []))}")
        return parts

    def overview(self) -> dict[str, Any]:
        """The experiment's row of the index's overview table."""
        parts = self.parts()
        return {"experiment": self.name, "status": "ok" if self.ok else self.status.split(":")[0],
                "dataset": self.parameters.get("dataset", ""), "seed schedule": parts.get("seed schedule"),
                "tuned headline": parts.get("tuned headline"), "ablation": parts.get("ablation"),
                "k": self.training.get("k"), "wall time": formatting.duration(self.run.get("seconds")),
                "commit": _commit(self.run.get("git", {}))}


def _plural(n: Any, word: str) -> str:
    if n is None:
        return formatting.MISSING
    return f"{int(n)} {word}{'' if int(n) == 1 else 's'}"


def _epochs_line(runs: Sequence[Mapping[str, Any]], trained: str, limit: str) -> str:
    """'trained up to 5 epochs of at most 8; chosen epochs 3–4' from runs with a best_epoch."""
    epochs = [int(r[trained]) for r in runs if r.get(trained) is not None]
    chosen = sorted({int(r["best_epoch"]) for r in runs if r.get("best_epoch") is not None})
    line = f"trained up to {_plural(max(epochs), 'epoch')}{limit}" if epochs else f"epochs {formatting.MISSING}"
    if chosen:
        line += f"; chosen epoch {chosen[0]}" if len(chosen) == 1 else f"; chosen epochs {chosen[0]}–{chosen[-1]}"
    return line


def _commit(git: Mapping[str, Any]) -> str:
    commit = str(git.get("commit", "unknown"))
    short = formatting.short_hash(commit) if len(commit) == 40 else commit
    return short + (" (with uncommitted changes)" if git.get("dirty") else "")


def run_epochs(exp: ExperimentReport) -> list[dict[str, Any]]:
    """One row per (part, model or variant): its seeds, the epochs each run trained and the epoch chosen."""
    rows = []
    parts = (("tuned headline", [r for r in exp.training.get("runs", []) if r.get("kind") == "ARERec"],
              "model", "epochs_trained"),
             ("ablation", exp.metrics.get("03_ablation", {}).get("runs", []), "variant", "epochs_trained"))
    for part, runs, key, trained in parts:
        for name in dict.fromkeys(r.get(key, r.get("model")) for r in runs):
            mine = [r for r in runs if r.get(key, r.get("model")) == name]
            rows.append({"part": part, "model or variant": names.model(name),
                         "seed of each run": ", ".join(str(int(r["seed"])) for r in mine if r.get("seed") is not None),
                         "epochs trained per run": ", ".join(str(int(r[trained])) for r in mine
                                                             if r.get(trained) is not None),
                         "chosen epoch per run": ", ".join(str(int(r["best_epoch"])) for r in mine
                                                           if r.get("best_epoch") is not None)})
    return rows


def adds_over(exp: ExperimentReport, base: ExperimentReport) -> str | None:
    """One line saying what ``exp``'s parameters add to or change from ``base``'s (None when nothing).

    Nested settings are compared key by key, so a changed leaf is named by its dotted path
    (``validation_search.n_trials: 4 → 35``); a top-level key that one side lacks (a build older than the key) is
    not a difference."""
    mine, theirs = exp.parameters, base.parameters
    said: list[str] = []
    for key in sorted(set(mine) & set(theirs)):
        if key not in ("experiment", "reports_dir"):
            _differences(key, theirs[key], mine[key], said)
    return "; ".join(said) or None


def _added_dropped(added: Sequence[str], dropped: Sequence[str]) -> str:
    return "; ".join(([f"+ {', '.join(added)}"] if added else []) + ([f"− {', '.join(dropped)}"] if dropped else []))


def _differences(path: str, a: Any, b: Any, said: list[str]) -> None:
    """Append to ``said`` how ``b`` differs from ``a`` at ``path``: leaves as ``a → b``, lists and mappings as what
    was added (+) and dropped (−), nested mappings recursed into."""
    if a == b:
        return
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        change = _added_dropped([str(k) for k in b if k not in a], [str(k) for k in a if k not in b])
        if change:
            said.append(f"{path}: {change}")
        for k in a:
            if k in b:
                _differences(f"{path}.{k}", a[k], b[k], said)
    elif isinstance(a, list) and isinstance(b, list):
        change = _added_dropped([formatting.plain(v) for v in b if v not in a],
                                [formatting.plain(v) for v in a if v not in b])
        said.append(f"{path}: {change or f'[{formatting.plain(a)}] → [{formatting.plain(b)}]'}")  # another order
    else:
        said.append(f"{path}: {formatting.plain(a)} → {formatting.plain(b)}")


def collect(reports_dir: str | Path) -> list[ExperimentReport]:
    reports = Path(reports_dir)
    if not reports.is_dir():
        return []
    return [ExperimentReport(folder.name, folder, read_metrics(folder))
            for folder in sorted(reports.iterdir()) if (folder / "metrics.json").is_file()]


def _verdicts(exp: ExperimentReport) -> list[dict[str, Any]]:
    """The paper's claims as recorded by notebook 02 (03's region claim is judged there, in the one family), each
    with its verdict in a word and its numbers (:func:`arerec.report.verdicts.detail`)."""
    recorded = exp.training.get("verdicts")
    if isinstance(recorded, Mapping):  # an older metrics.json: {claim: entry}
        recorded = [{"claim": k, **v} if isinstance(v, Mapping) else {"claim": k, "verdict": v}
                    for k, v in recorded.items()]
    return [{"claim": v["claim"], "verdict": verdicts.short(v.get("verdict")), "detail": verdicts.detail(v)}
            for v in recorded or [] if isinstance(v, Mapping) and "claim" in v]


def search_budget(exp: ExperimentReport) -> int:
    """The trials each model's search had in ``exp`` (its ``02_training.search``), 0 without a search."""
    search = exp.training.get("search")
    budgets = [entry.get("n_trials") for entry in search.values() if isinstance(entry, Mapping)] \
        if isinstance(search, Mapping) else []
    return min((int(b) for b in budgets if isinstance(b, (int, float))), default=0)


def committed_source(exp: ExperimentReport) -> str | None:
    """The committed study's file ``exp`` retrained every model from (``params/optimum/<dataset>.yaml``) instead of
    searching; None when it searched (or recorded no search)."""
    search = exp.training.get("search")
    sources = {entry.get("source") for entry in search.values() if isinstance(entry, Mapping)} \
        if isinstance(search, Mapping) else set()
    return next(iter(sources)) if len(sources) == 1 and all(sources) and search_budget(exp) == 0 else None


def answer(experiments: Sequence[ExperimentReport]) -> ExperimentReport | None:
    """The experiment whose verdicts are the kit's answer: of those that finished with verdicts, the one that
    gave every model the largest search (``full``'s 35 trials over the default's 4); None when none has."""
    judged = [e for e in experiments if e.ok and _verdicts(e) and search_budget(e) > 0]
    return max(judged, key=search_budget, default=None)


# --------------------------------------------------------------------------------------------
# The one data structure both templates render
# --------------------------------------------------------------------------------------------
@dataclass
class Figure:
    """A figure the index shows: its PNG, and the page (with an anchor) it comes from."""

    title: str
    src: str
    page: str


@dataclass
class Headline:
    """What the index shows of one experiment's results: the claims, the figures and the tables behind them."""

    name: str
    title: str
    is_answer: bool
    searched: str
    verdicts: list[dict[str, Any]]
    figures: list[Figure]
    tables: list[tuple[str, str, pd.DataFrame]] = field(default_factory=list)  # (heading, prose, table)


@dataclass
class Experiment:
    """What the index shows of one experiment folder: its status, its reports and files, its provenance."""

    name: str
    status: str
    ok: bool
    adds: str | None
    reports: pd.DataFrame
    tables: list[tuple[str, str, pd.DataFrame]]
    heatmaps: list[str]
    figures: list[Link]
    csvs: list[Link]
    provenance: pd.DataFrame | None
    parameters: str
    metrics: Link


@dataclass
class Index:
    """The index page and ``reports/README.md``: one structure, two templates."""

    rebuild: str
    overview: pd.DataFrame
    failed: list[str]
    headlines: list[Headline]
    experiments: list[Experiment]


REBUILD = ("Built by `make reproduce PARAMS=<experiment>` (python -m arerec report run), which rebuilds "
           "reports/<experiment>/ and this index (reports/index.html and reports/README.md) from params/ and the "
           "data; other folders here, such as reports/bench/ and reports/compare/, come from other commands and "
           "are not rebuilt by it.")


def _summary(rows: Sequence[Mapping[str, Any]], protocol: str, k: Any) -> pd.DataFrame:
    """One protocol's rows of a recorded summary (mean and CI per metric), for a table with intervals."""
    frame = pd.DataFrame([r for r in rows if r.get("protocol", protocol) == protocol])
    metrics = [m for m in (f"ndcg@{k}", f"std_ndcg@{k}", "rmse", "mae", f"hr@{k}") if m in frame]
    keep = ["model", *(c for m in metrics for c in (m, f"{m}_ci") if c in frame), *(["n"] if "n" in frame else [])]
    return frame[keep] if len(frame) else frame


def _chosen(training: Mapping[str, Any], source: str | None = None) -> str:
    """How ARERec's configuration was chosen: its label, the selection metric and the trials (or an older grid), or
    the committed study's file (``source``) it was retrained from."""
    chosen = training.get("chosen") or {}
    search = training.get("search")
    entry = search.get("arerec") if isinstance(search, Mapping) else None
    trials = entry.get("trials") if isinstance(entry, Mapping) else None
    if source:
        tried = f"no search here: the committed study's choice, read from {source}"
    elif isinstance(trials, list) and isinstance(entry, Mapping):
        picked = entry.get("chosen_trial")
        tried = (f"trial {picked} of {_plural(len(trials), 'Optuna trial')}, the smallest model within "
                 f"{entry['choose_within']:g} of the best" if picked is not None and entry.get("choose_within")
                 else f"the best of {_plural(len(trials), 'Optuna trial')}")
    else:
        tried = f"{_plural(len(training.get('tuning', [])), 'configuration')} tried"
    metric = chosen.get("selection_metric", formatting.MISSING)
    return (f"ARERec's configuration, chosen on validation: `{chosen.get('label', formatting.MISSING)}` (selection: "
            f"{names.metric(metric) or metric}; {tried}).")


def _search(search: Any, source: str | None = None) -> pd.DataFrame:
    """The hyper-parameter search per model (``02_training.search``); empty when not recorded (older runs). Retrained
    from a committed study (``source``), each model's chosen configuration alone: no trials ran here."""
    rows: list[dict[str, Any]] = []
    for model, entry in (search.items() if isinstance(search, Mapping) else []):
        if not isinstance(entry, Mapping):
            continue
        if source:
            rows.append({"model": names.model(model), "configuration": formatting.plain(entry.get("chosen"))})
            continue
        trials, edges = entry.get("trials"), entry.get("edges")
        rows.append({"model": names.model(model), "trials": len(trials) if isinstance(trials, list) else trials,
                     "budget (trials)": entry.get("n_trials"), "chosen": formatting.plain(entry.get("chosen")),
                     "chosen values at an edge of their range": formatting.plain(edges) if edges else "none"})
    return pd.DataFrame(rows)


def _uniformity(exp: ExperimentReport) -> pd.DataFrame:
    summary = exp.metrics.get("04_attention", {}).get("summary", {})
    if not (isinstance(summary, Mapping) and summary and all(isinstance(v, Mapping) for v in summary.values())):
        return pd.DataFrame()
    per_head = {"normalised entropy per head (1 = uniform)": "normalised_entropy_per_head",
                "share of rows with max weight > 2/n": "share_peaked_per_head"}
    return pd.DataFrame([{"model": name.replace("_", " "), **{words: ", ".join(formatting.fixed(x, 3) for x in
                                                                                v.get(key, []))
                                                              for words, key in per_head.items()}}
                         for name, v in summary.items()])


def _results_tables(exp: ExperimentReport) -> list[tuple[str, str, pd.DataFrame]]:
    """The tables under an experiment's headline: the tuned headline, the search, the seed's run, the schedule's rows
    per protocol and the attention's distance from uniform; each (heading, prose, table), empty ones left out."""
    training, k = exp.training, exp.training.get("k")
    seeds, source = captions.seeds(training.get("seeds", [])), committed_source(exp)
    search = (("Configurations: the committed study's optimum", str(training.get("search_source") or ""))
              if source else ("Hyper-parameter search (validation split, clean protocol)",
                              "Every model gets the same budget; a chosen value at an edge of its range may lie "
                              "beyond it."))
    out = [("At the validation optimum (clean protocol)",
            f"{_chosen(training, source)} Test metrics at each run's chosen epoch, mean ± 95% CI over {seeds}; "
            "baselines tuned on the same validation split.", _summary(training.get("headline_summary", []), "clean", k)),
           (*search, _search(training.get("search"), source)),
           (f"The seed's run reproduced (reference protocol, {_plural(training.get('epochs'), 'epoch')} at lr 1e-4, "
            f"dense Adam, {captions.seeds(training.get('schedule_seeds', []))})",
            "Ours per epoch (the mean over seeds) beside the original code's own figures on the same data "
            "([what the original code does, §7](../docs/reference.md#7-the-originals-figures-on-ml-100k)).",
            pd.DataFrame(training.get("seed_run", [])))]
    schedule = training.get("seed_schedule_summary", [])
    out += [(f"At the seed's schedule, {protocol} protocol", "", _summary(schedule, str(protocol), k))
            for protocol in dict.fromkeys(row.get("protocol") for row in schedule)]
    out.append(("Attention: how far from uniform", "", _uniformity(exp)))
    return [(heading, prose, table) for heading, prose, table in out if len(table)]


def _headline(exp: ExperimentReport, kit: ExperimentReport | None) -> Headline | None:
    if not exp.training and not _verdicts(exp):
        return None
    budget = search_budget(exp)
    source = committed_source(exp)
    searched = (f"{_plural(budget, 'trial')} per model" if budget else
                f"no search: every model retrained at the committed study's optimum, {source}" if source else
                "no Optuna search: an older build")
    is_answer = kit is not None and exp.name == kit.name
    if is_answer:
        title = f"The kit's answer: {exp.name} ({searched})"
    elif kit is not None and budget:
        title = f"Headline: {exp.name} ({searched}); a smaller search than {kit.name}'s, whose verdicts are the kit's answer"
    else:
        title = f"Headline: {exp.name} ({searched})"
    figures = [Figure(words, src, f"{exp.name}/02_training.html#{PAGE_ANCHORS[what]}")
               for what, words in (("headline", "Test metrics at the validation optimum (mean ± 95% CI)"),
                                   ("verdicts", "The claims' differences, over seeds and over users"))
               if (src := exp.figure(what))]
    return Headline(exp.name, title, is_answer, searched, _verdicts(exp), figures, tables=_results_tables(exp))


def _reports(exp: ExperimentReport) -> pd.DataFrame:
    """One row per notebook: links to its page, notebook and log, its status, wall time and error."""
    rows = []
    for nb, page, ipynb, entry in exp.notebooks():
        log = entry.get("log") if entry.get("log") and (exp.folder / str(entry["log"])).is_file() else None
        links = {column: Link(label, f"{exp.name}/{f}") if f else formatting.MISSING
                 for f, column, label in ((page, "report", "report"), (ipynb, "executed notebook", "ipynb"),
                                          (log, "log", "log"))}
        rows.append({"notebook": nb, **links, "status": entry.get("status", formatting.MISSING),
                     "wall time": formatting.duration(entry.get("seconds")), "error": entry.get("error", "")})
    return pd.DataFrame(rows)


def _compute(compute: Mapping[str, Any]) -> str:
    if not compute:
        return "tensorflow (not recorded: the only backend when this ran)"
    devices = compute.get("devices")
    return (f"{compute.get('keras_backend')}, distribution {compute.get('distribution_setting', 'none')}"
            + (f", devices: {formatting.plain(devices)}" if devices else ""))


def _provenance(run: Mapping[str, Any]) -> pd.DataFrame | None:
    """The experiment's provenance as (what, value) rows; None without a runner record (notebooks run by hand)."""
    if not run:
        return None
    data, machine, plain = run.get("data", {}), run.get("machine", {}), formatting.plain
    params = " + ".join(run.get("params_files", [])) + (f"; --set {plain(run['overrides'])}"
                                                        if run.get("overrides") else "")
    rows = [("params files", params), ("data version", data.get("data_version")),
            ("ratings file", f"{plain(data.get('ratings_file'))} ({plain(data.get('rows'))} rows)"),
            ("ratings SHA-256", data.get("ratings_sha256")), ("data source", data.get("source")),
            ("seed / split seed", f"{plain(run.get('seed'))} / {plain(run.get('split_seed'))}"),
            ("git commit", run.get("git", {}).get("commit")),
            ("uncommitted changes", run.get("git", {}).get("dirty")),
            ("machine", f"{plain(machine.get('cpu'))} ({plain(machine.get('cpu_count'))} cores), "
                        f"GPU: {plain(machine.get('gpus'))}"),
            ("Keras backend", _compute(run.get("compute", {}))),
            ("packages", ", ".join(f"{k} {v}" for k, v in run.get("packages", {}).items()) or formatting.MISSING),
            ("started / finished (UTC)", f"{plain(run.get('started_at'))} / {plain(run.get('finished_at'))}"),
            ("total wall time", formatting.duration(run.get("seconds")))]
    return pd.DataFrame(rows, columns=["what", "value"])


def _ablation(exp: ExperimentReport) -> pd.DataFrame:
    summary = exp.metrics.get("03_ablation", {}).get("summary") or []
    frame = pd.DataFrame(summary)
    keep = [c for c in ("variant", "n", "ndcg", "ndcg_ci", "rmse", "rmse_ci") if c in frame]
    return frame[keep].rename(columns={"ndcg": f"ndcg@{exp.training.get('k', 'k')}",
                                       "ndcg_ci": f"ndcg@{exp.training.get('k', 'k')}_ci"}) if len(frame) else frame


def _experiment(exp: ExperimentReport, base: ExperimentReport | None) -> Experiment:
    name = exp.name
    adds = None
    if base is not None and base.name != name:
        adds = adds_over(exp, base) or "nothing: the same parameters"
    tables = [("Runs: seeds and epochs", "Each run trains until validation stops improving (early stopping) and is "
               "scored on test at the epoch chosen on validation.", pd.DataFrame(run_epochs(exp))),
              ("Ablation (ARERec's tuned configuration, clean protocol; mean ± 95% CI over seeds)", "", _ablation(exp))]
    figures = exp.files("figures", ".png")
    heatmaps = next(([f"{name}/figures/{f}" for f in figures if f.startswith(prefix)] for prefix in HEATMAPS
                     if any(f.startswith(prefix) for f in figures)), [])
    return Experiment(
        name=name, status=exp.status, ok=exp.ok, adds=adds, reports=_reports(exp),
        tables=[t for t in tables if len(t[2])], heatmaps=heatmaps,
        figures=[Link(f, f"{name}/figures/{f}") for f in figures],
        csvs=[Link(f, f"{name}/tables/{f}") for f in exp.files("tables", ".csv")],
        provenance=_provenance(exp.run), parameters=json.dumps(exp.run.get("parameters", {}), indent=1, sort_keys=True),
        metrics=Link("metrics.json", f"{name}/metrics.json"))


def index_data(experiments: Sequence[ExperimentReport]) -> Index:
    """The :class:`Index` of ``experiments``: the kit's answer first among the headlines."""
    base = next((e for e in experiments if e.name == "base"), None)
    kit = answer(experiments)
    headlines = [_headline(e, kit) for e in sorted(experiments, key=lambda e: e is not kit)]
    overview = pd.DataFrame([e.overview() for e in experiments])
    return Index(REBUILD, overview, [e.name for e in experiments if not e.ok], [h for h in headlines if h],
                 [_experiment(e, base) for e in experiments])


def _prose_html(text: str) -> str:
    """Escaped text with `code` spans and [text](href) links as HTML."""
    import html

    escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text, quote=False))
    return re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", r'<a href="\2">\1</a>', escaped)


def _html_table(frame: pd.DataFrame, name: str = "table", failed: Sequence[str] = ()) -> str:
    if frame.empty:
        return f"<p>{formatting.MISSING}</p>"
    rows = ["failed" if str(first) in failed else "" for first in frame.iloc[:, 0]]
    return to_html(frame, name=name, intervals=True, row_classes=rows)


def _markdown_table(frame: pd.DataFrame, *_: Any) -> str:
    """A Markdown table between blank lines."""
    return f"\n\n{formatting.MISSING if frame.empty else to_markdown(frame, intervals=True)}\n\n"


def render(template: str, data: Index) -> str:
    """``template`` (``index.html.j2`` or ``README.md.j2``, in ``arerec/report/templates``) over ``data``: tables through
    the one renderer (:mod:`arerec.report.tables`), HTML escaped by Jinja2's autoescape."""
    from jinja2 import Environment, PackageLoader
    from markupsafe import Markup, escape

    is_html = template.endswith(".html.j2")
    env = Environment(loader=PackageLoader("arerec.report", "templates"), autoescape=is_html, trim_blocks=True,
                      lstrip_blocks=True, keep_trailing_newline=True)
    if is_html:
        env.filters["table"] = lambda frame, *args: Markup(_html_table(frame, *args))
        env.filters["prose"] = lambda text: Markup(_prose_html(str(text)))
        env.filters["link"] = lambda link: Markup(f'<a href="{escape(link.href)}">{escape(link.text)}</a>')
    else:
        env.filters["table"] = _markdown_table
    text = env.get_template(template).render(data=data)
    return text if is_html else re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"  # one blank line at most


def build_index(reports_dir: str | Path) -> tuple[Path, Path]:
    """Write ``index.html`` and ``README.md`` in ``reports_dir`` from every experiment's metrics.json."""
    reports = Path(reports_dir)
    reports.mkdir(parents=True, exist_ok=True)
    data = index_data(collect(reports))
    index, readme = reports / "index.html", reports / "README.md"
    write_text_atomic(index, render("index.html.j2", data))
    write_text_atomic(readme, render("README.md.j2", data))
    return index, readme
