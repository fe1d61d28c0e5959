"""Data preparation, exactly as the reference ``dataset.py`` does it (REFERENCE.md §1).

``prepare`` turns ``{data_path}/{dataset}/{dataset}_ratings.csv`` into the three ``.id`` files
of a data version; ``load_prepared`` reads them back; ``build_item_tables`` makes the model's
per-item inputs (neighbour ids and LCU ids, REFERENCE.md §2).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from arerec.config import Config
from arerec.errors import DataError
from arerec.files import write_csv_atomic

log = logging.getLogger(__name__)

RATING_COLUMNS = ["userId", "itemId", "rating", "timestamp"]
ROW_COLUMNS = ["rating", "userId", "itemId", "item_user_sequence"]
SEQ_COLUMNS = ["itemId", "item_user_sequence", "len_item_user_sequence"]
FILE_SUFFIXES = {"train": "_train.id", "test": "_test.id", "item_seq": "_item_user_sequence.id", "valid": "_valid.id"}
CLEAN_ROW_COLUMNS = ["rating", "userId", "itemId", "seq_end"]


def is_clean_version(version: str) -> bool:
    return re.search(r"_clean\d+$", version) is not None


# --------------------------------------------------------------------------------------------
# Reading and checking a ratings file
# --------------------------------------------------------------------------------------------
def ratings_path(cfg: Config) -> Path:
    return cfg.dataset_dir / f"{cfg.dataset}_ratings.csv"


def read_ratings_csv(path: str | Path) -> pd.DataFrame:
    """Read a ratings CSV (user, item, rating, timestamp with a header row) and check it.

    User and item ids are kept as they are (ints or strings); rating and timestamp must be
    numbers. Every problem raises :class:`DataError` naming the file, the row and the fix.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"ratings file not found: {path} (expected a CSV with columns user,item,rating,timestamp)")
    try:
        df = pd.read_csv(path, dtype={0: str, 1: str}, keep_default_na=True)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty (expected a header and rows user,item,rating,timestamp)") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot be parsed as CSV ({str(exc).splitlines()[0]})") from None
    if df.shape[1] != 4:
        hint = " (is it tab- or '::'-separated? use commas)" if df.shape[1] == 1 else ""
        raise DataError(
            f"{path}: expected 4 comma-separated columns user,item,rating,timestamp, found {df.shape[1]}{hint}"
        )
    if len(df) == 0:
        raise DataError(f"{path}: has a header but no rows")
    df.columns = RATING_COLUMNS
    for column in ("userId", "itemId"):
        missing = df[column].isna()
        if missing.any():
            row = int(np.flatnonzero(missing.to_numpy())[0]) + 2
            raise DataError(f"{path}: row {row}: missing {column}")
    for column in ("rating", "timestamp"):
        values = pd.to_numeric(df[column], errors="coerce")
        bad = values.isna() | ~np.isfinite(values.to_numpy(dtype=float, na_value=np.nan))
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            found = df[column].iloc[row]
            found = "an empty value" if pd.isna(found) else repr(found)
            raise DataError(f"{path}: row {row + 2}: {column} must be a number, found {found}")
        df[column] = values
    df["userId"] = _maybe_int(df["userId"])
    df["itemId"] = _maybe_int(df["itemId"])
    if (df["rating"] == df["rating"].round()).all():
        df["rating"] = df["rating"].astype(np.int64)
    if (df["timestamp"] == df["timestamp"].round()).all():
        df["timestamp"] = df["timestamp"].astype(np.int64)
    duplicates = df.duplicated(["userId", "itemId"], keep="last")
    if duplicates.any():
        # Documented choice: a re-rating replaces the earlier one (the latest row wins).
        log.warning(
            "%s: %d duplicate (user, item) rows; keeping the latest of each", path, int(duplicates.sum())
        )
        df = _keep_latest(df)
    return df


def _maybe_int(column: pd.Series) -> pd.Series:
    """Ids that are all integers become int64 (so they sort numerically); others stay strings."""
    as_int = pd.to_numeric(column, errors="coerce")
    if as_int.notna().all() and (as_int == as_int.round()).all():
        return as_int.astype(np.int64)
    return column.astype(str)


