"""Shared fixtures and helpers: tiny synthetic data, a tiny model configuration, a toy ratings file,
the repository root and a throwaway git repository."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from arerec.config import Config  # noqa: E402


def tiny_config(tmp_path, **changes) -> Config:
    """A configuration that prepares and trains in seconds on the synthetic dataset."""
    values = dict(
        data_path=str(tmp_path / "Data"),
        model_path=str(tmp_path / "Model"),
        dataset="synthetic",
        synthetic_users=40,
        synthetic_items=16,
        synthetic_ratings=500,
        min_seq=5,
        batch_size=16,
        emb_size=8,
        num_head=2,
        region_size=3,
        lr=0.01,
        epochs=2,
        save_checkpoints_epochs=1,
        topk=[3, 5],
        verbose="0",
    )
    values.update(changes)
    return Config(**values)


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
    """Settings that split the toy ``ROWS`` of :func:`write_ratings`."""
    values = dict(data_path=str(tmp_path), dataset="toy", min_seq=2, test_ratio=0.25, batch_size=2)
    values.update(changes)
    return Config(**values)


@pytest.fixture
def tiny_cfg(tmp_path) -> Config:
    return tiny_config(tmp_path)


REPO = Path(__file__).resolve().parents[1]  # the repository root


def under_ci() -> bool:
    """Whether the suite runs under CI: the ``CI`` variable set (to anything but '', 0 or false), as CI services and
    ``.ci/run`` set it."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false")


@pytest.fixture(scope="session")
def ml100k_cfg() -> Config:
    """Real ML-100K in the repository's Data/ folder, where ``make data`` puts it (``AREREC_TEST_DATA`` names another):
    from GroupLens, else from the recbole wheel on PyPI, the downloads kept under Data/downloads."""
    return ml100k_or_skip(os.environ.get("AREREC_TEST_DATA", str(REPO / "Data")))


def ml100k_or_skip(data_path: str) -> Config:
    """ML-100K fetched into ``data_path`` (or found there). Where it cannot be had the test skips, except under CI
    (:func:`under_ci`), where it fails: the recbole wheel is on PyPI, so CI can always have it, and a green run must
    have checked the real data."""
    from arerec.data.datasets import ensure_ratings
    from arerec.errors import DownloadError

    cfg = Config(data_path=data_path, dataset="ml-100k")
    try:
        ensure_ratings(cfg)
    except DownloadError as exc:
        if under_ci():
            pytest.fail(f"ML-100K unavailable under CI (CI={os.environ['CI']}): {exc}. CI must reach GroupLens or PyPI "
                        f"(the recbole wheel); a copy at {cfg.data_path}/downloads is used as it is", pytrace=False)
        pytest.skip(f"ML-100K unavailable (no network, no copy under {cfg.data_path}): {exc}")
    return cfg


def git_in(repo: Path):
    """``git(*args)`` in a throwaway repository at ``repo``; skips the test where git is not installed."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t",
                        "-c", "commit.gpgsign=false", *args], check=True, capture_output=True)

    return git


# --- backends ----------------------------------------------------------------------------------------------
# The suite runs under whichever Keras backend KERAS_BACKEND names (`KERAS_BACKEND=jax make test`). Tests of
# TensorFlow's own code (its sparse lazy Adam, its tf.data and tf.function paths, the XLA benchmark) are marked
# `tensorflow_only` and skipped under another backend; tests/train/test_backends_and_devices.py runs JAX in
# subprocesses whatever the suite's backend.
def backend_tag() -> str:
    """What a run's name ends with under this suite's backend (arerec.train.runs.model_name): '' or '_jax'."""
    import keras

    return "" if keras.backend.backend() == "tensorflow" else f"_{keras.backend.backend()}"


def pytest_collection_modifyitems(config, items):
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        return
    skip = pytest.mark.skip(reason=f"TensorFlow's own code path; this suite runs KERAS_BACKEND={backend}")
    for item in items:
        if "tensorflow_only" in item.keywords:
            item.add_marker(skip)
