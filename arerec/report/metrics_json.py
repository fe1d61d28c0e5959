"""``metrics.json``: what every run and notebook records, merged section by section and written atomically.

Tests, ``check`` and the index read this file; nothing scrapes a notebook's text for numbers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from arerec.files import write_json_atomic


def jsonable(value: Any) -> Any:
    """``value`` with NaN and infinities as None and numpy scalars as Python numbers (strict JSON)."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def read_metrics(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / "metrics.json"
    if not path.is_file():
        return {}
    return json.loads(path.read_text())


def update_metrics(folder: str | Path, section: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``values`` into ``metrics.json[section]`` in ``folder`` and write it atomically."""
    metrics = read_metrics(folder)
    metrics.setdefault(section, {}).update(jsonable(dict(values)))
    write_json_atomic(Path(folder) / "metrics.json", metrics)
    return metrics
