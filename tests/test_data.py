import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

from arerec import data
from arerec.config import Config
from arerec.errors import DataError

# user, item, rating, timestamp. User 4 has one rating (dropped by the user filter); item 50
# has one rater after it (dropped by the item filter), which leaves user 5 with one rating:
# the reference does not filter users again.
ROWS = [
    (1, 10, 5, 1), (1, 20, 4, 2), (2, 10, 3, 3), (2, 20, 2, 4), (2, 30, 1, 5),
    (3, 30, 4, 6), (3, 10, 5, 7), (4, 40, 2, 8), (5, 50, 3, 9), (5, 10, 4, 10),
]


def write_ratings(folder: Path, dataset: str, rows, header="userId,itemId,rating,timestamp") -> Path:
    path = folder / dataset / f"{dataset}_ratings.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [header] + [",".join(map(str, r)) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def small_cfg(tmp_path, **changes) -> Config:
    values = dict(data_path=str(tmp_path), dataset="toy", min_seq=2, test_ratio=0.25, batch_size=2)
    values.update(changes)
    return Config(**values)


def test_single_pass_filter_keeps_a_user_that_falls_below_min_seq():
    df = pd.DataFrame(ROWS, columns=data.RATING_COLUMNS)
    kept, seqs = data.filter_min_seq(df, 2)
    assert sorted(seqs) == [10, 20, 30]
    assert seqs[10] == [1, 2, 3, 5]  # raters in time order, from all the data
    assert 4 not in set(kept["userId"]) and 50 not in set(kept["itemId"])
    assert (kept["userId"] == 5).sum() == 1  # below min_seq, kept (single pass)


