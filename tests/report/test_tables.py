"""arerec.report.tables: numbers at their precision, integers as integers, '–' for missing, words for names."""

from __future__ import annotations

import numpy as np
import pandas as pd

from arerec.report import tables


def test_numbers_are_rounded_to_their_columns_precision():
    frame = pd.DataFrame({"seconds": [106.044539, 12.5], "ndcg@10": [0.5161234, 0.58], "ndcg@10_ci": [0.0043, 0.0121],
                          "big": [1234.56, 99.0]})
    out = tables.readable(frame)
    assert list(out["time (s)"]) == ["106.0", "12.5"]
    assert list(out["faithful NDCG@10"]) == ["0.516", "0.580"]
    assert list(out["faithful NDCG@10 ± 95% CI"]) == ["0.0043", "0.0121"]
    assert list(out["big"]) == ["1235", "99"]


def test_whole_numbers_are_integers_and_missing_values_a_dash():
    frame = pd.DataFrame({"num_head": [2.0, 1.0, np.nan], "n": pd.array([3, None, 1], dtype="Int64"),
                          "label": ["a", None, "c"], "flag": [True, False, True]})
    out = tables.readable(frame)
    assert list(out["heads"]) == ["2", "1", "–"]
    assert list(out["seeds"]) == ["3", "–", "1"]
    assert list(out["label"]) == ["a", "–", "c"]
    assert list(out["flag"]) == ["yes", "no", "yes"]
    assert tables.readable(pd.DataFrame({"users": [943.0]}))["users"].tolist() == ["943"]


def test_object_columns_show_each_number_at_its_own_precision():
    out = tables.readable(pd.DataFrame({"value": [943.0, 0.123456, "ml-100k", None]}))
    assert list(out["value"]) == ["943", "0.123", "ml-100k", "–"]


def test_column_names_in_words():
    assert tables.column_words("std_ndcg@10") == "standard NDCG@10"
    assert tables.column_words("hr@5") == "faithful HR@5"
    assert tables.column_words("rmse_ci") == "RMSE ± 95% CI"
    assert tables.column_words("share_target_in_window") == "share target in window"


def test_html_has_no_index_column_and_wraps_long_labels_without_cutting_them():
    label = "regularizer=[1e-05, 1e-05, 1e-05, 1e-05, 1e-05], use_regularizer=1, lr=0.003"
    page = tables.to_html(pd.DataFrame({"variant": [label], "rmse": [1.0549]}))
    assert page.count("<th ") == 2  # two columns, no index
    assert "<br>" in page
    assert page.replace("<br>", " ").count("1e-05") == 5 and "lr=0.003" in page  # nothing cut
    assert ">1.055<" in page
    assert all(len(line) <= tables.WRAP for line in tables.wrap(label))


def test_an_index_becomes_a_column():
    frame = pd.DataFrame({"value": [1.5]}, index=pd.Index(["users"], name="what"))
    out = tables.readable(frame, index=True)
    assert list(out.columns) == ["what", "value"] and out.iloc[0].tolist() == ["users", "1.5"]


def test_times_have_a_tenth_of_a_second_and_run_names_may_break_at_underscores():
    assert tables.readable(pd.DataFrame({"train_seconds": [5.6, 2.25]}))["training time (s)"].tolist() == ["5.6", "2.2"]
    name = "synthetic_8020_bs32_lr0.02_emb16_reg3_ms49_opadam_h2_do_lazy_rw_clean"
    page = tables.to_html(pd.DataFrame({"run": [name]}))
    assert "synthetic_<wbr>8020_<wbr>" in page and page.replace("<wbr>", "").count(name) == 1


def test_a_column_whose_numbers_differ_by_orders_of_magnitude_shows_each_to_three_significant_digits():
    chosen = pd.Series([0.00376, 16.0, 5.0, 128.0, 0.25, 2.27e-08], name="chosen")
    assert tables.readable(chosen.to_frame())["chosen"].tolist() == ["0.00376", "16", "5", "128", "0.25", "2.27e-08"]
    summary = pd.Series([78921, -0.049, -0.0601, 0], name="value", dtype=object)  # a count beside correlations
    assert tables.readable(summary.to_frame())["value"].tolist() == ["78 921", "-0.049", "-0.0601", "0"]
    metrics = pd.Series([0.5082, 0.5815, 0.0003], name="ndcg@10")  # one scale: one number of decimals
    assert tables.readable(metrics.to_frame())["faithful NDCG@10"].tolist() == ["0.508", "0.582", "0.000"]


def test_an_unnamed_index_becomes_a_what_column():
    frame = pd.DataFrame({"value": [943, 1682]}, index=["users", "items"])
    assert tables.readable(frame, index=True).columns.tolist() == ["what", "value"]


def test_values_that_need_fewer_decimals_get_no_trailing_zeros():
    epochs = pd.Series([5.0, 0.5, 0.5, 4.0], name="epochs")  # a search's epochs: pruned trials stop at half epochs
    assert tables.readable(epochs.to_frame())["epochs"].tolist() == ["5.0", "0.5", "0.5", "4.0"]
    assert tables.decimals(np.array([0.5082, 0.25])) == 3
