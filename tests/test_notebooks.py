"""The notebooks: committed clean and thin, and executed end to end by papermill on params/ci.yaml."""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from PIL import Image

from arerec.config import Config
from arerec.report import notebook, parameters, runner

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_FILES = sorted((REPO / "notebooks").glob("*.ipynb"))
MAX_CELL_LINES = 15


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def parameters_cell(nb: dict) -> dict:
    tagged = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, "exactly one cell must be tagged 'parameters'"
    return tagged[0]


def defaults(nb: dict) -> dict:
    tree = ast.parse(source(parameters_cell(nb)))
    return {s.targets[0].id: ast.literal_eval(s.value) for s in tree.body}


def base_values() -> dict:
    """What `make reproduce` gives with the default PARAMS: the extras' defaults, base.yaml, ablation.yaml."""
    values = {name: extra.default for name, extra in parameters.EXTRAS.items()}
    for name in ("base.yaml", "ablation.yaml"):
        values.update(yaml.safe_load((REPO / "params" / name).read_text()))
    return values


def test_the_runner_knows_every_notebook():
    assert [p.stem for p in NOTEBOOK_FILES] == list(notebook.NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOK_FILES, ids=lambda p: p.stem)
def test_what_a_notebook_imports_and_calls_exists(path):
    """Every ``arerec`` import of the notebook resolves, and every ``module.name`` it uses on one exists."""
    modules: dict[str, object] = {}
    for cell in load(path)["cells"]:
        if cell["cell_type"] != "code":
            continue
        tree = ast.parse(source(cell))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("arerec"):
                for alias in node.names:
                    try:  # `from arerec.data import inputs`: a module
                        value = importlib.import_module(f"{node.module}.{alias.name}")
                    except ModuleNotFoundError:  # `from arerec.data.split import split_rows`: a name in one
                        value = getattr(importlib.import_module(node.module), alias.name)
                    modules[alias.asname or alias.name] = value
            elif isinstance(node, ast.Import):
                assert not any(a.name.startswith("arerec") for a in node.names), "use `from arerec... import ...`"
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules:
                owner = modules[node.value.id]
                if inspect.ismodule(owner):
                    assert hasattr(owner, node.attr), f"{node.value.id}.{node.attr} does not exist"
    assert modules, "the notebook imports nothing from arerec"


@pytest.mark.parametrize("path", NOTEBOOK_FILES, ids=lambda p: p.stem)
def test_committed_notebook_is_clean_and_thin(path):
    nb = load(path)
    assert nb["metadata"]["kernelspec"]["name"] == "arerec"
    assert nb["cells"][0]["cell_type"] == "markdown" and source(nb["cells"][0]).startswith(f"# {path.stem[:2]} ")
    parameters_cell(nb)
    for n, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        assert cell.get("outputs") == [] and cell.get("execution_count") is None, f"cell {n} has outputs"
        text = source(cell)
        assert not re.search(r"^\s*(def|class|async def) ", text, re.M), f"cell {n} defines a function or class"
        is_parameters = "parameters" in cell["metadata"].get("tags", [])
        if not is_parameters:  # the parameters cell lists settings, one a line
            assert len(text.splitlines()) <= MAX_CELL_LINES, f"cell {n} is longer than {MAX_CELL_LINES} lines"
        # notebook.start() reads parameters from literal-only cells: no other cell may be one
        assert (notebook.literal_assignments(text) is not None) == is_parameters, f"cell {n}"
    assert sum("notebook.start(globals()" in source(c) for c in nb["cells"]) == 1


@pytest.mark.parametrize("path", NOTEBOOK_FILES, ids=lambda p: p.stem)
def test_parameter_defaults_are_those_of_params_base_yaml(path):
    nb = load(path)
    values, expected = defaults(nb), base_values()
    parameters.resolve(values, source=path.name)  # every key known, every value valid
    for key, value in values.items():
        if key in expected:
            assert value == expected[key], f"{key} = {value!r}, params gives {expected[key]!r}"
        else:  # not in params/base.yaml: then it is the Config default
            assert value == Config().to_dict()[key], key
    if path.stem != "01_data_exploration":  # training notebooks: the whole configuration, as make reproduce
        base_keys = yaml.safe_load((REPO / "params" / "base.yaml").read_text())
        assert set(base_keys) <= set(values), sorted(set(base_keys) - set(values))


