"""Reviewers' decisions are constraints of the clustering (issue 31, item 3): a rejected pair never
ends in one person, whether accepts or scored links join its records through others.

On hand-built records with real DuckDB and Splink, scored by the fixed-weight model of
test_phases (every agreeing level +8 bits, a disagreeing one -4, a prior of -10)."""

from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from dtsen_pipeline.lib import warehouse
from dtsen_pipeline.linkage import model, tables
from dtsen_pipeline.linkage.clustering import Groups, keep_rejected_apart
from dtsen_pipeline.linkage.decisions import (
    normalise_decisions,
    read_decisions,
    records_of_other_months,
    resolve_decisions,
    rows_of_other_months,
)
from dtsen_pipeline.linkage.run import link_month
from dtsen_pipeline.linkage.scoring import fingerprint_sql
from tests.linkage import test_phases as phases
from tests.linkage.test_evidence import _table
from tests.linkage.test_phases import RECORDS, person, persons

# test_phases' fixtures: a temporary data root, a scratch workspace, the fixed-weight model.
data_dir, workspace, fixed_model = phases.data_dir, phases.workspace, phases.fixed_model

# Three records of one person (NIK, name and birth date agree): the model links every pair.
SITI = {
    **RECORDS,
    "p3ke:1": person("3201014101900001", "siti aminah", date(1990, 1, 1), "K1", source="p3ke"),
}
# Names and NIKs that must never reach a message.
SECRETS = ("siti", "aminah", "budi", "agus", "maria", "3201014101900001", "320101010190000")


