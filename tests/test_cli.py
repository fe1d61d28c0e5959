import subprocess
import sys

import pandas as pd
import pytest

from arerec import cli


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "arerec", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


TINY = ["--dataset", "synthetic", "--synthetic_users", "40", "--synthetic_items", "16", "--synthetic_ratings",
        "500", "--min_seq", "5", "--batch_size", "16", "--emb_size", "8", "--region_size", "3", "--lr", "0.01",
        "--topk", "3", "5", "--verbose", "2"]


def test_help_lists_the_original_commands():
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("prepare", "details", "train", "evaluate", "resume", "download"):
        assert command in result.stdout


def test_every_config_field_is_a_flag():
    parser = cli.build_parser()
    train = parser._subparsers._group_actions[0].choices["train"]
    flags = {a.dest for a in train._actions}
    from arerec.config import Config

    assert set(Config.field_names()) <= flags


def test_bad_parameter_is_one_line_without_traceback(tmp_path):
    result = run_cli("prepare", "--data_path", str(tmp_path), "--test_ratio", "1.5")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: test_ratio must be in (0, 1), received: 1.5"


def test_unknown_dataset_names_the_expected_file(tmp_path):
    result = run_cli("prepare", "--data_path", str(tmp_path), "--dataset", "mine")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "mine_ratings.csv" in result.stderr


def test_prepare_details_train_resume_evaluate(tmp_path):
    """The seed README's workflow, end to end on tiny data."""
    common = ["--data_path", str(tmp_path / "Data"), "--model_path", str(tmp_path / "Model"), *TINY]
    prepared = run_cli("prepare", *common)
    assert prepared.returncode == 0, prepared.stderr
    version = "synthetic_8020_minseq5_bs16_dper1.0"
    assert f"data version: {version}" in prepared.stdout

    details = run_cli("prepare", *common, "--show_details", version)
    assert details.returncode == 0 and "item user sequence length: min" in details.stdout

    trained = run_cli("train", *common, "--data_version", version, "--epochs", "2", "--save_checkpoints_epochs", "2")
    assert trained.returncode == 0, trained.stderr
    name = "synthetic_8020_bs16_lr0.01_emb8_reg3_ms"
    assert f"model: {name}" in trained.stdout
    model_name = trained.stdout.split("model: ")[1].split()[0]
    assert trained.stdout.count("epoch 1/2") == 1  # one line per epoch when not interactive

    resumed = run_cli("resume", *common, "--model_name", model_name, "--load_weight_path", "cp-0002.ckpt",
                      "--epochs", "3", "--save_checkpoints_epochs", "2")
    assert resumed.returncode == 0, resumed.stderr
    assert "epoch 3/3" in resumed.stdout and "epoch 1/" not in resumed.stdout
    results = pd.read_csv(tmp_path / "Model" / "synthetic" / model_name / f"result_{model_name}")
    assert results["epoch"].tolist() == [1, 2, 3]

    evaluated = run_cli("run", *common, "--do_train", "0", "--model_name", model_name)
    assert evaluated.returncode == 0, evaluated.stderr
    assert '"epoch": 3' in evaluated.stdout


@pytest.mark.parametrize("args, message", [
    (["resume", "--model_name", "missing"], "no run named 'missing'"),
    (["train", "--num_heads", "2"], "unrecognized arguments: --num_heads"),
])
def test_cli_errors(tmp_path, args, message):
    result = run_cli(*args, "--data_path", str(tmp_path), "--model_path", str(tmp_path))
    assert result.returncode == 2 and message in result.stderr


def test_score_a_predictions_file(tmp_path):
    path = tmp_path / "pred.csv"
    # one user, true [5, 4, 3], predicted [3, 5, 4]: faithful NDCG@3 0.77470 (hand-computed in test_metrics)
    path.write_text("user,item,rating,prediction\n1,a,5,3\n1,b,4,5\n1,c,3,4\n")
    result = run_cli("score", str(path), "--topk", "3")
    assert result.returncode == 0, result.stderr
    import json

    scores = json.loads(result.stdout)
    assert scores["faithful"]["ndcg@3"] == pytest.approx(0.77470, abs=1e-5)
    assert scores["faithful"]["hr@3"] == 1.0
    assert scores["standard"]["rmse"] == pytest.approx(2**0.5)  # errors -2, 1, 1
    assert set(scores["standard"]) == {"rmse", "mae", "accuracy", "std_ndcg@3"}
    bad = tmp_path / "bad.csv"
    bad.write_text("user,item,rating\n1,a,5\n")
    failed = run_cli("score", str(bad))
    assert failed.returncode == 2 and "missing column(s) prediction" in failed.stderr
