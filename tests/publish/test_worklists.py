"""`dtsen worklists` (issue 33): a release's correction-loop marts as the Dinsos operators' work
lists, per kabupaten and per field worker, XLSX and CSV, in Indonesian, with the head of family's
name, No. KK, street address and village from the identified database, in owner-only files outside the release.

Built from the session's first release; every row count is the marts' own for that kabupaten."""

from __future__ import annotations

import csv
import datetime as dt
import shutil
import stat
from pathlib import Path

import duckdb
import openpyxl
import pytest

from dtsen_pipeline import cli
from dtsen_pipeline.lib import paths, warehouse
from dtsen_pipeline.lib.settings import ConfigError
from dtsen_pipeline.publish import releases, worklists
from tests.conftest import MONTHS

# What a mart's row must never show an operator as it is: its English (or underscored) codes.
CODES = {
    code
    for kind in ("alasan", "status_sasaran", "penugasan", "status_keluarga")
    for code in worklists.load_labels().codes[kind]
} | {"received", "linked", "awaiting_visit", "accepted", "rejected", "not_as_claimed"}

MART_ROWS = {
    "kunjungan": "select count(*) from dtsen_daftar_verifikasi where kode_kab = ?",
    "salah_sasaran": "select count(*) from dtsen_program_sasaran where kode_kab = ? "
    "and status in ('inclusion_error', 'exclusion_error')",
    "usulan_lewat_batas": "select count(*) from dtsen_usulan where kode_kab = ? and terbuka and lewat_batas",
    "graduasi": "select count(*) from dtsen_graduasi_pendamping where kode_kab = ?",
}


def _identified():
    db = releases.release_path(MONTHS[0]) / releases.IDENTIFIED_DB
    return duckdb.connect(str(db), read_only=True)


