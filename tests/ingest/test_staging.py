"""Staging normalisers with known answers, through the real dbt staging view and reference tables."""

import duckdb
import pandas as pd
import pytest

FAKE_MONTH = "2031-01"
NIK = "3276014512900001"  # a woman born 5 Dec 1990 in Kec. Pancoran Mas, Depok
COLUMNS = (
    "source_record_id",
    "nik",
    "no_kk",
    "nama",
    "tanggal_lahir",
    "jenis_kelamin",
    "kode_desa",
    "nama_desa",
    "nama_kecamatan",
    "nama_kabupaten",
    "hubungan_kk",
    "alamat",
)

CASES = {
    # id: (nik, no_kk, nama, tanggal_lahir, jenis_kelamin, kode_desa, nama_desa, nama_kecamatan, nama_kabupaten,
    #      hubungan_kk, alamat)
    "plain": (
        NIK,
        "3276011203150002",
        "Siti Rahmawati",
        "1990-12-05",
        "PEREMPUAN",
        "3276011008",
        None,
        None,
        None,
        "KEPALA KELUARGA",
        "Jl. Mawar No.1 RT 001/RW 002",
    ),
    "titles": (
        NIK,
        None,
        "Hj. SITI RAHMAWATI, S.Pd",
        "05-12-1990",
        "P",
        "32.76.01.1008",
        None,
        None,
        None,
        "2",
        "JALAN  MAWAR NO 1, RT 001/RW 002",
    ),
    "muhammad": (
        "3276010512900002",
        None,
        "Moh. Jusuf",
        "05/12/1990",
        "L",
        None,
        None,
        None,
        None,
        "Anak",
        "Gang Melati 3",
    ),
    "muhammad_full": (
        "3276010512900002",
        None,
        "MUHAMMAD YUSUF",
        "19901205",
        "1",
        None,
        None,
        None,
        None,
        "FAMILI LAIN",
        None,
    ),
    "binti": (
        NIK,
        None,
        "Siti Rahmawati binti Ahmad",
        "33212",
        "2",
        None,
        None,
        None,
        None,
        "PESERTA",
        None,
    ),  # Excel serial
    "old_spelling": (None, None, "Soekarno Djojo", "1990", "L", None, None, None, None, None, None),
    "bad_date": (
        "3276013102800001",
        None,
        "Budi",
        "31-02-1980",
        "L",
        None,
        None,
        None,
        None,
        None,
        None,
    ),
    "placeholder": (NIK, None, "Siti", "01-01-1990", "P", None, None, None, None, None, None),
    "nik_other_person": (NIK, None, "Budi", "1970-03-03", "L", None, None, None, None, None, None),
    "by_names": (
        None,
        None,
        "Ani",
        "1990-12-05",
        "P",
        None,
        "Pancoran Mas",
        "Pancoran Mas",
        "Kota Depok",
        None,
        None,
    ),
    "kab_only": (None, None, "Ani", "1990-12-05", "P", "3276", None, None, None, None, None),
    "bad_region": (
        None,
        "9999999999999999",
        "Ani",
        "1990-12-05",
        "X",
        "9999999999",
        None,
        None,
        None,
        None,
        None,
    ),
}


@pytest.fixture(scope="module")
def staged(first_month_run, data_root):
    db = data_root / "warehouse" / "dtsen.duckdb"
    with duckdb.connect(str(db)) as con:
        con.executemany(
            "insert into raw.dukcapil__individu "
            f"(source, extract_month, source_file, source_row, {', '.join(COLUMNS)}) "
            f"values ('dukcapil', '{FAKE_MONTH}', 'staging_test.csv', ?, ?, {', '.join('?' * (len(COLUMNS) - 1))})",
            [[i, key, *values] for i, (key, values) in enumerate(CASES.items())],
        )
        try:
            rows = con.execute(
                "select * from staging.stg_dukcapil__individu where extract_month = ?", [FAKE_MONTH]
            ).df()
        finally:
            con.execute("delete from raw.dukcapil__individu where extract_month = ?", [FAKE_MONTH])
    return rows.set_index("source_record_id")


def test_names(staged):
    assert staged.loc["plain", "nama_normal"] == "SITI RAHMAWATI"
    assert staged.loc["titles", "nama_normal"] == "SITI RAHMAWATI"
    assert staged.loc["muhammad", "nama_normal"] == "MUHAMMAD JUSUF"
    assert (
        staged.loc["muhammad", "nama_kunci"] == staged.loc["muhammad_full", "nama_kunci"]
    )  # Jusuf ~ Yusuf
    assert staged.loc["binti", "nama_normal"] == "SITI RAHMAWATI"
    assert staged.loc["binti", "nama_ayah"] == "AHMAD"
    assert staged.loc["old_spelling", "nama_normal"] == "SUKARNO JOJO"


def test_dates_in_every_form(staged):
    for key in ("plain", "titles", "muhammad", "muhammad_full", "binti"):
        assert str(staged.loc[key, "tanggal_lahir"])[:10] == "1990-12-05", key
    assert staged.loc["old_spelling", "tanggal_lahir_issue"] == "year_only"
    assert staged.loc["old_spelling", "tahun_lahir"] == 1990
    assert staged.loc["bad_date", "tanggal_lahir_issue"] == "not_a_date"
    assert staged.loc["placeholder", "tanggal_lahir_issue"] == "placeholder_01_01"
    assert pd.isna(staged.loc["plain", "tanggal_lahir_issue"])


def test_nik_against_the_record(staged):
    assert staged.loc["plain", "nik_valid"] and staged.loc["plain", "nik_matches_birth"]
    assert staged.loc["nik_other_person", "nik_valid"]
    assert not staged.loc["nik_other_person", "nik_birth_date_agrees"]
    assert not staged.loc["nik_other_person", "nik_sex_agrees"]
    assert staged.loc["bad_date", "nik_issue"] == "bad_birth_date"
    assert staged.loc["old_spelling", "nik_issue"] == "missing"
    assert pd.isna(staged.loc["plain", "no_kk_issue"])
    assert staged.loc["bad_region", "no_kk_issue"] == "unknown_kecamatan"


def test_sex_and_regions(staged):
    assert (
        staged.loc["muhammad_full", "jenis_kelamin"] == "L"
        and staged.loc["binti", "jenis_kelamin"] == "P"
    )
    assert staged.loc["bad_region", "jenis_kelamin_issue"] == "unknown_code"
    assert (
        staged.loc["plain", "kode_desa"] == staged.loc["titles", "kode_desa"] == "3276011008"
    )  # flat = dotted
    assert staged.loc["by_names", "kode_desa"] == "3276011008"
    assert staged.loc["by_names", "wilayah_issue"] == "resolved_from_names"
    assert (
        staged.loc["kab_only", "kode_kab"] == "3276"
        and staged.loc["kab_only", "wilayah_issue"] == "kabupaten_only"
    )
    assert staged.loc["bad_region", "wilayah_issue"] == "unknown_code"


def test_relationship_and_address(staged):
    rel = staged["hubungan_kk"].to_dict()
    assert (rel["plain"], rel["titles"], rel["muhammad"], rel["muhammad_full"], rel["binti"]) == (
        "kepala",
        "pasangan",
        "anak",
        "lainnya",
        "kepala",
    )
    assert pd.isna(rel["old_spelling"])
    # One dwelling, written two ways, is one key.
    assert (
        staged.loc["plain", "alamat_kunci"]
        == staged.loc["titles", "alamat_kunci"]
        == "JL MAWAR NO 1 RT 001/RW 002"
    )
    assert staged.loc["muhammad", "alamat_kunci"] == "GG MELATI 3"
