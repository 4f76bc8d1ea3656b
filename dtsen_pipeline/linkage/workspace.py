"""Where one month's linkage runs: an in-memory DuckDB holding the month's records, Splink's API on
it and, with the Spark engine, the same records on Spark.

Every phase of ``link_month`` (linkage/run.py) takes the ``Workspace``, reads the relations (tables
in its scratch connection) it is given by name and returns the names of those it creates.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa
from splink import DuckDBAPI, Linker

from dtsen_pipeline.lib.warehouse import quote_literal
from dtsen_pipeline.linkage import model

if TYPE_CHECKING:
    from splink.internals.splink_dataframe import SplinkDataFrame

    from dtsen_pipeline.linkage.spark import SparkSide

# What a phase tells the run's log as each stage starts (the asset passes its log).
Progress = Callable[[str], None]


def quiet(message: str) -> None:
    """The default ``Progress``: say nothing."""


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
