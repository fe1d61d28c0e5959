"""Shared fixtures: tiny synthetic data and a tiny model configuration."""

from __future__ import annotations

import os

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


@pytest.fixture
def tiny_cfg(tmp_path) -> Config:
    return tiny_config(tmp_path)


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="session")
def ml100k_cfg() -> Config:
    """Real ML-100K, cached under .cache/ (GroupLens, else the recbole wheel from PyPI)."""
    from arerec.datasets import ensure_ratings
    from arerec.errors import DownloadError

    cache = os.environ.get("AREREC_TEST_DATA", os.path.join(REPO, ".cache", "test-data"))
    cfg = Config(data_path=cache, dataset="ml-100k")
    try:
        ensure_ratings(cfg)
    except DownloadError as exc:  # no network and no cache: nothing to test against
        pytest.skip(f"ML-100K unavailable: {exc}")
    return cfg
