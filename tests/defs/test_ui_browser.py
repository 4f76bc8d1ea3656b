"""The Dagster UI in a real browser, served by the deployment (`dtsen serve`: a PostgreSQL cluster
in its own data root, the code location, the daemon and the webserver as separate processes, on free
ports), driven by headless Chromium (Debian's `chromium` and `chromium-driver`, installed by `make
test`; PostgreSQL by `make postgres`): the asset graph's layers and key assets, and a materialisation
launched from the UI that succeeds. SIGTERM stops the deployment at the end and no process of it is
left. Screenshots go to data/screenshots/."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import duckdb
import pytest

from dtsen_pipeline.defs.common import deployment
from dtsen_pipeline.lib import paths

BIN = Path(sys.executable).parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
MONTH = "2025-01"
BACKFILL = ("2025-01", "2025-02")
DEGRADED = "2025-03"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(base: str, query: str) -> dict:
    req = urllib.request.Request(
        f"{base}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.load(resp)["data"]


def _env(data: Path) -> dict[str, str]:
    """This process's environment with the data root ``data`` instead of any DTSEN_/Dagster one."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("DTSEN_") and k != "DAGSTER_HOME"
    }
    return env | {"DTSEN_DATA_DIR": str(data)}


def _processes_in(root: Path) -> list[str]:
    """Processes of the deployment in ``root``: working there (PostgreSQL's, whose titles change),
    named there on their command line, or given its data root in their environment."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            env = (proc / "environ").read_bytes().decode(errors="replace")
            cwd = os.readlink(proc / "cwd")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if str(root) in cwd or str(root) in cmd or f"DTSEN_DATA_DIR={root}" in env:
            found.append(f"{proc.name}: {cmd[:200]}")
    return found


def _stop(proc: subprocess.Popen, root: Path) -> list[str]:
    """SIGTERM to `dtsen serve`; return what of it is still running (then killed)."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    time.sleep(1)
    left = _processes_in(root)
    for line in left:
        with contextlib.suppress(OSError):
            os.kill(int(line.split(":")[0]), signal.SIGKILL)
    return left


