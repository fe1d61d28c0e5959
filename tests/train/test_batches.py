"""arerec.train.batches: the input pipeline, and the step that gathers its own inputs, see the same rows."""

import numpy as np
import pytest
from conftest import tiny_config
from keras.ops import convert_to_numpy as to_numpy

from arerec.data.inputs import load_experiment
from arerec.train import batches, build
from arerec.train.backends import tensorflow as tf_backend


@pytest.mark.tensorflow_only
def test_input_pipeline_does_not_autotune(tmp_path):
    """tf.data's autotune thread held each epoch's end until its next wake-up (40.9, 81.9, 141.9 s...)."""
    exp = load_experiment(tiny_config(tmp_path))
    ds = tf_backend.make_batches(exp, "train", shuffle=True, epoch=1)
    assert ds.options().autotune.enabled is False
    assert sum(len(labels) for _, labels in ds) == len(exp.prepared.train)


@pytest.mark.tensorflow_only
@pytest.mark.parametrize("protocol, jit", [("reference", 1), ("clean", 0)])
def test_a_step_that_gathers_its_inputs_matches_the_input_pipeline(tmp_path, protocol, jit):
    import tensorflow as tf

    cfg = tiny_config(tmp_path, protocol=protocol, jit_compile=jit, update_mode="lazy")
    exp = load_experiment(cfg)
    piped = list(tf_backend.make_batches(exp, "train", shuffle=True, epoch=3))
    ids = list(batches.id_batches(exp, "train", shuffle=True, epoch=3))
    assert len(piped) == len(ids) > 1
    gather = tf_backend.batch_gather(exp)
    for (inputs, labels), (users, items, y, ends) in zip(piped, ids, strict=True):  # same rows, same order
        np.testing.assert_array_equal(labels, y)
        for key, value in gather(tf.constant(users), tf.constant(items), tf.constant(ends)).items():
            np.testing.assert_array_equal(inputs[key], value)
    weights = []
    for gathering in (False, True):
        model, optimizer = build.build(exp)
        step = tf_backend.make_train_step(model, optimizer, jit_compile=bool(jit), gather=gather if gathering else None)
        for batch, batch_ids in zip(piped, ids, strict=True):
            step(*(batch_ids if gathering else batch))
        weights.append([to_numpy(v) for v in model.trainable_variables])
    for a, b in zip(*weights, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.tensorflow_only
@pytest.mark.parametrize("protocol", ["reference", "clean"])
def test_keras_ops_gather_gives_the_tensorflow_gathers_ids(tmp_path, protocol):
    """gather_ops (JAX's step) and batch_gather (TensorFlow's) feed the model the same neighbour and LCU ids."""
    exp = load_experiment(tiny_config(tmp_path, protocol=protocol))
    neutral, tensorflow = batches.gather_ops(exp), tf_backend.batch_gather(exp)
    for users, items, _, ends in batches.id_batches(exp, "test", shuffle=False):
        a, b = neutral(users, items, ends), tensorflow(users, items, ends)
        for key in ("user", "item", "neighbours", "lcu"):
            np.testing.assert_array_equal(to_numpy(a[key]), to_numpy(b[key]), err_msg=key)
