"""Linkage accuracy against the generator's ground truth: pairwise precision, recall and F1, recall
by the kind of error a record carries, false merges within one family, must-stay-apart pairs
merged, and the true pairs no blocking rule reaches.

Pair counts come from cluster sizes (n choose 2), never from materialising pairs, so this stays
cheap at millions of records. Reported beside a deterministic NIK-only join: the method the audits
found wanting.
"""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa

from dtsen_pipeline.ingest.sources import correction_sources
from dtsen_pipeline.lib import paths, warehouse

_PAIR_COUNTS = """
with j as (select record_key, {pred} as pred, person_id as truth, not nik_valid as weak from evaluated),
cells as (select pred, truth, count(*) as n, count(*) filter (where weak) as k from j group by all),
pred_groups as (select count(*) as n from j group by pred),
true_groups as (select count(*) as n, count(*) filter (where weak) as k from j group by truth)
select
    (select sum(n * (n - 1) / 2) from cells) as true_positive,
    (select sum(n * (n - 1) / 2) from pred_groups) as predicted,
    (select sum(n * (n - 1) / 2) from true_groups) as actual,
    (select sum(n * (n - 1) / 2 - (n - k) * (n - k - 1) / 2) from cells) as true_positive_weak,
    (select sum(n * (n - 1) / 2 - (n - k) * (n - k - 1) / 2) from true_groups) as actual_weak
"""


# Recall by cause: for the records carrying each kind of error (the truth's per-record `errors`),
# the true same-person pairs that involve at least one of them, and how many of those were linked.
# Per cell (or true person) of n records of which k carry the kind: C(n,2) - C(n-k,2) such pairs.
_PAIRS_BY_KIND = """
with j as (select record_key, {pred} as pred, person_id as truth, errors from evaluated),
kinds as (select distinct record_key, pred, truth, unnest(string_split(errors, ',')) as kind
          from j where errors <> ''),
cells as (select pred, truth, count(*) as n from j group by all),
persons as (select truth, count(*) as n from j group by all),
actual as (select kind, sum(k) as records, sum(n * (n - 1) / 2 - (n - k) * (n - k - 1) / 2) as pairs
           from (select kind, truth, count(*) as k from kinds group by all) join persons using (truth) group by kind),
linked as (select kind, sum(n * (n - 1) / 2 - (n - k) * (n - k - 1) / 2) as pairs
           from (select kind, pred, truth, count(*) as k from kinds group by all) join cells using (pred, truth)
           group by kind)
select kind, records, actual.pairs, coalesce(linked.pairs, 0) from actual left join linked using (kind) order by kind
"""

# False merges: pairs of distinct true persons put in one cluster, and how many of them are of one
# true family (a shared family name, KK and village; a member under the head's NIK) or household.
_FALSE_MERGES = """
with m as (select distinct {pred} as pred, person_id, family_id, household_id from evaluated),
pairs as (select a.person_id as p1, b.person_id as p2, bool_or(a.family_id = b.family_id) as family,
                 bool_or(a.household_id = b.household_id) as household
          from m a join m b on a.pred = b.pred and a.person_id < b.person_id group by all)
select count(*), count(*) filter (where family), count(*) filter (where household) from pairs
"""


def _by_error_kind(con: duckdb.DuckDBPyConnection, pred: str) -> dict:
    out = {}
    for kind, records, actual, linked in con.execute(_PAIRS_BY_KIND.format(pred=pred)).fetchall():
        actual, linked = int(actual or 0), int(linked or 0)
        out[kind] = {
            "records": int(records),
            "true_pairs": actual,
            "linked_pairs": linked,
            "recall": round(linked / actual, 5) if actual else None,
        }
    return out


def _false_merges(con: duckdb.DuckDBPyConnection, pred: str) -> dict:
    pairs, family, household = (
        int(x or 0) for x in con.execute(_FALSE_MERGES.format(pred=pred)).fetchone()
    )
    return {"person_pairs": pairs, "within_family": family, "within_household": household}


