"""arerec.report.names: one name per thing, the same in every title, axis, column and sentence."""

from __future__ import annotations

from arerec.report import names
from arerec.sweeps import headline


def test_metrics_by_name():
    assert names.metric("ndcg@10") == "faithful NDCG@10" and names.metric("std_ndcg@5") == "standard NDCG@5"
    assert names.metric("hr@3") == "faithful HR@3" and names.metric("rmse") == "RMSE"
    assert names.metric("ndcg", k=10) == "faithful NDCG@10" and names.metric("val_ce") == "validation cross-entropy"
    assert names.metric("seed") is None


def test_the_three_models_with_attention_off_have_three_names():
    off = {names.model(headline.TUNED_OFF), names.model("use_attention=0 (item-only)"),
           names.model("ARERec, attention off (item-only)")}
    assert off == {"ARERec, attention off, tuned on its own", "ARERec's tuned configuration without attention",
                   "ARERec at the seed's schedule, attention off"}
    assert names.model(headline.TUNED) == "ARERec, tuned" and names.model("biased_mf") == "biased MF"
    assert names.model(headline.WINDOW) == names.model("region_mode=window")  # the same runs in 02 and 03
    assert names.model("num_head=1") == "ARERec's tuned configuration with one head"
    assert names.model("num_head=4, region_size=3") == "ARERec's tuned configuration with 4 heads and with region size 3"
    assert names.model("base") == "ARERec's tuned configuration"


def test_columns_in_words():
    assert names.column("rmse_ci") == "RMSE ± 95% CI" and names.column("ours: val_loss") == "ours: validation loss"
    assert names.column("share_target_in_window") == "share target in window"
    assert names.column("best_epoch") == "chosen epoch"
