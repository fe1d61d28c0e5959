"""Captions and the little phrases figures and tables share: the seeds a result is over, and what a table for a paper
(``tables/headline.tex``, ``tables/verdicts.tex``) shows, in one sentence each."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from arerec.report import formatting, names
from arerec.sweeps.headline import DATASET_NAMES
from arerec.sweeps.tuning import choose


def seeds(values: Sequence[Any]) -> str:
    """'seed 0' or 'seeds 0, 1, 2'; 'no seeds' for none."""
    numbers = sorted({int(s) for s in values})
    if not numbers:
        return "no seeds"
    return f"seed {numbers[0]}" if len(numbers) == 1 else f"seeds {', '.join(map(str, numbers))}"


def _spread(values: Sequence[Any]) -> str:
    return ("one seed, so no interval" if len(set(values)) <= 1
            else f"mean ± 95% CI over {seeds(values)}")


def headline(cfg: Any, values: Sequence[Any], k: int) -> str:
    """The caption of the tuned headline's table."""
    dataset = DATASET_NAMES.get(cfg.data.dataset, cfg.data.dataset)
    return (f"Test metrics on {dataset} (clean protocol) of each model at its own validation optimum, "
            f"{_spread(values)}. Faithful HR@{k} and NDCG@{k} are the reference code's own; standard NDCG@{k} is "
            "tie-aware; RMSE and MAE are of the expected rating.")


def verdicts(cfg: Any, values: Sequence[Any]) -> str:
    """The caption of the verdicts' table."""
    dataset = DATASET_NAMES.get(cfg.data.dataset, cfg.data.dataset)
    return (f"The paper's claims on {dataset} (clean protocol), judged over {seeds(values)} (the paired difference a "
            "− b with its 95% CI) and over test users (the mean per-user difference with its bootstrap 95% CI; "
            "Wilcoxon signed-rank p-values adjusted by Holm's method over every claim). Supported or not supported "
            "only when both agree.")


def effort(record: Any) -> str:
    """One sentence on the training ARERec's and attention off's searches got (:meth:`SearchResult.effort`)."""
    if not record:
        return ""
    on, off = record["arerec"], record["arerec_attention_off"]
    return (f"Effort: *ARERec*'s {formatting.integer(on['n_trials'])} trials trained "
            f"{formatting.number(on['epochs'], 1)} epochs in {formatting.duration(on['seconds'])}, and *attention off*'s "
            f"{formatting.integer(off['n_trials'])} trained {formatting.number(off['epochs'], 1)} epochs in "
            f"{formatting.duration(off['seconds'])}: attention off got {formatting.number(record['off_over_on_epochs'], 2)}"
            f" times ARERec's epochs and {formatting.number(record['off_over_on_seconds'], 2)} times its seconds "
            "(seconds on a shared machine vary with its load; epochs do not)." + "".join(
                f" {formatting.integer(r['continued'])} of *{name}*'s trials were carried over from its study over a "
                "coarser grid, with the epochs and seconds they had taken (docs/decisions.md 32)."
                for name, r in (("ARERec", on), ("attention off", off)) if r.get("continued")) + "".join(
                f" {formatting.integer(r['infeasible'])} configuration(s) *{name}*'s sampler drew were not trained, "
                "as a batch would gather more LCU values than `max_batch_values` allows; they are not among its "
                "trials (docs/decisions.md 33)."
                for name, r in (("ARERec", on), ("attention off", off)) if r.get("infeasible")))


def choice(records: Any) -> str:
    """A sentence per study chosen by the one-standard-error rule (``choose_within``): which trial it took, its size
    and score, against the best trial's (``records``: :meth:`SearchResult.records`)."""
    out = []
    for model, record in records.items():
        margin, number = record.get("choose_within"), record.get("chosen_trial")
        trials = {t["number"]: t for t in record.get("trials", [])}
        best = choose(record.get("trials", []), record["direction"])
        if margin is None or number not in trials or best is None:
            continue
        chosen = trials[number]
        said = (f"*{names.model(model)}*: the smallest model within {formatting.number(margin, 4)} of the best "
                f"`{record['objective']}` (the one-standard-error rule, with the seed-to-seed standard "
                f"deviation as the margin: docs/decisions.md 38) is trial {number}, "
                f"{formatting.integer(chosen['parameters'])} parameters at {formatting.number(chosen['val_score'], 4)}")
        out.append(said + ("; it is the best trial." if number == best["number"] else
                           f", chosen over the best trial, {best['number']} "
                           f"({formatting.integer(best['parameters'])} parameters at "
                           f"{formatting.number(best['val_score'], 4)})."))
    return " ".join(out)
