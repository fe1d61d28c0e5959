"""Same seed, same machine: the same files and the same numbers."""

from conftest import tiny_config

from arerec.data import prepare
from arerec.data.datasets import ensure_ratings
from arerec.files import sha256_file
from arerec.train import loop


def test_prepare_is_byte_for_byte_repeatable(tmp_path):
    sums = []
    for folder in ("a", "b"):
        cfg = tiny_config(tmp_path / folder)
        ensure_ratings(cfg)
        report = prepare.prepare(cfg)
        sums.append({key: sha256_file(path) for key, path in report.paths.items()})
    assert sums[0] == sums[1]


def test_training_metrics_are_repeatable_and_seed_dependent(tmp_path):
    first = loop.train(tiny_config(tmp_path / "a", epochs=1, seed=5))
    second = loop.train(tiny_config(tmp_path / "b", epochs=1, seed=5))
    other = loop.train(tiny_config(tmp_path / "c", epochs=1, seed=6))
    assert first.final == {**second.final, "seconds": first.final["seconds"], "eval_seconds": first.final["eval_seconds"]}
    assert first.final["loss"] != other.final["loss"]
