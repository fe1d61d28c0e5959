"""Many devices, one host or several: the run's ``keras.distribution`` (docs/backends.md).

``distribution`` (a Config field) chooses it, under ``KERAS_BACKEND=jax``, where Keras' distribution API
is complete:

- ``none``: one device (the default; any backend).
- ``data``: ``DataParallel`` over every device: variables replicated, each batch split over the devices.
- ``model``: ``ModelParallel`` on a ``batch`` x ``model`` mesh (``model_axis`` devices on the second
  axis), with :meth:`arerec.model.layers.ARERec.get_layout_map`: both LCU tables, and so their Adam
  moments, sharded by row over ``model``; the batch split over ``batch``.

Several hosts: :func:`initialize_hosts` calls ``keras.distribution.initialize`` with the coordinator's
address, the process count and this process's id, from the config (``job_addresses``,
``num_processes``, ``process_id``) or from Keras' variables ``KERAS_DISTRIBUTION_JOB_ADDRESSES``,
``KERAS_DISTRIBUTION_NUM_PROCESSES`` and ``KERAS_DISTRIBUTION_PROCESS_ID``. Every process then runs the
same command; process 0 writes the run's files.
"""

from __future__ import annotations

import logging
import os

from arerec.config import Config
from arerec.errors import ConfigError

log = logging.getLogger(__name__)

ENV_PROCESSES = "KERAS_DISTRIBUTION_NUM_PROCESSES"
_initialized: tuple | None = None


def _backend() -> str:
    import keras

    return keras.backend.backend()


def initialize_hosts(cfg: Config) -> bool:
    """Join this process to a multi-process job when the config or the environment asks for one.

    Returns True when the job has more than one process. Called once per process (a second call with
    the same settings does nothing; other settings are an error: JAX cannot be re-initialised).
    """
    global _initialized
    processes = cfg.num_processes or int(os.environ.get(ENV_PROCESSES, "0") or 0)
    if processes <= 1:
        return False
    wanted = (cfg.job_addresses or None, processes, cfg.process_id if cfg.process_id >= 0 else None)
    if _initialized is not None:
        if _initialized != wanted:
            raise ConfigError(f"this process already joined a job as {_initialized}; it cannot join {wanted} "
                              f"(start a new process)")
        return True
    if _backend() != "jax":
        raise ConfigError(f"several processes (num_processes={processes}) need KERAS_BACKEND=jax; this process runs "
                          f"{_backend()}")
    import jax
    import keras

    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # collectives between CPU processes
    try:
        keras.distribution.initialize(*wanted)
    except Exception as exc:  # noqa: BLE001 - JAX raises RuntimeError or XlaRuntimeError here
        raise ConfigError(f"could not join the {processes}-process job at {wanted[0] or 'the address of '}"
                          f"{'' if wanted[0] else 'KERAS_DISTRIBUTION_JOB_ADDRESSES'} as process {wanted[2]}: {exc}. "
                          f"Start every process with the same job_addresses (the coordinator's host:port, reachable "
                          f"from all) and num_processes, and process ids 0..{processes - 1}.") from None
    _initialized = wanted
    log.info("joined a %d-process job as process %d of devices %s", processes, jax.process_index(), jax.devices())
    return True


def configure(cfg: Config):
    """Set the run's ``keras.distribution`` before its model is built; returns it, or None for ``none``."""
    import keras

    if cfg.distribution == "none":
        if cfg.num_processes > 1:
            raise ConfigError("num_processes > 1 needs distribution 'data' or 'model': with 'none' every process "
                              "would train its own copy")
        keras.distribution.set_distribution(None)
        return None
    if _backend() != "jax":
        raise ConfigError(f"distribution {cfg.distribution!r} needs KERAS_BACKEND=jax (keras.distribution is complete "
                          f"under JAX only); this process runs {_backend()}. Set KERAS_BACKEND=jax, or distribution 'none'")
    initialize_hosts(cfg)
    from keras import distribution as kd

    from arerec.model.layers import ARERec

    devices = kd.list_devices()
    if cfg.distribution == "data":
        dist = kd.DataParallel(devices=devices)
    else:
        model = cfg.model_axis or len(devices)
        if len(devices) % model:
            raise ConfigError(f"model_axis={model} does not divide the {len(devices)} devices; choose a divisor")
        mesh = kd.DeviceMesh((len(devices) // model, model), ("batch", "model"), devices=devices)
        dist = kd.ModelParallel(layout_map=ARERec.get_layout_map(mesh), batch_dim_name="batch")
    kd.set_distribution(dist)
    log.info("distribution %s over %d devices", cfg.distribution, len(devices))
    return dist


def model_axis_size() -> int:
    """Devices the LCU tables are sharded over (1 unless ``distribution: model``)."""
    import keras

    dist = keras.distribution.distribution()
    mesh = getattr(dist, "device_mesh", None)
    if dist is None or mesh is None or "model" not in mesh.axis_names:
        return 1
    return int(mesh.shape[list(mesh.axis_names).index("model")])


def padded_rows(num_lcu: int) -> int:
    """The LCU tables' row count: num_lcu rounded up to a multiple of the model axis."""
    n = model_axis_size()
    return -(-num_lcu // n) * n


def is_chief() -> bool:
    """True in the process that writes a run's files: process 0 of a multi-process job, or the only one."""
    if _initialized is None:
        return True
    import jax

    return jax.process_index() == 0


def describe() -> dict:
    """The backend, the distribution and the devices, for provenance and run records."""
    import keras

    dist = keras.distribution.distribution()
    record: dict = {"keras_backend": _backend(), "distribution": type(dist).__name__ if dist else "none"}
    if _backend() == "jax":
        import jax

        record.update(devices=[f"{d.platform}:{d.device_kind}" for d in jax.devices()], processes=jax.process_count(),
                      jax=jax.__version__)
    elif _backend() == "torch":
        import torch

        cuda = [f"cuda:{torch.cuda.get_device_name(n)}" for n in range(torch.cuda.device_count())]
        record.update(devices=cuda or [f"cpu:{torch.get_num_threads()} threads"], torch=torch.__version__)
    elif _backend() == "tensorflow":
        import tensorflow as tf

        record.update(devices=[f"{d.device_type}:{d.name}" for d in tf.config.list_physical_devices()],
                      tensorflow=tf.__version__)
    mesh = getattr(dist, "device_mesh", None)
    if mesh is not None:
        record["mesh"] = dict(zip(mesh.axis_names, [int(n) for n in mesh.shape], strict=True))
    return record
