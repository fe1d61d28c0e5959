"""arerec.sweeps.headline: the headline table over protocols and seeds, and the paragraph computed from it."""

import numpy as np
import pandas as pd
import pytest
from conftest import backend_tag, tiny_config

from arerec.sweeps import headline

FAITHFUL, FAST, OFF = "ARERec (faithful: dense Adam)", "ARERec (fast: lazy Adam)", "ARERec, attention off (item-only)"


def _runs() -> pd.DataFrame:
    rows = []
    for protocol, shift in (("reference", 0.0), ("clean", -0.1)):
        for seed, noise in enumerate((-0.01, 0.0, 0.01)):
            for model, ndcg, rmse, kind in ((FAITHFUL, 0.55, 1.05, "ARERec"), (FAST, 0.54, 1.06, "ARERec"),
                                            (OFF, 0.47, 1.15, "ARERec"), ("item_mean", 0.56, 1.00, "baseline")):
                wobble = noise if kind == "ARERec" else 0.0
                rows.append({"protocol": protocol, "model": model, "kind": kind, "seed": seed,
                             "hr@10": 0.6, "ndcg@10": ndcg + shift + wobble, "std_ndcg@10": 0.8,
                             "rmse": rmse - shift + wobble, "mae": 0.8})
    return pd.DataFrame(rows)


def test_summary_is_mean_and_t_interval_per_protocol_and_model():
    summary = headline.summarise(_runs(), 10)
    assert len(summary) == 8 and (summary["n"] == 3).all()
    row = summary[(summary["protocol"] == "reference") & (summary["model"] == FAITHFUL)].iloc[0]
    assert row["ndcg@10"] == pytest.approx(0.55)
    assert row["ndcg@10_ci"] == pytest.approx(4.302653 * 0.01 / np.sqrt(3), rel=1e-5)  # t(2) * s / sqrt(n)
    assert summary.loc[summary["model"] == "item_mean", "rmse_ci"].eq(0).all()  # deterministic baseline
    assert summary.loc[summary["model"] == "item_mean", "kind"].eq("baseline").all()


def test_wide_table_has_one_row_per_model_and_a_column_per_metric_and_protocol():
    table = headline.wide(headline.summarise(_runs(), 10), 10)
    assert table.index.tolist() == [FAITHFUL, FAST, OFF, "item_mean"]
    assert "NDCG@10 (reference)" in table.columns and "RMSE (clean)" in table.columns
    assert table.loc[FAITHFUL, "NDCG@10 (reference)"] == "0.550 ± 0.025"
    assert table.loc["item_mean", "RMSE (clean)"] == "1.100 ± 0.000"
    assert (table["seeds"] == 3).all()


def test_claims_are_computed_from_the_numbers():
    text = headline.claims(headline.summarise(_runs(), 10), 10, epochs=2)
    assert "mean over 3 or more seeds after 2 epochs" in text
    assert "Under the reference protocol, by RMSE, ARERec (faithful: dense Adam) (1.050) is worse than item_mean" \
           " (1.000); the 95% intervals do not overlap" in text
    assert f"switching attention off: {OFF} (0.470) is worse than {FAITHFUL} (0.550)" in text
    assert f"the fast mode: {FAST} (1.060) is worse than {FAITHFUL} (1.050); within the 95% intervals" in text
    assert "Under the clean protocol" in text and "0.550 under the reference protocol and 0.450 under the clean" in text
    assert "score exactly as the global mean" not in text


def test_runs_stuck_at_the_class_prior_are_counted():
    runs = _runs()
    prior = runs["model"] == "item_mean"
    runs.loc[prior, "model"], runs.loc[prior, "ndcg@10"] = "global_mean", 0.3  # the class prior's score
    stuck = (runs["protocol"] == "reference") & (runs["model"] == OFF) & (runs["seed"] < 2)
    runs.loc[stuck, "ndcg@10"] = 0.3
    assert headline.at_prior(runs, 10).sum() == 2
    text = headline.claims(headline.summarise(runs, 10), 10, epochs=2, runs=runs)
    assert "Under the reference protocol 2 of 9 ARERec runs score exactly as the global mean" in text


