"""arerec.report.parameters: the layered params files, their merge, and every key and value checked."""

from __future__ import annotations

import pytest
from conftest import REPO

from arerec.config import Config, load_layers, read_yaml_mapping
from arerec.errors import ConfigError
from arerec.report import parameters
from arerec.report.parameters import resolve


def test_layers_are_base_then_ablation_then_the_experiment():
    files = parameters.params_files("ci", REPO)
    assert [f.name for f in files] == ["base.yaml", "ablation.yaml", "ci.yaml"]
    assert [f.name for f in parameters.params_files("base", REPO)] == ["base.yaml", "ablation.yaml"]
    # a YAML path is that one file; a name after the tier is its file alone
    assert parameters.params_files(str(REPO / "params" / "ml-1m.yaml"), REPO) == [REPO / "params" / "ml-1m.yaml"]
    assert [f.name for f in parameters.params_files("ci,cluster", REPO)] == ["base.yaml", "ablation.yaml", "ci.yaml",
                                                                             "cluster.yaml"]
    assert parameters.params_files(["ci", "cluster"], REPO) == parameters.params_files("ci,cluster", REPO)


def test_a_missing_params_file_lists_the_available_ones():
    with pytest.raises(ConfigError, match=r"params file not found: .*nope.yaml\. Available under .*: ablation, base, ci"):
        parameters.params_files("nope", REPO)


@pytest.mark.parametrize("name", ["base", "ci", "ml-1m", "full"])
def test_every_params_file_resolves(name):
    params = resolve(parameters.merge_parameters(parameters.params_files(name, REPO)))
    assert params.config.training.lr > 0 and params.search.n_trials >= 1 and "arerec" in params.search.spaces
    assert params.report.seeds and params.report.baselines  # the tuned headline: its seeds and tuned baselines
    assert parameters.load(name, REPO) == params  # the one loader gives the same
    report, search = params.report, params.search
    if name == "full":  # the study: 5 seeds, every baseline, and a search of its own
        assert len(report.seeds) == 5 and report.baselines and report.committed_optimum == ""
        assert search.n_trials >= 35
    if name == "base":  # the quick look: one seed, judged over users, at the committed study's optimum
        assert report.seeds == [0] and report.committed_optimum == "params/optimum/{dataset}.yaml"


@pytest.mark.parametrize("name", ["base", "ci", "ml-1m", "full"])
def test_no_tier_compiles_dense_adam_with_xla(name):
    """Dense Adam's XLA-compiled step grew the heap from 3 GB to 22 GB in its second ML-100K epoch (decisions 40):
    every dense row of a tier, and the package's default faithful row, trains without XLA."""
    from arerec.sweeps.headline import DEFAULT_VARIANTS

    params = parameters.load(name, REPO)
    rows = {**params.report.headline_variants, **{f"default {k}": v for k, v in DEFAULT_VARIANTS.items()}}
    for label, overrides in rows.items():
        run = params.config.replace(**overrides)
        if run.training.update_mode == "dense":
            assert not run.training.jit_compile, label


def test_base_yaml_holds_the_papers_hyper_parameters():
    params = parameters.load("base", REPO)
    cfg, extras = params.config, params.extras
    assert (cfg.data.dataset, cfg.data.min_seq, cfg.data.test_ratio, cfg.data.batch_size, cfg.training.lr) == ("ml-100k", 20, 0.2, 128, 0.0001)
    assert (cfg.model.emb_size, cfg.model.region_size, cfg.model.use_attention, cfg.model.num_head, cfg.model.max_seq) == (64, 7, 1, 2, 0)
    ml1m = parameters.load("ml-1m", REPO).config
    assert (ml1m.data.dataset, ml1m.model.max_seq) == ("ml-1m", 327)
    assert extras["ablation_grid"][0] == {"use_attention": 0}
    assert cfg.data.sort_kind == "stable" and cfg.data.derived_data_version.endswith("_stable")  # the same split on any CPU


# Files that are layers only, and why each fails alone: ml-1m's row-wise second moments need base's lazy updates;
# full's margins and start points name models and parameters of ablation.yaml's spaces, which the default space
# (ARERec's lr only) does not have.
LAYERS_ONLY = {"ml-1m": "second_moment 'rowwise' needs update_mode 'lazy'",
               "full": r"choose_within\.arerec_attention_off: only a searched ARERec model's choice can weigh its "
                       r"size; searched ARERec models: arerec$"}  # its other settings need ablation.yaml's spaces too


