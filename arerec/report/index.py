"""The index: ``reports/index.html`` and ``reports/README.md``, rebuilt from every experiment's ``metrics.json``.

They show the headline (the paper's claims as verdicts, the tuned headline, the seed's run beside
the original's figures), link every report, figure and table, and record each experiment's
provenance; a failed or unfinished run is shown as such.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arerec.evaluate.stats import format_mean_ci
from arerec.files import write_text_atomic
from arerec.report.metrics_json import read_metrics
from arerec.report.notebook import NOTEBOOKS


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

    def headline(self) -> dict[str, Any]:
        params = self.run.get("parameters") or self.training.get("parameters", {})
        return {
            "experiment": self.name,
            "status": "ok" if self.ok else self.status.split(":")[0],
            "dataset": params.get("dataset", ""),
            "epochs": params.get("epochs", ""),
            "seeds": len(self.training.get("seeds", [])) or "–",
            "k": self.training.get("k"),
            "wall time": _duration(self.run.get("seconds")),
            "commit": _commit(self.run.get("git", {})),
        }


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
    if not rows:
        return "<p>–</p>"
    header = "".join(f"<th>{html.escape(str(c))}</th>" for c in rows[0])
    body = []
    for n, row in enumerate(rows):
        css = f' class="{classes[n]}"' if classes and classes[n] else ""
        body.append(f"<tr{css}>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row.values()) + "</tr>")
    return f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _mean_ci(row: Mapping[str, Any], metric: str) -> str:
    mean, half = row.get(metric), row.get(f"{metric}_ci")
    return "–" if mean is None else format_mean_ci(float(mean), float("nan") if half is None else float(half))


def _verdicts(exp: ExperimentReport) -> list[dict[str, Any]]:
    """The paper's claims as verdicts: notebook 02's (the tuned headline) then 03's (the ablation)."""
    return [*exp.training.get("verdicts", []), *exp.metrics.get("03_ablation", {}).get("verdicts", [])]


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


def _headline_html(exp: ExperimentReport) -> str:
    training, k = exp.training, exp.training.get("k")
    if not training:
        return ""
    parts = [f"<h2>Headline: {html.escape(exp.name)}</h2>"]
    verdicts = _verdicts(exp)
    if verdicts:
        parts.append("<h3>The paper's claims</h3><ul class='verdicts'>" + "".join(
            f"<li><b>{html.escape(str(v['verdict']))}</b>: {html.escape(str(v['claim']))}"
            f"<br><span class='detail'>{html.escape(str(v.get('numbers') or v.get('why', '')))}</span></li>"
            for v in verdicts) + "</ul>")
    chosen = training.get("chosen", {})
    summary = training.get("headline_summary", [])
    if summary:
        parts.append(f"<h3>At the validation optimum (clean protocol)</h3><p>Chosen on validation: "
                     f"<b>{html.escape(str(chosen.get('label', '–')))}</b> (selection: "
                     f"{html.escape(str(chosen.get('selection_metric', '–')))}; "
                     f"{len(training.get('tuning', []))} configurations tried). Test metrics at each run's chosen "
                     f"epoch, mean ± 95% CI over {len(training.get('seeds', []))} seeds; baselines tuned on the "
                     "same validation split.</p>" + _html_table(_summary_rows(summary, "clean", k)))
    seed_run = training.get("seed_run", [])
    if seed_run:
        parts.append("<h3>The seed's run reproduced (reference protocol, 2 epochs at lr 1e-4, dense Adam)</h3>"
                     "<p>Ours per epoch beside the original code's own figures on the same data "
                     "(REFERENCE.md §7).</p>" + _html_table(seed_run))
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


def _link(href: str, text: str) -> str:
    return f'<a href="{html.escape(href)}">{html.escape(text)}</a>'


