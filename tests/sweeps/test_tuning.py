"""arerec.sweeps.tuning: Optuna studies with the same budget per model, on validation only, lean on disk, and
resumable: a search cut off in the middle of a trial finishes with the trial table of an uninterrupted one."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import tiny_config

from arerec.data.inputs import load_experiment
from arerec.errors import ConfigError
from arerec.sweeps import tuning
from arerec.sweeps.search_settings import SearchSettings
from arerec.train import loop
from arerec.train.runs import read_results, run_paths

SPACE = {"lr": {"low": 0.003, "high": 0.1, "log": True}, "dropout_lcu": {"low": 0.0, "high": 0.5, "step": 0.25},
         "emb_size": {"low": 8, "high": 16, "powers_of": 2}}  # drawn as log2_emb_size, as the tiers draw it
VALUES = {"n_trials": 3, "n_startup_trials": 2, "reports_per_epoch": 2, "max_epochs": 3, "patience": 1,
          "selection_metric": "val_ce", "seed": 0,
          "spaces": {"arerec": SPACE, "item_knn": {"k": {"low": 2, "high": 20}}}}


def _base(tmp_path: Path, folder: str = "Model"):
    return tiny_config(tmp_path, synthetic_ratings=640, test_ratio=0.3, model_path=str(tmp_path / folder))


def _table(result, model: str = "arerec") -> list[tuple]:
    """What must not depend on the process: each trial's number, parameters, state, epochs and validation score."""
    return [(t["number"], t["params"], t["state"], t["epochs"], round(t["val_score"], 10))
            for t in result.studies[model].trials]


@pytest.mark.parametrize("values, fragment", [
    ({"n_trials": 0}, "validation_search.n_trials must be >= 1, received: 0"),
    ({"sampler": "grid"}, "validation_search.sampler must be one of tpe, random, received: 'grid'"),
    ({"pruner": "asha"}, "validation_search.pruner must be one of median, successive_halving, hyperband, none, "
                         "received: 'asha'"),
    ({"budget": 3}, "unknown validation_search setting(s) ['budget']; valid: n_trials"),
    ({"spaces": {}}, "spaces must be a non-empty mapping"),
    ({"spaces": {"arerec": {"lr": {"low": 0, "high": 1, "log": True}}}}, "`low > 0` must hold for `log=True`"),
    ({"spaces": {"arerec": {"region": {"low": 1, "high": 3}}}}, "unknown parameter(s) ['region']"),
    ({"selection_metric": "auc"}, "selection_metric must be one of val_loss, rmse"),
    ({"warmup_epochs": -1}, "validation_search.warmup_epochs must be >= 0, received: -1"),
    ({"warmup_epochs": 4}, "warmup_epochs must be at most max_epochs (3)"),
    ({"patience": 0}, "validation_search.patience must be >= 1, received: 0"),
    ({"reduction_factor": 1}, "validation_search.reduction_factor must be >= 2, received: 1"),
    ({"pruner_startup_trials": 1.5}, "validation_search.pruner_startup_trials must be an integer, received: 1.5"),
    ({"start_from": {"arerec": {"p": {"lr": 0.01, "dropout_lcu": 0.0, "emb_size": 12}}}},
     "validation_search.start_from.arerec.p.emb_size: 12 is not in its range, 8 to 16 (powers of 2)"),
    ({"start_from": {"arerec": {"p": {"lr": 0.01, "dropout_lcu": 0.1, "emb_size": 8}}}},
     "start_from.arerec.p.dropout_lcu: 0.1 is not in its range, 0 to 0.5 (step 0.25)"),
    ({"start_from": {"arerec": {"p": {"lr": 0.01, "emb_size": 8}}}},
     "start_from.arerec.p must set each parameter of arerec's space once (dropout_lcu, emb_size, lr): missing "
     "['dropout_lcu']"),
    ({"start_from": {"user_knn": {"p": {"k": 3}}}}, "start_from.user_knn: user_knn has no space to search"),
    ({"start_from": {"item_knn": {"p": {"k": 3}}}, "continue_from": {"item_knn": "0123456789ab"}},
     "either starts from given configurations or continues an earlier study (continue_from), not both"),
    ({"choose_within": {"item_knn": 0.01}}, "choose_within.item_knn: only a searched ARERec model's choice can "
                                            "weigh its size; searched ARERec models: arerec"),
    ({"choose_within": {"arerec": -0.1}}, "validation_search.choose_within.arerec must be >= 0.0, received: -0.1"),
    ({"journals": "studies/{data}"}, "validation_search.journals may name only {dataset} in braces"),
])
def test_impossible_settings_fail_before_any_training(tmp_path, values, fragment):
    with pytest.raises(ConfigError) as error:
        tuning.check(_base(tmp_path), {**VALUES, **values})
    assert fragment in str(error.value)
    assert not (tmp_path / "Model").exists()


