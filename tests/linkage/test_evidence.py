"""The evidence a reviewer reads (issue 17): each comparison's level, named from the model Splink
saves (its public ``save_model_to_json``), not from the linker's private settings object; and the
corroboration rule uses the model's own lowest name level. Pairs crafted to reach every level of
every comparison are scored by Splink itself, so the gamma value -> label mapping is checked
against what Splink computes."""

import json
import logging
from datetime import date

import pyarrow as pa
import pytest
from splink import DuckDBAPI, Linker

from dtsen_pipeline.lib import warehouse
from dtsen_pipeline.linkage import model
from dtsen_pipeline.linkage.evidence import corroborated_sql, evidence_sql, relatives_sql


def dob(value: date | int | None) -> dict:
    """Staging's two birth-date columns: an exact date (and its year), or a year alone."""
    if isinstance(value, date):
        return {"tanggal_lahir_pasti": value, "tahun_lahir_pasti": value.year}
    return {"tanggal_lahir_pasti": None, "tahun_lahir_pasti": value}


def name(value: str | None) -> dict:
    return {"nama_normal": value, "nama_urut": " ".join(sorted(value.split())) if value else None}


BASE = {
    "source": "dukcapil",
    "nik": "3201014101900001",
    "nik_matches_birth": True,
    "no_kk": "3201010101000001",
    **name("siti aminah"),
    **dob(date(1990, 1, 2)),
    "jenis_kelamin": "P",
    "kode_desa": "3201010001",
    "kode_kab": "3201",
}
# (changes to BASE, the evidence expected, corroborated: agrees on NIK, birth date or name)
CASES = {
    "b1": (
        {},
        {
            "nik": "exact, agrees with both birth dates",
            "nama_normal": "Exact match on nama_normal",
            "tanggal_lahir": "exact",
            "jenis_kelamin": "Exact match on jenis_kelamin",
            "no_kk": "Exact match on no_kk",
            "kode_desa": "Exact match on kode_desa",
        },
        True,
    ),
    "b2": (
        {
            "nik": None,
            **name("siti aminha"),
            **dob(date(1990, 2, 1)),
            "jenis_kelamin": "L",
            "no_kk": None,
            "kode_desa": "3201010002",
        },
        {
            "nik": "nik is NULL",
            "nama_normal": "Jaro-Winkler distance of nama_normal >= 0.95",
            "tanggal_lahir": "day and month swapped",
            "jenis_kelamin": "All other comparisons",
            "no_kk": "no_kk is NULL",
            "kode_desa": "same kabupaten, another village",
        },
        True,
    ),
    # Names alike at 0.911 (their own words "siti"/"sity" at 0.883): only the lowest name level,
    # which alone corroborates the pair.
    "b3": (
        {
            "nik": "3202014101900001",
            "nik_matches_birth": False,
            **name("sity aminah"),
            **dob(date(1990, 7, 15)),
            "jenis_kelamin": None,
            "no_kk": "3201010101000002",
            "kode_desa": None,
        },
        {
            "nik": "one typo outside the serial",
            "nama_normal": "Jaro-Winkler distance of nama_normal >= 0.88",
            "tanggal_lahir": "same year, different day",
            "jenis_kelamin": "jenis_kelamin is NULL",
            "no_kk": "All other comparisons",
            "kode_desa": "kode_desa is NULL",
        },
        True,
    ),
    "b4": (
        {
            "nik_matches_birth": False,
            **name("sri aminah"),
            **dob(date(1985, 3, 3)),
            "kode_desa": "3301010001",
            "kode_kab": "3301",
        },
        {
            "nik": "exact, birth dates differ (a shared NIK)",
            "nama_normal": "a shared word only (a family name), the other words differ",
            "tanggal_lahir": "All other comparisons",
            "jenis_kelamin": "Exact match on jenis_kelamin",
            "no_kk": "Exact match on no_kk",
            "kode_desa": "All other comparisons",
        },
        False,  # one NIK, but names that say two people: a NIK borrowed inside the family
    ),
    # Names sharing one word, their own words unalike (sri/siti 0.75), and nothing else agrees:
    # not corroborated.
    "b5": (
        {"nik": "3301014101900007", **name("sri aminah"), **dob(None)},
        {
            "nik": "different beyond a typo, both Dukcapil, each its own birth date",
            "nama_normal": "a shared word only (a family name), the other words differ",
            "tanggal_lahir": "a birth date or year missing",
            "jenis_kelamin": "Exact match on jenis_kelamin",
            "no_kk": "Exact match on no_kk",
            "kode_desa": "Exact match on kode_desa",
        },
        False,
    ),
    "b6": (
        {"nik_matches_birth": False, **name(None), **dob(None)},
        {
            "nik": "exact, a birth date missing or unchecked",
            "nama_normal": "nama_normal is NULL",
            "tanggal_lahir": "a birth date or year missing",
            "jenis_kelamin": "Exact match on jenis_kelamin",
            "no_kk": "Exact match on no_kk",
            "kode_desa": "Exact match on kode_desa",
        },
        True,
    ),
    # The same words in another order (family name first) and a birth year alone: both agree.
    "b7": (
        {**name("aminah siti"), **dob(1990), "nik_matches_birth": False, "no_kk": None},
        {
            "nik": "exact, a birth date missing or unchecked",
            "nama_normal": "same words, another order",
            "tanggal_lahir": "same year, one date partial (year only or 01-01)",
            "jenis_kelamin": "Exact match on jenis_kelamin",
            "no_kk": "no_kk is NULL",
            "kode_desa": "Exact match on kode_desa",
        },
        True,
    ),
    # A placeholder date (staging keeps neither date nor year): the same NIK is not "shared".
    "b8": (
        {"nik_matches_birth": False, **dob(None)},
        {
            "nik": "exact, a birth date missing or unchecked",
            "nama_normal": "Exact match on nama_normal",
            "tanggal_lahir": "a birth date or year missing",
            "jenis_kelamin": "Exact match on jenis_kelamin",
            "no_kk": "Exact match on no_kk",
            "kode_desa": "Exact match on kode_desa",
        },
        True,
    ),
    # A short form: the other word cut to its initial. The names agree.
    "b9": (
        {**name("siti a"), **dob(None), "nik": None},
        {
            "nik": "nik is NULL",
            "nama_normal": "a short form (initial, call name, a word left out)",
            "tanggal_lahir": "a birth date or year missing",
            "jenis_kelamin": "Exact match on jenis_kelamin",
            "no_kk": "Exact match on no_kk",
            "kode_desa": "Exact match on kode_desa",
        },
        True,
    ),
    # Twins: one card, one birth date, one village, two NIKs each carrying its own birth date,
    # names sharing nothing. Corroborated by the birth date, but relatives.
    "b10": (
        {"nik": "3201014101900002", **name("budi santoso"), "jenis_kelamin": "L"},
        {
            "nik": "one typo apart, each agrees with its own birth date",
            "nama_normal": "All other comparisons",
            "tanggal_lahir": "exact",
            "jenis_kelamin": "All other comparisons",
            "no_kk": "Exact match on no_kk",
            "kode_desa": "Exact match on kode_desa",
        },
        True,
    ),
}
TYPES = {
    "nik_matches_birth": pa.bool_(),
    "tanggal_lahir_pasti": pa.date32(),
    "tahun_lahir_pasti": pa.int64(),
}


