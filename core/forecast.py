"""Forecasts for the future: the models fitted on all history, and "auto" assembled per segment."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from core import schema
from core.backtest import (
    AUTO,
    AUTO_MODEL,
    BacktestConfig,
    apply_choice,
    cross_validation,
)
from core.data.calendar import DEFAULT_COUNTRIES
from core.models import DEFAULT_MODELS, DEFAULT_QUANTILES, make_model
from core.models.base import PLANNED_COLUMNS, check_frame, infer_freq
from core.segments import segment_series

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class ForecastConfig:
    """What to forecast. ``models`` may include ``"auto"``: the best model per ABC-XYZ segment, chosen by a
    backtest of ``auto_windows`` windows over the other models named (all baselines and LightGBM when none are).
    Segments are those of the whole history: a series that moved segment takes its new segment's model."""

    h: int
    models: tuple[str, ...] = (AUTO,)
    quantiles: tuple[float, ...] = DEFAULT_QUANTILES
    known_future: tuple[str, ...] = PLANNED_COLUMNS
    countries: tuple[str, ...] = DEFAULT_COUNTRIES
    freq: str | None = None
    seed: int = 0
    auto_windows: int = 2


def run_forecast(df: pd.DataFrame, config: ForecastConfig, X_df: pd.DataFrame | None = None,
                 auto_choice: pd.DataFrame | None = None, progress: Progress | None = None) -> pd.DataFrame:
    """``unique_id, ds`` and, per model, its point and ``<model>-q<pct>`` columns (plus ``auto_model``: which
    model the auto forecast took for each series). ``auto_choice`` (segment -> model, from a backtest) skips the
    selection backtest."""
    check_frame(df)
    freq = config.freq or infer_freq(df[schema.DS])
    named = [m for m in config.models if m != AUTO]
    wants_auto = AUTO in config.models
    candidates = named if named else list(DEFAULT_MODELS)
    if wants_auto and (auto_choice is None or auto_choice.empty):
        auto_choice = _choose(df, config, freq, candidates, progress)
    needed = list(dict.fromkeys(named + (list(auto_choice["model"].unique()) if wants_auto else [])))
    forecast = None
    for i, name in enumerate(needed):
        if progress:
            progress(i / len(needed), f"Forecasting: {name}")
        model = make_model(name, freq=freq, known_future=config.known_future, countries=config.countries,
                           seed=config.seed)
        part = model.fit(df).predict(config.h, X_df=X_df, quantiles=config.quantiles)
        forecast = part if forecast is None else forecast.merge(part, on=[schema.UNIQUE_ID, schema.DS])
    if wants_auto:
        segments = segment_series(df, freq)
        chosen = auto_choice.set_index("segment")["model"]
        forecast = apply_choice(forecast, chosen, segments, needed)
        forecast = forecast.drop(columns=[c for c in forecast.columns if _model_of(c) in needed and
                                          _model_of(c) not in named])
        forecast = forecast[[c for c in forecast.columns if c != AUTO_MODEL] + [AUTO_MODEL]]
    if progress:
        progress(1.0, "Done")
    return forecast


def _choose(df: pd.DataFrame, config: ForecastConfig, freq: str, candidates: list[str],
            progress: Progress | None) -> pd.DataFrame:
    """Segment -> model: by a backtest when there is more than one candidate, else the one model everywhere."""
    if len(candidates) == 1:
        segments = segment_series(df, freq)["segment"].unique()
        return pd.DataFrame({"segment": segments, "model": candidates[0], "series": 0})
    backtest = cross_validation(df, BacktestConfig(
        h=config.h, n_windows=config.auto_windows, models=tuple(candidates), quantiles=config.quantiles,
        known_future=config.known_future, countries=config.countries, freq=freq, seed=config.seed,
    ), progress=(lambda f, m: progress(f, f"Choosing models: {m}")) if progress else None)
    return backtest.auto_choice


def _model_of(column: str) -> str:
    parsed = schema.parse_quantile_column(column)
    return parsed[0] if parsed else column
