"""Train, predict and cluster one month of identities; return clusters and summary figures.

Runs Splink on an in-memory DuckDB: the caller reads the inputs from the warehouse and writes the
results back, so the warehouse file holds no Splink scratch tables.

``link_month`` runs the phases below in order, each a function of its own (tests/linkage/test_phases.py
checks each on a few hand-built records):

1. ``load_or_train``: reuse a saved model, or ``train`` one on this month's records;
2. ``normalise_decisions``, then ``score_full`` or ``score_incremental`` (records new, changed or
   named in a decision scored again; last month's links between the others carried over);
3. ``corroborate``: the scored pairs, capped below the cluster threshold when they agree on no
   identity field or look like two relatives;
4. ``decision_edges``: rejected pairs removed, accepted and carried ones added; with attach-only
   sources (the correction sources), ``carried_on_registers`` before and ``attach_edges`` after;
5. ``cluster`` (incremental runs: ``split_touched`` first, so persons no new, changed or reviewed
   record touches keep their id), ``drop_unattached`` with attach-only sources, then
   ``check_accepted_sizes``;
6. ``explain``: the model JSON, its charts and the clerical review table.

Each phase reads the relations (tables in the run's scratch connection) it is given by name and
returns the names of those it creates: none reads a table another phase left behind unannounced.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa
from splink import DuckDBAPI, Linker, block_on
from splink.blocking_rule_library import CustomRule
from splink.clustering import cluster_pairwise_predictions_at_threshold

from dtsen_pipeline.lib import warehouse
from dtsen_pipeline.lib.warehouse import quote_ident, quote_literal
from dtsen_pipeline.linkage import model
from dtsen_pipeline.linkage.config import rules

if TYPE_CHECKING:
    from splink.internals.splink_dataframe import SplinkDataFrame

    from dtsen_pipeline.linkage.spark import SparkSide

# Thresholds live in config/linkage.yaml, read when first used (never at import, so a broken file
# fails the step that needs it with its message, not every import). Pairs scored in
# [predict, cluster) are uncertain: they go to clerical review.


def predict_threshold() -> float:
    """Pairs at or above this are kept in linkage.pairwise_predictions."""
    return rules().predict_threshold


def cluster_threshold() -> float:
    """Pairs at or above this join records into one person."""
    return rules().cluster_threshold


def uncorroborated_max() -> float:
    """Highest probability a pair may keep without agreeing on an identity field (review band)."""
    return round(cluster_threshold() - 0.0001, 4)


def max_records_per_person() -> int:
    """The most source records one person may have (reviewers' accepted pairs may not go beyond it)."""
    return rules().max_records_per_person


U_SAMPLE_PAIRS = 2_000_000
SEED = 7
# Each EM session blocks on columns whose pairs grow with the square of the records (a birth date
# holds ~10x more records at 1M persons than at 100k, so ~100x the pairs: 202M measured at 1M). EM needs
# enough pairs to see every level, not all of them: a session with more than EM_MAX_PAIRS pairs
# keeps only the pairs of a seeded sample of kabupaten (``em_sessions``). At 100k persons no
# session reaches the cap, so the model trains on every pair there as before.
EM_MAX_PAIRS = 3_000_000
# The three EM sessions, by the columns each blocks on (see ``train``). The NIK session is never
# sampled: its pairs grow with the records, not their square (3.6M at 1M persons), and it is the
# session that trains the region comparison, which a kabupaten sample would leave untrained.
EM_SESSIONS = (("tanggal_lahir_pasti",), ("nik",), ("nama_normal", "kode_kab"))
EM_NEVER_SAMPLED = (("nik",),)


class DecisionsTooLargeError(ValueError):
    """Reviewers' accepted pairs would make a person of more records than the declared maximum."""


@dataclass
class LinkageResult:
    clusters: pa.Table  # record_key, source, cluster_id
    predictions: pa.Table  # record_key_l, record_key_r, match_weight, match_probability
    review: pa.Table  # uncertain pairs with their evidence and any decision already taken
    model_json: Path
    charts: dict[str, Path]
    decisions_applied: dict[str, int]
    trained: bool  # False when an earlier month's model was reused
    seconds: dict[str, float]  # time per phase: train, predict, cluster
    rescored: int | None = None  # incremental runs: records scored again (new, changed or reviewed)
    filled: list[str] | None = (
        None  # levels training could not reach, filled (model.fill_untrained)
    )
    em_sessions: list[str] | None = None  # each EM session's pairs, and any kabupaten sampling
    engine: str = "duckdb"  # where training and scoring ran: duckdb or spark


def _names_agree_sql() -> str:
    """Names at least as alike as the model's lowest name level (``model.NAME_AGREES``) and not
    merely sharing a word, the same words in another order, or one a short form of the other."""
    return (
        f"(jaro_winkler_similarity(nama_normal_l, nama_normal_r) >= {model.NAME_AGREES} "
        f"and not coalesce({model.SHARED_WORD_ONLY}, false)) or nama_urut_l = nama_urut_r "
        f"or coalesce({model.SHORT_FORM}, false)"
    )


def _names_unalike_sql() -> str:
    """Two names that say two people: sharing a word only (a marga, a father's name) or not alike."""
    return (
        f"coalesce({model.SHARED_WORD_ONLY}, false) "
        f"or coalesce(jaro_winkler_similarity(nama_normal_l, nama_normal_r) < {model.NAME_AGREES} "
        f"and not ({_names_agree_sql()}), false)"
    )


def relatives_sql() -> str:
    """True for a scored pair that looks like two members of one family rather than one person: on
    the same family card and either born years apart (person.relatives_years_apart), even with one
    NIK (a member recorded with the head's), or with unalike names and two NIKs each carrying its own
    record's birth date and sex (twins: one card, one birth date, one village)."""
    return (
        "coalesce(no_kk_l = no_kk_r, false) and ("
        "coalesce(abs(tahun_lahir_pasti_l - tahun_lahir_pasti_r) "
        f">= {rules().relatives_years_apart}, false) "
        "or (coalesce(nik_l <> nik_r and nik_matches_birth_l and nik_matches_birth_r, false) "
        f"and ({_names_unalike_sql()})))"
    )


def corroborated_sql() -> str:
    """True for a scored pair that agrees on an identity field: the same birth date, names that
    agree (``_names_agree_sql``), or the same NIK with names that do not say two people (a NIK is
    borrowed inside a family: the head's, recorded for a member)."""
    return (
        f"coalesce(nik_l = nik_r and not ({_names_unalike_sql()}), false) "
        "or coalesce(tanggal_lahir_pasti_l = tanggal_lahir_pasti_r, false) "
        f"or coalesce({_names_agree_sql()}, false)"
    )


def evidence_sql(model_dict: dict) -> str:
    """A JSON object naming, per comparison, the level the pair reached (labels, not values:
    evidence a reviewer can read without the pair's NIKs and names in it). ``model_dict``: the
    model's settings, as Splink's public ``linker.misc.save_model_to_json()`` returns them."""
    prefix = model_dict[
        "comparison_vector_value_column_prefix"
    ]  # gamma_ unless the settings say otherwise
    parts = []
    for name, labels in model.level_labels(model_dict).items():
        cases = " ".join(
            f"when {value} then {quote_literal(label)}" for value, label in labels.items()
        )
        parts.append(f"{quote_literal(name)}, case {quote_ident(prefix + name)} {cases} end")
    return "json_object(" + ", ".join(parts) + ")"


def fingerprint_sql(alias: str = "") -> str:
    """One hash of the columns the model compares: a record whose hash is unchanged since last
    month needs no new scoring."""
    cols = [c for c in model.INPUT_COLUMNS if c not in (model.UNIQUE_ID, "source")]
    return (
        "md5(concat_ws('|', "
        + ", ".join(f"coalesce(cast({alias}{c} as varchar), '')" for c in cols)
        + "))"
    )


@dataclass(frozen=True)
class Workspace:
    """One run's in-memory DuckDB (``warehouse.scratch()``), Splink's API on it and the month's
    records registered there (model.INPUT_COLUMNS, one row per source record). With the Spark
    engine, ``spark`` holds the same records on Spark, where training and scoring run; their
    scored pairs come back here (``scored_here``)."""

    con: duckdb.DuckDBPyConnection
    db_api: DuckDBAPI
    records: SplinkDataFrame
    spark: SparkSide | None = None

    @classmethod
    def over(
        cls, con: duckdb.DuckDBPyConnection, identities: pa.Table, engine: str = "duckdb"
    ) -> Workspace:
        db_api = DuckDBAPI(connection=con)
        records = db_api.register(identities, dataset_display_name="identitas")
        if engine == "spark":
            from dtsen_pipeline.linkage.spark import SparkSide

            return cls(con, db_api, records, SparkSide(identities))
        return cls(con, db_api, records)

    @property
    def dialect(self) -> str:
        """The SQL dialect training and scoring run in."""
        return "duckdb" if self.spark is None else "spark"

    def scorer(self, linker: Linker) -> Linker:
        """The linker that scores: ``linker`` itself on DuckDB; on Spark, its model over the
        records there (model.for_dialect)."""
        if self.spark is None:
            return linker
        spark_model = model.for_dialect(linker.misc.save_model_to_json(), "spark")
        return Linker(self.spark.records, spark_model, log_level=logging.ERROR)

    def scored_here(self, frame: SplinkDataFrame) -> SplinkDataFrame:
        """Scored pairs in this DuckDB connection (from Spark, as the Parquet files Spark wrote; on
        DuckDB, as they are)."""
        if self.spark is None:
            return frame
        files = self.spark.to_parquet(frame, "scored")
        self.con.execute(
            f"create or replace view scored_on_spark as select * from read_parquet({quote_literal(files)})"
        )
        return self.db_api.register("scored_on_spark", dataset_display_name="scored_on_spark")

    def register(self, name: str, table: pa.Table) -> str:
        """Make ``table`` readable as ``name``; return the name, for the phases that read it."""
        self.con.register(name, table)
        return name


@dataclass(frozen=True)
class Scores:
    """What scoring produced. ``parts``: Splink's scored pairs (one table in a full run; in an
    incremental run, fresh records against all and among themselves). ``carried``: relation
    (record_key_l, record_key_r) of last month's links between records not scored again (empty in
    a full run). ``rescore_keys``: relation (record_key) of the records scored again, and
    ``rescored`` their count (incremental runs only)."""

    parts: list[SplinkDataFrame]
    carried: str
    rescore_keys: str | None = None
    rescored: int | None = None


@dataclass(frozen=True)
class Touched:
    """An incremental run's split of the month's records (relations): ``nodes`` are clustered again
    (records scored again, in a scored pair, or of a person one of those touches); ``untouched``
    (record_key, cluster_id 'kept:' || last month's dtsen_id) keep their person."""

    nodes: str
    untouched: str


# --- 1. the model --------------------------------------------------------------------------------


@dataclass(frozen=True)
class EmSession:
    """One EM session's blocking: its columns, the pairs they make, and the share of kabupaten
    whose records it keeps (1.0: every record)."""

    columns: tuple[str, ...]
    pairs: int
    kabupaten_share: float

    def blocking(self, dialect: str = "duckdb"):
        """The blocking rule: ``block_on`` the columns, restricted to the sampled kabupaten when
        the share is below 1 (a kabupaten is in the sample when a seeded hash of its code falls
        below the share: the same kabupaten every run, and a record without one is left out).
        Each engine has its own hash, so a Spark run samples other kabupaten than a DuckDB run."""
        if self.kabupaten_share >= 1:
            return block_on(*self.columns)
        rule = block_on(*self.columns).get_blocking_rule(dialect).blocking_rule_sql
        cut = max(1, round(self.kabupaten_share * 10_000))
        hashed = {
            "duckdb": "hash({side}.kode_kab || '{seed}') % 10000",
            "spark": "pmod(hash(concat({side}.kode_kab, '{seed}')), 10000)",
        }[dialect]
        sampled = " and ".join(
            f"{hashed.format(side=side, seed=SEED)} < {cut}" for side in ("l", "r")
        )
        return CustomRule(f"{rule} and {sampled}", sql_dialect=dialect)

    def describe(self) -> str:
        what = " and ".join(self.columns)
        if self.kabupaten_share >= 1:
            return f"{what}: {self.pairs:,} pairs, all"
        return (
            f"{what}: {self.pairs:,} pairs, over {EM_MAX_PAIRS:,}: "
            f"{self.kabupaten_share:.1%} of kabupaten sampled"
        )


def em_sessions(ws: Workspace, max_pairs: int = EM_MAX_PAIRS) -> list[EmSession]:
    """The EM sessions' blocking for this month's records. A session whose columns make more than
    ``max_pairs`` pairs samples kabupaten (except those of ``EM_NEVER_SAMPLED``): when it blocks on
    the kabupaten, its pairs fall with the share sampled; otherwise both records of a pair must be
    sampled, so with its square."""
    sessions = []
    for columns in EM_SESSIONS:
        present = " and ".join(f"{quote_ident(c)} is not null" for c in columns)
        grouped = ", ".join(quote_ident(c) for c in columns)
        [(pairs,)] = ws.con.execute(
            f"select coalesce(sum(n * (n - 1) // 2), 0) from (select count(*) as n from "
            f"{ws.records.physical_name} where {present} group by {grouped})"
        ).fetchall()
        share = 1.0
        if pairs > max_pairs and columns not in EM_NEVER_SAMPLED:
            share = max_pairs / pairs if "kode_kab" in columns else (max_pairs / pairs) ** 0.5
        sessions.append(EmSession(columns, int(pairs), share))
    return sessions


def _quiet(message: str) -> None:
    """The default ``progress``: say nothing."""


def train(
    linker: Linker,
    sessions: list[EmSession],
    dialect: str = "duckdb",
    progress: Callable[[str], None] = _quiet,
) -> None:
    """Estimate the model's parameters by EM on the linker's records, without labels.
    ``sessions``: the EM sessions' blocking (``em_sessions``), rendered in the linker's
    ``dialect``. ``progress`` is told each stage as it starts (the run's log)."""
    progress("training: the prior, from pairs agreeing on NIK and birth date")
    linker.training.estimate_probability_two_random_records_match(
        [block_on("nik", "tanggal_lahir_pasti")], recall=0.75
    )
    progress(f"training: u probabilities from {U_SAMPLE_PAIRS:,} random pairs")
    linker.training.estimate_u_using_random_sampling(max_pairs=U_SAMPLE_PAIRS, seed=SEED)
    # Three EM sessions, so every comparison is trained by one that blocks neither on it nor on a
    # column its levels read: the birth-date session trains names, sex, card and region (not NIK:
    # its levels read the birth dates); the NIK session trains birth date, names, sex, card and
    # region; the name-and-kabupaten session trains NIK, birth date, sex and card. A level no
    # session can reach by design is fixed in model.py with its reason. A session that samples
    # kabupaten (over EM_MAX_PAIRS pairs) reads kode_kab, so the region is then trained by the
    # NIK session alone, which is never sampled.
    for number, session in enumerate(sessions, 1):
        progress(f"training: EM session {number} of {len(sessions)}, {session.describe()}")
        linker.training.estimate_parameters_using_expectation_maximisation(
            session.blocking(dialect), estimate_without_term_frequencies=True
        )


def load_or_train(
    ws: Workspace, reuse_model: Path | None, progress: Callable[[str], None] = _quiet
) -> tuple[Linker, list[str], list[EmSession]]:
    """A linker over the month's records: with the saved model ``reuse_model`` as it is, or with
    the model's settings (model.settings()) trained on these records. Also the levels training
    left without m or u, filled by ``model.fill_untrained``, and the EM sessions (none of either
    when a model is reused)."""
    if reuse_model is not None:
        return Linker(ws.records, str(reuse_model), log_level=logging.ERROR), [], []
    sessions = em_sessions(ws)
    if ws.spark is None:
        linker = Linker(ws.records, model.settings(), log_level=logging.ERROR)
    else:
        linker = Linker(ws.spark.records, model.settings("spark"), log_level=logging.ERROR)
    train(linker, sessions, ws.dialect, progress)
    rows = ws.con.execute(f"select count(*) from {ws.records.physical_name}").fetchall()[0][0]
    # Kept in the DuckDB form whichever engine trained it (a Spark-trained model carried over).
    trained, filled = model.fill_untrained(
        model.for_dialect(linker.misc.save_model_to_json(), "duckdb"),
        min(U_SAMPLE_PAIRS, rows * (rows - 1) // 2),
    )
    return Linker(ws.records, trained, log_level=logging.ERROR), filled, sessions


# --- 2. decisions and scoring --------------------------------------------------------------------


def normalise_decisions(ws: Workspace, decisions: pa.Table | None) -> str:
    """Reviewers' decisions (record_key_l, record_key_r, decision, optionally ``line``) as the
    relation ``decided`` (a, b, decision, line): each pair as (lower key, higher key), the
    decision trimmed and in lower case; the name is returned."""
    if decisions is None:
        decisions = pa.table(
            {
                "record_key_l": pa.array([], pa.string()),
                "record_key_r": pa.array([], pa.string()),
                "decision": pa.array([], pa.string()),
            }
        )
    if "line" not in decisions.column_names:  # a table built in code: its rows, after a header line
        decisions = decisions.append_column(
            "line", pa.array(range(2, decisions.num_rows + 2), pa.int64())
        )
    ws.register("decisions_in", decisions)
    # Decisions name a pair in either order; normalise to (lower key, higher key).
    ws.con.execute("""
        create or replace temp table decided as
        select least(record_key_l, record_key_r) as a, greatest(record_key_l, record_key_r) as b,
               lower(trim(decision)) as decision, line
        from decisions_in""")
    return "decided"


def _no_carried_links(ws: Workspace) -> str:
    ws.con.execute(
        "create or replace temp table carried (record_key_l varchar, record_key_r varchar)"
    )
    return "carried"


def score_full(ws: Workspace, linker: Linker) -> Scores:
    """Every candidate pair of the month's records (the model's blocking rules), scored."""
    scored = ws.scorer(linker).inference.predict(threshold_match_probability=predict_threshold())
    return Scores([ws.scored_here(scored)], _no_carried_links(ws))


def score_incremental(ws: Workspace, linker: Linker, previous: str, decided: str) -> Scores:
    """Score only the records that are new, changed since last month or named in a decision, against
    every record (``predict_between``), themselves included. ``previous``:
    relation of last month's record_key, dtsen_id, fingerprint (``fingerprint_sql``); ``decided``:
    from ``normalise_decisions``. Last month's links between the other records are carried over,
    each record linked to the first record (by key) of its old person."""
    key, records = model.UNIQUE_ID, ws.records.physical_name
    ws.con.execute(f"""
        create or replace temp table rescore_keys as
        select i.{key} from {records} i left join {previous} p on p.record_key = i.{key}
        where p.record_key is null or p.fingerprint <> {fingerprint_sql("i.")}
           or i.{key} in (select a from {decided} union select b from {decided})""")
    ws.con.execute(f"""
        create or replace temp table carried as
        with kept as (
            select p.record_key, p.dtsen_id from {previous} p
            join {records} i on i.{key} = p.record_key
            where p.record_key not in (select {key} from rescore_keys))
        select record_key as record_key_l, min(record_key) over (partition by dtsen_id) as record_key_r
        from kept""")
    rescored = ws.con.execute("select count(*) from rescore_keys").fetchall()[0][0]
    fresh_rows = ws.con.sql(
        f"select i.* from {records} i semi join rescore_keys using ({key})"
    ).to_arrow_table()
    scorer = ws.scorer(linker)
    if ws.spark is None:
        everyone, fresh = ws.records, ws.db_api.register(fresh_rows, dataset_display_name="rescore")
    else:
        everyone, fresh = ws.spark.records, ws.spark.register(fresh_rows, "rescore")
    for column in model.TF_COLUMNS:
        scorer.table_management.compute_tf_table(column)
    # Every record against the fresh ones: the fresh are among every record, so this scores them
    # among themselves too (and each against itself, which ``corroborate`` drops).
    scored = scorer.inference.predict_between(
        everyone, fresh, threshold_match_probability=predict_threshold()
    )
    return Scores([ws.scored_here(scored)], "carried", "rescore_keys", rescored)


# --- 3. corroboration ----------------------------------------------------------------------------


def corroborate(ws: Workspace, linker: Linker, parts: list[SplinkDataFrame]) -> str:
    """The relation ``scored`` (a, b, match_weight, match_probability, evidence): every scored
    pair of ``parts`` once, as (lower key, higher key), with the evidence a reviewer reads
    (``evidence_sql``); its name is returned. A pair that agrees on no identity field, or looks
    like two relatives, keeps at most ``uncorroborated_max()``: below the cluster threshold, so it
    goes to review instead of linking."""
    key = model.UNIQUE_ID
    # A pair that agrees on no identity field (NIK, birth date or name) is never linked on the
    # household's evidence alone (same family card, same village): at 1M persons such pairs
    # were most false links. It stays below the cluster threshold, so it goes to review.
    # Nor are two relatives: the same card and village and a shared marga outweigh birth years
    # apart in a model that takes its comparisons as independent.
    corroborated = f"({corroborated_sql()}) and not ({relatives_sql()})"
    evidence = evidence_sql(linker.misc.save_model_to_json())
    ws.con.execute(
        "create or replace temp table scored as "
        + " union ".join(
            f"""select least({key}_l, {key}_r) as a, greatest({key}_l, {key}_r) as b, match_weight,
                   case when {corroborated} then match_probability
                        else least(match_probability, {uncorroborated_max()}) end as match_probability,
                   {evidence} as evidence
            from {part.physical_name} where {key}_l <> {key}_r"""
            for part in parts
        )
    )
    return "scored"


# --- 4. decisions applied ------------------------------------------------------------------------


def decision_edges(ws: Workspace, scored: str, decided: str, carried: str) -> str:
    """The relation ``edges`` (record_key_l, record_key_r, match_probability) clustering reads:
    the scored pairs but those a reviewer rejected, every accepted pair and every carried link
    (both at 1.0); its name is returned."""
    ws.con.execute(f"""
        create or replace temp table edges as
        select a as record_key_l, b as record_key_r, match_probability from {scored}
        where (a, b) not in (select a, b from {decided} where decision = 'reject')
        union all
        select a, b, 1.0 from {decided} where decision = 'accept'
        union all
        select record_key_l, record_key_r, 1.0 from {carried} where record_key_l <> record_key_r""")
    return "edges"


# --- 4b. attach-only sources: the correction sources join a person, never make or bridge one ------


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


# --- 5. clustering -------------------------------------------------------------------------------


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


def check_accepted_sizes(ws: Workspace, clusters: str, decided: str, limit: int) -> None:
    """Fail when a person holding a reviewer's accepted pair has more than ``limit`` records: 300
    chained accepts made one "person" of 692 records; every such row is named, so the reviewer can
    reject or remove them."""
    key = model.UNIQUE_ID
    over = ws.con.execute(
        f"""
        with sizes as (select cluster_id, count(*) as n from {clusters} group by 1 having count(*) > ?)
        select s.n, list(distinct d.line order by d.line) as lines
        from {decided} d join {clusters} c on c.{key} = d.a join sizes s on s.cluster_id = c.cluster_id
        where d.decision = 'accept'
        group by s.cluster_id, s.n order by s.n desc""",
        [limit],
    ).fetchall()
    if over:
        persons = "; ".join(
            f"{n} records, accepted on rows {', '.join(map(str, lines))}" for n, lines in over
        )
        raise DecisionsTooLargeError(
            f"accepted pairs would make {len(over)} person{'s' if len(over) > 1 else ''} of more than "
            f"person.max_records_per_person ({limit}) records (config/linkage.yaml); no decision was applied; "
            f"reject or remove those rows and run again. {persons}"
        )


# --- 6. explanation: the model, its charts, the review table -------------------------------------

WATERFALL_PAIRS_PER_BAND = 4


def waterfall_chart(ws: Workspace, scored: str, model_json: Path, out: Path) -> Path | None:
    """A waterfall chart for a sample of scored pairs (4 each: in the review band, linked, near
    certain), drawn by a second linker with Splink's ``remove_sensitive_data``: it shows each
    comparison's level and weight, never the compared NIKs, names or dates."""
    key, con = model.UNIQUE_ID, ws.con
    sample = con.execute(f"""
        select a, b from (
            select a, b, row_number() over (partition by band order by md5(a || '|' || b)) as rn, band
            from (select *, case when match_probability < {cluster_threshold()} then 1
                                 when match_probability < 0.99 then 2 else 3 end as band from {scored}))
        where rn <= {WATERFALL_PAIRS_PER_BAND} order by band, rn""").fetchall()
    if not sample:
        return None
    settings = json.loads(model_json.read_text())
    settings.update(retain_matching_columns=True, retain_intermediate_calculation_columns=True)
    explainer = Linker(ws.records, settings, log_level=logging.ERROR)
    for column in model.TF_COLUMNS:
        explainer.table_management.compute_tf_table(column)
    # One typed table per side (dicts would lose the types of NULLs), scored as a cross product;
    # the sampled pairs are kept in their sampled order.
    side = {}
    for name, keys in (("left", [a for a, _ in sample]), ("right", [b for _, b in sample])):
        con.register(f"waterfall_{name}_keys", pa.table({key: keys}))
        side[name] = ws.db_api.register(
            con.sql(
                f"select * from {ws.records.physical_name} semi join waterfall_{name}_keys using ({key})"
            ).to_arrow_table(),
            dataset_display_name=f"waterfall_{name}",
        )
    scored_pairs = {
        (r[f"{key}_l"], r[f"{key}_r"]): r
        for r in explainer.inference.score_pairs(side["left"], side["right"]).as_record_list()
    }
    records = [scored_pairs[pair] for pair in sample if pair in scored_pairs]
    chart = explainer.visualisations.waterfall_chart(
        records, filter_nulls=False, remove_sensitive_data=True
    )
    chart.save(str(out), inline=True)  # Vega inlined: the chart renders with no network
    return out


def explain(
    ws: Workspace,
    linker: Linker,
    scored: str,
    decided: str,
    model_path: Path,
    charts_dir: Path | None,
) -> tuple[dict[str, Path], pa.Table]:
    """Save the model to ``model_path``; draw its charts into ``charts_dir`` (if given); return the
    charts by name and the review table: the scored pairs below the cluster threshold with their
    evidence and any decision already taken."""
    model_path.parent.mkdir(parents=True, exist_ok=True)
    linker.misc.save_model_to_json(str(model_path), overwrite=True)
    charts = {}
    if charts_dir is not None:
        charts_dir.mkdir(parents=True, exist_ok=True)
        for name, chart in (
            ("match_weights", linker.visualisations.match_weights_chart()),
            ("m_u_parameters", linker.visualisations.m_u_parameters_chart()),
        ):
            charts[name] = charts_dir / f"{name}.html"
            # Vega, Vega-Lite and vega-embed inlined (Splink ships them): without ``inline`` the
            # page loads them from a CDN and shows only an error offline.
            chart.save(str(charts[name]), inline=True)
        waterfall = waterfall_chart(
            ws, scored, model_path, charts_dir / "waterfall_sample_pairs.html"
        )
        if waterfall is not None:
            charts["waterfall_sample_pairs"] = waterfall
    review = ws.con.sql(f"""
        select s.a as record_key_l, s.b as record_key_r, s.match_probability, s.match_weight,
               cast(s.evidence as varchar) as evidence, d.decision
        from {scored} s left join {decided} d using (a, b)
        where s.match_probability < {cluster_threshold()}""").to_arrow_table()
    return charts, review


# --- the run -------------------------------------------------------------------------------------


def link_month(
    identities: pa.Table,
    model_path: Path,
    decisions: pa.Table | None = None,
    charts_dir: Path | None = None,
    reuse_model: Path | None = None,
    previous: pa.Table | None = None,
    max_records: int | None = None,
    attach_only: tuple[str, ...] = (),
    engine: str | None = None,
    progress: Callable[[str], None] = _quiet,
) -> LinkageResult:
    """Train the model on this month's records (or reuse a saved one), score candidate pairs, apply
    reviewers' decisions (accepted pairs link, rejected pairs do not), cluster into persons.

    Incremental when ``previous`` (last month's record_key, dtsen_id, fingerprint) is given with a
    reused model: only records that are new, changed or named in a decision are scored, against
    every record (``predict_between``, which scores them among themselves too); unchanged records
    keep last month's grouping.

    ``decisions`` (record_key_l, record_key_r, decision and optionally the file's row, ``line``) are
    checked by ``read_decisions``; a person that accepted pairs would grow beyond
    ``max_records`` (default: person.max_records_per_person) raises DecisionsTooLargeError naming those rows.

    Records of the ``attach_only`` sources (the correction sources: proposals, objections, visits)
    are scored like any, but each joins at most one person, by its best pair at or above the cluster
    threshold, and never two: a noisy objection cannot merge two persons. One that reaches no person
    is left out of the clusters (not linked yet: a person is never made of such records alone).

    ``engine`` (default: config/linkage.yaml's engine.name): where training and scoring run,
    "duckdb" or "spark" (linkage/spark.py); everything after scoring runs on DuckDB either way.

    ``progress`` is told each phase as it starts, with the seconds since the start (the asset passes
    its log: a month's linkage takes minutes, on Spark hours)."""
    clock = {"start": time.perf_counter()}

    def say(message: str) -> None:
        progress(f"{message} ({time.perf_counter() - clock['start']:.0f} s)")

    incremental = previous is not None and reuse_model is not None
    con = warehouse.scratch()
    ws = None
    try:
        ws = Workspace.over(con, identities, engine or rules().engine)
        linker, filled, sessions = load_or_train(ws, reuse_model, say)
        clock["train"] = time.perf_counter()

        decided = normalise_decisions(ws, decisions)
        last_month = ws.register("previous_in", previous) if incremental else None
        say(
            f"scoring on {ws.dialect}: "
            + ("new, changed and reviewed records" if incremental else "every candidate pair")
        )
        if last_month is not None:
            scores = score_incremental(ws, linker, last_month, decided)
        else:
            scores = score_full(ws, linker)
        clock["predict"] = time.perf_counter()

        say("clustering the scored pairs")
        scored = corroborate(ws, linker, scores.parts)
        carried = scores.carried
        if attach_only:
            carried = carried_on_registers(ws, carried, attach_only)
        edges = decision_edges(ws, scored, decided, carried)
        if attach_only:
            edges = attach_edges(ws, edges, attach_only)
        touched = None
        if last_month is not None:
            touched = split_touched(ws, last_month, scores.rescore_keys, scored, decided)
        clusters = cluster(ws, edges, touched)
        if attach_only:
            clusters = drop_unattached(ws, clusters, attach_only)
        clock["cluster"] = time.perf_counter()
        check_accepted_sizes(ws, clusters, decided, max_records or max_records_per_person())

        say("saving the model, its charts and the review table")
        charts, review = explain(ws, linker, scored, decided, model_path, charts_dir)
        key = model.UNIQUE_ID
        return LinkageResult(
            clusters=con.sql(
                f"select c.{key} as record_key, i.source, c.cluster_id "
                f"from (select {key}, cluster_id from {clusters}) c "
                f"join {ws.records.physical_name} i using ({key})"
            ).to_arrow_table(),
            predictions=con.sql(
                "select a as record_key_l, b as record_key_r, match_weight, match_probability "
                f"from {scored}"
            ).to_arrow_table(),
            review=review,
            model_json=model_path,
            charts=charts,
            decisions_applied=dict(
                con.execute(f"select decision, count(*) from {decided} group by 1").fetchall()
            ),
            trained=reuse_model is None,
            seconds={
                p: round(clock[p] - clock[q], 1)
                for q, p in pairwise(["start", "train", "predict", "cluster"])
            },
            rescored=scores.rescored,
            filled=filled,
            em_sessions=[session.describe() for session in sessions],
            engine=ws.dialect,
        )
    finally:
        if ws is not None and ws.spark is not None:
            ws.spark.close()
        con.close()
