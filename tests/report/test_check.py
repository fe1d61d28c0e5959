"""arerec.report.check: the rebuilt metrics.json against the committed one, figure by figure."""

from __future__ import annotations

import json

import pytest
from conftest import git_in

from arerec import cli
from arerec.errors import ComparisonError
from arerec.report import check


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
    leaves = check.flatten_figures(committed())
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
    assert leaves["02_training.headline_summary[model=ARERec; protocol=reference].ndcg@10"] == check.Leaf(0.5066, 0.0854)
    # records without a telling key, or whose keys repeat, are paired by their place
    assert check.flatten_figures({"x": [{"a": 1}, {"a": 2}]}) == {"x[0].a": check.Leaf(1), "x[1].a": check.Leaf(2)}
    assert set(check.flatten_figures({"x": [{"model": "m", "a": 1}, {"model": "m", "a": 2}]})) == {
        "x[0].model", "x[0].a", "x[1].model", "x[1].a"}


def test_which_figures_are_trained():
    assert check.is_trained("02_training.headline_summary[model=ARERec; protocol=clean].ndcg@10")
    assert check.is_trained("03_ablation.summary[variant=base].ndcg")
    assert not check.is_trained("01_data_exploration.max_seq") and not check.is_trained("run.data.data_version")
    # notebook 02: ARERec's figures are trained; the baselines' and the original's own figures are deterministic
    assert check.is_trained("02_training.runs[model=ARERec (tuned); protocol=clean; seed=1].rmse")
    assert not check.is_trained("02_training.runs[model=biased_mf; protocol=clean; seed=1].rmse")
    assert not check.is_trained("02_training.headline_summary[model=user_knn; protocol=clean].rmse")
    assert not check.is_trained("02_training.baseline_tuning[3].val_rmse")
    assert check.is_trained("02_training.seed_run[1].ours: ndcg@10")
    assert not check.is_trained("02_training.seed_run[1].original: ndcg@10")
    assert check.is_trained("02_training.tuning[0].val_score") and check.is_trained("02_training.verdicts[2].mean_diff")
    assert not check.is_trained("02_training.chosen.label")  # which configuration won: must be the same
    arerec_rows = ["02_training.headline_summary[model=ARERec*"]  # '[' is itself, unlike fnmatch
    assert check.is_trained("02_training.headline_summary[model=ARERec (fast); protocol=clean].rmse", arerec_rows)
    assert not check.is_trained("02_training.headline_summary[model=item_mean; protocol=clean].rmse", arerec_rows)
    assert check.is_trained("03_ablation.runs[3].hr@1?", ["03_ablation.runs[?].hr@1?"])


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
    comparison = check.compare_metrics(old, new)
    assert comparison.reproduced and check.verdict(comparison) == "REPRODUCED"
    assert (len(comparison.of_kind("deterministic")), len(comparison.of_kind("trained"))) == (13, 5)
    report = check.format_comparison(comparison)
    assert "deterministic figures: 13 compared, 13 identical; largest difference" in report
    assert ("trained figures: 5 compared, 5 within ±0.02; largest difference 0.019 at 02_training.headline_summary"
            "[model=ARERec; protocol=reference].ndcg@10 (95% CI ±0.0854)") in report
    assert report.endswith("\nREPRODUCED")


