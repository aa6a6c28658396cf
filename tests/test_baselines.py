"""Seasonal naive, ETS and TSB: the forecaster contract, and that each recovers what was planted in the data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core import schema
from core.data.synthetic import generate_series
from core.models import DEFAULT_QUANTILES, LABELS, make_model
from core.models.baselines import ETS, TSB, SeasonalNaive

MODELS = (SeasonalNaive, ETS, TSB)


def long_frame(values: np.ndarray, start: str = "2024-01-01", freq: str = "D") -> pd.DataFrame:
    """A core long frame from ``(n_series, n_periods)`` values (NaN rows are dropped: not in the upload)."""
    n_series, n_periods = values.shape
    dates = pd.date_range(start, periods=n_periods, freq=freq)
    frame = pd.DataFrame({
        schema.UNIQUE_ID: np.repeat([f"S{i:03d}" for i in range(n_series)], n_periods),
        schema.DS: np.tile(dates.values, n_series),
        schema.Y: values.ravel(),
    })
    return frame.dropna(subset=[schema.Y]).reset_index(drop=True)


def synthetic_frame(n_series: int = 3, n_periods: int = 120, freq: str = schema.DAILY, seed: int = 0) -> pd.DataFrame:
    sales = generate_series(n_series=n_series, n_periods=n_periods, freq=freq, seed=seed)
    return pd.DataFrame({schema.UNIQUE_ID: sales[schema.SKU], schema.DS: sales[schema.DATE],
                         schema.Y: sales[schema.UNITS].astype(float)})


def simulate_ets(n_series: int, n_periods: int, alpha: float, gamma: float, sigma: float, seed: int) -> np.ndarray:
    """Additive-error level + weekly seasonal (ANA) paths around a level of 100."""
    rng = np.random.default_rng(seed)
    level = np.full(n_series, 100.0)
    season = rng.normal(0, 10, (n_series, 7))
    season -= season.mean(axis=1, keepdims=True)
    values = np.empty((n_series, n_periods))
    for t in range(n_periods):
        error = rng.normal(0, sigma, n_series)
        values[:, t] = level + season[:, t % 7] + error
        level += alpha * error
        season[:, t % 7] += gamma * error
    return values


# --- the contract every baseline keeps --------------------------------------------------------------------------------

@pytest.mark.parametrize("model_class", MODELS)
def test_forecast_frame_follows_the_contract(model_class):
    train = synthetic_frame(n_series=3, n_periods=120)
    forecast = model_class().fit(train).predict(14)
    name = model_class.name
    assert len(forecast) == 14 * 3
    quantile_columns = [schema.quantile_column(name, q) for q in DEFAULT_QUANTILES]
    assert list(forecast.columns) == [schema.UNIQUE_ID, schema.DS, name, *quantile_columns]
    assert quantile_columns[0] == f"{name}-q2.5" and quantile_columns[-1] == f"{name}-q97.5"
    assert (forecast[schema.DS] > train[schema.DS].max()).all()
    assert (forecast.groupby(schema.UNIQUE_ID)[schema.DS].diff().dropna() == pd.Timedelta(days=1)).all()
    table = forecast[quantile_columns].to_numpy()
    assert np.all(np.diff(table, axis=1) >= 0), "quantiles cross"
    assert not forecast.isna().any().any()
    assert (forecast[[name, *quantile_columns]] >= 0).all().all()


@pytest.mark.parametrize("model_class", MODELS)
def test_awkward_series_give_finite_non_negative_forecasts(model_class):
    rng = np.random.default_rng(1)
    values = rng.poisson(8, (6, 150)).astype(float)
    values[0] = 0.0  # never sold
    values[1, :-5] = np.nan  # five days of history
    values[2, rng.random(150) < 0.3] = np.nan  # unobserved days throughout
    values[3, :100] = np.nan  # starts late
    values[4, 120:] = np.nan  # ended a month ago: read as 0 units since
    values[5] = np.where(rng.random(150) < 0.1, 3.0, 0.0)  # intermittent
    frame = long_frame(values)
    forecast = model_class().fit(frame).predict(28)
    assert len(forecast) == 6 * 28
    assert not forecast.isna().any().any()
    assert (forecast.iloc[:, 2:] >= 0).all().all()
    never_sold = forecast[forecast[schema.UNIQUE_ID] == "S000"]
    assert (never_sold.iloc[:, 2:] == 0).all().all()


@pytest.mark.parametrize("name", ["snaive", "ets", "tsb"])
def test_registry_makes_the_baselines(name):
    model = make_model(name, season_length=7)
    assert model.name == name and model.label == LABELS[name]
    assert model.season_length == 7


@pytest.mark.parametrize("model_class", MODELS)
def test_weekly_data(model_class):
    train = synthetic_frame(n_series=2, n_periods=160, freq=schema.WEEKLY, seed=4)
    forecast = model_class().fit(train).predict(12)
    assert len(forecast) == 2 * 12
    steps = forecast.groupby(schema.UNIQUE_ID)[schema.DS].diff().dropna()
    assert (steps == pd.Timedelta(days=7)).all()
    assert forecast[schema.DS].min() == train[schema.DS].max() + pd.Timedelta(days=7)
    assert not forecast.isna().any().any()


@pytest.mark.parametrize("model_class", MODELS)
def test_count_data_get_whole_unit_quantiles(model_class):
    counts = synthetic_frame(n_series=2, n_periods=120)
    amounts = counts.assign(**{schema.Y: counts[schema.Y] * 1.37})
    column = schema.quantile_column(model_class.name, 0.9)
    whole = model_class().fit(counts).predict(7)[column]
    fractional = model_class().fit(amounts).predict(7)[column]
    assert (whole == np.round(whole)).all()
    assert (fractional != np.round(fractional)).any()


# --- seasonal naive -----------------------------------------------------------------------------------------------

def test_seasonal_naive_repeats_the_last_season():
    values = np.random.default_rng(2).uniform(0, 50, (2, 40))
    values[1, -3] = np.nan  # not observed: the same weekday a week earlier stands in
    forecast = SeasonalNaive().fit(long_frame(values)).predict(14)
    point = forecast["snaive"].to_numpy().reshape(2, 14)
    np.testing.assert_allclose(point[0], np.tile(values[0, -7:], 2))
    expected = values[1, -7:].copy()
    expected[4] = values[1, -10]
    np.testing.assert_allclose(point[1], np.tile(expected, 2))


def test_seasonal_naive_intervals_widen_by_season():
    values = np.random.default_rng(3).normal(100, 10, (1, 200))
    forecast = SeasonalNaive().fit(long_frame(values)).predict(14)
    width = (forecast["snaive-q90"] - forecast["snaive-q10"]).to_numpy()
    np.testing.assert_allclose(width[7:], width[:7] * np.sqrt(2))


# --- ETS ------------------------------------------------------------------------------------------------------------

def test_ets_recovers_a_level():
    values = 50 + np.random.default_rng(4).normal(0, 1, (1, 200))
    model = ETS().fit(long_frame(values))
    point = model.predict(28)["ets"].to_numpy()
    np.testing.assert_allclose(point, 50, atol=1.0)
    assert model.model_[0] == "ANN"


def test_ets_recovers_a_trend():
    t = np.arange(200)
    values = (10 + 0.5 * t + np.random.default_rng(5).normal(0, 0.5, 200))[None, :]
    model = ETS().fit(long_frame(values))
    point = model.predict(28)["ets"].to_numpy()
    np.testing.assert_allclose(point, 10 + 0.5 * np.arange(200, 228), rtol=0.02)
    assert model.model_[0] in ("AAN", "AAdN")


def test_ets_finds_the_weekly_pattern():
    weekday = np.array([0, 0, 5, 5, 10, 30, -50])
    values = (100 + np.tile(weekday, 30) + np.random.default_rng(6).normal(0, 2, 210))[None, :]
    model = ETS().fit(long_frame(values))
    point = model.predict(14)["ets"].to_numpy()
    np.testing.assert_allclose(point, 100 + np.tile(weekday, 2), atol=3.0)
    assert model.model_[0] in ("ANA", "AAA", "AAdA")


def test_ets_80_percent_band_holds_about_80_percent_of_simulated_ets_data():
    values = simulate_ets(n_series=300, n_periods=228, alpha=0.2, gamma=0.05, sigma=5.0, seed=7)
    frame = long_frame(values)
    cutoff = frame[schema.DS].unique()[199]
    forecast = ETS().fit(frame[frame[schema.DS] <= cutoff]).predict(28)
    actual = frame[frame[schema.DS] > cutoff].merge(forecast, on=[schema.UNIQUE_ID, schema.DS])
    inside = (actual[schema.Y] >= actual["ets-q10"]) & (actual[schema.Y] <= actual["ets-q90"])
    assert inside.mean() == pytest.approx(0.8, abs=0.06)


def test_ets_skips_unobserved_periods():
    values = 30 + np.random.default_rng(8).normal(0, 1, (1, 120))
    gappy = values.copy()
    gappy[0, 40:70] = np.nan
    point = ETS().fit(long_frame(gappy)).predict(7)["ets"].to_numpy()
    np.testing.assert_allclose(point, 30, atol=1.5)


# --- TSB ------------------------------------------------------------------------------------------------------------

def test_tsb_forecasts_rate_times_size_on_intermittent_demand():
    rng = np.random.default_rng(9)
    sale = rng.random((40, 600)) < 0.2
    values = np.where(sale, 1 + rng.poisson(4, (40, 600)), 0).astype(float)  # mean 0.2 x 5 = 1.0
    model = TSB().fit(long_frame(values))
    forecast = model.predict(28)
    assert forecast["tsb"].mean() == pytest.approx(1.0, rel=0.1)
    assert (forecast["tsb-q50"] == 0).all()  # most days have no sale
    assert (forecast["tsb-q97.5"] > 0).all()


# --- sample paths ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("model_class", [ETS, TSB])
def test_sample_paths_are_joint_draws_around_the_point_forecast(model_class):
    values = simulate_ets(n_series=2, n_periods=200, alpha=0.1, gamma=0.05, sigma=5.0, seed=10)
    model = model_class().fit(long_frame(values))
    paths = model.sample_paths(14, n_samples=4000, seed=3)
    assert paths.values.shape == (2, 4000, 14)
    assert list(paths.ids) == ["S000", "S001"]
    assert (paths.dates == pd.DatetimeIndex(model.predict(14)[schema.DS].unique())).all()
    point = model.predict(14)[model_class.name].to_numpy().reshape(2, 14)
    np.testing.assert_allclose(paths.values.mean(axis=1), point, rtol=0.05)
    np.testing.assert_array_equal(paths.values, model.sample_paths(14, n_samples=4000, seed=3).values)
    assert (paths.values >= 0).all()


def test_ets_sample_paths_match_its_quantiles():
    values = simulate_ets(n_series=1, n_periods=200, alpha=0.3, gamma=0.05, sigma=5.0, seed=11)
    model = ETS().fit(long_frame(values))
    draws = model.sample_paths(28, n_samples=4000, seed=0).values[0]
    forecast = model.predict(28)
    for q in (0.1, 0.9):
        np.testing.assert_allclose(np.quantile(draws, q, axis=0), forecast[f"ets-q{round(q * 100)}"], atol=2.5)
