"""arerec.data.prepare: a data version's files, as the reference writes them, read back."""

import json

import pandas as pd
import pytest
from conftest import ROWS, small_cfg, write_ratings
from sklearn.model_selection import train_test_split

from arerec.data import inputs, prepare
from arerec.data.ratings import RATING_COLUMNS
from arerec.errors import DataError


def test_prepare_writes_the_three_files_like_the_reference(tmp_path):
    write_ratings(tmp_path, "toy", ROWS)
    cfg = small_cfg(tmp_path)
    report = prepare.prepare(cfg)
    assert report.version == "toy_7525_minseq2_bs2_dper1.0"
    assert report.users_below_min_seq_after_item_filter == 1

    # The same steps written out plainly, as the reference does them.
    df = pd.DataFrame(ROWS, columns=RATING_COLUMNS).sort_values("timestamp")
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
    """The reference's leakage, kept as the faithful mode: sequences come from all prepare."""
    write_ratings(tmp_path, "toy", ROWS)
    report = prepare.prepare(small_cfg(tmp_path))
    test = pd.read_csv(report.paths["test"])
    assert len(test) > 0
    for user, seq in zip(test["userId"], test["item_user_sequence"], strict=True):
        assert user in json.loads(seq)


def test_load_prepared_and_details(tmp_path):
    write_ratings(tmp_path, "toy", ROWS)
    cfg = small_cfg(tmp_path)
    prepare.prepare(cfg)
    prepared = prepare.load_prepared(cfg.data.data_path, cfg.data.dataset, cfg.data.derived_data_version)
    assert prepared.num_items == 3 and prepared.num_users == 4
    assert prepared.classes.tolist() == sorted(prepared.train["rating"].unique().tolist())
    d = prepare.details(prepared)
    assert (d["seq_min"], d["seq_max"]) == (2, 4)
    assert d["seq_mean"] == pytest.approx(8 / 3)
    text = prepare.format_details(prepared.version, d)
    assert "item user sequence length: min 2, mean 2.67, max 4" in text


def test_fractional_ratings_and_string_ids(tmp_path):
    rows = [(f"u{u}", f"i{i}", r / 2, t) for u, i, r, t in ROWS]
    write_ratings(tmp_path, "half", rows)
    cfg = small_cfg(tmp_path, dataset="half")
    prepare.prepare(cfg)
    prepared = prepare.load_prepared(cfg.data.data_path, cfg.data.dataset, cfg.data.derived_data_version)
    assert set(prepared.classes.tolist()) <= {0.5, 1.0, 1.5, 2.0, 2.5}
    assert prepared.num_users == 4


def test_missing_version_names_the_fix(tmp_path):
    with pytest.raises(DataError, match="is not prepared: missing .*Run `python -m arerec prepare"):
        prepare.load_prepared(tmp_path, "toy", "toy_8020_minseq20_bs128_dper1.0")


@pytest.mark.slow
def test_real_ml100k_matches_the_reference(ml100k_cfg):
    """The original script, run on the same data, printed these numbers (issue 2)."""
    report = prepare.prepare(ml100k_cfg)
    assert report.version == "ml-100k_8020_minseq20_bs128_dper1.0"
    assert (report.train_rows, report.test_rows) == (75_904, 18_944)
    prepared = prepare.load_prepared(ml100k_cfg.data.data_path, "ml-100k", report.version)
    d = prepare.details(prepared)
    assert (d["train_users"], d["train_items"]) == (943, 939)
    assert (d["seq_min"], int(d["seq_mean"]), d["seq_max"]) == (20, 101, 583)
    assert d["test_target_users"] == 941 and d["test_users"] == 943
    assert report.users_below_min_seq_after_item_filter == 26
    tables = inputs.build_item_tables(prepared.item_seqs, inputs.resolve_max_seq(ml100k_cfg, prepared))
    assert (tables.max_seq, tables.num_lcu) == (101, 64_284)


def test_is_clean_version_reads_a_stable_clean_version():
    assert prepare.is_clean_version("ml-100k_8020_minseq20_bs128_dper1.0_stable_clean10")
    assert not prepare.is_clean_version("ml-100k_8020_minseq20_bs128_dper1.0_stable")
    assert "valid" in prepare.version_paths("Data", "ml-100k", "ml-100k_8020_minseq20_bs128_dper1.0_stable_clean10")


# A second process that holds a data version's lock for a while (arerec.data.prepare.hold_version).
HOLD_VERSION = """
import json, sys, time
from arerec.config import Config
from arerec.data.prepare import hold_version
with hold_version(Config(**json.loads(sys.argv[1])), wait=False):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def test_a_data_version_is_prepared_by_one_process_at_a_time(tmp_path):
    import subprocess
    import sys
    import time

    from arerec.errors import BusyError

    write_ratings(tmp_path, "toy", ROWS)
    cfg = small_cfg(tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_VERSION, json.dumps(cfg.to_dict()), "2"],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    with pytest.raises(BusyError, match=rf"^data version {cfg.data.derived_data_version} is in use by pid {holder.pid} "):
        prepare.prepare(cfg)  # `python -m arerec prepare`: at once
    assert not any(p.is_file() for p in prepare.version_paths(cfg.data.data_path, cfg.data.dataset, cfg.data.derived_data_version)
                   .values())  # nothing written
    started = time.perf_counter()
    experiment = inputs.load_experiment(cfg)  # a run that needs the data waits, then prepares it
    assert time.perf_counter() - started > 0.5 and holder.wait(5) == 0
    assert len(experiment.prepared.train) > 0
