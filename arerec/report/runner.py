"""Run the notebooks headless into ``reports/``, record what produced them, and index them.

``python -m arerec report run --params ci`` (what ``make reproduce PARAMS=ci`` calls):

1. layers ``params/base.yaml``, ``params/ablation.yaml`` and ``params/{PARAMS}.yaml`` (later
   wins), then ``--set key=value`` overrides, and checks every key and value before anything
   runs (an unknown key is an error that lists the valid ones; :mod:`arerec.report.parameters`);
2. empties ``{reports_dir}/{experiment}/`` (outputs are derived and rebuilt) and marks the run
   as running in its ``metrics.json``;
3. gets the ratings file (download or generation) and records its SHA-256;
4. runs each notebook with papermill (kernel ``arerec``, ``--cwd`` the repository root,
   papermill's own log at ERROR, an execution timeout per cell, the same ``-f`` layers), writing
   ``{experiment}/{notebook}.ipynb`` and a self-contained HTML copy with the code hidden;
   it stops at the first failing notebook;
5. records status, wall time per notebook, parameters, data version and checksum, the SHA-256 of
   every prepared split file the experiment used (``run.data.split_sha256``), package versions,
   seed, machine and git commit under ``run`` in ``metrics.json`` (:mod:`arerec.report.provenance`);
6. rebuilds ``{reports_dir}/index.html`` and ``{reports_dir}/README.md`` from every
   experiment's ``metrics.json`` (:mod:`arerec.report.index`); a failed or unfinished run is shown as such.

The exit status is 0 only when every notebook succeeded.

``python -m arerec report check --experiment base`` (``make check``) then answers "did I reproduce
it?" (:mod:`arerec.report.check`); ``data``, ``params`` and ``index`` get the data, print the
merged parameters and rebuild the index.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arerec.config import Config, read_yaml_mapping
from arerec.console import LOG_ENV
from arerec.data.datasets import ensure_ratings
from arerec.data.prepare import version_paths
from arerec.errors import ArerecError, ConfigError
from arerec.files import path_under, sha256_file, write_text_atomic
from arerec.report.check import CHECK_DESCRIPTION, TRAINED_TOLERANCE, check
from arerec.report.index import build_index
from arerec.report.kernel import KERNEL_NAME
from arerec.report.metrics_json import update_metrics
from arerec.report.notebook import NOTEBOOKS
from arerec.report.parameters import (
    load,
    merge_parameters,
    params_file,
    params_files,
    parse_set,
    resolve,
    shallow_merge_differs,
)
from arerec.report.provenance import data_provenance, now, provenance

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 7200


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
                 root: Path, timeout: int, log_file: Path | None = None) -> Outcome:
    """Execute one notebook with papermill in a child process; its log streams to stderr.

    With ``log_file``, the kernel writes its progress and per-epoch lines there
    (:mod:`arerec.console`), not into the page, and the file is echoed to stderr as it grows. Papermill logs
    errors only: its cell banners, the text form of each displayed table and Markdown, and a warning for every
    parameter a notebook's parameters cell does not list (all of them reach a notebook, which checks them) would
    bury the progress lines.
    """
    import yaml

    command = [sys.executable, "-m", "papermill", _shown(source, root), _shown(output, root), "-k", KERNEL_NAME,
               "--cwd", ".", "--log-level", "ERROR", "--no-progress-bar", "--execution-timeout", str(timeout)]
    for path in files:
        command += ["-f", _shown(path, root)]
    command += ["-y", yaml.safe_dump(dict(injected), default_flow_style=True, width=1 << 20).strip()]
    started = time.perf_counter()
    env = dict(os.environ)
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        log_file.write_text("")
        env[LOG_ENV] = str(log_file.resolve())
    child = subprocess.Popen(command, cwd=root, env=env)
    returncode = _echo_while(child, log_file)
    seconds = round(time.perf_counter() - started, 1)
    shown = " ".join(shlex.quote(c) for c in ["papermill", *command[3:]])
    if returncode == 0:
        return Outcome("ok", seconds, shown)
    return Outcome("failed", seconds, shown, notebook_error(output) or f"papermill exited with status {returncode}")


def _echo_while(child: subprocess.Popen, log_file: Path | None, every: float = 0.5) -> int:
    """Wait for ``child``, copying what is appended to ``log_file`` to stderr meanwhile; its exit status."""
    position = 0

    def echo() -> None:
        nonlocal position
        if log_file is None or not log_file.is_file():
            return
        with log_file.open("rb") as handle:
            handle.seek(position)
            chunk = handle.read()
        end = chunk.rfind(b"\n") + 1  # whole lines only; the rest comes with the next read
        if end:
            sys.stderr.write(chunk[:end].decode("utf-8", "replace"))
            sys.stderr.flush()
            position += end

    try:
        while child.poll() is None:
            echo()
            time.sleep(every)
    except KeyboardInterrupt:
        child.terminate()
        child.wait()
        raise
    echo()
    return int(child.returncode)


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


# nbconvert's lab template with the blocks that load scripts from a CDN emptied (require.js, MathJax,
# Mermaid, the widget manager): the pages need none of them, and a page must open offline without a request.
# Text outputs wrap at the page's width instead of running off it (a verdict line, a run name).
OFFLINE_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{% block extra_css %}<style>.jp-OutputArea-output pre { white-space: pre-wrap; overflow-wrap: anywhere; }</style>
{% endblock extra_css %}
"""


