"""Families (KK) and households, linked across sources from the month's person linkage.

A person's family is a KK. Sources copy KK numbers and keep them stale (a married child stays on
the parents' card in DTKS), so the family is chosen by the rules in config/linkage.yaml:

Records of the correction sources (proposals, objections, visits) decide no family: a person's
family comes from the registers alone.

1. the KK of the first source in ``family.kk_authority`` that holds a valid KK for the person;
2. else the KK most of the person's records carry;
3. else the family most of their mates in a source's own family grouping (P3KE family id,
   Regsosek family form) belong to;
4. else the person is a family alone (``kk_basis = 'none'``).

Families get a ``dtsen_kk_id`` that is kept from month to month for the same KK (``linkage.family_ids``),
and never derived from the KK number itself. Households join families that share a dwelling: a
source's own household id (DTKS IDBDT) or the same address in the same village, taken only from
records whose KK agrees with the person's family (a stale card says nothing about today's dwelling).
A household is a connected component of those links; its ``dtsen_rt_id`` follows its
lowest-numbered family.

Tables (all by ``extract_month``):
- ``linkage.family_members``: dtsen_id -> dtsen_kk_id, how the family was chosen, relationship to head;
- ``linkage.families``: dtsen_kk_id -> dtsen_rt_id, No. KK, members, head, village;
- ``linkage.kk_crosswalk``: each source's KK numbers -> dtsen_kk_id (the family most of its records joined);
- ``linkage.family_ids``: the stable KK key -> dtsen_kk_id map, across months.
"""

from __future__ import annotations

import duckdb

from dtsen_pipeline.ingest.sources import correction_sources
from dtsen_pipeline.linkage.config import LinkageRules, rules

DDL = """
create schema if not exists linkage;
create table if not exists linkage.family_ids (family_key varchar, dtsen_kk_id varchar, first_month varchar);
create table if not exists linkage.family_members (
    extract_month varchar, dtsen_id varchar, dtsen_kk_id varchar, kk_basis varchar, hubungan_kk varchar);
create table if not exists linkage.families (
    extract_month varchar, dtsen_kk_id varchar, dtsen_rt_id varchar, no_kk varchar, members bigint,
    kepala_dtsen_id varchar, kode_desa varchar);
create table if not exists linkage.kk_crosswalk (
    extract_month varchar, source varchar, no_kk varchar, dtsen_kk_id varchar, records bigint);
"""

MAX_ROUNDS = 50  # label propagation over households; real households converge in a few rounds


def link_families(con: duckdb.DuckDBPyConnection, month: str) -> dict:
    """Write the month's families and households from ``linkage.person_clusters``; return counts."""
    r = rules()
    con.execute(DDL)
    _family_records(con, month, r)
    _choose_families(con)
    _members(con, month)
    _households(con, r)
    _write(con, month)
    return _counts(con, month)


def _family_records(con: duckdb.DuckDBPyConnection, month: str, r: LinkageRules) -> None:
    """The temp table ``fam_records``: the month's register records with their person, a valid KK,
    the source's own family and household ids, address, village and the source's KK authority."""
    con.execute(
        """
        create or replace temp table fam_records as
        select c.dtsen_id, i.source, i.record_key,
               case when i.no_kk_issue is null then i.no_kk end as no_kk,
               i.id_keluarga_sumber, i.id_rumah_tangga, i.alamat_kunci, i.kode_desa, i.hubungan_kk,
               coalesce(list_position(?, i.source), 999) as authority
        from linkage.person_clusters c
        join intermediate.int_identitas i on i.record_key = c.record_key and i.extract_month = c.extract_month
        where c.extract_month = ? and i.source not in (select unnest(?::varchar[]))""",
        [list(r.kk_authority), month, list(correction_sources())],
    )


def _choose_families(con: duckdb.DuckDBPyConnection) -> None:
    """The temp table ``person_family``: each person's family (rules 1-4 of the module docstring)."""
    # 1-2: authority first, then the KK most records carry.
    con.execute("""
        create or replace temp table person_family as
        with votes as (
            select dtsen_id, no_kk, min(authority) as authority, count(*) as n,
                   arg_min(source, authority) as source
            from fam_records where no_kk is not null group by all),
        ranked as (
            select *, row_number() over (partition by dtsen_id order by authority, n desc, no_kk) as rk
            from votes)
        select dtsen_id, no_kk, 'kk:' || no_kk as family_key,
               case when authority < 999 then 'kk_' || source else 'kk_majority' end as kk_basis
        from ranked where rk = 1""")
    # 3: mates in a source's own family grouping.
    con.execute("""
        insert into person_family
        with grouped as (
            select distinct source, id_keluarga_sumber as grp, dtsen_id from fam_records
            where id_keluarga_sumber is not null),
        votes as (
            select g1.dtsen_id, pf.no_kk, pf.family_key, count(*) as n
            from grouped g1
            join grouped g2 on g2.source = g1.source and g2.grp = g1.grp and g2.dtsen_id <> g1.dtsen_id
            join person_family pf on pf.dtsen_id = g2.dtsen_id
            where g1.dtsen_id not in (select dtsen_id from person_family)
            group by all)
        select dtsen_id, no_kk, family_key, 'source_family' from votes
        qualify row_number() over (partition by dtsen_id order by n desc, family_key) = 1""")
    # 4: alone.
    con.execute("""
        insert into person_family
        select distinct dtsen_id, null, 'solo:' || dtsen_id, 'none' from fam_records
        where dtsen_id not in (select dtsen_id from person_family)""")


