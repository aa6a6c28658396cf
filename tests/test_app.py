"""Streamlit AppTest smoke and behaviour tests for the Home and Data pages."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from conftest import REPO
from core import schema
from core.data.synthetic import generate_series
from core.datasets import DEMO_NAME, DEMO_SALES, import_upload
from core.store import Workspace

TIMEOUT = 120


def _app() -> AppTest:
    return AppTest.from_file(str(REPO / "app.py"), default_timeout=TIMEOUT)


def _save_small_dataset(name: str = "shop") -> str:
    data = generate_series(n_series=3, n_periods=90, seed=1).to_csv(index=False).encode()
    outcome = import_upload(Workspace(), data, f"{name}.csv", name=name)
    assert outcome.dataset is not None
    return outcome.dataset.id


def test_home_in_an_empty_workspace_offers_the_demo_and_the_flow():
    at = _app().run()
    assert not at.exception
    assert at.title[0].value == "StockPilot"
    flow = " ".join(m.value for m in at.markdown)
    assert "1. Data" in flow and "load the demo shop or upload" in flow
    assert at.button(key="load_demo")


@pytest.mark.skipif(not DEMO_SALES.exists(), reason="demo_data/sales.csv.gz not generated")
def test_home_loads_the_demo_shop_and_makes_it_current():
    at = _app().run()
    at.button(key="load_demo").click().run()
    assert not at.exception
    assert any("Demo shop loaded" in s.value for s in at.success)
    datasets = Workspace().list_datasets()
    assert [d.name for d in datasets] == [DEMO_NAME]
    assert datasets[0].n_series >= 60
    at.run()  # the sidebar now shows it
    assert at.selectbox(key="sidebar_dataset").value == datasets[0].id


def test_data_page_shows_report_chart_and_downloads_for_the_current_dataset():
    _save_small_dataset()
    at = _app().run()
    at.switch_page("pages/data.py").run()
    assert not at.exception
    assert any("Current dataset: shop" in h.value for h in at.subheader)
    assert any(schema.ACCEPT in s.value for s in [*at.success, *at.warning])
    assert len(at.get("plotly_chart")) == 1
    assert len(at.get("download_button")) == 2


def test_data_page_switches_the_chart_to_one_series():
    _save_small_dataset()
    at = _app().run()
    at.switch_page("pages/data.py").run()
    at.selectbox(key="current_level").set_value("SKU").run()
    assert not at.exception
    assert at.selectbox(key="current_series").value.startswith("SKU-")
    assert len(at.get("plotly_chart")) == 1


def test_data_page_renames_and_switches_datasets():
    first = _save_small_dataset("first")
    second = _save_small_dataset("second")
    at = _app().run()
    at.switch_page("pages/data.py").run()
    at.text_input(key=f"name_{first}").set_value("renamed").run()
    assert Workspace().get(first).name == "renamed"
    at.button(key=f"use_{first}").click().run()
    assert not at.exception
    assert any("Current dataset: renamed" in h.value for h in at.subheader)
    assert Workspace().get(second).name == "second"


def test_data_page_deletes_a_dataset_after_confirmation():
    dataset_id = _save_small_dataset()
    at = _app().run()
    at.switch_page("pages/data.py").run()
    at.button(key=f"delete_{dataset_id}").click().run()
    assert not at.exception
    assert Workspace().list_datasets() == []
    assert any("No dataset yet" in i.value for i in at.info)
