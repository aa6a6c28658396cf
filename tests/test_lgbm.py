"""LightGBMForecaster: forecaster invariants, known-future inputs only (promotion, open flag, event name), weekly and
monthly data, reproducibility."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core import schema
from core.data.synthetic import generate_series
from core.models import make_model
from core.models.lgbm import LightGBMForecaster

H = 14
#: small and quick: every test fits in well under a second (one thread: tests may run side by side)
SMALL = {"n_estimators": 60, "num_leaves": 15, "min_child_samples": 10, "n_jobs": 1}


def core_frame(n_series: int = 6, n_periods: int = 240, freq: str = schema.DAILY, seed: int = 0,
               promo_elasticity: float = 2.5) -> pd.DataFrame:
    """A seeded panel in the core contract: unique_id, ds, y, channel, price, promo."""
    sales = generate_series(n_series, n_periods, freq, seed=seed, promo_elasticity=promo_elasticity)
    return sales.rename(columns={schema.DATE: schema.DS, schema.UNITS: schema.Y}).assign(
        **{schema.UNIQUE_ID: lambda d: d[schema.SKU]}).drop(columns=schema.SKU)


def split(df: pd.DataFrame, h: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """History and the last ``h`` periods of every series."""
    dates = np.sort(df[schema.DS].unique())
    return df[df[schema.DS] <= dates[-h - 1]], df[df[schema.DS] > dates[-h - 1]]


def quantile_columns(forecast: pd.DataFrame) -> list[str]:
    return [c for c in forecast.columns if schema.parse_quantile_column(c)]


@pytest.fixture(scope="module")
def awkward_panel() -> pd.DataFrame:
    """Regular series plus one that never sold, one with 5 rows, one with gaps and NaN sales, one that stopped."""
    df = core_frame(n_series=5)
    dates = np.sort(df[schema.DS].unique())
    never_sold = pd.DataFrame({schema.UNIQUE_ID: "zero", schema.DS: dates, schema.Y: 0.0, schema.CHANNEL: "app",
                               schema.PRICE: 9.9, schema.PROMO: 0.0})
    short = never_sold.iloc[-5:].assign(**{schema.UNIQUE_ID: "short", schema.Y: [3.0, 0.0, 1.0, 2.0, 4.0]})
    gappy = df[df[schema.UNIQUE_ID] == "SKU-000"].assign(**{schema.UNIQUE_ID: "gappy"})
    gappy.loc[gappy.index[100:130], schema.Y] = np.nan
    gappy = gappy.drop(gappy.index[150:170])
    stopped = df[df[schema.UNIQUE_ID] == "SKU-001"].iloc[:200].assign(**{schema.UNIQUE_ID: "stopped"})
    return pd.concat([df, never_sold, short, gappy, stopped], ignore_index=True)


def test_registered_under_its_name():
    model = make_model("lgbm", seed=3, n_estimators=10)
    assert isinstance(model, LightGBMForecaster) and model.seed == 3 and model.n_estimators == 10


def test_forecast_invariants_on_awkward_series(awkward_panel):
    model = LightGBMForecaster(**SMALL).fit(awkward_panel)
    forecast = model.predict(H)
    n_series = awkward_panel[schema.UNIQUE_ID].nunique()
    assert len(forecast) == H * n_series
    assert (forecast.groupby(schema.UNIQUE_ID).size() == H).all()
    assert (forecast[schema.DS] > awkward_panel[schema.DS].max()).all()
    columns = ["lgbm"] + quantile_columns(forecast)
    assert "lgbm-q10" in columns and "lgbm-q90" in columns and "lgbm-q2.5" in columns
    values = forecast[columns].to_numpy()
    assert np.isfinite(values).all() and (values >= 0).all()
    levels = forecast[quantile_columns(forecast)].to_numpy()
    assert (np.diff(levels, axis=1) >= 0).all()
    assert (forecast.loc[forecast[schema.UNIQUE_ID] == "zero", columns].to_numpy() == 0).all()
    assert model.modelled_[list(model.panel_.ids).index("gappy")]


def test_new_items_in_a_long_panel():
    """Only recently launched items are modelled: the calibration window fits inside their short history."""
    recent = core_frame(n_series=4, n_periods=30).assign(**{schema.DS: lambda d: d[schema.DS] + pd.Timedelta(days=400)})
    dates = pd.date_range(core_frame(n_series=1)[schema.DS].min(), recent[schema.DS].max(), freq="D")
    never_sold = pd.DataFrame({schema.UNIQUE_ID: "old", schema.DS: dates, schema.Y: 0.0, schema.CHANNEL: "app",
                               schema.PRICE: 9.9, schema.PROMO: 0.0})
    model = LightGBMForecaster(**SMALL).fit(pd.concat([never_sold, recent], ignore_index=True))
    forecast = model.predict(H)
    assert model.modelled_.sum() == 4 and model.calibration_horizon_ == 7
    assert np.isfinite(forecast[["lgbm"] + quantile_columns(forecast)].to_numpy()).all()


def test_forecast_is_near_the_level_and_band_covers_most_actuals():
    history, actual = split(core_frame(n_series=8, n_periods=300), H)
    model = LightGBMForecaster(**SMALL).fit(history)
    forecast = model.predict(H, X_df=actual.drop(columns=schema.Y)).merge(actual, on=[schema.UNIQUE_ID, schema.DS])
    assert 0.7 < forecast["lgbm"].sum() / forecast[schema.Y].sum() < 1.3
    inside = forecast[schema.Y].between(forecast["lgbm-q10"], forecast["lgbm-q90"])
    assert 0.6 < inside.mean() < 0.97


def test_planned_promotion_raises_the_forecast():
    history, actual = split(core_frame(n_periods=360, promo_elasticity=3.0).drop(columns=schema.PRICE), H)
    model = LightGBMForecaster(**SMALL).fit(history)
    future = actual[[schema.UNIQUE_ID, schema.DS]].copy()
    promo_days = future[schema.DS].isin(np.sort(future[schema.DS].unique())[[3, 9]])  # the 4th and 10th day
    with_promo = model.predict(H, X_df=future.assign(**{schema.PROMO: np.where(promo_days, 0.3, 0.0)}))
    without = model.predict(H, X_df=future.assign(**{schema.PROMO: 0.0}))
    lift = (with_promo["lgbm"].to_numpy() / without["lgbm"].to_numpy()).reshape(-1, H)
    assert (lift[:, [3, 9]] > 1.3).all()
    assert np.allclose(lift[:, :2], 1.0)  # up to the day before the first promotion, untouched


def test_columns_not_known_ahead_are_never_used():
    df = core_frame()
    history, actual = split(df.assign(customers=df[schema.Y] * 3 + 1), H)
    future = actual.drop(columns=schema.Y)
    with_customers = LightGBMForecaster(**SMALL).fit(history).predict(H, X_df=future)
    without = LightGBMForecaster(**SMALL).fit(history.drop(columns="customers")).predict(
        H, X_df=future.drop(columns="customers"))
    pd.testing.assert_frame_equal(with_customers, without)


def test_text_event_column_is_a_known_future_category():
    df = core_frame(n_series=6, n_periods=360, promo_elasticity=0.0)
    event_days = df[schema.DS].dt.day == 15
    df = df.assign(event=np.where(event_days, "Mid-month sale", None))
    df.loc[event_days, schema.Y] *= 4
    history, actual = split(df, 30)
    model = LightGBMForecaster(known_future=("event",), **SMALL).fit(history)
    future = actual[[schema.UNIQUE_ID, schema.DS, "event"]]
    named = model.predict(30, X_df=future)
    blank = model.predict(30, X_df=future.assign(event=None))
    on_event = (future["event"] == "Mid-month sale").to_numpy()
    assert on_event.any()
    assert (named["lgbm"].to_numpy()[on_event] > 2 * blank["lgbm"].to_numpy()[on_event]).all()
    unseen = model.predict(30, X_df=future.assign(event="Never seen before"))
    assert np.isfinite(unseen["lgbm"]).all()


def test_closed_days_forecast_zero_with_a_zero_band():
    """A declared open flag: closed days sell nothing, and the model says so, band included."""
    df = core_frame(n_series=40, n_periods=240, promo_elasticity=0.0)
    closed = (df[schema.DS].dt.day_of_week == 6) | (df[schema.DS].dt.day == 1)
    df = df.assign(open=np.where(closed, 0, 1), **{schema.Y: np.where(closed, 0.0, df[schema.Y])})
    history, actual = split(df, 28)
    model = LightGBMForecaster(known_future=("open",), **SMALL).fit(history)
    forecast = model.predict(28, X_df=actual[[schema.UNIQUE_ID, schema.DS, "open"]])
    on_closed = (actual["open"] == 0).to_numpy()
    level = forecast["lgbm"][~on_closed].mean()
    assert forecast["lgbm"][on_closed].max() < 0.05 * level
    assert (forecast["lgbm-q97.5"][on_closed] == 0).all()
    assert (forecast["lgbm-q10"][~on_closed] > 0).all()


@pytest.mark.parametrize("freq, n_periods, h, lags", [
    (schema.WEEKLY, 150, 12, (1, 2, 3, 4, 52)),
    (schema.MONTHLY, 48, 6, (1, 2, 3, 12)),
])
def test_weekly_and_monthly_data(freq, n_periods, h, lags):
    df = core_frame(n_series=5, n_periods=n_periods, freq=freq)
    model = LightGBMForecaster(**SMALL).fit(df)
    forecast = model.predict(h)
    assert model.freq_ == freq and model.lag_spec_.lags == lags
    assert len(forecast) == h * 5
    dates = pd.DatetimeIndex(np.sort(forecast[schema.DS].unique()))
    assert dates[0] > df[schema.DS].max() and len(dates) == h
    if freq == schema.WEEKLY:
        assert (np.diff(dates).astype("timedelta64[D]").astype(int) == 7).all()
    else:
        assert (dates.day == 1).all() and (np.diff(dates.month) % 12 == 1).all()
    assert np.isfinite(forecast[["lgbm"] + quantile_columns(forecast)].to_numpy()).all()


def test_reproducible_with_the_same_seed():
    df = core_frame()
    first = LightGBMForecaster(seed=7, **SMALL).fit(df)
    second = LightGBMForecaster(seed=7, **SMALL).fit(df)
    pd.testing.assert_frame_equal(first.predict(H), second.predict(H))
    np.testing.assert_array_equal(first.sample_paths(H, 50, seed=1).values, second.sample_paths(H, 50, seed=1).values)


def test_sample_paths_follow_the_quantiles():
    model = LightGBMForecaster(**SMALL).fit(core_frame(n_series=40))
    paths = model.sample_paths(H, n_samples=1000, seed=0)
    forecast = model.predict(H)
    assert paths.values.shape == (40, 1000, H) and (paths.values >= 0).all()
    median = np.median(paths.values, axis=1).reshape(-1)
    band = (forecast["lgbm-q90"] - forecast["lgbm-q10"]).to_numpy()
    # quantiles of whole-unit series are rounded to whole units: allow half a unit
    assert (np.abs(median - forecast["lgbm-q50"].to_numpy()) <= 0.1 * band + 0.5).all()
