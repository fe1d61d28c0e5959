"""One name per thing: the keys of ``metrics.json`` and of the tables' CSVs, and the words a reader sees for them.

Every title, axis, column, legend and sentence of the report pages, the index and ``tables/*.tex`` takes its names
from here (:func:`shown`), so that a metric or a model is called the same everywhere. The keys themselves stay
what the package records (``ndcg@10``, ``ARERec (tuned)``, ``biased_mf``); only what is shown changes.

- metrics: ``hr@k`` is the reference's *faithful* HR@k, ``ndcg@k`` its faithful NDCG@k, ``std_ndcg@k`` the
  standard, tie-aware NDCG@k (docs/metric.md); ``rmse``, ``mae`` and ``accuracy`` are standard;
- models: the tuned models of 02, the baselines, and the three runs with attention off, each named for what it
  is (:data:`MODELS`); 03's variants are named from their overrides (:func:`variant`);
- terms defined once on the pages where they first appear (:data:`TERMS`): ``val_ce`` and the LCU.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

# The metrics, by key (a ranking metric's key ends in @k).
RANKING = {"hr": "faithful HR", "ndcg": "faithful NDCG", "std_ndcg": "standard NDCG"}
METRICS = {
    "rmse": "RMSE", "mae": "MAE", "accuracy": "accuracy", "rmse_argmax": "RMSE of the predicted class",
    "loss": "training loss", "val_loss": "validation loss", "val_ce": "validation cross-entropy",
    "val_rmse": "validation RMSE",
    "majority_share": "share of the most predicted class",
}

# The models: the tuned ARERec models of 02 (arerec.sweeps.headline), the seed-schedule rows (params' headline_variants),
# the studies of the search (arerec.sweeps.spaces) and the baselines (arerec.evaluate.baselines).
MODELS = {
    "ARERec (tuned)": "ARERec, tuned",
    "ARERec, attention off (tuned)": "ARERec, attention off, tuned on its own",
    "ARERec, windowed region": "ARERec's tuned configuration with the windowed region",
    "ARERec (faithful: dense Adam)": "ARERec at the seed's schedule (dense Adam)",
    "ARERec (fast: lazy Adam)": "ARERec at the seed's schedule (lazy Adam)",
    "ARERec, attention off (item-only)": "ARERec at the seed's schedule, attention off",
    "arerec": "ARERec", "arerec_attention_off": "ARERec, attention off",
    "global_mean": "global mean", "global_mode": "global mode", "item_mean": "item mean", "item_mode": "item mode",
    "user_item_bias": "user+item bias", "biased_mf": "biased MF", "item_knn": "item-kNN", "user_knn": "user-kNN",
}

# 03's variants: ARERec's tuned configuration with one setting changed (arerec.sweeps.ablation labels them k=v).
TUNED_CONFIGURATION = "ARERec's tuned configuration"
CHANGES = {
    ("use_attention", "0"): "without attention", ("region_mode", "window"): "with the windowed region",
    ("region_mode", "reference"): "with the code's region", ("num_head", "1"): "with one head",
}

# Settings and table columns, by key; a key not here reads with its underscores as spaces.
COLUMNS = {
    "n": "seeds", "seed": "seed", "best_epoch": "chosen epoch", "stopped_early": "stopped early", "at_cap": "at cap",
    "epochs_trained": "epochs trained", "lr": "learning rate", "num_head": "heads", "emb_size": "embedding size",
    "region_size": "region size", "region_mode": "region", "use_attention": "attention", "batch_size": "batch size",
    "model_name": "run", "train_seconds": "training time (s)", "seconds": "time (s)",
    "eval_seconds": "evaluation time (s)", "mean_diff": "mean difference", "ci": "± 95% CI",
    "relative_attention": "relative attention (1 = uniform)", "share_of_kept_rows": "share of kept rows",
    "val_score": "validation score", "p_value": "p", "p_holm": "Holm p", "dropout_emb": "dropout (embeddings)",
    "dropout_lcu": "dropout (LCU lookups)", "dropout_hidden": "dropout (after the region)",
    "l2_weights": "L2 (attention and output weights)", "table_l2": "L2 (looked-up table rows)",
    "best_val_score": "best validation score", "n_factors": "factors", "reg_all": "regularisation", "lr_all": "learning rate", "n_epochs": "epochs",
    "parameters": "model size (weights)", "reg_u": "user regularisation", "reg_i": "item regularisation", "k": "k", "min_support": "minimum support",
}

# Terms a page defines where it first uses them.
TERMS = {
    "val_ce": ("`val_ce` is the validation cross-entropy without any L2 term, so that trials with other L2 rates "
               "compare fairly (`val_loss` adds the L2 penalty of the weights)"),
    "LCU": ("an LCU (local context unit) is ARERec's per-interaction region embedding: for each (item, neighbour) "
            "interaction, a small matrix looked up from its own table, which projects the neighbour's embedding"),
}

_RANKED = re.compile(r"^(std_ndcg|ndcg|hr)(?:@(\d+|k))?$")


def metric(key: str, k: int | None = None) -> str | None:
    """The name of a metric key (``ndcg@10`` -> ``faithful NDCG@10``; a bare ``ndcg`` takes ``k``), None if not one."""
    match = _RANKED.match(key)
    if match:
        kind, at = match.groups()
        at = at or (str(k) if k is not None else "k")
        return f"{RANKING[kind]}@{at}"
    return METRICS.get(key)


def variant(label: str) -> str:
    """03's variant label (``base``, ``use_attention=0 (item-only)``, ``num_head=1, region_size=3``) in words."""
    if label == "base":
        return TUNED_CONFIGURATION
    changes = []
    for part in label.replace(" (item-only)", "").split(", "):
        key, _, value = part.partition("=")
        words = CHANGES.get((key, value))
        if words is None:
            setting = COLUMNS.get(key, key.replace("_", " "))
            words = f"with {value} {setting}" if key == "num_head" else f"with {setting} {value}"
        changes.append(words)
    return f"{TUNED_CONFIGURATION} {' and '.join(changes)}"


