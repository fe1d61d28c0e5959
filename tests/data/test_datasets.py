"""arerec.data.datasets: synthetic data, GroupLens download/convert, the recbole fallback. Offline only."""

from __future__ import annotations

import hashlib
import json
import logging
import urllib.error
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from arerec.config import Config
from arerec.data import datasets
from arerec.errors import DataError, DownloadError

HEADER = "userId,itemId,rating,timestamp"
# deliberately not sorted by user, item or time: conversion must keep this order
ROWS = [(196, 242, 3, 881250949), (186, 302, 3, 891717742), (22, 377, 1, 878887116), (244, 51, 2, 880606923),
        (166, 346, 1, 886397596), (6, 86, 3, 883603013)]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_cfg(tmp_path: Path, dataset: str, **changes) -> Config:
    return Config(data_path=str(tmp_path / "Data"), dataset=dataset, **changes)


def csv_rows(path: Path) -> list[tuple[int, ...]]:
    lines = path.read_text().splitlines()
    assert lines[0] == HEADER
    return [tuple(int(v) for v in line.split(",")) for line in lines[1:]]


@pytest.fixture
def offline(monkeypatch):
    """No real network, no real pip, no waiting; records every urlopen call."""
    calls: list[str] = []
    real_urlopen = datasets._urlopen

    def urlopen(url, timeout=None):
        calls.append(url)
        if not url.startswith("file:"):
            raise urllib.error.URLError("no network in tests")
        return real_urlopen(url, timeout=timeout)

    def no_pip(dest_dir):
        raise DownloadError("pip is not reachable in tests")

    monkeypatch.setattr(datasets, "_urlopen", urlopen)
    monkeypatch.setattr(datasets, "_sleep", lambda seconds: None)
    monkeypatch.setattr(datasets, "_pip_download", no_pip)
    return calls


def fake_grouplens(monkeypatch, tmp_path: Path, name: str = "ml-100k", sha: str | None = None) -> Path:
    """A GroupLens-like zip in tmp_path, and the module pointed at it (URL and checksum)."""
    spec = dict(datasets.GROUPLENS[name])
    sep = spec["sep"]
    text = "".join(sep.join(str(v) for v in row) + "\n" for row in ROWS)
    archive = tmp_path / "upstream" / f"{name}.zip"
    archive.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(f"{name}/README", "fake")
        zf.writestr(spec["member"], text)
    spec.update(url=archive.as_uri(), sha256=sha or sha256(archive.read_bytes()))
    monkeypatch.setitem(datasets.GROUPLENS, name, spec)
    return archive


def fake_recbole_wheel(monkeypatch, tmp_path: Path, inter: str | None = None) -> Path:
    """A recbole-like wheel holding only the ml-100k .inter file, and the constants pointed at it."""
    if inter is None:
        inter = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n" + "".join(
            f"{u}\t{i}\t{r}.0\t{t}\n" if n % 2 else f"{u}\t{i}\t{r}\t{t}\n" for n, (u, i, r, t) in enumerate(ROWS)
        )
    wheel = tmp_path / "wheelhouse" / datasets.RECBOLE_WHEEL
    wheel.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("recbole/__init__.py", "")
        zf.writestr(datasets.RECBOLE_MEMBER, inter)
    monkeypatch.setattr(datasets, "RECBOLE_MEMBER_SHA256", sha256(inter.encode()))
    monkeypatch.setattr(datasets, "RECBOLE_WHEEL_SHA256", sha256(wheel.read_bytes()))
    return wheel


# =============================================================================================
# synthetic
# =============================================================================================
def test_synthetic_is_deterministic_per_seed():
    a = datasets.make_synthetic(120, 60, 4000, seed=7)
    b = datasets.make_synthetic(120, 60, 4000, seed=7)
    c = datasets.make_synthetic(120, 60, 4000, seed=8)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)
    assert np.array_equal(datasets.synthetic_user_groups(120, 7), datasets.synthetic_user_groups(120, 7))


