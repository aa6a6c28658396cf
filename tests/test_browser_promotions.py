"""The Promotions page in a real browser: on the demo shop, wait for the analysis, pick an episode and download the
episode table.

Uses the server and browser fixtures of ``test_browser`` (Debian's chromium through Playwright; skipped where
chromium is absent outside CI).
"""

from __future__ import annotations

import pytest

from core.datasets import DEMO_SALES, load_demo_shop
from core.store import Workspace
from test_browser import dashboard, download, page, wait_until_idle  # noqa: F401 - fixtures (pytest finds them by name)

pytestmark = pytest.mark.browser
#: the analysis of the demo shop's 149 series takes 20-40 s on two cores; allow for a busy machine
ANALYSIS_WAIT_MS = 240_000
EPISODE = "SNK-003 | tmall #2"


@pytest.mark.skipif(not DEMO_SALES.exists(), reason="demo_data/sales.csv.gz not generated")
def test_promotions_page_measures_the_demo_shop_and_downloads_the_episodes(
    dashboard, page, workspace_home, tmp_path  # noqa: F811 - the imported fixtures
):
    load_demo_shop(Workspace(workspace_home))
    page.goto(f"{dashboard}/promotions")
    page.get_by_role("heading", name="Promotions").wait_for()
    page.get_by_role("heading", name="Episodes").wait_for(timeout=ANALYSIS_WAIT_MS)
    page.locator('[data-testid="stDataFrame"]').first.wait_for()
    chart = page.locator('[data-testid="stPlotlyChart"]').first
    chart.get_by_text("without the promotion", exact=True).wait_for()  # the effect chart's legend
    page.get_by_text("fake promotions were placed").wait_for()
    assert page.locator('[data-testid="stMetric"]').count() == 4

    picker = page.locator('[data-testid="stSelectbox"]').filter(has_text="Episode")
    picker.click()
    page.keyboard.type(EPISODE)
    page.get_by_role("option", name=EPISODE, exact=False).first.click()
    page.get_by_text(f"Promotion {EPISODE} (12 Feb 2025 to 17 Feb 2025").wait_for()
    chart.get_by_text(EPISODE, exact=True).wait_for()  # the effect chart's title: it redrew for this episode
    wait_until_idle(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    page.screenshot(path=str(tmp_path / "promotions.png"), full_page=True)

    lines = download(page, "Download the episodes (CSV)").read_text(encoding="utf-8-sig").splitlines()
    header = lines[0].split(",")
    assert {"unique_id", "start", "end", "incremental_units", "uplift_pct", "uplift_lo", "uplift_hi"} <= set(header)
    assert len(lines) > 100 and any(line.startswith(f"{EPISODE},") for line in lines)
