"""The Explain page in a real browser: on the demo shop, wait for LightGBM's explanation of the default sample, read
the waterfall and the sentence, pick another SKU and download the contributions.

Uses the server and browser fixtures of ``test_browser`` (Debian's chromium through Playwright; skipped where
chromium is absent outside CI).
"""

from __future__ import annotations

import pytest

from core import schema
from core.datasets import DEMO_SALES, load_demo_shop
from core.explain import sample_ids
from core.explain_text import DEFAULT_SAMPLE
from core.plots_explain import START_LABEL
from core.store import Workspace
from test_browser import dashboard, download, page, wait_until_idle  # noqa: F401 - fixtures (pytest finds them by name)

pytestmark = pytest.mark.browser
#: fitting LightGBM on the demo shop's 149 series and explaining 40 of them takes 30-60 s on two idle cores
EXPLAIN_WAIT_MS = 300_000


@pytest.mark.skipif(not DEMO_SALES.exists(), reason="demo_data/sales.csv.gz not generated")
def test_explain_page_draws_the_waterfall_and_the_sentence_and_downloads_the_contributions(
    dashboard, page, workspace_home, tmp_path  # noqa: F811 - the imported fixtures
):
    workspace = Workspace(workspace_home)
    info = load_demo_shop(workspace)
    ids = workspace.load_frame(info.id)[schema.UNIQUE_ID].unique()
    explained = sorted(sample_ids(ids, DEFAULT_SAMPLE, seed=0))  # what the page explains, as its picker lists it
    page.goto(f"{dashboard}/explain")
    page.get_by_role("heading", name="Explain").wait_for()
    page.get_by_text("The model expects").wait_for(timeout=EXPLAIN_WAIT_MS)
    page.get_by_text(f"Explained for {DEFAULT_SAMPLE} of {info.n_series} series (a random sample").wait_for()
    waterfall = page.locator('[data-testid="stPlotlyChart"]').filter(has_text=START_LABEL)
    waterfall.get_by_text(f"{explained[0]} on ", exact=False).wait_for()  # its title names the first SKU
    assert page.locator('[data-testid="stPlotlyChart"]').count() == 4

    other = explained[1]
    picker = page.locator('[data-testid="stSelectbox"]').filter(has_text="SKU")
    picker.click()
    page.keyboard.type(other)
    page.get_by_role("option", name=other, exact=True).click()
    waterfall.get_by_text(f"{other} on ", exact=False).wait_for()  # the waterfall redrew for this SKU
    page.get_by_text("The model expects").wait_for()
    wait_until_idle(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    page.screenshot(path=str(tmp_path / "explain.png"), full_page=True)

    lines = download(page, "Download the contributions (CSV)").read_text(encoding="utf-8-sig").splitlines()
    assert lines[0] == "unique_id,ds,feature,contribution"
    assert any(line.startswith(f"{other},") and ",base_value," in line for line in lines)
    assert len({line.split(",")[0] for line in lines[1:]}) == DEFAULT_SAMPLE