def export_html(notebook: Path, target: Path) -> None:
    """Self-contained HTML with the code hidden (``nbconvert --no-input``); images are inlined and no
    script or style sheet is fetched from the network (:data:`OFFLINE_TEMPLATE`)."""
    import nbformat
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    quiet = logging.getLogger(f"{__name__}.nbconvert")
    quiet.setLevel(logging.ERROR)  # nbconvert warns about every image without alt text: outputs have none
    exporter = HTMLExporter(template_name="lab", template_file="arerec_offline.html.j2",
                            extra_loaders=[DictLoader({"arerec_offline.html.j2": OFFLINE_TEMPLATE})],
                            exclude_input=True, exclude_input_prompt=True,
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
    # the data settings alone: a training setting may be valid under one protocol only
    digests: dict[str, dict[str, str | None]] = {}
    for protocol in protocols:
        version = cfg.data.model_copy(update={"protocol": protocol}).resolved_data_version
        paths = version_paths(cfg.data.data_path, cfg.data.dataset, version)
        digests[version] = {path.name: sha256_file(path) if path.is_file() else None for path in paths.values()}
    return digests


def get_data(cfg: Config) -> dict[str, Any]:
    """Fetch or generate the ratings file; return its provenance (preparing is notebook 01's job)."""
    ensure_ratings(cfg)
    return data_provenance(cfg)


def _shown(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` when inside it (recorded commands then work from any checkout)."""
    path = Path(path).resolve()
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def _plan(params: str, root: Path, reports_dir: str, overrides: Mapping[str, Any] | None,
          experiment: str | None, notebooks: Sequence[str]) -> tuple[list[Path], str, Any, dict[str, Any]]:
    """The layers, the experiment's name, its checked parameters and what papermill injects; errors before any
    file is touched (an unknown notebook, no registered kernel)."""
    files = params_files(params, root)
    values = merge_parameters(files, overrides)
    chosen = params_file(params, root)
    experiment = experiment or read_yaml_mapping(chosen).get("experiment") or chosen.stem
    parameters = resolve({**values, "experiment": experiment, "reports_dir": reports_dir},
                         source=" + ".join(str(f) for f in files))
    # the checked values, typed (YAML reads `lr=1e-3` as a string; the configuration made it a float)
    checked = parameters.to_dict()
    # papermill merges its -f files shallowly: a nested setting that layers merge deeply is passed again, merged
    injected = {key: checked[key] for key in [*shallow_merge_differs(files, values), *(overrides or {}),
                                              "experiment", "reports_dir"]}
    unknown = [n for n in notebooks if not (root / "notebooks" / f"{n}.ipynb").is_file()]
    if unknown:
        raise ConfigError(f"no such notebook(s) {unknown}; valid: {', '.join(NOTEBOOKS)}")
    if not kernel_available():
        raise ConfigError("the Jupyter kernel 'arerec' is not registered: run `make setup` "
                          "(or `python -m arerec.report.kernel`) in this environment")
    return files, experiment, parameters, injected


def _run_notebooks(record: dict[str, Any], folder: Path, root: Path, files: list[Path], injected: dict[str, Any],
                   notebooks: Sequence[str], timeout: int) -> None:
    """Each notebook in turn into ``folder`` (its executed copy, its HTML and its log); the first failure, or an
    interrupt, ends the run and is written into ``record``."""
    name = "data"
    try:
        for name in notebooks if record["status"] == "running" else ():
            log.info("running %s (%d of %d)", name, notebooks.index(name) + 1, len(notebooks))
            output = folder / f"{name}.ipynb"
            outcome = run_notebook(root / "notebooks" / f"{name}.ipynb", output, files, injected, root=root,
                                   timeout=timeout, log_file=folder / "logs" / f"{name}.log")
            entry = {"status": outcome.status, "seconds": outcome.seconds, "command": outcome.command,
                     "log": f"logs/{name}.log"}
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


def run(params: str = "base", *, root: str | Path = ".", reports_dir: str = "reports",
        overrides: Mapping[str, Any] | None = None, experiment: str | None = None,
        notebooks: Sequence[str] = NOTEBOOKS, timeout: int = DEFAULT_TIMEOUT_S) -> int:
    """Run the notebooks of one experiment (see the module docstring); 0 when all succeeded."""
    root = Path(root).resolve()
    files, experiment, parameters, injected = _plan(params, root, reports_dir, overrides, experiment, notebooks)
    cfg = parameters.config
    reports = path_under(root, reports_dir)
    folder = reports / experiment
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    wall = time.perf_counter()
    record: dict[str, Any] = {
        "status": "running", "experiment": experiment, "started_at": now(),
        "params_files": [_shown(f, root) for f in files],
        "overrides": dict(overrides or {}), "parameters": parameters.to_dict(), "notebooks": {},
    }
    update_metrics(folder, "run", record)
    build_index(reports)  # until it finishes, the index shows this experiment as incomplete, not a past success
    log.info("experiment %s: parameters from %s", experiment, ", ".join(record["params_files"]))

    data_cfg = cfg.replace(data_path=str(path_under(root, cfg.data.data_path)))
    try:
        record["data"] = get_data(data_cfg)
        record["data"]["ratings_file"] = _shown(Path(record["data"]["ratings_file"]), root)
    except ArerecError as exc:
        record.update(status="failed", failed_step="data", error=f"{type(exc).__name__}: {exc}",
                      data=data_provenance(data_cfg))
    _run_notebooks(record, folder, root, files, injected, notebooks, timeout)
    if record["status"] == "running":
        record["status"] = "ok"
    # Both protocols, whatever `protocols` holds: notebook 01 prepares and reads both splits
    # (exploration.protocol_comparison) and the validation search trains under the clean one.
    record["data"]["split_sha256"] = split_sha256(data_cfg, ("reference", "clean"))
    record.update({k: v for k, v in provenance(data_cfg, root).items() if k != "data"},
                  seconds=round(time.perf_counter() - wall, 1), finished_at=now())
    update_metrics(folder, "run", record)
    build_index(reports)
    if record["status"] != "ok":
        print(f"FAILED: {record['failed_step']} of experiment {experiment}: {record['error']}\n"
              f"  see {folder / (record['failed_step'] + '.html')}", file=sys.stderr)
        return 1
    print(f"experiment {experiment}: {len(notebooks)} notebook{'' if len(notebooks) == 1 else 's'} in {record['seconds']:.0f} s; "
          f"reports in {folder}; index: {reports / 'index.html'}")
    return 0


def write_optimum(root: Path, reports_dir: str, experiment: str, out: str | None = None) -> Path:
    """``params/optimum/<dataset>.yaml`` from ``reports/<experiment>/metrics.json``: each model's chosen
    parameters, the spaces and settings of the study, and the data it ran on (:func:`arerec.sweeps.tuning.committed`)."""
    import yaml

    from arerec.report.metrics_json import read_metrics
    from arerec.sweeps.tuning import OPTIMUM_FILE, optimum_record

    metrics = read_metrics(path_under(root, reports_dir) / experiment)
    search = metrics.get("02_training", {}).get("search")
    if not search or any(entry.get("source", "searched here") != "searched here" for entry in search.values()):
        raise ConfigError(f"{reports_dir}/{experiment}/metrics.json holds no study searched there: run `make reproduce "
                          f"PARAMS={experiment}` first (a tier that retrains a committed optimum has none to commit)")
    parameters = resolve(metrics["run"]["parameters"], source=f"{experiment}'s recorded parameters")
    cfg = parameters.config
    record = optimum_record(cfg, parameters.search, search, experiment=experiment,
                            commit=str(metrics["run"].get("git", {}).get("commit", "unknown")),
                            ratings_sha256=metrics["run"]["data"]["ratings_sha256"])
    path = path_under(root, out or OPTIMUM_FILE.format(dataset=cfg.data.dataset))
    header = (f"# The optimum of the study in {reports_dir}/{experiment} (every model searched by Optuna), which the "
              f"default tier retrains without a search.\n# Written by `python -m arerec report optimum --experiment "
              f"{experiment}`; do not edit by hand: rebuild the study and write it again.\n")
    write_text_atomic(path, header + yaml.safe_dump(record, sort_keys=False, width=120))
    return path


# --------------------------------------------------------------------------------------------
# ``python -m arerec report ...`` (arerec.cli builds the parser; these are its commands)
# --------------------------------------------------------------------------------------------
def cmd_run(args: argparse.Namespace) -> int:
    return run(",".join(args.params or ["base"]), root=args.root, reports_dir=args.reports_dir,
               overrides=parse_set(args.set), experiment=args.experiment,
               notebooks=[n for n in args.notebooks.split(",") if n], timeout=args.timeout)


def cmd_params(args: argparse.Namespace) -> int:
    """The merged parameters, grouped (booleans as booleans), as YAML: a group or a setting a line, a list or a
    small mapping of plain values (a search range) on its line."""
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def mapping(dumper: yaml.SafeDumper, data: dict) -> yaml.Node:
        small = len(data) <= 4 and all(not isinstance(v, dict) for v in data.values())
        return dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=small)

    Dumper.add_representer(dict, mapping)
    Dumper.add_representer(list, lambda dumper, data: dumper.represent_sequence("tag:yaml.org,2002:seq", data,
                                                                                flow_style=True))
    params = load(args.params or ["base"], Path(args.root).resolve(), parse_set(args.set))
    counts = params.summary()
    print(f"# {len(counts)} groups, {sum(counts.values())} fields: "
          + ", ".join(f"{group} {n}" for group, n in counts.items()))
    print(yaml.dump(params.grouped(), Dumper=Dumper, sort_keys=False, width=120), end="")
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    root = Path(args.root).resolve()
    cfg = load(args.params or ["base"], root, parse_set(args.set)).config
    record = get_data(cfg.replace(data_path=str(path_under(root, cfg.data.data_path))))
    print(f"{record['ratings_file']} sha256 {record['ratings_sha256']}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    return check(args.experiment, root=args.root, reports_dir=args.reports_dir, against=args.against,
                 tolerance=args.tolerance)


