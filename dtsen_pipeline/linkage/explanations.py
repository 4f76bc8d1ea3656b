"""Explanations: the model saved with its charts, and the clerical review table.

Charts show each comparison's levels and weights (Splink's match weights and m/u charts) and a
sample of scored pairs as waterfalls drawn with ``remove_sensitive_data``: never a record's NIK,
name or date. The review table lists the pairs scored below the cluster threshold with their
evidence (linkage/evidence.py) and any decision already taken.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pyarrow as pa
from splink import Linker

from dtsen_pipeline.linkage import model
from dtsen_pipeline.linkage.config import cluster_threshold
from dtsen_pipeline.linkage.workspace import Workspace

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
    registry: str | None = None,
) -> tuple[dict[str, Path], pa.Table]:
    """Save the model to ``model_path``; draw its charts into ``charts_dir`` (if given); return the
    charts by name and the review table: the scored pairs below the cluster threshold, and those of
    ``registry`` (two civil-registry records kept apart however high they scored: a clerk may
    prove them one person, as a mover registered again), with their evidence and any decision
    already taken."""
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
    review = ws.con.sql(
        f"""
        select s.a as record_key_l, s.b as record_key_r, s.match_probability, s.match_weight,
               cast(s.evidence as varchar) as evidence, d.decision
        from {scored} s left join {decided} d using (a, b)
        where s.match_probability < {cluster_threshold()}"""
        + (
            f" or exists (select 1 from {registry} r "
            "where r.a = least(s.a, s.b) and r.b = greatest(s.a, s.b))"
            if registry
            else ""
        )
    ).to_arrow_table()
    return charts, review
