"""Checkpoints: a run's weights and optimiser state in one HDF5 file, written atomically and checked on load.

A weights-only checkpoint (``optimizer=None`` on save; what a finished run keeps under ``checkpoint_policy:
lean``) has no ``optimizer`` group: it loads for scoring, and is refused, saying why, when asked to resume training.

The file holds plain arrays in the model's and the optimiser's variable order, so it does not depend on
the backend: a run saved under TensorFlow resumes under JAX and the other way round (tested). The LCU
tables are stored with their ``num_lcu`` rows; the zero rows that pad them for sharding
(:class:`arerec.model.layers.RegionEmbedding`) are dropped on save and restored on load, so a checkpoint
also moves between one device and many.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from arerec.data.inputs import Experiment
from arerec.errors import CheckpointError
from arerec.files import atomic_path
from arerec.train import backends
from arerec.train.distribution import is_chief

CHECKPOINT_FORMAT = "arerec-checkpoint-1"


def _fingerprint(exp: Experiment) -> str:
    keys = ("dataset", "emb_size", "region_size", "region_mode", "num_head", "use_attention", "optimizer", "update_mode",
            "test_ratio",
            "min_seq", "batch_size", "data_percent")
    flat = exp.cfg.to_dict()  # the flat form: switches as 0 and 1, as checkpoints written before the groups hold
    return json.dumps({**{k: flat[k] for k in keys}, "max_seq": exp.tables.max_seq,
                       "num_lcu": exp.tables.num_lcu, "version": exp.prepared.version}, sort_keys=True)


def _padded(model, optimizer) -> set[int]:
    """ids of the variables whose first axis is the LCU tables' (padded) row axis: both tables and their Adam
    moments (optimisers keep one moment per trainable variable, in the same order)."""
    tables = {id(v) for v in model.trainable_variables if v.path.endswith(("k_iu/table", "k_ui/table"))}
    padded = set(tables)
    if optimizer is None:
        return padded
    for slots in (getattr(optimizer, "_momentums", []), getattr(optimizer, "_velocities", [])):
        padded |= {id(slot) for var, slot in zip(model.trainable_variables, slots, strict=False) if id(var) in tables}
    return padded


def _groups(model, optimizer) -> list[tuple[str, list]]:
    """The checkpoint's groups and their variables: the model's, then the optimiser's unless it is None."""
    groups = [("model", model.variables)]
    return groups if optimizer is None else [*groups, ("optimizer", optimizer.variables)]


def has_optimizer_state(path: Path) -> bool:
    """True when the checkpoint at ``path`` can resume training (it holds the optimiser's state)."""
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            return "optimizer" in h5
    except OSError:  # unreadable: let load_checkpoint say so
        return True


def save_checkpoint(path: Path, exp: Experiment, model, optimizer, epoch: int) -> None:
    """Weights and optimiser state in one HDF5 file, written atomically (by process 0 of a multi-process job;
    every process must call it, since sharded values are gathered from all of them). ``optimizer=None``: the
    weights only (for scoring; such a file cannot resume training)."""
    import h5py

    backend = backends.current()
    padded, rows = _padded(model, optimizer), exp.tables.num_lcu
    groups = [(group, [(var.path, backend.to_numpy(var)[:rows] if id(var) in padded else backend.to_numpy(var))
                       for var in variables])
              for group, variables in _groups(model, optimizer)]
    if is_chief():
        with atomic_path(path) as tmp:
            with h5py.File(tmp, "w") as h5:
                h5.attrs["format"] = CHECKPOINT_FORMAT
                h5.attrs["epoch"] = epoch
                h5.attrs["fingerprint"] = _fingerprint(exp)
                h5.attrs["config"] = json.dumps(exp.cfg.to_dict())
                h5.attrs["keras_backend"] = backends.name()
                for group, values in groups:
                    g = h5.create_group(group)
                    for n, (var_path, value) in enumerate(values):
                        g.create_dataset(f"{n:06d}", data=value).attrs["path"] = var_path
    backend.barrier(f"checkpoint {path.name}")


def load_checkpoint(path: Path, exp: Experiment, model, optimizer=None) -> int:
    """Restore weights and optimiser state (``optimizer=None``: the weights only, for scoring); return the
    checkpoint's epoch. A weights-only file is refused when ``optimizer`` is given: it cannot resume training."""
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
            if optimizer is not None and "optimizer" not in h5:
                raise CheckpointError(
                    f"{path} holds the weights of epoch {int(h5.attrs['epoch'])} without optimiser state (a finished "
                    "run's under checkpoint_policy 'lean'): it can be scored, not resumed. Train the run again with "
                    "more epochs from scratch, or keep checkpoint_policy 'every' for runs to be extended")
            padded = _padded(model, optimizer)
            for group, variables in _groups(model, optimizer):
                stored = h5[group]
                if len(stored) != len(variables):
                    raise CheckpointError(f"{path}: {group} has {len(stored)} variables, the model {len(variables)}")
                for n, var in enumerate(variables):
                    value = stored[f"{n:06d}"][()]
                    if id(var) in padded and value.shape[0] < var.shape[0]:  # the sharding's zero rows
                        value = np.concatenate([value, np.zeros((var.shape[0] - value.shape[0], *value.shape[1:]),
                                                                value.dtype)])
                    if tuple(value.shape) != tuple(var.shape):
                        raise CheckpointError(
                            f"{path}: {group} variable {var.path} has shape {value.shape}, expected {tuple(var.shape)}"
                        )
                    var.assign(value)
            return int(h5.attrs["epoch"])
    except (OSError, KeyError) as exc:
        raise CheckpointError(f"{path} is corrupted or unreadable ({exc}); delete it and resume from another") from None
