"""arerec.sweeps.spaces: ranges parsed and checked before any training, sampled values mapped to a model, edges."""

import pytest
from conftest import tiny_config

from arerec.config import DROPOUT_SLOTS
from arerec.errors import ConfigError
from arerec.sweeps import spaces


@pytest.mark.parametrize("model, spec, fragment", [
    ("arerec", {"lrr": {"low": 0.1, "high": 1.0}}, "unknown parameter(s) ['lrr']; valid for arerec: lr, emb_size"),
    ("biased_mf", {"k": {"low": 1, "high": 3}}, "valid for biased_mf: n_factors, n_epochs, lr_all"),
    ("arerec", {"lr": {"low": 0.1, "high": 0.01}}, "lr: `low <= high` must hold, but got (low=0.1, high=0.01)"),
    ("arerec", {"lr": {"low": 0.1, "high": 0.1}}, "low == high (0.1) is an empty range"),
    ("arerec", {"emb_size": {"choices": []}}, "choices must be a non-empty list (an empty range)"),
    ("arerec", {"lr": {"low": 0.0, "high": 0.1, "log": True}}, "`low > 0` must hold for `log=True`"),
    ("arerec", {"lr": {"low": 0.1, "high": 0.2, "log": True, "step": 0.1}}, "`step` is not supported when `log`"),
    ("arerec", {"region_size": {"low": 1, "high": 20, "step": 2}}, "step 2 does not divide 1 to 20"),
    ("arerec", {"emb_size": {"low": 8.5, "high": 16}}, "is an integer parameter: low and high must be integers"),
    ("arerec", {"lr": {"low": 0.1}}, "needs both low and high"),
    ("arerec", {"lr": {"low": 0.01, "high": 0.1, "scale": "log"}}, "unknown key(s) ['scale']"),
    ("cnn", {}, "unknown model 'cnn'; valid: arerec, arerec_attention_off, global_mean"),
    ("arerec", {"emb_size": {"low": 8, "high": 96, "powers_of": 2}}, "low and high must be powers of 2"),
    ("arerec", {"emb_size": {"low": 64, "high": 8, "powers_of": 2}}, "low must be below high"),
    ("arerec", {"emb_size": {"low": 8, "high": 64, "powers_of": 2, "log": True}}, "cannot be combined with log"),
    ("arerec", {"lr": {"low": 0.125, "high": 1.0, "powers_of": 2}}, "powers_of must be a whole number >= 2, for an "
                                                                    "integer parameter"),
])
def test_a_bad_space_names_the_problem_and_the_valid_names(model, spec, fragment):
    with pytest.raises(ConfigError) as error:
        spaces.parse_space(model, spec)
    assert fragment in str(error.value)


def test_a_corner_that_gives_an_impossible_model_fails_with_the_models_own_message(tmp_path):
    base = tiny_config(tmp_path)
    space = spaces.parse_space("arerec", {"emb_size": {"choices": [16, 18]}, "num_head": {"choices": [1, 4]}})
    with pytest.raises(ConfigError, match=r"corner \{'emb_size': 18, 'num_head': 4\} is impossible: emb_size must be "
                                          r"divisible by num_head"):
        spaces.check_space(space, base)
    knn = spaces.parse_space("item_knn", {"k": {"low": 0, "high": 5}})
    with pytest.raises(ConfigError, match="k must be an integer >= 1"):
        spaces.check_space(knn, base)


def test_sampled_values_map_to_config_slots(tmp_path):
    base = tiny_config(tmp_path)
    overrides = spaces.arerec_overrides({"lr": 0.0031415, "dropout_lcu": 0.5, "dropout_emb": 0.125,
                                         "l2_weights": 2.34567e-6, "emb_size": 32}, base)
    rates = dict(zip(DROPOUT_SLOTS, overrides["dropout"], strict=True))
    assert overrides["lr"] == 0.00314 and overrides["emb_size"] == 32  # 3 significant digits
    assert overrides["use_dropout"] == 1 and rates["k_ui"] == rates["k_iu"] == 0.5 and rates["item_emb"] == 0.125
    assert rates["neighbour_profile"] == 0.0  # a group not in the space is off
    assert overrides["use_regularizer"] == 1 and overrides["regularizer"] == [2.35e-6] * 5
    off = spaces.arerec_overrides({"dropout_lcu": 0.0, "l2_weights": 0.0}, base)
    assert off["use_dropout"] == 0 and off["use_regularizer"] == 0
    assert base.replace(**overrides).model.dropout.as_list() == overrides["dropout"]


def test_a_dropout_step_stays_on_its_grid_so_bit_dropout_draws_it_exactly(tmp_path):
    from arerec.model.layers import BitDropout

    base = tiny_config(tmp_path)
    for rate in (0.0625, 0.1875, 0.3125, 0.4375, 0.5625, 0.6875, 0.8125, 0.9375):  # 3 digits would move them
        overrides = spaces.arerec_overrides({"dropout_emb": rate, "dropout_lcu": rate}, base)
        assert set(overrides["dropout"]) == {0.0, rate}, rate
        assert BitDropout(rate).fallback is None  # drawn from bits, not one random float per element
    assert spaces.rounded(0.00638123) == 0.00638 and spaces.rounded(853.27) == 853.0  # other numbers: 3 digits
    assert BitDropout(0.188).fallback is not None  # what 0.1875 became before


