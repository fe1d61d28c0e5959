"""A run's Keras model and optimiser, seeded, with the process settings it needs; and freeing them."""

from __future__ import annotations

import logging
import os

from arerec.config import Config
from arerec.data.inputs import Experiment
from arerec.malloc_tuning import set_mmap_threshold, warn_if_untuned

log = logging.getLogger(__name__)

def quiet_tensorflow() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def set_seed(seed: int) -> None:
    import keras

    keras.utils.set_random_seed(seed)


def apply_memory_settings(cfg: Config) -> None:
    """The run's allocator setting (``mmap_threshold_mb``; see arerec/malloc_tuning.py), and a warning when the
    process started without the kit's allocator settings."""
    warn_if_untuned(log)
    if cfg.training.mmap_threshold_mb > 0 and not set_mmap_threshold(cfg.training.mmap_threshold_mb):
        log.warning("mmap_threshold_mb=%d has no effect here: it needs glibc's mallopt", cfg.training.mmap_threshold_mb)


def build(exp: Experiment):
    """The Keras model and its optimiser for an experiment, seeded by ``cfg.training.seed``, on the devices of its
    ``distribution`` (arerec/train/distribution.py)."""
    from arerec.model.layers import build_model
    from arerec.model.optimizers import make_optimizer
    from arerec.train.distribution import configure, padded_rows

    configure(exp.cfg)
    set_seed(exp.cfg.training.seed)
    model = build_model(
        exp.cfg,
        num_users=exp.prepared.num_users,
        num_items=exp.prepared.num_items,
        num_lcu=exp.tables.num_lcu,
        num_classes=len(exp.prepared.classes),
        max_seq=exp.tables.max_seq,
        lcu_rows=padded_rows(exp.tables.num_lcu),
    )
    optimizer = make_optimizer(exp.cfg.training.optimizer, exp.cfg.training.lr, exp.cfg.training.update_mode, jit_compile=bool(exp.cfg.training.jit_compile),
                               second_moment=exp.cfg.training.second_moment)
    optimizer.build(model.trainable_variables)
    return model, optimizer


def free_models() -> None:
    """Drop every Keras model of this process (a sweep holds one at a time: the LCU tables are large)."""
    import gc

    import keras

    keras.backend.clear_session()
    gc.collect()
