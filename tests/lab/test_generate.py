"""The synthetic world: identity rules, shares, noise rates, coverage and monthly change."""

from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from lokal.nik import parse_nik

from dtsen_pipeline.lab.generate import generate, profile

MONTHS = ["2025-01", "2025-02", "2025-03"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("world")
    written = generate(persons=6000, start=MONTHS[0], months=3, seed=21, out=root)
    return root, {w.month: w for w in written}


def truth(root: Path, month: str, name: str) -> pd.DataFrame:
    return pd.read_parquet(root / "truth" / month / f"{name}.parquet")


def read_csv(path: Path, sep: str = ",", encoding: str = "utf-8") -> pd.DataFrame:
    return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding=encoding)


def test_every_source_writes_its_own_layout(world):
    root, written = world
    w = written[MONTHS[0]]
    assert set(w.files) == {
        "dukcapil",
        "dtks",
        "regsosek",
        "p3ke",
        "pbi_jk",
        "bpjs_tk",
        "phk",
        "dinsos_kaltim",
        "dinsos_ntt",
        "usulan_desa",
        "sanggahan",
        "verifikasi_lapangan",
    }
    assert [p.suffix for p in w.files["dtks"]] == [".csv", ".csv"]  # members and households
    assert w.files["regsosek"][0].suffix == ".parquet"
    assert w.files["p3ke"][0].suffix == ".xlsx" and w.files["dinsos_kaltim"][0].suffix == ".xlsx"
    dtks = read_csv(w.files["dtks"][0], sep=";")
    assert list(dtks.columns[:3]) == ["IDARTBDT", "IDBDT", "NIK"]
    assert all(c == c.upper() for c in dtks.columns)
    assert dtks["TGLLAHIR"].str.match(r"^(\d{2}-\d{2}-\d{4}|\d{4})$").all()
    assert "|" in w.files["bpjs_tk"][0].read_text().splitlines()[0]
    ntt = w.files["dinsos_ntt"][0].read_bytes()
    with pytest.raises(UnicodeDecodeError):  # latin-1 accents break a UTF-8 reader
        ntt.decode("utf-8") if b"\xe9" in ntt else b"\xff".decode("utf-8")
    members = duckdb.execute(
        "select sum(len(anggota)) from read_parquet(?)", [str(w.files["regsosek"][0])]
    ).fetchall()[0][0]
    assert members == w.records["regsosek"]


def test_same_seed_same_files(tmp_path):
    a = generate(persons=500, months=2, seed=3, out=tmp_path / "a")
    b = generate(persons=500, months=2, seed=3, out=tmp_path / "b")
    for wa, wb in zip(a, b):
        for source in wa.files:
            for pa_, pb_ in zip(wa.files[source], wb.files[source]):
                assert pa_.read_bytes() == pb_.read_bytes(), pa_.name
    c = generate(persons=500, months=1, seed=4, out=tmp_path / "c")[0]
    assert a[0].files["dukcapil"][0].read_bytes() != c.files["dukcapil"][0].read_bytes()


def test_dukcapil_niks_follow_the_rule(world):
    root, written = world
    dk = read_csv(written[MONTHS[0]].files["dukcapil"][0])
    assert dk["NIK"].is_unique
    for row in dk.itertuples():
        # lokal-id as an independent oracle; the extract month settles the two-digit birth year.
        info = parse_nik(row.NIK, reference_date=date(2025, 1, 31))
        assert info.valid, info.errors
        assert info.birth_date == row.TGL_LHR
        assert info.gender == ("P" if row.JENIS_KLMIN == "PEREMPUAN" else "L")
    kk = read_csv(written[MONTHS[0]].files["dukcapil"][0])["NO_KK"]
    assert kk.str.fullmatch(r"\d{16}").all()


def test_age_sex_and_desil_shares(world):
    root, _ = world
    persons = truth(root, MONTHS[0], "persons")
    alive = persons[persons["alive"]]
    age = (pd.Timestamp(MONTHS[0]) - pd.to_datetime(alive["tanggal_lahir"])).dt.days / 365.25
    assert 0.45 < alive["female"].mean() < 0.55
    assert 0.20 < (age < 15).mean() < 0.38
    assert 0.03 < (age >= 65).mean() < 0.12
    shares = alive["desil"].value_counts(normalize=True).sort_index()
    assert list(shares.index) == list(range(1, 11))
    assert shares.between(0.08, 0.12).all()


