"""arerec.train.loop: training, resuming, evaluating only, re-using finished runs, early stopping."""

import numpy as np
import pandas as pd
import pytest
from conftest import tiny_config

from arerec.data.inputs import load_experiment
from arerec.errors import CheckpointError, ConfigError
from arerec.train import build, loop, predict
from arerec.train.backends import tensorflow as tf_backend

TIMES = ["seconds", "eval_seconds"]


def _tensorflow_importable() -> bool:
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        return False
    return True


def test_train_writes_results_checkpoints_and_logs(tmp_path):
    cfg = tiny_config(tmp_path, epochs=2, save_checkpoints_epochs=2)
    result = loop.train(cfg)
    paths = result.paths
    assert paths.root == tmp_path / "Model" / "synthetic" / result.name
    lines = paths.results.read_text().splitlines()
    assert lines[0].startswith("epoch,loss,val_loss,hr@3,hr@5,ndcg@3,ndcg@5,")
    assert sum(line.startswith("epoch") for line in lines) == 1 and len(lines) == 3
    assert [p.name for p in paths.checkpoints()] == ["cp-0002.ckpt"]
    # TensorBoard's events come from TensorFlow's summary writer: a JAX machine without TensorFlow writes none
    assert any(paths.logs.rglob("events.out.tfevents.*")) == _tensorflow_importable()
    history = result.history
    assert history["epoch"].tolist() == [1, 2]
    assert history["loss"].iloc[1] < history["loss"].iloc[0]
    assert 0 <= history["ndcg@5"].iloc[-1] <= 1 and history["rmse"].iloc[-1] > 0


def test_same_seed_same_numbers_and_resume_equals_one_run(tmp_path):
    """2 epochs + resume to 4 gives what 4 epochs give: weights, optimiser state and batch order."""
    straight = loop.train(tiny_config(tmp_path / "a", epochs=4, save_checkpoints_epochs=2))
    again = loop.train(tiny_config(tmp_path / "b", epochs=4, save_checkpoints_epochs=2))
    pd.testing.assert_frame_equal(straight.history.drop(columns=TIMES), again.history.drop(columns=TIMES))

    first = loop.train(tiny_config(tmp_path / "c", epochs=2, save_checkpoints_epochs=2))
    resumed = loop.train(
        tiny_config(tmp_path / "c", epochs=4, load_model=1, model_name=first.name, load_weight_path="cp-0002.ckpt")
    )
    assert resumed.history["epoch"].tolist() == [1, 2, 3, 4]
    csv = pd.read_csv(resumed.paths.results)
    assert csv["epoch"].tolist() == [1, 2, 3, 4]
    pd.testing.assert_frame_equal(
        resumed.history.drop(columns=TIMES), straight.history.drop(columns=TIMES), rtol=1e-5
    )


def test_resume_restores_the_saved_configuration(tmp_path):
    first = loop.train(tiny_config(tmp_path, epochs=1, lr=0.02))
    # A resumed run takes the saved hyper-parameters, not the command line's defaults.
    resumed = loop.train(tiny_config(tmp_path, epochs=2, lr=0.5, load_model=1, model_name=first.name))
    assert resumed.experiment.cfg.training.lr == 0.02
    assert resumed.history["epoch"].tolist() == [1, 2]


def test_evaluate_only_reproduces_the_last_epoch(tmp_path):
    trained = loop.train(tiny_config(tmp_path, epochs=2))
    evaluated = loop.train(tiny_config(tmp_path, do_train=0, model_name=trained.name))
    for key in ("ndcg@5", "hr@3", "rmse"):
        assert evaluated.final[key] == pytest.approx(trained.final[key], rel=1e-6)
    assert len(pd.read_csv(trained.paths.results)) == 2  # evaluation adds no epoch


