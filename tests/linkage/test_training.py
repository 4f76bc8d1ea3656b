"""The trained model (issue 14): every level trained or fixed on purpose, and region and family
card as evidence, not vetoes. Read from the model the CLI round trip trains (tests/conftest.py), and
from crafted pairs Splink scores with it."""

import json
import logging
import math
from datetime import date

import pytest
from splink import DuckDBAPI, Linker

from dtsen_pipeline.lib import paths, warehouse
from dtsen_pipeline.linkage import model
from dtsen_pipeline.linkage.config import cluster_threshold
from dtsen_pipeline.linkage.evidence import corroborated_sql, relatives_sql
from tests.linkage.test_evidence import BASE, _table, dob, name

MONTH = "2025-01"


@pytest.fixture()
def trained(first_month_run, in_data_root) -> dict:
    return json.loads((paths.models_dir() / f"{model.MODEL_VERSION}_{MONTH}.json").read_text())


def _weights(trained: dict, comparison: str) -> dict[str, float]:
    (levels,) = [
        c["comparison_levels"]
        for c in trained["comparisons"]
        if c["output_column_name"] == comparison
    ]
    return {
        lvl.get("label_for_charts") or lvl["sql_condition"]: math.log2(
            lvl["m_probability"] / lvl["u_probability"]
        )
        for lvl in levels
        if not lvl.get("is_null_level")
    }


def test_untrained_levels_are_those_without_m_or_u():
    settings = model.settings().get_settings("duckdb").as_dict()
    untrained = model.untrained_levels(settings)
    # Before training, only the levels fixed in model.py have both probabilities.
    fixed = {
        "nik: exact, birth dates differ (a shared NIK)",  # m and u fixed
        "nama_normal: a word left out, one card and birth date (twins?)",  # m = u fixed
        "nik: one typo apart, each agrees with its own birth date",  # m and u fixed
    }
    everything = {
        f"{c['output_column_name']}: {lvl.get('label_for_charts') or lvl['sql_condition']}"
        for c in settings["comparisons"]
        for lvl in c["comparison_levels"]
        if not lvl.get("is_null_level")
    }
    assert set(untrained) == everything - fixed


def test_no_level_is_left_at_splinks_defaults(trained):
    """The default world writes no name in another order, so no training pair reaches that level:
    it is filled (model.fill_untrained) with the smallest m trained for names, not Splink's default
    (0.95 / levels). The hard world trains it (tests/lab/test_generate_hard.py)."""
    assert model.untrained_levels(trained) == []
    (names,) = [c for c in trained["comparisons"] if c["output_column_name"] == "nama_normal"]
    m = {
        lvl.get("label_for_charts"): lvl.get("m_probability") for lvl in names["comparison_levels"]
    }
    assert m["same words, another order"] == min(v for v in m.values() if v is not None)


def test_fill_untrained_gives_the_levels_training_missed_a_deliberate_value():
    settings = model.settings().get_settings("duckdb").as_dict()
    for comparison in settings["comparisons"]:
        for level in comparison["comparison_levels"]:
            if level.get("sql_condition") == '"nama_normal_l" = "nama_normal_r"':
                level.update(m_probability=0.8, u_probability=0.001)
    filled, names = model.fill_untrained(settings, pairs_sampled=1_000_000)
    assert names and "nama_normal: Exact match on nama_normal" not in names
    assert model.untrained_levels(filled) == []
    for comparison in filled["comparisons"]:
        for level in comparison["comparison_levels"]:
            label = f"{comparison['output_column_name']}: {level.get('label_for_charts')}"
            if label == "nama_normal: same words, another order":
                assert level["m_probability"] == 0.8  # the only m trained for names
                # u bounded by 1 / pairs sampled (1e-6), but raised so the level weighs no more
                # than the exact name above it (log2(0.8 / 0.001)).
                assert level["u_probability"] == pytest.approx(0.001)


def test_a_filled_level_never_weighs_more_than_the_closer_one_above_it():
    """A month whose random pairs hold no pair of the same kabupaten in another village: u is
    filled so that level weighs what an exact village does, and not an ulp more (these m and u,
    from a generated month, round m / 2**weight so that it did)."""
    settings = model.settings().get_settings("duckdb").as_dict()
    (region,) = [c for c in settings["comparisons"] if c["output_column_name"] == "kode_desa"]
    (exact,) = [
        lvl
        for lvl in region["comparison_levels"]
        if lvl["sql_condition"] == '"kode_desa_l" = "kode_desa_r"'
    ]
    exact.update(m_probability=0.9999995302331206, u_probability=0.25271340281084476)
    filled, _ = model.fill_untrained(settings, pairs_sampled=1_000_000)
    (region,) = [c for c in filled["comparisons"] if c["output_column_name"] == "kode_desa"]
    weights = [
        math.log2(lvl["m_probability"] / lvl["u_probability"])
        for lvl in region["comparison_levels"]
        if not lvl.get("is_null_level")
    ]
    assert weights[1] <= weights[0] and weights[1] == pytest.approx(weights[0])