# Must-stay-apart pairs: two different persons the truth says look alike. Twins: same family, same
# birth date. Namesakes: same full name (upper case, letters only) and birth date in one kabupaten.
# Only persons with a record being evaluated count: a pair is merged when both persons have a record
# in one predicted person.
_APART_PAIRS = """
create or replace temp table apart_pairs as
with p as (
    select person_id, family_id, tanggal_lahir, substr(replace(kode_desa, '.', ''), 1, 4) as kab,
           nullif(trim(regexp_replace(upper(nama), '[^A-Z]+', ' ', 'g')), '') as nama_key
    from read_parquet(?) where person_id in (select person_id from evaluated))
select 'twins' as kind, a.person_id as p1, b.person_id as p2
from p a join p b on a.family_id = b.family_id and a.tanggal_lahir = b.tanggal_lahir
 and a.person_id < b.person_id
union all
select 'namesakes', a.person_id, b.person_id
from p a join p b on a.nama_key = b.nama_key and a.tanggal_lahir = b.tanggal_lahir and a.kab = b.kab
 and a.person_id < b.person_id
"""

_APART_MERGED = """
with m as (select distinct {pred} as pred, person_id from evaluated),
merged as (select distinct a.person_id as p1, b.person_id as p2
           from m a join m b on a.pred = b.pred and a.person_id < b.person_id)
select kind, count(*), count(merged.p1) from apart_pairs left join merged using (p1, p2) group by kind
"""


def _load_apart_pairs(con: duckdb.DuckDBPyConnection, truth: Path) -> None:
    """The month's must-stay-apart pairs (``_APART_PAIRS``) from the truth's persons beside
    ``truth``, as temp table apart_pairs; none when the truth has no persons file."""
    persons = truth.parent / "persons.parquet"
    if persons.exists():
        con.execute(_APART_PAIRS, [str(persons)])


def _must_stay_apart(con: duckdb.DuckDBPyConnection, pred: str) -> dict | None:
    """Twins and namesakes merged into one person, per kind: pairs, merged, merged share."""
    tables = con.execute(
        "select 1 from duckdb_tables() where temporary and table_name = 'apart_pairs'"
    ).fetchall()
    if not tables:
        return None
    found = {
        kind: (int(n), int(k))
        for kind, n, k in con.execute(_APART_MERGED.format(pred=pred)).fetchall()
    }
    return {
        kind: {
            "pairs": found.get(kind, (0, 0))[0],
            "merged": found.get(kind, (0, 0))[1],
            "merged_share": round(found[kind][1] / found[kind][0], 4) if kind in found else None,
        }
        for kind in ("twins", "namesakes")
    }


def _pairwise(tp: float, predicted: float, actual: float) -> dict:
    """Pairwise precision, recall and F1 from pair counts: 1.0 with nothing to divide by, and F1 0.0
    when precision and recall are both 0."""
    from dtsen_pipeline.linkage.accuracy import f1  # the one F1 formula; lazy, as below

    precision = tp / predicted if predicted else 1.0
    recall = tp / actual if actual else 1.0
    return {
        "precision": round(precision, 5),
        "recall": round(recall, 5),
        "f1": round(f1(precision, recall) if precision + recall else 0.0, 5),
    }


def _scores(con: duckdb.DuckDBPyConnection, pred: str) -> dict:
    tp, predicted, actual, tp_weak, actual_weak = (
        float(x or 0) for x in con.execute(_PAIR_COUNTS.format(pred=pred)).fetchone()
    )
    return {
        **_pairwise(tp, predicted, actual),
        "recall_nik_missing_or_invalid": round(tp_weak / actual_weak, 5) if actual_weak else None,
        "true_pairs": int(actual),
        "predicted_pairs": int(predicted),
        "true_positive_pairs": int(tp),
        "false_merges": _false_merges(con, pred),
        "must_stay_apart_merged": _must_stay_apart(con, pred),
        "recall_by_error_kind": _by_error_kind(con, pred),
    }