# --------------------------------------------------------------------------------------------
# Executed by papermill (needs the 'arerec' kernel, which `make setup` registers)
# --------------------------------------------------------------------------------------------
needs_kernel = pytest.mark.skipif(
    not runner.kernel_available(),
    reason="the Jupyter kernel 'arerec' is not registered here: run `make setup` (or `python -m arerec.report.kernel`)",
)


def run_reports(tmp: Path, reports_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "arerec", "report", "run", "--params", "ci", "--root", str(REPO),
               "--reports_dir", str(reports_dir), "--set", f"data_path={tmp / 'Data'}/",
               "--set", f"model_path={tmp / 'Model'}/", "--timeout", "600", *extra]
    return subprocess.run(command, capture_output=True, text=True, timeout=1200)


@pytest.fixture(scope="module")
def ci_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ci")
    done = run_reports(tmp, tmp / "reports")
    return tmp, done


@pytest.fixture(scope="module")
def ci_folder(ci_run) -> Path:
    """The ci run's experiment folder, once the run has succeeded."""
    tmp, done = ci_run
    assert done.returncode == 0, done.stderr[-3000:]
    return tmp / "reports" / "ci"


def in_range(value, low, high) -> bool:
    return isinstance(value, (int, float)) and low <= value <= high


@pytest.mark.slow
@needs_kernel
def test_every_notebook_runs_on_ci_params(ci_folder):
    folder = ci_folder
    metrics = json.loads((folder / "metrics.json").read_text())
    run = metrics["run"]
    assert run["status"] == "ok" and set(run["notebooks"]) == set(notebook.NOTEBOOKS)
    assert all(entry["status"] == "ok" and entry["seconds"] > 0 for entry in run["notebooks"].values())
    assert run["params_files"] == ["params/base.yaml", "params/ablation.yaml", "params/ci.yaml"]
    assert re.fullmatch(r"[0-9a-f]{64}", run["data"]["ratings_sha256"])
    assert run["data"]["data_version"] == "synthetic_8020_minseq5_bs32_dper1.0_stable"
    assert run["packages"]["tensorflow"].startswith("2.") and run["machine"]["cpu"]
    assert run["parameters"]["dataset"] == "synthetic" and run["seed"] == 0

    data = metrics["01_data_exploration"]
    assert data["max_seq"] > 0 and in_range(data["interactions_kept_at_max_seq"], 0, 1)
    assert data["leakage"]["share_target_in_sequence"] == 1.0  # the reference's leakage, by construction
    assert all(in_range(data["leakage"][k], 0, 1) for k in ("share_target_in_window",
                                                             "mean_share_of_window_rated_later"))
    assert data["split"]["train"] % 32 == 0 and data["split"]["test"] > 0

    training = metrics["02_training"]
    assert training["k"] == 5 and training["epochs"] == 2
    assert training["seeds"] == [0, 1] and training["protocols"] == ["reference"]
    # part 1: the seed run beside the original's figures (epochs 1 to 6)
    assert [row["epoch"] for row in training["seed_run"]] == [1, 2, 3, 4, 5, 6]
    assert training["seed_run"][0]["original: ndcg@10"] == 0.478 and in_range(training["seed_run"][1]["ours: loss"], 0, 5)
    # part 2: one study per model with the same budget, on validation only; the chosen configuration of each
    search = training["search"]
    assert set(search) == {"arerec", "arerec_attention_off", "user_item_bias", "biased_mf", "item_knn", "user_knn"}
    assert search["arerec"]["epochs_reached"]["1"] == 2 and search["arerec"]["pruned_before_one_epoch"] == 0
    for model, study in search.items():
        assert study["n_trials"] == len(study["trials"]) == 2, model  # params/ci.yaml: n_trials 2 for every model
        assert all(t["state"] in ("complete", "pruned") and set(t) >= {"params", "state", "epochs", "val_score"}
                   for t in study["trials"]), model
        assert study["chosen"] in [t["params"] for t in study["trials"] if t["state"] == "complete"], model
        assert set(study["edges"]) <= set(study["chosen"]) and set(study["edges"].values()) <= {"low", "high"}
        assert not set(study["edges"]) & set(study["natural_edges"]), model
    chosen = training["chosen"]
    assert chosen["config"]["protocol"] == "clean" and chosen["config"]["patience"] == 1
    assert chosen["config"]["lr"] == search["arerec"]["chosen"]["lr"]
    summary = training["headline_summary"]  # ARERec tuned on and off and windowed, and 8 baselines, over 2 seeds
    assert len(summary) == 3 + 8 and all(row["n"] == 2 for row in summary)
    assert {"ARERec (tuned)", "ARERec, attention off (tuned)", "ARERec, windowed region", "global_mean", "global_mode",
            "item_mode", "user_knn"} == \
        {row["model"] for row in summary} - {"item_mean", "user_item_bias", "biased_mf", "item_knn"}
    for row in summary:
        assert all(in_range(row[f"{m}@5"], 0, 1) for m in ("hr", "ndcg", "std_ndcg")), row["model"]
        assert in_range(row["rmse"], 0.1, 4) and row["rmse_ci"] >= 0, row["model"]
    arerec = [row for row in training["runs"] if row["kind"] == "ARERec"]
    assert len(arerec) == 6 and all(1 <= row["best_epoch"] <= row["epochs_trained"] <= 3 for row in arerec)
    assert len(training["run_ends"]) == 6 and all({"stopped early", "at cap"} <= set(r) for r in training["run_ends"])
    # every tuned model's majority class; the floors never count as collapsed
    shares = training["majority_class"]
    assert set(shares) >= {"ARERec (tuned)", "global_mean", "item_mode"} and not shares["global_mean"]["collapsed"]
    assert all(in_range(s["largest_share"], 0, 1) for s in shares.values())
    # one family: the best baseline, attention, item mean, global mean (3 metrics each), item mode, the region (2)
    verdicts = training["verdicts"]
    assert all(set(v) >= {"claim", "metric", "a", "b", "verdict"} for v in verdicts)
    assert {v["metric"] for v in verdicts} == {"ndcg@5", "std_ndcg@5", "rmse"}
    assert sum("windowed region" in v["claim"] for v in verdicts) == 2
    judged = [v for v in verdicts if "p_holm" in v.get("user_test", {})]
    assert judged and all(v["family"] == len(judged) for v in judged)
    for v in judged:
        test = v["user_test"]
        assert test["n_users"] > 0 and 0 <= test["p_value"] <= test["p_holm"] <= 1
        assert test["ci_low"] <= test["mean_diff"] <= test["ci_high"]
        assert v["verdict"] in ("supported", "not supported") or v["verdict"].startswith("not resolved")
    for v in verdicts:
        if str(v["verdict"]).startswith("not judged"):
            assert "predicts" in v["verdict"] and "% of test rows" in v["verdict"]
    for v in verdicts:  # the baseline of a claim is the one best on validation for its metric
        if v["claim"].startswith("ARERec beats the best baseline") and v["verdict"] != "left out":
            assert v["b"] == training["best_on_validation"][v["metric"]]
    assert training["provenance"]["wall_seconds"] > 0

    ablation = metrics["03_ablation"]
    assert [v["variant"] for v in ablation["summary"]] == ["base", "use_attention=0 (item-only)",
                                                           "region_mode=window"]
    assert all(v["n"] == 1 and in_range(v["ndcg"], 0, 1) and in_range(v["rmse"], 0.1, 4) for v in ablation["summary"])
    assert len(ablation["runs"]) == 3 and all(1 <= v["best_epoch"] <= v["epochs_trained"] <= 3 for v in ablation["runs"])
    assert [v["claim"] for v in ablation["region_verdicts"]] == [v["claim"] for v in verdicts
                                                                 if "windowed region" in v["claim"]]

    attention = metrics["04_attention"]
    assert attention["heads"] == 2 and attention["similarity"]["pairs"] > 0
    assert in_range(attention["similarity"]["spearman_attention_co_rated"], -1, 1)
    for model in ("seed_schedule", "tuned"):
        summary = attention["summary"][model]
        assert len(summary["normalised_entropy_per_head"]) == 2
        assert all(in_range(x, 0, 1) for x in summary["normalised_entropy_per_head"] + summary["share_peaked_per_head"])
    digests = run["data"]["split_sha256"]
    assert all(re.fullmatch(r"[0-9a-f]{64}", d) for files in digests.values() for d in files.values())


