"""The landing folder as a hostile sender leaves it: files no source reads (an upper-case
extension, a part in a subfolder, a folder whose source was removed, a name with control
characters), and files still being written or transferred."""

from __future__ import annotations

import os
import time

import duckdb
import pytest

from dtsen_pipeline.ingest.inventory import (
    NotSettled,
    describe,
    final_name,
    inventory,
    not_read,
    settled_files,
)
from dtsen_pipeline.ingest.load import _unchanged_since, load_month, reconciliation
from dtsen_pipeline.ingest.sources import get_source, load_sources
from tests.ingest.hostile.files import P3KE_HEADER, csv_file, csv_rows, p3ke_row, xlsx_file

MONTH = "2025-01"


@pytest.fixture()
def landing(tmp_path, monkeypatch):
    monkeypatch.setenv("DTSEN_DATA_DIR", str(tmp_path))
    root = tmp_path / "landing"
    for folder in ("dukcapil", "p3ke", "p3ke_lama"):
        (root / folder / MONTH).mkdir(parents=True)
    return root


def old(path):
    """Delivered an hour ago."""
    stamp = time.time() - 3600
    os.utime(path, (stamp, stamp))
    return path


def test_every_landing_entry_is_read_or_named_with_its_reason(landing):
    month = landing / "dukcapil" / MONTH
    csv_file(month, csv_rows(3), name_="dukcapil_penduduk_2025-01.CSV")
    (month / "bagian2").mkdir()
    csv_file(month / "bagian2", csv_rows(2), name_="dukcapil_penduduk_2025-01_b.csv")
    (month / "catatan.txt").write_text("x")
    (month / "dukcapil_penduduk_2025-01_c.csv.part").write_text("x")
    (month / "dukcapil_penduduk_\x1b[2J\nrm.csv").write_text("x")  # read: its name matches
    (month / "evil\x1b[31m.txt").write_text("x")
    xlsx_file(landing / "p3ke_lama" / MONTH, [p3ke_row(1)])
    entries = {e.path: e for e in inventory(MONTH, load_sources())}
    status = {p: (e.status, e.source) for p, e in entries.items()}
    assert status == {
        "dukcapil/2025-01/bagian2": ("not read", ""),
        "dukcapil/2025-01/bagian2/dukcapil_penduduk_2025-01_b.csv": ("not read", ""),
        "dukcapil/2025-01/catatan.txt": ("not read", ""),
        "dukcapil/2025-01/dukcapil_penduduk_\x1b[2J\nrm.csv": ("read", "dukcapil"),
        "dukcapil/2025-01/dukcapil_penduduk_2025-01.CSV": ("read", "dukcapil"),
        "dukcapil/2025-01/dukcapil_penduduk_2025-01_c.csv.part": ("in transfer", "dukcapil"),
        "dukcapil/2025-01/evil\x1b[31m.txt": ("not read", ""),
        "p3ke_lama/2025-01/P3KE_202501.xlsx": ("not read", ""),
    }
    lines = [describe(e) for e in not_read(list(entries.values()))]
    assert (
        "landing/dukcapil/2025-01/bagian2/dukcapil_penduduk_2025-01_b.csv: not read (in a "
        "subfolder (bagian2/): only the files directly in landing/dukcapil/2025-01/ are read)"
    ) in lines
    assert (
        "landing/dukcapil/2025-01/catatan.txt: not read (no source matches its name "
        "(dukcapil reads dukcapil_penduduk_*.csv))"
    ) in lines
    assert (
        "landing/p3ke_lama/2025-01/P3KE_202501.xlsx: not read (landing/p3ke_lama/ is no "
        "registered source (no config/sources/p3ke_lama.yaml))"
    ) in lines
    assert "landing/dukcapil/2025-01/evil\\x1b[31m.txt: not read" in " ".join(lines)
    assert not any("\x1b" in line or "\n" in line for line in lines)


