import json
import math
import subprocess
import sys

import pandas as pd
import pytest

from arerec import cli
from arerec.errors import DataError


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
    flags = {option for a in train._actions for option in a.option_strings}
    from arerec.config import Config

    assert {f"--{key}" for key in Config.field_names()} <= flags
    compare = parser._subparsers._group_actions[0].choices["compare"]
    assert {"--executor", "--workers", "--ray_num_gpus"} <= {o for a in compare._actions for o in a.option_strings}


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
    assert trained.stderr.count("epoch 1/2") == 1  # one line per epoch when not interactive, on stderr (stdout: results)

    resumed = run_cli("resume", *common, "--model_name", model_name, "--load_weight_path", "cp-0002.ckpt",
                      "--epochs", "3", "--save_checkpoints_epochs", "2")
    assert resumed.returncode == 0, resumed.stderr
    assert "epoch 3/3" in resumed.stderr and "epoch 1/" not in resumed.stderr
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
    scores = json.loads(result.stdout)
    assert scores["faithful"]["ndcg@3"] == pytest.approx(0.77470, abs=1e-5)
    assert scores["faithful"]["hr@3"] == 1.0
    assert scores["standard"]["rmse"] == pytest.approx(2**0.5)  # errors -2, 1, 1
    assert set(scores["standard"]) == {"rmse", "mae", "accuracy", "std_ndcg@3"}
    bad = tmp_path / "bad.csv"
    bad.write_text("user,item,rating\n1,a,5\n")
    failed = run_cli("score", str(bad))
    assert failed.returncode == 2 and "missing column(s) prediction" in failed.stderr
    repeated = tmp_path / "repeated.csv"
    repeated.write_text(DUPLICATED_CSV)
    warned = run_cli("score", str(repeated), "--topk", "[3]")
    assert warned.returncode == 0, warned.stderr
    assert warned.stderr.count("WARNING arerec.evaluate.metrics: 1 (user, item) pair(s) occur on more than one row") == 1
    assert json.loads(warned.stdout)["faithful"]["ndcg@3"] == pytest.approx(0.7837249432452995, rel=1e-12)


# one user; item a twice: the faithful metrics keep it at row 0 with row 3's rating and prediction
DUPLICATED_CSV = "user,item,rating,prediction\n1,a,5,3\n1,b,4,5\n1,c,3,4\n1,a,2,5\n1,d,1,1\n"


# --- list flags: the original's eval-ed strings and space-separated values ------------------------


@pytest.mark.parametrize("tokens, element, expected", [
    (["[3,5,7,10]"], int, [3, 5, 7, 10]),
    (["3,5,7,10"], int, [3, 5, 7, 10]),
    (["3", "5", "7", "10"], int, [3, 5, 7, 10]),
    (["(3, 5)", "7"], int, [3, 5, 7]),
    ([" [ 3 , 5 ] "], int, [3, 5]),
    (["[10.0]"], int, [10]),
    (["[0.0, 0.5]"], float, [0.0, 0.5]),
    (["0.001,1e-3", "2"], float, [0.001, 0.001, 2.0]),
])
def test_parse_list_flag_accepts_the_original_forms(tokens, element, expected):
    got = cli.parse_list_flag(tokens, element)
    assert got == expected and all(type(v) is element for v in got)


@pytest.mark.parametrize("tokens, element, reason", [
    (["[3,5"], int, "received: '[3,5' (not a list literal)"),
    (["[3.5]"], int, "received: '[3.5]' (3.5 is not an integer)"),
    (["3,x"], int, "received: '3,x' ('x' is not an integer)"),
    (["[]"], int, "received: '[]' (no values)"),
    (["[[1]]"], float, "received: '[[1]]' ([1] is not a number)"),
    (["[True]"], float, "received: '[True]' (True is not a number)"),
    (["__import__('os').getcwd()"], float, "is not a number"),
])
def test_parse_list_flag_rejects_what_is_not_a_list_of_numbers(tokens, element, reason):
    with pytest.raises(ValueError) as caught:
        cli.parse_list_flag(tokens, element)
    assert reason in str(caught.value)


