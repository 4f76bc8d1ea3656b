"""Staging normalisers with known answers, through the real dbt staging view and reference tables."""

import duckdb
import pandas as pd
import pytest

from dtsen_pipeline.ingest.sources import CANONICAL_COLUMNS, STAGED_COLUMNS

FAKE_MONTH = "2031-01"
NIK = "3276014512900001"  # a woman born 5 Dec 1990 in Kec. Pancoran Mas, Depok
# id (the record's source_record_id): the canonical columns given; every other canonical column of
# the registry's schema (CANONICAL_COLUMNS) is null.
CASES = {
    "plain": {
        "nik": NIK,
        "no_kk": "3276011203150002",
        "nama": "Siti Rahmawati",
        "tanggal_lahir": "1990-12-05",
        "jenis_kelamin": "PEREMPUAN",
        "kode_desa": "3276011008",
        "hubungan_kk": "KEPALA KELUARGA",
        "alamat": "Jl. Mawar No.1 RT 001/RW 002",
    },
    "titles": {
        "nik": NIK,
        "nama": "Hj. SITI RAHMAWATI, S.Pd",
        "tanggal_lahir": "05-12-1990",
        "jenis_kelamin": "P",
        "kode_desa": "32.76.01.1008",
        "hubungan_kk": "2",
        "alamat": "JALAN  MAWAR NO 1, RT 001/RW 002",
    },
    "muhammad": {
        "nik": "3276010512900002",
        "nama": "Moh. Jusuf",
        "tanggal_lahir": "05/12/1990",
        "jenis_kelamin": "L",
        "hubungan_kk": "Anak",
        "alamat": "Gang Melati 3",
    },
    "muhammad_full": {
        "nik": "3276010512900002",
        "nama": "MUHAMMAD YUSUF",
        "tanggal_lahir": "19901205",
        "jenis_kelamin": "1",
        "hubungan_kk": "FAMILI LAIN",
    },
    "binti": {
        "nik": NIK,
        "nama": "Siti Rahmawati binti Ahmad",
        "tanggal_lahir": "33212",  # Excel serial
        "jenis_kelamin": "2",
        "hubungan_kk": "PESERTA",
    },
    "old_spelling": {"nama": "Soekarno Djojo", "tanggal_lahir": "1990", "jenis_kelamin": "L"},
    "bad_date": {
        "nik": "3276013102800001",
        "nama": "Budi",
        "tanggal_lahir": "31-02-1980",
        "jenis_kelamin": "L",
    },
    "placeholder": {
        "nik": NIK,
        "nama": "Siti",
        "tanggal_lahir": "01-01-1990",
        "jenis_kelamin": "P",
    },
    # Indonesian registers' other placeholders for an unknown day: 1 July and 31 December.
    "placeholder_01_07": {"nama": "Siti", "tanggal_lahir": "01-07-1985", "jenis_kelamin": "P"},
    "placeholder_31_12": {"nama": "Siti", "tanggal_lahir": "1985-12-31", "jenis_kelamin": "P"},
    # Not a placeholder: another day of July, the first of another month.
    "near_placeholder": {"nama": "Siti", "tanggal_lahir": "02-07-1985", "jenis_kelamin": "P"},
    "first_of_month": {"nama": "Siti", "tanggal_lahir": "01-12-1985", "jenis_kelamin": "P"},
    "nik_other_person": {
        "nik": NIK,
        "nama": "Budi",
        "tanggal_lahir": "1970-03-03",
        "jenis_kelamin": "L",
    },
    "by_names": {
        "nama": "Ani",
        "tanggal_lahir": "1990-12-05",
        "jenis_kelamin": "P",
        "nama_desa": "Pancoran Mas",
        "nama_kecamatan": "Pancoran Mas",
        "nama_kabupaten": "Kota Depok",
    },
    "kab_only": {
        "nama": "Ani",
        "tanggal_lahir": "1990-12-05",
        "jenis_kelamin": "P",
        "kode_desa": "3276",
    },
    # Letters that only look Latin (Cyrillic а, Greek Κ, fullwidth), and digits of other scripts.
    "look_alikes": {
        "nama": "F\u0430th\u0430n M\u0430rdhiy\u0430h \u039aus\uff35m\u00e1",
        "nik": "\uff13\uff12\uff17\uff16\uff10\uff11\uff14\uff15\uff11\uff12\uff19\uff10"
        "\uff10\uff10\uff10\uff11",
        "no_kk": "\u0663\u0662\u0667\u0666\u0660\u0661\u0661\u0662\u0660\u0663\u0661\u0665"
        "\u0660\u0660\u0660\u0662",
        "jenis_kelamin": "P",
    },
    "other_script": {"nama": "\u0424\u0430\u0442\u0438\u043c\u0430 Siti", "jenis_kelamin": "P"},
    "bad_region": {
        "no_kk": "9999999999999999",
        "nama": "Ani",
        "tanggal_lahir": "1990-12-05",
        "jenis_kelamin": "X",
        "kode_desa": "9999999999",
    },
}

# A default date clerks type for "unknown" (Independence Day), on as many records as dbt var
# frequent_birth_date's min_records (10); the month's other dates are far fewer than a tenth of a
# century's days, so that minimum is the bar.
FREQUENT = {
    f"frequent_{i:02d}": {"nama": f"Warga {i}", "tanggal_lahir": "17-08-1945", "jenis_kelamin": "L"}
    for i in range(10)
}
CASES.update(FREQUENT)


