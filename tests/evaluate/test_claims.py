"""arerec.evaluate.claims: the collapse rule, the paired test over users on cases whose answer is known, Holm's
adjustment, and one family of verdicts."""

import math

import numpy as np
import pandas as pd
import pytest

from arerec.errors import ConfigError
from arerec.evaluate import claims


def test_a_user_test_where_a_beats_b_for_every_user():
    users = pd.Index(range(20), name="user")
    b = pd.Series(np.linspace(0.1, 0.9, 20), index=users)
    gaps = pd.Series(np.linspace(0.5, 1.5, 20), index=users)  # distinct: Wilcoxon's exact distribution applies
    test = claims.user_test(b + gaps, b, seed=3)
    # every one of the 20 differences is positive: the exact two-sided Wilcoxon p is 2 / 2**20
    assert test["n_users"] == 20 and test["p_value"] == pytest.approx(2 / 2**20)
    assert test["mean_diff"] == pytest.approx(1.0)
    assert 0.5 < test["ci_low"] < 1.0 < test["ci_high"] < 1.5
    # the same gap for every user: no spread, so the bootstrap interval is the point itself
    same = claims.user_test(b + 1.0, b)
    assert same["ci_low"] == pytest.approx(1.0) and same["ci_high"] == pytest.approx(1.0) and same["p_value"] < 1e-4


def test_a_user_test_pairs_users_and_drops_nan_and_zero_differences():
    a = pd.Series([1.0, 2.0, np.nan, 4.0, 5.0], index=[1, 2, 3, 4, 9])
    b = pd.Series([1.0, 2.0, 3.0, 4.0], index=[1, 2, 3, 4])
    test = claims.user_test(a, b)
    assert test["n_users"] == 3 and test["mean_diff"] == 0.0 and test["p_value"] == 1.0  # users 1, 2, 4: all equal


def test_a_user_test_of_noise_does_not_decide_and_its_bootstrap_is_seeded():
    rng = np.random.default_rng(0)
    a, b = (pd.Series(rng.normal(size=400)) for _ in range(2))
    one, two, other = (claims.user_test(a, b, seed=s) for s in (5, 5, 6))
    assert one == two and one["ci_low"] != other["ci_low"]
    assert one["ci_low"] < one["mean_diff"] < one["ci_high"] and one["ci_low"] < 0 < one["ci_high"]
    assert one["p_value"] > 0.05


def test_holm_steps_down_and_keeps_the_order():
    assert claims.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert claims.holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])
    adjusted = claims.holm([0.02, math.nan, 0.01])
    assert adjusted[0] == pytest.approx(0.02) and math.isnan(adjusted[1]) and adjusted[2] == pytest.approx(0.02)


def _shares(rows):
    return pd.DataFrame(rows, columns=["model", "seed", "majority_class", "majority_share"])


def test_a_model_collapses_when_one_class_takes_the_stated_share_on_a_seed():
    shares = _shares([("arerec", 0, 4.0, 0.80), ("arerec", 1, 4.0, 0.96), ("off", 0, 4.0, 0.94),
                      ("global_mean", 0, 4.0, 1.0), ("global_mode", 0, 4.0, 1.0)])
    fallen = claims.collapsed(shares, 0.95)
    assert list(fallen) == ["arerec"]  # the floors predict one class by construction
    assert fallen["arerec"].words() == "arerec predicts 4 for 96.0% of test rows (seed 1)"
    assert set(claims.collapsed(shares, 0.9)) == {"arerec", "off"}
    assert claims.class_shares(np.array([3.0, 4.0, 4.0, 3.0, 5.0])) == (3.0, 0.4)  # a tie goes to the lower class


@pytest.mark.parametrize("bad", [0, -0.1, 1.01, True, "0.9"])
def test_a_collapse_share_outside_zero_to_one_is_refused(bad):
    with pytest.raises(ConfigError, match=r"collapse_share must be a share in \(0, 1\]"):
        claims.check_threshold(bad)


def test_one_family_not_judged_when_a_side_collapsed_and_holm_over_the_rest():
    rng = np.random.default_rng(1)
    seeds, users = [0, 1, 2], np.arange(60)
    base = rng.uniform(0.3, 0.7, size=len(users))
    per_user, per_seed = [], []
    for model, shift in (("a", 0.10), ("b", 0.0), ("c", 0.0)):
        for seed in seeds:
            values = base + shift + rng.normal(0, 0.01, size=len(users))
            per_user.append(pd.DataFrame({"model": model, "seed": seed, "user": users, "ndcg@10": values}))
            per_seed.append({"model": model, "seed": seed, "ndcg@10": values.mean()})
    users_table, runs = pd.concat(per_user), pd.DataFrame(per_seed)
    shares = _shares([("a", s, 4.0, 0.5) for s in seeds] + [("b", s, 4.0, 0.6) for s in seeds]
                     + [("c", s, 4.0, 0.99) for s in seeds])
    family = [claims.Claim("a beats b", "a", "b", "ndcg@10"), claims.Claim("a beats c", "a", "c", "ndcg@10"),
              claims.Claim("b beats a", "b", "a", "ndcg@10"), claims.Claim("a beats d", "a", "d", "ndcg@10")]
    judged = claims.judge(family, runs, users_table, shares)
    assert [v["verdict"] for v in judged][0] == "supported"
    assert judged[1]["verdict"] == "not judged: c predicts 4 for 99.0% of test rows (seed 0)"
    assert judged[2]["verdict"] == "not supported" and judged[3]["verdict"] == "left out"
    # the family is the two judged claims: Holm multiplies the smaller p by 2
    tests = [judged[0]["user_test"], judged[2]["user_test"]]
    assert all(v["family"] == 2 for v in (judged[0], judged[2]))
    assert min(t["p_holm"] for t in tests) == pytest.approx(2 * min(t["p_value"] for t in tests))
    assert "p_holm" not in judged[1]["user_test"]


def test_the_family_note_counts_the_judged_claims_and_names_the_collapse_rule():
    judged = {"verdict": "supported", "user_test": {"p_holm": 0.01}}
    collapsed = {"verdict": "not judged: x predicts 4 for 99% of test rows (seed 0)", "user_test": {}}
    many = claims.family_note([judged, judged, collapsed], collapse_share=0.9)
    assert many.startswith("2 claims form one family") and "Holm's method over all 2" in many
    assert "1 claim is not judged: a side predicts one class for 90% of the test rows or more" in many
    one = claims.family_note([judged])
    assert one.startswith("1 claim is judged") and "over all" not in one
    none = claims.family_note([collapsed, collapsed])
    assert none.startswith("No claim is judged") and "0 claims" not in none
    assert "2 claims are not judged" in none and "95%" in none
