"""SHAP explanations of LightGBM forecasts: they add up, a planted promotion is the top driver on promotion days,
names read like a planner's, and the words, aggregations, CSV and errors."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from core import schema
from core.cli import EXIT_ACCEPT, EXIT_REJECT, main
from core.data.synthetic import generate_series
from core.explain import (
    BASE_VALUE,
    PREDICTION,
    ExplainError,
    drivers_sentence,
    explain_frame,
    explain_lgbm,
    global_importance,
    readable_name,
    sample_ids,
    top_drivers,
)
from core.models.lgbm import LightGBMForecaster

H = 14
SMALL = {"n_estimators": 80, "num_leaves": 15, "min_child_samples": 10, "n_jobs": 1}


def core_frame(n_series: int = 6, n_periods: int = 360, seed: int = 0, promo_elasticity: float = 3.0) -> pd.DataFrame:
    sales = generate_series(n_series, n_periods, seed=seed, promo_elasticity=promo_elasticity)
    frame = sales.rename(columns={schema.DATE: schema.DS, schema.UNITS: schema.Y}).assign(
        **{schema.UNIQUE_ID: lambda d: d[schema.SKU]})
    frame[schema.CATEGORY] = np.where(frame[schema.SKU].str[-1].astype(int) % 2 == 0, "even", "odd")
    return frame.drop(columns=[schema.SKU, schema.PRICE]).astype({schema.Y: float})


@pytest.fixture(scope="module")
def promoted():
    """A model where promotions drive demand, and a future with promotions on the 4th and 10th day."""
    frame = core_frame()
    model = LightGBMForecaster(**SMALL).fit(frame)
    dates = pd.date_range(frame[schema.DS].max() + pd.Timedelta(days=1), periods=H, freq="D")
    future = pd.DataFrame({schema.UNIQUE_ID: np.repeat(frame[schema.UNIQUE_ID].unique(), H),
                           schema.DS: np.tile(dates, frame[schema.UNIQUE_ID].nunique())})
    future[schema.PROMO] = np.where(future[schema.DS].isin(dates[[3, 9]]), 0.3, 0.0)
    return model, future, explain_lgbm(model, H, future), dates


def test_contributions_add_up_to_the_forecast(promoted):
    model, future, explanation, _ = promoted
    forecast = model.predict(H, future)
    merged = explanation.forecasts.merge(forecast, on=[schema.UNIQUE_ID, schema.DS])
    assert len(merged) == len(forecast)
    assert np.allclose(merged[PREDICTION], merged["lgbm"], rtol=1e-9, atol=1e-9)
    sums = explanation.contributions.groupby([schema.UNIQUE_ID, schema.DS])["contribution"].sum()
    total = merged.set_index([schema.UNIQUE_ID, schema.DS])[BASE_VALUE] + sums
    assert np.allclose(total.to_numpy(), merged.set_index([schema.UNIQUE_ID, schema.DS])[PREDICTION].to_numpy(),
                       rtol=1e-9, atol=1e-9)
    assert explanation.tolerance < 1e-9


def test_a_planned_promotion_is_the_top_driver_on_promotion_days_only(promoted):
    _, _, explanation, dates = promoted
    contributions = explanation.contributions
    top = (contributions.assign(size=contributions["contribution"].abs())
           .sort_values("size", ascending=False).groupby([schema.UNIQUE_ID, schema.DS]).head(1))
    on_promo = top[schema.DS].isin(dates[[3, 9]])
    assert (top.loc[on_promo, "feature"] == "promotion planned").all()
    assert not top.loc[~on_promo, "feature"].str.startswith("promotion planned").any()
    promo = contributions.loc[contributions["feature"] == "promotion planned"]
    assert set(promo[schema.DS]) == set(dates[[3, 9]]) and (promo["contribution"] > 0).all()
    # on other days the absence of a promotion weighs far less than a promotion does on its days
    absent = contributions.loc[contributions["feature"] == "no promotion planned"]
    largest_absent = absent.groupby(schema.UNIQUE_ID)["contribution"].apply(lambda v: v.abs().max())
    smallest_promo = promo.groupby(schema.UNIQUE_ID)["contribution"].min()
    assert (largest_absent < 0.6 * smallest_promo.reindex(largest_absent.index)).all()


def test_feature_names_read_like_a_planners(promoted):
    _, _, explanation, _ = promoted
    names = set(explanation.contributions["feature"])
    assert not any(re.match(r"^(lag_|mean_|std_|ev_|holiday_|log_scale|zero_share)", name) for name in names)
    assert "promotion planned" in names and "units 7 days ago" in names
    assert any(name.startswith("weekday: ") for name in names)
    assert readable_name("ev_singles_day_pre", schema.DAILY) == readable_name("ev_singles_day", schema.DAILY)
    assert readable_name("ev_singles_day", schema.DAILY).startswith("11.11")
    assert readable_name("weekday", schema.DAILY, 5.0) == "weekday: Saturday"
    assert readable_name("month", schema.DAILY, 11.0) == "month: November"
    assert readable_name("lag_2", schema.WEEKLY) == "units 2 weeks ago"
    assert readable_name("price_ratio", schema.DAILY) == "price vs usual"
    assert readable_name("promo_next", schema.DAILY) == "promotion planned, the day after"
    assert readable_name("promo", schema.DAILY, 0.0) == "no promotion planned"


def test_sentence_and_top_drivers(promoted):
    _, _, explanation, dates = promoted
    uid = explanation.forecasts[schema.UNIQUE_ID].iloc[0]
    sentence = drivers_sentence(explanation, uid, dates[3])
    assert sentence.startswith("The model expects ")
    assert "Mostly promotion planned (+" in sentence
    why = top_drivers(explanation)
    assert list(why.columns) == [schema.UNIQUE_ID, "why"] and len(why) == 6
    assert why["why"].str.contains("promotion planned \\+").all()
    with pytest.raises(ExplainError, match="No explained forecast"):
        drivers_sentence(explanation, uid, dates[0] - pd.Timedelta(days=30))


def test_global_importance_overall_and_by_group(promoted):
    model, _, explanation, _ = promoted
    overall = global_importance(explanation)
    assert overall["share"].sum() == pytest.approx(1.0)
    assert overall["mean_abs_contribution"].is_monotonic_decreasing
    groups = model.panel_.frame.groupby(schema.UNIQUE_ID)[schema.CATEGORY].first()
    by = global_importance(explanation, groups)
    assert set(by["group"]) == {"even", "odd"}
    assert by.groupby("group")["share"].sum().to_numpy() == pytest.approx([1.0, 1.0])


def test_long_rows_hold_base_value_and_prediction(promoted):
    _, _, explanation, _ = promoted
    long = explanation.to_long()
    assert list(long.columns) == [schema.UNIQUE_ID, schema.DS, "feature", "contribution"]
    first = long.groupby([schema.UNIQUE_ID, schema.DS]).head(1)
    last = long.groupby([schema.UNIQUE_ID, schema.DS]).tail(1)
    assert (first["feature"] == BASE_VALUE).all() and (last["feature"] == PREDICTION).all()
    body = long.loc[long["feature"] != PREDICTION].groupby([schema.UNIQUE_ID, schema.DS])["contribution"].sum()
    assert np.allclose(body.to_numpy(), last.set_index([schema.UNIQUE_ID, schema.DS])["contribution"].to_numpy())


def test_a_subset_short_series_and_errors():
    frame = core_frame(n_series=3, n_periods=300)
    short = frame.loc[frame[schema.UNIQUE_ID] == "SKU-000"].iloc[-10:].assign(**{schema.UNIQUE_ID: "new"})
    model = LightGBMForecaster(**SMALL).fit(pd.concat([frame, short], ignore_index=True))
    explanation = explain_lgbm(model, 5, ids=["SKU-001", "new"])
    assert set(explanation.forecasts[schema.UNIQUE_ID]) == {"SKU-001", "new"}
    new = explanation.contributions.loc[explanation.contributions[schema.UNIQUE_ID] == "new"]
    assert set(new["feature"]) == {"too little history (its average)"}
    assert explanation.check() < 1e-9
    with pytest.raises(ExplainError, match="Unknown series"):
        explain_lgbm(model, 5, ids=["nope"])
    with pytest.raises(ExplainError, match="at least 1"):
        explain_lgbm(model, 0)
    with pytest.raises(ExplainError, match="'lgbm' and the transformer"):
        explain_frame(frame, schema.DAILY, "ets", 5)
    from core.models.base import NotFittedError

    with pytest.raises(NotFittedError, match="not fitted yet"):
        explain_lgbm(LightGBMForecaster(), 5)


def test_sample_ids_is_seeded_and_keeps_order():
    ids = [f"s{i}" for i in range(50)]
    first, again = sample_ids(ids, 10, seed=1), sample_ids(ids, 10, seed=1)
    assert first == again and len(first) == 10
    assert first == sorted(first, key=ids.index)
    assert sample_ids(ids[:5], 10) == ids[:5]


def test_cli_writes_rows_that_add_up(tmp_path):
    frame = generate_series(4, 300, seed=2)
    path = tmp_path / "sales.csv"
    frame.to_csv(path, index=False)
    out, why, importance = tmp_path / "contributions.csv", tmp_path / "why.csv", tmp_path / "importance.csv"
    code = main(["explain", str(path), "--horizon", "5", "--out", str(out), "--why-out", str(why),
                 "--importance-out", str(importance), "--sample", "2"])
    assert code == EXIT_ACCEPT
    long = pd.read_csv(out, encoding="utf-8-sig")
    assert list(long.columns) == ["unique_id", "ds", "feature", "contribution"]
    assert long[schema.UNIQUE_ID].nunique() == 2
    for _, part in long.groupby(["unique_id", "ds"]):
        prediction = part.loc[part["feature"] == PREDICTION, "contribution"].iloc[0]
        assert part.loc[part["feature"] != PREDICTION, "contribution"].sum() == pytest.approx(prediction, abs=1e-3)
    assert len(pd.read_csv(why, encoding="utf-8-sig")) == 2
    assert {"feature", "mean_abs_contribution"} <= set(pd.read_csv(importance, encoding="utf-8-sig").columns)
    assert main(["explain", str(path), "--out", str(out), "--series", "nope"]) == EXIT_REJECT
    assert main(["explain", str(path), "--out", str(out), "--model", "ets"]) == EXIT_REJECT


def test_series_too_short_for_the_model_are_explained_by_their_average():
    frame = core_frame(n_series=2, n_periods=10)
    model = LightGBMForecaster(**SMALL).fit(frame)
    explanation = explain_lgbm(model, 3)
    assert set(explanation.contributions["feature"]) == {"too little history (its average)"}
    assert explanation.check() < 1e-9
