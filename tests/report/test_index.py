"""arerec.report.index: headlines, links, heatmaps and failures in index.html and README.md."""

from __future__ import annotations

import html
import re
from pathlib import Path

from arerec.report.index import build_index
from arerec.report.metrics_json import update_metrics

NBSP = "\u00a0"


def rows(page: str) -> list[list[str]]:
    """Every table row of ``page`` as its cells' text (tags dropped, entities and no-break spaces read)."""
    found = []
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", page, flags=re.S):
        cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, flags=re.S)
        found.append([html.unescape(re.sub(r"<[^>]+>", "", c)).replace(NBSP, " ").strip() for c in cells])
    return found


def failed_rows(page: str) -> list[str]:
    """The first cell of every row whose cells carry the class 'failed'."""
    firsts = [re.search(r"<td([^>]*)>(.*?)</td>", row, flags=re.S) for row in re.findall(r"<tr[^>]*>(.*?)</tr>", page,
                                                                                         flags=re.S)]
    return [html.unescape(re.sub(r"<[^>]+>", "", m.group(2))).strip() for m in firsts
            if m and re.search(r'class="[^"]*\bfailed\b', m.group(1))]


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
        "runs": [{"kind": "ARERec", "protocol": "clean", "model": "ARERec (tuned)", "seed": s, "epochs_trained": e,
                  "best_epoch": b} for s, e, b in ((0, 4, 3), (1, 5, 4), (2, 4, 3))],
        "schedule_seeds": [0], "epochs": 2,
        "verdicts": [{"claim": "ARERec beats the best baseline (RMSE, lower is better)", "metric": "rmse",
                      "a": "ARERec (tuned)", "b": "item_mean", "verdict": "supported", "mean_diff": -0.05, "ci": 0.01,
                      "n": 3},
                     {"claim": "Attention beats attention off (RMSE)", "metric": "rmse", "a": "ARERec (tuned)",
                      "b": None, "verdict": "left out", "why": "no rows for ARERec, attention off (tuned)"}],
        "seed_run": [{"epoch": 1, "original: ndcg@10": 0.478, "ours: ndcg@10": 0.47}],
        "seed_schedule_summary": [{"protocol": "reference", "model": "ARERec (faithful: dense Adam)", "n": 1,
                                   "ndcg@10": 0.5, "rmse": 1.1}]})
    update_metrics(good, "04_attention", {"summary": {
        "seed_schedule": {"normalised_entropy_per_head": [0.999, 0.998], "share_peaked_per_head": [0.0, 0.0]},
        "tuned": {"normalised_entropy_per_head": [0.91, 0.87], "share_peaked_per_head": [0.2, 0.31]}}})
    update_metrics(good, "03_ablation", {"summary": [{"variant": "base", "n": 3, "ndcg": 0.5, "ndcg_ci": 0.02,
                                                      "rmse": 1.1, "rmse_ci": 0.01}], "seeds": [0, 1],
                                         "runs": [{"variant": "base", "seed": s, "epochs_trained": 6 + s,
                                                   "best_epoch": 3 + s} for s in (0, 1)]})
    (good / "figures").mkdir()
    (good / "figures" / "attention_pairs.png").write_bytes(b"\x89PNG")
    (good / "figures" / "learning_curves.png").write_bytes(b"\x89PNG")
    _experiment(bad, "failed", failed_step="02_training", error="DataError: no rows")
    (tmp_path / "stray").mkdir()  # a folder without metrics.json is not an experiment

    index, readme = build_index(tmp_path)
    page = html.unescape(index.read_text())
    table = rows(page)
    assert "FAILED in 02_training: DataError: no rows" in page
    assert ["bad", "FAILED in 02_training"] == table[1][:2] and failed_rows(page) == ["bad"]
    assert ["good", "ok", "synthetic", "2 epochs; seed 0", "trained up to 5 epochs; chosen epochs 3–4; seeds 0, 1, 2",
            "trained up to 7 epochs; chosen epochs 3–4; seeds 0, 1", "10"] == table[2][:7]
    # the epochs each run trained and the one chosen, the model by name
    assert ["tuned headline", "ARERec, tuned", "0, 1, 2", "4, 5, 4", "3, 4, 3"] in table
    assert "Over 3 seeds: a − b = −0.0500 ± 0.0100 (95% CI)." in page.replace(NBSP, " ")
    assert "None" not in page and "None" not in readme.read_text()
    assert "rebuilds reports/<experiment>/ and this index" in page and "reports/bench/" in page
    assert "<h2 id=\"headline-good\">Headline: good (no Optuna search: an older build)</h2>" in page
    assert "<code>lr=0.003</code> (selection: validation loss; 2 configurations tried)" in page
    assert ["ARERec, tuned", "0.567 ± 0.010", "1.000 ± 0.020", "3"] in table  # one table per protocol, by name
    assert "<li><b>supported</b>: ARERec beats the best baseline (RMSE, lower is better)" in page
    assert "<li><b>left out</b>: Attention beats attention off (RMSE)" in page
    assert "No rows for ARERec, attention off, tuned on its own" in page
    assert ["1", "0.478", "0.47"] in table  # the seed run beside the original's figures
    assert "At the seed's schedule, reference protocol" in page
    assert ["tuned", "0.910, 0.870", "0.200, 0.310"] in table
    assert ["ARERec's tuned configuration", "3", "0.500 ± 0.020", "1.100 ± 0.010"] in table  # ablation
    assert 'href="good/01_data_exploration.html"' in page
    assert '<img src="good/figures/attention_pairs.png"' in page
    assert 'href="good/figures/learning_curves.png"' in page
    assert ["ratings SHA-256", "ffffffffffff…"] in table and "f" * 13 not in page  # 12 characters shown; whole in
    assert '<a href="good/metrics.json">metrics.json</a> holds them whole' in page  # metrics.json, linked
    assert ["git commit", "aaaaaaaaaaaa…"] in table and "1 min 15 s" in page
    assert "stray" not in page
    text = readme.read_text()
    assert "| good | ok | synthetic | 2 epochs; seed 0 | trained up to 5 epochs; chosen epochs 3–4; seeds 0, 1, 2 |" in text
    assert "| ARERec, tuned | 0.567 ± 0.010 |" in text and "- **supported**: ARERec beats the best baseline" in text
