"""Baselines the benchmark measures on the same month's data as the pipeline (``make bench``).

- ``nik_only``: the deterministic join audits found wanting. Records sharing a valid NIK are one
  person; any other record stands alone.
- ``plain_splink``: Splink set up the way its documentation's quick start shows. There are plain
  comparisons (exact NIK, Jaro-Winkler name, date of birth, exact sex and kabupaten) and blocking
  on NIK, on name + birth date, and on birth date + kabupaten. Training is u by random sampling
  and two EM sessions; clustering is at 0.9. None of our domain work is in it: no NIK/birth-date
  agreement levels, no term frequencies, no family card, no review.

Both read ``intermediate.int_identitas`` for the month and are scored against the ground truth
with the same pair counts as ``dtsen evaluate``.
"""

from __future__ import annotations

import logging
import time

import pyarrow as pa

from dtsen_pipeline.lab import evaluate
from dtsen_pipeline.lib import warehouse

COLUMNS = [
    "record_key",
    "nik",
    "nik_valid",
    "nama_normal",
    "tanggal_lahir",
    "jenis_kelamin",
    "kode_kab",
]


def _identities(month: str) -> pa.Table:
    with warehouse.connect(read_only=True) as con:
        return con.sql(
            f"select {', '.join(COLUMNS)} from intermediate.int_identitas where extract_month = ?",
            params=[month],
        ).to_arrow_table()


def nik_only(month: str) -> dict:
    t0 = time.perf_counter()
    ids = _identities(month)
    con = warehouse.scratch()
    try:
        con.register("ids", ids)
        groups = con.sql(
            "select record_key, case when nik_valid then nik else record_key end as cluster_id, "
            "nik_valid from ids"
        ).to_arrow_table()
    finally:
        con.close()
    seconds = time.perf_counter() - t0
    return {"seconds": round(seconds, 2), **evaluate.score_grouping(month, groups)}


def plain_splink(month: str) -> dict:
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    t0 = time.perf_counter()
    ids = _identities(month)
    con = warehouse.scratch()
    try:
        db_api = DuckDBAPI(connection=con)
        sdf = db_api.register(ids.drop(["nik_valid"]), dataset_display_name="identitas")
        settings = SettingsCreator(
            link_type="dedupe_only",
            unique_id_column_name="record_key",
            comparisons=[
                cl.ExactMatch("nik"),
                cl.JaroWinklerAtThresholds("nama_normal"),
                cl.DateOfBirthComparison("tanggal_lahir", input_is_string=False),
                cl.ExactMatch("jenis_kelamin"),
                cl.ExactMatch("kode_kab"),
            ],
            blocking_rules_to_generate_predictions=[
                block_on("nik"),
                block_on("nama_normal", "tanggal_lahir"),
                block_on("tanggal_lahir", "kode_kab"),
            ],
        )
        linker = Linker(sdf, settings, log_level=logging.ERROR)
        linker.training.estimate_probability_two_random_records_match([block_on("nik")], recall=0.8)
        linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=1)
        linker.training.estimate_parameters_using_expectation_maximisation(
            block_on("tanggal_lahir")
        )
        linker.training.estimate_parameters_using_expectation_maximisation(block_on("nik"))
        predictions = linker.inference.predict(threshold_match_probability=0.5)
        clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, 0.9)
        con.register("validity", ids.select(["record_key", "nik_valid"]))
        groups = con.sql(
            f"select c.record_key, cast(c.cluster_id as varchar) as cluster_id, v.nik_valid "
            f"from {clusters.physical_name} c join validity v using (record_key)"
        ).to_arrow_table()
    finally:
        con.close()
    seconds = time.perf_counter() - t0
    return {"seconds": round(seconds, 2), **evaluate.score_grouping(month, groups)}
