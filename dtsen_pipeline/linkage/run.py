"""Train, predict and cluster one month of identities; return clusters and summary figures.

Runs Splink on an in-memory DuckDB: the caller reads the inputs from the warehouse and writes the
results back, so the warehouse file holds no Splink scratch tables.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import pyarrow as pa
from splink import DuckDBAPI, Linker, block_on
from splink.clustering import cluster_pairwise_predictions_at_threshold

from dtsen_pipeline import warehouse
from dtsen_pipeline.ingest.readers import quote_ident, quote_literal
from dtsen_pipeline.linkage import model
from dtsen_pipeline.linkage.config import rules

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


def relatives_sql() -> str:
    """True for a scored pair that looks like two members of one family rather than one person: on
    the same family card and born years apart (person.relatives_years_apart), even with one NIK
    (a member recorded with the head's)."""
    return (
        "coalesce(no_kk_l = no_kk_r, false) "
        "and coalesce(abs(tahun_lahir_pasti_l - tahun_lahir_pasti_r) "
        f">= {rules().relatives_years_apart}, false)"
    )


def corroborated_sql() -> str:
    """True for a scored pair that agrees on an identity field: the same NIK, the same birth date,
    or names at least as alike as the model's lowest name level (``model.NAME_AGREES``)."""
    names_agree = (
        f"(jaro_winkler_similarity(nama_normal_l, nama_normal_r) >= {model.NAME_AGREES} "
        f"and not coalesce({model.SHARED_WORD_ONLY}, false)) or nama_urut_l = nama_urut_r"
    )
    return (
        "coalesce(nik_l = nik_r, false) "
        "or coalesce(tanggal_lahir_pasti_l = tanggal_lahir_pasti_r, false) "
        f"or coalesce({names_agree}, false)"
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


WATERFALL_PAIRS_PER_BAND = 4


def _waterfall_chart(con, db_api, sdf, model_json: Path, out: Path) -> Path | None:
    """A waterfall chart for a sample of scored pairs (4 each: in the review band, linked, near
    certain), drawn by a second linker with Splink's ``remove_sensitive_data``: it shows each
    comparison's level and weight, never the compared NIKs, names or dates."""
    key = model.UNIQUE_ID
    sample = con.execute(f"""
        select a, b from (
            select a, b, row_number() over (partition by band order by md5(a || '|' || b)) as rn, band
            from (select *, case when match_probability < {cluster_threshold()} then 1
                                 when match_probability < 0.99 then 2 else 3 end as band from scored))
        where rn <= {WATERFALL_PAIRS_PER_BAND} order by band, rn""").fetchall()
    if not sample:
        return None
    settings = json.loads(model_json.read_text())
    settings.update(retain_matching_columns=True, retain_intermediate_calculation_columns=True)
    explainer = Linker(sdf, settings, log_level=logging.ERROR)
    for column in model.TF_COLUMNS:
        explainer.table_management.compute_tf_table(column)
    # One typed table per side (dicts would lose the types of NULLs), scored as a cross product;
    # the sampled pairs are kept in their sampled order.
    side = {}
    for name, keys in (("left", [a for a, _ in sample]), ("right", [b for _, b in sample])):
        con.register(f"waterfall_{name}_keys", pa.table({key: keys}))
        side[name] = db_api.register(
            con.sql(
                f"select * from {sdf.physical_name} semi join waterfall_{name}_keys using ({key})"
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


def _is_attach(column: str, attach_only: tuple[str, ...]) -> str:
    """SQL: the record key in ``column`` belongs to an attach-only source (keys are source:id)."""
    names = ", ".join(quote_literal(s) for s in attach_only)
    return f"split_part({column}, ':', 1) in ({names})"


def _attach_only_edges(con, attach_only: tuple[str, ...]) -> None:
    """Keep the edges between register records; of an attach-only record's edges to them, only its
    best (a reviewer's accept or a carried link counts 1.0); none between two attach-only records.
    A record with one edge joins one person and can never bridge two."""
    con.execute(f"""
        create or replace temp table edges as
        with typed as (
            select *, {_is_attach("record_key_l", attach_only)} as attach_l,
                   {_is_attach("record_key_r", attach_only)} as attach_r
            from edges),
        attached as (
            select case when attach_l then record_key_l else record_key_r end as k,
                   case when attach_l then record_key_r else record_key_l end as other,
                   match_probability
            from typed where attach_l <> attach_r
            qualify row_number() over (partition by k order by match_probability desc, other) = 1)
        select record_key_l, record_key_r, match_probability from typed where not attach_l and not attach_r
        union all
        select k, other, match_probability from attached""")


def _check_accepted_sizes(con, key: str, limit: int) -> None:
    """Fail when a person holding a reviewer's accepted pair has more than ``limit`` records: 300
    chained accepts made one "person" of 692 records; every such row is named, so the reviewer can
    reject or remove them."""
    over = con.execute(
        f"""
        with sizes as (select cluster_id, count(*) as n from final_clusters group by 1 having count(*) > ?)
        select s.n, list(distinct d.line order by d.line) as lines
        from decided d join final_clusters c on c.{key} = d.a join sizes s on s.cluster_id = c.cluster_id
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


def link_month(
    identities: pa.Table,
    model_path: Path,
    decisions: pa.Table | None = None,
    charts_dir: Path | None = None,
    reuse_model: Path | None = None,
    previous: pa.Table | None = None,
    max_records: int | None = None,
    attach_only: tuple[str, ...] = (),
) -> LinkageResult:
    """Train the model on this month's records (or reuse a saved one), score candidate pairs, apply
    reviewers' decisions (accepted pairs link, rejected pairs do not), cluster into persons.

    Incremental when ``previous`` (last month's record_key, dtsen_id, fingerprint) is given with a
    reused model: only records that are new, changed or named in a decision are scored, against
    every record (``predict_between``) and among themselves (``predict_within``); unchanged records
    keep last month's grouping.

    ``decisions`` (record_key_l, record_key_r, decision and optionally the file's row, ``line``) are
    checked by ``read_decisions``; a person that accepted pairs would grow beyond
    ``max_records`` (default: person.max_records_per_person) raises DecisionsTooLargeError naming those rows.

    Records of the ``attach_only`` sources (the correction sources: proposals, objections, visits)
    are scored like any, but each joins at most one person, by its best pair at or above the cluster
    threshold, and never two: a noisy objection cannot merge two persons. One that reaches no person
    is left out of the clusters (not linked yet: a person is never made of such records alone)."""
    clock = {"start": time.perf_counter()}
    incremental = previous is not None and reuse_model is not None
    con = warehouse.scratch()
    try:
        db_api = DuckDBAPI(connection=con)
        sdf = db_api.register(identities, dataset_display_name="identitas")
        # Splink warns about untrainable levels on small months; the model JSON records what was trained.
        if reuse_model is not None:
            linker = Linker(sdf, str(reuse_model), log_level=logging.ERROR)
        else:
            linker = Linker(sdf, model.settings(), log_level=logging.ERROR)
            linker.training.estimate_probability_two_random_records_match(
                [block_on("nik", "tanggal_lahir_pasti")], recall=0.75
            )
            linker.training.estimate_u_using_random_sampling(max_pairs=U_SAMPLE_PAIRS, seed=SEED)
            # Two EM sessions so every comparison is trained by one that does not block on it.
            linker.training.estimate_parameters_using_expectation_maximisation(
                block_on("tanggal_lahir_pasti"), estimate_without_term_frequencies=True
            )
            linker.training.estimate_parameters_using_expectation_maximisation(
                block_on("nik"), estimate_without_term_frequencies=True
            )
        clock["train"] = time.perf_counter()

        key = model.UNIQUE_ID
        if decisions is None:
            decisions = pa.table(
                {
                    "record_key_l": pa.array([], pa.string()),
                    "record_key_r": pa.array([], pa.string()),
                    "decision": pa.array([], pa.string()),
                }
            )
        if (
            "line" not in decisions.column_names
        ):  # a table built in code: its rows, after a header line
            decisions = decisions.append_column(
                "line", pa.array(range(2, decisions.num_rows + 2), pa.int64())
            )
        con.register("decisions_in", decisions)
        # Decisions name a pair in either order; normalise to (lower key, higher key).
        con.execute("""
            create or replace temp table decided as
            select least(record_key_l, record_key_r) as a, greatest(record_key_l, record_key_r) as b,
                   lower(trim(decision)) as decision, line
            from decisions_in""")
        # Links carried over unchanged from last month (incremental runs only).
        con.execute(
            "create or replace temp table carried (record_key_l varchar, record_key_r varchar)"
        )
        rescored = None
        if incremental:
            con.register("previous_in", previous)
            con.execute(f"""
                create or replace temp table rescore_keys as
                select i.{key} from {sdf.physical_name} i left join previous_in p on p.record_key = i.{key}
                where p.record_key is null or p.fingerprint <> {fingerprint_sql("i.")}
                   or i.{key} in (select a from decided union select b from decided)""")
            con.execute(f"""
                create or replace temp table carried as
                with kept as (
                    select p.record_key, p.dtsen_id from previous_in p
                    join {sdf.physical_name} i on i.{key} = p.record_key
                    where p.record_key not in (select {key} from rescore_keys))
                select record_key as record_key_l, min(record_key) over (partition by dtsen_id) as record_key_r
                from kept""")
            rescored = con.execute("select count(*) from rescore_keys").fetchall()[0][0]
            fresh = db_api.register(
                con.sql(
                    f"select i.* from {sdf.physical_name} i semi join rescore_keys using ({key})"
                ).to_arrow_table(),
                dataset_display_name="rescore",
            )
            for column in model.TF_COLUMNS:
                linker.table_management.compute_tf_table(column)
            parts = [
                linker.inference.predict_between(
                    sdf, fresh, threshold_match_probability=predict_threshold()
                ),
                linker.inference.predict_within(
                    fresh, threshold_match_probability=predict_threshold()
                ),
            ]
        else:
            parts = [linker.inference.predict(threshold_match_probability=predict_threshold())]
        clock["predict"] = time.perf_counter()
        # A pair that agrees on no identity field (NIK, birth date or name) is never linked on the
        # household's evidence alone (same family card, same village): at 1M persons such pairs
        # were most false links. It stays below the cluster threshold, so it goes to review.
        # Nor are two relatives: the same card and village and a shared marga outweigh birth years
        # apart in a model that takes its comparisons as independent.
        corroborated = f"({corroborated_sql()}) and not ({relatives_sql()})"
        evidence = evidence_sql(linker.misc.save_model_to_json())
        con.execute(
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
        con.execute("""
            create or replace temp table edges as
            select a as record_key_l, b as record_key_r, match_probability from scored
            where (a, b) not in (select a, b from decided where decision = 'reject')
            union all
            select a, b, 1.0 from decided where decision = 'accept'
            union all
            select record_key_l, record_key_r, 1.0 from carried where record_key_l <> record_key_r""")
        if attach_only:
            _attach_only_edges(con, attach_only)
        nodes = sdf.physical_name
        if incremental:
            # Only last month's persons that a new, changed or reviewed record touches can change;
            # every other record keeps its person without clustering again.
            con.execute(f"""
                create or replace temp table touched_ids as
                with touched as (select {key} as k from rescore_keys
                                 union select a from scored union select b from scored
                                 union select a from decided union select b from decided)
                select distinct p.dtsen_id from previous_in p join touched t on t.k = p.record_key""")
            con.execute(f"""
                create or replace temp table cluster_nodes as
                select i.* from {sdf.physical_name} i
                left join previous_in p on p.record_key = i.{key}
                where i.{key} in (select {key} from rescore_keys) or p.dtsen_id in (select dtsen_id from touched_ids)
                   or i.{key} in (select a from scored union select b from scored)""")
            con.execute(f"""
                create or replace temp table untouched as
                select i.{key}, 'kept:' || p.dtsen_id as cluster_id
                from {sdf.physical_name} i join previous_in p on p.record_key = i.{key}
                where i.{key} not in (select {key} from cluster_nodes)""")
            con.execute(
                f"create or replace temp table edges as select * from edges "
                f"where record_key_l in (select {key} from cluster_nodes)"
            )
            nodes = "cluster_nodes"
        clustered = cluster_pairwise_predictions_at_threshold(
            nodes,
            "edges",
            db_api,
            node_id_column_name=key,
            edge_id_column_name_left="record_key_l",
            edge_id_column_name_right="record_key_r",
            threshold_match_probability=cluster_threshold(),
        )
        clusters = f"select {key}, cast(cluster_id as varchar) as cluster_id from {clustered.physical_name}"
        if incremental:
            clusters += f" union all select {key}, cluster_id from untouched"
        clock["cluster"] = time.perf_counter()
        con.execute(f"create or replace temp table final_clusters as {clusters}")
        if attach_only:
            con.execute(f"""
                delete from final_clusters where cluster_id in (
                    select cluster_id from final_clusters group by cluster_id
                    having bool_and({_is_attach(key, attach_only)}))""")
        _check_accepted_sizes(con, key, max_records or max_records_per_person())
        clusters = f"select {key}, cluster_id from final_clusters"

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
            waterfall = _waterfall_chart(
                con, db_api, sdf, model_path, charts_dir / "waterfall_sample_pairs.html"
            )
            if waterfall is not None:
                charts["waterfall_sample_pairs"] = waterfall
        clusters_tbl = con.sql(
            f"select c.{key} as record_key, i.source, c.cluster_id "
            f"from ({clusters}) c join {sdf.physical_name} i using ({key})"
        ).to_arrow_table()
        predictions_tbl = con.sql(
            "select a as record_key_l, b as record_key_r, match_weight, match_probability from scored"
        ).to_arrow_table()
        review_tbl = con.sql(f"""
            select s.a as record_key_l, s.b as record_key_r, s.match_probability, s.match_weight,
                   cast(s.evidence as varchar) as evidence, d.decision
            from scored s left join decided d using (a, b)
            where s.match_probability < {cluster_threshold()}""").to_arrow_table()
        applied = dict(con.execute("select decision, count(*) from decided group by 1").fetchall())
        seconds = {
            p: round(clock[p] - clock[q], 1)
            for q, p in pairwise(["start", "train", "predict", "cluster"])
        }
        return LinkageResult(
            clusters_tbl,
            predictions_tbl,
            review_tbl,
            model_path,
            charts,
            applied,
            reuse_model is None,
            seconds,
            rescored,
        )
    finally:
        con.close()