def test_an_unfinished_run_is_not_shown_as_a_success(tmp_path):
    _experiment(tmp_path / "half", "running")
    page = build_index(tmp_path)[0].read_text()
    assert "INCOMPLETE" in page and failed_rows(page) == ["half"]


def test_provenance_names_the_backend_and_its_devices():
    from arerec.report.index import _compute

    assert _compute({}) == "tensorflow (not recorded: the only backend when this ran)"
    line = _compute({"keras_backend": "jax", "distribution_setting": "model", "devices": ["gpu:H200", "gpu:H200"]})
    assert line == "jax, distribution model, devices: gpu:H200, gpu:H200"


def test_an_old_left_out_verdict_shows_no_python_value_and_the_search_is_optional(tmp_path):
    base, full = tmp_path / "base", tmp_path / "full"
    for folder, grid in ((base, [{"use_attention": 0}]), (full, [{"use_attention": 0}, {"region_mode": "window"}])):
        _experiment(folder, "ok", parameters={"dataset": "ml-100k", "ablation_grid": grid, "seeds": [0, 1, 2]})
    update_metrics(base, "02_training", {"verdicts": [
        {"claim": "The windowed region beats the code's region", "metric": "rmse", "a": None, "b": "base",
         "verdict": "left out", "why": "no rows for None"}]})
    update_metrics(full, "02_training", {"k": 10, "search": {
        "ARERec": {"trials": [{"lr": 0.003}, {"lr": 0.001}], "n_trials": 2, "chosen": {"lr": 0.003}, "edges": ["lr"]}}})
    page = build_index(tmp_path)[0].read_text()
    assert "None" not in page and "This experiment has no such run" in page
    assert "What full adds over base: ablation_grid: + region_mode=window." in page
    assert ["ARERec", "2", "2", "lr=0.003", "lr"] in rows(page)  # the search per model


def test_the_chosen_configuration_names_its_trials_and_a_model_without_edges_says_none(tmp_path):
    folder = tmp_path / "base"
    _experiment(folder, "ok")
    trial = {"params": {"lr": 0.003}, "state": "complete", "epochs": 2, "val_score": 1.2}
    update_metrics(folder, "02_training", {
        "k": 10, "seeds": [0], "chosen": {"label": "lr=0.003", "selection_metric": "val_ce"},
        "headline_summary": [{"protocol": "clean", "model": "ARERec (tuned)", "n": 1, "ndcg@10": 0.5, "rmse": 1.0}],
        "search": {"arerec": {"trials": [trial] * 4, "n_trials": 4, "chosen": {"lr": 0.003}, "edges": {"lr": "low"}},
                   "biased_mf": {"trials": [trial] * 4, "n_trials": 4, "chosen": {"n_factors": 8}, "edges": {}}}})
    page = build_index(tmp_path)[0].read_text()
    assert "<code>lr=0.003</code> (selection: validation cross-entropy; the best of 4 Optuna trials)" in page
    assert ["ARERec", "4", "4", "lr=0.003", "lr=low"] in rows(page)
    assert ["biased MF", "4", "4", "n_factors=8", "none"] in rows(page) and "{}" not in page


