"""The main flow in a real browser: start the dashboard, load the demo shop, upload a GBK-encoded Chinese export,
backtest the models on the Forecast page.

Drives Debian's chromium headless through Playwright. Skipped only when chromium is absent outside CI; in CI
(``CI=true``) a missing browser fails the run, since .ci/run installs it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import REPO
from core.data.synthetic import generate_series
from core.datasets import load_demo_shop
from core.store import Workspace

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WAIT_MS = 90_000

pytestmark = pytest.mark.browser
if not CHROMIUM.exists():
    if os.environ.get("CI"):
        pytest.fail("chromium is missing in CI: .ci/run should have installed it", pytrace=False)
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_idle(page) -> None:
    """Wait for the script run to end (Streamlit's status widget says "Running" meanwhile)."""
    page.wait_for_function(
        "() => !(document.querySelector('[data-testid=\"stStatusWidget\"]')?.innerText || '').includes('Running')",
        timeout=WAIT_MS,
    )


def download(page, button: str) -> Path:
    """Click a download button and return the file. A click that lands while a rerun redraws the button can be
    lost (the planner would click again), so the click is retried after the run has ended."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(3):
        wait_until_idle(page)
        try:
            with page.expect_download(timeout=30_000) as arrived:
                page.get_by_role("button", name=button).click()
            return Path(arrived.value.path())
        except PlaywrightTimeout:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


@pytest.fixture
def dashboard(workspace_home, tmp_path):
    port = _free_port()
    env = {**os.environ, "STOCKPILOT_HOME": str(workspace_home)}
    log = (tmp_path / "streamlit.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                if answer.status == 200:
                    break
        except OSError:
            time.sleep(0.5)
    else:
        server.kill()
        pytest.fail(f"the dashboard did not start; log:\n{(tmp_path / 'streamlit.log').read_text()}")
    yield url
    server.terminate()
    server.wait(timeout=30)


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(WAIT_MS)
        yield page
        browser.close()


@pytest.fixture
def gbk_export(tmp_path) -> Path:
    """A Chinese marketplace export: Chinese headers, SKU names and channels, encoded GBK."""
    frame = generate_series(n_series=2, n_periods=60, seed=5)
    frame["sku"] = frame["sku"].str.replace("SKU-", "商品", regex=False)
    frame["channel"] = frame["channel"].map(lambda c: "天猫" if c == frame["channel"].iloc[0] else "京东")
    frame = frame.rename(columns={"date": "日期", "sku": "商品编码", "channel": "渠道", "units": "销量",
                                  "price": "单价", "promo": "是否促销"})
    path = tmp_path / "天猫京东销量.csv"
    path.write_bytes(frame.to_csv(index=False).encode("gbk"))
    return path


def test_demo_shop_then_gbk_upload_shows_report_and_chart(dashboard, page, gbk_export, tmp_path):
    page.goto(dashboard)
    page.get_by_text("Turn your sales history").wait_for()
    page.get_by_role("button", name="Load the demo shop").click()
    page.get_by_text("Demo shop loaded").wait_for()

    page.get_by_role("link", name="Data").first.click()
    page.get_by_text("Current dataset: Demo shop").wait_for()
    page.locator('[data-testid="stPlotlyChart"]').first.wait_for()

    page.locator('input[type="file"]').set_input_files(str(gbk_export))
    page.get_by_text("GBK/GB18030").first.wait_for()
    page.get_by_text("ACCEPT", exact=False).first.wait_for()
    series = page.get_by_text("Series: 商品")
    series.wait_for()
    assert "天猫" in series.inner_text() and "京东" in series.inner_text()
    assert page.locator('[data-testid="stPlotlyChart"]').count() >= 2
    page.screenshot(path=str(tmp_path / "data-page.png"), full_page=True)

    page.get_by_role("button", name="Save as dataset and make it current").click()
    page.get_by_text("Saved '天猫京东销量'").wait_for()

    page.reload()  # a new browser session: the saved dataset is still there and still current
    page.get_by_text("Current dataset: 天猫京东销量").wait_for()
    page.locator('[data-testid="stPlotlyChart"]').first.wait_for()

    clean = download(page, "Download the clean data (CSV)").read_text(encoding="utf-8-sig")
    assert clean.splitlines()[0].startswith("date,sku,channel,units")
    assert "商品000,天猫" in clean and len(clean.splitlines()) == 121


def test_a_bookmarked_page_opens_inside_the_app_on_a_fresh_server(dashboard, page):
    page.goto(f"{dashboard}/data")  # the server's very first visitor comes straight to the Data page
    page.get_by_text("Upload sales").wait_for()
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_text("StockPilot").wait_for()
    assert sidebar.get_by_role("link", name="Home").count() == 1
    assert "common" not in page.locator('[data-testid="stSidebarNav"]').inner_text()


def test_forecast_page_runs_a_backtest_and_shows_the_fan_chart(dashboard, page, tmp_path):
    load_demo_shop(Workspace())  # the server shares this workspace (STOCKPILOT_HOME)
    page.goto(f"{dashboard}/forecast")
    page.get_by_text("No backtest for this dataset yet").wait_for()

    form = page.locator('[data-testid="stForm"]')
    for label in ("LightGBM global model", "Intermittent demand (TSB)", "Exponential smoothing (ETS)"):  # keep snaive, tsfm
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        remove = form.get_by_role("button", name=f"Remove {label}")
        for _ in range(3):  # a removal opens the options list, which can swallow the next click
            remove.click()
            page.keyboard.press("Escape")
            try:
                remove.wait_for(state="detached", timeout=10_000)
                break
            except PlaywrightTimeout:
                continue
    windows = form.get_by_label("Backtest windows", exact=True)
    windows.fill("1")
    windows.press("Tab")
    form.get_by_role("button", name="Run backtest").click()

    page.get_by_text("Backtest of 2 model(s) over 1 window(s)").wait_for()
    page.get_by_text("below 1 beats it").wait_for()
    chart = page.locator('[data-testid="stPlotlyChart"]').first
    chart.get_by_text("80% band").wait_for()  # the fan chart's legend
    assert chart.get_by_text("backtest forecast").count() == 1
    page.screenshot(path=str(tmp_path / "forecast-page.png"), full_page=True)

    forecast = download(page, "Download the forecast (CSV)").read_text(encoding="utf-8-sig").splitlines()
    assert forecast[0].startswith("unique_id,ds,snaive,") and ",tsfm," in forecast[0]
    assert len(forecast) == 1 + 28 * Workspace().list_datasets()[0].n_series  # the sidebar's default horizon