def test_edges_are_the_outer_share_of_a_range_on_its_own_scale():
    lr = spaces.Dimension.parse("arerec", "lr", float, {"low": 1e-4, "high": 1e-2, "log": True})
    assert lr.edge(1.1e-4) == "low" and lr.edge(1e-3) is None and lr.edge(0.0095) == "high"
    assert lr.edge(1.3e-4) is None  # 5.7% of the way on the log scale
    emb = spaces.Dimension.parse("arerec", "emb_size", int, {"choices": [32, 16, 64]})
    assert emb.edge(16) == "low" and emb.edge(32) is None and emb.edge(64) == "high"
    space = spaces.Space("arerec", (lr, emb))
    assert space.edges({"lr": 1e-3, "emb_size": 64}) == {"emb_size": "high"}
    assert lr.describe() == "0.0001 to 0.01 (log scale)" and emb.describe() == "one of 32, 16, 64"


def test_a_natural_bound_is_named_and_not_an_edge():
    space = spaces.parse_space("arerec", {
        "dropout_lcu": {"low": 0.0, "high": 0.75, "step": 0.125}, "num_head": {"choices": [1, 2, 4]},
        "table_l2": {"low": 1e-9, "high": 0.1, "log": True}, "lr": {"low": 1e-5, "high": 0.03, "log": True},
        "region_size": {"low": 3, "high": 11, "step": 2}})
    chosen = {"dropout_lcu": 0.0, "num_head": 1, "table_l2": 1e-9, "lr": 1e-5, "region_size": 3}
    assert space.edges(chosen) == {"lr": "low", "region_size": "low"}  # 3 is not a natural bound: 1 is
    assert space.natural_edges(chosen) == {"dropout_lcu": "low: no dropout", "num_head": "low: one head",
                                           "table_l2": "low: effectively no L2"}
    high = {"dropout_lcu": 0.75, "num_head": 4, "table_l2": 0.1, "lr": 0.03, "region_size": 11}
    assert space.edges(high) == dict.fromkeys(high, "high") and space.natural_edges(high) == {}
    # an L2 range that stops above 1e-8 has a real low edge
    l2 = spaces.parse_space("arerec", {"l2_weights": {"low": 1e-6, "high": 1e-3, "log": True}})
    assert l2.edges({"l2_weights": 1e-6}) == {"l2_weights": "low"}


def test_a_widened_range_keeps_the_study_but_new_choices_do_not(tmp_path):
    from arerec.sweeps import tuning
    from arerec.sweeps.search_settings import SearchSettings

    base = tiny_config(tmp_path)
    values = {"spaces": {"arerec": {"lr": {"low": 1e-3, "high": 1e-2, "log": True}, "emb_size": {"choices": [8, 16]}}}}
    wider = {"spaces": {"arerec": {"lr": {"low": 1e-5, "high": 3e-2, "log": True}, "emb_size": {"choices": [8, 16]}}}}
    more = {"spaces": {"arerec": {"lr": {"low": 1e-3, "high": 1e-2, "log": True}, "emb_size": {"choices": [8, 16, 32]}}}}
    key = tuning.study_key(base, SearchSettings.checked(values), "arerec")
    assert tuning.study_key(base, SearchSettings.checked(wider), "arerec") == key
    assert tuning.study_key(base, SearchSettings.checked({**values, "n_trials": 50}), "arerec") == key
    assert tuning.study_key(base, SearchSettings.checked(more), "arerec") != key
    assert tuning.study_key(base, SearchSettings.checked({**values, "warmup_epochs": 1}), "arerec") != key


def test_a_range_of_powers_of_two_is_drawn_as_its_exponent_and_widens_within_its_study(tmp_path):
    optuna = spaces.quiet_optuna()
    from arerec.sweeps import tuning
    from arerec.sweeps.search_settings import SearchSettings

    space = spaces.parse_space("arerec", {"emb_size": {"low": 8, "high": 256, "powers_of": 2},
                                          "batch_size": {"low": 32, "high": 1024, "powers_of": 2}})
    emb = {d.name: d for d in space.dimensions}["emb_size"]
    assert emb.optuna_name == "log2_emb_size" and (emb.distribution.low, emb.distribution.high) == (3, 8)
    assert emb.describe() == "8 to 256 (powers of 2)" and emb.corners() == [8, 256]
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    drawn = []
    for _ in range(40):
        trial = study.ask()
        values = space.suggest(trial)
        assert values == space.values(trial.params)  # what the trial holds maps back to what it drew
        assert set(trial.params) == {"log2_emb_size", "log2_batch_size"}
        drawn.append(values["emb_size"])
        study.tell(trial, 1.0)
    assert set(drawn) <= {8, 16, 32, 64, 128, 256} and {8, 256} <= set(drawn)
    # only the first and the last power are edges
    assert space.edges({"emb_size": 256, "batch_size": 32}) == {"emb_size": "high", "batch_size": "low"}
    assert space.edges({"emb_size": 128, "batch_size": 64}) == {}
    # a wider range of powers continues the study (Optuna lets an int range's bounds change, not a categorical's)
    base = tiny_config(tmp_path)
    narrow = {"spaces": {"arerec": {"emb_size": {"low": 8, "high": 128, "powers_of": 2}}}}
    wide = {"spaces": {"arerec": {"emb_size": {"low": 8, "high": 512, "powers_of": 2}}}}
    key = tuning.study_key(base, SearchSettings.checked(narrow), "arerec")
    assert tuning.study_key(base, SearchSettings.checked(wide), "arerec") == key
    for spec in (narrow, wide):  # and Optuna takes the wider range's trials into the same study
        trial = study.ask()
        spaces.parse_space("arerec", spec["spaces"]["arerec"]).suggest(trial)
        study.tell(trial, 1.0)
    assert len(study.trials) == 42
