"""The index: ``reports/index.html`` and ``reports/README.md``, rebuilt from every experiment's ``metrics.json``.

They show the headline (the paper's claims as verdicts, the tuned headline, the seed's run beside
the original's figures), link every report, figure and table, and record each experiment's
provenance; a failed or unfinished run is shown as such.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from arerec.evaluate.stats import format_mean_ci
from arerec.files import write_text_atomic
from arerec.report.metrics_json import read_metrics
from arerec.report.notebook import NOTEBOOKS
from arerec.report.tables import readable


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

    @property
    def training(self) -> dict[str, Any]:
        return self.metrics.get("02_training", {})

    def headline_table(self) -> list[dict[str, Any]]:
        """The rows of notebook 02's headline table: one per model, 'mean ± CI' per metric and protocol.

        metrics.json sorts keys, so the column order is recorded beside the rows (``headline_columns``).
        """
        rows = self.training.get("headline_table", [])
        order = self.training.get("headline_columns") or (["model"] if rows and "model" in rows[0] else [])
        return [{**{c: row.get(c) for c in order}, **{c: v for c, v in row.items() if c not in order}} for row in rows]

    @property
    def parameters(self) -> dict[str, Any]:
        return self.run.get("parameters") or self.training.get("parameters", {})

    def parts(self) -> dict[str, str]:
        """What each part trained: epochs (the most trained, and the one chosen per run) and seeds."""
        training, params = self.training, self.parameters
        parts: dict[str, str] = {}
        if training:
            seeds = training.get("schedule_seeds") or params.get("schedule_seeds") or []
            parts["seed schedule"] = f"{_plural(training.get('epochs', params.get('epochs')), 'epoch')}; {_seeds(seeds)}"
            arerec = [r for r in training.get("runs", []) if r.get("kind") == "ARERec" and r.get("protocol") == "clean"]
            if arerec:
                tune = params.get("validation_search") or {}
                limit = f" of at most {tune['max_epochs']}" if isinstance(tune, Mapping) and "max_epochs" in tune else ""
                parts["tuned headline"] = (f"{_epochs_line(arerec, 'epochs_trained', limit)}; "
                                           f"{_seeds(training.get('seeds', []))}")
        ablation = self.metrics.get("03_ablation", {})
        if ablation.get("runs"):
            tune = params.get("validation_search") or {}
            limit = f" of at most {tune['max_epochs']}" if isinstance(tune, Mapping) and "max_epochs" in tune else ""
            parts["ablation"] = f"{_epochs_line(ablation['runs'], 'epochs', limit)}; {_seeds(ablation.get('seeds', []))}"
        return parts

    def headline(self) -> dict[str, Any]:
        parts = self.parts()
        return {
            "experiment": self.name,
            "status": "ok" if self.ok else self.status.split(":")[0],
            "dataset": self.parameters.get("dataset", ""),
            "seed schedule": parts.get("seed schedule"),
            "tuned headline": parts.get("tuned headline"),
            "ablation": parts.get("ablation"),
            "k": self.training.get("k"),
            "wall time": _duration(self.run.get("seconds")),
            "commit": _commit(self.run.get("git", {})),
        }


def _plural(n: Any, word: str) -> str:
    if n is None:
        return "–"
    n = int(n)
    return f"{n} {word}{'' if n == 1 else 's'}"


def _seeds(seeds: Sequence[Any]) -> str:
    seeds = [int(s) for s in seeds]
    if not seeds:
        return "seeds –"
    return f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {', '.join(map(str, seeds))}"


def _epochs_line(runs: Sequence[Mapping[str, Any]], trained: str, limit: str) -> str:
    """'trained up to 5 epochs of at most 8; chosen 3-4' from runs with a best_epoch (per run: :func:`run_epochs`)."""
    epochs = [int(r[trained]) for r in runs if r.get(trained) is not None]
    chosen = sorted({int(r["best_epoch"]) for r in runs if r.get("best_epoch") is not None})
    line = f"trained up to {_plural(max(epochs), 'epoch')}{limit}" if epochs else "epochs –"
    if chosen:
        line += f"; chosen epoch {chosen[0]}" if len(chosen) == 1 else f"; chosen epochs {chosen[0]}–{chosen[-1]}"
    return line


def run_epochs(exp: ExperimentReport) -> list[dict[str, Any]]:
    """One row per (part, model or variant): its seeds, the epochs each run trained and the epoch chosen."""
    rows = []
    parts = (("tuned headline", [r for r in exp.training.get("runs", []) if r.get("kind") == "ARERec"],
              "model", "epochs_trained"),
             ("ablation", exp.metrics.get("03_ablation", {}).get("runs", []), "variant", "epochs"))
    for part, runs, key, trained in parts:
        for name in dict.fromkeys(r.get(key, r.get("model")) for r in runs):
            mine = [r for r in runs if r.get(key, r.get("model")) == name]
            rows.append({"part": part, "model or variant": name,
                         "seeds": ", ".join(str(int(r["seed"])) for r in mine if r.get("seed") is not None),
                         "epochs trained per run": ", ".join(str(int(r[trained])) for r in mine if r.get(trained) is not None),
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


def _differences(path: str, a: Any, b: Any, said: list[str]) -> None:
    """Append to ``said`` how ``b`` differs from ``a`` at ``path``: leaves as ``a → b``, lists and mappings as what
    was added (+) and dropped (−), nested mappings recursed into."""
    if a == b:
        return
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        added, dropped = [str(k) for k in b if k not in a], [str(k) for k in a if k not in b]
        if added or dropped:
            said.append(f"{path}: " + "; ".join(([f"+ {', '.join(added)}"] if added else [])
                                                + ([f"− {', '.join(dropped)}"] if dropped else [])))
        for k in a:
            if k in b:
                _differences(f"{path}.{k}", a[k], b[k], said)
    elif isinstance(a, list) and isinstance(b, list):
        added = [_short(v) for v in b if v not in a]
        dropped = [_short(v) for v in a if v not in b]
        said.append(f"{path}: " + ("; ".join(([f"+ {', '.join(added)}"] if added else [])
                                             + ([f"− {', '.join(dropped)}"] if dropped else []))
                                   or f"{_short(a)} → {_short(b)}"))  # the same values in another order
    else:
        said.append(f"{path}: {_short(a)} → {_short(b)}")


def _short(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={_short(v)}" for k, v in value.items()) or "{}"
    if isinstance(value, list):
        return "[" + ", ".join(_short(v) for v in value) + "]"
    return str(value)


def collect(reports_dir: str | Path) -> list[ExperimentReport]:
    reports = Path(reports_dir)
    if not reports.is_dir():
        return []
    return [ExperimentReport(folder.name, folder, read_metrics(folder))
            for folder in sorted(reports.iterdir()) if (folder / "metrics.json").is_file()]


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _v(value: Any) -> str:
    """A recorded value as text; '–' for one not recorded (never a Python None)."""
    if value is None or value == []:
        return "–"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)):
        return "–"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def _commit(git: Mapping[str, Any]) -> str:
    commit = str(git.get("commit", "unknown"))
    short = commit[:10] if len(commit) == 40 else commit
    return short + (" (with uncommitted changes)" if git.get("dirty") else "")


def build_index(reports_dir: str | Path) -> tuple[Path, Path]:
    """Write ``index.html`` and ``README.md`` in ``reports_dir`` from every experiment's metrics.json."""
    reports = Path(reports_dir)
    reports.mkdir(parents=True, exist_ok=True)
    experiments = collect(reports)
    index, readme = reports / "index.html", reports / "README.md"
    write_text_atomic(index, _index_html(experiments))
    write_text_atomic(readme, _readme(experiments))
    return index, readme