@pytest.mark.slow
def test_every_model_gets_the_budget_on_validation_and_only_the_best_trial_keeps_weights(tmp_path):
    base = _base(tmp_path)
    two = tuning.search(base, {**VALUES, "n_trials": 2})
    result = tuning.search(base, VALUES)  # a larger budget continues the same studies
    assert _table(result)[:2] == _table(two) and _table(result, "item_knn")[:2] == _table(two, "item_knn")
    for model in ("arerec", "item_knn"):
        record = result.studies[model].record()
        assert record["n_trials"] == 3 and len(record["trials"]) == 3
        assert {t["state"] for t in record["trials"]} <= {"complete", "pruned"}
        assert all(set(t) >= {"params", "state", "epochs", "val_score"} for t in record["trials"])
    arerec = result.studies["arerec"]
    complete = [t for t in arerec.trials if t["state"] == "complete"]
    best = min(complete, key=lambda t: t["val_score"])
    assert arerec.chosen == best["params"] and result.records()["arerec"]["chosen"] == best["params"]
    # a complete trial's score is its run's best validation cross-entropy, from the results CSV
    history = read_results(run_paths(base, best["run"]))
    assert best["val_score"] == pytest.approx(history["val_ce"].min())
    assert best["epochs"] == int(history["epoch"].max())
    # test was never read, and only the best trial's run still has weights
    assert not list((tmp_path / "Model").rglob("test_metrics.json"))
    with_weights = {p.parent.parent.name for p in (tmp_path / "Model").rglob("weight/*.ckpt")}
    assert with_weights == {best["run"]}
    # the chosen configuration's first seed is the best trial's own run: loaded, not trained again
    tuned = result.config(base, "arerec")
    again = loop.train_or_load(tuned.replace(seed=0))
    assert again.name == best["run"] and again.history["epoch"].max() == best["epochs"]
    assert "rmse" in again.final  # scored on test once, now
    # the baseline's study minimises validation RMSE and keeps its NDCG beside it
    knn = result.studies["item_knn"]
    assert knn.objective == "val_rmse" and all("val_ndcg@5" in t for t in knn.trials)
    assert knn.settings == knn.chosen and 2 <= knn.chosen["k"] <= 20


@pytest.mark.slow
def test_a_study_kept_in_a_journals_folder_is_read_back_by_a_fresh_clone_without_training(tmp_path):
    import shutil

    base = _base(tmp_path)
    values = {**VALUES, "n_trials": 2, "journals": str(tmp_path / "studies" / "{dataset}")}
    tune = tuning.check(base, values)
    assert tuning.study_key(base, tune, "arerec") == tuning.study_key(base, tuning.check(base, VALUES), "arerec")
    first = tuning.search(base, values)
    kept = sorted(p.name for p in (tmp_path / "studies" / base.data.dataset).glob("*.journal"))
    assert kept == sorted(tuning.study_path(base, tune, m).name for m in ("arerec", "item_knn"))
    assert not list((tmp_path / "Model").rglob("*.journal"))
    shutil.rmtree(tmp_path / "Model")  # what a fresh clone has: the journals, no runs
    again = tuning.search(base, values)
    assert _table(again) == _table(first) and _table(again, "item_knn") == _table(first, "item_knn")
    assert not (tmp_path / "Model").exists() or not list((tmp_path / "Model").rglob("result_*"))
    # the chosen trial's run is trained again by the first seed that needs it, to the journal's score
    best = next(t for t in again.studies["arerec"].trials if t["number"] == again.studies["arerec"].chosen_trial)
    run = loop.train_or_load(again.config(base, "arerec").replace(seed=0))
    assert run.name == best["run"] and run.history["val_ce"].min() == pytest.approx(best["val_score"], rel=1e-6)


KILLED_SEARCH = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    from pathlib import Path
    from conftest import tiny_config
    from arerec.sweeps import tuning
    from arerec.train import checkpoints, loop

    base = tiny_config(Path({tmp!r}), synthetic_ratings=640, test_ratio=0.3, model_path={models!r})
    if {pause}:
        save = loop.save_checkpoint

        def saving(path, exp, model, optimizer, epoch):  # the second trial stops after its first checkpoint
            save(path, exp, model, optimizer, epoch)
            if epoch == 1 and len(list(Path({models!r}).rglob("result_*"))) == 2:
                print("PAUSED", flush=True)
                import time
                time.sleep(600)

        loop.save_checkpoint = saving
    result = tuning.search(base, {values!r})
    print("TABLE", [(t["params"], t["state"], t["epochs"], round(t["val_score"], 10))
                    for t in result.studies["arerec"].trials], flush=True)
    print("RESUMES", [(t["number"], t["resumes"]) for t in result.studies["arerec"].trials], flush=True)
