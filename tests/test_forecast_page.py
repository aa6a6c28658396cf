"""AppTest tests of the Forecast page: backtest, leaderboard, fan chart, segments, downloads, errors, no reruns."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

import core.results
from conftest import REPO
from core.data.synthetic import generate_series
from core.datasets import DEMO_SALES, import_upload, load_demo_shop
from core.results import ResultStore
from core.store import Workspace

TIMEOUT = 120
needs_demo = pytest.mark.skipif(not DEMO_SALES.exists(), reason="demo_data/sales.csv.gz not generated")


def _forecast_page() -> AppTest:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=TIMEOUT).run()
    at.switch_page("pages/forecast.py").run()
    return at


@pytest.fixture
def backtests(monkeypatch) -> list[int]:
    """Counts the backtests the page starts (each call appends its number of models)."""
    calls: list[int] = []
    real = core.results.cross_validation

    def counted(df, config, progress=None):
        calls.append(len(config.models))
        return real(df, config, progress)

    monkeypatch.setattr(core.results, "cross_validation", counted)
    return calls


def _run_small_backtest(at: AppTest, windows: int = 1) -> AppTest:
    at.number_input(key="horizon_D").set_value(7).run()
    at.multiselect(key="forecast_models").set_value(["snaive", "ets"])
    at.number_input(key="forecast_windows").set_value(windows)
    return at.button(key="run_backtest").click().run()


def test_without_a_dataset_the_page_points_to_the_data_page():
    at = _forecast_page()
    assert not at.exception
    assert any("No dataset yet" in i.value and "Data page" in i.value for i in at.info)
    assert not at.get("plotly_chart")


@needs_demo
def test_a_small_backtest_shows_leaderboard_fan_chart_segments_and_downloads(backtests):
    info = load_demo_shop(Workspace())
    at = _forecast_page()
    assert any("No backtest for this dataset yet" in i.value for i in at.info)
    assert at.multiselect(key="forecast_models").value == ["snaive", "ets", "tsb", "lgbm", "tsfm"]

    _run_small_backtest(at)
    assert not at.exception and not at.error
    assert backtests == [2]
    board = at.dataframe[0].value
    assert set(board["Model"]) == {"Seasonal naive", "Exponential smoothing (ETS)", "Auto (best model per segment)"}
    assert any("below 1 beats it" in c.value for c in at.caption)
    assert len(at.get("plotly_chart")) == 1
    assert at.selectbox(key="fan_model").value == "auto"
    assert any("cautious (wide)" in c.value for c in at.caption)  # the total is an aggregate
    assert "ABC" in at.dataframe[-1].value.columns
    assert len(at.get("download_button")) == 2
    assert len(ResultStore(Workspace().root).list_runs(info.id)) == 1


@needs_demo
def test_changing_the_view_never_reruns_the_backtest(backtests):
    load_demo_shop(Workspace())
    at = _run_small_backtest(_forecast_page())
    at.selectbox(key="fan_level").set_value("Channel").run()
    at.selectbox(key="fan_member_Channel").set_value("jd").run()
    at.selectbox(key="fan_model").set_value("snaive").run()
    at.checkbox(key="fan_backtest").uncheck().run()
    at.selectbox(key="segment_kind").set_value("Channel").run()
    at.number_input(key="horizon_D").set_value(14).run()  # a new horizon waits for the next Run backtest
    assert not at.exception and not at.error
    assert len(at.get("plotly_chart")) == 1
    assert "Channel" in at.dataframe[-1].value.columns
    assert backtests == [2]

    at.selectbox(key="fan_level").set_value("SKU").run()
    series = at.selectbox(key="fan_member_SKU")
    assert series.value in series.options
    assert len(at.get("plotly_chart")) == 1 and backtests == [2]


@needs_demo
def test_a_saved_run_is_loaded_from_disk_in_a_new_session_and_reused_for_the_same_settings(backtests):
    load_demo_shop(Workspace())
    _run_small_backtest(_forecast_page())
    assert backtests == [2]

    at = _forecast_page()  # a new browser session
    assert not at.exception
    assert at.dataframe[0].value["Model"].iloc[0]
    assert len(at.get("plotly_chart")) == 1
    _run_small_backtest(at)  # the same settings on the same data
    assert not at.exception and backtests == [2]


def test_too_little_history_is_explained(backtests):
    data = generate_series(n_series=3, n_periods=60, seed=1).to_csv(index=False).encode()
    import_upload(Workspace(), data, "short.csv", name="short")
    at = _forecast_page()
    at.number_input(key="horizon_D").set_value(28).run()
    at.number_input(key="forecast_windows").set_value(5)
    at.button(key="run_backtest").click().run()
    assert not at.exception
    assert any("Too little history" in e.value and "fewer windows" in e.value for e in at.error)
    assert any("No backtest for this dataset yet" in i.value for i in at.info)


def test_no_models_chosen_is_explained():
    data = generate_series(n_series=3, n_periods=60, seed=1).to_csv(index=False).encode()
    import_upload(Workspace(), data, "short.csv", name="short")
    at = _forecast_page()
    at.multiselect(key="forecast_models").set_value([])
    at.button(key="run_backtest").click().run()
    assert any("No models to backtest" in e.value for e in at.error)


def test_a_one_model_backtest_has_no_auto_and_home_shows_the_step_done(backtests):
    data = generate_series(n_series=4, n_periods=120, seed=2).to_csv(index=False).encode()
    import_upload(Workspace(), data, "small.csv", name="small")
    at = _run_small_backtest(_forecast_page())
    assert at.selectbox(key="fan_model").value == "auto"
    at.multiselect(key="forecast_models").set_value(["snaive"])
    at.button(key="run_backtest").click().run()
    assert not at.exception and not at.error and backtests == [2, 1]
    assert at.selectbox(key="fan_model").options == ["Seasonal naive"]
    assert "Model Auto uses per segment" not in [e.label for e in at.expander]

    home = AppTest.from_file(str(REPO / "app.py"), default_timeout=TIMEOUT).run()
    assert any("2. Forecast** — backtested 1 model(s)" in m.value for m in home.markdown)
