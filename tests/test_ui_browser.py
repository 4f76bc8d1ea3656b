"""The Dagster UI in a real browser: `dagster dev` on a free port, headless Chromium (Debian's
`chromium` and `chromium-driver`, installed by `make test`), the asset graph's layers and key
assets, and a materialisation launched from the UI that succeeds. Screenshots go to
data/screenshots/."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import duckdb
import pytest

from dtsen_pipeline import paths

BIN = Path(sys.executable).parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
MONTH = "2025-01"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(base: str, query: str) -> dict:
    req = urllib.request.Request(f"{base}/graphql", data=json.dumps({"query": query}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.load(resp)["data"]


@pytest.fixture(scope="module")
def dagster_ui(tmp_path_factory):
    assert Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists(), \
        "Chromium and chromedriver are missing: `make test` installs them (apt: chromium chromium-driver)"
    root = tmp_path_factory.mktemp("ui")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DTSEN_") and k != "DAGSTER_HOME"}
    env.update(DTSEN_DATA_DIR=str(root / "data"), DAGSTER_HOME=str(root / "data" / "dagster_home"))
    gen = subprocess.run([str(BIN / "dtsen"), "generate", "--persons", "300", "--start", MONTH, "--months", "1"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert gen.returncode == 0, gen.stderr
    subprocess.run([sys.executable, "-m", "dtsen_pipeline.paths", "dagster_home"], env=env, check=True,
                   capture_output=True)
    port = _free_port()
    log = open(root / "dagster_dev.log", "w")
    proc = subprocess.Popen([str(BIN / "dagster"), "dev", "-w", str(paths.PROJECT_ROOT / "workspace.yaml"),
                             "-h", "127.0.0.1", "-p", str(port)], cwd=paths.PROJECT_ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(f"{base}/server_info", timeout=2).status == 200:
                break
        except OSError:
            time.sleep(1)
    else:
        os.killpg(proc.pid, signal.SIGTERM)
        pytest.fail(f"dagster dev did not answer on {base}: {(root / 'dagster_dev.log').read_text()[-2000:]}")
    yield base, root / "data"
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    log.close()


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1600,1000"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def _shot(driver, name: str) -> Path:
    folder = paths.screenshots_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    driver.save_screenshot(str(path))
    assert path.stat().st_size > 10_000, f"{path} looks empty"
    return path


def _text(driver) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.TAG_NAME, "body").text


def _dismiss_welcome(driver) -> None:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        WebDriverWait(driver, 5).until(ec.element_to_be_clickable((By.XPATH, "//button[normalize-space()='Skip']"))).click()
    except TimeoutException:
        pass  # shown once per browser profile


def _wait_for_text(driver, *texts: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = _text(driver)
        if all(t in body for t in texts):
            return body
        time.sleep(1)
    raise AssertionError(f"page never showed {texts}; it showed: {_text(driver)[:1500]}")


def test_asset_graph_shows_the_layers_and_key_assets(dagster_ui, browser):
    base, _ = dagster_ui
    browser.get(f"{base}/asset-groups")
    _dismiss_welcome(browser)
    _wait_for_text(browser, "Global asset lineage", "landing", "raw", "staging", "linkage", "marts", "publish")
    _shot(browser, "asset_graph")
    # Each key asset has its page with its group, kinds and description.
    for key, group, kind in [("linkage/person_clusters", "linkage", "Splink"), ("dtsen_individu", "marts", "dbt"),
                             ("dtsen_keluarga", "marts", "dbt"), ("publish/dtsen_release", "publish", "DuckDB")]:
        browser.get(f"{base}/assets/{key}")
        body = _wait_for_text(browser, key.split("/")[-1], "Group", group, "Kinds", kind, "Description")
        assert "data-engineering" in body  # the owner
    _shot(browser, "asset_dtsen_release")


def test_a_materialisation_launched_from_the_ui_succeeds(dagster_ui, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    base, data = dagster_ui
    wait = WebDriverWait(browser, 60)
    browser.get(f"{base}/assets/raw/dukcapil__individu")
    _dismiss_welcome(browser)
    wait.until(ec.element_to_be_clickable((By.XPATH, "//button[contains(normalize-space(), 'Materialize')]"))).click()
    partitions = wait.until(ec.element_to_be_clickable((By.XPATH, "//input[contains(@placeholder, '2025-01')]")))
    partitions.send_keys(MONTH, Keys.TAB)
    launch = wait.until(ec.element_to_be_clickable((By.XPATH, "//button[normalize-space()='Launch 1 run']")))
    _shot(browser, "launch_dialog")
    launch.click()
    # The run goes through the queue to a run worker; find it and watch it in the UI.
    deadline, run_id = time.monotonic() + 60, None
    while run_id is None and time.monotonic() < deadline:
        runs = _graphql(base, "{ runsOrError { ... on Runs { results { runId status } } } }")["runsOrError"]["results"]
        run_id = runs[0]["runId"] if runs else None
        time.sleep(1)
    assert run_id, "no run was launched"
    browser.get(f"{base}/runs/{run_id}")
    body = _wait_for_text(browser, "Success", timeout=240)
    _shot(browser, "run_succeeded")
    assert "dukcapil__individu" in body
    # ... and the run really loaded the month's Dukcapil extract (300 persons).
    with duckdb.connect(str(data / "warehouse" / "dtsen.duckdb"), read_only=True) as con:
        rows = con.execute("select count(*) from raw.dukcapil__individu where extract_month = ?", [MONTH]).fetchall()[0][0]
    assert rows >= 300
