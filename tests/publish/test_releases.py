"""Releases: layout and manifest, privacy of the analyst database, immutability, crash safety,
and the README's example queries."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from dtsen_pipeline.lib import paths
from dtsen_pipeline.lib.checksums import file_sha256
from dtsen_pipeline.lib.warehouse import quote_literal
from dtsen_pipeline.linkage.model import MODEL_VERSION
from dtsen_pipeline.publish import contents, releases
from tests.conftest import MONTHS, dtsen

README = Path(__file__).resolve().parents[2] / "README.md"
RELEASE_TABLES = contents.release_tables()
PUBLISHED_TABLES = contents.published_tables()  # the marts and the code lists


@pytest.fixture()
def release(first_month_run, data_root) -> Path:
    return (data_root / "publish" / MONTHS[0]).resolve()


def test_release_holds_databases_parquet_and_a_true_manifest(release, data_root):
    manifest = json.loads((release / "manifest.json").read_text())
    assert manifest["month"] == MONTHS[0] and manifest["revision"] == 1
    assert set(manifest["tables"]) == set(PUBLISHED_TABLES)
    expected_files = {
        "dtsen.duckdb",
        "identitas/dtsen_identitas.duckdb",
        "kamus_data.md",
        "kamus_data.csv",
        "identitas/kamus_data.md",
        "identitas/kamus_data.csv",
        *[f"parquet/{t}.parquet" for t in PUBLISHED_TABLES],
    }
    assert set(manifest["files"]) == expected_files
    for name, digest in manifest["files"].items():
        assert file_sha256(release / name) == digest, name
        assert (release / name).stat().st_mode & 0o222 == 0, f"{name} is writable"
    # Parquet holds what the analyst database holds.
    with duckdb.connect(str(release / "dtsen.duckdb"), read_only=True) as con:
        for table, rows in manifest["tables"].items():
            assert (
                con.execute(
                    f"select count(*) from read_parquet({quote_literal(f'{release}/parquet/{table}.parquet')})"
                ).fetchall()[0][0]
                == rows
            )
    # The identified database is for restricted roles only.
    assert stat.S_IMODE((release / "identitas").stat().st_mode) == 0o500
    # The linkage model the ids came from, with its checksum.
    model = manifest["linkage_model"]
    assert model["version"] == MODEL_VERSION and model["file"].startswith(MODEL_VERSION)
    assert file_sha256(data_root / "warehouse" / "models" / model["file"]) == model["sha256"]
    # Every published mart's gate passed in this run, and said so.
    gate = manifest["gate"]
    assert {m for m in RELEASE_TABLES} <= set(gate)
    assert all(
        gate[m]["success"] and gate[m]["run_id"] == manifest["dagster_run_id"]
        for m in RELEASE_TABLES
    )
    assert "first release: nothing to compare" in " ".join(gate["dtsen_individu"]["skipped"])
    assert all(Path(gate[m]["data_docs"]).is_file() for m in RELEASE_TABLES)


def test_pseudonymised_database_holds_no_nik_or_name(release, data_root):
    """Scan every column of every table (and every Parquet file and Data Docs page) for the
    month's NIKs, family card numbers and names."""
    with duckdb.connect(str(data_root / "warehouse" / "dtsen.duckdb"), read_only=True) as con:
        secrets = {
            r[0]
            for r in con.execute(
                """
            select nik from intermediate.int_identitas where extract_month = ? and length(nik) >= 8
            union select no_kk from intermediate.int_identitas where extract_month = ? and length(no_kk) >= 8
            union select nama_normal from intermediate.int_identitas
                  where extract_month = ? and length(nama_normal) >= 6
            """,
                [MONTHS[0]] * 3,
            ).fetchall()
        }
    assert len(secrets) > 1000

    def leaks(con: duckdb.DuckDBPyConnection, relations: list[str]) -> dict[str, int]:
        con.execute(
            "create or replace temp table secret as select unnest(?::varchar[]) as v",
            [sorted(secrets)],
        )
        found = {}
        for rel in relations:
            for (col,) in con.execute(
                f"select column_name from (describe select * from {rel})"
            ).fetchall():
                n = con.execute(
                    f'select count(*) from {rel} where cast("{col}" as varchar) in (select v from secret)'
                ).fetchall()[0][0]
                if n:
                    found[f"{rel}.{col}"] = n
        return found

    with duckdb.connect(str(release / "dtsen.duckdb"), read_only=True) as con:
        tables = [
            r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()
        ]
        assert set(tables) == set(PUBLISHED_TABLES)
        assert leaks(con, tables) == {}
        assert (
            leaks(
                con,
                [
                    f"read_parquet({quote_literal(str(p))})"
                    for p in sorted((release / "parquet").glob("*.parquet"))
                ],
            )
            == {}
        )
        # Hashes are the salted sha256 of the NIK, stable with the configured salt.
        nik_hashes = {
            r[0]
            for r in con.execute(
                "select nik_hash from dtsen_individu where nik_hash is not null"
            ).fetchall()
        }
    with duckdb.connect(
        str(release / "identitas" / "dtsen_identitas.duckdb"), read_only=True
    ) as con:
        found = leaks(con, ["dtsen_individu"])
        assert found.get("dtsen_individu.nik", 0) > 1000, "the scan finds identities where they are"
        salt = (data_root / "secrets" / "pseudonym_salt").read_text().strip()
        expected = {
            r[0]
            for r in con.execute(
                "select sha256(? || nik) from dtsen_individu where nik is not null", [salt]
            ).fetchall()
        }
    assert nik_hashes == expected
    assert salt not in (release / "manifest.json").read_text()
    for page in (data_root / "reports" / "quality").rglob("*.html"):
        html = page.read_text()
        assert not [s for s in secrets if len(s) >= 8 and s in html], page


