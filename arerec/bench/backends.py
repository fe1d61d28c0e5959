"""Time ARERec's step under Keras 3 with JAX, PyTorch or TensorFlow, on any device: ``python -m arerec.bench.backends``.

``python -m arerec bench`` measures the project's own TensorFlow training path (its tf.data input,
its lazy Adam, its XLA step) on real data. This module needs only Keras and JAX (or PyTorch, or
TensorFlow), so it also runs on a GPU machine that has no TensorFlow. It builds the
same model (:func:`arerec.model.layers.build_model`) with the shapes of a dataset, feeds it random
ids of those shapes, and times forward, forward + backward, and a training step with Keras'
own (dense, the reference's) Adam, each the median of several repetitions after a warm-up.
Under PyTorch it also times the kit's own step in the fast mode (row-sparse lazy Adam, row-wise), with its
row update compiled by ``torch.compile`` and without (:func:`arerec.train.backends.torch.make_train_step`).

The shapes default to ML-100K's at the paper's settings (B 128, L 101, R 7, d 64, 64,284 LCUs);
``--shape ml-1m`` gives ML-1M's (max_seq 327). Random ids exercise the same arithmetic and
memory traffic as real ones; the metrics are not meaningful and are not reported.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

import numpy as np

from arerec.bench.timing import median_step

SHAPES = {
    # users, items, LCUs and train rows: ML-100K as arerec.data.prepare prepares it at the paper's settings;
    # ML-1M's from the ML-1M-shaped synthetic set of `python -m arerec bench`, with the seed README's max_seq
    "ml-100k": {"num_users": 943, "num_items": 1682, "num_lcu": 64_284, "max_seq": 101, "train_rows": 75_904},
    "ml-1m": {"num_users": 6040, "num_items": 3706, "num_lcu": 717_432, "max_seq": 327, "train_rows": 800_128},
    "tiny": {"num_users": 30, "num_items": 20, "num_lcu": 400, "max_seq": 8, "train_rows": 256},
}


def random_batch(shape: dict[str, int], batch_size: int, rng: np.random.Generator) -> tuple[dict, np.ndarray]:
    length = shape["max_seq"]
    inputs = {
        "user": rng.integers(1, shape["num_users"] + 1, batch_size, dtype=np.int32),
        "item": rng.integers(1, shape["num_items"] + 1, batch_size, dtype=np.int32),
        "neighbours": rng.integers(1, shape["num_users"] + 1, (batch_size, length), dtype=np.int32),
        "lcu": rng.integers(1, shape["num_lcu"], (batch_size, length), dtype=np.int32),
    }
    return inputs, rng.integers(0, 5, batch_size, dtype=np.int32)


def _stateless(model, loss_fn):
    """JAX: the model's current values and its loss as a pure function of the trainable ones."""
    trainable = [v.value for v in model.trainable_variables]
    fixed = [v.value for v in model.non_trainable_variables]

    def probs_of(train_values, inputs):
        return model.stateless_call(train_values, fixed, inputs, training=True)[0]

    def loss_of(train_values, inputs, labels):
        return loss_fn(labels, probs_of(train_values, inputs))

    return trainable, probs_of, loss_of


def _forward(model, loss_fn):
    """A compiled forward pass in training mode (as the step runs it; eager under PyTorch, without autograd)."""
    import keras

    if keras.backend.backend() == "torch":
        import torch

        def forward(inputs, labels):
            with torch.no_grad():
                return model(inputs, training=True)

        return forward
    if keras.backend.backend() == "jax":
        import jax

        trainable, probs_of, _ = _stateless(model, loss_fn)
        call = jax.jit(probs_of)
        return lambda inputs, labels: call(trainable, inputs)
    import tensorflow as tf

    return tf.function(lambda inputs, labels: model(inputs, training=True), jit_compile=True)


def _forward_backward(model, loss_fn):
    """A compiled forward + backward (gradients of every trainable variable, no update; eager under PyTorch)."""
    import keras

    if keras.backend.backend() == "torch":
        variables = model.trainable_variables

        def forward_backward(inputs, labels):
            for variable in variables:
                variable.value.grad = None
            loss = loss_fn(labels, model(inputs, training=True))
            loss.backward()
            return loss.detach()

        return forward_backward
    if keras.backend.backend() == "jax":
        import jax

        trainable, _, loss_of = _stateless(model, loss_fn)
        grad = jax.jit(jax.value_and_grad(loss_of))
        return lambda inputs, labels: grad(trainable, inputs, labels)
    import tensorflow as tf

    @tf.function(jit_compile=True)
    def step(inputs, labels):
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, model(inputs, training=True))
        return loss, tape.gradient(loss, model.trainable_variables)

    return step


def _jax_train_step(model, loss_fn):
    """JAX only: the whole step (forward, backward, dense Adam) as one jitted, stateless function.

    ``train_on_batch`` adds Keras' per-call Python work, which dominates on a GPU; this is the
    step without it. Its state is carried between calls, as a training loop would.
    """
    import jax

    optimizer = model.optimizer
    trainable, _, loss_of = _stateless(model, loss_fn)
    state = {"train": trainable, "opt": [v.value for v in optimizer.variables]}

    @jax.jit
    def step(train_values, opt_values, inputs, labels):
        loss, grads = jax.value_and_grad(loss_of)(train_values, inputs, labels)
        train_values, opt_values = optimizer.stateless_apply(opt_values, grads, train_values)
        return loss, train_values, opt_values

    def call(inputs, labels):
        loss, state["train"], state["opt"] = step(state["train"], state["opt"], inputs, labels)
        return loss

    return call


