"""What produced a result: seeds, the data and its checksum, package versions, the machine, the git commit."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from arerec.config import Config
from arerec.data.ratings import ratings_path
from arerec.files import sha256_file

PACKAGES = ("arerec", "tensorflow", "keras", "jax", "jaxlib", "torch", "numpy", "pandas", "scikit-learn", "matplotlib", "h5py",
            "papermill", "nbconvert", "ipykernel", "ray")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        for dist in (name, f"{name}-cpu") if name == "tensorflow" else (name,):
            try:
                versions[name] = importlib.metadata.version(dist)
                break
            except importlib.metadata.PackageNotFoundError:
                versions[name] = "not installed"
    return versions


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpu_names() -> list[str]:
    if not shutil.which("nvidia-smi"):
        return []
    try:
        done = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                              text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.strip() for line in done.stdout.splitlines() if line.strip()] if done.returncode == 0 else []


def machine() -> dict[str, Any]:
    return {"cpu": cpu_model(), "cpu_count": os.cpu_count(), "gpus": gpu_names() or "none",
            "platform": platform.platform()}


GENERATED = "reports"  # rewritten by the runs themselves, so not a sign of uncommitted code


def git_state(root: str | Path = ".") -> dict[str, Any]:
    """The commit of ``root`` and whether tracked files outside ``reports/`` differ from it (read-only git calls).

    ``reports/`` is left out because ``make reproduce`` rewrites the committed reports while it
    runs: counting them, a clean checkout reported itself as having uncommitted changes.
    """
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "--no-optional-locks", "-C", str(root), *args], capture_output=True,
                                  text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": "unknown (not a git checkout)", "dirty": None}
    status = git("status", "--porcelain", "--untracked-files=no", "--", ".", f":(exclude){GENERATED}")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def data_provenance(cfg: Config) -> dict[str, Any]:
    """Dataset, data version, the ratings file with its SHA-256 and where it came from."""
    path = ratings_path(cfg)
    record: dict[str, Any] = {"dataset": cfg.data.dataset, "data_version": cfg.data.resolved_data_version,
                              "ratings_file": str(path)}
    if path.is_file():
        record["ratings_sha256"] = sha256_file(path)
        meta = path.with_name(path.name[: -len(".csv")] + ".meta.json")
        if meta.is_file():
            source = json.loads(meta.read_text())
            record.update({k: source[k] for k in ("source", "rows") if k in source})
    else:
        record["ratings_sha256"] = None
    return record


def compute(cfg: Config) -> dict[str, Any]:
    """The Keras backend, its devices and the run's distribution setting.

    In a process that has not imported Keras (the runner, which only starts the notebooks), the backend
    its notebooks get (``KERAS_BACKEND``) without the devices: importing a backend here would hold its
    memory for the whole run. Each notebook's own provenance has the devices it used.
    """
    if "keras" not in sys.modules:
        return {"keras_backend": os.environ.get("KERAS_BACKEND", "tensorflow"), "distribution_setting": cfg.devices.distribution,
                "devices": "in each notebook's provenance"}
    from arerec.train.distribution import describe

    return {**describe(), "distribution_setting": cfg.devices.distribution}


def provenance(cfg: Config, root: str | Path = ".") -> dict[str, Any]:
    """What produced a result: seeds, data and its checksum, packages, machine, git commit, time."""
    return {
        "seed": cfg.training.seed,
        "split_seed": cfg.data.split_seed,
        "data": data_provenance(cfg),
        "packages": package_versions(),
        "machine": machine(),
        "compute": compute(cfg),
        "git": git_state(root),
        "finished_at": now(),
    }


def now() -> str:
    """The time now, UTC, ISO 8601 to the second."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


# What each provenance key is called on a page; a package's version is "<name> version", the others are joined.
PROVENANCE_WORDS = {
    "seed": "seed", "split_seed": "split seed", "data.dataset": "dataset", "data.data_version": "data version",
    "data.ratings_file": "ratings file", "data.ratings_sha256": "ratings SHA-256", "data.source": "data source",
    "data.rows": "ratings", "machine.cpu": "CPU", "machine.cpu_count": "CPU cores", "machine.gpus": "GPUs",
    "machine.platform": "platform", "compute.keras_backend": "Keras backend", "compute.distribution": "distribution",
    "compute.distribution_setting": "distribution setting", "compute.devices": "devices",
    "compute.processes": "processes", "compute.mesh": "device mesh", "git.commit": "git commit",
    "git.dirty": "uncommitted changes", "finished_at": "finished at (UTC)", "wall_seconds": "wall time (s)",
}


def provenance_rows(record: dict[str, Any]) -> list[tuple[str, Any]]:
    """``record`` (:func:`provenance`, and a notebook's wall time) as (what, value) rows in words: package versions on
    one row, a backend's own version with the packages, lists joined; hashes whole (a page shows 12 characters)."""
    rows: list[tuple[str, Any]] = []
    packages = dict(record.get("packages", {}))
    for key, value in _leaves(record):
        if key.startswith("packages."):
            continue
        if key.startswith("compute.") and key.split(".", 1)[1] in ("tensorflow", "jax"):
            packages.setdefault(key.split(".", 1)[1], value)
            continue
        rows.append((PROVENANCE_WORDS.get(key, key.replace(".", " ").replace("_", " ")), value))
    if packages:
        rows.append(("packages", ", ".join(f"{name} {version}" for name, version in packages.items())))
    return rows


def _leaves(record: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in record.items():
        if isinstance(value, dict):
            out.extend(_leaves(value, f"{prefix}{key}."))
        else:
            out.append((f"{prefix}{key}", value))
    return out
