"""The trained model (issue 14): every level trained or fixed on purpose, and region and family
card as evidence, not vetoes. Read from the model the CLI round trip trains (tests/conftest.py), and
from crafted pairs Splink scores with it."""

import json
import logging
import math
from datetime import date

import pytest
from splink import DuckDBAPI, Linker

from dtsen_pipeline import paths, warehouse
from dtsen_pipeline.linkage import model
from dtsen_pipeline.linkage.run import cluster_threshold, corroborated_sql, relatives_sql
from tests.test_linkage_evidence import BASE, _table, dob, name

MONTH = "2025-01"


@pytest.fixture()
def trained(first_month_run, in_data_root) -> dict:
    return json.loads((paths.models_dir() / f"{model.MODEL_VERSION}_{MONTH}.json").read_text())


def _weights(trained: dict, comparison: str) -> dict[str, float]:
    (levels,) = [
        c["comparison_levels"] for c in trained["comparisons"] if c["output_column_name"] == comparison
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
    }
    everything = {
        f"{c['output_column_name']}: {lvl.get('label_for_charts') or lvl['sql_condition']}"
        for c in settings["comparisons"]
        for lvl in c["comparison_levels"]
        if not lvl.get("is_null_level")
    }
    assert set(untrained) == everything - fixed


def test_every_level_of_the_default_world_is_trained_or_fixed_but_those_it_never_shows(trained):
    """The default world writes no name in another order: that level alone stays untrained there
    (the hard world trains every level: tests/test_generate_hard.py)."""
    assert model.untrained_levels(trained) == ["nama_normal: same words, another order"]


def test_region_and_family_card_are_evidence_not_vetoes(trained):
    region, card = _weights(trained, "kode_desa"), _weights(trained, "no_kk")
    # Another village in the same kabupaten is closer than another kabupaten, never a veto.
    assert region["All other comparisons"] < region["same kabupaten, another village"] < region[
        "Exact match on kode_desa"
    ]
    assert min(region.values()) > -10 and min(card.values()) > -10


def _score(trained: dict, other: dict) -> tuple[float, bool, bool]:
    con = warehouse.scratch()
    try:
        api = DuckDBAPI(connection=con)
        linker = Linker(
            api.register(_table({"a": BASE, "b": other}), dataset_display_name="both"),
            trained,
            log_level=logging.ERROR,
        )
        linker.table_management.compute_tf_table("nama_normal")
        pairs = linker.inference.score_pairs(
            api.register(_table({"a": BASE}), dataset_display_name="l"),
            api.register(_table({"b": other}), dataset_display_name="r"),
        )
        return con.execute(
            f"select match_probability, {corroborated_sql()}, coalesce({relatives_sql()}, false) "
            f"from {pairs.physical_name}"
        ).fetchall()[0]
    finally:
        con.close()


def test_a_mover_whose_nik_name_and_birth_date_agree_links(trained):
    """Moved to another kabupaten and onto a new family card: NIK, name, birth date and sex agree."""
    mover = {**BASE, "no_kk": "3301010101000009", "kode_desa": "3301020003", "kode_kab": "3301"}
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
