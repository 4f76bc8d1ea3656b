"""Publication: the month's release for analysts, switched to ``current`` after the gate passes."""

import json

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from dtsen_pipeline.defs.common import audit, charts
from dtsen_pipeline.defs.common.graph import GATE_KEY, OWNERS
from dtsen_pipeline.defs.common.partitions import ONE_MONTH_PER_RUN, monthly_partitions
from dtsen_pipeline.defs.common.resources import WAREHOUSE_POOL, WarehouseResource
from dtsen_pipeline.lib import paths, reports
from dtsen_pipeline.lib.checksums import file_sha256
from dtsen_pipeline.linkage import accuracy, model
from dtsen_pipeline.publish import contents, dictionary, docs_site, releases, retention
from dtsen_pipeline.quality.results import gate_results, gate_table


def _linkage_model(month: str) -> dict:
    """The linkage model this month's ids came from: the newest model saved up to the month."""
    used = model.latest_model(month, inclusive=True)
    if used is None:
        return {"version": model.MODEL_VERSION, "file": None}
    return {"version": model.MODEL_VERSION, "file": used.name, "sha256": file_sha256(used)}


def _documentation(context: AssetExecutionContext, release) -> dict:
    """The release's documentation site (dbt docs, served by `make ui`), linked from the UI. A site
    that cannot be built is reported, never a reason to hold the release (`make docs` builds it)."""
    try:
        page = docs_site.build(release)
    except Exception as exc:  # any failure of dbt docs: reported, the release goes on
        context.log.warning(
            f"publish: the documentation site of {release.name} was not built ({exc}); "
            "`make docs` builds it"
        )
        return {}
    reports.write_index()
    return {"documentation (dbt docs)": MetadataValue.url(reports.url(page))}


def _release_metadata(context: AssetExecutionContext, release) -> dict:
    """What the written release holds, for the UI: its files, tables, dictionary, codes of the data
    without a label (a warning) and its documentation site."""
    manifest = json.loads((release / releases.MANIFEST).read_text(encoding="utf-8"))
    metadata = {
        "release": MetadataValue.path(str(release)),
        "revision": manifest["revision"],
        "analyst database (pseudonymised)": MetadataValue.path(str(release / releases.RELEASE_DB)),
        "oldest DuckDB that opens it": releases.MIN_DUCKDB_CLIENT,
        "tables": charts.table(
            [("table", "string"), ("rows", "int")], list(manifest["tables"].items())
        ),
        "linkage model": manifest["linkage_model"]["file"] or "none",
        "data dictionary": MetadataValue.path(str(release / dictionary.MARKDOWN)),
    }
    if manifest["unlabelled_codes"]:
        context.log.warning(
            f"publish {manifest['month']}: codes without a label in their code list "
            f"(seeds/kode_label.csv and the seeds it names): {manifest['unlabelled_codes']}"
        )
        metadata["codes without a label"] = MetadataValue.json(manifest["unlabelled_codes"])
    return {**metadata, **_documentation(context, release)}


