import numpy as np
import pandas as pd
import pytest
from conftest import tiny_config

from arerec import training
from arerec.config import Config
from arerec.errors import CheckpointError, ConfigError

TIMES = ["seconds", "eval_seconds"]


def test_model_name_matches_the_seed_readme():
    cfg = Config(dataset="ml-1m")
    assert training.model_name(cfg, 327) == "ml-1m_8020_bs128_lr0.0001_emb64_reg7_ms327_opadam_h2"
    assert training.model_name(cfg.replace(use_attention=0, use_dropout=1, use_regularizer=1), 50) == (
        "ml-1m_8020_bs128_lr0.0001_emb64_reg7_ms50_opadam_do_rz"
    )


def test_model_name_parses_back():
    values = training.parse_model_name("ml-1m_8020_bs128_lr0.0001_emb64_reg7_ms327_opadam_h2")
    assert values["dataset"] == "ml-1m" and values["test_ratio"] == 0.2 and values["max_seq"] == 327
    assert values["num_head"] == 2 and values["use_attention"] == 1 and values["lr"] == 0.0001
    with pytest.raises(ConfigError, match="does not look like"):
        training.parse_model_name("my-run")


def test_our_additions_keep_runs_apart_and_parse_back():
    """Runs that differ only in protocol, update mode, region mode or seed never share a folder."""
    cfg = Config(dataset="ml-100k", update_mode="lazy", protocol="clean", region_mode="window", seed=2)
    name = training.model_name(cfg, 101)
    assert name == "ml-100k_8020_bs128_lr0.0001_emb64_reg7_ms101_opadam_h2_win_lazy_clean_s2"
    rowwise = training.model_name(cfg.replace(second_moment="rowwise"), 101)
    assert rowwise == "ml-100k_8020_bs128_lr0.0001_emb64_reg7_ms101_opadam_h2_win_lazy_rw_clean_s2"
    assert training.parse_model_name(rowwise)["second_moment"] == "rowwise"
    assert training.model_name(cfg.replace(protocol="reference"), 101) != name
    values = training.parse_model_name(name)
    assert (values["update_mode"], values["protocol"], values["region_mode"], values["seed"]) == (
        "lazy", "clean", "window", 2)


def test_train_writes_results_checkpoints_and_logs(tmp_path):
    cfg = tiny_config(tmp_path, epochs=2, save_checkpoints_epochs=2)
    result = training.train(cfg)
    paths = result.paths
    assert paths.root == tmp_path / "Model" / "synthetic" / result.name
    lines = paths.results.read_text().splitlines()
    assert lines[0].startswith("epoch,loss,val_loss,hr@3,hr@5,ndcg@3,ndcg@5,")
    assert sum(line.startswith("epoch") for line in lines) == 1 and len(lines) == 3
    assert [p.name for p in paths.checkpoints()] == ["cp-0002.ckpt"]
    assert any(paths.logs.rglob("events.out.tfevents.*"))
    history = result.history
    assert history["epoch"].tolist() == [1, 2]
    assert history["loss"].iloc[1] < history["loss"].iloc[0]
    assert 0 <= history["ndcg@5"].iloc[-1] <= 1 and history["rmse"].iloc[-1] > 0


def test_same_seed_same_numbers_and_resume_equals_one_run(tmp_path):
    """2 epochs + resume to 4 gives what 4 epochs give: weights, optimiser state and batch order."""
    straight = training.train(tiny_config(tmp_path / "a", epochs=4, save_checkpoints_epochs=2))
    again = training.train(tiny_config(tmp_path / "b", epochs=4, save_checkpoints_epochs=2))
    pd.testing.assert_frame_equal(straight.history.drop(columns=TIMES), again.history.drop(columns=TIMES))

    first = training.train(tiny_config(tmp_path / "c", epochs=2, save_checkpoints_epochs=2))
    resumed = training.train(
        tiny_config(tmp_path / "c", epochs=4, load_model=1, model_name=first.name, load_weight_path="cp-0002.ckpt")
    )
    assert resumed.history["epoch"].tolist() == [1, 2, 3, 4]
    csv = pd.read_csv(resumed.paths.results)
    assert csv["epoch"].tolist() == [1, 2, 3, 4]
    pd.testing.assert_frame_equal(
        resumed.history.drop(columns=TIMES), straight.history.drop(columns=TIMES), rtol=1e-5
    )


