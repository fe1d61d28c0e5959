"""Checkpoints: a run's weights and optimiser state in one HDF5 file, written atomically and checked on load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from arerec.data.inputs import Experiment
from arerec.errors import CheckpointError
from arerec.files import atomic_path

CHECKPOINT_FORMAT = "arerec-checkpoint-1"


def _fingerprint(exp: Experiment) -> str:
    keys = ("dataset", "emb_size", "region_size", "region_mode", "num_head", "use_attention", "optimizer", "update_mode",
            "test_ratio",
            "min_seq", "batch_size", "data_percent")
    return json.dumps({**{k: getattr(exp.cfg, k) for k in keys}, "max_seq": exp.tables.max_seq,
                       "num_lcu": exp.tables.num_lcu, "version": exp.prepared.version}, sort_keys=True)


def save_checkpoint(path: Path, exp: Experiment, model, optimizer, epoch: int) -> None:
    """Weights and optimiser state in one HDF5 file, written atomically."""
    import h5py

    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as h5:
            h5.attrs["format"] = CHECKPOINT_FORMAT
            h5.attrs["epoch"] = epoch
            h5.attrs["fingerprint"] = _fingerprint(exp)
            h5.attrs["config"] = json.dumps(exp.cfg.to_dict())
            for group, variables in (("model", model.variables), ("optimizer", optimizer.variables)):
                g = h5.create_group(group)
                for n, var in enumerate(variables):
                    g.create_dataset(f"{n:06d}", data=np.asarray(var.numpy())).attrs["path"] = var.path


def load_checkpoint(path: Path, exp: Experiment, model, optimizer) -> int:
    """Restore weights and optimiser state; return the checkpoint's epoch."""
    import h5py

    if not path.is_file():
        available = ", ".join(p.name for p in sorted(path.parent.glob("cp-*.ckpt"))) or "none"
        raise CheckpointError(f"checkpoint not found: {path} (available: {available})")
    try:
        with h5py.File(path, "r") as h5:
            if h5.attrs.get("format") != CHECKPOINT_FORMAT:
                raise CheckpointError(f"{path} is not an arerec checkpoint (format {h5.attrs.get('format')!r})")
            if h5.attrs["fingerprint"] != _fingerprint(exp):
                saved, current = json.loads(h5.attrs["fingerprint"]), json.loads(_fingerprint(exp))
                differ = ", ".join(f"{k}: saved {saved.get(k)!r}, now {current.get(k)!r}"
                                   for k in sorted(set(saved) | set(current)) if saved.get(k) != current.get(k))
                raise CheckpointError(f"{path} was saved with a different configuration ({differ})")
            for group, variables in (("model", model.variables), ("optimizer", optimizer.variables)):
                stored = h5[group]
                if len(stored) != len(variables):
                    raise CheckpointError(f"{path}: {group} has {len(stored)} variables, the model {len(variables)}")
                for n, var in enumerate(variables):
                    value = stored[f"{n:06d}"][()]
                    if tuple(value.shape) != tuple(var.shape):
                        raise CheckpointError(
                            f"{path}: {group} variable {var.path} has shape {value.shape}, expected {tuple(var.shape)}"
                        )
                    var.assign(value)
            return int(h5.attrs["epoch"])
    except (OSError, KeyError) as exc:
        raise CheckpointError(f"{path} is corrupted or unreadable ({exc}); delete it and resume from another") from None
