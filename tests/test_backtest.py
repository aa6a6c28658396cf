"""Rolling-origin backtests: cutoffs, invariants, no leakage, the auto choice, and clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core import schema
from core.backtest import AUTO, AUTO_MODEL, CUTOFF, BacktestConfig, BacktestError, cross_validation, cutoff_dates
from core.data.synthetic import generate_series
from core.data.validate import load_sales


def _panel(n_series=6, n_periods=200, freq=schema.DAILY, seed=1) -> pd.DataFrame:
    raw = generate_series(n_series=n_series, n_periods=n_periods, freq=freq, seed=seed)
    return load_sales(raw.to_csv(index=False).encode(), filename="sales.csv").frame


def test_cutoffs_step_back_from_the_end():
    end = pd.Timestamp("2024-03-31")
    assert cutoff_dates(end, 7, 3, 7, schema.DAILY) == [pd.Timestamp(d) for d in
                                                       ("2024-03-10", "2024-03-17", "2024-03-24")]
    assert cutoff_dates(end, 4, 2, 1, schema.WEEKLY) == [end - pd.Timedelta(weeks=5), end - pd.Timedelta(weeks=4)]


def test_every_forecast_lies_in_its_window_and_every_series_is_scored():
    frame = _panel()
    result = cross_validation(frame, BacktestConfig(h=14, n_windows=3, models=("snaive", "ets")))
    rows = result.results
    horizon = rows[schema.DS] - rows[CUTOFF]
    assert (horizon > pd.Timedelta(0)).all() and (horizon <= pd.Timedelta(days=14)).all()
    assert len(rows) == 3 * 14 * frame[schema.UNIQUE_ID].nunique()
    assert rows[CUTOFF].nunique() == 3
    for model in ("snaive", "ets", AUTO):
        assert rows[model].notna().all()
        assert (rows[schema.quantile_column(model, 0.1)] <= rows[schema.quantile_column(model, 0.9)]).all()
    assert set(result.leaderboard["model"]) == {"snaive", "ets", AUTO}
    snaive = result.leaderboard.set_index("model").loc["snaive"]
    assert snaive["rel_mase"] == pytest.approx(1.0)
    assert {"abc", "xyz", "segment", schema.CHANNEL} <= set(result.by_segment["by"])


@pytest.mark.parametrize("model", ["snaive", "ets", "tsb", "lgbm", "tsfm"])
def test_forecasts_do_not_see_the_future(model):
    """Changing every actual after a cutoff must not change that cutoff's forecasts."""
    frame = _panel(n_series=4, n_periods=160)
    config = BacktestConfig(h=14, n_windows=2, models=(model,), auto=False)
    first = cross_validation(frame, config).results
    cutoff = first[CUTOFF].min()
    changed = frame.copy()
    after = changed[schema.DS] > cutoff
    changed.loc[after, schema.Y] = changed.loc[after, schema.Y] * 10 + 50
    second = cross_validation(changed, config).results
    columns = [c for c in first.columns if c.startswith(model)]
    pd.testing.assert_frame_equal(first.loc[first[CUTOFF] == cutoff, columns].reset_index(drop=True),
                                  second.loc[second[CUTOFF] == cutoff, columns].reset_index(drop=True))


def test_a_future_only_signal_does_not_improve_scores():
    """Tomorrow's sales in a column that is not declared known in advance must not be used."""
    frame = _panel(n_series=4, n_periods=160)
    leaky = frame.assign(tomorrow=frame.groupby(schema.UNIQUE_ID)[schema.Y].shift(-1))
    config = BacktestConfig(h=14, n_windows=2, models=("lgbm",), auto=False)
    plain = cross_validation(frame, config).leaderboard.set_index("model")
    with_leak = cross_validation(leaky, config).leaderboard.set_index("model")
    assert with_leak.loc["lgbm", "mase"] == pytest.approx(plain.loc["lgbm", "mase"])


def test_auto_takes_each_series_from_the_model_chosen_for_it():
    result = cross_validation(_panel(), BacktestConfig(h=7, n_windows=2, models=("snaive", "ets")))
    rows = result.results
    for model in ("snaive", "ets"):
        chosen = rows[AUTO_MODEL] == model
        np.testing.assert_allclose(rows.loc[chosen, AUTO], rows.loc[chosen, model])
        np.testing.assert_allclose(rows.loc[chosen, f"{AUTO}-q90"], rows.loc[chosen, f"{model}-q90"])
    assert set(result.auto_choice["model"]) <= {"snaive", "ets"}
    assert set(result.auto_choice["segment"]) == set(result.segments["segment"])


def test_weekly_data_backtest():
    frame = _panel(n_series=3, n_periods=130, freq=schema.WEEKLY)
    result = cross_validation(frame, BacktestConfig(h=8, n_windows=2, models=("snaive", "ets", "lgbm")))
    assert (result.results[schema.DS] - result.results[CUTOFF]).max() == pd.Timedelta(weeks=8)
    assert result.leaderboard["mase"].notna().all()


def test_too_little_history_is_a_clear_error():
    frame = _panel(n_series=2, n_periods=40)
    with pytest.raises(BacktestError, match="Too little history for 3 window"):
        cross_validation(frame, BacktestConfig(h=14, n_windows=3, models=("snaive",)))
    with pytest.raises(BacktestError, match="Unknown model"):
        cross_validation(frame, BacktestConfig(h=7, n_windows=1, models=("prophet",)))
