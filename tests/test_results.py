"""Saved forecast runs (core.results): round trip, keys, orphans, and the tables and fan-chart data pages show."""

from __future__ import annotations

import os
import time

import numpy as np
import pandas as pd
import pytest

from core import schema
from core.backtest import AUTO, CUTOFF
from core.data.synthetic import generate_series
from core.data.validate import load_sales
from core.history import TOTAL
from core.plots import fan_figure
from core.results import (
    FAN_POINT,
    FanData,
    ResultStore,
    auto_choice_table,
    backtest_config,
    band_columns,
    compute_run,
    downloadable,
    fan_data,
    forecast_config,
    forecast_models,
    leaderboard_table,
    level_members,
    member_series,
    run_key,
    segment_kinds,
    segment_table,
)
from core.segments import segment_series
from core.store import REPAIR_MIN_AGE_S

DATASET, CREATED = "shop1", "2024-05-01T10:00:00+00:00"


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    raw = generate_series(n_series=6, n_periods=120, seed=3)
    return load_sales(raw.to_csv(index=False).encode(), filename="sales.csv").frame


@pytest.fixture(scope="module")
def run(frame):
    config = backtest_config(frame, h=7, n_windows=2, models=("snaive", "ets"), freq=schema.DAILY)
    return compute_run(frame, config, DATASET, CREATED)


def test_a_run_round_trips_through_the_workspace(run, tmp_path):
    store = ResultStore(tmp_path)
    assert not store.exists(DATASET, run.info.key)
    saved = store.save(run)
    assert saved.saved_at and store.exists(DATASET, run.info.key)
    loaded = store.load(DATASET, run.info.key)
    assert loaded.info == saved
    assert loaded.info.config == run.info.config and loaded.backtest.config == run.backtest.config
    for name in ("results", "leaderboard", "by_segment", "segments", "auto_choice"):
        pd.testing.assert_frame_equal(getattr(loaded.backtest, name), getattr(run.backtest, name),
                                      check_dtype=False, check_index_type=False, obj=name)
    pd.testing.assert_frame_equal(loaded.forecast, run.forecast, check_dtype=False)
    assert loaded.backtest.seconds == pytest.approx(run.backtest.seconds)
    assert loaded.backtest.freq == schema.DAILY
    assert [r.key for r in store.list_runs(DATASET)] == [run.info.key]
    assert store.latest(DATASET, CREATED).key == run.info.key
    assert store.latest(DATASET, "2024-06-01T00:00:00+00:00") is None  # a newer upload under the same id


def test_saving_the_same_settings_again_replaces_the_run(run, tmp_path):
    store = ResultStore(tmp_path)
    store.save(run)
    store.save(run)
    folder = tmp_path / "results" / DATASET
    assert sorted(p.name for p in folder.iterdir()) == [run.info.key]


def test_the_key_is_stable_and_changes_with_data_and_settings(frame):
    config = backtest_config(frame, 7, 2, ("snaive", "ets"), schema.DAILY)
    key = run_key(DATASET, CREATED, config)
    assert key == run_key(DATASET, CREATED, backtest_config(frame, 7, 2, ("snaive", "ets"), schema.DAILY))
    others = {
        run_key("shop2", CREATED, config),
        run_key(DATASET, "2024-05-02T10:00:00+00:00", config),
        run_key(DATASET, CREATED, backtest_config(frame, 14, 2, ("snaive", "ets"), schema.DAILY)),
        run_key(DATASET, CREATED, backtest_config(frame, 7, 3, ("snaive", "ets"), schema.DAILY)),
        run_key(DATASET, CREATED, backtest_config(frame, 7, 2, ("snaive",), schema.DAILY)),
    }
    assert key not in others and len(others) == 5


def test_the_future_forecast_uses_the_backtest_models_and_auto(run, frame):
    config = run.info.config
    assert config.known_future == (schema.PROMO, schema.PRICE)  # the planned columns this data has
    assert forecast_config(config).models == ("snaive", "ets", AUTO)
    forecast = run.forecast
    assert len(forecast) == 7 * frame[schema.UNIQUE_ID].nunique()
    assert (forecast[schema.DS] > frame[schema.DS].max()).all()
    chosen = run.backtest.auto_choice.set_index("segment")["model"]
    expected = segment_series(frame, schema.DAILY)["segment"].map(chosen)  # today's segments pick the model
    by_series = forecast.groupby(schema.UNIQUE_ID)["auto_model"].first()
    assert (by_series == expected.reindex(by_series.index)).all()
    assert forecast_models(run) == [AUTO, "snaive", "ets"]


def test_one_model_runs_without_auto(frame):
    config = backtest_config(frame, 7, 1, ("snaive",), schema.DAILY)
    assert forecast_config(config).models == ("snaive",)
    single = compute_run(frame, config, DATASET, CREATED)
    assert forecast_models(single) == ["snaive"]
    assert single.backtest.auto_choice.empty


def test_progress_runs_from_zero_to_one(frame):
    seen = []
    config = backtest_config(frame, 7, 1, ("snaive", "ets"), schema.DAILY)
    compute_run(frame, config, DATASET, CREATED, progress=lambda fraction, message: seen.append(fraction))
    assert seen[0] == 0.0 and seen[-1] == pytest.approx(1.0)
    assert seen == sorted(seen)


