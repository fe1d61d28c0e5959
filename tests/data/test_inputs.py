"""arerec.data.inputs: the per-item neighbour and LCU tables the model reads."""

import numpy as np
import pytest
from conftest import ROWS, small_cfg, write_ratings

from arerec.data import inputs, prepare
from arerec.errors import DataError


def test_item_tables_and_lcu_ids():
    seqs = [np.array([]), np.array([4, 2, 7]), np.array([1]), np.array([3, 5, 6, 8, 9])]
    tables = inputs.build_item_tables(seqs, max_seq=3)
    assert tables.neighbours.tolist() == [[0, 0, 0], [4, 2, 7], [1, 0, 0], [3, 5, 6]]
    # one id per (item, position) after truncation, counting from 1 in itemId order
    assert tables.lcu.tolist() == [[0, 0, 0], [1, 2, 3], [4, 0, 0], [5, 6, 7]]
    assert tables.num_lcu == 8


def test_max_seq_modes(tmp_path):
    write_ratings(tmp_path, "toy", ROWS)
    cfg = small_cfg(tmp_path)
    prepare.prepare(cfg)
    prepared = prepare.load_prepared(cfg.data.data_path, cfg.data.dataset, cfg.data.derived_data_version)
    assert inputs.resolve_max_seq(cfg, prepared) == 2  # int(mean of 4, 2, 2)
    assert inputs.resolve_max_seq(cfg.replace(max_seq_mode="max"), prepared) == 4
    assert inputs.resolve_max_seq(cfg.replace(max_seq=3), prepared) == 3


def test_clean_windows_read_the_latest_raters_before_each_row():
    seqs = [np.array([]), np.array([5, 6, 7, 8])]
    tables = inputs.build_item_tables(seqs, max_seq=2, sliding=True)
    assert tables.num_lcu == 5  # every position gets an LCU
    neighbours, lcu = inputs.window_rows(tables.full_neighbours, tables.full_lcu, np.array([1, 1, 1]),
                                       np.array([0, 1, 3]), 2)
    assert neighbours.tolist() == [[0, 0], [5, 0], [6, 7]]
    assert lcu.tolist() == [[0, 0], [1, 0], [2, 3]]


def test_only_sliding_tables_hold_whole_sequences():
    seqs = [np.array([]), np.array([5, 6, 7])]
    full_neighbours, full_lcu = inputs.build_item_tables(seqs, max_seq=2, sliding=True).whole_sequences()
    assert full_neighbours.tolist() == [[0, 0, 0], [5, 6, 7]] and full_lcu.tolist() == [[0, 0, 0], [1, 2, 3]]
    with pytest.raises(DataError, match=r"sliding=True"):
        inputs.build_item_tables(seqs, max_seq=2).whole_sequences()
