"""Figures of the notebooks. Each function takes a tidy table and returns a matplotlib Figure.

Figures are built with the object-oriented API (``matplotlib.figure.Figure``), not pyplot, so
nothing is shown or kept in global state behind the caller's back: a notebook passes the figure
to ``nb.figure(fig, name)``, which tidies it (:func:`tidy`: no offset tick labels, no overlapping ticks) and saves it
(:func:`save_figure`) as a PNG of :data:`DPI` and a PDF beside it, and shows the PNG once. Every metric and model is
named by :mod:`arerec.report.names`.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, ScalarFormatter

from arerec.config import lower_is_better
from arerec.files import atomic_path
from arerec.report import captions, formatting, names

TARGET_COLOUR = "crimson"
DPI = 150  # the PNGs' resolution; the pages show them at 100 px per inch


def _figure(width: float = 6.4, height: float = 4.0, ncols: int = 1) -> tuple[Figure, list]:
    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, list(axes)


def _canvas(fig: Figure):
    """The figure's Agg canvas (a pyplot figure has one; a bare Figure gets one), drawn."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    return canvas


def _visible_labels(axis, renderer) -> list:
    low, high = sorted(axis.get_view_interval())
    ticks = [t for t in axis.get_major_ticks() if t.label1.get_visible() and t.label1.get_text()
             and low - 1e-9 * (abs(low) + 1) <= t.get_loc() <= high + 1e-9 * (abs(high) + 1)]
    return [t.label1.get_window_extent(renderer) for t in ticks]


def overlapping_ticks(fig: Figure) -> list[str]:
    """Each axis of ``fig`` whose tick labels overlap, as 'axes N x' (empty when none does)."""
    renderer = _canvas(fig).get_renderer()
    found = []
    for n, ax in enumerate(fig.axes):
        for name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
            boxes = _visible_labels(axis, renderer)
            if any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:]):
                found.append(f"axes {n} {name}")
    return found


def tidy(fig: Figure, attempts: int = 4) -> Figure:
    """No offset on any axis ("1e−5+1.4402" reads as nothing), and fewer ticks on a numeric axis whose tick labels
    overlap, until they do not (a category axis keeps its labels)."""
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            formatter = axis.get_major_formatter()
            if isinstance(formatter, ScalarFormatter):
                formatter.set_useOffset(False)
    for _ in range(attempts):
        crowded = overlapping_ticks(fig)
        if not crowded:
            break
        for where in crowded:
            _, n, name = where.split()
            axis = getattr(fig.axes[int(n)], f"{name}axis")
            if axis.get_scale() == "linear" and isinstance(axis.get_major_formatter(), ScalarFormatter):
                bins = max(len(axis.get_major_locator()()) // 2, 2)
                axis.set_major_locator(MaxNLocator(nbins=bins, steps=[1, 2, 2.5, 5, 10]))
    return fig


def save_figure(fig: Figure, stem: Path) -> bytes:
    """``fig`` tidied and written atomically as ``{stem}.png`` (:data:`DPI`) and ``{stem}.pdf`` (vector, TrueType
    fonts, no creation date); returns the PNG's bytes."""
    import matplotlib

    tidy(fig)
    stem.parent.mkdir(parents=True, exist_ok=True)
    outputs = {}
    with matplotlib.rc_context({"pdf.fonttype": 42}):
        for kind, options in (("png", {"dpi": DPI}), ("pdf", {"metadata": {"CreationDate": None}})):
            buffer = io.BytesIO()
            fig.savefig(buffer, format=kind, bbox_inches="tight", **options)
            outputs[kind] = buffer.getvalue()
            with atomic_path(stem.with_suffix(f".{kind}")) as tmp:
                tmp.write_bytes(outputs[kind])
    return outputs["png"]


def _wrapped(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(str(text), width, break_long_words=False)) or str(text)


def _axis_label(metric: str, k: int | None = None) -> str:
    """A metric's name and which way is better: 'RMSE (lower is better)'."""
    return f"{names.metric(metric, k) or metric} ({'lower' if lower_is_better(metric) else 'higher'} is better)"


# --------------------------------------------------------------------------------------------
# 01 data exploration
# --------------------------------------------------------------------------------------------
def rating_distribution(dist: pd.DataFrame) -> Figure:
    """Bars of the count per rating class (columns rating, count, share), each labelled with its share."""
    fig, (ax,) = _figure(5.5, 3.6)
    bars = ax.bar(dist["rating"].astype(str), dist["count"], color="steelblue")
    ax.bar_label(bars, labels=[formatting.percent(s) for s in dist["share"]], padding=2)
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
                   label=f"model's max_seq = {int(row['max_seq'])} ({formatting.percent(row['interactions_kept'])} kept)")
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
    ax.set_title(f"Leakage: the target user is inside its own window in {formatting.percent(inside)} of test rows")
    return fig


