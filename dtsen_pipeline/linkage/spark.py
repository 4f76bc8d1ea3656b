"""Splink on Spark: the session, and the month's records and scored pairs moved between it and the
run's DuckDB scratch connection (linkage/workspace.py).

Only training and scoring (Splink's EM, random sampling, ``predict``, ``predict_between``) run on
Spark when config/linkage.yaml says ``engine: {name: spark}``: they grow with the candidate pairs.
The scored pairs come back as Parquet into the run's DuckDB connection, where corroboration,
reviewers' decisions, clustering, ids and the review table run as on the DuckDB engine, on one
row per pair and one per record. A model is saved in the DuckDB form whichever engine trained it
(model.for_dialect renders it for the other), so a model trained on one engine runs on the other.

pyspark is imported here only, when a Spark run starts: the DuckDB engine never needs it.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from dtsen_pipeline.lib import paths
from dtsen_pipeline.linkage.config import SparkSettings, rules

if TYPE_CHECKING:
    from pyspark.sql import SparkSession
    from splink.internals.splink_dataframe import SplinkDataFrame


LOG_CONFIG = Path(__file__).with_name("spark-log4j2.properties")


def spark_dir():
    """Spark's scratch (shuffle files, checkpoints), under the warehouse."""
    return paths.warehouse_dir() / "spark"


APP_NAME = "dtsen-linkage"


@cache
def session() -> SparkSession:
    """The process's Spark session, configured from config/linkage.yaml (engine.spark) or the
    environment (DTSEN_SPARK_*). Splink's similarity functions (jaro_winkler and others) come in
    a jar that must be on the session's class path before it starts."""
    from pyspark.sql import SparkSession
    from splink.backends.spark import similarity_jar_location

    settings: SparkSettings = rules().spark
    scratch = spark_dir()
    (scratch / "checkpoints").mkdir(parents=True, exist_ok=True)
    # The executors' Python is this one (a local session runs them on this machine).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if settings.master.startswith("local"):
        # A local session listens on this machine only (its driver, block manager and the JVM's
        # ports): nothing of the month's records is served to the network.
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = SparkSession.builder.appName(APP_NAME)
    for key, value in {
        "spark.master": settings.master,
        "spark.driver.memory": settings.driver_memory,
        "spark.executor.memory": settings.executor_memory,
        "spark.sql.shuffle.partitions": str(settings.shuffle_partitions),
        "spark.default.parallelism": str(settings.shuffle_partitions),
        "spark.jars": similarity_jar_location(),
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",  # no stage bars in `dtsen run`'s terminal
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.local.dir": str(shuffle_dir()),
        "spark.sql.warehouse.dir": str(scratch / "spark-warehouse"),
        "spark.sql.catalogImplementation": "in-memory",  # no Hive metastore (nor its Derby files)
        # Errors only from Spark's own log, from the first line (spark-log4j2.properties).
        "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile={LOG_CONFIG}",
    }.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    spark.sparkContext.setCheckpointDir(str(scratch / "checkpoints"))
    logging.getLogger("py4j").setLevel(logging.ERROR)
    return spark


class SparkSide:
    """The month's records on Spark, and Splink's API over the session. Splink breaks a long
    lineage by writing Parquet ("persist" ran out of memory in clustering at 1M records).

    Data crosses between the run's DuckDB and Spark as Parquet files under ``spark_dir()``, never
    through the driver: at 1M persons the scored pairs collected as Arrow were 1.3 GB, over
    Spark's 1 GB ``spark.driver.maxResultSize``, and on a cluster the files would sit on storage
    both sides read. The files go with the month's views (``close``)."""

    def __init__(self, identities: pa.Table):
        from splink.backends.spark import SparkAPI

        self.db_api = SparkAPI(spark_session=session(), break_lineage_method="parquet")
        handover_root().mkdir(parents=True, exist_ok=True)
        self.handover = Path(tempfile.mkdtemp(prefix="handover-", dir=handover_root()))
        # Splink writes a Parquet copy at each lineage break into the checkpoint directory and
        # never deletes it (GBs a month at 1M persons): the month's own, deleted with it.
        session().sparkContext.setCheckpointDir(str(self.handover / "checkpoints"))
        self.views: list[str] = []
        self.records = self.register(identities, "identitas")

    def register(self, table: pa.Table, name: str) -> SplinkDataFrame:
        """``table`` (from the run's DuckDB) on Spark as ``name``: written as Parquet, read by
        Spark in ``shuffle_partitions`` parts."""
        import pyarrow.parquet as pq

        path = self.handover / f"{name}.parquet"
        pq.write_table(table, path)
        frame = session().read.parquet(str(path)).repartition(rules().spark.shuffle_partitions)
        registered = self.db_api.register(frame, dataset_display_name=name)
        self.views.append(registered.physical_name)
        return registered

    def to_parquet(self, frame: SplinkDataFrame, name: str) -> str:
        """A Spark result written as Parquet files by the executors; the glob DuckDB reads."""
        path = self.handover / name
        frame.as_spark_dataframe().write.mode("overwrite").parquet(str(path))
        return str(path / "*.parquet")

    def close(self) -> None:
        """Drop the month's views from the process's session (the next month linked in this
        process registers its own records under the same names) and delete its files (the
        hand-over and Splink's lineage Parquet; a killed run's are deleted by the next run,
        runlock.recover)."""
        for view in self.views:
            session().catalog.dropTempView(view)
        self.views.clear()
        shutil.rmtree(self.handover, ignore_errors=True)
        stop_session()


def stop_session() -> None:
    """Stop the process's Spark session and end its JVM, if one is running.

    A month's linkage is the only Spark work in a run, and a local session's JVM keeps its heap
    (7.7 GB after a 1M-person month) through the marts, gate and publication that follow on
    DuckDB; on a cluster, the session holds its executors. ``SparkSession.stop`` alone leaves the
    JVM running: pyspark's gateway process exits when its standard input closes. The next
    ``session()`` starts a new one (a few seconds). A session this module did not start (one a
    notebook had before its first linkage) is left running."""
    if session.cache_info().currsize == 0:
        return
    from pyspark import SparkContext

    spark = session()
    session.cache_clear()
    if spark.sparkContext.appName != APP_NAME:  # a session running before session() was called
        return
    spark.stop()
    gateway = SparkContext._gateway
    if gateway is None:
        return
    gateway.shutdown()
    process = getattr(gateway, "proc", None)  # None when pyspark joined a JVM it did not start
    if process is not None:
        process.stdin.close()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
    SparkContext._gateway = None
    SparkContext._jvm = None


def handover_root() -> Path:
    """Where each month's hand-over folder is made (a killed run's are removed by runlock.recover)."""
    return spark_dir() / "handover"


def shuffle_dir() -> Path:
    """Spark's ``spark.local.dir``: shuffle and spill files (17 GB during a 3M-person month's
    scoring), removed by Spark when the session stops; a killed run's by runlock.recover."""
    return spark_dir() / "local"


def leftovers() -> list[tuple[Path, str]]:
    """The Spark folders a run killed mid-linkage leaves behind, with what they hold."""
    return [
        (handover_root(), "Spark's hand-over and lineage Parquet"),
        (shuffle_dir(), "Spark's shuffle files"),
    ]
