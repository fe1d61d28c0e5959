"""arerec.evaluate.scoring's baseline functions: tuning on validation only, then scoring test with the choice."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from conftest import tiny_config

from arerec.config import Config
from arerec.data.inputs import load_experiment
from arerec.errors import ConfigError, DataError
from arerec.evaluate import baselines as bl
from arerec.evaluate import scoring

TRAIN = pd.DataFrame({"userId": [1, 1, 2, 2, 3, 3, 4], "itemId": [1, 2, 1, 3, 2, 3, 1],
                      "rating": [5, 3, 4, 1, 2, 2, 4]})
VALID = pd.DataFrame({"userId": [1, 2, 3, 4, 4], "itemId": [3, 2, 1, 2, 3], "rating": [2, 3, 4, 3, 1]})
TEST = pd.DataFrame({"userId": [1, 2, 3], "itemId": [1, 1, 2], "rating": [5, 4, 1]})


class Prepared(SimpleNamespace):
    """Prepared splits whose test rows cannot be read unless ``allow_test``."""

    @property
    def test(self) -> pd.DataFrame:
        if not self.allow_test:
            raise AssertionError("the test split was read")
        return TEST


def fake_experiment(valid=VALID, allow_test=False, protocol="clean") -> SimpleNamespace:
    prepared = Prepared(train=TRAIN, valid=valid, classes=np.array([1, 2, 3, 4, 5]), protocol=protocol,
                        allow_test=allow_test)
    return SimpleNamespace(prepared=prepared, cfg=Config(topk=[1, 2]))


def test_tune_baselines_uses_validation_only_and_returns_one_tidy_table():
    exp = fake_experiment()
    grids = {"item_mean": {"shrinkage": [0, 1e9]}, "user_knn": {"k": [1, 2]}}
    table, chosen = scoring.tune_baselines(exp, ["item_mean", "user_knn", "global_mean"], grids)
    assert table.columns.tolist() == ["model", "params", "val_rmse", "val_mae", "val_ndcg@1", "val_ndcg@2", "seconds"]
    assert table["model"].tolist() == ["item_mean", "item_mean", "user_knn", "user_knn", "global_mean"]
    assert set(chosen) == {"item_mean", "user_knn", "global_mean"} and chosen["global_mean"] == {}
    # item means: 1 -> 13/3, 2 -> 5/2, 3 -> 3/2; shrinkage 1e9 is the global mean 3
    mu, plain = 3.0, np.array([1.5, 2.5, 13 / 3, 2.5, 1.5])
    rmse_plain = np.sqrt(np.mean((plain - VALID["rating"]) ** 2))
    rmse_mu = np.sqrt(np.mean((mu - VALID["rating"]) ** 2))
    assert table["val_rmse"].iloc[:2].tolist() == pytest.approx([rmse_plain, rmse_mu], abs=1e-6)
    assert chosen["item_mean"] == ({"shrinkage": 0} if rmse_plain < rmse_mu else {"shrinkage": 1e9})
    faithful = scoring.score_ratings(exp, plain, "valid")
    assert table["val_ndcg@2"].iloc[0] == pytest.approx(faithful["ndcg@2"], nan_ok=True)


def test_tune_baselines_needs_a_validation_split():
    with pytest.raises(DataError, match="the reference protocol has no validation split"):
        scoring.tune_baselines(fake_experiment(valid=None, protocol="reference"), ["item_mean"])


def test_tune_baselines_checks_every_grid_before_fitting(monkeypatch):
    monkeypatch.setattr(bl, "fit_predict", lambda *a, **k: pytest.fail("fitted before checking the grids"))
    with pytest.raises(ConfigError, match="biased_mf: unknown parameter 'factors'"):
        scoring.tune_baselines(fake_experiment(), ["item_mean"], {"biased_mf": {"factors": [5]}})
    with pytest.raises(ConfigError, match="unknown baseline 'svd'"):
        scoring.tune_baselines(fake_experiment(), ["svd"])


def test_tune_baselines_uses_the_default_grid_for_a_baseline_without_one():
    table, chosen = scoring.tune_baselines(fake_experiment(), ["user_item_bias"], seed=0)
    assert len(table) == len(bl.grid_configs(bl.DEFAULT_GRIDS["user_item_bias"]))
    assert set(chosen["user_item_bias"]) == set(bl.DEFAULT_GRIDS["user_item_bias"])


def test_baseline_metrics_use_the_settings_on_test():
    exp = fake_experiment(allow_test=True)
    default = scoring.baseline_metrics(exp, ["item_mean", "global_mean"])
    shrunk = scoring.baseline_metrics(exp, ["item_mean", "global_mean"], settings={"item_mean": {"shrinkage": 1e9}})
    assert shrunk["item_mean"]["rmse"] == pytest.approx(default["global_mean"]["rmse"], abs=1e-6)
    assert shrunk["item_mean"]["rmse"] != pytest.approx(default["item_mean"]["rmse"])


def test_tune_then_score_a_tiny_clean_experiment(tmp_path):
    exp = load_experiment(tiny_config(tmp_path, protocol="clean"))
    table, chosen = scoring.tune_baselines(exp, ["biased_mf", "item_knn"],
                                              {"biased_mf": {"n_factors": [2, 4]}, "item_knn": {"k": [5, 20]}})
    assert len(table) == 4 and table["val_rmse"].gt(0).all()
    best = table.loc[table.groupby("model")["val_rmse"].idxmin()]
    assert sorted(best["params"]) == sorted(bl._json(p) for p in chosen.values())
    scores = scoring.baseline_metrics(exp, ["biased_mf", "item_knn"], settings=chosen)
    pred, _ = bl.fit_predict("biased_mf", exp.prepared.train, exp.prepared.test, params=chosen["biased_mf"])
    assert scores["biased_mf"]["rmse"] == pytest.approx(np.sqrt(np.mean((pred - exp.prepared.test["rating"]) ** 2)))