@pytest.fixture()
def scratch_publish(first_month_run, data_root, monkeypatch, tmp_path):
    """Releases written to a scratch folder from the session's warehouse (which holds month 2's
    marts by now: the month label is what these tests are about, not the data)."""
    monkeypatch.setenv("DTSEN_DATA_DIR", str(data_root))
    monkeypatch.setenv("DTSEN_PUBLISH_DIR", str(tmp_path / "publish"))
    paths.export_env()
    first = releases.write_release("2031-01", RELEASE_TABLES)
    releases.switch_current(first)
    return first


def _snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): file_sha256(p) for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_a_month_published_again_is_a_new_revision(scratch_publish):
    before = _snapshot(scratch_publish)
    again = releases.write_release("2031-01", RELEASE_TABLES)
    assert again.name == "2031-01.r2"
    assert json.loads((again / "manifest.json").read_text())["revision"] == 2
    assert _snapshot(scratch_publish) == before, "a published release never changes"
    # Read-only for everyone (root can still write; the bits say what the folder is).
    for p in [scratch_publish, *scratch_publish.rglob("*")]:
        assert stat.S_IMODE(p.stat().st_mode) & 0o222 == 0, p
    releases.switch_current(again)
    assert releases.current_name() == "2031-01.r2" and releases.current_month() == "2031-01"


@pytest.mark.parametrize("crash_at", ["first_table", "manifest"])
def test_a_crash_while_publishing_leaves_no_half_release(scratch_publish, crash_at):
    root = scratch_publish.parent
    before = sorted(p.name for p in root.iterdir())
    with pytest.raises(RuntimeError, match="simulated crash"):
        releases.write_release("2031-02", RELEASE_TABLES, _fail_after=crash_at)
    assert sorted(p.name for p in root.iterdir()) == before
    assert releases.current_name() == "2031-01"
    # A process killed outright leaves its temporary folder: it is never a release, `current`
    # never points at it, and the next publication clears it.
    leftover = root / ".tmp-2031-02-killed"
    (leftover / "parquet").mkdir(parents=True)
    (leftover / "dtsen.duckdb").write_bytes(b"half a database")
    assert releases.published_months() == ["2031-01"]
    release = releases.write_release("2031-02", RELEASE_TABLES)
    assert not leftover.exists() and release.name == "2031-02"
    assert releases.current_name() == "2031-01"


def test_current_always_names_the_latest_month(scratch_publish):
    """Issue 16: after March was published, publishing January again made `current` January and
    analysts silently read an older month. A correction of January is now a new revision beside
    the others, and `current` stays on March; a correction of March does move it."""
    march = releases.write_release("2031-03", RELEASE_TABLES)
    change = releases.advance_current(march)
    assert change.moved and change.previous == "2031-01" and releases.current_name() == "2031-03"
    january = releases.write_release("2031-01", RELEASE_TABLES)
    change = releases.advance_current(january)
    assert january.name == "2031-01.r2" and january.is_dir()
    assert not change.moved and change.current == "2031-03" and releases.current_name() == "2031-03"
    assert "current: unchanged, still 2031-03" in change.describe(january)
    current_manifest = json.loads((paths.current_release() / releases.MANIFEST).read_text())
    assert (current_manifest["month"], current_manifest["revision"]) == ("2031-03", 1)
    corrected = releases.write_release("2031-03", RELEASE_TABLES)
    assert releases.advance_current(corrected).moved and releases.current_name() == "2031-03.r2"