def test_a_file_its_source_declares_not_read_is_listed_but_not_warned_of(landing):
    """DTKS delivers its household table beside the members; dtks.yaml declares it (not_read), so
    the inventory lists it with the declared reason and it is no warning; an undeclared file is."""
    month = landing / "dtks" / MONTH
    month.mkdir(parents=True)
    (month / "DTKS_RUTA_202501.csv").write_text("IDBDT;KDPROP\n1;64\n")
    (month / "DTKS_RUTA_202501_lama.xlsx").write_text("x")  # the pattern is a .csv: not declared
    entries = {e.path: e for e in inventory(MONTH, load_sources())}
    declared = entries["dtks/2025-01/DTKS_RUTA_202501.csv"]
    assert (declared.status, declared.source) == ("declared not read", "")
    assert declared.reason == (
        "dtks declares it not read: the household table (RUTA): no household source is registered"
    )
    assert [e.path for e in not_read(list(entries.values()))] == [
        "dtks/2025-01/DTKS_RUTA_202501_lama.xlsx"
    ]


def test_an_upper_case_extension_is_read(landing):
    month = landing / "dukcapil" / MONTH
    path = old(csv_file(month, csv_rows(4), name_="dukcapil_penduduk_2025-01.CSV"))
    spec = get_source("dukcapil")
    assert spec.landing_files(MONTH) == [path]
    with duckdb.connect() as con:
        [result] = load_month(con, spec, MONTH, settled_files(spec, MONTH, seconds=1))
    assert (result.status, result.rows_loaded) == ("loaded", 4)


def test_transfer_names():
    assert final_name("x.csv.part") == "x.csv"
    assert final_name("x.CSV.TMP") == "x.CSV"
    assert final_name("~$P3KE_202501.xlsx") == "P3KE_202501.xlsx"
    assert final_name(".~lock.P3KE_202501.xlsx#") == "P3KE_202501.xlsx"
    assert final_name(".dukcapil_penduduk_2025-01.csv.Xa9Qz1") == "dukcapil_penduduk_2025-01.csv"
    assert final_name("dukcapil_penduduk_2025-01.csv") is None
    assert final_name(".DS_Store") is None


def test_a_file_written_seconds_ago_is_waited_for_then_read(landing):
    spec = get_source("dukcapil")
    path = csv_file(landing / "dukcapil" / MONTH, csv_rows(2))
    waits = []
    started = time.monotonic()
    assert settled_files(spec, MONTH, log=waits.append, seconds=1.5, max_wait=10) == [path]
    assert time.monotonic() - started >= 1.0 and waits
    assert waits[0].startswith("dukcapil 2025-01: waiting for the delivery to settle: ")


def test_a_file_still_being_written_refuses_the_month_naming_it(landing):
    spec = get_source("dukcapil")
    csv_file(landing / "dukcapil" / MONTH, csv_rows(2))
    with pytest.raises(NotSettled) as exc:
        settled_files(spec, MONTH, seconds=60, max_wait=0.3)
    message = str(exc.value)
    assert message.startswith("dukcapil 2025-01: not read, after waiting 0.3 s")
    assert "dukcapil_penduduk_2025-01.csv: modified " in message
    assert "less than the 60 s a delivered file must be left alone" in message


def test_a_part_file_holds_its_source_month_back(landing):
    spec = get_source("dukcapil")
    month = landing / "dukcapil" / MONTH
    old(csv_file(month, csv_rows(2)))
    old(csv_file(month, csv_rows(2), name_="dukcapil_penduduk_2025-01_b.csv.part"))
    with pytest.raises(NotSettled, match=r"dukcapil_penduduk_2025-01_b\.csv\.part: a transfer"):
        settled_files(spec, MONTH, seconds=0, max_wait=0)
    # Another source's lock file does not hold dukcapil back.
    (month / "dukcapil_penduduk_2025-01_b.csv.part").unlink()
    old(xlsx_file(landing / "p3ke" / MONTH, [p3ke_row(1)], name_="~$P3KE_202501.xlsx"))
    assert len(settled_files(spec, MONTH, seconds=0, max_wait=0)) == 1
    with pytest.raises(NotSettled, match=r"~\$P3KE_202501\.xlsx: a transfer"):
        settled_files(get_source("p3ke"), MONTH, seconds=0, max_wait=0)


def test_a_file_that_changes_while_it_is_read_is_refused(tmp_path):
    path = csv_file(tmp_path, csv_rows(3))
    before = path.stat()
    with path.open("ab") as fh:
        fh.write(b"DK4,")
    with pytest.raises(NotSettled, match="changed while it was being read"):
        _unchanged_since(path, before)


def workbook(folder, sheets: dict[str, list[list]]):
    import openpyxl

    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        ws = book.create_sheet(title)
        for row in rows:
            ws.append(row)
    path = folder / "P3KE_202501.xlsx"
    book.save(path)
    return path