def cmd_index(args: argparse.Namespace) -> int:
    index, _ = build_index(path_under(Path(args.root).resolve(), args.reports_dir))
    print(index)
    return 0


def cmd_optimum(args: argparse.Namespace) -> int:
    """Write the optimum's file; say what retraining it costs, by the study's trial times (the default tier trains
    ARERec and attention off at their optima, and 03 ARERec's configuration without attention once more)."""
    import yaml

    from arerec.sweeps.tuning import retraining_seconds

    path = write_optimum(Path(args.root).resolve(), args.reports_dir, args.experiment, args.out)
    print(path)
    seconds = retraining_seconds(yaml.safe_load(path.read_text()))
    print("the chosen trials trained in " + ", ".join(f"{m} {s:,.0f} s" for m, s in seconds.items())
          + f" ({sum(seconds.values()):,.0f} s in all, on the machine that ran the study)")
    return 0


COMMANDS = {
    "run": ("run the notebooks of an experiment into reports/ and rebuild the index", cmd_run),
    "data": ("check the parameters and get the ratings file", cmd_data),
    "params": ("check the parameters and print them merged, by group", cmd_params),
    "check": ("compare the rebuilt reports/<experiment>/metrics.json with the committed one", cmd_check),
    "index": ("rebuild reports/index.html and reports/README.md", cmd_index),
    "optimum": ("write params/optimum/<dataset>.yaml, the optimum of an experiment's study, which the default tier "
                "retrains without a search", cmd_optimum),
}


