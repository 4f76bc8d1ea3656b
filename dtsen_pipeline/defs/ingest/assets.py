"""Raw layer: one asset per registered source, ``raw/<source>__<entity>``, partitioned by month.

Loading a month replaces that month's rows, so re-ingesting the same or a corrected file never
duplicates anything.
"""


from dagster import AssetExecutionContext, AssetKey, AssetsDefinition, MaterializeResult, MetadataValue, asset

from dtsen_pipeline.defs.ingest.reader import ExtractError, select_canonical
from dtsen_pipeline.partitions import monthly_partitions
from dtsen_pipeline.resources import WarehouseResource
from dtsen_pipeline.sources import SourceSpec, load_sources


def build_ingest_asset(spec: SourceSpec) -> AssetsDefinition:
    @asset(
        key=AssetKey(["raw", spec.raw_table]),
        group_name="raw",
        partitions_def=monthly_partitions,
        kinds={"duckdb", "csv" if spec.format == "csv" else spec.format},
        owners=["team:data-engineering"],
        description=f"{spec.owner}: {spec.description} Loaded as text with lineage columns from "
                    f"landing/{spec.name}/<YYYY-MM>/{spec.file_glob}.",
        tags={"source": spec.name, "snapshot": spec.snapshot},
    )
    def _ingest(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
        month = context.partition_key
        files = spec.landing_files(month)
        if not files:
            raise ExtractError(f"no file for {spec.name} {month}: expected "
                               f"landing/{spec.name}/{month}/{spec.file_glob}")
        table = f"raw.{spec.raw_table}"
        with warehouse.connect() as con:
            con.execute("create schema if not exists raw")
            selects = [select_canonical(con, spec, f, month) for f in files]
            union = " union all ".join(selects)
            con.execute(f"create table if not exists {table} as select * from ({union}) limit 0")
            con.execute("begin")
            con.execute(f"delete from {table} where extract_month = ?", [month])
            con.execute(f"insert into {table} {union}")
            con.execute("commit")
            per_file = con.execute(
                f"select source_file, count(*) from {table} where extract_month = ? group by 1 order by 1",
                [month]).fetchall()
        rows = sum(n for _, n in per_file)
        context.log.info(f"{spec.name} {month}: {rows} rows from {len(files)} file(s)")
        return MaterializeResult(metadata={
            "month": month,
            "dagster/row_count": rows,
            "files": MetadataValue.md("\n".join(f"- `{f}`: {n} rows" for f, n in per_file)),
            "table": table,
        })

    return _ingest


ingest_assets = [build_ingest_asset(spec) for spec in load_sources()]
