"""arerec.data.split: the reference's single-pass filter and split, the clean protocol, the order of ties."""

import numpy as np
import pandas as pd
import pytest
from conftest import ROWS, small_cfg, write_ratings

from arerec.config import Config
from arerec.data import prepare
from arerec.data.datasets import make_synthetic
from arerec.data.ratings import RATING_COLUMNS
from arerec.data.split import filter_min_seq, sort_by_time, split_clean
from arerec.errors import DataError


def test_single_pass_filter_keeps_a_user_that_falls_below_min_seq():
    df = pd.DataFrame(ROWS, columns=RATING_COLUMNS)
    kept, seqs = filter_min_seq(df, 2)
    assert sorted(seqs) == [10, 20, 30]
    assert seqs[10] == [1, 2, 3, 5]  # raters in time order, from all the data
    assert 4 not in set(kept["userId"]) and 50 not in set(kept["itemId"])
    assert (kept["userId"] == 5).sum() == 1  # below min_seq, kept (single pass)


def test_min_seq_too_high_and_batch_too_large(tmp_path):
    write_ratings(tmp_path, "toy", ROWS)
    with pytest.raises(DataError, match="min_seq=50 leaves no ratings"):
        prepare.prepare(small_cfg(tmp_path, min_seq=50))
    with pytest.raises(DataError, match="batch_size=64 is larger than the 6 training rows"):
        prepare.prepare(small_cfg(tmp_path, batch_size=64))


def test_clean_protocol_sees_no_test_interaction_and_no_later_neighbour(tmp_path):
    ratings = make_synthetic(40, 16, 500, seed=3)
    cfg = Config(data_path=str(tmp_path), dataset="synthetic", min_seq=5, batch_size=16, protocol="clean",
                 val_ratio=0.2)
    split = split_clean(cfg, ratings)
    assert cfg.data.derived_data_version.endswith("_clean20")
    test_pairs = set(zip(split.test["userId"], split.test["itemId"], strict=True))
    valid_pairs = set(zip(split.valid["userId"], split.valid["itemId"], strict=True))
    # item sequences hold training interactions only
    for item, seq in split.item_seqs.items():
        assert not any((u, item) in test_pairs or (u, item) in valid_pairs for u in seq)
    # per user, every test rating is later than every train rating (temporal split)
    last_train = split.train.groupby("userId")["timestamp"].max()
    first_test = split.test.groupby("userId")["timestamp"].min()
    assert (first_test >= last_train.reindex(first_test.index)).all()
    # each row sees exactly the training raters of its item who rated strictly earlier
    times = ratings.set_index(["userId", "itemId"])["timestamp"]
    for frame in (split.train, split.valid, split.test):
        for row in frame.itertuples():
            visible = split.item_seqs[row.itemId][: row.seq_end]
            assert all(times[(u, row.itemId)] < row.timestamp for u in visible)
            assert row.userId not in visible
            rest = split.item_seqs[row.itemId][row.seq_end:]
            assert all(times[(u, row.itemId)] >= row.timestamp for u in rest)


# --------------------------------------------------------------------------------------------
# The portable order of equal timestamps (sort_kind 'stable')
# --------------------------------------------------------------------------------------------
def tied_ratings(seed: int = 0) -> list[tuple[int, int, int, int]]:
    """About 300 ratings of 30 users on 12 items over only 6 timestamps: nearly every row is a tie."""
    rng = np.random.default_rng(seed)
    rows = [(user, int(item), int(rng.integers(1, 6)), int(rng.integers(0, 6)))
            for user in range(1, 31) for item in rng.choice(np.arange(1, 13), size=int(rng.integers(8, 12)), replace=False)]
    return [rows[n] for n in rng.permutation(len(rows))]


def by_time_then_row(df: pd.DataFrame, kind: str) -> pd.DataFrame:
    """The one order a stable time sort may give, spelled out: timestamp, then the row's place in the file."""
    return df.iloc[np.lexsort((np.arange(len(df)), df["timestamp"].to_numpy()))]


def test_the_stable_sort_is_timestamp_then_file_order():
    df = pd.DataFrame(tied_ratings(), columns=RATING_COLUMNS)
    assert sort_by_time(df, "stable").index.tolist() == by_time_then_row(df, "stable").index.tolist()


@pytest.mark.parametrize("protocol, suffix", [("reference", "_stable"), ("clean", "_stable_clean10")])
def test_a_stable_split_does_not_depend_on_the_sort_algorithm(tmp_path, monkeypatch, protocol, suffix):
    rows = tied_ratings()
    for folder, ratings in (("a", rows), ("b", rows), ("reversed", rows[::-1])):
        write_ratings(tmp_path / folder, "ties", ratings)
    cfg = Config(data_path=str(tmp_path / "a"), dataset="ties", min_seq=3, test_ratio=0.2, batch_size=4,
                 sort_kind="stable", protocol=protocol)
    stable = prepare.prepare(cfg)
    parity = prepare.prepare(cfg.replace(sort_kind="quicksort"))  # beside it, under the reference's name
    assert stable.version == "ties_8020_minseq3_bs4_dper1.0" + suffix
    assert parity.version == stable.version.replace("_stable", "")
    assert not set(stable.paths.values()) & set(parity.paths.values())
    assert ("valid" in stable.paths) == (protocol == "clean")

    reversed_ties = prepare.prepare(cfg.replace(data_path=str(tmp_path / "reversed")))
    assert reversed_ties.paths["train"].read_bytes() != stable.paths["train"].read_bytes()  # the order of ties matters

    monkeypatch.setattr("arerec.data.split.sort_by_time", by_time_then_row)
    spelled_out = prepare.prepare(cfg.replace(data_path=str(tmp_path / "b")))
    for key, path in stable.paths.items():
        assert path.read_bytes() == spelled_out.paths[key].read_bytes(), key
