"""Statistics of a ratings file and of the reference protocol's split, as tidy tables.

Everything here reads the raw ratings (original ids and timestamps) or the reference's
:class:`arerec.data.Split`, so the numbers describe the data the model is trained and tested on,
including the leakage of the original protocol (REFERENCE.md §1 step 4): every test row's item
sequence is built from all the data, so it holds the target user and users who rated later.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from arerec import data as data_mod
from arerec.config import Config


def load_ratings(cfg: Config) -> pd.DataFrame:
    """The dataset's ratings (fetched or generated first if missing), columns userId, itemId, rating, timestamp."""
    from arerec.datasets import ensure_ratings

    return data_mod.read_ratings_csv(ensure_ratings(cfg))


def overview(ratings: pd.DataFrame) -> pd.DataFrame:
    """One-column table: rows, users, items, density, rating classes, first and last rating date."""
    users, items = ratings["userId"].nunique(), ratings["itemId"].nunique()
    first, last = (pd.to_datetime(ratings["timestamp"].agg(f), unit="s") for f in ("min", "max"))
    values = {
        "ratings": len(ratings),
        "users": users,
        "items": items,
        "density": len(ratings) / (users * items),
        "rating classes": ", ".join(str(c) for c in np.sort(ratings["rating"].unique())),
        "mean rating": ratings["rating"].mean(),
        "first rating": first.strftime("%Y-%m-%d"),
        "last rating": last.strftime("%Y-%m-%d"),
        "days covered": (last - first).days,
    }
    return pd.DataFrame({"value": pd.Series(values, dtype=object)})


def rating_distribution(ratings: pd.DataFrame) -> pd.DataFrame:
    """Columns rating, count, share, one row per rating class in ascending order."""
    counts = ratings["rating"].value_counts().sort_index()
    return pd.DataFrame({"rating": counts.index, "count": counts.to_numpy(), "share": counts.to_numpy() / len(ratings)})


def filtered(cfg: Config, ratings: pd.DataFrame) -> pd.DataFrame:
    """The rows the reference keeps: sorted by time, the earliest ``data_percent``, one min_seq pass."""
    return data_mod.filtered_rows(cfg, ratings)[0]


def sequence_lengths(cfg: Config, ratings: pd.DataFrame) -> pd.DataFrame:
    """Long table of sequence lengths: columns kind ('user' or 'item'), stage ('before' or 'after'
    the min_seq filter) and length, one row per user or item."""
    parts = []
    for stage, rows in (("before", ratings), ("after", filtered(cfg, ratings))):
        for kind, column in (("user", "userId"), ("item", "itemId")):
            lengths = rows.groupby(column).size().to_numpy()
            parts.append(pd.DataFrame({"kind": kind, "stage": stage, "length": lengths}))
    return pd.concat(parts, ignore_index=True)


def length_summary(lengths: pd.DataFrame, min_seq: int) -> pd.DataFrame:
    """Per kind and stage: count, min, median, mean, max and how many are below ``min_seq``."""
    grouped = lengths.groupby(["kind", "stage"], sort=False)["length"]
    summary = grouped.agg(["count", "min", "median", "mean", "max"])
    summary[f"below_{min_seq}"] = grouped.apply(lambda s: int((s < min_seq).sum()))
    return summary.reset_index()


def item_popularity(ratings: pd.DataFrame) -> pd.DataFrame:
    """Items by descending rating count: rank (from 1), itemId, count, cumulative share of ratings."""
    counts = ratings["itemId"].value_counts()
    counts = counts.iloc[np.lexsort((counts.index.astype(str), -counts.to_numpy()))]
    return pd.DataFrame(
        {
            "rank": np.arange(1, len(counts) + 1),
            "itemId": counts.index,
            "count": counts.to_numpy(),
            "cumulative_share": np.cumsum(counts.to_numpy()) / counts.sum(),
        }
    )


def popularity_summary(popularity: pd.DataFrame, shares: tuple[float, ...] = (0.2, 0.5, 0.8)) -> pd.DataFrame:
    """The smallest share of items (most popular first) that holds each share of all ratings."""
    n = len(popularity)
    rows = []
    for share in shares:
        items = int(np.searchsorted(popularity["cumulative_share"].to_numpy(), share - 1e-12) + 1)
        rows.append({"share_of_ratings": share, "items": items, "share_of_items": items / n})
    return pd.DataFrame(rows)


def ratings_over_time(ratings: pd.DataFrame, freq: str = "MS") -> pd.DataFrame:
    """Ratings per period (default: calendar month): columns period (start date), count."""
    when = pd.to_datetime(ratings["timestamp"], unit="s")
    counts = when.groupby(when.dt.to_period(freq[0])).size()
    full = pd.period_range(counts.index.min(), counts.index.max(), freq=freq[0])
    counts = counts.reindex(full, fill_value=0)
    return pd.DataFrame({"period": counts.index.to_timestamp(), "count": counts.to_numpy()})