def test_republishing_an_earlier_month_in_dagster_says_current_is_unchanged(
    first_month_run, in_data_root, monkeypatch, tmp_path
):
    """The publish asset itself, for the month the warehouse holds, while `current` already names a
    later month: a new release, `current` untouched, and the UI (metadata, log) says so."""
    from dagster import (
        DagsterEventType,
        DagsterInstance,
        TableMetadataValue,
        UrlMetadataValue,
        materialize,
    )

    from dtsen_pipeline.definitions import defs
    from dtsen_pipeline.defs.publish.assets import dtsen_release

    monkeypatch.setenv("DTSEN_PUBLISH_DIR", str(tmp_path / "publish"))
    monkeypatch.setenv("DTSEN_REPORTS_DIR", str(tmp_path / "reports"))
    with duckdb.connect(str(paths.warehouse_db()), read_only=True) as con:
        [(month,)] = con.execute(
            "select distinct extract_month from marts.dtsen_individu"
        ).fetchall()
    later = f"{int(month[:4]) + 1}{month[4:]}"
    releases.switch_current(releases.write_release(later, RELEASE_TABLES))
    # The gate's results as the checks leave them (this test is about `current`, not the gate).
    results = paths.quality_results_dir() / month
    results.mkdir(parents=True)
    for table in RELEASE_TABLES:
        (results / f"{table}.json").write_text(
            json.dumps(
                {
                    "suite": table,
                    "success": True,
                    "rows": 1,
                    "batches": 1,
                    "expectations": 1,
                    "failed": [],
                    "skipped": [],
                    "run_id": "earlier",
                    "data_docs": None,
                }
            )
        )
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            [dtsen_release], partition_key=month, instance=instance, resources=defs.resources
        )
        logs = [
            e.user_message
            for e in instance.all_logs(result.run_id)
            if e.dagster_event is None
            or e.dagster_event.event_type != DagsterEventType.ASSET_MATERIALIZATION
        ]
    assert releases.current_name() == later and (paths.publish_dir() / month).is_dir()
    [materialization] = result.asset_materializations_for_node("publish__dtsen_release")
    meta = materialization.metadata
    assert (
        meta["current"].value == f"unchanged, still {later}"
        and meta["previous current"].value == later
    )
    assert any(
        f"published {month} as {month}; current: unchanged, still {later}" in m for m in logs
    ), logs
    # Issue 16, point 7: tables the UI shows inline, and a link the browser opens.
    for label in ("gate", "desil by province", "preview: dtsen_program_kabupaten", "tables"):
        assert isinstance(meta[label], TableMetadataValue), label
    assert {r.data["table"]: r.data["rows"] for r in meta["tables"].records} == json.loads(
        (paths.publish_dir() / month / "manifest.json").read_text()
    )["tables"]
    assert [r.data["suite"] for r in meta["gate"].records] == sorted(RELEASE_TABLES)
    assert isinstance(meta["reports"], UrlMetadataValue)
    assert meta["reports"].value == f"http://127.0.0.1:3001/index.html#{month}"
    # Issue 33: the release's documentation site, built with it and served by the report server.
    assert (
        meta["documentation (dbt docs)"].value == f"http://127.0.0.1:3001/docs/{month}/index.html"
    )
    assert (tmp_path / "reports" / "docs" / month / "index.html").is_file()
    assert meta["data dictionary"].value == str(paths.publish_dir() / month / "kamus_data.md")
    # Issue 19, step 4: the proposal pipeline, every item of dtsen_usulan counted once by stage.
    with duckdb.connect(str(paths.warehouse_db()), read_only=True) as con:
        by_stage = dict(
            con.execute("select status, count(*) from marts.dtsen_usulan group by 1").fetchall()
        )
        [(late_kab,)] = con.execute(
            "select count(distinct kode_kab) from marts.dtsen_usulan where terbuka and lewat_batas"
        ).fetchall()
    pipeline = {r.data["stage"]: r.data for r in meta["proposal pipeline"].records}
    assert list(pipeline)[:5] == ["received", "linked", "awaiting_visit", "accepted", "rejected"]
    assert {k: v["all"] for k, v in pipeline.items() if v["all"]} == by_stage and by_stage
    assert all(
        v["all"] == v.get("usulan_desa", 0) + v.get("sanggahan", 0) for v in pipeline.values()
    )
    assert meta["kabupaten with proposals open past the service level"].value == late_kab


