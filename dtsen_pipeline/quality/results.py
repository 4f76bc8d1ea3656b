"""The gate's results per month, as the checks saved them (counts only): read by the gate asset and
written into the release manifest."""

from __future__ import annotations

import json

from dtsen_pipeline import paths


def gate_results(month: str) -> dict:
    folder = paths.quality_results_dir() / month
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))}
