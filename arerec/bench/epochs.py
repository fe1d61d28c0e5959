"""Epoch times of the real training path per Keras backend and update mode: ``python -m arerec.bench.epochs``.

Each variant (``BACKEND:UPDATE_MODE``, e.g. ``tensorflow:lazy``, ``jax:dense`` or ``torch:lazy``) trains the same
configuration for ``--epochs`` epochs with ``python -m arerec train`` in its own process, under
``KERAS_BACKEND=BACKEND``, into a throw-away model folder; the record gives each epoch's training and
evaluation seconds and the last epoch's figures, read from the run's results CSV. With ``--rounds`` > 1
the variants alternate (A B C, A B C, ...), so that a slow spell of a shared machine falls on all of them.

Examples (the commands behind docs/backends.md)::

    python -m arerec.bench.epochs --params params/base.yaml --epochs 2 \\
        --variants tensorflow:lazy tensorflow:dense jax:dense jax:lazy torch:lazy torch:dense \\
        --out reports/bench/cpu-backends.json
    KERAS_BACKEND=jax python -m arerec.bench.epochs --params params/base.yaml --epochs 3 --variants jax:dense \\
        --out reports/bench/gpu-ml-100k-epochs.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

BACKENDS = ("tensorflow", "jax", "torch")


def parse_variant(text: str) -> tuple[str, str]:
    backend, _, mode = text.partition(":")
    if backend not in BACKENDS or mode not in ("dense", "lazy"):
        raise argparse.ArgumentTypeError(f"a variant is BACKEND:MODE with BACKEND in {BACKENDS} and MODE dense or lazy, "
                                         f"received: {text!r}")
    return backend, mode


def run_variant(backend: str, mode: str, args: list[str], epochs: int, model_path: Path) -> dict[str, Any]:
    """Train one variant in its own process; its per-epoch seconds and last figures."""
    overrides = ["--epochs", str(epochs), "--model_path", str(model_path), "--update_mode", mode, "--verbose", "2",
                 "--save_model", "0"]
    if mode == "dense":
        overrides += ["--second_moment", "elementwise"]
    env = {**os.environ, "KERAS_BACKEND": backend}
    from arerec.malloc_tuning import tuned_environment

    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "arerec", "train", *args, *overrides], capture_output=True, text=True,
                          env=tuned_environment(env))
    wall = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(f"{backend}:{mode} failed (exit {done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-3000:]}")
    folder = re.search(r"^run folder: (.+)$", done.stdout, re.MULTILINE)
    if folder is None:
        raise RuntimeError(f"{backend}:{mode}: no 'run folder:' line in its output:\n{done.stdout[-2000:]}")
    root = Path(folder.group(1).strip())
    history = pd.read_csv(root / f"result_{root.name}")
    last = history.iloc[-1]
    return {"backend": backend, "update_mode": mode, "model_name": root.name, "wall_s": wall,
            "epoch_s": history["seconds"].tolist(), "eval_s": history["eval_seconds"].tolist(),
            **{k: float(last[k]) for k in ("loss", "val_loss", "rmse", "ndcg@10") if k in last}}


def run(variants: list[tuple[str, str]], args: list[str], *, epochs: int, rounds: int, work: Path) -> dict[str, Any]:
    from arerec.bench.update_modes import versions
    from arerec.report.provenance import cpu_model

    results = []
    total = rounds * len(variants)
    for r in range(rounds):
        for n, (backend, mode) in enumerate(variants):
            print(f"[{r * len(variants) + n + 1}/{total}] {backend}:{mode}, round {r + 1}", file=sys.stderr, flush=True)
            row = run_variant(backend, mode, args, epochs, work / f"{backend}-{mode}-{r}")
            row["round"] = r + 1
            print(f"    epochs {', '.join(f'{s:.1f}' for s in row['epoch_s'])} s; eval "
                  f"{', '.join(f'{s:.1f}' for s in row['eval_s'])} s", file=sys.stderr, flush=True)
            results.append(row)
    return {"variants": [f"{b}:{m}" for b, m in variants], "epochs": epochs, "rounds": rounds, "train_args": args,
            "results": results, "machine": {"platform": platform.platform(), "cores": os.cpu_count(),
                                            "cpu": cpu_model()},
            "versions": {"python": platform.python_version(), **versions()}}


def summary(record: dict[str, Any]) -> pd.DataFrame:
    """One row per variant: median epoch and evaluation seconds over rounds and epochs (the first epoch, which
    compiles, apart)."""
    rows = []
    for variant in record["variants"]:
        runs = [r for r in record["results"] if f"{r['backend']}:{r['update_mode']}" == variant]
        first = [r["epoch_s"][0] for r in runs]
        later = [s for r in runs for s in r["epoch_s"][1:]]
        rows.append({"variant": variant, "first_epoch_s": float(pd.Series(first).median()),
                     "later_epochs_s": float(pd.Series(later).median()) if later else float("nan"),
                     "eval_s": float(pd.Series([s for r in runs for s in r["eval_s"]]).median()),
                     "loss": runs[-1].get("loss"), "rmse": runs[-1].get("rmse")})
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m arerec.bench.epochs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", nargs="+", type=parse_variant, default=[("tensorflow", "lazy"), ("jax", "dense")],
                        help="BACKEND:MODE per variant (default: tensorflow:lazy jax:dense)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=1, help="alternate the variants this many times")
    parser.add_argument("--out", default=None, help="JSON record to write (atomically)")
    parser.add_argument("--work", default=None, help="folder for the throw-away runs (default: a temporary one)")
    args, train_args = parser.parse_known_args(argv)
    with tempfile.TemporaryDirectory(prefix="arerec-epochs-") as tmp:
        record = run(args.variants, train_args, epochs=args.epochs, rounds=args.rounds, work=Path(args.work or tmp))
    table = summary(record)
    record["summary"] = table.to_dict("records")
    print(table.to_string(index=False))
    if args.out:
        from arerec.files import write_json_atomic

        write_json_atomic(Path(args.out), record)
    print(json.dumps(record["summary"], indent=1))


if __name__ == "__main__":
    main()
