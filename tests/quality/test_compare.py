"""quality/compare.py: a mart against a hand-built previous release (a DuckDB file made here).

Each comparison is a frame and the expectation that judges it; the verdict here is real GX's on that
frame. A row count moved beyond the suite's tolerance is flagged, one within it is not; a value whose
share moved beyond drift_tolerance is flagged; tables not comparable yield nothing, and the release
is detached afterwards.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from dtsen_pipeline.quality.compare import Comparison, compare_with_release
from dtsen_pipeline.quality.results import ExpectationOutcome
from dtsen_pipeline.quality.runner import BatchRunner
from dtsen_pipeline.quality.suites import SuiteSpec

TOLERANCE = 0.25
DRIFT = 0.05
SPEC = SuiteSpec(
    name="dtsen_keluarga",
    asset="dtsen_keluarga",
    table="dtsen_keluarga",
    query="select * from marts.dtsen_keluarga",
    batch_by="kode_prov",
    expectations=(),
    drift=("desil",),
    row_count_tolerance=TOLERANCE,
)


def desil_rows(counts: dict[int, int]) -> str:
    """A SQL relation of families: ``counts[desil]`` rows of each desil."""
    parts = [f"select {d} as desil, '31' as kode_prov from range({n})" for d, n in counts.items()]
    return " union all ".join(parts)


EVEN = {d: 10 for d in range(1, 11)}  # 100 families, a tenth in each desil


def make_release(path: Path, counts: dict[int, int]) -> Path:
    path.parent.mkdir(parents=True)
    with duckdb.connect(str(path)) as con:
        con.execute(f"create table dtsen_keluarga as {desil_rows(counts)}")
    return path


@pytest.fixture()
def release(tmp_path) -> Path:
    return make_release(tmp_path / "release" / "dtsen.duckdb", EVEN)


def compare(release: Path, counts: dict[int, int], spec: SuiteSpec = SPEC) -> list[Comparison]:
    with duckdb.connect() as con:
        con.execute(f"create temp table gx_rows as {desil_rows(counts)}")
        compared = compare_with_release(con, spec, release, "gx_rows", drift_tolerance=DRIFT)
        attached = {
            r[0] for r in con.execute("select database_name from duckdb_databases()").fetchall()
        }
    assert "last_release" not in attached  # detached again, whatever was found
    return compared


def judged(comparison: Comparison) -> ExpectationOutcome:
    """Real GX's verdict on a comparison, as validate.py asks for it."""
    outcome = ExpectationOutcome.of(
        {**comparison.expectation, "label": comparison.label}, part=comparison.part
    )
    BatchRunner("test_compare", {}).validate(comparison.part, comparison.frame, [outcome])
    return outcome


@pytest.mark.parametrize(
    ("rows", "change", "passes"),
    [
        (100, 0.0, True),
        (120, 0.20, True),
        (75, -0.25, True),
        (130, 0.30, False),
        (70, -0.30, False),
    ],
)
def test_a_row_count_moved_beyond_its_tolerance_is_flagged(release, rows, change, passes):
    spread = {d: rows // 10 + (d <= rows % 10) for d in range(1, 11)}  # as evenly as can be
    row_count = compare(release, spread)[0]
    assert row_count.part == "row_count"
    assert row_count.frame[["rows", "previous_rows"]].values.tolist() == [[rows, 100]]
    assert row_count.frame["change"].iloc[0] == pytest.approx(change)
    assert row_count.expectation == {
        "type": "ExpectColumnValuesToBeBetween",
        "kwargs": {"column": "change", "min_value": -TOLERANCE, "max_value": TOLERANCE},
    }
    outcome = judged(row_count)
    assert outcome.success is passes and outcome.unexpected_count == (0 if passes else 1)


def test_a_value_whose_share_moved_beyond_drift_tolerance_is_flagged(release):
    # Desil 1 doubles and desil 10 is gone: each share moves by a tenth (drift_tolerance 0.05).
    moved = compare(release, {**EVEN, 1: 20, 10: 0})
    assert [c.part for c in moved] == ["row_count", "drift_desil"]
    assert judged(moved[0]).success  # still 100 rows
    shares = moved[1].frame.set_index("value")
    assert set(shares.index) == {str(d) for d in range(1, 11)}  # desil 10: in the release only
    assert shares.loc["10", ["share", "previous_share"]].tolist() == pytest.approx([0.0, 0.1])
    assert shares.loc["1", "share_change"] == pytest.approx(0.1)
    outcome = judged(moved[1])
    assert not outcome.success and outcome.unexpected_count == 2  # desil 1 and desil 10

    # Two points between two desils: within tolerance.
    nudged = compare(release, {**EVEN, 1: 12, 2: 8})
    assert judged(nudged[1]).success


def test_a_value_new_this_month_had_no_share_in_the_release(tmp_path):
    nine = make_release(tmp_path / "nine" / "dtsen.duckdb", {d: 10 for d in range(1, 10)})
    drift = compare(nine, EVEN)[1]
    new = drift.frame.set_index("value").loc["10"]
    assert new[["share", "previous_share", "share_change"]].tolist() == pytest.approx([0.1, 0, 0.1])
    outcome = judged(drift)
    assert not outcome.success and outcome.unexpected_count == 1  # only desil 10 moved that far


def test_an_event_table_or_one_the_release_lacks_is_not_compared(release):
    events = SuiteSpec(**{**SPEC.__dict__, "row_count_tolerance": None})
    assert compare(release, EVEN, events) == []
    absent = SuiteSpec(**{**SPEC.__dict__, "table": "dtsen_rumah_tangga"})
    assert compare(release, EVEN, absent) == []
