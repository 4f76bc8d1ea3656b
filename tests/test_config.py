"""Every YAML a user edits is loaded into typed settings; a bad value is refused with its file and field.

Each test writes one bad value into a copy of the configuration folder (or of the generator's
profile) and loads it with the real loaders; the privacy test publishes through a real DuckDB.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from dtsen_pipeline import cli
from dtsen_pipeline.ingest import dbt_registry
from dtsen_pipeline.ingest.sources import RegistryError, load_sources
from dtsen_pipeline.lab.generate.world import PROFILE_PATH, PROFILES, load_profile
from dtsen_pipeline.lib import paths, warehouse
from dtsen_pipeline.lib.settings import ConfigError
from dtsen_pipeline.linkage import config as linkage_config
from dtsen_pipeline.linkage.config import load_rules
from dtsen_pipeline.publish import releases
from dtsen_pipeline.quality.settings import load_expectations
from tests.conftest import dtsen

# The shipped registry's sources, as messages list them: from the registry, so that adding a
# source (one YAML file) edits no test.
SOURCES = ", ".join(sorted(s.name for s in load_sources(paths.CONFIG_DIR / "sources")))


@pytest.fixture()
def config(tmp_path) -> Path:
    """A copy of the package's configuration folder to break."""
    shutil.copytree(paths.CONFIG_DIR, tmp_path / "config")
    return tmp_path / "config"


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def refused(load, *patterns: str) -> str:
    """``load()`` raises a ConfigError whose message holds every pattern; the message."""
    with pytest.raises(ConfigError) as caught:
        load()
    message = str(caught.value)
    for pattern in patterns:
        assert re.search(pattern, message), f"{pattern!r} not in:\n{message}"
    return message


# --- config/sources/*.yaml ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    [
        (
            "dtks",
            'delimiter: ";"',
            'delimiter: ";;"',
            r"csv\.delimiter: must be one character, not ';;'",
        ),
        (
            "dtks",
            'delimiter: ";"',
            "delimiter: '\"'",
            r"csv\.delimiter: must not be a quote or a line break",
        ),
        (
            "dtks",
            'date_formats: ["%d-%m-%Y"]',
            'date_formats: "%d-%m-%Y"',
            r"date_formats: must be a list, not '%d-%m-%Y'",
        ),
        (
            "dtks",
            'date_formats: ["%d-%m-%Y"]',
            'date_formats: ["dd-mm-yyyy"]',
            r"date_formats\[0\]: 'dd-mm-yyyy' is not a strftime date format",
        ),
        (
            "dinsos_kaltim",
            "header_row: 4",
            'header_row: "one"',
            r"xlsx\.header_row: must be a whole number, not 'one'",
        ),
        ("dinsos_kaltim", "header_row: 4", "header_row: 0", r"xlsx\.header_row: must be 1 or more"),
        (
            "dtks",
            'file_glob: "DTKS_ART_*.csv"',
            'file_glob: "../dukcapil/*.csv"',
            r"file_glob: must be a plain file name pattern .*, not '\.\./dukcapil/\*\.csv'",
        ),
        (
            "dtks",
            'file_glob: "DTKS_ART_*.csv"',
            'file_glob: "/srv/landing/dtks/*.csv"',
            r"file_glob: must be a plain file name pattern",
        ),
        (
            "dtks",
            'not_read: {"DTKS_RUTA_*.csv"',
            'not_read: {"../DTKS_RUTA_*.csv"',
            r"not_read\.\.\./DTKS_RUTA_\*\.csv: .*must be a plain file name pattern",
        ),
        (
            "dinsos_kaltim",
            'extract: "^(.*),[^,]*$"',
            'extract: "^.*,[^,]*$"',
            r"columns\.tempat_lahir\.extract: '\^\.\*,\[\^,\]\*\$' has no group",
        ),
        (
            "dinsos_kaltim",
            'extract: "^(.*),[^,]*$"',
            'extract: "^(.*,[^,]*$"',
            r"columns\.tempat_lahir\.extract: .* is not a regular expression",
        ),
        (
            "dtks",
            "csv: {delimiter",
            "csv: {delimter",
            r"csv\.delimter: unknown field; did you mean 'delimiter'\?",
        ),
        (
            "dtks",
            "snapshot: full",
            "snapshot: full\nshrink_tolerence: 0.1",
            r"shrink_tolerence: unknown field; did you mean 'shrink_tolerance'\?",
        ),
    ],
    ids=[
        "delimiter-two-chars",
        "delimiter-quote",
        "date-formats-string",
        "date-format-not-strftime",
        "header-row-word",
        "header-row-zero",
        "glob-parent-folder",
        "glob-absolute",
        "not-read-glob-parent-folder",
        "regex-no-group",
        "regex-broken",
        "typo-nested-key",
        "typo-top-key",
    ],
)
def test_a_bad_source_value_is_refused_with_file_and_field(config, file, old, new, expected):
    edit(config / "sources" / f"{file}.yaml", old, new)
    refused(lambda: load_sources(config / "sources"), rf"sources/{file}\.yaml: {expected}")


