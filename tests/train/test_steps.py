"""arerec.train.steps: the epoch loop's named steps, Keras callbacks called in order with each epoch's one row."""

from __future__ import annotations

import keras
import pytest
from conftest import tiny_config

from arerec.train import loop, steps


def test_the_per_epoch_steps_are_keras_callbacks_in_the_loops_order(tmp_path):
    from arerec.data.inputs import load_experiment
    from arerec.train.build import build
    from arerec.train.runs import experiment_paths

    exp = load_experiment(tiny_config(tmp_path, protocol="clean", patience=1))
    model, optimizer = build(exp)
    state = steps.RunState(exp.cfg, exp, experiment_paths(exp), model, optimizer)

    class Told:
        reports_per_epoch = 2

        def report(self, step, value, *, final=False):
            pass

    made = steps.loop_steps(state, Told())
    assert [type(s).__name__ for s in made] == ["RunFolder", "EarlyStopping", "ResultsLog", "CheckpointPolicy",
                                                "EpochLog", "PruningReport"]
    assert all(isinstance(s, keras.callbacks.Callback) and s.model is model for s in made)
    assert [type(s).__name__ for s in steps.loop_steps(state, None)][-1] == "EpochLog"  # no search, no report
    assert made[-1].report_steps(10) == [5] and made[-1].report_steps(1) == []  # the epoch's end is told from its row


@pytest.mark.parametrize("protocol", ["reference", "clean"])
def test_the_loop_calls_each_step_with_the_epochs_row(tmp_path, monkeypatch, protocol):
    """Every hook in order, and on_epoch_end gets the very row the results CSV is made of, the choice of epoch in
    it (clean protocol); the run stops where early stopping says so."""
    calls: list = []

    class Spy(steps.Step):
        def on_train_begin(self, logs=None):
            calls.append("train_begin")

        def on_epoch_begin(self, epoch, logs=None):
            calls.append(("epoch_begin", epoch))

        def on_epoch_end(self, epoch, logs=None):
            calls.append(("epoch_end", epoch, logs is self.state.rows[-1], logs.get("best_epoch")))

        def on_train_end(self, logs=None):
            calls.append("train_end")

    made = steps.loop_steps
    monkeypatch.setattr(loop, "loop_steps", lambda state, monitor: [*made(state, monitor), Spy(state)])
    changes = {"protocol": protocol, "epochs": 3} | ({"patience": 1} if protocol == "clean" else {})
    result = loop.train(tiny_config(tmp_path, **changes))
    epochs = result.history["epoch"].tolist()
    assert calls[0] == "train_begin" and calls[-1] == "train_end"
    assert [c[1] for c in calls if c[0] == "epoch_begin"] == epochs
    ends = [c for c in calls if c[0] == "epoch_end"]
    assert all(same for _, _, same, _ in ends)
    if protocol == "clean":  # the steps' choice of epoch is the results CSV's, and early stopping ends the loop
        assert [best for *_, best in ends] == result.history["best_epoch"].tolist()
        assert result.final["stopped_early"] == int(len(epochs) < 3)
    else:
        assert epochs == [1, 2, 3] and all(best is None for *_, best in ends)
