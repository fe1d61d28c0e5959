"""arerec.evaluate.scoring: baselines scored like ARERec on one split; the comparison table; the confusion matrix."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from arerec.config import Config
from arerec.evaluate import scoring
from arerec.evaluate.metrics import evaluate_predictions, tie_aware_ndcg


def fake_experiment(test: pd.DataFrame, train: pd.DataFrame | None = None, topk=(1, 2)) -> SimpleNamespace:
    train = test if train is None else train
    prepared = SimpleNamespace(train=train, test=test, classes=np.array([1, 2, 3, 4, 5]))
    return SimpleNamespace(prepared=prepared, cfg=Config(topk=list(topk)))


TEST = pd.DataFrame({"userId": [1, 1, 1, 2, 2], "itemId": [1, 2, 3, 1, 3], "rating": [5, 3, 1, 4, 2]})


def test_headline_k_prefers_ten():
    assert scoring.headline_k([3, 5, 7, 10]) == 10 and scoring.headline_k([3, 5]) == 5


def test_a_perfect_continuous_prediction_scores_perfectly():
    metrics = scoring.score_ratings(fake_experiment(TEST), TEST["rating"].to_numpy(float))
    assert metrics["rmse"] == 0 and metrics["mae"] == 0 and metrics["accuracy"] == 1
    assert metrics["ndcg@2"] == pytest.approx(1.0) and metrics["std_ndcg@2"] == pytest.approx(1.0)


def test_baselines_are_scored_like_arerec_except_rmse_on_the_continuous_value():
    pred = np.array([4.4, 3.2, 1.6, 3.4, 2.6])  # nearest classes 4, 3, 2, 3, 3
    metrics = scoring.score_ratings(fake_experiment(TEST), pred)
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
    models = scoring.baseline_metrics(fake_experiment(TEST, train), ["global_mean", "item_mean"])
    assert list(models) == ["global_mean", "item_mean"]
    # global mean 3: errors 2, 0, -2, 1, -1
    assert models["global_mean"]["rmse"] == pytest.approx(np.sqrt(10 / 5))


def test_comparison_table_orders_faithful_then_standard_metrics():
    models = {"ARERec": {"rmse": 1.0, "ndcg@2": 0.5, "hr@2": 0.7, "epoch": 3},
              "item_mean": {"rmse": 0.9, "ndcg@2": 0.4, "hr@2": 0.6}}
    table = scoring.comparison_table(models, [2])
    assert table.index.tolist() == ["ARERec", "item_mean"] and table.index.name == "model"
    assert table.columns.tolist() == ["hr@2", "ndcg@2", "rmse"]


def test_final_metrics_are_the_last_epochs():
    history = pd.DataFrame({"epoch": [1, 2], "ndcg@3": [0.6, 0.5], "rmse": [1.1, 1.0], "loss": [2, 1]})
    assert scoring.final_metrics(history, [3]) == {"ndcg@3": 0.5, "rmse": 1.0}


def test_confusion_counts_every_class_even_when_never_predicted():
    probs = np.eye(5)[[4, 2, 0, 3, 3]]  # predicted 5, 3, 1, 4, 4
    table = scoring.confusion(fake_experiment(TEST), probs)
    assert table.shape == (5, 5) and table.index.name == "true" and table.columns.name == "predicted"
    assert table.loc["5", "5"] == 1 and table.loc["3", "3"] == 1 and table.loc["1", "1"] == 1
    assert table.loc["4", "4"] == 1 and table.loc["2", "4"] == 1
    assert table.to_numpy().sum() == 5 and table["2"].sum() == 0


def test_per_user_metrics_average_to_the_scores_of_the_whole_split():
    rng = np.random.default_rng(4)
    users = np.repeat(np.arange(12), 6)
    test = pd.DataFrame({"userId": users, "itemId": np.tile(np.arange(6), 12),
                         "rating": rng.integers(1, 6, size=len(users)).astype(float)})
    exp = fake_experiment(test, topk=(2, 5))
    pred = rng.uniform(1, 5, size=len(test))
    whole, per = scoring.score_ratings(exp, pred), scoring.per_user(exp, pred=pred)
    assert len(per) == 12 and per["n"].eq(6).all()
    for key in ("ndcg@2", "ndcg@5", "hr@5", "std_ndcg@5"):
        assert per[key].mean() == pytest.approx(whole[key])  # the split's figure is the mean over users
    assert np.sqrt((per["rmse"] ** 2 * per["n"]).sum() / per["n"].sum()) == pytest.approx(whole["rmse"])
    probs = rng.dirichlet(np.ones(5), size=len(test))
    reference = evaluate_predictions(test["userId"], test["rating"], probs, [1, 2, 3, 4, 5], [2, 5], 3.0)
    by_user = scoring.per_user(exp, probs=probs)
    assert by_user["ndcg@5"].mean() == pytest.approx(reference["ndcg@5"])
    assert by_user["std_ndcg@2"].mean() == pytest.approx(reference["std_ndcg@2"])
    classes = scoring.predicted_classes(exp, probs=probs)
    counts = scoring.confusion_counts(exp, classes)
    assert len(counts) == 25 and counts["count"].sum() == len(test)
    assert counts.query("true == predicted")["count"].sum() / len(test) == pytest.approx(reference["accuracy"])
