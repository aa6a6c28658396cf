"""The Replenishment page in a real browser: on the demo shop, use its snapshot, make the plan with the seasonal
naive model, try a budget, and download the plan as XLSX (opened with openpyxl).

Uses the server and browser fixtures of ``test_browser`` (Debian's chromium through Playwright; skipped where
chromium is absent outside CI).
"""

from __future__ import annotations

from io import BytesIO

import pytest

from core.datasets import DEMO_SALES, load_demo_shop
from core.models import label_of
from core.plan_export import FORECAST_SHEET, ISSUES_SHEET, PARAMETERS_SHEET, PLAN_SHEET, PRIORITY_SHEET
from core.store import Workspace
from test_browser import dashboard, download, page, wait_until_idle  # noqa: F401 - fixtures (pytest finds them by name)

pytestmark = pytest.mark.browser


@pytest.mark.skipif(not DEMO_SALES.exists(), reason="demo_data/sales.csv.gz not generated")
def test_the_demo_snapshot_becomes_a_plan_and_an_xlsx(dashboard, page, workspace_home, tmp_path):  # noqa: F811
    from openpyxl import load_workbook

    info = load_demo_shop(Workspace(workspace_home))
    page.goto(f"{dashboard}/replenishment")
    page.get_by_role("heading", name="Replenishment").wait_for()
    page.get_by_role("button", name="Use the demo shop's snapshot").click()
    page.get_by_text("From the demo shop's snapshot").wait_for()
    page.locator('[data-testid="stDataFrame"]').first.wait_for()

    form = page.locator('[data-testid="stForm"]').first
    form.locator('[data-testid="stSelectbox"]').filter(has_text="Forecasting model").click()
    page.keyboard.type("Seasonal")
    page.get_by_role("option", name=label_of("snaive"), exact=True).click()
    form.get_by_role("button", name="Make the plan").click()
    page.get_by_text("Units to order").wait_for()
    page.get_by_text("orders first, the riskiest first").wait_for()
    page.locator('[data-testid="stPlotlyChart"]').filter(has_text="Order value by category").wait_for()
    page.locator('[data-testid="stPlotlyChart"]').filter(has_text="Stockout risk against days of cover").wait_for()

    budget = page.get_by_role("spinbutton", name="Budget (blank: no limit)")
    budget.fill("5000")
    budget.press("Enter")
    page.get_by_text("Spent of the budget").wait_for()
    wait_until_idle(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    page.screenshot(path=str(tmp_path / "replenishment.png"), full_page=True)

    workbook = load_workbook(BytesIO(download(page, "Download the plan (XLSX)").read_bytes()))
    assert workbook.sheetnames == [PLAN_SHEET, PRIORITY_SHEET, FORECAST_SHEET, PARAMETERS_SHEET, ISSUES_SHEET]
    plan = workbook[PLAN_SHEET]
    header = [cell.value for cell in plan[1]]
    assert header[:4] == ["Series", "SKU", "Channel", "Category"]
    assert "Order qty within budget" in header and "Stockout risk before arrival" in header
    assert plan.max_row == 1 + info.n_series  # every sales series (three are not in the snapshot)
    first = dict(zip(header, (cell.value for cell in plan[2])))
    assert first["Status"] == "order now" and first["Order qty"] > 0 and first["SKU"] in first["Series"]
    parameters = {row[0].value: row[1].value for row in workbook[PARAMETERS_SHEET].iter_rows(min_row=2)}
    assert parameters["Forecasting model"] == label_of("snaive") and parameters["Budget"] == "5000.0"
