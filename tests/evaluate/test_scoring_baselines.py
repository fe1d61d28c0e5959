"""arerec.evaluate.scoring's baseline functions: tuning on validation only, then scoring test with the choice."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from arerec.config import Config
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


def test_baseline_metrics_use_the_settings_on_test():
    exp = fake_experiment(allow_test=True)
    default = scoring.baseline_metrics(exp, ["item_mean", "global_mean"])
    shrunk = scoring.baseline_metrics(exp, ["item_mean", "global_mean"], settings={"item_mean": {"shrinkage": 1e9}})
    assert shrunk["item_mean"]["rmse"] == pytest.approx(default["global_mean"]["rmse"], abs=1e-6)
    assert shrunk["item_mean"]["rmse"] != pytest.approx(default["item_mean"]["rmse"])
