"""Train, predict and cluster one month of identities; return clusters and summary figures.

Runs Splink on an in-memory DuckDB: the caller reads the inputs from the warehouse and writes the
results back, so the warehouse file holds no Splink scratch tables.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
from splink import DuckDBAPI, Linker, block_on

from dtsen_pipeline import warehouse
from dtsen_pipeline.linkage import model

PREDICT_THRESHOLD = 0.5   # pairs kept in linkage.pairwise_predictions
CLUSTER_THRESHOLD = 0.9   # pairs at or above this join records into one person
U_SAMPLE_PAIRS = 2_000_000
SEED = 7


@dataclass
class LinkageResult:
    clusters: pa.Table      # record_key, source, cluster_id
    predictions: pa.Table   # record_key_l, record_key_r, match_weight, match_probability
    model_json: Path


def link_month(identities: pa.Table, model_path: Path) -> LinkageResult:
    """Train the model on this month's records, score candidate pairs, cluster into persons."""
    con = warehouse.scratch()
    try:
        db_api = DuckDBAPI(connection=con)
        sdf = db_api.register(identities, dataset_display_name="identitas")
        # Splink warns about untrainable levels on small months; the model JSON records what was trained.
        linker = Linker(sdf, model.settings(), log_level=logging.ERROR)

        linker.training.estimate_probability_two_random_records_match(
            [block_on("nik", "tanggal_lahir")], recall=0.75)
        linker.training.estimate_u_using_random_sampling(max_pairs=U_SAMPLE_PAIRS, seed=SEED)
        # Two EM sessions so every comparison is trained by one that does not block on it.
        linker.training.estimate_parameters_using_expectation_maximisation(
            block_on("tanggal_lahir"), estimate_without_term_frequencies=True)
        linker.training.estimate_parameters_using_expectation_maximisation(
            block_on("nik"), estimate_without_term_frequencies=True)

        predictions = linker.inference.predict(threshold_match_probability=PREDICT_THRESHOLD)
        clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
            predictions, threshold_match_probability=CLUSTER_THRESHOLD)

        model_path.parent.mkdir(parents=True, exist_ok=True)
        linker.misc.save_model_to_json(str(model_path), overwrite=True)
        key = model.UNIQUE_ID
        clusters_tbl = con.sql(
            f"select {key} as record_key, source, cast(cluster_id as varchar) as cluster_id "
            f"from {clusters.physical_name}").to_arrow_table()
        predictions_tbl = con.sql(
            f"select {key}_l as record_key_l, {key}_r as record_key_r, match_weight, match_probability "
            f"from {predictions.physical_name}").to_arrow_table()
        return LinkageResult(clusters_tbl, predictions_tbl, model_path)
    finally:
        con.close()
