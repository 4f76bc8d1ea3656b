"""Issue 16: every report one click from the Dagster UI, and readable with no network.

The links are those the session's `dtsen run` left in its Dagster instance (the checks, the gate,
the linkage asset, the release); the report server is `python -m dtsen_pipeline.lib.reports` as `make ui`
starts it; the pages are opened in headless Chromium whose every host name fails to resolve except
127.0.0.1 (so nothing can come from a CDN), and the check names are the Definitions' own."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterEventType, DagsterInstance, UrlMetadataValue

from dtsen_pipeline.lib import paths
from dtsen_pipeline.publish import contents
from tests.defs.test_ui_browser import chromium

RELEASE_TABLES = contents.release_tables()

DEFAULT_ORIGIN = "http://127.0.0.1:3001"  # the run had no DTSEN_REPORTS_PORT: the default port


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.status, resp.read().decode("utf-8")


@pytest.fixture(scope="module")
def ui_links(first_month_run, data_root) -> dict[str, str]:
    """Every URL in the metadata of the latest published run: ``{"<asset or check>: <label>": url}``."""
    links = {}
    with DagsterInstance.from_config(str(data_root / "dagster_home")) as instance:
        release = instance.get_latest_materialization_event(AssetKey(["publish", "dtsen_release"]))
        run_id = release.run_id
        for entry in instance.all_logs(run_id):
            event = entry.dagster_event
            if event is None:
                continue
            if event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
                owner = event.asset_key.to_user_string()
                metadata = event.step_materialization_data.materialization.metadata
            elif event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
                owner, metadata = (
                    event.event_specific_data.check_name,
                    event.event_specific_data.metadata,
                )
            else:
                continue
            links.update(
                {
                    f"{owner}: {label}": v.value
                    for label, v in metadata.items()
                    if isinstance(v, UrlMetadataValue)
                }
            )
    return links


@pytest.fixture(scope="module")
def report_server(first_month_run, cli_env, tmp_path_factory):
    port = _free_port()
    log = open(tmp_path_factory.mktemp("reports") / "server.log", "w")  # noqa: SIM115 (open while the server runs)
    proc = subprocess.Popen(
        [sys.executable, "-m", "dtsen_pipeline.lib.reports"],
        env={**cli_env, "DTSEN_REPORTS_PORT": str(port)},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    origin = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if _get(f"{origin}/")[0] == 200:
                break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"the report server exited: {Path(log.name).read_text()[-1500:]}")
            if time.monotonic() > deadline:
                os.killpg(proc.pid, signal.SIGTERM)
                pytest.fail(
                    f"the report server did not answer on {origin}: {Path(log.name).read_text()[-1500:]}"
                )
            time.sleep(0.3)
    yield origin
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:  # seen once on a loaded machine: do not leave it running
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    log.close()


def _served(url: str, origin: str) -> str:
    """``url`` as the run wrote it, on the test's own server (a free port, not the default)."""
    assert url.startswith(DEFAULT_ORIGIN + "/"), url
    return origin + url.removeprefix(DEFAULT_ORIGIN)


def test_every_report_is_a_link_that_opens(ui_links, report_server):
    suites = [f"gx_{m}" for m in RELEASE_TABLES]
    expected = {
        *(f"{s}: data docs" for s in suites),
        "quality/gate: reports",
        "publish/dtsen_release: reports",
        *(
            f"linkage/person_clusters: chart: {c}"
            for c in ("match_weights", "m_u_parameters", "waterfall_sample_pairs")
        ),
    }
    assert expected <= set(ui_links), sorted(expected - set(ui_links))
    assert any(
        k.startswith("gx_stg_") and k.endswith(": data docs") for k in ui_links
    )  # the sources' warnings too
    for name, url in ui_links.items():
        status, page = _get(_served(url, report_server))
        assert status == 200 and "<html" in page.lower(), name
    # The index lists every suite of the month with a page that opens, and the linkage charts.
    month = ui_links["publish/dtsen_release: reports"].rsplit("#", 1)[1]
    _, index = _get(f"{report_server}/index.html")
    section = index.split(f'id="{month}"', 1)[1].split("<h2", 1)[0]
    hrefs = re.findall(r'href="([^"]+)"', section)
    assert all(m in section for m in RELEASE_TABLES) and len(hrefs) >= len(RELEASE_TABLES) + 3
    for href in hrefs:
        assert _get(f"{report_server}/{href}")[0] == 200, href