@asset(
    key=AssetKey(["publish", "dtsen_release"]),
    deps=[*(AssetKey(name) for name in contents.published_tables()), GATE_KEY],
    group_name="publish",
    partitions_def=monthly_partitions,
    backfill_policy=ONE_MONTH_PER_RUN,
    pool=WAREHOUSE_POOL,
    kinds={"duckdb", "parquet"},
    owners=OWNERS,
    description="The month's release under data/publish/YYYY-MM/: a pseudonymised analyst DuckDB, "
    "Parquet per mart, an identified DuckDB for restricted roles, and a manifest (row "
    "counts, checksums, linkage model, gate results), with the code lists (kode_*) and a data "
    "dictionary (kamus_data.md/.csv; every table and column also carries its description as a "
    "comment and as Parquet metadata) and a documentation site (dbt docs) linked here. "
    "Immutable; `current` switches to it "
    "atomically when it is the latest month (a month published again leaves `current` on a "
    "later month). Readable by DuckDB 1.0.0 or newer. Runs only after every blocking quality "
    "check passed.",
)
def dtsen_release(
    context: AssetExecutionContext, warehouse: WarehouseResource
) -> MaterializeResult:
    month = context.partition_key
    with warehouse.connect() as con:
        built = [
            r[0]
            for r in con.execute(
                "select distinct extract_month from marts.dtsen_individu"
            ).fetchall()
        ]
    if built != [month]:
        raise ValueError(
            f"publish {month}: marts.dtsen_individu holds month(s) {built}, not {month}; "
            "materialise the marts for this partition first"
        )
    with warehouse.connect() as con:
        desil_rows = con.execute("""
            select kode_prov, any_value(nama_provinsi), desil, sum(anggota)
            from marts.dtsen_keluarga where desil is not null group by kode_prov, desil""").fetchall()
        preview = con.execute("""
            select programme, kode_kab, nama_kabupaten, keluarga_layak, keluarga_menerima, exclusion_error,
                   inclusion_error
            from marts.dtsen_program_kabupaten order by programme, kode_kab limit 12""").fetchall()
        # Where the month's proposals and objections stand, by source and stage (counts only).
        pipeline_rows = con.execute("""
            select source, status, count(*), count(*) filter (where terbuka and lewat_batas)
            from marts.dtsen_usulan group by source, status""").fetchall()
        late_kabupaten = con.execute(
            "select count(distinct kode_kab) from marts.dtsen_usulan where terbuka and lewat_batas"
        ).fetchall()[0][0]
        # Estimated precision and recall from the month's labelled clerical sample (counts only).
        linkage_accuracy = accuracy.summary(month, con)
    gate = gate_results(month)
    tables = contents.release_tables()
    failed = [name for name, r in gate.items() if r["suite"] in tables and not r["success"]]
    trigger = audit.trigger(context.run)
    if failed:  # the refusal goes to the publication log, then fails the run (and alerts)
        releases.log_publication("refused", month, gate="failed", failed=failed, trigger=trigger)
        raise ValueError(
            f"publish {month}: the quality gate failed for {', '.join(failed)}; "
            "see the gx_* checks and their Data Docs pages; `current` is unchanged"
        )
    # Everything shown in the UI is computed before the release exists: nothing may fail after
    # `current` has switched, or a complete release would sit behind a failed run.
    metadata = {
        "month": month,
        "gate": gate_table(gate),
        "desil by province": charts.desil_by_province(desil_rows),
        "preview: dtsen_program_kabupaten": charts.table(
            [
                ("programme", "string"),
                ("kode_kab", "string"),
                ("kabupaten", "string"),
                ("eligible", "int"),
                ("receiving", "int"),
                ("exclusion error", "int"),
                ("inclusion error", "int"),
            ],
            [tuple("" if v is None else v for v in r) for r in preview],
        ),
        "proposal pipeline": charts.proposal_pipeline(pipeline_rows),
        "kabupaten with proposals open past the service level": int(late_kabupaten),
        # The month's quality pages and linkage charts, opened in the browser (served by `make ui`).
        "reports": MetadataValue.url(reports.url(anchor=month)),
    }
    release = releases.write_release(
        month,
        tables,
        extra={
            "linkage_model": _linkage_model(month),
            "linkage_accuracy": linkage_accuracy,
            "gate": gate,
            "dagster_run_id": context.run.run_id,
            "trigger": trigger,
        },
    )
    metadata.update(_release_metadata(context, release))
    change = releases.advance_current(release)  # the last thing that can fail
    metadata["previous current"] = change.previous or "none"
    metadata["current"] = change.current if change.moved else f"unchanged, still {change.current}"
    metadata["current path"] = MetadataValue.path(str(paths.current_release()))
    metadata.update(audit.record_publication(context.log, release, trigger, change))
    # config/retention.yaml, whatever launched the run; never this run's history nor `current`.
    metadata["retention"] = MetadataValue.json(
        retention.after_publication(context.instance, context.run.run_id, context.log)
    )
    if change.moved:
        context.log.info(f"published {month} as {release.name}; {change.describe(release)}")
    else:
        context.log.warning(f"published {month} as {release.name}; {change.describe(release)}")
    return MaterializeResult(metadata=metadata)