# --------------------------------------------------------------------------------------------
# 02 training
# --------------------------------------------------------------------------------------------
# one colour per model, the same in every figure of a page
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
SEED_STYLES = ("-", "--", ":", "-.")


def _model_colours(models) -> dict[str, str]:
    return {m: PALETTE[n % len(PALETTE)] for n, m in enumerate(dict.fromkeys(models))}


def _curve_panels(histories: pd.DataFrame, metric: str) -> list[tuple[str, str]]:
    """Training loss, the validation loss the selection metric is (``val_ce``, else ``val_loss``), and the selection
    metric when it is not a loss: ``val_loss`` beside ``val_ce`` would draw the same curve twice."""
    panels = [("loss", names.metric("loss"))]
    loss = metric if metric in ("val_ce", "val_loss") else ("val_ce" if "val_ce" in histories else "val_loss")
    panels.append((loss, names.metric(loss)))
    if metric != loss:
        panels.append((metric, names.metric(metric) or metric))
    return [(column, str(label)) for column, label in panels]


def _draw_run(axes, panels, run: pd.DataFrame, colour: str, style: str, label: str) -> None:
    best = int(run["best_epoch"].dropna().iloc[-1]) if run["best_epoch"].notna().any() else None
    for ax, (column, _) in zip(axes, panels, strict=True):
        ax.plot(run["epoch"], run[column], linestyle=style, marker="o", markersize=3, color=colour, label=label)
        chosen = run[run["epoch"] == best]
        if best is not None and len(chosen):
            ax.plot(chosen["epoch"], chosen[column], marker="*", markersize=13, color=colour,
                    markeredgecolor="black", linestyle="none")


def run_curves(histories: pd.DataFrame, metric: str, title: str) -> Figure:
    """Per-epoch curves of the runs a verdict rests on (:func:`_curve_panels`), one line per (model, seed), each model
    in its own colour, each run's chosen epoch starred.

    ``histories``: one row per (model, seed, epoch) with columns model, seed, epoch, loss, val_loss (and val_ce),
    ``metric`` and best_epoch (the epoch chosen for that run). The title is followed by the models, the seeds and the
    most epochs trained, so the figure says which runs it shows.
    """
    from matplotlib.lines import Line2D

    panels = _curve_panels(histories, metric)
    fig, axes = _figure(4.2 * len(panels), 3.6, ncols=len(panels))
    colours = _model_colours(histories["model"])
    seeds = list(dict.fromkeys(sorted(histories["seed"])))
    for (model, seed), run in histories.sort_values("epoch").groupby(["model", "seed"], sort=False):
        _draw_run(axes, panels, run, colours[str(model)], SEED_STYLES[seeds.index(seed) % len(SEED_STYLES)],
                  f"{names.model(model)}, seed {seed}")
    top = int(histories["epoch"].max())
    for ax, (column, label) in zip(axes, panels, strict=True):
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.set_title(label + (" (selection metric)" if column == metric else ""), fontsize=10)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlim(0.7, top + 0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    handles.append(Line2D([], [], marker="*", markersize=12, color="grey", markeredgecolor="black", linestyle="none"))
    labels.append("chosen epoch")
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 3), fontsize=8)
    shown = "; ".join(names.model(m) for m in dict.fromkeys(histories["model"]))
    fig.suptitle(f"{title}\n{shown}\n{captions.seeds(list(histories['seed']))}; up to {top} epochs; star: the epoch chosen on "
                 f"{names.metric(metric) or metric}", fontsize=10)
    return fig


