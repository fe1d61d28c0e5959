"""Run the notebooks headless into ``reports/``, record what produced them, and index them.

``python -m arerec.reports run --params ci`` (what ``make reproduce PARAMS=ci`` calls):

1. layers ``params/base.yaml``, ``params/ablation.yaml`` and ``params/{PARAMS}.yaml`` (later
   wins), then ``--set key=value`` overrides, and checks every key and value before anything
   runs (an unknown key is an error that lists the valid ones);
2. empties ``{reports_dir}/{experiment}/`` (outputs are derived and rebuilt) and marks the run
   as running in its ``metrics.json``;
3. gets the ratings file (download or generation) and records its SHA-256;
4. runs each notebook with papermill (kernel ``arerec``, ``--cwd`` the repository root,
   ``--log-output``, an execution timeout per cell, the same ``-f`` layers), writing
   ``{experiment}/{notebook}.ipynb`` and a self-contained HTML copy with the code hidden;
   it stops at the first failing notebook;
5. records status, wall time per notebook, parameters, data version and checksum, the SHA-256 of
   every prepared split file the experiment used (``run.data.split_sha256``), package versions,
   seed, machine and git commit under ``run`` in ``metrics.json``;
6. rebuilds ``{reports_dir}/index.html`` and ``{reports_dir}/README.md`` from every
   experiment's ``metrics.json``; a failed or unfinished run is shown as such.

The exit status is 0 only when every notebook succeeded.

``python -m arerec.reports check --experiment base`` (``make check``) then answers "did I reproduce
it?": it compares the rebuilt ``{reports_dir}/{experiment}/metrics.json`` with the copy committed in
git, figure by figure (:func:`compare_metrics`): deterministic figures must be identical, trained
ones (:data:`TRAINED_PATTERNS`) within :data:`TRAINED_TOLERANCE`. Exit status 0: reproduced;
1: not reproduced; 2: the two could not be compared.
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
import importlib.metadata
import json
import logging
import math
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arerec.config import Config
from arerec.errors import ArerecError, ComparisonError, ConfigError
from arerec.files import sha256_file, write_text_atomic
from arerec.notebook import check_parameter_keys, read_metrics, resolve, update_metrics

log = logging.getLogger(__name__)

NOTEBOOKS = ("01_data_exploration", "02_training", "03_ablation", "04_attention")
PACKAGES = ("arerec", "tensorflow", "keras", "numpy", "pandas", "scikit-learn", "matplotlib", "h5py",
            "papermill", "nbconvert", "ipykernel")
DEFAULT_TIMEOUT_S = 7200


# --------------------------------------------------------------------------------------------
# Provenance
# --------------------------------------------------------------------------------------------
def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        for dist in (name, f"{name}-cpu") if name == "tensorflow" else (name,):
            try:
                versions[name] = importlib.metadata.version(dist)
                break
            except importlib.metadata.PackageNotFoundError:
                versions[name] = "not installed"
    return versions


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpu_names() -> list[str]:
    if not shutil.which("nvidia-smi"):
        return []
    try:
        done = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                              text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.strip() for line in done.stdout.splitlines() if line.strip()] if done.returncode == 0 else []


def machine() -> dict[str, Any]:
    return {"cpu": cpu_model(), "cpu_count": os.cpu_count(), "gpus": gpu_names() or "none",
            "platform": platform.platform()}


GENERATED = "reports"  # rewritten by the runs themselves, so not a sign of uncommitted code


def git_state(root: str | Path = ".") -> dict[str, Any]:
    """The commit of ``root`` and whether tracked files outside ``reports/`` differ from it (read-only git calls).

    ``reports/`` is left out because ``make reproduce`` rewrites the committed reports while it
    runs: counting them, a clean checkout reported itself as having uncommitted changes.
    """
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "--no-optional-locks", "-C", str(root), *args], capture_output=True,
                                  text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": "unknown (not a git checkout)", "dirty": None}
    status = git("status", "--porcelain", "--untracked-files=no", "--", ".", f":(exclude){GENERATED}")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def data_provenance(cfg: Config) -> dict[str, Any]:
    """Dataset, data version, the ratings file with its SHA-256 and where it came from."""
    from arerec.data.ratings import ratings_path

    path = ratings_path(cfg)
    record: dict[str, Any] = {"dataset": cfg.dataset, "data_version": cfg.resolved_data_version,
                              "ratings_file": str(path)}
    if path.is_file():
        record["ratings_sha256"] = sha256_file(path)
        meta = path.with_name(path.name[: -len(".csv")] + ".meta.json")
        if meta.is_file():
            source = json.loads(meta.read_text())
            record.update({k: source[k] for k in ("source", "rows") if k in source})
    else:
        record["ratings_sha256"] = None
    return record


def provenance(cfg: Config, root: str | Path = ".") -> dict[str, Any]:
    """What produced a result: seeds, data and its checksum, packages, machine, git commit, time."""
    return {
        "seed": cfg.seed,
        "split_seed": cfg.split_seed,
        "data": data_provenance(cfg),
        "packages": package_versions(),
        "machine": machine(),
        "git": git_state(root),
        "finished_at": _now(),
    }


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


# --------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------
def params_file(params: str, root: str | Path = ".") -> Path:
    """The experiment's own params file: a name under ``params/`` (``ci``) or a path to a YAML file."""
    folder = Path(root) / "params"
    chosen = Path(params) if params.endswith((".yaml", ".yml")) else folder / f"{params}.yaml"
    if not chosen.is_file():
        names = sorted(p.stem for p in folder.glob("*.yaml"))
        raise ConfigError(f"params file not found: {chosen}. Available under {folder}: {', '.join(names)}")
    return chosen