# make setup installs these into .venv/duckdb-compat/<version>/ (Makefile, OLD_DUCKDB); the fixture
# installs one that is missing (pytest run on its own).
OLD_DUCKDB = ("1.0.0", "1.1.3")
_READ_ALL = """
import duckdb, json, sys
con = duckdb.connect(sys.argv[1], read_only=True)
tables = [r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()]
comments = con.execute(
    "select table_name, null, comment from duckdb_tables() where not internal union all "
    "select table_name, column_name, comment from duckdb_columns() where not internal"
).fetchall()
print(json.dumps([duckdb.__version__, {t: len(con.execute(f'select * from "{t}"').fetchall()) for t in tables},
                  sorted(comments, key=str)]))
"""


@pytest.fixture(scope="session", params=OLD_DUCKDB)
def old_duckdb(request) -> tuple[str, Path]:
    folder = paths.PROJECT_ROOT / ".venv" / "duckdb-compat" / request.param
    if not (folder / "duckdb").is_dir():
        uv = Path(sys.executable).parent / "uv"
        install = (
            [str(uv), "pip", "install", "--python", sys.executable]
            if uv.exists()
            else [sys.executable, "-m", "pip", "install", "--disable-pip-version-check"]
        )
        subprocess.run(
            [*install, "--quiet", "--no-deps", "--target", str(folder), f"duckdb=={request.param}"],
            check=True,
            capture_output=True,
            timeout=600,
        )
    return request.param, folder


