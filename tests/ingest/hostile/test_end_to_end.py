"""Hostile files through the real Dagster raw asset: the blocking checks stop what is downstream."""

from __future__ import annotations

import duckdb
import pytest
from dagster import AssetKey, DagsterEventType, asset, materialize

from dtsen_pipeline.defs.common.partitions import monthly_partitions
from dtsen_pipeline.defs.common.resources import WarehouseResource
from dtsen_pipeline.defs.ingest.assets import build_ingest_asset
from dtsen_pipeline.ingest.sources import get_source
from tests.ingest.hostile.files import CELL_CONTENT, name, nik, parquet_file, regsosek_table
from tests.ingest.hostile.test_catalogue import nested_twice

BPJS_HEADER = "KPJ|NIK|NAMA_TK|TGL_LAHIR|JNS_KELAMIN|SEGMEN|PROGRAM|KODE_KAB|TGL_KEPESERTAAN"


def bpjs_rows(n: int) -> list[str]:
    return [
        f"2{i:010d}|{nik(i)}|{name(i)}|19900101|P|PU|JKK,JKM,JHT|3276|20250101"
        for i in range(1, n + 1)
    ]


def deliver(data_root, source: str, month: str, filename: str, text: str | None = None):
    folder = data_root / "landing" / source / month
    folder.mkdir(parents=True, exist_ok=True)
    if text is not None:
        (folder / filename).write_text(text, encoding="utf-8")
    return folder


def run(source: str, month: str):
    """The source's raw asset and a stand-in for everything downstream of it, for one month."""
    raw = build_ingest_asset(get_source(source))

    @asset(deps=[raw.key], partitions_def=monthly_partitions, name=f"after_{source}")
    def downstream():
        return None

    result = materialize(
        [raw, downstream],
        partition_key=month,
        resources={"warehouse": WarehouseResource()},
        raise_on_error=False,
    )
    checks = {
        e.event_specific_data.check_name: e.event_specific_data
        for e in result.all_events
        if e.event_type == DagsterEventType.ASSET_CHECK_EVALUATION
    }
    ran_downstream = AssetKey([f"after_{source}"]) in {
        e.asset_key for e in result.get_asset_materialization_events()
    }
    return result, checks, ran_downstream


@pytest.fixture()
def data_root(tmp_path, monkeypatch):
    monkeypatch.setenv("DTSEN_DATA_DIR", str(tmp_path))
    # Files are written a moment before each run: no settle wait (tested on its own below).
    monkeypatch.setenv("DTSEN_LANDING_SETTLE_SECONDS", "0")
    return tmp_path