def test_resume_restores_the_saved_configuration(tmp_path):
    first = training.train(tiny_config(tmp_path, epochs=1, lr=0.02))
    # A resumed run takes the saved hyper-parameters, not the command line's defaults.
    resumed = training.train(tiny_config(tmp_path, epochs=2, lr=0.5, load_model=1, model_name=first.name))
    assert resumed.experiment.cfg.lr == 0.02
    assert resumed.history["epoch"].tolist() == [1, 2]


def test_evaluate_only_reproduces_the_last_epoch(tmp_path):
    trained = training.train(tiny_config(tmp_path, epochs=2))
    evaluated = training.train(tiny_config(tmp_path, do_train=0, model_name=trained.name))
    for key in ("ndcg@5", "hr@3", "rmse"):
        assert evaluated.final[key] == pytest.approx(trained.final[key], rel=1e-6)
    assert len(pd.read_csv(trained.paths.results)) == 2  # evaluation adds no epoch


def test_train_or_load_skips_a_finished_run(tmp_path):
    cfg = tiny_config(tmp_path, epochs=1)
    first = training.train_or_load(cfg)
    again = training.train_or_load(cfg)
    assert again.history.equals(first.history)
    probs_a = training.predict_probs(first.model, first.experiment)
    probs_b = training.predict_probs(again.model, again.experiment)
    np.testing.assert_allclose(probs_a, probs_b)


def test_resume_errors_name_the_fix(tmp_path):
    with pytest.raises(ConfigError, match="model_name is required"):
        training.train(tiny_config(tmp_path, load_model=1))
    with pytest.raises(CheckpointError, match="no run named 'nope'"):
        training.train(tiny_config(tmp_path, load_model=1, model_name="nope"))
    first = training.train(tiny_config(tmp_path, epochs=1))
    with pytest.raises(CheckpointError, match=r"checkpoint not found: .*cp-0009.ckpt \(available: cp-0001.ckpt\)"):
        training.train(tiny_config(tmp_path, load_model=1, model_name=first.name, load_weight_path="cp-0009.ckpt"))
    first.paths.checkpoint(1).write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupted or unreadable"):
        training.train(tiny_config(tmp_path, load_model=1, model_name=first.name, load_weight_path="cp-0001.ckpt"))


def test_checkpoint_from_another_configuration_is_refused(tmp_path):
    first = training.train(tiny_config(tmp_path, epochs=1))
    other = training.load_experiment(tiny_config(tmp_path, region_size=2))
    model, optimizer = training.build(other)
    with pytest.raises(CheckpointError, match="saved with a different configuration"):
        training.load_checkpoint(first.paths.checkpoint(1), other, model, optimizer)


def test_do_eval_and_save_model_switches(tmp_path):
    result = training.train(tiny_config(tmp_path, epochs=2, do_eval=0, save_model=0))
    assert result.paths.checkpoints() == []
    history = result.history
    assert np.isnan(history["ndcg@5"].iloc[0]) and np.isfinite(history["ndcg@5"].iloc[1])


def test_input_pipeline_does_not_autotune(tmp_path):
    """tf.data's autotune thread held each epoch's end until its next wake-up (40.9, 81.9, 141.9 s...)."""
    exp = training.load_experiment(tiny_config(tmp_path))
    ds = training.make_batches(exp, "train", shuffle=True, epoch=1)
    assert ds.options().autotune.enabled is False
    assert sum(len(labels) for _, labels in ds) == len(exp.prepared.train)


@pytest.mark.parametrize("jit", [0, 1])
def test_gathered_tables_get_sparse_gradients_and_lazy_steps_keep_them_sparse(tmp_path, jit):
    """No dense conversion of the embedding/LCU gradients: untouched rows never move in lazy mode."""
    import tensorflow as tf

    exp = training.load_experiment(tiny_config(tmp_path, update_mode="lazy", jit_compile=jit))
    model, optimizer = training.build(exp)
    inputs, labels = next(iter(training.make_batches(exp, "train", shuffle=False)))
    with tf.GradientTape() as tape:
        loss = tf.keras.losses.SparseCategoricalCrossentropy()(labels, model(inputs, training=True))
    grads = dict(zip([v.path for v in model.trainable_variables], tape.gradient(loss, model.trainable_variables),
                     strict=True))
    sparse = {path for path, g in grads.items() if isinstance(g, tf.IndexedSlices)}
    assert sparse == {"user_embedding/embeddings", "item_embedding/embeddings", "k_iu/table", "k_ui/table"}

    table = next(v for v in model.trainable_variables if v.path == "k_iu/table")
    before = np.asarray(table).copy()
    step = training.make_train_step(model, optimizer, jit_compile=bool(jit))
    step(inputs, labels)
    touched = np.unique(np.asarray(inputs["lcu"]))
    untouched = np.setdiff1d(np.arange(before.shape[0]), touched)
    assert untouched.size > 0
    np.testing.assert_array_equal(np.asarray(table)[untouched], before[untouched])
    assert not np.array_equal(np.asarray(table)[touched], before[touched])