def test_orphans_and_stale_leftovers_are_removed(run, tmp_path):
    store = ResultStore(tmp_path)
    store.save(run)
    leftover = tmp_path / "results" / DATASET / ".tmp-abandoned"
    leftover.mkdir()
    fresh = tmp_path / "results" / DATASET / ".tmp-being-written"
    fresh.mkdir()
    past = time.time() - REPAIR_MIN_AGE_S - 5
    os.utime(leftover, (past, past))
    assert store.remove_orphans([DATASET]) == [str(leftover)]
    assert store.exists(DATASET, run.info.key) and fresh.exists()

    os.utime(tmp_path / "results" / DATASET, (past, past))
    store.remove_orphans(["another"])  # the dataset was deleted
    assert not (tmp_path / "results" / DATASET).exists()


def test_names_that_could_leave_the_results_folder_are_refused(tmp_path):
    with pytest.raises(ValueError, match="Invalid dataset id"):
        ResultStore(tmp_path).exists("../etc", "abc")


def test_fan_data_of_one_series_is_its_own_forecast(run, frame):
    series_id = min(frame[schema.UNIQUE_ID].unique())
    fan = fan_data(frame, run, [series_id], "ets")
    own = run.forecast.loc[run.forecast[schema.UNIQUE_ID] == series_id]
    np.testing.assert_allclose(fan.future[FAN_POINT], own["ets"])
    lower, upper = band_columns(80)
    np.testing.assert_allclose(fan.future[lower], own["ets-q10"])
    np.testing.assert_allclose(fan.future[upper], own["ets-q90"])
    assert fan.n_series == 1
    assert fan.backtest[CUTOFF].nunique() == 2
    assert fan.history[schema.DS].min() <= fan.backtest[schema.DS].min()  # the actuals behind the backtest
    assert fan.history[schema.DS].max() == frame[schema.DS].max()


def test_fan_data_of_the_total_sums_points_and_quantiles(run, frame):
    ids = member_series(frame, TOTAL, TOTAL)
    assert level_members(frame, TOTAL) == [TOTAL] and len(ids) == frame[schema.UNIQUE_ID].nunique()
    fan = fan_data(frame, run, ids, AUTO, with_backtest=False)
    per_day = run.forecast.groupby(schema.DS)[[AUTO, "auto-q2.5", "auto-q97.5"]].sum()
    np.testing.assert_allclose(fan.future[FAN_POINT], per_day[AUTO])
    lower, upper = band_columns(95)
    np.testing.assert_allclose(fan.future[lower], per_day["auto-q2.5"])
    np.testing.assert_allclose(fan.future[upper], per_day["auto-q97.5"])
    assert fan.backtest.empty
    history = frame.groupby(schema.DS)[schema.Y].sum().tail(len(fan.history))
    np.testing.assert_allclose(fan.history[schema.Y], history)


def test_members_of_a_channel(frame):
    channels = level_members(frame, "Channel")
    assert channels == sorted(frame[schema.CHANNEL].unique())
    ids = member_series(frame, "Channel", channels[0])
    assert set(frame.loc[frame[schema.UNIQUE_ID].isin(ids), schema.CHANNEL]) == {channels[0]}


def test_fan_figure_draws_history_bands_point_and_backtest(run, frame):
    fan = fan_data(frame, run, member_series(frame, TOTAL, TOTAL), "ets")
    figure = fan_figure(fan, title="Total", model_label="Exponential smoothing (ETS)")
    names = [trace.name for trace in figure.data]
    assert {"actual", "80% band", "95% band", "Exponential smoothing (ETS)", "backtest forecast"} <= set(names)
    assert sum(trace.name == "backtest forecast" for trace in figure.data) == 2  # one line per window
    assert sum(bool(trace.showlegend) for trace in figure.data if trace.name == "backtest forecast") == 1
    point = next(trace for trace in figure.data if trace.name == "Exponential smoothing (ETS)")
    np.testing.assert_allclose(point.y, fan.future[FAN_POINT])
    assert figure.layout.title.text == "Total"


def test_fan_figure_without_quantiles_or_backtest_draws_no_band():
    dates = pd.date_range("2024-01-01", periods=10)
    history = pd.DataFrame({schema.DS: dates[:7], schema.Y: np.arange(7.0)})
    future = pd.DataFrame({schema.DS: dates[7:], FAN_POINT: [5.0, 6.0, 7.0],
                           **{c: np.nan for level in (80, 95) for c in band_columns(level)}})
    figure = fan_figure(FanData(history, future, pd.DataFrame(), 1))
    assert [trace.name for trace in figure.data] == ["actual", "forecast"]


def test_planner_tables(run):
    board = leaderboard_table(run.backtest.leaderboard)
    assert list(board.columns) == ["Model", "MASE", "relMASE", "WAPE", "Bias", "WQL", "80% coverage",
                                   "95% coverage", "Seconds"]
    assert set(board["Model"]) == {"Seasonal naive", "Exponential smoothing (ETS)", "Auto (best model per segment)"}
    assert board["MASE"].is_monotonic_increasing  # best first
    choice = auto_choice_table(run.backtest.auto_choice)
    assert list(choice.columns) == ["Segment", "Series", "Model"] and choice["Series"].sum() == 6
    kinds = segment_kinds(run.backtest.by_segment)
    assert kinds[:3] == ["ABC", "XYZ", "ABC-XYZ"] and "Channel" in kinds
    channel = segment_table(run.backtest.by_segment, "Channel")
    assert list(channel.columns[:3]) == ["Channel", "Model", "Series"]
    assert len(channel) == 3 * channel["Channel"].nunique()


def test_downloads_round_numbers_and_keep_dates(run):
    table = downloadable(run.forecast)
    assert (table["ets"] == table["ets"].round(4)).all()
    assert table[schema.DS].equals(run.forecast[schema.DS])
