"""Each phase of ``link_month`` (issue 14, point 2) on a few hand-built records: train or load, score
full or incremental, decisions, corroboration, clustering, explanation.

Training on eight records teaches nothing, so the phases after it score with a model whose every
level has a set m and u (``fixed_model``): a pair's probability follows from the levels it reaches,
and each test can say which pairs must link."""

from __future__ import annotations

import json
import logging
import re
from datetime import date

import pyarrow as pa
import pytest
from splink import DuckDBAPI, Linker

from dtsen_pipeline.lib import warehouse
from dtsen_pipeline.linkage import model
from dtsen_pipeline.linkage.attach_only import attach_edges, carried_on_registers, drop_unattached
from dtsen_pipeline.linkage.clustering import Touched, cluster, split_touched
from dtsen_pipeline.linkage.config import cluster_threshold, uncorroborated_max
from dtsen_pipeline.linkage.decisions import (
    DecisionsTooLargeError,
    check_accepted_sizes,
    decision_edges,
    normalise_decisions,
)
from dtsen_pipeline.linkage.evidence import corroborate
from dtsen_pipeline.linkage.explanations import explain
from dtsen_pipeline.linkage.run import link_month
from dtsen_pipeline.linkage.scoring import fingerprint_sql, score_full, score_incremental
from dtsen_pipeline.linkage.training import (
    EM_NEVER_SAMPLED,
    EM_SESSIONS,
    em_sessions,
    load_or_train,
    train,
)
from dtsen_pipeline.linkage.workspace import Workspace
from tests.linkage.test_evidence import BASE, _table, dob, name


def person(nik: str | None, full_name: str, born: date | int | None, kk: str, **other) -> dict:
    return {**BASE, "nik": nik, **name(full_name), **dob(born), "no_kk": kk, **other}


# Four pairs, one family card each (blocking on no_kk finds every pair, and no pair across cards).
RECORDS = {
    # One person: NIK, name and birth date agree.
    "dukcapil:1": person("3201014101900001", "siti aminah", date(1990, 1, 1), "K1"),
    "dtks:1": person("3201014101900001", "siti aminah", date(1990, 1, 1), "K1"),
    # Only the household agrees (card, village, sex): no NIK, no birth date, other names.
    "dukcapil:2": person(None, "budi santoso", None, "K2", jenis_kelamin="L"),
    "dtks:2": person(None, "agus salim", None, "K2", jenis_kelamin="L"),
    # Relatives: one card, the head's NIK on both, one name, born five years apart.
    "dukcapil:3": person(
        "3201010101900003", "maria simanjuntak", 1990, "K3", nik_matches_birth=False
    ),
    "dtks:3": person("3201010101900003", "maria simanjuntak", 1985, "K3", nik_matches_birth=False),
    # The same as the relatives but born the same year: one person.
    "dukcapil:4": person("3201010101900004", "rina wati", 1990, "K4", nik_matches_birth=False),
    "dtks:4": person("3201010101900004", "rina wati", 1990, "K4", nik_matches_birth=False),
}
ONE_PERSON, HOUSEHOLD_ONLY, RELATIVES, SAME_YEAR = (
    ("dtks:1", "dukcapil:1"),
    ("dtks:2", "dukcapil:2"),
    ("dtks:3", "dukcapil:3"),
    ("dtks:4", "dukcapil:4"),
)
NAMES = ("siti aminah", "budi santoso", "agus salim", "rina wati", "wayan sudana")
# Levels that speak against a match, whatever they are named in the model's settings.
AGAINST = ("a shared word only", "one typo apart, each agrees with its own birth date")