@pytest.mark.slow
@needs_kernel
def test_02s_progress_plans_every_run_and_trial_it_counts(ci_folder):
    """The log's "run i/n" lines: n is planned before the first run (the schedule, every model's trials, the tuned
    models' and the windowed region's seeds) and never grows, and the last run is run n."""
    lines = re.findall(r"\[02_training\] run (\d+)/(\d+): ", (ci_folder / "logs" / "02_training.log").read_text())
    totals = {int(total) for _, total in lines}
    assert len(totals) == 1 and max(int(i) for i, _ in lines) == totals.pop(), lines[-3:]


def test_figures_tables_and_html_are_written(ci_folder):
    folder = ci_folder
    expected = ["rating_distribution", "sequence_lengths", "item_popularity", "ratings_over_time", "max_seq_truncation",
                "leakage_later_neighbours", "seed_run_vs_original", "headline_test_metrics", "tuned_runs_per_epoch",
                "verdicts_differences", "metrics_against_k", "search_history_arerec", "confusion_matrix_seed_run",
                "confusion_matrices_tuned", "ablation_test_metrics", "attention_uniformity", "attention_heatmaps",
                "attention_by_position", "attention_vs_similarity"]
    for name in expected:
        png = (folder / "figures" / f"{name}.png").read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 2000, name
    for png in (folder / "figures").glob("*.png"):  # every figure for a paper: a vector copy, and 150 dpi or more
        assert png.with_suffix(".pdf").read_bytes().startswith(b"%PDF"), png.name
        assert min(Image.open(png).info["dpi"]) >= 149.9, png.name
    assert not list((folder / "figures").glob("search_importance_*"))  # 2 trials: fewer than the 5 random starts
    assert "No importance figure for ARERec" in (folder / "02_training.html").read_text()
    for name in ("headline", "headline_runs", "seed_schedule", "seed_run_vs_original", "search_trials",
                 "search_budget", "search_chosen", "baselines_on_validation", "verdicts", "chosen_epochs",
                 "confusion_matrices", "majority_class_by_model", "confusion_matrix_seed_run", "ablation",
                 "ablation_runs", "leakage_summary", "attention_summary", "attention_uniformity_tuned",
                 "provenance_02_training"):
        assert (folder / "tables" / f"{name}.csv").stat().st_size > 0, name
    budget = pd.read_csv(folder / "tables" / "search_budget.csv", dtype=str)
    for column in ("pruned before 1 epoch", "reached 1 epochs", "reached 2 epochs"):  # counts, written whole
        assert not budget[column].dropna().str.contains(r"\.").any(), column
    for name in notebook.NOTEBOOKS:
        executed = json.loads((folder / f"{name}.ipynb").read_text())
        assert any(c.get("outputs") for c in executed["cells"]), name
        page = (folder / f"{name}.html").read_text()
        assert "data:image/png;base64," in page, name
        assert "notebook.start(globals()" not in page, f"{name}: the HTML must hide the code"
        # results, not logs: progress and per-epoch lines are in the notebook's log file, linked from the page
        text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", page)  # figures' bytes can spell anything
        text = re.sub(r"<(style|script)\b.*?</\1>", "", text, flags=re.S)  # the template's CSS and scripts
        assert not re.search(r"\bETA\b|\brun \d+/\d+|\bepoch \d+/\d+", text), f"{name}: a log line on the page"
        assert not re.search(r"\bNone\b", text), f"{name}: a Python None on the page"
        assert not re.search(r"\w+Warning: |site-packages/", text), f"{name}: a library's warning on the page"
        assert f'href="logs/{name}.log"' in page and (folder / "logs" / f"{name}.log").is_file(), name
        assert not re.search(r"<script[^>]*src=[\"']?https?://|<link[^>]*href=[\"']?https?://", page), name


