"""Validate a warehouse table with Great Expectations 1.x, one batch at a time.

GX cannot validate DuckDB through SQLAlchemy (see ../shared/docs/STACK.md), so each batch is read
from DuckDB into pandas and validated there. Results carry counts only: never a value, because
values here are NIKs and names.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cache

import duckdb
import yaml

from dtsen_pipeline import paths

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

import great_expectations as gx  # noqa: E402  (after the analytics switch)
from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: E402


@dataclass
class ExpectationOutcome:
    expectation: str
    column: str | None
    success: bool = True
    element_count: int = 0
    unexpected_count: int = 0
    failed_batches: list[str] = field(default_factory=list)


@dataclass
class ValidationSummary:
    suite: str
    batches: int
    rows: int
    outcomes: list[ExpectationOutcome]

    @property
    def success(self) -> bool:
        return all(o.success for o in self.outcomes)

    @property
    def failed(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success]


@cache
def suites() -> dict:
    return yaml.safe_load((paths.CONFIG_DIR / "expectations.yaml").read_text(encoding="utf-8"))


def _context():
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def validate_table(con: duckdb.DuckDBPyConnection, suite_name: str) -> ValidationSummary:
    spec = suites()[suite_name]
    context = _context()
    batch_definition = (context.data_sources.add_pandas(suite_name)
                        .add_dataframe_asset(suite_name)
                        .add_batch_definition_whole_dataframe("batch"))
    suite = gx.ExpectationSuite(name=suite_name)
    outcomes = []
    for exp in spec["expectations"]:
        suite.add_expectation(getattr(gx.expectations, exp["type"])(**exp["kwargs"]))
        outcomes.append(ExpectationOutcome(exp["type"], exp["kwargs"].get("column")))
    suite = context.suites.add(suite)

    table, batch_col = spec["table"], spec["batch_by"]
    keys = [r[0] for r in con.execute(f"select distinct {batch_col} from {table} order by 1").fetchall()]
    rows = 0
    for key in keys:
        df = con.execute(f"select * from {table} where {batch_col} is not distinct from ?", [key]).df()
        rows += len(df)
        result = batch_definition.get_batch(batch_parameters={"dataframe": df}).validate(
            suite, result_format="BASIC")
        for outcome, res in zip(outcomes, result.results, strict=True):
            outcome.element_count += res.result.get("element_count", len(df)) or 0
            outcome.unexpected_count += res.result.get("unexpected_count", 0) or 0
            if not res.success:
                outcome.success = False
                outcome.failed_batches.append(f"{batch_col}={key}")
    if not keys:  # an empty table fails the gate rather than passing vacuously
        for outcome in outcomes:
            outcome.success = False
            outcome.failed_batches.append("table is empty")
    return ValidationSummary(suite_name, len(keys), rows, outcomes)