def _table(records: dict[str, dict]) -> pa.Table:
    return pa.table(
        {
            column: pa.array(
                [records[k].get(column) if column != model.UNIQUE_ID else k for k in records],
                TYPES.get(column, pa.string()),
            )
            for column in model.INPUT_COLUMNS
        }
    )


@pytest.fixture(scope="module")
def scored():
    con = warehouse.scratch()
    db_api = DuckDBAPI(connection=con)
    right = {key: {**BASE, **changes} for key, (changes, _, _) in CASES.items()}
    everyone = db_api.register(_table({"a": BASE, **right}), dataset_display_name="everyone")
    linker = Linker(everyone, model.settings(), log_level=logging.ERROR)
    linker.table_management.compute_tf_table("nama_normal")
    left = db_api.register(_table({"a": BASE}), dataset_display_name="pair_left")
    pairs = linker.inference.score_pairs(
        left, db_api.register(_table(right), dataset_display_name="pair_right")
    )
    rows = con.execute(f"""
        select {model.UNIQUE_ID}_r as key, cast({evidence_sql(linker.misc.save_model_to_json())} as varchar),
               {corroborated_sql()}, coalesce({relatives_sql()}, false)
        from {pairs.physical_name}""").fetchall()
    con.close()
    return {
        key: (json.loads(evidence), corroborated, relatives)
        for key, evidence, corroborated, relatives in rows
    }


