import re

import pytest

from arerec.config import Config, load_layers
from arerec.errors import ConfigError


def test_defaults_are_the_seed_readme_settings():
    cfg = Config()
    assert (cfg.data.batch_size, cfg.model.region_size, cfg.model.emb_size, cfg.model.num_head, cfg.training.lr) == (128, 7, 64, 2, 0.0001)
    assert cfg.evaluation.topk == [3, 5, 7, 10] and cfg.evaluation.hrcutoff == 3 and cfg.data.split_seed == 32


def test_data_version_matches_the_reference_naming():
    assert Config(dataset="ml-1m").data.derived_data_version == "ml-1m_8020_minseq20_bs128_dper1.0"
    assert Config(dataset="ml-100k", test_ratio=0.3, data_percent=0.5).data.derived_data_version == (
        "ml-100k_7030_minseq20_bs128_dper0.5"
    )


def test_a_stable_sort_names_its_own_data_version_and_quicksort_keeps_the_reference_name():
    assert Config().data.sort_kind == "quicksort"  # `python -m arerec prepare` gives the original's rows
    assert Config(dataset="ml-100k", sort_kind="quicksort").data.derived_data_version == "ml-100k_8020_minseq20_bs128_dper1.0"
    assert Config(dataset="ml-100k", protocol="clean").data.derived_data_version == "ml-100k_8020_minseq20_bs128_dper1.0_clean10"
    stable = Config(dataset="ml-100k", sort_kind="stable")
    assert stable.data.derived_data_version == "ml-100k_8020_minseq20_bs128_dper1.0_stable"
    assert stable.replace(protocol="clean").data.derived_data_version == "ml-100k_8020_minseq20_bs128_dper1.0_stable_clean10"
    assert stable.replace(data_version="mine").data.resolved_data_version == "mine"
    assert "stable" in Config.field_help()["sort_kind"] and "params/base.yaml" in Config.field_help()["sort_kind"]


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"test_ratio": 1.0}, "test_ratio must be in (0, 1), received: 1.0"),
        ({"test_ratio": 0}, "test_ratio must be in (0, 1)"),
        ({"data_percent": 1.5}, "data_percent must be in (0, 1], received: 1.5"),
        ({"emb_size": 10, "num_head": 3}, "emb_size must be divisible by num_head"),
        ({"region_size": 0}, "region_size must be >= 1, received: 0"),
        ({"max_seq": 0, "max_seq_mode": "median"}, "max_seq_mode must be one of mean, max, received: 'median'"),
        ({"dropout": [0.1] * 3}, "dropout must have 9 values"),
        ({"optimizer": "sgd"}, "optimizer must be one of adam, rmsprop"),
        ({"optimizer": "rmsprop", "update_mode": "lazy"}, "update_mode 'lazy' needs optimizer 'adam'"),
        ({"second_moment": "rowwise"}, "second_moment 'rowwise' needs update_mode 'lazy'"),
        ({"second_moment": "diagonal"}, "second_moment must be one of elementwise, rowwise"),
        ({"epochs": 1.5}, "epochs must be an integer, received: 1.5"),
        ({"mmap_threshold_mb": -1}, "mmap_threshold_mb must be >= 0, received: -1"),
        ({"dropout": [0.5] * 8 + [1.0]}, "dropout.user_rating_vector must be in [0, 1), received: 1.0"),
        ({"dropout": {"k_uj": 0.5}}, "dropout.k_uj is not a valid key"),
        ({"use_attention": "maybe"}, "use_attention must be true or false (1 or 0), received: 'maybe'"),
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
    cfg = load_layers(Config, [base, extra], {"seed": "3"})
    assert (cfg.data.dataset, cfg.training.epochs, cfg.training.lr, cfg.evaluation.topk, cfg.training.seed) == ("ml-100k", 4, 0.001, [3, 5], 3)


def test_yaml_unknown_key_names_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("regoin_size: 3\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: 'regoin_size' \(did you mean 'region_size'\?\)"):
        load_layers(Config, [bad])