def test_every_params_file_loads_alone_and_as_a_tier():
    """Every key users write in params/*.yaml is read, on its own (`--params params/X.yaml`) and as a tier over base
    and ablation (`--params X`)."""
    paths = sorted((REPO / "params").glob("*.yaml"))
    assert {p.stem for p in paths} >= {"base", "ablation", "ci", "full", "ml-1m", "cluster"}
    for path in paths:
        tier = parameters.load(path.stem, REPO).to_dict()
        written = read_yaml_mapping(path)
        for key, value in written.items():  # every key read, the last layer winning (a mapping deeply: its keys win)
            if key != "validation_search" and isinstance(value, dict):  # a null removes its key (merge_layers)
                kept = {k: v for k, v in value.items() if v is not None}
                assert tier[key].items() >= kept.items() and not set(tier[key]) & {k for k in value if value[k] is None}, key
            elif key != "validation_search":
                assert tier[key] == value, key
        if path.stem in LAYERS_ONLY:
            with pytest.raises(ConfigError, match=LAYERS_ONLY[path.stem]):
                parameters.load(str(path), REPO)
        else:
            assert parameters.load(str(path), REPO).to_dict().items() >= {
                k: v for k, v in written.items() if k not in ("validation_search", "hrcutoff")}.items()
    with pytest.raises(ConfigError, match=r"unknown key\(s\) in .*ci.yaml: .*'seeds' \(did you mean 'seed'\?\)"):
        load_layers(Config, [REPO / "params" / "ci.yaml"])  # a run's configuration alone has no notebook settings


def test_later_layers_and_overrides_win(tmp_path):
    (tmp_path / "a.yaml").write_text("epochs: 1\nlr: 0.1\n")
    (tmp_path / "b.yaml").write_text("epochs: 2\n")
    merged = parameters.merge_parameters([tmp_path / "a.yaml", tmp_path / "b.yaml"], {"lr": 0.5})
    assert merged == {"epochs": 2, "lr": 0.5}


def test_an_unknown_key_in_a_file_or_override_names_the_valid_keys(tmp_path):
    (tmp_path / "bad.yaml").write_text("epochs: 1\nregion_sise: 3\n")
    with pytest.raises(ConfigError) as error:
        parameters.merge_parameters([tmp_path / "bad.yaml"])
    assert "bad.yaml: 'region_sise' (did you mean 'region_size'?)" in str(error.value)
    assert "Valid keys:" in str(error.value) and "attention_rows" in str(error.value)
    with pytest.raises(ConfigError, match="the overrides: 'bogus'"):
        parameters.merge_parameters([], {"bogus": 1})


def test_parse_set_reads_values_as_yaml():
    assert parameters.parse_set(["epochs=3", "lr=0.001", "topk=[3, 5]", "dataset=ml-1m", "grid=[{a: 1}]"]) == {
        "epochs": 3, "lr": 0.001, "topk": [3, 5], "dataset": "ml-1m", "grid": [{"a": 1}]}
    with pytest.raises(ConfigError, match="key=value"):
        parameters.parse_set(["epochs"])