def test_every_problem_of_every_source_file_is_listed_at_once(config):
    edit(config / "sources" / "dtks.yaml", 'delimiter: ";"', 'delimiter: ";;"')
    edit(config / "sources" / "dtks.yaml", 'date_formats: ["%d-%m-%Y"]', 'date_formats: "%d-%m-%Y"')
    edit(config / "sources" / "dinsos_kaltim.yaml", "header_row: 4", 'header_row: "one"')
    edit(
        config / "sources" / "pbi_jk.yaml", "snapshot: full", "snapshot: full\nsnapshot: delta"
    )  # a repeated key
    with pytest.raises(RegistryError) as caught:
        load_sources(config / "sources")
    lines = str(caught.value).splitlines()
    assert len(lines) == 4, lines
    assert any("dtks.yaml: csv.delimiter" in line for line in lines)
    assert any("dtks.yaml: date_formats" in line for line in lines)
    assert any("dinsos_kaltim.yaml: xlsx.header_row" in line for line in lines)
    assert any("pbi_jk.yaml: not valid YAML" in line and "repeated" in line for line in lines)


def test_options_of_another_format_are_refused(config):
    edit(config / "sources" / "dtks.yaml", "csv: {", "xlsx: {header_row: 2}\ncsv: {")
    refused(
        lambda: load_sources(config / "sources"),
        r"dtks\.yaml: \['xlsx'\] options given for a csv source",
    )


# --- config/linkage.yaml ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "kk_authority: [dukcapil, regsosek, dtks,",
            "kk_authority: [dukcapil, regsosek, dtsk,",
            rf"family\.kk_authority\[2\]: no source named 'dtsk' \(sources: {SOURCES}\)",
        ),
        (
            "household_id_sources: [dtks]",
            "household_id_sources: [dkts]",
            r"household\.household_id_sources\[0\]: no source named 'dkts'",
        ),
        (
            "address_sources: [dukcapil]",
            "address_sources: [dukcapil, dukcapil]",
            r"household\.address_sources: lists \['dukcapil'\] more than once",
        ),
        (
            "address_sources: [dukcapil]",
            "address_sources: dukcapil",
            r"household\.address_sources: must be a list",
        ),
        (
            "predict_threshold: 0.5",
            "predict_threshold: 0.95",
            r"person: predict_threshold \(0\.95\) must not exceed cluster_threshold \(0\.9\)",
        ),
        (
            "cluster_threshold: 0.9",
            "cluster_threshold: high",
            r"person\.cluster_threshold: must be a number, not 'high'",
        ),
        ("name: duckdb", "name: sprak", r"engine\.name: 'sprak' is not one of duckdb, spark"),
        ("driver_memory: 8g", "driver_memory: lots", r"engine\.spark\.driver_memory: "),
    ],
    ids=[
        "kk-authority-misspelt",
        "household-id-misspelt",
        "address-repeated",
        "address-string",
        "thresholds-unordered",
        "threshold-word",
        "engine-misspelt",
        "spark-memory-word",
    ],
)
def test_a_bad_linkage_value_is_refused_with_file_and_field(config, old, new, expected):
    edit(config / "linkage.yaml", old, new)
    refused(lambda: load_rules(config), rf"linkage\.yaml: {expected}")