def _members(con: duckdb.DuckDBPyConnection, month: str) -> None:
    """New families get their stable id (``linkage.family_ids``); the temp table ``members``: each
    person's family id, KK, how it was chosen and relationship to the head."""
    # Stable ids: a family key seen before keeps its id; a new one is named after its members.
    con.execute(
        """
        insert into linkage.family_ids
        select family_key, 'KK' || upper(substr(md5(? || ':' || min(dtsen_id)), 1, 14)), ?
        from person_family
        where family_key not in (select family_key from linkage.family_ids)
        group by family_key""",
        [month, month],
    )
    con.execute("""
        create or replace temp table members as
        with relationship as (
            select r.dtsen_id, arg_min(r.hubungan_kk, r.authority) as hubungan_kk
            from fam_records r join person_family pf using (dtsen_id)
            where r.hubungan_kk is not null and (r.no_kk is null or r.no_kk is not distinct from pf.no_kk)
            group by 1)
        select pf.dtsen_id, ids.dtsen_kk_id, pf.no_kk, pf.kk_basis, relationship.hubungan_kk
        from person_family pf join linkage.family_ids ids using (family_key)
        left join relationship using (dtsen_id)""")


def _households(con: duckdb.DuckDBPyConnection, r: LinkageRules) -> None:
    """The temp table ``hh_label``: each family's household, the lowest family id of the families it
    shares a dwelling with (connected components, by label propagation)."""
    # Households: families linked by a shared dwelling, from records that agree with the family's KK.
    con.execute(
        """
        create or replace temp table dwelling_refs as
        select distinct ref, dtsen_kk_id from (
            select 'rt:' || f.source || ':' || f.id_rumah_tangga as ref, m.dtsen_kk_id
            from fam_records f join members m using (dtsen_id)
            where list_contains(?, f.source) and f.id_rumah_tangga is not null
              and (f.no_kk is null or f.no_kk is not distinct from m.no_kk)
            union all
            select 'addr:' || f.kode_desa || ':' || f.alamat_kunci, m.dtsen_kk_id
            from fam_records f join members m using (dtsen_id)
            where list_contains(?, f.source) and f.alamat_kunci is not null and f.kode_desa is not null
              and (f.no_kk is null or f.no_kk is not distinct from m.no_kk))""",
        [list(r.household_id_sources), list(r.address_sources)],
    )
    con.execute(
        "create or replace temp table hh_label as "
        "select distinct dtsen_kk_id, dtsen_kk_id as label from members"
    )
    for _ in range(MAX_ROUNDS):
        con.execute("""
            create or replace temp table hh_next as
            with ref_label as (
                select d.ref, min(l.label) as label from dwelling_refs d join hh_label l using (dtsen_kk_id) group by 1)
            select l.dtsen_kk_id, least(l.label, coalesce(min(rl.label), l.label)) as label
            from hh_label l
            left join dwelling_refs d using (dtsen_kk_id)
            left join ref_label rl using (ref)
            group by l.dtsen_kk_id, l.label""")
        changed = con.execute(
            "select count(*) from hh_next n join hh_label l using (dtsen_kk_id) "
            "where n.label <> l.label"
        ).fetchall()[0][0]
        con.execute("create or replace temp table hh_label as select * from hh_next")
        if changed == 0:
            break


def _write(con: duckdb.DuckDBPyConnection, month: str) -> None:
    """Replace the month's family_members, families and kk_crosswalk in one transaction."""
    con.execute("begin")
    for table in ("family_members", "families", "kk_crosswalk"):
        con.execute(f"delete from linkage.{table} where extract_month = ?", [month])
    con.execute(
        "insert into linkage.family_members select ?, dtsen_id, dtsen_kk_id, kk_basis, hubungan_kk "
        "from members",
        [month],
    )
    con.execute(
        """
        insert into linkage.families
        with village as (
            select m.dtsen_kk_id, arg_min(f.kode_desa, f.authority) as kode_desa
            from fam_records f join members m using (dtsen_id)
            where f.kode_desa is not null group by 1)
        select ?, m.dtsen_kk_id, 'RT' || substr(any_value(l.label), 3), any_value(m.no_kk), count(*),
               min(m.dtsen_id) filter (where m.hubungan_kk = 'kepala'), any_value(village.kode_desa)
        from members m join hh_label l using (dtsen_kk_id) left join village using (dtsen_kk_id)
        group by m.dtsen_kk_id""",
        [month],
    )
    con.execute(
        """
        insert into linkage.kk_crosswalk
        with votes as (
            select f.source, f.no_kk, m.dtsen_kk_id, count(*) as n
            from fam_records f join members m using (dtsen_id)
            where f.no_kk is not null group by all)
        select ?, source, no_kk, arg_max(dtsen_kk_id, n * 1e9 - rank_in_ties), sum(n)
        from (select *, dense_rank() over (partition by source, no_kk order by dtsen_kk_id) as rank_in_ties from votes)
        group by source, no_kk""",
        [month],
    )
    con.execute("commit")


def _counts(con: duckdb.DuckDBPyConnection, month: str) -> dict:
    """The month's families, households, households of several KKs and persons by family basis."""
    families, households, shared = con.execute(
        """
        select count(*), count(distinct dtsen_rt_id),
               (select count(*) from (select dtsen_rt_id from linkage.families where extract_month = ?
                                      group by 1 having count(*) > 1))
        from linkage.families where extract_month = ?""",
        [month, month],
    ).fetchone()
    basis = dict(
        con.execute("select kk_basis, count(*) from members group by 1 order by 1").fetchall()
    )
    return {
        "families": families,
        "households": households,
        "households of several KKs": shared,
        "persons by how their family was found": basis,
    }