# nbconvert's printed output (print, a stream to stdout or stderr) and a plain-text result: a <pre> in a
# jp-RenderedText output; a page holds tables, figures and Markdown only
STREAM = re.compile(r'class="jp-RenderedText[^"]*"|data-mime-type="application/vnd\.jupyter\.std(out|err)"')


@pytest.mark.slow
@needs_kernel
def test_no_printed_stream_reaches_a_page(ci_folder):
    folder = ci_folder
    for name in notebook.NOTEBOOKS:
        executed = json.loads((folder / f"{name}.ipynb").read_text())
        streams = [(n, "".join(o.get("text", ""))[:80]) for n, cell in enumerate(executed["cells"])
                   for o in cell.get("outputs", []) if o["output_type"] == "stream"
                   or (o["output_type"] == "execute_result" and set(o["data"]) == {"text/plain"})]
        assert not streams, f"{name}: printed output {streams}"
        page = (folder / f"{name}.html").read_text()
        assert not STREAM.search(page), f"{name}: a stream output on the page"
        assert "<pre>" not in re.sub(r"<(style|script)\b.*?</\1>", "", page, flags=re.S), name


def _numbers(text: str) -> list[str]:
    """The numbers of a table's body, signs as the page writes them (−), in order."""
    text = text.replace("\u00a0", " ").replace("$-$", "\u2212").replace("~", " ").replace("$\\pm$", "±")
    return re.findall(r"[\u2212+-]?\d+(?:\.\d+)?(?:e[\u2212+-]?\d+)?", text)


