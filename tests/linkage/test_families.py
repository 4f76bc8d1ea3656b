"""Families and households from linked persons: the rules of config/linkage.yaml, with known answers."""

import duckdb
import pytest

from dtsen_pipeline.linkage.families import link_families

KK_A = "3276010101200001"  # the parents' card
KK_B = "3276010202240002"  # the married son's new card (Dukcapil knows it; DTKS still has KK_A)
KK_C = "3276010303220003"  # a family sharing the parents' dwelling (same DTKS household)
KK_D = "3276010404210004"  # a neighbour: same village, own address


@pytest.fixture()
def con():
    with duckdb.connect() as c:
        c.execute("""
            create schema linkage; create schema intermediate;
            create table linkage.person_clusters (extract_month varchar, record_key varchar, source varchar,
                                                  cluster_id varchar, dtsen_id varchar);
            create table intermediate.int_identitas (
                extract_month varchar, record_key varchar, source varchar, no_kk varchar, no_kk_issue varchar,
                id_keluarga_sumber varchar, id_rumah_tangga varchar, alamat_kunci varchar, kode_desa varchar,
                hubungan_kk varchar)""")
        yield c


def add(
    con,
    month,
    dtsen_id,
    source,
    no_kk=None,
    *,
    issue=None,
    family=None,
    ruta=None,
    alamat=None,
    rel=None,
    desa="3276011001",
):
    key = f"{source}:{dtsen_id}:{no_kk}"
    con.execute(
        "insert into linkage.person_clusters values (?, ?, ?, ?, ?)",
        [month, key, source, dtsen_id, dtsen_id],
    )
    con.execute(
        "insert into intermediate.int_identitas values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [month, key, source, no_kk, issue, family, ruta, alamat, desa, rel],
    )


def build(con, month):
    add(con, month, "father", "dukcapil", KK_A, alamat="JL MAWAR NO 1", rel="kepala")
    add(con, month, "father", "dtks", KK_A, ruta="BDT1", rel="kepala")
    add(con, month, "mother", "dukcapil", KK_A, alamat="JL MAWAR NO 1", rel="pasangan")
    add(con, month, "mother", "dtks", KK_A, ruta="BDT1", rel="pasangan")
    # The son married and moved out: Dukcapil has his new card and address; DTKS is stale.
    add(con, month, "son", "dukcapil", KK_B, alamat="JL MELATI NO 9", rel="kepala")
    add(con, month, "son", "dtks", KK_A, ruta="BDT1", rel="anak")
    # Only P3KE knows this child, with a KK that fails the structure check, in the family's P3KE group.
    add(con, month, "child", "p3ke", "12345", issue="wrong_length", family="KEL-1", rel="anak")
    add(con, month, "mother", "p3ke", KK_A, family="KEL-1", rel="pasangan")
    # A second KK in the parents' dwelling, known to be so by DTKS's household id only.
    add(con, month, "lodger", "dukcapil", KK_C, alamat="JL MAWAR NO 1A", rel="kepala")
    add(con, month, "lodger", "dtks", KK_C, ruta="BDT1", rel="kepala")
    add(con, month, "neighbour", "dukcapil", KK_D, alamat="JL MAWAR NO 2", rel="kepala")
    # Two KKs at one address, no household id anywhere: the address joins them.
    add(con, month, "aunt", "dukcapil", KK_D[:-1] + "5", alamat="JL MAWAR NO 2", rel="kepala")
    # Nobody knows a KK for this person.
    add(con, month, "drifter", "bpjs_tk")


def families(con, month):
    return dict(
        con.execute(
            "select dtsen_id, dtsen_kk_id from linkage.family_members where extract_month = ?",
            [month],
        ).fetchall()
    )


def test_family_rules_and_households(con):
    build(con, "2025-01")
    stats = link_families(con, "2025-01")
    fam = families(con, "2025-01")
    basis = dict(con.execute("select dtsen_id, kk_basis from linkage.family_members").fetchall())
    rel = dict(con.execute("select dtsen_id, hubungan_kk from linkage.family_members").fetchall())
    # Dukcapil's card wins over DTKS's stale one; the child joins the family of its P3KE group.
    assert fam["father"] == fam["mother"] == fam["child"] != fam["son"]
    assert (
        basis["son"] == "kk_dukcapil"
        and basis["child"] == "source_family"
        and basis["drifter"] == "none"
    )
    # The relationship comes from records that agree with the chosen card: the son heads his own KK.
    assert rel["son"] == "kepala" and rel["child"] == "anak"
    households = dict(
        con.execute("select dtsen_kk_id, dtsen_rt_id from linkage.families").fetchall()
    )
    # DTKS household BDT1 joins the parents' and the lodger's KKs, but not the son's: his DTKS record
    # carries the old card, so it says nothing about where his new family lives.
    assert households[fam["father"]] == households[fam["lodger"]] != households[fam["son"]]
    assert households[fam["neighbour"]] == households[fam["aunt"]] != households[fam["father"]]
    assert (
        stats["families"] == 6
        and stats["households"] == 4
        and stats["households of several KKs"] == 2
    )
    heads = dict(
        con.execute("select dtsen_kk_id, kepala_dtsen_id from linkage.families").fetchall()
    )
    assert heads[fam["father"]] == "father" and heads[fam["son"]] == "son"
    # Each source's KK numbers lead to the family most of its records joined (DTKS's KK_A: the parents').
    crosswalk = dict(
        con.execute(
            "select source || ':' || no_kk, dtsen_kk_id from linkage.kk_crosswalk"
        ).fetchall()
    )
    assert (
        crosswalk[f"dtks:{KK_A}"] == fam["father"] and crosswalk[f"dukcapil:{KK_B}"] == fam["son"]
    )
    # No id is derived from a KK number.
    assert not any(kk[2:] in kid for kid in fam.values() for kk in (KK_A, KK_B, KK_C, KK_D))


def test_family_ids_are_stable_across_months(con):
    build(con, "2025-01")
    link_families(con, "2025-01")
    build(con, "2025-02")
    add(con, "2025-02", "baby", "dukcapil", KK_B, alamat="JL MELATI NO 9", rel="anak")
    link_families(con, "2025-02")
    m1, m2 = families(con, "2025-01"), families(con, "2025-02")
    assert all(m2[p] == m1[p] for p in m1)
    assert m2["baby"] == m2["son"]
    # Re-running a month replaces it.
    link_families(con, "2025-02")
    assert con.execute(
        "select count(*) from linkage.family_members where extract_month = '2025-02'"
    ).fetchall()[0][0] == len(m2)