def test_train_or_load_skips_a_finished_run(tmp_path):
    cfg = tiny_config(tmp_path, epochs=1)
    first = loop.train_or_load(cfg)
    again = loop.train_or_load(cfg)
    assert again.history.equals(first.history)
    probs_a = predict.predict_probs(first.model, first.experiment)
    probs_b = predict.predict_probs(again.model, again.experiment)
    np.testing.assert_allclose(probs_a, probs_b)


def test_resume_errors_name_the_fix(tmp_path):
    with pytest.raises(ConfigError, match="model_name is required"):
        loop.train(tiny_config(tmp_path, load_model=1))
    with pytest.raises(CheckpointError, match="no run named 'nope'"):
        loop.train(tiny_config(tmp_path, load_model=1, model_name="nope"))
    first = loop.train(tiny_config(tmp_path, epochs=1))
    with pytest.raises(CheckpointError, match=r"checkpoint not found: .*cp-0009.ckpt \(available: cp-0001.ckpt\)"):
        loop.train(tiny_config(tmp_path, load_model=1, model_name=first.name, load_weight_path="cp-0009.ckpt"))
    first.paths.checkpoint(1).write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupted or unreadable"):
        loop.train(tiny_config(tmp_path, load_model=1, model_name=first.name, load_weight_path="cp-0001.ckpt"))


def test_do_eval_and_save_model_switches(tmp_path):
    result = loop.train(tiny_config(tmp_path, epochs=2, do_eval=0, save_model=0))
    assert result.paths.checkpoints() == []
    history = result.history
    assert np.isnan(history["ndcg@5"].iloc[0]) and np.isfinite(history["ndcg@5"].iloc[1])


@pytest.mark.tensorflow_only
@pytest.mark.parametrize("jit", [0, 1])
def test_gathered_tables_get_sparse_gradients_and_lazy_steps_keep_them_sparse(tmp_path, jit):
    """No dense conversion of the embedding/LCU gradients: untouched rows never move in lazy mode."""
    import tensorflow as tf

    exp = load_experiment(tiny_config(tmp_path, update_mode="lazy", jit_compile=jit))
    model, optimizer = build.build(exp)
    inputs, labels = next(iter(tf_backend.make_batches(exp, "train", shuffle=False)))
    with tf.GradientTape() as tape:
        loss = tf.keras.losses.SparseCategoricalCrossentropy()(labels, model(inputs, training=True))
    grads = dict(zip([v.path for v in model.trainable_variables], tape.gradient(loss, model.trainable_variables),
                     strict=True))
    sparse = {path for path, g in grads.items() if isinstance(g, tf.IndexedSlices)}
    assert sparse == {"user_embedding/embeddings", "item_embedding/embeddings", "k_iu/table", "k_ui/table"}

    table = next(v for v in model.trainable_variables if v.path == "k_iu/table")
    before = np.asarray(table).copy()
    step = tf_backend.make_train_step(model, optimizer, jit_compile=bool(jit))
    step(inputs, labels)
    touched = np.unique(np.asarray(inputs["lcu"]))
    untouched = np.setdiff1d(np.arange(before.shape[0]), touched)
    assert untouched.size > 0
    np.testing.assert_array_equal(np.asarray(table)[untouched], before[untouched])
    assert not np.array_equal(np.asarray(table)[touched], before[touched])


def test_clean_protocol_chooses_the_epoch_on_validation_and_tests_once(tmp_path):
    import json

    cfg = tiny_config(tmp_path, protocol="clean", epochs=3, synthetic_ratings=640, test_ratio=0.3)
    result = loop.train(cfg)
    assert result.experiment.eval_split == "valid"
    saved = json.loads(result.paths.test_metrics.read_text())
    best = int(result.history.loc[result.history["val_loss"].idxmin(), "epoch"])
    assert saved["best_epoch"] == best == result.final["best_epoch"]
    assert 0 <= saved["ndcg@3"] <= 1 and saved["rmse"] > 0
    # the returned model is the chosen epoch's: it reproduces the saved test metrics
    probs = predict.predict_probs(result.model, result.experiment, "test")
    assert predict.evaluate_probs(result.experiment, probs, "test")["rmse"] == pytest.approx(saved["rmse"])
    again = loop.train_or_load(cfg)
    assert again.final["best_epoch"] == best


