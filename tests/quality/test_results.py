"""quality/results.py: a suite's summary (counts only), kept per month and shown as the gate's table.

A failed expectation fails the suite and is named; a skipped one (no release to compare with) is
listed and does not fail it; saved results read back per month; the gate's table marks a published
mart's suite blocking and a source's or a warning suite's not.
"""

from __future__ import annotations

import json

from dtsen_pipeline.lib import paths
from dtsen_pipeline.publish import contents
from dtsen_pipeline.quality.results import (
    ExpectationOutcome,
    ValidationSummary,
    gate_results,
    gate_table,
    save_summary,
)

NOT_NULL = {"type": "ExpectColumnValuesToNotBeNull", "kwargs": {"column": "dtsen_id"}}


def outcome(label: str, **fields) -> ExpectationOutcome:
    out = ExpectationOutcome.of({**NOT_NULL, "label": label})
    for name, value in fields.items():
        setattr(out, name, value)
    return out


def test_an_outcome_is_named_by_its_label_or_else_its_type():
    unlabelled = ExpectationOutcome.of(NOT_NULL, part="summary", mostly=0.9)
    assert (unlabelled.label, unlabelled.expectation, unlabelled.column) == (
        "ExpectColumnValuesToNotBeNull",
        "ExpectColumnValuesToNotBeNull",
        "dtsen_id",
    )
    assert (unlabelled.part, unlabelled.mostly, unlabelled.success) == ("summary", 0.9, True)
    assert ExpectationOutcome.of({**NOT_NULL, "label": "dtsen_id present"}).label == (
        "dtsen_id present"
    )
    table_level = ExpectationOutcome.of({"type": "ExpectTableRowCountToBeBetween", "kwargs": {}})
    assert table_level.column is None


def test_a_failed_expectation_fails_the_suite_and_a_skipped_one_does_not():
    skipped = outcome("row count within tolerance", skipped="first release: nothing to compare")
    passing = ValidationSummary(
        "dtsen_keluarga", 3, 120, [outcome("dtsen_kk_id present", element_count=120), skipped]
    )
    assert passing.success and passing.failed == []
    assert passing.as_dict() == {
        "suite": "dtsen_keluarga",
        "success": True,
        "rows": 120,
        "batches": 3,
        "expectations": 2,
        "failed": [],
        "skipped": ["row count within tolerance: first release: nothing to compare"],
    }
    broken = outcome("desil in 1-10", success=False, unexpected_count=4)
    failing = ValidationSummary("dtsen_keluarga", 3, 120, [*passing.outcomes, broken])
    assert not failing.success and failing.failed == [broken]
    assert failing.as_dict()["failed"] == ["desil in 1-10"]
    assert failing.as_dict()["expectations"] == 3


def test_saved_results_are_read_back_per_month(tmp_path, monkeypatch):
    monkeypatch.setenv("DTSEN_DATA_DIR", str(tmp_path))
    mart = ValidationSummary("dtsen_keluarga", 2, 50, [outcome("a", success=False)])
    source = ValidationSummary("stg_dukcapil", 2, 60, [outcome("b")])
    save_summary(mart, "2025-01", "run-1")
    save_summary(source, "2025-01", "run-1")
    save_summary(source, "2025-02", "run-2")
    assert (paths.quality_results_dir() / "2025-01" / "stg_dukcapil.json").is_file()
    january = gate_results("2025-01")
    assert list(january) == ["dtsen_keluarga", "stg_dukcapil"]
    assert january["dtsen_keluarga"] == {**mart.as_dict(), "run_id": "run-1", "data_docs": None}
    assert gate_results("2025-02")["stg_dukcapil"]["run_id"] == "run-2"
    assert gate_results("2025-03") == {}
    # Counts and labels only: the file says nothing of an expectation's arguments.
    text = json.dumps(january)
    assert "dtsen_id" not in text and "ExpectColumn" not in text


def test_the_gate_table_blocks_on_published_marts_and_warns_on_the_rest():
    assert "dtsen_keluarga" in contents.release_tables()
    results = {
        "stg_dukcapil": {"success": False, "rows": 60, "failed": ["x", "y"], "skipped": []},
        "dtsen_keluarga": {"success": True, "rows": 50, "failed": [], "skipped": ["r: first"]},
        "usulan_batas_layanan": {"success": False, "rows": 7, "failed": ["late"], "skipped": []},
    }
    rows = [r.data for r in gate_table(results).records]
    assert rows == [
        {
            "suite": "dtsen_keluarga",
            "blocking": True,
            "passed": True,
            "rows": 50,
            "failed expectations": "",
            "skipped": 1,
        },
        {
            "suite": "stg_dukcapil",
            "blocking": False,
            "passed": False,
            "rows": 60,
            "failed expectations": "x, y",
            "skipped": 0,
        },
        {
            "suite": "usulan_batas_layanan",
            "blocking": False,
            "passed": False,
            "rows": 7,
            "failed expectations": "late",
            "skipped": 0,
        },
    ]
