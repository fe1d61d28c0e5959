"""The flat form of the configuration, pinned: run folders, ``config.json``, study keys and the search's fingerprint
are found again only if it stays byte for byte what it was for the same settings.

A study that runs for hours today is continued, and its runs are loaded, by a later version of the kit only when
``json.dumps(cfg.replace(seed=0).to_dict(), sort_keys=True, default=str)`` (the study key's and the fingerprint's
``base``), the run names and the search settings' form are unchanged. The digests below were computed with the
code before the configuration was split into groups: the configurations' at ae005b7, the search's fingerprints and
study keys at cf63a79 (main, whose params/ablation.yaml moved to successive halving after ae005b7; the
configurations' digests were the same there). A change to any of them is a change to the keys of every run and
study on disk, and must not happen by accident. One was made on purpose since: the ARERec spaces' embedding and
batch sizes became ranges of powers of two (8-256, 32-1024) and the region size reached 21 (issue 29: the study's
optimum sat on the old ranges' upper edges), which changed the two ARERec studies' keys and the fingerprints of the
tiers that search them; the baselines' studies and every configuration's digest are unchanged. Then, for the same
reason, the dropout rates' step became 1/16 (to 0.9375) and the batch sizes reached 2048 (docs/decisions.md 32), with
the same effects; params/full.yaml's ``continue_from`` changed its fingerprint alone (not a study key).
"""

from __future__ import annotations

import hashlib
import json

import pytest
from conftest import REPO

from arerec.config import Config
from arerec.report.parameters import load
from arerec.sweeps.spaces import arerec_overrides
from arerec.sweeps.tuning import fingerprint, study_key
from arerec.train.runs import model_name


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def flat_json(cfg: Config) -> str:
    return json.dumps(cfg.replace(seed=0).to_dict(), sort_keys=True, default=str)


def tier(name: str):
    """A tier's configuration and search settings, merged as ``python -m arerec report params --params NAME``."""
    params = load(name, REPO)
    return params.config, params.search


CONFIG_SHA256 = {
    "base": "06a1d77cf9daa71869c67dcdee384209215a1c1ca16a6f54fe3e485a974f12e2",
    "full": "06a1d77cf9daa71869c67dcdee384209215a1c1ca16a6f54fe3e485a974f12e2",
    "ci": "f5f7bc3b3a324c8beb1e41f09cbc60558305d7c4dea6650d299e81e4d0a819e0",
    "ml-1m": "b90188c8539b1f2a36d367f400d289c5a092d87b0f4f073238d2710c5b25e873",
}
FINGERPRINT_SHA256 = {
    "base": "55b66a93745de9703c3f410a64ef063fcf04d1d07d3c4a7d511a962d7890f0f9",
    "full": "07c23df55f38bcd1c107166c7e3e6f323da0aa01c08b610548f4df74aba52c17",
    "ci": "a4307703f6dfe16a053027a808c44c0bb80ecf83f19bc6df673b5b2063d5a30c",
    "ml-1m": "2fa2e3b55b0e46ff5849601eda59cf4540e9e0df0f82490a2ccd5b0c3e5d9f0d",
}
STUDY_KEYS = {
    "base": {"arerec": "cea0923f1e38", "arerec_attention_off": "a1de41332e08", "user_item_bias": "8f533f95ae7a",
             "biased_mf": "c124c9ffefb4", "item_knn": "f7e89a6c37c3", "user_knn": "a4ed6014330a"},
    "ci": {"arerec": "e4d80c990f5a", "arerec_attention_off": "bcfcab5970cb", "user_item_bias": "12f841a63313",
             "biased_mf": "8567b0deae36", "item_knn": "2151239e7ea1", "user_knn": "6187b382e6c7"},
    "ml-1m": {"arerec": "ec315cbc8257", "arerec_attention_off": "b37fbece2e5f", "user_item_bias": "9baa43f4396a",
             "biased_mf": "4929a5ae8719", "item_knn": "108271dc2209", "user_knn": "088539ecd821"},
}
STUDY_KEYS["full"] = STUDY_KEYS["base"]  # a larger budget continues the same studies
RUN_NAMES = {
    "base": "ml-100k_8020_bs128_lr0.0001_emb64_reg7_ms101_opadam_h2_lazy_rw",
    "ci": "synthetic_8020_bs32_lr0.005_emb16_reg3_ms101_opadam_h2_lazy_rw",
    "ml-1m": "ml-1m_8020_bs128_lr0.0001_emb64_reg7_ms101_opadam_h2_lazy_rw",
}


@pytest.mark.parametrize("name", sorted(CONFIG_SHA256))
def test_a_tiers_flat_configuration_and_search_keys_are_unchanged(name):
    cfg, tune = tier(name)
    assert sha256(flat_json(cfg)) == CONFIG_SHA256[name]
    assert sha256(fingerprint(cfg, tune)) == FINGERPRINT_SHA256[name]
    assert {model: study_key(cfg, tune, model) for model in tune.spaces} == STUDY_KEYS[name]
    if name in RUN_NAMES:
        assert model_name(cfg, 101) == RUN_NAMES[name]


def test_the_defaults_flat_form_is_unchanged():
    cfg = Config()
    flat = cfg.to_dict()
    assert len(flat) == 55
    assert sha256(flat_json(cfg)) == "481382da42e3b4efcd454b23d46fd3ddad501d8461f03756148e5596e372e028"
    # the former 0/1 switches are still written as the integers 0 and 1, the rates as lists in slot order
    assert [flat[k] for k in ("use_attention", "use_dropout", "use_regularizer", "jit_compile", "do_train", "do_eval",
                              "save_model", "load_model", "shuffle")] == [1, 0, 0, 0, 1, 1, 1, 0, 1]
    assert all(type(flat[k]) is int for k in ("use_attention", "use_dropout", "jit_compile", "shuffle"))
    assert flat["dropout"] == [0.0, 0.0, 0.0, 0.5, 0.5, 0.0, 0.0, 0.0, 0.0] and flat["regularizer"] == [0.001] * 5
    assert flat["topk"] == [3, 5, 7, 10] and flat["hrcutoff"] == 3.0 and type(flat["hrcutoff"]) is float
    assert model_name(cfg, 101) == "ml-100k_8020_bs128_lr0.0001_emb64_reg7_ms101_opadam_h2"


def test_a_searched_trials_configuration_and_name_are_unchanged():
    """A trial of ci's ARERec study with every kind of searched parameter: dropout groups, L2 on the weights and the
    tables, and the search's run control (clean protocol, early stopping, lean checkpoints)."""
    cfg, tune = tier("ci")
    chosen = {"lr": 0.00712, "emb_size": 8, "region_size": 3, "num_head": 1, "batch_size": 64, "dropout_emb": 0.125,
              "dropout_lcu": 0.25, "dropout_hidden": 0.0, "l2_weights": 3.2e-06, "table_l2": 0.000451}
    trial = tune.tuned_config(cfg, arerec_overrides(chosen, cfg))  # the search's seed comes with its run control
    assert sha256(flat_json(trial)) == "bc179c6b90802a3e48709df9049fd7f1b12d43b08505458a7d717dc4534e5fcc"
    assert model_name(trial, 101) == (
        "synthetic_8020_bs64_lr0.00712_emb8_reg3_ms101_opadam_h1_do-2de94a44_rz-e813ba6b_tl0.000451_lazy_rw_clean")
