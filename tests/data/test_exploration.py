"""arerec.data.exploration: hand-computed statistics, including the leakage of the reference protocol."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import tiny_config

from arerec.config import Config
from arerec.data import exploration
from arerec.data.split import Split


def ratings_frame(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["userId", "itemId", "rating", "timestamp"])


# user 1 rates 3 items, user 2 two, user 3 one; item 10 has 3 raters, 20 two, 30 one
RATINGS = ratings_frame([(1, 10, 5, 100), (2, 10, 4, 200), (3, 10, 1, 300), (1, 20, 3, 400),
                         (2, 20, 3, 500), (1, 30, 2, 2_700_000)])


def test_rating_distribution_counts_and_shares():
    dist = exploration.rating_distribution(RATINGS)
    assert dist.to_dict("list") == {"rating": [1, 2, 3, 4, 5], "count": [1, 1, 2, 1, 1],
                                    "share": [1 / 6, 1 / 6, 2 / 6, 1 / 6, 1 / 6]}


def test_overview_counts_and_dates():
    view = exploration.overview(RATINGS)["value"]
    assert (view["ratings"], view["users"], view["items"]) == (6, 3, 3)
    assert view["density"] == pytest.approx(6 / 9)
    assert view["first rating"] == "1970-01-01" and view["last rating"] == "1970-02-01"
    assert view["days covered"] == 31


def test_sequence_lengths_before_and_after_one_min_seq_pass():
    lengths = exploration.sequence_lengths(Config(min_seq=2), RATINGS)
    def of(kind, stage):
        return sorted(lengths.loc[(lengths["kind"] == kind) & (lengths["stage"] == stage), "length"])
    assert of("user", "before") == [1, 2, 3] and of("item", "before") == [1, 2, 3]
    # users 1 and 2 stay (3 and 2 ratings); then item 30 (1 rater left) goes
    assert of("user", "after") == [2, 2] and of("item", "after") == [2, 2]
    summary = exploration.length_summary(lengths, 2).set_index(["kind", "stage"])
    assert summary.loc[("user", "before"), "below_2"] == 1 and summary.loc[("item", "after"), "max"] == 2


def test_item_popularity_ranks_items_and_accumulates_shares():
    popularity = exploration.item_popularity(RATINGS)
    assert popularity["itemId"].tolist() == [10, 20, 30] and popularity["count"].tolist() == [3, 2, 1]
    assert popularity["cumulative_share"].tolist() == pytest.approx([0.5, 5 / 6, 1.0])
    summary = exploration.popularity_summary(popularity, shares=(0.5, 0.8))
    assert summary["items"].tolist() == [1, 2]


def test_ratings_over_time_fills_empty_months():
    over_time = exploration.ratings_over_time(RATINGS)
    assert over_time["count"].tolist() == [5, 1]
    assert over_time["period"].dt.strftime("%Y-%m").tolist() == ["1970-01", "1970-02"]


def test_truncation_shares():
    table = exploration.truncation(np.array([1, 2, 5]), [1, 3], model_max_seq=2)
    assert table["max_seq"].tolist() == [1, 2, 3]
    assert table["interactions_kept"].tolist() == pytest.approx([3 / 8, 5 / 8, 6 / 8])
    assert table["items_truncated"].tolist() == pytest.approx([2 / 3, 1 / 3, 1 / 3])
    assert table["used_by_model"].tolist() == [False, True, False]


def test_leakage_finds_the_target_and_counts_later_raters():
    # item 7's raters in time order: users 1 (t=10), 2 (t=20), 3 (t=30), 4 (t=30), 5 (t=40)
    ratings = ratings_frame([(u, 7, 4, t) for u, t in [(1, 10), (2, 20), (3, 30), (4, 30), (5, 40)]]
                            + [(9, 8, 3, 5)])
    test = ratings.iloc[[1, 3, 5]]  # user 2 (t=20), user 4 (t=30) on item 7; user 9 on item 8
    split = Split(train=ratings.iloc[[0, 2, 4]], test=test, item_seqs={7: [1, 2, 3, 4, 5], 8: [9]},
                  rows_in=6, rows_kept=6, users_kept=6, users_below_min_seq=0)
    rows = exploration.leakage(split, ratings, max_seq=3)
    assert rows[["userId", "itemId"]].values.tolist() == [[2, 7], [4, 7], [9, 8]]  # test row order kept
    assert rows["target_position"].tolist() == [1, 3, 0]
    assert rows["window"].tolist() == [3, 3, 1]
    assert rows["target_in_window"].tolist() == [True, False, True]
    assert rows["later_in_sequence"].tolist() == [3, 1, 0]  # strictly later: user 3's t=30 is not after 30
    assert rows["later_in_window"].tolist() == [1, 0, 0]
    summary = exploration.leakage_summary(rows)
    assert summary["share_target_in_sequence"] == 1.0
    assert summary["share_target_in_window"] == pytest.approx(2 / 3)
    assert summary["share_rows_with_later_neighbours_in_window"] == pytest.approx(1 / 3)
    assert summary["mean_share_of_window_rated_later"] == pytest.approx((1 / 3) / 3)


def test_split_sizes_uses_the_reference_split(tiny_cfg):
    from arerec.data.datasets import ensure_ratings
    from arerec.data.split import split_rows

    ratings = exploration.load_ratings(tiny_cfg)
    assert len(ratings) == tiny_cfg.data.synthetic_ratings and ensure_ratings(tiny_cfg).is_file()
    split = split_rows(tiny_cfg, ratings)
    sizes = exploration.split_sizes(split).set_index("stage")
    assert sizes.loc["ratings file", "rows"] == len(ratings)
    assert sizes.loc["train", "rows"] == len(split.train) and sizes.loc["train", "rows"] % tiny_cfg.data.batch_size == 0
    assert sizes.loc["test", "users"] == split.test["userId"].nunique()
    assert np.isnan(sizes.loc["ratings file", "share_of_kept_rows"]) and sizes.loc["after min_seq", "share_of_kept_rows"] == 1
    assert (sizes["share_of_kept_rows"].dropna() <= 1).all() and sizes.loc["ratings file", "share_of_ratings_file"] == 1
    assert sizes.loc["train", "share_of_ratings_file"] == len(split.train) / len(ratings)
    rows = exploration.leakage(split, ratings, max_seq=10)
    assert rows["target_in_sequence"].all()  # every test row's sequence holds its own user


PROTOCOL_COLUMNS = ["protocol", "train_rows", "valid_rows", "test_rows", "users", "items", "max_seq",
                    "share_test_before_user_last_train", "mean_visible_neighbours", "share_target_in_window",
                    "mean_later_neighbours_in_window", "share_rows_with_later_neighbours_in_window",
                    "epoch_chosen_on", "epoch_selection"]


def test_protocol_comparison_measures_the_reference_leakage_and_none_in_clean(tmp_path):
    table = exploration.protocol_comparison(tiny_config(tmp_path, max_seq=10)).set_index("protocol")
    assert ["protocol", *table.columns] == PROTOCOL_COLUMNS and list(table.index) == ["reference", "clean"]
    reference, clean = table.loc["reference"], table.loc["clean"]
    assert reference["share_target_in_window"] > 0 and reference["share_rows_with_later_neighbours_in_window"] > 0
    assert reference["share_test_before_user_last_train"] > 0  # a random split: test ratings older than train ones
    for measure in ("share_target_in_window", "mean_later_neighbours_in_window",
                    "share_rows_with_later_neighbours_in_window", "share_test_before_user_last_train"):
        assert clean[measure] == 0, measure
    assert reference["valid_rows"] == 0 and clean["valid_rows"] > 0 and (table["test_rows"] > 0).all()
    assert (table["mean_visible_neighbours"] > 0).all() and (table["max_seq"] == 10).all()
    assert table["epoch_chosen_on"].tolist() == ["test", "valid"]


def test_visible_neighbours_of_the_reference_agree_with_leakage(tiny_cfg):
    from arerec.data.inputs import load_experiment
    from arerec.data.split import split_clean, split_rows
    from arerec.errors import DataError

    ratings = exploration.load_ratings(tiny_cfg)
    exp, split = load_experiment(tiny_cfg), split_rows(tiny_cfg, ratings)
    seen = exploration.visible_neighbours(exp, split, ratings)
    leaks = exploration.leakage(split, ratings, exp.tables.max_seq)
    assert seen["visible"].tolist() == leaks["window"].tolist()
    assert seen["target_in_window"].tolist() == leaks["target_in_window"].tolist()
    assert seen["later_in_window"].tolist() == leaks["later_in_window"].tolist()
    with pytest.raises(DataError, match="is not the reference split"):  # another protocol's rows
        exploration.visible_neighbours(exp, split_clean(tiny_cfg, ratings), ratings)
