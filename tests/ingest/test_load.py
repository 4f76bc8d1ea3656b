"""Ingestion on real DuckDB and real files: every source's quirks, and every way a file goes wrong."""

import json
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from dagster import materialize

from dtsen_pipeline.defs.common.resources import WarehouseResource
from dtsen_pipeline.defs.ingest.assets import build_ingest_asset
from dtsen_pipeline.ingest import dbt_registry
from dtsen_pipeline.ingest.load import load_month, reconciliation
from dtsen_pipeline.ingest.sources import RegistryError, get_source, load_sources
from dtsen_pipeline.lab.generate import generate

MONTH = "2025-01"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("ingest_world")
    written = generate(persons=1500, start=MONTH, months=1, seed=8, out=root)[0]
    return root, written


@pytest.fixture()
def con():
    with duckdb.connect() as c:
        yield c


def landing_copy(world_root: Path, tmp_path: Path, source: str) -> list[Path]:
    """A private copy of one source's month, for tests that damage files."""
    dest = tmp_path / source
    shutil.copytree(world_root / "landing" / source / MONTH, dest)
    return sorted(dest.iterdir())


def load(con, source: str, files: list[Path]):
    return load_month(con, get_source(source), MONTH, files)


def quarantine(con) -> pd.DataFrame:
    return con.execute("select * from raw.quarantine").df()


def test_every_source_loads_every_row(world, con):
    root, written = world
    truth = pd.read_parquet(written.truth)
    for spec in load_sources():
        files = sorted((root / "landing" / spec.name / MONTH).glob(spec.file_glob))
        results = load_month(con, spec, MONTH, files)
        assert [r.status for r in results] == ["loaded"], spec.name
        loaded = con.execute(f"select count(*) from raw.{spec.raw_table}").fetchone()[0]
        assert loaded == (truth["source"] == spec.name).sum(), spec.name
        ids = set(
            con.execute(f"select source_record_id from raw.{spec.raw_table}").df()[
                "source_record_id"
            ]
        )
        assert ids == set(truth.loc[truth["source"] == spec.name, "source_record_id"]), spec.name
        assert all(
            r.balanced and r.counted == r.loaded for r in reconciliation(con, spec, MONTH)
        ), spec.name
    assert len(quarantine(con)) == 0


def test_source_quirks_arrive_canonical(world, con):
    root, written = world
    for spec in load_sources():
        load_month(
            con, spec, MONTH, sorted((root / "landing" / spec.name / MONTH).glob(spec.file_glob))
        )
    q = lambda sql: con.execute(sql).fetchall()  # noqa: E731
    # DTKS region codes in four columns are joined into one dotted code.
    assert q(
        "select count(*) from raw.dtks__individu "
        "where not regexp_full_match(kode_desa, '\\d{2}\\.\\d{2}\\.\\d{2}\\.\\d{4}')"
    ) == [(0,)]
    # Regsosek members are unnested from the family form, family columns kept as attributes.
    assert q(
        "select count(*) from raw.regsosek__individu where id_keluarga_sumber is null "
        "or json_extract_string(attributes, '$.status_rumah') is null"
    ) == [(0,)]
    # Kaltim: NIKs typed into Excel as numbers come back as digits; place and date split apart.
    assert q(
        "select count(*) from raw.dinsos_kaltim__individu where nik like '%.%' or nik like '%E%'"
    ) == [(0,)]
    assert q(
        "select count(*) from raw.dinsos_kaltim__individu where tempat_lahir is null or tanggal_lahir like '%,%'"
    ) == [(0,)]
    # P3KE: Excel date cells become ISO dates; placeholders typed as text stay as typed.
    forms = {
        r[0]
        for r in q("select regexp_replace(tanggal_lahir, '\\d', '9', 'g') from raw.p3ke__individu")
    }
    assert "9999-99-99" in forms and forms <= {"9999-99-99", "99-99-9999", "9999"}
    # NTT's latin-1 arrives as proper text (no replacement characters).
    assert q("select count(*) from raw.dinsos_ntt__individu where nama like '%\ufffd%'") == [(0,)]