def test_older_duckdb_clients_open_both_release_databases(release, old_duckdb):
    """Issue 16: DuckDB 1.1.3 (DBeaver and other tools bundle such drivers) refused a release
    ("version number 999, we can only read version 64"). Both databases, every row of every table,
    read by an older DuckDB in its own process."""
    version, folder = old_duckdb
    manifest = json.loads((release / "manifest.json").read_text())
    env = {**os.environ, "PYTHONPATH": str(folder)}  # the old duckdb, not the venv's
    for db in (releases.RELEASE_DB, releases.IDENTIFIED_DB):
        proc = subprocess.run(
            [sys.executable, "-s", "-c", _READ_ALL, str(release / db)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, f"DuckDB {version} cannot open {db}: {proc.stderr[-600:]}"
        client, rows, comments = json.loads(proc.stdout)
        assert client == version
        assert rows == manifest["tables"], db
        # Issue 33: the tables' and columns' descriptions survive the v1.0.0 storage format.
        with duckdb.connect(str(release / db), read_only=True) as con:
            now = con.execute(
                "select table_name, null, comment from duckdb_tables() where not internal union all "
                "select table_name, column_name, comment from duckdb_columns() where not internal"
            ).fetchall()
        assert comments == sorted((list(r) for r in now), key=str), db
        assert all(c for _, _, c in comments), f"{db}: a table or column without its comment"
    # The manifest says which clients can read it.
    assert manifest["duckdb"] == {"storage_version": "v1.0.0", "min_client_version": OLD_DUCKDB[0]}


def _readme_queries() -> list[str]:
    """The SQL statements in the README's analyst section, in order."""
    section = README.read_text().split("## For analysts", 1)[1].split("\n## ", 1)[0]
    statements = []
    for block in re.findall(r"```sql\n(.*?)```", section, flags=re.S):
        for statement in block.split(";"):
            sql = "\n".join(
                line for line in statement.splitlines() if not line.strip().startswith("--")
            ).strip()
            if sql:
                statements.append(sql)
    return statements


def test_readme_example_queries_run_on_the_pseudonymised_release(release):
    queries = _readme_queries()
    assert len(queries) >= 3
    text = " ".join(queries).lower()
    assert "exclusion_error" in text and "terkena_phk" in text and "desil" in text
    with duckdb.connect(str(release / "dtsen.duckdb"), read_only=True) as con:
        for q in queries:
            rel = con.sql(q)
            assert rel.columns, q
        assert con.sql(queries[0]).fetchall(), "desil counts by kabupaten returned nothing"


def test_cli_query_reads_the_pseudonymised_release_unless_asked(first_month_run, cli_env):
    columns = (
        "select string_agg(column_name, ' ') as c from information_schema.columns "
        "where table_name = 'dtsen_individu'"
    )
    plain = dtsen("query", columns, env=cli_env)
    assert plain.returncode == 0, plain.stderr
    assert "nik_hash" in plain.stdout and " nama " not in plain.stdout
    no_nik = dtsen("query", "select nik from dtsen_individu", env=cli_env)
    assert no_nik.returncode == 1 and "nik" in no_nik.stderr
    identified = dtsen(
        "query", "--identified", "select count(nik) > 0 as has_nik from dtsen_individu", env=cli_env
    )
    assert identified.returncode == 0 and "true" in identified.stdout, identified.stderr


def test_a_release_records_its_code_configuration_inputs_and_trigger(release, data_root):
    """The audit trail of a release made by `dtsen run` (issue 32): the code version, the hash of
    every config file, the landed files it was built from, the trigger, and a publication log row."""
    manifest = json.loads((release / "manifest.json").read_text())
    assert re.fullmatch(
        r"(git:[0-9a-f]{40}(\+dirty)?|package:dtsen-pipeline==.+)", manifest["code_version"]
    )
    assert {"all", "publication.yaml", "linkage.yaml", "sources/dtks.yaml"} <= set(
        manifest["config_sha256"]
    )
    landing = data_root / "landing"
    assert manifest["inputs"] and all(k.split("/")[1] == MONTHS[0] for k in manifest["inputs"])
    for key, digest in manifest["inputs"].items():
        assert file_sha256(landing / key) == digest, key
    assert {k.split("/")[0] for k in manifest["inputs"]} >= {"dtks", "dukcapil"}
    trigger = manifest["trigger"]
    assert (trigger["kind"], trigger["name"]) == ("cli", "dtsen run")
    assert trigger["run_id"] == manifest["dagster_run_id"]
    log = [
        json.loads(line)
        for line in (data_root / "publish" / "publications.jsonl").read_text().splitlines()
    ]
    [row] = [r for r in log if r["event"] == "published" and r["release"] == release.name]
    assert (row["month"], row["gate"], row["run_id"]) == (MONTHS[0], "passed", trigger["run_id"])
    assert row["trigger"]["kind"] == "cli" and row["previous_current"] is None


def test_the_inputs_are_the_files_as_ingest_read_them(tmp_path):
    """A release's ``inputs`` come from raw.ingest_log, as the load read each file: a file changed
    afterwards keeps the checksum it was read with; a copy ingest refused is an input (the sensor
    reads it too); a workbook's second sheet is its workbook's; a link ingest did not open is not."""
    from dtsen_pipeline.ingest.load import load_month
    from dtsen_pipeline.ingest.sources import get_source
    from tests.ingest.hostile.files import MONTH, P3KE_HEADER, csv_file, csv_rows, p3ke_row
    from tests.ingest.hostile.test_landing import workbook

    first = csv_file(tmp_path, csv_rows(2))
    copy = tmp_path / "dukcapil_penduduk_2025-01_b.csv"
    copy.write_bytes(first.read_bytes())
    link = tmp_path / "dukcapil_penduduk_2025-01_c.csv"
    link.symlink_to(first)
    book = workbook(
        tmp_path,
        {"Data P3KE": [P3KE_HEADER, p3ke_row(1)], "Data P3KE (2)": [P3KE_HEADER, p3ke_row(2)]},
    )
    read = file_sha256(first)
    with duckdb.connect() as con:
        assert releases.landed_inputs(con, MONTH) == {}  # nothing ingested yet
        load_month(con, get_source("dukcapil"), MONTH, [first, copy, link])
        load_month(con, get_source("p3ke"), MONTH, [book])
        first.write_bytes(b"replaced after the load\n")
        inputs = releases.landed_inputs(con, MONTH)
        assert releases.landed_inputs(con, "2025-02") == {}
        logged = con.execute("select count(*) from raw.ingest_log").fetchone()[0]
    assert logged == 5  # three dukcapil entries, the workbook and its second sheet
    assert inputs == {
        f"dukcapil/{MONTH}/{first.name}": read,
        f"dukcapil/{MONTH}/{copy.name}": read,
        f"p3ke/{MONTH}/{book.name}": file_sha256(book),
    }