def _html_table(rows: Sequence[Mapping[str, Any]], classes: Sequence[str] | None = None) -> str:
    """Rows as an HTML table, each column formatted for reading (:func:`arerec.report.tables.readable`)."""
    if not rows:
        return "<p>–</p>"
    cells = readable(pd.DataFrame([dict(r) for r in rows], columns=list(rows[0])), words=False)
    header = "".join(f"<th>{html.escape(str(c))}</th>" for c in cells.columns)
    body = []
    for n, row in enumerate(cells.itertuples(index=False)):
        css = f' class="{classes[n]}"' if classes and classes[n] else ""
        body.append(f"<tr{css}>" + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>")
    return f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _mean_ci(row: Mapping[str, Any], metric: str) -> str:
    mean, half = row.get(metric), row.get(f"{metric}_ci")
    return "–" if mean is None else format_mean_ci(float(mean), float("nan") if half is None else float(half))


def _verdicts(exp: ExperimentReport) -> list[dict[str, Any]]:
    """The paper's claims as verdicts: notebook 02's (the tuned headline) then 03's (the ablation).

    Each entry has claim, metric, a, b and verdict, and either mean_diff, ci and n (judged) or why (left
    out); older records also carry a 'numbers' sentence. A missing side is never shown as a Python None.
    """
    entries = _as_list(exp.training.get("verdicts"))  # 03's region claim is judged in 02, in the one family
    return [{**v, "detail": verdict_detail(v)} for v in entries if isinstance(v, Mapping) and "claim" in v]


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, Mapping):  # {claim: entry}
        return [{"claim": k, **v} if isinstance(v, Mapping) else {"claim": k, "verdict": v} for k, v in value.items()]
    return list(value or [])


