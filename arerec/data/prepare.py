"""Data versions: the split written as the reference's ``.id`` files, and read back (docs/reference.md §1).

``prepare`` turns ``{data_path}/{dataset}/{dataset}_ratings.csv`` into the files of a data version
(train, test, item sequences, and under the clean protocol validation); ``load_prepared`` reads them
back as a :class:`Prepared`; ``details`` is the reference's ``--show_details``.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from arerec.config import Config
from arerec.data.ratings import ratings_path, read_ratings_csv
from arerec.data.split import split_clean, split_rows
from arerec.errors import DataError
from arerec.files import write_csv_atomic
from arerec.locks import exclusive

log = logging.getLogger(__name__)

ROW_COLUMNS = ["rating", "userId", "itemId", "item_user_sequence"]
SEQ_COLUMNS = ["itemId", "item_user_sequence", "len_item_user_sequence"]
FILE_SUFFIXES = {"train": "_train.id", "test": "_test.id", "item_seq": "_item_user_sequence.id", "valid": "_valid.id"}
CLEAN_ROW_COLUMNS = ["rating", "userId", "itemId", "seq_end"]


def is_clean_version(version: str) -> bool:
    return re.search(r"_clean\d+$", version) is not None


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


def prepare(cfg: Config, ratings: pd.DataFrame | None = None, *, wait: bool = False) -> PrepareReport:
    """Build the three ``.id`` files of ``cfg``'s data version, as the reference does.

    One process at a time prepares a data version (:func:`hold_version`): when another does, this fails at once
    naming it (:class:`~arerec.errors.BusyError`), or with ``wait`` waits for it and then prepares again.
    """
    with hold_version(cfg, wait=wait):
        return _prepare_held(cfg, ratings)


def hold_version(cfg: Config, *, wait: bool):
    """The lock of ``cfg``'s data version (``{data_path}/{dataset}/.{version}.lock``, :func:`arerec.locks.exclusive`)."""
    version = cfg.data.derived_data_version
    return exclusive(Path(cfg.data.data_path) / cfg.data.dataset / f".{version}.lock", f"data version {version}", wait=wait,
                     advice="a data version is prepared by one process at a time. Wait for that process to "
                            "finish, or stop it; a killed process holds nothing")


def _prepare_held(cfg: Config, ratings: pd.DataFrame | None) -> PrepareReport:
    if ratings is None:
        ratings = read_ratings_csv(ratings_path(cfg))
    if cfg.data.protocol == "clean":
        return prepare_clean(cfg, ratings)
    split = split_rows(cfg, ratings)
    train, test, item_seqs = split.train, split.test, split.item_seqs
    train_items = pd.unique(train["itemId"])
    train_users = pd.unique(np.concatenate([item_seqs[i] for i in train_items]))

    user_ids = {u: n for n, u in enumerate(sorted(train_users), start=1)}
    item_ids = {i: n for n, i in enumerate(sorted(train_items), start=1)}
    seq_by_new_item = {item_ids[i]: [user_ids[u] for u in item_seqs[i]] for i in train_items}

    paths = version_paths(cfg.data.data_path, cfg.data.dataset, cfg.data.derived_data_version)
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
        version=cfg.data.derived_data_version,
        paths=paths,
    )


def prepare_clean(cfg: Config, ratings: pd.DataFrame) -> PrepareReport:
    split = split_clean(cfg, ratings)
    user_ids = {u: n for n, u in enumerate(sorted(set(split.train["userId"])), start=1)}
    item_ids = {i: n for n, i in enumerate(sorted(split.item_seqs), start=1)}
    paths = version_paths(cfg.data.data_path, cfg.data.dataset, cfg.data.derived_data_version)
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
                         version=cfg.data.derived_data_version, paths=paths)


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
    classes = np.unique(train["rating"].to_numpy())  # sorted, distinct
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