@pytest.fixture(scope="module")
def kabupaten(first_month_run, data_root) -> str:
    """The kabupaten with the longest verification list (it has workers and every list)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DTSEN_DATA_DIR", str(data_root))
        with _identified() as con:
            return con.execute(
                "select kode_kab from dtsen_daftar_verifikasi where id_petugas is not null "
                "group by kode_kab order by count(*) desc, kode_kab limit 1"
            ).fetchall()[0][0]


@pytest.fixture()
def written(in_data_root, kabupaten, capsys) -> tuple[Path, str]:
    """`dtsen worklists --month M --kabupaten K` in this process; (its folder, its stdout)."""
    status = cli.main(["worklists", "--month", MONTHS[0], "--kabupaten", kabupaten])
    out = capsys.readouterr()
    assert status == 0, out.err
    return paths.worklists_dir() / MONTHS[0] / kabupaten, out.out


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _sheet_rows(path: Path, name: str) -> list[list[str]]:
    ws = openpyxl.load_workbook(path, read_only=True)[name]
    return [[_text(v) for v in row] for row in ws.iter_rows(values_only=True)]


def test_one_workbook_per_kabupaten_with_a_sheet_per_list(written, kabupaten):
    folder, _ = written
    labels = worklists.load_labels()
    book = folder / f"daftar_kerja_{kabupaten}_{MONTHS[0]}.xlsx"
    wb = openpyxl.load_workbook(book, read_only=True)
    assert wb.sheetnames == [labels.sheets[s.key] for s in worklists.SHEETS]
    with _identified() as con:
        for sheet in worklists.SHEETS:
            rows = _sheet_rows(book, labels.sheets[sheet.key])
            assert rows[0] == [labels.headers[c] for c in sheet.columns]
            expected = con.execute(MART_ROWS[sheet.key], [kabupaten]).fetchall()[0][0]
            assert len(rows) - 1 == expected, sheet.key
            if sheet.key in ("kunjungan", "salah_sasaran", "graduasi"):
                assert expected > 0, f"the test world has no {sheet.key} rows in {kabupaten}"
    assert {"No. KK", "Nama Kepala Keluarga", "Alamat", "Desa/Kelurahan"} <= set(rows[0])


def test_rows_carry_what_a_visit_needs_in_indonesian(written, kabupaten):
    folder, _ = written
    labels = worklists.load_labels()
    book = folder / f"daftar_kerja_{kabupaten}_{MONTHS[0]}.xlsx"
    visits = _sheet_rows(book, labels.sheets["kunjungan"])
    header, rows = visits[0], visits[1:]
    col = {h: i for i, h in enumerate(header)}
    with _identified() as con:
        families = {
            kk_id: (no_kk, nama, alamat, desa)
            for kk_id, no_kk, nama, alamat, desa in con.execute(
                "select k.dtsen_kk_id, k.no_kk, i.nama, k.alamat, k.nama_desa from dtsen_keluarga k "
                "left join dtsen_individu i on i.dtsen_id = k.kepala_dtsen_id",
            ).fetchall()
        }
    with_family = [r for r in rows if r[col["ID Sasaran"]] in families]
    assert with_family, "no visit of a known family"
    assert [r for r in with_family if r[col["No. KK"]] and r[col["Nama Kepala Keluarga"]]]
    # the street address the visit needs: most families have one (Dukcapil and Regsosek give it)
    addressed = [r for r in with_family if r[col["Alamat"]]]
    assert len(addressed) >= 0.8 * len(with_family), (len(addressed), len(with_family))
    for r in with_family:
        no_kk, nama, alamat, desa = families[r[col["ID Sasaran"]]]
        # text, every digit kept (a number cell would drop a leading zero or round 16 digits)
        assert r[col["No. KK"]] == (no_kk or "")
        assert (r[col["Nama Kepala Keluarga"]], r[col["Alamat"]], r[col["Desa/Kelurahan"]]) == (
            nama or "",
            alamat or "",
            desa or "",
        )
    reasons = set(labels.codes["alasan"].values())
    assert {r[col["Alasan Utama"]] for r in rows} <= reasons
    for r in rows:
        for item in r[col["Semua Alasan"]].split("; "):
            assert item.split(": ")[0] in reasons, item
    assert [int(r[col["Peringkat Kabupaten"]]) for r in rows] == list(range(1, len(rows) + 1))
    for path in folder.rglob("*.xlsx"):
        wb = openpyxl.load_workbook(path, read_only=True)
        for ws in wb.worksheets:
            for row in ws.iter_rows(values_only=True):
                for value in row:
                    text = _text(value)
                    assert text not in CODES, f"{path.name} {ws.title}: code {text!r} untranslated"
                    assert not any(c in text for c in CODES if "_" in c), (path.name, text)


def test_one_workbook_per_worker_holds_their_rows(written, kabupaten):
    folder, _ = written
    labels = worklists.load_labels()
    with _identified() as con:
        workers = dict(
            con.execute(
                "select id_petugas, count(*) from dtsen_daftar_verifikasi "
                "where kode_kab = ? and id_petugas is not null group by 1",
                [kabupaten],
            ).fetchall()
        )
        facilitators = dict(
            con.execute(
                "select id_petugas, count(*) from dtsen_graduasi_pendamping where kode_kab = ? group by 1",
                [kabupaten],
            ).fetchall()
        )
    assert workers
    books = {p.name for p in (folder / "petugas").glob("*.xlsx")}
    assert books == {f"daftar_kerja_{w}_{MONTHS[0]}.xlsx" for w in set(workers) | set(facilitators)}
    for worker, n in workers.items():
        book = folder / "petugas" / f"daftar_kerja_{worker}_{MONTHS[0]}.xlsx"
        rows = _sheet_rows(book, labels.sheets["kunjungan"])
        ranks = [int(r[rows[0].index("Peringkat Petugas")]) for r in rows[1:]]
        assert ranks == list(range(1, n + 1))
        assert {r[rows[0].index("ID Petugas")] for r in rows[1:]} == {worker}
    for worker, n in facilitators.items():
        book = folder / "petugas" / f"daftar_kerja_{worker}_{MONTHS[0]}.xlsx"
        assert len(_sheet_rows(book, labels.sheets["graduasi"])) - 1 == n


def test_files_are_owner_only_outside_the_release(written, data_root):
    folder, _ = written
    for d in (
        paths.identity_dir(),
        paths.worklists_dir(),
        folder.parent,
        folder,
        folder / "petugas",
    ):
        assert _mode(d) == 0o700, d
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert files and all(_mode(p) == 0o600 for p in files)
    assert not [p for p in files if ".tmp-" in p.name]
    assert paths.identity_dir() == data_root / "identitas"
    assert not folder.is_relative_to(paths.publish_dir())


def test_each_sheet_has_a_semicolon_csv_with_a_bom_and_the_same_rows(written, kabupaten):
    folder, _ = written
    labels = worklists.load_labels()
    book = folder / f"daftar_kerja_{kabupaten}_{MONTHS[0]}.xlsx"
    for sheet in worklists.SHEETS:
        path = folder / f"daftar_kerja_{kabupaten}_{MONTHS[0]}_{sheet.key}.csv"
        raw = path.read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf")
        assert raw.decode("utf-8-sig").splitlines()[0] == ";".join(
            labels.headers[c] for c in sheet.columns
        )
        with path.open(encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.reader(fh, delimiter=";"))
        assert rows == _sheet_rows(book, labels.sheets[sheet.key])


def test_no_name_or_nik_on_the_terminal(written, kabupaten):
    _, out = written
    assert kabupaten in out and "files (XLSX, and a CSV per sheet)" in out
    with _identified() as con:
        names, niks = zip(
            *con.execute(
                "select nama, nik from dtsen_individu where kode_kab = ?", [kabupaten]
            ).fetchall(),
            strict=True,
        )
    assert not [n for n in names if n and n in out]
    assert not [n for n in niks if n and n in out]


def test_one_worker_only_and_unknown_names_are_refused(
    in_data_root, kabupaten, tmp_path, monkeypatch
):
    monkeypatch.setenv("DTSEN_IDENTITY_DIR", str(tmp_path / "identitas"))
    with _identified() as con:
        worker = con.execute(
            "select min(id_petugas) from dtsen_daftar_verifikasi where kode_kab = ?", [kabupaten]
        ).fetchall()[0][0]
    _, folder, written = worklists.write_worklists(MONTHS[0], worker=worker)
    files = sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())
    assert files and all(
        str(p).startswith(f"{kabupaten}/petugas/daftar_kerja_{worker}_") for p in files
    )
    assert [w.workers for w in written] == [[worker]]
    with pytest.raises(
        LookupError,
        match=f"no work list for worker NOBODY-1 in release {MONTHS[0]}; workers: .*{worker}",
    ):
        worklists.write_worklists(MONTHS[0], worker="NOBODY-1")
    with pytest.raises(LookupError, match=f"no work list for kabupaten 9999 .* {kabupaten}"):
        worklists.write_worklists(MONTHS[0], kabupaten=["9999"])


def test_the_verification_reasons_use_one_separator(first_month_run, data_root, monkeypatch):
    monkeypatch.setenv("DTSEN_DATA_DIR", str(data_root))
    with _identified() as con:
        several = con.execute(
            "select count(*) filter (where alasan like '%; %'), count(*) filter (where alasan like '%, %') "
            "from dtsen_daftar_verifikasi"
        ).fetchall()[0]
    assert several[0] > 0 and several[1] == 0


def test_the_labels_file_is_checked(tmp_path):
    config = tmp_path / "config"
    shutil.copytree(paths.CONFIG_DIR, config)
    labels = config / worklists.LABELS_FILE
    text = labels.read_text(encoding="utf-8")
    labels.write_text(
        text.replace("  no_kk: No. KK\n", "").replace(
            "Kunjungan Verifikasi", "Kunjungan/Verifikasi"
        ),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        worklists.load_labels(config)
    message = str(caught.value)
    assert "daftar_kerja.yaml: kolom: 'no_kk' is missing" in message
    assert "lembar.kunjungan: " in message and "not an Excel sheet name" in message
    _, errors = cli.check_all(config)
    assert any("kolom: 'no_kk' is missing" in e for e in errors)
    # no code labels of its own but the proposals' sources: the others are the code lists'
    assert set(worklists.read_yaml(worklists.labels_path())) == {"lembar", "kolom", "sumber"}


def test_the_seeds_label_every_code_the_lists_show(tmp_path):
    """Labels live once, in the seeds of the release's code lists; check-config finds a gap there."""
    assert worklists.seed_problems() == []
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "verifikasi_prioritas.csv").write_text(
        "alasan,bobot,label,keterangan\nexclusion_error,3,Kesalahan eksklusi,x\nbaru,2,,y\n",
        encoding="utf-8",
    )
    rows = (worklists.SEEDS / "kode_label.csv").read_text(encoding="utf-8").splitlines()
    (seeds / "kode_label.csv").write_text(
        "\n".join(r for r in rows if not r.startswith("status_usulan,awaiting_visit,")) + "\n",
        encoding="utf-8",
    )
    assert worklists.seed_problems(seeds) == [
        "dbt_project/seeds/verifikasi_prioritas.csv: no label for 'baru' (shown as "
        "dtsen_daftar_verifikasi.alasan_utama in the work lists)",
        "dbt_project/seeds/kode_label.csv (kode_status_usulan): no label for 'awaiting_visit' "
        "(shown as dtsen_usulan.status in the work lists)",
    ]