def verdict_detail(v: Mapping[str, Any]) -> str:
    """The numbers behind a verdict, or why it was left out, in words."""
    a, b = (_side(v.get(s)) for s in ("a", "b"))
    if v.get("mean_diff") is not None:
        mean, half, n = float(v["mean_diff"]), v.get("ci"), v.get("n")
        interval = (f" ± {float(half):.4f} (95% CI" if half is not None and half == half else " (no interval")
        seeds = f", {n} seed{'s' if n != 1 else ''})" if n is not None else ")"
        means = (f"{a} {float(v['mean_a']):.4f} vs {b} {float(v['mean_b']):.4f}; "
                 if v.get("mean_a") is not None and v.get("mean_b") is not None else f"{a} − {b}: ")
        text = f"{means}paired difference in {v.get('metric', '')} {mean:+.4f}{interval}{seeds}"
        test = v.get("user_test")
        if isinstance(test, Mapping) and test.get("p_value") is not None:
            holm = f", Holm p {float(test['p_holm']):.2g}" if test.get("p_holm") is not None else ""
            text += (f"; over {test.get('n_users')} users {float(test['mean_diff']):+.4f} (95% CI "
                     f"{float(test['ci_low']):+.4f} to {float(test['ci_high']):+.4f}), Wilcoxon p "
                     f"{float(test['p_value']):.2g}{holm}")
        return text
    why = str(v.get("why") or v.get("numbers") or "")
    return why.replace("no rows for None", "this experiment has no such run").replace("None", "–")


def _side(value: Any) -> str:
    return "–" if value is None else str(value)


def _summary_rows(summary: Sequence[Mapping[str, Any]], protocol: str, k: Any) -> list[dict[str, Any]]:
    """One protocol's rows of a recorded summary (mean and CI per metric) as 'mean ± CI' cells."""
    rows = []
    for row in summary:
        if row.get("protocol", protocol) != protocol:
            continue
        rows.append({"model": row["model"], f"faithful NDCG@{k}": _mean_ci(row, f"ndcg@{k}"),
                     f"faithful HR@{k}": _mean_ci(row, f"hr@{k}"), f"std NDCG@{k}": _mean_ci(row, f"std_ndcg@{k}"),
                     "RMSE": _mean_ci(row, "rmse"), "MAE": _mean_ci(row, "mae"), "seeds": row.get("n")})
    return rows


def search_budget(exp: ExperimentReport) -> int:
    """The trials each model's search had in ``exp`` (its ``02_training.search``), 0 without a search."""
    search = exp.training.get("search")
    budgets = [entry.get("n_trials") for entry in search.values() if isinstance(entry, Mapping)] \
        if isinstance(search, Mapping) else []
    return min((int(b) for b in budgets if isinstance(b, (int, float))), default=0)