@pytest.mark.parametrize("protocol, jit", [("reference", 1), ("clean", 0)])
def test_a_step_that_gathers_its_inputs_matches_the_input_pipeline(tmp_path, protocol, jit):
    import tensorflow as tf

    cfg = tiny_config(tmp_path, protocol=protocol, jit_compile=jit, update_mode="lazy")
    exp = training.load_experiment(cfg)
    piped = list(training.make_batches(exp, "train", shuffle=True, epoch=3))
    ids = list(training.id_batches(exp, "train", shuffle=True, epoch=3))
    assert len(piped) == len(ids) > 1
    gather = training.batch_gather(exp)
    for (inputs, labels), (users, items, y, ends) in zip(piped, ids, strict=True):  # same rows, same order
        np.testing.assert_array_equal(labels, y)
        for key, value in gather(tf.constant(users), tf.constant(items), tf.constant(ends)).items():
            np.testing.assert_array_equal(inputs[key], value)
    weights = []
    for gathering in (False, True):
        model, optimizer = training.build(exp)
        step = training.make_train_step(model, optimizer, jit_compile=bool(jit), gather=gather if gathering else None)
        for batch, batch_ids in zip(piped, ids, strict=True):
            step(*(batch_ids if gathering else batch))
        weights.append([np.asarray(v) for v in model.trainable_variables])
    for a, b in zip(*weights, strict=True):
        np.testing.assert_array_equal(a, b)


def test_clean_protocol_chooses_the_epoch_on_validation_and_tests_once(tmp_path):
    import json

    cfg = tiny_config(tmp_path, protocol="clean", epochs=3, synthetic_ratings=640, test_ratio=0.3)
    result = training.train(cfg)
    assert result.experiment.eval_split == "valid"
    saved = json.loads(result.paths.test_metrics.read_text())
    best = int(result.history.loc[result.history["val_loss"].idxmin(), "epoch"])
    assert saved["best_epoch"] == best == result.final["best_epoch"]
    assert 0 <= saved["ndcg@3"] <= 1 and saved["rmse"] > 0
    # the returned model is the chosen epoch's: it reproduces the saved test metrics
    probs = training.predict_probs(result.model, result.experiment, "test")
    assert training.evaluate_probs(result.experiment, probs, "test")["rmse"] == pytest.approx(saved["rmse"])
    again = training.train_or_load(cfg)
    assert again.final["best_epoch"] == best


def test_train_or_load_retrains_when_the_data_changed(tmp_path):
    cfg = tiny_config(tmp_path, epochs=1)
    first = training.train_or_load(cfg)
    train_file = first.experiment.prepared.paths["train"]
    train_file.write_text(train_file.read_text().replace("\n", "\n", 1))  # same content: still finished
    assert training.train_or_load(cfg).history["eval_seconds"].equals(first.history["eval_seconds"])
    lines = train_file.read_text().splitlines()
    train_file.write_text("\n".join(lines[:-16]) + "\n")  # one batch fewer: the inputs changed
    again = training.train_or_load(cfg)
    assert len(again.experiment.prepared.train) == len(first.experiment.prepared.train) - 16
    assert not again.history["eval_seconds"].equals(first.history["eval_seconds"])  # trained anew