def test_field_types_come_from_the_annotations():
    assert Config(hrcutoff=3.5).evaluation.hrcutoff == 3.5  # a float field defaulting to a whole number takes half stars
    assert Config(hrcutoff="4").evaluation.hrcutoff == 4.0 and isinstance(Config().evaluation.hrcutoff, float)
    assert Config(epochs=3.0).training.epochs == 3 and Config(epochs="3").training.epochs == 3
    for field, value, message in (("epochs", 3.5, "epochs must be an integer, received: 3.5"),
                                  ("batch_size", "3.5", "batch_size must be an integer, received: '3.5'"),
                                  ("topk", [3, 5.5], "topk[1] must be an integer, received: 5.5"),
                                  ("seed", True, "seed must be a number, not true or false, received: True"),
                                  ("hrcutoff", "high", "hrcutoff must be a number, received: 'high'")):
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
    "emb_size": (0, "emb_size must be >= 1"), "use_attention": (2, "use_attention must be true or false (1 or 0)"),
    "num_head": (0, "num_head must be >= 1"), "max_seq": ("long", "max_seq must be an integer"),
    "max_seq_mode": ("median", "max_seq_mode must be one of mean, max"), "region_mode": ("x", "region_mode must be"),
    "use_dropout": (2, "use_dropout must be true or false"), "dropout": ([0.5], "dropout must have 9 values"),
    "use_regularizer": (2, "use_regularizer must be true or false"), "regularizer": ([-1] * 5, "regularizer.q must be >= 0"),
    "model_path": (" ", "model_path must not be empty"), "epochs": (-1, "epochs must be >= 0"), "lr": (0, "lr must be > 0"),
    "optimizer": ("sgd", "optimizer must be"), "update_mode": ("x", "update_mode must be"),
    "second_moment": ("x", "second_moment must be"), "jit_compile": (2, "jit_compile must be true or false"),
    "mmap_threshold_mb": (-1, "mmap_threshold_mb must be >= 0"), "distribution": ("x", "distribution must be one of none, data, model"),
    "model_axis": (-1, "model_axis must be >= 0"), "job_addresses": ("host", "job_addresses must be the coordinator's"),
    "num_processes": (-1, "num_processes must be >= 0"), "process_id": (-2, "process_id must be >= -1"),
    "save_checkpoints_epochs": (0, "save_checkpoints_epochs must be >= 1"),
    "do_train": (2, "do_train must be true or false"), "do_eval": (2, "do_eval must be true or false"),
    "save_model": (2, "save_model must be true or false"), "load_model": (2, "load_model must be true or false"),
    "model_name": ("a/b", "model_name must be a name without '/'"),
    "load_weight_path": ("/tmp/cp-0001.ckpt", "load_weight_path must be a name without '/'"),
    "patience": (-1, "patience must be >= 0"), "selection_metric": ("auc", "selection_metric must be one of"),
    "seed": (-1, "seed must be in 0..4294967295"),
    "shuffle": (2, "shuffle must be true or false (1 or 0), received: 2"),
    "verbose": ("3", "verbose must be"), "topk": ([0], "topk must be a list of k >= 1"),
    "hrcutoff": (float("nan"), "hrcutoff must be a finite rating"),
}


def test_every_field_is_validated():
    assert sorted(BAD_VALUES) == sorted(Config.field_names()) and len(BAD_VALUES) == 55
    for field, (value, message) in BAD_VALUES.items():
        with pytest.raises(ConfigError, match="^" + re.escape(message)):
            Config(**{field: value})