def answer(experiments: Sequence[ExperimentReport]) -> ExperimentReport | None:
    """The experiment whose verdicts are the kit's answer: of those that finished with verdicts, the one that
    gave every model the largest search (``full``'s 35 trials over the default's 4); None when none has."""
    judged = [e for e in experiments if e.ok and _verdicts(e) and search_budget(e) > 0]
    return max(judged, key=search_budget, default=None)


def _headline_html(exp: ExperimentReport, answer_of: ExperimentReport | None = None) -> str:
    training, k = exp.training, exp.training.get("k")
    if not training and not _verdicts(exp):
        return ""
    budget = search_budget(exp)
    searched = f" ({_plural(budget, 'trial')} per model)" if budget else " (no Optuna search: an older build)"
    if answer_of is not None and exp.name == answer_of.name:
        title = f"The kit's answer: {html.escape(exp.name)}{searched}"
    elif answer_of is not None and budget:
        title = (f"Headline: {html.escape(exp.name)}{searched}; a smaller search than "
                 f"{html.escape(answer_of.name)}'s, whose verdicts are the kit's answer")
    else:
        title = f"Headline: {html.escape(exp.name)}{searched}"
    parts = [f"<h2>{title}</h2>"]
    verdicts = _verdicts(exp)
    if verdicts:
        parts.append("<h3>The paper's claims</h3><ul class='verdicts'>" + "".join(
            f"<li><b>{html.escape(str(v['verdict']))}</b>: {html.escape(str(v['claim']))}"
            f"<br><span class='detail'>{html.escape(v['detail'])}</span></li>"
            for v in verdicts) + "</ul>")
    chosen = training.get("chosen", {})
    summary = training.get("headline_summary", [])
    if summary:
        parts.append(f"<h3>At the validation optimum (clean protocol)</h3><p>Chosen on validation: "
                     f"<b>{html.escape(str(chosen.get('label', '–')))}</b> (selection: "
                     f"{html.escape(str(chosen.get('selection_metric', '–')))}; "
                     f"{_tried(training)}). Test metrics at each run's chosen "
                     f"epoch, mean ± 95% CI over {len(training.get('seeds', []))} seeds; baselines tuned on the "
                     "same validation split.</p>" + _html_table(_summary_rows(summary, "clean", k)))
    parts.append(_search_html(training.get("search")))
    seed_run = training.get("seed_run", [])
    if seed_run:
        parts.append(f"<h3>The seed's run reproduced (reference protocol, {_plural(training.get('epochs'), 'epoch')} "
                     f"at lr 1e-4, dense Adam, {_seeds(training.get('schedule_seeds', []))})</h3>"
                     "<p>Ours per epoch (the mean over seeds) beside the original code's own figures on the same data "
                     f"({_link('../docs/reference.md#7-the-originals-figures-on-ml-100k', 'what the original code does, §7')}).</p>" + _html_table(seed_run))
    schedule = training.get("seed_schedule_summary", [])
    for protocol in dict.fromkeys(row.get("protocol") for row in schedule):
        parts.append(f"<h3>At the seed's schedule, {html.escape(str(protocol))} protocol</h3>"
                     + _html_table(_summary_rows(schedule, protocol, k)))
    if not summary and not schedule:  # an older metrics.json: its one wide table
        parts.append(_html_table(exp.headline_table()) + f"<p>{html.escape(training.get('claims', ''))}</p>")
    uniformity = exp.metrics.get("04_attention", {}).get("summary", {})
    if isinstance(uniformity, Mapping) and all(isinstance(v, Mapping) for v in uniformity.values()) and uniformity:
        parts.append("<h3>Attention: how far from uniform</h3>" + _html_table([
            {"model": name, "normalised entropy per head (1 = uniform)": ", ".join(
                f"{x:.3f}" for x in v.get("normalised_entropy_per_head", [])),
             "share of rows with max weight > 2/n": ", ".join(f"{x:.3f}" for x in v.get("share_peaked_per_head", []))}
            for name, v in uniformity.items()]))
    return "".join(parts)