@pytest.mark.parametrize("source", ["dtks", "p3ke", "dinsos_kaltim"])
def test_noise_rates_match_the_profile(world, source):
    root, written = world
    noise = truth(root, MONTHS[0], "register_noise")
    recs = noise[(noise["source"] == source) & ~noise["duplicate"]]
    rates = profile()["sources"][source]["noise"]
    n = len(recs)
    observed = {
        "nik_missing": (recs["noise_nik"] == "nik_missing").mean(),
        "nik_invalid": (recs["noise_nik"] == "nik_invalid").mean(),
        "nik_typo": (recs["noise_nik"] == "nik_typo").mean(),
        "name_variant": (recs["noise_nama"] == "name_variant").mean(),
        "dob_placeholder": (recs["noise_tanggal_lahir"] == "dob_placeholder").mean(),
        "sex_wrong": (recs["noise_jenis_kelamin"] == "sex_wrong").mean(),
    }
    for kind, share in observed.items():
        rate = rates[kind]
        tolerance = 4 * np.sqrt(rate * (1 - rate) / n) + 0.003
        assert abs(share - rate) <= tolerance, f"{source} {kind}: {share:.4f} vs {rate}"
    dups = noise[noise["source"] == source]["duplicate"].mean()
    d = rates["duplicate_record"]
    assert abs(dups - d / (1 + d)) <= 4 * np.sqrt(d / n) + 0.003


def test_noise_shows_in_the_files(world):
    root, written = world
    dtks = read_csv(written[MONTHS[0]].files["dtks"][0], sep=";")
    noise = truth(root, MONTHS[0], "register_noise")
    dtks_noise = noise[(noise["source"] == "dtks") & noise["active"]]
    assert (dtks["NIK"] == "").sum() == (dtks_noise["noise_nik"] == "nik_missing").sum()
    broken = sum(not parse_nik(n).valid for n in dtks.loc[dtks["NIK"] != "", "NIK"])
    assert broken >= (dtks_noise["noise_nik"] == "nik_invalid").sum() > 0
    # The same NIK on different people (a head's NIK recorded for a member).
    records = truth(root, MONTHS[0], "records")
    on_file = dtks.merge(
        records[records["source"] == "dtks"], left_on="IDARTBDT", right_on="source_record_id"
    )
    shared = on_file[on_file["NIK"] != ""].groupby("NIK")["person_id"].nunique()
    assert (shared > 1).any()


def test_each_source_covers_whom_it_covers(world):
    root, written = world
    records = truth(root, MONTHS[0], "records")
    persons = truth(root, MONTHS[0], "persons")
    desil = records.groupby("source")["desil"]
    assert (records.loc[records["source"] == "dtks", "desil"] <= 4).mean() > 0.75
    assert (records.loc[records["source"] == "pbi_jk", "desil"] <= 5).mean() > 0.7
    assert (records.loc[records["source"] == "pbi_jk", "desil"] >= 8).any(), (
        "inclusion errors exist"
    )
    assert desil.size()["dukcapil"] >= persons["alive"].sum()
    assert 0 < desil.size()["phk"] < 0.02 * len(persons)
    kaltim = records[records["source"] == "dinsos_kaltim"].merge(persons, on="person_id")
    assert (
        kaltim["kode_desa_y" if "kode_desa_y" in kaltim else "kode_desa"]
        .str.startswith("64")
        .mean()
        > 0.95
    )


def test_monthly_change_is_consistent(world):
    root, written = world
    p = {m: truth(root, m, "persons").set_index("person_id") for m in MONTHS}
    # The dead stay dead.
    dead_before = p[MONTHS[1]].index[~p[MONTHS[1]]["alive"]]
    assert not p[MONTHS[2]].loc[dead_before, "alive"].any()
    died = p[MONTHS[1]].index[p[MONTHS[1]]["died_this_month"]]
    assert len(died) > 0
    # Births show up in the civil registry with a NIK dated on the birth.
    m2 = MONTHS[1]
    born = p[m2][p[m2]["born_this_month"]]
    dk = read_csv(written[m2].files["dukcapil"][0])
    dk_truth = truth(root, m2, "records").query("source == 'dukcapil'")
    dk = dk.merge(dk_truth, left_on="ID_REC", right_on="source_record_id")
    assert len(born) > 0 and set(born.index) <= set(dk["person_id"])
    # Movers appear in their new village in Dukcapil; welfare lists mostly keep the old address.
    movers = p[m2][p[m2]["moved_this_month"] & p[m2]["alive"]]
    assert len(movers) > 0
    moved = dk[dk["person_id"].isin(movers.index)]
    new_village = moved["person_id"].map(movers["kode_desa"]).str.replace(".", "", regex=False)
    assert (moved["KODE_WILAYAH"] == new_village).mean() > 0.75
    # Marriages make new KKs.
    married = p[m2].index[p[m2]["married_this_month"]]
    assert len(married) > 0
    assert (p[m2].loc[married, "family_id"] != p[MONTHS[0]].loc[married, "family_id"]).all()
    # Deltas: Regsosek's census month is full, later months carry only changed families.
    assert written[m2].records["regsosek"] < 0.2 * written[MONTHS[0]].records["regsosek"]