# --- early stopping -----------------------------------------------------------------------------------
def test_selection_finds_the_best_epoch_and_counts_patience():
    history = pd.DataFrame({"epoch": [1, 2, 3, 4], "val_loss": [1.5, 1.2, 1.3, 1.25], "ndcg@3": [0.5, 0.7, 0.6, 0.7]})
    loss = training.selection(history, "val_loss")
    assert (loss.best_epoch, loss.best_value, loss.epochs_since_best) == (2, 1.2, 2)
    assert loss.exhausted(2) and not loss.exhausted(3) and not loss.exhausted(0)
    ndcg = training.selection(history, "ndcg@3")  # higher is better; a tie keeps the earlier epoch
    assert (ndcg.best_epoch, ndcg.epochs_since_best) == (2, 2)
    assert training.selection(history.iloc[:0], "val_loss") is None


def _early_stopping_cfg(tmp_path, **changes):
    # lr 0.3 overfits the tiny set at once: validation loss is lowest after epoch 1 or 2
    values = dict(protocol="clean", epochs=8, patience=2, lr=0.3, synthetic_ratings=640, test_ratio=0.3,
                  save_checkpoints_epochs=8)
    return tiny_config(tmp_path, **{**values, **changes})


def test_early_stopping_stops_restores_the_best_epoch_and_says_so(tmp_path):
    import json

    cfg = _early_stopping_cfg(tmp_path)
    result = training.train(cfg)
    history = result.history
    best = int(history.loc[history["val_loss"].idxmin(), "epoch"])
    last = int(history["epoch"].max())
    assert last == best + cfg.patience < cfg.epochs  # stopped early, patience epochs after the best
    assert history["stopped_early"].tolist() == [0] * (last - 1) + [1]
    assert history["best_epoch"].iloc[-1] == best
    assert result.final["best_epoch"] == best and result.final["stopped_early"] == 1
    assert result.final["epochs_trained"] == last
    saved = json.loads(result.paths.test_metrics.read_text())
    assert saved["best_epoch"] == best and saved["stopped_early"] == 1
    assert result.paths.checkpoint(last).is_file()  # the stop epoch's checkpoint: the run counts as finished
    assert training.is_finished(cfg)
    probs = training.predict_probs(result.model, result.experiment, "test")  # the best epoch's weights
    assert training.evaluate_probs(result.experiment, probs, "test")["rmse"] == pytest.approx(saved["rmse"])


def test_a_resumed_run_keeps_its_best_value_and_patience_count(tmp_path):
    whole = training.train(_early_stopping_cfg(tmp_path / "a"))
    best = int(whole.final["best_epoch"])
    # stop the same run one epoch after its best (patience not yet spent), then let train_or_load resume it
    cut = _early_stopping_cfg(tmp_path / "b", epochs=best + 1)
    part = training.train(cut)
    assert part.final["stopped_early"] == 0
    resumed = training.train_or_load(cut.replace(epochs=8))
    assert resumed.history["epoch"].tolist() == whole.history["epoch"].tolist()
    np.testing.assert_allclose(resumed.history["val_loss"], whole.history["val_loss"], rtol=1e-5)
    assert resumed.final["best_epoch"] == best and resumed.final["stopped_early"] == 1


def test_search_runs_do_not_score_test(tmp_path):
    cfg = tiny_config(tmp_path, protocol="clean", epochs=1, synthetic_ratings=640, test_ratio=0.3)
    result = training.train_or_load(cfg, score_test=False)
    assert not result.paths.test_metrics.is_file() and "rmse" not in result.final
    again = training.train_or_load(cfg)  # scored on test once, when first asked for
    assert result.paths.test_metrics.is_file() and again.final["best_epoch"] == 1 and "rmse" in again.final


def test_patience_needs_the_clean_protocol_and_a_known_metric(tmp_path):
    with pytest.raises(ConfigError, match="patience > 0 needs protocol 'clean'"):
        tiny_config(tmp_path, patience=2)
    with pytest.raises(ConfigError, match="patience must be >= 0"):
        tiny_config(tmp_path, protocol="clean", patience=-1)
    with pytest.raises(ConfigError, match="selection_metric must be one of val_loss, rmse, mae, ndcg@3"):
        tiny_config(tmp_path, protocol="clean", selection_metric="ndcg@10")


def test_other_dropout_rates_get_their_own_run_folder(tmp_path):
    cfg = tiny_config(tmp_path, use_dropout=1)
    other = cfg.replace(dropout=[0.1] * 9)
    assert training.model_name(cfg, 10).endswith("_do")
    assert training.model_name(other, 10) != training.model_name(cfg, 10)
    with pytest.raises(ConfigError, match="config.json"):
        training.parse_model_name(training.model_name(other, 10))
