"""arerec.sweeps.progress: run i of n, tqdm's estimate of the time left, on the log channel."""

import io

import pytest
import tqdm.std
from tqdm import tqdm as Bar

from arerec.console import LOG_ENV
from arerec.sweeps.progress import PoolProgress, Progress, clock, counter


@pytest.fixture
def seconds(monkeypatch):
    """tqdm's clock, set by hand: ``seconds[0]`` is the time every bar made from here on reads."""
    now = [0.0]
    monkeypatch.setattr(tqdm.std, "time", lambda: now[0])
    return now


def test_lines_count_runs_and_estimate_what_is_left(tmp_path, monkeypatch, capsys, seconds):
    log = tmp_path / "logs" / "02_training.log"
    monkeypatch.setenv(LOG_ENV, str(log))
    progress = Progress(4, "02_training")
    progress.start("first")
    assert "[02_training] run 1/4: first | 0/4 done" in log.read_text()
    assert progress.eta() is None and "ETA after the first run" in progress.line("x")
    seconds[0] = 40.0
    progress.done()
    progress.done()  # two finished runs in 40 s: 20 s each on average, 2 left
    assert progress.eta() == 40.0
    progress.start("third")
    assert "run 2/4: third | 2/4 done [00:40<00:40]" in log.read_text()  # the bar's remaining and the line agree
    assert "(2 done, about 40 s left)" in progress.line("x")
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


def test_runs_that_will_not_happen_leave_the_total_but_never_below_the_runs_started(tmp_path, monkeypatch):
    monkeypatch.setenv(LOG_ENV, str(tmp_path / "x.log"))
    progress = Progress(10, "02_training")
    progress.start("a")
    progress.start("b")
    progress.add(-6)  # a committed optimum replaces the search's 6 trials
    assert progress.total == 4
    progress.add(-6)
    assert progress.total == 2


def test_without_a_log_file_lines_go_to_stderr(monkeypatch, capsys):
    monkeypatch.delenv(LOG_ENV, raising=False)
    Progress(2, "01").start("a")
    assert "[01] run 1/2: a" in capsys.readouterr().err


def test_pool_line(seconds):
    pool = PoolProgress("ray", 8)
    assert pool.line(2, 6) == "[ray] 0/8 runs done, 2 running, 6 queued (0 s so far, ETA after the first run)"
    seconds[0] = 150.0
    for _ in range(3):
        pool.done()
    assert pool.line(2, 3) == ("[ray] 3/8 runs done, 2 running, 3 queued (2.5 min so far, "
                               "about 4.2 min left)")  # 5 runs left at 50 s each


def test_a_counter_draws_nothing_and_leaves_a_drawn_bar_in_place(seconds):
    steps = counter(10)
    drawn = io.StringIO()
    bar = Bar(total=2, file=drawn, ascii=True, ncols=40, mininterval=0, bar_format="{n_fmt}/{total_fmt}")
    seconds[0] = 4.0
    steps.update(4)
    assert clock(steps) == (4.0, 6.0)  # 6 steps left at 1 s each
    bar.update(1)
    steps.close()
    bar.close()
    assert drawn.getvalue() == "\r0/2\r1/2\r1/2\n"  # at position 0: no cursor moves for a bar above it


def test_runs_loaded_on_resume_count_as_done_but_not_in_the_pace(tmp_path, monkeypatch, seconds):
    monkeypatch.setenv(LOG_ENV, str(tmp_path / "x.log"))
    progress = Progress(10, "02_training")
    for _ in range(8):  # a resumed sweep: 8 finished runs loaded in 4 s
        seconds[0] += 0.5
        progress.done(loaded=True)
    assert progress.bar.n == 8 and progress.eta() is None  # nothing trained yet: no pace to go by
    assert "ETA after the first run" in progress.line("x")
    seconds[0] += 600.0
    progress.done()  # one trained run of 10 min
    assert progress.eta() == pytest.approx(604.0)  # the last run at that pace (the loading's 4 s included)


def test_a_studys_trials_finished_before_count_as_done_in_one_line_and_not_in_the_pace(tmp_path, monkeypatch,
                                                                                       seconds):
    log = tmp_path / "x.log"
    monkeypatch.setenv(LOG_ENV, str(log))
    progress = Progress(40, "02_training")
    progress.start("the seed run")
    seconds[0] = 100.0
    progress.done()  # one trained run of 100 s
    progress.loaded(35, "search arerec: 35 trials finished before")
    assert "[02_training] runs 2-36/40: search arerec: 35 trials finished before | 36/40 done [01:40<06:40]" \
        in log.read_text()
    assert progress.bar.n == 36 and progress.started_n == 36
    assert progress.eta() == pytest.approx(400.0)  # 4 runs left at the trained run's pace, not at 36 in 100 s
    progress.loaded(0, "nothing")
    assert "nothing" not in log.read_text()
    progress.loaded(10, "more than planned")
    assert progress.total == 46 and progress.bar.n == 46