def test_the_engine_and_spark_settings_come_from_the_file_or_the_environment(config, monkeypatch):
    rules = load_rules(config)
    assert rules.engine == "duckdb"
    assert (rules.spark.master, rules.spark.shuffle_partitions) == ("local[*]", 8)
    monkeypatch.setenv("DTSEN_LINKAGE_ENGINE", "spark")
    monkeypatch.setenv("DTSEN_SPARK_MASTER", "spark://cluster:7077")
    monkeypatch.setenv("DTSEN_SPARK_SHUFFLE_PARTITIONS", "64")
    rules = load_rules(config)
    assert rules.engine == "spark"
    assert (rules.spark.master, rules.spark.shuffle_partitions) == ("spark://cluster:7077", 64)
    monkeypatch.setenv("DTSEN_LINKAGE_ENGINE", "hadoop")
    refused(lambda: load_rules(config), r"engine\.name: 'hadoop' is not one of duckdb, spark")


def test_thresholds_are_read_when_used_from_the_configuration_in_force(config, monkeypatch):
    """No threshold is frozen at import: the linkage step reads the configuration folder in force."""
    edit(config / "linkage.yaml", "cluster_threshold: 0.9", "cluster_threshold: 0.95")
    monkeypatch.setenv("DTSEN_CONFIG_DIR", str(config))
    assert (
        linkage_config.predict_threshold(),
        linkage_config.cluster_threshold(),
        linkage_config.uncorroborated_max(),
    ) == (
        0.5,
        0.95,
        0.9499,
    )
    other = shutil.copytree(config, config.parent / "other")
    edit(other / "linkage.yaml", "cluster_threshold: 0.95", "cluster_threshold: 1.5")
    monkeypatch.setenv("DTSEN_CONFIG_DIR", str(other))
    refused(
        linkage_config.cluster_threshold,
        r"person\.cluster_threshold: must be a probability in \(0, 1\), not 1\.5",
    )


# --- config/expectations.yaml -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "row_count_tolerance: 0.25 ",
            "row_count_tolerance: abc ",
            r"settings\.row_count_tolerance: must be a number, not 'abc'",
        ),
        (
            "drift_tolerance: 0.05",
            "drift_tolerance: -0.05",
            r"settings\.drift_tolerance: must be a share in \[0, 1\]",
        ),
        (
            "desil_share_min: 0.08",
            "desil_share_min: 0.15",
            r"marts\.dtsen_keluarga\.summaries\[0\]\.expectations\[1\]\.kwargs: min_value \(0\.15\) exceeds max_value "
            r"\(0\.12\)",
        ),
        (
            "kwargs: {column: desil, min_value: 1, max_value: 10}",
            "kwargs: {column: desil, min_value: 10, max_value: 1}",
            r"marts\.dtsen_keluarga\.expectations\[2\]\.kwargs: min_value \(10\) exceeds max_value \(1\)",
        ),
        (
            "dinsos_ntt: {nik_structure_mostly: 0.80}",
            "dinsos_nnt: {nik_structure_mostly: 0.80}",
            r"source_settings\.dinsos_nnt: no source named 'dinsos_nnt'",
        ),
        (
            "dinsos_ntt: {nik_structure_mostly: 0.80}",
            "dinsos_ntt: {nik_structure_mostly: 80}",
            r"source_settings\.dinsos_ntt\.nik_structure_mostly: must be a share in \[0, 1\], not 80",
        ),
        (
            'mostly: "$region_known_mostly"}}\n\nmarts',
            'mostly: "$region_known_most"}}\n\nmarts',
            r"staged_source\.expectations\[3\]\.kwargs\.mostly: no setting named 'region_known_most'",
        ),
        (
            "type: ExpectColumnValuesToBeUnique, kwargs: {column: kode_kab}",
            "type: ExpectColumnValuesToBeUniq, kwargs: {column: kode_kab}",
            r"marts\.dtsen_bpjs_tk_gap\.expectations\[0\]: "
            r"type: 'ExpectColumnValuesToBeUniq' is not a Great Expectations",
        ),
        (
            "  dtsen_progres_pemutakhiran:",
            "  dtsen_progress:",
            r"marts\.dtsen_progress: 'dtsen_progress' is not a published",
        ),
    ],
    ids=[
        "tolerance-word",
        "tolerance-negative",
        "desil-shares-unordered",
        "min-above-max",
        "source-misspelt",
        "override-not-share",
        "unknown-reference",
        "unknown-gx-type",
        "mart-not-published",
    ],
)
def test_a_bad_expectation_is_refused_with_file_and_field(config, old, new, expected):
    edit(config / "expectations.yaml", old, new)
    refused(lambda: load_expectations(config), rf"expectations\.yaml: {expected}")


