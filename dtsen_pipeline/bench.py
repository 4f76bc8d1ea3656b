"""``make bench``: time every stage of a monthly refresh at several sizes, with peak memory.

Each size runs in its own child process (a fresh data root under data/bench/), while the parent
samples the RSS of the child's whole process tree (dbt runs as a grandchild). Results go to
data/bench/results.json and results.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from dtsen_pipeline.linkage.config import ENGINE_ENV

MONTH = "2025-01"
# The generator profile a child builds its world with (`--profiles`: the default world and the
# harder one, `lab/generate/profile_hard.yaml`).
PROFILE_ENV = "DTSEN_BENCH_PROFILE"


def _profile() -> str:
    return os.environ.get(PROFILE_ENV, "default")


# Pairs in the labels-based accuracy sample (issue 14: 2,000), labelled from the truth.
ACCURACY_SAMPLE = 2000


def _accuracy_from_labels(report: dict) -> dict:
    """Inside the child, after the run: draw the clerical sample, label it from the truth, estimate
    precision and recall, and set the estimate beside the truth (``dtsen evaluate``'s figures)."""
    from dtsen_pipeline.lab import evaluate
    from dtsen_pipeline.lib import warehouse
    from dtsen_pipeline.linkage import accuracy

    t0 = time.perf_counter()
    # The month's candidate pairs scored once, for both the sample and the truth check: at 3M
    # persons each scoring is minutes.
    scored = accuracy.population(MONTH)
    try:
        sample = accuracy.draw_sample(MONTH, ACCURACY_SAMPLE, replace=True, scored=scored)
        sample_s = time.perf_counter() - t0
        evaluate.label_from_truth(MONTH)
        with warehouse.connect(read_only=True) as con:
            result = accuracy.estimate(MONTH, con)
        check = evaluate.truth_check(MONTH, result, report=report, scored=scored)
    finally:
        scored.close()
    return {
        "sample_pairs": sample.pairs,
        "candidate_pairs": sample.candidate_pairs,
        "linked_pairs": sample.linked_pairs,
        "sample_s": round(sample_s, 1),
        "matches_labelled": result["matches_labelled"],
        **check,
        "strata": result["strata"],
    }


def _one(persons: int) -> dict:
    """Inside the child: generate, run the job, evaluate; report seconds per stage."""
    from dagster import DagsterEventType

    from dtsen_pipeline.cli import run_month
    from dtsen_pipeline.ingest.sources import correction_sources, load_sources
    from dtsen_pipeline.lab.evaluate import evaluate_month
    from dtsen_pipeline.lab.generate import generate
    from dtsen_pipeline.lib import paths
    from dtsen_pipeline.linkage.config import rules

    t0 = time.perf_counter()
    written = generate(persons=persons, start=MONTH, months=1, seed=1, profile_name=_profile())[0]
    stages = {"generate (every source)": time.perf_counter() - t0}
    # Rates and the floor count what the pipeline ingests: the sources in its registry.
    ingested = {s.name for s in load_sources()}
    records = sum(n for s, n in written.records.items() if s in ingested)
    floor = _bare_read({s: f for s, f in written.files.items() if s in ingested})

    t0 = time.perf_counter()
    result = run_month(MONTH, show_progress=False)
    stages["run (end to end)"] = time.perf_counter() - t0
    if not result.success:
        raise SystemExit(f"bench run for {persons} persons failed; see {paths.logs_dir()}")
    steps = {}
    for event in result.all_events:
        if event.event_type == DagsterEventType.STEP_SUCCESS:
            steps[event.step_key] = event.event_specific_data.duration_ms / 1000
    linkage_window = _step_window(result.run_id, LINKAGE_STEPS)
    for stage, belongs in STAGES:
        stages[stage] = sum(v for k, v in steps.items() if belongs(k))
    report = evaluate_month(MONTH)
    corrections = correction_sources()
    correction_records = sum(n for s, n in written.records.items() if s in corrections)
    cost = _correction_cost(
        steps, paths.logs_dir() / f"run-{MONTH}.log", records, correction_records, corrections
    )
    cost["share_of_run"] = round(cost["total_s"] / stages["run (end to end)"], 4)
    return {
        "persons": persons,
        "profile": _profile(),
        "engine": rules().engine,
        "cores": os.cpu_count(),
        "linkage_window": linkage_window,
        "records": records,
        "sources": sorted(ingested),
        "stages_s": {k: round(v, 2) for k, v in stages.items()},
        "steps_s": {k: round(v, 2) for k, v in steps.items()},
        "records_per_s": {k: round(records / v) for k, v in stages.items() if v > 0},
        "floor_bare_read_s": round(floor, 3),
        "records_per_s_end_to_end": round(records / stages["run (end to end)"]),
        "f1_splink": report["splink"]["f1"],
        "f1_nik_only": report["nik_only_baseline"]["f1"],
        "recall_nik_missing_or_invalid": report["splink"]["recall_nik_missing_or_invalid"],
        "false_merges_within_family": report["splink"]["false_merges"]["within_family"],
        # Issue 30: twins and namesakes merged (None where the world plants none), and the true
        # pairs no blocking rule reaches (Splink never scores them).
        "must_stay_apart_merged": report["splink"]["must_stay_apart_merged"],
        "true_pairs_outside_blocking": report["blocking"],
        "accuracy_from_labels": _accuracy_from_labels(report),
        "correction_loop": {"records": correction_records, **cost},
    }


# What the correction loop (issue 19) adds to a month besides its sources (the registry's
# correction sources: their ingest, staging and suites): these dbt nodes (models, seeds, tests) and
# the suites of its marts.
CORRECTION_DBT_NODES = (
    "int_koreksi",
    "int_kunjungan",
    "dtsen_usulan",
    "dtsen_daftar_verifikasi",
    "dtsen_graduasi_pendamping",
    "graduasi_target",
    "verifikasi_prioritas",
    "usulan_batas_layanan",
)
_DBT_NODE_TIME = re.compile(r"^\d+ of \d+ (?:OK|PASS)\b.*? (\S+) \.+ \[.*? in ([\d.]+)s\]")


def _correction_cost(
    steps: dict[str, float], log: Path, records: int, corrections: int, sources: tuple[str, ...]
) -> dict:
    """The seconds of a month's run that the correction loop costs: the Dagster steps of its
    sources and marts (ingest, staged and mart suites), its dbt nodes (from the run's dbt log; dbt
    runs on one thread here, so their times add up), and linkage's share in proportion to the
    records it brings (it is scored with the others, not apart)."""
    names = (*sources, *CORRECTION_DBT_NODES)
    ansi = re.compile(r"\x1b\[[0-9;]*m")
    dbt = 0.0
    if log.exists():
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            m = _DBT_NODE_TIME.match(ansi.sub("", line))
            if m and any(n in m.group(1) for n in names):
                dbt += float(m.group(2))
    dagster = sum(
        v
        for k, v in steps.items()
        if (k.startswith("raw__") or "_gx_" in k) and any(n in k for n in names)
    )
    linkage = sum(v for k, v in steps.items() if k in ("person_linkage", "family_linkage"))
    linkage_share = linkage * corrections / records if records else 0.0
    return {
        "dagster_steps_s": round(dagster, 1),
        "dbt_nodes_s": round(dbt, 1),
        "linkage_share_s": round(linkage_share, 1),
        "total_s": round(dagster + dbt + linkage_share, 1),
    }


# Stages of the monthly refresh, from the Dagster steps that make them up.
LINKAGE_STEPS = ("person_linkage", "family_linkage")
STAGES = [
    ("ingest", lambda step: step.startswith("raw__")),
    ("staging", lambda step: step == "dbt_staging"),
    ("linkage", lambda step: step in LINKAGE_STEPS),
    ("marts", lambda step: step == "dbt_marts"),
    ("gate", lambda step: "_gx_" in step),
    ("publish", lambda step: step.startswith("publish__")),
]


def _step_window(run_id: str, step_keys: tuple[str, ...]) -> list[float] | None:
    """The wall-clock span (epoch seconds) from the first of these steps' start to the last one's
    success, from the run's event log: the parent reads the memory it sampled in that span."""
    from dagster import DagsterEventType, DagsterInstance

    with DagsterInstance.get() as instance:
        entries = instance.all_logs(
            run_id, of_type={DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS}
        )
    times = [e.timestamp for e in entries if e.step_key in step_keys]
    return [min(times), max(times)] if times else None


def _baselines(persons: int) -> dict:
    """Inside a child, on the data the pipeline child just linked: the baselines' time and F1."""
    from dtsen_pipeline.lab import baselines

    return {
        "persons": persons,
        "nik_only": baselines.nik_only(MONTH),
        "plain_splink": baselines.plain_splink(MONTH),
    }


def _bare_read(files: dict[str, list[Path]]) -> float:
    """The floor: read every extract with nothing around it (DuckDB for CSV and Parquet; XLSX,
    which DuckDB cannot read offline, with calamine, the fastest reader at hand)."""
    from python_calamine import CalamineWorkbook

    from dtsen_pipeline.lib import warehouse

    t0 = time.perf_counter()
    with warehouse.connect(":memory:") as con:
        for path in (p for paths_ in files.values() for p in paths_):
            if path.suffix == ".parquet":
                con.execute("select count(*) from read_parquet(?)", [str(path)]).fetchall()
            elif path.suffix == ".csv":
                con.execute(
                    "select count(*) from read_csv(?, all_varchar=true, encoding='latin-1')",
                    [str(path)],
                ).fetchall()
            else:
                len(CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python())
    return time.perf_counter() - t0


def _generate_only(persons: int) -> dict:
    from dtsen_pipeline.lab.generate import generate

    t0 = time.perf_counter()
    written = generate(persons=persons, start=MONTH, months=1, seed=1)[0]
    seconds = time.perf_counter() - t0
    return {
        "persons": persons,
        "records": sum(written.records.values()),
        "sources": len(written.files),
        "generate_s": round(seconds, 1),
        "bare_read_s": round(_bare_read(written.files), 1),
    }


def _ingest_only(persons: int) -> dict:
    """Generate a month, then time the raw and staging layers alone (every source)."""
    from dagster import DagsterEventType

    from dtsen_pipeline.cli import run_month
    from dtsen_pipeline.lab.generate import generate

    written = generate(persons=persons, start=MONTH, months=1, seed=1)[0]
    records = sum(written.records.values())
    floor = _bare_read(written.files)
    t0 = time.perf_counter()
    result = run_month(
        MONTH, show_progress=False, layers=("raw", "reference", "staging", "intermediate")
    )
    seconds = time.perf_counter() - t0
    if not result.success:
        raise SystemExit(f"ingest bench for {persons} persons failed")
    steps = {
        e.step_key: round(e.event_specific_data.duration_ms / 1000, 1)
        for e in result.all_events
        if e.event_type == DagsterEventType.STEP_SUCCESS
    }
    ingest = sum(v for k, v in steps.items() if k.startswith("raw__"))
    return {
        "persons": persons,
        "records": records,
        "ingest_s": round(ingest, 1),
        "staging_s": steps.get("dbt_staging"),
        "ingest_and_staging_s": round(seconds, 1),
        "records_per_s": round(records / seconds),
        "bare_read_s": round(floor, 1),
        "ratio_to_floor": round(seconds / floor, 1),
    }


# Agencies re-verify this share of their records in month 2 (`dtsen generate --reverified`): with
# births, deaths, moves and enrolments, about 5% of month 2's records are new or changed.
INCR_REVERIFIED = 0.3


def _incremental(persons: int) -> dict:
    """Two months, about 5% of records new or changed in the second: month 1 linked in full (with
    training), month 2 linked incrementally, then again by a full relink with the same model."""
    from dagster import DagsterEventType

    from dtsen_pipeline.cli import run_month
    from dtsen_pipeline.lab.generate import generate, month_range

    first, second = month_range(MONTH, 2)
    generate(persons=persons, start=first, months=2, seed=1, reverified=INCR_REVERIFIED)
    out = {"persons": persons}

    def linkage(result) -> tuple[float, dict]:
        for event in result.all_events:
            if (
                event.event_type == DagsterEventType.STEP_SUCCESS
                and event.step_key == "person_linkage"
            ):
                seconds = event.event_specific_data.duration_ms / 1000
        [mat] = [
            m
            for m in result.asset_materializations_for_node("person_linkage")
            if m.asset_key.to_user_string() == "linkage/person_clusters"
        ]
        return round(seconds, 1), {
            k: v.value for k, v in mat.metadata.items() if isinstance(v.value, (int, str))
        }

    for label, month, kwargs in (
        ("first_month_trained", first, {}),
        ("incremental", second, {}),
        ("full_relink", second, {"full_relink": True}),
    ):
        result = run_month(month, show_progress=False, **kwargs)
        if not result.success:
            raise SystemExit(f"incremental bench: {label} run failed")
        seconds, meta = linkage(result)
        out[f"linkage_{label}_s"] = seconds
        if label == "incremental":
            out["records"] = meta.get("records")
            out["records_scored_again"] = meta.get("records scored again")
    out["changed_share"] = round(out["records_scored_again"] / out["records"], 4)
    # Against a full monthly linkage run (train, predict, cluster) and against a relink that reuses the model.
    out["incremental_share_of_full"] = round(
        out["linkage_incremental_s"] / out["linkage_first_month_trained_s"], 3
    )
    out["incremental_share_of_relink"] = round(
        out["linkage_incremental_s"] / out["linkage_full_relink_s"], 3
    )
    return out


# The correction loop's year (issue 19): months generated and run one after the other.
YEAR_MONTHS = 12


def _year(persons: int) -> dict:
    """A generated year, run month by month as in production (incremental linkage after the first),
    with `dtsen evaluate` after each: linkage F1, the verified true corrections the release shows,
    golden fields changed by anything unverified, and the work list's lift over a random list."""
    from dtsen_pipeline.cli import run_month
    from dtsen_pipeline.lab.evaluate import evaluate_month
    from dtsen_pipeline.lab.generate import generate, month_range

    months = month_range(MONTH, YEAR_MONTHS)
    t0 = time.perf_counter()
    generate(persons=persons, start=MONTH, months=YEAR_MONTHS, seed=1, profile_name=_profile())
    out = {"persons": persons, "months": YEAR_MONTHS, "generate_s": round(time.perf_counter() - t0)}
    rows = []
    for month in months:
        t0 = time.perf_counter()
        result = run_month(month, show_progress=False)
        seconds = time.perf_counter() - t0
        if not result.success:
            raise SystemExit(f"year bench: the run of {month} failed")
        report = evaluate_month(month)
        corrections, work = report["corrections"] or {}, report["work_list"] or {}
        rows.append(
            {
                "month": month,
                "run_s": round(seconds, 1),
                "f1": report["splink"]["f1"],
                "verified_true": corrections.get("verified_true", 0),
                "applied": corrections.get("applied", 0),
                "applied_share": corrections.get("applied_share"),
                "verified_true_this_month": corrections.get("verified_true_this_month", 0),
                "applied_this_month": corrections.get("applied_this_month", 0),
                "applied_share_this_month": corrections.get("applied_share_this_month"),
                "accepted_false": corrections.get("accepted_false", 0),
                "unverified_changes": corrections.get("unverified_changes", 0),
                "by_kind": corrections.get("by_kind", {}),
                "work_list_lift": work.get("lift"),
                "top_decile_share": work.get("top_decile_share"),
                "random_list_share": work.get("random_list_share"),
            }
        )
        print(f"bench: year, {month}: {json.dumps(rows[-1])}", file=sys.stderr, flush=True)
    last = rows[-1]
    lifts = [r["work_list_lift"] for r in rows if r["work_list_lift"] is not None]
    shares = [r["applied_share"] for r in rows if r["applied_share"] is not None]
    decided = sum(r["verified_true_this_month"] for r in rows)
    shown = sum(r["applied_this_month"] for r in rows)
    next_release = [
        r["applied_share_this_month"] for r in rows if r["applied_share_this_month"] is not None
    ]
    out.update(
        {
            "per_month": rows,
            "run_s_mean": round(sum(r["run_s"] for r in rows) / len(rows), 1),
            "f1_min": min(r["f1"] for r in rows),
            # Cumulative in the last month: every item verified during the year.
            "verified_true_year": last["verified_true"],
            "applied_year": last["applied"],
            "applied_share_year": last["applied_share"],
            "applied_share_min_month": min(shares) if shares else None,
            # Each item in the release right after its decision, summed over the year.
            "decided_true_year": decided,
            "shown_next_release_year": shown,
            "next_release_share_year": round(shown / decided, 4) if decided else None,
            "next_release_share_min_month": min(next_release) if next_release else None,
            "unverified_changes_max": max(r["unverified_changes"] for r in rows),
            "work_list_lift_min": min(lifts) if lifts else None,
            "work_list_lift_median": sorted(lifts)[len(lifts) // 2] if lifts else None,
        }
    )
    return out


def _tree_rss(pid: int) -> int:
    import psutil

    try:
        proc = psutil.Process(pid)
        return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)])
    except psutil.Error:
        return 0


