"""arerec.reports: parameter layers, provenance, the index. (Running notebooks: test_notebooks.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from arerec import reports
from arerec.config import Config, load_yaml_layers
from arerec.errors import ConfigError
from arerec.notebook import resolve, update_metrics

REPO = Path(__file__).resolve().parents[1]


def test_layers_are_base_then_ablation_then_the_experiment():
    files = reports.params_files("ci", REPO)
    assert [f.name for f in files] == ["base.yaml", "ablation.yaml", "ci.yaml"]
    assert [f.name for f in reports.params_files("base", REPO)] == ["base.yaml", "ablation.yaml"]
    assert [f.name for f in reports.params_files(str(REPO / "params" / "ml-1m.yaml"), REPO)][-1] == "ml-1m.yaml"


def test_the_experiment_is_named_after_its_params_file(tmp_path, monkeypatch):
    monkeypatch.setattr(reports, "kernel_available", lambda name="arerec": True)
    monkeypatch.setattr(reports, "get_data", lambda cfg: (_ for _ in ()).throw(ConfigError("stop here")))
    for params, name in (("base", "base"), ("ci", "ci"), (str(REPO / "params" / "ml-1m.yaml"), "ml-1m")):
        assert reports.run(params, root=REPO, reports_dir=str(tmp_path)) == 1
        assert (tmp_path / name / "metrics.json").is_file()
    assert reports.run("ci", root=REPO, reports_dir=str(tmp_path), experiment="other") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md", "base", "ci", "index.html", "ml-1m", "other"]
    run = json.loads((tmp_path / "other" / "metrics.json").read_text())["run"]
    assert (run["status"], run["failed_step"], run["error"]) == ("failed", "data", "ConfigError: stop here")
    assert "FAILED in data: ConfigError: stop here" in (tmp_path / "index.html").read_text()


def test_a_missing_params_file_lists_the_available_ones():
    with pytest.raises(ConfigError, match=r"params file not found: .*nope.yaml\. Available under .*: ablation, base, ci"):
        reports.params_files("nope", REPO)


@pytest.mark.parametrize("name", ["base", "ci", "ml-1m"])
def test_every_params_file_resolves(name):
    cfg, extras = resolve(reports.merge_parameters(reports.params_files(name, REPO)))
    assert cfg.lr > 0 and extras["ablation_epochs"] >= 1


def test_base_yaml_holds_the_papers_hyper_parameters():
    cfg, extras = resolve(reports.merge_parameters(reports.params_files("base", REPO)))
    assert (cfg.dataset, cfg.min_seq, cfg.test_ratio, cfg.batch_size, cfg.lr) == ("ml-100k", 20, 0.2, 128, 0.0001)
    assert (cfg.emb_size, cfg.region_size, cfg.use_attention, cfg.num_head, cfg.max_seq) == (64, 7, 1, 2, 0)
    ml1m, _ = resolve(reports.merge_parameters(reports.params_files("ml-1m", REPO)))
    assert (ml1m.dataset, ml1m.max_seq) == ("ml-1m", 327)
    assert extras["ablation_grid"][0] == {"use_attention": 0}


def test_base_and_ml1m_params_also_work_with_the_cli_loader():
    from arerec.notebook import EXTRAS  # the CLI skips the notebook-only keys, as here

    cfg = load_yaml_layers([REPO / "params" / "base.yaml", REPO / "params" / "ml-1m.yaml"], ignore=EXTRAS)
    assert cfg.dataset == "ml-1m"


def test_later_layers_and_overrides_win(tmp_path):
    (tmp_path / "a.yaml").write_text("epochs: 1\nlr: 0.1\n")
    (tmp_path / "b.yaml").write_text("epochs: 2\n")
    merged = reports.merge_parameters([tmp_path / "a.yaml", tmp_path / "b.yaml"], {"lr": 0.5})
    assert merged == {"epochs": 2, "lr": 0.5}


def test_an_unknown_key_in_a_file_or_override_names_the_valid_keys(tmp_path):
    (tmp_path / "bad.yaml").write_text("epochs: 1\nregion_sise: 3\n")
    with pytest.raises(ConfigError) as error:
        reports.merge_parameters([tmp_path / "bad.yaml"])
    assert "bad.yaml: 'region_sise' (did you mean 'region_size'?)" in str(error.value)
    assert "Valid keys:" in str(error.value) and "attention_rows" in str(error.value)
    with pytest.raises(ConfigError, match="--set overrides: 'bogus'"):
        reports.merge_parameters([], {"bogus": 1})


def test_parse_set_reads_values_as_yaml():
    assert reports.parse_set(["epochs=3", "lr=0.001", "topk=[3, 5]", "dataset=ml-1m", "grid=[{a: 1}]"]) == {
        "epochs": 3, "lr": 0.001, "topk": [3, 5], "dataset": "ml-1m", "grid": [{"a": 1}]}
    with pytest.raises(ConfigError, match="key=value"):
        reports.parse_set(["epochs"])


def test_the_runner_refuses_bad_parameters_before_running_anything(tmp_path, capsys):
    code = reports.main(["run", "--params", "ci", "--root", str(REPO), "--reports-dir", str(tmp_path),
                         "--set", "num_heads=4"])
    assert code == 2
    assert "'num_heads' (did you mean 'num_head'?)" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
    code = reports.main(["run", "--params", "ci", "--root", str(REPO), "--reports-dir", str(tmp_path),
                         "--set", "emb_size=10", "--set", "num_head=4"])
    assert code == 2 and "emb_size must be divisible by num_head" in capsys.readouterr().err


def test_data_provenance_records_the_checksum(tmp_path):
    cfg = Config(data_path=str(tmp_path), dataset="mine")
    record = reports.data_provenance(cfg)
    assert record["ratings_sha256"] is None
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "mine_ratings.csv").write_text("userId,itemId,rating,timestamp\n1,2,3,4\n")
    record = reports.data_provenance(cfg)
    # sha256 of the file's bytes, computed independently of arerec.files
    import hashlib

    expected = hashlib.sha256(b"userId,itemId,rating,timestamp\n1,2,3,4\n").hexdigest()
    assert record == {"dataset": "mine", "data_version": cfg.resolved_data_version,
                      "ratings_file": str(tmp_path / "mine" / "mine_ratings.csv"), "ratings_sha256": expected}


def test_provenance_names_packages_machine_and_commit(tmp_path):
    record = reports.provenance(Config(seed=7, data_path=str(tmp_path)), REPO)
    assert record["seed"] == 7 and record["split_seed"] == 32
    assert record["packages"]["numpy"][0].isdigit() and record["packages"]["python"].count(".") == 2
    assert record["machine"]["cpu"] and record["machine"]["cpu_count"] >= 1
    assert set(record["git"]) == {"commit", "dirty"}
    assert reports.git_state(tmp_path)["commit"].startswith("unknown")


def test_git_state_counts_code_changes_but_not_rewritten_reports(tmp_path):
    import shutil
    import subprocess

    if shutil.which("git") is None:
        pytest.skip("git is not installed")

    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                       check=True, capture_output=True)

    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "index.html").write_text("old")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "first")
    assert reports.git_state(tmp_path)["dirty"] is False
    (tmp_path / "reports" / "index.html").write_text("rewritten by make reproduce")
    assert reports.git_state(tmp_path)["dirty"] is False
    (tmp_path / "code.py").write_text("x = 2\n")
    assert reports.git_state(tmp_path)["dirty"] is True


def test_notebook_error_reads_the_first_error_output(tmp_path):
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps({"cells": [
        {"cell_type": "code", "outputs": [{"output_type": "stream", "text": "hi"}]},
        {"cell_type": "code", "source": ["exp = training.load_experiment(nb.cfg)\n", "x = 1"],
         "outputs": [{"output_type": "error", "ename": "DataError", "evalue": "no rows"}]},
    ]}))
    assert reports.notebook_error(path) == "cell 2 (exp = training.load_experiment(nb.cfg)): DataError: no rows"
    assert reports.notebook_error(tmp_path / "missing.ipynb") is None


def _experiment(folder: Path, status: str, **extra) -> None:
    run = {"status": status, "parameters": {"dataset": "synthetic", "epochs": 2}, "seconds": 75.0,
           "git": {"commit": "a" * 40, "dirty": False}, "data": {"data_version": "v1", "ratings_sha256": "f" * 64},
           "notebooks": {"01_data_exploration": {"status": "ok", "seconds": 3.0, "html": "01_data_exploration.html"}},
           **extra}
    update_metrics(folder, "run", run)
    (folder / "01_data_exploration.html").write_text("<html></html>")


def test_index_shows_headlines_links_heatmaps_and_failures(tmp_path):
    good, bad = tmp_path / "good", tmp_path / "bad"
    _experiment(good, "ok")
    update_metrics(good, "02_training", {"k": 10, "seeds": [0, 1, 2], "claims": "Plainly: ARERec is worse.",
                                         "headline_columns": ["model", "NDCG@10 (reference)", "seeds"],
                                         "headline_table": [
        {"model": "ARERec (faithful: dense Adam)", "NDCG@10 (reference)": "0.567 ± 0.010", "seeds": 3},
        {"model": "item_mean", "NDCG@10 (reference)": "0.554 ± 0.000", "seeds": 3}]})
    update_metrics(good, "03_ablation", {"summary": [{"variant": "base", "n": 3, "ndcg": 0.5, "ndcg_ci": 0.02,
                                                      "rmse": 1.1, "rmse_ci": 0.01}]})
    (good / "figures").mkdir()
    (good / "figures" / "attention_pair_01.png").write_bytes(b"\x89PNG")
    (good / "figures" / "learning_curves.png").write_bytes(b"\x89PNG")
    _experiment(bad, "failed", failed_step="02_training", error="DataError: no rows")
    (tmp_path / "stray").mkdir()  # a folder without metrics.json is not an experiment

    index, readme = reports.build_index(tmp_path)
    page = index.read_text()
    assert "FAILED in 02_training: DataError: no rows" in page
    assert '<tr class="failed"><td>bad</td><td>FAILED in 02_training</td>' in page
    assert "<td>good</td><td>ok</td><td>synthetic</td><td>2</td><td>3</td><td>10</td>" in page
    assert "<h2>Headline: good</h2>" in page and "over 3 seeds" in page
    assert "<td>ARERec (faithful: dense Adam)</td><td>0.567 ± 0.010</td>" in page
    assert "Plainly: ARERec is worse." in page
    assert "<td>base</td><td>3</td><td>0.500 ± 0.020</td><td>1.100 ± 0.010</td>" in page  # ablation
    assert 'href="good/01_data_exploration.html"' in page
    assert '<img src="good/figures/attention_pair_01.png"' in page
    assert 'href="good/figures/learning_curves.png"' in page
    assert "f" * 64 in page and "aaaaaaaaaa" in page and "1 min 15 s" in page
    assert "stray" not in page
    text = readme.read_text()
    assert "| good | ok | synthetic | 2 | 3 | 10 |" in text
    assert "| ARERec (faithful: dense Adam) | 0.567 ± 0.010 | 3 |" in text
    assert "Status: FAILED in 02_training: DataError: no rows" in text
    assert "[attention_pair_01.png](good/figures/attention_pair_01.png)" in text


def test_an_unfinished_run_is_not_shown_as_a_success(tmp_path):
    _experiment(tmp_path / "half", "running")
    page = reports.build_index(tmp_path)[0].read_text()
    assert "INCOMPLETE" in page and '<tr class="failed"><td>half</td>' in page
