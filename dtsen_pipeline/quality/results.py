"""The gate's results per month, as the checks saved them (counts only): read by the gate asset and
written into the release manifest."""

from __future__ import annotations

import json

from dagster import MetadataValue, TableColumn, TableRecord, TableSchema

from dtsen_pipeline import paths, published


def gate_results(month: str) -> dict:
    folder = paths.quality_results_dir() / month
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))}


GATE_COLUMNS = TableSchema(columns=[
    TableColumn("suite", "string", description="gx_<suite> is its check"),
    TableColumn("blocking", "bool", description="a mart's suite blocks the release; a source's warns"),
    TableColumn("passed", "bool"),
    TableColumn("rows", "int", description="rows validated"),
    TableColumn("failed expectations", "string"),
    TableColumn("skipped", "int", description="expectations not evaluated (e.g. no earlier release)"),
])


def gate_table(results: dict) -> MetadataValue:
    """The gate's results, one row per suite, as a Dagster table (shown inline in the UI; each suite's
    Data Docs page is linked from its check and from the `reports` page, not here: a long URL per
    row would push the table past the panel's width)."""
    return MetadataValue.table([TableRecord({
        "suite": name, "blocking": name in published.release_tables(), "passed": bool(r["success"]), "rows": int(r["rows"]),
        "failed expectations": ", ".join(r["failed"]), "skipped": len(r["skipped"])})
        for name, r in sorted(results.items())], GATE_COLUMNS)