@pytest.mark.slow
def test_run_trains_every_variant_seed_and_protocol_and_scores_baselines(tmp_path):
    cfg = tiny_config(tmp_path, epochs=2, synthetic_ratings=640, test_ratio=0.3)
    variants = {"ARERec (fast: lazy Adam)": {"update_mode": "lazy"}}
    out = tmp_path / "runs.csv"
    runs = headline.run(cfg, [0, 1], ["reference", "clean"], variants, ["global_mean", "biased_mf"], out=out)
    assert len(runs) == 2 * (2 + 2 * 2)  # per protocol: 2 ARERec runs, 2 seeds x 2 baselines
    assert set(runs["protocol"]) == {"reference", "clean"}
    arerec = runs[runs["kind"] == "ARERec"]
    assert arerec["run"].str.endswith("_clean_s1" + backend_tag()).sum() == 1 and arerec["run"].nunique() == 4
    assert arerec.loc[arerec["protocol"] == "clean", "best_epoch"].between(1, 2).all()
    assert runs["rmse"].gt(0).all() and runs["ndcg@3"].between(0, 1).all()  # few test rows per user: k=3
    pd.testing.assert_frame_equal(pd.read_csv(out), runs, check_dtype=False)
    again = headline.run(cfg, [0, 1], ["reference", "clean"], variants, ["global_mean", "biased_mf"])
    pd.testing.assert_series_equal(again["rmse"], runs["rmse"])  # finished runs are loaded, not retrained


# --- the tuned headline: paired differences and verdicts ------------------------------------------------
def _tuned_runs(off_shift: float, baseline_rmse: float) -> pd.DataFrame:
    rows = []
    for seed, noise in enumerate((-0.01, 0.0, 0.012)):
        rows.append({"model": headline.TUNED, "kind": "ARERec", "seed": seed, "rmse": 1.00 + noise, "ndcg@10": 0.60,
                     "std_ndcg@10": 0.80 + noise})
        rows.append({"model": headline.TUNED_OFF, "kind": "ARERec", "seed": seed, "rmse": 1.00 + noise + off_shift,
                     "ndcg@10": 0.60, "std_ndcg@10": 0.80 + noise - 0.01})
        rows.append({"model": "item_mean", "kind": "baseline", "seed": seed, "rmse": baseline_rmse, "ndcg@10": 0.55,
                     "std_ndcg@10": 0.85})
        rows.append({"model": "biased_mf", "kind": "baseline", "seed": seed, "rmse": 0.95 + noise / 10, "ndcg@10": 0.58,
                     "std_ndcg@10": 0.81})
    return pd.DataFrame(rows)


BEST = {"rmse": "biased_mf", "ndcg@10": "biased_mf", "std_ndcg@10": "item_mean"}


def test_paired_differences_remove_what_the_seed_does_to_both():
    runs = _tuned_runs(off_shift=0.02, baseline_rmse=1.05)
    pair = headline.paired(runs, headline.TUNED_OFF, headline.TUNED, "rmse")
    assert pair["n"] == 3 and pair["diffs"] == pytest.approx([0.02, 0.02, 0.02])
    assert pair["mean_diff"] == pytest.approx(0.02) and pair["ci"] == pytest.approx(0.0, abs=1e-12)


def test_the_family_holds_every_claim_once():
    family = headline.claim_family(10, {"rmse": "biased_mf", "ndcg@10": "item_mean", "std_ndcg@10": "user_knn"},
                                   window=True)
    sides = [(c.a, c.b, c.metric) for c in family]
    assert len(sides) == len(set(sides))
    # the best baseline on faithful NDCG is the item mean: that comparison is kept once, under the best baseline
    assert [c.text for c in family if (c.b, c.metric) == ("item_mean", "ndcg@10")] == [
        "ARERec beats the best baseline (faithful NDCG@10)"]
    assert (headline.TUNED, "item_mode", "ndcg@10") in sides and (headline.TUNED, "global_mean", "rmse") in sides
    assert [(c.a, c.b, c.metric) for c in family if c.a == headline.WINDOW] == [
        (headline.WINDOW, headline.TUNED, "ndcg@10"), (headline.WINDOW, headline.TUNED, "rmse")]
    assert len(family) == 3 + 3 + 3 + 3 + 1 + 2 - 1
    assert not any(c.a == headline.WINDOW for c in headline.claim_family(10, {}, window=False))