@pytest.mark.parametrize(
    "values, fragment",
    [
        ({"experiment": "a/b"}, "experiment must be a folder name"),
        ({"ablation_seeds": []}, "ablation_seeds must be a non-empty list"),
        ({"validation_search": {"n_trials": 0}}, "validation_search.n_trials must be >= 1, received: 0"),
        ({"validation_search": {"sampler": "cmaes"}}, "validation_search.sampler must be one of tpe, random"),
        ({"validation_search": {"pruner": "asha"}}, "validation_search.pruner must be one of median, "),
        ({"validation_search": {"spaces": {"arerec": {"lr": {"low": 0.1, "high": 0.01}}}}}, "`low <= high` must hold"),
        ({"validation_search": {"spaces": {"arerec": {"learning_rate": {"low": 0.1, "high": 1}}}}},
         "unknown parameter(s) ['learning_rate']"),
        ({"validation_search": {"spaces": {"biased_mf": {"n_factors": {"choices": []}}}}}, "an empty range"),
        ({"validation_search": {"spaces": {"arerec": {"lr": {"low": 0.0, "high": 0.1, "log": True}}}}},
         "`low > 0` must hold for `log=True`"),
        ({"validation_search": {"patience": -1}}, "validation_search.patience must be >= 1, received: -1"),
        ({"validation_search": {"max_epochs": 0}}, "validation_search.max_epochs must be >= 1, received: 0"),
        ({"validation_search": {"selection_metric": "auc"}},
         "validation_search.selection_metric must be one of val_loss, rmse, mae"),
        ({"validation_search": {"budget": 3}}, "unknown validation_search setting(s) ['budget']; valid: n_trials"),
        ({"validation_search": {"pruner": "asha"}},
         "pruner must be one of median, successive_halving, hyperband, none, received: 'asha'"),
        ({"validation_search": {"warmup_epochs": -2}}, "validation_search.warmup_epochs must be >= 0, received: -2"),
        ({"validation_search": {"warmup_epochs": 9, "max_epochs": 8}}, "warmup_epochs must be at most max_epochs (8)"),
        ({"collapse_share": 0}, "collapse_share must be a share in (0, 1]"),
        ({"collapse_share": 1.2}, "collapse_share must be a share in (0, 1]"),
        ({"workers": 0}, "workers must be >= 1, received: 0"),
        ({"baselines": ["item_mean", "nope"]}, "baselines must name baselines: unknown ['nope']"),
        ({"seeds": [0, 0]}, "seeds must be a non-empty list of distinct integers >= 0, received: [0, 0]"),
        ({"protocols": ["leaky"]}, "protocols[0] must be one of reference, clean, received: 'leaky'"),
        ({"ablation_grid": [{"num_head": 3}]}, "ablation_grid entry 0 {'num_head': 3}: emb_size must be divisible"),
        ({"ablation_grid": [{"num_heads": 1}]}, "unknown key(s) in replace(): 'num_heads'"),
        ({"ablation_grid": []}, "ablation_grid must not be empty, received: []"),
        ({"emb_size": 10, "num_head": 3}, "emb_size must be divisible by num_head"),
    ],
)
def test_resolve_checks_every_value(values, fragment):
    with pytest.raises(ConfigError) as error:
        parameters.resolve(values)
    assert fragment in str(error.value)


def test_a_partial_nested_layer_keeps_the_layers_below_it(tmp_path):
    (tmp_path / "partial.yaml").write_text("validation_search:\n  n_trials: 7\n  spaces:\n    arerec:\n"
                                          "      emb_size: {choices: [16, 32]}\n")
    files = [*parameters.params_files("base", REPO), tmp_path / "partial.yaml"]
    below = parameters.merge_parameters(parameters.params_files("base", REPO))["validation_search"]
    search = resolve(parameters.merge_parameters(files)).search.to_dict()
    assert search["n_trials"] == 7 and search["spaces"]["arerec"]["emb_size"] == {"choices": [16, 32]}
    # every other parameter of arerec's space, every other model's space and every other setting are kept
    assert {k: v for k, v in search["spaces"]["arerec"].items() if k != "emb_size"} == {
        k: v for k, v in below["spaces"]["arerec"].items() if k != "emb_size"}
    assert search["spaces"]["biased_mf"] == below["spaces"]["biased_mf"] and len(search["spaces"]) == 6
    assert (search["pruner"], search["max_epochs"]) == (below["pruner"], below["max_epochs"])
    # papermill merges its -f files shallowly: the runner passes that key to it again, merged
    assert parameters.shallow_merge_differs(files, parameters.merge_parameters(files)) == ["validation_search"]
    assert parameters.shallow_merge_differs(parameters.params_files("ci", REPO),
                                            parameters.merge_parameters(parameters.params_files("ci", REPO))) == []


def test_bad_yaml_and_a_non_mapping_are_clear_errors(tmp_path):
    (tmp_path / "bad.yaml").write_text("epochs: [1\n")
    (tmp_path / "list.yaml").write_text("- epochs\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        parameters.merge_parameters([tmp_path / "bad.yaml"])
    with pytest.raises(ConfigError, match="list.yaml: expected a mapping of key: value, received list"):
        load_layers(Config, [tmp_path / "list.yaml"])
