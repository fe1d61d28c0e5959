"""arerec.notebook: reading a notebook's parameters, checking them, and its outputs."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from matplotlib.figure import Figure

from arerec import notebook
from arerec.config import Config
from arerec.errors import ConfigError


def kernel_namespace(*cells: str) -> dict:
    """A namespace as IPython leaves it after running ``cells`` in order (``In`` holds their sources)."""
    namespace: dict = {"In": [""]}
    for source in cells:
        namespace["In"].append(source)
        exec(source, namespace)  # noqa: S102 - test input
    namespace.pop("__builtins__", None)
    return namespace


def test_literal_assignments_accepts_only_parameter_cells():
    assert notebook.literal_assignments('a = 1\n# comment\nb = [1, {"x": -2.5}]\nc: int = 3') == {"a", "b", "c"}
    assert notebook.literal_assignments("a = f(1)") is None
    assert notebook.literal_assignments("import os\na = 1") is None
    assert notebook.literal_assignments("a.b = 1") is None
    assert notebook.literal_assignments("%matplotlib inline") is None
    assert notebook.literal_assignments("") is None


def test_parameter_values_come_from_literal_cells_only(tmp_path):
    ns = kernel_namespace(
        'experiment = "x"\nepochs = 3',  # the parameters cell
        "epochs = 5",  # papermill's injected cell: later wins
        "import math\nk = math.floor(2.5)\nframe = {'a': 1}.copy()",  # a computing cell: not parameters
    )
    assert notebook.parameter_values(ns) == {"experiment": "x", "epochs": 5}


def test_parameter_values_without_ipython_take_public_plain_globals():
    ns = {"epochs": 3, "_private": 1, "math": pytest, "frame": pd.DataFrame()}
    assert notebook.parameter_values(ns) == {"epochs": 3}


def test_start_builds_the_config_extras_and_folder(tmp_path):
    ns = kernel_namespace(f'experiment = "demo"\nreports_dir = "{tmp_path}"\ndataset = "synthetic"\nepochs = 1',
                          "attention_pairs = 2")
    nb = notebook.start(ns, "02_training")
    assert nb.cfg == Config(dataset="synthetic", epochs=1)
    assert nb.extras["attention_pairs"] == 2
    assert nb.extras["ablation_seeds"] == notebook.EXTRAS["ablation_seeds"].default
    assert nb.extras["validation_search"]["rungs"] == notebook.EXTRAS["validation_search"].default["rungs"]  # filled in and checked
    assert nb.folder == tmp_path / "demo" and nb.folder.is_dir()


def test_a_misspelled_parameter_is_an_error_naming_the_valid_keys(tmp_path):
    ns = kernel_namespace(f'reports_dir = "{tmp_path}"\nnum_heads = 4')
    with pytest.raises(ConfigError) as error:
        notebook.start(ns, "02_training")
    message = str(error.value)
    assert "'num_heads' (did you mean 'num_head'?)" in message
    assert "02_training" in message
    assert "Valid keys:" in message and "num_head" in message and "ablation_grid" in message


@pytest.mark.parametrize(
    "values, fragment",
    [
        ({"experiment": "a/b"}, "experiment must be a folder name"),
        ({"ablation_seeds": []}, "ablation_seeds must be a non-empty list"),
        ({"validation_search": {"grid": {}}}, "validation_search: grid must be a non-empty mapping"),
        ({"validation_search": {"grid": {"lr": []}}}, "validation_search: grid axis 'lr' must be a non-empty list"),
        ({"validation_search": {"grid": {"learning_rate": [0.1]}}}, "is not a Config field, so each entry must be a dict"),
        ({"validation_search": {"grid": {"reg": [{"use_dropot": 1}]}}}, "unknown key(s) in replace(): 'use_dropot'"),
        ({"validation_search": {"grid": {"lr": [-1.0]}}}, "grid configuration 'lr=-1': lr must be > 0"),
        ({"validation_search": {"patience": -1}}, "validation_search: patience must be an integer >= 1"),
        ({"validation_search": {"selection_metric": "auc"}}, "selection_metric must be one of val_loss, rmse, mae"),
        ({"validation_search": {"rungs": [2, 1]}}, "rungs must be a non-empty increasing list"),
        ({"validation_search": {"budget": 3}}, "unknown validation_search setting(s) ['budget']; valid: grid"),
        ({"baseline_grids": {"biased_mf": {"n_factors": []}}}, "biased_mf"),
        ({"baseline_grids": {"svd++": {"k": [1]}}}, "svd++"),
        ({"workers": 0}, "workers must be an integer >= 1"),
        ({"baselines": ["item_mean", "nope"]}, "unknown baseline(s) ['nope']"),
        ({"ablation_grid": [{"num_head": 3}]}, "ablation_grid entry 0 {'num_head': 3}: emb_size must be divisible"),
        ({"ablation_grid": [{"num_heads": 1}]}, "unknown key(s) in replace(): 'num_heads'"),
        ({"ablation_grid": []}, "ablation_grid must be a non-empty list"),
        ({"emb_size": 10, "num_head": 3}, "emb_size must be divisible by num_head"),
    ],
)
def test_resolve_checks_every_value(values, fragment):
    with pytest.raises(ConfigError) as error:
        notebook.resolve(values)
    assert fragment in str(error.value)


def test_update_metrics_merges_sections_and_writes_strict_json(tmp_path):
    notebook.update_metrics(tmp_path, "a", {"x": 1.5, "nan": float("nan")})
    notebook.update_metrics(tmp_path, "a", {"y": [float("inf"), 2]})
    notebook.update_metrics(tmp_path, "b", {"z": "s"})
    text = (tmp_path / "metrics.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"a": {"x": 1.5, "nan": None, "y": [None, 2]}, "b": {"z": "s"}}


def test_figure_table_record_and_finish_write_their_files(tmp_path):
    nb = notebook.Notebook("01_data_exploration", Config(data_path=str(tmp_path / "Data")), {}, tmp_path / "exp")
    fig = Figure()
    fig.subplots().plot([1, 2], [3, 4])
    nb.figure(fig, "line")
    nb.table(pd.DataFrame({"a": [1, 2]}), "frame")
    nb.table({"rows": 3, "share": 0.5}, "summary")
    nb.record(value=2)
    provenance = nb.finish()
    png = (tmp_path / "exp" / "figures" / "line.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 1000
    assert (tmp_path / "exp" / "tables" / "frame.csv").read_text() == "a\n1\n2\n"
    assert (tmp_path / "exp" / "tables" / "summary.csv").read_text() == "what,value\nrows,3\nshare,0.5\n"
    metrics = notebook.read_metrics(tmp_path / "exp")["01_data_exploration"]
    assert metrics["value"] == 2
    assert metrics["parameters"]["dataset"] == "ml-100k"
    assert metrics["provenance"]["packages"]["numpy"] == provenance.loc["packages.numpy", "value"]
    assert metrics["provenance"]["wall_seconds"] >= 0