def test_corrupt_files_are_quarantined_whole_and_others_carry_on(world, tmp_path, con):
    root, _ = world
    for source, junk in (
        ("p3ke", b"PK\x03\x04 this is not a workbook"),
        ("regsosek", b"PAR1 truncated"),
        ("dukcapil", b"\x00\x01\x02\xff\xfe binary"),
    ):
        files = landing_copy(root, tmp_path, source)
        files[0].write_bytes(junk)
        [result] = load(con, source, files)
        assert result.status == "quarantined"
        assert result.reason.startswith(files[0].name)
        assert "cannot be read" in result.reason or "header" in result.reason
    dtks = load(con, "dtks", landing_copy(root, tmp_path, "dtks")[:1])
    assert dtks[0].status == "loaded" and dtks[0].rows_loaded > 0
    whole = quarantine(con)
    assert set(whole.loc[whole["source_row"].isna(), "source"]) == {"p3ke", "regsosek", "dukcapil"}


def test_empty_and_header_only_files(tmp_path, con):
    empty = tmp_path / "dukcapil_penduduk_2025-01.csv"
    empty.write_bytes(b"")
    [r] = load(con, "dukcapil", [empty])
    assert r.status == "quarantined" and "empty" in r.reason
    empty.write_text(
        "ID_REC,NIK,NO_KK,NAMA_LGKP,TMPT_LHR,TGL_LHR,JENIS_KLMIN,KODE_WILAYAH,ALAMAT,STAT_HBKEL\n"
    )
    [r] = load(con, "dukcapil", [empty])
    assert (r.status, r.rows_read, r.rows_loaded, r.rows_quarantined) == ("loaded", 0, 0, 0)


def _dukcapil(
    tmp_path: Path,
    rows: list[list[str]],
    header=None,
    encoding="utf-8",
    raw: bytes | None = None,
    name: str = "dukcapil_penduduk_2025-01.csv",
) -> Path:
    header = header or [
        "ID_REC",
        "NIK",
        "NO_KK",
        "NAMA_LGKP",
        "TMPT_LHR",
        "TGL_LHR",
        "JENIS_KLMIN",
        "KODE_WILAYAH",
        "ALAMAT",
        "STAT_HBKEL",
    ]
    path = tmp_path / name
    if raw is not None:
        path.write_bytes(raw)
    else:
        pd.DataFrame(rows, columns=header).to_csv(path, index=False, encoding=encoding)
    return path


ROW = [
    "DK1",
    "3276014512900001",
    "3276011203150002",
    "SITI",
    "DEPOK",
    "1990-12-05",
    "PEREMPUAN",
    "3276011001",
    "JL. X",
    "KEPALA KELUARGA",
]


def test_extra_column_is_kept_as_attribute_and_missing_column_quarantines(tmp_path, con):
    path = _dukcapil(
        tmp_path,
        [ROW + ["Kristen"]],
        header=[
            "ID_REC",
            "NIK",
            "NO_KK",
            "NAMA_LGKP",
            "TMPT_LHR",
            "TGL_LHR",
            "JENIS_KLMIN",
            "KODE_WILAYAH",
            "ALAMAT",
            "STAT_HBKEL",
            "AGAMA",
        ],
    )
    [r] = load(con, "dukcapil", [path])
    assert r.status == "loaded" and r.rows_loaded == 1
    attrs = json.loads(con.execute("select attributes from raw.dukcapil__individu").fetchone()[0])
    assert attrs == {"AGAMA": "Kristen"}
    path = _dukcapil(
        tmp_path,
        [ROW[:5] + ROW[6:]],
        header=[
            "ID_REC",
            "NIK",
            "NO_KK",
            "NAMA_LGKP",
            "TMPT_LHR",
            "JENIS_KLMIN",
            "KODE_WILAYAH",
            "ALAMAT",
            "STAT_HBKEL",
        ],
    )
    [r] = load(con, "dukcapil", [path])
    assert r.status == "quarantined" and "TGL_LHR" in r.reason and path.name in r.reason


def test_long_fields_and_hostile_content_stay_inert_data(tmp_path, con):
    hostile = [
        "'); DROP TABLE raw.quarantine; --",
        '=HYPERLINK("http://evil.example","klik")',
        "SITI\x07\x1b[31m\tRAHMA",
        "x" * 200_000,
    ]
    rows = [[f"DK{i}"] + ROW[1:3] + [name] + ROW[4:] for i, name in enumerate(hostile)]
    [r] = load(con, "dukcapil", [_dukcapil(tmp_path, rows)])
    assert (r.status, r.rows_loaded, r.rows_quarantined) == ("loaded", 4, 0)
    names = (
        con.execute("select nama from raw.dukcapil__individu order by source_row")
        .df()["nama"]
        .tolist()
    )
    assert names == [h.strip() for h in hostile]
    assert (
        con.execute("select count(*) from raw.quarantine").fetchone()[0] == 0
    )  # the table survived


