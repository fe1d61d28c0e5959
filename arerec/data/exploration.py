"""Statistics of a ratings file and of the two protocols' splits, as tidy tables.

Everything here reads the raw ratings (original ids and timestamps) or a protocol's split
(:class:`arerec.data.split.Split`, :class:`arerec.data.split.CleanSplit`), so the numbers describe the data the
model is trained and tested on, including the leakage of the original protocol (docs/reference.md §1
step 4): every test row's item sequence is built from all the data, so it holds the target user
and users who rated later. :func:`protocol_comparison` sets that beside the clean protocol.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from arerec.config import Config
from arerec.data.datasets import ensure_ratings
from arerec.data.inputs import Experiment, load_experiment
from arerec.data.prepare import Prepared
from arerec.data.ratings import read_ratings_csv
from arerec.data.split import CleanSplit, Split, filtered_rows, split_clean, split_rows
from arerec.errors import DataError


def load_ratings(cfg: Config) -> pd.DataFrame:
    """The dataset's ratings (fetched or generated first if missing), columns userId, itemId, rating, timestamp."""
    return read_ratings_csv(ensure_ratings(cfg))


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
    return filtered_rows(cfg, ratings)[0]


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
    return pd.DataFrame({"period": full.to_timestamp(), "count": counts.to_numpy()})


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


def split_sizes(split: Split) -> pd.DataFrame:
    """Rows, users and items of: the ratings file, what the min_seq filter keeps, train and test.

    ``share_of_ratings_file`` is each stage's rows over the file's; ``share_of_kept_rows`` its rows over
    those the min_seq filter kept (train + test fall short of 1: both are cut to whole batches and test
    rows of items unseen in train are dropped), blank for the file itself, which is not part of them.
    """
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
    table["share_of_ratings_file"] = table["rows"] / split.rows_in
    # a share of what min_seq kept only for what is inside it: the ratings file holds more rows (was 1.053)
    table["share_of_kept_rows"] = np.where(table["stage"] == "ratings file", np.nan, table["rows"] / split.rows_kept)
    return table


def leakage(split: Split, ratings: pd.DataFrame, max_seq: int) -> pd.DataFrame:
    """For each test row, where its own user sits in the item's sequence and who rated later.

    The reference gives every row its item's full user sequence in time order, truncated to the
    first ``max_seq`` users (the window the model sees). Columns: userId, itemId, rating,
    seq_len, window (min(seq_len, max_seq)), target_position (0-based; -1 if absent),
    target_in_sequence, target_in_window, later_in_sequence and later_in_window (neighbours whose
    rating of the item is strictly later than the test rating).
    """
    items = pd.unique(split.test["itemId"].to_numpy())
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


# --------------------------------------------------------------------------------------------
# Reference vs clean protocol
# --------------------------------------------------------------------------------------------
PROTOCOLS = ("reference", "clean")