def seed_run_curves(histories: pd.DataFrame, original: pd.DataFrame, k: int) -> Figure:
    """Our seed-schedule run(s) per epoch, one line per seed, beside the original code's own epochs.

    ``histories``: columns seed, epoch, loss, val_loss, hr@k, ndcg@k (reference protocol).
    ``original``: :data:`arerec.sweeps.headline.ORIGINAL_ML100K` (epoch, loss, val_loss, hr@10, ndcg@10).
    """
    panels = [("loss", names.metric("loss")), ("val_loss", "loss on the test rows (the reference's val_loss)"),
              (f"hr@{k}", names.metric(f"hr@{k}")), (f"ndcg@{k}", names.metric(f"ndcg@{k}"))]
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
        ax.set_title(str(label), fontsize=10)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels), fontsize=8)
    top = int(histories["epoch"].max())
    fig.suptitle(f"The seed's run (reference protocol, {top} epoch{'s' if top != 1 else ''}, {captions.seeds(seeds)}) "
                 f"beside the original code's {int(original['epoch'].max())} epochs on the same data", fontsize=10)
    return fig


VERDICT_COLOURS = {"supported": "#1a7f37", "not supported": "#b42318"}  # anything else (not resolved, not judged): grey


def _verdict_colour(word: str) -> str:
    return next((c for w, c in VERDICT_COLOURS.items() if word == w), "#6e6e6e")


def _forest_rows(ax, part: pd.DataFrame) -> None:
    """One row per claim: over users (circle, thick bootstrap interval), over seeds (square, thin interval)."""
    y = np.arange(len(part))
    for n, row in enumerate(part.to_dict("records")):
        colour = _verdict_colour(str(row["verdict"]))
        users = (row["user_mean_diff"], row["user_ci_low"], row["user_ci_high"])
        if np.isfinite(users[0]):
            err = [[users[0] - users[1]], [users[2] - users[0]]] if np.isfinite(users[1]) else None
            ax.errorbar(users[0], y[n] - 0.12, xerr=err, fmt="o", color=colour, capsize=3, elinewidth=2.2)
        if np.isfinite(row["mean_diff"]):
            err = row["ci"] if np.isfinite(row["ci"]) else None
            ax.errorbar(row["mean_diff"], y[n] + 0.14, xerr=err, fmt="s", color=colour, capsize=2,
                        elinewidth=0.9, markersize=4, alpha=0.85)


def claim_differences(table: pd.DataFrame, title: str) -> Figure:
    """The claims as a forest plot, one panel per metric, one row per claim, with the table's sign (a − b): the mean
    difference over users with its bootstrap 95% interval (circle, thick) and the mean per-seed difference with its
    95% interval (square, thin), coloured by the claim's verdict; each axis says which side is better for a.

    ``table``: :func:`arerec.sweeps.headline.verdict_table` rows (claims left out have no difference and no row;
    not judged ones are drawn grey).
    """
    table = table[table["user_mean_diff"].notna() | table["mean_diff"].notna()].reset_index(drop=True)
    metrics = list(dict.fromkeys(table["metric"]))
    rows = max(int(table.groupby("metric").size().max()) if len(table) else 1, 1)
    fig, axes = _figure(5.6 * max(len(metrics), 1), 0.62 * rows + 2.1, ncols=max(len(metrics), 1))
    for ax, metric in zip(axes, metrics, strict=False):
        part = table[table["metric"] == metric].reset_index(drop=True)
        _forest_rows(ax, part)
        ax.axvline(0.0, color="black", linewidth=1)
        labels = [f"{names.model(a)} − {names.model(b)}\n{_verdict_short(str(v))}, Holm p {formatting.p_value(p)}"
                  for a, b, v, p in zip(part["a"], part["b"], part["verdict"], part["p_holm"], strict=True)]
        ax.set_yticks(np.arange(len(part)), [_wrapped(label, 44) for label in labels], fontsize=7.5)
        ax.set_ylim(len(part) - 0.5, -0.6)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4, symmetric=True))  # few labels: they never run together
        ax.tick_params(axis="x", labelsize=8)
        shown = names.metric(metric) or metric
        better = "← a better (lower)" if lower_is_better(metric) else "a better (higher) →"
        ax.set_xlabel(f"a − b in {shown}\n{better}", fontsize=8)
        ax.set_title(shown, fontsize=10)
    fig.suptitle(f"{title}\n● over users (bootstrap 95% CI)   ■ over seeds (95% CI); green supported, red not "
                 "supported, grey not resolved or not judged", fontsize=9)
    return fig