# --- config/publication.yaml and the privacy of the pseudonymised release ----------------------------


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "dtsen_individu: [nama, tanggal_lahir, alamat]",
            "dtsen_individu: [tanggal_lahir, alamat]",
            r"drop_columns\.dtsen_individu: identity column 'nama' of dtsen_individu is neither hashed nor dropped",
        ),
        (
            "dtsen_crosswalk: [source_record_id]",
            "dtsen_crosswalk: []",
            r"drop_columns\.dtsen_crosswalk: identity column 'source_record_id' of dtsen_crosswalk",
        ),
        (
            "drop_columns:\n  dtsen_individu: [nama, tanggal_lahir, alamat]\n  dtsen_keluarga: [alamat]",
            "drop_columns: {}",
            r"drop_columns\.dtsen_individu: identity column 'tanggal_lahir' of dtsen_individu",
        ),
        (
            "dtsen_individu: [nama, tanggal_lahir, alamat]",
            "dtsen_individu: [nama, tanggal_lahir, alamat, nik]",
            r"drop_columns\.dtsen_individu\[3\]: 'nik' is also in hash_columns\.dtsen_individu",
        ),
        (
            "dtsen_keluarga: [no_kk]",
            "dtsen_keluarga: [no_kk, nokk]",
            r"hash_columns\.dtsen_keluarga\[1\]: dtsen_keluarga has no column 'nokk'",
        ),
        (
            "dtsen_keluarga: [no_kk]",
            "dtsen_keluarga: [no_kk]\n  dtsen_famili: [no_kk]",
            r"hash_columns\.dtsen_famili: 'dtsen_famili' is not a published table",
        ),
        (
            "drop_columns:",
            "drop_column:",
            r"drop_column: unknown field; did you mean 'drop_columns'\?",
        ),
    ],
    ids=[
        "nama-not-dropped",
        "record-id-not-hashed",
        "nothing-dropped",
        "hashed-and-dropped",
        "no-such-column",
        "not-published",
        "typo-key",
    ],
)
def test_identity_columns_must_be_hashed_or_dropped(config, old, new, expected):
    edit(config / "publication.yaml", old, new)
    refused(lambda: releases.load_config(config), rf"publication\.yaml: {expected}")


# --- config/alerts.yaml ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "landed_by_day: 20",
            "landed_by_day: 31",
            r"late\.landed_by_day: .*less than or equal to 28",
        ),
        ('  url: ""', "  url: hooks.example/x", r"webhook\.url: .*http:// or https:// URL"),
        ('smtp_host: ""', "smtp_host: mail.example", r"email\.recipients: smtp_host is set"),
        ("password_env: DTSEN_SMTP_PASSWORD", "password: hunter2", r"email\.password: unknown"),
        ("smtp_port: 25", 'smtp_port: "25"', r"email\.smtp_port: "),
    ],
    ids=["day", "url", "no-recipient", "password-in-file", "port-text"],
)
def test_a_bad_alert_setting_is_refused_with_file_and_field(config, old, new, expected):
    from dtsen_pipeline.defs.common.alerts import load_alerts

    edit(config / "alerts.yaml", old, new)
    refused(lambda: load_alerts(config), rf"alerts\.yaml: {expected}")


