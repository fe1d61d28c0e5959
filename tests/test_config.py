import pytest

from arerec.config import Config, load_yaml_layers
from arerec.errors import ConfigError


def test_defaults_are_the_seed_readme_settings():
    cfg = Config()
    assert (cfg.batch_size, cfg.region_size, cfg.emb_size, cfg.num_head, cfg.lr) == (128, 7, 64, 2, 0.0001)
    assert cfg.topk == [3, 5, 7, 10] and cfg.hrcutoff == 3 and cfg.split_seed == 32


def test_data_version_matches_the_reference_naming():
    assert Config(dataset="ml-1m").derived_data_version == "ml-1m_8020_minseq20_bs128_dper1.0"
    assert Config(dataset="ml-100k", test_ratio=0.3, data_percent=0.5).derived_data_version == (
        "ml-100k_7030_minseq20_bs128_dper0.5"
    )


def test_a_stable_sort_names_its_own_data_version_and_quicksort_keeps_the_reference_name():
    assert Config().sort_kind == "quicksort"  # `python -m arerec prepare` gives the original's rows
    assert Config(dataset="ml-100k", sort_kind="quicksort").derived_data_version == "ml-100k_8020_minseq20_bs128_dper1.0"
    assert Config(dataset="ml-100k", protocol="clean").derived_data_version == "ml-100k_8020_minseq20_bs128_dper1.0_clean10"
    stable = Config(dataset="ml-100k", sort_kind="stable")
    assert stable.derived_data_version == "ml-100k_8020_minseq20_bs128_dper1.0_stable"
    assert stable.replace(protocol="clean").derived_data_version == "ml-100k_8020_minseq20_bs128_dper1.0_stable_clean10"
    assert stable.replace(data_version="mine").resolved_data_version == "mine"
    assert "stable" in Config.field_help()["sort_kind"] and "params/base.yaml" in Config.field_help()["sort_kind"]


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"test_ratio": 1.0}, "test_ratio must be in (0, 1), received: 1.0"),
        ({"test_ratio": 0}, "test_ratio must be in (0, 1)"),
        ({"data_percent": 1.5}, "data_percent must be in (0, 1], received: 1.5"),
        ({"emb_size": 10, "num_head": 3}, "emb_size must be divisible by num_head"),
        ({"region_size": 0}, "region_size must be >= 1, received: 0"),
        ({"max_seq": 0, "max_seq_mode": "median"}, "max_seq_mode must be 'mean' or 'max'"),
        ({"dropout": [0.1] * 3}, "dropout must have 9 values"),
        ({"optimizer": "sgd"}, "optimizer must be 'adam' or 'rmsprop'"),
        ({"optimizer": "rmsprop", "update_mode": "lazy"}, "update_mode 'lazy' needs optimizer 'adam'"),
        ({"second_moment": "rowwise"}, "second_moment 'rowwise' needs update_mode 'lazy'"),
        ({"second_moment": "diagonal"}, "second_moment must be 'elementwise' or 'rowwise'"),
        ({"epochs": 1.5}, "epochs must be int"),
        ({"mmap_threshold_mb": -1}, "mmap_threshold_mb must be >= 0 (0: off), received: -1"),
    ],
)
def test_impossible_parameters_name_the_parameter(changes, message):
    with pytest.raises(ConfigError) as err:
        Config(**changes)
    assert message in str(err.value)


def test_unknown_key_lists_valid_keys_and_suggests():
    with pytest.raises(ConfigError) as err:
        Config.from_dict({"num_heads": 2})
    text = str(err.value)
    assert "'num_heads' (did you mean 'num_head'?)" in text
    assert "Valid keys:" in text and "region_size" in text


def test_yaml_layers_later_wins_and_types_are_coerced(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text("dataset: ml-100k\nepochs: 2\ntopk: [3, 5]\n")
    extra = tmp_path / "x.yaml"
    extra.write_text("epochs: 4\nlr: 1e-3\n")
    cfg = load_yaml_layers([base, extra], {"seed": "3"})
    assert (cfg.dataset, cfg.epochs, cfg.lr, cfg.topk, cfg.seed) == ("ml-100k", 4, 0.001, [3, 5], 3)


def test_yaml_unknown_key_names_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("regoin_size: 3\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: 'regoin_size' \(did you mean 'region_size'\?\)"):
        load_yaml_layers([bad])
