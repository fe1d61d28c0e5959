"""Figures of the notebooks. Each function takes a tidy table and returns a matplotlib Figure.

Figures are built with the object-oriented API (``matplotlib.figure.Figure``), not pyplot, so
nothing is shown or kept in global state behind the caller's back: a notebook passes the figure
to ``nb.figure(fig, name)``, which saves it as a PNG and shows that PNG once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

TARGET_COLOUR = "crimson"


def _figure(width: float = 6.4, height: float = 4.0, ncols: int = 1) -> tuple[Figure, list]:
    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, list(axes)


# --------------------------------------------------------------------------------------------
# 01 data exploration
# --------------------------------------------------------------------------------------------
def rating_distribution(dist: pd.DataFrame) -> Figure:
    """Bars of the count per rating class (columns rating, count, share), each labelled with its share."""
    fig, (ax,) = _figure(5.5, 3.6)
    bars = ax.bar(dist["rating"].astype(str), dist["count"], color="steelblue")
    ax.bar_label(bars, labels=[f"{s:.1%}" for s in dist["share"]], padding=2)
    ax.set_xlabel("rating")
    ax.set_ylabel("ratings")
    ax.set_title("Rating distribution")
    ax.margins(y=0.12)
    return fig


def sequence_lengths(lengths: pd.DataFrame, min_seq: int) -> Figure:
    """Histograms of user and item sequence lengths before and after the min_seq filter (log x)."""
    fig, axes = _figure(11, 3.8, ncols=2)
    top = max(int(lengths["length"].max()), 2)
    edges = np.unique(np.geomspace(1, top + 1, 40).round())
    for ax, kind in zip(axes, ("user", "item"), strict=True):
        for stage, colour in (("before", "grey"), ("after", "steelblue")):
            values = lengths.loc[(lengths["kind"] == kind) & (lengths["stage"] == stage), "length"]
            ax.hist(values, bins=edges, histtype="step", linewidth=1.6, color=colour,
                    label=f"{stage} min_seq ({len(values)} {kind}s)")
        ax.axvline(min_seq, color=TARGET_COLOUR, linestyle="--", linewidth=1, label=f"min_seq = {min_seq}")
        ax.set_xscale("log")
        ax.set_xlabel(f"ratings per {kind} (sequence length)")
        ax.set_ylabel(f"{kind}s")
        ax.set_title(f"{kind.capitalize()} sequence lengths")
        ax.legend(fontsize=8)
    return fig


def item_popularity(popularity: pd.DataFrame) -> Figure:
    """The long tail: ratings per item by popularity rank (log y) and the cumulative share of ratings."""
    fig, (ax,) = _figure(6.4, 3.8)
    ax.plot(popularity["rank"], popularity["count"], color="steelblue", label="ratings of the item")
    ax.set_yscale("log")
    ax.set_xlabel("item popularity rank")
    ax.set_ylabel("ratings of the item (log)")
    share = ax.twinx()
    share.plot(popularity["rank"], popularity["cumulative_share"], color="darkorange", label="cumulative share")
    share.set_ylim(0, 1.02)
    share.set_ylabel("cumulative share of all ratings")
    ax.set_title("Item popularity (long tail)")
    fig.legend(loc="center right", fontsize=8, bbox_to_anchor=(0.85, 0.5))
    return fig


def ratings_over_time(over_time: pd.DataFrame) -> Figure:
    """Ratings per period (columns period, count)."""
    fig, (ax,) = _figure(6.4, 3.4)
    ax.plot(over_time["period"], over_time["count"], marker="o", markersize=3, color="steelblue")
    ax.set_xlabel("month")
    ax.set_ylabel("ratings")
    ax.set_title(f"Ratings over time ({over_time['period'].min():%Y-%m} to {over_time['period'].max():%Y-%m})")
    fig.autofmt_xdate()
    return fig


def truncation(table: pd.DataFrame) -> Figure:
    """Share of (item, neighbour) interactions kept and of items truncated, against max_seq."""
    fig, (ax,) = _figure(6.0, 3.6)
    ax.plot(table["max_seq"], table["interactions_kept"], marker="o", label="interactions kept")
    ax.plot(table["max_seq"], table["items_truncated"], marker="s", label="items truncated")
    used = table[table["used_by_model"]]
    for _, row in used.iterrows():
        ax.axvline(row["max_seq"], color=TARGET_COLOUR, linestyle="--", linewidth=1,
                   label=f"model's max_seq = {int(row['max_seq'])} ({row['interactions_kept']:.1%} kept)")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("max_seq (neighbours per item)")
    ax.set_ylabel("share")
    ax.set_title("What truncating item sequences to max_seq keeps")
    ax.legend(fontsize=8)
    return fig


def leakage(rows: pd.DataFrame) -> Figure:
    """Per test row: the share of the neighbours in the model's window who rated the item later."""
    fig, (ax,) = _figure(6.0, 3.6)
    share = rows["later_in_window"] / rows["window"]
    ax.hist(share, bins=np.linspace(0, 1, 21), color="steelblue")
    inside = rows["target_in_window"].mean()
    ax.set_xlabel("share of the window's neighbours who rated the item after the test rating")
    ax.set_ylabel("test rows")
    ax.set_title(f"Leakage: the target user is inside its own window in {inside:.1%} of test rows")
    return fig


