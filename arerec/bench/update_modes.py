"""``python -m arerec bench``: time the training step, an epoch, evaluation and data preparation.

Each update mode runs in its own worker process, so its peak memory (RSS) is its own. Step
times are the median of several repetitions after a warm-up. Results go to
``reports/bench/<name>.json`` with a plot beside it, together with the machine and versions.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from arerec.config import Config
from arerec.errors import ConfigError
from arerec.files import write_json_atomic

log = logging.getLogger(__name__)

ML1M_SHAPE = {"synthetic_users": 6040, "synthetic_items": 3706, "synthetic_ratings": 1_000_209}
BENCH_MODES = ("dense", "dense-jit", "lazy", "lazy-jit", "lazy-jit-rowwise")
BENCH_DATASETS = ("ml-100k", "ml-1m", "ml-1m-shape", "synthetic")


# --------------------------------------------------------------------------------------------
# Environment records
# --------------------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(),
                            "python": platform.python_version()}
    try:
        with open("/proc/meminfo") as handle:
            info["memory_gb"] = round(int(handle.readline().split()[1]) / 2**20, 1)
    except OSError:
        pass
    return info


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("arerec", "tensorflow", "tensorflow-cpu", "keras", "jax", "jaxlib", "torch", "numpy", "pandas", "scikit-learn"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


# --------------------------------------------------------------------------------------------
# Worker: one update mode, in its own process
# --------------------------------------------------------------------------------------------
def run_worker(cfg: Config, *, warmup: int, repeats: int, steps: int, epoch: int) -> dict[str, Any]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    from arerec.bench.timing import median_step
    from arerec.data.inputs import load_experiment
    from arerec.sweeps.progress import clock, counter
    from arerec.train.backends.tensorflow import batch_gather, make_train_step
    from arerec.train.batches import id_batches
    from arerec.train.build import apply_memory_settings, build
    from arerec.train.loop import run_epoch
    from arerec.train.predict import evaluate_probs, predict_probs

    exp = load_experiment(cfg, prepare_if_missing=False)
    apply_memory_settings(cfg)
    model, optimizer = build(exp)
    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy()
    variables = model.trainable_variables

    @tf.function
    def forward(inputs, labels):
        return loss_fn(labels, model(inputs, training=True))

    @tf.function
    def forward_backward(inputs, labels):
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, model(inputs, training=True))
        grads = tape.gradient(loss, variables)
        return loss + tf.add_n([tf.reduce_sum(g.values if isinstance(g, tf.IndexedSlices) else g)[None]
                                for g in grads])[0] * 0.0

    # the step as training runs it: it takes a batch's row ids and gathers its inputs itself
    gather = batch_gather(exp)
    step = make_train_step(model, optimizer, jit_compile=bool(cfg.jit_compile), gather=gather)
    needed = warmup + repeats * steps
    row_batches = list(itertools.islice(id_batches(exp, "train", shuffle=True, epoch=1), needed))
    batches = [(gather(users, items, ends), labels) for users, items, labels, ends in row_batches]  # the same rows
    result: dict[str, Any] = {"update_mode": cfg.update_mode, "jit_compile": cfg.jit_compile,
                              "second_moment": cfg.second_moment, "batch_size": cfg.batch_size,
                              "max_seq": exp.tables.max_seq, "num_lcu": exp.tables.num_lcu,
                              "train_rows": len(exp.prepared.train), "test_rows": len(exp.prepared.test)}
    for name, fn, inputs in (("forward", forward, batches), ("forward_backward", forward_backward, batches),
                             ("train_step", step, row_batches)):
        median, runs = median_step(fn, inputs, warmup, repeats, steps)
        result[f"{name}_s"] = median
        result[f"{name}_runs_s"] = runs
        log.info("%s %s: %.4f s per step (median of %d x %d)", cfg.update_mode, name, median, repeats, steps)
    steps_per_epoch = int(np.ceil(len(exp.prepared.train) / cfg.batch_size))
    result["steps_per_epoch"] = steps_per_epoch
    result["epoch_estimated_s"] = result["train_step_s"] * steps_per_epoch
    epoch_runs = []
    report_every = max(1, steps_per_epoch // 10)

    def progress(done: int, loss: float, *, n: int, counted) -> None:
        counted.update(1)
        if done % report_every == 0 and done < steps_per_epoch:
            elapsed, left = clock(counted)
            log.info("%s epoch %d/%d: %d/%d steps in %.0f s, about %.0f s left", cfg.update_mode, n + 1,
                     int(epoch), done, steps_per_epoch, elapsed, left)

    for n in range(int(epoch)):  # full epochs as training runs them, each a new shuffle; the median is reported
        t0 = time.perf_counter()
        with counter(steps_per_epoch) as counted:
            run_epoch(exp, step, 2 + n, on_step=partial(progress, n=n, counted=counted))
        epoch_runs.append(time.perf_counter() - t0)
        log.info("%s epoch %d/%d: %.1f s", cfg.update_mode, n + 1, int(epoch), epoch_runs[-1])
    if epoch_runs:
        result["epoch_s"] = statistics.median(epoch_runs)
        result["epoch_runs_s"] = epoch_runs
        result["samples_per_s"] = len(exp.prepared.train) / result["epoch_s"]
        log.info("%s epoch: %.1f s, the median of %d (%.0f samples/s)", cfg.update_mode, result["epoch_s"],
                 len(epoch_runs), result["samples_per_s"])
    t0 = time.perf_counter()
    probs = predict_probs(model, exp)
    result["predict_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    evaluate_probs(exp, probs)
    result["metrics_s"] = time.perf_counter() - t0
    result["model_mb"] = sum(np.prod(v.shape) * 4 for v in model.variables) / 2**20
    result["optimizer_mb"] = sum(np.prod(v.shape) * 4 for v in optimizer.variables) / 2**20
    result["model_params"] = int(model.count_params())
    result["peak_rss_mb"] = peak_rss_mb()
    result["devices"] = [d.device_type + ":" + d.name for d in tf.config.list_physical_devices()]
    return result


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------
def bench_config(base: Config, data: str) -> Config:
    if data == "ml-1m-shape":
        return base.replace(dataset="synthetic", data_path=str(Path(base.data_path) / "ml-1m-shape"), **ML1M_SHAPE)
    return base.replace(dataset=data)


def prepare_data(cfg: Config) -> dict[str, Any]:
    from arerec.data.datasets import ensure_ratings
    from arerec.data.prepare import prepare

    t0 = time.perf_counter()
    ensure_ratings(cfg)
    fetch_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    report = prepare(cfg)
    prepare_s = time.perf_counter() - t0
    return {"fetch_s": fetch_s, "prepare_s": prepare_s, "version": report.version, "rows_in": report.rows_in,
            "train_rows": report.train_rows, "test_rows": report.test_rows}


def run_bench(cfg: Config, *, data: str, modes: list[str], warmup: int, repeats: int, steps: int,
              epoch: int, name: str, out: Path) -> dict[str, Any]:
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    if backend != "tensorflow":
        raise ConfigError(f"python -m arerec bench times TensorFlow's update modes (its sparse lazy Adam and XLA step); "
                          f"this process has KERAS_BACKEND={backend}. For epochs on every backend: "
                          f"python -m arerec.bench.epochs (docs/backends.md)")
    cfg = bench_config(cfg, data)
    started = time.perf_counter()
    from arerec.malloc_tuning import allocator_settings
    from arerec.report.provenance import git_state

    record: dict[str, Any] = {"name": name, "data": data, "machine": machine(), "versions": versions(),
                              "git": git_state(Path(__file__).resolve().parents[2]),  # the repository root
                              "allocator": allocator_settings(),
                              "config": cfg.to_dict(), "warmup": warmup, "repeats": repeats,
                              "steps_per_repeat": steps, "full_epoch": epoch}
    record["preparation"] = prepare_data(cfg)
    record["modes"] = {}
    for mode in modes:
        worker_cfg = cfg.replace(update_mode=mode.split("-")[0], jit_compile=int("-jit" in mode),
                                 second_moment="rowwise" if mode.endswith("-rowwise") else "elementwise")
        command = [sys.executable, "-m", "arerec.bench.update_modes", "--worker", json.dumps(worker_cfg.to_dict()),
                   "--warmup", str(warmup), "--repeats", str(repeats), "--steps", str(steps),
                   "--epoch", str(int(epoch))]
        log.info("benchmarking update_mode=%s in a worker process", mode)
        # The worker's log (progress included) goes straight to this process's stderr; its
        # last line of stdout is the result.
        done = subprocess.run(command, stdout=subprocess.PIPE, text=True)
        if done.returncode:
            record["modes"][mode] = {"error": f"the worker exited with status {done.returncode} (its log is above)"}
            continue
        record["modes"][mode] = json.loads(done.stdout.strip().splitlines()[-1])
    record["ratios"] = ratios(record["modes"])
    record["wall_s"] = time.perf_counter() - started
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / f"{name}.json", record)
    plot_bench(record, out / f"{name}.png")
    return record


def ratios(modes: dict[str, dict]) -> dict[str, float]:
    out = {}
    dense = modes.get("dense", {})
    for fast in ("lazy", "lazy-jit", "lazy-jit-rowwise", "dense-jit"):
        other = modes.get(fast, {})
        if "train_step_s" in dense and "train_step_s" in other:
            out[f"step_dense_over_{fast}"] = dense["train_step_s"] / other["train_step_s"]
        if "epoch_s" in dense and "epoch_s" in other:
            out[f"epoch_dense_over_{fast}"] = dense["epoch_s"] / other["epoch_s"]
    for mode, values in modes.items():
        if "train_step_s" in values:
            out[f"step_{mode}_over_forward_backward"] = values["train_step_s"] / values["forward_backward_s"]
    return out


def plot_bench(record: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from arerec.files import atomic_path

    modes = {m: v for m, v in record["modes"].items() if "train_step_s" in v}
    parts = ["forward_s", "forward_backward_s", "train_step_s"]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    width = 0.8 / max(len(modes), 1)
    for n, (mode, values) in enumerate(modes.items()):
        ax.bar(np.arange(len(parts)) + n * width, [values[p] * 1000 for p in parts], width, label=mode)
    ax.set_xticks(np.arange(len(parts)) + width * (len(modes) - 1) / 2)
    ax.set_xticklabels(["forward", "forward+backward", "train step"])
    ax.set_ylabel("ms per step (median)")
    ax.set_title(f"{record['name']}: {record['data']}, batch {record['config']['batch_size']}")
    ax.legend(title="update_mode")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bench_data", default="ml-100k", choices=BENCH_DATASETS,
                        help="data to benchmark on; ml-1m-shape is synthetic data of ML-1M's size")
    parser.add_argument("--modes", nargs="+", default=list(BENCH_MODES), choices=BENCH_MODES,
                        help="update modes to time; -jit: with an XLA-compiled step; -rowwise: second_moment rowwise")
    parser.add_argument("--warmup", type=int, default=3, help="steps before timing")
    parser.add_argument("--repeats", type=int, default=5, help="timed repetitions; the median is reported")
    parser.add_argument("--steps", type=int, default=10, help="steps per repetition")
    parser.add_argument("--epoch", type=int, default=1,
                        help="full epochs timed per mode (0: none); the median is reported")
    parser.add_argument("--name", default=None, help="result name (default: the data name)")
    parser.add_argument("--out", default="reports/bench", help="folder for <name>.json and <name>.png")


def _worker_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", required=True)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--epoch", type=int, default=1)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    cfg = Config.from_dict(json.loads(args.worker), source="--worker")
    result = run_worker(cfg, warmup=args.warmup, repeats=args.repeats, steps=args.steps, epoch=args.epoch)
    print(json.dumps(result))


if __name__ == "__main__":
    _worker_main(sys.argv[1:])