def test_bad_rows_are_quarantined_with_file_row_and_reason(tmp_path, con):
    good = ",".join(ROW).encode()
    lines = [
        b"ID_REC,NIK,NO_KK,NAMA_LGKP,TMPT_LHR,TGL_LHR,JENIS_KLMIN,KODE_WILAYAH,ALAMAT,STAT_HBKEL",
        good,
        good.replace(b"DK1", b"DK2").replace(b"SITI", b"S\xe9TI"),  # latin-1 byte in a UTF-8 file
        good.replace(b"DK1", b"DK3") + b",EXTRA,FIELDS",  # too many fields
        good,  # DK1 again: repeated id
        good.replace(b"DK1,", b","),  # no record id
        good.replace(b"DK1", b"DK6"),
    ]
    path = _dukcapil(tmp_path, [], raw=b"\n".join(lines) + b"\n")
    [r] = load(con, "dukcapil", [path])
    assert (r.rows_read, r.rows_loaded, r.rows_quarantined) == (6, 2, 4)
    q = quarantine(con).sort_values("source_row")
    assert q["source_row"].tolist() == [3, 4, 5, 6]
    assert q["source_file"].unique().tolist() == [path.name]
    reasons = q["reason"].str.lower().tolist()
    assert "unicode" in reasons[0] and "columns" in reasons[1]
    assert (
        reasons[2] == "record id repeats an earlier row of this file"
        and reasons[3] == "record id is missing"
    )
    loaded = con.execute(
        "select source_record_id, source_row from raw.dukcapil__individu order by 2"
    ).fetchall()
    assert loaded == [("DK1", 2), ("DK6", 7)]


def test_reloading_a_month_is_idempotent_and_a_corrected_file_replaces_it(tmp_path, con):
    path = _dukcapil(tmp_path, [ROW, ["DK2"] + ROW[1:]])
    load(con, "dukcapil", [path])
    load(con, "dukcapil", [path])
    assert con.execute("select count(*) from raw.dukcapil__individu").fetchone()[0] == 2
    _dukcapil(tmp_path, [ROW])
    load(con, "dukcapil", [path])
    assert con.execute("select count(*) from raw.dukcapil__individu").fetchone()[0] == 1
    assert con.execute("select count(*) from raw.ingest_log").fetchone()[0] == 1


def test_a_new_source_is_one_yaml_file(world, tmp_path, monkeypatch):
    """A province's list, declared in one file, gets an ingest asset, a raw table and a staging model."""
    root, _ = world
    config = tmp_path / "sources"
    shutil.copytree(Path(get_source("dukcapil").path).parent, config)
    (config / "dinsos_jatim.yaml").write_text("""
name: dinsos_jatim
owner: Dinsos Jawa Timur
description: A provincial list in the NTT layout.
entity: individu
snapshot: delta
format: csv
file_glob: "jatim_*.csv"
csv: {delimiter: ";", encoding: latin-1}
date_formats: ["%d/%m/%Y"]
columns:
  source_record_id: "NO"
  nik: NIK
  nama: NAMA
  tanggal_lahir: TANGGAL LAHIR
  jenis_kelamin: JENIS KELAMIN
  kode_desa: KODE DESA
""")
    specs = load_sources(config)
    spec = next(s for s in specs if s.name == "dinsos_jatim")
    landing = tmp_path / "data" / "landing" / "dinsos_jatim" / MONTH
    landing.mkdir(parents=True)
    shutil.copy(
        next((root / "landing" / "dinsos_ntt" / MONTH).glob("*.csv")), landing / "jatim_202501.csv"
    )
    monkeypatch.setenv("DTSEN_DATA_DIR", str(tmp_path / "data"))
    result = materialize(
        [build_ingest_asset(spec)],
        partition_key=MONTH,
        resources={"warehouse": WarehouseResource()},
    )
    assert result.success
    with duckdb.connect(str(tmp_path / "data" / "warehouse" / "dtsen.duckdb"), read_only=True) as c:
        assert c.execute("select count(*) from raw.dinsos_jatim__individu").fetchone()[0] > 0
    generated = dbt_registry._files(specs)
    model = dbt_registry.MODELS_DIR / "stg_dinsos_jatim__individu.sql"
    assert "stage_identity('dinsos_jatim__individu'" in generated[model]
    assert "stg_dinsos_jatim__individu" in generated[dbt_registry.MACRO_FILE]