def test_layers_merge_deeply_and_lists_replace_whole(tmp_path):
    from arerec.config import merge_files, merge_layers

    base = {"a": 1, "nested": {"grid": {"lr": [1, 2], "reg": [{}]}, "rungs": [1, 2]}, "topk": [3, 5]}
    layer = {"nested": {"rungs": [1], "grid": {"lr": [3]}}, "topk": [10]}
    merged = merge_layers(base, layer)
    assert merged == {"a": 1, "nested": {"grid": {"lr": [3], "reg": [{}]}, "rungs": [1]}, "topk": [10]}
    assert base["nested"]["rungs"] == [1, 2]  # the inputs are left as they were
    merged["nested"]["grid"]["reg"].append(1)
    assert base["nested"]["grid"]["reg"] == [{}]  # and share nothing with the result
    assert merge_layers({"x": {"y": 1}}, {"x": 5}) == {"x": 5}  # a value that is not a mapping replaces one
    # a search range of another kind replaces the whole range; one of the same kind merges key by key
    powers = {"spaces": {"arerec": {"emb_size": {"low": 8, "high": 256, "powers_of": 2}}}}
    assert merge_layers(powers, {"spaces": {"arerec": {"emb_size": {"choices": [8, 16]}}}}) == \
        {"spaces": {"arerec": {"emb_size": {"choices": [8, 16]}}}}
    assert merge_layers({"r": {"choices": [1]}}, {"r": {"low": 1, "high": 3}}) == {"r": {"low": 1, "high": 3}}
    assert merge_layers(powers, {"spaces": {"arerec": {"emb_size": {"high": 512}}}}) == \
        {"spaces": {"arerec": {"emb_size": {"low": 8, "high": 512, "powers_of": 2}}}}
    (tmp_path / "a.yaml").write_text("lr: 0.1\n")
    (tmp_path / "b.yaml").write_text("")  # an empty layer changes nothing
    assert merge_files(Config, [tmp_path / "a.yaml", tmp_path / "b.yaml"]) == {"lr": 0.1}
    # a params layer's nested key set to null removes it; a top-level null stays a value, and outside params
    # layers a null is a value everywhere
    rows = {"rows": {"dense": {"lr": 1}, "lazy": {"lr": 2}}, "x": 1}
    assert merge_layers(rows, {"rows": {"dense": None}, "x": None}, nulls_remove=True) == \
        {"rows": {"lazy": {"lr": 2}}, "x": None}
    assert merge_layers(rows, {"rows": {"dense": None}}) == {"rows": {"dense": None, "lazy": {"lr": 2}}, "x": 1}


def test_the_ml_1m_tier_leaves_out_the_dense_row_it_cannot_afford():
    from conftest import REPO

    from arerec.report.parameters import load

    rows = load("ml-1m", REPO).report.headline_variants
    assert list(rows) == ["ARERec (fast: lazy Adam)", "ARERec, attention off (item-only)"]


def test_the_groups_and_their_flat_keys():
    """Five groups; each flat key is one field of one group, and the flat form round-trips."""
    assert Config.FLAT == ("data", "model", "training", "evaluation", "devices")
    assert Config.summary() == {"data": 15, "model": 24, "training": 21, "evaluation": 2, "devices": 5}
    assert Config.group_keys("devices") == ["distribution", "model_axis", "job_addresses", "num_processes",
                                            "process_id"]
    cfg = Config(use_attention=0, dropout=[0.125] * 9, use_dropout=1, topk="3,5", verbose=2, jit_compile="1")
    assert cfg.model.use_attention is False and cfg.model.use_dropout is True and cfg.training.jit_compile is True
    assert cfg.model.dropout.k_iu == 0.125 and cfg.evaluation.topk == [3, 5] and cfg.training.verbose == "2"
    assert Config.from_dict(cfg.to_dict()) == cfg  # config.json's form reads back to the same configuration
    assert Config(model={"num_head": 4}).model.num_head == 4 and Config(training=cfg.training) == Config(
        **{k: v for k, v in cfg.to_dict().items() if k in Config.group_keys("training")})


def test_replace_changes_only_what_it_names():
    cfg = Config(dropout=[0.25] * 9)
    changed = cfg.replace(dropout={"k_ui": 0.0})  # a named slot; the others stay
    assert changed.model.dropout.as_list() == [0.25, 0.25, 0.25, 0.0] + [0.25] * 5
    assert cfg.model.dropout.k_ui == 0.25  # frozen: the original is left as it was
    with pytest.raises(Exception):  # noqa: B017 (pydantic's own error for an assignment to a frozen model)
        cfg.training.lr = 0.1  # type: ignore[misc]
    both = cfg.replace(protocol="clean", patience=2)  # a rule over two groups is checked once both changed
    assert (both.data.protocol, both.training.patience) == ("clean", 2)


def test_several_errors_are_named_at_once():
    with pytest.raises(ConfigError) as err:
        Config(min_seq=0, lr=-1, optimizer="sgd")
    assert str(err.value) == ("min_seq must be >= 1, received: 0; lr must be > 0, received: -1; "
                              "optimizer must be one of adam, rmsprop, received: 'sgd'")