def test_the_verdict_table_and_its_prose_show_both_tests():
    from arerec.evaluate import claims

    runs = _tuned_runs(off_shift=0.02, baseline_rmse=1.05)
    rng = np.random.default_rng(0)
    users = pd.concat([pd.DataFrame({"model": m, "seed": s, "user": range(30),
                                     "rmse": r + rng.normal(0, 0.01, 30)})
                       for m, r in ((headline.TUNED, 1.0), (headline.TUNED_OFF, 1.02), ("biased_mf", 0.95))
                       for s in range(3)])
    shares = pd.DataFrame({"model": [headline.TUNED, headline.TUNED_OFF, "biased_mf"], "seed": 0,
                           "majority_class": 4.0, "majority_share": [0.5, 0.5, 0.6]})
    family = [claims.Claim("Attention beats attention off (RMSE)", headline.TUNED, headline.TUNED_OFF, "rmse"),
              claims.Claim("ARERec beats the best baseline (RMSE)", headline.TUNED, "biased_mf", "rmse"),
              claims.Claim("ARERec beats nothing", headline.TUNED, None, "rmse")]
    verdicts = claims.judge(family, runs, users, shares)
    table = headline.verdict_table(verdicts)
    assert table["verdict"].tolist() == ["supported", "not supported", "left out"]
    assert table.loc[1, "per_seed"] == "+0.0410, +0.0500, +0.0608" and table.loc[1, "users"] == 30
    assert (table["p_holm"].iloc[:2] >= table["p_value"].iloc[:2]).all() and np.isnan(table.loc[2, "p_value"])
    assert verdicts[2]["verdict"] == "left out" and "no model chosen" in verdicts[2]["why"]


def test_how_each_run_ended_is_flagged_and_said():
    runs = pd.DataFrame({"model": ["A", "A", "B"], "kind": "ARERec", "seed": [0, 1, 0], "best_epoch": [5, 9, 3],
                         "epochs_trained": [8, 12, 6], "stopped_early": [1, 0, 1], "at_cap": [0, 1, 0]})
    ends = headline.run_ends(runs)
    assert ends["at cap"].tolist() == [False, True, False] and ends["stopped early"].tolist() == [True, False, True]
    assert headline.ends_note(ends, 12).startswith("**1 of 3 ARERec runs ended at the cap of 12 epochs")
    assert "A, seed 1" in headline.ends_note(ends, 12)
    assert "run A, seed 1" in headline.ends_note(ends, 12, name=lambda key: f"run {key}")  # the page names the models
    assert headline.ends_note(ends[~ends["at cap"]], 12).startswith("Every one of the 2 ARERec runs above stopped early")
    # runs of one model are named once, with their seeds
    both = headline.run_ends(runs.assign(at_cap=[1, 1, 0], stopped_early=[0, 0, 1]))
    assert "(A, seeds 0, 1): they have not converged" in headline.ends_note(both, 12)
    # a run that trained to the cap with its best epoch earlier was not improving, but it did not stop early either
    full = headline.run_ends(runs.assign(stopped_early=[1, 0, 0], at_cap=[0, 0, 0], best_epoch=[5, 9, 10]))
    note = headline.ends_note(full, 12)
    assert note.startswith("None of the 3 ARERec runs above was still improving at the cap of 12 epochs")
    assert "1 stopped early, and 2 trained to the cap" in note and "Every one" not in note


def test_the_majority_class_per_model_names_collapse_but_not_the_floors():
    shares = pd.DataFrame({"model": ["A", "A", "global_mean", "B"], "seed": [0, 1, 0, 0],
                           "majority_class": [4.0, 4.0, 4.0, 3.0], "majority_share": [0.9, 0.97, 1.0, 0.5]})
    table = headline.shares_table(shares, 0.95).set_index("model")
    assert table.loc["A", "collapsed"] == "yes" and table.loc["A", "share (lowest seed)"] == 0.9
    assert table.loc["global_mean", "collapsed"].startswith("floor") and table.loc["B", "collapsed"] == "no"
    record = headline.shares_record(shares, 0.95)
    assert record["A"]["collapsed"] and not record["global_mean"]["collapsed"] and record["A"]["largest_share"] == 0.97


def test_the_best_baseline_is_chosen_on_validation_scores():
    scores = pd.DataFrame({"model": ["item_mean", "biased_mf", "user_knn"], "rmse": [1.02, 0.93, 0.94],
                           "ndcg@10": [0.60, 0.61, 0.62], "std_ndcg@10": [0.8, 0.8, 0.79]})
    assert headline.best_on_validation(scores, "rmse") == "biased_mf"
    assert headline.best_on_validation(scores, "ndcg@10") == "user_knn"
    assert headline.best_on_validation(scores, "std_ndcg@10") == "item_mean"  # a tie: the first
    assert headline.best_on_validation(scores.iloc[0:0], "rmse") is None