def test_what_an_experiment_adds_names_nested_leaves_and_ignores_keys_an_older_build_lacks():
    from types import SimpleNamespace

    from arerec.report.index import adds_over

    search = {"n_trials": 4, "spaces": {"arerec": {"emb_size": {"choices": [16, 32]}, "region_size": {"low": 3, "high": 7}}}}
    base = SimpleNamespace(parameters={"validation_search": search, "seeds": [0], "ray_address": ""})
    bigger = {"n_trials": 35, "spaces": {"arerec": {"emb_size": {"choices": [16, 32, 128]},
                                                    "region_size": {"low": 3, "high": 11}}}}
    full = SimpleNamespace(parameters={"validation_search": bigger, "seeds": [0, 1]})  # built before ray_address
    assert adds_over(full, base) == ("seeds: + 1; validation_search.n_trials: 4 → 35; "
                                     "validation_search.spaces.arerec.emb_size.choices: + 128; "
                                     "validation_search.spaces.arerec.region_size.high: 7 → 11")
    assert adds_over(base, base) is None


def test_the_experiment_with_the_largest_search_gives_the_kits_answer(tmp_path):
    verdict = {"claim": "ARERec beats the best baseline (RMSE, lower is better)", "metric": "rmse", "a": "ARERec (tuned)",
               "b": "biased_mf", "verdict": "not supported", "mean_diff": 0.1, "ci": 0.01, "n": 3}
    for name, trials in (("base", 4), ("full", 35)):
        _experiment(tmp_path / name, "ok")
        update_metrics(tmp_path / name, "02_training", {"k": 10, "verdicts": [verdict], "search": {
            model: {"trials": [], "n_trials": trials, "chosen": {}, "edges": {}} for model in ("arerec", "biased_mf")}})
    index, readme = build_index(tmp_path)
    page = html.unescape(index.read_text())
    assert "<h2 id=\"headline-full\">The kit's answer: full (35 trials per model)</h2>" in page
    assert "<h2 id=\"headline-base\">Headline: base (4 trials per model); a smaller search than full's" in page
    assert page.index("The kit's answer: full") < page.index("Headline: base")
    assert "The paper's claims (the kit's answer; 35 trials per model):" in readme.read_text()
    update_metrics(tmp_path / "full", "02_training", {"search": None})  # full from a build before the searches
    page = html.unescape(build_index(tmp_path)[0].read_text())
    assert "<h2 id=\"headline-base\">The kit's answer: base (4 trials per model)</h2>" in page
    assert "<h2 id=\"headline-full\">Headline: full (no Optuna search: an older build)</h2>" in page


def test_a_tier_retrained_at_a_committed_optimum_says_so_and_shows_no_trial_counts(tmp_path):
    folder = tmp_path / "base"
    _experiment(folder, "ok")
    source = "params/optimum/ml-100k.yaml"
    update_metrics(folder, "02_training", {
        "k": 10, "seeds": [0], "chosen": {"label": "lr=0.003", "selection_metric": "val_ce"},
        "search_source": f"No search here: every model is retrained at the optimum of the study committed in {source}.",
        "headline_summary": [{"protocol": "clean", "model": "ARERec (tuned)", "n": 1, "ndcg@10": 0.5, "rmse": 1.0}],
        "runs": [{"kind": "ARERec", "model": "ARERec (tuned)", "seed": 0, "epochs_trained": 22, "best_epoch": 19}],
        "search": {model: {"trials": [], "n_trials": 0, "chosen": chosen, "edges": {}, "source": source}
                   for model, chosen in (("arerec", {"lr": 0.003}), ("biased_mf", {"n_factors": 362}))}})
    page = html.unescape(build_index(tmp_path)[0].read_text())
    assert f"Headline: base (no search: every model retrained at the committed study's optimum, {source})" in page
    assert f"(selection: validation cross-entropy; no search here: the committed study's choice, read from {source})" \
        in page
    assert "Configurations: the committed study's optimum" in page and "best of 0" not in page
    assert ["biased MF", "n_factors=362"] in rows(page) and ["model", "configuration"] in rows(page)
    assert ["tuned headline", "ARERec, tuned", "0", "22", "19"] in rows(page)
