"""The asset graph's keys, groups and dependencies: a rename or a lost edge shows as a diff."""

from dtsen_pipeline.definitions import defs

EXPECTED = {
    # key: (group, parents)
    "raw/dukcapil__individu": ("raw", set()),
    "raw/dtks__individu": ("raw", set()),
    "stg_dukcapil__individu": ("staging", {"raw/dukcapil__individu"}),
    "stg_dtks__individu": ("staging", {"raw/dtks__individu"}),
    "int_identitas": ("intermediate", {"stg_dukcapil__individu", "stg_dtks__individu"}),
    "linkage/person_clusters": ("linkage", {"int_identitas"}),
    "dtsen_individu": ("marts", {"int_identitas", "linkage/person_clusters"}),
    "publish/dtsen_release": ("publish", {"dtsen_individu"}),
}


def test_asset_graph_snapshot():
    graph = defs.resolve_asset_graph()
    actual = {
        key.to_user_string(): (graph.get(key).group_name, {p.to_user_string() for p in graph.get(key).parent_keys})
        for key in graph.get_all_asset_keys()
    }
    assert actual == EXPECTED


def test_quality_gate_is_blocking_and_on_the_mart():
    graph = defs.resolve_asset_graph()
    checks = {str(k.asset_key.to_user_string()) + ":" + k.name: graph.get_check_spec(k) for k in graph.asset_check_keys}
    gate = checks["dtsen_individu:gx_dtsen_individu"]
    assert gate.blocking


def test_every_asset_is_described_and_monthly():
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.description, f"{key.to_user_string()} has no description"
        assert node.partitions_def is not None, f"{key.to_user_string()} is not partitioned by month"
