"""Figures of a hyper-parameter search: Optuna's own matplotlib views of each model's study.

- :func:`history`: each trial's objective in order, and the best so far (``plot_optimization_history``);
- :func:`importances`: how much of the objective's variation each parameter explains (``plot_param_importances``,
  fANOVA with a fixed seed), only once the study has completed at least as many trials as the sampler draws at
  random before TPE starts (``n_startup_trials``): importances of random draws alone describe the draws, and
  fewer trials say nothing; :func:`importance_note` says so on the page.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from matplotlib.figure import Figure

from arerec.report import names


def _matplotlib_views():
    from arerec.sweeps.tuning import quiet_optuna

    optuna = quiet_optuna()
    return optuna, optuna.visualization.matplotlib


def _completed(study: Any) -> int:
    return sum(t["state"] == "complete" for t in study.trials)


def _caption(ax, study: Any, what: str) -> Figure:
    fig = ax.figure
    pruned = sum(t["state"] == "pruned" for t in study.trials)
    ax.set_title("", loc="left")  # Optuna's own title, which would overlap ours
    better = "lower" if study.direction == "minimize" else "higher"
    ax.set_title(f"{names.model(study.model)}: {what}\n{len(study.trials)} trials ({_completed(study)} complete, "
                 f"{pruned} pruned), {names.metric(study.objective) or study.objective}, {better} is better", fontsize=9)
    fig.set_size_inches(6.4, 3.6)
    fig.tight_layout()
    return fig


def history(study: Any) -> Figure:
    """The objective of every trial in order and the best so far (a pruned trial shows its last report)."""
    _, views = _matplotlib_views()
    from matplotlib.ticker import MaxNLocator

    ax = views.plot_optimization_history(study.study, target_name=names.metric(study.objective) or study.objective)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # trial numbers
    return _caption(ax, study, "optimisation history")


def importances(study: Any, random_starts: int) -> Figure | None:
    """fANOVA importances of the parameters (seed 0); None below ``random_starts`` completed trials (at least 2) or
    with fewer than 2 parameters."""
    optuna, views = _matplotlib_views()
    if _completed(study) < max(random_starts, 2) or len(study.space.dimensions) < 2:
        return None
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
    ax = views.plot_param_importances(study.study, evaluator=evaluator,
                                      target_name=names.metric(study.objective) or study.objective)
    return _caption(ax, study, "hyper-parameter importances (fANOVA)")


def figures(studies: Mapping[str, Any], random_starts: int) -> dict[str, Figure]:
    """``search_history_{model}`` and, where they can be computed, ``search_importance_{model}`` per study."""
    out: dict[str, Figure] = {}
    for model, study in studies.items():
        if not study.space.dimensions:
            continue
        out[f"search_history_{model}"] = history(study)
        fig = importances(study, random_starts)
        if fig is not None:
            out[f"search_importance_{model}"] = fig
    return out


def importance_note(studies: Mapping[str, Any], random_starts: int) -> str:
    """A sentence naming the searched models whose importances are not drawn, and why ('' when all are)."""
    few = [names.model(m) for m, s in studies.items() if s.space.dimensions and _completed(s) < max(random_starts, 2)]
    if not few:
        return ""
    return (f"No importance figure for {', '.join(few)}: fewer completed trials than the sampler's {random_starts} "
            "random starts (`validation_search.n_startup_trials`). Until TPE has drawn a trial of its own, every trial "
            "is a random draw, and an importance computed from so few says how the draws happened to fall, not what "
            "the objective depends on.")