@pytest.mark.parametrize("argv, message", [
    (["score", "p.csv", "--topk", "[3,5"],
     "argument --topk: expected a list of integers such as '[3,5,7,10]', '3,5,7,10' or 3 5 7 10; "
     "received: '[3,5' (not a list literal)"),
    (["train", "--dropout", "[0.0, zero]"],
     "argument --dropout: expected a list of numbers such as '[0.0, 0.5]', '0.0,0.5' or 0.0 0.5; "
     "received: '[0.0, zero]' (not a list literal)"),
])
def test_malformed_list_flag_is_an_argparse_error_naming_the_flag(argv, message, capsys):
    with pytest.raises(SystemExit) as exited:
        cli.build_parser().parse_args(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_list_flags_in_string_form_reach_the_config():
    args = cli.build_parser().parse_args([
        "train", "--topk", "[3,5,7,10]", "--dropout", "[0, 0, 0, 0.5, 0.5, 0, 0, 0, 0.1]",
        "--regularizer", "0.01,0.02", "0.03", "[0.04]", "0.05"])
    cfg = cli.config_from(args)
    assert cfg.evaluation.topk == [3, 5, 7, 10]
    assert cfg.model.dropout.as_list() == [0.0, 0.0, 0.0, 0.5, 0.5, 0.0, 0.0, 0.0, 0.1]
    assert cfg.model.dropout.user_rating_vector == 0.1  # the ninth slot
    assert cfg.model.regularizer.as_list() == [0.01, 0.02, 0.03, 0.04, 0.05]


def test_score_with_the_original_topk_string_through_run(tmp_path, capsys):
    from arerec.evaluate.metrics import score_predictions

    true = [5, 4, 3, 2, 1, 5, 4, 3, 2, 1, 4]
    pred = [4, 4, 3, 3, 2, 5, 3, 4, 2, 2, 4]
    rows = [f"u1,i{n},{t},{p}" for n, (t, p) in enumerate(zip(true, pred, strict=True))] + ["u2,i0,4,4", "u2,i1,1,3", "u2,i2,5,4"]
    path = tmp_path / "pred.csv"
    path.write_text("user,item,rating,prediction\n" + "\n".join(rows) + "\n")
    outputs = []
    for topk in (["[3,5,7,10]"], ["3,5,7,10"], ["3", "5", "7", "10"]):
        assert cli.run(["score", str(path), "--topk", *topk]) == 0
        outputs.append(json.loads(capsys.readouterr().out))
    assert outputs[0] == outputs[1] == outputs[2]
    assert list(outputs[0]["faithful"]) == [f"{m}@{k}" for k in (3, 5, 7, 10) for m in ("hr", "ndcg")]
    want = score_predictions(["u1"] * 11 + ["u2"] * 3, true + [4, 1, 5], pred + [4, 3, 4], topk=(3, 5, 7, 10))
    assert outputs[0] == want
    assert 0 < outputs[0]["faithful"]["ndcg@10"] < 1


def test_score_through_run_counts_a_repeated_pair_once(tmp_path, capsys, caplog):
    path = tmp_path / "repeated.csv"
    path.write_text(DUPLICATED_CSV)
    assert cli.run(["score", str(path), "--topk", "[3]"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["faithful"]["ndcg@3"] == pytest.approx(0.7837249432452995, rel=1e-12)  # see test_metrics
    assert scores["standard"]["rmse"] == pytest.approx(math.sqrt(15 / 5))  # every row: errors -2, 1, 1, 3, 0
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and warnings[0].startswith("1 (user, item) pair(s) occur on more than one row")


def test_score_rejects_gaps_in_user_or_item(tmp_path):
    path = tmp_path / "gap.csv"
    path.write_text("user,item,rating,prediction\n1,,5,3\n1,b,4,5\n")
    with pytest.raises(DataError, match="column 'item' must have no gaps"):
        cli.score_file(str(path), [3], 3.0)
