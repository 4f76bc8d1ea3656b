"""A documented release (issue 33): every table and column of both databases carries its dbt
description as a comment, the Parquet files carry them as metadata, each database has its data
dictionary (Markdown and CSV), and the code lists label every code the data holds. An undescribed
column is refused."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
import yaml

from dtsen_pipeline.lib import paths
from dtsen_pipeline.publish import contents, dictionary, releases
from dtsen_pipeline.publish.contents import ColumnDoc, TableDoc
from tests.conftest import MONTHS

DATABASES = (releases.RELEASE_DB, releases.IDENTIFIED_DB)


@pytest.fixture()
def release(first_month_run, data_root) -> Path:
    return (data_root / "publish" / MONTHS[0]).resolve()


def _comments(db: Path) -> tuple[dict[str, str], dict[tuple[str, str], str]]:
    with duckdb.connect(str(db), read_only=True) as con:
        tables = dict(
            con.execute(
                "select table_name, comment from duckdb_tables() where not internal"
            ).fetchall()
        )
        columns = {
            (t, c): comment
            for t, c, comment in con.execute(
                "select table_name, column_name, comment from duckdb_columns() where not internal "
                "order by table_name, column_index"
            ).fetchall()
        }
    return tables, columns


@pytest.mark.parametrize("database", DATABASES)
def test_every_table_and_column_has_its_comment_and_dictionary_row(release, database):
    tables, columns = _comments(release / database)
    assert set(tables) == set(contents.published_tables())
    assert set(contents.code_lists()) and set(contents.release_tables()) <= set(tables)
    assert [t for t, comment in tables.items() if not (comment or "").strip()] == []
    assert [k for k, comment in columns.items() if not (comment or "").strip()] == []
    docs = contents.table_docs()
    for table, comment in tables.items():
        assert comment == docs[table].description
    # The dictionary beside the database: one row per column, the comment as its description.
    folder = (release / database).parent
    rows = dictionary.read_csv(folder / dictionary.CSV)
    assert [(r["tabel"], r["kolom"]) for r in rows] == list(columns)
    assert all(r["deskripsi"] == columns[r["tabel"], r["kolom"]] for r in rows)
    assert {r["kelas_privasi"] for r in rows} <= set(dictionary.PRIVACY_CLASSES)
    assert all(r["tipe"] for r in rows)
    markdown = (folder / dictionary.MARKDOWN).read_text(encoding="utf-8")
    for table, column in columns:
        assert f"\n## {table}\n" in markdown and f"| `{column}` |" in markdown, (table, column)
    # Both files are in the manifest, with their checksums.
    manifest = json.loads((release / releases.MANIFEST).read_text())
    prefix = "" if folder == release else "identitas/"
    assert {f"{prefix}{dictionary.MARKDOWN}", f"{prefix}{dictionary.CSV}"} <= set(manifest["files"])


def test_hashed_columns_say_so_dropped_ones_are_absent_and_identity_is_classed(release):
    _, pseudo = _comments(release / releases.RELEASE_DB)
    _, ident = _comments(release / releases.IDENTIFIED_DB)
    cfg = releases.config()
    for table, hashed in cfg.hash_columns.items():
        for column in hashed:
            assert (table, column) not in pseudo and (table, column) in ident
            assert (
                pseudo[table, f"{column}_hash"] == f"{ident[table, column]} {dictionary.HASH_NOTE}"
            )
    for table, dropped in cfg.drop_columns.items():
        for column in dropped:
            assert (table, column) not in pseudo and (table, column) in ident
    classes = {
        db: {(r["tabel"], r["kolom"]): r["kelas_privasi"] for r in dictionary.read_csv(p)}
        for db, p in (
            ("pseudo", release / dictionary.CSV),
            ("ident", release / "identitas" / dictionary.CSV),
        )
    }
    assert classes["pseudo"]["dtsen_individu", "nik_hash"] == dictionary.PSEUDONIM
    assert classes["pseudo"]["dtsen_individu", "umur"] == dictionary.UMUM
    assert dictionary.IDENTITAS not in classes["pseudo"].values()
    for column in ("nik", "no_kk", "nama", "tanggal_lahir"):
        assert classes["ident"]["dtsen_individu", column] == dictionary.IDENTITAS
    assert classes["ident"]["dtsen_individu", "umur"] == dictionary.UMUM


def test_parquet_metadata_equals_the_comments(release):
    tables, columns = _comments(release / releases.RELEASE_DB)
    for table in tables:
        schema = pq.read_schema(release / releases.PARQUET_DIR / f"{table}.parquet")
        assert schema.metadata[b"description"].decode() == tables[table]
        fields = {f.name: (f.metadata or {}).get(b"description", b"").decode() for f in schema}
        assert fields == {c: comment for (t, c), comment in columns.items() if t == table}


def test_code_lists_label_every_code_the_data_holds(release):
    manifest = json.loads((release / releases.MANIFEST).read_text())
    assert manifest["code_lists"] == sorted(contents.code_lists())
    assert manifest["unlabelled_codes"] == {}
    rows = dictionary.read_csv(release / "identitas" / dictionary.CSV)
    coded = [
        (r["tabel"], r["kolom"], r["satuan_atau_kode"].removeprefix("kode: "))
        for r in rows
        if r["satuan_atau_kode"].startswith("kode: ")
    ]
    assert {c for _, _, c in coded} == set(contents.code_lists()), "every code list is used"
    checked = 0
    with duckdb.connect(str(release / releases.IDENTIFIED_DB), read_only=True) as con:
        for code_list in contents.code_lists():
            labels = dict(con.execute(f"select kode, label from {code_list}").fetchall())
            assert labels and all(str(v).strip() for v in labels.values()), code_list
        for table, column, code_list in coded:
            values = {
                r[0]
                for r in con.execute(
                    f"select distinct {column} from {table} where {column} is not null"
                ).fetchall()
            }
            labels = {r[0] for r in con.execute(f"select kode from {code_list}").fetchall()}
            assert values <= labels, (table, column, sorted(map(str, values - labels)))
            checked += bool(values)
        desil = dict(con.execute("select kode, label from kode_desil").fetchall())
        status = dict(con.execute("select kode, label from kode_status_usulan").fetchall())
        sasaran = dict(con.execute("select kode, label from kode_status_sasaran").fetchall())
        reasons = dict(con.execute("select kode, label from kode_alasan_verifikasi").fetchall())
    assert checked >= 15, "the month's data fills most coded columns"
    assert sorted(desil) == list(range(1, 11)) and desil[1].startswith("Desil 1")
    # English codes, Indonesian labels.
    assert status["awaiting_visit"] == "Menunggu kunjungan" and status["rejected"] == "Ditolak"
    assert sasaran["exclusion_error"] == "Kesalahan eksklusi"
    assert reasons["meninggal_masih_menerima"] == "Meninggal masih menerima"
    markdown = (release / dictionary.MARKDOWN).read_text(encoding="utf-8")
    assert "| awaiting_visit | Menunggu kunjungan |" in markdown


# --- The release writer refuses an undescribed column -------------------------------------------


def _privacy(**kw) -> dictionary.Privacy:
    return dictionary.Privacy(
        frozenset(kw.get("hashed", ())),
        frozenset(kw.get("dropped", ())),
        frozenset(releases.IDENTITY_COLUMNS),
    )


DOC = TableDoc(
    "People.",
    "models/marts/people.yml",
    {
        "nik": ColumnDoc("The NIK.", None, None),
        "umur": ColumnDoc("Age.", None, "tahun"),
        "desil": ColumnDoc("The desil.", "kode_desil", None),
        "catatan": ColumnDoc("", None, None),
    },
)


def test_describe_table_hashes_classes_and_refuses():
    pseudo = dictionary.describe_table(
        "people",
        [("nik_hash", "VARCHAR"), ("umur", "INTEGER"), ("desil", "INTEGER")],
        DOC,
        _privacy(hashed={"nik"}),
        pseudonymised=True,
        code_lists=["kode_desil"],
    )
    assert [c.row() for c in pseudo.columns] == [
        ("people", "nik_hash", "VARCHAR", f"The NIK. {dictionary.HASH_NOTE}", "", "pseudonim"),
        ("people", "umur", "INTEGER", "Age.", "satuan: tahun", "umum"),
        ("people", "desil", "INTEGER", "The desil.", "kode: kode_desil", "umum"),
    ]
    ident = dictionary.describe_table(
        "people",
        [("nik", "VARCHAR"), ("umur", "INTEGER")],
        DOC,
        _privacy(hashed={"nik"}),
        pseudonymised=False,
        code_lists=["kode_desil"],
    )
    assert [c.privacy for c in ident.columns] == ["identitas", "umum"]
    with pytest.raises(dictionary.UndocumentedColumn, match=r"people\.catatan.*people\.yml"):
        dictionary.describe_table(
            "people",
            [("umur", "INTEGER"), ("catatan", "VARCHAR")],
            DOC,
            _privacy(),
            pseudonymised=True,
            code_lists=["kode_desil"],
        )
    with pytest.raises(dictionary.UndocumentedColumn, match=r"people\.extra"):
        dictionary.describe_table(
            "people", [("extra", "VARCHAR")], DOC, _privacy(), pseudonymised=True, code_lists=[]
        )
    with pytest.raises(dictionary.UndocumentedColumn, match="kode_desil"):
        dictionary.describe_table(
            "people", [("desil", "INTEGER")], DOC, _privacy(), pseudonymised=True, code_lists=[]
        )


def test_publishing_an_undescribed_column_is_refused(
    first_month_run, data_root, monkeypatch, tmp_path
):
    monkeypatch.setenv("DTSEN_DATA_DIR", str(data_root))
    monkeypatch.setenv("DTSEN_PUBLISH_DIR", str(tmp_path / "publish"))
    paths.export_env()
    docs = contents.table_docs()
    keluarga = docs["dtsen_keluarga"]
    columns = {**keluarga.columns, "luas_lantai_m2": ColumnDoc(" ", None, "m²")}
    monkeypatch.setattr(
        contents,
        "table_docs",
        lambda: {**docs, "dtsen_keluarga": TableDoc(keluarga.description, keluarga.yml, columns)},
    )
    tables = {t: contents.release_tables()[t] for t in ("dtsen_individu", "dtsen_keluarga")}
    with pytest.raises(
        dictionary.UndocumentedColumn,
        match=r"dtsen_keluarga\.luas_lantai_m2.*models/marts/dtsen_keluarga\.yml",
    ):
        releases.write_release("2031-01", tables)
    assert releases.published_months() == []
    assert [p.name for p in (tmp_path / "publish").iterdir()] == []


def test_dbt_yaml_columns_are_well_formed():
    """A flow mapping's unquoted comma cut descriptions short ("Of them" for "Of them, BPJS
    Ketenagakerjaan participants."; the rest became a key of its own): every column entry of the
    project's YAML has only keys dbt knows, and a published column's config only its meta."""
    known = {"name", "description", "data_tests", "config", "data_type", "quote", "tags"}
    problems = []
    for path in sorted(paths.DBT_PROJECT_DIR.glob("[ms]*/**/*.yml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for node in doc.get("models", []) + doc.get("seeds", []):
            for column in node.get("columns", []):
                extra = set(column) - known
                if extra or set(column.get("config", {})) - {"meta"}:
                    problems.append(f"{path.name}: {node['name']}.{column['name']}: {extra}")
    assert problems == []