def _blocking_coverage(con: duckdb.DuckDBPyConnection, month: str) -> dict:
    """True pairs (two records of one true person) that no blocking rule of the model reaches, so
    Splink never scores them: they link only through other records, if at all. Issue 30 asks for
    at most 0.1% of true pairs. Pairs are materialised per true person (a few per person)."""
    from dtsen_pipeline.linkage import model  # lazy: Splink is heavy, as above

    reached = " or ".join(
        f"({rule.get_blocking_rule('duckdb').blocking_rule_sql})" for rule in model.BLOCKING_RULES
    )
    columns = ", ".join(f"i.{c}" for c in model.INPUT_COLUMNS if c != model.UNIQUE_ID)
    total, outside, linked = con.execute(
        f"""
        with b as (
            select e.record_key, e.person_id, e.dtsen_id, {columns} from evaluated e
            join intermediate.int_identitas i on i.record_key = e.record_key and i.extract_month = ?),
        pairs as (
            select l.dtsen_id = r.dtsen_id as linked, coalesce({reached}, false) as reached
            from b l join b r on l.person_id = r.person_id and l.record_key < r.record_key)
        select count(*), count(*) filter (where not reached),
               count(*) filter (where not reached and linked) from pairs""",
        [month],
    ).fetchone()
    return {
        "true_pairs": int(total),
        "outside_every_rule": int(outside),
        "share_outside": round(outside / total, 6) if total else 0.0,
        "outside_but_linked_through_others": int(linked),
    }


def _truth_errors(con: duckdb.DuckDBPyConnection, truth: Path) -> str:
    """The truth's per-record error kinds; a truth written before they were recorded has none."""
    columns = {
        r[0] for r in con.execute("select name from parquet_schema(?)", [str(truth)]).fetchall()
    }
    return "coalesce(t.errors, '')" if "errors" in columns else "''"


_GROUP_PAIRS = """
with cells as (select count(*) as n from {table} group by {pred}, {truth}),
pred_groups as (select count(*) as n from {table} group by {pred}),
true_groups as (select count(*) as n from {table} group by {truth})
select (select sum(n * (n - 1) / 2) from cells), (select sum(n * (n - 1) / 2) from pred_groups),
       (select sum(n * (n - 1) / 2) from true_groups)
"""


def _group_scores(con: duckdb.DuckDBPyConnection, table: str, pred: str, truth: str) -> dict:
    """Pairwise precision/recall/F1 of one grouping of ``table``'s rows against another."""
    tp, predicted, actual = (
        float(x or 0)
        for x in con.execute(_GROUP_PAIRS.format(table=table, pred=pred, truth=truth)).fetchall()[0]
    )
    return {
        **_pairwise(tp, predicted, actual),
        "true_pairs": int(actual),
        "predicted_pairs": int(predicted),
    }


def _family_scores(con: duckdb.DuckDBPyConnection, month: str) -> dict | None:
    """Families and households, scored over persons: each true person takes the family and
    household most of their records were given."""
    if not warehouse.table_exists(con, "linkage", "families"):
        return None
    con.execute(
        """
        create temp table person_groups as
        select e.person_id, any_value(e.family_id) as true_family, any_value(e.household_id) as true_household,
               mode(m.dtsen_kk_id) as family, mode(f.dtsen_rt_id) as household
        from evaluated e
        join linkage.family_members m on m.dtsen_id = e.dtsen_id and m.extract_month = ?
        join linkage.families f on f.dtsen_kk_id = m.dtsen_kk_id and f.extract_month = ?
        group by e.person_id""",
        [month, month],
    )
    if not con.execute("select count(*) from person_groups").fetchall()[0][0]:
        return None
    return {
        "families": _group_scores(con, "person_groups", "family", "true_family"),
        "households": _group_scores(con, "person_groups", "household", "true_household"),
    }


def _desil_agreement(con: duckdb.DuckDBPyConnection, month: str) -> dict | None:
    """PMT desil against the generator's true desil, over persons in ranked families: the share
    placed in exactly the right desil and within one."""
    if not warehouse.table_exists(con, "marts", "dtsen_keluarga"):
        return None
    row = con.execute(
        """
        with p as (
            select e.person_id, any_value(e.desil) as truth, mode(k.desil) as desil
            from evaluated e
            join linkage.family_members m on m.dtsen_id = e.dtsen_id and m.extract_month = ?
            join marts.dtsen_keluarga k on k.dtsen_kk_id = m.dtsen_kk_id and k.extract_month = ?
            where k.desil is not null and e.desil is not null
            group by e.person_id)
        select count(*), avg(case when desil = truth then 1 else 0 end),
               avg(case when abs(desil - truth) <= 1 then 1 else 0 end) from p""",
        [month, month],
    ).fetchall()[0]
    if not row[0]:
        return None
    return {"persons": int(row[0]), "exact": round(row[1], 4), "within_one": round(row[2], 4)}