def test_no_report_loads_anything_from_outside(first_month_run, data_root):
    pages = sorted((data_root / "reports").rglob("*.html"))
    assert len(pages) > len(RELEASE_TABLES)
    remote = re.compile(r"<(?:script|link|img)\b[^>]*\b(?:src|href)=[\"']?(?:https?:)?//", re.I)
    assert [str(p) for p in pages if remote.search(p.read_text())] == []


@pytest.fixture(scope="module")
def offline_browser():
    # No network: every host name fails to resolve but the report server's address.
    driver = chromium("--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1", size="1400,1000")
    yield driver
    driver.quit()


def _shot(driver, name: str) -> None:
    folder = paths.screenshots_dir()
    folder.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(folder / f"{name}.png"))


def test_reports_render_in_a_browser_without_network(ui_links, report_server, offline_browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    # Splink's charts: Vega draws them (a canvas or an SVG appears only when it ran).
    for name in ("match_weights", "m_u_parameters", "waterfall_sample_pairs"):
        offline_browser.get(
            _served(ui_links[f"linkage/person_clusters: chart: {name}"], report_server)
        )
        WebDriverWait(offline_browser, 30).until(
            ec.presence_of_element_located((By.CSS_SELECTOR, ".vega-embed canvas, .vega-embed svg"))
        )
        body = offline_browser.find_element(By.TAG_NAME, "body").text
        assert "Error" not in body, body[:300]
        _shot(offline_browser, f"report_chart_{name}")
    # A GX Data Docs page: its content, its status marks, nothing requested from anywhere else.
    offline_browser.get(_served(ui_links["gx_dtsen_individu: data docs"], report_server))
    body = offline_browser.find_element(By.TAG_NAME, "body").text
    assert "dtsen_individu" in body and "Success Percent" in body
    marks = offline_browser.execute_script(
        "return Array.from(document.querySelectorAll('i.fa-check-circle')).map("
        "e => getComputedStyle(e, '::before').content)"
    )
    assert marks and set(marks) == {'"✔"'}
    requested = offline_browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    assert all(r.startswith(report_server) for r in requested), requested
    _shot(offline_browser, "report_data_docs")
    # The index: a plain list of the month's suites and charts.
    offline_browser.get(_served(ui_links["quality/gate: reports"], report_server))
    body = offline_browser.find_element(By.TAG_NAME, "body").text
    assert "DTSEN reports" in body and "dtsen_keluarga" in body and "match weights" in body
    _shot(offline_browser, "report_index")


def test_dbt_data_tests_are_checks_with_readable_names():
    """dagster-dbt names a check after the dbt test; a generic test with arguments got names like
    accepted_values_dtsen_keluarga_desil__False__1__2__3__4__5__6__7__8__9__10."""
    from dtsen_pipeline.definitions import defs

    checks = {
        (k.asset_key.to_user_string(), k.name) for k in defs.resolve_asset_graph().asset_check_keys
    }
    names = [n for _, n in checks]
    assert not [
        n
        for n in names
        if n.startswith(("accepted_values_", "relationships_", "unique_combination_"))
        or "__False" in n
        or n.endswith("_")
        or len(n) > 60
    ]
    assert {
        ("dtsen_keluarga", "dtsen_keluarga_desil_in_1_10"),
        ("dtsen_individu", "dtsen_individu_kode_desa_in_ref_wilayah"),
        ("dtsen_program_sasaran", "unique_dtsen_program_sasaran_programme_and_dtsen_kk_id"),
        ("dtsen_id_history", "dtsen_id_history_event_is_known"),
    } <= checks