def test_truth_sits_beside_landing_and_covers_every_record(world):
    root, written = world
    w = written[MONTHS[0]]
    records = truth(root, MONTHS[0], "records")
    assert w.truth.is_relative_to(root / "truth")
    assert not any("truth" in str(p.relative_to(root)) for p in (root / "landing").rglob("*"))
    for source, files in w.files.items():
        assert (records["source"] == source).sum() == w.records[source]
        header = files[0].read_bytes()[:4000].decode("latin-1").lower()
        assert "person_id" not in header and "household_id" not in header
    assert records.groupby("source")["source_record_id"].apply(lambda s: s.is_unique).all()


def test_the_correction_loop_sources(world):
    """Proposals, objections and visits: their layouts, some wrong as declared, and visits that
    settle items received in earlier months with the truth's verdict (issue 19)."""
    root, written = world
    spec = profile()["koreksi"]
    k = pd.concat([truth(root, m, "koreksi").assign(month=m) for m in MONTHS], ignore_index=True)
    persons = truth(root, MONTHS[-1], "persons").set_index("person_id")
    usulan = pd.read_excel(
        written[MONTHS[1]].files["usulan_desa"][0],
        sheet_name="Usulan",
        header=3,
        dtype=str,
        engine="calamine",
    )
    assert (
        usulan.columns[0] == "No Usulan"
        and len(usulan) == written[MONTHS[1]].records["usulan_desa"]
    )
    assert set(usulan["Jenis Usulan"]) <= {"TAMBAH", "UBAH", "NONAKTIF"} and len(usulan) > 20
    items = k[k["source"].isin(["usulan_desa", "sanggahan"])]
    wrong = 1 - items.groupby("source")["benar"].mean()
    assert abs(wrong["usulan_desa"] - spec["usulan_desa"]["wrong"]) < 0.1
    assert abs(wrong["sanggahan"] - spec["sanggahan"]["wrong"]) < 0.15
    # A true death report names a dead person, a wrong one a living person.
    died = items[items["jenis"] == "meninggal"]
    assert (
        len(died)
        and (persons.loc[died["person_id"], "alive"].to_numpy() != died["benar"].to_numpy()).all()
    )
    # Objections: the subject's NIK mostly missing, the objector's there.
    sgh = read_csv(written[MONTHS[1]].files["sanggahan"][0])
    assert (sgh["NIK_TERLAPOR"] == "").mean() > 0.5 and (sgh["NIK_PELAPOR"] != "").all()
    # Visits: each referenced item came in an earlier month; the verdict agrees with the truth
    # except for the workers' declared errors.
    visits = pd.concat(
        [read_csv(written[m].files["verifikasi_lapangan"][0]).assign(month=m) for m in MONTHS]
    )
    assert set(visits["PERAN"]) == {"PENDAMPING PKH", "TKSK"}
    referred = visits[visits["ID_RUJUKAN"] != ""].merge(
        items, left_on="ID_RUJUKAN", right_on="source_record_id", suffixes=("", "_item")
    )
    assert len(referred) == (visits["ID_RUJUKAN"] != "").sum() > 20
    assert (referred["month_item"] < referred["month"]).all()
    judged = referred[referred["USULAN_SESUAI"] != ""]  # no verdict when nobody was found
    assert (referred.loc[referred["USULAN_SESUAI"] == "", "HASIL"] == "TIDAK DITEMUKAN").all()
    agree = (judged["USULAN_SESUAI"] == "YA") == judged["benar"]
    assert agree.mean() > 1 - spec["verifikasi_lapangan"]["verdict_wrong"] - 0.05
    found = visits["HASIL"] == "DITEMUKAN"
    assert (visits.loc[found, "status_rumah"] != "").all() and (
        visits.loc[~found, "status_rumah"] == ""
    ).all()