def _attachment(con, truth: Path, month: str, correction: list[str]) -> dict:
    """The correction sources' records: how many reached a person, and how many of those reached
    the true one (the person most of the cluster's register records truly are)."""
    row = con.execute(
        """
        with t as (select source || ':' || source_record_id as record_key, source, person_id
                   from read_parquet(?)),
        majority as (select dtsen_id, mode(person_id) as person_id from evaluated group by 1),
        corr as (
            select t.record_key, c.dtsen_id, t.person_id, m.person_id as cluster_person
            from t
            left join linkage.person_clusters c on c.record_key = t.record_key and c.extract_month = ?
            left join majority m on m.dtsen_id = c.dtsen_id
            where t.source in (select unnest(?::varchar[])))
        select count(*), count(dtsen_id), count(*) filter (where person_id = cluster_person) from corr""",
        [str(truth), month, correction],
    ).fetchall()[0]
    return {"records": int(row[0]), "attached": int(row[1]), "attached_to_true_person": int(row[2])}


# The correction loop (issue 19), scored on the month's marts. A proposal or objection the
# pipeline accepted (int_koreksi status 'accepted': a visit or Dukcapil confirmed it) whose claim is
# true is "applied" when the month's golden records show it, by its kind:
# - a field correction (UBAH): the person's golden field holds the proposed value;
# - a death (NONAKTIF MENINGGAL): the person's status_hidup is 'meninggal';
# - a move (NONAKTIF PINDAH): no golden field changes (the registers show a move when the family
#   re-registers); the accepted decision is published in dtsen_usulan, which is what is counted;
# - the rest (a family to add, no longer poor, an objection either way): the family's PMT is from
#   the item's visit, or from an observation newer than it (a later visit or Regsosek form), so its
#   desil is no older than what the visit found.
# An item is decided this month (``baru``) when this month's visit decided it, or when Dukcapil
# confirmed its death this month: the report arrived this month, or Dukcapil still listed the
# person last month. Those are the corrections the month's release is the first to carry.
_CORRECTIONS = """
with truth as (
    select source, source_record_id as id_usulan, benar
    from read_parquet($files, union_by_name = true)
    where source in ('usulan_desa', 'sanggahan')),
accepted as (
    select k.*, t.benar, v.bulan_kunjungan
    from intermediate.int_koreksi k
    join truth t using (source, id_usulan)
    left join intermediate.int_kunjungan v using (id_kunjungan)
    where k.status = 'accepted'),
judged as (
    select a.source, a.id_usulan, a.benar,
        case when a.dasar_keputusan = 'dukcapil'
                 then a.bulan_terima = $month or a.dtsen_id in (
                     select dtsen_id from linkage.person_clusters
                     where extract_month = $previous and source = 'dukcapil')
             else a.bulan_kunjungan = $month end as baru,
        case when a.jenis = 'UBAH' then 'ubah'
             when a.alasan = 'MENINGGAL' then 'meninggal'
             when a.alasan = 'PINDAH' then 'pindah'
             when a.jenis = 'SANGGAHAN' then 'sanggahan'
             else lower(a.jenis) || '_' || lower(split_part(a.alasan, ' ', 1)) end as kind,
        case when a.jenis = 'UBAH' and a.kolom_diubah = 'TANGGAL LAHIR'
                 then i.tanggal_lahir is not distinct from cast(try_strptime(a.data_baru, '%d-%m-%Y') as date)
             when a.jenis = 'UBAH' and a.kolom_diubah = 'JENIS KELAMIN'
                 then i.jenis_kelamin is not distinct from upper(a.data_baru)
             when a.jenis = 'UBAH' then false
             when a.alasan = 'MENINGGAL' then coalesce(i.status_hidup = 'meninggal', false)
             when a.alasan = 'PINDAH' then u.status is not distinct from 'accepted'
             else coalesce(f.pmt_bulan_sumber >= a.bulan_kunjungan, false) end as applied
    from accepted a
    left join marts.dtsen_individu i on i.dtsen_id = a.dtsen_id
    left join marts.dtsen_keluarga f on f.dtsen_kk_id = coalesce(a.dtsen_kk_id, i.dtsen_kk_id)
    left join marts.dtsen_usulan u on u.source = a.source and u.id_usulan = a.id_usulan)
select kind, count(*) filter (where benar), count(*) filter (where benar and applied),
       count(*) filter (where not benar), count(*) filter (where benar and baru),
       count(*) filter (where benar and baru and applied)
from judged group by kind order by kind
"""

