"""arerec.evaluation: baselines scored like ARERec on one split; confusion matrix; the ablation grid."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from arerec import evaluation
from arerec.config import Config
from arerec.metrics import evaluate_predictions, tie_aware_ndcg


def fake_experiment(test: pd.DataFrame, train: pd.DataFrame | None = None, topk=(1, 2)) -> SimpleNamespace:
    train = test if train is None else train
    prepared = SimpleNamespace(train=train, test=test, classes=np.array([1, 2, 3, 4, 5]))
    return SimpleNamespace(prepared=prepared, cfg=Config(topk=list(topk)))


TEST = pd.DataFrame({"userId": [1, 1, 1, 2, 2], "itemId": [1, 2, 3, 1, 3], "rating": [5, 3, 1, 4, 2]})


def test_headline_k_prefers_ten():
    assert evaluation.headline_k([3, 5, 7, 10]) == 10 and evaluation.headline_k([3, 5]) == 5


def test_a_perfect_continuous_prediction_scores_perfectly():
    metrics = evaluation.score_ratings(fake_experiment(TEST), TEST["rating"].to_numpy(float))
    assert metrics["rmse"] == 0 and metrics["mae"] == 0 and metrics["accuracy"] == 1
    assert metrics["ndcg@2"] == pytest.approx(1.0) and metrics["std_ndcg@2"] == pytest.approx(1.0)


def test_baselines_are_scored_like_arerec_except_rmse_on_the_continuous_value():
    pred = np.array([4.4, 3.2, 1.6, 3.4, 2.6])  # nearest classes 4, 3, 2, 3, 3
    metrics = evaluation.score_ratings(fake_experiment(TEST), pred)
    one_hot = np.eye(5)[[3, 2, 1, 2, 2]]
    reference = evaluate_predictions(TEST["userId"], TEST["rating"], one_hot, [1, 2, 3, 4, 5], [1, 2], 3)
    for key in ("hr@1", "ndcg@2", "accuracy", "rmse_argmax"):
        assert metrics[key] == pytest.approx(reference[key], nan_ok=True), key
    assert metrics["accuracy"] == pytest.approx(1 / 5)
    error = pred - TEST["rating"].to_numpy()
    assert metrics["rmse"] == pytest.approx(np.sqrt(np.mean(error**2)))
    assert metrics["mae"] == pytest.approx(np.mean(np.abs(error)))
    assert metrics["std_ndcg@2"] == pytest.approx(tie_aware_ndcg(TEST["userId"], TEST["rating"], pred, 2))


def test_baseline_metrics_fit_on_train_and_score_test():
    train = pd.DataFrame({"userId": [1, 2, 3, 1], "itemId": [1, 1, 2, 2], "rating": [5, 3, 2, 2]})
    models = evaluation.baseline_metrics(fake_experiment(TEST, train), ["global_mean", "item_mean"])
    assert list(models) == ["global_mean", "item_mean"]
    # global mean 3: errors 2, 0, -2, 1, -1
    assert models["global_mean"]["rmse"] == pytest.approx(np.sqrt(10 / 5))


def test_comparison_table_orders_faithful_then_standard_metrics():
    models = {"ARERec": {"rmse": 1.0, "ndcg@2": 0.5, "hr@2": 0.7, "epoch": 3},
              "item_mean": {"rmse": 0.9, "ndcg@2": 0.4, "hr@2": 0.6}}
    table = evaluation.comparison_table(models, [2])
    assert table.index.tolist() == ["ARERec", "item_mean"] and table.index.name == "model"
    assert table.columns.tolist() == ["hr@2", "ndcg@2", "rmse"]


def test_final_metrics_are_the_last_epochs():
    history = pd.DataFrame({"epoch": [1, 2], "ndcg@3": [0.6, 0.5], "rmse": [1.1, 1.0], "loss": [2, 1]})
    assert evaluation.final_metrics(history, [3]) == {"ndcg@3": 0.5, "rmse": 1.0}


def test_confusion_counts_every_class_even_when_never_predicted():
    probs = np.eye(5)[[4, 2, 0, 3, 3]]  # predicted 5, 3, 1, 4, 4
    table = evaluation.confusion(fake_experiment(TEST), probs)
    assert table.shape == (5, 5) and table.index.name == "true" and table.columns.name == "predicted"
    assert table.loc["5", "5"] == 1 and table.loc["3", "3"] == 1 and table.loc["1", "1"] == 1
    assert table.loc["4", "4"] == 1 and table.loc["2", "4"] == 1
    assert table.to_numpy().sum() == 5 and table["2"].sum() == 0


def test_ablation_variants_dedupe_label_and_move_runs_aside(tmp_path):
    base = Config(model_path=str(tmp_path / "Model"), epochs=5, num_head=2, region_size=7)
    grid = [{"use_attention": 0}, {"use_attention": 1}, {"num_head": 1}, {"num_head": 2}, {"region_size": 3}]
    variants = evaluation.ablation_variants(base, grid, epochs=1)
    assert [v.label for v in variants] == ["base", "use_attention=0 (item-only)", "num_head=1", "region_size=3"]
    assert all(v.cfg.epochs == 1 for v in variants)
    assert all(Path(v.cfg.model_path) == tmp_path / "Model" / "ablation" for v in variants)
    assert variants[2].cfg == base.replace(epochs=1, model_path=str(tmp_path / "Model" / "ablation"), num_head=1)
    # with the main runs' epochs the variants share their folder, so the base run is re-used
    same = evaluation.ablation_variants(base, grid, epochs=5)
    assert all(Path(v.cfg.model_path) == tmp_path / "Model" for v in same) and same[0].cfg == base


@pytest.mark.slow
def test_run_ablation_trains_each_variant_once_then_loads_it(tiny_cfg):
    variants = evaluation.ablation_variants(tiny_cfg, [{"use_attention": 0}], epochs=1)
    first = evaluation.run_ablation(variants, k=5)
    assert first["variant"].tolist() == ["base", "use_attention=0 (item-only)"]
    assert first["num_head"].isna().tolist() == [False, True]
    assert (first["epochs"] == 1).all() and first["ndcg"].between(0, 1).all() and (first["rmse"] > 0).all()
    again = evaluation.run_ablation(variants, k=5)  # cached: loaded, not trained again
    pd.testing.assert_series_equal(again["rmse"], first["rmse"])
    assert (again["train_seconds"] == first["train_seconds"]).all()
    seeds = evaluation.run_ablation(variants, k=5, seeds=[0, 1])  # seed 0 loaded, seed 1 trained
    assert seeds[["variant", "seed"]].values.tolist() == [["base", 0], ["base", 1],
                                                          ["use_attention=0 (item-only)", 0],
                                                          ["use_attention=0 (item-only)", 1]]
    summary = evaluation.summarise_ablation(seeds, k=5)
    assert summary["variant"].tolist() == ["base", "use_attention=0 (item-only)"] and (summary["n"] == 2).all()
    base = seeds[seeds["variant"] == "base"]["rmse"]
    assert summary.loc[0, "rmse"] == pytest.approx(base.mean()) and summary.loc[0, "rmse_ci"] > 0