def description(name: str) -> str:
    return CHECK_DESCRIPTION if name == "check" else COMMANDS[name][0]


def add_arguments(name: str, parser: argparse.ArgumentParser) -> None:
    """The flags of one ``report`` command beside ``--reports_dir``, ``--root`` (and ``--params``, ``--set``)."""
    if name == "optimum":
        parser.add_argument("--experiment", default="full", help="report folder whose study to commit (default: full)")
        parser.add_argument("--out", default=None, help="the file to write (default: params/optimum/<dataset>.yaml)")
    if name == "check":
        parser.add_argument("--experiment", default="base", help="report folder to compare (default: base)")
        parser.add_argument("--against", default="HEAD", metavar="COMMIT",
                            help="git commit holding the committed metrics.json (default: HEAD)")
        parser.add_argument("--tolerance", type=float, default=TRAINED_TOLERANCE,
                            help=f"absolute tolerance of every trained figure (default: {TRAINED_TOLERANCE})")
    if name == "run":
        parser.add_argument("--experiment", default=None, help="report folder name (default: the params name)")
        parser.add_argument("--notebooks", default=",".join(NOTEBOOKS), help="comma-separated notebooks to run")
        parser.add_argument("--timeout", type=int, default=DEFAULT_TIMEOUT_S,
                            help=f"papermill execution timeout per cell, seconds (default: {DEFAULT_TIMEOUT_S})")
