"""checkpoint_policy: 'every' (the reference's cp-NNNN.ckpt every save_checkpoints_epochs) and 'lean' (the latest
checkpoint while a run trains; once finished, the chosen epoch's weights without optimiser state)."""

import json

import numpy as np
import pandas as pd
import pytest
from conftest import tiny_config
from keras.ops import convert_to_numpy as to_numpy

from arerec.data.inputs import load_experiment
from arerec.errors import CheckpointError
from arerec.train import build, checkpoints, loop, predict
from arerec.train.runs import discard_weights, experiment_paths

TIMES = ["seconds", "eval_seconds"]


def _files(paths) -> list[str]:
    return sorted(p.name for p in paths.weights.iterdir()) if paths.weights.is_dir() else []


def _same(a: dict, b: dict) -> None:
    """Equal figures (NaN equal to NaN: a metric with no relevant test row)."""
    pd.testing.assert_series_equal(pd.Series(a, dtype=object).sort_index(), pd.Series(b, dtype=object).sort_index())


def _spy_saves(monkeypatch) -> list[tuple[str, list[str]]]:
    """After every checkpoint the loop writes: (its name, the files under weight/ then)."""
    seen = []
    save = loop.save_checkpoint

    def saving(path, exp, model, optimizer, epoch):
        save(path, exp, model, optimizer, epoch)
        seen.append((path.name, sorted(p.name for p in path.parent.iterdir())))

    monkeypatch.setattr(loop, "save_checkpoint", saving)
    return seen


def test_every_is_the_default_and_lean_keeps_the_name(tmp_path):
    assert tiny_config(tmp_path).checkpoint_policy == "every"
    exp = load_experiment(tiny_config(tmp_path))
    lean = load_experiment(tiny_config(tmp_path, checkpoint_policy="lean"))
    assert experiment_paths(exp).name == experiment_paths(lean).name
    with pytest.raises(Exception, match="checkpoint_policy must be one of every, lean"):
        tiny_config(tmp_path, checkpoint_policy="some")


def test_lean_reference_run_keeps_the_latest_then_the_last_weights_only(tmp_path, monkeypatch):
    seen = _spy_saves(monkeypatch)
    cfg = tiny_config(tmp_path / "lean", epochs=3, checkpoint_policy="lean")
    result = loop.train(cfg)
    # each new checkpoint is written before the one it replaces goes; the last is rewritten without optimiser state
    assert [files for _, files in seen] == [["cp-0001.ckpt"], ["cp-0001.ckpt", "cp-0002.ckpt"],
                                            ["cp-0002.ckpt", "cp-0003.ckpt"], ["cp-0003.ckpt"]]
    paths = result.paths
    assert _files(paths) == ["cp-0003.ckpt", "final.json"]
    assert not checkpoints.has_optimizer_state(paths.checkpoint(3))
    assert json.loads(paths.final_marker.read_text()) == {"policy": "lean", "epoch": 3, "weights": "cp-0003.ckpt"}
    assert paths.results.is_file() and paths.config.is_file()

    # finished: not trained again, and it scores as the run that keeps every checkpoint
    monkeypatch.setattr(loop, "train", lambda *a, **k: pytest.fail("a finished lean run was trained again"))
    assert loop.is_finished(cfg)
    again = loop.train_or_load(cfg)
    monkeypatch.undo()
    every = loop.train(tiny_config(tmp_path / "every", epochs=3))
    assert [p.name for p in every.paths.checkpoints()] == ["cp-0001.ckpt", "cp-0002.ckpt", "cp-0003.ckpt"]
    pd.testing.assert_frame_equal(again.history.drop(columns=TIMES), every.history.drop(columns=TIMES))
    np.testing.assert_array_equal(predict.predict_probs(again.model, again.experiment),
                                  predict.predict_probs(every.model, every.experiment))


def test_lean_clean_run_keeps_only_the_chosen_weights(tmp_path, monkeypatch):
    seen = _spy_saves(monkeypatch)
    cfg = tiny_config(tmp_path / "lean", epochs=3, protocol="clean", checkpoint_policy="lean")
    result = loop.train(cfg)
    for name, files in seen:  # never more than the new checkpoint, the one it replaces, and best.ckpt
        assert len([f for f in files if f.startswith("cp-")]) <= 2, (name, files)
    paths = result.paths
    assert _files(paths) == ["best.ckpt", "final.json"]
    assert not checkpoints.has_optimizer_state(paths.best_checkpoint)
    assert paths.test_metrics.is_file()
    every = loop.train(tiny_config(tmp_path / "every", epochs=3, protocol="clean"))
    _same(result.final, every.final)
    assert checkpoints.has_optimizer_state(every.paths.best_checkpoint)

    monkeypatch.setattr(loop, "train", lambda *a, **k: pytest.fail("a finished lean run was trained again"))
    assert loop.is_finished(cfg)
    again = loop.train_or_load(cfg)
    _same(again.final, result.final)
    np.testing.assert_array_equal(predict.predict_probs(again.model, again.experiment, "test"),
                                  predict.predict_probs(every.model, every.experiment, "test"))