def params_files(params: str, root: str | Path = ".") -> list[Path]:
    """The layers, later winning: ``params/base.yaml``, ``params/ablation.yaml``, then :func:`params_file`."""
    folder = Path(root) / "params"
    layers = [folder / "base.yaml", folder / "ablation.yaml"]
    chosen = params_file(params, root)
    if chosen.resolve() not in {p.resolve() for p in layers}:
        layers.append(chosen)
    return layers


def read_params_file(path: Path) -> dict[str, Any]:
    import yaml

    try:
        values = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a mapping of key: value, received {type(values).__name__}")
    check_parameter_keys(values.keys(), source=str(path))
    return values


def merge_parameters(files: Sequence[Path], overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The files' values merged in order (later wins), then ``overrides``; every key checked."""
    merged: dict[str, Any] = {}
    for path in files:
        merged.update(read_params_file(path))
    check_parameter_keys((overrides or {}).keys(), source="the --set overrides")
    merged.update(overrides or {})
    return merged


def parse_set(items: Sequence[str]) -> dict[str, Any]:
    """``["key=value", ...]`` with each value read as YAML (``epochs=3`` is an int)."""
    import yaml

    values = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set expects key=value, received: {item!r}")
        values[key.strip()] = yaml.safe_load(text)
    return values


# --------------------------------------------------------------------------------------------
# Running the notebooks
# --------------------------------------------------------------------------------------------
@dataclass
class Outcome:
    status: str  # "ok" or "failed"
    seconds: float
    command: str
    error: str | None = None


def kernel_available(name: str = "arerec") -> bool:
    from jupyter_client.kernelspec import KernelSpecManager

    return name in KernelSpecManager().find_kernel_specs()


def run_notebook(source: Path, output: Path, files: Sequence[Path], injected: Mapping[str, Any], *,
                 root: Path, timeout: int) -> Outcome:
    """Execute one notebook with papermill in a child process; its log streams to stderr."""
    import yaml

    from arerec.kernel import KERNEL_NAME

    command = [sys.executable, "-m", "papermill", _shown(source, root), _shown(output, root), "-k", KERNEL_NAME,
               "--cwd", ".", "--log-output", "--no-progress-bar", "--execution-timeout", str(timeout)]
    for path in files:
        command += ["-f", _shown(path, root)]
    command += ["-y", yaml.safe_dump(dict(injected), default_flow_style=True, width=1 << 20).strip()]
    started = time.perf_counter()
    done = subprocess.run(command, check=False, cwd=root)
    seconds = round(time.perf_counter() - started, 1)
    shown = " ".join(shlex.quote(c) for c in ["papermill", *command[3:]])
    if done.returncode == 0:
        return Outcome("ok", seconds, shown)
    return Outcome("failed", seconds, shown, notebook_error(output) or f"papermill exited with status {done.returncode}")


def notebook_error(path: Path) -> str | None:
    """``'cell N (first line): ExceptionName: message'`` of the first error in an executed notebook."""
    if not path.is_file():
        return None
    cells = json.loads(path.read_text()).get("cells", [])
    for number, cell in enumerate(cells, start=1):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                source = "".join(cell.get("source", "")).strip().splitlines()
                where = f"cell {number}" + (f" ({source[0][:60]})" if source else "")
                return f"{where}: {output.get('ename')}: {output.get('evalue')}"
    return None


def export_html(notebook: Path, target: Path) -> None:
    """Self-contained HTML with the code hidden (``nbconvert --no-input``); images are inlined."""
    import nbformat
    from nbconvert import HTMLExporter

    quiet = logging.getLogger(f"{__name__}.nbconvert")
    quiet.setLevel(logging.ERROR)  # nbconvert warns about every image without alt text: outputs have none
    exporter = HTMLExporter(template_name="lab", exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True, embed_images=True, log=quiet)
    resources = {"metadata": {"name": f"{notebook.stem} ({notebook.parent.name})"}}  # the page title
    body, _ = exporter.from_notebook_node(nbformat.read(notebook, as_version=4), resources=resources)
    write_text_atomic(target, body)


def split_sha256(cfg: Config, protocols: Sequence[str]) -> dict[str, dict[str, str | None]]:
    """``{data version: {file name: SHA-256}}`` of the prepared split files of ``cfg`` under each protocol.

    The train, test, item-sequence and (clean protocol) validation files that training would load
    (:func:`arerec.data.inputs.load_experiment`); a file that is not there, from a run that stopped
    before preparing it, is recorded as None.
    """
    import dataclasses

    from arerec.data.prepare import version_paths

    # a Config of the data settings alone: a training setting may be valid under one protocol only
    data_settings = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg) if f.metadata["group"] == "data"}
    digests: dict[str, dict[str, str | None]] = {}
    for protocol in protocols:
        version = Config(**{**data_settings, "protocol": protocol}).resolved_data_version
        paths = version_paths(cfg.data_path, cfg.dataset, version)
        digests[version] = {path.name: sha256_file(path) if path.is_file() else None for path in paths.values()}
    return digests