def test_evidence_names_the_level_splink_scored_for_every_comparison(scored):
    assert scored.keys() == CASES.keys()
    for key, (_, expected, _) in CASES.items():
        assert scored[key][0] == expected, key


def test_a_pair_is_corroborated_by_names_from_the_models_lowest_name_level(scored):
    assert {key: corroborated for key, (_, corroborated, _) in scored.items()} == {
        key: corroborated for key, (_, _, corroborated) in CASES.items()
    }
    # The rule and the model share one number: the pair the model puts at its lowest name level
    # is corroborated by its names alone.
    assert model.NAME_AGREES == 0.88 and scored["b3"][:2] == (CASES["b3"][1], True)


def test_relatives_on_one_card_are_never_linked_automatically(scored):
    """b4 shares the card (and even the NIK: a member recorded with the head's) but was born five
    years apart: relatives. b5 and b10 (twins: card and birth date alike) share the card and hold
    two NIKs, each carrying its own record's birth date, with names that say two people (a shared
    word only; nothing shared). b2 has no card; b7's year agrees; b3 is on another card."""
    relatives = {key for key, (_, _, is_relative) in scored.items() if is_relative}
    assert relatives == {"b4", "b5", "b10"}


# Name pairs reaching each level of the name comparison, and whether the names agree there.
NAME_PAIRS = {
    "exact": ("siti aminah", "siti aminah", True),
    "another order": ("aminah siti", "siti aminah", True),
    "short form": ("budi s", "budi santoso", True),
    "shared word only": ("maria simanjuntak", "rosa simanjuntak", False),
    "close": ("siti aminah", "sitti amina", True),
    "alike": ("sity aminah", "siti aminha", True),
    "unalike": ("budi santoso", "agus salim", False),
}


def test_names_agree_is_the_name_comparisons_own_agreement():
    """``model.names_agree`` (the names that corroborate a pair) is true exactly at the name
    comparison's agreeing levels, scored by Splink: every level from exact to Jaro-Winkler at
    NAME_AGREES but the shared word only, never that level or the else level."""
    con = warehouse.scratch()
    db_api = DuckDBAPI(connection=con)
    left = {k: {**BASE, **name(a)} for k, (a, _, _) in NAME_PAIRS.items()}
    right = {k: {**BASE, **name(b)} for k, (_, b, _) in NAME_PAIRS.items()}
    everyone = {**{f"l:{k}": r for k, r in left.items()}, **{f"r:{k}": r for k, r in right.items()}}
    linker = Linker(
        db_api.register(_table(everyone), dataset_display_name="everyone"),
        model.settings(),
        log_level=logging.ERROR,
    )
    linker.table_management.compute_tf_table("nama_normal")
    pairs = linker.inference.score_pairs(
        db_api.register(_table({f"l:{k}": r for k, r in left.items()}), dataset_display_name="l"),
        db_api.register(_table({f"r:{k}": r for k, r in right.items()}), dataset_display_name="r"),
    )
    evidence = evidence_sql(linker.misc.save_model_to_json())
    rows = con.execute(f"""
        select {model.UNIQUE_ID}_l, {model.UNIQUE_ID}_r, json_extract_string({evidence}, '$.nama_normal'),
               coalesce({model.names_agree()}, false)
        from {pairs.physical_name}""").fetchall()
    con.close()
    found = {
        left_key[2:]: (level, agree)
        for left_key, right_key, level, agree in rows
        if left_key[2:] == right_key[2:]
    }
    assert {k: agree for k, (_, agree) in found.items()} == {
        k: agree for k, (_, _, agree) in NAME_PAIRS.items()
    }
    # Each pair reached its own level: every name level but the null level is covered.
    assert len({level for level, _ in found.values()}) == len(NAME_PAIRS)
    assert found["shared word only"][0].startswith("a shared word only")
    assert found["alike"][0].endswith(f">= {model.NAME_AGREES}")
