import re

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


def test_field_types_come_from_the_annotations():
    assert Config(hrcutoff=3.5).hrcutoff == 3.5  # a float field defaulting to a whole number takes half stars
    assert Config(hrcutoff="4").hrcutoff == 4.0 and isinstance(Config().hrcutoff, float)
    assert Config(epochs=3.0).epochs == 3 and Config(epochs="3").epochs == 3
    for field, value, message in (("epochs", 3.5, "epochs must be int, received: 3.5"),
                                  ("batch_size", "3.5", "batch_size must be int, received: '3.5'"),
                                  ("topk", [3, 5.5], "topk must be a list, received: [3, 5.5]"),
                                  ("seed", True, "seed must be int, received: True"),
                                  ("hrcutoff", "high", "hrcutoff must be float, received: 'high'")):
        with pytest.raises(ConfigError, match=re.escape(message)):
            Config(**{field: value})


# One value each field refuses, and the words its error starts with: a field added without a check fails this test.
BAD_VALUES = {
    "table_l2": (-1e-4, "table_l2 must be >= 0"), "checkpoint_policy": ("some", "checkpoint_policy must be"),
    "data_path": ("", "data_path must not be empty"), "dataset": ("a/b", "dataset must be a name without '/'"),
    "min_seq": (0, "min_seq must be >= 1"), "test_ratio": (1.0, "test_ratio must be in (0, 1)"),
    "batch_size": (0, "batch_size must be >= 1"), "data_percent": (0, "data_percent must be in (0, 1]"),
    "data_version": ("../v", "data_version must be a name without '/'"), "protocol": ("x", "protocol must be"),
    "val_ratio": (0, "val_ratio must be in (0, 1)"), "sort_kind": ("heap", "sort_kind must be"),
    "split_seed": (-1, "split_seed must be in 0..4294967295"), "synthetic_users": (0, "synthetic_users must be >= 1"),
    "synthetic_items": (0, "synthetic_items must be >= 1"), "synthetic_ratings": (0, "synthetic_ratings must be >= 1"),
    "synthetic_seed": (2**32, "synthetic_seed must be in 0..4294967295"), "region_size": (0, "region_size must be >= 1"),
    "emb_size": (0, "emb_size must be >= 1"), "use_attention": (2, "use_attention must be 0 or 1"),
    "num_head": (0, "num_head must be >= 1"), "max_seq": ("long", "max_seq must be int"),
    "max_seq_mode": ("median", "max_seq_mode must be 'mean' or 'max'"), "region_mode": ("x", "region_mode must be"),
    "use_dropout": (2, "use_dropout must be 0 or 1"), "dropout": ([0.5], "dropout must have 9 values"),
    "use_regularizer": (2, "use_regularizer must be 0 or 1"), "regularizer": ([-1] * 5, "regularizer must be >= 0"),
    "model_path": (" ", "model_path must not be empty"), "epochs": (-1, "epochs must be >= 0"), "lr": (0, "lr must be > 0"),
    "optimizer": ("sgd", "optimizer must be"), "update_mode": ("x", "update_mode must be"),
    "second_moment": ("x", "second_moment must be"), "jit_compile": (2, "jit_compile must be 0 or 1"),
    "mmap_threshold_mb": (-1, "mmap_threshold_mb must be >= 0"), "distribution": ("x", "distribution must be one of"),
    "model_axis": (-1, "model_axis must be >= 0"), "job_addresses": ("host", "job_addresses must be the coordinator's"),
    "num_processes": (-1, "num_processes must be >= 0"), "process_id": (-2, "process_id must be in"),
    "save_checkpoints_epochs": (0, "save_checkpoints_epochs must be >= 1"), "do_train": (2, "do_train must be 0 or 1"),
    "do_eval": (2, "do_eval must be 0 or 1"), "save_model": (2, "save_model must be 0 or 1"),
    "load_model": (2, "load_model must be 0 or 1"), "model_name": ("a/b", "model_name must be a name without '/'"),
    "load_weight_path": ("/tmp/cp-0001.ckpt", "load_weight_path must be a name without '/'"),
    "patience": (-1, "patience must be >= 0"), "selection_metric": ("auc", "selection_metric must be one of"),
    "seed": (-1, "seed must be in 0..4294967295"), "shuffle": (2, "shuffle must be 0 or 1, received: 2"),
    "verbose": ("3", "verbose must be"), "topk": ([0], "topk must be a list of k >= 1"),
    "hrcutoff": (float("nan"), "hrcutoff must be a finite rating"),
}


def test_every_field_is_validated():
    assert sorted(BAD_VALUES) == sorted(Config.field_names())
    for field, (value, message) in BAD_VALUES.items():
        with pytest.raises(ConfigError, match="^" + re.escape(message)):
            Config(**{field: value})


def test_layers_merge_deeply_and_lists_replace_whole(tmp_path):
    from arerec.config import merge_layers, merge_yaml_layers

    base = {"a": 1, "nested": {"grid": {"lr": [1, 2], "reg": [{}]}, "rungs": [1, 2]}, "topk": [3, 5]}
    layer = {"nested": {"rungs": [1], "grid": {"lr": [3]}}, "topk": [10]}
    merged = merge_layers(base, layer)
    assert merged == {"a": 1, "nested": {"grid": {"lr": [3], "reg": [{}]}, "rungs": [1]}, "topk": [10]}
    assert base["nested"]["rungs"] == [1, 2]  # the inputs are left as they were
    merged["nested"]["grid"]["reg"].append(1)
    assert base["nested"]["grid"]["reg"] == [{}]  # and share nothing with the result
    assert merge_layers({"x": {"y": 1}}, {"x": 5}) == {"x": 5}  # a value that is not a mapping replaces one
    (tmp_path / "a.yaml").write_text("lr: 0.1\n")
    (tmp_path / "b.yaml").write_text("")  # an empty layer changes nothing
    assert merge_yaml_layers([tmp_path / "a.yaml", tmp_path / "b.yaml"]) == {"lr": 0.1}
