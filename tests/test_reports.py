"""arerec.reports: parameter layers, provenance, the index. (Running notebooks: test_notebooks.py.)"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from arerec import reports
from arerec.config import Config, load_yaml_layers
from arerec.data.prepare import version_paths
from arerec.errors import ComparisonError, ConfigError
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


@pytest.mark.parametrize("name", ["base", "ci", "ml-1m", "full"])
def test_every_params_file_resolves(name):
    cfg, extras = resolve(reports.merge_parameters(reports.params_files(name, REPO)))
    assert cfg.lr > 0 and extras["validation_search"]["max_epochs"] >= extras["validation_search"]["rungs"][-1]
    if name in ("base", "full"):  # the tuned headline of make reproduce: at least 3 seeds, tuned baselines
        assert len(extras["seeds"]) >= 3 and extras["baselines"] and extras["baseline_grids"]


def test_base_yaml_holds_the_papers_hyper_parameters():
    cfg, extras = resolve(reports.merge_parameters(reports.params_files("base", REPO)))
    assert (cfg.dataset, cfg.min_seq, cfg.test_ratio, cfg.batch_size, cfg.lr) == ("ml-100k", 20, 0.2, 128, 0.0001)
    assert (cfg.emb_size, cfg.region_size, cfg.use_attention, cfg.num_head, cfg.max_seq) == (64, 7, 1, 2, 0)
    ml1m, _ = resolve(reports.merge_parameters(reports.params_files("ml-1m", REPO)))
    assert (ml1m.dataset, ml1m.max_seq) == ("ml-1m", 327)
    assert extras["ablation_grid"][0] == {"use_attention": 0}
    assert cfg.sort_kind == "stable" and cfg.derived_data_version.endswith("_stable")  # the same split on any CPU


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


def git_in(repo: Path):
    """``git(*args)`` in a throwaway repository at ``repo``; skips the test where git is not installed."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t",
                        "-c", "commit.gpgsign=false", *args], check=True, capture_output=True)

    return git


def test_git_state_counts_code_changes_but_not_rewritten_reports(tmp_path):
    git = git_in(tmp_path)
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
    update_metrics(good, "02_training", {
        "k": 10, "seeds": [0, 1, 2], "tuning": [{"config": {"lr": 0.003}}, {"config": {"lr": 0.001}}],
        "chosen": {"label": "lr=0.003", "selection_metric": "val_loss"},
        "headline_summary": [
            {"protocol": "clean", "model": "ARERec (tuned)", "n": 3, "ndcg@10": 0.567, "ndcg@10_ci": 0.01,
             "rmse": 1.0, "rmse_ci": 0.02},
            {"protocol": "clean", "model": "item_mean", "n": 3, "ndcg@10": 0.554, "ndcg@10_ci": 0.0,
             "rmse": 1.05, "rmse_ci": 0.0}],
        "verdicts": [{"claim": "ARERec beats the best baseline (RMSE, lower is better)", "verdict": "supported",
                      "numbers": "ARERec (tuned) 1.0000 vs item_mean 1.0500"},
                     {"claim": "Attention beats attention off (RMSE)", "verdict": "left out",
                      "why": "no rows for ARERec, attention off (tuned)"}],
        "seed_run": [{"epoch": 1, "original: ndcg@10": 0.478, "ours: ndcg@10": 0.47}],
        "seed_schedule_summary": [{"protocol": "reference", "model": "ARERec (faithful: dense Adam)", "n": 1,
                                   "ndcg@10": 0.5, "rmse": 1.1}]})
    update_metrics(good, "04_attention", {"summary": {
        "seed_schedule": {"normalised_entropy_per_head": [0.999, 0.998], "share_peaked_per_head": [0.0, 0.0]},
        "tuned": {"normalised_entropy_per_head": [0.91, 0.87], "share_peaked_per_head": [0.2, 0.31]}}})
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
    assert "<b>lr=0.003</b> (selection: val_loss; 2 configurations tried)" in page
    assert "<td>ARERec (tuned)</td><td>0.567 ± 0.010</td>" in page  # one table per protocol
    assert "<li><b>supported</b>: ARERec beats the best baseline (RMSE, lower is better)" in page
    assert "<li><b>left out</b>: Attention beats attention off (RMSE)" in page and "no rows for ARERec" in page
    assert "<td>1</td><td>0.4780</td><td>0.4700</td>" in page  # the seed run beside the original's figures
    assert "At the seed's schedule, reference protocol" in page
    assert "<td>tuned</td><td>0.910, 0.870</td><td>0.200, 0.310</td>" in page
    assert "<td>base</td><td>3</td><td>0.500 ± 0.020</td><td>1.100 ± 0.010</td>" in page  # ablation
    assert 'href="good/01_data_exploration.html"' in page
    assert '<img src="good/figures/attention_pair_01.png"' in page
    assert 'href="good/figures/learning_curves.png"' in page
    assert "f" * 64 in page and "aaaaaaaaaa" in page and "1 min 15 s" in page
    assert "stray" not in page
    text = readme.read_text()
    assert "| good | ok | synthetic | 2 | 3 | 10 |" in text
    assert "| ARERec (tuned) | 0.567 ± 0.010 |" in text and "- **supported**: ARERec beats the best baseline" in text
    assert "Status: FAILED in 02_training: DataError: no rows" in text
    assert "[attention_pair_01.png](good/figures/attention_pair_01.png)" in text


