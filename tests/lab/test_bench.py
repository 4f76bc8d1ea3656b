"""`make bench`'s own measurements (issue 18): the span of the linkage steps it reads the process
tree's memory in (Spark's JVM included) comes from the run's event log, and the tables name the
engine each column linked with."""

from __future__ import annotations

from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter

from dtsen_pipeline import bench


def test_the_linkage_window_spans_exactly_the_linkage_steps(first_month_run, in_data_root):
    # The latest successful run that linked (other tests of the session's data root run parts of a
    # month, raw and staging alone for example).
    with DagsterInstance.get() as instance:
        for run in instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.SUCCESS])):
            done = {
                e.step_key: e.timestamp
                for e in instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_SUCCESS)
            }
            if set(bench.LINKAGE_STEPS) <= set(done):
                break
        stats = instance.get_run_stats(run.run_id)
        steps = {
            e.step_key: e.timestamp
            for e in instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_START)
        }
    start, end = bench._step_window(run.run_id, bench.LINKAGE_STEPS)
    assert set(bench.LINKAGE_STEPS) <= set(done)
    assert start == min(steps[s] for s in bench.LINKAGE_STEPS)
    assert end == max(done[s] for s in bench.LINKAGE_STEPS)
    # Inside the run, and not the whole of it: the ingest and dbt steps come before.
    assert stats.start_time < min(steps.values()) < start < end < stats.end_time
    assert bench._step_window(run.run_id, ("no_such_step",)) is None


def _result(persons, engine, linkage_s, peak):
    return {
        "persons": persons,
        "engine": engine,
        "cores": 2,
        "records": persons * 3,
        "stages_s": {"run (end to end)": 2000.0, "linkage": linkage_s},
        "records_per_s": {},
        "records_per_s_end_to_end": 1,
        "peak_rss_mb": peak,
        "linkage_peak_rss_mb": peak - 100,
        "f1_splink": 0.999,
        "recall_nik_missing_or_invalid": 0.999,
        "accuracy_from_labels": {
            f: {"estimate": 0.99, "interval_95": [0.98, 0.995], "true": 0.99, "covered": True}
            for f in ("precision", "recall")
        }
        | {"true_pairs_not_in_population": 0},
    }


def test_the_table_names_the_engine_and_the_targets_judge_each_run():
    duck, spark = (
        _result(3_000_000, "duckdb", 900.0, 19_000),
        _result(3_000_000, "spark", 3600.0, 21_000),
    )
    table = bench._markdown([duck, spark])
    head = table.splitlines()[0]
    assert "3,000,000 persons (9,000,000 records) |" in head
    assert "3,000,000 persons (9,000,000 records), spark engine |" in head
    # 9M records in 900 s on 2 cores (half a core-hour), and in 3,600 s (two core-hours).
    assert "| linkage: records per core-hour | 18,000,000 | 4,500,000 |" in table
    assert (
        "| linkage: peak RSS while it runs, process tree with Spark's JVM (MB) | 18,900 | 20,900 |"
        in table
    )
    # Issue 30's blocking coverage, when the run has it (older results have not).
    assert (
        "| true pairs no blocking rule reaches: count (share; linked through other records) |  |  |"
        in table
    )
    duck["true_pairs_outside_blocking"] = {
        "true_pairs": 4_000_000,
        "outside_every_rule": 3_000,
        "share_outside": 0.00075,
        "outside_but_linked_through_others": 1_200,
    }
    duck["must_stay_apart_merged"] = {
        "twins": {"pairs": 56, "merged": 1, "merged_share": 0.018},
        "namesakes": {"pairs": 141, "merged": 0, "merged_share": 0.0},
    }
    table = bench._markdown([duck, spark])
    assert "| 3,000 (0.075%; 1,200) |  |" in table
    assert "| must-stay-apart pairs merged, ours | twins 1 of 56, namesakes 0 of 141 |  |" in table
    notes = bench._targets([duck, spark])
    assert notes[0].endswith(
        "2000 s (target < 2,400 s: met), peak 19,000 MB (target < 20,480 MB: met)"
    )
    assert "spark linkage" in notes[1] and notes[1].endswith("(target < 20,480 MB: NOT met)")


def _file(path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)


def test_the_retention_section_is_off_by_default_and_accounts_for_a_data_root(tmp_path):
    """`--retention-months`' arguments, and the sizes it records, on a hand-built data root."""
    from dtsen_pipeline.publish.retention import load_retention

    args = bench._parser().parse_args([])
    assert (args.retention_months, args.retention_persons, args.retention_keep_months) == (
        0,
        2000,
        3,
    )
    assert bench._retention(args, tmp_path) is None and not list(tmp_path.iterdir())
    args = bench._parser().parse_args(["--retention-months=12", "--retention-keep-months=2"])
    assert (args.retention_months, args.retention_persons, args.retention_keep_months) == (
        12,
        2000,
        2,
    )

    root, target = tmp_path / "root", tmp_path / "target"
    _file(root / "publish" / "2025-01" / "person.parquet", 100)
    _file(root / "publish" / "2025-02.r2" / "person.parquet", 50)
    _file(root / "publish" / "publications.jsonl", 7)
    (root / "publish" / "current").symlink_to("2025-02.r2")
    _file(root / "dagster_home" / "history" / "runs.db", 1000)
    _file(root / "reports" / "index.html", 30)
    _file(root / "warehouse" / "dtsen.duckdb", 4096)
    _file(root / "logs" / "dbt.log", 20)
    _file(root / "review" / "decisions.csv", 3)
    for run in ("0123abc", "dtsen-0123abc-4567def", "not-a-run"):
        _file(target / run / "run_results.json", 1)
    _file(target / "manifest.json", 1)

    sizes = bench.retention_sizes(root, target)
    assert sizes["parts_bytes"] == {
        "publish": 157,  # `current`, a link to a release, is not counted twice
        "dagster_home": 1000,
        "reports": 30,
        "warehouse": 4096,
        "logs": 20,
        "landing": 0,
        "truth": 0,
        "other": 3,
    }
    assert sizes["total_bytes"] == sum(sizes["parts_bytes"].values())
    assert (sizes["releases"], sizes["dbt_run_folders"]) == (2, 2)

    # A second month 1 MiB larger: the table shows the growth between months.
    later = {**sizes, "total_bytes": sizes["total_bytes"] + 2**20}
    result = {"persons": 2000, "months": 2, "keep_months": 2, "per_month": []}
    result["per_month"] = [
        {"month": "2025-01", "run_s": 60.0, **sizes},
        {"month": "2025-02", "run_s": 61.0, **later},
    ]
    table = bench.retention_table(result).splitlines()
    assert "Dagster runs) 2" in table[1] and "| other (MB) |" in table[3]
    assert table[-1].startswith("| 2025-02 | 61.0 | 1.0 | 1.0 | 0.0 | 0.0 |")
    assert table[-1].endswith("| 2 | 2 |")

    config = bench._retention_config(tmp_path, 2)
    rule = load_retention(config)
    assert (rule.releases.keep_months, rule.reports.keep_months, rule.dagster_runs.keep_months) == (
        2,
        2,
        2,
    )
