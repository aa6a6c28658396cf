"""The Seasonality page in a real browser: opened by its URL on the demo shop, it draws the decomposition chart.

Uses the server and browser fixtures of ``test_browser`` (Debian's chromium through Playwright; skipped where
chromium is absent outside CI).
"""

from __future__ import annotations

import pytest

from conftest import REPO
from core.datasets import DEMO_SALES, load_demo_shop
from core.store import Workspace
from test_browser import dashboard, page  # noqa: F401 - fixtures (pytest finds them by name)

pytestmark = pytest.mark.browser
if "pages/seasonality.py" not in (REPO / "app.py").read_text(encoding="utf-8"):
    pytest.skip("app.py does not list pages/seasonality.py in st.navigation yet", allow_module_level=True)


@pytest.mark.skipif(not DEMO_SALES.exists(), reason="demo_data/sales.csv.gz not generated")
def test_seasonality_page_opens_on_the_demo_shop_and_draws_the_chart(
    dashboard, page, workspace_home, tmp_path  # noqa: F811 - the imported fixtures
):
    load_demo_shop(Workspace(workspace_home))
    page.goto(f"{dashboard}/seasonality")
    page.get_by_role("heading", name="Seasonality").wait_for()
    chart = page.locator('[data-testid="stPlotlyChart"]').first
    chart.wait_for()
    assert chart.locator(".main-svg").count() >= 1  # plotly drew it
    page.get_by_text("Seasonality of every series").wait_for()
    page.get_by_text("Event effects").first.wait_for()
    assert page.locator('[data-testid="stException"]').count() == 0
    page.screenshot(path=str(tmp_path / "seasonality.png"), full_page=True)