def test_registry_errors_name_the_file_and_field(tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text(
        "name: broken\nowner: x\ndescription: x\nentity: individu\nsnapshot: weekly\n"
        "format: csv\nfile_glob: '*.csv'\ncolumns: {source_record_id: ID, nama: N}\n"
    )
    with pytest.raises(RegistryError, match=r"broken.yaml: snapshot 'weekly'"):
        load_sources(tmp_path)


def test_landing_sensor_refreshes_the_whole_month_once_per_change(world, tmp_path, monkeypatch):
    """New or changed files request the whole monthly job for their month (one run, whatever the
    number of sources), and the delivery is recorded on each landing asset's partition."""
    from dagster import DagsterInstance, SensorResult, build_sensor_context

    from dtsen_pipeline.defs.ingest.sensors import landing_sensor

    root, _ = world
    data = tmp_path / "data"
    shutil.copytree(root / "landing", data / "landing")
    monkeypatch.setenv("DTSEN_DATA_DIR", str(data))
    with DagsterInstance.ephemeral() as instance:
        ctx = build_sensor_context(instance=instance)
        first = landing_sensor(ctx)
        assert isinstance(first, SensorResult)
        [request] = first.run_requests
        assert request.partition_key == MONTH and request.asset_selection is None  # the whole job
        assert request.tags["dtsen/sources"] == ",".join(sorted(s.name for s in load_sources()))
        delivered = {e.asset_key.to_user_string(): e for e in first.asset_events}
        assert set(delivered) == {f"landing/{s.name}" for s in load_sources()}
        dtks = delivered["landing/dtks"]
        assert dtks.partition == MONTH and dtks.metadata["files delivered"].value == 1
        [row] = dtks.metadata["files"].value.records
        assert len(row.data["sha256"]) == 64 and row.data["bytes"] > 0
        again = landing_sensor(build_sensor_context(instance=instance, cursor=ctx.cursor))
        assert type(again).__name__ == "SkipReason"
        corrected = next((data / "landing" / "dtks" / MONTH).glob("DTKS_ART_*.csv"))
        corrected.write_text(corrected.read_text() + "\n")
        third = landing_sensor(build_sensor_context(instance=instance, cursor=ctx.cursor))
        assert [(r.partition_key, r.tags["dtsen/sources"]) for r in third.run_requests] == [
            (MONTH, "dtks")
        ]
        assert [e.asset_key.to_user_string() for e in third.asset_events] == ["landing/dtks"]


def test_errors_never_quote_file_contents(tmp_path, con):
    """A file delivered without its header row: the reason names the problem, not the first record."""
    nik, name = "3276014512900001", "SITI RAHMAWATI"
    path = _dukcapil(
        tmp_path,
        [],
        raw=f"DK1,{nik},3276011203150002,{name},DEPOK,1990-12-05,P,3276011008,JL X\n".encode(),
    )
    [r] = load(con, "dukcapil", [path])
    assert r.status == "quarantined" and "missing from its header" in r.reason
    assert nik not in r.reason and name not in r.reason
    same = _dukcapil(tmp_path, [], raw=f"{nik},{nik}\n".encode())
    [r] = load(con, "dukcapil", [same])
    assert "repeats a column name (fields [2])" in r.reason and nik not in r.reason


def test_a_warehouse_from_before_the_census_gains_its_columns(tmp_path, con):
    """raw.ingest_log created by an earlier version lacks rows_counted: loading adds it, old rows read NULL."""
    con.execute(
        "create schema raw; create table raw.ingest_log (source varchar, extract_month varchar, "
        "source_file varchar, file_sha256 varchar, status varchar, reason varchar, rows_read bigint, "
        "rows_loaded bigint, rows_quarantined bigint, ingested_at timestamp with time zone)"
    )
    con.execute(
        "insert into raw.ingest_log values ('dukcapil', '2024-12', 'old.csv', 'x', 'loaded', '', 5, 5, 0, now())"
    )
    [r] = load(con, "dukcapil", [_dukcapil(tmp_path, [ROW, ["DK2"] + ROW[1:]])])
    assert (r.rows_counted, r.rows_loaded) == (2, 2)
    assert con.execute(
        "select extract_month, rows_counted, first_unaccounted_line from raw.ingest_log order by 1"
    ).fetchall() == [("2024-12", None, None), (MONTH, 2, None)]
    [rec] = reconciliation(con, get_source("dukcapil"), MONTH)
    assert rec.balanced and (rec.counted, rec.loaded, rec.quarantined) == (2, 2, 0)
