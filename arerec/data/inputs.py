"""What the model reads: the per-item tables of neighbour and LCU ids, and a run's :class:`Experiment`.

:func:`build_item_tables` makes the model's per-item inputs (docs/reference.md §2); :func:`load_experiment`
loads (preparing first if needed) the data version of a configuration with its tables: everything a
run, a baseline or an analysis reads.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from arerec.config import Config
from arerec.data.datasets import ensure_ratings
from arerec.data.prepare import Prepared, hold_version, load_prepared, prepare, version_paths
from arerec.data.ratings import ratings_path
from arerec.errors import DataError

log = logging.getLogger(__name__)

def resolve_max_seq(cfg: Config, prepared: Prepared) -> int:
    if cfg.model.max_seq > 0:
        return cfg.model.max_seq
    lengths = prepared.seq_lengths
    return int(lengths.mean()) if cfg.model.max_seq_mode == "mean" else int(lengths.max())


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

    def whole_sequences(self) -> tuple[np.ndarray, np.ndarray]:
        """(``full_neighbours``, ``full_lcu``), which only tables built with ``sliding`` hold."""
        if self.full_neighbours is None or self.full_lcu is None:
            raise DataError("these item tables hold each item's first max_seq raters only; the clean protocol's "
                            "windows need build_item_tables(..., sliding=True)")
        return self.full_neighbours, self.full_lcu


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


@dataclass
class Experiment:
    """A configuration with its prepared data and model inputs: everything a run needs.

    Where a run of it lives on disk is the training's business: :func:`arerec.train.runs.experiment_paths`.
    """

    cfg: Config
    prepared: Prepared
    tables: ItemTables

    @property
    def clean(self) -> bool:
        return self.prepared.protocol == "clean"

    @property
    def eval_split(self) -> str:
        """Where epochs are scored: test in the reference (selection on test), valid in clean."""
        return "valid" if self.clean else "test"

    def rows(self, split: str) -> pd.DataFrame:
        rows = getattr(self.prepared, split)
        if rows is None:
            raise DataError(f"the {self.prepared.protocol} protocol has no {split!r} split")
        return rows

    def arrays(self, split: str) -> tuple[np.ndarray, ...]:
        """users, items, integer labels and (clean protocol) each row's visible sequence length."""
        rows = self.rows(split)
        ends = rows["seq_end"].to_numpy(np.int32) if self.clean else np.zeros(len(rows), np.int32)
        return (
            rows["userId"].to_numpy(np.int32),
            rows["itemId"].to_numpy(np.int32),
            self.prepared.label_index(rows["rating"].to_numpy()),
            ends,
        )

    def inputs(self, users: np.ndarray, items: np.ndarray, ends: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Model inputs for explicit (user, item) rows, e.g. for attention plots.

        In the clean protocol pass each row's ``seq_end``; without it a row sees the item's
        latest ``max_seq`` training raters.
        """
        items = np.asarray(items, dtype=np.int32)
        if self.clean and ends is not None:
            neighbours, lcu = window_rows(*self.tables.whole_sequences(), items, ends, self.tables.max_seq)
        else:
            neighbours, lcu = self.tables.neighbours[items], self.tables.lcu[items]
        return {"user": np.asarray(users, dtype=np.int32), "item": items, "neighbours": neighbours, "lcu": lcu}


def _stale(paths: dict[str, Path], ratings: Path) -> bool:
    """Prepared files missing, or older than a ratings file that was regenerated since."""
    if not all(p.is_file() for p in paths.values()):
        return True
    return ratings.is_file() and ratings.stat().st_mtime > min(p.stat().st_mtime for p in paths.values())


def load_experiment(cfg: Config, *, prepare_if_missing: bool = True) -> Experiment:
    """Load (preparing first if needed) the data version of ``cfg`` and build the item tables."""
    version = cfg.data.resolved_data_version
    paths = version_paths(cfg.data.data_path, cfg.data.dataset, version)
    if cfg.data.dataset == "synthetic":  # cheap; regenerates the ratings when the generator's settings changed
        ensure_ratings(cfg)
    if _stale(paths, ratings_path(cfg)):
        if cfg.data.data_version and cfg.data.data_version != cfg.data.derived_data_version:
            raise DataError(
                f"data version {version!r} is not prepared under {cfg.data.dataset_dir}; "
                f"run `python -m arerec prepare` with its settings, or leave data_version empty"
            )
        if not prepare_if_missing:
            raise DataError(f"data version {version!r} is not prepared; run `python -m arerec prepare` first")
        with hold_version(cfg, wait=True):  # another process preparing it: wait, then look again
            if _stale(paths, ratings_path(cfg)):
                log.info("preparing data version %s", version)
                ensure_ratings(cfg)
                prepare(cfg)
    prepared = load_prepared(cfg.data.data_path, cfg.data.dataset, version)
    max_seq = resolve_max_seq(cfg, prepared)
    tables = build_item_tables(prepared.item_seqs, max_seq, sliding=prepared.protocol == "clean")
    return Experiment(cfg, prepared, tables)