def test_a_fixed_level_against_does_not_bound_the_level_below_it():
    """An exact NIK with a birth date missing, when random sampling drew no such pair: its u is
    bounded by the exact NIK that agrees with both birth dates (the nearest trained level above),
    not by the shared-NIK level fixed at -2 bits between them (in a generated 100k month that
    bound turned an exact NIK into evidence against)."""
    settings = model.settings().get_settings("duckdb").as_dict()
    (nik,) = [c for c in settings["comparisons"] if c["output_column_name"] == "nik"]
    levels = {lvl.get("label_for_charts"): lvl for lvl in nik["comparison_levels"]}
    levels["exact, agrees with both birth dates"].update(m_probability=0.92, u_probability=7e-6)
    levels["exact, a birth date missing or unchecked"].update(m_probability=0.023)
    filled, names = model.fill_untrained(settings, pairs_sampled=2_000_000)
    assert "nik: exact, a birth date missing or unchecked" in names
    (nik,) = [c for c in filled["comparisons"] if c["output_column_name"] == "nik"]
    w = {
        lvl.get("label_for_charts"): math.log2(lvl["m_probability"] / lvl["u_probability"])
        for lvl in nik["comparison_levels"]
        if not lvl.get("is_null_level")
    }
    # u = 1 / 2M pairs: log2(0.023 * 2e6) = 15.5 bits, under the 17.0 of the level above.
    assert w["exact, a birth date missing or unchecked"] == pytest.approx(math.log2(0.023 * 2e6))
    assert (
        w["exact, birth dates differ (a shared NIK)"]
        < 0
        < w["exact, a birth date missing or unchecked"]
    )
    assert w["exact, a birth date missing or unchecked"] < w["exact, agrees with both birth dates"]


def test_region_and_family_card_are_evidence_not_vetoes(trained):
    region, card = _weights(trained, "kode_desa"), _weights(trained, "no_kk")
    # Another village in the same kabupaten is closer than another kabupaten, never a veto.
    assert (
        region["All other comparisons"]
        < region["same kabupaten, another village"]
        <= region["Exact match on kode_desa"]
    )
    assert min(region.values()) > -10 and min(card.values()) > -10


def _score(trained: dict, other: dict) -> tuple[float, bool, bool]:
    con = warehouse.scratch()
    try:
        api = DuckDBAPI(connection=con)
        linker = Linker(
            api.register(_table({"a": BASE, "b": other}), dataset_display_name="pair_records"),
            trained,
            log_level=logging.ERROR,
        )
        linker.table_management.compute_tf_table("nama_normal")
        pairs = linker.inference.score_pairs(
            api.register(_table({"a": BASE}), dataset_display_name="pair_l"),
            api.register(_table({"b": other}), dataset_display_name="pair_r"),
        )
        return con.execute(
            f"select match_probability, {corroborated_sql()}, coalesce({relatives_sql()}, false) "
            f"from {pairs.physical_name}"
        ).fetchall()[0]
    finally:
        con.close()


def test_a_mover_whose_nik_name_and_birth_date_agree_links(trained):
    """Moved to another kabupaten and onto a new family card, the name typed again there with a
    slip: NIK, birth date and sex agree. (Two records only: an exact name would be scored against
    a term-frequency table of these two, where it is as common as a name can be.)"""
    mover = {
        **BASE,
        **name("siti aminnah"),
        "no_kk": "3301010101000009",
        "kode_desa": "3301020003",
        "kode_kab": "3301",
    }
    probability, corroborated, relatives = _score(trained, mover)
    assert corroborated and not relatives
    assert probability >= cluster_threshold()


def test_two_members_of_one_card_and_village_do_not_link(trained):
    """Same card, village and marga, the head's NIK recorded for a son born 25 years later."""
    son = {
        **BASE,
        **name("budi aminah"),
        **dob(date(2015, 6, 9)),
        "jenis_kelamin": "L",
        "nik_matches_birth": False,
    }
    probability, corroborated, relatives = _score(trained, son)
    assert relatives and not corroborated
    assert probability < cluster_threshold()


def test_the_weights_table_says_how_each_level_was_set(trained, tmp_path):
    rows = model.level_weights(trained, filled=["nama_normal: same words, another order"])
    how = {f"{c}: {label}": set_by for c, label, _, _, _, set_by in rows}
    assert {k for k, v in how.items() if v == "fixed"} == {
        "nik: exact, birth dates differ (a shared NIK)",
        "nik: one typo outside the serial",
        "nik: different beyond a typo, both Dukcapil, each its own birth date",
        "nik: different beyond a typo, each agrees with its own birth date",
        "nik: one typo apart, each agrees with its own birth date",
        "nama_normal: a word left out, one card and birth date (twins?)",
        "no_kk: All other comparisons",
        "kode_desa: same kabupaten, another village",
        "kode_desa: All other comparisons",
    }
    assert how["nama_normal: same words, another order"] == "filled"
    assert how["tanggal_lahir: exact"] == "trained"
    for _, _, m, u, weight, _ in rows:
        assert weight == pytest.approx(math.log2(m / u), abs=0.01)
    chart = model.weights_chart(
        paths.models_dir() / f"{model.MODEL_VERSION}_{MONTH}.json", tmp_path / "w.png"
    )
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and chart.stat().st_size > 10_000
