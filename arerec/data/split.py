"""The split: which ratings train and which test, under the reference protocol or the clean one.

- :func:`split_rows`: the reference ``dataset.py`` (docs/reference.md §1): time sort, the earliest
  ``data_percent``, one ``min_seq`` pass, a random split, whole batches; every row's item sequence is
  built from all the data (the leakage kept as the faithful mode).
- :func:`split_clean`: a per-user temporal split with a validation share, train-only item
  sequences, and each row seeing only the raters before it.

Both work on original ids; :mod:`arerec.data.prepare` numbers the rows and writes them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from arerec.config import Config
from arerec.data.ratings import ratings_path
from arerec.errors import DataError

log = logging.getLogger(__name__)

def sort_by_time(df: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Rows in time order; ``kind`` is ``DataSettings.sort_kind``.

    'stable': equal timestamps keep the file's row order, the one order a stable sort may give, so
    the split is the same on every machine. 'quicksort' is the reference's call, kept for parity: its
    order of equal timestamps depends on numpy's sort for the CPU (AMD EPYC and Intel Xeon split
    ML-100K differently). Every other sort of this module is stable or sorts distinct keys.
    """
    if kind == "stable":
        return df.sort_values(by="timestamp", kind="stable")
    return df.sort_values(by="timestamp")  # the reference's call: pandas' default, unstable sort


def filter_min_seq(df: pd.DataFrame, min_seq: int) -> tuple[pd.DataFrame, dict[object, list]]:
    """Single-pass filter: users with < min_seq ratings, then items with < min_seq ratings.

    Returns the kept rows (still in time order) and each kept item's user sequence in time order.
    Not an iterated k-core: after the item filter a user may fall below ``min_seq`` again.
    """
    user_counts = df.groupby("userId", sort=False)["itemId"].transform("size")
    df = df[user_counts >= min_seq]
    item_seqs = df.groupby("itemId", sort=False)["userId"].agg(list)
    item_seqs = item_seqs[item_seqs.map(len) >= min_seq]
    df = df[df["itemId"].isin(item_seqs.index)]
    return df, item_seqs.to_dict()