def _verdict_short(word: str) -> str:
    if word.startswith("not judged"):
        return "not judged (collapsed)"
    return "not resolved" if word.startswith("not resolved") else word


def _span_decimals(values: np.ndarray, at_least: int = 3) -> int:
    """Decimals (at least ``at_least``, at most 6) that resolve the spread of ``values`` across its axis: points
    0.0006 apart read 0.5080 and 0.5086, never 0.508 twice."""
    finite = values[np.isfinite(values)]
    span = float(finite.max() - finite.min()) if finite.size > 1 else 0.0
    return formatting.pair_decimals(0.0, [span], at_least)


def _point_label(mean: float, half: float, seeds: Any, digits: int) -> str:
    text = formatting.interval(mean, half if np.isfinite(half) else None, digits)
    return text + (f" (n = {int(seeds)})" if seeds is not None and pd.notna(seeds) else "")


def _points_panel(ax, part: pd.DataFrame, labels: list[str], metric: str, colours: Mapping[str, str]) -> None:
    means = part[metric].to_numpy(dtype=float)
    errors = part[f"{metric}_ci"].to_numpy(dtype=float) if f"{metric}_ci" in part else np.full(len(labels), np.nan)
    digits = max([_span_decimals(means), *(formatting.pair_decimals(m, [e], 3) for m, e in
                                               zip(means, errors, strict=True) if np.isfinite(m) and np.isfinite(e))])
    for n, name in enumerate(labels):
        if not np.isfinite(means[n]):
            continue
        ax.errorbar(means[n], n, xerr=errors[n] if np.isfinite(errors[n]) else None, fmt="o", color=colours[name],
                    capsize=4, markersize=6)
        seeds = part["n"].iloc[n] if "n" in part else None
        ax.annotate(_point_label(means[n], errors[n], seeds, digits), (means[n], n), xytext=(0, 6),
                    textcoords="offset points", ha="center", fontsize=7)
    ax.set_yticks(np.arange(len(labels)), [_wrapped(names.model(name), 28) for name in labels], fontsize=8)
    ax.set_ylim(len(labels) - 0.5, -0.8)
    low, high = np.nanmin(means - np.nan_to_num(errors)), np.nanmax(means + np.nan_to_num(errors))
    pad = max(high - low, 1e-3) * 0.3  # room for the labels of the outermost points
    ax.set_xlim(low - pad, high + pad)
    ax.grid(axis="x", alpha=0.3)


def headline_points(summary: pd.DataFrame, metrics: Sequence[str], title: str, label: str = "model",
                    k: int | None = None) -> Figure:
    """Means as points, one row per ``label`` value (a model, a variant), one panel per metric key, on an axis
    fitted to the values (not from 0) so that the gaps between rows show; each point labelled with its mean, its 95%
    CI over seeds and its seeds (n), written with the decimals that tell its panel's points apart.

    ``summary``: :func:`arerec.sweeps.headline.summarise` output (columns model, n, and per metric ``m`` and
    ``m_ci``), or any table with those columns per ``label``. A point of one seed has no interval, and a figure
    whose every point has one seed promises none.
    """
    labels = [str(v) for v in dict.fromkeys(summary[label])]
    colours = _model_colours(labels)
    fig, axes = _figure(4.6 * len(metrics), 0.5 * len(labels) + 1.6, ncols=len(metrics))
    unique = summary.drop_duplicates(label)
    part = unique.set_index(unique[label].astype(str)).reindex(labels)
    for ax, metric in zip(axes, metrics, strict=True):
        _points_panel(ax, part, labels, metric, colours)
        ax.set_xlabel(_axis_label(metric, k), fontsize=9)
    seeds = pd.to_numeric(summary["n"], errors="coerce") if "n" in summary else pd.Series([np.nan])
    spread = ("one seed: no interval" if seeds.max() <= 1 else
              "mean ± 95% CI over seeds (a point of one seed has none)")
    fig.suptitle(f"{title}\n{spread}; the axis is fitted to the values (it does not start at 0)", fontsize=10)
    return fig


