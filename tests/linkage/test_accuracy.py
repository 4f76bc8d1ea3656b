"""Accuracy without truth (issue 14, point 3): `dtsen review sample` draws pairs for clerical
labelling, the truth labels them here as a clerk would, and `dtsen review estimate` gives precision
and recall with 95% intervals that must hold `dtsen evaluate`'s true figures. A labelled file is
checked row by row (file, row, reason; never a cell's contents), and its estimates reach the linkage
asset's metadata and the release manifest with no record key, NIK or name.

Runs on a copy of the session world (1,500 persons, month 1), so the run here that picks the
labels up publishes nothing the other tests read.
"""

from __future__ import annotations

import csv
import json
import shutil
import stat

import pytest

from dtsen_pipeline.ingest.sources import correction_sources
from dtsen_pipeline.lab import evaluate
from dtsen_pipeline.lib import paths, warehouse
from dtsen_pipeline.linkage import accuracy
from tests.conftest import MONTHS, dtsen

MONTH = MONTHS[0]
N = 600  # of ~25,000 candidate and linked pairs at 1,500 persons


@pytest.fixture(scope="module")
def world(first_month_run, data_root, cli_env, tmp_path_factory):
    """The session world copied (without its Dagster instance and releases); a sample drawn there
    by the CLI and labelled from the truth."""
    root = tmp_path_factory.mktemp("accuracy") / "data"
    shutil.copytree(
        data_root,
        root,
        symlinks=True,
        ignore=shutil.ignore_patterns("dagster_home", "publish", "locks", "logs", "bench"),
    )
    env = {**cli_env, "DTSEN_DATA_DIR": str(root)}
    drawn = dtsen("review", "sample", "--month", MONTH, "--n", str(N), env=env)
    assert drawn.returncode == 0, drawn.stderr
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DTSEN_DATA_DIR", str(root))
        mp.setenv("DAGSTER_HOME", str(root / "dagster_home"))  # the instance `dtsen run` uses there
        sample = accuracy.sample_path(MONTH)
        with sample.open(encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
        matches = evaluate.label_from_truth(MONTH)
        yield {
            "root": root,
            "env": env,
            "drawn": drawn,
            "sample": sample,
            "rows": rows,
            "matches": matches,
        }


def _identity(rows: list[dict]) -> set[str]:
    """What must never leave the review folder: the sampled records' keys, NIKs, KKs and names."""
    found = set()
    for row in rows:
        found |= {row["record_key_l"], row["record_key_r"]}
        for side in ("l", "r"):
            found |= {
                row[f"{c}_{side}"] for c in ("nik", "no_kk", "nama_normal") if row[f"{c}_{side}"]
            }
    return found


def test_the_estimate_from_labels_covers_the_true_figures(world):
    assert "drawn from" in world["drawn"].stdout and "holds NIKs and names" in world["drawn"].stdout
    sample = world["sample"]
    # The clerks' file holds identity: the review folder's file is its owner's alone.
    assert stat.S_IMODE(sample.stat().st_mode) == 0o600
    assert stat.S_IMODE(paths.review_dir().stat().st_mode) == 0o700
    assert stat.S_IMODE(accuracy.design_path(MONTH).stat().st_mode) == 0o600
    rows = world["rows"]
    assert len(rows) == N
    assert {
        "record_key_l",
        "record_key_r",
        "stratum",
        "match_weight",
        "label",
        "nik_l",
        "nama_normal_r",
    } <= set(rows[0])
    # Both sides of the decision and the uncertain band are sampled.
    strata = {r["stratum"] for r in rows}
    assert any(s.startswith("linked") for s in strata) and any(
        s.startswith("not linked") for s in strata
    )
    assert not _identity(rows) & set(world["drawn"].stdout.split())
    # The correction sources' records (proposals, objections, visits) attach to a person by one
    # pair and are scored apart, as dtsen evaluate does: no pair of the population holds one.
    con = accuracy.population(MONTH)
    try:
        keys = con.execute("select a, b from population").fetchall()
    finally:
        con.close()
    assert len(keys) > N and not {k.split(":")[0] for pair in keys for k in pair} & set(
        correction_sources()
    )

    result = dtsen("review", "estimate", "--month", MONTH, env=world["env"])
    assert result.returncode == 0, result.stderr
    estimate = json.loads(result.stdout)
    assert estimate["labelled_pairs"] == N and estimate["matches_labelled"] == world["matches"]
    check = evaluate.truth_check(MONTH, estimate)
    print(json.dumps({k: v for k, v in check.items()}, indent=1))
    for figure in ("precision", "recall"):
        lo, hi = check[figure]["interval_95"]
        assert check[figure]["covered"], (figure, check[figure])
        assert lo <= estimate[figure] <= hi
        # An interval that says something: 600 labels bound each figure within a few percent.
        assert hi - lo < 0.06, (figure, lo, hi)
    # What the estimate cannot see is counted against the truth (true pairs sharing no blocking rule).
    assert 0 <= check["true_pairs_not_in_population"] < 0.01 * check["true_pairs"]


def _write(path, header, rows):
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


def test_a_bad_labelled_file_is_named_by_file_row_and_reason(world, tmp_path):
    with world["sample"].open(encoding="utf-8", newline="") as fh:
        header, *rows = list(csv.reader(fh))
    at = {c: header.index(c) for c in ("record_key_l", "record_key_r", "label")}
    design = accuracy.read_design(MONTH)
    nik = rows[3][header.index("nik_l")] or "3175014101900001"
    rows[1][at["label"]] = "yes"  # row 3 of the file
    rows[3][at["record_key_r"]] = f"dukcapil:{nik}"  # row 5: not a sampled pair (and a NIK in it)
    rows[5][at["label"]] = ""  # row 7
    rows.append(list(rows[8]))  # repeats row 10
    bad = tmp_path / "labelled.csv"
    _write(bad, header, rows)
    with pytest.raises(ValueError) as err:
        accuracy.read_labels(bad, design)
    message = str(err.value)
    assert message.startswith(f"{bad}: 5 problems, no estimate was made")
    for part in (
        "label must be 1 or match, 0 or non-match: row 3",
        f"the pair is not one of the sample drawn for {MONTH}: row 5",
        "label is empty: row 7",
        f"repeats the pair of row 10: row {len(rows) + 1}",
        "1 pair of the sample have no row (keep every row)",
    ):
        assert part in message, part
    touched = [rows[i] for i in (1, 3, 5, 8)]
    for cell in {c for r in touched for c in r if len(c) > 3} | {nik, "yes"}:
        assert cell not in message.replace(str(bad), ""), "a cell's contents reached the message"

    no_label = tmp_path / "no_label.csv"
    _write(
        no_label,
        [h for h in header if h != "label"],
        [r[: at["label"]] + r[at["label"] + 1 :] for r in rows],
    )
    with pytest.raises(ValueError) as err:
        accuracy.read_labels(no_label, design)
    assert "the header must name the columns record_key_l, record_key_r, label once each" in str(
        err.value
    )
    assert "(missing: label)" in str(err.value) and str(no_label) in str(err.value)

    # The CLI says the same, on one line, and exits 1.
    result = dtsen("review", "estimate", "--month", MONTH, "--labels", str(bad), env=world["env"])
    assert result.returncode == 1 and "label is empty: row 7" in result.stderr
    assert nik not in result.stderr


@pytest.mark.slow  # make test-slow: a whole `dtsen run` of the month (about 2 minutes)
def test_the_linkage_asset_and_the_manifest_carry_the_estimate_without_identity(world):
    with warehouse.connect(read_only=True) as con:
        expected = accuracy.estimate(MONTH, con)
    run = dtsen("run", "--month", MONTH, env=world["env"])
    assert run.returncode == 0, run.stderr
    secrets = _identity(world["rows"])

    from dagster import AssetKey, DagsterInstance

    with DagsterInstance.get() as instance:
        event = instance.get_latest_materialization_event(AssetKey(["linkage", "person_clusters"]))
    metadata = event.asset_materialization.metadata
    assert metadata["accuracy from labels"].value == "estimated from labels"
    # The same labels and the same linkage give the same figures as `dtsen review estimate`.
    assert metadata["precision, estimated from labels"].value == expected["precision"]
    assert metadata["recall, estimated from labels"].value == expected["recall"]
    assert (
        metadata["recall, 95% interval"].value
        == f"{expected['recall_95'][0]} to {expected['recall_95'][1]}"
    )
    assert metadata["labelled pairs"].value == N
    shown = " ".join(str(v.value) for v in metadata.values())
    assert not {s for s in secrets if s in shown}

    manifest_text = (paths.current_release() / "manifest.json").read_text(encoding="utf-8")
    manifest = json.loads(manifest_text)["linkage_accuracy"]
    assert manifest["status"] == "estimated from labels"
    assert (
        manifest["precision_95"] == expected["precision_95"]
        and manifest["recall"] == expected["recall"]
    )
    assert not {s for s in secrets if s in manifest_text}