def _tried(training: Mapping[str, Any]) -> str:
    """How the chosen configuration was found: the ARERec study's trials, or (an older metrics.json) its grid."""
    search = training.get("search")
    entry = search.get("arerec") if isinstance(search, Mapping) else None
    trials = entry.get("trials") if isinstance(entry, Mapping) else None
    if isinstance(trials, list):
        return f"the best of {_plural(len(trials), 'Optuna trial')}"
    return f"{_plural(len(training.get('tuning', [])), 'configuration')} tried"


def _search_html(search: Any) -> str:
    """The hyper-parameter search per model (``02_training.search``: trials, n_trials, chosen, edges); '' if
    not recorded (older runs)."""
    if not isinstance(search, Mapping) or not search:
        return ""
    rows = []
    for model, entry in search.items():
        if not isinstance(entry, Mapping):
            continue
        trials = entry.get("trials")
        edges = entry.get("edges")
        rows.append({"model": model,
                     "trials": len(trials) if isinstance(trials, list) else trials,
                     "budget (trials)": entry.get("n_trials"),
                     "chosen": _short(entry.get("chosen")),
                     "chosen values at an edge of their range": (", ".join(map(str, edges)) if isinstance(edges, list)
                                                                 else _short(edges) if edges else "") or "none"})
    return ("<h3>Hyper-parameter search (validation split, clean protocol)</h3>"
            "<p>Every model gets the same budget; a chosen value at an edge of its range may lie beyond it.</p>"
            + _html_table(rows)) if rows else ""


def _link(href: str, text: str) -> str:
    return f'<a href="{html.escape(href)}">{html.escape(text)}</a>'


def _experiment_html(exp: ExperimentReport, base: ExperimentReport | None = None) -> str:
    run, name = exp.run, exp.name
    parts = [f'<h2 id="{html.escape(name)}">{html.escape(name)}</h2>',
             f'<p class="{"ok" if exp.ok else "failed"}">Status: {html.escape(exp.status)}</p>']
    if base is not None and base.name != name:
        adds = adds_over(exp, base)
        parts.append(f"<p class='adds'>What {html.escape(name)} adds over {html.escape(base.name)}: "
                     f"{html.escape(adds or 'nothing: the same parameters')}.</p>")
    rows = []
    for nb, page, ipynb, entry in exp.notebooks():
        log = entry.get("log") if (exp.folder / str(entry.get("log", ""))).is_file() and entry.get("log") else None
        links = " · ".join(_link(f"{name}/{f}", label) for f, label in ((page, "report"), (ipynb, "notebook"),
                                                                         (log, "log")) if f)
        rows.append(f"<tr><td>{html.escape(nb)}</td><td>{links or '–'}</td>"
                    f"<td>{html.escape(entry.get('status', '–'))}</td><td>{_duration(entry.get('seconds'))}</td>"
                    f"<td>{html.escape(entry.get('error', ''))}</td></tr>")
    parts.append("<h3>Reports</h3><table><thead><tr><th>notebook</th><th>links</th><th>status</th>"
                 f"<th>wall time</th><th>error</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")
    epochs = run_epochs(exp)
    if epochs:
        parts.append("<h3>Runs: seeds and epochs</h3><p>Each run trains until validation stops improving "
                     "(early stopping) and is scored on test at the epoch chosen on validation.</p>"
                     + _html_table(epochs))
    ablation = exp.metrics.get("03_ablation", {}).get("summary")
    if ablation:
        parts.append("<h3>Ablation (tuned configuration, clean protocol; mean ± 95% CI over seeds)</h3>" + _html_table(
            [{"variant": v["variant"], "seeds": v.get("n"),
              "faithful NDCG@k": _mean_ci(v, "ndcg"), "RMSE": _mean_ci(v, "rmse")} for v in ablation]))
    figures = exp.files("figures", ".png")
    heatmaps = [f for f in figures if f.startswith("attention_pair")]
    if heatmaps:
        parts.append("<h3>Attention heatmaps (relative attention, 1 = uniform)</h3><div class='heatmaps'>" + "".join(
            f'<a href="{name}/figures/{f}"><img src="{name}/figures/{f}" alt="{f}"></a>' for f in heatmaps) + "</div>")
    if figures:
        parts.append("<h3>Figures</h3><p>" + " · ".join(_link(f"{name}/figures/{f}", f) for f in figures) + "</p>")
    tables = exp.files("tables", ".csv")
    if tables:
        parts.append("<h3>Tables (CSV)</h3><p>" + " · ".join(_link(f"{name}/tables/{f}", f) for f in tables) + "</p>")
    parts.append("<h3>Provenance</h3>" + _provenance_html(run) + f"<p>{_link(f'{name}/metrics.json', 'metrics.json')}</p>")
    return "\n".join(parts)


