"""arerec.report.runner: the experiment's name and folder, checks before anything runs, the recorded digests, the CLI. (Running notebooks: test_notebooks.py.)"""

from __future__ import annotations

import hashlib
import json

import yaml
from conftest import REPO

from arerec import cli
from arerec.data.prepare import version_paths
from arerec.errors import ConfigError
from arerec.report import runner


def test_the_experiment_is_named_after_its_params_file(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "kernel_available", lambda name="arerec": True)
    monkeypatch.setattr(runner, "get_data", lambda cfg: (_ for _ in ()).throw(ConfigError("stop here")))
    for params, name in (("base", "base"), ("ci", "ci"), ("ml-1m", "ml-1m")):
        assert runner.run(params, root=REPO, reports_dir=str(tmp_path)) == 1
        assert (tmp_path / name / "metrics.json").is_file()
    assert runner.run("ci", root=REPO, reports_dir=str(tmp_path), experiment="other") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md", "base", "ci", "index.html", "ml-1m", "other"]
    run = json.loads((tmp_path / "other" / "metrics.json").read_text())["run"]
    assert (run["status"], run["failed_step"], run["error"]) == ("failed", "data", "ConfigError: stop here")
    assert "FAILED in data: ConfigError: stop here" in (tmp_path / "index.html").read_text()


def test_the_runner_refuses_bad_parameters_before_running_anything(tmp_path, capsys):
    code = cli.main(["report", "run", "--params", "ci", "--root", str(REPO), "--reports_dir", str(tmp_path),
                         "--set", "num_heads=4"])
    assert code == 2
    assert "'num_heads' (did you mean 'num_head'?)" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
    code = cli.main(["report", "run", "--params", "ci", "--root", str(REPO), "--reports_dir", str(tmp_path),
                         "--set", "emb_size=10", "--set", "num_head=4"])
    assert code == 2 and "emb_size must be divisible by num_head" in capsys.readouterr().err


def test_notebook_error_reads_the_first_error_output(tmp_path):
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps({"cells": [
        {"cell_type": "code", "outputs": [{"output_type": "stream", "text": "hi"}]},
        {"cell_type": "code", "source": ["exp = training.load_experiment(nb.cfg)\n", "x = 1"],
         "outputs": [{"output_type": "error", "ename": "DataError", "evalue": "no rows"}]},
    ]}))
    assert runner.notebook_error(path) == "cell 2 (exp = training.load_experiment(nb.cfg)): DataError: no rows"
    assert runner.notebook_error(tmp_path / "missing.ipynb") is None


def test_the_params_command_prints_the_merged_parameters(capsys):
    assert cli.main(["report", "params", "--params", "ci", "--root", str(REPO)]) == 0
    merged = yaml.safe_load(capsys.readouterr().out)  # grouped, as the configuration is
    assert list(merged) == ["data", "model", "training", "evaluation", "devices", "search", "report", "execution"]
    assert (merged["data"]["dataset"], merged["data"]["sort_kind"], merged["data"]["split_seed"]) == (
        "synthetic", "stable", 32)
    assert merged["model"]["use_attention"] is True and merged["model"]["dropout"]["k_ui"] == 0.5
    assert merged["search"]["max_epochs"] == 3 and "protocols" in merged["report"]


