"""A real month under a data root whose path holds a quote and a space, with review decisions
present (issue 15, points 14, 12 and 4): SQL never breaks on the path, identity stays owner-only,
decisions are applied, and a bad decisions file stops linkage with every problem listed."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import duckdb
import pytest

from dtsen_pipeline import cli
from tests.conftest import dtsen

MONTH = "2025-01"
PRIVATE = ("landing", "truth", "warehouse", "review", "logs", "reports", "dagster_home", "secrets")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(scope="module")
def world(first_month_run, data_root, cli_env) -> dict:
    """The session's world: its data root's path holds a quote and a space (tests/conftest.py)."""
    assert "'" in str(data_root) and " " in str(data_root)
    return {"root": data_root, "env": cli_env, "run": first_month_run}


def test_a_month_runs_and_publishes_under_a_quoted_data_root(world):
    root, run = world["root"], world["run"]
    assert run.returncode == 0, run.stderr
    release = (root / "publish" / "current").resolve()
    assert (
        release.name.startswith(MONTH) and (release / "parquet" / "dtsen_individu.parquet").exists()
    )
    query = dtsen("query", "select count(*) as persons from dtsen_individu", env=world["env"])
    assert query.returncode == 0 and "persons" in query.stdout, query.stderr


def test_identity_is_readable_by_its_owner_only(world):
    root = world["root"]
    assert world["run"].returncode == 0, world["run"].stderr
    present = [name for name in PRIVATE if (root / name).exists()]
    assert {"landing", "truth", "warehouse", "dagster_home", "secrets"} <= set(present)
    assert {name: _mode(root / name) for name in present} == dict.fromkeys(present, 0o700)
    assert _mode(root / "secrets" / "pseudonym_salt") == 0o600
    # Analysts read the release (but not its identitas/ folder).
    release = (root / "publish" / "current").resolve()
    assert (
        _mode(root / "publish") & 0o055 == 0o055
        and _mode(release / "dtsen.duckdb") & 0o044 == 0o044
    )
    assert _mode(release / "identitas") & 0o077 == 0
    # Every file outside publish/ sits below a folder closed to group and others.
    exposed = []
    for dirpath, _, files in os.walk(root):
        here = Path(dirpath)
        if here == root or here.relative_to(root).parts[0] in ("publish", "screenshots"):
            continue
        chain = [here, *[p for p in here.parents if root in p.parents]]
        if files and all(_mode(p) & 0o077 for p in chain):
            exposed.append(str(here.relative_to(root)))
    assert not exposed


def test_a_bad_decisions_file_stops_linkage_listing_every_problem(world, monkeypatch):
    """Run in-process (linkage only: staging is built) so the CLI's failure lines can be read. The
    file is removed afterwards: the session's later months link without it."""
    root = world["root"]
    assert world["run"].returncode == 0, world["run"].stderr
    with duckdb.connect(str(root / "warehouse" / "dtsen.duckdb"), read_only=True) as con:
        a, b = [
            k
            for (k,) in con.execute(
                "select record_key from linkage.person_clusters where extract_month = ? and source = 'dukcapil' "
                "order by record_key limit 2",
                [MONTH],
            ).fetchall()
        ]
    decisions = root / "review" / "decisions.csv"
    assert not decisions.exists()
    decisions.parent.mkdir(exist_ok=True)
    decisions.write_text(
        f"record_key_l,record_key_r,decision\n{a},{b},accept\n{b},{a},reject\n{a},dukcapil:NOPE,accept\n"
        f"{a},=1+1,accept\n{a},{a},reject\n"
    )
    monkeypatch.setenv("DTSEN_DATA_DIR", str(root))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    try:
        result = cli.run_month(MONTH, show_progress=False, layers=("linkage",))
    finally:
        decisions.unlink()
    assert not result.success
    failure = next(
        line for line in cli._failures(result) if line.startswith("step person_linkage failed")
    )
    assert "decisions.csv: 4 problems, no decision was applied" in failure
    for reason in (
        "contradicts (accept and reject) the pair of row 2: row 3",
        "record_key_r is not the record key (source:source_record_id) of a record of this month"
        " or of another linked month: row 4",
        "column record_key_r starts with a formula character (=, +, -, @, tab or CR): row 5",
        "record_key_l and record_key_r are the same record: row 6",
    ):
        assert reason in failure, failure
    assert "NOPE" not in failure and "1+1" not in failure


def test_the_gate_compares_with_a_last_release_under_a_quoted_path(tmp_path):
    """The second month's gate attaches the last release: its path is quoted too."""
    from dtsen_pipeline.quality.compare import compare_with_release
    from dtsen_pipeline.quality.suites import suite_specs

    previous = tmp_path / "it's published" / "dtsen.duckdb"
    previous.parent.mkdir()
    with duckdb.connect(str(previous)) as con:
        con.execute(
            "create table dtsen_rumah_tangga as select range as dtsen_rt_id, 'x' as kode_prov from range(10)"
        )
    spec = suite_specs()["dtsen_rumah_tangga"]
    with duckdb.connect() as con:
        con.execute("create temp table gx_rows as select range as dtsen_rt_id from range(11)")
        compared = compare_with_release(con, spec, previous, "gx_rows", drift_tolerance=0.05)
    counts = compared[0].frame
    part = compared[0].part
    assert (
        part == "row_count"
        and counts["previous_rows"].tolist() == [10]
        and counts["rows"].tolist() == [11]
    )
