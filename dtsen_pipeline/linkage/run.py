"""One month of person linkage: train, score, corroborate, apply decisions, cluster, explain.

Runs Splink on an in-memory DuckDB (linkage/workspace.py): the caller reads the inputs from the
warehouse and writes the results back, so the warehouse file holds no Splink scratch tables.

``link_month`` runs the phases below in order, each a function of the module named
(tests/linkage/test_phases.py checks each on a few hand-built records):

1. ``training.load_or_train``: reuse a saved model, or ``train`` one on this month's records;
2. ``decisions.normalise_decisions``, then ``scoring.score_full`` or ``scoring.score_incremental``
   (records new, changed or named in a decision scored again; last month's links between the
   others carried over);
3. ``evidence.corroborate``: the scored pairs, capped below the cluster threshold when they agree
   on no identity field or look like two relatives;
4. ``decisions.resolve_decisions`` (accepts that contradict a reject through other accepts are
   not applied, reported by row), ``decisions.decision_edges``: rejected pairs removed, accepted
   and carried ones added; with attach-only sources (the correction sources),
   ``attach_only.carried_on_registers`` before and ``attach_only.attach_edges`` after;
5. ``clustering.cluster`` (incremental runs: ``clustering.split_touched`` first, so persons no new,
   changed or reviewed record touches keep their id), ``clustering.keep_rejected_apart`` (a
   person holding a rejected pair, or two civil-registry records with two NIKs
   (``clustering.registry_apart``), is split, its weakest scored links cut), ``attach_only.drop_unattached``
   with attach-only sources, then ``decisions.check_accepted_sizes``;
6. ``explanations.explain``: the model JSON, its charts and the clerical review table.

Each phase reads the relations (tables in the run's scratch connection) it is given by name and
returns the names of those it creates: none reads a table another phase left behind unannounced.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import pyarrow as pa

from dtsen_pipeline.lib import warehouse
from dtsen_pipeline.linkage import model
from dtsen_pipeline.linkage.attach_only import attach_edges, carried_on_registers, drop_unattached
from dtsen_pipeline.linkage.clustering import (
    Apart,
    cluster,
    keep_rejected_apart,
    registry_apart,
    split_touched,
)
from dtsen_pipeline.linkage.config import max_records_per_person, rules
from dtsen_pipeline.linkage.decisions import (
    Resolution,
    check_accepted_sizes,
    decision_edges,
    decisions_file,
    normalise_decisions,
    other_months_message,
    resolve_decisions,
    rows_of_other_months,
)
from dtsen_pipeline.linkage.evidence import corroborate
from dtsen_pipeline.linkage.explanations import explain
from dtsen_pipeline.linkage.scoring import Scores, score_full, score_incremental
from dtsen_pipeline.linkage.training import load_or_train
from dtsen_pipeline.linkage.workspace import Progress, Workspace, quiet


@dataclass
class LinkageResult:
    clusters: pa.Table  # record_key, source, cluster_id
    predictions: pa.Table  # record_key_l, record_key_r, match_weight, match_probability
    review: pa.Table  # uncertain pairs with their evidence and any decision already taken
    model_json: Path
    charts: dict[str, Path]
    # Decisions applied and overridden, counted; and what was reported by row (linkage asset's
    # "review decisions applied"): see ``decisions_applied``.
    decisions_applied: dict[str, int | list[str]]
    trained: bool  # False when an earlier month's model was reused
    seconds: dict[str, float]  # time per phase: train, predict, cluster
    rescored: int | None = None  # incremental runs: records scored again (new, changed or reviewed)
    filled: list[str] | None = (
        None  # levels training could not reach, filled (model.fill_untrained)
    )
    em_sessions: list[str] | None = None  # each EM session's pairs, and any kabupaten sampling
    engine: str = "duckdb"  # where training and scoring ran: duckdb or spark
    # Persons the links made that held two civil-registry records with two NIKs, split
    # (clustering.registry_apart): namesakes, twins, neighbours one NIK digit apart.
    registry_split: int = 0


class _Clock:
    """When each phase ended, and ``say``: a progress message with the seconds since the start."""

    PHASES = ("start", "train", "predict", "cluster")

    def __init__(self, progress: Progress):
        self.progress = progress
        self.ends = {"start": time.perf_counter()}

    def say(self, message: str) -> None:
        self.progress(f"{message} ({time.perf_counter() - self.ends['start']:.0f} s)")

    def mark(self, phase: str) -> None:
        self.ends[phase] = time.perf_counter()

    def seconds(self) -> dict[str, float]:
        """Time per phase: train, predict, cluster."""
        return {p: round(self.ends[p] - self.ends[q], 1) for q, p in pairwise(self.PHASES)}


def persons(
    ws: Workspace,
    scores: Scores,
    scored: str,
    decided: str,
    last_month: str | None,
    attach_only: tuple[str, ...],
    progress: Progress = quiet,
) -> tuple[str, Apart]:
    """Phases 4 and 5: the edges (the corroborated ``scored`` pairs, reviewers' ``decided`` pairs
    as ``decisions.resolve_decisions`` applies them, and the links ``scores`` carried over)
    clustered into persons, no rejected pair in one; with ``last_month`` (incremental runs) only
    the persons a new, changed or reviewed record touches. The clusters' relation is returned
    (record_key, cluster_id), with what keeping rejected pairs (and the civil registry's,
    ``registry_apart``) apart did; persons split for the registry are said to ``progress``."""
    carried = scores.carried
    if attach_only:
        carried = carried_on_registers(ws, carried, attach_only)
    edges = decision_edges(ws, scored, decided, carried)
    if attach_only:
        edges = attach_edges(ws, edges, attach_only)
    touched = None
    if last_month is not None:
        touched = split_touched(ws, last_month, scores.rescore_keys, scored, decided)
    clustered = cluster(ws, edges, touched)
    apart = keep_rejected_apart(ws, clustered, edges, decided, registry_apart(ws, clustered))
    if apart.registry:
        progress(
            f"{apart.registry} person(s) held two {model.CIVIL_REGISTRY} records with two NIKs: "
            "split, the weakest links between them cut"
        )
    clusters = apart.clusters
    if attach_only:
        clusters = drop_unattached(ws, clusters, attach_only)
    return clusters, apart


def decision_report(
    ws: Workspace,
    resolution: Resolution,
    apart: Apart,
    decisions: pa.Table | None,
) -> dict[str, int | list[str]]:
    """What the run did with reviewers' decisions, for the linkage asset's metadata: accepts and
    rejects applied, accepts overridden by a reject, rejects that split a person and the scored
    links cut for them (counts only when there are any), and one line per row reported (file and
    row numbers, never a record's values)."""
    source, other_months = decisions_file(decisions), rows_of_other_months(decisions)
    counts: dict[str, int | list[str]] = dict(
        ws.con.execute(
            f"select decision, count(*) from {resolution.decided} group by 1 order by 1"
        ).fetchall()
    )
    reported = list(resolution.contradictions)
    if resolution.overridden:
        counts["accepts not applied (contradict a reject)"] = len(resolution.overridden)
    if apart.rows:
        counts["rejects that split a person"] = len(apart.rows)
        counts["scored links cut to keep rejected pairs apart"] = apart.cut
        many, links = len(apart.rows) > 1, f"{apart.cut} link{'s' if apart.cut > 1 else ''}"
        reported.append(
            f"{source}: the reject{'s' if many else ''} on row{'s' if many else ''} "
            f"{', '.join(map(str, apart.rows))}: scored links joined "
            + ("each pair's records" if many else "its two records")
            + f" through other records; the weakest links between them were cut ({links}), so "
            + ("each pair is two persons" if many else "they are two persons")
        )
    if other_months:  # rows naming a record of another month: kept for it (read_decisions)
        counts["kept for other months (a record not of this month)"] = len(other_months)
        reported.append(other_months_message(source, other_months))
    if reported:
        counts["reported"] = reported
    return counts


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
    progress: Progress = quiet,
) -> LinkageResult:
    """Train the model on this month's records (or reuse a saved one), score candidate pairs, apply
    reviewers' decisions (accepted pairs link, rejected pairs do not), cluster into persons.

    Incremental when ``previous`` (last month's record_key, dtsen_id, fingerprint) is given with a
    reused model: only new, changed or reviewed records are scored, against every record
    (``predict_between``: among themselves too); unchanged records keep last month's grouping.

    ``decisions`` (record_key_l, record_key_r, decision and optionally the file's row, ``line``) are
    checked by ``decisions.read_decisions``. They are constraints: a rejected pair never ends in one
    person. An accept that would join one through other accepts is not applied (the reject wins);
    scored links that join one through other records are cut, the weakest first. Both are said to
    ``progress`` and listed, with every decision counted, in ``decisions_applied`` (``decision_report``).
    A person accepts grow beyond ``max_records`` (default: person.max_records_per_person) raises
    DecisionsTooLargeError naming those rows. The civil registry's cannot-links: ``persons``.

    Records of the ``attach_only`` sources (the correction sources: proposals, objections, visits)
    are scored like any, but each joins at most one person, by its best pair at or above the cluster
    threshold, and never two: a noisy objection cannot merge two persons. One that reaches no person
    is left out of the clusters (not linked yet: a person is never made of such records alone).

    ``engine`` (default: config/linkage.yaml's engine.name): where training and scoring run,
    "duckdb" or "spark" (linkage/spark.py); the rest runs on DuckDB. ``progress``: each phase."""
    clock = _Clock(progress)
    incremental = previous is not None and reuse_model is not None
    con = warehouse.scratch()
    ws = None
    try:
        ws = Workspace.over(con, identities, engine or rules().engine)
        linker, filled, sessions = load_or_train(ws, reuse_model, clock.say)
        clock.mark("train")

        decided = normalise_decisions(ws, decisions)
        resolution = resolve_decisions(ws, decided, decisions_file(decisions))
        last_month = ws.register("previous_in", previous) if incremental else None
        clock.say(
            f"scoring on {ws.dialect}: "
            + ("new, changed and reviewed records" if incremental else "every candidate pair")
        )
        if last_month is not None:
            scores = score_incremental(ws, linker, last_month, decided)
        else:
            scores = score_full(ws, linker)
        clock.mark("predict")

        clock.say("clustering the scored pairs")
        scored = corroborate(ws, linker, scores.parts)
        clusters, apart = persons(
            ws, scores, scored, resolution.decided, last_month, attach_only, progress
        )
        applied = decision_report(ws, resolution, apart, decisions)
        for message in applied.get("reported", []):  # contradictions, splits: by file and row
            progress(message)
        clock.mark("cluster")
        check_accepted_sizes(
            ws, clusters, resolution.decided, max_records or max_records_per_person()
        )

        clock.say("saving the model, its charts and the review table")
        charts, review = explain(
            ws, linker, scored, decided, model_path, charts_dir, apart.registry_pairs
        )
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
            decisions_applied=applied,
            trained=reuse_model is None,
            seconds=clock.seconds(),
            rescored=scores.rescored,
            filled=filled,
            em_sessions=[session.describe() for session in sessions],
            engine=ws.dialect,
            registry_split=apart.registry,
        )
    finally:
        if ws is not None and ws.spark is not None:
            ws.spark.close()
        con.close()