def _page_table_body(page: str, name: str) -> str:
    table = re.search(rf'<table[^>]*\bid="T_{name}"[^>]*>.*?<tbody>(.*?)</tbody>', page, flags=re.S)
    assert table, f"no table {name} on the page"
    return re.sub(r"<[^>]+>", " ", table.group(1))


@pytest.mark.slow
@needs_kernel
def test_the_tables_for_a_paper_hold_the_numbers_of_their_page_tables(ci_folder):
    import html

    folder = ci_folder
    page = (folder / "02_training.html").read_text()
    for name in ("headline", "verdicts"):
        latex = (folder / "tables" / f"{name}.tex").read_text()
        assert "\\toprule" in latex and "\\bottomrule" in latex and "\\begin{tabular}" in latex, name
        body = latex.split("\\midrule", 1)[1].split("\\bottomrule", 1)[0]
        shown = _numbers(html.unescape(_page_table_body(page, name)))
        assert shown and _numbers(body) == shown, name


@pytest.mark.slow
@needs_kernel
def test_the_index_lists_the_experiment(ci_run):
    tmp, done = ci_run
    assert done.returncode == 0, done.stderr[-3000:]
    page = (tmp / "reports" / "index.html").read_text()
    first = re.search(r'<table[^>]*\bid="T_experiments".*?<tbody>\s*<tr>(.*?)</tr>', page, flags=re.S).group(1)
    assert [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", first)][:3] == \
        ["ci", "ok", "synthetic"]
    for name in notebook.NOTEBOOKS:
        assert f'href="ci/{name}.html"' in page
    assert '<img src="ci/figures/attention_heatmaps.png"' in page
    # the answer shown, not only told: the headline and the verdict figures, each linking to its page
    assert '<a href="ci/02_training.html#The-headline-at-the-optimum"><img src="ci/figures/headline_test_metrics.png"' \
        in page
    assert re.search(r'<a href="ci/02_training.html#Part-3:-the-paper(&#39;|\')s-claims-as-verdicts"><img '
                     r'src="ci/figures/verdicts_differences.png"', page)
    readme = (tmp / "reports" / "README.md").read_text()
    assert "| ci | ok | synthetic |" in readme and "(ci/02_training.html)" in readme


@pytest.mark.slow
@needs_kernel
def test_a_failing_notebook_fails_the_run_and_is_marked(ci_run):
    tmp, _ = ci_run
    done = run_reports(tmp, tmp / "failing", "--set", "min_seq=100000", "--experiment", "broken")
    assert done.returncode == 1
    assert "FAILED: 01_data_exploration of experiment broken" in done.stderr
    assert "min_seq=100000 leaves no ratings" in done.stderr
    assert re.search(r"FAILED: 01_data_exploration of experiment broken: cell \d+ \(", done.stderr)
    metrics = json.loads((tmp / "failing" / "broken" / "metrics.json").read_text())
    assert metrics["run"]["status"] == "failed" and metrics["run"]["failed_step"] == "01_data_exploration"
    assert list(metrics["run"]["notebooks"]) == ["01_data_exploration"]  # stops at the first failure
    assert "min_seq=100000" in (tmp / "failing" / "broken" / "01_data_exploration.html").read_text()
    page = (tmp / "failing" / "index.html").read_text()
    assert "FAILED in 01_data_exploration: cell " in page and "DataError: min_seq=100000" in page
    assert re.search(r'<td class="[^"]*\bfailed\b[^"]*" >broken</td>', page)  # the experiment's row marked


@pytest.mark.slow
@needs_kernel
def test_an_unknown_notebook_parameter_stops_the_notebook(tmp_path):
    import papermill

    with pytest.raises(papermill.PapermillExecutionError) as error:
        papermill.execute_notebook(str(REPO / "notebooks" / "01_data_exploration.ipynb"), str(tmp_path / "out.ipynb"),
                                   parameters={"num_heads": 4, "reports_dir": str(tmp_path)}, kernel_name="arerec",
                                   cwd=str(REPO), progress_bar=False)
    assert "'num_heads' (did you mean 'num_head'?)" in str(error.value)
    assert "Valid keys:" in str(error.value)


@pytest.mark.slow
@needs_kernel
@pytest.mark.parametrize("backend", ["jax", pytest.param("torch", marks=pytest.mark.torch)])
def test_a_notebook_runs_under_another_backend(tmp_path, backend):
    """CI's JAX and PyTorch subsets: 04_attention alone trains its runs (the search, the seed schedule, the tuned
    model) and scores them under KERAS_BACKEND=jax or torch, in the notebook's kernel, whatever backend the suite runs."""
    if backend == "torch":
        pytest.importorskip("torch", reason="PyTorch is not installed: make test-torch installs .[torch]")
    env = {**os.environ, "KERAS_BACKEND": backend, "JAX_PLATFORMS": "cpu"}
    command = [sys.executable, "-m", "arerec", "report", "run", "--params", "ci", "--root", str(REPO),
               "--reports_dir", str(tmp_path / "reports"), "--notebooks", "04_attention",
               "--set", f"data_path={tmp_path / 'Data'}/", "--set", f"model_path={tmp_path / 'Model'}/",
               # a search of one trial and fewer sampled rows
               "--set", "validation_search={n_trials: 1, max_epochs: 2}",
               "--set", "attention_rows=200"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    metrics = json.loads((tmp_path / "reports" / "ci" / "metrics.json").read_text())
    assert metrics["04_attention"]["run"].endswith(f"_{backend}")  # trained under that backend, in runs of its own
    assert metrics["04_attention"]["provenance"]["compute"]["keras_backend"] == backend
    assert list((tmp_path / "reports" / "ci" / "figures").glob("attention_heatmaps.png"))
