"""The landing sensor starts only what is new (issue 32): a month whose landed files are those its
release was built from is not run again; a changed, added or removed file starts it once. A
release's inputs are the files as ingest read them (raw.ingest_log): the months here are loaded by
the real ingest into the test's warehouse, and their manifests record what it logged."""

import json
import os
import time
from datetime import UTC, datetime

from dagster import DagsterInstance, build_sensor_context

from dtsen_pipeline.defs.ingest.sensors import landing_sensor
from dtsen_pipeline.ingest.load import load_month
from dtsen_pipeline.ingest.sources import get_source
from dtsen_pipeline.lib import paths, warehouse
from dtsen_pipeline.lib.checksums import file_sha256
from dtsen_pipeline.publish import releases


def _land(month: str, name: str, text: str) -> None:
    folder = paths.landing_dir() / "dtks" / month
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)


def _ingested(month: str) -> dict[str, str]:
    """Load the month's DTKS files as the raw asset does (load_month into the data root's
    warehouse); the inputs a release of the month then records (releases.landed_inputs)."""
    spec = get_source("dtks")
    with warehouse.connect() as con:
        load_month(con, spec, month, spec.landing_files(month))
        return releases.landed_inputs(con, month)


def _publish(month: str, manifest: dict, name: str | None = None) -> None:
    """A release folder as write_release leaves it, as far as the sensor reads it: its manifest."""
    folder = paths.publish_dir() / (name or month)
    folder.mkdir(parents=True)
    (folder / releases.MANIFEST).write_text(json.dumps({"month": month, **manifest}))


def _tick(instance, cursor):
    ctx = build_sensor_context(instance=instance, cursor=cursor)
    result = landing_sensor(ctx)
    requests = getattr(result, "run_requests", None) or []
    return [r.partition_key for r in requests], ctx.cursor, result


def test_published_months_are_not_run_again(monkeypatch, tmp_path):
    monkeypatch.setenv("DTSEN_DATA_DIR", str(tmp_path))
    _land("2025-01", "DTKS_ART_1.csv", "a\n")
    _land("2025-02", "DTKS_ART_1.csv", "b\n")
    _land("2025-03", "DTKS_ART_1.csv", "c\n")
    # 2025-01 was published from these very files (the manifest's inputs); 2025-02 by a release
    # from before manifests kept them, after its files landed; 2025-03 never.
    _publish("2025-01", {"inputs": _ingested("2025-01")})
    hour_ago = time.time() - 3600
    os.utime(paths.landing_dir() / "dtks" / "2025-02" / "DTKS_ART_1.csv", (hour_ago, hour_ago))
    published = datetime.fromtimestamp(hour_ago + 1800, UTC).isoformat(timespec="seconds")
    _publish("2025-02", {"published_at": published})
    with DagsterInstance.ephemeral() as instance:
        months, cursor, first = _tick(instance, None)
        assert months == ["2025-03"]
        keys = [first.run_requests[0].run_key]
        assert first.run_requests[0].tags["dtsen/trigger"] == "landing_sensor"
        # Nothing changed: nothing requested, even 2025-03 (requested once, whatever its outcome).
        months, cursor, again = _tick(instance, cursor)
        assert months == [] and type(again).__name__ == "SkipReason"
        # A corrected file of a published month starts that month, once.
        _land("2025-01", "DTKS_ART_1.csv", "a, corrected\n")
        months, cursor, corrected = _tick(instance, cursor)
        assert months == ["2025-01"]
        keys.append(corrected.run_requests[0].run_key)
        assert _tick(instance, cursor)[0] == []
        # An added file too; and a sensor started afresh (no cursor) queues only what differs.
        _land("2025-02", "DTKS_ART_2.csv", "b2\n")
        months, cursor, added = _tick(instance, cursor)
        keys.append(added.run_requests[0].run_key)
        assert months == ["2025-02"] and added.run_requests[0].tags["dtsen/sources"] == "dtks"
        # A sensor started afresh (its cursor lost) asks again for what differs from the releases,
        # under the same run keys: Dagster starts no run twice for one run key.
        again = landing_sensor(build_sensor_context(instance=instance, cursor=None))
        assert [r.partition_key for r in again.run_requests] == ["2025-01", "2025-02", "2025-03"]
        assert {r.run_key for r in again.run_requests} == set(keys)


def test_a_file_touched_but_unchanged_is_not_a_change(monkeypatch, tmp_path):
    monkeypatch.setenv("DTSEN_DATA_DIR", str(tmp_path))
    _land("2025-01", "DTKS_ART_1.csv", "a\n")
    _publish("2025-01", {"inputs": _ingested("2025-01")})
    with DagsterInstance.ephemeral() as instance:
        assert _tick(instance, None)[0] == []
        later = time.time() + 5
        os.utime(paths.landing_dir() / "dtks" / "2025-01" / "DTKS_ART_1.csv", (later, later))
        months, _, result = _tick(instance, None)
        assert months == []  # same checksum as the release's input: not run again


def test_the_sensor_reads_the_files_the_raw_asset_reads(monkeypatch, tmp_path):
    """An extension in capitals is read (SourceSpec.landing_files); a transfer in progress is not:
    the sensor's files are the release's inputs, so a published month stays published."""
    monkeypatch.setenv("DTSEN_DATA_DIR", str(tmp_path))
    _land("2025-01", "DTKS_ART_1.CSV", "a\n")
    _publish("2025-01", {"inputs": _ingested("2025-01")})
    assert list(releases.published_from("2025-01")[0]) == ["dtks/2025-01/DTKS_ART_1.CSV"]
    with DagsterInstance.ephemeral() as instance:
        months, cursor, _ = _tick(instance, None)
        assert months == []
        _land("2025-01", "DTKS_ART_2.csv.part", "half a file")  # still arriving: not a change
        months, cursor, _ = _tick(instance, cursor)
        assert months == []
        _land("2025-01", "DTKS_ART_1.CSV", "a, corrected\n")  # a change the raw asset would read
        assert _tick(instance, cursor)[0] == ["2025-01"]


def test_a_file_replaced_after_its_load_runs_the_month_once(monkeypatch, tmp_path):
    """The release records a file as ingest read it, not as it is at publication: a file replaced
    between the month's load and its release is not in that release, so the sensor runs the month
    once; the revision built from the new file is not run again."""
    monkeypatch.setenv("DTSEN_DATA_DIR", str(tmp_path))
    _land("2025-01", "DTKS_ART_1.csv", "a\n")
    _land("2025-02", "DTKS_ART_1.csv", "b\n")
    loaded = _ingested("2025-01")
    _land("2025-01", "DTKS_ART_1.csv", "a, replaced while the month ran\n")
    _publish("2025-01", {"inputs": loaded})
    _publish("2025-02", {"inputs": _ingested("2025-02")})
    key = "dtks/2025-01/DTKS_ART_1.csv"
    assert releases.published_from("2025-01")[0] == loaded
    assert loaded[key] != file_sha256(paths.landing_dir() / key)
    with DagsterInstance.ephemeral() as instance:
        months, cursor, _ = _tick(instance, None)
        assert months == ["2025-01"]  # 2025-02 was published from what landed
        assert _tick(instance, cursor)[0] == []  # once
        # The run it starts loads the new file and publishes it as 2025-01.r2: nothing is left.
        _publish("2025-01", {"inputs": _ingested("2025-01")}, name="2025-01.r2")
        assert releases.published_from("2025-01")[0][key] == file_sha256(paths.landing_dir() / key)
        assert _tick(instance, None)[0] == []
