"""Streamlit AppTest tests for the Seasonality page, on the demo shop and on a short weekly upload."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from conftest import REPO
from core.data.synthetic import generate_series
from core.datasets import DEMO_SALES, import_upload, load_demo_shop
from core.store import Workspace

PAGE = REPO / "pages" / "seasonality.py"
TIMEOUT = 120


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory):
    """One workspace holding the demo shop, shared by the tests here (the page only reads it)."""
    if not DEMO_SALES.exists():
        pytest.skip("demo_data/sales.csv.gz not generated")
    home = tmp_path_factory.mktemp("demo_workspace")
    load_demo_shop(Workspace(home))
    return home


@pytest.fixture
def on_demo(demo_home, monkeypatch):
    monkeypatch.setenv("STOCKPILOT_HOME", str(demo_home))


#: st.dataframe elements in page order (AppTest does not look dataframes up by key)
ANOMALIES, STRENGTH, EFFECTS = 0, 1, 2


def _page() -> AppTest:
    """The page on its own (app.py's sidebar and navigation are not needed to exercise it)."""
    return AppTest.from_file(str(PAGE), default_timeout=TIMEOUT)


def test_without_a_dataset_the_page_says_where_to_get_one():
    at = _page().run()
    assert not at.exception
    assert any("No dataset yet" in info.value for info in at.info)


def test_demo_shop_total_shows_chart_strength_table_event_effects_and_downloads(on_demo):
    at = _page().run()
    assert not at.exception and not at.error
    assert at.title[0].value == "Seasonality"
    assert at.selectbox(key="season_level").value == "Total"
    assert len(at.get("plotly_chart")) == 3  # decomposition, seasonal profile, event effects
    captions = " ".join(c.value for c in at.caption)
    assert "MSTL: weekly by STL, yearly by harmonic regression" in captions
    assert "149 series, most seasonal first" in captions
    strength = at.dataframe[STRENGTH].value
    assert len(strength) == 149
    assert strength[["weekly_strength", "yearly_strength"]].max(axis=1).dropna().is_monotonic_decreasing
    effects = at.dataframe[EFFECTS].value
    assert {"11.11 Singles' Day", "Spring Festival (Chinese New Year)"} <= set(effects["label"])
    assert len(at.get("download_button")) == 3


def test_switching_to_one_sku_and_filtering_the_strength_table(on_demo):
    at = _page().run()
    at.selectbox(key="season_level").set_value("SKU").run()
    at.selectbox(key="season_value_SKU").set_value("SNK-003 | tmall").run()
    assert not at.exception and not at.error
    assert len(at.get("plotly_chart")) == 3
    flags = at.dataframe[ANOMALIES].value
    assert set(flags["series"]) <= {"SNK-003 | tmall"}
    at.text_input(key="season_search").set_value("SNK-").run()
    strength = at.dataframe[STRENGTH].value
    assert len(strength) > 0 and strength["unique_id"].str.startswith("SNK-").all()
    at.toggle(key="season_only_unexplained").set_value(True).run()
    assert at.dataframe[ANOMALIES].value["anomaly"].all()


def test_a_category_of_one_channel_and_other_settings(on_demo):
    at = _page().run()
    at.selectbox(key="season_level").set_value("Category").run()
    at.selectbox(key="season_value_Category").set_value("snacks").run()
    at.multiselect(key="season_channels").set_value(["tmall"]).run()
    at.toggle(key="season_robust").set_value(False).run()
    at.radio(key="season_effects_by").set_value("channel").run()
    assert not at.exception and not at.error
    assert "robust" not in at.caption[0].value
    assert set(at.dataframe[EFFECTS].value["group"]) == {"app", "jd", "tmall"}


def test_a_short_weekly_dataset_explains_the_missing_yearly_cycle():
    data = generate_series(n_series=2, n_periods=60, freq="W", seed=3).to_csv(index=False).encode()
    outcome = import_upload(Workspace(), data, "weekly.csv", name="weekly")
    assert outcome.dataset is not None and outcome.dataset.freq == "W"
    at = _page().run()
    assert not at.exception and not at.error
    assert any("yearly cycle needs at least two years" in info.value for info in at.info)
    assert len(at.get("plotly_chart")) >= 1


def test_the_sidebars_weekly_view_decomposes_weeks(on_demo):
    at = _page()
    at.session_state["view_freq"] = "W"
    at.run()
    assert not at.exception and not at.error
    assert at.caption[0].value.startswith("Harmonic: yearly by harmonic regression")
    assert len(at.get("plotly_chart")) == 3