def _measure(
    persons: int,
    root: Path,
    suite: str = "pipeline",
    fresh: bool = True,
    profile: str = "default",
    engine: str = "duckdb",
) -> dict:
    env = {
        **os.environ,
        "DTSEN_DATA_DIR": str(root),
        PROFILE_ENV: profile,
        ENGINE_ENV: engine,
    }
    env.pop("DAGSTER_HOME", None)
    if fresh:
        shutil.rmtree(root, ignore_errors=True)
    child = subprocess.Popen(
        [sys.executable, "-m", "dtsen_pipeline.bench", "--child", suite, str(persons)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    # (epoch seconds, RSS of the child's process tree: dbt, and Spark's JVM when linkage runs there)
    samples: list[tuple[float, int]] = []
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            samples.append((time.time(), _tree_rss(child.pid)))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = child.communicate()
    stop.set()
    sampler.join()
    if child.returncode != 0:
        raise SystemExit(f"bench for {persons} persons failed (exit {child.returncode})")
    result = json.loads(out.strip().splitlines()[-1])
    if suite not in ("pipeline", "baselines"):
        shutil.rmtree(
            root, ignore_errors=True
        )  # a million-person world is gigabytes; keep the figures
    result["peak_rss_mb"] = round(max((rss for _, rss in samples), default=0) / 2**20)
    if result.get("linkage_window"):
        start, end = result["linkage_window"]
        result["linkage_peak_rss_mb"] = round(
            max((rss for t, rss in samples if start <= t <= end), default=0) / 2**20
        )
    return result


def _markdown(results: list[dict]) -> str:
    head = (
        "| | "
        + " | ".join(
            f"{r['persons']:,} persons ({r['records']:,} records)"
            + (f", {r['profile']} profile" if r.get("profile", "default") != "default" else "")
            + (f", {r['engine']} engine" if r.get("engine", "duckdb") != "duckdb" else "")
            for r in results
        )
        + " |"
    )
    lines = [head, "|---|" + "---:|" * len(results)]
    for stage in ["generate (every source)", "run (end to end)", *[s for s, _ in STAGES]]:
        lines.append(
            f"| {stage} (s) | "
            + " | ".join(str(r["stages_s"].get(stage, "")) for r in results)
            + " |"
        )
    for stage, _ in STAGES:
        lines.append(
            f"| {stage}, records/s | "
            + " | ".join(f"{r['records_per_s'].get(stage, 0):,}" for r in results)
            + " |"
        )

    def row(label, fn):
        lines.append(f"| {label} | " + " | ".join(str(fn(r)) for r in results) + " |")

    row("records per second, end to end", lambda r: f"{r['records_per_s_end_to_end']:,}")
    row("peak RSS, process tree (MB)", lambda r: f"{r['peak_rss_mb']:,}")
    row(
        "linkage: peak RSS while it runs, process tree with Spark's JVM (MB)",
        lambda r: f"{r['linkage_peak_rss_mb']:,}" if "linkage_peak_rss_mb" in r else "",
    )
    row(
        "linkage: records per core-hour",
        lambda r: f"{_per_core_hour(r):,}" if r["stages_s"].get("linkage") else "",
    )
    row("pairwise F1, ours", lambda r: r["f1_splink"])
    row(
        "recall on records with missing/invalid NIK, ours",
        lambda r: r["recall_nik_missing_or_invalid"],
    )
    row(
        "false merges inside one family (person pairs), ours",
        lambda r: r.get("false_merges_within_family", ""),
    )
    _accuracy_rows(row)
    row(
        "correction loop: its records; its cost (s) and share of the run",
        lambda r: (
            f"{r['correction_loop']['records']:,}; {r['correction_loop']['total_s']} "
            f"({r['correction_loop']['share_of_run']:.1%})"
            if "correction_loop" in r
            else ""
        ),
    )
    row(
        "true pairs the labels-based estimate cannot see (no blocking rule, not linked)",
        lambda r: r["accuracy_from_labels"]["true_pairs_not_in_population"],
    )
    if all("baselines" in r for r in results):
        row("floor: bare DuckDB read of the extracts (s)", lambda r: r["floor_bare_read_s"])
        row("baseline: NIK-only join (s)", lambda r: r["baselines"]["nik_only"]["seconds"])
        row("baseline: NIK-only join, F1", lambda r: r["baselines"]["nik_only"]["f1"])
        row("baseline: plain Splink (s)", lambda r: r["baselines"]["plain_splink"]["seconds"])
        row("baseline: plain Splink, F1", lambda r: r["baselines"]["plain_splink"]["f1"])
        row(
            "baseline: plain Splink, must-stay-apart pairs merged",
            lambda r: _apart(r["baselines"]["plain_splink"].get("must_stay_apart_merged")),
        )
        row(
            "baseline: plain Splink, recall on missing/invalid NIK",
            lambda r: r["baselines"]["plain_splink"]["recall_nik_missing_or_invalid"],
        )
        row(
            "ours / floor (time, end to end)",
            lambda r: round(r["stages_s"]["run (end to end)"] / r["floor_bare_read_s"]),
        )
        row(
            "ours / plain Splink (time, linkage)",
            lambda r: round(
                r["stages_s"]["linkage"] / r["baselines"]["plain_splink"]["seconds"], 2
            ),
        )
        row(
            "ours / plain Splink (F1)",
            lambda r: round(r["f1_splink"] / r["baselines"]["plain_splink"]["f1"], 4),
        )
    return "\n".join(lines) + "\n"


def _apart(figures: dict | None) -> str:
    """Twins and namesakes merged, of the pairs the world holds ('' for a world without a truth of
    its persons)."""
    if not figures:
        return ""
    return ", ".join(
        f"{kind} {figures[kind]['merged']:,} of {figures[kind]['pairs']:,}"
        for kind in ("twins", "namesakes")
    )


def _accuracy_rows(row) -> None:
    """The table's rows on what linkage missed and the labels-based estimate against the truth."""
    row("must-stay-apart pairs merged, ours", lambda r: _apart(r.get("must_stay_apart_merged")))
    row(
        "true pairs no blocking rule reaches: count (share; linked through other records)",
        lambda r: (
            "{outside_every_rule:,} ({share_outside:.3%}; {outside_but_linked_through_others:,})".format(
                **r["true_pairs_outside_blocking"]
            )
            if "true_pairs_outside_blocking" in r
            else ""
        ),
    )
    for figure in ("precision", "recall"):
        row(
            f"{figure}, labels-based estimate from {ACCURACY_SAMPLE:,} pairs [95% interval]",
            lambda r, f=figure: "{estimate} [{0} to {1}]".format(
                *r["accuracy_from_labels"][f]["interval_95"], **r["accuracy_from_labels"][f]
            ),
        )
        row(
            f"{figure}, true (dtsen evaluate); inside the interval",
            lambda r, f=figure: (
                f"{r['accuracy_from_labels'][f]['true']}; "
                + ("yes" if r["accuracy_from_labels"][f]["covered"] else "NO")
            ),
        )


def _per_core_hour(r: dict) -> int:
    """Linkage throughput per core: the records linked per hour of one core (both engines use every
    core of the machine: DuckDB's threads, Spark's local[*])."""
    return round(r["records"] / (r["stages_s"]["linkage"] * r.get("cores", 1) / 3600))


def _growth(results: list[dict]) -> list[str]:
    """Between consecutive sizes: the exponent k in time ~ n^k, against n log n's."""
    import math

    out = []
    for a, b in zip(results, results[1:]):
        ta, tb = a["stages_s"]["run (end to end)"], b["stages_s"]["run (end to end)"]
        k = math.log(tb / ta) / math.log(b["persons"] / a["persons"])
        nlogn = math.log(
            (b["persons"] * math.log(b["persons"])) / (a["persons"] * math.log(a["persons"]))
        ) / math.log(b["persons"] / a["persons"])
        out.append(
            f"{a['persons']:,} -> {b['persons']:,} persons: time grows as n^{k:.2f} "
            f"(n log n would be n^{nlogn:.2f}): {'within' if k <= nlogn + 0.1 else 'FASTER than'} n log n"
        )
    return out


# Persons -> (seconds, MB) a month end to end must stay under (issues 9 and 18).
TARGETS = {1_000_000: (900, 12_288), 3_000_000: (2_400, 20_480)}


def _targets(results: list[dict]) -> list[str]:
    out = []
    for r in results:
        if r["persons"] in TARGETS:
            t, m = r["stages_s"]["run (end to end)"], r["peak_rss_mb"]
            t_max, m_max = TARGETS[r["persons"]]
            out.append(
                f"{r['persons'] // 1_000_000}M persons, {r.get('profile', 'default')} profile, "
                f"{r.get('engine', 'duckdb')} linkage, end to end: {t:.0f} s "
                f"(target < {t_max:,} s: {'met' if t < t_max else 'NOT met'}), "
                f"peak {m:,} MB (target < {m_max:,} MB: {'met' if m < m_max else 'NOT met'})"
            )
    return out


def _plot(results: list[dict], path: Path) -> None:
    """Time against size, log-log: end to end, each stage, the baselines, the floor, and n log n."""
    import math

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = [r["persons"] for r in results]
    fig, ax = plt.subplots(figsize=(8, 5.5))
    ax.plot(
        n,
        [r["stages_s"]["run (end to end)"] for r in results],
        "o-",
        lw=2.5,
        color="black",
        label="monthly refresh, end to end",
    )
    for stage, _ in STAGES:
        ax.plot(n, [max(r["stages_s"][stage], 0.01) for r in results], ".-", lw=1, label=stage)
    if all("baselines" in r for r in results):
        ax.plot(
            n,
            [r["baselines"]["plain_splink"]["seconds"] for r in results],
            "s--",
            label="plain Splink (baseline)",
        )
        ax.plot(
            n,
            [r["baselines"]["nik_only"]["seconds"] for r in results],
            "v--",
            label="NIK-only join (baseline)",
        )
    ax.plot(n, [r["floor_bare_read_s"] for r in results], "x:", label="bare DuckDB read (floor)")
    t0, n0 = results[0]["stages_s"]["run (end to end)"], n[0]
    ref = [t0 * (x * math.log(x)) / (n0 * math.log(n0)) for x in n]
    ax.plot(n, ref, color="grey", lw=6, alpha=0.25, label="n log n from the smallest size")
    ax.axhline(900, color="red", lw=0.8, ls="--", label="15 min target (1M)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("persons in the month (synthetic world)")
    ax.set_ylabel("seconds (2 cores)")
    ax.set_title("dtsen-pipeline: time against size")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# The benchmark suites besides the pipeline table: (make variable, option, what, child function,
# table columns as (heading, result key)).
SUITES = [
    (
        "GEN_SIZES",
        "generate",
        "generation (every source, one month)",
        _generate_only,
        [
            ("records", "records"),
            ("seconds", "generate_s"),
            ("peak RSS (MB)", "peak_rss_mb"),
            ("bare read (s)", "bare_read_s"),
        ],
    ),
    (
        "INGEST_SIZES",
        "ingest",
        "ingest + staging (every source)",
        _ingest_only,
        [
            ("records", "records"),
            ("ingest (s)", "ingest_s"),
            ("staging (s)", "staging_s"),
            ("total (s)", "ingest_and_staging_s"),
            ("records/s", "records_per_s"),
            ("peak RSS (MB)", "peak_rss_mb"),
            ("bare read (s)", "bare_read_s"),
            ("ratio to floor", "ratio_to_floor"),
        ],
    ),
    (
        "INCR_SIZES",
        "incremental",
        "incremental month",
        _incremental,
        [
            ("records", "records"),
            ("scored again", "records_scored_again"),
            ("changed", "changed_share"),
            ("full linkage, trained (s)", "linkage_first_month_trained_s"),
            ("incremental (s)", "linkage_incremental_s"),
            ("relink, saved model (s)", "linkage_full_relink_s"),
            ("incremental / full", "incremental_share_of_full"),
            ("incremental / relink", "incremental_share_of_relink"),
            ("peak RSS (MB)", "peak_rss_mb"),
        ],
    ),
    (
        "YEAR_SIZES",
        "year",
        f"the correction loop over a generated year ({YEAR_MONTHS} months)",
        _year,
        [
            ("run per month, mean (s)", "run_s_mean"),
            ("F1, lowest month", "f1_min"),
            ("true corrections decided", "decided_true_year"),
            ("in the next release", "shown_next_release_year"),
            ("share", "next_release_share_year"),
            ("share, lowest month", "next_release_share_min_month"),
            ("all verified, last release: shown / verified", "applied_share_year"),
            ("golden fields changed unverified", "unverified_changes_max"),
            ("work list lift, lowest month", "work_list_lift_min"),
            ("work list lift, median", "work_list_lift_median"),
            ("peak RSS (MB)", "peak_rss_mb"),
        ],
    ),
]
CHILDREN = {"pipeline": _one, "baselines": _baselines, **{name: fn for _, name, _, fn, _ in SUITES}}


# `--retention-months`: a data root run month after month with retention on, measured after each.
RETENTION_PARTS = ("publish", "dagster_home", "reports", "warehouse", "logs", "landing", "truth")


def retention_sizes(root: Path, dbt_target: Path) -> dict:
    """The data root's total size, its parts' sizes, the releases it keeps and dbt's run folders."""
    from dtsen_pipeline.publish import retention

    total = retention.tree_size(root)
    parts = {name: retention.tree_size(root / name) for name in RETENTION_PARTS}
    parts["other"] = total - sum(parts.values())
    return {
        "total_bytes": total,
        "parts_bytes": parts,
        "releases": len(retention.release_folders(root / "publish")),
        "dbt_run_folders": len(retention.dbt_run_folders(dbt_target)),
    }


def _retention_config(out: Path, keep_months: int) -> Path:
    """A copy of the configuration whose window is ``keep_months`` (releases, reports and Dagster
    runs; the rest as shipped), so a run of a few months passes the window."""
    import yaml

    from dtsen_pipeline.lib import paths

    config = out / "retention-config"
    shutil.rmtree(config, ignore_errors=True)
    shutil.copytree(paths.config_dir(), config)
    rule = yaml.safe_load((config / "retention.yaml").read_text(encoding="utf-8"))
    for section in ("releases", "reports", "dagster_runs"):
        rule[section]["keep_months"] = keep_months
    (config / "retention.yaml").write_text(yaml.safe_dump(rule), encoding="utf-8")
    return config


def _dtsen(env: dict, log: Path, *args: str) -> None:
    """`dtsen <args>` in its own process; what it prints is appended to ``log``."""
    cli = [sys.executable, "-m", "dtsen_pipeline.cli", *args]
    with log.open("a", encoding="utf-8") as out:
        if subprocess.run(cli, env=env, stdout=out, stderr=subprocess.STDOUT).returncode != 0:
            raise SystemExit(f"retention bench: dtsen {' '.join(args)} failed (see {log})")


def _retention(args: argparse.Namespace, out: Path) -> dict | None:
    """``dtsen run`` for each of ``--retention-months`` generated months in a fresh data root,
    with the data root's sizes after each (``retention_sizes``)."""
    if not args.retention_months:
        return None
    from dtsen_pipeline.lab.generate import month_range
    from dtsen_pipeline.lib import paths

    persons, keep = args.retention_persons, args.retention_keep_months
    root = out / f"retention-{persons}"
    shutil.rmtree(root, ignore_errors=True)
    config = _retention_config(out, keep)
    env = {**os.environ, "DTSEN_DATA_DIR": str(root), "DTSEN_CONFIG_DIR": str(config)}
    env.pop("DAGSTER_HOME", None)
    print(f"bench: retention, {persons:,} persons ...", file=sys.stderr, flush=True)
    log = out / f"retention-{persons}.log"
    log.unlink(missing_ok=True)
    _dtsen(env, log, "generate", f"--persons={persons}", f"--start={MONTH}",
           f"--months={args.retention_months}", "--seed=1")  # fmt: skip
    rows = []
    for month in month_range(MONTH, args.retention_months):
        t0 = time.perf_counter()
        _dtsen(env, log, "run", f"--month={month}")
        seconds = round(time.perf_counter() - t0, 1)
        rows.append(
            {"month": month, "run_s": seconds, **retention_sizes(root, paths.dbt_manifest().parent)}
        )
        print(f"bench: retention, {month}: {json.dumps(rows[-1])}", file=sys.stderr, flush=True)
    return {
        "persons": persons,
        "months": args.retention_months,
        "keep_months": keep,
        "per_month": rows,
    }


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f}"


def retention_table(result: dict) -> str:
    """Month, total size and parts (MB), releases kept and dbt's run folders; growth per month."""
    parts = list(result["per_month"][0]["parts_bytes"]) if result["per_month"] else []
    lines = [
        "| month | run (s) | data root (MB) | growth (MB) | "
        + " | ".join(f"{p}{'' if p == 'other' else '/'} (MB)" for p in parts)
        + " | releases | dbt run folders |",
        "|---|" + "---:|" * (len(parts) + 5),
    ]
    previous = None
    for r in result["per_month"]:
        growth = "" if previous is None else _mb(r["total_bytes"] - previous)
        previous = r["total_bytes"]
        lines.append(
            f"| {r['month']} | {r['run_s']} | {_mb(r['total_bytes'])} | {growth} | "
            + " | ".join(_mb(r["parts_bytes"][p]) for p in parts)
            + f" | {r['releases']} | {r['dbt_run_folders']} |"
        )
    title = (
        f"\nRetention: {result['persons']:,} persons, {result['months']} months, "
        f"window (keep_months of releases, reports, Dagster runs) {result['keep_months']}\n\n"
    )
    return title + "\n".join(lines) + "\n"


def _suite_table(title: str, columns: list[tuple[str, str]], rows: list[dict]) -> str:
    fmt = lambda v: f"{v:,}" if isinstance(v, int) else str(v)  # noqa: E731
    lines = [
        f"| {title} | " + " | ".join(h for h, _ in columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    lines += [
        f"| {r['persons']:,} persons | " + " | ".join(fmt(r[k]) for _, k in columns) + " |"
        for r in rows
    ]
    return "\n" + "\n".join(lines) + "\n"


def _sizes(text: str) -> list[int]:
    return [int(s) for s in text.split(",") if s]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m dtsen_pipeline.bench")
    parser.add_argument(
        "--sizes", default="100000,1000000", help="persons per pipeline run, comma separated"
    )
    parser.add_argument(
        "--generate-sizes",
        default="",
        help="persons for the generation-only benchmark (every source, one month)",
    )
    parser.add_argument(
        "--ingest-sizes",
        default="",
        help="persons for the ingest + staging benchmark (every source, one month)",
    )
    parser.add_argument(
        "--incremental-sizes",
        default="",
        help="persons for the incremental-month benchmark (two months; slow at 1M)",
    )
    parser.add_argument(
        "--year-sizes",
        default="",
        help=f"persons for the correction loop's year ({YEAR_MONTHS} months run one after another)",
    )
    parser.add_argument(
        "--no-baselines", action="store_true", help="skip the NIK-only and plain Splink baselines"
    )
    parser.add_argument(
        "--profiles",
        default="default",
        help="generator profiles the pipeline runs on, comma separated (default, hard)",
    )
    parser.add_argument(
        "--engines",
        default="duckdb",
        help="linkage engines the pipeline runs with, comma separated (duckdb, spark)",
    )
    parser.add_argument(
        "--retention-months",
        type=int,
        default=0,
        help="months run one after another in a data root with retention on (default 0: none)",
    )
    parser.add_argument(
        "--retention-persons", type=int, default=2000, help="persons of the retention run"
    )
    parser.add_argument(
        "--retention-keep-months",
        type=int,
        default=3,
        help="the retention run's releases.keep_months (the window; the other rules as shipped)",
    )
    parser.add_argument("--child", nargs=2, metavar=("SUITE", "PERSONS"), help=argparse.SUPPRESS)
    return parser


def _pipeline_runs(args: argparse.Namespace, out: Path) -> list[dict]:
    """One pipeline run per profile, size and engine, each with the baselines of its world."""
    results = []
    profiles = [p for p in args.profiles.split(",") if p]
    engines = [e for e in args.engines.split(",") if e]
    for profile in profiles:
        for size in _sizes(args.sizes):
            baselines = None
            for engine in engines:
                what = f"{size:,} persons, {profile} profile, {engine} linkage"
                work = out / f"work-{profile}-{size}-{engine}"
                print(f"bench: {what} ...", file=sys.stderr, flush=True)
                results.append(_measure(size, work, profile=profile, engine=engine))
                print(
                    f"bench: {what}: {results[-1]['stages_s']['run (end to end)']} s end to end, "
                    f"linkage {results[-1]['stages_s']['linkage']} s, "
                    f"peak {results[-1]['peak_rss_mb']} MB, F1 {results[-1]['f1_splink']}",
                    file=sys.stderr,
                )
                # The baselines do not depend on the engine, and every engine links the same
                # world (one seed): they run once per size and profile.
                if not args.no_baselines and baselines is None:
                    print(
                        f"bench: {what}: baselines on the same data ...",
                        file=sys.stderr,
                        flush=True,
                    )
                    baselines = _measure(size, work, "baselines", fresh=False, profile=profile)
                if baselines is not None:
                    results[-1]["baselines"] = baselines
                shutil.rmtree(work, ignore_errors=True)
    return results


def _suite_runs(args: argparse.Namespace, out: Path) -> dict[str, list[dict]]:
    """The other suites (generation, ingest, incremental, year), each at its own sizes."""
    suites: dict[str, list[dict]] = {}
    for _, name, title, _, _ in SUITES:
        suites[name] = []
        for size in _sizes(getattr(args, f"{name}_sizes")):
            print(f"bench: {title}, {size:,} persons ...", file=sys.stderr, flush=True)
            suites[name].append(_measure(size, out / f"{name}-{size}", name))
    return suites


def _report(
    args: argparse.Namespace,
    out: Path,
    results: list[dict],
    suites: dict[str, list[dict]],
    retention: dict | None = None,
) -> str:
    """Writes results.json, results.md and scaling.png under ``out``; returns the markdown table."""
    command = (
        f"make bench SIZES={args.sizes} PROFILES={args.profiles} ENGINES={args.engines} "
        + ("BASELINES=no " if args.no_baselines else "")
    ) + " ".join(f"{var}={getattr(args, f'{name}_sizes')}" for var, name, _, _, _ in SUITES)
    if retention:
        command += (
            f" RETENTION_MONTHS={args.retention_months} RETENTION_PERSONS={args.retention_persons}"
            f" RETENTION_KEEP={args.retention_keep_months}"
        )
    meta = {"machine": {"cpus": os.cpu_count()}, "month": MONTH, "command": command}
    (out / "results.json").write_text(
        json.dumps({**meta, "results": results, **suites, "retention": retention}, indent=2),
        encoding="utf-8",
    )
    table = _markdown(results) if results else ""
    # Growth and the plot compare sizes of one world and one engine: the default profile, DuckDB.
    default = [
        r
        for r in results
        if r.get("profile", "default") == "default" and r.get("engine", "duckdb") == "duckdb"
    ]
    notes = _growth(default) + _targets(results)
    if notes:
        table += "\n" + "\n".join(f"- {n}" for n in notes) + "\n"
    if default:
        _plot(default, out / "scaling.png")
        table += "\n![time against size](scaling.png)\n"
    table += "".join(
        _suite_table(title, columns, suites[name])
        for _, name, title, _, columns in SUITES
        if suites[name]
    )
    table += retention_table(retention) if retention else ""
    (out / "results.md").write_text(f"Command: `{command}`\n\n{table}", encoding="utf-8")
    return table


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.child:
        print(json.dumps(CHILDREN[args.child[0]](int(args.child[1]))))
        return 0

    from dtsen_pipeline.lib import paths

    out = paths.data_root() / "bench"
    out.mkdir(parents=True, exist_ok=True)
    results = _pipeline_runs(args, out)
    suites = _suite_runs(args, out)
    retention = _retention(args, out)
    print(_report(args, out, results, suites, retention))
    return 0


if __name__ == "__main__":
    sys.exit(main())