# A golden field whose provenance names a proposal or objection that no visit or Dukcapil accepted.
_UNVERIFIED_CHANGES = """
with named as (
    select unnest([tanggal_lahir_sumber, jenis_kelamin_sumber, status_hidup_sumber]) as sumber
    from marts.dtsen_individu)
select count(*) from named
where split_part(sumber, ':', 1) in ('usulan_desa', 'sanggahan')
  and (split_part(sumber, ':', 1), substr(sumber, strpos(sumber, ':') + 1)) not in (
      select (source, id_usulan) from intermediate.int_koreksi where status = 'accepted')
"""


def _koreksi_truth(month: str, truth_root: Path | None) -> list[str]:
    """The truth of every proposal, objection and visit received up to ``month``."""
    root = truth_root or paths.truth_dir()
    return [
        str(root / m / "koreksi.parquet")
        for m in sorted(p.name for p in root.iterdir() if p.is_dir())
        if m <= month and (root / m / "koreksi.parquet").exists()
    ]


def _corrections(con, month: str, truth_root: Path | None) -> dict | None:
    """Issue 19: of the true proposals and objections the pipeline verified, the share the month's
    golden records show (by kind; ``_CORRECTIONS``); the false ones it accepted (a visit's error);
    and the golden fields changed by anything not verified (0 by design)."""
    files = _koreksi_truth(month, truth_root)
    if not files or not warehouse.table_exists(con, "intermediate", "int_koreksi"):
        return None
    previous = (date.fromisoformat(f"{month}-01") - timedelta(days=1)).strftime("%Y-%m")
    rows = con.execute(
        _CORRECTIONS, {"files": files, "month": month, "previous": previous}
    ).fetchall()
    verified, applied, decided, shown = (sum(r[i] for r in rows) for i in (1, 2, 4, 5))
    return {
        # Every item verified up to the month (cumulative; a death drops out of the golden records
        # once no register lists the person)...
        "verified_true": int(verified),
        "applied": int(applied),
        "applied_share": round(applied / verified, 4) if verified else None,
        # ...and the ones decided this month: what the release right after the visit carries.
        "verified_true_this_month": int(decided),
        "applied_this_month": int(shown),
        "applied_share_this_month": round(shown / decided, 4) if decided else None,
        "accepted_false": int(sum(r[3] for r in rows)),
        "by_kind": {
            kind: {
                "verified_true": int(v),
                "applied": int(a),
                "accepted_false": int(f),
                "verified_true_this_month": int(d),
                "applied_this_month": int(n),
            }
            for kind, v, a, f, d, n in rows
        },
        "unverified_changes": int(con.execute(_UNVERIFIED_CHANGES).fetchone()[0]),
    }


# The work list against the truth: a family's true inclusion or exclusion error for a programme
# (receiving it while truly above its cut-off, or truly within it and not receiving), by the true
# desil most of its members have. The list's top decile (by the list's own order across
# kabupaten) is compared with a random list of as many families, whose expected share of such
# errors is the share among every family of the month.
_WORK_LIST = """
with true_desil as (
    select m.dtsen_kk_id, mode(e.desil) as desil
    from evaluated e
    join linkage.family_members m on m.dtsen_id = e.dtsen_id and m.extract_month = ?
    where e.desil is not null group by 1),
families as (
    select f.dtsen_kk_id,
        bool_or(case when coalesce(s.menerima, false) then t.desil > p.max_desil
                     else t.desil <= p.max_desil end) as true_error
    from marts.dtsen_keluarga f
    join true_desil t using (dtsen_kk_id)
    cross join reference.programmes p
    left join (select dtsen_kk_id, programme, bool_or(menerima) as menerima
               from marts.dtsen_program_sasaran group by all) s
        on s.dtsen_kk_id = f.dtsen_kk_id and s.programme = p.programme
    group by 1),
listed as (
    select d.dtsen_kk_id, row_number() over (
        order by d.skor desc, d.jarak desc, d.umur_usulan_hari desc nulls last, d.sasaran) as rank
    from marts.dtsen_daftar_verifikasi d
    where d.dtsen_kk_id in (select dtsen_kk_id from families)),
top as (select * from listed where rank <= ceil((select count(*) from listed) / 10.0))
select (select count(*) from listed), (select count(*) from top),
       (select count(*) filter (where f.true_error) from top join families f using (dtsen_kk_id)),
       (select count(*) from families), (select count(*) filter (where true_error) from families)
"""


