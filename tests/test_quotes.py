"""The numbers README.md and docs/ quote from a report are those of its committed metrics.json (arerec.report.quotes)."""

from __future__ import annotations

import json
import re

import pytest
from conftest import REPO

from arerec.report import quotes


def test_every_quoted_number_is_its_reports_number_now():
    found = quotes.find(REPO)
    assert len(found) >= 30 and {q.experiment for q in found} >= {"full"}
    stale = quotes.stale(REPO, REPO / "reports")
    assert not stale, "\n".join(f"{q.file.name}: {q.path}: {q.text!r}, the report says {want!r} (run `python -m "
                                f"arerec.report.quotes --write`)" for q, want in stale)


@pytest.mark.parametrize(("path", "section"), [("README.md", "## Results"),
                                               ("docs/metric.md", "## Why it sits about"),
                                               ("docs/results.md", "## The claims")])
def test_the_sections_that_quote_reports_quote_every_number(path, section):
    text = (REPO / path).read_text()
    part = text[text.index(section):]
    part = part[:part.index("\n## ", 1)] if "\n## " in part[1:] else part
    unquoted = quotes.QUOTE.sub("", part)
    assert not re.findall(r"\b\d\.\d{3}\b", unquoted), f"{path}: a report's number written by hand"


def test_a_changed_report_makes_a_quote_stale_and_write_follows_it(tmp_path):
    (tmp_path / "docs").mkdir()
    quote = "<!--q:full:02_training.headline_summary[model=ARERec (tuned)].ndcg@10|mean_ci-->0.562 ± 0.004<!--/q-->"
    (tmp_path / "README.md").write_text(f"It scores {quote}.\n")
    (tmp_path / "docs" / "x.md").write_text("<!--q:full:run.git.commit|commit-->4cf0604<!--/q-->\n")
    folder = tmp_path / "reports" / "full"
    folder.mkdir(parents=True)
    metrics = {"run": {"git": {"commit": "4cf06049b9"}}, "02_training": {"headline_summary": [
        {"model": "ARERec (tuned)", "ndcg@10": 0.5622, "ndcg@10_ci": 0.0037}, {"model": "item_mean", "ndcg@10": 0.5}]}}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    assert quotes.stale(tmp_path, tmp_path / "reports") == []
    metrics["02_training"]["headline_summary"][0]["ndcg@10"] = 0.5711
    (folder / "metrics.json").write_text(json.dumps(metrics))
    [(stale, want)] = quotes.stale(tmp_path, tmp_path / "reports")
    assert stale.text == "0.562 ± 0.004" and want == "0.571 ± 0.004"
    assert quotes.main(["--root", str(tmp_path)]) == 1
    quotes.write(tmp_path, tmp_path / "reports")
    assert "0.571 ± 0.004<!--/q-->." in (tmp_path / "README.md").read_text()
    assert quotes.main(["--root", str(tmp_path)]) == 0


def test_a_path_that_is_not_in_the_report_is_an_error():
    metrics = {"a": [{"model": "x", "v": 1}, {"model": "x", "v": 2}]}
    with pytest.raises(KeyError, match="2 items with model=x"):
        quotes.lookup(metrics, "a[model=x].v")
    with pytest.raises(KeyError, match="no 'w'"):
        quotes.lookup({"a": {}}, "a.w")
    assert quotes.lookup({"a": [{"model": "y", "v": 3}]}, "a[model=y].v") == ({"model": "y", "v": 3}, "v")


def test_a_verdicts_differences_keep_their_sign_and_their_intervals_precision():
    verdict = {"mean_diff": 0.08731, "ci": 0.00482}
    users = {"mean_diff": 0.0101, "ci_low": -0.00041, "ci_high": 0.0205}
    assert quotes.FORMATS["diff_seeds"](0.08731, verdict, "mean_diff") == "+0.0873 ± 0.0048"
    assert quotes.FORMATS["diff_users"](0.0101, users, "mean_diff") == "+0.0101 (-0.0004 to +0.0205)"
    assert quotes.FORMATS["p"](0.00012, {}, "p_holm") == "< 0.001"
    assert quotes.FORMATS["p"](0.2400472, {}, "p_holm") == "0.24"
    assert quotes.FORMATS["model"]("biased_mf", {}, "b") == "biased MF"
