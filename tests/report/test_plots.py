"""arerec.report.plots: each figure shows the data it was given, with the right labels."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgba
from matplotlib.patches import Rectangle

from arerec.evaluate.attention import PairAttention
from arerec.report import plots


def png_bytes(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def test_rating_distribution_bars_are_the_counts_labelled_with_shares():
    dist = pd.DataFrame({"rating": [1, 2, 5], "count": [10, 30, 60], "share": [0.1, 0.3, 0.6]})
    ax = plots.rating_distribution(dist).axes[0]
    assert [p.get_height() for p in ax.patches] == [10, 30, 60]
    assert [t.get_text() for t in ax.texts] == ["10.0%", "30.0%", "60.0%"]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("rating", "ratings")


def test_sequence_lengths_has_a_panel_per_kind_with_the_min_seq_line():
    lengths = pd.DataFrame({
        "kind": ["user"] * 4 + ["item"] * 3,
        "stage": ["before", "before", "after", "after", "before", "after", "after"],
        "length": [3, 30, 30, 40, 5, 50, 60],
    })
    fig = plots.sequence_lengths(lengths, min_seq=20)
    user, item = fig.axes
    assert user.get_xlabel() == "ratings per user (sequence length)" and item.get_ylabel() == "items"
    assert user.get_xscale() == "log"
    assert [line.get_xdata()[0] for line in user.lines] == [20]  # the min_seq line
    labels = [t.get_text() for t in user.get_legend().get_texts()]
    assert labels == ["before min_seq (2 users)", "after min_seq (2 users)", "min_seq = 20"]


def test_item_popularity_plots_counts_and_the_cumulative_share():
    popularity = pd.DataFrame({"rank": [1, 2, 3], "itemId": [9, 8, 7], "count": [50, 30, 20],
                               "cumulative_share": [0.5, 0.8, 1.0]})
    fig = plots.item_popularity(popularity)
    counts, share = fig.axes
    assert list(counts.lines[0].get_ydata()) == [50, 30, 20] and counts.get_yscale() == "log"
    assert list(share.lines[0].get_ydata()) == [0.5, 0.8, 1.0]


def test_ratings_over_time_plots_the_counts_with_the_span_in_the_title():
    over_time = pd.DataFrame({"period": pd.to_datetime(["1997-09-01", "1997-10-01", "1997-11-01"]),
                              "count": [5, 0, 7]})
    ax = plots.ratings_over_time(over_time).axes[0]
    assert list(ax.lines[0].get_ydata()) == [5, 0, 7]
    assert ax.get_title() == "Ratings over time (1997-09 to 1997-11)"


def test_truncation_marks_the_models_max_seq():
    table = pd.DataFrame({"max_seq": [10, 50, 100], "interactions_kept": [0.3, 0.8, 1.0],
                          "items_truncated": [0.9, 0.2, 0.0], "used_by_model": [False, True, False]})
    ax = plots.truncation(table).axes[0]
    kept, truncated, marker = ax.lines
    assert list(kept.get_ydata()) == [0.3, 0.8, 1.0] and list(truncated.get_ydata()) == [0.9, 0.2, 0.0]
    assert marker.get_xdata()[0] == 50 and "80.0% kept" in marker.get_label()


def test_leakage_histogram_counts_rows_by_share_rated_later():
    rows = pd.DataFrame({"later_in_window": [0, 0, 5, 10], "window": [10, 10, 10, 10],
                         "target_in_window": [True, True, False, True]})
    ax = plots.leakage(rows).axes[0]
    heights = [p.get_height() for p in ax.patches]
    assert sum(heights) == 4 and heights[0] == 2 and heights[-1] == 1
    assert "75.0% of test rows" in ax.get_title()


def test_tidy_takes_offsets_off_and_thins_overlapping_tick_labels():
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2.0, 2.0))
    ax = fig.subplots()
    ax.plot([0, 1], [1.44020, 1.44021])  # the values that gave "1e−5+1.4402"
    ax.set_xticks(np.linspace(0, 1, 41))  # 41 labels on 2 inches: they run together
    assert plots.overlapping_ticks(fig)
    plots.tidy(fig)
    assert not plots.overlapping_ticks(fig)
    plots._canvas(fig)
    assert ax.yaxis.get_offset_text().get_text() == "" and ax.xaxis.get_offset_text().get_text() == ""


def test_a_figure_is_saved_as_a_150_dpi_png_and_a_pdf_beside_it(tmp_path):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.0, 3.0))
    fig.subplots().plot([1, 2], [3, 4])
    png = plots.save_figure(fig, tmp_path / "figures" / "line")
    assert png.startswith(b"\x89PNG") and (tmp_path / "figures" / "line.png").read_bytes() == png
    assert (tmp_path / "figures" / "line.pdf").read_bytes().startswith(b"%PDF")
    width = int.from_bytes(png[16:20], "big")
    assert width >= 4.0 * plots.DPI * 0.8  # 150 dpi (bbox_inches="tight" trims the margins)


def test_confusion_matrix_shows_row_shares_and_counts():
    table = pd.DataFrame([[3, 1], [0, 0]], index=pd.Index(["1", "2"], name="true"),
                         columns=pd.Index(["1", "2"], name="predicted"))
    ax = plots.confusion_matrix(table).axes[0]
    np.testing.assert_allclose(ax.images[0].get_array(), [[0.75, 0.25], [0.0, 0.0]])
    assert [t.get_text() for t in ax.texts] == ["3\n75%", "1\n25%", "0\n0%", "0\n0%"]
    assert ax.get_ylabel() == "true rating"


def _pair(weights, target=None, user=5, item=9):
    weights = np.asarray(weights, dtype=float)
    return PairAttention(user=user, item=item, rating=4.0, weights=weights,
                         neighbours=np.arange(1, weights.shape[1] + 1), target_position=target)


def test_attention_heatmaps_show_weight_times_neighbours_on_one_scale_centred_at_uniform():
    uniform = _pair(np.full((2, 4), 0.25))  # relative attention 1 everywhere
    peaked = _pair([[0.7, 0.1, 0.1, 0.1], [0.25, 0.25, 0.25, 0.25]], user=6, item=8)
    fig = plots.attention_heatmaps([uniform, peaked], target_possible=False)
    first, second = fig.axes[0], fig.axes[1]
    np.testing.assert_allclose(first.images[0].get_array(), np.ones((2, 4)))  # 1 = uniform
    np.testing.assert_allclose(second.images[0].get_array()[0], [2.8, 0.4, 0.4, 0.4])
    norm = first.images[0].norm
    assert norm is second.images[0].norm  # one range shared by the panels
    assert norm(1.0) == pytest.approx(0.5)  # white is uniform
    assert norm(2.0) - 0.5 == pytest.approx(0.5 - norm(0.5))  # twice and half as far from it
    assert norm.vmin * norm.vmax == pytest.approx(1.0) and 2.5 <= norm.vmax <= 2.8
    assert first.images[0].get_cmap().name == plots.ATTENTION_CMAP
    assert len(fig.axes) == 3  # two panels and one colour bar
    assert [t.get_text() for t in fig.axes[2].get_yticklabels()] == ["1/2", "1", "2"]
    assert plots._ratio_ticks(40.0)[1] == ["1/32", "1/8", "1/2", "1", "2", "8", "32"]
    assert plots._ratio_ticks(1.6)[1] == ["1/1.5", "1", "1.5"]
    assert all(float(t).is_integer() for t in second.get_xticks())  # whole-number positions
    assert [t.get_text() for t in first.get_yticklabels()] == ["head 1", "head 2"]
    assert "never shows a row its own user" in fig.get_suptitle()
    assert not any(isinstance(p, Rectangle) for ax in fig.axes for p in ax.patches)
    assert png_bytes(fig).startswith(b"\x89PNG")


@pytest.mark.parametrize("target", [2, None])
def test_the_target_user_is_outlined_only_when_the_protocol_allows_it(target):
    fig = plots.attention_heatmaps([_pair(np.full((2, 4), 0.25), target)], target_possible=True)
    ax = fig.axes[0]
    outlines = [p for p in ax.patches if isinstance(p, Rectangle)]
    if target is None:
        assert outlines == [] and "target user not among the neighbours" in ax.get_title(loc="left")
    else:
        assert outlines[0].get_x() == target - 0.5 and "at position 2 (outlined)" in ax.get_title(loc="left")
    assert "never shows" not in fig.get_suptitle()


def test_attention_by_position_has_error_bars_the_uniform_line_and_the_correlation():
    profile = pd.DataFrame({"position": [0.25, 0.75] * 3, "head": ["1", "1", "2", "2", "mean", "mean"],
                            "relative_attention": [1.2, 0.8, 1.0, 1.0, 1.1, 0.9], "ci": [0.1] * 6})
    ax = plots.attention_by_position(profile, rho=(-0.047, -0.06, -0.03)).axes[0]
    lines = {line.get_label(): list(line.get_ydata()) for line in ax.lines}
    assert lines["head 1"] == [1.2, 0.8] and lines["uniform (1)"] == [1.0, 1.0]
    mean = [c for c in ax.containers if c.get_label() == "mean of heads ± 95% CI"][0]
    assert list(mean.lines[0].get_ydata()) == [1.1, 0.9]
    np.testing.assert_allclose(sorted(mean.lines[2][0].get_segments()[0][:, 1]), [1.0, 1.2])
    assert "Spearman rho = −0.047 (95% CI −0.060 to −0.030)" in ax.get_title()  # true minus signs
    low, high = ax.get_ylim()
    assert low <= 0.8 and high >= 1.2


def test_attention_vs_similarity_plots_bin_centres_with_intervals():
    by_co = pd.DataFrame({"low": [0.0, 10.0], "high": [10.0, 20.0], "relative_attention": [0.999, 1.001],
                          "ci": [0.01, 0.02]})
    by_diff = pd.DataFrame({"low": [0.0, 1.0], "high": [1.0, 3.0], "relative_attention": [1.2, 0.8], "ci": [0.1, 0.1]})
    summary = {"spearman_attention_co_rated": -0.026, "spearman_attention_co_rated_low": -0.04,
               "spearman_attention_co_rated_high": -0.01}
    co, diff = plots.attention_vs_similarity(by_co, by_diff, summary).axes
    assert list(co.lines[0].get_xdata()) == [5.0, 15.0] and list(diff.lines[0].get_xdata()) == [0.5, 2.0]
    assert list(diff.lines[0].get_ydata()) == [1.2, 0.8]
    assert co.get_ylim()[0] <= 0.95 and co.get_ylim()[1] >= 1.05  # noise around 1 is not blown up
    assert "Spearman rho = −0.026 (95% CI −0.040 to −0.010)" in co.get_title()
    assert "Spearman" not in diff.get_title()
    assert "co-rated" in co.get_xlabel() and "RMS rating difference" in diff.get_xlabel()


def _histories():
    rows = []
    for model, best in (("ARERec (tuned)", {0: 3, 1: 2}), ("biased_mf", {0: 4, 1: 4})):
        for seed in (0, 1):
            for epoch in range(1, 6):
                rows.append({"model": model, "seed": seed, "epoch": epoch, "loss": 2.0 / epoch,
                             "val_loss": 1.0 + abs(epoch - best[seed]) / 10, "val_ce": 0.99 + abs(epoch - best[seed]) / 10,
                             "rmse": 1.0 + epoch / 100, "best_epoch": best[seed]})
    return pd.DataFrame(rows)


def test_run_curves_draw_a_line_per_seed_coloured_by_model_with_the_chosen_epoch():
    fig = plots.run_curves(_histories(), "rmse", "Tuned runs")
    loss, val, metric = fig.axes[:3]
    runs = [line for line in val.lines if line.get_linestyle() != "None"]
    stars = [line for line in val.lines if line.get_marker() == "*"]
    assert len(runs) == 4 and len(stars) == 4
    assert runs[0].get_color() != runs[2].get_color() and runs[0].get_color() == runs[1].get_color()
    assert runs[0].get_linestyle() != runs[1].get_linestyle()  # seeds told apart
    assert list(stars[0].get_xdata()) == [3] and list(stars[1].get_xdata()) == [2]
    assert list(stars[0].get_ydata()) == [0.99]  # val_ce: the validation loss without L2, not val_loss beside it
    assert val.get_ylabel() == "validation cross-entropy"
    assert "selection metric" in metric.get_title() and metric.get_ylabel() == "RMSE"
    title = fig.get_suptitle()
    assert "ARERec, tuned; biased MF" in title and "seeds 0, 1" in title and "up to 5 epochs" in title
    assert runs[0].get_label() == "ARERec, tuned, seed 0"
    assert all(float(t).is_integer() for t in loss.get_xticks())


def test_run_curves_draw_the_selection_loss_once():
    fig = plots.run_curves(_histories(), "val_loss", "t")
    assert [ax.get_ylabel() for ax in fig.axes] == ["training loss", "validation loss"]
    fig = plots.run_curves(_histories(), "val_ce", "t")
    assert [ax.get_ylabel() for ax in fig.axes] == ["training loss", "validation cross-entropy"]


def test_seed_run_curves_put_each_seed_beside_the_original():
    from arerec.sweeps.headline import ORIGINAL_ML100K

    ours = pd.DataFrame({"seed": [0, 0, 1, 1], "epoch": [1, 2, 1, 2], "loss": [1.6, 1.5, 1.61, 1.52],
                         "val_loss": [1.58, 1.48, 1.59, 1.49], "hr@10": [0.58, 0.6, 0.57, 0.59],
                         "ndcg@10": [0.47, 0.52, 0.46, 0.51]})
    fig = plots.seed_run_curves(ours, ORIGINAL_ML100K, 10)
    ndcg = fig.axes[3]
    labels = [line.get_label() for line in ndcg.lines]
    assert labels == ["ours, seed 0", "ours, seed 1", "original code (one run)"]
    assert list(ndcg.lines[2].get_ydata()) == list(ORIGINAL_ML100K["ndcg@10"])
    assert "seeds 0, 1" in fig.get_suptitle() and "6 epochs" in fig.get_suptitle()


def test_the_claims_forest_keeps_the_tables_sign_and_says_which_side_is_better():
    table = pd.DataFrame({"claim": ["ARERec beats biased MF (RMSE)", "attention beats off (RMSE)"],
                          "a": ["ARERec (tuned)", "ARERec (tuned)"], "b": ["biased_mf", "off"],
                          "metric": ["rmse", "rmse"], "mean_diff": [0.094, -0.02], "ci": [0.01, np.nan],
                          "user_mean_diff": [0.09, -0.021], "user_ci_low": [0.08, -0.03], "user_ci_high": [0.1, -0.012],
                          "p_holm": [1e-6, 0.02], "verdict": ["not supported", "supported"]})
    fig = plots.claim_differences(table, "The paper's claims")
    ax = fig.axes[0]
    users = ax.containers[0]
    assert list(users.lines[0].get_xdata()) == pytest.approx([0.09])  # a − b as the table has it, not flipped
    np.testing.assert_allclose(sorted(users.lines[2][0].get_segments()[0][:, 0]), [0.08, 0.1])
    assert "← a better (lower)" in ax.get_xlabel() and ax.get_title() == "RMSE"
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0].startswith("ARERec, tuned − biased MF") and "Holm p <\u00a00.001" in labels[0]
    assert "supported, Holm p 0.02" in labels[1]
    ndcg = plots.claim_differences(table.assign(metric="ndcg@10"), "t").axes[0]
    assert "a better (higher) →" in ndcg.get_xlabel() and ndcg.get_title() == "faithful NDCG@10"


def test_headline_points_sit_on_an_axis_fitted_to_the_gap():
    summary = pd.DataFrame({"model": ["ARERec (tuned)", "biased_mf"], "kind": ["ARERec", "baseline"],
                            "n": [3, 3], "rmse": [1.055, 0.961], "rmse_ci": [0.01, 0.004]})
    fig = plots.headline_points(summary, ["rmse"], "Test metrics")
    ax = fig.axes[0]
    points = [c.lines[0].get_xdata()[0] for c in ax.containers]
    assert points == pytest.approx([1.055, 0.961])
    low, high = ax.get_xlim()
    assert 0.9 < low < 0.957 and 1.065 < high < 1.2  # not from 0
    assert "1.055\u00a0±\u00a00.010 (n = 3)" in [t.get_text() for t in ax.texts]
    assert ax.get_xlabel() == "RMSE (lower is better)"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["ARERec, tuned", "biased MF"]
    assert "mean ± 95% CI over seeds" in fig.get_suptitle()


def test_a_figure_of_one_seed_promises_no_interval_and_tells_close_points_apart():
    summary = pd.DataFrame({"variant": ["base", "use_attention=0 (item-only)"], "n": [1, 1],
                            "ndcg": [0.50801, 0.50863], "ndcg_ci": [np.nan, np.nan]})
    fig = plots.headline_points(summary, ["ndcg"], "Ablation", label="variant", k=10)
    title, ax = fig.get_suptitle(), fig.axes[0]
    assert "one seed: no interval" in title and "95% CI" not in title
    assert [t.get_text() for t in ax.texts] == ["0.5080 (n = 1)", "0.5086 (n = 1)"]  # not 0.508 twice
    assert ax.get_xlabel() == "faithful NDCG@10 (higher is better)"
    assert [t.get_text() for t in ax.get_yticklabels()][1] == "ARERec's tuned configuration\nwithout attention"


def test_metrics_against_k_draw_each_model_over_k_with_its_interval():
    runs = pd.DataFrame([{"model": m, "seed": s, **{f"{kind}@{k}": base + k / 100 + s / 1000
                                                    for kind in ("hr", "ndcg", "std_ndcg") for k in (3, 5, 10)}}
                         for m, base in (("ARERec (tuned)", 0.5), ("user_knn", 0.6)) for s in (0, 1, 2)])
    fig = plots.metrics_against_k(runs, ["ARERec (tuned)", "user_knn"], [3, 5, 10], "t")
    hr, ndcg, std = fig.axes
    assert [ax.get_title() for ax in fig.axes] == ["faithful HR@k", "faithful NDCG@k", "standard NDCG@k"]
    line = ndcg.containers[0].lines[0]
    assert list(line.get_xdata()) == [3, 5, 10] and line.get_ydata()[0] == pytest.approx(0.531)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["ARERec, tuned", "user-kNN"]
    assert "mean ± 95% CI over seeds" in fig.get_suptitle()


def test_protocol_comparison_has_a_panel_per_measure_with_the_reference_in_colour():
    table = pd.DataFrame({"protocol": ["reference", "clean"], "share_target_in_window": [0.4, 0.0],
                          "share_rows_with_later_neighbours_in_window": [0.9, 0.0],
                          "mean_later_neighbours_in_window": [3.5, 0.0],
                          "share_test_before_user_last_train": [0.7, 0.0]})
    fig = plots.protocol_comparison(table)
    assert [[p.get_width() for p in ax.patches] for ax in fig.axes] == [[0.4, 0.0], [0.9, 0.0], [3.5, 0.0], [0.7, 0.0]]
    target = fig.axes[0]
    assert [t.get_text() for t in target.get_yticklabels()] == ["reference", "clean"]
    assert target.get_xlabel().startswith("share of test rows whose own")
    assert target.patches[0].get_facecolor() == to_rgba(plots.TARGET_COLOUR)
    assert target.patches[1].get_facecolor() != to_rgba(plots.TARGET_COLOUR)


def test_attention_uniformity_compares_models_per_head_against_uniform():
    seed = pd.DataFrame({"head": ["1", "2", "all"], "normalised_entropy": [0.99, 0.97, 0.98],
                         "share_peaked": [0.0, 0.1, 0.05]})
    tuned = pd.DataFrame({"head": ["1", "2", "all"], "normalised_entropy": [0.6, 0.8, 0.7],
                          "share_peaked": [0.9, 0.5, 0.7]})
    fig = plots.attention_uniformity({"seed schedule (2 epochs)": seed, "tuned": tuned})
    entropy, peaked = fig.axes
    assert [p.get_height() for p in entropy.patches] == [0.99, 0.97, 0.98, 0.6, 0.8, 0.7]
    assert [p.get_height() for p in peaked.patches] == [0.0, 0.1, 0.05, 0.9, 0.5, 0.7]
    assert [t.get_text() for t in entropy.get_xticklabels()] == ["head 1", "head 2", "mean of heads"]
    (one,), (zero,) = entropy.lines, peaked.lines
    assert list(one.get_ydata()) == [1.0, 1.0] and one.get_linestyle() == "--"
    assert list(zero.get_ydata()) == [0.0, 0.0] and zero.get_linestyle() == "--"
    labels = [t.get_text() for t in entropy.get_legend().get_texts()]
    assert labels == ["uniform head (1)", "seed schedule (2 epochs)", "tuned"]
    assert png_bytes(fig).startswith(b"\x89PNG")