def test_an_unfinished_run_is_not_shown_as_a_success(tmp_path):
    _experiment(tmp_path / "half", "running")
    page = reports.build_index(tmp_path)[0].read_text()
    assert "INCOMPLETE" in page and '<tr class="failed"><td>half</td>' in page


def test_the_params_command_prints_the_merged_parameters(capsys):
    assert reports.main(["params", "--params", "ci", "--root", str(REPO)]) == 0
    merged = json.loads(capsys.readouterr().out)
    assert (merged["dataset"], merged["sort_kind"], merged["split_seed"]) == ("synthetic", "stable", 32)
    assert "protocols" in merged  # the notebook extras beside the Config fields


# --------------------------------------------------------------------------------------------
# Split digests, and `check`: the rebuilt metrics.json against the committed one
# --------------------------------------------------------------------------------------------
def test_the_runner_records_the_sha256_of_every_prepared_split_file(tmp_path, monkeypatch):
    data_path = tmp_path / "Data"
    overrides = {"data_path": str(data_path), "dataset": "toy"}
    monkeypatch.setattr(reports, "kernel_available", lambda name="arerec": True)
    monkeypatch.setattr(reports, "get_data", lambda cfg: {"dataset": cfg.dataset, "data_version": cfg.resolved_data_version,
                                                          "ratings_file": str(data_path / "toy" / "toy_ratings.csv")})
    expected: dict[str, dict[str, str]] = {}

    def notebook_that_prepares(source, output, files, injected, *, root, timeout):
        if source.stem == "01_data_exploration":  # as notebook 01 does: both protocols' data versions
            for version in ("toy_8020_minseq5_bs32_dper1.0_stable", "toy_8020_minseq5_bs32_dper1.0_stable_clean10"):
                for path in version_paths(data_path, "toy", version).values():
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(f"rows of {path.name}\n")
                    expected.setdefault(version, {})[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
        return reports.Outcome("ok", 0.1, "papermill ...")

    monkeypatch.setattr(reports, "run_notebook", notebook_that_prepares)
    assert reports.run("ci", root=REPO, reports_dir=str(tmp_path / "reports"), overrides=overrides) == 0
    digests = json.loads((tmp_path / "reports" / "ci" / "metrics.json").read_text())["run"]["data"]["split_sha256"]
    assert digests == expected
    assert sorted(digests["toy_8020_minseq5_bs32_dper1.0_stable_clean10"]) == [
        f"toy_8020_minseq5_bs32_dper1.0_stable_clean10_{name}.id" for name in ("item_user_sequence", "test", "train", "valid")]
    assert len(digests["toy_8020_minseq5_bs32_dper1.0_stable"]) == 3  # no validation file under the reference protocol


def committed() -> dict:
    """A metrics.json in the shape the runner and notebooks write."""
    return {
        "run": {"status": "ok", "seconds": 3103.2, "started_at": "2026-11-28T00:28:41+00:00",
                "git": {"commit": "a" * 40, "dirty": False}, "machine": {"cpu": "AMD EPYC", "cpu_count": 2},
                "notebooks": {"02_training": {"status": "ok", "seconds": 2194.7}}, "parameters": {"epochs": 2},
                "data": {"data_version": "v_stable", "ratings_sha256": "d" * 64,
                         "split_sha256": {"v_stable": {"v_stable_train.id": "1" * 64, "v_stable_test.id": "2" * 64}}}},
        "01_data_exploration": {"overview": {"ratings": 100000, "density": 0.06304669364224531},
                                "interactions_kept_at_max_seq": 0.67689116333923,
                                "provenance": {"wall_seconds": 13.05, "machine": {"cpu": "AMD EPYC"}}},
        "02_training": {
            "train_seconds": 93.3,
            "headline_summary": [
                {"model": "ARERec", "protocol": "reference", "ndcg@10": 0.5066, "ndcg@10_ci": 0.0854, "n": 3},
                {"model": "item_mean", "protocol": "reference", "ndcg@10": 0.554, "ndcg@10_ci": 0.0, "n": 3}],
            "headline_table": [{"model": "ARERec", "NDCG@10 (reference)": "0.507 ± 0.085"}],
        },
        "04_attention": {"summary": {"mean_relative_attention_on_target": 1.04, "pairs": 174538}},
    }


def test_skipped_figures_record_keys_and_cis_of_the_flattened_metrics():
    leaves = reports.flatten_figures(committed())
    assert set(leaves) == {
        "run.status", "run.data.data_version", "run.data.ratings_sha256",
        "run.data.split_sha256.v_stable.v_stable_train.id", "run.data.split_sha256.v_stable.v_stable_test.id",
        "01_data_exploration.overview.ratings", "01_data_exploration.overview.density",
        "01_data_exploration.interactions_kept_at_max_seq",  # '_at' only ends a clock time's key
        *(f"02_training.headline_summary[model={m}; protocol=reference].{k}"
          for m in ("ARERec", "item_mean") for k in ("model", "protocol", "ndcg@10", "ndcg@10_ci", "n")),
        "02_training.headline_table[model=ARERec].model", "02_training.headline_table[model=ARERec].NDCG@10 (reference)",
        "04_attention.summary.mean_relative_attention_on_target", "04_attention.summary.pairs",
    }
    assert leaves["02_training.headline_summary[model=ARERec; protocol=reference].ndcg@10"] == reports.Leaf(0.5066, 0.0854)
    # records without a telling key, or whose keys repeat, are paired by their place
    assert reports.flatten_figures({"x": [{"a": 1}, {"a": 2}]}) == {"x[0].a": reports.Leaf(1), "x[1].a": reports.Leaf(2)}
    assert set(reports.flatten_figures({"x": [{"model": "m", "a": 1}, {"model": "m", "a": 2}]})) == {
        "x[0].model", "x[0].a", "x[1].model", "x[1].a"}


def test_which_figures_are_trained():
    assert reports.is_trained("02_training.headline_summary[model=ARERec; protocol=clean].ndcg@10")
    assert reports.is_trained("03_ablation.summary[variant=base].ndcg")
    assert not reports.is_trained("01_data_exploration.max_seq") and not reports.is_trained("run.data.data_version")
    arerec_rows = ["02_training.headline_summary[model=ARERec*"]  # '[' is itself, unlike fnmatch
    assert reports.is_trained("02_training.headline_summary[model=ARERec (fast); protocol=clean].rmse", arerec_rows)
    assert not reports.is_trained("02_training.headline_summary[model=item_mean; protocol=clean].rmse", arerec_rows)
    assert reports.is_trained("03_ablation.runs[3].hr@1?", ["03_ablation.runs[?].hr@1?"])


def test_an_identical_rebuild_up_to_timings_and_trained_noise_is_reproduced():
    old, new = committed(), committed()
    new["run"].update(seconds=10.0, started_at="2027-01-01T00:00:00+00:00", git={"commit": "b" * 40, "dirty": True},
                      machine={"cpu": "Intel Xeon", "cpu_count": 16})
    new["01_data_exploration"]["provenance"]["machine"]["cpu"] = "Intel Xeon"
    new["01_data_exploration"]["overview"]["density"] *= 1 + 1e-14  # the last bits: still identical
    summary = new["02_training"]["headline_summary"]
    summary.reverse()  # paired by model and protocol, not by place
    summary[1]["ndcg@10"] += 0.019  # ARERec's row, now second
    new["02_training"]["headline_table"][0]["NDCG@10 (reference)"] = "0.526 ± 0.085"  # text of trained numbers
    comparison = reports.compare_metrics(old, new)
    assert comparison.reproduced and reports.verdict(comparison) == "REPRODUCED"
    assert (len(comparison.of_kind("deterministic")), len(comparison.of_kind("trained"))) == (8, 8)
    report = reports.format_comparison(comparison)
    assert "deterministic figures: 8 compared, 8 identical; largest difference" in report
    assert ("trained figures: 8 compared, 8 within ±0.02; largest difference 0.019 at 02_training.headline_summary"
            "[model=ARERec; protocol=reference].ndcg@10 (95% CI ±0.0854)") in report
    assert report.endswith("\nREPRODUCED")


def test_what_fails_and_the_verdict():
    old, new = committed(), committed()
    new["run"]["data"]["split_sha256"]["v_stable"]["v_stable_test.id"] = "3" * 64
    new["01_data_exploration"]["overview"]["ratings"] = 100001
    new["01_data_exploration"]["overview"]["density"] *= 1 + 1e-9
    new["02_training"]["headline_summary"][0]["ndcg@10"] += 0.021
    new["02_training"]["headline_summary"][1]["ndcg@10"] += 0.01  # a baseline: trained under the default patterns
    del new["04_attention"]["summary"]["pairs"]
    comparison = reports.compare_metrics(old, new)
    failed = {f.path: f for f in comparison.failures}
    assert list(failed) == [  # deterministic first, then trained, each in the order of the file
        "run.data.split_sha256.v_stable.v_stable_test.id", "01_data_exploration.overview.ratings",
        "01_data_exploration.overview.density",
        "02_training.headline_summary[model=ARERec; protocol=reference].ndcg@10", "04_attention.summary.pairs"]
    assert failed["04_attention.summary.pairs"].rebuilt is reports.MISSING
    assert reports.verdict(comparison) == ("NOT REPRODUCED: 3 of 8 deterministic figures differ; "
                                           "2 of 8 trained figures beyond ±0.02")
    report = reports.format_comparison(comparison)
    assert ("[trained] 02_training.headline_summary[model=ARERec; protocol=reference].ndcg@10: committed 0.5066, "
            "rebuilt 0.5276, difference +0.021 (beyond ±0.02); 95% CI ±0.0854") in report
    assert "[trained] 04_attention.summary.pairs: committed 174538, rebuilt (absent)" in report
    assert "failures (5):" in report and "more" not in report
    # a wider tolerance passes the ARERec figure; a narrower pattern makes the baseline's row deterministic
    wider = reports.compare_metrics(old, new, tolerance=0.05)
    assert [f.path for f in wider.failures if f.kind == "trained"] == ["04_attention.summary.pairs"]
    narrow = reports.compare_metrics(old, new, trained_patterns=["02_training.headline_summary[model=ARERec*"])
    baseline = "02_training.headline_summary[model=item_mean; protocol=reference].ndcg@10"
    assert [f.kind for f in narrow.failures if f.path == baseline] == ["deterministic"]
    assert reports.verdict(reports.compare_metrics({}, {})) == "NOT REPRODUCED: no figures to compare"


def test_the_report_lists_at_most_twenty_failures():
    old = {"01": {f"f{n:02d}": n for n in range(25)}}
    new = {"01": {f"f{n:02d}": n + 1 for n in range(25)}}
    report = reports.format_comparison(reports.compare_metrics(old, new))
    assert "failures (25):" in report and "01.f19:" in report and "01.f20:" not in report
    assert "  ... and 5 more" in report


def test_check_compares_with_the_copy_committed_in_git(tmp_path, capsys):
    git = git_in(tmp_path)
    folder = tmp_path / "reports" / "base"
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps(committed()))
    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "reports")
    rebuilt = committed()
    rebuilt["run"]["seconds"] = 1.0
    (folder / "metrics.json").write_text(json.dumps(rebuilt))
    assert reports.main(["check", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("reports/base/metrics.json rebuilt, against HEAD:reports/base/metrics.json committed")
    assert out.endswith("REPRODUCED\n")

    rebuilt["02_training"]["headline_summary"][0]["ndcg@10"] += 0.03
    (folder / "metrics.json").write_text(json.dumps(rebuilt))
    assert reports.main(["check", "--root", str(tmp_path)]) == 1
    assert "NOT REPRODUCED: 1 of 8 trained figures beyond ±0.02" in capsys.readouterr().out
    assert reports.main(["check", "--root", str(tmp_path), "--tolerance", "0.05"]) == 0

    for args, message in (
        (["--experiment", "ci"], "no rebuilt metrics.json at "),
        (["--against", "no-such-commit"], "git cannot read commit 'no-such-commit'"),
    ):
        capsys.readouterr()
        assert reports.main(["check", "--root", str(tmp_path), *args]) == 2
        assert message in capsys.readouterr().err
    (tmp_path / "reports" / "new").mkdir()
    (tmp_path / "reports" / "new" / "metrics.json").write_text("{}")
    assert reports.main(["check", "--root", str(tmp_path), "--experiment", "new"]) == 2
    assert "git has no committed copy of reports/new/metrics.json in 'HEAD'" in capsys.readouterr().err
    outside = tmp_path / "elsewhere"
    (outside / "reports" / "base").mkdir(parents=True)
    (outside / "reports" / "base" / "metrics.json").write_text("{}")
    with pytest.raises(ComparisonError, match="git cannot read commit 'HEAD'"):
        reports.committed_metrics(outside.parent.parent, "x.json")  # not a git checkout
