"""The thin path end to end on real Dagster, dbt-duckdb, Splink, GX and DuckDB."""

import json
import os
from pathlib import Path
from urllib.parse import unquote, urlparse

import duckdb
import pytest
from dagster import (
    AssetCheckSeverity,
    AssetSelection,
    DagsterEventType,
    DagsterInstance,
    materialize,
)

from dtsen_pipeline.ingest.sources import correction_sources
from dtsen_pipeline.linkage.model import MODEL_VERSION
from tests.conftest import MONTHS, PERSONS, dtsen


def _served_file(url: str, data_root: Path) -> Path:
    """The file under data/reports/ that a report link of the UI serves (see dtsen_pipeline/lib/reports.py)."""
    assert url.startswith("http://127.0.0.1:"), url
    return data_root / "reports" / unquote(urlparse(url).path.lstrip("/"))


def test_cli_run_publishes_the_mart(first_month_run, data_root):
    current = data_root / "publish" / "current"
    assert current.is_symlink() and os.readlink(current) == MONTHS[0]
    db = current / "dtsen.duckdb"
    assert db.stat().st_mode & 0o222 == 0, "the analyst file is read-only"
    manifest = json.loads((current / "manifest.json").read_text())
    with duckdb.connect(str(db), read_only=True) as con:
        persons = con.execute("select count(*) from dtsen_individu").fetchone()[0]
        distinct = con.execute("select count(distinct dtsen_id) from dtsen_individu").fetchone()[0]
        months = con.execute("select distinct extract_month from dtsen_individu").fetchall()
    with duckdb.connect(str(data_root / "warehouse" / "dtsen.duckdb"), read_only=True) as con:
        linked, records = con.execute(
            "select count(distinct dtsen_id), count(*) from linkage.person_clusters "
            "where extract_month = ?",
            [MONTHS[0]],
        ).fetchone()
    # The crosswalk carries every linked record; the id history says who is new.
    assert manifest["tables"]["dtsen_crosswalk"] == records
    assert manifest["tables"]["dtsen_id_history"] == linked
    # One row per linked person, and linkage recovers (almost) exactly the generated population.
    assert persons == distinct == linked == manifest["tables"]["dtsen_individu"]
    assert abs(persons - PERSONS) <= PERSONS * 0.01
    assert months == [(MONTHS[0],)]
    # Progress per step was shown on the terminal.
    for step in (
        "raw__dtks__individu",
        "dbt_staging",
        "person_linkage",
        "dbt_marts",
        "publish__dtsen_release",
    ):
        assert f"done     {step}" in first_month_run.stderr
    # And the linkage step's phases as they start, in order, with the seconds since its start.
    phases = [
        line.split("person_linkage linkage 2025-01: ", 1)[1]
        for line in first_month_run.stderr.splitlines()
        if "person_linkage linkage 2025-01: " in line and "labels-based" not in line
    ]
    expected = [
        "training: the prior",
        "training: u probabilities",
        "training: EM session 1 of 3",
        "training: EM session 2 of 3",
        "training: EM session 3 of 3",
        "scoring on duckdb: every candidate pair",
        "clustering the scored pairs",
        "saving the model",
    ]
    assert len(phases) == 1 + len(expected), phases
    assert all(p.startswith(e) for p, e in zip(phases[1:], expected, strict=True)), phases
    assert all(p.endswith(" s)") for p in phases[1:]), phases