@pytest.fixture(scope="module", autouse=True)
def data_dir(tmp_path_factory):
    """warehouse.scratch() spills beside the warehouse: keep it in a temporary data root."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DTSEN_DATA_DIR", str(tmp_path_factory.mktemp("phases")))
        yield


@pytest.fixture()
def workspace():
    """A Workspace over the given records (RECORDS by default), closed after the test."""
    opened = []

    def make(records: dict[str, dict] = RECORDS) -> Workspace:
        con = warehouse.scratch()
        opened.append(con)
        return Workspace.over(con, _table(records))

    yield make
    for con in opened:
        con.close()


@pytest.fixture(scope="module")
def fixed_model(tmp_path_factory):
    """The model's settings with every level's m and u set: an agreeing level +8 bits, a
    disagreeing one (ELSE, AGAINST) -4 bits, a prior of -10 bits; levels the model fixes keep
    their values."""
    con = warehouse.scratch()
    try:
        records = DuckDBAPI(connection=con).register(_table(RECORDS))
        settings = Linker(
            records, model.settings(), log_level=logging.ERROR
        ).misc.save_model_to_json()
    finally:
        con.close()
    settings["probability_two_random_records_match"] = 1 / 1024
    for comparison in settings["comparisons"]:
        for level in comparison["comparison_levels"]:
            if level.get("is_null_level") or level.get("fix_m_probability"):
                continue
            if level["sql_condition"] == "ELSE" or level["label_for_charts"].startswith(AGAINST):
                level.update(m_probability=0.05, u_probability=0.8)
            else:
                level.update(m_probability=0.8, u_probability=0.8 / 256)
    path = tmp_path_factory.mktemp("model") / "fixed.json"
    path.write_text(json.dumps(settings))
    return path


def pairs_of(ws: Workspace, relation: str, left="a", right="b", probability="match_probability"):
    """{(lower key, higher key): probability} of a relation of pairs."""
    return {
        (a, b): p
        for a, b, p in ws.con.execute(
            f"select least({left}, {right}), greatest({left}, {right}), {probability} from {relation}"
        ).fetchall()
    }


def levels(settings: dict) -> list[list[dict]]:
    """Each comparison's levels (conditions, labels, m and u) of a model's settings."""
    return [c["comparison_levels"] for c in settings["comparisons"]]


def previous_month(ws: Workspace, dtsen_ids: dict[str, str], stale: set[str] = frozenset()) -> str:
    """Last month's assignment (record_key, dtsen_id, fingerprint) as the relation ``previous_in``:
    the records in ``stale`` changed since (another fingerprint); records absent are new."""
    table = ws.con.sql(
        f"select record_key, {fingerprint_sql()} as fingerprint from {ws.records.physical_name}"
    ).to_arrow_table()
    prints = dict(
        zip(table.column("record_key").to_pylist(), table.column("fingerprint").to_pylist())
    )
    keys = sorted(dtsen_ids)
    return ws.register(
        "previous_in",
        pa.table(
            {
                "record_key": keys,
                "dtsen_id": [dtsen_ids[k] for k in keys],
                "fingerprint": ["stale" if k in stale else prints[k] for k in keys],
            }
        ),
    )


def last_month_ids(apart: set[int]) -> dict[str, str]:
    """Last month's ids of the hand-built records dukcapil:i and dtks:i (i = 1..4): one person P<i>,
    except that the dtks record of each i in ``apart`` stood alone (P<i>b)."""
    return {
        f"{source}:{i}": f"P{i}" + ("b" if source == "dtks" and i in apart else "")
        for i in range(1, 5)
        for source in ("dukcapil", "dtks")
    }


def persons(ws: Workspace, clusters: str) -> dict[str, frozenset[str]]:
    """cluster_id -> its records."""
    out: dict[str, set[str]] = {}
    for key, cluster_id in ws.con.execute(
        f"select record_key, cluster_id from {clusters}"
    ).fetchall():
        out.setdefault(cluster_id, set()).add(key)
    return {c: frozenset(keys) for c, keys in out.items()}


# --- 1. train or load ----------------------------------------------------------------------------


def test_a_saved_model_is_loaded_as_it_is_and_otherwise_one_is_trained(workspace, fixed_model):
    ws = workspace()
    saved = json.loads(fixed_model.read_text())
    loaded = load_or_train(ws, fixed_model)[0].misc.save_model_to_json()
    assert (
        loaded["probability_two_random_records_match"]
        == saved["probability_two_random_records_match"]
    )
    assert levels(loaded) == levels(saved)

    untrained = Linker(
        ws.records, model.settings(), log_level=logging.ERROR
    ).misc.save_model_to_json()
    trained = load_or_train(ws, None)[0].misc.save_model_to_json()

    def estimated(settings):
        return {
            (c["output_column_name"], level["sql_condition"], side)
            for c in settings["comparisons"]
            for level in c["comparison_levels"]
            for side in ("m_probability", "u_probability")
            if side in level and not level.get(f"fix_{side}")
        }

    assert not estimated(untrained) and estimated(trained)
    assert (
        trained["probability_two_random_records_match"]
        != untrained["probability_two_random_records_match"]
    )


def test_an_em_session_over_the_pair_cap_samples_kabupaten_and_still_trains(workspace):
    """At 1M persons a birth date blocks about 202M pairs; EM samples kabupaten instead of reading them
    all. Here the cap is set low enough that every session samples."""
    # Forty persons of twenty kabupaten, two records each, all born on one day.
    records = {
        f"{source}:{i}": person(
            f"32{i:02d}014101900001",
            f"{NAMES[i % len(NAMES)]} {i}",
            date(1990, 1, 1),
            f"K{i}",
            source=source,
            kode_kab=f"32{i % 20:02d}",
            kode_desa=f"32{i % 20:02d}010001",
        )
        for i in range(40)
        for source in ("dukcapil", "dtks")
    }
    ws = workspace(records)
    every = {s.columns: s for s in em_sessions(ws)}
    assert set(every) == set(EM_SESSIONS) and all(s.kabupaten_share == 1 for s in every.values())
    assert every[("tanggal_lahir_pasti",)].pairs == 80 * 79 // 2
    # 3,160 pairs share the birth date; a name or a NIK makes 40.
    capped = {s.columns: s for s in em_sessions(ws, max_pairs=1000)}
    for columns, session in capped.items():
        assert session.pairs == every[columns].pairs
        if session.pairs <= 1000 or columns in EM_NEVER_SAMPLED:
            assert session.kabupaten_share == 1 and "sampled" not in session.describe()
            continue
        share = 1000 / session.pairs
        # Blocking on the kabupaten, the pairs fall with the share; otherwise with its square.
        expected = share if "kode_kab" in columns else share**0.5
        assert session.kabupaten_share == pytest.approx(expected)
        assert "sampled" in session.describe()
    assert capped[("tanggal_lahir_pasti",)].kabupaten_share < 1
    # The NIK session trains the region: it is never sampled, however many pairs it makes.
    assert all(
        s.kabupaten_share == 1 for s in em_sessions(ws, max_pairs=1) if s.columns == ("nik",)
    )
    rule = capped[("tanggal_lahir_pasti",)].blocking().get_blocking_rule("duckdb").blocking_rule_sql
    # The rule keeps exactly the pairs whose two records are in the sampled kabupaten.
    cut = max(1, round(capped[("tanggal_lahir_pasti",)].kabupaten_share * 10_000))
    records = ws.records.physical_name
    kept = ws.con.execute(
        f"select count(*) from {records} l join {records} r "
        f"on l.record_key < r.record_key and {rule}"
    ).fetchall()[0][0]
    in_sample = f"hash(kode_kab || '7') % 10000 < {cut}"
    expected_pairs = ws.con.execute(
        f"select coalesce(sum(n * (n - 1) // 2), 0) from (select count(*) as n from {records} "
        f"where tanggal_lahir_pasti is not null and {in_sample} group by tanggal_lahir_pasti)"
    ).fetchall()[0][0]
    assert 0 < kept == expected_pairs < every[("tanggal_lahir_pasti",)].pairs
    linker = Linker(ws.records, model.settings(), log_level=logging.ERROR)
    train(linker, list(capped.values()))  # runs: EM on the sampled pairs


# --- 2. decisions read, scoring full or incremental ----------------------------------------------


def test_decisions_are_normalised_to_one_order_and_lower_case(workspace):
    ws = workspace()
    decided = normalise_decisions(
        ws,
        pa.table(
            {
                "record_key_l": ["dukcapil:1", "dtks:2"],
                "record_key_r": ["dtks:1", "dukcapil:3"],
                "decision": ["  REJECT ", "Accept"],
            }
        ),
    )
    assert ws.con.execute(
        f"select a, b, decision, line from {decided} order by line"
    ).fetchall() == [
        ("dtks:1", "dukcapil:1", "reject", 2),
        ("dtks:2", "dukcapil:3", "accept", 3),
    ]
    assert (
        ws.con.execute(f"select count(*) from {normalise_decisions(ws, None)}").fetchall()[0][0]
        == 0
    )


def test_an_incremental_run_scores_only_new_changed_and_decided_records_and_carries_the_rest(
    workspace, fixed_model
):
    records = {
        **RECORDS,
        # New this month: siti aminah again, in a third source.
        "p3ke:1": person("3201014101900001", "siti aminah", date(1990, 1, 1), "K1", source="p3ke"),
    }
    ws = workspace(records)
    linker, *_ = load_or_train(ws, fixed_model)
    full = {
        pair
        for part in score_full(ws, linker).parts
        for pair in pairs_of(ws, part.physical_name, "record_key_l", "record_key_r")
    }
    assert ws.con.execute("select count(*) from carried").fetchall()[0][0] == 0

    previous = previous_month(ws, last_month_ids(apart={2, 3, 4}), stale={"dukcapil:4"})
    decided = normalise_decisions(
        ws,
        pa.table(
            {"record_key_l": ["dukcapil:3"], "record_key_r": ["dtks:3"], "decision": ["reject"]}
        ),
    )
    scores = score_incremental(ws, linker, previous, decided)
    fresh = {"p3ke:1", "dukcapil:4", "dukcapil:3", "dtks:3"}  # new, changed, decided (both sides)
    assert scores.rescored == len(fresh)
    assert {
        k for (k,) in ws.con.execute(f"select record_key from {scores.rescore_keys}").fetchall()
    } == fresh
    incremental = {
        pair
        for part in scores.parts
        for pair in pairs_of(ws, part.physical_name, "record_key_l", "record_key_r")
    }
    # Every pair that touches a fresh record, as a full run scores it, and no other (fresh records
    # are also scored against themselves: corroborate drops those).
    touching = {pair for pair in full if set(pair) & fresh}
    assert {(a, b) for a, b in incremental if a != b} == touching
    assert pairs_of(ws, corroborate(ws, linker, scores.parts)).keys() == touching
    assert ("dtks:1", "p3ke:1") in incremental and ONE_PERSON not in incremental
    # Unchanged records keep last month's links, each to the first record of its old person.
    carried = set(
        ws.con.execute(f"select record_key_l, record_key_r from {scores.carried}").fetchall()
    )
    assert carried == {
        ("dtks:1", "dtks:1"),
        ("dukcapil:1", "dtks:1"),
        ("dukcapil:2", "dukcapil:2"),
        ("dtks:2", "dtks:2"),
        ("dtks:4", "dtks:4"),
    }


# --- 3. corroboration and the relatives cap ------------------------------------------------------


def test_uncorroborated_pairs_and_relatives_are_capped_below_the_cluster_threshold(
    workspace, fixed_model
):
    ws = workspace()
    linker, *_ = load_or_train(ws, fixed_model)
    parts = score_full(ws, linker).parts
    model_says = pairs_of(ws, parts[0].physical_name, "record_key_l", "record_key_r")
    scored = corroborate(ws, linker, parts + parts)  # a pair scored twice is kept once
    kept = pairs_of(ws, scored)
    assert ws.con.execute(f"select count(*) from {scored}").fetchall()[0][0] == len(kept) == 4
    # The model alone would link all four.
    assert all(p >= cluster_threshold() for p in model_says.values())
    assert kept[HOUSEHOLD_ONLY] == kept[RELATIVES] == uncorroborated_max() < cluster_threshold()
    assert kept[ONE_PERSON] == model_says[ONE_PERSON] and kept[SAME_YEAR] == model_says[SAME_YEAR]
    evidence = dict(
        ((a, b), json.loads(e))
        for a, b, e in ws.con.execute(
            f"select a, b, cast(evidence as varchar) from {scored}"
        ).fetchall()
    )
    assert evidence[RELATIVES]["tanggal_lahir"] == "All other comparisons"
    assert evidence[HOUSEHOLD_ONLY]["nik"] == "nik is NULL"


# --- 4. decisions applied ------------------------------------------------------------------------


def test_a_rejected_pair_is_never_an_edge_and_an_accepted_pair_always_is(workspace):
    ws = workspace()
    scored = ws.register(
        "hand_scored",
        pa.table(
            {
                "a": ["dtks:1", "dtks:2", "dtks:4"],
                "b": ["dukcapil:1", "dukcapil:2", "dukcapil:4"],
                "match_probability": [0.99, 0.6, 0.95],
            }
        ),
    )
    decided = normalise_decisions(
        ws,
        pa.table(
            {
                "record_key_l": ["dukcapil:1", "dtks:2", "dukcapil:3"],
                "record_key_r": ["dtks:1", "dukcapil:2", "dtks:4"],
                "decision": ["reject", "accept", "accept"],
            }
        ),
    )
    carried = ws.register(
        "hand_carried",
        pa.table({"record_key_l": ["dtks:3", "dukcapil:3"], "record_key_r": ["dtks:3", "dtks:3"]}),
    )
    edges = decision_edges(ws, scored, decided, carried)
    rows = sorted(
        ws.con.execute(
            f"select record_key_l, record_key_r, match_probability from {edges}"
        ).fetchall()
    )
    assert rows == [
        ("dtks:2", "dukcapil:2", 0.6),  # scored below the threshold, and accepted: both rows
        ("dtks:2", "dukcapil:2", 1.0),
        ("dtks:4", "dukcapil:3", 1.0),  # never scored, accepted
        ("dtks:4", "dukcapil:4", 0.95),
        ("dukcapil:3", "dtks:3", 1.0),  # carried (a record's link to itself is not an edge)
    ]


# --- 4b. attach-only sources (the correction sources) ---------------------------------------------

ATTACH_ONLY = ("sanggahan",)


def test_an_objection_joins_only_its_best_person_and_objections_alone_make_none(workspace):
    records = {
        **RECORDS,
        # An objection naming siti aminah, with rina wati's NIK typed: it scores with both persons.
        "sanggahan:1": person("3201010101900004", "siti aminah", None, "K1", source="sanggahan"),
        # Two objections about one person no register holds.
        "sanggahan:2": person(None, "wayan sudana", None, "K9", source="sanggahan"),
        "sanggahan:3": person(None, "wayan sudana", None, "K9", source="sanggahan"),
    }
    ws = workspace(records)
    edges = ws.register(
        "hand_edges",
        pa.table(
            {
                "record_key_l": ["dtks:1", "dtks:4", "dukcapil:4", "sanggahan:1", "sanggahan:2"],
                "record_key_r": [
                    "dukcapil:1",
                    "dukcapil:4",
                    "sanggahan:1",
                    "dtks:1",
                    "sanggahan:3",
                ],
                "match_probability": [1.0, 0.99, 0.97, 0.98, 1.0],
            }
        ),
    )
    kept = pairs_of(ws, attach_edges(ws, edges, ATTACH_ONLY), "record_key_l", "record_key_r")
    # Register pairs stay; the objection keeps its best edge (siti aminah's); none between objections.
    assert kept == {ONE_PERSON: 1.0, SAME_YEAR: 0.99, ("dtks:1", "sanggahan:1"): 0.98}
    # Without the phase the objection would bridge two persons and the objections make a third.
    assert (
        frozenset(ONE_PERSON + SAME_YEAR + ("sanggahan:1",))
        in persons(ws, cluster(ws, edges)).values()
    )
    clustered = cluster(ws, attach_edges(ws, edges, ATTACH_ONLY))
    assert frozenset(["sanggahan:2", "sanggahan:3"]) not in persons(ws, clustered).values()
    found = set(persons(ws, drop_unattached(ws, clustered, ATTACH_ONLY)).values())
    assert found == {
        frozenset([*ONE_PERSON, "sanggahan:1"]),
        frozenset(SAME_YEAR),
        *(frozenset([k]) for k in HOUSEHOLD_ONLY + RELATIVES),
    }


def test_carried_links_hold_a_person_by_a_register_record_never_by_an_objection(workspace):
    ws = workspace()
    # Last month's person P: its first key an objection (a register "siks" sorts after it); Q: only
    # objections kept (its register record was scored again).
    carried = ws.register(
        "hand_carried",
        pa.table(
            {
                "record_key_l": ["sanggahan:9", "siks:1", "siks:2", "sanggahan:7", "sanggahan:8"],
                "record_key_r": [
                    "sanggahan:9",
                    "sanggahan:9",
                    "sanggahan:9",
                    "sanggahan:7",
                    "sanggahan:7",
                ],
            }
        ),
    )
    anchored = carried_on_registers(ws, carried, ATTACH_ONLY)
    assert set(ws.con.execute(f"select record_key_l, record_key_r from {anchored}").fetchall()) == {
        ("sanggahan:9", "siks:1"),
        ("siks:1", "siks:1"),
        ("siks:2", "siks:1"),
    }


# --- 5. clustering -------------------------------------------------------------------------------


def test_clusters_join_records_at_or_above_the_threshold(workspace):
    ws = workspace()
    edges = ws.register(
        "hand_edges",
        pa.table(
            {
                "record_key_l": ["dtks:1", "dtks:2", "dtks:4"],
                "record_key_r": ["dukcapil:1", "dukcapil:2", "dukcapil:4"],
                "match_probability": [1.0, uncorroborated_max(), cluster_threshold()],
            }
        ),
    )
    found = set(persons(ws, cluster(ws, edges)).values())
    assert found == {
        frozenset(ONE_PERSON),
        frozenset(SAME_YEAR),
        *(frozenset([k]) for k in HOUSEHOLD_ONLY + RELATIVES),
    }


def test_an_incremental_run_clusters_only_touched_persons_and_keeps_the_others_ids(workspace):
    records = {**RECORDS, "p3ke:9": person(None, "wayan sudana", None, "K9", source="p3ke")}  # new
    ws = workspace(records)
    previous = previous_month(ws, last_month_ids(apart={2, 4}))
    rescore_keys = ws.register("hand_rescore", pa.table({"record_key": ["dukcapil:4", "p3ke:9"]}))
    scored = ws.register(
        "hand_scored", pa.table({"a": ["dtks:4"], "b": ["dukcapil:4"], "match_probability": [0.99]})
    )
    decided = normalise_decisions(
        ws,
        pa.table(
            {"record_key_l": ["dtks:3"], "record_key_r": ["dukcapil:3"], "decision": ["reject"]}
        ),
    )
    touched = split_touched(ws, previous, rescore_keys, scored, decided)
    assert isinstance(touched, Touched)
    edges = ws.register(
        "hand_edges",
        pa.table(
            {
                "record_key_l": ["dtks:4", "dukcapil:1"],  # scored; carried from last month
                "record_key_r": ["dukcapil:4", "dtks:1"],
                "match_probability": [0.99, 1.0],
            }
        ),
    )
    found = persons(ws, cluster(ws, edges, touched))
    kept = {c: keys for c, keys in found.items() if c.startswith("kept:")}
    # Persons no fresh, scored or reviewed record touches keep last month's id, unclustered.
    assert kept == {
        "kept:P1": frozenset(ONE_PERSON),
        "kept:P2": frozenset(["dukcapil:2"]),
        "kept:P2b": frozenset(["dtks:2"]),
    }
    # The others are clustered again: P4 and P4b join, P3 splits (no edge), the new record alone.
    assert set(found.values()) - set(kept.values()) == {
        frozenset(SAME_YEAR),
        frozenset(["dtks:3"]),
        frozenset(["dukcapil:3"]),
        frozenset(["p3ke:9"]),
    }


def test_accepted_pairs_making_a_person_too_large_name_their_rows(workspace):
    ws = workspace()
    clusters = ws.register(
        "hand_clusters",
        pa.table(
            {
                "record_key": [
                    "dtks:1",
                    "dukcapil:1",
                    "dukcapil:2",
                    "dtks:2",
                    "dtks:3",
                    "dukcapil:3",
                ],
                "cluster_id": ["A", "A", "A", "B", "B", "B"],
            }
        ),
    )
    # Person A holds accepted pairs (rows 3 and 5); person B, as large, holds none.
    decided = normalise_decisions(
        ws,
        pa.table(
            {
                "record_key_l": ["dtks:4", "dukcapil:1", "dukcapil:4", "dukcapil:2"],
                "record_key_r": ["dukcapil:4", "dtks:1", "dtks:4", "dtks:1"],
                "decision": ["reject", "accept", "reject", "accept"],
                "line": [2, 3, 4, 5],
            }
        ),
    )
    with pytest.raises(DecisionsTooLargeError) as err:
        check_accepted_sizes(ws, clusters, decided, limit=2)
    message = str(err.value)
    assert (
        "accepted pairs would make 1 person of more than person.max_records_per_person (2)"
        in message
    )
    assert message.endswith("3 records, accepted on rows 3, 5")
    check_accepted_sizes(ws, clusters, decided, limit=3)  # within the cap: no error


# --- 6. explanation ------------------------------------------------------------------------------


def test_explain_saves_the_model_charts_that_work_offline_and_the_review_pairs(
    workspace, fixed_model, tmp_path
):
    ws = workspace()
    linker, *_ = load_or_train(ws, fixed_model)
    scored = corroborate(ws, linker, score_full(ws, linker).parts)
    decided = normalise_decisions(
        ws,
        pa.table(
            {"record_key_l": ["dukcapil:3"], "record_key_r": ["dtks:3"], "decision": ["reject"]}
        ),
    )
    charts, review = explain(
        ws, linker, scored, decided, tmp_path / "m" / "model.json", tmp_path / "charts"
    )

    saved = json.loads((tmp_path / "m" / "model.json").read_text())
    assert levels(saved) == levels(json.loads(fixed_model.read_text()))
    assert charts == {
        name: tmp_path / "charts" / f"{name}.html"
        for name in ("match_weights", "m_u_parameters", "waterfall_sample_pairs")
    }
    for path in charts.values():
        html = path.read_text()
        # Vega, Vega-Lite and vega-embed inside the page, none fetched from a network.
        assert not re.search(r"<script[^>]+src=", html), path.name
        assert "vegaEmbed" in html and len(html) > 500_000, path.name
    # The waterfall shows levels and weights, never the compared values.
    waterfall = charts["waterfall_sample_pairs"].read_text()
    assert "simanjuntak" not in waterfall and "3201010101900003" not in waterfall

    assert sorted(
        (r["record_key_l"], r["record_key_r"], r["decision"]) for r in review.to_pylist()
    ) == [
        (*HOUSEHOLD_ONLY, None),
        (*RELATIVES, "reject"),
    ]
    assert all(
        r["match_probability"] < cluster_threshold() and json.loads(r["evidence"])["no_kk"]
        for r in review.to_pylist()
    )
    assert explain(ws, linker, scored, decided, tmp_path / "m2.json", None)[0] == {}


# --- the run: the phases in order ----------------------------------------------------------------


def test_link_month_runs_the_phases_full_and_incremental(fixed_model, tmp_path):
    identities = _table(RECORDS)
    full = link_month(identities, tmp_path / "full.json", reuse_model=fixed_model)
    assert not full.trained and full.rescored is None and full.decisions_applied == {}
    assert set(full.seconds) == {"train", "predict", "cluster"}

    def groups(result) -> set[frozenset[str]]:
        out: dict[str, set[str]] = {}
        for row in result.clusters.to_pylist():
            out.setdefault(row["cluster_id"], set()).add(row["record_key"])
        return {frozenset(g) for g in out.values()}

    assert groups(full) == {
        frozenset(ONE_PERSON),
        frozenset(SAME_YEAR),
        *(frozenset([k]) for k in HOUSEHOLD_ONLY + RELATIVES),
    }
    assert full.predictions.num_rows == 4 and full.review.num_rows == 2
    ids = {r["record_key"]: "P" + r["cluster_id"] for r in full.clusters.to_pylist()}
    with warehouse.scratch() as con:
        con.register("ids", identities)
        previous = con.sql(
            f"select record_key, {fingerprint_sql()} as fingerprint from ids"
        ).to_arrow_table()
    previous = previous.append_column(
        "dtsen_id", pa.array([ids[k] for k in previous.column("record_key").to_pylist()])
    )
    accept = pa.table(
        {"record_key_l": ["dtks:2"], "record_key_r": ["dukcapil:2"], "decision": ["accept"]}
    )
    incremental = link_month(
        identities,
        tmp_path / "inc.json",
        decisions=accept,
        reuse_model=fixed_model,
        previous=previous,
    )
    assert incremental.rescored == 2 and incremental.decisions_applied == {"accept": 1}
    assert groups(incremental) == {
        frozenset(ONE_PERSON),
        frozenset(SAME_YEAR),
        frozenset(HOUSEHOLD_ONLY),
        *(frozenset([k]) for k in RELATIVES),
    }


def test_link_month_attaches_correction_records_full_and_incremental(fixed_model, tmp_path):
    records = {
        **RECORDS,
        "sanggahan:1": person(
            "3201014101900001", "siti aminah", date(1990, 1, 1), "K1", source="sanggahan"
        ),
        "sanggahan:2": person(None, "wayan sudana", date(1970, 5, 5), "K9", source="sanggahan"),
        "sanggahan:3": person(None, "wayan sudana", date(1970, 5, 5), "K9", source="sanggahan"),
    }
    identities = _table(records)
    full = link_month(identities, tmp_path / "f.json", reuse_model=fixed_model)
    linked = link_month(
        identities, tmp_path / "a.json", reuse_model=fixed_model, attach_only=ATTACH_ONLY
    )

    def groups(result) -> set[frozenset[str]]:
        out: dict[str, set[str]] = {}
        for row in result.clusters.to_pylist():
            out.setdefault(row["cluster_id"], set()).add(row["record_key"])
        return {frozenset(g) for g in out.values()}

    assert frozenset(["sanggahan:2", "sanggahan:3"]) in groups(full)  # as a register, a person
    expected = {
        frozenset([*ONE_PERSON, "sanggahan:1"]),
        frozenset(SAME_YEAR),
        *(frozenset([k]) for k in HOUSEHOLD_ONLY + RELATIVES),
    }
    assert groups(linked) == expected
    ids = {r["record_key"]: "P" + r["cluster_id"] for r in linked.clusters.to_pylist()}
    with warehouse.scratch() as con:
        con.register("ids", identities)
        previous = con.sql(
            f"select record_key, {fingerprint_sql()} as fingerprint from ids "
            "where record_key in (select unnest(?::varchar[]))",
            params=[sorted(ids)],
        ).to_arrow_table()
    previous = previous.append_column(
        "dtsen_id", pa.array([ids[k] for k in previous.column("record_key").to_pylist()])
    )
    incremental = link_month(
        identities,
        tmp_path / "i.json",
        reuse_model=fixed_model,
        previous=previous,
        attach_only=ATTACH_ONLY,
    )
    assert incremental.rescored == 2 and groups(incremental) == expected