def test_what_fails_and_the_verdict():
    old, new = committed(), committed()
    new["run"]["data"]["split_sha256"]["v_stable"]["v_stable_test.id"] = "3" * 64
    new["01_data_exploration"]["overview"]["ratings"] = 100001
    new["01_data_exploration"]["overview"]["density"] *= 1 + 1e-9
    new["02_training"]["headline_summary"][0]["ndcg@10"] += 0.021
    new["02_training"]["headline_summary"][1]["ndcg@10"] += 0.01  # a baseline: deterministic, must be identical
    del new["04_attention"]["summary"]["pairs"]
    comparison = check.compare_metrics(old, new)
    failed = {f.path: f for f in comparison.failures}
    assert list(failed) == [  # deterministic first, then trained, each in the order of the file
        "run.data.split_sha256.v_stable.v_stable_test.id", "01_data_exploration.overview.ratings",
        "01_data_exploration.overview.density",
        "02_training.headline_summary[model=item_mean; protocol=reference].ndcg@10",
        "02_training.headline_summary[model=ARERec; protocol=reference].ndcg@10", "04_attention.summary.pairs"]
    assert failed["04_attention.summary.pairs"].rebuilt is check.MISSING
    assert check.verdict(comparison) == ("NOT REPRODUCED: 4 of 13 deterministic figures differ; "
                                           "2 of 5 trained figures beyond ±0.02")
    report = check.format_comparison(comparison)
    assert ("[trained] 02_training.headline_summary[model=ARERec; protocol=reference].ndcg@10: committed 0.5066, "
            "rebuilt 0.5276, difference +0.021 (beyond ±0.02); 95% CI ±0.0854") in report
    assert "[trained] 04_attention.summary.pairs: committed 174538, rebuilt (absent)" in report
    assert "failures (6):" in report and "more" not in report
    # a wider tolerance passes the ARERec figure; a pattern that makes every 02 figure trained lets the baseline pass
    wider = check.compare_metrics(old, new, tolerance=0.05)
    assert [f.path for f in wider.failures if f.kind == "trained"] == ["04_attention.summary.pairs"]
    broad = check.compare_metrics(old, new, trained_patterns=["02_training.*"])
    baseline = "02_training.headline_summary[model=item_mean; protocol=reference].ndcg@10"
    assert [f.path for f in broad.failures if f.path == baseline] == []
    assert check.verdict(check.compare_metrics({}, {})) == "NOT REPRODUCED: no figures to compare"


