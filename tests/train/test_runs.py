"""arerec.train.runs: a run's name, as the reference's with our additions, parsed back."""

import pytest
from conftest import backend_tag, tiny_config

from arerec.config import Config
from arerec.errors import ConfigError
from arerec.train import runs


def test_model_name_matches_the_seed_readme():
    cfg = Config(dataset="ml-1m")
    assert runs.model_name(cfg, 327) == "ml-1m_8020_bs128_lr0.0001_emb64_reg7_ms327_opadam_h2" + backend_tag()
    assert runs.model_name(cfg.replace(use_attention=0, use_dropout=1, use_regularizer=1), 50) == (
        "ml-1m_8020_bs128_lr0.0001_emb64_reg7_ms50_opadam_do_rz" + backend_tag()
    )


def test_model_name_parses_back():
    values = runs.parse_model_name("ml-1m_8020_bs128_lr0.0001_emb64_reg7_ms327_opadam_h2")
    assert values["dataset"] == "ml-1m" and values["test_ratio"] == 0.2 and values["max_seq"] == 327
    assert values["num_head"] == 2 and values["use_attention"] == 1 and values["lr"] == 0.0001
    with pytest.raises(ConfigError, match="does not look like"):
        runs.parse_model_name("my-run")


def test_our_additions_keep_runs_apart_and_parse_back():
    """Runs that differ only in protocol, update mode, region mode or seed never share a folder."""
    cfg = Config(dataset="ml-100k", update_mode="lazy", protocol="clean", region_mode="window", seed=2)
    name = runs.model_name(cfg, 101)
    assert name == "ml-100k_8020_bs128_lr0.0001_emb64_reg7_ms101_opadam_h2_win_lazy_clean_s2" + backend_tag()
    rowwise = runs.model_name(cfg.replace(second_moment="rowwise"), 101)
    assert rowwise == "ml-100k_8020_bs128_lr0.0001_emb64_reg7_ms101_opadam_h2_win_lazy_rw_clean_s2" + backend_tag()
    assert runs.parse_model_name(rowwise)["second_moment"] == "rowwise"
    assert runs.model_name(cfg.replace(protocol="reference"), 101) != name
    values = runs.parse_model_name(name)
    assert (values["update_mode"], values["protocol"], values["region_mode"], values["seed"]) == (
        "lazy", "clean", "window", 2)


def test_other_dropout_rates_get_their_own_run_folder(tmp_path):
    cfg = tiny_config(tmp_path, use_dropout=1)
    other = cfg.replace(dropout=[0.1] * 9)
    assert runs.model_name(cfg, 10).endswith("_do" + backend_tag())
    assert runs.model_name(other, 10) != runs.model_name(cfg, 10)
    with pytest.raises(ConfigError, match="config.json"):
        runs.parse_model_name(runs.model_name(other, 10))