def metrics_against_k(runs: pd.DataFrame, models: Sequence[str], ks: Sequence[int], title: str) -> Figure:
    """Faithful HR@k, faithful NDCG@k and standard NDCG@k against k, one line per model: the mean over its seeds with
    its 95% CI (none with one seed). ``runs``: one row per (model, seed) with the columns ``hr@k`` ... for each k."""
    from arerec.evaluate.stats import mean_ci

    kinds = [kind for kind in ("hr", "ndcg", "std_ndcg") if all(f"{kind}@{k}" in runs for k in ks)]
    fig, axes = _figure(4.4 * len(kinds), 3.8, ncols=len(kinds))
    colours = _model_colours(models)
    for ax, kind in zip(axes, kinds, strict=True):
        for model in models:
            part = runs[runs["model"] == model]
            stats = [mean_ci(part[f"{kind}@{k}"].dropna().to_numpy(dtype=float)) for k in ks]
            means, halves = np.array([m for m, _ in stats]), np.array([h for _, h in stats])
            ax.errorbar(ks, means, yerr=np.where(np.isfinite(halves), halves, 0.0), marker="o", capsize=3,
                        color=colours[model], label=names.model(model))
        ax.set_xticks(list(ks))
        ax.set_xlabel("k (the list's length)")
        ax.set_title(names.metric(f"{kind}@k") or kind, fontsize=10)
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 3), fontsize=8)
    seeds = runs[runs["model"].isin(models)].groupby("model")["seed"].nunique()
    spread = "one seed: no interval" if seeds.max() <= 1 else "mean ± 95% CI over seeds"
    fig.suptitle(f"{title}\n{spread}; the kit computes no standard HR@k", fontsize=10)
    return fig


def _bar_panels(labels: Sequence[str] | pd.Index | pd.Series, panels: Sequence[tuple[Sequence[float] | pd.Series, str]],
                highlight: str,
                ylabel: str, title: str, width: float) -> Figure:
    """Side-by-side horizontal bar panels sharing one set of labels; the ``highlight`` bar in colour."""
    fig, axes = _figure(width, 0.45 * len(labels) + 1.5, ncols=len(panels))
    colours = [TARGET_COLOUR if label == highlight else "steelblue" for label in labels]
    for ax, (values, xlabel) in zip(axes, panels, strict=True):
        bars = ax.barh(list(labels), values, color=colours)
        ax.bar_label(bars, labels=[formatting.fixed(v, 3) for v in values], padding=2, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel(xlabel)
        ax.margins(x=0.2)
    axes[0].set_ylabel(ylabel)
    fig.suptitle(title)
    return fig


def confusion_matrix(table: pd.DataFrame) -> Figure:
    """Heatmap of the share of each true class (rows) predicted as each class (columns), with counts."""
    counts = table.to_numpy()
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig, (ax,) = _figure(4.8, 4.2)
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for (i, j), count in np.ndenumerate(counts):
        ax.text(j, i, f"{count}\n{formatting.percent(shares[i, j], 0)}", ha="center", va="center", fontsize=8,
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
            ax.text(j, i, formatting.percent(share, 0), ha="center", va="center", fontsize=7,
                    color="white" if share > 0.5 else "black")
        labels = [f"{r:g}" for r in table.index]
        column_share = values.sum(axis=0) / max(values.sum(), 1)
        ax.set_xticks(range(len(labels)), [f"{lab}\n{formatting.percent(c, 0)}" for lab, c in zip(labels, column_share, strict=True)],
                      fontsize=7)
        ax.set_yticks(range(len(labels)), labels, fontsize=7)
        ax.set_xlabel("predicted class (share of all rows)", fontsize=8)
        ax.set_ylabel("true rating", fontsize=8)
        ax.set_title(_wrapped(names.model(model), 28), fontsize=9)
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
    low, high = (formatting.fixed(v, 3) for v in rho[1:])
    return f"{text}\nSpearman rho = {formatting.fixed(rho[0], 3)} (95% CI {low} to {high})"


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
            ax.bar_label(bars, labels=[formatting.fixed(v, 2) if np.isfinite(v) else "" for v in values], padding=2,
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
