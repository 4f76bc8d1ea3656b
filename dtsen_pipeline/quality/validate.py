"""Validate one suite on the month's data in the working warehouse, one bounded batch at a time.

The pieces: quality/suites.py says what a suite is (no GX), quality/runner.py runs expectations on a
batch with GX, quality/compare.py compares a mart with the release analysts read now, and
quality/data_docs.py renders the result as a GX Data Docs page under ``data/reports/quality/``.
Here they are put together:

1. the suite's rows are materialised once in a DuckDB temp table, with only the columns its rules
   read, then validated one batch (one value of ``batch_by``, e.g. a province) at a time;
2. table-level summaries (small frames) are validated once;
3. a mart's row count and key-field shares are compared with ``previous_release``, if any.

Results carry counts only, never a value: values here are NIKs and names.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from dtsen_pipeline.quality import data_docs, suites
from dtsen_pipeline.quality.compare import compare_with_release
from dtsen_pipeline.quality.results import ExpectationOutcome, ValidationSummary
from dtsen_pipeline.quality.runner import BatchRunner
from dtsen_pipeline.quality.suites import SuiteSpec, parameter_value

ROWS = "gx_rows"  # the temp table holding the suite's rows of the month


def validate_suite(
    con: duckdb.DuckDBPyConnection, spec: SuiteSpec, month: str, previous_release: Path | None
) -> ValidationSummary:
    """Run ``spec`` on ``month`` in ``con``; a mart is compared with ``previous_release`` (a release
    database), or its comparisons are skipped as a first release's."""
    suites.config(check_gx=True)  # every expectation built by GX once, or the file and field named
    parameters = spec.parameters()
    runner = BatchRunner(spec.name, parameters)

    # 1. The suite's rows, then one bounded batch per value of batch_by.
    rows_outcomes = [
        ExpectationOutcome.of(e, mostly=parameter_value(e["kwargs"].get("mostly"), parameters))
        for e in spec.expectations
    ]
    con.execute(
        f"create or replace temp table {ROWS} as select {', '.join(spec.columns())} "
        f"from ({spec.query.replace('{month}', month)}) as q"
    )
    keys = [
        r[0]
        for r in con.execute(f"select distinct {spec.batch_by} from {ROWS} order by 1").fetchall()
    ]
    rows = 0
    for key in keys:
        df = con.execute(
            f"select * from {ROWS} where {spec.batch_by} is not distinct from ?", [key]
        ).df()
        rows += len(df)
        runner.validate("rows", df, rows_outcomes, f"{spec.batch_by}={key}")
    for outcome in rows_outcomes:
        # `mostly` holds over the whole table, not each batch: a small province with one bad value
        # out of three must not fail a 90% rule the table meets.
        present = outcome.element_count - outcome.missing_count
        if outcome.mostly is not None and present:
            outcome.success = 1 - outcome.unexpected_count / present >= outcome.mostly
            outcome.failed_batches = [] if outcome.success else ["whole table"]
    if (
        not keys and not spec.allow_empty
    ):  # an empty table fails the gate rather than passing vacuously
        for outcome in rows_outcomes:
            outcome.success = False
            outcome.failed_batches.append("table is empty")
    outcomes = list(rows_outcomes)

    # 2. Table-level summaries.
    for summary in spec.summaries:
        part = [ExpectationOutcome.of(e, part=summary["name"]) for e in summary["expectations"]]
        runner.validate(
            summary["name"], con.execute(summary["query"].replace("{rows}", ROWS)).df(), part
        )
        outcomes += part

    # 3. Against the last release: row count and drift of key fields.
    if spec.table and previous_release is not None:
        for comparison in compare_with_release(
            con, spec, previous_release, ROWS, parameters["drift_tolerance"]
        ):
            outcome = ExpectationOutcome.of(
                {**comparison.expectation, "label": comparison.label}, part=comparison.part
            )
            runner.validate(comparison.part, comparison.frame, [outcome])
            outcomes.append(outcome)
    elif spec.table:
        for label in [
            "row count within tolerance of the last release",
            *[f"{c} shares within tolerance of the last release" for c in spec.drift],
        ]:
            outcomes.append(
                ExpectationOutcome(
                    label,
                    "ExpectColumnValuesToBeBetween",
                    None,
                    {},
                    part="release",
                    skipped="first release: nothing to compare",
                )
            )
    con.execute(f"drop table if exists {ROWS}")

    summary = ValidationSummary(spec.name, len(keys), rows, outcomes)
    summary.data_docs = data_docs.write_page(spec, month, summary)
    return summary