def _compute(compute: Mapping[str, Any]) -> str:
    if not compute:
        return "tensorflow (not recorded: the only backend when this ran)"
    devices = compute.get("devices")
    return (f"{compute.get('keras_backend')}, distribution {compute.get('distribution_setting', 'none')}"
            + (f", devices: {', '.join(devices) if isinstance(devices, list) else devices}" if devices else ""))


def _provenance_html(run: Mapping[str, Any]) -> str:
    if not run:
        return "<p>No runner record: these notebooks were run by hand; each report ends with its own provenance.</p>"
    data, git = run.get("data", {}), run.get("git", {})
    machine = run.get("machine", {})
    rows = [
        ("params files", " + ".join(run.get("params_files", [])) + (f"; --set {run['overrides']}" if run.get("overrides") else "")),
        ("data version", data.get("data_version")),
        ("ratings file", f"{_v(data.get('ratings_file'))} ({_v(data.get('rows'))} rows)"),
        ("ratings SHA-256", data.get("ratings_sha256")),
        ("data source", data.get("source")),
        ("seed / split seed", f"{_v(run.get('seed'))} / {_v(run.get('split_seed'))}"),
        ("git commit", _commit(git)),
        ("machine", f"{_v(machine.get('cpu'))} ({_v(machine.get('cpu_count'))} cores), GPU: {_v(machine.get('gpus'))}"),
        ("Keras backend", _compute(run.get("compute", {}))),
        ("packages", ", ".join(f"{k} {v}" for k, v in run.get("packages", {}).items()) or "–"),
        ("started / finished", f"{_v(run.get('started_at'))} / {_v(run.get('finished_at'))}"),
        ("total wall time", _duration(run.get("seconds"))),
    ]
    table = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(_fmt(v))}</td></tr>" for k, v in rows)
    params = html.escape(json.dumps(run.get("parameters", {}), indent=1, sort_keys=True))
    return (f"<table class='kv'>{table}</table>"
            f"<details><summary>All parameters</summary><pre>{params}</pre></details>")


