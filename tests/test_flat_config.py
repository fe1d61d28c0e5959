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
the same effects; params/full.yaml's ``continue_from`` changed its fingerprint alone (not a study key). Then the
pruning rules and successive halving's reduction factor (decisions 34 and 35) changed every study's key, and
``continue_from`` left params/full.yaml again (decisions 36). Its ``start_from`` changed its ARERec studies' keys
(decisions 37), and its ``choose_within`` its fingerprint alone (decisions 38: which trial is chosen, not the trials),
as did its ``journals`` (decisions 39: where the journals are kept). Item KNN's shrinkage became a log range from 1
to 100,000 (decisions 43: full's study chose 2970 of its linear range's 3000), which changed every tier's item KNN
study key and fingerprint, and nothing else. Biased MF's epochs became a log range from 1 to 1,000, and full's study
of it starts from one more configuration (decisions 43: its SGD is best near 25 epochs, and the linear range's
study sat on its edge), which changed every tier's biased MF study key and fingerprint, and nothing else.
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
    "base": "59d5bdef30af51efc25939e389db7ea1efe706cc8f8e99a146f5cbcd8f75807f",
    "full": "a13d574a74eba07e0714ec47da8c24489cbea4c9173759809c7eec234793ad0f",
    "ci": "96f5c38d5f67a55a1c6e1d3001940de379f72d36a7bd81dc0a49e116f487ee43",
    "ml-1m": "df62e0aa1b8602dc23a292f1c783470684fcf4003038fd936590b046554ac8f6",
}
STUDY_KEYS = {
    "base": {"arerec": "8473975b211f", "arerec_attention_off": "d3e1733d876c", "user_item_bias": "89bc9192f32e",
             "biased_mf": "91d55dd1ebc1", "item_knn": "07f60f9a3fcc", "user_knn": "07f53918ded0"},
    "ci": {"arerec": "373433b5dcdc", "arerec_attention_off": "8f096e3fcf89", "user_item_bias": "e41d460e66a4",
             "biased_mf": "e6e6b68346db", "item_knn": "757a18cef55a", "user_knn": "616cedbab9d8"},
    "ml-1m": {"arerec": "bdb463774fb7", "arerec_attention_off": "9247cd22a36d", "user_item_bias": "3629685a968f",
             "biased_mf": "0e3f8cb2b3bb", "item_knn": "af5ef16d79fe", "user_knn": "39da03d7be8f"},
}
# a larger budget alone would continue the same studies; full's are given configurations to try first (start_from)
STUDY_KEYS["full"] = {"arerec": "5d667d031ce0", "arerec_attention_off": "6b4d7658ae6c", "user_item_bias": "4dde0aef8419",
                      "biased_mf": "0a7d5f666947", "item_knn": "76819af7bc87", "user_knn": "f45d0b58afd2"}
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
