"""arerec.sweeps.seeds: every variant under every seed, trained once, then loaded; the summary."""


import pandas as pd
from conftest import tiny_config

from arerec.sweeps.seeds import run_seeds, summarise


def test_run_seeds_trains_each_variant_and_seed_once(tmp_path):
    cfg = tiny_config(tmp_path, epochs=1)
    out = tmp_path / "runs.csv"
    runs = run_seeds(cfg, [0, 1], {"dense": {"update_mode": "dense"}, "lazy": {"update_mode": "lazy"}}, out=out)
    assert list(zip(runs["variant"], runs["seed"], strict=True)) == [("dense", 0), ("dense", 1), ("lazy", 0), ("lazy", 1)]
    assert runs["model_name"].nunique() == 4
    assert pd.read_csv(out).shape[0] == 4
    table = summarise(runs, ["rmse"])
    assert table["n"].tolist() == [2, 2]
    dense = runs[runs["variant"] == "dense"]["rmse"]
    assert table["rmse"].iloc[0] == dense.mean()
    again = run_seeds(cfg, [0], {"dense": {"update_mode": "dense"}})  # finished: loaded, not retrained
    assert again["rmse"].iloc[0] == runs["rmse"].iloc[0]