_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1em;font-size:.9em}
td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
thead th{background:#f2f2f2} .ok{color:#1a7f37} .failed,tr.failed td{color:#b42318;font-weight:600}
table.kv th{background:#f7f7f7;white-space:nowrap}
.heatmaps{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:8px}
.heatmaps img{width:100%;border:1px solid #ddd} p.adds{font-style:italic} ul.verdicts li{margin:.3em 0} .detail{color:#555;font-size:.9em}
pre{font-size:.8em;background:#f7f7f7;padding:.5em;overflow:auto}
"""


REBUILD = ("Built by `make reproduce PARAMS=<experiment>` (python -m arerec report run), which rebuilds "
           "reports/<experiment>/ and this index (reports/index.html and reports/README.md) from params/ and the "
           "data; other folders here, such as reports/bench/ and reports/compare/, come from other commands and "
           "are not rebuilt by it.")


def _code(text: str) -> str:
    """Escaped text with `backticked` spans as <code>."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def _base(experiments: Sequence[ExperimentReport]) -> ExperimentReport | None:
    return next((e for e in experiments if e.name == "base"), None)


def _index_html(experiments: Sequence[ExperimentReport]) -> str:
    headline = [e.headline() for e in experiments]
    classes = ["" if e.ok else "failed" for e in experiments]
    base, chosen = _base(experiments), answer(experiments)
    body = [
        "<h1>arerec-kit reports</h1>",
        f"<p>{_code(REBUILD)} HR@k and NDCG@k are the reference's faithful (non-standard) metrics "
        f"({_link('../docs/metric.md', 'what they compute')}); std NDCG@k, RMSE and MAE are standard; k is 10 "
        "where evaluated.</p>",
        "<h2>Experiments</h2>",
        "<p>Per part: the epochs trained (the most, and the epoch chosen on validation for each run) and the "
        "seeds.</p>",
        _html_table(headline, classes) if headline else "<p>No experiments yet.</p>",
        *(_headline_html(e, chosen) for e in sorted(experiments, key=lambda e: e is not chosen)),
        *(_experiment_html(e, base) for e in experiments),
    ]
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>arerec-kit reports</title>"
            f"<style>{_STYLE}</style></head><body>{''.join(body)}</body></html>\n")


def _md_table(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return "No experiments yet.\n"
    header = "| " + " | ".join(rows[0]) + " |\n|" + "---|" * len(rows[0]) + "\n"
    return header + "".join("| " + " | ".join(_fmt(v) for v in row.values()) + " |\n" for row in rows)


def _readme(experiments: Sequence[ExperimentReport]) -> str:
    lines = ["# Reports", "",
             f"{REBUILD} Open [index.html](index.html) for everything, with the provenance of each experiment.", "",
             _md_table([e.headline() for e in experiments])]
    base, chosen = _base(experiments), answer(experiments)
    for exp in experiments:
        lines += ["", f"## {exp.name}", "", f"Status: {exp.status}", ""]
        if base is not None and base.name != exp.name:
            lines += [f"What {exp.name} adds over {base.name}: {adds_over(exp, base) or 'nothing: the same parameters'}.", ""]
        verdicts = _verdicts(exp)
        if verdicts:
            budget = search_budget(exp)
            searched = f"{_plural(budget, 'trial')} per model" if budget else "no Optuna search"
            prefix = "the kit's answer; " if exp is chosen else ""
            lines += [f"The paper's claims ({prefix}{searched}):", ""] + [
                f"- **{v['verdict']}**: {v['claim']} ({v['detail']})" for v in verdicts] + [""]
        k = exp.training.get("k")
        if exp.training.get("headline_summary"):
            lines += [f"At the validation optimum (clean protocol; chosen: {exp.training.get('chosen', {}).get('label')}): "
                      f"test metrics, mean ± 95% CI over {len(exp.training.get('seeds', []))} seeds "
                      f"(k = {k}; HR/NDCG faithful to the reference).", "",
                      _md_table(_summary_rows(exp.training["headline_summary"], "clean", k)), ""]
        elif exp.headline_table():
            lines += [_md_table(exp.headline_table()), exp.training.get("claims", ""), ""]
        for nb, page, ipynb, entry in exp.notebooks():
            links = ", ".join(f"[{label}]({exp.name}/{f})" for f, label in ((page, "report"), (ipynb, "notebook")) if f)
            lines.append(f"- {nb}: {links or 'no output'} ({entry.get('status', '–')}, {_duration(entry.get('seconds'))})")
        heatmaps = [f for f in exp.files("figures", ".png") if f.startswith("attention_pair")]
        if heatmaps:
            lines.append("- attention heatmaps: " + ", ".join(f"[{f}]({exp.name}/figures/{f})" for f in heatmaps))
        data = exp.run.get("data", {})
        if exp.run:
            lines.append(f"- data version {_v(data.get('data_version'))}, ratings SHA-256 `{_v(data.get('ratings_sha256'))}`; "
                         f"seed {_v(exp.run.get('seed'))}; commit {_commit(exp.run.get('git', {}))}; "
                         f"{_v(exp.run.get('machine', {}).get('cpu'))}")
    return "\n".join(lines) + "\n"