def test_alert_targets_come_from_the_file_and_the_environment(config, monkeypatch):
    from dtsen_pipeline.defs.common.alerts import load_alerts

    monkeypatch.delenv("DTSEN_ALERT_WEBHOOK_URL", raising=False)
    assert load_alerts(config).targets() == []
    monkeypatch.setenv("DTSEN_ALERT_WEBHOOK_URL", "http://127.0.0.1:9/hook")
    edit(config / "alerts.yaml", 'smtp_host: ""', "smtp_host: 127.0.0.1")
    edit(config / "alerts.yaml", "recipients: []", "recipients: [ops@example.org]")
    assert load_alerts(config).targets() == ["webhook", "email"]


def test_publishing_refuses_a_table_that_still_holds_an_identity_column(tmp_path):
    """Second line of defence, on the real columns: a mart that gained `nama` is not published."""
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        con.execute("create schema marts")
        con.execute(
            "create table marts.dtsen_rumah_tangga as select 'RT1' as dtsen_rt_id, 'Siti Aminah' as nama"
        )
        with pytest.raises(
            ValueError,
            match=r"refusing to publish dtsen_rumah_tangga \(marts\.dtsen_rumah_tangga\) "
            r"pseudonymised: identity columns \['nama'\]",
        ) as caught:
            releases._pseudonymised_select("dtsen_rumah_tangga", "marts.dtsen_rumah_tangga", con)
        assert "Siti" not in str(caught.value)
        con.execute("alter table marts.dtsen_rumah_tangga drop column nama")
        assert (
            releases._pseudonymised_select("dtsen_rumah_tangga", "marts.dtsen_rumah_tangga", con)
            == "select dtsen_rt_id from marts.dtsen_rumah_tangga"
        )


# --- generate/profile.yaml ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "female_head: 0.15",
            'female_head: "0.15"',
            r"population\.female_head: must be a number, not '0\.15'",
        ),
        (
            "nik_typo: 0.04 ",
            "nik_typo: 0.94 ",
            r"sources\.dtks\.noise: nik_typo \+ nik_invalid \+ nik_missing \+ nik_shared add up to 1\.06",
        ),
        (
            "    exit: 0.3 ",
            "    exit: 3 ",
            r"sources\.bpjs_tk\.exit: must be a share in \[0, 1\], not 3",
        ),
        ("  dinsos_ntt:\n", "  dinsos_nt:\n", r"sources\.dinsos_nt: no extract writer"),
        (
            "families_per_village: 150",
            "families_per_vilage: 150",
            r"population\.families_per_vilage: unknown field; did you mean 'families_per_village'\?",
        ),
    ],
    ids=["share-as-text", "nik-noise-over-one", "exit-over-one", "register-misspelt", "typo-key"],
)
def test_a_bad_profile_value_is_refused_with_file_and_field(tmp_path, old, new, expected):
    profile = tmp_path / "profile.yaml"
    shutil.copy(PROFILE_PATH, profile)
    edit(profile, old, new)
    refused(lambda: load_profile(profile), rf"profile\.yaml: {expected}")


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "name_order_flip: 0.06",
            "name_order_flip: 6",
            r"sources\.dtks\.noise\.name_order_flip: must be a share",
        ),
        (
            "dob_year_only: 0.03",
            "dob_year_only: 0.93",
            r"sources\.dtks\.noise: dob_day_month_swap \+ dob_placeholder \+ dob_invalid \+ dob_year_only \+ "
            r"dob_fixed_placeholder \+ dob_day_placeholder add up to 1\.012",
        ),
        (
            "mononym_java: 0.35",
            "mononym_jawa: 0.35",
            r"population\.mononym_jawa: unknown field; did you mean 'mononym_java'",
        ),
    ],
    ids=["share-over-one", "dob-noise-over-one", "typo-key"],
)
def test_a_bad_hard_profile_override_is_refused_with_its_file_and_field(
    tmp_path, old, new, expected
):
    """The hard profile's overrides are checked merged over the default: the message names them."""
    hard = tmp_path / "profile_hard.yaml"
    shutil.copy(PROFILES["hard"], hard)
    edit(hard, old, new)
    refused(lambda: load_profile(PROFILE_PATH, hard), rf"profile_hard\.yaml: {expected}")


