"""The civil registry's cannot-links (issue 30, item 1): Dukcapil issues the NIK and keeps one record
per person, so a person the links make holding two of its records with two NIKs, each carrying its
own record's birth date and sex, is split (``clustering.registry_apart``), the weakest links between
them cut, unless a reviewer accepted the two as one.

On hand-built records with real DuckDB and Splink: the clustering phase on hand-built clusters, and
``link_month`` end to end with test_phases' fixed-weight model (every agreeing level +8 bits)."""

from datetime import date

import pyarrow as pa
import pytest

from dtsen_pipeline.linkage import model
from dtsen_pipeline.linkage.clustering import keep_rejected_apart, registry_apart
from dtsen_pipeline.linkage.decisions import normalise_decisions
from dtsen_pipeline.linkage.run import link_month
from tests.linkage import test_phases as phases
from tests.linkage.test_evidence import _table
from tests.linkage.test_phases import person, persons

data_dir, workspace, fixed_model = phases.data_dir, phases.workspace, phases.fixed_model

# Namesakes of one kabupaten: one name, one birth date, NIKs whose serials are one digit apart
# (0001 / 0002), both registered by Dukcapil; a welfare list's record of one of them carries no NIK.
SITI_1, SITI_2 = "3201014101900001", "3201014101900002"
NAMESAKES = {
    "dukcapil:1": person(SITI_1, "siti aminah", date(1990, 1, 1), "K1"),
    "dukcapil:2": person(SITI_2, "siti aminah", date(1990, 1, 1), "K2"),
    "dtks:1": person(None, "siti aminah", date(1990, 1, 1), "K1", source="dtks"),
}


def _clusters(ws, keys: list[str], cluster_id: str = "P") -> str:
    return ws.register(
        "hand_clusters", pa.table({"record_key": keys, "cluster_id": [cluster_id] * len(keys)})
    )


def _edges(ws, links: list[tuple[str, str, float]]) -> str:
    return ws.register(
        "hand_edges",
        pa.table(
            {
                "record_key_l": [a for a, _, _ in links],
                "record_key_r": [b for _, b, _ in links],
                "match_probability": [p for _, _, p in links],
            }
        ),
    )


def _decided(ws, decisions: list[tuple[str, str, str]]) -> str:
    return normalise_decisions(
        ws,
        pa.table(
            {
                "record_key_l": [a for a, _, _ in decisions],
                "record_key_r": [b for _, b, _ in decisions],
                "decision": [d for _, _, d in decisions],
            }
        ),
    )


CHAIN = [("dukcapil:1", "dtks:1", 0.999), ("dtks:1", "dukcapil:2", 0.97)]


def test_two_registry_nik_in_one_person_split_at_the_weakest_link(workspace):
    ws = workspace(NAMESAKES)
    clusters = _clusters(ws, list(NAMESAKES))
    pairs = registry_apart(ws, clusters)
    assert ws.con.execute(f"select a, b from {pairs}").fetchall() == [("dukcapil:1", "dukcapil:2")]
    apart = keep_rejected_apart(ws, clusters, _edges(ws, CHAIN), _decided(ws, []), pairs)
    assert (apart.rows, apart.cut, apart.registry) == ([], 1, 1)
    assert set(persons(ws, apart.clusters).values()) == {
        frozenset(["dukcapil:1", "dtks:1"]),
        frozenset(["dukcapil:2"]),
    }


def test_a_reviewers_accept_of_the_two_registry_records_stands(workspace):
    ws = workspace(NAMESAKES)
    clusters = _clusters(ws, list(NAMESAKES))
    # Accepted through the welfare list's record: the reviewer has proven them one person.
    decided = _decided(ws, [("dukcapil:1", "dtks:1", "accept"), ("dtks:1", "dukcapil:2", "accept")])
    apart = keep_rejected_apart(
        ws, clusters, _edges(ws, CHAIN), decided, registry_apart(ws, clusters)
    )
    assert (apart.cut, apart.registry) == (0, 0)
    assert set(persons(ws, apart.clusters).values()) == {frozenset(NAMESAKES)}


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"dukcapil:2": {"nik": SITI_1}}, id="one NIK on both (a duplicate record)"),
        pytest.param({"dukcapil:2": {"nik_matches_birth": False}}, id="a NIK not its record's"),
        pytest.param({"dukcapil:2": {"source": "dtks"}}, id="the second record not Dukcapil's"),
        pytest.param({"dukcapil:2": {"nik": None}}, id="no NIK on the second"),
        # One family card and one full name: the registry's own double entry of one person, not
        # twins (never given one name) nor namesakes (of other families).
        pytest.param({"dukcapil:2": {"no_kk": "K1"}}, id="one card and one name (a double entry)"),
    ],
)
def test_no_registry_pair_without_two_registered_self_consistent_niks(workspace, change):
    records = {k: {**v, **change.get(k, {})} for k, v in NAMESAKES.items()}
    ws = workspace(records)
    clusters = _clusters(ws, list(records))
    pairs = registry_apart(ws, clusters)
    assert ws.con.execute(f"select count(*) from {pairs}").fetchall() == [(0,)]
    apart = keep_rejected_apart(ws, clusters, _edges(ws, CHAIN), _decided(ws, []), pairs)
    assert apart.clusters == clusters and apart.registry == 0


def test_persons_an_incremental_run_kept_are_not_split(workspace):
    ws = workspace(NAMESAKES)
    clusters = _clusters(ws, list(NAMESAKES), cluster_id="kept:D-1")
    pairs = registry_apart(ws, clusters)
    assert ws.con.execute(f"select count(*) from {pairs}").fetchall() == [(0,)]


def test_link_month_keeps_namesakes_with_two_registered_niks_apart(fixed_model, tmp_path):
    said: list[str] = []
    result = link_month(
        _table(NAMESAKES), tmp_path / "m.json", reuse_model=fixed_model, progress=said.append
    )
    groups = {}
    for key, cluster_id in zip(
        result.clusters.column("record_key").to_pylist(),
        result.clusters.column("cluster_id").to_pylist(),
        strict=True,
    ):
        groups.setdefault(cluster_id, set()).add(key)
    # The fixed model links every pair of the three (one name, one birth date, one kabupaten), so
    # without the registry's rule they were one person.
    linked = {
        (a, b)
        for a, b, p in zip(
            result.predictions.column("record_key_l").to_pylist(),
            result.predictions.column("record_key_r").to_pylist(),
            result.predictions.column("match_probability").to_pylist(),
            strict=True,
        )
        if p >= 0.5
    }
    assert ("dukcapil:1", "dukcapil:2") in linked or ("dukcapil:2", "dukcapil:1") in linked
    found = {frozenset(g) for g in groups.values()}
    assert frozenset(["dukcapil:2"]) in found or frozenset(["dukcapil:2", "dtks:1"]) in found
    assert not any({"dukcapil:1", "dukcapil:2"} <= g for g in found)
    assert result.registry_split == 1
    # The pair is put before a clerk, however high it scored: a mover registered again is one
    # person whom only a clerk's accept can join.
    review = set(
        zip(
            result.review.column("record_key_l").to_pylist(),
            result.review.column("record_key_r").to_pylist(),
            strict=True,
        )
    )
    assert ("dukcapil:1", "dukcapil:2") in review
    message = next(line for line in said if "two dukcapil records with two NIKs" in line)
    assert not any(secret in message.lower() for secret in ("siti", SITI_1, SITI_2))
    assert model.CIVIL_REGISTRY == "dukcapil"
