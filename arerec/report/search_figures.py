"""Figures of a hyper-parameter search: Optuna's own matplotlib views of each model's study.

- :func:`history`: each trial's objective in order, and the best so far (``plot_optimization_history``);
- :func:`importances`: how much of the objective's variation each parameter explains (``plot_param_importances``,
  fANOVA with a fixed seed), when the study has enough completed trials to say.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from matplotlib.figure import Figure

MIN_TRIALS_FOR_IMPORTANCE = 3  # completed trials; fewer give no variation to split between parameters


def _matplotlib_views():
    from arerec.sweeps.tuning import quiet_optuna

    optuna = quiet_optuna()
    return optuna, optuna.visualization.matplotlib


def _caption(ax, study: Any, what: str) -> Figure:
    fig = ax.figure
    done = sum(t["state"] == "complete" for t in study.trials)
    pruned = sum(t["state"] == "pruned" for t in study.trials)
    ax.set_title("", loc="left")  # Optuna's own title, which would overlap ours
    ax.set_title(f"{study.model}: {what}\n{len(study.trials)} trials ({done} complete, {pruned} pruned), "
                 f"validation {study.objective}, {'lower' if study.direction == 'minimize' else 'higher'} is better",
                 fontsize=9)
    fig.set_size_inches(6.4, 3.6)
    fig.tight_layout()
    return fig


def history(study: Any) -> Figure:
    """The objective of every trial in order and the best so far (a pruned trial shows its last report)."""
    optuna, views = _matplotlib_views()
    from matplotlib.ticker import MaxNLocator

    ax = views.plot_optimization_history(study.study, target_name=f"validation {study.objective}")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # trial numbers
    return _caption(ax, study, "optimisation history")


def importances(study: Any) -> Figure | None:
    """fANOVA importances of the parameters (seed 0); None with fewer than 3 completed trials or 2 parameters."""
    optuna, views = _matplotlib_views()
    done = sum(t["state"] == "complete" for t in study.trials)
    if done < MIN_TRIALS_FOR_IMPORTANCE or len(study.space.dimensions) < 2:
        return None
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
    ax = views.plot_param_importances(study.study, evaluator=evaluator, target_name=f"validation {study.objective}")
    return _caption(ax, study, "hyper-parameter importances (fANOVA)")


def figures(studies: Mapping[str, Any]) -> dict[str, Figure]:
    """``search_history_{model}`` and, where they can be computed, ``search_importance_{model}`` per study."""
    out: dict[str, Figure] = {}
    for model, study in studies.items():
        if not study.space.dimensions:
            continue
        out[f"search_history_{model}"] = history(study)
        fig = importances(study)
        if fig is not None:
            out[f"search_importance_{model}"] = fig
    return out
