"""arerec.sweeps.progress: run i of n, an ETA from the runs already finished, on the log channel."""

from arerec.console import LOG_ENV
from arerec.sweeps.progress import Progress, pool_line


def test_lines_count_runs_and_estimate_what_is_left(tmp_path, monkeypatch, capsys):
    log = tmp_path / "logs" / "02_training.log"
    monkeypatch.setenv(LOG_ENV, str(log))
    progress = Progress(4, "02_training")
    progress.start("first")
    assert "[02_training] run 1/4: first | 0/4 done" in log.read_text()
    assert progress.eta() is None
    progress.done(10.0)
    progress.done(30.0)  # two finished runs: 20 s each on average, 2 left
    assert progress.eta() == 40.0
    progress.start("third")
    assert "run 2/4: third | 2/4 done" in log.read_text() and "about 40 s left" in progress.line("x")
    progress.add(2)
    assert progress.total == 6 and progress.eta() == 80.0
    assert "\r" not in log.read_text()  # one line per redraw, readable in a file
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""  # nothing reaches the notebook's page


def test_more_runs_than_planned_extend_the_total(tmp_path, monkeypatch):
    monkeypatch.setenv(LOG_ENV, str(tmp_path / "x.log"))
    progress = Progress(1, "03_ablation")
    progress.start("a")
    progress.start("b")
    assert progress.total == 2 and "run 2/2: b" in (tmp_path / "x.log").read_text()


def test_without_a_log_file_lines_go_to_stderr(monkeypatch, capsys):
    monkeypatch.delenv(LOG_ENV, raising=False)
    Progress(2, "01").start("a")
    assert "[01] run 1/2: a" in capsys.readouterr().err


def test_pool_line():
    assert pool_line("ray", 3, 2, 3, 150.0) == ("[ray] 3/8 runs done, 2 running, 3 queued (2.5 min so far, "
                                                "about 4.2 min left)")
