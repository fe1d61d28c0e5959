"""arerec.report.notebook: reading a notebook's parameters, checking them, and its outputs."""

from __future__ import annotations

import pandas as pd
import pytest
from matplotlib.figure import Figure

from arerec.config import Config
from arerec.errors import ConfigError
from arerec.report import metrics_json, notebook, parameters


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
    assert nb.extras["ablation_seeds"] == parameters.EXTRAS["ablation_seeds"].default
    assert nb.extras["validation_search"].n_trials == parameters.EXTRAS["validation_search"].default["n_trials"]  # filled in and checked
    assert nb.params.report.attention_pairs == 2 and nb.params.config == nb.cfg
    assert nb.folder == tmp_path / "demo" and nb.folder.is_dir()


def test_a_misspelled_parameter_is_an_error_naming_the_valid_keys(tmp_path):
    ns = kernel_namespace(f'reports_dir = "{tmp_path}"\nnum_heads = 4')
    with pytest.raises(ConfigError) as error:
        notebook.start(ns, "02_training")
    message = str(error.value)
    assert "'num_heads' (did you mean 'num_head'?)" in message
    assert "02_training" in message
    assert "Valid keys:" in message and "num_head" in message and "ablation_grid" in message


def test_figure_table_record_and_finish_write_their_files(tmp_path, monkeypatch):
    shown = []
    monkeypatch.setattr(notebook, "_show", shown.append)
    nb = notebook.Notebook("01_data_exploration", parameters.Parameters(data_path=str(tmp_path / "Data")), tmp_path / "exp")
    fig = Figure(figsize=(4.0, 3.0))
    fig.subplots().plot([1, 2], [3, 4])
    nb.figure(fig, "line")
    nb.table(pd.DataFrame({"a": [1, 2]}), "frame")
    nb.table({"rows": 3, "share": 0.5}, "summary")
    nb.record(value=2)
    nb.finish()
    png = (tmp_path / "exp" / "figures" / "line.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 1000
    assert (tmp_path / "exp" / "figures" / "line.pdf").read_bytes().startswith(b"%PDF")  # the vector copy
    image = shown[0]
    assert image.width == round(int.from_bytes(png[16:20], "big") * 100 / 150)  # 150 dpi shown at 100 px per inch
    assert (tmp_path / "exp" / "tables" / "frame.csv").read_text() == "a\n1\n2\n"
    assert (tmp_path / "exp" / "tables" / "summary.csv").read_text() == "what,value\nrows,3\nshare,0.5\n"
    metrics = metrics_json.read_metrics(tmp_path / "exp")["01_data_exploration"]
    assert metrics["value"] == 2
    assert metrics["parameters"]["dataset"] == "ml-100k"
    provenance = pd.read_csv(tmp_path / "exp" / "tables" / "provenance_01_data_exploration.csv").set_index("what")
    assert f"numpy {metrics['provenance']['packages']['numpy']}" in provenance.loc["packages", "value"]
    assert metrics["provenance"]["wall_seconds"] >= 0
    page = shown[-1]._repr_html_()  # the provenance as a table in words, not a DataFrame with an index-name row
    assert ">seed<" in page and ">packages<" in page and "index_name" not in page


def test_a_table_for_a_paper_holds_the_cells_of_the_page(tmp_path, monkeypatch):
    shown = []
    monkeypatch.setattr(notebook, "_show", shown.append)
    nb = notebook.Notebook("02_training", parameters.Parameters(), tmp_path / "exp")
    summary = pd.DataFrame({"model": ["ARERec (tuned)", "biased_mf"], "rmse": [1.0731, 0.9652],
                            "rmse_ci": [0.0112, 0.0041], "kind": ["ARERec", "baseline"]})
    nb.table(summary, "headline", intervals=True, show=["model", "rmse"], latex="Test RMSE")
    page = shown[0]._repr_html_()
    latex = (tmp_path / "exp" / "tables" / "headline.tex").read_text()
    assert "ARERec, tuned" in page and "ARERec, tuned & 1.073~$\\pm$~0.011 \\\\" in latex
    assert "kind" not in latex and "\\caption{Test RMSE}" in latex
    assert "kind" in (tmp_path / "exp" / "tables" / "headline.csv").read_text()  # every column in the CSV


def test_package_logs_go_to_the_log_file_and_a_warning_becomes_a_note_for_the_reader(tmp_path, monkeypatch):
    import logging

    from arerec.console import LOG_ENV

    log = tmp_path / "logs" / "02_training.log"
    monkeypatch.setenv(LOG_ENV, str(log))
    shown = []
    monkeypatch.setattr(notebook, "_show_markdown", shown.append)
    package = logging.getLogger("arerec")
    saved = package.handlers[:], package.level, package.propagate
    try:
        notebook.route_logs()
        logging.getLogger("arerec.train.loop").warning("%s exists: starting a new run from epoch 1 over it", "Model/x")
        logging.getLogger("arerec.sweeps").info("variant 1/2")
    finally:
        package.handlers[:], package.level, package.propagate = saved
    text = log.read_text()
    assert "WARNING arerec.train.loop: Model/x exists" in text and "variant 1/2" in text
    assert len(shown) == 1 and "trained again from epoch 1" in shown[0]
    assert notebook.log_link("02_training").endswith(
        "[logs/02_training.log](logs/02_training.log) (also shown in the terminal of `make reproduce`).")
