"""arerec.sweeps.tuning: the grid, its checks, and successive halving on validation only."""

import json

import pytest
from conftest import tiny_config

from arerec.errors import ConfigError
from arerec.sweeps import tuning
from arerec.train import loop


def test_configurations_cross_field_axes_with_named_option_axes():
    grid = {"lr": [0.1, 0.2], "regularisation": [{}, {"use_dropout": 1, "seed": 3}]}
    assert tuning.configurations(grid) == [{"lr": 0.1}, {"lr": 0.1, "use_dropout": 1, "seed": 3},
                                           {"lr": 0.2}, {"lr": 0.2, "use_dropout": 1, "seed": 3}]
    assert tuning.label({"lr": 0.003, "regularizer": [1e-05, 0.0]}) == "lr=0.003, regularizer=[1e-05,0]"


def test_planned_runs_counts_every_round():
    values = {"grid": {"lr": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]}, "rungs": [1, 2, 3], "keep": 0.5, "max_epochs": 4}
    assert tuning.planned_runs(values) == 6 + 3 + 2  # ceil(6/2)=3, then ceil(3/2)=2 ... the last round trains 2


@pytest.mark.parametrize("values, fragment", [
    ({"grid": {"lr": [0.1]}, "rungs": [2], "max_epochs": 1}, "max_epochs must be an integer >= the last rung (2)"),
    ({"grid": {"lr": [0.1]}, "keep": 1.0}, "keep must be in (0, 1)"),
    ({"grid": {"lr": [0.1]}, "seed": -1}, "seed must be an integer >= 0"),
    ({"grid": {"use_attention": [2]}}, "use_attention must be 0 or 1"),
])
def test_impossible_settings_fail_before_any_training(tmp_path, values, fragment):
    with pytest.raises(ConfigError, match="validation_search") as error:
        tuning.check(tiny_config(tmp_path), values)
    assert fragment in str(error.value)
    assert not (tmp_path / "Model").exists()


def test_successive_halving_keeps_the_better_half_and_never_scores_test(tmp_path):
    base = tiny_config(tmp_path, synthetic_ratings=640, test_ratio=0.3)
    values = {"grid": {"lr": [0.003, 0.03, 0.3]}, "rungs": [1, 2], "keep": 0.5, "max_epochs": 3, "patience": 1}
    result = tuning.search(base, values)
    table = result.table
    assert len(table) == 3 and table["chosen"].sum() == 1
    first_round = table.set_index("config")
    assert result.rounds[0]["trained"] == 3 and result.rounds[0]["kept"] == 2 and result.rounds[1]["trained"] == 2
    kept = set(result.rounds[0]["kept_configs"])
    dropped = ({1, 2, 3} - kept).pop()
    # the dropped configuration scored worst on validation after round 1, and stopped there
    assert first_round.loc[dropped, "rounds"] == 1 and first_round.loc[dropped, "epochs"] == 1
    assert all(first_round.loc[c, "rounds"] == 2 for c in kept)
    winner = table.loc[table["chosen"], "config"].iloc[0]
    assert winner in kept
    assert first_round.loc[winner, "val_score"] == min(first_round.loc[c, "val_score"] for c in kept)
    assert json.loads(first_round.loc[winner, "overrides"]) == result.chosen
    # test was never read: no run of the search has test metrics
    assert not list((tmp_path / "Model").rglob("test_metrics.json"))
    # the winner's run goes on to its optimum from where the search left it (its checkpoint)
    tuned = result.chosen_config(base, tuning.check(base, values))
    assert tuned.protocol == "clean" and tuned.patience == 1 and tuned.epochs == 3
    run = loop.train_or_load(tuned)
    assert run.name == first_round.loc[winner, "run"]
    assert run.history["epoch"].tolist()[:2] == [1, 2] and "rmse" in run.final


def test_a_recorded_choice_is_reused_only_for_the_same_search(tmp_path):
    base = tiny_config(tmp_path, synthetic_ratings=640, test_ratio=0.3)
    values = {"grid": {"lr": [0.01, 0.1]}, "rungs": [1], "max_epochs": 1}
    tune = tuning.check(base, values)
    result = tuning.search(base, tune)
    record = tuning.choice_record(base, tune, result)
    assert record["config"]["protocol"] == "clean" and record["overrides"] == result.chosen
    fake = {**record, "overrides": {"lr": 0.5}}
    assert tuning.recorded_choice(base, values, fake) == {"lr": 0.5}  # same search: taken as recorded
    other = {**values, "grid": {"lr": [0.01, 0.1]}, "patience": 2}
    assert tuning.recorded_choice(base, other, fake) == result.chosen  # another search: searched (runs re-used)
