"""arerec.bench.pruners: a study's curves replayed through its own pruner give its own decisions back, and through
successive halving the decisions that one makes."""

import numpy as np

from arerec.bench import pruners
from arerec.sweeps.tuning import quiet_optuna


def _record_study(journal, curves, pruner):
    """A study whose trials 'train' by reporting fixed curves (2 reports an epoch), pruned as they go."""
    optuna = quiet_optuna()
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(str(journal)))
    study = optuna.create_study(study_name="arerec", storage=storage, direction="minimize", pruner=pruner)
    for curve in curves:
        trial = study.ask()
        for step, value in enumerate(curve, start=1):
            trial.report(value, step)
            if trial.should_prune():
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                break
        else:
            study.tell(trial, min(curve))
    return study


def test_a_replay_gives_the_studys_own_decisions_back_and_another_pruners(tmp_path):
    rng = np.random.default_rng(0)
    # 12 trials of 8 epochs: a falling curve at its own level, a few slow starters that end best
    curves = []
    for n in range(12):
        level = 1.4 + 0.01 * rng.normal()
        start = 1.7 if n in (6, 9) else 1.5
        curve = np.linspace(start, level - (0.05 if n in (6, 9) else 0.0), 16)
        curves.append(curve.tolist())
    journal = tmp_path / "arerec.journal"
    median = pruners.make_pruner("median", warmup_epochs=2, reports_per_epoch=2, max_epochs=8)
    study = _record_study(journal, curves, median)
    recorded = {t.number: t.state.name.lower() for t in study.get_trials()}
    read, direction, _name = pruners.read_curves(journal)
    assert direction == "minimize" and [c.number for c in read] == list(range(12))
    again = pruners.replay(read, pruners.make_pruner("median", warmup_epochs=2, reports_per_epoch=2, max_epochs=8),
                           direction, 2)
    assert {r["number"]: r["outcome"] for r in again} == recorded  # the replay is exact
    assert all(r["epochs"] >= 2 for r in again if r["outcome"] == "pruned")  # the warm-up holds
    halving = pruners.replay(read, pruners.make_pruner("successive_halving", warmup_epochs=1, reports_per_epoch=2,
                                                       max_epochs=8), direction, 2)
    stopped = [r for r in halving if r["outcome"] == "pruned"]
    assert stopped and min(r["epochs"] for r in stopped) == 1.0  # its first rung is one epoch
    stats = pruners.summary(halving, read, direction)
    best = min((t for t in study.get_trials() if t.value is not None), key=lambda t: t.value).number
    assert stats["trials"] == 12 and stats["pruned_before_2_epochs"] >= 1 and stats["best_trial"] == best
    assert stats["epochs_at_least"] < pruners.summary(again, read, direction)["epochs_at_least"] + 100
    out = tmp_path / "replay.json"
    assert pruners.main(["--journal", str(journal), "--out", str(out)]) == 0 and out.is_file()
