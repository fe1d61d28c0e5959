"""Figures of the notebooks. Each function takes a tidy table and returns a matplotlib Figure.

Figures are built with the object-oriented API (``matplotlib.figure.Figure``), not pyplot, so
nothing is shown or kept in global state behind the caller's back: a notebook passes the figure
to ``nb.figure(fig, name)``, which saves it as a PNG and shows that PNG once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from arerec.config import lower_is_better

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


# one colour per model, the same in every figure of a page
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
SEED_STYLES = ("-", "--", ":", "-.")


def _model_colours(models) -> dict[str, str]:
    return {m: PALETTE[n % len(PALETTE)] for n, m in enumerate(dict.fromkeys(models))}


def _seeds_text(seeds) -> str:
    seeds = sorted({int(s) for s in seeds})
    return f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {', '.join(map(str, seeds))}"


def run_curves(histories: pd.DataFrame, metric: str, title: str) -> Figure:
    """Per-epoch curves of the runs a verdict rests on: training loss, validation loss and the selection
    metric, one line per (model, seed), each model in its own colour, each run's chosen epoch marked.

    ``histories``: one row per (model, seed, epoch) with columns model, seed, epoch, loss, val_loss,
    ``metric`` and best_epoch (the epoch chosen for that run). The title is followed by the models, the
    seeds and the most epochs trained, so the figure says which runs it shows.
    """
    panels = [("loss", "training loss"), ("val_loss", "validation loss")]
    if metric != "val_loss":
        panels.append((metric, metric))
    fig, axes = _figure(4.2 * len(panels), 3.6, ncols=len(panels))
    colours = _model_colours(histories["model"])
    seeds = list(dict.fromkeys(sorted(histories["seed"])))
    for (model, seed), run in histories.sort_values("epoch").groupby(["model", "seed"], sort=False):
        style = SEED_STYLES[seeds.index(seed) % len(SEED_STYLES)]
        best = int(run["best_epoch"].dropna().iloc[-1]) if run["best_epoch"].notna().any() else None
        for ax, (column, _) in zip(axes, panels, strict=True):
            ax.plot(run["epoch"], run[column], linestyle=style, marker="o", markersize=3, color=colours[str(model)],
                    label=f"{model}, seed {seed}")
            chosen = run[run["epoch"] == best]
            if best is not None and len(chosen):
                ax.plot(chosen["epoch"], chosen[column], marker="*", markersize=13, color=colours[str(model)],
                        markeredgecolor="black", linestyle="none")
    top = int(histories["epoch"].max())
    for ax, (_, label) in zip(axes, panels, strict=True):
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.set_title(label + (" (selection metric)" if label == metric or _ == metric else ""), fontsize=10)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlim(0.7, top + 0.3)
    from matplotlib.lines import Line2D

    handles, labels = axes[0].get_legend_handles_labels()
    handles.append(Line2D([], [], marker="*", markersize=12, color="grey", markeredgecolor="black", linestyle="none"))
    labels.append("chosen epoch")
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 4), fontsize=8)
    models = ", ".join(dict.fromkeys(histories["model"]))
    fig.suptitle(f"{title}\n{models}; {_seeds_text(histories['seed'])}; up to {top} epochs; "
                 f"star: the epoch chosen on {metric}", fontsize=10)
    return fig


def seed_run_curves(histories: pd.DataFrame, original: pd.DataFrame, k: int) -> Figure:
    """Our seed-schedule run(s) per epoch, one line per seed, beside the original code's own epochs.

    ``histories``: columns seed, epoch, loss, val_loss, hr@k, ndcg@k (reference protocol).
    ``original``: :data:`arerec.sweeps.headline.ORIGINAL_ML100K` (epoch, loss, val_loss, hr@10, ndcg@10).
    """
    panels = [("loss", "training loss"), ("val_loss", "loss on the test rows (val_loss)"),
              (f"hr@{k}", f"faithful HR@{k}"), (f"ndcg@{k}", f"faithful NDCG@{k}")]
    fig, axes = _figure(14, 3.6, ncols=len(panels))
    seeds = sorted(histories["seed"].unique())
    ours = PALETTE[0]
    for n, seed in enumerate(seeds):
        run = histories[histories["seed"] == seed].sort_values("epoch")
        for ax, (column, _) in zip(axes, panels, strict=True):
            if column in run:
                ax.plot(run["epoch"], run[column], marker="o", color=ours, linestyle=SEED_STYLES[n % 4],
                        label=f"ours, seed {seed}")
    for ax, (column, label) in zip(axes, panels, strict=True):
        if column in original:
            ax.plot(original["epoch"], original[column], marker="s", color="grey", label="original code (one run)")
        ax.set_xlabel("epoch")
        ax.set_title(label, fontsize=10)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels), fontsize=8)
    top = int(histories["epoch"].max())
    fig.suptitle(f"The seed's run (reference protocol, {top} epoch(s), {_seeds_text(seeds)}) beside the original "
                 f"code's {int(original['epoch'].max())} epochs on the same data", fontsize=10)
    return fig


VERDICT_COLOURS = {"supported": "#1a7f37", "not supported": "#b42318"}  # anything else (not resolved, not judged): grey


def _verdict_colour(word: str) -> str:
    return next((c for w, c in VERDICT_COLOURS.items() if word == w), "#6e6e6e")


def claim_differences(table: pd.DataFrame, title: str, names: Mapping[str, str] | None = None) -> Figure:
    """The claims as a forest plot, one panel per metric, one row per claim, with the table's sign (a − b): the mean
    difference over users with its bootstrap 95% interval (circle, thick) and the mean per-seed difference with its
    95% interval (square, thin), coloured by the claim's verdict; each axis says which side is better for a.

    ``table``: :func:`arerec.sweeps.headline.verdict_table` rows (claims left out have no difference and no row;
    not judged ones are drawn grey). ``names``: metric key -> the name shown.
    """
    table = table[table["user_mean_diff"].notna() | table["mean_diff"].notna()].reset_index(drop=True)
    metrics = list(dict.fromkeys(table["metric"]))
    rows = max(int(table.groupby("metric").size().max()) if len(table) else 1, 1)
    fig, axes = _figure(5.6 * max(len(metrics), 1), 0.62 * rows + 2.1, ncols=max(len(metrics), 1))
    for ax, metric in zip(axes, metrics, strict=False):
        part = table[table["metric"] == metric].reset_index(drop=True)
        y = np.arange(len(part))
        for n, row in part.iterrows():
            colour = _verdict_colour(str(row["verdict"]))
            users = (row["user_mean_diff"], row["user_ci_low"], row["user_ci_high"])
            if np.isfinite(users[0]):
                err = [[users[0] - users[1]], [users[2] - users[0]]] if np.isfinite(users[1]) else None
                ax.errorbar(users[0], y[n] - 0.12, xerr=err, fmt="o", color=colour, capsize=3, elinewidth=2.2)
            if np.isfinite(row["mean_diff"]):
                err = row["ci"] if np.isfinite(row["ci"]) else None
                ax.errorbar(row["mean_diff"], y[n] + 0.14, xerr=err, fmt="s", color=colour, capsize=2,
                            elinewidth=0.9, markersize=4, alpha=0.85)
        ax.axvline(0.0, color="black", linewidth=1)
        labels = [f"{a} − {b}\n{_verdict_short(str(v))}, Holm p {_p(p)}"
                  for a, b, v, p in zip(part["a"], part["b"], part["verdict"], part["p_holm"], strict=True)]
        ax.set_yticks(y, [_wrapped(label, 44) for label in labels], fontsize=7.5)
        ax.set_ylim(len(part) - 0.5, -0.6)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4, symmetric=True))  # few labels: they never run together
        ax.ticklabel_format(axis="x", style="plain", useOffset=False)
        ax.tick_params(axis="x", labelsize=8)
        shown = (names or {}).get(metric, metric)
        lower = lower_is_better(metric)
        ax.set_xlabel(f"a − b in {shown}\n{'← a better (lower)' if lower else 'a better (higher) →'}", fontsize=8)
        ax.set_title(shown, fontsize=10)
    fig.suptitle(f"{title}\n● over users (bootstrap 95% CI)   ■ over seeds (95% CI); green supported, red not "
                 "supported, grey not resolved or not judged", fontsize=9)
    return fig


def _verdict_short(word: str) -> str:
    if word.startswith("not judged"):
        return "not judged (collapsed)"
    return "not resolved" if word.startswith("not resolved") else word


def _p(value: Any) -> str:
    value = float(value) if value is not None else float("nan")
    if not np.isfinite(value):
        return "n/a"
    return f"{value:.2g}" if value >= 1e-3 else "< 0.001"


def _wrapped(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(str(text), width, break_long_words=False)) or str(text)


def headline_points(summary: pd.DataFrame, panels: Sequence[tuple[str, str]], title: str,
                    label: str = "model") -> Figure:
    """Means with their 95% CIs as points, one row per ``label`` value, one panel per ``(metric, axis
    label)``, on an axis fitted to the values (not from 0) so that the gaps between models show.

    ``summary``: :func:`arerec.sweeps.headline.summarise` output (columns model, kind, n, and per metric
    ``m`` and ``m_ci``), or any table with those columns per ``label``. Seeds per row are written
    beside the point ("n = 3"); a single seed has no interval.
    """
    labels = list(dict.fromkeys(summary[label]))
    colours = _model_colours(labels)
    fig, axes = _figure(4.6 * len(panels), 0.5 * len(labels) + 1.6, ncols=len(panels))
    part = summary.drop_duplicates(label).set_index(label).reindex(labels)
    for ax, (metric, xlabel) in zip(axes, panels, strict=True):
        means = part[metric].to_numpy(dtype=float)
        errors = part[f"{metric}_ci"].to_numpy(dtype=float) if f"{metric}_ci" in part else np.full(len(labels), np.nan)
        y = np.arange(len(labels))
        for n, name in enumerate(labels):
            if not np.isfinite(means[n]):
                continue
            ax.errorbar(means[n], y[n], xerr=errors[n] if np.isfinite(errors[n]) else None, fmt="o",
                        color=colours[name], capsize=4, markersize=6)
            seeds = part["n"].iloc[n] if "n" in part else None
            text = f"{means[n]:.3f}" + (f" ± {errors[n]:.3f}" if np.isfinite(errors[n]) else "")
            text += f" (n = {int(seeds)})" if seeds is not None and pd.notna(seeds) else ""
            ax.annotate(text, (means[n], y[n]), xytext=(0, 6), textcoords="offset points", ha="center", fontsize=7)
        ax.set_yticks(y, [_wrapped(name, 28) for name in labels], fontsize=8)
        ax.set_ylim(len(labels) - 0.5, -0.8)
        low = np.nanmin(means - np.nan_to_num(errors))
        high = np.nanmax(means + np.nan_to_num(errors))
        pad = max(high - low, 1e-3) * 0.25
        ax.set_xlim(low - pad, high + pad)
        ax.set_xlabel(xlabel, fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(title + "\nmean ± 95% CI over seeds; the axis is fitted to the values (it does not start at 0)",
                 fontsize=10)
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


def confusion_matrices(counts: pd.DataFrame, models: Sequence[str], title: str) -> Figure:
    """One confusion matrix per model (``counts``: model, seed, true, predicted, count; summed over seeds), as row
    shares with the share of all rows each predicted class takes written under its column."""
    fig, axes = _figure(3.6 * len(models), 3.9, ncols=len(models))
    for ax, model in zip(axes, models, strict=True):
        part = counts[counts["model"] == model]
        table = part.pivot_table(index="true", columns="predicted", values="count", aggfunc="sum").sort_index()
        table = table.reindex(columns=table.index, fill_value=0)
        values = table.to_numpy(dtype=float)
        shares = values / np.maximum(values.sum(axis=1, keepdims=True), 1)
        ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
        for (i, j), share in np.ndenumerate(shares):
            ax.text(j, i, f"{share:.0%}", ha="center", va="center", fontsize=7,
                    color="white" if share > 0.5 else "black")
        labels = [f"{r:g}" for r in table.index]
        column_share = values.sum(axis=0) / max(values.sum(), 1)
        ax.set_xticks(range(len(labels)), [f"{lab}\n{c:.0%}" for lab, c in zip(labels, column_share, strict=True)],
                      fontsize=7)
        ax.set_yticks(range(len(labels)), labels, fontsize=7)
        ax.set_xlabel("predicted class (share of all rows)", fontsize=8)
        ax.set_ylabel("true rating", fontsize=8)
        ax.set_title(_wrapped(model, 28), fontsize=9)
    fig.suptitle(title, fontsize=10)
    return fig


# --------------------------------------------------------------------------------------------
# 04 attention
# --------------------------------------------------------------------------------------------
def attention_scale(pairs: Sequence, quantile: float = 0.99) -> LogNorm:
    """One colour scale for every heatmap of :func:`attention_heatmaps`: relative attention (weight x
    number of neighbours) on a log scale centred at 1 (uniform), as far below 1 as above (1/r to r).

    Relative attention is a ratio, so twice and half the uniform weight sit at the same distance from
    white. r covers the ``quantile`` of every panel's cells (in the log distance from 1), so that one
    very peaked cell does not wash the others out; cells beyond it take the end colours (the colour bar
    is extended), and r is at least 1.25.
    """
    values = np.concatenate([np.ravel(p.weights) * p.weights.shape[1] for p in pairs]) if pairs else np.ones(1)
    distance = np.abs(np.log(np.clip(values[np.isfinite(values)], 1e-9, None)))
    r = float(np.exp(np.quantile(distance, quantile))) if distance.size else 1.0
    r = max(r, 1.25)
    return LogNorm(vmin=1.0 / r, vmax=r, clip=False)


ATTENTION_CMAP = "RdBu_r"  # blue: less than uniform, white: uniform, red: more


def attention_heatmaps(pairs: Sequence, *, target_possible: bool, title: str = "") -> Figure:
    """Heads x neighbours for sampled (user, item) pairs (:class:`arerec.evaluate.attention.PairAttention`),
    one panel per pair, the neighbours in time order.

    Each cell is the relative attention, weight x the row's number of neighbours (1 = uniform), on a
    diverging scale centred at 1 that all panels share (:func:`attention_scale`), with one colour bar.
    With ``target_possible`` (the reference protocol) the target user's column is outlined where it is
    among the neighbours; otherwise the figure says once that it cannot be.
    """
    norm = attention_scale(pairs)
    scale_max = float(norm.vmax or 1.0)  # set by attention_scale
    n_pairs = max(len(pairs), 1)
    heads = max((p.weights.shape[0] for p in pairs), default=1)
    fig = Figure(figsize=(9, (0.32 * heads + 0.9) * n_pairs + 1.0), layout="constrained")
    axes = fig.subplots(n_pairs, 1, squeeze=False)[:, 0]
    image = None
    for ax, pair in zip(axes, pairs, strict=False):
        relative = pair.weights * pair.weights.shape[1]  # [H, n]
        image = ax.imshow(relative, aspect="auto", cmap=ATTENTION_CMAP, norm=norm, interpolation="nearest")
        ax.set_yticks(range(relative.shape[0]), [f"head {h + 1}" for h in range(relative.shape[0])], fontsize=9)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        where = ""
        if target_possible:
            where = "; target user not among the neighbours"
            if pair.target_position is not None:
                ax.add_patch(_outline(pair.target_position, relative.shape[0]))
                where = f"; target user at position {pair.target_position} (outlined)"
        ax.set_title(f"user {pair.user}, item {pair.item} (rating {pair.rating:g}), "
                     f"{relative.shape[1]} neighbours{where}", fontsize=9, loc="left")
    axes[-1].set_xlabel("neighbour position (time order: 0 = earliest in the window)")
    if image is not None:
        values = np.concatenate([np.ravel(p.weights) * p.weights.shape[1] for p in pairs])
        extend = {(False, False): "neither", (True, False): "min", (False, True): "max", (True, True): "both"}[
            (bool((values < norm.vmin).any()), bool((values > norm.vmax).any()))]
        bar = fig.colorbar(image, ax=list(axes), label="relative attention, log scale\n(weight x neighbours; 1 = uniform)",
                           pad=0.01, extend=extend)
        ticks, labels = _ratio_ticks(scale_max)
        bar.set_ticks(ticks, labels=labels)
        bar.minorticks_off()
    note = ("" if target_possible else
            "\nThe clean protocol never shows a row its own user, so no target column can be outlined.")
    fig.suptitle((title or f"Attention of {len(pairs)} sampled test pairs (different users and items)") + note,
                 fontsize=10)
    return fig


def _ratio_ticks(r: float) -> tuple[list[float], list[str]]:
    """Ticks of a log scale from 1/r to r: 1 and powers of 2 (at most 4 a side), or 1/1.5 and 1.5 for a
    narrow one; labelled 1/4, 1/2, 1, 2, 4."""
    top = int(np.floor(np.log2(r)))
    if top < 1:
        ticks = [1 / 1.5, 1.0, 1.5] if r >= 1.5 else [1.0]
    else:
        step = int(np.ceil(top / 4))
        ticks = sorted({2.0 ** e for e in range(-top, top + 1, step)} | {1.0})
    return ticks, [f"{t:.3g}" if t >= 1 else f"1/{1 / t:.3g}" for t in ticks]


def _outline(position: int, heads: int):
    from matplotlib.patches import Rectangle

    return Rectangle((position - 0.5, -0.5), 1, heads, fill=False, edgecolor="black", linewidth=2.5)


def _rho(text: str, rho: tuple[float, float, float] | None) -> str:
    if rho is None or not np.isfinite(rho[0]):
        return text
    return f"{text}\nSpearman rho = {rho[0]:.3f} (95% CI {rho[1]:.3f} to {rho[2]:.3f})"


def attention_by_position(profile: pd.DataFrame, rho: tuple[float, float, float] | None = None,
                          title: str = "") -> Figure:
    """Mean relative attention against relative neighbour position: the mean of heads with its 95% CI,
    each head as a thin line, the uniform line at 1, and (``rho``: rho, low, high) the Spearman
    correlation of attention with position and its CI in the title."""
    fig, (ax,) = _figure(7.0, 4.0)
    for head, part in profile.groupby("head", sort=False):
        if head == "mean":
            ci = part["ci"] if "ci" in part else None
            ax.errorbar(part["position"], part["relative_attention"], yerr=ci, color="black", linewidth=2,
                        marker="o", markersize=4, capsize=3, label="mean of heads ± 95% CI", zorder=3)
        else:
            ax.plot(part["position"], part["relative_attention"], marker=".", alpha=0.6, linewidth=1,
                    label=f"head {head}")
    ax.axhline(1.0, color="grey", linestyle="--", linewidth=1, label="uniform (1)")
    _include_one(ax)
    ax.set_xlabel("relative neighbour position (0 = earliest, 1 = latest in the window)")
    ax.set_ylabel("relative attention (1 = uniform)")
    ax.set_title(_rho(title or "Does recency matter? Mean attention by neighbour position", rho), fontsize=10)
    ax.legend(fontsize=8)
    return fig


def _include_one(ax) -> None:
    """Keep the uniform line in view and the axis at least +-5% around it, so that noise does not
    look like structure."""
    low, high = ax.get_ylim()
    ax.set_ylim(min(low, 0.95), max(high, 1.05))


def attention_vs_similarity(by_co_rated: pd.DataFrame, by_rms_diff: pd.DataFrame,
                            summary: Mapping[str, float] | None = None) -> Figure:
    """Mean relative attention (± 95% CI) in quantile bins of co-rated items and of RMS rating difference
    (train data), the uniform line, and with ``summary`` (:func:`arerec.evaluate.attention.similarity_summary`)
    the Spearman correlations with their CIs."""
    fig, axes = _figure(12, 4.0, ncols=2)
    summary = summary or {}
    for ax, table, column, label, title in (
            (axes[0], by_co_rated, "co_rated", "items co-rated with the target user (train)", "Attention vs co-rated items"),
            (axes[1], by_rms_diff, "rms_diff", "RMS rating difference with the target user (train)",
             "Attention vs rating agreement (lower = agree more)")):
        centres = (table["low"].astype(float) + table["high"].astype(float)) / 2
        ax.errorbar(centres, table["relative_attention"], yerr=table["ci"] if "ci" in table else None, marker="o",
                    capsize=3, label="mean ± 95% CI per quantile bin")
        ax.axhline(1.0, color="grey", linestyle="--", linewidth=1, label="uniform (1)")
        _include_one(ax)
        ax.set_xlabel(label)
        ax.set_ylabel("mean relative attention (1 = uniform)")
        key = f"spearman_attention_{column}"
        rho = (summary[key], summary.get(f"{key}_low", np.nan), summary.get(f"{key}_high", np.nan)) if key in summary else None
        ax.set_title(_rho(title, rho), fontsize=10)
        ax.legend(fontsize=8)
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
