"""The staging NIK check (dbt macro + Kepmendagri reference) agrees with lokal-id's parse_nik."""

import random
from datetime import date

import duckdb
from lokal.nik import parse_nik

FAKE_MONTH = "2030-01"  # a month no other test uses; its end is the reference for the century


def _inputs(kecamatan: list[str], n: int = 4000) -> list[str]:
    rng = random.Random(12)
    out = []
    for i in range(n):
        kind = i % 5
        if kind == 0:  # well-formed: a real kecamatan, a real date, a serial
            d = date(1940, 1, 1).toordinal() + rng.randrange(30000)
            day = date.fromordinal(d)
            dd = day.day + (40 if rng.random() < 0.5 else 0)
            out.append(
                f"{rng.choice(kecamatan)}{dd:02d}{day.month:02d}{day.year % 100:02d}{rng.randrange(1, 10000):04d}"
            )
        elif kind == 1:  # any 16 digits
            out.append("".join(rng.choice("0123456789") for _ in range(16)))
        elif kind == 2:  # a well-formed one with a digit changed
            base = out[-2] if len(out) > 2 else "3276014512900001"
            pos = rng.randrange(16)
            out.append(base[:pos] + str(rng.randrange(10)) + base[pos + 1 :])
        elif kind == 3:  # impossible dates, 00 codes, serial 0000, leap days
            base = list(out[-3] if len(out) > 3 else "3276014512900001")
            trap = rng.choice(["3102", "2902", "0000", "7213", "3202"])
            base[6:10] = trap if rng.random() < 0.7 else base[6:10]
            if rng.random() < 0.3:
                base[12:16] = "0000"
            if rng.random() < 0.2:
                base[2:4] = "00"
            out.append("".join(base))
        else:  # wrong length
            out.append("".join(rng.choice("0123456789") for _ in range(rng.choice([14, 15, 17]))))
    return out


def test_staging_nik_validity_agrees_with_lokal(first_month_run, data_root):
    db = data_root / "warehouse" / "dtsen.duckdb"
    with duckdb.connect(str(db)) as con:
        kecamatan = [
            r[0]
            for r in con.execute("select distinct kode_kec from reference.ref_wilayah").fetchall()
        ]
        niks = _inputs(kecamatan)
        con.execute("delete from raw.dukcapil__individu where extract_month = ?", [FAKE_MONTH])
        con.executemany(
            "insert into raw.dukcapil__individu "
            "(source, extract_month, source_file, source_row, source_record_id, nik, nama) "
            "values ('dukcapil', ?, 'nik_test.csv', ?, ?, ?, 'X')",
            [[FAKE_MONTH, i, f"T{i}", nik] for i, nik in enumerate(niks)],
        )
        try:
            staged = dict(
                con.execute(
                    "select nik, nik_issue from staging.stg_dukcapil__individu where extract_month = ?",
                    [FAKE_MONTH],
                ).fetchall()
            )
        finally:
            con.execute("delete from raw.dukcapil__individu where extract_month = ?", [FAKE_MONTH])
    assert len(staged) == len(set(niks))
    reference = date(2030, 1, 31)
    disagreements = [
        (n, staged[n], parse_nik(n, reference_date=reference).errors)
        for n in set(niks)
        if (staged[n] is None) != parse_nik(n, reference_date=reference).valid
    ]
    assert disagreements == []
    valid = sum(staged[n] is None for n in staged)
    assert 0.15 * len(staged) < valid < 0.6 * len(staged)  # both outcomes well represented