def test_synthetic_shape_columns_ranges():
    cfg = Config()
    df = datasets.make_synthetic(cfg.synthetic_users, cfg.synthetic_items, cfg.synthetic_ratings, cfg.synthetic_seed)
    assert list(df.columns) == HEADER.split(",")
    assert len(df) == 4000
    assert all(str(t) == "int64" for t in df.dtypes)
    assert not df.duplicated(["userId", "itemId"]).any()
    assert set(df.userId) == set(range(1, 121)) and set(df.itemId) == set(range(1, 61))
    assert set(df.rating) <= {1, 2, 3, 4, 5} and df.rating.nunique() == 5
    assert df.timestamp.is_monotonic_increasing
    # long tail, yet every user and item keeps enough ratings for min_seq 5-10
    users, items = df.userId.value_counts(), df.itemId.value_counts()
    assert users.min() >= 10 and items.min() >= 10
    assert users.max() >= 2.5 * users.min() and items.max() >= 2.5 * items.min()


def test_synthetic_rejects_impossible_sizes():
    with pytest.raises(ValueError, match="possible"):
        datasets.make_synthetic(3, 3, 10, 0)
    with pytest.raises(ValueError, match=">= 1"):
        datasets.make_synthetic(0, 3, 1, 0)


def test_synthetic_full_matrix_and_tiny_sizes():
    full = datasets.make_synthetic(5, 4, 20, 1)
    assert len(full) == 20 and not full.duplicated(["userId", "itemId"]).any()
    tiny = datasets.make_synthetic(1, 1, 1, 1)
    assert tiny[["userId", "itemId"]].values.tolist() == [[1, 1]]


def test_synthetic_sparse_sampler_keeps_the_contract(monkeypatch):
    monkeypatch.setattr(datasets, "_DENSE_CELL_LIMIT", 0)
    df = datasets.make_synthetic(300, 200, 12000, seed=3)
    assert len(df) == 12000 and not df.duplicated(["userId", "itemId"]).any()
    assert df.userId.nunique() == 300 and df.itemId.nunique() == 200
    pd.testing.assert_frame_equal(df, datasets.make_synthetic(300, 200, 12000, seed=3))