def test_the_runner_records_the_sha256_of_every_prepared_split_file(tmp_path, monkeypatch):
    data_path = tmp_path / "Data"
    overrides = {"data_path": str(data_path), "dataset": "toy"}
    monkeypatch.setattr(runner, "kernel_available", lambda name="arerec": True)
    monkeypatch.setattr(runner, "get_data", lambda cfg: {"dataset": cfg.data.dataset, "data_version": cfg.data.resolved_data_version,
                                                          "ratings_file": str(data_path / "toy" / "toy_ratings.csv")})
    expected: dict[str, dict[str, str]] = {}

    def notebook_that_prepares(source, output, files, injected, *, root, timeout, log_file=None):
        if source.stem == "01_data_exploration":  # as notebook 01 does: both protocols' data versions
            for version in ("toy_8020_minseq5_bs32_dper1.0_stable", "toy_8020_minseq5_bs32_dper1.0_stable_clean10"):
                for path in version_paths(data_path, "toy", version).values():
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(f"rows of {path.name}\n")
                    expected.setdefault(version, {})[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
        return runner.Outcome("ok", 0.1, "papermill ...")

    monkeypatch.setattr(runner, "run_notebook", notebook_that_prepares)
    assert runner.run("ci", root=REPO, reports_dir=str(tmp_path / "reports"), overrides=overrides) == 0
    digests = json.loads((tmp_path / "reports" / "ci" / "metrics.json").read_text())["run"]["data"]["split_sha256"]
    assert digests == expected
    assert sorted(digests["toy_8020_minseq5_bs32_dper1.0_stable_clean10"]) == [
        f"toy_8020_minseq5_bs32_dper1.0_stable_clean10_{name}.id" for name in ("item_user_sequence", "test", "train", "valid")]
    assert len(digests["toy_8020_minseq5_bs32_dper1.0_stable"]) == 3  # no validation file under the reference protocol


def test_exported_pages_fetch_no_script_or_style_sheet(tmp_path):
    """The HTML export names no http(s) script or style sheet (no MathJax or require.js from a CDN)."""
    import re

    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Title\n\nSome $x^2$ maths."),
                                         nbformat.v4.new_code_cell("1 + 1")])
    source = tmp_path / "page.ipynb"
    nbformat.write(nb, source)
    runner.export_html(source, tmp_path / "page.html")
    page = (tmp_path / "page.html").read_text()
    assert "<h1" in page and "Title" in page
    remote = re.findall(r"<script[^>]*\bsrc=[\"']?https?://[^\"' >]+|<link[^>]*\bhref=[\"']?https?://[^\"' >]+", page)
    assert remote == []
    assert not re.search(r"@import\s+(url\()?[\"']?https?://", page)


def test_the_optimum_command_commits_a_studys_choice_and_refuses_one_without_a_study(tmp_path, capsys):
    import yaml

    from arerec.report.metrics_json import update_metrics
    from arerec.report.parameters import merge_parameters, params_files

    parameters = merge_parameters(params_files("ci", REPO))
    trial = {"number": 0, "params": {"lr": 0.01}, "state": "complete", "epochs": 2, "val_score": 1.4, "seconds": 30.5}
    search = {"arerec": {"trials": [trial, {**trial, "val_score": 1.5}], "n_trials": 2, "chosen": {"lr": 0.01},
                         "objective": "val_ce", "direction": "minimize", "source": "searched here"}}
    folder = tmp_path / "reports" / "full"
    update_metrics(folder, "run", {"parameters": parameters, "git": {"commit": "f" * 40},
                                   "data": {"ratings_sha256": "a" * 64}})
    update_metrics(folder, "02_training", {"search": search})
    out = tmp_path / "params" / "optimum" / "synthetic.yaml"
    assert cli.main(["report", "optimum", "--root", str(tmp_path), "--experiment", "full", "--out", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("# The optimum of the study in reports/full")
    record = yaml.safe_load(text)
    assert record["models"]["arerec"] == {"chosen": {"lr": 0.01}, "objective": "val_ce", "best_val_score": 1.4,
                                          "n_trials": 2,
                                          "trial": {"number": 0, "val_score": 1.4, "epochs": 2, "seconds": 30.5}}
    assert "the chosen trials trained in arerec 30 s (30 s in all" in capsys.readouterr().out
    assert record["study"]["commit"] == "f" * 40 and record["study"]["data"]["ratings_sha256"] == "a" * 64
    assert record["study"]["spaces"] == parameters["validation_search"]["spaces"]
    update_metrics(folder, "02_training", {"search": {"arerec": {**search["arerec"], "source": str(out)}}})
    assert cli.main(["report", "optimum", "--root", str(tmp_path), "--experiment", "full", "--out", str(out)]) == 2
    assert "holds no study searched there" in capsys.readouterr().err