def test_prepare_writes_the_three_files_like_the_reference(tmp_path):
    write_ratings(tmp_path, "toy", ROWS)
    cfg = small_cfg(tmp_path)
    report = data.prepare(cfg)
    assert report.version == "toy_7525_minseq2_bs2_dper1.0"
    assert report.users_below_min_seq_after_item_filter == 1

    # The same steps written out plainly, as the reference does them.
    df = pd.DataFrame(ROWS, columns=data.RATING_COLUMNS).sort_values("timestamp")
    df = df[~df["userId"].eq(4) & ~df["itemId"].eq(50)]
    train, test = train_test_split(df, test_size=0.25, random_state=32)
    train = train.head(len(train) // 2 * 2)
    test = test[test["itemId"].isin(train["itemId"])]
    test = test.head(len(test) // 2 * 2)
    users = {u: n for n, u in enumerate(sorted({1, 2, 3, 5}), start=1)}
    items = {i: n for n, i in enumerate(sorted(train["itemId"].unique()), start=1)}
    seqs = {10: [1, 2, 3, 5], 20: [1, 2], 30: [2, 3]}

    train_file = pd.read_csv(report.paths["train"])
    assert list(train_file.columns) == ["rating", "userId", "itemId", "item_user_sequence"]
    assert train_file["rating"].tolist() == train["rating"].tolist()
    assert train_file["userId"].tolist() == [users[u] for u in train["userId"]]
    assert train_file["itemId"].tolist() == [items[i] for i in train["itemId"]]
    assert [json.loads(s) for s in train_file["item_user_sequence"]] == [
        [users[u] for u in seqs[i]] for i in train["itemId"]
    ]
    test_file = pd.read_csv(report.paths["test"])
    assert test_file["userId"].tolist() == [users[u] for u in test["userId"]]
    seq_file = pd.read_csv(report.paths["item_seq"])
    assert list(seq_file.columns) == ["itemId", "item_user_sequence", "len_item_user_sequence"]
    assert seq_file["itemId"].tolist() == sorted(items.values())
    assert seq_file["len_item_user_sequence"].tolist() == [len(seqs[i]) for i in sorted(items)]


def test_test_rows_see_their_own_user_in_the_sequence(tmp_path):
    """The reference's leakage, kept as the faithful mode: sequences come from all data."""
    write_ratings(tmp_path, "toy", ROWS)
    report = data.prepare(small_cfg(tmp_path))
    test = pd.read_csv(report.paths["test"])
    assert len(test) > 0
    for user, seq in zip(test["userId"], test["item_user_sequence"], strict=True):
        assert user in json.loads(seq)


def test_load_prepared_and_details(tmp_path):
    write_ratings(tmp_path, "toy", ROWS)
    cfg = small_cfg(tmp_path)
    data.prepare(cfg)
    prepared = data.load_prepared(cfg.data_path, cfg.dataset, cfg.derived_data_version)
    assert prepared.num_items == 3 and prepared.num_users == 4
    assert prepared.classes.tolist() == sorted(prepared.train["rating"].unique().tolist())
    d = data.details(prepared)
    assert (d["seq_min"], d["seq_max"]) == (2, 4)
    assert d["seq_mean"] == pytest.approx(8 / 3)
    text = data.format_details(prepared.version, d)
    assert "item user sequence length: min 2, mean 2.67, max 4" in text


def test_item_tables_and_lcu_ids():
    seqs = [np.array([]), np.array([4, 2, 7]), np.array([1]), np.array([3, 5, 6, 8, 9])]
    tables = data.build_item_tables(seqs, max_seq=3)
    assert tables.neighbours.tolist() == [[0, 0, 0], [4, 2, 7], [1, 0, 0], [3, 5, 6]]
    # one id per (item, position) after truncation, counting from 1 in itemId order
    assert tables.lcu.tolist() == [[0, 0, 0], [1, 2, 3], [4, 0, 0], [5, 6, 7]]
    assert tables.num_lcu == 8


def test_max_seq_modes(tmp_path):
    write_ratings(tmp_path, "toy", ROWS)
    cfg = small_cfg(tmp_path)
    data.prepare(cfg)
    prepared = data.load_prepared(cfg.data_path, cfg.dataset, cfg.derived_data_version)
    assert data.resolve_max_seq(cfg, prepared) == 2  # int(mean of 4, 2, 2)
    assert data.resolve_max_seq(cfg.replace(max_seq_mode="max"), prepared) == 4
    assert data.resolve_max_seq(cfg.replace(max_seq=3), prepared) == 3


def test_fractional_ratings_and_string_ids(tmp_path):
    rows = [(f"u{u}", f"i{i}", r / 2, t) for u, i, r, t in ROWS]
    write_ratings(tmp_path, "half", rows)
    cfg = small_cfg(tmp_path, dataset="half")
    data.prepare(cfg)
    prepared = data.load_prepared(cfg.data_path, cfg.dataset, cfg.derived_data_version)
    assert set(prepared.classes.tolist()) <= {0.5, 1.0, 1.5, 2.0, 2.5}
    assert prepared.num_users == 4


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "the file is empty"),
        ("userId,itemId,rating,timestamp\n", "has a header but no rows"),
        ("userId\titemId\trating\ttimestamp\n1\t2\t3\t4\n", "expected 4 comma-separated columns"),
        ("userId,itemId,rating,timestamp\n1,2,x,4\n", "row 2: rating must be a number, found 'x'"),
        ("userId,itemId,rating,timestamp\n1,2,3,4\n1,3,4,\n", "row 3: timestamp must be a number"),
    ],
)
def test_malformed_ratings_files_name_the_problem(tmp_path, content, message):
    path = tmp_path / "r.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=None) as err:
        data.read_ratings_csv(path)
    assert message in str(err.value) and str(path) in str(err.value)


def test_duplicates_keep_the_latest(tmp_path, caplog):
    path = write_ratings(tmp_path, "dup", [(1, 2, 3, 10), (1, 2, 5, 20), (1, 3, 4, 5)])
    df = data.read_ratings_csv(path)
    assert sorted(df.itertuples(index=False, name=None)) == [(1, 2, 5, 20), (1, 3, 4, 5)]
    assert "duplicate (user, item) rows" in caplog.text


def test_min_seq_too_high_and_batch_too_large(tmp_path):
    write_ratings(tmp_path, "toy", ROWS)
    with pytest.raises(DataError, match="min_seq=50 leaves no ratings"):
        data.prepare(small_cfg(tmp_path, min_seq=50))
    with pytest.raises(DataError, match="batch_size=64 is larger than the 6 training rows"):
        data.prepare(small_cfg(tmp_path, batch_size=64))


def test_missing_version_names_the_fix(tmp_path):
    with pytest.raises(DataError, match="is not prepared: missing .*Run `python -m arerec prepare"):
        data.load_prepared(tmp_path, "toy", "toy_8020_minseq20_bs128_dper1.0")