def test_the_report_lists_at_most_twenty_failures():
    old = {"01": {f"f{n:02d}": n for n in range(25)}}
    new = {"01": {f"f{n:02d}": n + 1 for n in range(25)}}
    report = check.format_comparison(check.compare_metrics(old, new))
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
    assert cli.main(["report", "check", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("reports/base/metrics.json rebuilt, against HEAD:reports/base/metrics.json committed")
    assert out.endswith("REPRODUCED\n")

    rebuilt["02_training"]["headline_summary"][0]["ndcg@10"] += 0.03
    (folder / "metrics.json").write_text(json.dumps(rebuilt))
    assert cli.main(["report", "check", "--root", str(tmp_path)]) == 1
    assert "NOT REPRODUCED: 1 of 5 trained figures beyond ±0.02" in capsys.readouterr().out
    assert cli.main(["report", "check", "--root", str(tmp_path), "--tolerance", "0.05"]) == 0

    for args, message in (
        (["--experiment", "ci"], "no rebuilt metrics.json at "),
        (["--against", "no-such-commit"], "git cannot read commit 'no-such-commit'"),
    ):
        capsys.readouterr()
        assert cli.main(["report", "check", "--root", str(tmp_path), *args]) == 2
        assert message in capsys.readouterr().err
    (tmp_path / "reports" / "new").mkdir()
    (tmp_path / "reports" / "new" / "metrics.json").write_text("{}")
    assert cli.main(["report", "check", "--root", str(tmp_path), "--experiment", "new"]) == 2
    assert "git has no committed copy of reports/new/metrics.json in 'HEAD'" in capsys.readouterr().err
    outside = tmp_path / "elsewhere"
    (outside / "reports" / "base").mkdir(parents=True)
    (outside / "reports" / "base" / "metrics.json").write_text("{}")
    with pytest.raises(ComparisonError, match="git cannot read commit 'HEAD'"):
        check.committed_metrics(outside.parent.parent, "x.json")  # not a git checkout


def with_settings(config: dict, parameters: dict) -> dict:
    """:func:`committed` with a chosen run's whole Config and a notebook's parameters, as the notebooks record them."""
    metrics = committed()
    metrics["02_training"]["chosen"] = {"config": config, "label": "lr=0.003", "overrides": {"lr": 0.003}}
    metrics["02_training"]["parameters"] = parameters
    return metrics


def test_a_setting_an_older_kit_did_not_record_is_no_difference_at_its_default(tmp_path, capsys):
    from arerec.config import Config
    from arerec.sweeps.search_settings import SearchSettings

    DEFAULTS = SearchSettings().to_dict()

    today = Config(lr=0.003).to_dict()
    older = {k: v for k, v in today.items() if k not in ("distribution", "model_axis", "job_addresses")}
    older["hrcutoff"] = 3  # a float field an older kit wrote as the int of its default
    old = with_settings(older, {"epochs": 2, "seeds": [0, 1, 2]})
    new = with_settings(today, {"epochs": 2, "seeds": [0, 1, 2], "workers": 1,
                                "validation_search": {"pruner": DEFAULTS["pruner"]}})  # parameters at their defaults
    assert today["hrcutoff"] == 3.0 and isinstance(today["hrcutoff"], float)
    comparison = check.compare_metrics(old, new)
    assert comparison.reproduced and comparison.setting_differences == []
    assert {"02_training.chosen.config.distribution", "02_training.chosen.config.topk",
            "02_training.parameters.validation_search.pruner"} <= {s.path for s in comparison.settings}
    assert not any(f.path.startswith("02_training.chosen.config") for f in comparison.figures)  # apart from figures
    # through `check`: an older kit's metrics.json committed, today's rebuilt
    git = git_in(tmp_path)
    folder = tmp_path / "reports" / "base"
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps(old))
    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "reports of an older kit")
    (folder / "metrics.json").write_text(json.dumps(new))
    assert cli.main(["report", "check", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "settings: " in out and ", 0 differ, 0 of them in what was computed" in out
    assert out.endswith("REPRODUCED\n")


def test_a_setting_that_differs_is_reported_and_fails_only_when_it_changes_what_was_computed():
    from arerec.config import Config

    base = Config(lr=0.003).to_dict()
    old = with_settings({k: v for k, v in base.items() if k != "distribution"}, {"workers": 1})
    placed = with_settings({**base, "model_path": "/scratch/Model/", "distribution": "data", "process_id": 0},
                           {"workers": 4, "ray_num_cpus": 2, "executor": "ray"})
    comparison = check.compare_metrics(old, placed)
    assert comparison.reproduced
    assert {s.path for s in comparison.setting_differences} == {
        "02_training.chosen.config.model_path", "02_training.chosen.config.distribution",
        "02_training.chosen.config.process_id", "02_training.parameters.workers",
        "02_training.parameters.ray_num_cpus", "02_training.parameters.executor"}
    report = check.format_comparison(comparison)
    assert ("[setting] 02_training.chosen.config.model_path: committed 'Model/', rebuilt '/scratch/Model/' "
            "(model_path does not change what was computed)") in report
    assert report.endswith("\nREPRODUCED")

    computed = with_settings({**base, "lr": 0.01, "regularizer": [0.0] * 5, "distribution": "none"},
                             {"workers": 1, "validation_search": {"n_trials": 1}})
    comparison = check.compare_metrics(old, computed)
    assert not comparison.reproduced and comparison.failures == []  # every figure the same; three settings not
    assert [s.path for s in comparison.setting_failures] == [  # in the order of the Config's fields
        "02_training.chosen.config.regularizer", "02_training.chosen.config.lr",
        "02_training.parameters.validation_search.n_trials"]  # absent on one side, and not at its default 4
    assert check.verdict(comparison).startswith(
        "NOT REPRODUCED: 3 of ")
    assert check.verdict(comparison).endswith(
        "settings differ in what was computed (02_training.chosen.config.regularizer, 02_training.chosen.config.lr, "
        "02_training.parameters.validation_search.n_trials)")
    report = check.format_comparison(comparison)
    assert "[setting] 02_training.chosen.config.lr: committed 0.003, rebuilt 0.01 (changes what was computed)" in report


def test_which_leaves_are_settings_and_their_defaults():
    search = {"search": {"ARERec": {"trials": [{"params": {"lr": 0.003}, "state": "COMPLETE", "epochs": 2,
                                                "val_score": 1.41}], "n_trials": 6, "chosen": {"lr": 0.003}}}}
    figures, settings = check.flatten_figures(search), check.flatten_settings(search)
    assert set(settings) == {"search.ARERec.trials[0].params.lr"}  # a trial's parameters; its outcome is a figure
    assert "search.ARERec.trials[0].val_score" in figures and "search.ARERec.trials[0].epochs" in figures
    assert check.setting_default("search.ARERec.trials[0].params.lr") == 0.0001  # the Config field's default
    assert check.setting_name("search.ARERec.trials[0].params.lr") == "lr"
    assert check.setting_default("x.chosen.config.hrcutoff") == 3
    assert check.setting_default("x.parameters.validation_search.n_trials") == 4
    assert check.setting_default("x.parameters.no_such_parameter") is check._NO_DEFAULT
    assert check.setting_name("x.chosen.config.regularizer") == "regularizer"
    assert not check.computes("num_processes") and not check.computes("ray_address") and check.computes("seed")
    assert check.flatten_settings({"a": {"config": {"topk": [3, 5]}}}) == {"a.config.topk": check.Leaf([3, 5])}