def test_cli_evaluate_reports_linkage_accuracy(first_month_run, cli_env):
    result = dtsen("evaluate", "--month", MONTHS[0], env=cli_env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["records_evaluated"] == report["records_in_truth"] > PERSONS
    # Proposals, objections and visits are scored apart: most reach a person, nearly all the true one.
    corr = report["correction_records"]
    assert corr["attached"] >= 0.6 * corr["records"] > 10
    assert corr["attached_to_true_person"] >= 0.95 * corr["attached"]
    assert report["splink"]["f1"] >= 0.97
    assert report["splink"]["recall_nik_missing_or_invalid"] >= 0.9
    # Probabilistic linkage beats the deterministic NIK join on recall.
    assert report["splink"]["recall"] > report["nik_only_baseline"]["recall"]
    # Families (KK) and households (KKs sharing a dwelling), scored over persons.
    assert report["families_and_households"]["families"]["f1"] >= 0.98
    assert report["families_and_households"]["households"]["f1"] >= 0.95
    assert report["families_and_households"]["households"]["true_pairs"] > 0


def test_cli_status_sums_up_the_release_in_a_few_lines(first_month_run, cli_env, data_root):
    """`dtsen status` (the end of `make demo`): the release's path, its counts as the manifest has
    them, the gate, and the F1 `dtsen evaluate` gives; a month with nothing published says so."""
    result = dtsen("status", "--month", MONTHS[0], env=cli_env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) <= 8
    release = data_root / "publish" / MONTHS[0]
    manifest = json.loads((release / "manifest.json").read_text())
    assert lines[0] == f"release {MONTHS[0]} (current): {release}/"
    assert f"persons {manifest['tables']['dtsen_individu']:,}," in lines[1]
    assert f"families {manifest['tables']['dtsen_keluarga']:,}," in lines[1]
    gate = manifest["gate"]
    assert f"quality gate: {len(gate)} of {len(gate)} suites passed" in result.stdout
    f1 = json.loads(dtsen("evaluate", "--month", MONTHS[0], env=cli_env).stdout)["splink"]["f1"]
    assert f"accuracy against the generator's truth: F1 {f1:.4f}" in result.stdout
    missing = dtsen("status", "--month", "2031-01", env=cli_env)
    assert missing.returncode == 1 and "2031-01" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_cli_run_refuses_a_month_past_the_landed_data(first_month_run, cli_env, data_root):
    """The partitions end at the latest month with landed files (issue 32): a later month is
    refused before any asset is marked materialised."""
    from dagster import AssetKey, DagsterInstance

    result = dtsen("run", "--month", "2025-06", env=cli_env)
    assert result.returncode == 1
    assert "2025-06 has no landed files (the months end at 2025-02" in result.stderr
    with DagsterInstance.from_config(str(data_root / "dagster_home")) as instance:
        assert "2025-06" not in instance.get_materialized_partitions(
            AssetKey(["raw", "dtks__individu"])
        )


def test_cli_run_fails_clearly_without_extracts(first_month_run, cli_env):
    # A month opened ahead of its files (a configured last month) runs, and fails clearly.
    result = dtsen("run", "--month", "2025-06", env=cli_env | {"DTSEN_LAST_MONTH": "2025-06"})
    assert result.returncode == 1
    # A missing file is a warning naming the source; a full snapshot without it has 0 rows, which
    # blocks what is downstream (the release would lose everyone only that source lists)...
    assert "warning: raw/dtks__individu files_readable failed" in result.stderr
    assert (
        "blocking check raw/dtks__individu snapshot_complete failed: dtks 2025-06: 0 rows loaded against "
        in result.stderr
    ), result.stderr
    assert "(-100%; tolerance 20%)" in result.stderr
    # ...while a delta source without a file is simply an empty month.
    assert "warning: raw/phk__individu" not in result.stderr
    assert "blocking check raw/phk__individu" not in result.stderr


@pytest.fixture(scope="module")
def second_month_built(first_month_run, data_root):
    """Month 2 materialised up to the marts, without publishing (real Dagster, in this process)."""
    from dtsen_pipeline.definitions import defs
    from dtsen_pipeline.defs.publish.assets import dtsen_release
    from dtsen_pipeline.defs.quality.checks import GX_CHECKS
    from dtsen_pipeline.lib import paths

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DTSEN_DATA_DIR", str(data_root))
        mp.delenv("DAGSTER_HOME", raising=False)
        paths.export_env()
        with DagsterInstance.get() as instance:
            built = materialize(
                list(defs.assets) + GX_CHECKS,
                selection=AssetSelection.all() - AssetSelection.assets(dtsen_release),
                partition_key=MONTHS[1],
                instance=instance,
                resources=defs.resources,
            )
    assert built.success
    return built


def test_person_ids_are_stable_across_months(second_month_built, data_root):
    with duckdb.connect(str(data_root / "warehouse" / "dtsen.duckdb"), read_only=True) as con:
        kept = con.execute(
            """
            select avg(case when a.dtsen_id = b.dtsen_id then 1 else 0 end), count(*)
            from linkage.person_clusters a join linkage.person_clusters b using (record_key)
            where a.extract_month = ? and b.extract_month = ?""",
            MONTHS,
        ).fetchone()
        events = dict(
            con.execute(
                "select event, count(*) from linkage.id_history where extract_month = ? group by 1",
                [MONTHS[1]],
            ).fetchall()
        )
        new_people = con.execute(
            "select sum(records) from linkage.id_history where extract_month = ? and event = 'new'",
            [MONTHS[1]],
        ).fetchone()[0]
    assert kept[1] > PERSONS and kept[0] > 0.99
    with duckdb.connect(str(data_root / "warehouse" / "dtsen.duckdb"), read_only=True) as con:
        family_kept = con.execute(
            """
            select avg(case when a.dtsen_kk_id = b.dtsen_kk_id then 1 else 0 end)
            from linkage.family_members a join linkage.family_members b using (dtsen_id)
            where a.extract_month = ? and b.extract_month = ?""",
            MONTHS,
        ).fetchall()[0][0]
    assert family_kept > 0.98  # only marriages and corrections move a person to another family
    assert (
        events.get("new", 0) > 0 and new_people < 0.05 * PERSONS
    )  # births and new enrolments only
    # Month 2 reused month 1's model and linked incrementally: no retraining unless asked for.
    [linkage] = [
        m
        for m in second_month_built.asset_materializations_for_node("person_linkage")
        if m.asset_key.to_user_string() == "linkage/person_clusters"
    ]
    assert linkage.metadata["model"].value == f"reused {MODEL_VERSION}_{MONTHS[0]}.json"
    assert linkage.metadata["mode"].value == "incremental"
    assert 0 < linkage.metadata["records scored again"].value < 0.2 * kept[1]


def test_linkage_explains_itself_without_personal_data(second_month_built, data_root):
    [linkage] = [
        m
        for m in second_month_built.asset_materializations_for_node("person_linkage")
        if m.asset_key.to_user_string() == "linkage/person_clusters"
    ]
    charts = {
        k.removeprefix("chart: "): _served_file(v.value, data_root)
        for k, v in linkage.metadata.items()
        if k.startswith("chart: ")
    }
    assert set(charts) == {"match_weights", "m_u_parameters", "waterfall_sample_pairs"}
    waterfall = charts["waterfall_sample_pairs"].read_text()
    assert "Final score" in waterfall and "record_number" in waterfall
    with duckdb.connect(str(data_root / "warehouse" / "dtsen.duckdb"), read_only=True) as con:
        niks = {
            r[0]
            for r in con.execute(
                "select distinct nik from intermediate.int_identitas where length(nik) >= 8"
            ).fetchall()
        }
        names = {
            r[0]
            for r in con.execute(
                "select distinct nama_normal from intermediate.int_identitas "
                "where length(nama_normal) >= 8"
            ).fetchall()
        }
    assert len(niks) > PERSONS and len(names) > PERSONS / 2
    for path in charts.values():
        html = path.read_text()
        assert not [n for n in niks if n in html] and not [n for n in names if n in html]
    shown = " ".join(str(v.value) for v in linkage.metadata.values())
    assert not [n for n in niks if n in shown] and not [n for n in names if n in shown]


def test_marts_keep_history_and_compare_months(second_month_built, data_root):
    """The history marts keep both months; the month-over-month views read month 1 from them."""
    with duckdb.connect(str(data_root / "warehouse" / "dtsen.duckdb"), read_only=True) as con:

        def one(sql):
            return con.execute(sql).fetchall()[0]

        assert one(
            "select list(distinct extract_month order by extract_month) from marts.dtsen_desil_riwayat"
        )[0] == list(MONTHS)
        persons = one(
            "select count(*) filter (where extract_month = '2025-01'), "
            "count(*) filter (where extract_month = '2025-02') from marts.dtsen_individu_riwayat"
        )
        assert (
            persons[0] > PERSONS * 0.9
            and persons[1] == one("select count(*) from marts.dtsen_individu")[0]
        )
        # Births and enrolments enter; families whose re-sent Regsosek form shows new assets rise.
        moves = one(
            "select sum(masuk), sum(keluarga_naik_desil), count(*) "
            "from marts.dtsen_perubahan_bulanan where extract_month = '2025-02'"
        )
        assert moves[0] > 0 and moves[1] > 0 and moves[2] > 1
        # The vulnerable middle class is exactly the PHK-affected persons whose family's desil fell.
        fell = one("""
            select count(*) from marts.dtsen_individu i
            join marts.dtsen_desil_riwayat now using (dtsen_kk_id)
            join marts.dtsen_desil_riwayat prev using (dtsen_kk_id)
            where i.terkena_phk and now.extract_month = '2025-02' and prev.extract_month = '2025-01'
              and now.desil < prev.desil""")[0]
        assert one("select count(*) from marts.dtsen_kelas_menengah_rentan")[0] == fell


def test_failed_gate_blocks_publication(second_month_built, in_data_root):
    from dtsen_pipeline.definitions import defs
    from dtsen_pipeline.defs.publish.assets import dtsen_release
    from dtsen_pipeline.defs.quality.checks import GX_CHECKS
    from dtsen_pipeline.lib import paths
    from dtsen_pipeline.publish import releases

    month = MONTHS[1]
    before = (paths.publish_dir() / MONTHS[0] / "manifest.json").read_text()
    gx_individu = next(c for c in GX_CHECKS if c.check_key.name == "gx_dtsen_individu")
    with DagsterInstance.get() as instance:
        # A bad row reaches the mart: a duplicated person.
        with duckdb.connect(str(paths.warehouse_db())) as con:
            con.execute(
                "insert into marts.dtsen_individu select * from marts.dtsen_individu limit 1"
            )
        try:
            gated = materialize(
                list(defs.assets) + GX_CHECKS,
                selection=AssetSelection.assets(dtsen_release) | AssetSelection.checks(gx_individu),
                partition_key=month,
                instance=instance,
                resources=defs.resources,
                raise_on_error=False,
            )
        finally:
            with duckdb.connect(str(paths.warehouse_db())) as con:
                con.execute(
                    "create or replace table marts.dtsen_individu as select distinct * from marts.dtsen_individu"
                )
    assert not gated.success
    evaluations = [
        e.event_specific_data
        for e in gated.all_events
        if e.event_type == DagsterEventType.ASSET_CHECK_EVALUATION
    ]
    assert [(c.check_name, c.passed) for c in evaluations] == [("gx_dtsen_individu", False)]
    meta = evaluations[0].metadata
    assert meta["expectations failed"].value == 1 and meta["failed"].value == "dtsen_id unique"
    # The UI shows which expectation failed, with its counts (the two copies of the person) ...
    row = next(r.data for r in meta["results"].records if r.data["what"] == "dtsen_id unique")
    assert (row["expectation"], row["column"], row["ok"], row["unexpected"]) == (
        "ExpectColumnValuesToBeInSet",
        "dtsen_id_rows",
        "NO",
        2,
    )
    # ... and links the GX Data Docs page, which holds counts and never a NIK or a name.
    page = _served_file(meta["data docs"].value, paths.data_root())
    assert page.is_file() and str(paths.data_root()) in str(page)
    html = page.read_text()
    assert "dtsen_id unique" in html or "dtsen_id_rows" in html
    with duckdb.connect(str(paths.warehouse_db()), read_only=True) as con:
        niks = {
            r[0]
            for r in con.execute(
                "select nik from marts.dtsen_individu where nik is not null"
            ).fetchall()
        }
        names = {
            r[0]
            for r in con.execute(
                "select nama from marts.dtsen_individu where length(nama) >= 8"
            ).fetchall()
        }
    shown = html + " ".join(str(v.value) for v in meta.values())
    assert not [n for n in niks if n in shown] and not [n for n in names if n in shown]
    # Nothing was published: no month-2 release, `current` and month 1 untouched.
    assert dtsen_release.key.to_user_string() == "publish/dtsen_release"
    assert not (paths.publish_dir() / month).exists()
    assert releases.current_month() == MONTHS[0]
    assert (paths.publish_dir() / MONTHS[0] / "manifest.json").read_text() == before
    assert not any(p.name.startswith(".tmp-") for p in paths.publish_dir().iterdir())


@pytest.mark.parametrize("bad", ["2025-13", "202501", "jan"])
def test_cli_rejects_bad_month(bad, cli_env):
    result = dtsen("run", "--month", bad, env=cli_env)
    assert result.returncode == 2
    assert "YYYY-MM" in result.stderr


# The correction sources (role: correction in their YAML), from the registry.
CORRECTION = correction_sources()


def test_corrections_link_to_persons_but_change_nothing_unverified(second_month_built, data_root):
    """The correction loop (issue 19) on a real month 2: proposals, objections and visits attach to
    the true person without joining two or making one; a golden field names a correction only when
    it was verified, and the statuses follow the visits."""
    import pandas as pd

    truth = pd.read_parquet(data_root / "truth" / MONTHS[1] / "records.parquet")
    truth["record_key"] = truth["source"] + ":" + truth["source_record_id"]
    with duckdb.connect(str(data_root / "warehouse" / "dtsen.duckdb"), read_only=True) as con:
        clusters = con.execute(
            "select record_key, source, dtsen_id from linkage.person_clusters where extract_month = ?",
            [MONTHS[1]],
        ).df()
        koreksi = con.execute("select * from intermediate.int_koreksi").df()
        golden = con.execute("select * from marts.dtsen_individu").df()
    landed = truth[truth["source"].isin(CORRECTION)]
    attached = clusters[clusters["source"].isin(CORRECTION)].merge(truth, on="record_key")
    # Most correction records reach a person, and the person they reach is the true one: the
    # majority true person of the cluster's register records.
    assert len(attached) >= 0.6 * len(landed) > 10
    registers = clusters[~clusters["source"].isin(CORRECTION)].merge(truth, on="record_key")
    majority = registers.groupby("dtsen_id")["person_id"].agg(lambda s: s.mode().iloc[0])
    assert (attached["dtsen_id"].map(majority) == attached["person_id"]).mean() >= 0.95
    # No person is made of correction records alone, and every person is in the golden table.
    only = clusters.groupby("dtsen_id")["source"].agg(lambda s: s.isin(CORRECTION).all())
    assert not only.any()
    assert set(golden["dtsen_id"]) == set(clusters["dtsen_id"])
    # Provenance: a golden field names a correction only for a verified one.
    accepted = set("usulan_desa:" + koreksi.loc[koreksi["status"] == "accepted", "id_usulan"])
    for col in [c for c in golden.columns if c.endswith("_sumber")]:
        named = golden[col].dropna()
        named = named[named.str.contains(":")]
        assert set(named[named.str.startswith("usulan_desa:")]) <= accepted, col
        assert not named.str.startswith("sanggahan").any(), col
    # Statuses: month 2's visits decided some of month 1's items; month 2's own are open.
    assert set(koreksi["status"]) <= {
        "received",
        "linked",
        "awaiting_visit",
        "accepted",
        "rejected",
    }
    this_month = koreksi[koreksi["bulan_terima"] == MONTHS[1]]
    assert set(this_month["status"]) <= {
        "received",
        "linked",
        "accepted",
    }  # accepted: Dukcapil deaths
    earlier = koreksi[koreksi["bulan_terima"] == MONTHS[0]]
    assert {"accepted", "rejected"} & set(earlier["status"]) and (earlier["umur_hari"] > 0).all()
    decided = earlier[earlier["status"].isin(["accepted", "rejected"])]
    assert decided["dasar_keputusan"].notna().all()


def test_correction_marts_on_a_real_month(second_month_built, data_root):
    """Issue 19, step 3, on month 2 (the unit tests in the marts' YAML hold the known answers):
    every proposal and objection is in dtsen_usulan with its status and its kabupaten's counts;
    every open one is on next month's work list, ranked 1..n in its kabupaten, with a worker
    wherever one was seen; the graduation list is the PKH facilitators' families."""
    with duckdb.connect(str(data_root / "warehouse" / "dtsen.duckdb"), read_only=True) as con:
        koreksi = con.execute("select source, id_usulan, status from intermediate.int_koreksi").df()
        usulan = con.execute("select * from marts.dtsen_usulan").df()
        daftar = con.execute("select * from marts.dtsen_daftar_verifikasi").df()
        graduasi = con.execute("select * from marts.dtsen_graduasi_pendamping").df()
        workers = con.execute(
            "select distinct kode_kab, id_petugas, peran from intermediate.int_kunjungan"
        ).df()
    merged = koreksi.merge(usulan, on=["source", "id_usulan"], suffixes=("", "_mart"))
    assert len(merged) == len(koreksi) == len(usulan) > 10
    assert (merged["status"] == merged["status_mart"]).all()
    assert {"awaiting_visit", "accepted"} <= set(usulan["status"])
    open_ = usulan[usulan["terbuka"]]
    per_kab = open_.groupby("kode_kab", dropna=False).size()
    assert (
        usulan.dropna(subset=["kode_kab"]).apply(
            lambda r: r["kab_terbuka"] == per_kab.get(r["kode_kab"], 0), axis=1
        )
    ).all()
    assert (usulan["lewat_batas"] == (usulan["umur_hari"] > usulan["batas_layanan_hari"])).all()
    # Every open item is on the work list, by its family or on its own.
    listed = " ".join(daftar["alasan"])
    for row in open_.itertuples():
        kind = "sanggahan" if row.source == "sanggahan" else "usulan"
        assert f"{kind}_belum_diverifikasi:{row.id_usulan}" in listed, row.id_usulan
    assert daftar["sasaran"].is_unique and daftar["bulan_kerja"].eq(MONTHS[1][:5] + "03").all()
    for _, rows in daftar.groupby("kode_kab"):
        assert sorted(rows["peringkat_kabupaten"]) == list(range(1, len(rows) + 1))
    seen = set(workers["kode_kab"])
    assert daftar.loc[daftar["kode_kab"].isin(seen), "id_petugas"].notna().all()
    assert {"inclusion_error", "exclusion_error"} <= set(daftar["alasan_utama"])
    # The graduation list: PKH facilitators only, one facilitator per family, totals per facilitator.
    facilitators = set(workers.loc[workers["peran"] == "PENDAMPING PKH", "id_petugas"])
    assert len(graduasi) > 10 and set(graduasi["id_petugas"]) <= facilitators
    assert graduasi["dtsen_kk_id"].is_unique and (graduasi["target_per_tahun"] == 10).all()
    for _, rows in graduasi.groupby("id_petugas"):
        assert rows["dampingan_petugas"].eq(len(rows)).all()
        assert rows["graduasi_petugas"].eq((rows["status_keluarga"] == "graduasi").sum()).all()


def test_proposals_past_the_service_level_warn_by_kabupaten(
    second_month_built, data_root, tmp_path, monkeypatch
):
    """Issue 19, step 4: gx_usulan_batas_layanan warns (never blocks) when proposals or objections
    are open past the service level, and its failed batches name the kabupaten that are late."""
    from dtsen_pipeline.quality.suites import suite_specs
    from dtsen_pipeline.quality.validate import validate_suite

    monkeypatch.setenv("DTSEN_REPORTS_DIR", str(tmp_path / "reports"))
    [evaluation] = [
        e
        for e in second_month_built.get_asset_check_evaluations()
        if e.check_name == "gx_usulan_batas_layanan"
    ]
    assert evaluation.severity == AssetCheckSeverity.WARN
    spec = suite_specs()["usulan_batas_layanan"]
    assert not spec.blocking and spec.asset == "dtsen_usulan"
    with duckdb.connect() as con:
        con.execute("attach ? as wh (read_only)", [str(data_root / "warehouse" / "dtsen.duckdb")])
        con.execute("create schema marts")
        con.execute("create table marts.dtsen_usulan as select * from wh.marts.dtsen_usulan")
        late = con.execute(
            "select count(*) from marts.dtsen_usulan where terbuka and lewat_batas"
        ).fetchone()[0]
        assert evaluation.passed == (late == 0)
        # Two open items of one kabupaten age past the level: that kabupaten, and only it, is named.
        [(kode_kab, nama)] = con.execute(
            """select kode_kab, nama_kabupaten from marts.dtsen_usulan
               where terbuka and kode_kab is not null order by kode_kab limit 1"""
        ).fetchall()
        con.execute("update marts.dtsen_usulan set lewat_batas = false")
        con.execute(
            """update marts.dtsen_usulan set lewat_batas = true, umur_hari = batas_layanan_hari + 1
               where (source, id_usulan) in (select (source, id_usulan) from marts.dtsen_usulan
                                             where terbuka and kode_kab = ? order by 1 limit 2)""",
            [kode_kab],
        )
        summary = validate_suite(con, spec, MONTHS[1], previous_release=None)
    [outcome] = summary.outcomes
    assert not summary.success and outcome.unexpected_count == 2
    assert outcome.failed_batches == [f"kabupaten={kode_kab} {nama}"]


def test_evaluate_scores_the_correction_loop_and_the_work_list(second_month_built, cli_env):
    """Issue 19's measures in `dtsen evaluate`, on month 2: the true proposals and objections a
    visit accepted show in the golden records, nothing unverified changed one, and the work list's
    top decile finds true inclusion and exclusion errors better than a random list would."""
    result = dtsen("evaluate", "--month", MONTHS[1], env=cli_env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    corrections, work = report["corrections"], report["work_list"]
    assert corrections["verified_true"] > 0  # 2 in this 1,500-person world
    assert corrections["verified_true"] == sum(
        k["verified_true"] for k in corrections["by_kind"].values()
    )
    assert corrections["applied_share"] >= 0.95 and corrections["unverified_changes"] == 0
    # Those decided this month (this month's visits, Dukcapil's confirmations) are among them,
    # and the release right after the decision shows them.
    assert 0 < corrections["verified_true_this_month"] <= corrections["verified_true"]
    assert corrections["applied_this_month"] == corrections["verified_true_this_month"]
    assert corrections["verified_true_this_month"] == sum(
        k["verified_true_this_month"] for k in corrections["by_kind"].values()
    )
    assert work["top_decile"] == -(-work["families_listed"] // 10) > 0
    assert 0 < work["random_list_share"] < 1 and work["lift"] > 1.5
