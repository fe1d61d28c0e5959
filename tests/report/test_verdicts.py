"""arerec.report.verdicts: the paper's claims in words, named and written by the one formatter."""

from __future__ import annotations

import math

from arerec.report import verdicts
from arerec.report.formatting import NBSP

JUDGED = {"claim": "Attention beats attention off (RMSE)", "metric": "rmse", "a": "ARERec (tuned)",
          "b": "ARERec, attention off (tuned)", "n": 3, "mean_a": 1.0731, "mean_b": 1.1201, "mean_diff": -0.047,
          "ci": 0.0123, "verdict": "supported",
          "user_test": {"n_users": 943, "mean_diff": -0.0466, "ci_low": -0.061, "ci_high": -0.0321, "p_value": 2e-9,
                        "p_holm": 2.4e-8}}
UNDECIDED = {**JUDGED, "claim": "x", "mean_diff": -0.00004, "ci": 0.0048,
             "verdict": "not resolved (over seeds: not resolved by 3 seeds; over users, Holm: supported)"}
COLLAPSED = {**JUDGED, "claim": "y", "verdict": "not judged: ARERec, attention off (tuned) predicts 4 for 97.0% of test "
             "rows (seed 1)"}
LEFT_OUT = {"claim": "ARERec beats nothing", "metric": "rmse", "a": "ARERec (tuned)", "b": None, "verdict": "left out",
            "why": "no runs to compare (no model chosen)"}


def test_a_verdict_reads_as_sentences_with_models_by_name():
    text = verdicts.markdown([JUDGED]).replace(NBSP, " ")
    assert text == ("- **Attention beats attention off (RMSE)**: supported. Over 3 seeds, ARERec, tuned 1.0731 and "
                    "ARERec, attention off, tuned on its own 1.1201: a − b = −0.0470 ± 0.0123 (95% CI). Over 943 users: "
                    "a − b = −0.0466 (−0.0610 to −0.0321), Wilcoxon p < 0.001, Holm p < 0.001.")


def test_why_a_claim_was_not_decided_is_said_in_words():
    assert verdicts.short(UNDECIDED["verdict"]) == "not resolved"
    detail = verdicts.detail(UNDECIDED).replace(NBSP, " ")
    assert "a − b = −0.00004 ± 0.00480" in detail  # never −0.0000 ± 0.0048
    assert detail.endswith("Over seeds: not resolved by 3 seeds; over users (Holm): supported.")
    assert verdicts.detail(COLLAPSED).endswith("ARERec, attention off, tuned on its own predicts 4 for 97.0% of test "
                                               "rows (seed 1).")
    assert verdicts.markdown([LEFT_OUT]) == "- **ARERec beats nothing**: left out. No runs to compare (no model chosen)."


def test_the_verdict_table_has_one_row_per_claim_in_text_cells():
    table = verdicts.table([JUDGED, LEFT_OUT])
    assert table.columns.tolist() == ["claim", "a", "b", "seeds", "a − b over seeds (95% CI)", "users",
                                      "a − b over users (95% CI)", "Holm p", "verdict"]
    first = table.iloc[0].tolist()
    assert first[1:4] == ["ARERec, tuned", "ARERec, attention off, tuned on its own", 3]
    assert first[4].replace(NBSP, " ") == "−0.0470 ± 0.0123" and first[8] == "supported"
    second = table.iloc[1].tolist()
    assert second[2] == "–" and second[4] == "–" and second[7] == "–" and math.isnan(second[5])
