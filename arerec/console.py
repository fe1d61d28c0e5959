"""Where progress and per-epoch lines go: the terminal and a log file, never a report page.

A notebook kernel's stdout and stderr end up in the executed notebook (ipykernel captures them), so
lines meant for the person running ``make reproduce`` cannot be printed. The runner
(:mod:`arerec.report.runner`) names a log file per notebook in the environment variable
:data:`LOG_ENV` before it starts papermill, and echoes that file to its terminal while the notebook
runs. :func:`say` appends a line to that file; without the variable (a notebook run by hand, a
test, the CLI) the line goes to stderr, as any log would.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TextIO

LOG_ENV = "AREREC_LOG_FILE"

log = logging.getLogger(__name__)


def log_path() -> Path | None:
    """The log file named by :data:`LOG_ENV`, or None."""
    value = os.environ.get(LOG_ENV, "")
    return Path(value) if value else None


class _LineFile:
    """A text stream that writes each chunk as whole lines to the log file (opened, appended, closed).

    tqdm redraws its bar with a carriage return; in a file each redraw becomes one line instead.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, text: str) -> int:
        lines = [part for part in text.replace("\r", "\n").split("\n") if part.strip()]
        if lines:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write("".join(f"{line.rstrip()}\n" for line in lines))
        return len(text)

    def flush(self) -> None:
        pass


def stream() -> TextIO:
    """The channel as a text stream (e.g. tqdm's ``file``): the log file when named, else stderr."""
    path = log_path()
    return _LineFile(path) if path is not None else sys.stderr  # type: ignore[return-value]


def say(text: str) -> None:
    """One progress line to the channel (and to ``logging`` at DEBUG)."""
    log.debug("%s", text)
    channel = stream()
    channel.write(text + "\n")
    channel.flush()


class ChannelHandler(logging.Handler):
    """A logging handler that writes formatted records to the channel."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            say(self.format(record))
        except Exception:  # pragma: no cover - logging must never raise
            self.handleError(record)