def _torch_lazy_step(model, jit_compile: bool):
    """PyTorch only: the kit's training step in the fast mode (sparse gathers, SparseLazyAdam, row-wise), with its row
    update compiled or not. It switches the model's tables to row-sparse gathers: time it last."""
    from arerec.model.lazy.torch import SparseLazyAdam
    from arerec.train.backends.torch import make_train_step

    optimizer = SparseLazyAdam(learning_rate=1e-4, rowwise=True)
    optimizer.build(model.trainable_variables)
    return make_train_step(model, optimizer, jit_compile=jit_compile)


def run(shape_name: str = "ml-100k", *, batch_size: int = 128, warmup: int = 3, repeats: int = 5, steps: int = 10,
        seed: int = 0) -> dict[str, Any]:
    import keras

    from arerec.config import Config
    from arerec.model.layers import build_model

    if shape_name not in SHAPES:
        raise ValueError(f"shape must be one of {sorted(SHAPES)}, received: {shape_name!r}")
    shape = SHAPES[shape_name]
    backend = keras.backend.backend()
    if backend not in ("jax", "tensorflow", "torch"):
        raise ValueError(f"arerec.bench.backends runs under KERAS_BACKEND jax, tensorflow or torch, not {backend!r}")
    keras.utils.set_random_seed(seed)
    cfg = Config()  # the paper's settings (emb_size 64, region_size 7, 2 heads)
    model = build_model(cfg, num_users=shape["num_users"], num_items=shape["num_items"], num_lcu=shape["num_lcu"],
                        num_classes=5, max_seq=shape["max_seq"])
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=cfg.lr), loss=loss_fn, jit_compile="auto")
    rng = np.random.default_rng(seed)
    batches = [random_batch(shape, batch_size, rng) for _ in range(warmup + repeats * steps)]
    if backend == "torch":  # on the device once, as the trainer's step receives them
        batches = [({k: keras.ops.convert_to_tensor(v) for k, v in inputs.items()}, keras.ops.convert_to_tensor(labels))
                   for inputs, labels in batches]

    timings: dict[str, float] = {}  # median seconds per step
    runs_s: dict[str, list[float]] = {}  # each repetition's
    for name, fn in (("forward", _forward(model, loss_fn)), ("forward_backward", _forward_backward(model, loss_fn)),
                     ("train_step", lambda inputs, labels: model.train_on_batch(inputs, labels, return_dict=True))):
        median, runs = median_step(fn, batches, warmup, repeats, steps)
        timings[f"{name}_s"] = median
        runs_s[f"{name}_runs_s"] = runs
        print(f"{name}: {median * 1000:.2f} ms per step (median of {repeats} x {steps})", file=sys.stderr, flush=True)
    extra = {"jitted_train_step": lambda: _jax_train_step(model, loss_fn)} if backend == "jax" else {}
    if backend == "torch":
        extra = {"lazy_train_step": lambda: _torch_lazy_step(model, jit_compile=False),
                 "lazy_train_step_compiled": lambda: _torch_lazy_step(model, jit_compile=True)}
    for name, make in extra.items():
        median, runs = median_step(make(), batches, warmup, repeats, steps)
        timings[f"{name}_s"], runs_s[f"{name}_runs_s"] = median, runs
        print(f"{name}: {median * 1000:.2f} ms per step", file=sys.stderr, flush=True)
    steps_per_epoch = int(np.ceil(shape["train_rows"] / batch_size))
    return {
        "shape": shape_name, **shape, "batch_size": batch_size, "warmup": warmup, "repeats": repeats,
        "steps_per_repeat": steps, "optimizer": "keras Adam (dense: every row, the reference's)",
        "backend": keras.backend.backend(), "devices": _devices(), "keras": keras.__version__,
        "python": platform.python_version(), "model_params": int(model.count_params()),
        **timings, **runs_s, "steps_per_epoch": steps_per_epoch,
        "epoch_estimated_s": timings["train_step_s"] * steps_per_epoch,
        "train_step_over_forward_backward": timings["train_step_s"] / timings["forward_backward_s"],
        **({"jitted_train_step_over_forward_backward": timings["jitted_train_step_s"] / timings["forward_backward_s"],
            "jitted_epoch_estimated_s": timings["jitted_train_step_s"] * steps_per_epoch}
           if "jitted_train_step_s" in timings else {}),
    }


def _devices() -> list[str]:
    """The backend's devices and its version (arerec.train.distribution.describe)."""
    from arerec.train.distribution import describe

    record = describe()
    backend = record["keras_backend"]
    return record.get("devices", []) + ([f"{backend} {record[backend]}"] if backend in record else [])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m arerec.bench.backends", description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", default="ml-100k", choices=sorted(SHAPES), help="dataset whose shapes to use")
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--out", default=None, help="JSON file to write (atomically); default: print only")
    args = parser.parse_args(argv)
    record = run(args.shape, batch_size=args.batch_size, warmup=args.warmup, repeats=args.repeats, steps=args.steps)
    record["machine"] = {"platform": platform.platform(), "cores": os.cpu_count()}
    if args.out:
        from arerec.files import write_json_atomic

        write_json_atomic(Path(args.out), record)
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