def whole_batches(df: pd.DataFrame, batch_size: int) -> pd.DataFrame:
    return df.head(len(df) // batch_size * batch_size)


@dataclass
class Split:
    """The reference's rows before ids are assigned: original ids, ratings and timestamps."""

    train: pd.DataFrame  # userId, itemId, rating, timestamp (original ids), cut to whole batches
    test: pd.DataFrame
    item_seqs: dict  # original item id -> its raters' original ids in time order (all data)
    rows_in: int
    rows_kept: int
    users_kept: int
    users_below_min_seq: int


def filtered_rows(cfg: Config, ratings: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """docs/reference.md §1 steps 1-3: time sort, the earliest ``data_percent``, one min_seq pass."""
    df = sort_by_time(ratings, cfg.data.sort_kind)
    if cfg.data.data_percent < 1:
        df = df.head(int(len(ratings) * cfg.data.data_percent))
    df, item_seqs = filter_min_seq(df, cfg.data.min_seq)
    if df.empty:
        raise DataError(
            f"min_seq={cfg.data.min_seq} leaves no ratings in {ratings_path(cfg)} "
            f"(the most active user has {int(ratings.groupby('userId').size().max())} ratings): lower min_seq"
        )
    return df, item_seqs


def split_rows(cfg: Config, ratings: pd.DataFrame) -> Split:
    """docs/reference.md §1 steps 1-7: sort, filter, attach sequences, split, cut to whole batches."""
    rows_in = len(ratings)
    df, item_seqs = filtered_rows(cfg, ratings)
    per_user = df.groupby("userId").size()
    below = int((per_user < cfg.data.min_seq).sum())
    log.info(
        "kept %d of %d ratings: %d users, %d items; %d users fell below min_seq after the item filter "
        "(single pass, as the reference)", len(df), rows_in, per_user.size, len(item_seqs), below,
    )
    # The reference attaches each item's full user sequence to every row: test rows see
    # their own user and later raters (leakage, kept as the faithful mode).
    if round(len(df) * cfg.data.test_ratio) < 1 or round(len(df) * (1 - cfg.data.test_ratio)) < 1:
        raise DataError(
            f"only {len(df)} ratings remain after filtering: too few to split with test_ratio={cfg.data.test_ratio}; "
            "use more data or a lower min_seq"
        )
    train, test = train_test_split(df, test_size=cfg.data.test_ratio, random_state=cfg.data.split_seed)
    train = whole_batches(train, cfg.data.batch_size)
    if train.empty:
        raise DataError(
            f"batch_size={cfg.data.batch_size} is larger than the {len(df) - len(test)} training rows: "
            "lower batch_size"
        )
    test = whole_batches(test[test["itemId"].isin(set(train["itemId"]))], cfg.data.batch_size)
    return Split(train, test, item_seqs, rows_in, len(df), int(per_user.size), below)


@dataclass
class CleanSplit:
    """Per-user temporal split with train-only item sequences (original ids)."""

    train: pd.DataFrame  # userId, itemId, rating, timestamp, seq_end
    valid: pd.DataFrame
    test: pd.DataFrame
    item_seqs: dict  # item -> its TRAIN raters in time order
    rows_in: int
    rows_kept: int


def split_clean(cfg: Config, ratings: pd.DataFrame) -> CleanSplit:
    """The leakage-free protocol.

    - The same sort, ``data_percent`` and single-pass ``min_seq`` filter as the reference.
    - Each user's ratings in time order: the last ``test_ratio`` go to test, the last
      ``val_ratio`` of the rest to validation (for choosing the epoch), the others to train.
    - Item sequences hold only training interactions.
    - Every row sees only the item's training raters strictly before its own timestamp:
      ``seq_end`` is their count, and the model reads the latest ``max_seq`` of them. So no
      row sees its own rating, a test interaction, or a neighbour who rated later.
    """
    rows_in = len(ratings)
    df, _ = filtered_rows(cfg, ratings)
    df = df.sort_values(["userId", "timestamp"], kind="stable")
    position = df.groupby("userId", sort=False).cumcount().to_numpy()
    count = df.groupby("userId", sort=False)["itemId"].transform("size").to_numpy()
    n_test = np.floor(count * cfg.data.test_ratio).astype(int)
    n_valid = np.floor((count - n_test) * cfg.data.val_ratio).astype(int)
    is_test = position >= count - n_test
    is_valid = ~is_test & (position >= count - n_test - n_valid)
    train = df[~is_test & ~is_valid].sort_values("timestamp", kind="stable")
    valid, test = df[is_valid], df[is_test]
    if train.empty or test.empty:
        raise DataError(f"test_ratio={cfg.data.test_ratio} leaves an empty train or test split: check test_ratio and min_seq")

    item_seqs = train.groupby("itemId", sort=False)["userId"].agg(list).to_dict()
    known_users = set(train["userId"])
    frames = []
    for frame in (train, valid, test):
        frame = frame[frame["itemId"].isin(item_seqs.keys()) & frame["userId"].isin(known_users)]
        frames.append(frame.assign(seq_end=_visible_counts(train, frame)))
    train, valid, test = frames
    return CleanSplit(train, valid, test, item_seqs=item_seqs, rows_in=rows_in, rows_kept=len(df))


def _visible_counts(train: pd.DataFrame, rows: pd.DataFrame) -> np.ndarray:
    """For each row: how many training raters of its item rated strictly before it."""
    codes, items = pd.factorize(train["itemId"])
    _, time_rank = np.unique(np.concatenate([train["timestamp"].to_numpy(), rows["timestamp"].to_numpy()]),
                             return_inverse=True)  # ranks fit in 32 bits whatever the time unit
    train_key = np.sort(codes.astype(np.int64) << 32 | time_rank[: len(train)])
    starts = np.searchsorted(train_key, np.arange(len(items), dtype=np.int64) << 32)
    row_codes = items.get_indexer(pd.Index(rows["itemId"]))
    row_key = row_codes.astype(np.int64) << 32 | time_rank[len(train):]
    return (np.searchsorted(train_key, row_key, side="left") - starts[row_codes]).astype(np.int64)
