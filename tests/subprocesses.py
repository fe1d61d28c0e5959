"""Running code under another Keras backend: ``KERAS_BACKEND`` is read once per process, so a test that compares
backends runs the other one in a fresh Python (tests/train/test_backends_and_devices.py, tests/model)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

CLEAN_ENV = {k: v for k, v in os.environ.items() if k not in ("KERAS_BACKEND", "XLA_FLAGS")}


def backend_env(backend: str, devices: int = 1) -> dict[str, str]:
    """The environment of a process under ``backend`` on the CPU (``devices`` virtual JAX devices)."""
    env = {**CLEAN_ENV, "KERAS_BACKEND": backend}
    if backend == "jax":
        env.update(JAX_PLATFORMS="cpu", XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
    if backend == "torch":  # tiny tensors: one thread, so that a busy machine's other processes do not stall it
        env.update(OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    return env


def run_python(code: str, env: dict[str, str], timeout: int = 300) -> dict:
    """Run ``code`` in a fresh Python; its last stdout line is JSON."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env,
                          timeout=timeout)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])