def _work_list(con, month: str) -> dict | None:
    """Issue 19: how much better than chance the work list's top decile finds true inclusion and
    exclusion errors (``_WORK_LIST``)."""
    if not warehouse.table_exists(con, "marts", "dtsen_daftar_verifikasi"):
        return None
    listed, top, top_errors, families, errors = con.execute(_WORK_LIST, [month]).fetchone()
    if not top or not families:
        return None
    top_share, random_share = top_errors / top, errors / families
    return {
        "families_listed": int(listed),
        "top_decile": int(top),
        "top_decile_true_errors": int(top_errors),
        "top_decile_share": round(top_share, 4),
        "random_list_share": round(random_share, 4),
        "lift": round(top_share / random_share, 2) if random_share else None,
    }


# A truth record's key, as the pipeline's record_key (``t``: the truth's records.parquet).
TRUTH_RECORD_KEY = "t.source || ':' || t.source_record_id"


def truth_file(month: str, truth_root: Path | None = None) -> Path:
    """The generator's per-record truth of ``month`` (person_id, family_id, errors...)."""
    truth = (truth_root or paths.truth_dir()) / month / "records.parquet"
    if not truth.exists():
        raise FileNotFoundError(f"no ground truth for {month} at {truth} (generated data only)")
    return truth


def evaluate_month(month: str, truth_root: Path | None = None) -> dict:
    truth = truth_file(month, truth_root)
    with warehouse.connect(read_only=True) as con:
        clustered = con.execute(
            "select count(*) from linkage.person_clusters where extract_month = ?", [month]
        ).fetchone()[0]
        if not clustered:
            raise LookupError(
                f"no linkage results for {month}: run `dtsen run --month {month}` first"
            )
        # Linkage is scored on the registers; the correction sources' records (proposals,
        # objections, visits), which attach to a person or wait, are scored apart (_attachment).
        correction = list(correction_sources())
        con.execute(
            f"""
            create temp table evaluated as
            select c.record_key, c.dtsen_id, i.nik, coalesce(i.nik_valid, false) as nik_valid, t.person_id,
                   t.family_id, t.household_id, t.desil, {_truth_errors(con, truth)} as errors
            from linkage.person_clusters c
            join intermediate.int_identitas i on i.record_key = c.record_key and i.extract_month = c.extract_month
            join read_parquet(?) t on c.record_key = {TRUTH_RECORD_KEY}
            where c.extract_month = ? and c.source not in (select unnest(?::varchar[]))""",
            [str(truth), month, correction],
        )
        _load_apart_pairs(con, truth)
        con.execute(
            "create temp table evaluated_sources as select distinct split_part(record_key, ':', 1) "
            "as source from evaluated"
        )
        # Truth covers every generated source; score the sources the pipeline linked.
        truth_records = con.execute(
            "select count(*) from read_parquet(?) where source in "
            "(select distinct source from linkage.person_clusters where extract_month = ?) "
            "and source not in (select unnest(?::varchar[]))",
            [str(truth), month, correction],
        ).fetchone()[0]
        evaluated = con.execute("select count(*) from evaluated").fetchone()[0]
        return {
            "month": month,
            "sources": [
                r[0]
                for r in con.execute(
                    "select distinct source from evaluated_sources order by 1"
                ).fetchall()
            ],
            "records_in_truth": int(truth_records),
            "records_evaluated": int(evaluated),
            "records_with_nik_missing_or_invalid": int(
                con.execute("select count(*) from evaluated where not nik_valid").fetchone()[0]
            ),
            "splink": _scores(con, "dtsen_id"),
            "blocking": _blocking_coverage(con, month),
            "nik_only_baseline": _scores(con, "case when nik_valid then nik else record_key end"),
            "families_and_households": _family_scores(con, month),
            "desil": _desil_agreement(con, month),
            "correction_records": _attachment(con, truth, month, correction),
            "corrections": _corrections(con, month, truth_root),
            "work_list": _work_list(con, month),
        }


