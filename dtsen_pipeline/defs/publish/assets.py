"""Publication: the month's release for analysts, switched to ``current`` after the gate passes."""


import json

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from dtsen_pipeline import paths, publication
from dtsen_pipeline.partitions import monthly_partitions
from dtsen_pipeline.resources import WarehouseResource

# Release table name -> warehouse table.
RELEASE_TABLES = {
    "dtsen_individu": "marts.dtsen_individu",
    "dtsen_crosswalk": "marts.dtsen_crosswalk",
    "dtsen_id_history": "marts.dtsen_id_history",
    "dtsen_keluarga": "marts.dtsen_keluarga",
    "dtsen_rumah_tangga": "marts.dtsen_rumah_tangga",
    "dtsen_program_sasaran": "marts.dtsen_program_sasaran",
    "dtsen_program_kabupaten": "marts.dtsen_program_kabupaten",
    "dtsen_bpjs_tk_gap": "marts.dtsen_bpjs_tk_gap",
    "dtsen_kelas_menengah_rentan": "marts.dtsen_kelas_menengah_rentan",
    "dtsen_perubahan_bulanan": "marts.dtsen_perubahan_bulanan",
    "dtsen_progres_pemutakhiran": "marts.dtsen_progres_pemutakhiran",
}


@asset(
    key=AssetKey(["publish", "dtsen_release"]),
    deps=[AssetKey(name) for name in RELEASE_TABLES],
    group_name="publish",
    partitions_def=monthly_partitions,
    kinds={"duckdb"},
    owners=["team:data-engineering"],
    description="Read-only analyst DuckDB under data/publish/<YYYY-MM>/ with a manifest; `current` "
                "switches to it atomically. Runs only after the blocking quality gate passes.",
)
def dtsen_release(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    month = context.partition_key
    with warehouse.connect() as con:
        built = [r[0] for r in con.execute("select distinct extract_month from marts.dtsen_individu").fetchall()]
    if built != [month]:
        raise ValueError(f"publish {month}: marts.dtsen_individu holds month(s) {built}, not {month}; "
                         "materialise the marts for this partition first")
    release = publication.write_release(month, RELEASE_TABLES)
    previous = publication.current_month()
    publication.switch_current(month)
    manifest = (release / publication.MANIFEST).read_text(encoding="utf-8")
    context.log.info(f"published {month} at {release}; current: {previous} -> {month}")
    return MaterializeResult(metadata={
        "month": month,
        "release": MetadataValue.path(str(release / publication.RELEASE_DB)),
        "current": MetadataValue.path(str(paths.current_release())),
        "previous current": previous or "none",
        "manifest": MetadataValue.json(json.loads(manifest)),
    })
