"""arerec.sweeps.progress: run i of n, and an ETA from the runs already finished."""

from arerec.sweeps.progress import Progress


def test_lines_count_runs_and_estimate_what_is_left(capsys):
    progress = Progress(4, "02_training")
    progress.start("first")
    assert "[02_training] run 1/4: first (0 done" in capsys.readouterr().out
    assert progress.eta() is None
    progress.done(10.0)
    progress.done(30.0)  # two finished runs: 20 s each on average, 2 left
    assert progress.eta() == 40.0
    progress.start("third")
    assert "run 2/4: third (2 done" in capsys.readouterr().out and "about 40 s left" in progress.line("x")
    progress.add(2)
    assert progress.total == 6 and progress.eta() == 80.0


def test_more_runs_than_planned_extend_the_total(capsys):
    progress = Progress(1, "03_ablation")
    progress.start("a")
    progress.start("b")
    assert progress.total == 2 and "run 2/2: b" in capsys.readouterr().out