# --- DTSEN_CONFIG_DIR and `dtsen check-config` ---------------------------------------------------------


def test_a_copied_configuration_drives_the_registry_and_dbt_staging(config, monkeypatch):
    shutil.copy(config / "sources" / "dinsos_ntt.yaml", config / "sources" / "dinsos_jatim.yaml")
    edit(config / "sources" / "dinsos_jatim.yaml", "name: dinsos_ntt", "name: dinsos_jatim")
    monkeypatch.setenv("DTSEN_CONFIG_DIR", str(config))
    assert "dinsos_jatim" in [s.name for s in load_sources()]
    generated = dbt_registry._files(load_sources())
    assert dbt_registry.MODELS_DIR / "stg_dinsos_jatim__individu.sql" in generated
    assert "stg_dinsos_jatim__individu" in generated[dbt_registry.MACRO_FILE]


def test_check_config_passes_the_shipped_configuration(cli_env):
    result = dtsen("check-config", env=cli_env)
    assert result.returncode == 0, result.stderr
    # Counted from the loaders, so that adding a source (or a mart's suite) edits no test.
    sources = load_sources(paths.CONFIG_DIR / "sources")
    suites = load_expectations(paths.CONFIG_DIR)
    n_suites = len(sources) + len(suites.marts) + len(suites.mart_warnings)
    registers = len(load_profile(PROFILE_PATH)["sources"])
    named = "".join(f"{name} profile, " for name, path in PROFILES.items() if path is not None)
    expected = (
        f"configuration OK ({len(sources)} sources, linkage rules, publication rules, "
        "alert targets (none), "
        f"{n_suites} quality suites, generator profile ({registers} registers), {named}"
        "survivorship ranks)"
    )
    assert result.stdout.startswith(expected), result.stdout


def test_check_config_lists_every_problem_of_every_file(config, cli_env):
    edit(config / "sources" / "dtks.yaml", 'delimiter: ";"', 'delimiter: ";;"')
    edit(config / "linkage.yaml", "regsosek, dtks,", "regsosek, dtsk,")
    edit(config / "expectations.yaml", "row_count_tolerance: 0.25 ", "row_count_tolerance: abc ")
    edit(
        config / "publication.yaml",
        "dtsen_individu: [nama, tanggal_lahir, alamat]",
        "dtsen_individu: [tanggal_lahir, alamat]",
    )
    result = dtsen("check-config", env={**cli_env, "DTSEN_CONFIG_DIR": str(config)})
    assert result.returncode == 1 and "configuration OK" not in result.stdout
    lines = [line.strip() for line in result.stderr.splitlines()]
    assert lines[0].startswith("dtsen check-config: 4 problem(s) in "), result.stderr
    assert {line.split(": ")[0].split("/config/")[-1] for line in lines[1:]} == {
        "sources/dtks.yaml",
        "linkage.yaml",
        "expectations.yaml",
        "publication.yaml",
    }, result.stderr
    assert f"{config}/linkage.yaml: family.kk_authority[2]: no source named 'dtsk'" in result.stderr


# --- dbt_project/seeds/survivorship.csv: a rank per source, checked against the registry -------------