# --------------------------------------------------------------------------------------------
# 02 training
# --------------------------------------------------------------------------------------------
def learning_curves(history: pd.DataFrame, k: int) -> Figure:
    """Loss and val_loss per epoch; faithful HR@k and NDCG@k and standard NDCG@k per epoch."""
    fig, axes = _figure(11, 3.8, ncols=2)
    epochs = history["epoch"]
    for column in ("loss", "val_loss"):
        axes[0].plot(epochs, history[column], marker="o", label=column)
    axes[0].set_ylabel("cross-entropy")
    axes[0].set_title("Loss (val_loss is on the test split)")
    for column in (f"hr@{k}", f"ndcg@{k}", f"std_ndcg@{k}"):
        if column in history:
            axes[1].plot(epochs, history[column], marker="o", label=column)
    axes[1].set_ylabel("metric")
    axes[1].set_title(f"Test metrics at k = {k}")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.set_xticks(list(epochs))
        ax.legend(fontsize=8)
    return fig


def _bar_panels(labels: Sequence[str] | pd.Index | pd.Series, panels: Sequence[tuple[Sequence[float] | pd.Series, str]],
                highlight: str,
                ylabel: str, title: str, width: float) -> Figure:
    """Side-by-side horizontal bar panels sharing one set of labels; the ``highlight`` bar in colour."""
    fig, axes = _figure(width, 0.45 * len(labels) + 1.5, ncols=len(panels))
    colours = [TARGET_COLOUR if label == highlight else "steelblue" for label in labels]
    for ax, (values, xlabel) in zip(axes, panels, strict=True):
        bars = ax.barh(list(labels), values, color=colours)
        ax.bar_label(bars, fmt="%.3f", padding=2, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel(xlabel)
        ax.margins(x=0.2)
    axes[0].set_ylabel(ylabel)
    fig.suptitle(title)
    return fig


def model_comparison(table: pd.DataFrame, metrics: Sequence[str], highlight: str = "ARERec") -> Figure:
    """One horizontal bar panel per metric, one bar per model (the index); ``highlight`` in colour."""
    return _bar_panels(table.index.astype(str), [(table[m], m) for m in metrics], highlight, "model",
                       "ARERec and rating baselines on the same test split", 4.2 * len(metrics))


def seed_bars(summary: pd.DataFrame, label: str, panels: Sequence[tuple[str, str]], highlight: str, title: str,
              group: str | None = None) -> Figure:
    """Horizontal bars of seed means with 95% CI error bars (columns ``m`` and ``m_ci``).

    One bar per value of ``label``; one panel per ``(metric, axis label)``; with ``group``, one
    row of panels per group value (e.g. per protocol). Labels starting with ``highlight`` in colour.
    """
    groups = list(dict.fromkeys(summary[group])) if group else [None]
    labels = list(dict.fromkeys(summary[label]))
    fig = Figure(figsize=(4.4 * len(panels), (0.42 * len(labels) + 1.2) * len(groups)), layout="constrained")
    axes = fig.subplots(len(groups), len(panels), squeeze=False)
    colours = [TARGET_COLOUR if str(name).startswith(highlight) else "steelblue" for name in labels]
    for row, value in zip(axes, groups, strict=True):
        part = (summary if value is None else summary[summary[group] == value]).set_index(label).reindex(labels)
        for ax, (metric, xlabel) in zip(row, panels, strict=True):
            means = part[metric].to_numpy(dtype=float)
            errors = np.nan_to_num(part[f"{metric}_ci"].to_numpy(dtype=float))
            ax.barh(labels, means, xerr=errors, color=colours, capsize=3, error_kw={"elinewidth": 1})
            for y, (m, e) in enumerate(zip(means, errors, strict=True)):
                if np.isfinite(m):
                    ax.text(m + e, y, f" {m:.3f}", va="center", fontsize=7)
            ax.invert_yaxis()
            ax.margins(x=0.25)
            ax.set_xlabel(xlabel)
            if value is not None:
                ax.set_title(f"{group}: {value}", fontsize=9)
    fig.suptitle(title)
    return fig


def confusion_matrix(table: pd.DataFrame) -> Figure:
    """Heatmap of the share of each true class (rows) predicted as each class (columns), with counts."""
    counts = table.to_numpy()
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig, (ax,) = _figure(4.8, 4.2)
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for (i, j), count in np.ndenumerate(counts):
        ax.text(j, i, f"{count}\n{shares[i, j]:.0%}", ha="center", va="center", fontsize=8,
                color="white" if shares[i, j] > 0.5 else "black")
    ax.set_xticks(range(counts.shape[1]), table.columns)
    ax.set_yticks(range(counts.shape[0]), table.index)
    ax.set_xlabel("predicted rating (argmax class)")
    ax.set_ylabel("true rating")
    ax.set_title("Confusion matrix (row shares)")
    fig.colorbar(image, ax=ax, shrink=0.8, label="share of the true class")
    return fig


# --------------------------------------------------------------------------------------------
# 04 attention
# --------------------------------------------------------------------------------------------
def attention_heatmap(pair) -> Figure:
    """Heads x neighbours (time order) for one :class:`arerec.evaluate.attention.PairAttention`; the target
    user's column is outlined when it is among the neighbours."""
    weights = pair.weights
    heads, n = weights.shape
    fig, (ax,) = _figure(min(2.0 + 0.09 * n, 14), 1.2 + 0.45 * heads)
    image = ax.imshow(weights, aspect="auto", cmap="viridis", interpolation="nearest")
    ax.set_yticks(range(heads), [f"head {h + 1}" for h in range(heads)])
    ax.set_xlabel("neighbour position (time order: 0 = earliest rater of the item)")
    where = "not among the neighbours"
    if pair.target_position is not None:
        p = pair.target_position
        ax.add_patch(_outline(p, heads))
        where = f"at position {p} (outlined)"
    ax.set_title(f"user {pair.user}, item {pair.item} (rating {pair.rating:g}): target user {where}", fontsize=9)
    fig.colorbar(image, ax=ax, label="attention weight", pad=0.01)
    return fig


def _outline(position: int, heads: int):
    from matplotlib.patches import Rectangle

    return Rectangle((position - 0.5, -0.5), 1, heads, fill=False, edgecolor=TARGET_COLOUR, linewidth=2)


def attention_by_position(profile: pd.DataFrame) -> Figure:
    """Mean relative attention against relative neighbour position, one line per head and the mean."""
    fig, (ax,) = _figure(6.4, 3.8)
    for head, part in profile.groupby("head", sort=False):
        style = {"color": "black", "linewidth": 2.2} if head == "mean" else {"alpha": 0.8}
        ax.plot(part["position"], part["relative_attention"], marker="o", markersize=3,
                label="mean of heads" if head == "mean" else f"head {head}", **style)
    ax.axhline(1.0, color="grey", linestyle=":", linewidth=1, label="uniform")
    ax.set_xlabel("relative neighbour position (0 = earliest, 1 = latest in the window)")
    ax.set_ylabel("relative attention (1 = uniform)")
    ax.set_title("Does recency matter? Mean attention by neighbour position")
    ax.legend(fontsize=8)
    return fig


def attention_vs_similarity(by_co_rated: pd.DataFrame, by_rms_diff: pd.DataFrame) -> Figure:
    """Mean relative attention in bins of co-rated items and of RMS rating difference (train data)."""
    fig, axes = _figure(11, 3.8, ncols=2)
    for ax, table, label in ((axes[0], by_co_rated, "items co-rated with the target user (train)"),
                             (axes[1], by_rms_diff, "RMS rating difference with the target user (train)")):
        centres = (table["low"].astype(float) + table["high"].astype(float)) / 2
        ax.plot(centres, table["relative_attention"], marker="o")
        ax.axhline(1.0, color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel(label)
        ax.set_ylabel("mean relative attention (1 = uniform)")
    axes[0].set_title("Attention vs co-rated items")
    axes[1].set_title("Attention vs rating agreement (lower = agree more)")
    return fig


def attention_uniformity(tables: Mapping[str, pd.DataFrame]) -> Figure:
    """How far from uniform each model's heads attend (tables of :func:`arerec.evaluate.attention.uniformity`,
    keyed by model label): grouped bars per head and for the mean of heads, one bar per model, in two
    panels: normalised entropy (dashed line at 1, a uniform head) and the share of rows whose largest
    weight exceeds 2/n (dashed line at 0, what a uniform head gives)."""
    heads = list(dict.fromkeys(h for table in tables.values() for h in table["head"] if h != "all")) + ["all"]
    fig, axes = _figure(11, 3.8, ncols=2)
    width = 0.8 / max(len(tables), 1)
    x = np.arange(len(heads))
    panels = ((axes[0], "normalised_entropy", "normalised entropy (1 = uniform)", 1.0),
              (axes[1], "share_peaked", "share of rows with max weight > 2/n", 0.0))
    for ax, column, ylabel, uniform in panels:
        for k, (label, table) in enumerate(tables.items()):
            values = table.set_index("head")[column].reindex(heads).to_numpy(dtype=float)
            bars = ax.bar(x + (k - (len(tables) - 1) / 2) * width, values, width, label=label)
            ax.bar_label(bars, labels=[f"{v:.2f}" if np.isfinite(v) else "" for v in values], padding=2,
                         fontsize=7)
        ax.axhline(uniform, color="grey", linestyle="--", linewidth=1, label=f"uniform head ({uniform:g})")
        ax.set_xticks(x, [f"head {h}" if h != "all" else "mean of heads" for h in heads])
        ax.set_ylim(0, 1.3)  # room above the bars for the legend
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=8, loc="upper center", ncols=len(tables) + 1)
    axes[0].set_title("Entropy of the weights over the real neighbours")
    axes[1].set_title("Rows with a peaked head (largest weight > 2 x uniform)")
    return fig


# --------------------------------------------------------------------------------------------
# 01 data exploration: reference vs clean protocol
# --------------------------------------------------------------------------------------------
def protocol_comparison(table: pd.DataFrame) -> Figure:
    """What a test row sees under each protocol (rows of :func:`arerec.data.exploration.protocol_comparison`):
    one horizontal bar panel per leakage measure, one bar per protocol; the reference in colour."""
    panels = [
        (table["share_target_in_window"], "share of test rows whose own\nuser is a visible neighbour"),
        (table["share_rows_with_later_neighbours_in_window"], "share of test rows with a visible\nneighbour who rated later"),
        (table["mean_later_neighbours_in_window"], "visible neighbours who rated\nlater, per test row"),
        (table["share_test_before_user_last_train"], "share of test ratings older than\nthe user's latest train rating"),
    ]
    return _bar_panels(table["protocol"], panels, "reference", "protocol",
                       "What a test row sees: the reference protocol vs the clean one", 3.6 * len(panels))
