"""The pretrained transformer on a tiny committed checkpoint (tests/fixtures/tsfm_tiny, about 90 KB): loading from
safetensors offline, forecast shape and quantile order, scale invariance, determinism, covariates, horizons beyond
the network's own, closed days, calibration; and the shipped checkpoint's size and loadability."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core import schema
from core.data.synthetic import generate_series
from core.models import make_model
from core.models.tsfm import (
    CONFIG_FILE,
    SHIPPED_CHECKPOINT,
    WEIGHTS_FILE,
    CheckpointError,
    TSFMConfig,
    TSFMForecaster,
    _load_cached,
    interpolate_levels,
    load_network,
    open_columns,
)

TINY = Path(__file__).resolve().parent / "fixtures" / "tsfm_tiny"
H = 10


def core_frame(n_series: int = 5, n_periods: int = 200, freq: str = schema.DAILY, seed: int = 0) -> pd.DataFrame:
    sales = generate_series(n_series, n_periods, freq, seed=seed)
    return sales.rename(columns={schema.DATE: schema.DS, schema.UNITS: schema.Y}).assign(
        **{schema.UNIQUE_ID: lambda d: d[schema.SKU]}).drop(columns=schema.SKU)


def tiny(**settings) -> TSFMForecaster:
    return TSFMForecaster(checkpoint=TINY, **settings)


def quantile_block(forecast: pd.DataFrame) -> np.ndarray:
    columns = sorted((c for c in forecast.columns if schema.parse_quantile_column(c)),
                     key=lambda c: schema.parse_quantile_column(c)[1])
    return forecast[columns].to_numpy()


def test_the_fixture_is_tiny_and_loads_offline_from_safetensors_only(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("loading a checkpoint must not touch the network")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket.socket, "connect", no_network)
    assert (TINY / WEIGHTS_FILE).stat().st_size < 200_000
    assert not list(TINY.glob("*.bin")) and not list(TINY.glob("*.pt"))  # no pickles to unpickle
    _load_cached.cache_clear()  # really read the files here
    network = load_network(TINY, device="cpu")
    config = network.config
    assert isinstance(config, TSFMConfig) and config.horizon == 16 and config.context_length == 32
    assert not any(p.requires_grad and p.grad is not None for p in network.parameters())


def test_forecast_has_one_row_per_series_and_period_with_ordered_quantiles():
    frame = core_frame()
    forecast = tiny().fit(frame).predict(H)
    assert len(forecast) == frame[schema.UNIQUE_ID].nunique() * H
    assert forecast[schema.DS].min() > frame[schema.DS].max()
    block = quantile_block(forecast)
    assert np.isfinite(block).all() and (block >= 0).all()
    assert (np.diff(block, axis=1) >= 0).all()
    assert {"tsfm", "tsfm-q2.5", "tsfm-q50", "tsfm-q97.5"} <= set(forecast.columns)


def test_multiplying_a_series_by_1000_multiplies_its_forecast_by_1000():
    frame = core_frame(n_series=3)
    frame[schema.Y] = frame[schema.Y] + 0.371357  # not whole units, even x 1000: count rounding would not scale
    bigger = frame.assign(**{schema.Y: frame[schema.Y] * 1000})
    small = tiny(calibrate=False).fit(frame).predict(H)
    large = tiny(calibrate=False).fit(bigger).predict(H)
    np.testing.assert_allclose(large["tsfm"], small["tsfm"] * 1000, rtol=1e-4)
    np.testing.assert_allclose(quantile_block(large), quantile_block(small) * 1000, rtol=1e-4, atol=1e-3)


def test_the_same_data_gives_the_same_forecast_and_paths():
    frame = core_frame()
    first, second = tiny().fit(frame), tiny().fit(frame)
    pd.testing.assert_frame_equal(first.predict(H), second.predict(H))
    np.testing.assert_array_equal(first.sample_paths(H, 20, seed=3).values, second.sample_paths(H, 20, seed=3).values)


def test_planned_promotions_change_the_forecast():
    frame = core_frame(n_series=2)
    model = tiny(calibrate=False).fit(frame)
    dates = pd.date_range(frame[schema.DS].max() + pd.Timedelta(days=1), periods=H)
    plan = pd.DataFrame({schema.UNIQUE_ID: np.repeat(frame[schema.UNIQUE_ID].unique(), H),
                         schema.DS: np.tile(dates, 2), schema.PROMO: 1.0})
    assert not np.allclose(model.predict(H)["tsfm"], model.predict(H, X_df=plan)["tsfm"])


def test_horizons_beyond_the_network_feed_the_median_back():
    frame = core_frame(n_series=2)
    forecast = tiny().fit(frame).predict(40)  # the tiny network forecasts 16 periods at a time
    assert len(forecast) == 2 * 40 and np.isfinite(forecast["tsfm"]).all()


def test_weekly_and_monthly_data():
    for freq, periods in ((schema.WEEKLY, 120), (schema.MONTHLY, 40)):
        forecast = tiny().fit(core_frame(3, periods, freq)).predict(6)
        assert len(forecast) == 18 and np.isfinite(quantile_block(forecast)).all()


def test_closed_days_found_from_the_data_forecast_zero():
    frame = core_frame(n_series=3, n_periods=210)
    open_flag = (frame[schema.DS].dt.day_of_week != 6).astype(int)  # closed on Sundays
    frame = frame.assign(Open=open_flag, **{schema.Y: frame[schema.Y] * open_flag})
    assert open_columns(frame, ["Open"]) == ["Open"]
    assert open_columns(frame.assign(Open=1), ["Open"]) == []
    dates = pd.date_range(frame[schema.DS].max() + pd.Timedelta(days=1), periods=14)
    plan = pd.DataFrame({schema.UNIQUE_ID: np.repeat(frame[schema.UNIQUE_ID].unique(), 14),
                         schema.DS: np.tile(dates, 3), "Open": np.tile((dates.day_of_week != 6).astype(int), 3)})
    forecast = tiny(known_future=("promo", "price", "Open")).fit(frame).predict(14, X_df=plan)
    sundays = forecast[schema.DS].dt.day_of_week == 6
    assert (quantile_block(forecast[sundays]) == 0).all()
    assert (forecast.loc[~sundays, "tsfm-q97.5"] > 0).all()


def test_short_and_never_sold_series_use_the_fallbacks():
    frame = core_frame(n_series=2)
    last = frame[schema.DS].max()
    short = pd.DataFrame({schema.UNIQUE_ID: "short", schema.DS: pd.date_range(end=last, periods=5),
                          schema.Y: [1.0, 0, 2, 1, 1], schema.PROMO: 0.0, schema.PRICE: 5.0, schema.CHANNEL: "app"})
    never = short.assign(**{schema.UNIQUE_ID: "never", schema.Y: 0.0})
    model = tiny().fit(pd.concat([frame, short, never], ignore_index=True))
    forecast = model.predict(H).set_index(schema.UNIQUE_ID)
    assert np.isclose(forecast.loc["short", "tsfm"], 1.0).all()
    assert (forecast.loc["never", "tsfm"] == 0).all()


def test_calibration_rescales_bands_within_bounds():
    model = tiny(calibrate=True).fit(core_frame(n_series=20, n_periods=300))
    model.predict(H)
    assert model.band_scale_ is not None
    assert all(0.2 <= factor <= 3.0 for factor in model.band_scale_.values())


def test_interpolated_levels_lie_between_the_network_levels():
    values = np.array([[[1.0, 2.0, 4.0]]])
    table = interpolate_levels(values, (0.1, 0.5, 0.9), (0.05, 0.3, 0.7, 0.95))
    assert table[0.05] == 1.0 and table[0.95] == 4.0
    assert table[0.3] == pytest.approx(1.5) and table[0.7] == pytest.approx(3.0)


def test_a_missing_or_broken_checkpoint_says_how_to_make_one(tmp_path):
    with pytest.raises(CheckpointError, match="python -m core pretrain"):
        load_network(tmp_path)
    shutil.copy(TINY / CONFIG_FILE, tmp_path / CONFIG_FILE)
    (tmp_path / WEIGHTS_FILE).write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_network(tmp_path)


def test_the_model_is_registered_under_tsfm():
    model = make_model("tsfm", checkpoint=TINY, countries=("US",))
    assert isinstance(model, TSFMForecaster) and model.countries == ("US",)


def test_the_shipped_checkpoint_is_small_documented_and_loads():
    weights = SHIPPED_CHECKPOINT / WEIGHTS_FILE
    assert weights.stat().st_size < 50 * 2 ** 20
    card = json.loads((SHIPPED_CHECKPOINT / CONFIG_FILE).read_text())["card"]
    assert card["steps"] > 0 and card["corpus"]["recipe"]["n_series"] > 0
    assert (SHIPPED_CHECKPOINT / "MODEL_CARD.md").is_file()
    forecast = TSFMForecaster().fit(core_frame(n_series=2)).predict(28)
    assert len(forecast) == 56 and np.isfinite(forecast["tsfm"]).all()


def test_the_calendar_is_read_only_when_it_helped_on_the_held_out_periods():
    frame = core_frame(n_series=12, n_periods=300)
    always = tiny(calendar=True, calibrate=False).fit(frame)
    never = tiny(calendar=False, calibrate=False).fit(frame)
    auto = tiny(calendar="auto", calibrate=False).fit(frame)
    forecasts = {"always": always.predict(H), "never": never.predict(H), "auto": auto.predict(H)}
    assert isinstance(auto.calendar_used_, bool)
    assert always.calendar_used_ and not never.calendar_used_
    pd.testing.assert_frame_equal(forecasts["auto"], forecasts["always" if auto.calendar_used_ else "never"])
