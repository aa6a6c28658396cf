"""The Fine-tuning page in a real browser: on the demo shop, start a short fine-tuning, watch it train (also after
leaving the page and coming back), and read the comparison, the verdict and the training log at the end.

Uses the server and browser fixtures of ``test_browser`` (Debian's chromium through Playwright; skipped where
chromium is absent outside CI).
"""

from __future__ import annotations

import re

import pytest

from core.datasets import DEMO_SALES, load_demo_shop
from core.store import Workspace
from test_browser import dashboard, download, page  # noqa: F401 - fixtures (pytest finds them by name)

pytestmark = pytest.mark.browser
#: the whole fine-tuning, comparison included, must end within this
JOB_WAIT_MS = 180_000


@pytest.mark.skipif(not DEMO_SALES.exists(), reason="demo_data/sales.csv.gz not generated")
def test_a_fine_tuning_trains_in_the_background_and_ends_with_the_comparison(
    dashboard, page, workspace_home, tmp_path  # noqa: F811 - the imported fixtures
):
    load_demo_shop(Workspace(workspace_home))
    page.goto(f"{dashboard}/finetune")
    page.get_by_role("heading", name="Fine-tuning").wait_for()
    page.get_by_text("No fine-tuned versions yet").wait_for()

    form = page.locator('[data-testid="stForm"]')
    steps = form.get_by_label("Max steps", exact=True)
    steps.fill("30")
    steps.press("Tab")
    form.get_by_role("button", name="Fine-tune on my data").click()
    page.get_by_text("Fine-tuning started: version 'demo-shop-lora-").wait_for()
    page.get_by_text("already running").wait_for()  # the form is disabled meanwhile

    progress = page.locator('[data-testid="stProgress"]')
    progress.get_by_text(re.compile(r"Step [1-9]\d* of 30")).wait_for()  # training moves: the bar redraws itself
    page.screenshot(path=str(tmp_path / "finetune-running.png"))
    page.get_by_role("link", name="Forecast").first.click()  # keep working elsewhere ...
    page.get_by_text("No backtest for this dataset yet").wait_for()
    page.get_by_role("link", name="Fine-tuning").first.click()  # ... and come back: it is still there
    page.get_by_role("heading", name="Latest fine-tuning").wait_for()

    verdict = page.get_by_text(re.compile(r"^Fine-tuning (helped|made)"))
    verdict.wait_for(timeout=JOB_WAIT_MS)
    assert "zero-shot" in verdict.inner_text()
    page.get_by_text("finished").first.wait_for()
    chart = page.locator('[data-testid="stPlotlyChart"]').first
    chart.get_by_text("validation loss").wait_for()  # the loss chart's legend
    page.locator('[data-testid="stDataFrame"]').nth(1).wait_for()  # drawn by the full rerun after the job ended
    assert page.locator('[data-testid="stDataFrame"]').count() == 2  # the comparison and the versions
    assert page.locator('[data-testid="stProgress"]').count() == 0
    assert page.locator('[data-testid="stException"]').count() == 0
    page.screenshot(path=str(tmp_path / "finetune-page.png"), full_page=True)

    log = download(page, "Download the training log (CSV)").read_text().splitlines()
    assert log[0] == "step,epoch,lr,train_loss,validation_loss,best_validation_loss,elapsed_s"
    assert [int(row.split(",")[0]) for row in log[1:]] == [0, 20, 30]  # evaluated every 20 steps and at the end
