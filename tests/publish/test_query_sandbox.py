"""`dtsen query` is an analyst's sandbox: it reads the published release's tables and nothing else.

Each attack an adversarial tester found (issue 15, point 6) must fail with a clear message and
leave no trace; the README's example queries must still run through it."""

from __future__ import annotations

from dtsen_pipeline.lib import paths
from dtsen_pipeline.lib.warehouse import quote_literal
from dtsen_pipeline.publish import releases
from tests.conftest import MONTHS, dtsen
from tests.publish.test_releases import _readme_queries

SANDBOX_HINT = "dtsen query is read-only and sandboxed"


def _attacks(data_root, tmp_path, identified: bool) -> dict[str, str]:
    salt = paths.pseudonym_salt_file()
    # The other database of the release: from the pseudonymised one, the identified one (and back).
    other = paths.current_release() / (
        releases.RELEASE_DB if identified else releases.IDENTIFIED_DB
    )
    q = lambda p: quote_literal(str(p))  # noqa: E731
    return {
        "read the pseudonym salt": f"select * from read_text({q(salt)})",
        "read a system file": "select * from read_csv('/etc/passwd')",
        "glob the data root": f"select * from glob({q(data_root / '*')})",
        "attach the release's other database": f"attach {q(other)} as other (read_only); "
        "select * from other.dtsen_individu limit 1",
        "attach the working warehouse": f"attach {q(paths.warehouse_db())} as wh (read_only); "
        "select nik, nama from wh.intermediate.int_identitas limit 1",
        "attach a file read-write": f"attach {q(tmp_path / 'rw.duckdb')} as rw; create table rw.t as select 1",
        "copy a table out": f"copy dtsen_individu to {q(tmp_path / 'out.csv')}",
        "copy a query out": f"copy (select * from dtsen_individu) to {q(tmp_path / 'out.parquet')} (format parquet)",
        "export the database": f"export database {q(tmp_path / 'export')}",
        "install an extension": "install httpfs",
        "load an extension": "load httpfs",
        "switch external access back on": "set enable_external_access = true",
        "reset external access": "reset enable_external_access",
        "unlock the configuration": "set lock_configuration = false",
        "widen the allowed directories": f"set allowed_directories = [{q(data_root)}]",
        "write to the release": "create table stolen as select 1",
        "an attack behind a harmless statement": f"select 1; select * from read_text({q(salt)})",
    }


def test_every_attack_fails_with_a_clear_message(query, data_root, tmp_path):
    salt = releases.pseudonym_salt()
    for flags in ((), ("--identified",)):
        for name, sql in _attacks(data_root, tmp_path, identified=bool(flags)).items():
            status, out, err = query(sql, *flags)
            assert status == 1, f"{name} {flags} succeeded: {out}"
            assert SANDBOX_HINT in err, f"{name} {flags}: {err}"
            assert salt not in out + err
    assert not list(tmp_path.iterdir()), "an attack wrote a file"


def test_every_attack_fails_as_well_when_the_result_is_exported(query, data_root, tmp_path):
    """`--format`/`--output` write the result from Python: the SQL itself gains no file access."""
    for name, sql in _attacks(data_root, tmp_path, identified=False).items():
        status, out, err = query(sql, "--format", "json", "--output", "attack.json")
        assert status == 1, f"{name} succeeded: {out}"
        assert SANDBOX_HINT in err, f"{name}: {err}"
    assert not list(tmp_path.iterdir()), "an attack wrote a file"
    assert not (paths.exports_dir() / "attack.json").exists()


def test_identified_access_only_through_its_own_flag(query):
    status, out, err = query("select count(nik) > 0 as has_nik from dtsen_individu", "--identified")
    assert status == 0 and "true" in out, err
    # The identified database lists no other database: the pseudonymised one is not reachable from it.
    status, out, _ = query(
        "select string_agg(database_name, ',') as dbs from duckdb_databases() where not internal",
        "--identified",
    )
    assert status == 0 and "dtsen_identitas" in out and "dtsen," not in out
    status, _, err = query("select nik from dtsen_individu")
    assert status == 1 and "nik" in err


def test_readme_queries_run_in_the_sandbox(query):
    queries = _readme_queries()
    assert len(queries) >= 3
    for sql in queries:
        status, out, err = query(sql)
        assert status == 0, f"{sql}\n{err}"
        assert "┌" in out  # a result table was printed


def test_the_console_script_is_sandboxed(first_month_run, cli_env, data_root):
    salt_file = quote_literal(str(data_root / "secrets" / "pseudonym_salt"))
    attack = dtsen("query", f"select * from read_text({salt_file})", env=cli_env)
    assert attack.returncode == 1 and SANDBOX_HINT in attack.stderr
    ok = dtsen(
        "query",
        "select count(*) as n from dtsen_crosswalk where extract_month = "
        + quote_literal(MONTHS[0]),
        env=cli_env,
    )
    assert ok.returncode == 0, ok.stderr


def test_an_earlier_month_is_queried_from_its_own_release(query):
    """The working marts hold the month last built; `--month` reads a month as it was published."""
    status, out, err = query(
        "select distinct extract_month from dtsen_individu", "--month", MONTHS[0]
    )
    assert status == 0, err
    assert MONTHS[0] in out
    status, _, err = query("select 1", "--month", "2031-12")
    assert status == 1 and "no release of 2031-12" in err and f"published: {MONTHS[0]}" in err
    status, _, err = query("select * from read_text('/etc/passwd')", "--month", MONTHS[0])
    assert status == 1 and SANDBOX_HINT in err  # the earlier release is sandboxed the same way
