"""arerec.report.tables: cells at their precision, names in words, one Styler renderer for HTML, LaTeX and Markdown."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from arerec.report import formatting, tables
from arerec.report.formatting import MINUS, NBSP


def test_numbers_are_rounded_to_their_columns_precision():
    frame = pd.DataFrame({"seconds": [106.044539, 12.5], "ndcg@10": [0.5161234, 0.58], "ndcg@10_ci": [0.0043, 0.0121],
                          "big": [1234.56, 99.0]})
    out = tables.readable(frame)
    assert list(out["time (s)"]) == ["106.0", "12.5"]
    assert list(out["faithful NDCG@10"]) == ["0.516", "0.580"]
    assert list(out["faithful NDCG@10 ± 95% CI"]) == ["0.0043", "0.0121"]
    assert list(out["big"]) == ["1235", "99"]


def test_whole_numbers_are_integers_flags_yes_no_and_missing_values_a_dash():
    frame = pd.DataFrame({"num_head": [2.0, 1.0, np.nan], "n": pd.array([3, None, 1], dtype="Int64"),
                          "label": ["a", None, "c"], "flag": [True, False, True], "stopped_early": [1, 0, 1]})
    out = tables.readable(frame)
    assert list(out["heads"]) == ["2", "1", "–"]
    assert list(out["seeds"]) == ["3", "–", "1"]
    assert list(out["label"]) == ["a", "–", "c"]
    assert list(out["flag"]) == ["yes", "no", "yes"]
    assert list(out["stopped early"]) == ["yes", "no", "yes"]  # recorded as 1/0, shown as the other flags
    assert tables.readable(pd.DataFrame({"users": [943.0]}))["users"].tolist() == ["943"]
    assert tables.readable(pd.DataFrame({"rows": [18944]}))["rows"].tolist() == [f"18{NBSP}944"]  # never broken


def test_object_columns_show_each_number_at_its_own_precision():
    out = tables.readable(pd.DataFrame({"value": [943.0, 0.123456, "ml-100k", None]}))
    assert list(out["value"]) == ["943", "0.123", "ml-100k", "–"]


def test_keys_are_shown_by_name_in_columns_and_cells():
    frame = pd.DataFrame({"model": ["ARERec (tuned)", "ARERec, attention off (tuned)", "biased_mf"],
                          "metric": ["ndcg@10", "std_ndcg@10", "rmse"], "parameter": ["lr", "dropout_lcu", "k"]})
    out = tables.readable(frame)
    assert out["model"].tolist() == ["ARERec, tuned", "ARERec, attention off, tuned on its own", "biased MF"]
    assert out["metric"].tolist() == ["faithful NDCG@10", "standard NDCG@10", "RMSE"]
    assert out["parameter"].tolist() == ["learning rate", "dropout (LCU lookups)", "k"]
    assert tables.readable(pd.DataFrame({"ndcg": [0.5]}), k=10).columns.tolist() == ["faithful NDCG@10"]


def test_an_index_becomes_a_column_of_row_names_in_words_without_an_index_name_row():
    frame = pd.DataFrame({"value": [0.25, 1.0]}, index=pd.Index(["share_target_in_window", "rmse"], name="what"))
    out = tables.readable(frame, index=True)
    assert list(out.columns) == ["what", "value"] and out["what"].tolist() == ["share target in window", "RMSE"]
    unnamed = tables.readable(pd.DataFrame({"value": [943, 1682]}, index=["users", "items"]), index=True)
    assert unnamed.columns.tolist() == ["what", "value"]  # never "index"
    page = tables.to_html(frame, index=True)
    assert page.count("<tr>") == 3 and "index_name" not in page and "row_heading" not in page


def test_a_column_whose_numbers_differ_by_orders_of_magnitude_shows_each_to_three_significant_digits():
    chosen = pd.Series([0.00376, 16.0, 5.0, 128.0, 0.25, 2.27e-08], name="chosen")
    assert tables.readable(chosen.to_frame())["chosen"].tolist() == ["0.00376", "16", "5", "128", "0.25",
                                                                    f"2.27e{MINUS}08"]
    summary = pd.Series([78921, -0.049, -0.0601, 0], name="value", dtype=object)  # a count beside correlations
    assert tables.readable(summary.to_frame())["value"].tolist() == [f"78{NBSP}921", f"{MINUS}0.049", f"{MINUS}0.0601",
                                                                     "0"]
    metrics = pd.Series([0.5082, 0.5815, 0.0003, 0.0], name="ndcg@10")  # one scale: one number of decimals, but a
    shown = tables.readable(metrics.to_frame())["faithful NDCG@10"].tolist()  # non-zero value never reads as 0.000
    assert shown == ["0.508", "0.582", "0.0003", "0.000"]


def test_values_that_need_fewer_decimals_get_no_trailing_zeros():
    epochs = pd.Series([5.0, 0.5, 0.5, 4.0], name="epochs")  # a search's epochs: pruned trials stop at half epochs
    assert tables.readable(epochs.to_frame())["epochs"].tolist() == ["5.0", "0.5", "0.5", "4.0"]


def test_hashes_are_cut_to_twelve_characters_on_the_page():
    digest = "86e93da89de041722a79225628aceb8e0cf2c7ad566724" + "0" * 18
    assert tables.readable(pd.DataFrame({"value": [digest]}))["value"].tolist() == ["86e93da89de0…"]


def test_intervals_join_a_mean_and_its_ci_at_one_precision_for_the_whole_column():
    frame = pd.DataFrame({"model": ["a", "b", "c"], "rmse": [1.0731, 0.9652, 0.98], "rmse_ci": [0.0112, 0.0, np.nan]})
    out = tables.readable(frame, intervals=True)
    assert out.columns.tolist() == ["model", "RMSE"]
    assert out["RMSE"].tolist() == [f"1.073{NBSP}±{NBSP}0.011", f"0.965{NBSP}±{NBSP}0.000", "0.980"]
    small = tables.readable(frame.assign(rmse_ci=[0.0112, 0.0004, np.nan]), intervals=True)["RMSE"]
    assert small.tolist()[1] == f"0.9652{NBSP}±{NBSP}0.0004"  # a non-zero interval never shows as 0.000


def test_html_has_no_index_numbers_that_never_break_and_long_words_that_may():
    label = "regularizer=[1e-05, 1e-05, 1e-05, 1e-05, 1e-05], use_regularizer=1, lr=0.003"
    run = "synthetic_8020_bs32_lr0.02_emb16_reg3_ms49_opadam_h2_do_lazy_rw_clean"
    page = tables.to_html(pd.DataFrame({"variant": [label], "run": [run], "rmse": [1.0549]}), name="runs")
    assert page.count("<th ") == 3 and 'id="T_runs"' in page
    assert "td.col2" in page and re.search(r"td\.col2[^}]*white-space: nowrap", page)  # the number column
    assert not re.search(r"td\.col0[^}]*nowrap", page)  # the label wraps
    assert "synthetic_<wbr>8020_<wbr>" in page and page.replace("<wbr>", "").count(run) == 1
    assert ">1.055<" in page


def test_one_renderer_gives_html_latex_and_markdown_the_same_cells():
    frame = pd.DataFrame({"model": ["ARERec (tuned)", "item_mean"], "ndcg@10": [0.5621, 0.5544],
                          "ndcg@10_ci": [0.0043, 0.0], "rmse": [1.0731, -0.0004]})
    latex = tables.to_latex(frame, caption="Test metrics, 95% CI", name="headline", intervals=True)
    assert "\\toprule" in latex and "\\midrule" in latex and "\\bottomrule" in latex and "\\label{tab:headline}" in latex
    assert "ARERec, tuned & 0.562~$\\pm$~0.004 & 1.073 \\\\" in latex and "95\\% CI" in latex
    assert not re.search(r"\$-\$0\.000(?!\d)", latex) and "$-$0.0004" in latex  # non-zero: never -0.000
    markdown = tables.to_markdown(frame, intervals=True)
    assert markdown.splitlines()[:3] == ["| model | faithful NDCG@10 | RMSE |", "|---|---:|---:|",
                                         "| ARERec, tuned | 0.562 ± 0.004 | 1.073 |"]


def test_links_render_as_anchors_and_markdown_links():
    frame = pd.DataFrame({"notebook": ["01"], "report": [tables.Link("report", "ci/01.html")]})
    assert '<a href="ci/01.html">report</a>' in tables.to_html(frame)
    assert "[report](ci/01.html)" in tables.to_markdown(frame)


def test_shown_columns_keep_each_metric_with_its_interval():
    frame = pd.DataFrame({"model": ["a"], "rmse": [1.0], "rmse_ci": [0.1], "mae": [0.8]})
    assert tables.shown_columns(frame, ["model", "rmse"]).columns.tolist() == ["model", "rmse", "rmse_ci"]


def test_latex_wraps_sentences_but_never_an_interval():
    claim = "The paper's windowed region beats the code's region (faithful NDCG@10)"
    intervals = [formatting.signed(-8.41e-08, 2.64e-07), formatting.signed(0.0059, 0.0164)]  # non-breaking spaces
    frame = pd.DataFrame({"claim": [claim, "short"], "over seeds": intervals})
    latex = tables.to_latex(frame, caption="Verdicts", name="verdicts")
    spec = re.search(r"\\begin\{tabular\}\{(.*)\}\n", latex).group(1)
    assert spec == r">{\raggedright\arraybackslash}p{11.0em}l"  # the claim wraps; the interval keeps one line
    assert "$-$8.41e$-$08~$\\pm$~2.64e$-$07" in latex
