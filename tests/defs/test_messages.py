"""What a user reads when something goes wrong: whole reasons, on one line, without personal values;
and UI charts that survive odd data."""

from __future__ import annotations

from dagster._utils.error import SerializableErrorInfo

from dtsen_pipeline.defs.common import charts
from dtsen_pipeline.defs.common.progress import failure_reason

DBT_ERROR = """The dbt CLI process with command

`dbt build --vars {"month": "2025-01"} --select fqn:*`

failed with exit code `1`. Check the stdout in the Dagster compute logs for the full information about the error.

Errors parsed from dbt logs:

Runtime Error in model dtsen_individu (models/marts/dtsen_individu.sql)
  Conversion Error: Could not convert string '3201010101800001' to INT32
Failure in test unique_dtsen_keluarga_dtsen_kk_id (models/marts/dtsen_keluarga.yml)
  Got 3 results, configured to fail if != 0"""


def _error(
    message: str, cls: str = "dagster_dbt.errors.DagsterDbtCliRuntimeError"
) -> SerializableErrorInfo:
    inner = SerializableErrorInfo(
        message=f"{cls}: {message}\n", stack=[], cls_name=cls.rsplit(".", 1)[-1]
    )
    return SerializableErrorInfo(
        message="dagster._core.errors.DagsterExecutionStepExecutionError: Error occurred "
        'while executing op "dbt_marts":\n',
        stack=[],
        cls_name="X",
        cause=inner,
    )


def test_a_dbt_failure_says_which_model_and_test_failed_and_why():
    reason = failure_reason(_error(DBT_ERROR))
    assert reason.startswith("DagsterDbtCliRuntimeError: dbt exited with code 1: ")
    assert "Runtime Error in model dtsen_individu" in reason
    assert (
        "Failure in test unique_dtsen_keluarga_dtsen_kk_id" in reason and "Got 3 results" in reason
    )
    assert "\n" not in reason and "dbt build --vars" not in reason
    assert "3201010101800001" not in reason  # a NIK in a conversion error stays out of the message


def test_our_own_errors_keep_every_line():
    reason = failure_reason(
        _error("linkage 2025-06: no rows\nrun 2025-05 first", "builtins.ValueError")
    )
    assert reason == "ValueError: linkage 2025-06: no rows | run 2025-05 first"


def test_desil_chart_shows_families_without_a_region():
    """A family with no placed member has no province; the chart shows it instead of failing after
    the release was published."""
    rows = [
        ("64", "Kalimantan Timur", 1, 10),
        (None, None, 7, 0),
        ("53", None, 2, 5),
        (None, None, 3, 4),
    ]
    chart = charts.desil_by_province(rows)
    assert [(r.data["province"], r.data["persons"]) for r in chart.records] == [
        ("(no region)", 4),
        ("53", 5),
        ("64 Kalimantan Timur", 10),
    ]
    assert chart.records[2].data["d1"] == "100%" and chart.records[2].data["desil 1-4"] == "100%"
