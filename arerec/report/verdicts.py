"""The paper's claims as a reader sees them: the verdicts recorded by :func:`arerec.evaluate.claims.judge`, in words.

One place for the verdicts' prose and table, shared by notebook 02 (and 03's region claim), the index and
``tables/verdicts.tex``: :func:`markdown` (a list, a claim a line, its numbers over seeds and over users), :func:`table`
(one row per claim, text cells) and :func:`detail` (a claim's numbers in one sentence). Models and metrics are named by
:mod:`arerec.report.names`; every difference is written with its interval at one precision
(:func:`arerec.report.formatting.signed`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from arerec.report import formatting, names

WORDS = ("not supported", "supported", "not resolved", "not judged", "left out")


def short(verdict: Any) -> str:
    """The verdict in one or two words: supported, not supported, not resolved, not judged or left out."""
    text = str(verdict)
    return next((w for w in WORDS if text.startswith(w)), text)


def _named(text: str) -> str:
    """A recorded sentence with the models it names (``ARERec, attention off (tuned) predicts 4 ...``) by name."""
    for key in sorted((k for k in names.MODELS if not k.isalpha()), key=len, reverse=True):
        text = re.sub(rf"(?<![\w]){re.escape(key)}(?![\w])", names.MODELS[key], text)
    return text


def reason(v: Mapping[str, Any]) -> str:
    """Why a claim is not resolved, not judged or left out ('' for supported and not supported)."""
    text = str(v.get("verdict", ""))
    if text.startswith("not resolved ("):
        return text[len("not resolved ("):-1].replace("over users, Holm:", "over users (Holm):")
    if text.startswith("not judged: "):
        return _named(text[len("not judged: "):])
    if text == "left out":
        why = str(v.get("why") or v.get("numbers") or "")
        return _named(why.replace("no rows for None", "this experiment has no such run").replace("None", "–"))
    return ""


def over_seeds(v: Mapping[str, Any]) -> str:
    """'Over 5 seeds, ARERec, tuned 0.5620 and biased MF 0.5760: a − b = −0.0140 ± 0.0040 (95% CI)' ('' if not run)."""
    if formatting.missing(v.get("mean_diff")):
        return ""
    n = v.get("n")
    difference = formatting.signed(v["mean_diff"], v.get("ci"))
    interval = " (95% CI)" if not formatting.missing(v.get("ci")) else " (one seed: no interval)"
    seeds = f"Over {n} seed{'s' if n != 1 else ''}" if n is not None else "Over seeds"
    means = ""
    if not formatting.missing(v.get("mean_a")) and not formatting.missing(v.get("mean_b")):
        means = (f", {names.model(v['a'])} {formatting.fixed(v['mean_a'], 4)} and {names.model(v['b'])} "
                 f"{formatting.fixed(v['mean_b'], 4)}")
    return f"{seeds}{means}: a − b = {difference}{interval}"


def over_users(v: Mapping[str, Any]) -> str:
    """'Over 943 users: a − b = −0.0138 (−0.0170 to −0.0105), Wilcoxon p < 0.001, Holm p < 0.001' ('' if not run)."""
    test = v.get("user_test")
    if not isinstance(test, Mapping) or formatting.missing(test.get("mean_diff")):
        return ""
    text = (f"Over {test.get('n_users')} users: a − b = "
            f"{formatting.signed(test['mean_diff'], low=test.get('ci_low'), high=test.get('ci_high'))}")
    if not formatting.missing(test.get("p_value")):
        text += f", Wilcoxon p {formatting.p_value(test['p_value'])}"
    if not formatting.missing(test.get("p_holm")):
        text += f", Holm p {formatting.p_value(test['p_holm'])}"
    return text


def detail(v: Mapping[str, Any]) -> str:
    """A claim's numbers over seeds and over users, then why it was not decided (or why it was left out), as
    sentences."""
    why = reason(v)
    parts = [over_seeds(v), over_users(v), why[:1].upper() + why[1:]]
    return " ".join(f"{part}." for part in parts if part)


def markdown(verdicts: Sequence[Mapping[str, Any]]) -> str:
    """The verdicts as a Markdown list: the claim and its verdict in words, then :func:`detail`."""
    return "\n".join(f"- **{v['claim']}**: {short(v['verdict'])}. {detail(v)}" for v in verdicts)


def table(verdicts: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per claim as text cells: the claim, its sides, the difference over seeds with its 95% CI, over users
    with its bootstrap 95% CI, the Holm-adjusted p-value and the verdict (the page's table and ``verdicts.tex``)."""
    rows = []
    for v in verdicts:
        test: Mapping[str, Any] = v["user_test"] if isinstance(v.get("user_test"), Mapping) else {}
        rows.append({
            "claim": v["claim"], "a": names.model(v.get("a") or formatting.MISSING),
            "b": names.model(v.get("b") or formatting.MISSING), "seeds": v.get("n"),
            "a − b over seeds (95% CI)": formatting.signed(v.get("mean_diff"), v.get("ci")),
            "users": test.get("n_users"),
            "a − b over users (95% CI)": formatting.signed(test.get("mean_diff"), low=test.get("ci_low"),
                                                           high=test.get("ci_high")),
            "Holm p": formatting.p_value(test.get("p_holm")) if "p_holm" in test else formatting.MISSING,
            "verdict": short(v["verdict"])})
    return pd.DataFrame(rows)