def truncation(item_lengths: np.ndarray, max_seq_values: list[int], model_max_seq: int) -> pd.DataFrame:
    """How much truncating every item sequence to ``max_seq`` keeps.

    Columns: max_seq, interactions_kept (share of all (item, neighbour) pairs inside the window),
    items_truncated (share of items longer than max_seq), used_by_model (the model's max_seq).
    """
    lengths = np.asarray(item_lengths)
    values = sorted(set(int(v) for v in max_seq_values) | {int(model_max_seq)})
    return pd.DataFrame(
        {
            "max_seq": values,
            "interactions_kept": [np.minimum(lengths, v).sum() / lengths.sum() for v in values],
            "items_truncated": [float(np.mean(lengths > v)) for v in values],
            "used_by_model": [v == model_max_seq for v in values],
        }
    )


def split_sizes(split: data_mod.Split) -> pd.DataFrame:
    """Rows, users and items of: the ratings file, what the min_seq filter keeps, train and test."""
    def count(rows: pd.DataFrame) -> dict[str, int]:
        return {"rows": len(rows), "users": rows["userId"].nunique(), "items": rows["itemId"].nunique()}

    table = pd.DataFrame(
        [
            {"stage": "ratings file", "rows": split.rows_in, "users": np.nan, "items": np.nan},
            {"stage": "after min_seq", "rows": split.rows_kept, "users": split.users_kept,
             "items": len(split.item_seqs)},
            {"stage": "train", **count(split.train)},
            {"stage": "test", **count(split.test)},
        ]
    )
    table["share_of_kept_rows"] = table["rows"] / split.rows_kept
    return table


def leakage(split: data_mod.Split, ratings: pd.DataFrame, max_seq: int) -> pd.DataFrame:
    """For each test row, where its own user sits in the item's sequence and who rated later.

    The reference gives every row its item's full user sequence in time order, truncated to the
    first ``max_seq`` users (the window the model sees). Columns: userId, itemId, rating,
    seq_len, window (min(seq_len, max_seq)), target_position (0-based; -1 if absent),
    target_in_sequence, target_in_window, later_in_sequence and later_in_window (neighbours whose
    rating of the item is strictly later than the test rating).
    """
    items = pd.unique(split.test["itemId"])
    seqs = [pd.Index(split.item_seqs[item]) for item in items]
    keys = pd.MultiIndex.from_arrays(
        [np.repeat(items, [len(s) for s in seqs]), np.concatenate([s.to_numpy() for s in seqs])]
    )
    lookup = pd.MultiIndex.from_frame(ratings[["itemId", "userId"]]).get_indexer(keys)
    times = np.split(ratings["timestamp"].to_numpy()[lookup], np.cumsum([len(s) for s in seqs])[:-1])
    by_item = split.test.groupby("itemId", sort=False).indices
    frames = []
    for item, seq, seq_times in zip(items, seqs, times, strict=True):  # seq_times ascend: time order
        rows = split.test.iloc[by_item[item]]
        window = min(len(seq), max_seq)
        t = rows["timestamp"].to_numpy()
        frames.append(
            pd.DataFrame(
                {
                    "userId": rows["userId"].to_numpy(),
                    "itemId": item,
                    "rating": rows["rating"].to_numpy(),
                    "seq_len": len(seq),
                    "window": window,
                    "target_position": seq.get_indexer(rows["userId"]),
                    "later_in_sequence": len(seq) - np.searchsorted(seq_times, t, side="right"),
                    "later_in_window": window - np.searchsorted(seq_times[:window], t, side="right"),
                },
                index=rows.index,
            )
        )
    table = pd.concat(frames).loc[split.test.index].reset_index(drop=True)
    table.insert(6, "target_in_sequence", table["target_position"] >= 0)
    table.insert(7, "target_in_window", (table["target_position"] >= 0) & (table["target_position"] < max_seq))
    return table


def leakage_summary(rows: pd.DataFrame) -> dict[str, float]:
    """Shares over test rows: target inside its item's sequence and window; later raters seen."""
    later_share = rows["later_in_window"] / rows["window"]
    return {
        "test_rows": int(len(rows)),
        "share_target_in_sequence": float(rows["target_in_sequence"].mean()),
        "share_target_in_window": float(rows["target_in_window"].mean()),
        "share_rows_with_later_neighbours_in_window": float((rows["later_in_window"] > 0).mean()),
        "mean_share_of_window_rated_later": float(later_share.mean()),
        "mean_later_neighbours_in_window": float(rows["later_in_window"].mean()),
        "mean_later_neighbours_in_sequence": float(rows["later_in_sequence"].mean()),
    }
