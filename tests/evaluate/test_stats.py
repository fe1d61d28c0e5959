"""arerec.evaluate.stats: means with Student-t intervals over seeds, hand-computed."""

import numpy as np
import pandas as pd
import pytest

from arerec.evaluate.stats import format_mean_ci, mean_ci, summarise_seeds


def test_mean_ci_by_hand():
    # mean 2, s = 1, n = 3: t_{0.975, 2} = 4.302653 -> half-width 4.302653 / sqrt(3)
    mean, half = mean_ci([1.0, 2.0, 3.0])
    assert mean == 2.0 and half == pytest.approx(4.302653 / np.sqrt(3), rel=1e-6)
    assert mean_ci([5.0, np.nan])[0] == 5.0 and np.isnan(mean_ci([5.0])[1])
    assert np.isnan(mean_ci([])[0])


def test_summarise_seeds_groups_and_formats():
    frame = pd.DataFrame({"model": ["a", "a", "a", "b", "b"], "rmse": [1.0, 2.0, 3.0, 0.5, 0.5]})
    table = summarise_seeds(frame, ["model"], ["rmse"])
    assert table["n"].tolist() == [3, 2]
    assert table["rmse"].tolist() == [2.0, 0.5] and table["rmse_ci"].iloc[1] == 0.0
    assert format_mean_ci(2.0, 2.4841) == "2.000 ± 2.484" and format_mean_ci(0.5, np.nan) == "0.500"