def model(key: Any) -> str:
    """The name of a model key; 03's variant labels too; anything else as it is."""
    text = str(key)
    if text in MODELS:
        return MODELS[text]
    if text == "base" or re.match(r"^[a-z_]+=", text):
        return variant(text)
    return text


def column(key: Any, k: int | None = None) -> str:
    """A column key in words: a metric's name, ``_ci`` as '± 95% CI', a known setting, else underscores as spaces."""
    text = str(key)
    if text.endswith("_ci") and text != "_ci":
        return f"{column(text[:-3], k)} ± 95% CI"
    if ": " in text:  # "original: val_loss", "ours: hr@10"
        prefix, _, rest = text.partition(": ")
        return f"{prefix}: {column(rest, k)}"
    return metric(text, k) or COLUMNS.get(text) or text.replace("_", " ")


def shown(key: Any, k: int | None = None) -> str:
    """Whatever a key names (a metric, a model, a variant, a column), in words."""
    text = str(key)
    return metric(text, k) or (model(text) if text in MODELS or text == "base" or "=" in text else column(text, k))


# Columns whose values are keys (a model, a metric, a setting) rather than text: their cells are shown by name.
KEY_COLUMNS: dict[str, Callable[..., Any]] = {"model": model, "a": model, "b": model, "variant": model, "best baseline": model,
               "metric": metric, "objective": metric, "parameter": column}
# Columns of flags recorded as 0 and 1: shown yes and no.
FLAGS = {"stopped_early", "stopped early", "at_cap", "at cap", "chosen", "used_by_model", "use_attention"}


def cell(column_key: Any, value: Any, k: int | None = None) -> Any:
    """A cell of a key column (:data:`KEY_COLUMNS`) by name; any other cell as it is."""
    namer = KEY_COLUMNS.get(str(column_key))
    if namer is None or not isinstance(value, str):
        return value
    if namer is metric:
        return metric(value, k) or value
    return namer(value)