def score_grouping(month: str, groups, truth_root: Path | None = None) -> dict:
    """Pairwise precision/recall/F1 of any grouping of the month's records (an Arrow table of
    record_key, cluster_id, nik_valid) against the ground truth: how the benchmark scores its
    baselines, with the same pair counts as the pipeline's own score."""
    truth = truth_file(month, truth_root)
    con = warehouse.scratch()
    try:
        con.register("groups_in", groups)
        con.execute(
            f"""
            create temp table evaluated as
            select g.record_key, g.cluster_id, coalesce(g.nik_valid, false) as nik_valid, t.person_id,
                   t.family_id, t.household_id, {_truth_errors(con, truth)} as errors
            from groups_in g
            join read_parquet(?) t on g.record_key = {TRUTH_RECORD_KEY}""",
            [str(truth)],
        )
        _load_apart_pairs(con, truth)
        return _scores(con, "cluster_id")
    finally:
        con.close()


# The labels-based accuracy (dtsen_pipeline/linkage/accuracy.py) on a generated world: the truth is
# the clerk that labels the sample, then the judge of the estimate (tests and the bench only).


def label_from_truth(month: str, path: Path | None = None, truth_root: Path | None = None) -> int:
    """Fill the sample's label column from the generator's ground truth (tests and the bench only:
    the clerk of a generated world). Returns the number of matches."""
    from dtsen_pipeline.linkage import accuracy

    path = path or accuracy.sample_path(month)
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))
    header, body = rows[0], rows[1:]
    at = {c: header.index(c) for c in (*accuracy.KEY_COLUMNS, "label")}
    keys = sorted({r[at[c]] for r in body for c in accuracy.KEY_COLUMNS})
    con = warehouse.scratch()
    try:
        con.register("keys_in", pa.table({"k": keys}))
        person = dict(
            con.execute(
                f"select {TRUTH_RECORD_KEY} as k, person_id from read_parquet(?) t "
                "where k in (select k from keys_in)",
                [str(truth_file(month, truth_root))],
            ).fetchall()
        )
    finally:
        con.close()
    matches = 0
    for r in body:
        same = person[r[at["record_key_l"]]] == person[r[at["record_key_r"]]]
        r[at["label"]] = "1" if same else "0"
        matches += same
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([header, *body])
    accuracy.write_private(path, buf.getvalue())
    return matches


def truth_check(
    month: str,
    result: dict,
    truth_root: Path | None = None,
    report: dict | None = None,
    scored=None,
) -> dict:
    """The estimate beside the truth (tests and the bench only): ``dtsen evaluate``'s precision and
    recall (``report``, when the caller has evaluated the month already), whether each interval
    covers them, and how many true pairs the sampled population cannot see (sharing no blocking
    rule and not linked). ``scored``: see ``accuracy.scored_population``."""
    from dtsen_pipeline.linkage import accuracy

    truth = (report or evaluate_month(month, truth_root))["splink"]
    with accuracy.scored_population(month, scored) as con:
        con.execute(
            f"create or replace temp table persons as select {TRUTH_RECORD_KEY} as k, person_id "
            "from read_parquet(?) t",
            [str(truth_file(month, truth_root))],
        )
        visible = con.execute(
            """
            select count(*) from population p join persons x on x.k = p.a join persons y on y.k = p.b
            where x.person_id = y.person_id"""
        ).fetchone()[0]
    out = {
        "true_pairs": truth["true_pairs"],
        "true_pairs_not_in_population": truth["true_pairs"] - int(visible),
    }
    for figure in ("precision", "recall", "f1"):
        lo, hi = result[f"{figure}_95"]
        out[figure] = {
            "estimate": result[figure],
            "interval_95": [lo, hi],
            "true": truth[figure],
            "covered": lo <= truth[figure] <= hi,
        }
    return out