def test_rows_on_other_worksheets_are_read_or_reported(tmp_path):
    """A second sheet with the source sheet's header is read as its own entry; a sheet under
    another header is reported with its rows (counted from the sheet's XML); an empty one is not
    mentioned."""
    path = workbook(
        tmp_path,
        {
            "Data P3KE": [P3KE_HEADER, *(p3ke_row(i) for i in range(1, 4))],
            "Data P3KE (2)": [P3KE_HEADER, *(p3ke_row(i) for i in range(4, 9))],
            "Catatan": [["catatan"], ["baris 1"], ["baris 2"]],
            "Kosong": [],
        },
    )
    spec = get_source("p3ke")
    with duckdb.connect() as con:
        results = load_month(con, spec, MONTH, [path])
        recon = reconciliation(con, spec, MONTH)
        loaded = con.execute(
            "select source_file, count(*), min(source_row), max(source_row) from raw.p3ke__individu "
            "group by 1 order by 1"
        ).fetchall()
    assert [(r.file, r.status, r.rows_loaded) for r in results] == [
        ("P3KE_202501.xlsx", "loaded", 3),
        ("P3KE_202501.xlsx [Data P3KE (2)]", "loaded", 5),
    ]
    assert loaded == [("P3KE_202501.xlsx", 3, 2, 4), ("P3KE_202501.xlsx [Data P3KE (2)]", 5, 2, 6)]
    assert all(r.balanced for r in recon)
    assert results[0].rows_not_read == 3
    assert results[0].reason == (
        "P3KE_202501.xlsx: sheet 'Catatan' holds 3 rows that are not read: its row 1 is "
        "not the header of the sheet read ('Data P3KE')"
    )


def test_a_single_sheet_workbook_has_no_note(tmp_path):
    path = workbook(tmp_path, {"Data P3KE": [P3KE_HEADER, p3ke_row(1)], "Kosong": []})
    with duckdb.connect() as con:
        [result] = load_month(con, get_source("p3ke"), MONTH, [path])
    assert (result.rows_loaded, result.reason, result.rows_not_read) == (1, "", 0)


def test_a_file_name_with_control_characters_is_shown_escaped(tmp_path):
    """A delivered name with an ANSI sequence and a line break reaches no message raw."""
    bad = tmp_path / "dukcapil_penduduk_\x1b[2J\x1b[31mOK\n2025-01.csv"
    bad.write_bytes(b"")  # empty: quarantined whole, its name in the reason
    twice = csv_file(tmp_path, csv_rows(2), name_="dukcapil_penduduk_\x1b]0;x\x07.csv")
    copy = tmp_path / "dukcapil_penduduk_b.csv"
    copy.write_bytes(twice.read_bytes())
    spec = get_source("dukcapil")
    with duckdb.connect() as con:
        results = load_month(con, spec, MONTH, [bad, twice, copy])
        notes = [r.note for r in reconciliation(con, spec, MONTH)]
    reasons = [r.reason for r in results if r.reason]
    assert reasons[0].startswith(
        "dukcapil_penduduk_\\x1b[2J\\x1b[31mOK\\n2025-01.csv: the file is empty"
    )
    assert "same content as dukcapil_penduduk_\\x1b]0;x\\x07.csv" in reasons[1]
    for text in reasons + notes:
        assert not any(ch in text for ch in "\x1b\x07\n"), text


def test_a_linked_source_folder_is_named_not_followed(landing, tmp_path):
    elsewhere = tmp_path / "elsewhere" / MONTH
    elsewhere.mkdir(parents=True)
    csv_file(elsewhere, csv_rows(2))
    os.symlink(tmp_path / "elsewhere", landing / "pbi_jk")
    [entry] = [e for e in inventory(MONTH, load_sources()) if e.path.startswith("pbi_jk")]
    assert (entry.path, entry.kind, entry.status) == ("pbi_jk/2025-01", "link", "not read")
    assert "symbolic link: not followed" in entry.reason


def test_no_settle_time_reads_at_once(landing):
    spec = get_source("dukcapil")
    path = csv_file(landing / "dukcapil" / MONTH, csv_rows(2))
    future = time.time() + 3600
    os.utime(path, (future, future))
    assert settled_files(spec, MONTH, seconds=0, max_wait=0) == [path]
    with pytest.raises(NotSettled, match="modified 3600 s in the future"):
        settled_files(spec, MONTH, seconds=5, max_wait=0)