""")


@pytest.mark.slow
def test_a_search_killed_with_sigkill_in_a_trial_resumes_it(tmp_path):
    values = {**VALUES, "spaces": {"arerec": SPACE}, "pruner": "none"}
    tests = str(Path(__file__).parents[1])

    def script(models: str, pause: bool) -> list[str]:
        return [sys.executable, "-c", KILLED_SEARCH.format(tests=tests, tmp=str(tmp_path), models=models,
                                                            pause=pause, values=values)]

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    whole = subprocess.run(script(str(tmp_path / "A"), False), capture_output=True, text=True, env=env, check=True)
    killed = subprocess.Popen(script(str(tmp_path / "B"), True), stdout=subprocess.PIPE, text=True, env=env)
    assert killed.stdout is not None
    for line in killed.stdout:
        if line.startswith("PAUSED"):
            break
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait(timeout=30)
    time.sleep(0.5)
    assert killed.returncode == -signal.SIGKILL
    import pandas as pd

    cut = max((tmp_path / "B").rglob("result_*"), key=lambda p: p.stat().st_mtime)  # the trial that was cut off
    epoch1 = pd.read_csv(cut)["seconds"].tolist()
    assert len(epoch1) == 1
    again = subprocess.run(script(str(tmp_path / "B"), False), capture_output=True, text=True, env=env, check=True)
    table = [line for line in whole.stdout.splitlines() if line.startswith("TABLE")]
    # the same trials, parameters, states, epochs and scores as the uninterrupted search (Optuna's public API:
    # the cut-off trial 1 was told FAIL and enqueued again, so it ran as trial 2, and the draw after it is the same)
    assert table and table == [line for line in again.stdout.splitlines() if line.startswith("TABLE")]
    assert [line for line in again.stdout.splitlines() if line.startswith("RESUMES")] == \
        ["RESUMES [(0, None), (2, 1), (3, None)]"]
    # ... and its run went on from its checkpoint: epoch 1 is the killed process's own row, not trained again
    assert pd.read_csv(cut)["seconds"].tolist()[0] == epoch1[0]


@pytest.mark.slow
def test_a_committed_optimum_is_retrained_without_a_search_and_only_on_its_own_data(tmp_path):
    import yaml

    from arerec.data.ratings import ratings_path
    from arerec.files import sha256_file

    base = _base(tmp_path)
    values = {**VALUES, "n_trials": 2}
    tune = tuning.check(base, values)
    result = tuning.search(base, values)
    loop.train_or_load(result.config(base, "arerec").replace(seed=0))  # the data exist now
    record = tuning.optimum_record(base, tune, result.records(), experiment="full", commit="abc123",
                                   ratings_sha256=sha256_file(ratings_path(base)))
    for model, entry in record["models"].items():  # the chosen trial, and what it cost to train
        best = min((t for t in result.studies[model].trials if t["state"] == "complete"), key=lambda t: t["val_score"])
        kept = ("number", "val_score", "epochs", "seconds", "parameters")
        assert entry["trial"] == {k: best[k] for k in kept if k in best}
        assert ("parameters" in best) == (model in tuning.ARERECS)
        assert entry["best_val_score"] == best["val_score"]
    assert tuning.retraining_seconds(record)["arerec"] == record["models"]["arerec"]["trial"]["seconds"] > 0
    path = tmp_path / "optimum" / "synthetic.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(record))
    template = str(tmp_path / "optimum" / "{dataset}.yaml")
    committed, why = tuning.committed(base, tune, template)
    assert committed is not None and not committed.searched and "No search here" in why and "2 Optuna trials" in why
    for model in ("arerec", "item_knn"):
        assert committed.studies[model].chosen == result.studies[model].chosen
        assert committed.studies[model].settings == result.studies[model].settings
        assert committed.studies[model].record()["source"] == str(path)
    assert committed.config(base, "arerec") == result.config(base, "arerec")
    assert committed.baseline_settings() == result.baseline_settings()
    # other data (another min_seq), no file, or searching on purpose: the quick search runs instead
    other, why = tuning.committed(base.replace(min_seq=4), tune, template)
    assert other is None and "ran on other data (min_seq differ)" in why
    assert tuning.committed(base, tune, str(tmp_path / "none" / "{dataset}.yaml"))[0] is None
    assert tuning.committed(base, tune, "")[1].startswith("Every model was searched here")


def test_the_study_and_its_record_pick_the_same_best_trial_the_earliest_of_a_tie(tmp_path):
    optuna = tuning.quiet_optuna()
    State = optuna.trial.TrialState
    values = [(State.COMPLETE, 1.5), (State.PRUNED, 1.0), (State.COMPLETE, 1.2), (State.COMPLETE, 1.2),
              (State.COMPLETE, 2.0)]
    frozen = [optuna.trial.create_trial(state=state, value=value if state == State.COMPLETE else None,
                                        intermediate_values={1: value}) for state, value in values]
    for number, t in enumerate(frozen):
        t.number = number
    rows = [{"number": n, "state": state.name.lower(), "val_score": value, "epochs": 2, "seconds": 1.0}
            for n, (state, value) in enumerate(values)]
    search = {"m": {"chosen": {}, "objective": "val_ce", "n_trials": 5, "trials": rows}}
    for direction, number in (("minimize", 2), ("maximize", 4)):
        assert tuning._best(frozen, direction).number == number  # the pruned trial's 1.0 never counts
        record = tuning.optimum_record(tiny_config(tmp_path), SearchSettings.checked(VALUES),
                                       {"m": {**search["m"], "direction": direction}}, experiment="x",
                                       commit="c", ratings_sha256="s")
        assert record["models"]["m"]["trial"]["number"] == number
    assert tuning._best(frozen[1:2], "minimize") is None


def test_the_one_standard_error_rule_takes_the_smallest_model_within_the_margin_of_the_best():
    rows = [{"number": 0, "state": "complete", "val_score": 1.400, "parameters": 900},
            {"number": 1, "state": "complete", "val_score": 1.390, "parameters": 1500},  # the best
            {"number": 2, "state": "pruned", "val_score": 1.300, "parameters": 100},  # never chosen
            {"number": 3, "state": "complete", "val_score": 1.392, "parameters": 700},
            {"number": 4, "state": "complete", "val_score": 1.391, "parameters": 700},  # as small, and better
            {"number": 5, "state": "complete", "val_score": 1.395, "parameters": 300}]
    assert tuning.choose(rows, "minimize")["number"] == 1
    assert tuning.choose(rows, "minimize", 0.0)["number"] == 1
    assert tuning.choose(rows, "minimize", 0.002)["number"] == 4
    assert tuning.choose(rows, "minimize", 0.006)["number"] == 5
    assert tuning.choose(rows, "minimize", 1.0)["number"] == 5  # the pruned trial's 1.3 is neither best nor near
    higher = [{**r, "val_score": -r["val_score"]} for r in rows]  # a score to maximise: the same choices
    assert [tuning.choose(higher, "maximize", w)["number"] for w in (None, 0.002, 0.006)] == [1, 4, 5]
    assert tuning.choose(rows[2:3], "minimize", 1.0) is None


@pytest.mark.slow
def test_a_study_chosen_within_a_margin_is_the_same_study_with_its_smallest_near_best_model(tmp_path):
    """choose_within changes which trial is chosen, not the trials: the same study (its key), read back."""
    base = _base(tmp_path)
    plain = tuning.search(base, VALUES)
    values = {**VALUES, "choose_within": {"arerec": 10.0}}  # every completed trial is within it
    assert tuning.study_key(base, tuning.check(base, values), "arerec") == \
        tuning.study_key(base, tuning.check(base, VALUES), "arerec")
    within = tuning.search(base, values)
    study = within.studies["arerec"]
    assert _table(within) == _table(plain) and within.studies["item_knn"].chosen == plain.studies["item_knn"].chosen
    complete = [t for t in study.trials if t["state"] == "complete"]
    smallest = min(complete, key=lambda t: (t["parameters"], t["val_score"], t["number"]))
    assert study.chosen == smallest["params"] and study.record()["chosen_trial"] == smallest["number"]
    table = within.trials_table()
    assert list(table["parameters"].notna()) == [m == "arerec" for m in table["model"]]  # a baseline has no size
    assert table[table["chosen"]].set_index("model")["trial"].to_dict() == {
        "arerec": smallest["number"], "item_knn": within.records()["item_knn"]["chosen_trial"]}
    assert study.record()["choose_within"] == 10.0 and plain.studies["arerec"].record()["choose_within"] is None
    small = [t for t in study.trials if t["params"]["emb_size"] == 8]
    large = [t for t in study.trials if t["params"]["emb_size"] == 16]
    assert all(s["parameters"] < big["parameters"] for s in small for big in large)
    record = tuning.optimum_record(base, tuning.check(base, values), within.records(), experiment="x", commit="c",
                                   ratings_sha256="s")["models"]["arerec"]
    assert record["trial"]["number"] == smallest["number"] and record["choose_within"] == 10.0
    assert record["best_val_score"] == min(t["val_score"] for t in complete)
    import yaml

    from arerec.data.ratings import ratings_path
    from arerec.files import sha256_file

    path = tmp_path / "optimum.yaml"
    path.write_text(yaml.safe_dump(tuning.optimum_record(base, tuning.check(base, values), within.records(),
                                                         experiment="x", commit="c",
                                                         ratings_sha256=sha256_file(ratings_path(base)))))
    why = tuning.committed(base, tuning.check(base, values), str(path))[1]
    assert f"`arerec`'s configuration is its study's trial {smallest['number']}, the smallest model within 10" in why


def test_a_resumed_trial_keeps_its_rung_values_from_the_epochs_they_belong_to():
    optuna = tuning.quiet_optuna()
    tune = SearchSettings.checked({**VALUES, "pruner": "successive_halving", "warmup_epochs": 1, "reports_per_epoch": 2,
                                   "reduction_factor": 3})
    study = optuna.create_study(direction="minimize", pruner=tuning._pruner(tune))
    first = study.ask({"lr": optuna.distributions.FloatDistribution(0.001, 0.1, log=True)})
    for step, value in enumerate([1.6, 1.5, 1.45, 1.44, 1.43, 1.42, 1.41], start=1):  # rungs at steps 2 and 6
        first.report(value, step)
        first.should_prune()
    assert tuning.requeue_cut_off(study) == [first.number]  # cut off: FAIL, and its parameters enqueued
    again = study.ask()
    assert again.suggest_float("lr", 0.001, 0.1, log=True) == first.params["lr"] and tuning._carry_over(study, again) == tuning._frozen(
        study, first.number).intermediate_values
    rungs = {k: v for k, v in tuning._frozen(study, again.number).system_attrs.items() if "rung" in k}
    assert rungs == {"completed_rung_0": 1.5, "completed_rung_1": 1.42}  # not the value it resumed at (1.41)


def test_the_effort_of_the_two_arerec_searches_is_measured_in_epochs_and_seconds():
    from arerec.report import captions

    def study(model: str, trials: list[tuple[str, float, float]]) -> tuning.StudyResult:
        rows = [{"number": n, "state": state, "epochs": epochs, "seconds": seconds, "params": {}}
                for n, (state, epochs, seconds) in enumerate(trials)]
        return tuning.StudyResult(model, tuning.parse_space(model, SPACE), "val_ce", "minimize", rows, {}, {})

    tune = SearchSettings.checked(VALUES)
    on = study("arerec", [("complete", 12.0, 600.0), ("pruned", 2.0, 90.0)])
    on.trials[1]["continued_from"] = "arerec-0123456789ab #4"  # carried over from a study over a coarser grid
    off = study("arerec_attention_off", [("complete", 6.0, 200.0), ("pruned", 2.0, 60.0), ("pruned", 2.0, 40.0)])
    effort = tuning.SearchResult({"arerec": on, "arerec_attention_off": off}, tune).effort()
    assert effort is not None
    assert effort["arerec"] == {"n_trials": 2, "epochs": 14.0, "seconds": 690.0, "continued": 1, "infeasible": 0}
    assert effort["off_over_on_epochs"] == pytest.approx(10 / 14)
    assert effort["off_over_on_seconds"] == pytest.approx(300 / 690)
    note = captions.effort(effort)
    assert "trained 14.0 epochs in 11 min 30 s" in note and "0.71 times ARERec's epochs" in note
    assert "1 of *ARERec*'s trials were carried over" in note and "attention off*'s trials were carried" not in note
    off.infeasible = 2
    note = captions.effort(tuning.SearchResult({"arerec": on, "arerec_attention_off": off}, tune).effort())
    assert "2 configuration(s) *attention off*'s sampler drew were not trained" in note and "*ARERec*'s sampler" not in note
    # a committed optimum (no trials) or one model alone: nothing to compare, and nothing said
    assert tuning.SearchResult({"arerec": on}, tune).effort() is None
    assert captions.effort(None) == ""


def test_a_choice_by_the_one_standard_error_rule_is_said_with_the_best_trial_beside_it():
    from arerec.report import captions

    trials = [{"number": 0, "state": "complete", "val_score": 1.3841, "parameters": 12_000},
              {"number": 1, "state": "complete", "val_score": 1.3837, "parameters": 20_000}]
    record = {"direction": "minimize", "objective": "val_ce", "trials": trials, "choose_within": 0.002,
              "chosen_trial": 0}
    note = captions.choice({"arerec": record, "item_knn": {**record, "choose_within": None}})
    assert note.count("trial") == 2 and "*ARERec*: the smallest model within 0.0020 of the best `val_ce`" in note
    assert "is trial 0, 12\u00a0000 parameters at 1.3841, chosen over the best trial, 1 (20\u00a0000 parameters" in note
    assert captions.choice({"arerec": {**record, "chosen_trial": 1}}).endswith("; it is the best trial.")


def test_a_failed_trial_is_no_competitor_of_successive_halving():
    """A cut-off trial is told FAIL and enqueued again; its resumption reaches the same rungs with the same values.
    Counted twice, it would stop a trial that an uninterrupted study lets go on."""
    optuna = tuning.quiet_optuna()

    def second_trial_pruned(pruner) -> bool:
        study = optuna.create_study(pruner=pruner)
        cut = study.ask()
        cut.report(1.0, 4)
        assert not cut.should_prune()  # the first at its rung goes on
        study.tell(cut, state=optuna.trial.TrialState.FAIL)
        later = study.ask()
        later.report(2.0, 4)
        return later.should_prune()

    plain = optuna.pruners.SuccessiveHalvingPruner(min_resource=4, reduction_factor=3)
    assert second_trial_pruned(plain)  # Optuna's own counts the failed trial's rung value
    tune = SearchSettings.checked({**VALUES, "pruner": "successive_halving", "warmup_epochs": 2})
    assert not second_trial_pruned(tuning._pruner(tune))  # the search's does not: alone at its rung, it goes on


def test_a_refined_space_starts_a_new_study_from_the_earlier_ones_trials_that_fit(tmp_path):
    optuna = tuning.quiet_optuna()
    TrialState = optuna.trial.TrialState
    base = _base(tmp_path)
    coarse = {**VALUES, "spaces": {"arerec": SPACE}}
    fine_space = {**SPACE, "lr": {"low": 0.004, "high": 0.1, "log": True},  # trial 1's lr no longer fits
                  "dropout_lcu": {"low": 0.0, "high": 0.75, "step": 0.125}}
    fine = {**VALUES, "spaces": {"arerec": fine_space}}
    old_tune, new_tune = SearchSettings.checked(coarse), SearchSettings.checked(fine)
    old_key = tuning.study_key(base, old_tune, "arerec")
    assert tuning.study_key(base, new_tune, "arerec") != old_key  # a finer step is a new study ...
    continued = SearchSettings.checked({**fine, "continue_from": {"arerec": old_key}})
    assert tuning.study_key(base, continued, "arerec") == tuning.study_key(base, new_tune, "arerec")  # ... named so

    old_space = tuning.parse_space("arerec", SPACE)
    old = tuning.open_study(tuning.study_path(base, old_tune, "arerec"), "arerec", "minimize", old_tune)
    for number, (lr, dropout, state) in enumerate([(0.01, 0.25, TrialState.COMPLETE), (0.003, 0.5, TrialState.PRUNED),
                                                   (0.05, 0.5, TrialState.COMPLETE)]):
        old.add_trial(optuna.trial.create_trial(
            state=state, value=1.5 - number / 10 if state == TrialState.COMPLETE else None,
            params={"lr": lr, "dropout_lcu": dropout, "log2_emb_size": 3},
            distributions=old_space.distributions(), intermediate_values={1: 1.6, 2: 1.55},
            user_attrs={"run": f"run{number}", "epochs": 1.0, "seconds": 10.0}))
    old.enqueue_trial({"lr": 0.02, "dropout_lcu": 0.0, "log2_emb_size": 4})  # waiting, not finished: not copied

    new_space = tuning.parse_space("arerec", fine_space)
    new = tuning.open_study(tuning.study_path(base, new_tune, "arerec"), "arerec", "minimize", new_tune)
    earlier = tuning.study_path(base, old_tune, "arerec")
    assert tuning.continue_earlier(new, earlier, new_space) == 2
    copies = new.get_trials()
    assert [t.number for t in copies] == [0, 1] and [t.value for t in copies] == [1.5, pytest.approx(1.3)]
    assert [t.user_attrs["run"] for t in copies] == ["run0", "run2"]
    assert copies[1].user_attrs["continued_from"] == f"arerec-{old_key} #2"
    assert copies[0].intermediate_values == {1: 1.6, 2: 1.55} and copies[0].distributions == new_space.distributions()
    drawn = new.ask()  # the new study draws on its own, finer grid
    assert new_space.suggest(drawn)["dropout_lcu"] in {k / 8 for k in range(7)}

    with pytest.raises(ConfigError, match=r"no earlier study at .*arerec-000000000000\.journal"):
        tuning.continue_earlier(new, earlier.with_name("arerec-000000000000.journal"), new_space)
    with pytest.raises(ConfigError, match="continue_from"):
        SearchSettings.checked({**fine, "continue_from": {"arerec": "latest"}})


def test_a_study_that_continues_a_missing_one_starts_afresh_and_says_so(tmp_path, caplog):
    base = _base(tmp_path)
    values = {**VALUES, "n_trials": 1, "spaces": {"item_knn": {"k": {"low": 2, "high": 20}}},
              "continue_from": {"item_knn": "0123456789ab"}}
    with caplog.at_level("WARNING", logger="arerec.sweeps.tuning"):
        result = tuning.search(base, values)
    assert "item_knn-0123456789ab.journal, which is not there: the study starts afresh" in caplog.text
    assert result.studies["item_knn"].record()["continued"] == 0 and len(result.studies["item_knn"].trials) == 1


def test_a_study_tries_its_given_configurations_first_in_their_labels_order(tmp_path):
    base = _base(tmp_path)
    values = {**VALUES, "spaces": {"item_knn": {"k": {"low": 2, "high": 20}}},
              "start_from": {"item_knn": {"wide": {"k": 20}, "narrow": {"k": 3}}}}  # as written: wide first
    plain = SearchSettings.checked({**values, "start_from": {}})
    assert tuning.study_key(base, plain, "item_knn") != tuning.study_key(base, SearchSettings.checked(values),
                                                                         "item_knn")  # another study
    result = tuning.search(base, values)
    trials = result.studies["item_knn"].trials
    assert [(t["params"]["k"], t["start_point"]) for t in trials] == [(3, "narrow"), (20, "wide"),
                                                                      (trials[2]["params"]["k"], None)]
    assert list(result.trials_table()["start_point"]) == ["narrow", "wide", ""]
    more = tuning.search(base, {**values, "n_trials": 4})  # a larger budget continues it: nothing given again
    assert [t["start_point"] for t in more.studies["item_knn"].trials] == ["narrow", "wide", None, None]
    assert "start_point" not in tuning.search(base, {**values, "start_from": {}}).trials_table()


def test_a_finished_study_searched_again_leaves_its_journal_byte_for_byte(tmp_path):
    """A committed journal is read by every run of its tier: reading it must not append to it (Optuna's
    ``create_study(load_if_exists=True)`` writes a creation record each time)."""
    base = _base(tmp_path)
    values = {**VALUES, "n_trials": 2, "spaces": {"item_knn": {"k": {"low": 2, "high": 20}}}}
    first = tuning.search(base, values)
    path = tuning.study_path(base, SearchSettings.checked(values), "item_knn")
    written = path.read_bytes()
    again = tuning.search(base, values)
    assert path.read_bytes() == written
    assert again.studies["item_knn"].chosen == first.studies["item_knn"].chosen


def test_a_finished_studys_trials_count_as_done_when_it_is_read_back(tmp_path, monkeypatch):
    """A resumed tier (or a fresh clone's, with committed journals) counts the trials it reads back, so its bar
    reaches its total and its time left is that of the runs still to train."""
    from arerec.console import LOG_ENV
    from arerec.sweeps.progress import Progress

    monkeypatch.setenv(LOG_ENV, str(tmp_path / "x.log"))
    base = _base(tmp_path)
    values = {**VALUES, "n_trials": 2, "spaces": {"item_knn": {"k": {"low": 2, "high": 20}}}}
    first = Progress(2, "02_training")
    tuning.search(base, values, first)
    assert (first.bar.n, first.bar.initial) == (2, 0)  # trained here
    again = Progress(3, "02_training")
    tuning.search(base, values, again)
    assert (again.bar.n, again.bar.initial, again.started_n) == (2, 2, 2)  # read back: done, not in the pace
    assert "runs 1-2/3: search item_knn: 2 trials finished before" in (tmp_path / "x.log").read_text()


def test_a_given_configuration_cut_off_runs_again_under_its_label(tmp_path):
    tune = SearchSettings.checked({**VALUES, "spaces": {"item_knn": {"k": {"low": 2, "high": 20}}}})
    study = tuning.open_study(tmp_path / "item_knn.journal", "item_knn", "minimize", tune)
    study.enqueue_trial({"k": 5}, user_attrs={tuning.START_POINT: "given"})
    assert study.ask().suggest_int("k", 2, 20) == 5  # and left running, as by a killed process
    assert tuning.requeue_cut_off(study) == [0]
    again = study.ask()
    assert again.suggest_int("k", 2, 20) == 5 and again.user_attrs == {"resumes": 0, tuning.START_POINT: "given"}


def test_a_configuration_whose_batch_is_too_large_is_not_trained_run_again_or_counted(tmp_path):
    """A drawn ARERec configuration over ``max_batch_values`` is told FAIL with the reason, is not enqueued again,
    and the next trial draws anew; a space where nothing fits stops with the fix."""
    optuna = tuning.quiet_optuna()
    base = _base(tmp_path)
    exp = load_experiment(base)
    emb = {"emb_size": {"low": 8, "high": 16, "powers_of": 2}}
    small = tuning.batch_values(base.replace(emb_size=8), exp.tables.max_seq)
    values = {**VALUES, "n_trials": 2, "max_epochs": 1, "warmup_epochs": 1, "pruner": "none", "spaces": {"arerec": emb},
              "max_batch_values": small}  # emb 8 fits, emb 16 does not
    result = tuning.search(base, values)
    study = result.studies["arerec"]
    assert [t["params"]["emb_size"] for t in study.trials] == [8, 8] and study.record()["infeasible"] >= 1
    failed = [t for t in study.study.get_trials() if t.state == optuna.trial.TrialState.FAIL]
    assert failed and all(t.params["log2_emb_size"] == 4 and "over max_batch_values" in t.user_attrs["infeasible"]
                          for t in failed)
    assert tuning.requeue_cut_off(study.study) == []  # not run again
    with pytest.raises(ConfigError, match="raise it, or lower the upper ends of batch_size, emb_size"):
        tuning.search(base.replace(model_path=str(tmp_path / "none")), {**values, "max_batch_values": 1})



def test_a_baseline_whose_fit_diverges_has_no_score_and_is_not_counted(tmp_path):
    """Biased MF's SGD at a large lr_all gives NaN predictions: that trial is told FAIL with the reason, is not run
    again or counted, and the study goes on to its budget; a space where every draw diverges stops with the fix."""
    optuna = tuning.quiet_optuna()
    base = _base(tmp_path)
    space = {"lr_all": {"low": 0.001, "high": 2.0, "log": True}, "reg_all": {"low": 0.002, "high": 0.003},
             "n_factors": {"low": 40, "high": 50}, "n_epochs": {"low": 20, "high": 30}}
    given = {"wild": {"lr_all": 1.8, "reg_all": 0.002, "n_factors": 45, "n_epochs": 25},
             "tame": {"lr_all": 0.005, "reg_all": 0.002, "n_factors": 45, "n_epochs": 25}}
    values = {**VALUES, "n_trials": 3, "spaces": {"biased_mf": space}, "start_from": {"biased_mf": given}}
    study = tuning.search(base, values).studies["biased_mf"]
    failed = [t for t in study.study.get_trials() if t.state == optuna.trial.TrialState.FAIL]
    assert len(study.trials) == 3 and all(math.isfinite(t["val_score"]) for t in study.trials)
    assert [t["start_point"] for t in study.trials][:1] == ["tame"]  # "wild" diverged: not among the trials
    assert failed[0].user_attrs[tuning.START_POINT] == "wild" and failed[0].params["lr_all"] == 1.8
    assert all(t.user_attrs["infeasible"].startswith("diverged: ") for t in failed)
    assert study.record()["infeasible"] == len(failed) and tuning.requeue_cut_off(study.study) == []
    diverging = {**space, "lr_all": {"low": 1.0, "high": 2.0}}
    with pytest.raises(ConfigError, match="diverged .* lower the upper end of its learning rate"):
        tuning.search(base.replace(model_path=str(tmp_path / "none")), {**values, "n_trials": 1, "start_from": {},
                                                                          "spaces": {"biased_mf": diverging}})

def _halving(warmup_epochs: int = 1):
    """A study under the search's successive halving, its first rung at ``warmup_epochs`` epochs (2 reports each),
    the rungs 3 times apart."""
    optuna = tuning.quiet_optuna()
    tune = SearchSettings.checked({**VALUES, "pruner": "successive_halving", "warmup_epochs": warmup_epochs,
                                   "reduction_factor": 3})
    return optuna.create_study(direction="minimize", pruner=tuning._pruner(tune))


def _rungs(study, number: int) -> dict[str, float]:
    return {k: v for k, v in tuning._frozen(study, number).system_attrs.items() if "rung" in k}


def test_a_trial_that_ends_at_a_rung_competes_there_and_a_loaded_run_tells_its_epochs():
    import pandas as pd

    study = _halving()  # rungs at steps 2, 6, 18
    ends = study.ask()
    reporter = tuning._Reporter(ends, 2, "val_ce", {})
    reporter.report(1, 1.6)
    reporter.report(2, 1.5, final=True)  # early stopping ended it at its first rung: the pruner is still asked
    study.tell(ends, 1.5)
    assert _rungs(study, ends.number) == {"completed_rung_0": 1.5}
    later = study.ask()
    reporter = tuning._Reporter(later, 2, "val_ce", {})
    reporter.report(1, 1.7)
    with pytest.raises(tuning.quiet_optuna().TrialPruned):
        reporter.report(2, 1.6)  # worse than the trial that ended there, alone beside it: stopped

    loaded = study.ask()  # a run that finished in an earlier study: its epochs' figures, at the epochs' ends
    reporter = tuning._Reporter(loaded, 2, "val_ce", {})
    reporter.report_history(pd.DataFrame({"epoch": [1, 2, 3], "val_ce": [1.45, 1.4, 1.42]}))
    assert tuning._frozen(study, loaded.number).intermediate_values == {2: 1.45, 4: 1.4, 6: 1.42}
    assert _rungs(study, loaded.number) == {"completed_rung_0": 1.45, "completed_rung_1": 1.42}
    reporter.report_history(pd.DataFrame({"epoch": [1, 2, 3], "val_ce": [1.45, 1.4, 1.42]}))  # told once only
    assert len(tuning._frozen(study, loaded.number).intermediate_values) == 3


def test_an_earlier_studys_copies_compete_at_the_rungs_they_reached(tmp_path):
    """Copied with their figures only, the copies were no competitors: successive halving compares the values it
    recorded when asked at a rung, so the new study's first trials were judged among themselves."""
    optuna = tuning.quiet_optuna()
    base = _base(tmp_path)
    tune = SearchSettings.checked({**VALUES, "spaces": {"arerec": SPACE}, "pruner": "successive_halving",
                                   "warmup_epochs": 1})
    space = tuning.parse_space("arerec", SPACE)
    earlier = tmp_path / "arerec-0123456789ab.journal"
    old = tuning.open_study(earlier, "arerec", "minimize", tune)
    for value in (1.40, 1.42, 1.44):  # three completed trials, ended at their first rung
        old.add_trial(optuna.trial.create_trial(
            state=optuna.trial.TrialState.COMPLETE, value=value, params={"lr": 0.01, "dropout_lcu": 0.25,
                                                                          "log2_emb_size": 3},
            distributions=space.distributions(), intermediate_values={1: 1.6, 2: value}))
    new = tuning.open_study(tuning.study_path(base, tune, "arerec"), "arerec", "minimize", tune)
    assert tuning.continue_earlier(new, earlier, space) == 3
    assert [_rungs(new, t.number) for t in new.get_trials()] == [{"completed_rung_0": v} for v in (1.40, 1.42, 1.44)]
    assert [t.state.name for t in new.get_trials()] == ["COMPLETE"] * 3 and [t.value for t in new.get_trials()] == [
        1.40, 1.42, 1.44]
    first = new.ask()  # the new study's first trial: fourth at its rung, not first
    first.report(1.43, 2)
    assert first.should_prune()


def test_a_trial_whose_run_finished_in_another_study_loads_it_and_tells_the_pruner_its_epochs(tmp_path):
    """Another study (here: another warm-up) draws the same first configuration: the run is loaded, not trained, and
    its epochs' figures reach the new study's pruner at the epochs' ends."""
    optuna = tuning.quiet_optuna()
    base = _base(tmp_path)
    first = tuning.search(base, {**VALUES, "n_trials": 1, "spaces": {"arerec": SPACE}})
    other = {**VALUES, "n_trials": 1, "spaces": {"arerec": SPACE}, "warmup_epochs": 1}
    assert tuning.study_key(base, SearchSettings.checked(other), "arerec") != tuning.study_key(
        base, SearchSettings.checked({**VALUES, "spaces": {"arerec": SPACE}}), "arerec")
    trained = first.studies["arerec"].trials[0]
    history = read_results(run_paths(base, trained["run"]))
    second = tuning.search(base, other)
    loaded = second.studies["arerec"].trials[0]
    assert loaded["run"] == trained["run"] and loaded["val_score"] == trained["val_score"]
    study = second.studies["arerec"].study
    frozen = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))[0]
    assert frozen.intermediate_values == {2 * int(e): pytest.approx(v) for e, v in zip(
        history["epoch"], history["val_ce"], strict=True)}
    # its seconds are what the run took to train and evaluate, not the moment it took to load it
    spent = round(float(history["seconds"].sum() + history["eval_seconds"].sum()), 1)
    assert trained["seconds"] == loaded["seconds"] == spent > frozen.user_attrs["seconds"]


