"""Register the ``arerec`` Jupyter kernel inside the current environment (``--sys-prefix``).

The kernel is started with ``--IPKernelApp.capture_fd_output=False`` so that TensorFlow's C++
log lines go to the terminal rather than into executed notebooks, and with the glibc malloc
settings of :mod:`arerec.malloc_tuning`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

KERNEL_NAME = "arerec"
NO_CAPTURE = "--IPKernelApp.capture_fd_output=False"


def kernel_dir() -> Path:
    return Path(sys.prefix) / "share" / "jupyter" / "kernels" / KERNEL_NAME


def install() -> Path:
    subprocess.run(
        [sys.executable, "-m", "ipykernel", "install", "--sys-prefix", "--name", KERNEL_NAME,
         "--display-name", "Python (arerec)"],
        check=True, stdout=subprocess.DEVNULL,
    )
    spec_path = kernel_dir() / "kernel.json"
    spec = json.loads(spec_path.read_text())
    if NO_CAPTURE not in spec["argv"]:
        spec["argv"].append(NO_CAPTURE)
    from arerec.malloc_tuning import MALLOC_ENV

    spec.setdefault("env", {})["TF_CPP_MIN_LOG_LEVEL"] = "2"
    spec["env"].update(MALLOC_ENV)  # see arerec/malloc_tuning.py: the same allocator settings as the CLI
    spec_path.write_text(json.dumps(spec, indent=1) + "\n")
    return spec_path


if __name__ == "__main__":
    print(f"registered kernel {KERNEL_NAME!r}: {install()}")
