"""`make docs` (issue 33): a release's dbt docs site, built from the release itself, lists exactly
its tables and columns (hashed ones as `_hash`, dropped ones absent) with their types and comments,
names what reads it (exposures), is linked from the reports index, and opens in a browser with no
network."""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import pytest

from dtsen_pipeline.lib import reports
from dtsen_pipeline.publish import dictionary, docs_site, releases
from tests.conftest import MONTHS


@pytest.fixture(scope="module")
def site(first_month_run, data_root, tmp_path_factory) -> Path:
    """The site of the session's first release, built into a scratch reports folder."""
    mp = pytest.MonkeyPatch()
    mp.setenv("DTSEN_DATA_DIR", str(data_root))
    mp.setenv("DTSEN_REPORTS_DIR", str(tmp_path_factory.mktemp("reports")))
    try:
        yield docs_site.build((data_root / "publish" / MONTHS[0]).resolve())
    finally:
        mp.undo()


def _release_columns(db: Path) -> dict[str, list[str]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return {
            t: cols
            for t, cols in con.execute(
                "select table_name, list(column_name order by column_index) from duckdb_columns() "
                "where not internal group by 1"
            ).fetchall()
        }


def test_the_site_lists_exactly_the_release_tables_and_columns(site, data_root):
    release = (data_root / "publish" / MONTHS[0]).resolve()
    assert site.is_file() and site.parent.name == release.name and site.parents[1].name == "docs"
    manifest = json.loads((site.parent / "manifest.json").read_text())
    assert manifest["metadata"]["send_anonymous_usage_stats"] is False
    sources = [n for n in manifest["sources"].values()]
    for source, database in docs_site.SOURCES.items():
        documented = {n["name"]: list(n["columns"]) for n in sources if n["source_name"] == source}
        assert documented == _release_columns(release / database), source
        rows = {
            (r["tabel"], r["kolom"]): r
            for r in dictionary.read_csv((release / database).parent / dictionary.CSV)
        }
        for n in (n for n in sources if n["source_name"] == source):
            for name, column in n["columns"].items():
                entry = rows[n["name"], name]
                assert column["description"].startswith(entry["deskripsi"])
                assert f"`{entry['kelas_privasi']}`" in column["description"]
                meta = {**column.get("meta", {}), **column.get("config", {}).get("meta", {})}
                assert meta["kelas_privasi"] == entry["kelas_privasi"]
                assert column["data_type"] == entry["tipe"]
    pseudonymised = {n["name"]: set(n["columns"]) for n in sources if n["source_name"] == "dtsen"}
    assert {"nik_hash", "no_kk_hash"} <= pseudonymised["dtsen_individu"]
    assert not {"nik", "no_kk", "nama", "tanggal_lahir"} & pseudonymised["dtsen_individu"]
    assert "source_record_id_hash" in pseudonymised["dtsen_crosswalk"]
    assert not any(c in releases.IDENTITY_COLUMNS for cs in pseudonymised.values() for c in cs)
    # What reads the release.
    exposures = {e["name"]: e for e in manifest["exposures"].values()}
    assert set(exposures) == {"analyst_release", "operator_worklists", "bpjs_tk_gap_list"}
    assert len(exposures["analyst_release"]["depends_on"]["nodes"]) == len(pseudonymised)
    assert exposures["bpjs_tk_gap_list"]["depends_on"]["nodes"] == [
        "source.dtsen_release_docs.dtsen.dtsen_bpjs_tk_gap"
    ]
    assert (
        "source.dtsen_release_docs.dtsen_identitas.dtsen_daftar_verifikasi"
        in (exposures["operator_worklists"]["depends_on"]["nodes"])
    )
    # The catalog is the release's own: dbt read its tables, column types and comments.
    catalog = json.loads((site.parent / "catalog.json").read_text())
    assert catalog["nodes"] == {} and not catalog.get("errors")
    for source, database in docs_site.SOURCES.items():
        with duckdb.connect(str(release / database), read_only=True) as con:
            types = {
                (t, c): (type_, comment)
                for t, c, type_, comment in con.execute(
                    "select table_name, column_name, data_type, comment from duckdb_columns() "
                    "where not internal"
                ).fetchall()
            }
        cataloged = {
            (n["metadata"]["name"], c["name"]): (c["type"], c["comment"])
            for uid, n in catalog["sources"].items()
            if uid.split(".")[2] == source
            for c in n["columns"].values()
        }
        assert cataloged == types, source
    assert "dtsen_individu" in site.read_text(encoding="utf-8")


def test_the_site_loads_nothing_from_outside(site):
    page = site.read_text(encoding="utf-8")
    remote = re.compile(r"<(?:script|link|img)\b[^>]*\b(?:src|href)=[\"']?(?:https?:)?//", re.I)
    assert not remote.search(page)
    assert "cloudfront.net" not in page and "sp.js" not in page


def test_the_reports_index_links_the_site(site, monkeypatch):
    monkeypatch.setenv("DTSEN_REPORTS_DIR", str(site.parents[2]))
    index = reports.render_index()
    assert f'href="docs/{site.parent.name}/index.html"' in index
    assert reports.docs_sites() == [(site.parent.name, site)]


def test_the_site_renders_offline_in_a_browser(site):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.defs.test_ui_browser import chromium

    driver = chromium("--host-resolver-rules=MAP * ~NOTFOUND", "--allow-file-access-from-files")
    try:
        driver.get(f"{site.as_uri()}#!/source/source.dtsen_release_docs.dtsen.dtsen_individu")
        WebDriverWait(driver, 60).until(
            lambda d: "nik_hash" in d.find_element(By.TAG_NAME, "body").text
        )
        body = driver.find_element(By.TAG_NAME, "body").text
        assert "dtsen_individu" in body and "pseudonim" in body
        requested = driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)"
        )
        assert all(r.startswith(("file:", "data:", "blob:")) for r in requested), requested
    finally:
        driver.quit()