def test_a_copy_cut_off_by_a_killed_process_is_copied_again_not_trained(tmp_path):
    optuna = tuning.quiet_optuna()
    base = _base(tmp_path)
    tune = SearchSettings.checked({**VALUES, "spaces": {"arerec": SPACE}})
    space = tuning.parse_space("arerec", SPACE)
    earlier = tmp_path / "arerec-0123456789ab.journal"
    old = tuning.open_study(earlier, "arerec", "minimize", tune)
    for value in (1.40, 1.42, 1.44):
        old.add_trial(optuna.trial.create_trial(
            state=optuna.trial.TrialState.COMPLETE, value=value, params={"lr": 0.01, "dropout_lcu": 0.25,
                                                                          "log2_emb_size": 3},
            distributions=space.distributions(), intermediate_values={1: 1.6, 2: value}))
    new = tuning.open_study(tuning.study_path(base, tune, "arerec"), "arerec", "minimize", tune)
    first = old.get_trials()[0]  # the process copied trial 0, then was killed while it copied trial 1
    new.enqueue_trial(first.params, user_attrs={"continued_from": f"{earlier.stem} #0"})
    new.tell(new.ask(first.distributions), 1.40)
    new.enqueue_trial(first.params, user_attrs={"continued_from": f"{earlier.stem} #1"})
    new.ask(first.distributions)
    assert tuning._only_copies(new)
    assert tuning.continue_earlier(new, earlier, space) == 2  # trials 1 and 2; 0 was copied already
    finished = tuning._finished(new)
    assert [t.user_attrs["continued_from"] for t in finished] == [f"{earlier.stem} #{n}" for n in range(3)]
    assert tuning.requeue_cut_off(new) == []  # the cut-off copy (told FAIL) is not trained as a trial
    assert not new.get_trials(states=(optuna.trial.TrialState.WAITING,))