@pytest.fixture(scope="module")
def staged(first_month_run, data_root):
    db = data_root / "warehouse" / "dtsen.duckdb"
    with duckdb.connect(str(db)) as con:
        con.executemany(
            "insert into raw.dukcapil__individu "
            f"(source, extract_month, source_file, source_row, {', '.join(CANONICAL_COLUMNS)}) "
            f"values ('dukcapil', '{FAKE_MONTH}', 'staging_test.csv', ?, "
            f"{', '.join('?' * len(CANONICAL_COLUMNS))})",
            [
                [i, *({"source_record_id": key, **given}.get(c) for c in CANONICAL_COLUMNS)]
                for i, (key, given) in enumerate(CASES.items())
            ],
        )
        try:
            rows = con.execute(
                "select * from staging.stg_dukcapil__individu where extract_month = ?", [FAKE_MONTH]
            ).df()
        finally:
            con.execute("delete from raw.dukcapil__individu where extract_month = ?", [FAKE_MONTH])
    return rows.set_index("source_record_id")


def test_the_staging_model_returns_the_declared_staged_schema(staged):
    """A staging model's columns, in order, are those declared once (sources.STAGED_COLUMNS)."""
    declared = [c.name for c in STAGED_COLUMNS]
    assert list(staged.columns) == [c for c in declared if c != staged.index.name]


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
    # Cyrillic and Greek look-alikes, fullwidth letters and accents are read as the Latin letters
    # they show (they used to be stripped: F TH N M RDHIY).
    assert staged.loc["look_alikes", "nama_normal"] == "FATHAN MARDHIYAH KUSUMA"
    assert staged.loc["look_alikes", "nama_issue"] == "look_alike_letters"
    # Letters with no Latin look-alike (Cyrillic Ф, т, и) are still dropped, and flagged.
    assert staged.loc["other_script", "nama_issue"] == "non_latin_letters"
    assert pd.isna(staged.loc["plain", "nama_issue"]) and pd.isna(
        staged.loc["titles", "nama_issue"]
    )


def test_digits_of_other_scripts_are_flagged_as_such(staged):
    """Fullwidth and Arabic-Indic digits are kept and flagged, not dropped and called missing."""
    assert staged.loc["look_alikes", "nik_issue"] == "non_ascii_digits"
    assert staged.loc["look_alikes", "no_kk_issue"] == "non_ascii_digits"
    assert (
        len(staged.loc["look_alikes", "nik"]) == 16 and not staged.loc["look_alikes", "nik_valid"]
    )


def test_dates_in_every_form(staged):
    for key in ("plain", "titles", "muhammad", "muhammad_full", "binti"):
        assert str(staged.loc[key, "tanggal_lahir"])[:10] == "1990-12-05", key
    assert staged.loc["old_spelling", "tanggal_lahir_issue"] == "year_only"
    assert staged.loc["old_spelling", "tahun_lahir"] == 1990
    assert staged.loc["bad_date", "tanggal_lahir_issue"] == "not_a_date"
    assert staged.loc["placeholder", "tanggal_lahir_issue"] == "placeholder_01_01"


def test_a_date_the_source_repeats_implausibly_often_is_its_default_for_unknown(staged):
    """A date on min_records (10) records of the source's month is flagged frequent_date, and
    linkage gets neither the date nor its year; a date on fewer is a date."""
    for key in FREQUENT:
        assert staged.loc[key, "tanggal_lahir_issue"] == "frequent_date", key
        assert pd.isna(staged.loc[key, "tanggal_lahir_pasti"]), key
        assert pd.isna(staged.loc[key, "tahun_lahir_pasti"]), key
        assert staged.loc[key, "tahun_lahir"] == 1945, key
    common = staged["tanggal_lahir"].astype(str).str[:10] == "1990-12-05"
    assert 5 <= common.sum() < 10  # the cases' usual date: repeated, but under the bar
    assert staged.loc[common, "tanggal_lahir_issue"].isna().all()
    assert str(staged.loc["plain", "tanggal_lahir_pasti"])[:10] == "1990-12-05"


def test_placeholder_days_keep_their_year_only(staged):
    """01-01, 01-07 and 31-12 (dbt var placeholder_birth_day_months) are flagged each by its own
    issue; linkage gets their year (tahun_lahir_pasti), never the date (tanggal_lahir_pasti)."""
    for key, issue in (
        ("placeholder", "placeholder_01_01"),
        ("placeholder_01_07", "placeholder_01_07"),
        ("placeholder_31_12", "placeholder_31_12"),
    ):
        assert staged.loc[key, "tanggal_lahir_issue"] == issue, key
        assert pd.isna(staged.loc[key, "tanggal_lahir_pasti"]), key
    assert staged.loc["placeholder", "tahun_lahir_pasti"] == 1990
    assert staged.loc["placeholder_01_07", "tahun_lahir_pasti"] == 1985
    assert staged.loc["placeholder_31_12", "tahun_lahir_pasti"] == 1985
    for key, day in (("near_placeholder", "1985-07-02"), ("first_of_month", "1985-12-01")):
        assert pd.isna(staged.loc[key, "tanggal_lahir_issue"]), key
        assert str(staged.loc[key, "tanggal_lahir_pasti"])[:10] == day, key
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