def test_a_quote_in_row_101_blocks_the_month_instead_of_loading_100_rows(data_root):
    """The issue's case: a 490-row BPJS TK file with a quote added to row 101 used to load 100 rows,
    pass reconciliation and publish."""
    rows = bpjs_rows(490)
    deliver(
        data_root,
        "bpjs_tk",
        "2025-01",
        "bpjs_tk_peserta_202501.csv",
        "\n".join([BPJS_HEADER, *rows]) + "\n",
    )
    result, checks, ran = run("bpjs_tk", "2025-01")
    assert result.success and ran and checks["snapshot_complete"].passed
    assert checks["snapshot_complete"].description == (
        "bpjs_tk 2025-01: 490 rows loaded, no earlier delivery"
    )

    rows[100] = rows[100].replace(name(101), '"' + name(101))
    deliver(
        data_root,
        "bpjs_tk",
        "2025-02",
        "bpjs_tk_peserta_202502.csv",
        "\n".join([BPJS_HEADER, *rows]) + "\n",
    )
    result, checks, ran = run("bpjs_tk", "2025-02")
    assert not result.success and not ran, "downstream of the raw asset must not run"
    # Nothing lost silently: the file is quarantined whole, all 490 rows accounted for...
    assert checks["rows_reconciled"].passed
    assert checks["rows_reconciled"].metadata["rows counted"].value == 490
    assert not checks["files_readable"].passed
    readable = checks["files_readable"].description
    assert readable.startswith("bpjs_tk 2025-02: bpjs_tk_peserta_202502.csv")
    reasons = checks["files_readable"].metadata["reasons"].value
    assert "line 102: a quoted field opens here and is never closed" in reasons
    # ...and the full snapshot that would have lost every row blocks the month.
    snapshot = checks["snapshot_complete"]
    assert not snapshot.passed
    assert (
        snapshot.description
        == "bpjs_tk 2025-02: 0 rows loaded against 490 in 2025-01 (-100%; tolerance 20%)"
    )
    for text in (readable, reasons, snapshot.description, checks["rows_reconciled"].description):
        assert not CELL_CONTENT.search(text)

    # A shrink beyond the tolerance blocks too; within it, the month goes through.
    deliver(
        data_root,
        "bpjs_tk",
        "2025-03",
        "bpjs_tk_peserta_202503.csv",
        "\n".join([BPJS_HEADER, *bpjs_rows(300)]) + "\n",
    )
    result, checks, ran = run("bpjs_tk", "2025-03")
    assert not result.success and not ran
    assert checks["snapshot_complete"].description == (
        "bpjs_tk 2025-03: 300 rows loaded against 490 in 2025-01 (-39%; tolerance 20%)"
    )
    deliver(
        data_root,
        "bpjs_tk",
        "2025-04",
        "bpjs_tk_peserta_202504.csv",
        "\n".join([BPJS_HEADER, *bpjs_rows(450)]) + "\n",
    )
    result, checks, ran = run("bpjs_tk", "2025-04")
    assert result.success and ran and checks["snapshot_complete"].passed
    # A header-only full snapshot blocks; a delta source with no rows is not checked.
    deliver(data_root, "bpjs_tk", "2025-05", "bpjs_tk_peserta_202505.csv", BPJS_HEADER + "\n")
    result, checks, ran = run("bpjs_tk", "2025-05")
    assert not ran
    assert checks["snapshot_complete"].description.startswith(
        "bpjs_tk 2025-05: 0 rows loaded against 450 in 2025-04"
    )
    deliver(
        data_root,
        "phk",
        "2025-05",
        "kemnaker_phk_202505.csv",
        "ID_LAPORAN,NIK,NAMA,TGL_LAHIR,JENIS_KELAMIN,NAMA_PERUSAHAAN,KODE_KAB_KOTA,TGL_PHK,ALASAN_PHK\n",
    )
    result, checks, ran = run("phk", "2025-05")
    assert result.success and ran and "snapshot_complete" not in checks
    with duckdb.connect(str(data_root / "warehouse" / "dtsen.duckdb"), read_only=True) as con:
        logged = con.execute(
            "select extract_month, status, rows_counted, rows_read, rows_quarantined "
            "from raw.ingest_log where source = 'bpjs_tk' order by 1"
        ).fetchall()
    assert logged[:2] == [
        ("2025-01", "loaded", 490, 490, 0),
        ("2025-02", "quarantined", 490, 490, 490),
    ]


def test_a_file_the_census_and_the_parser_disagree_on_blocks_with_its_line(data_root):
    folder = deliver(data_root, "regsosek", "2025-01", "unused")
    nested_twice(folder)
    result, checks, ran = run("regsosek", "2025-01")
    assert not result.success and not ran
    recon = checks["rows_reconciled"]
    assert not recon.passed
    assert recon.description == (
        "regsosek 2025-01: regsosek_keluarga_2025-01.parquet: the file holds 3 records, "
        "but 5 were loaded and 0 quarantined (+2); first unaccounted record at line 4"
    )
    assert recon.metadata["first unaccounted lines"].value == "regsosek_keluarga_2025-01.parquet: 4"
    # The same source with a sound file goes through.
    parquet_file(folder, regsosek_table())
    result, checks, ran = run("regsosek", "2025-01")
    assert result.success and ran and checks["rows_reconciled"].passed


