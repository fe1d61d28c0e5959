"""arerec.train.checkpoints: a checkpoint of another configuration is refused, naming what differs."""

import pytest
from conftest import tiny_config

from arerec.data.inputs import load_experiment
from arerec.errors import CheckpointError
from arerec.train import build, checkpoints, loop


def test_checkpoint_from_another_configuration_is_refused(tmp_path):
    first = loop.train(tiny_config(tmp_path, epochs=1))
    other = load_experiment(tiny_config(tmp_path, region_size=2))
    model, optimizer = build.build(other)
    with pytest.raises(CheckpointError, match="saved with a different configuration"):
        checkpoints.load_checkpoint(first.paths.checkpoint(1), other, model, optimizer)
