"""Linkage layer: ``linkage/person_clusters``, one person id (dtsen_id) per source record."""


from dagster import AssetExecutionContext, AssetKey, AssetSpec, MaterializeResult, MetadataValue, multi_asset

from dtsen_pipeline import paths
from dtsen_pipeline.linkage import model
from dtsen_pipeline.linkage.ids import assign_ids
from dtsen_pipeline.linkage.run import CLUSTER_THRESHOLD, link_month
from dtsen_pipeline.partitions import monthly_partitions
from dtsen_pipeline.resources import WarehouseResource

PERSON_CLUSTERS_KEY = AssetKey(["linkage", "person_clusters"])
ID_HISTORY_KEY = AssetKey(["linkage", "id_history"])

_CREATE = """
create schema if not exists linkage;
create table if not exists linkage.person_clusters (
    extract_month varchar, record_key varchar, source varchar, cluster_id varchar, dtsen_id varchar);
create table if not exists linkage.pairwise_predictions (
    extract_month varchar, record_key_l varchar, record_key_r varchar,
    match_weight double, match_probability double);
"""


@multi_asset(
    name="person_linkage",
    specs=[
        AssetSpec(PERSON_CLUSTERS_KEY, deps=[AssetKey("int_identitas")], group_name="linkage",
                  kinds={"splink", "duckdb"}, owners=["team:data-engineering"],
                  description="Splink (DuckDB) person linkage across and within sources: trained by EM on the "
                              "month's records, pairs scored, clustered into persons with stable dtsen_ids. "
                              "Also writes linkage.pairwise_predictions."),
        AssetSpec(ID_HISTORY_KEY, deps=[AssetKey("int_identitas")], group_name="linkage", kinds={"duckdb"},
                  owners=["team:data-engineering"],
                  description="How dtsen_ids changed from the previous month: new, split_from, merged_into, absent."),
    ],
    partitions_def=monthly_partitions,
)
def person_linkage(context: AssetExecutionContext, warehouse: WarehouseResource):
    month = context.partition_key
    columns = ", ".join(model.INPUT_COLUMNS)
    with warehouse.connect() as con:
        identities = con.sql(
            f"select {columns} from intermediate.int_identitas where extract_month = ?", params=[month]
        ).to_arrow_table()
    if identities.num_rows == 0:
        raise ValueError(f"linkage {month}: intermediate.int_identitas has no rows for this month; "
                         "materialise the raw and staging assets for it first")
    context.log.info(f"linkage {month}: training and predicting on {identities.num_rows} records")

    result = link_month(identities, paths.models_dir() / f"{model.MODEL_VERSION}_{month}.json")

    with warehouse.connect() as con:
        con.execute(_CREATE)
        con.register("new_clusters", result.clusters)
        con.register("new_predictions", result.predictions)
        con.execute("begin")
        id_events = assign_ids(con, month)
        con.execute("delete from linkage.pairwise_predictions where extract_month = ?", [month])
        con.execute("insert into linkage.pairwise_predictions select ?, * from new_predictions", [month])
        con.execute("commit")
        stats = con.execute("""
            with c as (select * from linkage.person_clusters where extract_month = ?),
            persons as (
                select dtsen_id, bool_or(source = 'dukcapil') as in_dukcapil, count(*) as n
                from c group by 1)
            select c.source, count(*) as records,
                   avg(case when p.in_dukcapil then 1 else 0 end) as matched_to_dukcapil,
                   count(*) - count(distinct c.dtsen_id) as within_source_duplicates
            from c join persons p using (dtsen_id) group by 1 order by 1""", [month]).fetchall()
        persons = con.execute(
            "select count(distinct dtsen_id) from linkage.person_clusters where extract_month = ?",
            [month]).fetchone()[0]
    table = "| source | records | matched to Dukcapil | duplicates within source |\n|---|---:|---:|---:|\n"
    table += "\n".join(f"| {s} | {r} | {m:.1%} | {d} |" for s, r, m, d in stats)
    yield MaterializeResult(asset_key=ID_HISTORY_KEY, metadata={
        "month": month, **{f"{event}": n for event, n in sorted(id_events.items())}})
    yield MaterializeResult(asset_key=PERSON_CLUSTERS_KEY, metadata={
        "month": month,
        "records": identities.num_rows,
        "persons (clusters)": persons,
        "pairs scored above 0.5": result.predictions.num_rows,
        "cluster threshold": CLUSTER_THRESHOLD,
        "match rate by source": MetadataValue.md(table),
        "model": MetadataValue.path(str(result.model_json)),
        "model version": model.MODEL_VERSION,
        "id events (linkage.id_history)": MetadataValue.json(id_events),
        "dagster/row_count": identities.num_rows,
    })
