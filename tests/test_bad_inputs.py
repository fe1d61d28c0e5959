"""Every bad input ends in a one-line error naming the problem, with nothing half-written."""

import subprocess
import sys
from pathlib import Path

import pytest


def cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "arerec", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def files_under(folder: Path) -> list[str]:
    """The files under ``folder``, but the (empty) lock files of arerec.locks, which hold nothing once their process
    has gone."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if p.is_file() and not p.name.endswith(".lock")) if folder.exists() else []


def write(folder: Path, name: str, text: str) -> None:
    path = folder / "Data" / name / f"{name}_ratings.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


GOOD_HEADER = "userId,itemId,rating,timestamp\n"
CASES = {
    "missing file": (None, [], "ratings file not found: Data/mine/mine_ratings.csv"),
    "empty file": ("", [], "the file is empty"),
    "header only": (GOOD_HEADER, [], "has a header but no rows"),
    "wrong separator": ("userId;itemId;rating;timestamp\n1;2;3;4\n", [], "expected 4 comma-separated columns"),
    "wrong column count": ("userId,itemId,rating\n1,2,3\n", [], "expected 4 comma-separated columns user,item,"),
    "non-numeric rating": (GOOD_HEADER + "1,2,good,4\n", [], "row 2: rating must be a number, found 'good'"),
    "missing timestamp": (GOOD_HEADER + "1,2,3,4\n1,3,3,\n", [], "row 3: timestamp must be a number, found an empty value"),
    "too few rows to split": (GOOD_HEADER + "1,2,3,10\n1,2,5,20\n", ["--min_seq", "1", "--batch_size", "1"],
                              "only 1 ratings remain after filtering: too few to split"),
    "min_seq too high": (GOOD_HEADER + "1,2,3,4\n1,3,3,5\n2,2,4,6\n", ["--min_seq", "50"],
                         "min_seq=50 leaves no ratings"),
    "batch larger than data": (GOOD_HEADER + "".join(f"{u},{i},3,{u * 10 + i}\n" for u in range(1, 5)
                                                     for i in range(1, 5)),
                               ["--min_seq", "2", "--batch_size", "1000"], "batch_size=1000 is larger than"),
    "test_ratio outside (0,1)": (GOOD_HEADER + "1,2,3,4\n", ["--test_ratio", "0"], "test_ratio must be in (0, 1)"),
    "data_percent outside (0,1]": (GOOD_HEADER + "1,2,3,4\n", ["--data_percent", "0"],
                                   "data_percent must be in (0, 1]"),
    "max_seq <= 0 with no mode": (GOOD_HEADER + "1,2,3,4\n", ["--max_seq", "0", "--max_seq_mode", "none"],
                                  "max_seq_mode must be one of mean, max, received: 'none'"),
    "emb_size not divisible by num_head": (GOOD_HEADER + "1,2,3,4\n", ["--emb_size", "10", "--num_head", "3"],
                                           "emb_size must be divisible by num_head"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_prepare_bad_input(tmp_path, case):
    content, flags, message = CASES[case]
    if content is not None:
        write(tmp_path, "mine", content)
    before = files_under(tmp_path / "Data")
    result = cli("prepare", "--data_path", "Data", "--dataset", "mine", *flags, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()  # INFO log lines may come first
    errors = [line for line in lines if line.startswith("error: ")]
    assert errors == [lines[-1]] and "Traceback" not in result.stderr
    assert message in errors[0]
    assert files_under(tmp_path / "Data") == before  # nothing half-written


def test_unknown_dataset_name(tmp_path):
    result = cli("prepare", "--data_path", "Data", "--dataset", "ml-10m", cwd=tmp_path)
    assert result.returncode == 2
    assert "Data/ml-10m/ml-10m_ratings.csv" in result.stderr and "ml-100k, ml-1m, synthetic" in result.stderr


def test_unknown_key_in_a_params_file(tmp_path):
    (tmp_path / "p.yaml").write_text("num_heads: 4\n")
    result = cli("train", "--params", "p.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert "'num_heads' (did you mean 'num_head'?)" in result.stderr and "Valid keys:" in result.stderr


def test_string_ids_simply_work(tmp_path):
    rows = "".join(f"user{u},item{i},{(u + i) % 5 + 1},{u * 100 + i}\n" for u in range(8) for i in range(6))
    write(tmp_path, "named", GOOD_HEADER + rows)
    result = cli("prepare", "--data_path", "Data", "--dataset", "named", "--min_seq", "3", "--batch_size", "4",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "train: 36 records, 8 users, 6 items" in result.stdout