def test_a_stray_quote_that_swallows_records_is_quarantined_line_by_line(data_root):
    """A quote before a name on line 4, closed by a quoted field on line 8, used to lose 4 of 10
    records with every check passing."""
    rows = bpjs_rows(10)
    rows[2] = rows[2].replace(name(3), '"' + name(3))
    rows[6] = rows[6].replace("JKK,JKM,JHT", '"JKK|JKM"')
    deliver(
        data_root,
        "bpjs_tk",
        "2025-01",
        "bpjs_tk_peserta_202501.csv",
        "\n".join([BPJS_HEADER, *rows]) + "\n",
    )
    result, checks, ran = run("bpjs_tk", "2025-01")
    recon = checks["rows_reconciled"]
    assert recon.passed and recon.metadata["rows counted"].value == 10
    assert (recon.metadata["rows loaded"].value, recon.metadata["rows quarantined"].value) == (5, 5)
    readable = checks["files_readable"]
    assert not readable.passed
    assert readable.description.startswith(
        "bpjs_tk 2025-01: bpjs_tk_peserta_202501.csv: lines 4-8: a quoted field opens on line 4 "
        "and closes on line 8"
    )
    assert not CELL_CONTENT.search(readable.description)


def test_a_file_in_transfer_refuses_the_month_and_names_it(data_root, monkeypatch):
    monkeypatch.setenv("DTSEN_LANDING_MAX_WAIT_SECONDS", "0")
    folder = deliver(
        data_root,
        "bpjs_tk",
        "2025-01",
        "bpjs_tk_peserta_202501.csv",
        "\n".join([BPJS_HEADER, *bpjs_rows(5)]) + "\n",
    )
    (folder / "bpjs_tk_peserta_202501_b.csv.part").write_text(BPJS_HEADER + "\n")
    result, checks, ran = run("bpjs_tk", "2025-01")
    assert not result.success and not ran and not checks
    [failure] = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE]
    message = failure.event_specific_data.error.message
    assert "bpjs_tk 2025-01: not read, after waiting 0 s" in message
    assert "bpjs_tk_peserta_202501_b.csv.part: a transfer in progress" in message
    # Renamed to its final name, the delivery is read whole.
    (folder / "bpjs_tk_peserta_202501_b.csv.part").rename(folder / "bpjs_tk_peserta_202501_b.csv")
    result, checks, ran = run("bpjs_tk", "2025-01")
    assert result.success and ran


def test_the_landing_inventory_warns_of_every_file_not_read(data_root):
    from dtsen_pipeline.defs.ingest.landing import landing_inventory

    deliver(data_root, "phk", "2025-01", "kemnaker_phk_202501.CSV", "x\n")
    (data_root / "landing/phk/2025-01/sub").mkdir()
    (data_root / "landing/phk/2025-01/sub/kemnaker_phk_202501_2.csv").write_text("x\n")
    deliver(data_root, "p3ke_dihapus", "2025-01", "P3KE_202501.xlsx", "x")
    deliver(data_root, "phk", "2025-01", "laporan\x1b[31m\n.csv", "x")
    result = materialize(
        [landing_inventory],
        partition_key="2025-01",
        resources={"warehouse": WarehouseResource()},
        raise_on_error=False,
    )
    assert result.success
    [check] = [
        e.event_specific_data
        for e in result.all_events
        if e.event_type == DagsterEventType.ASSET_CHECK_EVALUATION
    ]
    assert check.check_name == "landing_accounted" and not check.passed
    assert check.severity.value == "WARN"
    assert check.description.startswith("landing 2025-01: 4 of 5 entries not read: ")
    for shown in (
        "landing/p3ke_dihapus/2025-01/P3KE_202501.xlsx: not read (landing/p3ke_dihapus/ is no "
        "registered source",
        "landing/phk/2025-01/sub/kemnaker_phk_202501_2.csv: not read (in a subfolder (sub/)",
        "landing/phk/2025-01/laporan\\x1b[31m\\n.csv: not read (no source matches its name",
    ):
        assert shown in check.description
    assert "\x1b" not in check.description and "\n" not in check.description
    [materialization] = result.get_asset_materialization_events()
    metadata = materialization.materialization.metadata
    assert (metadata["entries"].value, metadata["read"].value) == (5, 1)
    with duckdb.connect(str(data_root / "warehouse" / "dtsen.duckdb"), read_only=True) as con:
        stored = con.execute(
            "select entry, status, source from raw.landing_inventory where extract_month = '2025-01' "
            "order by entry"
        ).fetchall()
    assert stored[0] == ("p3ke_dihapus/2025-01/P3KE_202501.xlsx", "not read", "")
    assert ("phk/2025-01/kemnaker_phk_202501.CSV", "read", "phk") in stored and len(stored) == 5