@pytest.mark.slow
def test_real_ml100k_matches_the_reference(ml100k_cfg):
    """The original script, run on the same data, printed these numbers (issue 2)."""
    report = data.prepare(ml100k_cfg)
    assert report.version == "ml-100k_8020_minseq20_bs128_dper1.0"
    assert (report.train_rows, report.test_rows) == (75_904, 18_944)
    prepared = data.load_prepared(ml100k_cfg.data_path, "ml-100k", report.version)
    d = data.details(prepared)
    assert (d["train_users"], d["train_items"]) == (943, 939)
    assert (d["seq_min"], int(d["seq_mean"]), d["seq_max"]) == (20, 101, 583)
    assert d["test_target_users"] == 941 and d["test_users"] == 943
    assert report.users_below_min_seq_after_item_filter == 26
    tables = data.build_item_tables(prepared.item_seqs, data.resolve_max_seq(ml100k_cfg, prepared))
    assert (tables.max_seq, tables.num_lcu) == (101, 64_284)


def test_clean_protocol_sees_no_test_interaction_and_no_later_neighbour(tmp_path):
    from arerec.datasets import make_synthetic

    ratings = make_synthetic(40, 16, 500, seed=3)
    cfg = Config(data_path=str(tmp_path), dataset="synthetic", min_seq=5, batch_size=16, protocol="clean",
                 val_ratio=0.2)
    split = data.split_clean(cfg, ratings)
    assert cfg.derived_data_version.endswith("_clean20")
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


def test_clean_windows_read_the_latest_raters_before_each_row():
    seqs = [np.array([]), np.array([5, 6, 7, 8])]
    tables = data.build_item_tables(seqs, max_seq=2, sliding=True)
    assert tables.num_lcu == 5  # every position gets an LCU
    neighbours, lcu = data.window_rows(tables.full_neighbours, tables.full_lcu, np.array([1, 1, 1]),
                                       np.array([0, 1, 3]), 2)
    assert neighbours.tolist() == [[0, 0], [5, 0], [6, 7]]
    assert lcu.tolist() == [[0, 0], [1, 0], [2, 3]]


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


def test_is_clean_version_reads_a_stable_clean_version():
    assert data.is_clean_version("ml-100k_8020_minseq20_bs128_dper1.0_stable_clean10")
    assert not data.is_clean_version("ml-100k_8020_minseq20_bs128_dper1.0_stable")
    assert "valid" in data.version_paths("Data", "ml-100k", "ml-100k_8020_minseq20_bs128_dper1.0_stable_clean10")


def test_the_stable_sort_is_timestamp_then_file_order():
    df = pd.DataFrame(tied_ratings(), columns=data.RATING_COLUMNS)
    assert data.sort_by_time(df, "stable").index.tolist() == by_time_then_row(df, "stable").index.tolist()


@pytest.mark.parametrize("protocol, suffix", [("reference", "_stable"), ("clean", "_stable_clean10")])
def test_a_stable_split_does_not_depend_on_the_sort_algorithm(tmp_path, monkeypatch, protocol, suffix):
    rows = tied_ratings()
    for folder, ratings in (("a", rows), ("b", rows), ("reversed", rows[::-1])):
        write_ratings(tmp_path / folder, "ties", ratings)
    cfg = Config(data_path=str(tmp_path / "a"), dataset="ties", min_seq=3, test_ratio=0.2, batch_size=4,
                 sort_kind="stable", protocol=protocol)
    stable = data.prepare(cfg)
    parity = data.prepare(cfg.replace(sort_kind="quicksort"))  # beside it, under the reference's name
    assert stable.version == "ties_8020_minseq3_bs4_dper1.0" + suffix
    assert parity.version == stable.version.replace("_stable", "")
    assert not set(stable.paths.values()) & set(parity.paths.values())
    assert ("valid" in stable.paths) == (protocol == "clean")

    reversed_ties = data.prepare(cfg.replace(data_path=str(tmp_path / "reversed")))
    assert reversed_ties.paths["train"].read_bytes() != stable.paths["train"].read_bytes()  # the order of ties matters

    monkeypatch.setattr(data, "sort_by_time", by_time_then_row)
    spelled_out = data.prepare(cfg.replace(data_path=str(tmp_path / "b")))
    for key, path in stable.paths.items():
        assert path.read_bytes() == spelled_out.paths[key].read_bytes(), key
