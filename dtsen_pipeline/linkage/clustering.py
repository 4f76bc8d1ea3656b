"""Clustering: the month's records joined into persons by the edges at or above the cluster threshold.

A full run clusters every record. An incremental run first splits off the records no new, changed or
reviewed record touches (``split_touched``): they keep last month's person without clustering again.

A reviewer's reject is a cannot-link constraint: its two records never end in one person.
Splink's clustering (connected components) knows no constraint, so a person it makes holding a
rejected pair, joined through other records, is clustered again by ``keep_rejected_apart``:
constrained single linkage (``Groups``), the links added strongest first and any link that would
join a rejected pair left out. Connected components are what adding every link in any order
gives; adding them strongest first and refusing those that would join a rejected pair cuts, on
the paths between the two records, the weakest links (those the model is least sure of) and no
more than it must. Reviewers' accepts are added before any scored link and are never cut (their
contradictions with rejects are settled before, by ``decisions.resolve_decisions``).

The civil registry is a second source of cannot-links (``registry_apart``): Dukcapil issues the NIK
and keeps one record per person, so two of its records with two different NIKs, each carrying its
own record's birth date and sex, are two people by the registry's own rules (unless they are on
one family card under one full name: a double entry). A person the links made holding two such
records (namesakes, twins, neighbours whose NIKs are one digit apart, joined through another
source's record) is split the same way, unless a reviewer accepted the two as one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import pyarrow as pa
from splink.clustering import cluster_pairwise_predictions_at_threshold

from dtsen_pipeline.linkage import model
from dtsen_pipeline.linkage.config import cluster_threshold
from dtsen_pipeline.linkage.workspace import Workspace


@dataclass(frozen=True)
class Touched:
    """An incremental run's split of the month's records (relations): ``nodes`` are clustered again
    (records scored again, in a scored pair, or of a person one of those touches); ``untouched``
    (record_key, cluster_id 'kept:' || last month's dtsen_id) keep their person."""

    nodes: str
    untouched: str


def split_touched(
    ws: Workspace, previous: str, rescore_keys: str, scored: str, decided: str
) -> Touched:
    """Only last month's persons that a new, changed or reviewed record touches can change; every
    other record keeps its person without clustering again."""
    key, records = model.UNIQUE_ID, ws.records.physical_name
    ws.con.execute(f"""
        create or replace temp table touched_ids as
        with touched as (select {key} as k from {rescore_keys}
                         union select a from {scored} union select b from {scored}
                         union select a from {decided} union select b from {decided})
        select distinct p.dtsen_id from {previous} p join touched t on t.k = p.record_key""")
    ws.con.execute(f"""
        create or replace temp table cluster_nodes as
        select i.* from {records} i
        left join {previous} p on p.record_key = i.{key}
        where i.{key} in (select {key} from {rescore_keys}) or p.dtsen_id in (select dtsen_id from touched_ids)
           or i.{key} in (select a from {scored} union select b from {scored})""")
    ws.con.execute(f"""
        create or replace temp table untouched as
        select i.{key}, 'kept:' || p.dtsen_id as cluster_id
        from {records} i join {previous} p on p.record_key = i.{key}
        where i.{key} not in (select {key} from cluster_nodes)""")
    return Touched("cluster_nodes", "untouched")


def cluster(ws: Workspace, edges: str, touched: Touched | None = None) -> str:
    """The relation ``final_clusters`` (record_key, cluster_id): the month's records joined by the
    edges at or above the cluster threshold; with ``touched`` (incremental runs) only its nodes are
    clustered and the untouched records keep their person. Its name is returned."""
    key = model.UNIQUE_ID
    nodes = ws.records.physical_name
    if touched is not None:
        ws.con.execute(
            f"create or replace temp table cluster_edges as select * from {edges} "
            f"where record_key_l in (select {key} from {touched.nodes})"
        )
        nodes, edges = touched.nodes, "cluster_edges"
    clustered = cluster_pairwise_predictions_at_threshold(
        nodes,
        edges,
        ws.db_api,
        node_id_column_name=key,
        edge_id_column_name_left="record_key_l",
        edge_id_column_name_right="record_key_r",
        threshold_match_probability=cluster_threshold(),
    )
    clusters = (
        f"select {key}, cast(cluster_id as varchar) as cluster_id from {clustered.physical_name}"
    )
    if touched is not None:
        clusters += f" union all select {key}, cluster_id from {touched.untouched}"
    ws.con.execute(f"create or replace temp table final_clusters as {clusters}")
    return "final_clusters"


class Groups:
    """Records joined into groups one link at a time (union-find), never putting two records a
    reviewer rejected in one group: ``join`` says whether the link was applied."""

    def __init__(self, rejects: Iterable[tuple[str, str]] = ()):
        self._parent: dict[str, str] = {}
        self._members: dict[str, set[str]] = {}
        self._apart: dict[str, set[str]] = {}  # a group's root -> records rejected with a member
        for a, b in rejects:
            self._apart.setdefault(self.find(a), set()).add(b)
            self._apart.setdefault(self.find(b), set()).add(a)

    def find(self, key: str) -> str:
        """The root of ``key``'s group (a record not seen yet is a group of its own)."""
        if key not in self._parent:
            self._parent[key], self._members[key] = key, {key}
            return key
        root = key
        while self._parent[root] != root:
            root = self._parent[root]
        while self._parent[key] != root:
            self._parent[key], key = root, self._parent[key]
        return root

    def members(self, key: str) -> set[str]:
        return self._members[self.find(key)]

    def join(self, a: str, b: str) -> bool:
        """Join the groups of ``a`` and ``b``, unless that would put a rejected pair in one group
        (then False, and nothing changes)."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return True
        small, large = sorted((ra, rb), key=lambda r: len(self._members[r]))
        apart = self._apart.get(large, set())
        if any(m in apart for m in self._members[small]):
            return False
        self._parent[small] = large
        self._members[large] |= self._members.pop(small)
        self._apart[large] = apart | self._apart.pop(small, set())
        return True


@dataclass(frozen=True)
class Apart:
    """What ``keep_rejected_apart`` did: ``clusters``, the relation (record_key, cluster_id) with
    no rejected pair in one person; ``rows``, the reject rows whose records the links had joined
    (each split); ``cut``, the links left out to split them; ``registry``, the persons split
    because they held two of the civil registry's records with two NIKs (``registry_apart``)."""

    clusters: str
    rows: list[int] = field(default_factory=list)
    cut: int = 0
    registry: int = 0
    registry_pairs: str | None = None  # the relation of registry pairs it was given (a, b)


def registry_apart(ws: Workspace, clusters: str) -> str:
    """The relation (a, b, cluster_id) of the civil registry's record pairs that ``clusters`` put in
    one person although their NIKs differ, each NIK carrying its own record's birth date and sex
    (so neither is a typo of a date, an invalid NIK or a relative's). Two such records on one
    family card under one full name are the registry's own double entry of one person (twins are
    never given one name; namesakes are of other families), not a pair. Persons an incremental run kept as they
    were (``split_touched``: cluster ids 'kept:...') are left out: their links were not scored
    again, and an earlier month already applied the rule to them."""
    key, records = model.UNIQUE_ID, ws.records.physical_name
    ws.con.execute(f"""
        create or replace temp table registry_apart as
        with d as (
            select c.cluster_id, c.{key} as k, r.nik, r.no_kk, r.nama_normal
            from {clusters} c join {records} r using ({key})
            where r.source = '{model.CIVIL_REGISTRY}' and r.nik_matches_birth
              and c.cluster_id not like 'kept:%')
        select x.k as a, y.k as b, x.cluster_id from d x join d y
        on x.cluster_id = y.cluster_id and x.k < y.k and x.nik <> y.nik
        where not (x.no_kk = y.no_kk and x.nama_normal = y.nama_normal)""")
    return "registry_apart"


def keep_rejected_apart(
    ws: Workspace, clusters: str, edges: str, decided: str, registry: str | None = None
) -> Apart:
    """``clusters`` with every person that holds a rejected pair (``decided``: a, b, decision, line)
    or a pair of ``registry`` (a, b, cluster_id: ``registry_apart`` of these clusters) clustered
    again under the constraint (``Groups``): accepted pairs first, then ``edges`` at or above the
    cluster threshold inside that person, strongest first (ties by keys), a link that would join a
    rejected pair left out.
    A registry pair that reviewers' accepts join is theirs to decide, and not kept apart. Persons
    holding no rejected pair are as they were."""
    key = model.UNIQUE_ID
    joined = ws.con.execute(f"""
        select d.line, ca.cluster_id from {decided} d
        join {clusters} ca on ca.{key} = d.a join {clusters} cb on cb.{key} = d.b
        where d.decision = 'reject' and ca.cluster_id = cb.cluster_id order by d.line""").fetchall()
    by_registry = _registry_pairs(ws, decided, registry)
    if not joined and not by_registry:
        return Apart(clusters, registry_pairs=registry)
    split = {c for _, c in joined} | {c for _, _, c in by_registry}
    ws.register("split_ids", pa.table({"cluster_id": sorted(split)}))
    ws.con.execute(f"""
        create or replace temp table split_members as
        select {key} as k, cluster_id from {clusters} where cluster_id in (select cluster_id from split_ids)""")
    inside = """join split_members ml on ml.k = {l} join split_members mr on mr.k = {r}
                where ml.cluster_id = mr.cluster_id"""
    pairs = {
        decision: ws.con.execute(
            f"select d.a, d.b from {decided} d {inside.format(l='d.a', r='d.b')} "
            f"and d.decision = '{decision}' order by d.line"
        ).fetchall()
        for decision in ("accept", "reject")
    }
    links = ws.con.execute(
        f"select e.record_key_l, e.record_key_r from {edges} e "
        f"{inside.format(l='e.record_key_l', r='e.record_key_r')} and e.match_probability >= ? "
        "order by e.match_probability desc, e.record_key_l, e.record_key_r",
        [cluster_threshold()],
    ).fetchall()
    groups = Groups([*pairs["reject"], *((a, b) for a, b, _ in by_registry)])
    for a, b in pairs["accept"]:
        groups.join(a, b)  # never refused: decisions.resolve_decisions left no contradiction
    cut = sum(not groups.join(a, b) for a, b in links)
    members = ws.con.execute("select k, cluster_id from split_members order by k").fetchall()
    piece: dict[str, str] = {}  # a group's root -> its new cluster id
    seen: dict[str, int] = {}  # an old cluster id -> pieces named so far
    new_ids = []
    for k, cluster_id in members:  # pieces named in the order of their lowest key
        root = groups.find(k)
        if root not in piece:
            seen[cluster_id] = seen.get(cluster_id, 0) + 1
            piece[root] = f"{cluster_id} #{seen[cluster_id]}"  # no record key holds a space
        new_ids.append(piece[root])
    ws.register("split_pieces", pa.table({key: [k for k, _ in members], "cluster_id": new_ids}))
    ws.con.execute(f"""
        create or replace temp table constrained_clusters as
        select {key}, cluster_id from {clusters} where cluster_id not in (select cluster_id from split_ids)
        union all select {key}, cluster_id from split_pieces""")
    registry_only = {c for _, _, c in by_registry} - {c for _, c in joined}
    return Apart(
        "constrained_clusters", [line for line, _ in joined], cut, len(registry_only), registry
    )


def _registry_pairs(
    ws: Workspace, decided: str, registry: str | None
) -> list[tuple[str, str, str]]:
    """The pairs of ``registry`` (a, b, cluster_id), less those reviewers' accepts join (directly or
    through other accepts): a reviewer who accepted two registry records as one has proven it."""
    if registry is None:
        return []
    found = ws.con.execute(f"select a, b, cluster_id from {registry} order by a, b").fetchall()
    if not found:
        return []
    accepted = Groups()
    for a, b in ws.con.execute(
        f"select a, b from {decided} where decision = 'accept' order by line"
    ).fetchall():
        accepted.join(a, b)
    return [(a, b, c) for a, b, c in found if accepted.find(a) != accepted.find(b)]
