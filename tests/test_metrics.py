"""Metric functions against values worked out by hand."""

import numpy as np
import pandas as pd
import pytest

from core import metrics, schema


def test_pinball_weights_under_and_over_forecasts_by_the_level():
    y = np.array([10.0, 10.0])
    forecast = np.array([8.0, 13.0])  # under by 2, over by 3
    assert metrics.pinball(y, forecast, 0.9).tolist() == pytest.approx([1.8, 0.3])
    assert metrics.pinball(y, forecast, 0.1).tolist() == pytest.approx([0.2, 2.7])


def test_wql_is_twice_the_mean_scaled_pinball():
    y = np.array([10.0, 0.0, 30.0])
    quantiles = {0.1: np.array([5.0, 0.0, 20.0]), 0.5: np.array([10.0, 1.0, 25.0]), 0.9: np.array([15.0, 2.0, 40.0])}
    # q0.1: 0.5 + 0 + 1.0 = 1.5 ; q0.5: 0 + 0.5 + 2.5 = 3.0 ; q0.9: 0.5 + 0.2 + 1.0 = 1.7 ; sum |y| = 40
    expected = np.mean([2 * 1.5 / 40, 2 * 3.0 / 40, 2 * 1.7 / 40])
    assert metrics.wql(y, quantiles) == pytest.approx(expected)


def test_wape_bias_and_coverage():
    y = np.array([10.0, 20.0, 30.0, 40.0])
    forecast = np.array([12.0, 18.0, 33.0, 40.0])
    assert metrics.wape(y, forecast) == pytest.approx(7 / 100)
    assert metrics.bias(y, forecast) == pytest.approx(3 / 100)
    assert metrics.coverage(y, y - 1, np.array([11.0, 19.0, 31.0, 41.0])) == pytest.approx(0.75)
    assert np.isnan(metrics.wape(np.zeros(3), np.ones(3)))


def _history():
    # series a: 1,2,...,14 -> every seasonal (m=7) difference is 7 ; series b: constant 5 -> falls back to its level
    dates = pd.date_range("2024-01-01", periods=14)
    return pd.DataFrame({
        schema.UNIQUE_ID: ["a"] * 14 + ["b"] * 14,
        schema.DS: list(dates) * 2,
        schema.Y: list(np.arange(1.0, 15.0)) + [5.0] * 14,
    })


def test_seasonal_scales_use_the_seasonal_difference_and_never_zero():
    scales = metrics.seasonal_scales(_history(), season_length=7)
    assert scales.loc["a", "scale"] == pytest.approx(7.0)
    assert scales.loc["a", "scale_sq"] == pytest.approx(49.0)
    assert scales.loc["b", "scale"] == pytest.approx(5.0)


def _results():
    dates = pd.date_range("2024-01-15", periods=2)
    return pd.DataFrame({
        schema.UNIQUE_ID: ["a", "a", "b", "b"],
        schema.DS: list(dates) * 2,
        "cutoff": pd.Timestamp("2024-01-14"),
        schema.Y: [15.0, 16.0, 5.0, 5.0],
        "snaive": [8.0, 9.0, 5.0, 6.0],     # errors a: 7,7 ; b: 0,1
        "model": [14.0, 17.0, 4.0, 5.0],    # errors a: 1,1 ; b: 1,0
        "model-q10": [10.0, 10.0, 3.0, 3.0],
        "model-q50": [14.0, 17.0, 4.0, 5.0],
        "model-q90": [20.0, 20.0, 6.0, 6.0],
    })


def test_summary_matches_hand_computed_figures():
    table = metrics.summarize(_results(), metrics.seasonal_scales(_history(), 7)).set_index("model")
    # MASE: a = 1/7, b = 0.5/5 -> mean 0.1214... ; snaive: a = 7/7, b = 0.5/5 -> 0.55
    assert table.loc["model", "mase"] == pytest.approx((1 / 7 + 0.1) / 2)
    assert table.loc["snaive", "mase"] == pytest.approx((1 + 0.1) / 2)
    # relMASE: geometric mean of MAE ratios a: 1/7, b: 0.5/0.5
    assert table.loc["model", "rel_mase"] == pytest.approx(np.sqrt(1 / 7))
    assert table.loc["snaive", "rel_mase"] == pytest.approx(1.0)
    assert table.loc["model", "wape"] == pytest.approx(3 / 41)
    assert table.loc["model", "bias"] == pytest.approx(-1 / 41)
    assert table.loc["model", "coverage_80"] == pytest.approx(1.0)
    assert np.isnan(table.loc["model", "coverage_95"])  # no q2.5 / q97.5 columns: not claimed
    assert np.isnan(table.loc["snaive", "wql"])


def test_rows_with_unobserved_actuals_are_not_scored():
    results = _results()
    results.loc[0, schema.Y] = np.nan
    table = metrics.summarize(results, metrics.seasonal_scales(_history(), 7)).set_index("model")
    assert table.loc["model", "rows"] == 3
    assert table.loc["model", "wape"] == pytest.approx(2 / 26)


def test_breakdown_by_group():
    table = metrics.summarize_by(_results(), metrics.seasonal_scales(_history(), 7), pd.Series({"a": "A", "b": "B"}))
    assert set(table["segment"]) == {"A", "B"}
    row = table.loc[(table["segment"] == "A") & (table["model"] == "model")].iloc[0]
    assert row["mase"] == pytest.approx(1 / 7)
