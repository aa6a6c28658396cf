"""Shapley explanations of the transformer's forecasts: they add up to ``predict``'s point forecast, a planned
promotion is the top driver on its days (shipped checkpoint), names are readable, references are neutral (a flat
series with nothing planned has nothing to explain), beyond the network's horizon, closed days, weekly data, a
fine-tuned model's own inputs, and the error messages. Most tests use the tiny committed checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core import schema
from core.data.synthetic import generate_series
from core.explain import BASE_VALUE, CONTRIBUTION, FEATURE, PREDICTION, SHORT_HISTORY, ExplainError, Explanation
from core.explain_tsfm import (
    EVENTS_NAME,
    EXTRA_NAME,
    HOLIDAYS_NAME,
    OPEN_NAME,
    PAST_FLAGS_NAME,
    PRICE_NAME,
    PROMO_NAME,
    coalition_forecasts,
    explain_tsfm,
    input_groups,
    series_grids,
    shapley_values,
)
from core.models import make_model
from core.models.base import NotFittedError
from core.models.tsfm import TSFMForecaster

TINY = Path(__file__).resolve().parent / "fixtures" / "tsfm_tiny"
#: |base_value + sum(contributions) - prediction| <= RELATIVE * max(1, |prediction|); observed about 3e-7
RELATIVE = 1e-5


def core_frame(n_series: int = 4, n_periods: int = 200, freq: str = schema.DAILY, seed: int = 0,
               promo_elasticity: float = 2.5) -> pd.DataFrame:
    sales = generate_series(n_series, n_periods, freq, seed=seed, promo_elasticity=promo_elasticity)
    return sales.rename(columns={schema.DATE: schema.DS, schema.UNITS: schema.Y}).assign(
        **{schema.UNIQUE_ID: lambda d: d[schema.SKU]}).drop(columns=schema.SKU)


def with_short_series(frame: pd.DataFrame) -> pd.DataFrame:
    last = frame[schema.DS].max()
    short = pd.DataFrame({schema.UNIQUE_ID: "NEW", schema.DS: pd.date_range(end=last, periods=5),
                          schema.Y: [1.0, 0, 2, 1, 1], schema.PROMO: 0.0, schema.PRICE: 5.0, schema.CHANNEL: "app"})
    return pd.concat([frame, short], ignore_index=True)


def promotion_plan(frame: pd.DataFrame, h: int, days: list[int]) -> pd.DataFrame:
    """A promotion (depth 0.3) on ``days`` of the horizon for every series, at the usual (list) price."""
    ids = frame[schema.UNIQUE_ID].unique()
    dates = pd.date_range(frame[schema.DS].max() + pd.Timedelta(days=1), periods=h)
    promo = np.zeros(h)
    promo[days] = 0.3
    usual = frame.groupby(schema.UNIQUE_ID)[schema.PRICE].max()
    return pd.DataFrame({schema.UNIQUE_ID: np.repeat(ids, h), schema.DS: np.tile(dates, len(ids)),
                         schema.PROMO: np.tile(promo, len(ids)),
                         schema.PRICE: usual.reindex(np.repeat(ids, h)).to_numpy()})


def assert_adds_up(explanation: Explanation, forecast: pd.DataFrame, column: str) -> None:
    keys = [schema.UNIQUE_ID, schema.DS]
    table = explanation.forecasts.merge(forecast[[*keys, column]], on=keys)
    assert len(table) == len(forecast)
    np.testing.assert_array_equal(table[PREDICTION].to_numpy(), table[column].to_numpy())
    sums = explanation.contributions.groupby(keys)[CONTRIBUTION].sum()
    total = table[BASE_VALUE].to_numpy() + sums.reindex(pd.MultiIndex.from_frame(table[keys])).to_numpy()
    gap = np.abs(total - table[column].to_numpy())
    assert (gap <= RELATIVE * np.maximum(1.0, np.abs(table[column].to_numpy()))).all(), gap.max()
    assert explanation.tolerance == pytest.approx(gap.max(), abs=1e-12)


@pytest.fixture(scope="module")
def shipped():
    """The shipped checkpoint on four series whose promotions sell a lot, plus one too short to model."""
    frame = with_short_series(core_frame(4, 420, seed=1, promo_elasticity=5.0))
    return frame, TSFMForecaster().fit(frame)


def test_contributions_add_up_to_the_point_forecast_for_every_series_and_date(shipped):
    frame, model = shipped
    plan = promotion_plan(frame[frame[schema.UNIQUE_ID] != "NEW"], 14, [3, 4, 10])
    explanation = explain_tsfm(model, 14, plan)
    assert_adds_up(explanation, model.predict(14, plan), "tsfm")
    assert explanation.model == "tsfm" and explanation.tolerance < 1e-3
    # every forecast gets every group; the short series gets its average
    names = [g.name for g in input_groups(model)]
    per_forecast = explanation.contributions.groupby([schema.UNIQUE_ID, schema.DS])[FEATURE].apply(list)
    assert all(features == names for uid, features in per_forecast.items() if uid[0] != "NEW")
    short = explanation.contributions[explanation.contributions[schema.UNIQUE_ID] == "NEW"]
    assert (short[FEATURE] == SHORT_HISTORY).all() and np.allclose(short[CONTRIBUTION], 1.0)
    assert (explanation.forecasts.loc[explanation.forecasts[schema.UNIQUE_ID] == "NEW", BASE_VALUE] == 0).all()


def test_a_coalition_is_the_forecast_with_the_absent_groups_at_their_references(shipped):
    frame, model = shipped
    plan = promotion_plan(frame[frame[schema.UNIQUE_ID] != "NEW"], 14, [3, 4, 10])
    modelled = model.modelled_
    forecast = model.predict(14, plan)
    groups = input_groups(model)
    grids, open_future = series_grids(model, 14, plan, modelled)
    values = coalition_forecasts(model, grids, open_future, groups, 14)
    everything = (1 << len(groups)) - 1
    no_promotion = everything & ~(1 << [g.name for g in groups].index(PROMO_NAME))
    without = model.predict(14, plan.assign(**{schema.PROMO: 0.0}))
    for coalition, expected in ((everything, forecast), (no_promotion, without)):
        point = expected["tsfm"].to_numpy().reshape(-1, 14)[modelled]
        np.testing.assert_allclose(values[:, coalition], point, rtol=RELATIVE, atol=RELATIVE)


def test_a_planned_promotion_is_the_top_driver_on_its_days_and_not_on_others(shipped):
    frame, model = shipped
    ids = [uid for uid in frame[schema.UNIQUE_ID].unique() if uid != "NEW"]
    days = [3, 4, 10]
    explanation = explain_tsfm(model, 14, promotion_plan(frame[frame[schema.UNIQUE_ID] != "NEW"], 14, days), ids=ids)
    table = explanation.contributions.pivot_table(index=[schema.UNIQUE_ID, schema.DS], columns=FEATURE,
                                                  values=CONTRIBUTION, sort=False)
    dates = table.index.get_level_values(schema.DS)
    on_promotion = dates.isin(pd.date_range(frame[schema.DS].max() + pd.Timedelta(days=1), periods=14)[days])
    promotion = table[PROMO_NAME]
    assert (promotion[on_promotion] > 0).all()
    assert promotion[on_promotion].min() > promotion[~on_promotion].max()
    # the largest push up on every promotion day; by size (up or down) the top driver on nearly all of them
    assert (table[on_promotion].idxmax(axis=1) == PROMO_NAME).all()
    top = table.abs().idxmax(axis=1)
    assert (top[on_promotion] == PROMO_NAME).mean() >= 0.75
    assert (top[~on_promotion] != PROMO_NAME).all()


def test_feature_names_are_the_readable_ones(shipped):
    _, model = shipped
    explanation = explain_tsfm(model, 7, ids=["SKU-000"])
    expected = ["sales in the last 7 days", "sales 8-28 days ago", "sales 29-90 days ago", "sales 91-256 days ago",
                "same weeks last year", PAST_FLAGS_NAME, PROMO_NAME, PRICE_NAME]
    if model.calendar_used_:
        expected += [EVENTS_NAME, HOLIDAYS_NAME]
    assert list(dict.fromkeys(explanation.contributions[FEATURE])) == expected
    assert not any("_" in name for name in expected)
    assert explanation.method.startswith("Exact Shapley values") and explanation.notes


def test_a_flat_series_with_nothing_planned_has_nothing_to_explain():
    dates = pd.date_range("2023-01-01", periods=500)
    frame = pd.DataFrame({schema.UNIQUE_ID: "flat", schema.DS: dates, schema.Y: 20.0, schema.PROMO: 0.0,
                          schema.PRICE: 9.9})
    model = TSFMForecaster(calendar=False).fit(frame)
    explanation = explain_tsfm(model, 10)
    # every input equals its reference, so every coalition gives the same forecast
    assert np.abs(explanation.contributions[CONTRIBUTION]).max() < 1e-6
    assert explanation.forecasts[PREDICTION].between(15, 25).all()
    np.testing.assert_allclose(explanation.forecasts[BASE_VALUE], explanation.forecasts[PREDICTION], rtol=RELATIVE)


def test_shapley_values_are_efficient_symmetric_and_zero_for_groups_without_effect():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(2, 16, 3))
    phi = shapley_values(values)
    np.testing.assert_allclose(phi.sum(axis=1), values[:, -1] - values[:, 0], atol=1e-12)
    sizes = np.array([s.bit_count() for s in range(16)], dtype=float)
    symmetric = np.broadcast_to((sizes ** 2)[None, :, None], (1, 16, 1))  # depends on the coalition size only
    np.testing.assert_allclose(shapley_values(symmetric)[0, :, 0], 16 / 4)
    dummy = np.broadcast_to(np.arange(16)[None, :, None] % 8, (1, 16, 1)).astype(float)  # group 3 does nothing
    assert shapley_values(dummy)[0, 3, 0] == 0.0


def test_beyond_the_network_horizon_the_fed_back_median_still_adds_up():
    frame = core_frame(3, 200)
    model = TSFMForecaster(checkpoint=TINY).fit(frame)
    plan = promotion_plan(frame, 40, [2, 20, 30])  # the tiny network forecasts 16 periods at a time
    explanation = explain_tsfm(model, 40, plan)
    assert_adds_up(explanation, model.predict(40, plan), "tsfm")
    assert any("horizon" in note for note in explanation.notes)
    # the first 16 periods are explained as when they are all there is
    first = explain_tsfm(model, 16, plan)
    dates = first.forecasts[schema.DS].unique()
    later = explanation.contributions[explanation.contributions[schema.DS].isin(dates)].reset_index(drop=True)
    pd.testing.assert_frame_equal(later, first.contributions)
    # and a coalition is still the forecast with its absent groups at their references
    groups = input_groups(model)
    grids, open_future = series_grids(model, 40, plan, model.modelled_)
    values = coalition_forecasts(model, grids, open_future, groups, 40)
    no_promotion = ((1 << len(groups)) - 1) & ~(1 << [g.name for g in groups].index(PROMO_NAME))
    without = model.predict(40, plan.assign(**{schema.PROMO: 0.0}))["tsfm"].to_numpy().reshape(3, 40)
    np.testing.assert_allclose(values[:, no_promotion], without, rtol=RELATIVE, atol=RELATIVE)


def test_closed_days_are_explained_by_the_store_being_closed():
    frame = core_frame(3, 210)
    open_flag = (frame[schema.DS].dt.day_of_week != 6).astype(int)  # closed on Sundays
    frame = frame.assign(Open=open_flag, **{schema.Y: frame[schema.Y] * open_flag})
    dates = pd.date_range(frame[schema.DS].max() + pd.Timedelta(days=1), periods=14)
    plan = pd.DataFrame({schema.UNIQUE_ID: np.repeat(frame[schema.UNIQUE_ID].unique(), 14),
                         schema.DS: np.tile(dates, 3), "Open": np.tile((dates.day_of_week != 6).astype(int), 3)})
    model = TSFMForecaster(checkpoint=TINY, known_future=("promo", "price", "Open")).fit(frame)
    explanation = explain_tsfm(model, 14, plan)
    assert_adds_up(explanation, model.predict(14, plan), "tsfm")
    closed = explanation.contributions[explanation.contributions[FEATURE] == OPEN_NAME]
    sundays = closed[schema.DS].dt.day_of_week == 6
    assert (closed.loc[sundays, CONTRIBUTION] < 0).all() and (closed.loc[~sundays, CONTRIBUTION] == 0).all()


def test_weekly_data_get_blocks_in_weeks():
    model = TSFMForecaster(checkpoint=TINY).fit(core_frame(3, 120, schema.WEEKLY))
    explanation = explain_tsfm(model, 6)
    assert_adds_up(explanation, model.predict(6), "tsfm")
    names = set(explanation.contributions[FEATURE])
    assert {"sales in the last 4 weeks", "sales 5-13 weeks ago", "sales 14-32 weeks ago",  # the tiny context: 32
            "same weeks last year"} <= names


def test_a_fine_tuned_model_has_its_own_inputs_as_one_group(tmp_path):
    from core.models.finetune import FinetuneConfig, finetune

    frame = core_frame(6, 150)  # channels app, tmall, jd: two series each, so the channel is an extra input
    config = FinetuneConfig(max_steps=6, batch_size=16, eval_every=6, warmup_steps=1, checkpoint_every=6,
                            learning_rate=3e-3, horizon=10)
    finetune(frame, tmp_path / "tuned", config, base=TINY, known_future=(schema.PROMO, schema.PRICE))
    model = make_model(f"tsfm@{tmp_path / 'tuned'}", known_future=(schema.PROMO, schema.PRICE)).fit(frame)
    assert model.network_.config.extra_features
    explanation = explain_tsfm(model, 10, ids=["SKU-001", "SKU-002"])
    assert explanation.model == model.name and EXTRA_NAME in set(explanation.contributions[FEATURE])
    forecast = model.predict(10)
    assert_adds_up(explanation, forecast[forecast[schema.UNIQUE_ID].isin(["SKU-001", "SKU-002"])], model.name)


def test_the_same_forecast_gets_the_same_explanation():
    model = TSFMForecaster(checkpoint=TINY).fit(core_frame(2, 150))
    first, second = explain_tsfm(model, 5), explain_tsfm(model, 5)
    pd.testing.assert_frame_equal(first.contributions, second.contributions)
    pd.testing.assert_frame_equal(first.forecasts, second.forecasts)


def test_unknown_series_unfitted_models_and_other_models_are_refused():
    model = TSFMForecaster(checkpoint=TINY)
    with pytest.raises(NotFittedError, match="not fitted yet. Call 'fit'"):
        explain_tsfm(model, 5)
    model.fit(core_frame(2, 150))
    with pytest.raises(ExplainError, match="Unknown series.*NOPE"):
        explain_tsfm(model, 5, ids=["SKU-000", "NOPE"])
    with pytest.raises(ExplainError, match="at least 1"):
        explain_tsfm(model, 0)
    with pytest.raises(ExplainError, match="explain_lgbm"):
        explain_tsfm(make_model("snaive"), 5)


def test_series_too_short_for_the_network_are_their_own_average():
    last = pd.Timestamp("2024-05-01")
    short = pd.DataFrame({schema.UNIQUE_ID: "short", schema.DS: pd.date_range(end=last, periods=5),
                          schema.Y: [1.0, 0, 2, 1, 1]})
    model = TSFMForecaster(checkpoint=TINY).fit(pd.concat([short, short.assign(**{schema.UNIQUE_ID: "never",
                                                                                  schema.Y: 0.0})]))
    explanation = explain_tsfm(model, 3)
    assert (explanation.contributions[FEATURE] == SHORT_HISTORY).all()
    assert_adds_up(explanation, model.predict(3), "tsfm")
    assert "average" in explanation.method
