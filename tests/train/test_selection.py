"""arerec.train.selection: the best epoch, patience, and the settings early stopping needs."""

import pandas as pd
import pytest
from conftest import tiny_config

from arerec.errors import ConfigError
from arerec.train import selection


def test_selection_finds_the_best_epoch_and_counts_patience():
    history = pd.DataFrame({"epoch": [1, 2, 3, 4], "val_loss": [1.5, 1.2, 1.3, 1.25], "ndcg@3": [0.5, 0.7, 0.6, 0.7]})
    loss = selection.selection(history, "val_loss")
    assert (loss.best_epoch, loss.best_value, loss.epochs_since_best) == (2, 1.2, 2)
    assert loss.exhausted(2) and not loss.exhausted(3) and not loss.exhausted(0)
    ndcg = selection.selection(history, "ndcg@3")  # higher is better; a tie keeps the earlier epoch
    assert (ndcg.best_epoch, ndcg.epochs_since_best) == (2, 2)
    assert selection.selection(history.iloc[:0], "val_loss") is None


def test_patience_needs_the_clean_protocol_and_a_known_metric(tmp_path):
    with pytest.raises(ConfigError, match="patience > 0 needs protocol 'clean'"):
        tiny_config(tmp_path, patience=2)
    with pytest.raises(ConfigError, match="patience must be >= 0"):
        tiny_config(tmp_path, protocol="clean", patience=-1)
    with pytest.raises(ConfigError, match="selection_metric must be one of val_loss, rmse, mae, ndcg@3"):
        tiny_config(tmp_path, protocol="clean", selection_metric="ndcg@10")