@pytest.mark.parametrize("protocol", ["reference", "clean"])
def test_an_interrupted_lean_run_resumes_exactly(tmp_path, monkeypatch, protocol):
    straight = loop.train(tiny_config(tmp_path / "a", epochs=4, protocol=protocol, checkpoint_policy="lean"))
    cfg = tiny_config(tmp_path / "b", epochs=4, protocol=protocol, checkpoint_policy="lean")
    save = loop.save_checkpoint

    def dying(path, exp, model, optimizer, epoch):
        save(path, exp, model, optimizer, epoch)
        if epoch == 2 and path.name.startswith("cp-"):
            raise KeyboardInterrupt("killed after epoch 2's checkpoint")

    monkeypatch.setattr(loop, "save_checkpoint", dying)
    with pytest.raises(KeyboardInterrupt):
        loop.train_or_load(cfg)
    monkeypatch.undo()
    paths = experiment_paths(load_experiment(cfg))
    # killed after writing cp-0002, before cp-0001 was deleted: the latest is what resumes
    assert [p.name for p in paths.checkpoints()] == ["cp-0001.ckpt", "cp-0002.ckpt"]
    assert checkpoints.has_optimizer_state(paths.checkpoint(2))
    assert not loop.is_finished(cfg)
    resumed = loop.train_or_load(cfg)
    assert resumed.history["epoch"].tolist() == [1, 2, 3, 4]
    pd.testing.assert_frame_equal(resumed.history.drop(columns=TIMES), straight.history.drop(columns=TIMES))
    assert _files(resumed.paths) == _files(straight.paths)
    for a, b in zip(resumed.model.variables, straight.model.variables, strict=True):
        np.testing.assert_array_equal(to_numpy(a), to_numpy(b))


def test_weights_only_checkpoint_scores_but_does_not_resume(tmp_path):
    cfg = tiny_config(tmp_path, epochs=2, checkpoint_policy="lean")
    first = loop.train(cfg)
    exp = load_experiment(cfg)
    model, optimizer = build.build(exp)
    with pytest.raises(CheckpointError, match="without optimiser state.*can be scored, not resumed"):
        checkpoints.load_checkpoint(first.paths.checkpoint(2), exp, model, optimizer)
    assert checkpoints.load_checkpoint(first.paths.checkpoint(2), exp, model) == 2
    with pytest.raises(CheckpointError, match="without optimiser state"):  # the resume command's path
        loop.train(cfg.replace(epochs=3, load_model=1, model_name=first.name, load_weight_path="cp-0002.ckpt"))
    # train_or_load asked for more epochs: nothing to resume from, so it trains from scratch
    longer = loop.train_or_load(cfg.replace(epochs=3))
    assert longer.history["epoch"].tolist() == [1, 2, 3] and _files(longer.paths) == ["cp-0003.ckpt", "final.json"]


def test_a_finished_every_run_is_finished_under_lean_and_tidied_when_loaded(tmp_path):
    every = loop.train(tiny_config(tmp_path, epochs=2, save_checkpoints_epochs=1))
    assert _files(every.paths) == ["cp-0001.ckpt", "cp-0002.ckpt"]
    lean = tiny_config(tmp_path, epochs=2, save_checkpoints_epochs=1, checkpoint_policy="lean")
    assert loop.is_finished(lean)
    loaded = loop.train_or_load(lean)
    assert _files(loaded.paths) == ["cp-0002.ckpt", "final.json"]
    np.testing.assert_array_equal(predict.predict_probs(loaded.model, loaded.experiment),
                                  predict.predict_probs(every.model, every.experiment))


def test_discard_weights_keeps_the_results_and_the_configuration(tmp_path):
    run = loop.train(tiny_config(tmp_path, epochs=1, protocol="clean"))
    size = sum(p.stat().st_size for p in run.paths.weights.iterdir())
    assert discard_weights(run.paths) == size > 0
    assert not run.paths.weights.exists()
    assert run.paths.results.is_file() and run.paths.config.is_file() and run.paths.test_metrics.is_file()
    assert discard_weights(run.paths) == 0
    assert not loop.is_finished(tiny_config(tmp_path, epochs=1, protocol="clean"))