def test_train_or_load_retrains_when_the_data_changed(tmp_path):
    cfg = tiny_config(tmp_path, epochs=1)
    first = loop.train_or_load(cfg)
    train_file = first.experiment.prepared.paths["train"]
    train_file.write_text(train_file.read_text().replace("\n", "\n", 1))  # same content: still finished
    assert loop.train_or_load(cfg).history["eval_seconds"].equals(first.history["eval_seconds"])
    lines = train_file.read_text().splitlines()
    train_file.write_text("\n".join(lines[:-16]) + "\n")  # one batch fewer: the inputs changed
    again = loop.train_or_load(cfg)
    assert len(again.experiment.prepared.train) == len(first.experiment.prepared.train) - 16
    assert not again.history["eval_seconds"].equals(first.history["eval_seconds"])  # trained anew


def _early_stopping_cfg(tmp_path, **changes):
    # lr 0.3 overfits the tiny set at once: validation loss is lowest after epoch 1 or 2
    values = dict(protocol="clean", epochs=8, patience=2, lr=0.3, synthetic_ratings=640, test_ratio=0.3,
                  save_checkpoints_epochs=8)
    return tiny_config(tmp_path, **{**values, **changes})


def test_early_stopping_stops_restores_the_best_epoch_and_says_so(tmp_path):
    import json

    cfg = _early_stopping_cfg(tmp_path)
    result = loop.train(cfg)
    history = result.history
    best = int(history.loc[history["val_loss"].idxmin(), "epoch"])
    last = int(history["epoch"].max())
    assert last == best + cfg.training.patience < cfg.training.epochs  # stopped early, patience epochs after the best
    assert history["stopped_early"].tolist() == [0] * (last - 1) + [1]
    assert history["best_epoch"].iloc[-1] == best
    assert result.final["best_epoch"] == best and result.final["stopped_early"] == 1
    assert result.final["epochs_trained"] == last
    saved = json.loads(result.paths.test_metrics.read_text())
    assert saved["best_epoch"] == best and saved["stopped_early"] == 1
    assert result.paths.checkpoint(last).is_file()  # the stop epoch's checkpoint: the run counts as finished
    assert loop.is_finished(cfg)
    probs = predict.predict_probs(result.model, result.experiment, "test")  # the best epoch's weights
    assert predict.evaluate_probs(result.experiment, probs, "test")["rmse"] == pytest.approx(saved["rmse"])


def test_a_resumed_run_keeps_its_best_value_and_patience_count(tmp_path):
    whole = loop.train(_early_stopping_cfg(tmp_path / "a"))
    best = int(whole.final["best_epoch"])
    # stop the same run one epoch after its best (patience not yet spent), then let train_or_load resume it
    cut = _early_stopping_cfg(tmp_path / "b", epochs=best + 1)
    part = loop.train(cut)
    assert part.final["stopped_early"] == 0
    resumed = loop.train_or_load(cut.replace(epochs=8))
    assert resumed.history["epoch"].tolist() == whole.history["epoch"].tolist()
    np.testing.assert_allclose(resumed.history["val_loss"], whole.history["val_loss"], rtol=1e-5)
    assert resumed.final["best_epoch"] == best and resumed.final["stopped_early"] == 1


def test_search_runs_do_not_score_test(tmp_path):
    cfg = tiny_config(tmp_path, protocol="clean", epochs=1, synthetic_ratings=640, test_ratio=0.3)
    result = loop.train_or_load(cfg, score_test=False)
    assert not result.paths.test_metrics.is_file() and "rmse" not in result.final
    again = loop.train_or_load(cfg)  # scored on test once, when first asked for
    assert result.paths.test_metrics.is_file() and again.final["best_epoch"] == 1 and "rmse" in again.final
