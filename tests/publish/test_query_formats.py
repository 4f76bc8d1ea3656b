"""`dtsen query --format table|csv|json|parquet [--output FILE]` (issue 33): a result on stdout, or
written by our code under the exports folder and nowhere else, integers as integers.

The query stays in its sandbox (COPY is still refused); ``--output`` outside the exports folder is
refused before the query runs; a HUGEINT column (``sum()`` of integers) comes back as BIGINT."""

from __future__ import annotations

import csv
import io
import json
import os
import stat
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from dtsen_pipeline.lib import paths, warehouse
from dtsen_pipeline.publish import releases

SQL = (
    "select kode_kab, nama_kabupaten, count(*) as keluarga, sum(anggota) as persons "
    "from dtsen_keluarga group by all order by kode_kab"
)


def _expected() -> list[tuple]:
    with duckdb.connect(str(paths.current_release() / releases.RELEASE_DB), read_only=True) as con:
        return con.execute(SQL).fetchall()


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` (exports aside) with its size and modification time."""
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        if Path(dirpath).is_relative_to(paths.exports_dir()):
            continue
        for f in files:
            st = (Path(dirpath) / f).stat()
            out[str(Path(dirpath) / f)] = (st.st_size, st.st_mtime_ns)
    return out


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_table_stays_the_default(query):
    status, out, err = query(SQL)
    assert status == 0, err
    assert "┌" in out and "persons" in out


def test_each_format_is_written_under_exports_and_nowhere_else(query, data_root):
    before = _tree(data_root)
    for fmt in ("csv", "json", "parquet"):
        status, out, err = query(SQL, "--format", fmt, "--output", f"per_kab/kab.{fmt}")
        assert status == 0, err
        target = paths.exports_dir() / "per_kab" / f"kab.{fmt}"
        assert f"{len(_expected())} rows written to {target}" in err.replace(",", "")
        assert out == ""
        assert _mode(target) == 0o600
    # The suffix alone chooses the format.
    status, _, err = query(SQL, "--output", "by_suffix.parquet")
    assert status == 0, err
    assert _mode(paths.exports_dir()) == 0o700
    written = sorted(
        str(p.relative_to(paths.exports_dir())) for p in paths.exports_dir().rglob("*")
    )
    assert {
        "per_kab/kab.csv",
        "per_kab/kab.json",
        "per_kab/kab.parquet",
        "by_suffix.parquet",
    } <= set(written)
    assert not [w for w in written if ".tmp-" in w]
    assert _tree(data_root) == before, "an export wrote outside the exports folder"


def test_json_and_csv_hold_the_query_rows_with_integers(query):
    expected = _expected()
    assert expected and all(isinstance(r[3], int) for r in expected)
    status, out, err = query(SQL, "--format", "json")
    assert status == 0, err
    rows = json.loads(out)
    assert [tuple(r.values()) for r in rows] == expected
    assert list(rows[0]) == ["kode_kab", "nama_kabupaten", "keluarga", "persons"]
    assert all(type(r["persons"]) is int for r in rows)
    assert '"persons": ' + str(expected[0][3]) + "}" in out  # 1234, never 1234.0

    status, out, err = query(SQL, "--format", "csv")
    assert status == 0, err
    table = list(csv.reader(io.StringIO(out)))
    assert table[0] == ["kode_kab", "nama_kabupaten", "keluarga", "persons"]
    assert table[1:] == [[str(v) for v in r] for r in expected]

    status, _, err = query(SQL, "--format", "json", "--output", "kab.json")
    assert status == 0, err
    saved = json.loads((paths.exports_dir() / "kab.json").read_text(encoding="utf-8"))
    assert saved == rows


def test_parquet_keeps_sum_an_integer(query):
    status, _, err = query(SQL, "--format", "parquet", "--output", "kab.parquet")
    assert status == 0, err
    table = pq.read_table(paths.exports_dir() / "kab.parquet")
    assert table.schema.field("persons").type == pa.int64()
    assert table.schema.field("keluarga").type == pa.int64()
    assert [tuple(r.values()) for r in table.to_pylist()] == _expected()


def test_a_hugeint_that_does_not_fit_stays_exact(query):
    big = "select sum(x) as s from (values (9223372036854775807::hugeint), (1::hugeint)) t(x)"
    status, out, err = query(big, "--format", "json")
    assert status == 0, err
    assert json.loads(out) == [{"s": 2**63}]


def test_an_output_outside_the_exports_folder_is_refused(query, data_root, tmp_path):
    exports = paths.exports_dir()
    exports.mkdir(parents=True, exist_ok=True)
    (exports / "out").symlink_to(tmp_path, target_is_directory=True)
    before = _tree(data_root)
    for name in (
        str(tmp_path / "x.csv"),
        "../x.csv",
        "sub/../../x.csv",
        str(data_root / "publish" / "x.csv"),
        "out/x.csv",  # a symlink pointing out of the folder
    ):
        status, out, err = query(SQL, "--format", "csv", "--output", name)
        assert status == 1 and out == ""
        assert "is outside the exports folder" in err, err
    assert not list(tmp_path.iterdir())
    assert _tree(data_root) == before
    # An absolute path inside the folder is fine.
    status, _, err = query(SQL, "--output", str(exports / "inside.csv"))
    assert status == 0, err


def test_formats_and_outputs_that_make_no_sense_are_refused(query):
    status, _, err = query(SQL, "--format", "parquet")
    assert status == 1 and "give --output FILE" in err
    status, _, err = query(SQL, "--format", "table", "--output", "t.txt")
    assert status == 1 and "--output needs --format csv, json or parquet" in err
    status, _, err = query(SQL, "--output", "no_suffix")
    assert status == 1 and "give --format csv, json or parquet" in err
    status, _, err = query("select 1 as a, 2 as a", "--format", "json")
    assert status == 1 and "columns ['a'] repeat" in err


def test_copy_stays_blocked_whatever_the_format(query, tmp_path):
    target = tmp_path / "stolen.csv"
    status, _, err = query(f"copy (select 1) to '{target}'", "--format", "csv", "--output", "c.csv")
    assert status == 1 and "dtsen query is read-only and sandboxed" in err
    assert not target.exists() and not (paths.exports_dir() / "c.csv").exists()


def test_bigint_results_narrows_only_what_fits():
    con = duckdb.connect()
    rel = con.sql(
        "select sum(x) as fits, 1::uhugeint as u, 170141183460469231731687303715884105727::hugeint as big, "
        "'a' as t from range(3) r(x)"
    )
    narrowed = warehouse.bigint_results(rel)
    assert [str(t) for t in narrowed.types] == ["BIGINT", "BIGINT", "HUGEINT", "VARCHAR"]
    assert narrowed.fetchall() == [(3, 1, 2**127 - 1, "a")]
    plain = con.sql("select 1 as a")
    assert warehouse.bigint_results(plain) is plain