def get_data(cfg: Config) -> dict[str, Any]:
    """Fetch or generate the ratings file; return its provenance (preparing is notebook 01's job)."""
    from arerec.data.datasets import ensure_ratings

    ensure_ratings(cfg)
    return data_provenance(cfg)


def _under(root: Path, path: str) -> Path:
    return Path(path) if Path(path).is_absolute() else root / path


def _shown(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` when inside it (recorded commands then work from any checkout)."""
    path = Path(path).resolve()
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def run(params: str = "base", *, root: str | Path = ".", reports_dir: str = "reports",
        overrides: Mapping[str, Any] | None = None, experiment: str | None = None,
        notebooks: Sequence[str] = NOTEBOOKS, timeout: int = DEFAULT_TIMEOUT_S) -> int:
    """Run the notebooks of one experiment (see the module docstring); 0 when all succeeded."""
    root = Path(root).resolve()
    files = params_files(params, root)
    values = merge_parameters(files, overrides)
    chosen = params_file(params, root)
    experiment = experiment or read_params_file(chosen).get("experiment") or chosen.stem
    cfg, extras = resolve({**values, "experiment": experiment, "reports_dir": reports_dir},
                          source=" + ".join(str(f) for f in files))
    # the checked values, typed (YAML reads `lr=1e-3` as a string; Config made it a float)
    checked = {**cfg.to_dict(), **extras}
    injected = {key: checked[key] for key in [*(overrides or {}), "experiment", "reports_dir"]}
    unknown = [n for n in notebooks if not (root / "notebooks" / f"{n}.ipynb").is_file()]
    if unknown:
        raise ConfigError(f"no such notebook(s) {unknown}; valid: {', '.join(NOTEBOOKS)}")
    if not kernel_available():
        raise ConfigError("the Jupyter kernel 'arerec' is not registered: run `make setup` "
                          "(or `python -m arerec.kernel`) in this environment")

    reports = _under(root, reports_dir)
    folder = reports / experiment
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    started, wall = _now(), time.perf_counter()
    record: dict[str, Any] = {
        "status": "running", "experiment": experiment, "started_at": started,
        "params_files": [_shown(f, root) for f in files],
        "overrides": dict(overrides or {}), "parameters": {**cfg.to_dict(), **extras}, "notebooks": {},
    }
    update_metrics(folder, "run", record)
    build_index(reports)  # until it finishes, the index shows this experiment as incomplete, not a past success
    log.info("experiment %s: parameters from %s", experiment, ", ".join(record["params_files"]))

    data_cfg = cfg.replace(data_path=str(_under(root, cfg.data_path)))
    try:
        record["data"] = get_data(data_cfg)
        record["data"]["ratings_file"] = _shown(Path(record["data"]["ratings_file"]), root)
    except ArerecError as exc:
        record.update(status="failed", failed_step="data", error=f"{type(exc).__name__}: {exc}",
                      data=data_provenance(data_cfg))
    name = "data"
    try:
        for name in notebooks if record["status"] == "running" else ():
            log.info("running %s (%d of %d)", name, notebooks.index(name) + 1, len(notebooks))
            output = folder / f"{name}.ipynb"
            outcome = run_notebook(root / "notebooks" / f"{name}.ipynb", output, files, injected, root=root,
                                   timeout=timeout)
            entry = {"status": outcome.status, "seconds": outcome.seconds, "command": outcome.command}
            if output.is_file():
                export_html(output, folder / f"{name}.html")
                entry.update(ipynb=output.name, html=f"{name}.html")
            if outcome.error:
                entry["error"] = outcome.error
            record["notebooks"][name] = entry
            update_metrics(folder, "run", {"notebooks": record["notebooks"]})
            if outcome.status != "ok":
                record.update(status="failed", failed_step=name, error=outcome.error)
                break
    except KeyboardInterrupt:
        record.update(status="failed", failed_step=name, error="interrupted (KeyboardInterrupt)")
    if record["status"] == "running":
        record["status"] = "ok"
    # Both protocols, whatever `protocols` holds: notebook 01 prepares and reads both splits
    # (exploration.protocol_comparison) and the validation search trains under the clean one.
    record["data"]["split_sha256"] = split_sha256(data_cfg, ("reference", "clean"))
    record.update({k: v for k, v in provenance(data_cfg, root).items() if k != "data"},
                  seconds=round(time.perf_counter() - wall, 1), finished_at=_now())
    update_metrics(folder, "run", record)
    build_index(reports)
    if record["status"] != "ok":
        print(f"FAILED: {record['failed_step']} of experiment {experiment}: {record['error']}\n"
              f"  see {folder / (record['failed_step'] + '.html')}", file=sys.stderr)
        return 1
    print(f"experiment {experiment}: {len(notebooks)} notebooks in {record['seconds']:.0f} s; "
          f"reports in {folder}; index: {reports / 'index.html'}")
    return 0


# --------------------------------------------------------------------------------------------
# The index
# --------------------------------------------------------------------------------------------
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
    from arerec.evaluate.stats import format_mean_ci

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
        "<p>Built by <code>make reproduce</code> (<code>python -m arerec.reports</code>). Everything here is "
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


# --------------------------------------------------------------------------------------------
# Did I reproduce it? The rebuilt metrics.json against the committed one
# --------------------------------------------------------------------------------------------
# The figures that come out of ARERec training. Their float rounding follows the CPU, the thread
# count and the BLAS build, so a rebuild elsewhere matches them only within TRAINED_TOLERANCE; every
# figure no pattern matches is deterministic and must be identical. A pattern is matched against a
# figure's whole path as `check` prints it: `*` matches any run of characters (dots included), `?` one
# character, and every other character itself (`[` too, unlike fnmatch). Records of a list are named by
# RECORD_KEYS, so e.g. "02_training.headline_summary[model=ARERec*" selects ARERec's rows of the
# headline table alone, leaving the baselines' rows deterministic.
TRAINED_PATTERNS = ["02_training.*", "03_ablation.*", "04_attention.*"]
# Absolute, in each figure's own units (HR, NDCG and shares in [0, 1]; RMSE and MAE in stars). Stated,
# not measured: to revise once rebuilds on two kinds of CPU have been compared. `check --tolerance` overrides it.
TRAINED_TOLERANCE = 0.02
DETERMINISTIC_RTOL = 1e-12  # floats: the same sums of the same rows, but vectorised sums may round the last bits per CPU
# Not figures: timings, clock times and what describes the machine or the settings rather than a result.
SKIPPED_KEY_PARTS = ("seconds", "wall", "time")
SKIPPED_KEY_SUFFIXES = ("_at",)  # started_at, finished_at (a substring '_at' would also skip '..._attention')
SKIPPED_SUBTREES = ("provenance", "parameters")  # under any section
SKIPPED_PATHS = ("run.notebooks", "run.git", "run.machine", "run.packages", "run.params_files", "run.overrides",
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
        figure = compare_figure(path, MISSING if before is None else before.value,
                                MISSING if after is None else after.value,
                                trained=is_trained(path, trained_patterns), tolerance=tolerance,
                                ci=(before or after).ci)
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
        largest = max((f for f in figures if f.difference), key=lambda f: f.difference, default=None)
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
    rebuilt_path = _under(root, reports_dir) / experiment / "metrics.json"
    if not rebuilt_path.is_file():
        raise ComparisonError(f"no rebuilt metrics.json at {rebuilt_path}: run `make reproduce` (or "
                              "`python -m arerec.reports run`) for this experiment first")
    rebuilt = _parse_metrics(rebuilt_path.read_text(), str(rebuilt_path))
    if not rebuilt_path.resolve().is_relative_to(root):
        raise ComparisonError(f"{rebuilt_path} is outside the repository root {root}: git holds no copy of it")
    relative = rebuilt_path.resolve().relative_to(root).as_posix()
    committed = committed_metrics(root, relative, against)
    comparison = compare_metrics(committed, rebuilt, tolerance=tolerance)
    print(format_comparison(comparison, title=f"{relative} rebuilt, against {against}:{relative} committed"))
    return 0 if comparison.reproduced else 1


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------
CHECK_DESCRIPTION = (
    "Compare the rebuilt {reports_dir}/{experiment}/metrics.json with the copy committed in git, figure by figure. "
    "Timings and provenance are skipped; trained figures (TRAINED_PATTERNS in arerec/reports.py) must be within "
    "--tolerance, every other figure identical. Exit status 0: REPRODUCED; 1: NOT REPRODUCED; 2: cannot compare."
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m arerec.reports", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, text in (("run", "run the notebooks of an experiment into reports/ and rebuild the index"),
                       ("data", "check the parameters and get the ratings file"),
                       ("params", "check the parameters and print them merged"),
                       ("check", "compare the rebuilt reports/<experiment>/metrics.json with the committed one"),
                       ("index", "rebuild reports/index.html and reports/README.md")):
        p = sub.add_parser(name, help=text, description=CHECK_DESCRIPTION if name == "check" else text)
        p.add_argument("--reports-dir", default="reports", help="output folder, relative to --root (default: reports)")
        p.add_argument("--root", default=".", help="repository root holding notebooks/ and params/ (default: .)")
        if name == "check":
            p.add_argument("--experiment", default="base", help="report folder to compare (default: base)")
            p.add_argument("--against", default="HEAD", metavar="COMMIT",
                           help="git commit holding the committed metrics.json (default: HEAD)")
            p.add_argument("--tolerance", type=float, default=TRAINED_TOLERANCE,
                           help=f"absolute tolerance of every trained figure (default: {TRAINED_TOLERANCE})")
        if name in ("index", "check"):
            continue
        p.add_argument("--params", default="base", help="params/NAME.yaml or a YAML path, layered over base and "
                       "ablation (default: base)")
        p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one parameter")
        if name == "run":
            p.add_argument("--experiment", default=None, help="report folder name (default: the params name)")
            p.add_argument("--notebooks", default=",".join(NOTEBOOKS), help="comma-separated notebooks to run")
            p.add_argument("--timeout", type=int, default=DEFAULT_TIMEOUT_S,
                           help=f"papermill execution timeout per cell, seconds (default: {DEFAULT_TIMEOUT_S})")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    try:
        if args.command == "index":
            index, _ = build_index(_under(Path(args.root).resolve(), args.reports_dir))
            print(index)
            return 0
        if args.command == "check":
            return check(args.experiment, root=args.root, reports_dir=args.reports_dir, against=args.against,
                         tolerance=args.tolerance)
        overrides = parse_set(args.set)
        if args.command == "run":
            return run(args.params, root=args.root, reports_dir=args.reports_dir, overrides=overrides,
                       experiment=args.experiment, notebooks=[n for n in args.notebooks.split(",") if n],
                       timeout=args.timeout)
        root = Path(args.root).resolve()
        cfg, extras = resolve(merge_parameters(params_files(args.params, root), overrides))
        if args.command == "params":
            print(json.dumps({**cfg.to_dict(), **extras}, indent=1, sort_keys=True))
            return 0
        record = get_data(cfg.replace(data_path=str(_under(root, cfg.data_path))))
        print(f"{record['ratings_file']} sha256 {record['ratings_sha256']}")
        return 0
    except ArerecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