def _split(df: pd.DataFrame, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    test = np.random.default_rng(seed).random(len(df)) < 0.2
    return df[~test], df[test]


def _rmse(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.sqrt(np.mean((y - p) ** 2)))


def test_synthetic_planted_group_structure_beats_item_mean():
    df = datasets.make_synthetic(120, 60, 4000, seed=7)
    group = datasets.synthetic_user_groups(120, 7)
    train, test = _split(df)
    item_mean = train.groupby("itemId").rating.mean()
    p_item = test.itemId.map(item_mean).fillna(train.rating.mean()).to_numpy()
    group_mean = train.assign(g=group[train.userId - 1]).groupby(["itemId", "g"]).rating.mean()
    keys = pd.MultiIndex.from_arrays([test.itemId, group[test.userId - 1]])
    p_group = group_mean.reindex(keys).to_numpy()
    p_group = np.where(np.isnan(p_group), p_item, p_group)
    y = test.rating.to_numpy()
    assert _rmse(y, p_group) < 0.75 * _rmse(y, p_item)


def test_synthetic_raters_close_in_time_agree():
    """Without knowing the groups: the item's k raters closest in time beat the item mean."""
    df = datasets.make_synthetic(120, 60, 4000, seed=7)
    train, test = _split(df)
    by_item = {item: (g.timestamp.to_numpy(), g.rating.to_numpy()) for item, g in train.groupby("itemId")}
    item_mean = train.groupby("itemId").rating.mean()
    p_time, p_item = [], []
    for item, when in zip(test.itemId, test.timestamp, strict=True):
        stamps, ratings = by_item[item]
        p_time.append(ratings[np.argsort(np.abs(stamps - when), kind="stable")[:5]].mean())
        p_item.append(item_mean[item])
    y = test.rating.to_numpy()
    assert _rmse(y, np.array(p_time)) < 0.9 * _rmse(y, np.array(p_item))


def test_ensure_synthetic_writes_reuses_and_regenerates(tmp_path, monkeypatch):
    calls = []
    real = datasets.make_synthetic

    def counting(*args):
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(datasets, "make_synthetic", counting)
    cfg = make_cfg(tmp_path, "synthetic", synthetic_users=30, synthetic_items=20, synthetic_ratings=300)
    path = datasets.ensure_ratings(cfg)
    assert path == tmp_path / "Data" / "synthetic" / "synthetic_ratings.csv"
    assert len(csv_rows(path)) == 300
    meta = json.loads((path.parent / "synthetic_ratings.meta.json").read_text())
    assert meta["n_ratings"] == 300 and meta["seed"] == 7
    assert datasets.ensure_ratings(cfg) == path and len(calls) == 1  # same parameters: reused

    datasets.ensure_ratings(cfg.replace(synthetic_ratings=250))
    assert len(calls) == 2 and len(csv_rows(path)) == 250
    datasets.ensure_ratings(cfg.replace(synthetic_ratings=250, synthetic_seed=8))
    assert len(calls) == 3
    path.write_text(HEADER + "\n1,1,5,0\n")  # edited by hand: no longer the generated file
    datasets.ensure_ratings(cfg.replace(synthetic_ratings=250, synthetic_seed=8))
    assert len(calls) == 4 and len(csv_rows(path)) == 250


# =============================================================================================
# GroupLens
# =============================================================================================
def test_ml100k_download_converts_in_file_order(tmp_path, monkeypatch, offline, caplog):
    fake_grouplens(monkeypatch, tmp_path)
    with caplog.at_level(logging.INFO, logger="arerec.data.datasets"):
        path = datasets.ensure_ratings(make_cfg(tmp_path, "ml-100k"))
    assert path == tmp_path / "Data" / "ml-100k" / "ml-100k_ratings.csv"
    assert csv_rows(path) == ROWS
    assert (tmp_path / "Data" / "downloads" / "ml-100k.zip").is_file()
    assert len(offline) == 1
    assert "source: GroupLens" in caplog.text
    meta = json.loads(path.with_name("ml-100k_ratings.meta.json").read_text())
    assert meta["source"].startswith("GroupLens") and meta["rows"] == len(ROWS)


def test_ml1m_download_converts_double_colon_file(tmp_path, monkeypatch, offline):
    fake_grouplens(monkeypatch, tmp_path, "ml-1m")
    path = datasets.ensure_ratings(make_cfg(tmp_path, "ml-1m"))
    assert path.name == "ml-1m_ratings.csv" and csv_rows(path) == ROWS


def test_checksum_mismatch_raises_and_removes_the_file(tmp_path, monkeypatch, offline):
    fake_grouplens(monkeypatch, tmp_path, "ml-1m", sha="0" * 64)
    zip_path = tmp_path / "Data" / "downloads" / "ml-1m.zip"
    with pytest.raises(DownloadError) as info:
        datasets.ensure_ratings(make_cfg(tmp_path, "ml-1m"))
    message = str(info.value)
    assert str(zip_path) in message and "0" * 64 in message and "got" in message
    assert not zip_path.exists()
    assert not (tmp_path / "Data" / "ml-1m" / "ml-1m_ratings.csv").exists()


def test_download_retries_then_says_where_to_put_files(tmp_path, monkeypatch, offline):
    sleeps = []
    monkeypatch.setattr(datasets, "_sleep", sleeps.append)
    with pytest.raises(DownloadError) as info:
        datasets.ensure_ratings(make_cfg(tmp_path, "ml-1m"))
    assert offline == [datasets.GROUPLENS["ml-1m"]["url"]] * datasets.DOWNLOAD_TRIES
    assert sleeps == [1.0, 2.0]
    message = str(info.value)
    assert str(tmp_path / "Data" / "downloads" / "ml-1m.zip") in message
    assert str(tmp_path / "Data" / "ml-1m" / "ratings.dat") in message
    assert not any((tmp_path / "Data" / "downloads").glob("*"))  # no half-written file left


def test_download_passes_a_timeout(tmp_path, monkeypatch):
    seen = []

    def urlopen(url, timeout=None):
        seen.append(timeout)
        raise TimeoutError("timed out")

    monkeypatch.setattr(datasets, "_urlopen", urlopen)
    monkeypatch.setattr(datasets, "_sleep", lambda s: None)
    with pytest.raises(DownloadError, match="after 2 tries: timed out"):
        datasets.download("https://example.invalid/x.zip", tmp_path / "x.zip", tries=2)
    assert seen == [datasets.DOWNLOAD_TIMEOUT_S] * 2


def test_ratings_dat_placed_by_hand_is_used(tmp_path, offline):
    by_hand = tmp_path / "Data" / "ml-1m" / "ratings.dat"
    by_hand.parent.mkdir(parents=True)
    by_hand.write_text("".join("::".join(map(str, row)) + "\n" for row in ROWS))
    path = datasets.ensure_ratings(make_cfg(tmp_path, "ml-1m"))
    assert csv_rows(path) == ROWS and offline == []


def test_verified_zip_in_downloads_is_reused_offline(tmp_path, monkeypatch, offline):
    archive = fake_grouplens(monkeypatch, tmp_path)
    downloads = tmp_path / "Data" / "downloads"
    downloads.mkdir(parents=True)
    (downloads / "ml-100k.zip").write_bytes(archive.read_bytes())
    path = datasets.ensure_ratings(make_cfg(tmp_path, "ml-100k"))
    assert csv_rows(path) == ROWS and offline == []


def test_cached_csv_is_reused_without_network(tmp_path, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("no network call expected")

    monkeypatch.setattr(datasets, "_urlopen", forbidden)
    monkeypatch.setattr(datasets, "_pip_download", forbidden)
    for name in ("ml-100k", "ml-1m", "my-data"):
        csv = tmp_path / "Data" / name / f"{name}_ratings.csv"
        csv.parent.mkdir(parents=True)
        csv.write_text(HEADER + "\n1,2,3,4\n")
        assert datasets.ensure_ratings(make_cfg(tmp_path, name)) == csv
        assert csv.read_text() == HEADER + "\n1,2,3,4\n"


# =============================================================================================
# ml-100k fallback: the recbole wheel
# =============================================================================================
def test_ml100k_falls_back_to_recbole_wheel(tmp_path, monkeypatch, offline, caplog):
    wheel = fake_recbole_wheel(monkeypatch, tmp_path)
    pip_calls = []

    def fake_pip(dest_dir):
        pip_calls.append(dest_dir)
        (dest_dir / wheel.name).write_bytes(wheel.read_bytes())

    monkeypatch.setattr(datasets, "_pip_download", fake_pip)
    cfg = make_cfg(tmp_path, "ml-100k")
    with caplog.at_level(logging.INFO, logger="arerec.data.datasets"):
        path = datasets.ensure_ratings(cfg)
    downloads = tmp_path / "Data" / "downloads"
    assert pip_calls == [downloads]
    assert len(offline) == datasets.DOWNLOAD_TRIES  # GroupLens was tried first
    assert path.read_text().splitlines()[0] == HEADER
    assert csv_rows(path) == ROWS  # "3.0" written as 3, order kept
    assert "falling back" in caplog.text and "recbole" in caplog.text
    meta = json.loads(path.with_name("ml-100k_ratings.meta.json").read_text())
    assert "recbole==1.2.1" in meta["source"]

    # the wheel is now in downloads: a second build needs neither GroupLens nor pip
    path.unlink()
    monkeypatch.setattr(datasets, "_urlopen", lambda *a, **k: (_ for _ in ()).throw(urllib.error.URLError("x")))
    assert csv_rows(datasets.ensure_ratings(cfg)) == ROWS
    assert len(pip_calls) == 1


def test_ml100k_zip_checksum_mismatch_also_falls_back(tmp_path, monkeypatch, offline):
    fake_grouplens(monkeypatch, tmp_path, sha="f" * 64)
    wheel = fake_recbole_wheel(monkeypatch, tmp_path)
    downloads = tmp_path / "Data" / "downloads"
    downloads.mkdir(parents=True)
    (downloads / wheel.name).write_bytes(wheel.read_bytes())
    path = datasets.ensure_ratings(make_cfg(tmp_path, "ml-100k"))
    assert csv_rows(path) == ROWS
    assert not (downloads / "ml-100k.zip").exists()


def test_bad_wheel_is_removed_and_both_failures_reported(tmp_path, monkeypatch, offline):
    wheel = fake_recbole_wheel(monkeypatch, tmp_path)
    monkeypatch.setattr(datasets, "RECBOLE_WHEEL_SHA256", "1" * 64)
    monkeypatch.setattr(datasets, "_pip_download", lambda d: (d / wheel.name).write_bytes(wheel.read_bytes()))
    with pytest.raises(DownloadError) as info:
        datasets.ensure_ratings(make_cfg(tmp_path, "ml-100k"))
    message = str(info.value)
    assert "GroupLens download failed" in message and "1" * 64 in message and "ml-100k.zip" in message
    assert not (tmp_path / "Data" / "downloads" / wheel.name).exists()


def test_wheel_member_checksum_is_checked(tmp_path, monkeypatch, offline):
    wheel = fake_recbole_wheel(monkeypatch, tmp_path)
    monkeypatch.setattr(datasets, "RECBOLE_MEMBER_SHA256", "2" * 64)
    downloads = tmp_path / "Data" / "downloads"
    downloads.mkdir(parents=True)
    (downloads / wheel.name).write_bytes(wheel.read_bytes())
    with pytest.raises(DownloadError, match="2" * 64):
        datasets.ensure_ratings(make_cfg(tmp_path, "ml-100k"))


def test_pip_download_command_and_failure(tmp_path, monkeypatch):
    seen = {}

    class Done:
        returncode = 1
        stdout = ""
        stderr = "ERROR: Could not find a version that satisfies the requirement recbole==1.2.1"

    def run(command, **kwargs):
        seen.update(command=command, **kwargs)
        return Done()

    monkeypatch.setattr(datasets.subprocess, "run", run)
    with pytest.raises(DownloadError, match="Could not find a version"):
        datasets._pip_download(tmp_path / "dl")
    assert seen["command"][1:] == [
        "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "recbole==1.2.1", "-d", str(tmp_path / "dl"),
    ]
    assert seen["timeout"] == datasets.PIP_TIMEOUT_S


# =============================================================================================
# other names
# =============================================================================================
def test_unknown_dataset_without_file_names_the_path(tmp_path):
    with pytest.raises(DataError) as info:
        datasets.ensure_ratings(make_cfg(tmp_path, "my-data"))
    message = str(info.value)
    assert str(tmp_path / "Data" / "my-data" / "my-data_ratings.csv") in message
    assert "ml-100k" in message and "ml-1m" in message and "synthetic" in message


def test_real_ml100k_tests_skip_without_the_data_but_fail_under_ci(tmp_path, monkeypatch):
    from conftest import ml100k_or_skip

    def offline(*args, **kwargs):
        raise DownloadError("no network here")

    monkeypatch.setattr(datasets, "download", offline)
    monkeypatch.setattr(datasets, "_pip_download", offline)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="ML-100K unavailable"):
        ml100k_or_skip(str(tmp_path))
    for value in ("true", "1"):
        monkeypatch.setenv("CI", value)
        with pytest.raises(pytest.fail.Exception, match=f"ML-100K unavailable under CI \\(CI={value}\\).*PyPI"):
            ml100k_or_skip(str(tmp_path))
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception):
        ml100k_or_skip(str(tmp_path))
