"""Small hostile files and the loader run they go through: shared by the catalogue and the fuzz test.

Every row carries a unique NIK (``3276014512xxxxxx``) and name (``NAMA ORANG xxx``): a reason that
quotes a cell shows one of them, which `assert_no_cell_content` looks for.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from dtsen_pipeline.ingest.load import load_month, reconciliation
from dtsen_pipeline.ingest.sources import ParquetOptions, SourceSpec, get_source

MONTH = "2025-01"
CELL_CONTENT = re.compile(r"3276014512\d{6}|NAMA ORANG")

DUKCAPIL_HEADER = (
    b"ID_REC,NIK,NO_KK,NAMA_LGKP,TMPT_LHR,TGL_LHR,JENIS_KLMIN,KODE_WILAYAH,ALAMAT,STAT_HBKEL"
)


def nik(i: int) -> str:
    return f"3276014512{i:06d}"


def name(i: int) -> str:
    return f"NAMA ORANG {i:03d}"


def csv_row(
    i: int,
    *,
    name_text: str | None = None,
    nik_text: str | None = None,
    record_id: str | None = None,
    address: str = "JL. MERDEKA",
) -> bytes:
    fields = [
        f"DK{i}" if record_id is None else record_id,
        nik(i) if nik_text is None else nik_text,
        "3276011203150002",
        name(i) if name_text is None else name_text,
        "DEPOK",
        "1990-12-05",
        "PEREMPUAN",
        "3276011001",
        address,
        "KEPALA KELUARGA",
    ]
    return ",".join(fields).encode("utf-8")


def csv_file(
    folder: Path,
    body: list[bytes],
    *,
    header: bytes = DUKCAPIL_HEADER,
    newline: bytes = b"\n",
    end: bytes | None = None,
    name_: str = "dukcapil_penduduk_2025-01.csv",
) -> Path:
    """The header and rows joined by ``newline``, ending with ``end`` (default: ``newline``)."""
    path = folder / name_
    path.write_bytes(newline.join([header, *body]) + (newline if end is None else end))
    return path


def csv_rows(n: int = 10) -> list[bytes]:
    return [csv_row(i) for i in range(1, n + 1)]


P3KE_HEADER = [
    "ID Anggota",
    "NIK",
    "No KK",
    "Nama",
    "Tanggal Lahir",
    "Jenis Kelamin",
    "Kode Wilayah",
    "Desa/Kelurahan",
    "Kecamatan",
    "Kabupaten/Kota",
    "Hubungan Keluarga",
    "ID Keluarga P3KE",
]


def p3ke_row(i: int) -> list:
    return [
        f"P3KE-{i:09d}",
        nik(i),
        "3276011203150002",
        name(i),
        "05-12-1990",
        "Perempuan",
        "3276011001",
        "Beji",
        "Beji",
        "Kota Depok",
        "Kepala Keluarga",
        f"KEL-{i:09d}",
    ]


def xlsx_file(
    folder: Path,
    rows: list[list],
    *,
    header: list | None = None,
    sheet: str = "Data P3KE",
    name_: str = "P3KE_202501.xlsx",
) -> Path:
    """Written with openpyxl, which stores a formula without its cached value (as many tools do)."""
    import openpyxl

    book = openpyxl.Workbook()
    ws = book.active
    ws.title = sheet
    ws.append(P3KE_HEADER if header is None else header)
    for row in rows:
        ws.append(row)
    path = folder / name_
    book.save(path)
    return path


MEMBER_FIELDS = ("id_art", "nik", "nama", "jenis_kelamin", "tanggal_lahir", "hubungan_kk")


def member(i: int) -> dict:
    return {
        "id_art": f"RS{i:010d}",
        "nik": nik(i),
        "nama": name(i),
        "jenis_kelamin": 2,
        "tanggal_lahir": "1990-12-05",
        "hubungan_kk": 1,
    }


def regsosek_table(sizes=(2, 3, 5), members=None) -> pa.Table:
    """Family forms with their members nested (the Regsosek layout): sizes members per family."""
    lists, n = [], 0
    for size in sizes:
        lists.append([member(n + k + 1) for k in range(size)] if size is not None else None)
        n += size or 0
    return pa.table(
        {
            "id_keluarga": [f"RK{f:010d}" for f in range(len(sizes))],
            "kode_wilayah": ["3276011001"] * len(sizes),
            "alamat": ["JL. MERDEKA"] * len(sizes),
            "no_kk": ["3276011203150002"] * len(sizes),
            "anggota": pa.array(lists) if members is None else members,
        }
    )


def parquet_file(
    folder: Path, table: pa.Table, name_: str = "regsosek_keluarga_2025-01.parquet"
) -> Path:
    path = folder / name_
    pq.write_table(table, path)
    return path


def flat_regsosek() -> SourceSpec:
    """Regsosek's mapping over a flat file (one row per member): a Parquet source without unnest."""
    return dataclasses.replace(get_source("regsosek"), parquet=ParquetOptions(unnest=None))


def flat_table(n: int = 10) -> pa.Table:
    rows = [
        {
            **member(i),
            "id_keluarga": "RK1",
            "kode_wilayah": "3276011001",
            "alamat": "JL. X",
            "no_kk": "3276011203150002",
        }
        for i in range(1, n + 1)
    ]
    return pa.Table.from_pylist(rows)


@dataclasses.dataclass
class Outcome:
    results: list
    recon: list
    quarantine: list[tuple]  # (source_file, source_row, column_name, reason)
    loaded_rows: list[int]

    @property
    def reasons(self) -> list[str]:
        return [r.reason for r in self.results if r.reason] + [q[3] for q in self.quarantine]


def ingest(spec: SourceSpec, files: list[Path]) -> Outcome:
    """load_month and reconciliation on a fresh in-memory DuckDB."""
    with duckdb.connect() as con:
        results = load_month(con, spec, MONTH, files)
        recon = reconciliation(con, spec, MONTH)
        quarantine = con.execute(
            "select source_file, source_row, column_name, reason from raw.quarantine "
            "order by source_row"
        ).fetchall()
        loaded = [
            r[0]
            for r in con.execute(
                f"select source_row from raw.{spec.raw_table} order by 1"
            ).fetchall()
        ]
    return Outcome(results, recon, quarantine, loaded)


def assert_no_cell_content(outcome: Outcome) -> None:
    for reason in outcome.reasons:
        assert not CELL_CONTENT.search(reason), f"a reason quotes a cell: {reason!r}"
