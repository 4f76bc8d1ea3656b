"""Attach-only sources (the correction sources: proposals, objections, visits): their records join
a person, never make or bridge one.

They are scored like any record, but each keeps only its best edge to a register record
(``attach_edges``), so a noisy objection cannot merge two persons; last month's carried links are
anchored on register records (``carried_on_registers``), so an attach-only record never holds a
person together; and one that reached no person is left out of the clusters (``drop_unattached``).
"""

from __future__ import annotations

from dtsen_pipeline.lib.warehouse import quote_literal
from dtsen_pipeline.linkage import model
from dtsen_pipeline.linkage.workspace import Workspace


def _is_attach(column: str, attach_only: tuple[str, ...]) -> str:
    """SQL: the record key in ``column`` belongs to an attach-only source (keys are source:id)."""
    return f"split_part({column}, ':', 1) in ({', '.join(quote_literal(s) for s in attach_only)})"


def carried_on_registers(ws: Workspace, carried: str, attach_only: tuple[str, ...]) -> str:
    """The relation ``carried_on_registers``: ``carried`` (each kept record linked to the first
    record of last month's person) anchored on the person's first register record instead, so an
    attach-only record, which keeps one edge only (``attach_edges``), is never the link that holds
    a person's register records together. A person kept without a register record carries no link
    (attach-only records never link among themselves). Its name is returned."""
    ws.con.execute(f"""
        create or replace temp table carried_on_registers as
        with kept as (select record_key_l as k, record_key_r as person from {carried}),
        anchors as (select person, min(k) as anchor from kept where not {_is_attach("k", attach_only)}
                    group by person)
        select k as record_key_l, anchor as record_key_r from kept join anchors using (person)""")
    return "carried_on_registers"


def attach_edges(ws: Workspace, edges: str, attach_only: tuple[str, ...]) -> str:
    """The relation ``attach_edges``: the ``edges`` between register records, and of each
    attach-only record's edges to a register record only its best (a reviewer's accept or a
    carried link counts 1.0; ties to the lower key); none between two attach-only records. With
    one edge a record joins one person and can never bridge two. Its name is returned."""
    ws.con.execute(f"""
        create or replace temp table attach_edges as
        with typed as (
            select *, {_is_attach("record_key_l", attach_only)} as attach_l,
                   {_is_attach("record_key_r", attach_only)} as attach_r
            from {edges}),
        best as (
            select case when attach_l then record_key_l else record_key_r end as k,
                   case when attach_l then record_key_r else record_key_l end as other,
                   match_probability
            from typed where attach_l <> attach_r
            qualify row_number() over (partition by k order by match_probability desc, other) = 1)
        select record_key_l, record_key_r, match_probability from typed where not attach_l and not attach_r
        union all
        select k, other, match_probability from best""")
    return "attach_edges"


def drop_unattached(ws: Workspace, clusters: str, attach_only: tuple[str, ...]) -> str:
    """The relation ``attached_clusters``: ``clusters`` without those made of attach-only records
    alone (a proposal or objection that reached no person is not linked yet; it never makes one).
    Its name is returned."""
    key = model.UNIQUE_ID
    ws.con.execute(f"""
        create or replace temp table attached_clusters as
        select * from {clusters} where cluster_id in (
            select cluster_id from {clusters} group by cluster_id
            having not bool_and({_is_attach(key, attach_only)}))""")
    return "attached_clusters"
