"""arerec.report.provenance: the data checksum, packages, machine and the git commit."""

from __future__ import annotations

import hashlib

from conftest import REPO, git_in

from arerec.config import Config
from arerec.report import provenance


def test_data_provenance_records_the_checksum(tmp_path):
    cfg = Config(data_path=str(tmp_path), dataset="mine")
    record = provenance.data_provenance(cfg)
    assert record["ratings_sha256"] is None
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "mine_ratings.csv").write_text("userId,itemId,rating,timestamp\n1,2,3,4\n")
    record = provenance.data_provenance(cfg)
    # sha256 of the file's bytes, computed independently of arerec.files

    expected = hashlib.sha256(b"userId,itemId,rating,timestamp\n1,2,3,4\n").hexdigest()
    assert record == {"dataset": "mine", "data_version": cfg.data.resolved_data_version,
                      "ratings_file": str(tmp_path / "mine" / "mine_ratings.csv"), "ratings_sha256": expected}


def test_provenance_names_packages_machine_and_commit(tmp_path):
    record = provenance.provenance(Config(seed=7, data_path=str(tmp_path)), REPO)
    assert record["seed"] == 7 and record["split_seed"] == 32
    assert record["packages"]["numpy"][0].isdigit() and record["packages"]["python"].count(".") == 2
    assert record["machine"]["cpu"] and record["machine"]["cpu_count"] >= 1
    assert set(record["git"]) == {"commit", "dirty"}
    assert provenance.git_state(tmp_path)["commit"].startswith("unknown")


def test_git_state_counts_code_changes_but_not_rewritten_reports(tmp_path):
    git = git_in(tmp_path)
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "index.html").write_text("old")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "first")
    assert provenance.git_state(tmp_path)["dirty"] is False
    (tmp_path / "reports" / "index.html").write_text("rewritten by make reproduce")
    assert provenance.git_state(tmp_path)["dirty"] is False
    (tmp_path / "code.py").write_text("x = 2\n")
    assert provenance.git_state(tmp_path)["dirty"] is True