def test_the_lists_read_the_releases_code_lists(first_month_run, data_root):
    """The identified database holds the code lists; their labels are the ones the lists show."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DTSEN_DATA_DIR", str(data_root))
        db = releases.release_path(MONTHS[0]) / releases.IDENTIFIED_DB
        with warehouse.connect(db, sandboxed=True) as con:  # as write_worklists opens it
            labels = worklists.load_labels(con=con, release=MONTHS[0])
            in_db = dict(con.execute("select kode, label from kode_status_usulan").fetchall())
    assert labels.codes["status_usulan"] == in_db
    assert labels.origin["status_usulan"] == f"code list kode_status_usulan of release {MONTHS[0]}"
    assert labels.codes["alasan"]["exclusion_error"] == "Kesalahan eksklusi"


def test_every_code_of_every_list_gets_its_label():
    """The lists' codes as the marts write them (the session's first month has no late proposal)."""
    labels = worklists.load_labels()
    row = worklists._labelled(
        {
            "sumber": "sanggahan",
            "status_usulan": "awaiting_visit",
            "penugasan": "kunjungan_sebelumnya",
            "status_sasaran": "exclusion_error",
            "status_keluarga": "hampir_graduasi",
            "alasan_utama": "meninggal_masih_menerima",
            "alasan": "meninggal_masih_menerima:dtks; exclusion_error:PKH; exclusion_error:SEMBAKO; "
            "desil_lompat:2->6",
            "desil": 3,
        },
        labels,
    )
    assert row == {
        "sumber": "Sanggahan",
        "status_usulan": "Menunggu kunjungan",
        "penugasan": "Kunjungan sebelumnya",
        "status_sasaran": "Kesalahan eksklusi",
        "status_keluarga": "Hampir graduasi",
        "alasan_utama": "Meninggal masih menerima",
        "alasan": "Meninggal masih menerima: DTKS; Kesalahan eksklusi: PKH, SEMBAKO; "
        "Desil melompat: 2 ke 6",
        "desil": 3,
    }
    with pytest.raises(ConfigError, match=r"status_usulan: no label for 'lost'.*kode_label\.csv"):
        worklists._labelled({"status_usulan": "lost"}, labels)
    with pytest.raises(ConfigError, match=r"alasan: no label for 'baru'"):
        worklists._labelled({"alasan": "baru:1"}, labels)