def visible_neighbours(exp: Experiment, split: Split | CleanSplit,
                       ratings: pd.DataFrame) -> pd.DataFrame:
    """For each test row, the neighbours the model is given (:meth:`Experiment.inputs`).

    ``split`` is the split of ``exp``'s protocol on ``ratings`` (:func:`arerec.data.split.split_rows` or
    :func:`arerec.data.split.split_clean`): its test rows, in order, are the prepared test rows, and it
    gives their timestamps. In the reference every row of an item sees the item's first
    ``max_seq`` raters; in the clean protocol a row sees the latest ``max_seq`` training raters
    before its ``seq_end``. Columns: userId, itemId (prepared ids), timestamp, visible (real,
    non-padding neighbours), target_in_window (the row's own user is one of them) and
    later_in_window (those who rated the item strictly after the test rating).
    """
    users, items, _, ends = exp.arrays("test")
    item_ids, user_ids = _prepared_ids(exp.prepared, split)
    test = split.test
    if not (np.array_equal(item_ids.reindex(test["itemId"]).to_numpy(), items)
            and np.array_equal(user_ids.reindex(test["userId"]).to_numpy(), users)):
        raise _mismatch(exp.prepared)
    # when each (item, user) pair was rated, keyed in prepared ids (user 0, the padding, is never a key)
    rated = pd.DataFrame({"item": ratings["itemId"].map(item_ids), "user": ratings["userId"].map(user_ids),
                          "timestamp": ratings["timestamp"]}).dropna()
    width = exp.prepared.num_users + 1
    rated_at = pd.Series(rated["timestamp"].to_numpy(),
                         index=rated["item"].to_numpy(np.int64) * width + rated["user"].to_numpy(np.int64))
    t = test["timestamp"].to_numpy()
    parts = []
    for rows in np.array_split(np.arange(len(users)), max(1, len(users) // 20_000)):  # bounded memory
        neighbours = exp.inputs(users[rows], items[rows], ends[rows])["neighbours"]  # the reference ignores ends
        keys = items[rows].astype(np.int64)[:, None] * width + neighbours
        when = rated_at.reindex(keys.ravel()).to_numpy(dtype=float).reshape(keys.shape)  # NaN for padding
        parts.append(((neighbours > 0).sum(axis=1), (neighbours == users[rows, None]).any(axis=1),
                      (when > t[rows, None]).sum(axis=1)))
    visible, target, later = (np.concatenate(columns) for columns in zip(*parts, strict=True))
    return pd.DataFrame({"userId": users, "itemId": items, "timestamp": t, "visible": visible,
                         "target_in_window": target, "later_in_window": later})


def protocol_comparison(cfg: Config, ratings: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per protocol (``reference``, ``clean``) for the same settings ``cfg``.

    Each protocol's data version is prepared if missing (``data_version`` is derived, so that each
    protocol gets its own). Columns: protocol; train_rows, valid_rows, test_rows, users, items
    (the prepared data); max_seq; share_test_before_user_last_train (test ratings older than the
    same user's latest training rating); mean_visible_neighbours, share_target_in_window,
    mean_later_neighbours_in_window and share_rows_with_later_neighbours_in_window (over test
    rows, see :func:`visible_neighbours`); epoch_chosen_on (the split that picks the epoch) and
    epoch_selection (how).
    """
    ratings = load_ratings(cfg) if ratings is None else ratings
    rows = []
    for protocol in PROTOCOLS:
        pcfg = cfg.replace(protocol=protocol, data_version="")
        exp = load_experiment(pcfg)
        split = split_clean(pcfg, ratings) if exp.clean else split_rows(pcfg, ratings)
        seen = visible_neighbours(exp, split, ratings)
        last_train = split.test["userId"].map(split.train.groupby("userId")["timestamp"].max())
        k = max(pcfg.evaluation.topk)
        rows.append({
            "protocol": protocol,
            "train_rows": len(exp.prepared.train),
            "valid_rows": 0 if exp.prepared.valid is None else len(exp.prepared.valid),
            "test_rows": len(exp.prepared.test),
            "users": exp.prepared.num_users,
            "items": exp.prepared.num_items,
            "max_seq": exp.tables.max_seq,
            "share_test_before_user_last_train": float((split.test["timestamp"] < last_train).mean()),
            "mean_visible_neighbours": float(seen["visible"].mean()),
            "share_target_in_window": float(seen["target_in_window"].mean()),
            "mean_later_neighbours_in_window": float(seen["later_in_window"].mean()),
            "share_rows_with_later_neighbours_in_window": float((seen["later_in_window"] > 0).mean()),
            "epoch_chosen_on": exp.eval_split,
            "epoch_selection": ("lowest validation loss; test scored once, with that epoch" if exp.clean
                                else f"highest NDCG@{k} on the test rows (selection on test)"),
        })
    return pd.DataFrame(rows)


def _prepared_ids(prepared: Prepared,
                  split: Split | CleanSplit) -> tuple[pd.Series, pd.Series]:
    """Original id -> prepared id, for items and for users.

    ``prepare`` writes the split's rows and item sequences in order, so they pair up one to one:
    items through the training rows, users through the item sequences.
    """
    if len(prepared.train) != len(split.train) or len(prepared.test) != len(split.test):
        raise _mismatch(prepared)
    items = _one_to_one(split.train["itemId"].to_numpy(), prepared.train["itemId"].to_numpy())
    if items is None:
        raise _mismatch(prepared)
    original = [np.asarray(split.item_seqs[i]) for i in items.index]
    new = [prepared.item_seqs[i] for i in items.to_numpy()]
    if [len(s) for s in original] != [len(s) for s in new]:
        raise _mismatch(prepared)
    users = _one_to_one(np.concatenate(original), np.concatenate(new))
    if users is None:
        raise _mismatch(prepared)
    return items, users


def _one_to_one(original: np.ndarray, prepared: np.ndarray) -> pd.Series | None:
    pairs = pd.DataFrame({"original": original, "prepared": prepared}).drop_duplicates()
    if pairs["original"].duplicated().any() or pairs["prepared"].duplicated().any():
        return None
    return pairs.set_index("original")["prepared"]


def _mismatch(prepared: Prepared) -> DataError:
    return DataError(f"the prepared data version {prepared.version!r} is not the {prepared.protocol} split of "
                     "these ratings: prepare it again from the same ratings and settings")
