"""A mart against the release analysts read now: its row count and the shares of its key fields.

Handed the previous release's database (the caller chooses which: publication.previous_release);
each comparison is a small frame and the expectation that judges it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from dtsen_pipeline.lib.warehouse import quote_literal
from dtsen_pipeline.quality.suites import SuiteSpec


@dataclass
class Comparison:
    part: str  # row_count or drift_<column>
    label: str
    frame: pd.DataFrame
    expectation: dict  # as config/expectations.yaml would declare it


def compare_with_release(
    con: duckdb.DuckDBPyConnection,
    spec: SuiteSpec,
    previous: Path,
    rows: str,
    drift_tolerance: float,
) -> list[Comparison]:
    """``rows`` (a relation in ``con``: this month's rows of the suite) against ``spec.table`` in the
    ``previous`` release. None when the suite's table is not comparable or the release lacks it."""
    tol = spec.row_count_tolerance
    con.execute(
        f"attach {quote_literal(str(previous))} as last_release (read_only)"
    )  # ATTACH takes no parameter
    try:
        has = con.execute(
            "select count(*) from information_schema.tables where table_catalog = 'last_release' "
            "and table_name = ?",
            [spec.table],
        ).fetchall()[0][0]
        if tol is None or not has:
            return []
        counts = con.execute(f"""
            select (select count(*) from {rows}) as rows,
                   (select count(*) from last_release.main.{spec.table}) as previous_rows""").df()
        counts["change"] = counts["rows"] / counts["previous_rows"].clip(lower=1) - 1
        out = [
            Comparison(
                "row_count",
                "row count within tolerance of the last release",
                counts,
                _between("change", tol),
            )
        ]
        for column in spec.drift:
            shares = con.execute(f"""
                with now as (select cast({column} as varchar) as value, count(*) / sum(count(*)) over () as share
                             from {rows} group by 1),
                     prev as (select cast({column} as varchar) as value, count(*) / sum(count(*)) over () as share
                              from last_release.main.{spec.table} group by 1)
                select coalesce(now.value, prev.value) as value, coalesce(now.share, 0) as share,
                       coalesce(prev.share, 0) as previous_share,
                       coalesce(now.share, 0) - coalesce(prev.share, 0) as share_change
                from now full outer join prev on now.value is not distinct from prev.value""").df()
            out.append(
                Comparison(
                    f"drift_{column}",
                    f"{column} shares within tolerance of the last release",
                    shares,
                    _between("share_change", drift_tolerance),
                )
            )
        return out
    finally:
        con.execute("detach last_release")


def _between(column: str, tolerance: float) -> dict:
    return {
        "type": "ExpectColumnValuesToBeBetween",
        "kwargs": {"column": column, "min_value": -tolerance, "max_value": tolerance},
    }