def _write(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    path.write_text(
        "record_key_l,record_key_r,decision\n"
        + "".join(f"{left},{right},{d}\n" for left, right, d in rows)
    )
    return path


def _groups(result) -> set[frozenset[str]]:
    out: dict[str, set[str]] = {}
    for row in result.clusters.to_pylist():
        out.setdefault(row["cluster_id"], set()).add(row["record_key"])
    return {frozenset(g) for g in out.values()}


def _person_of(result, key: str) -> frozenset[str]:
    return next(g for g in _groups(result) if key in g)


def _link(identities, path: Path, decisions, fixed_model) -> tuple:
    """``link_month`` with the fixed model, and what it said."""
    said: list[str] = []
    result = link_month(
        identities, path, decisions=decisions, reuse_model=fixed_model, progress=said.append
    )
    return result, said


def _no_identity(texts) -> None:
    for text in texts:
        assert not any(secret in str(text).lower() for secret in SECRETS), text


# --- the cannot-link union-find ------------------------------------------------------------------


def test_groups_never_join_a_rejected_pair_however_the_links_come():
    groups = Groups([("a", "c")])
    assert groups.join("a", "b") and not groups.join("b", "c")  # b-c would bring a and c together
    assert groups.members("a") == {"a", "b"} and groups.members("c") == {"c"}
    assert groups.join("c", "d") and not groups.join("d", "b")
    assert groups.join("a", "b")  # already one group: nothing to refuse


# --- accepts that contradict a reject -----------------------------------------------------------


def test_an_accept_contradicting_a_reject_through_other_accepts_is_not_applied_and_named(
    workspace,
):
    ws = workspace()
    # A-B (row 2), C-D (row 3), reject A-D (row 4), then B-C (row 5) would close the chain.
    decided = normalise_decisions(
        ws,
        pa.table(
            {
                "record_key_l": ["dukcapil:1", "dtks:2", "dukcapil:1", "dukcapil:2"],
                "record_key_r": ["dukcapil:2", "dukcapil:3", "dukcapil:3", "dtks:2"],
                "decision": ["accept", "accept", "reject", "accept"],
            }
        ),
    )
    resolution = resolve_decisions(ws, decided, "review/decisions.csv")
    assert resolution.overridden == [5]
    assert resolution.contradictions == [
        "review/decisions.csv: the accept on row 5 was not applied: with the accepts on rows 2, 3 "
        "it would put in one person the two records rejected on row 4 (a reject wins over "
        "accepts that contradict it); check these rows"
    ]
    applied = ws.con.execute(f"select line from {resolution.decided} order by line").fetchall()
    assert applied == [(2,), (3,), (4,)]


def test_accept_ab_accept_bc_reject_ac_of_three_people_keeps_a_and_c_apart(fixed_model, tmp_path):
    """The issue's case: three different people (no identity field agrees between any two), A-B
    and B-C accepted, A-C rejected. Before, one person and no message."""
    a, b, c = "dukcapil:2", "dtks:2", "dukcapil:3"
    identities = _table(RECORDS)
    path = _write(
        tmp_path / "decisions.csv", [(a, b, "accept"), (b, c, "accept"), (a, c, "reject")]
    )
    decisions = read_decisions(path, known_keys=identities.column(model.UNIQUE_ID))
    result, said = _link(identities, tmp_path / "m.json", decisions, fixed_model)
    assert _person_of(result, a) == {a, b}  # row 2 applied; row 3 is the one that contradicts
    assert _person_of(result, c) == {c}
    message = (
        f"{path}: the accept on row 3 was not applied: with the accept on row 2 it would put in "
        "one person the two records rejected on row 4 (a reject wins over accepts that "
        "contradict it); check these rows"
    )
    assert result.decisions_applied == {
        "accept": 1,
        "reject": 1,
        "accepts not applied (contradict a reject)": 1,
        "reported": [message],
    }
    assert message in said
    _no_identity([*said, result.decisions_applied])


# --- rejects whose records scored links join through others --------------------------------------


def test_keep_rejected_apart_cuts_the_weakest_links_and_never_an_accepted_pair(workspace):
    ws = workspace()
    clusters = ws.register(
        "hand_clusters",
        pa.table(
            {
                "record_key": ["dukcapil:1", "dtks:1", "dukcapil:2", "dtks:2", "dukcapil:4"],
                "cluster_id": ["P", "P", "P", "P", "Q"],
            }
        ),
    )

    def split(links: list[tuple[str, str, float]], decisions: list[tuple[str, str, str]]):
        edges = ws.register(
            "hand_edges",
            pa.table(
                {
                    "record_key_l": [left for left, _, _ in links],
                    "record_key_r": [right for _, right, _ in links],
                    "match_probability": [p for _, _, p in links],
                }
            ),
        )
        decided = normalise_decisions(
            ws,
            pa.table(
                {
                    "record_key_l": [left for left, _, _ in decisions],
                    "record_key_r": [right for _, right, _ in decisions],
                    "decision": [d for _, _, d in decisions],
                }
            ),
        )
        apart = keep_rejected_apart(ws, clusters, edges, decided)
        return apart, set(persons(ws, apart.clusters).values())

    # A chain dukcapil:1 - dtks:1 - dukcapil:2 - dtks:2, rejected end to end: the weakest link goes.
    chain = [
        ("dukcapil:1", "dtks:1", 0.99),
        ("dtks:1", "dukcapil:2", 0.95),
        ("dukcapil:2", "dtks:2", 0.999),
    ]
    apart, found = split(chain, [("dukcapil:1", "dtks:2", "reject")])
    assert (apart.rows, apart.cut) == ([2], 1)
    assert found == {
        frozenset(["dukcapil:1", "dtks:1"]),
        frozenset(["dukcapil:2", "dtks:2"]),
        frozenset(["dukcapil:4"]),  # a person without a rejected pair is as it was
    }
    # The same chain with dtks:1 - dukcapil:2 accepted: the accept stands, the weakest other goes.
    apart, found = split(
        chain, [("dukcapil:1", "dtks:2", "reject"), ("dtks:1", "dukcapil:2", "accept")]
    )
    assert found == {
        frozenset(["dukcapil:1"]),
        frozenset(["dtks:1", "dukcapil:2", "dtks:2"]),
        frozenset(["dukcapil:4"]),
    }
    # A reject the clusters already respect: nothing changes, the same relation comes back.
    apart, found = split(chain, [("dukcapil:1", "dukcapil:4", "reject")])
    assert apart.clusters == "hand_clusters" and (apart.rows, apart.cut) == ([], 0)


def _previous(identities: pa.Table, ids: dict[str, str]) -> pa.Table:
    with warehouse.scratch() as con:
        con.register("ids", identities)
        previous = con.sql(
            f"select record_key, {fingerprint_sql()} as fingerprint from ids"
        ).to_arrow_table()
    return previous.append_column(
        "dtsen_id", pa.array([ids[k] for k in previous.column("record_key").to_pylist()])
    )


def test_a_reject_of_two_records_joined_through_a_third_splits_them_full_and_incremental(
    fixed_model, tmp_path
):
    identities = _table(SITI)
    full = link_month(identities, tmp_path / "f.json", reuse_model=fixed_model)
    assert frozenset(["dukcapil:1", "dtks:1", "p3ke:1"]) in _groups(full)

    path = _write(tmp_path / "decisions.csv", [("p3ke:1", "dukcapil:1", "reject")])
    decisions = read_decisions(path, known_keys=identities.column(model.UNIQUE_ID))
    split, said = _link(identities, tmp_path / "s.json", decisions, fixed_model)
    assert _person_of(split, "dukcapil:1") != _person_of(split, "p3ke:1")
    assert _person_of(split, "dtks:1") | _person_of(split, "p3ke:1") >= {"dtks:1", "p3ke:1"}
    counts = {k: v for k, v in split.decisions_applied.items() if k != "reported"}
    assert counts == {
        "reject": 1,
        "rejects that split a person": 1,
        "scored links cut to keep rejected pairs apart": 1,
    }
    assert split.decisions_applied["reported"] == [
        f"{path}: the reject on row 2: scored links joined its two records through other records; "
        "the weakest links between them were cut (1 link), so they are two persons"
    ]
    assert split.decisions_applied["reported"][0] in said
    _no_identity([*said, split.decisions_applied])
    # Every other person as the full run made it.
    others = {g for g in _groups(full) if "dukcapil:1" not in g}
    assert others <= _groups(split)

    # Incremental: last month the three were one person; the reject splits them the same way.
    ids = {r["record_key"]: "P" + r["cluster_id"] for r in full.clusters.to_pylist()}
    incremental = link_month(
        identities,
        tmp_path / "i.json",
        decisions=decisions,
        reuse_model=fixed_model,
        previous=_previous(identities, ids),
    )
    assert _person_of(incremental, "dukcapil:1") != _person_of(incremental, "p3ke:1")
    assert incremental.decisions_applied["rejects that split a person"] == 1


def test_a_reject_the_model_already_respects_changes_nothing(fixed_model, tmp_path):
    identities = _table(SITI)
    before = link_month(identities, tmp_path / "b.json", reuse_model=fixed_model)
    path = _write(tmp_path / "decisions.csv", [("dukcapil:1", "dukcapil:4", "reject")])
    said: list[str] = []
    after = link_month(
        identities,
        tmp_path / "a.json",
        reuse_model=fixed_model,
        progress=said.append,
        decisions=read_decisions(path, known_keys=identities.column(model.UNIQUE_ID)),
    )
    assert _groups(after) == _groups(before)
    assert after.decisions_applied == {"reject": 1}
    assert not any(str(path) in line for line in said)


@pytest.mark.parametrize("order", ["reject last", "reject first"])
def test_the_rule_does_not_depend_on_where_the_reject_stands(fixed_model, tmp_path, order):
    """Rejects hold whatever their row; accepts apply in row order."""
    a, b, c = "dukcapil:2", "dtks:2", "dukcapil:3"
    rows = [(a, b, "accept"), (b, c, "accept")]
    rows = rows + [(a, c, "reject")] if order == "reject last" else [(a, c, "reject"), *rows]
    identities = _table(RECORDS)
    path = _write(tmp_path / "decisions.csv", rows)
    result = link_month(
        identities,
        tmp_path / "m.json",
        reuse_model=fixed_model,
        decisions=read_decisions(path, known_keys=identities.column(model.UNIQUE_ID)),
    )
    assert _person_of(result, a) == {a, b} and _person_of(result, c) == {c}
    assert result.decisions_applied["accepts not applied (contradict a reject)"] == 1


# --- decisions on records of other months ---------------------------------------------------------


def test_a_decision_on_an_earlier_months_delta_record_is_kept_for_it_not_fatal(
    fixed_model, tmp_path
):
    """Issue 31: a valid decision naming a record of last month's delta (regsosek:9 was sent in
    January only) refused the whole file in February, so February's linkage could not run. It is
    kept for its month (not applied now, said by row); a key of no month is still refused."""
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute(tables.DDL)
    con.execute(
        "insert into linkage.person_clusters values "
        "('2025-01', 'regsosek:9', 'regsosek', 'c9', 'D9'), "
        "('2025-01', 'dukcapil:2', 'dukcapil', 'c2', 'D2')"
    )
    identities = _table(RECORDS)  # February's records: regsosek:9 is not among them
    keys = identities.column(model.UNIQUE_ID)
    rows = [
        ("regsosek:9", "dukcapil:2", "accept"),  # row 2: January's delta record and this month's
        ("dukcapil:2", "dtks:2", "accept"),  # row 3: this month's pair
        ("regsosek:9", "dtks:1", "reject"),  # row 4
    ]
    path = _write(tmp_path / "decisions.csv", rows)
    with pytest.raises(ValueError, match=r"a record of this month: rows 2, 4$"):
        read_decisions(path, known_keys=keys)  # without other months: what February did before

    def other_months(found):
        return records_of_other_months(con, "2025-02", found)

    decisions = read_decisions(path, known_keys=keys, other_months=other_months)
    assert decisions.column("line").to_pylist() == [3]
    assert rows_of_other_months(decisions) == [2, 4]
    result, said = _link(identities, tmp_path / "m.json", decisions, fixed_model)
    assert _person_of(result, "dukcapil:2") == {"dukcapil:2", "dtks:2"}  # row 3 applied
    message = (
        f"{path}: the decisions on rows 2, 4 name a record of another month, not of this one (a "
        "delta source's record of an earlier month): kept in the file for their month, not "
        "applied to this one"
    )
    assert result.decisions_applied == {
        "accept": 1,
        "kept for other months (a record not of this month)": 2,
        "reported": [message],
    }
    assert message in said
    _no_identity([*said, result.decisions_applied])
    # A key of no linked month is still refused, and a pair of other months still checked.
    _write(
        tmp_path / "decisions.csv",
        [*rows, ("regsosek:8", "dtks:1", "accept"), ("dukcapil:2", "regsosek:9", "reject")],
    )
    with pytest.raises(ValueError) as err:
        read_decisions(path, known_keys=keys, other_months=other_months)
    assert (
        "record_key_l is not the record key (source:source_record_id) of a record of this "
        "month or of another linked month: row 5" in str(err.value)
    )
    assert "contradicts (accept and reject) the pair of row 2: row 6" in str(err.value)
    assert records_of_other_months(con, "2025-01", {"regsosek:9", "dukcapil:2"}) == set()
