"""The inventory replay (core.replay): stock accounting, what the forecasts may see, cycle service counting, the
classic policy, parameters and frequencies. Small seeded panels, fast baselines (one tiny transformer case)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from core import replay as replay_module
from core.data.synthetic import generate_series
from core.replay import (
    CLASSIC,
    SUMMARY_COLUMNS,
    ReplayConfig,
    ReplayError,
    ReplayPlan,
    classic_levels,
    frontier_gap,
    plan_policies,
    replay,
    simulate,
)
from core.replenish import FILL_RATE

TINY = Path(__file__).resolve().parent / "fixtures" / "tsfm_tiny"
FAST = {"models": ("snaive",), "service_levels": (0.9, 0.95), "n_samples": 50}


def panel(n_series: int = 3, n_periods: int = 150, freq: str = "D", seed: int = 0) -> pd.DataFrame:
    """A seeded core frame (unique_id, ds, y, promo, price) from the synthetic generator."""
    raw = generate_series(n_series, n_periods, freq=freq, seed=seed)
    return pd.DataFrame({"unique_id": raw["sku"] + " | " + raw["channel"], "ds": pd.to_datetime(raw["date"]),
                         "y": raw["units"].astype(float), "promo": raw["promo"], "price": raw["price"]})


def constant_panel(units: float = 5.0, n_periods: int = 120) -> pd.DataFrame:
    ds = pd.date_range("2025-01-01", periods=n_periods, freq="D")
    return pd.DataFrame({"unique_id": "A", "ds": ds, "y": units})


def parameters(ids, **values) -> pd.DataFrame:
    base = {"lead_time_days": 3.0, "lead_time_sd_days": 0.0, "review_period_days": 7.0, "moq": 0.0, "case_pack": 1.0,
                "unit_cost": 2.0}
    base.update(values)
    return pd.DataFrame({"unique_id": list(ids), **{k: v for k, v in base.items()}})


def test_constant_demand_never_stocks_out_and_orders_whole_case_packs():
    frame = constant_panel()
    config = ReplayConfig(periods=40, **FAST)
    result = replay(frame, parameters(["A"], case_pack=12.0, moq=24.0), config)
    assert set(result.summary["model"]) == {"snaive", CLASSIC}
    for row in result.summary.itertuples():
        assert row.stockout_days == 0 and row.lost_units == 0 and row.fill_rate == 1.0
        assert row.cycle_service_level == 1.0
        assert row.orders > 0 and row.units_ordered % 12 == 0 and row.units_ordered >= 24 * 1
        assert row.demand_units == 5 * 40
    # base stock: S = s = 5 x (L + R) = 50 units on a flat series with no spread
    plan = plan_policies(frame, parameters(["A"]), config)
    assert plan.reorder_point["snaive"][0, 0, 0] == 50
    assert plan.reorder_point[CLASSIC][0, 0, 0] == 50


def test_served_plus_lost_is_the_demand_and_stock_is_never_negative():
    frame = panel(4, 160, seed=1)
    result = replay(frame, parameters(frame["unique_id"].unique(), lead_time_sd_days=1.5, case_pack=6.0),
                    ReplayConfig(periods=30, **FAST))
    per = result.per_series
    served = per["fill_rate"] * per["demand_units"]
    np.testing.assert_allclose(served + per["lost_units"], per["demand_units"])
    assert (per["avg_stock_units"] >= 0).all() and (per["lost_units"] >= 0).all()
    assert (per["units_ordered"] >= 0).all()
    totals = per.groupby(["model", "service_level"])[["lost_units", "demand_units", "stockout_days"]].sum()
    summary = result.summary.set_index(["model", "service_level"])
    np.testing.assert_allclose(summary.loc[totals.index, "lost_units"], totals["lost_units"])
    np.testing.assert_allclose(summary.loc[totals.index, "demand_units"], totals["demand_units"])
    assert (summary.loc[totals.index, "stockout_days"] == totals["stockout_days"]).all()
    # a higher target never loses more in this panel (same demand, same lead times)
    for _, part in result.summary.groupby("model"):
        assert part.sort_values("service_level")["lost_units"].is_monotonic_decreasing


def test_forecasts_never_see_data_at_or_after_their_origin(monkeypatch):
    seen = []
    real = replay_module.make_model

    def spy(name, **settings):
        model = real(name, **settings)
        fit = model.fit

        def recorded(df):
            seen.append(df["ds"].max())
            return fit(df)

        model.fit = recorded
        return model

    monkeypatch.setattr(replay_module, "make_model", spy)
    frame = panel(2, 120, seed=2)
    config = ReplayConfig(periods=21, forecast_every=7, **FAST)
    plan = plan_policies(frame, parameters(frame["unique_id"].unique()), config)
    origins = plan.dates[[0, 7, 14]]
    assert len(seen) == 3
    assert all(last < origin for last, origin in zip(seen, origins))
    assert all(last == origin - pd.Timedelta(days=1) for last, origin in zip(seen, origins))


def test_a_spike_after_the_origin_does_not_move_the_first_levels():
    frame = panel(2, 120, seed=3)
    config = ReplayConfig(periods=28, forecast_every=28, models=("ets",), service_levels=(0.95,), n_samples=50)
    params = parameters(frame["unique_id"].unique())
    spiked = frame.copy()
    after = spiked["ds"] >= spiked["ds"].max() - pd.Timedelta(days=20)
    spiked.loc[after, "y"] = 10_000.0
    calm, wild = plan_policies(frame, params, config), plan_policies(spiked, params, config)
    for name in ("ets", CLASSIC):
        np.testing.assert_array_equal(calm.reorder_point[name][..., :7], wild.reorder_point[name][..., :7])
    assert np.nanmax(wild.reorder_point[CLASSIC]) > np.nanmax(calm.reorder_point[CLASSIC])  # the classic sees it later


def hand_plan(demand: np.ndarray, level: float = 10.0, lead: int = 2, review: int = 7) -> ReplayPlan:
    n, periods = demand.shape
    levels = np.full((1, n, periods), np.nan)
    levels[:, :, ::review] = level
    table = pd.DataFrame({"lead_time": float(lead), "lead_time_sd": 0.0, "lead_nominal": lead,
                          "review_period": review, "moq": 0.0, "case_pack": 1.0, "unit_cost": 3.0},
                         index=pd.Index([f"S{i}" for i in range(n)], name="unique_id"))
    plan = ReplayPlan(ids=np.array(table.index, dtype=object),
                      dates=pd.date_range("2026-01-01", periods=periods, freq="D"), freq="D",
                      config=ReplayConfig(models=("hand",), service_levels=(0.9,), classic=False),
                      parameters=table, demand=demand.astype(float), sales=demand.astype(float),
                      censored=np.zeros(demand.shape, dtype=bool),
                      lead_draws=np.full(demand.shape, lead, dtype=np.int64))
    plan.reorder_point["hand"], plan.order_up_to["hand"] = levels, levels.copy()
    plan.start_review_mean["hand"] = np.full(n, 7.0)
    plan.labels["hand"] = "hand-made"
    return plan


def test_cycle_service_counts_only_the_days_an_order_protects():
    demand = np.zeros((2, 14))
    demand[0, 1] = 20  # before the first cycle [2, 9): a stock-out day, but no failed cycle
    demand[1, 4] = 20  # inside it: the one counted cycle fails
    result = simulate(hand_plan(demand))
    per = result.per_series.set_index("unique_id")
    assert per["cycles"].tolist() == [1, 1]  # the review on day 7 protects [9, 16): not wholly inside
    assert per.loc["S0", "cycle_service_level"] == 1.0 and per.loc["S1", "cycle_service_level"] == 0.0
    assert per["stockout_days"].tolist() == [1, 1] and per["lost_units"].tolist() == [10.0, 10.0]
    # S0: 10 on hand on day 0, sold out on day 1, reordered 10 on day 7 (position 0 < 10), in on day 9
    assert per.loc["S0", "orders"] == 1 and per.loc["S0", "units_ordered"] == 10
    assert per.loc["S0", "avg_stock_units"] == pytest.approx((10 + 10 * 5) / 14)
    assert per.loc["S0", "avg_stock_value"] == pytest.approx(3 * (10 + 10 * 5) / 14)
    assert result.summary.loc[0, "cycle_service_level"] == 0.5


def test_start_in_steady_state_has_the_orders_in_transit():
    demand = np.full((1, 21), 2.0)
    plan = hand_plan(demand, level=30.0, lead=10, review=3)  # orders of reviews -3, -6, -9 still in transit
    stock = replay_module._run(plan, "hand", plan.demand)["on_hand"][0, 0]
    assert stock[0] == 30 - 3 * 7 - 2  # S minus three orders of the expected review demand (7), minus day 0


def test_classic_policy_is_the_textbook_formula():
    rng = np.random.default_rng(0)
    history = rng.poisson(8.0, (3, 70)).astype(float)
    history[1, -3:] = np.nan  # stock-out days are left out
    lead, spread, review = np.array([4.0, 7.0, 2.0]), np.array([0.0, 1.5, 0.5]), np.array([7.0, 7.0, 3.0])
    got = classic_levels(history, lead, spread, review, 0.95)
    mu = np.nanmean(history[:, -7:], axis=1)
    sigma = np.nanstd(history[:, -56:], axis=1, ddof=1)
    cover = lead + review
    expected = np.ceil(mu * cover + stats.norm.ppf(0.95) * np.sqrt(cover * sigma ** 2 + mu ** 2 * spread ** 2))
    np.testing.assert_array_equal(got, expected)
    # fill rate: the normal loss equation sigma_P G(z) = (1 - beta) mu R
    fill = classic_levels(history, lead, spread, review, 0.99, target=FILL_RATE)
    sigma_p = np.sqrt(cover * sigma ** 2 + mu ** 2 * spread ** 2)
    z = (fill - mu * cover) / sigma_p
    loss = stats.norm.pdf(z) - z * stats.norm.sf(z)
    assert np.all(sigma_p * loss <= 0.01 * mu * review + 1e-9)
    assert np.all(fill < got)  # a 99% fill rate needs less than a 95% cycle service here


def test_summary_has_one_row_per_model_and_target_with_every_column():
    frame = panel(3, 130, seed=4)
    config = ReplayConfig(periods=21, models=("snaive", "ets"), service_levels=(0.8, 0.9, 0.98), n_samples=50)
    result = replay(frame, parameters(frame["unique_id"].unique()), config)
    assert list(result.summary.columns) == SUMMARY_COLUMNS
    assert len(result.summary) == 3 * 3 and set(result.summary["model"]) == {"snaive", "ets", CLASSIC}
    assert (result.summary["series"] == 3).all() and (result.summary["periods"] == 21).all()
    assert len(result.per_series) == 3 * 3 * 3
    assert result.start == frame["ds"].max() - pd.Timedelta(days=20) and result.end == frame["ds"].max()
    assert set(result.seconds) == {"snaive", "ets", CLASSIC}
    again = replay(frame, parameters(frame["unique_id"].unique()), config)
    pd.testing.assert_frame_equal(result.summary, again.summary)  # deterministic


def test_weekly_data_converts_days_to_periods():
    frame = panel(3, 90, freq="W", seed=5)
    params = parameters(frame["unique_id"].unique(), lead_time_days=14.0, review_period_days=7.0,
                        lead_time_sd_days=3.5)
    plan = plan_policies(frame, params, ReplayConfig(periods=12, **FAST))
    assert plan.freq == "W" and len(plan.dates) == 12
    assert plan.parameters["lead_time"].tolist() == [2.0] * 3 and plan.parameters["review_period"].tolist() == [1] * 3
    assert plan.parameters["lead_time_sd"].tolist() == [0.5] * 3
    result = simulate(plan)
    assert result.summary["cycles"].gt(0).all() and result.summary["fill_rate"].between(0, 1).all()
    assert any("weekly periods of 7 days" in note for note in result.notes)


def test_blank_invalid_and_missing_parameters_take_the_defaults():
    frame = panel(3, 100, seed=6)
    ids = sorted(frame["unique_id"].unique())
    given = pd.DataFrame({"unique_id": ids[:2], "lead_time_days": [np.nan, 5.0], "case_pack": [-4.0, 6.0],
                          "review_period_days": [0.0, 3.0], "unit_cost": ["n/a", 9.5]})
    config = ReplayConfig(periods=14, default_lead_time_days=4.0, default_review_period_days=7.0,
                          default_unit_cost=1.5, **FAST)
    plan = plan_policies(frame, given, config)
    table = plan.parameters.loc[ids]
    assert table["lead_time_days"].tolist() == [4.0, 5.0, 4.0]
    assert table["case_pack"].tolist() == [1.0, 6.0, 1.0]
    assert table["review_period"].tolist() == [7, 3, 7]
    assert table["unit_cost"].tolist() == [1.5, 9.5, 1.5]
    assert any("1 series had no row" in note for note in plan.notes)
    assert any("blank or invalid" in note for note in plan.notes)
    # no parameters at all, and parameters keyed by sku + channel like an inventory snapshot
    assert plan_policies(frame, None, config).parameters["lead_time_days"].eq(4.0).all()
    snapshot = pd.DataFrame({"sku": [i.split(" | ")[0] for i in ids], "channel": [i.split(" | ")[1] for i in ids],
                             "lead_time_days": [2.0, 3.0, 4.0]})
    assert plan_policies(frame, snapshot, config).parameters.loc[ids, "lead_time_days"].tolist() == [2.0, 3.0, 4.0]


def test_stockout_days_get_the_same_weekday_estimate():
    frame = constant_panel(units=5.0, n_periods=100)
    frame["stockout"] = 0
    last = frame.index[-1]
    frame.loc[last, ["y", "stockout"]] = [1.0, 1]  # censored: sold 1 of about 5
    frame.loc[last - 1, "y"] = np.nan  # no sales figure
    plan = plan_policies(frame, None, ReplayConfig(periods=10, **FAST))
    assert plan.demand[0, -1] == 5.0 and plan.demand[0, -2] == 5.0 and plan.censored[0, -2:].all()
    assert any("2 series-periods" in note for note in plan.notes)


def test_a_given_demand_replaces_the_sales():
    frame = constant_panel(units=5.0, n_periods=100)
    plan = plan_policies(frame, None, ReplayConfig(periods=14, **FAST))
    truth = pd.DataFrame({"unique_id": "A", "ds": plan.dates, "y": 6.0})
    assert simulate(plan, truth).summary["demand_units"].eq(6.0 * 14).all()
    assert simulate(plan).summary["demand_units"].eq(5.0 * 14).all()


def test_frontier_gap_interpolates_along_the_reference():
    summary = pd.DataFrame({
        "model": ["classic", "classic", "m", "m"], "target": "cycle service level",
        "service_level": [0.9, 0.95, 0.9, 0.95], "cycle_service_level": [0.8, 0.9, 0.85, 0.97],
        "avg_stock_value": [100.0, 200.0, 120.0, 300.0], "avg_stock_units": [10.0, 20.0, 12.0, 30.0],
    })
    gap = frontier_gap(summary, "m")
    assert gap.loc[0, "reference_stock_value"] == pytest.approx(150.0)
    assert gap.loc[0, "stock_saved"] == pytest.approx(0.2)
    assert np.isnan(gap.loc[1, "stock_saved"])  # beyond the service the classic policy reached
    with pytest.raises(ReplayError, match="no rows for 'lgbm'"):
        frontier_gap(summary, "lgbm")


def test_configuration_errors_say_what_to_change():
    with pytest.raises(ReplayError, match="Unknown service target"):
        ReplayConfig(target="fill")
    with pytest.raises(ReplayError, match="between 0 and 1"):
        ReplayConfig(service_levels=(95,))
    with pytest.raises(ReplayError, match="Replay fewer periods"):
        plan_policies(constant_panel(n_periods=30), None, ReplayConfig(periods=30, **FAST))


def test_fill_rate_target_and_a_tiny_fine_tuned_transformer():
    frame = panel(2, 140, seed=7)
    config = ReplayConfig(periods=14, forecast_every=14, models=(f"tsfm@{TINY}",), service_levels=(0.95,),
                          target=FILL_RATE, n_samples=50)
    result = replay(frame, parameters(frame["unique_id"].unique()), config)
    assert result.summary["label"].iloc[0].startswith("Fine-tuned transformer")
    assert (result.summary["target"] == FILL_RATE).all()
    gap = frontier_gap(result.summary, f"tsfm@{TINY}")
    assert gap["service"].iloc[0] == "fill_rate"


def test_protection_coverage_counts_reviews_whose_demand_stayed_within_the_reorder_point():
    demand = np.zeros((2, 14))
    demand[1, 3] = 11  # 11 units in the window [0, 9) of the review on day 0: above the reorder point 10
    coverage = replay_module.protection_coverage(hand_plan(demand))
    assert coverage.loc[0, "reviews"] == 2 and coverage.loc[0, "coverage"] == 0.5
