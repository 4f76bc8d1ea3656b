"""What a suite's run yields (counts only, never a value) and the gate's results per month, as
the checks saved them: read by the gate asset and written into the release manifest."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from dagster import MetadataValue, TableColumn, TableRecord, TableSchema

from dtsen_pipeline.lib import paths
from dtsen_pipeline.publish import contents


@dataclass
class ExpectationOutcome:
    """One expectation of a suite, its counts summed over every batch it ran on."""

    label: str
    expectation: str
    column: str | None
    config: dict = field(repr=False)  # the expectation as config/expectations.yaml declares it
    part: str = "rows"  # rows, a summary's name, row_count or drift_<column>
    success: bool = True
    skipped: str | None = None  # why it was not evaluated (no previous release)
    element_count: int = 0
    unexpected_count: int = 0
    missing_count: int = 0
    mostly: float | None = None  # share of present values that must pass, over all batches
    observed: str | None = None
    failed_batches: list[str] = field(default_factory=list)
    gx_result: object = field(default=None, repr=False)  # a representative GX result, for Data Docs

    @classmethod
    def of(cls, exp: dict, part: str = "rows", mostly: float | None = None) -> ExpectationOutcome:
        return cls(
            exp.get("label", exp["type"]),
            exp["type"],
            exp["kwargs"].get("column"),
            exp,
            part=part,
            mostly=mostly,
        )


@dataclass
class ValidationSummary:
    suite: str
    batches: int
    rows: int
    outcomes: list[ExpectationOutcome]
    data_docs: Path | None = None

    @property
    def success(self) -> bool:
        return all(o.success for o in self.outcomes)

    @property
    def failed(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success]

    def as_dict(self) -> dict:
        """For the release manifest: what was checked and how it went, counts only."""
        return {
            "suite": self.suite,
            "success": self.success,
            "rows": self.rows,
            "batches": self.batches,
            "expectations": len(self.outcomes),
            "failed": [o.label for o in self.failed],
            "skipped": [f"{o.label}: {o.skipped}" for o in self.outcomes if o.skipped],
        }


def save_summary(summary: ValidationSummary, month: str, run_id: str) -> None:
    """Keep a suite's result (counts only) for the gate and the release manifest."""
    folder = paths.quality_results_dir() / month
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{summary.suite}.json").write_text(
        json.dumps(
            {
                **summary.as_dict(),
                "run_id": run_id,
                "data_docs": str(summary.data_docs) if summary.data_docs else None,
            },
            indent=2,
        ),
        encoding="utf-8",
    )


def gate_results(month: str) -> dict:
    folder = paths.quality_results_dir() / month
    return {
        p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))
    }


GATE_COLUMNS = TableSchema(
    columns=[
        TableColumn("suite", "string", description="gx_<suite> is its check"),
        TableColumn(
            "blocking", "bool", description="a mart's suite blocks the release; a source's warns"
        ),
        TableColumn("passed", "bool"),
        TableColumn("rows", "int", description="rows validated"),
        TableColumn("failed expectations", "string"),
        TableColumn(
            "skipped", "int", description="expectations not evaluated (e.g. no earlier release)"
        ),
    ]
)


def gate_table(results: dict) -> MetadataValue:
    """The gate's results, one row per suite, as a Dagster table (shown inline in the UI; each suite's
    Data Docs page is linked from its check and from the `reports` page, not here: a long URL per
    row would push the table past the panel's width)."""
    blocking = contents.release_tables()
    return MetadataValue.table(
        [
            TableRecord(
                {
                    "suite": name,
                    "blocking": name in blocking,
                    "passed": bool(r["success"]),
                    "rows": int(r["rows"]),
                    "failed expectations": ", ".join(r["failed"]),
                    "skipped": len(r["skipped"]),
                }
            )
            for name, r in sorted(results.items())
        ],
        GATE_COLUMNS,
    )