def _keep_latest(df: pd.DataFrame) -> pd.DataFrame:
    order = np.lexsort((np.arange(len(df)), df["timestamp"].to_numpy()))
    latest = df.iloc[order].drop_duplicates(["userId", "itemId"], keep="last")
    return df.loc[df.index.isin(latest.index)].reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Preparation (REFERENCE.md §1)
# --------------------------------------------------------------------------------------------
@dataclass
class PrepareReport:
    """Counts printed by the reference while it prepares the data."""

    rows_in: int
    rows_kept: int
    users_kept: int
    items_kept: int
    users_below_min_seq_after_item_filter: int
    train_rows: int
    test_rows: int
    version: str
    paths: dict[str, Path] = field(default_factory=dict)


def sort_by_time(df: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Rows in time order; ``kind`` is ``Config.sort_kind``.

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
    """REFERENCE.md §1 steps 1-3: time sort, the earliest ``data_percent``, one min_seq pass."""
    df = sort_by_time(ratings, cfg.sort_kind)
    if cfg.data_percent < 1:
        df = df.head(int(len(ratings) * cfg.data_percent))
    df, item_seqs = filter_min_seq(df, cfg.min_seq)
    if df.empty:
        raise DataError(
            f"min_seq={cfg.min_seq} leaves no ratings in {ratings_path(cfg)} "
            f"(the most active user has {int(ratings.groupby('userId').size().max())} ratings): lower min_seq"
        )
    return df, item_seqs


def split_rows(cfg: Config, ratings: pd.DataFrame) -> Split:
    """REFERENCE.md §1 steps 1-7: sort, filter, attach sequences, split, cut to whole batches."""
    rows_in = len(ratings)
    df, item_seqs = filtered_rows(cfg, ratings)
    per_user = df.groupby("userId").size()
    below = int((per_user < cfg.min_seq).sum())
    log.info(
        "kept %d of %d ratings: %d users, %d items; %d users fell below min_seq after the item filter "
        "(single pass, as the reference)", len(df), rows_in, per_user.size, len(item_seqs), below,
    )
    # The reference attaches each item's full user sequence to every row: test rows see
    # their own user and later raters (leakage, kept as the faithful mode).
    if round(len(df) * cfg.test_ratio) < 1 or round(len(df) * (1 - cfg.test_ratio)) < 1:
        raise DataError(
            f"only {len(df)} ratings remain after filtering: too few to split with test_ratio={cfg.test_ratio}; "
            "use more data or a lower min_seq"
        )
    train, test = train_test_split(df, test_size=cfg.test_ratio, random_state=cfg.split_seed)
    train = whole_batches(train, cfg.batch_size)
    if train.empty:
        raise DataError(
            f"batch_size={cfg.batch_size} is larger than the {len(df) - len(test)} training rows: "
            "lower batch_size"
        )
    test = whole_batches(test[test["itemId"].isin(set(train["itemId"]))], cfg.batch_size)
    return Split(train, test, item_seqs, rows_in, len(df), int(per_user.size), below)


def prepare(cfg: Config, ratings: pd.DataFrame | None = None) -> PrepareReport:
    """Build the three ``.id`` files of ``cfg``'s data version, as the reference does."""
    if ratings is None:
        ratings = read_ratings_csv(ratings_path(cfg))
    if cfg.protocol == "clean":
        return prepare_clean(cfg, ratings)
    split = split_rows(cfg, ratings)
    train, test, item_seqs = split.train, split.test, split.item_seqs
    train_items = pd.unique(train["itemId"])
    train_users = pd.unique(np.concatenate([item_seqs[i] for i in train_items]))

    user_ids = {u: n for n, u in enumerate(sorted(train_users), start=1)}
    item_ids = {i: n for n, i in enumerate(sorted(train_items), start=1)}
    seq_by_new_item = {item_ids[i]: [user_ids[u] for u in item_seqs[i]] for i in train_items}

    paths = version_paths(cfg.data_path, cfg.dataset, cfg.derived_data_version)
    _write_rows(paths["train"], train, user_ids, item_ids, seq_by_new_item)
    _write_rows(paths["test"], test, user_ids, item_ids, seq_by_new_item)
    seq_frame = pd.DataFrame(
        {
            "itemId": sorted(seq_by_new_item),
            "item_user_sequence": [json.dumps(seq_by_new_item[i]) for i in sorted(seq_by_new_item)],
            "len_item_user_sequence": [len(seq_by_new_item[i]) for i in sorted(seq_by_new_item)],
        }
    )
    write_csv_atomic(paths["item_seq"], seq_frame)
    return PrepareReport(
        rows_in=split.rows_in,
        rows_kept=split.rows_kept,
        users_kept=split.users_kept,
        items_kept=len(item_seqs),
        users_below_min_seq_after_item_filter=split.users_below_min_seq,
        train_rows=len(train),
        test_rows=len(test),
        version=cfg.derived_data_version,
        paths=paths,
    )


# --------------------------------------------------------------------------------------------
# The clean protocol
# --------------------------------------------------------------------------------------------
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
    n_test = np.floor(count * cfg.test_ratio).astype(int)
    n_valid = np.floor((count - n_test) * cfg.val_ratio).astype(int)
    is_test = position >= count - n_test
    is_valid = ~is_test & (position >= count - n_test - n_valid)
    train = df[~is_test & ~is_valid].sort_values("timestamp", kind="stable")
    valid, test = df[is_valid], df[is_test]
    if train.empty or test.empty:
        raise DataError(f"test_ratio={cfg.test_ratio} leaves an empty train or test split: check test_ratio and min_seq")

    item_seqs = train.groupby("itemId", sort=False)["userId"].agg(list).to_dict()
    known_users = set(train["userId"])
    frames = []
    for frame in (train, valid, test):
        frame = frame[frame["itemId"].isin(item_seqs.keys()) & frame["userId"].isin(known_users)]
        frames.append(frame.assign(seq_end=_visible_counts(train, frame)))
    return CleanSplit(*frames, item_seqs=item_seqs, rows_in=rows_in, rows_kept=len(df))


def _visible_counts(train: pd.DataFrame, rows: pd.DataFrame) -> np.ndarray:
    """For each row: how many training raters of its item rated strictly before it."""
    codes, items = pd.factorize(train["itemId"])
    _, time_rank = np.unique(np.concatenate([train["timestamp"].to_numpy(), rows["timestamp"].to_numpy()]),
                             return_inverse=True)  # ranks fit in 32 bits whatever the time unit
    train_key = np.sort(codes.astype(np.int64) << 32 | time_rank[: len(train)])
    starts = np.searchsorted(train_key, np.arange(len(items), dtype=np.int64) << 32)
    row_codes = items.get_indexer(rows["itemId"])
    row_key = row_codes.astype(np.int64) << 32 | time_rank[len(train):]
    return (np.searchsorted(train_key, row_key, side="left") - starts[row_codes]).astype(np.int64)


def prepare_clean(cfg: Config, ratings: pd.DataFrame) -> PrepareReport:
    split = split_clean(cfg, ratings)
    user_ids = {u: n for n, u in enumerate(sorted(set(split.train["userId"])), start=1)}
    item_ids = {i: n for n, i in enumerate(sorted(split.item_seqs), start=1)}
    paths = version_paths(cfg.data_path, cfg.dataset, cfg.derived_data_version)
    for key in ("train", "valid", "test"):
        rows = getattr(split, key)
        frame = pd.DataFrame({"rating": rows["rating"].to_numpy(), "userId": rows["userId"].map(user_ids).to_numpy(),
                              "itemId": rows["itemId"].map(item_ids).to_numpy(), "seq_end": rows["seq_end"].to_numpy()})
        write_csv_atomic(paths[key], frame)
    new_seqs = {item_ids[i]: [user_ids[u] for u in seq] for i, seq in split.item_seqs.items()}
    write_csv_atomic(paths["item_seq"], pd.DataFrame({
        "itemId": sorted(new_seqs),
        "item_user_sequence": [json.dumps(new_seqs[i]) for i in sorted(new_seqs)],
        "len_item_user_sequence": [len(new_seqs[i]) for i in sorted(new_seqs)],
    }))
    return PrepareReport(rows_in=split.rows_in, rows_kept=split.rows_kept, users_kept=len(user_ids),
                         items_kept=len(item_ids), users_below_min_seq_after_item_filter=0,
                         train_rows=len(split.train), test_rows=len(split.test),
                         version=cfg.derived_data_version, paths=paths)


def _write_rows(path: Path, rows: pd.DataFrame, user_ids: dict, item_ids: dict, seqs: dict[int, list]) -> None:
    items = rows["itemId"].map(item_ids).to_numpy()
    frame = pd.DataFrame(
        {
            "rating": rows["rating"].to_numpy(),
            "userId": rows["userId"].map(user_ids).to_numpy(),
            "itemId": items,
            "item_user_sequence": [json.dumps(seqs[i]) for i in items],
        }
    )
    write_csv_atomic(path, frame)


def version_paths(data_path: str | Path, dataset: str, version: str) -> dict[str, Path]:
    """The files of a data version; only a clean-protocol version has a validation file."""
    folder = Path(data_path) / dataset
    keys = [k for k in FILE_SUFFIXES if k != "valid" or is_clean_version(version)]
    return {key: folder / f"{version}{FILE_SUFFIXES[key]}" for key in keys}


# --------------------------------------------------------------------------------------------
# Loading a prepared version
# --------------------------------------------------------------------------------------------
@dataclass
class Prepared:
    """A prepared data version: rows with new ids, and each item's neighbour sequence."""

    version: str
    train: pd.DataFrame  # rating, userId, itemId (ids from 1)
    test: pd.DataFrame
    item_seqs: list[np.ndarray]  # index = itemId; entry 0 is empty (padding)
    classes: np.ndarray  # sorted distinct ratings
    num_users: int
    num_items: int
    paths: dict[str, Path]
    valid: pd.DataFrame | None = None  # the clean protocol's validation rows (with seq_end)

    @property
    def protocol(self) -> str:
        return "clean" if self.valid is not None else "reference"

    @property
    def seq_lengths(self) -> np.ndarray:
        return np.array([len(s) for s in self.item_seqs[1:]])

    def label_index(self, ratings: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.classes, ratings).astype(np.int32)


def load_prepared(data_path: str | Path, dataset: str, version: str) -> Prepared:
    paths = version_paths(data_path, dataset, version)
    clean = is_clean_version(version)
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise DataError(
            f"data version {version!r} is not prepared: missing {', '.join(missing)}. "
            f"Run `python -m arerec prepare --dataset {dataset}` with matching settings first"
        )
    try:
        columns = CLEAN_ROW_COLUMNS if clean else ["rating", "userId", "itemId"]
        train = pd.read_csv(paths["train"], usecols=columns)
        test = pd.read_csv(paths["test"], usecols=columns)
        valid = pd.read_csv(paths["valid"], usecols=columns) if clean else None
        seqs = pd.read_csv(paths["item_seq"])
        item_seqs = [np.zeros(0, dtype=np.int64)] * (int(seqs["itemId"].max()) + 1)
        for item, text in zip(seqs["itemId"], seqs["item_user_sequence"], strict=True):
            item_seqs[int(item)] = np.asarray(json.loads(text), dtype=np.int64)
    except (ValueError, KeyError, json.JSONDecodeError) as exc:
        raise DataError(f"data version {version!r} has a malformed .id file ({exc}); run prepare again") from None
    num_users = int(max(int(s.max()) for s in item_seqs[1:] if len(s)))
    classes = np.sort(pd.unique(train["rating"]))
    return Prepared(
        version=version,
        train=train,
        test=test,
        valid=valid,
        item_seqs=item_seqs,
        classes=classes,
        num_users=num_users,
        num_items=len(item_seqs) - 1,
        paths=paths,
    )


def details(prepared: Prepared) -> dict[str, object]:
    """What the reference's ``--show_details`` prints, as a dict (see :func:`format_details`)."""

    def seq_users(rows: pd.DataFrame) -> int:
        items = pd.unique(rows["itemId"])
        return int(pd.unique(np.concatenate([prepared.item_seqs[i] for i in items])).size) if len(items) else 0

    lengths = prepared.seq_lengths
    return {
        "rating_classes": [float(c) if not float(c).is_integer() else int(c) for c in prepared.classes],
        "train_records": len(prepared.train),
        "train_users": seq_users(prepared.train),
        "train_items": int(prepared.train["itemId"].nunique()),
        "test_records": len(prepared.test),
        "test_users": seq_users(prepared.test),
        "test_target_users": int(prepared.test["userId"].nunique()),
        "test_items": int(prepared.test["itemId"].nunique()),
        "seq_min": int(lengths.min()),
        "seq_mean": float(lengths.mean()),
        "seq_max": int(lengths.max()),
    }


def format_details(version: str, d: dict[str, object]) -> str:
    return "\n".join(
        [
            f"data version: {version}",
            f"rating classes: {d['rating_classes']}",
            f"train: {d['train_records']} records, {d['train_users']} users, {d['train_items']} items",
            f"test: {d['test_records']} records, {d['test_users']} users, {d['test_items']} items",
            f"  (the reference counts test users inside item sequences; {d['test_target_users']} are test targets)",
            f"item user sequence length: min {d['seq_min']}, mean {d['seq_mean']:.2f}, max {d['seq_max']}",
        ]
    )


# --------------------------------------------------------------------------------------------
# Model inputs (REFERENCE.md §2)
# --------------------------------------------------------------------------------------------
def resolve_max_seq(cfg: Config, prepared: Prepared) -> int:
    if cfg.max_seq > 0:
        return cfg.max_seq
    lengths = prepared.seq_lengths
    return int(lengths.mean()) if cfg.max_seq_mode == "mean" else int(lengths.max())


@dataclass
class ItemTables:
    """Per-item model inputs, each row padded at the end.

    ``neighbours[i]`` holds item i's first ``max_seq`` raters (user ids, 0 = padding) and
    ``lcu[i]`` their LCU ids: one id per (item, position), counting from 1 in itemId order.

    With ``sliding`` (the clean protocol) every position of the sequence gets an LCU, since a
    row reads the latest ``max_seq`` raters before its own time: ``full_neighbours`` and
    ``full_lcu`` hold whole sequences, and ``neighbours``/``lcu`` hold each item's last window.
    """

    neighbours: np.ndarray  # [num_items + 1, L] int32
    lcu: np.ndarray  # [num_items + 1, L] int32
    num_lcu: int  # including padding id 0
    max_seq: int
    full_neighbours: np.ndarray | None = None  # [num_items + 1, longest] int32, sliding only
    full_lcu: np.ndarray | None = None
    lengths: np.ndarray | None = None  # [num_items + 1] sequence lengths


def build_item_tables(item_seqs: list[np.ndarray], max_seq: int, sliding: bool = False) -> ItemTables:
    if max_seq <= 0:
        raise DataError(f"max_seq must be > 0, received: {max_seq}")
    n = len(item_seqs)
    lengths = np.array([len(seq) for seq in item_seqs], dtype=np.int64)
    capacity = lengths if sliding else np.minimum(lengths, max_seq)  # truncation keeps the earliest
    width = int(capacity.max()) if n else 0
    full_neighbours = np.zeros((n, max(width, 1)), dtype=np.int32)
    full_lcu = np.zeros_like(full_neighbours)
    next_id = 1
    for item in range(1, n):
        size = int(capacity[item])
        full_neighbours[item, :size] = item_seqs[item][:size]
        full_lcu[item, :size] = np.arange(next_id, next_id + size)
        next_id += size
    if not sliding:
        neighbours = np.zeros((n, max_seq), dtype=np.int32)
        lcu = np.zeros_like(neighbours)
        neighbours[:, :width] = full_neighbours[:, :max_seq]
        lcu[:, :width] = full_lcu[:, :max_seq]
        return ItemTables(neighbours=neighbours, lcu=lcu, num_lcu=next_id, max_seq=max_seq, lengths=lengths)
    neighbours, lcu = window_rows(full_neighbours, full_lcu, np.arange(n), lengths, max_seq)
    return ItemTables(neighbours=neighbours, lcu=lcu, num_lcu=next_id, max_seq=max_seq,
                      full_neighbours=full_neighbours, full_lcu=full_lcu, lengths=lengths)


def window_rows(full_neighbours: np.ndarray, full_lcu: np.ndarray, items: np.ndarray, ends: np.ndarray,
                max_seq: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the latest ``max_seq`` raters before position ``ends`` of each item's sequence."""
    ends = np.asarray(ends, dtype=np.int64)
    positions = np.maximum(ends - max_seq, 0)[:, None] + np.arange(max_seq)[None, :]  # [N, L]
    valid = positions < ends[:, None]
    positions = np.minimum(positions, full_neighbours.shape[1] - 1)
    items = np.asarray(items)[:, None]
    return (np.where(valid, full_neighbours[items, positions], 0).astype(np.int32),
            np.where(valid, full_lcu[items, positions], 0).astype(np.int32))