def _experiment_html(exp: ExperimentReport) -> str:
    run, name = exp.run, exp.name
    parts = [f'<h2 id="{html.escape(name)}">{html.escape(name)}</h2>',
             f'<p class="{"ok" if exp.ok else "failed"}">Status: {html.escape(exp.status)}</p>']
    rows = []
    for nb, page, ipynb, entry in exp.notebooks():
        links = " · ".join(_link(f"{name}/{f}", label) for f, label in ((page, "report"), (ipynb, "notebook")) if f)
        rows.append(f"<tr><td>{html.escape(nb)}</td><td>{links or '–'}</td>"
                    f"<td>{html.escape(entry.get('status', '–'))}</td><td>{_duration(entry.get('seconds'))}</td>"
                    f"<td>{html.escape(entry.get('error', ''))}</td></tr>")
    parts.append("<h3>Reports</h3><table><thead><tr><th>notebook</th><th>links</th><th>status</th>"
                 f"<th>wall time</th><th>error</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")
    ablation = exp.metrics.get("03_ablation", {}).get("summary")
    if ablation:
        parts.append("<h3>Ablation (tuned configuration, clean protocol; mean ± 95% CI over seeds)</h3>" + _html_table(
            [{"variant": v["variant"], "seeds": v.get("n"),
              "faithful NDCG@k": _mean_ci(v, "ndcg"), "RMSE": _mean_ci(v, "rmse")} for v in ablation]))
    figures = exp.files("figures", ".png")
    heatmaps = [f for f in figures if f.startswith("attention_pair")]
    if heatmaps:
        parts.append("<h3>Attention heatmaps</h3><div class='thumbs'>" + "".join(
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
    rows = [
        ("params files", " + ".join(run.get("params_files", [])) + (f"; --set {run['overrides']}" if run.get("overrides") else "")),
        ("data version", data.get("data_version")),
        ("ratings file", f"{data.get('ratings_file')} ({data.get('rows', '?')} rows)"),
        ("ratings SHA-256", data.get("ratings_sha256")),
        ("data source", data.get("source")),
        ("seed / split seed", f"{run.get('seed')} / {run.get('split_seed')}"),
        ("git commit", _commit(git)),
        ("machine", f"{run.get('machine', {}).get('cpu')} ({run.get('machine', {}).get('cpu_count')} cores), "
                    f"GPU: {run.get('machine', {}).get('gpus')}"),
        ("Keras backend", _compute(run.get("compute", {}))),
        ("packages", ", ".join(f"{k} {v}" for k, v in run.get("packages", {}).items())),
        ("started / finished", f"{run.get('started_at')} / {run.get('finished_at', '–')}"),
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
.thumbs{display:grid;grid-template-columns:repeat(auto-fill,minmax(240px,1fr));gap:8px}
.thumbs img{width:100%;border:1px solid #ddd} ul.verdicts li{margin:.3em 0} .detail{color:#555;font-size:.9em}
pre{font-size:.8em;background:#f7f7f7;padding:.5em;overflow:auto}
"""


def _index_html(experiments: Sequence[ExperimentReport]) -> str:
    headline = [e.headline() for e in experiments]
    classes = ["" if e.ok else "failed" for e in experiments]
    body = [
        "<h1>arerec-kit reports</h1>",
        "<p>Built by <code>make reproduce</code> (<code>python -m arerec.report</code>). Everything here is "
        "derived: delete this folder and run it again to rebuild it. HR@k and NDCG@k are the reference's "
        "faithful (non-standard) metrics; std NDCG@k, RMSE and MAE are standard; k is 10 where evaluated.</p>",
        "<h2>Experiments</h2>",
        _html_table(headline, classes) if headline else "<p>No experiments yet.</p>",
        *(_headline_html(e) for e in experiments),
        *(_experiment_html(e) for e in experiments),
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
             "Built by `make reproduce` and derived entirely from `params/` and the data: delete this folder and "
             "run `make reproduce` to rebuild it. Open [index.html](index.html) for everything, with the "
             "provenance of each experiment.", "", _md_table([e.headline() for e in experiments])]
    for exp in experiments:
        lines += ["", f"## {exp.name}", "", f"Status: {exp.status}", ""]
        verdicts = _verdicts(exp)
        if verdicts:
            lines += ["The paper's claims:", ""] + [
                f"- **{v['verdict']}**: {v['claim']} ({v.get('numbers') or v.get('why', '')})" for v in verdicts] + [""]
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
            lines.append(f"- data version {data.get('data_version')}, ratings SHA-256 `{data.get('ratings_sha256')}`; "
                         f"seed {exp.run.get('seed')}; commit {_commit(exp.run.get('git', {}))}; "
                         f"{exp.run.get('machine', {}).get('cpu')}")
    return "\n".join(lines) + "\n"