@pytest.fixture(scope="module")
def dagster_ui():
    assert Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists(), (
        "Chromium and chromedriver are missing: `make test` installs them (apt: chromium chromium-driver)"
    )
    assert (deployment.PG_BIN / "initdb").exists(), "PostgreSQL is missing: `make postgres`"
    # PostgreSQL runs as `postgres` under root: its folders must be reachable by that account.
    root = Path(tempfile.mkdtemp(prefix="dtsen-ui-"))
    root.chmod(0o755)
    data = root / "data"
    env = _env(data) | {"DTSEN_CODE_PORT": str(_free_port())}
    env["DTSEN_REPORTS_PORT"] = str(_free_port())  # the UI's report links point at it
    gen = subprocess.run(
        [str(BIN / "dtsen"), "generate", "--persons", "300", "--start", MONTH, "--months", "3"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert gen.returncode == 0, gen.stderr
    data.chmod(0o755)
    # The third month is degraded: DTKS (a full snapshot) did not deliver.
    for f in (data / "landing" / "dtks" / DEGRADED).iterdir():
        f.unlink()
    port = _free_port()
    log = (root / "serve.log").open("w")
    proc = subprocess.Popen(
        [str(BIN / "dtsen"), "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base, started = f"http://127.0.0.1:{port}", time.monotonic()
    try:
        while proc.poll() is None and time.monotonic() < started + 300:
            try:
                if urllib.request.urlopen(f"{base}/server_info", timeout=2).status == 200:
                    break
            except OSError:
                time.sleep(1)
        else:
            pytest.fail(f"dtsen serve did not answer on {base}: {_tail(root)}")
        print(f"dtsen serve answered in {time.monotonic() - started:.0f} s")
        yield base, data
    finally:
        left = _stop(proc, root)
        log.close()
        tail = _tail(root)
        shutil.rmtree(root, ignore_errors=True)
    assert proc.returncode == 0, tail
    assert not left, f"processes left after dtsen serve stopped: {left}"


def _tail(root: Path) -> str:
    return (root / "serve.log").read_text(errors="replace")[-3000:]


def chromium(*args: str, size: str = "1600,1000"):
    """Headless Debian Chromium through its chromedriver, with ``args`` added (tests/lib/test_reports.py
    adds a resolver rule that cuts the network)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    assert Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists(), (
        "Chromium and chromedriver are missing: `make test` installs them (apt: chromium chromium-driver)"
    )
    options = Options()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        f"--window-size={size}",
        *args,
    ):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


@pytest.fixture(scope="module")
def browser():
    driver = chromium()
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

    with contextlib.suppress(TimeoutException):  # shown once per browser profile
        WebDriverWait(driver, 5).until(
            ec.element_to_be_clickable((By.XPATH, "//button[normalize-space()='Skip']"))
        ).click()


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
    _wait_for_text(
        browser, "Global asset lineage", "landing", "raw", "staging", "linkage", "marts", "publish"
    )
    _shot(browser, "asset_graph")
    # Each key asset has its page with its group, kinds and description.
    for key, group, kind in [
        ("linkage/person_clusters", "linkage", "Splink"),
        ("dtsen_individu", "marts", "dbt"),
        ("dtsen_keluarga", "marts", "dbt"),
        ("publish/dtsen_release", "publish", "DuckDB"),
    ]:
        browser.get(f"{base}/assets/{key}")
        body = _wait_for_text(
            browser, key.split("/")[-1], "Group", group, "Kinds", kind, "Description"
        )
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
    wait.until(
        ec.element_to_be_clickable(
            (By.XPATH, "//button[contains(normalize-space(), 'Materialize')]")
        )
    ).click()
    partitions = wait.until(
        ec.element_to_be_clickable((By.XPATH, "//input[contains(@placeholder, '2025-01')]"))
    )
    partitions.send_keys(MONTH, Keys.TAB)
    launch = wait.until(
        ec.element_to_be_clickable((By.XPATH, "//button[normalize-space()='Launch 1 run']"))
    )
    _shot(browser, "launch_dialog")
    launch.click()
    # The run goes through the queue to a run worker; find it and watch it in the UI.
    deadline, run_id = time.monotonic() + 60, None
    while run_id is None and time.monotonic() < deadline:
        runs = _graphql(base, "{ runsOrError { ... on Runs { results { runId status } } } }")[
            "runsOrError"
        ]["results"]
        run_id = runs[0]["runId"] if runs else None
        time.sleep(1)
    assert run_id, "no run was launched"
    browser.get(f"{base}/runs/{run_id}")
    body = _wait_for_text(browser, "Success", timeout=240)
    _shot(browser, "run_succeeded")
    assert "dukcapil__individu" in body
    # ... and the run really loaded the month's Dukcapil extract (300 persons).
    with duckdb.connect(str(data / "warehouse" / "dtsen.duckdb"), read_only=True) as con:
        rows = con.execute(
            "select count(*) from raw.dukcapil__individu where extract_month = ?", [MONTH]
        ).fetchall()[0][0]
    assert rows >= 300


def _runs(base: str) -> list[dict]:
    query = "{ runsOrError { ... on Runs { results { runId status tags { key value } } } } }"
    runs = _graphql(base, query)["runsOrError"]["results"]
    for r in runs:
        r["tags"] = {t["key"]: t["value"] for t in r["tags"]}
    return runs


@pytest.mark.slow  # make test-slow
def test_a_two_month_backfill_launched_from_the_asset_graph_succeeds_in_month_order(
    dagster_ui, browser
):
    """The issue's case: select assets on the graph, Materialize, two months. Every asset, dbt's
    included, runs one month per run, in month order (linkage of a month needs the one before)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    base, data = dagster_ui
    wait = WebDriverWait(browser, 60)
    before = {r["runId"] for r in _runs(base)}
    browser.get(f"{base}/asset-groups")
    _dismiss_welcome(browser)
    wait.until(
        ec.element_to_be_clickable(
            (By.XPATH, "//button[contains(normalize-space(), 'Materialize all')]")
        )
    ).click()
    partitions = wait.until(
        ec.element_to_be_clickable((By.XPATH, "//input[contains(@placeholder, '2025-01')]"))
    )
    partitions.send_keys(Keys.CONTROL, "a")
    partitions.send_keys(f"[{BACKFILL[0]}...{BACKFILL[1]}]", Keys.TAB)
    _shot(browser, "backfill_dialog")
    body = _text(browser)
    assert "varying backfill policies" not in body.lower(), body[:1500]
    wait.until(
        ec.element_to_be_clickable(
            (
                By.XPATH,
                "//button[contains(normalize-space(), 'Launch') and "
                "contains(normalize-space(), 'backfill')]",
            )
        )
    ).click()
    deadline, done = time.monotonic() + 900, []
    while time.monotonic() < deadline:
        new = [r for r in _runs(base) if r["runId"] not in before]
        done = [r for r in new if r["status"] in ("SUCCESS", "FAILURE", "CANCELED")]
        if len(new) == len(BACKFILL) and len(done) == len(BACKFILL):
            break
        time.sleep(3)
    new = sorted(new, key=lambda r: r["tags"].get("dagster/partition", ""))
    assert [(r["tags"].get("dagster/partition"), r["status"]) for r in new] == [
        (m, "SUCCESS") for m in BACKFILL
    ], new
    assert all("dagster/backfill" in r["tags"] for r in new)
    browser.get(f"{base}/runs/{new[-1]['runId']}")
    _wait_for_text(browser, "Success", "publish__dtsen_release", timeout=60)
    _shot(browser, "backfill_second_month")
    # Months ran in order: the first month's run ended before the second's began.
    with duckdb.connect(str(data / "warehouse" / "dtsen.duckdb"), read_only=True) as con:
        linked = [
            m
            for (m,) in con.execute(
                "select distinct extract_month from linkage.person_clusters order by 1"
            ).fetchall()
        ]
    assert linked == list(BACKFILL)


@contextlib.contextmanager
def _opened_link(browser, base: str, page: str, label: str):
    """Click the link, yield its address with its page in front, then close what it opened."""
    main = browser.current_window_handle
    try:
        yield _click_link_and_open(browser, base, page, label)
    finally:
        for h in [h for h in browser.window_handles if h != main]:
            browser.switch_to.window(h)
            browser.close()
        browser.switch_to.window(main)


def _click_link_and_open(browser, base: str, page: str, label: str) -> str:
    """On an asset page, click the metadata link named ``label``; return the link's address."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{base}{page}")
    _wait_for_text(browser, label, timeout=60)
    link = WebDriverWait(browser, 30).until(
        ec.presence_of_element_located(
            (
                By.XPATH,
                f"//tr[.//*[normalize-space()='{label}']]//a[starts-with(@href, 'http://127.0.0.1')]",
            )
        )
    )
    href = link.get_attribute("href")
    main = browser.current_window_handle
    browser.execute_script("arguments[0].scrollIntoView()", link)
    link.click()
    WebDriverWait(browser, 10).until(lambda d: len(d.window_handles) > 1 or d.current_url == href)
    if len(browser.window_handles) > 1:
        browser.switch_to.window([h for h in browser.window_handles if h != main][0])
    return href


@pytest.mark.slow  # make test-slow
def test_report_links_open_from_the_ui_and_render_offline(dagster_ui, browser):
    """A chart and a Data Docs page, each one click from its asset, drawn without any CDN."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    base, _ = dagster_ui
    with _opened_link(
        browser, base, "/assets/linkage/person_clusters", "chart: match_weights"
    ) as href:
        assert href.endswith(f"/linkage/{BACKFILL[-1]}/match_weights.html"), href
        WebDriverWait(browser, 30).until(
            ec.presence_of_element_located((By.CSS_SELECTOR, ".vega-embed canvas, .vega-embed svg"))
        )
        assert "Error loading script" not in _text(browser)
        _shot(browser, "ui_chart_link")
    with _opened_link(browser, base, "/assets/quality/gate", "reports"):
        body = _wait_for_text(browser, "DTSEN reports", timeout=30)
        assert "dtsen_individu" in body and "Error loading script" not in body
        _shot(browser, "ui_reports_link")


@pytest.mark.slow  # make test-slow
def test_a_month_without_a_required_source_is_visibly_degraded(dagster_ui, browser):
    """DTSEN's DTKS did not deliver in the third month: `dtsen run` says so and fails, and the UI
    shows the failed check, naming the source and the month."""
    base, data = dagster_ui
    # `dtsen run` in the deployment's instance (docs/operations.md, Deployment).
    env = _env(data) | {
        "DAGSTER_HOME": str(data / "dagster_serve"),
        "DTSEN_POSTGRES_URL": deployment.local_postgres_url(data / "postgres"),
    }
    run = subprocess.run(
        [str(BIN / "dtsen"), "run", "--month", DEGRADED],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 1
    assert (
        f"blocking check raw/dtks__individu snapshot_complete failed: dtks {DEGRADED}: 0 rows loaded"
        in run.stderr
    )
    browser.get(f"{base}/assets/raw/dtks__individu?view=checks")
    _dismiss_welcome(browser)
    body = _wait_for_text(browser, "snapshot_complete", "files_readable", timeout=60)
    assert "Failed" in body or "failed" in body, body[:2000]
    browser.get(f"{base}/runs")
    _wait_for_text(browser, DEGRADED, "Failure", timeout=60)
    _shot(browser, "degraded_month_runs")
