"""arerec.report.metrics_json: sections merged, strict JSON (no NaN or infinities)."""

from __future__ import annotations

import json

from arerec.report import metrics_json


def test_update_metrics_merges_sections_and_writes_strict_json(tmp_path):
    metrics_json.update_metrics(tmp_path, "a", {"x": 1.5, "nan": float("nan")})
    metrics_json.update_metrics(tmp_path, "a", {"y": [float("inf"), 2]})
    metrics_json.update_metrics(tmp_path, "b", {"z": "s"})
    text = (tmp_path / "metrics.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"a": {"x": 1.5, "nan": None, "y": [None, 2]}, "b": {"z": "s"}}