def test_a_verdict_with_one_seed_is_not_resolved_and_one_without_a_side_is_left_out():
    runs = _tuned_runs(off_shift=0.02, baseline_rmse=1.05)
    one = runs[runs["seed"] == 0]
    assert headline.verdict(one, "c", headline.TUNED_OFF, headline.TUNED, "rmse")["verdict"] == "not resolved by 1 seed"
    same = headline.verdict(runs, "c", headline.TUNED, headline.TUNED, "rmse")
    assert same["verdict"] == "left out" and "same row" in same["why"]
    missing = headline.verdict(runs[runs["kind"] == "ARERec"], "c", headline.TUNED, None, "rmse")
    assert missing["verdict"] == "left out" and missing["why"] == "no runs to compare (no model chosen)"


def test_the_scope_line_names_dataset_protocol_split_and_seeds(tmp_path):
    cfg = tiny_config(tmp_path).replace(dataset="ml-100k", protocol="clean")
    line = headline.scope_line(cfg, [0, 1, 2], "ab" * 32)
    assert line.startswith("Scope: MovieLens-100K, clean protocol") and "split SHA-256 abababababab" in line
    assert line.endswith("seeds 0, 1, 2.")


def test_the_seed_schedule_paragraph_never_compares_a_row_with_itself():
    runs = _runs()
    fast_only = runs[runs["model"].isin([FAST, "item_mean"])]
    text = headline.claims(headline.summarise(fast_only, 10), 10, epochs=2)
    assert "is worse than ARERec (fast: lazy Adam) (" not in text and "No faithful (dense Adam) row" in text


def test_the_seed_run_sits_beside_the_original_figures():
    histories = pd.DataFrame({"seed": [0, 0, 1, 1], "epoch": [1, 2, 1, 2], "loss": [1.6, 1.5, 1.7, 1.4],
                              "val_loss": [1.5, 1.4, 1.5, 1.4], "hr@10": [0.5] * 4, "ndcg@10": [0.45, 0.5, 0.47, 0.52],
                              "rmse": [1.2, 1.1, 1.2, 1.1]})
    table = headline.beside_original(histories, 10).set_index("epoch")
    assert list(table.index) == [1, 2, 3, 4, 5, 6]
    assert table.loc[1, "original: ndcg@10"] == 0.478 and table.loc[2, "ours: ndcg@10"] == pytest.approx(0.51)
    assert table.loc[6, "original: rmse"] == 1.023 and np.isnan(table.loc[3, "ours: ndcg@10"])
    assert table.loc[1, "seeds"] == 2


@pytest.mark.slow
def test_the_optimum_scores_every_run_per_user_with_its_classes_and_confusion(tmp_path):
    from arerec.train.runs import run_paths

    cfg = tiny_config(tmp_path, epochs=2, synthetic_ratings=640, test_ratio=0.3, protocol="clean", patience=1,
                      selection_metric="val_ce", checkpoint_policy="lean")
    configs = {headline.TUNED: cfg, headline.TUNED_OFF: cfg.replace(use_attention=0)}
    outcome = headline.optimum(configs, [0, 1], ["global_mean", "item_mode"])
    runs, users = outcome.runs, outcome.users
    assert sorted(set(runs["model"])) == sorted([headline.TUNED, headline.TUNED_OFF, "global_mean", "item_mode"])
    assert len(runs) == 8 and runs["majority_share"].between(0, 1).all()
    assert runs.loc[runs["model"] == "global_mean", "majority_share"].eq(1.0).all()
    for _, row in runs.iterrows():  # a run's figure is the mean of its users'
        mine = users[(users["model"] == row["model"]) & (users["seed"] == row["seed"])]
        assert mine["ndcg@3"].mean() == pytest.approx(row["ndcg@3"]) and mine["std_ndcg@3"].mean() == \
            pytest.approx(row["std_ndcg@3"])
        counts = outcome.confusion[(outcome.confusion["model"] == row["model"]) &
                                   (outcome.confusion["seed"] == row["seed"])]
        assert counts.query("true == predicted")["count"].sum() / counts["count"].sum() == \
            pytest.approx(row["accuracy"])
    arerec = runs[runs["kind"] == "ARERec"]
    assert all((run_paths(cfg, r).test_probs).is_file() for r in arerec["run"])
    again = headline.optimum(configs, [0, 1], ["global_mean", "item_mode"])  # read back, not predicted again
    pd.testing.assert_frame_equal(again.users, users)