@pytest.fixture()
def survivorship(tmp_path) -> Path:
    """A copy of the dbt project's survivorship seed to break."""
    return Path(shutil.copy(dbt_registry.survivorship_seed(), tmp_path / "survivorship.csv"))


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "identitas,dtks,3\n",
            "identitas,dtsk,3\n",
            [
                rf"survivorship\.csv: row 4: source: no source named 'dtsk' \(sources: {SOURCES}\)",
                r"survivorship\.csv: source dtks: no identitas row; a register needs its rank",
            ],
        ),
        (
            "identitas,phk,8\n",
            "",
            [r"survivorship\.csv: source phk: no identitas row; a register needs its rank"],
        ),
        (
            "identitas,dtks,3\n",
            "identitas,dtks,three\n",
            [r"survivorship\.csv: row 4: rank: must be a whole number 0 or more, not 'three'"],
        ),
        (
            "identitas,dtks,3\n",
            "identitas,dtks,-3\n",
            [r"survivorship\.csv: row 4: rank: must be a whole number 0 or more, not '-3'"],
        ),
        (
            "wilayah,dtks,3\n",
            "wilayh,dtks,3\n",
            [
                r"survivorship\.csv: row 13: field_group: 'wilayh' is not one of identitas, wilayah, "
            ],
        ),
        (
            "identitas,dtks,3\n",
            "identitas,dtks,3\nidentitas,dtks,9\n",
            [r"survivorship\.csv: row 5: identitas, dtks: repeats row 4 \(one rank per source"],
        ),
        (
            "identitas,dtks,3\n",
            "identitas,dtks\n",
            [
                r"survivorship\.csv: row 4: 2 values, expected 3 \(field_group,source,rank\)",
                r"survivorship\.csv: source dtks: no identitas row",
            ],
        ),
        (
            "field_group,source,rank",
            "field_group,sumber,rank",
            [r"survivorship\.csv: row 1: the header must be field_group,source,rank"],
        ),
    ],
    ids=[
        "source-misspelt",
        "register-without-row",
        "rank-word",
        "rank-negative",
        "group-misspelt",
        "row-repeated",
        "value-missing",
        "header",
    ],
)
def test_a_bad_survivorship_row_is_refused_with_file_row_and_reason(
    config, survivorship, old, new, expected
):
    edit(survivorship, old, new)
    roles = {s.name: s.role for s in load_sources(config / "sources")}
    errors = dbt_registry.survivorship_problems(roles, survivorship)
    assert len(errors) == len(expected), errors
    for pattern, line in zip(expected, errors, strict=True):
        assert re.match(rf"{re.escape(str(survivorship.parent))}/{pattern}", line), line


def test_check_config_checks_the_survivorship_seed_against_the_registry(config, survivorship):
    """The shipped seed passes; a source removed from the registry leaves rows naming it, and a
    source added without its row is named, each with the file and row."""
    assert cli.check_all(config, survivorship=survivorship)[1] == []
    other = shutil.copytree(config, config.parent / "other")  # the registry is cached per folder
    (other / "sources" / "phk.yaml").unlink()
    shutil.copy(other / "sources" / "dinsos_ntt.yaml", other / "sources" / "dinsos_jatim.yaml")
    edit(other / "sources" / "dinsos_jatim.yaml", "name: dinsos_ntt", "name: dinsos_jatim")
    loaded, errors = cli.check_all(other, survivorship=survivorship)
    assert "survivorship ranks" not in loaded
    named = sorted(s.name for s in load_sources(other / "sources"))
    assert errors == [
        f"{survivorship}: row 10: source: no source named 'phk' (sources: {', '.join(named)})",
        f"{survivorship}: source dinsos_jatim: no identitas row; a register needs its rank for "
        "the golden identity (without one its records rank last)",
    ]


def test_the_field_groups_are_those_the_marts_rank_by():
    """dbt_registry.FIELD_GROUPS names every field group a model reads from the seed, and no other."""
    models = paths.DBT_PROJECT_DIR / "models"
    read = {
        group
        for sql in models.rglob("*.sql")
        for group in re.findall(r"field_group\s*=\s*'(\w+)'", sql.read_text(encoding="utf-8"))
    }
    assert read == set(dbt_registry.FIELD_GROUPS)
