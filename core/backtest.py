"""Rolling-origin backtests: how each model would have done on the history it did not see.

For each cutoff the models are fitted on the rows dated on or before it and forecast the ``h`` periods after it;
only the known-future columns (planned promotion, price, declared covariates) of those periods are passed in, never
their units. Cutoffs step back from the end of the data: the last window ends on the last date.

"Auto" picks, per ABC-XYZ segment, the model with the lowest mean MASE. In the backtest its score is honest:
the choice for each window is made on the *other* windows only. With a single window there is nothing else to
choose on, so the choice is made and scored on the same window (``BacktestResult.auto_in_sample``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core import metrics, schema
from core.data.calendar import DEFAULT_COUNTRIES
from core.errors import StockPilotError
from core.models import DEFAULT_MODELS, DEFAULT_QUANTILES, MODELS, is_known, make_model
from core.models.base import (
    PLANNED_COLUMNS,
    check_frame,
    check_quantiles,
    date_grid,
    default_season_length,
    future_dates,
    infer_freq,
)
from core.segments import segment_series

AUTO = "auto"
AUTO_MODEL = "auto_model"
CUTOFF = "cutoff"
#: segments with fewer series than this use the model that is best over all series
MIN_SEGMENT_SERIES = 5
Progress = Callable[[float, str], None]


class BacktestError(StockPilotError):
    """The backtest cannot run as asked (too little history for the windows, unknown model...)."""


@dataclass(frozen=True)
class BacktestConfig:
    """What to backtest. ``step`` is the number of periods between cutoffs (default: ``h``, windows that
    do not overlap); ``known_future`` the columns whose future values a planner knows."""

    h: int
    n_windows: int = 3
    step: int | None = None
    models: tuple[str, ...] = DEFAULT_MODELS
    quantiles: tuple[float, ...] = DEFAULT_QUANTILES
    known_future: tuple[str, ...] = PLANNED_COLUMNS
    countries: tuple[str, ...] = DEFAULT_COUNTRIES
    freq: str | None = None
    seed: int = 0
    auto: bool = True

    def model_settings(self, freq: str) -> dict:
        return {"freq": freq, "known_future": self.known_future, "countries": self.countries, "seed": self.seed}


@dataclass
class BacktestResult:
    """Everything a backtest produced, as data."""

    results: pd.DataFrame
    leaderboard: pd.DataFrame
    by_segment: pd.DataFrame
    segments: pd.DataFrame
    auto_choice: pd.DataFrame
    config: BacktestConfig
    freq: str
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def cutoffs(self) -> list[pd.Timestamp]:
        return sorted(pd.to_datetime(self.results[CUTOFF].unique()))

    @property
    def auto_in_sample(self) -> bool:
        """True when auto's score is optimistic: chosen on the one window it is scored on."""
        return not self.auto_choice.empty and self.results[CUTOFF].nunique() < 2


def cutoff_dates(end: pd.Timestamp, h: int, n_windows: int, step: int, freq: str) -> list[pd.Timestamp]:
    """The cutoffs, oldest first: the last is ``h`` periods before ``end``, the others ``step`` periods apart."""
    back = [h + step * k for k in range(n_windows)][::-1]
    if freq == schema.MONTHLY:
        return [end - pd.DateOffset(months=b) for b in back]
    unit = pd.Timedelta(days=1 if freq == schema.DAILY else 7)
    return [end - unit * b for b in back]


def cross_validation(df: pd.DataFrame, config: BacktestConfig, progress: Progress | None = None) -> BacktestResult:
    """Run the backtest described by ``config`` on a clean long frame."""
    check_frame(df)
    _check_config(config)
    freq = config.freq or infer_freq(df[schema.DS])
    step = config.step or config.h
    quantiles = check_quantiles(config.quantiles)
    end = df[schema.DS].max()
    cutoffs = cutoff_dates(end, config.h, config.n_windows, step, freq)
    _check_history(df, cutoffs[0], freq, config)
    known = [c for c in config.known_future if c in df.columns]
    tasks = len(cutoffs) * len(config.models)
    done = 0
    seconds = dict.fromkeys(config.models, 0.0)
    windows = []
    for cutoff in cutoffs:
        train = df.loc[df[schema.DS] <= cutoff]
        horizon_end = future_dates(cutoff, config.h, freq)[-1]
        test = df.loc[(df[schema.DS] > cutoff) & (df[schema.DS] <= horizon_end)]
        actual = test[[schema.UNIQUE_ID, schema.DS, schema.Y]]
        future = test[[schema.UNIQUE_ID, schema.DS, *known]]
        window = None
        for name in config.models:
            if progress:
                progress(done / tasks, f"Window ending {horizon_end:%Y-%m-%d}: {name}")
            started = time.perf_counter()
            model = make_model(name, **config.model_settings(freq))
            forecast = model.fit(train).predict(config.h, X_df=future, quantiles=quantiles)
            seconds[name] += time.perf_counter() - started
            window = forecast if window is None else window.merge(forecast, on=[schema.UNIQUE_ID, schema.DS])
            done += 1
        window = actual.merge(window, on=[schema.UNIQUE_ID, schema.DS], how="inner")
        window.insert(2, CUTOFF, cutoff)
        windows.append(window)
    if progress:
        progress(1.0, "Scoring")
    results = pd.concat(windows, ignore_index=True)
    results = results[[schema.UNIQUE_ID, schema.DS, CUTOFF, schema.Y]
                      + [c for c in results.columns if c not in (schema.UNIQUE_ID, schema.DS, CUTOFF, schema.Y)]]
    history = df.loc[df[schema.DS] <= cutoffs[0]]
    season = default_season_length(freq)
    scales = metrics.seasonal_scales(history, season)
    segments = segment_series(history, freq)
    models = list(config.models)
    choice = pd.DataFrame(columns=["segment", "model", "series"])
    if config.auto and len(models) > 1:
        results, choice = add_auto(results, scales, segments, models)
        models.append(AUTO)
    baseline = metrics.BASELINE if metrics.BASELINE in models else models[0]
    leaderboard = metrics.summarize(results, scales, models, baseline)
    # auto costs what the models it chooses from cost
    leaderboard["seconds"] = leaderboard["model"].map({**seconds, AUTO: sum(seconds.values())})
    leaderboard = leaderboard.sort_values("mase", kind="stable").reset_index(drop=True)
    by_segment = _breakdowns(results, scales, segments, models, baseline)
    return BacktestResult(results, leaderboard, by_segment, segments, choice, config, freq, seconds)


def _check_config(config: BacktestConfig) -> None:
    if not isinstance(config.h, (int, np.integer)) or config.h < 1:
        raise BacktestError(f"The horizon must be a whole number of periods, at least 1; got {config.h!r}.")
    if not isinstance(config.n_windows, (int, np.integer)) or config.n_windows < 1:
        raise BacktestError(f"The number of windows must be at least 1; got {config.n_windows!r}.")
    if config.step is not None and config.step < 1:
        raise BacktestError(f"The step between windows must be at least 1 period; got {config.step!r}.")
    if not config.models:
        raise BacktestError("No models to backtest: name at least one (e.g. snaive,ets,lgbm).")
    unknown = [m for m in config.models if not is_known(m)]
    if unknown:
        raise BacktestError(f"Unknown model(s) {', '.join(unknown)}; known: {', '.join(MODELS)}.")


def _check_history(df: pd.DataFrame, first_cutoff: pd.Timestamp, freq: str, config: BacktestConfig) -> None:
    start = df[schema.DS].min()
    periods = len(date_grid(start, first_cutoff, freq)) if first_cutoff >= start else 0
    needed = 2 * default_season_length(freq)
    if periods < needed:
        total = len(date_grid(start, df[schema.DS].max(), freq))
        raise BacktestError(
            f"Too little history for {config.n_windows} window(s) of {config.h} {schema.FREQ_NAMES[freq]} periods: "
            f"the first window would train on {max(periods, 0)} periods, and at least {needed} are needed "
            f"(the data have {total}). Use fewer windows or a shorter horizon."
        )


def add_auto(results: pd.DataFrame, scales: pd.DataFrame, segments: pd.DataFrame,
              models: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Add the ``auto`` columns (chosen on the other windows) and return the final choice (on all windows)."""
    per_window = _window_mase(results, scales, models)
    cutoffs = sorted(results[CUTOFF].unique())
    pieces = []
    for cutoff in cutoffs:
        others = per_window.loc[per_window[CUTOFF] != cutoff] if len(cutoffs) > 1 else per_window
        chosen = choose_by_segment(others, segments)
        part = results.loc[results[CUTOFF] == cutoff]
        pieces.append(apply_choice(part, chosen, segments, models))
    final = choose_by_segment(per_window, segments)
    table = final.rename("model").rename_axis("segment").reset_index()
    table["series"] = table["segment"].map(segments["segment"].value_counts()).fillna(0).astype(int)
    return pd.concat(pieces).sort_index(), table


def _window_mase(results: pd.DataFrame, scales: pd.DataFrame, models: Sequence[str]) -> pd.DataFrame:
    scored = results.loc[results[schema.Y].notna()]
    keys = [scored[schema.UNIQUE_ID], scored[CUTOFF]]
    frame = pd.DataFrame({m: (scored[m] - scored[schema.Y]).abs().groupby(keys).mean() for m in models})
    scale = scales["scale"].reindex(frame.index.get_level_values(0)).to_numpy()
    frame = frame.div(scale, axis=0)
    return frame.reset_index().rename(columns={"level_0": schema.UNIQUE_ID, "level_1": CUTOFF})


def choose_by_segment(per_window: pd.DataFrame, segments: pd.DataFrame) -> pd.Series:
    """The model with the lowest mean MASE in each segment (the overall best for segments that are too small)."""
    models = [c for c in per_window.columns if c not in (schema.UNIQUE_ID, CUTOFF)]
    labels = per_window[schema.UNIQUE_ID].map(segments["segment"])
    overall = per_window[models].mean().idxmin()
    means = per_window[models].groupby(labels).mean()
    counts = per_window.groupby(labels)[schema.UNIQUE_ID].nunique()
    chosen = means.idxmin(axis=1).where(counts.reindex(means.index) >= MIN_SEGMENT_SERIES, overall)
    missing = pd.Index(segments["segment"].unique()).difference(chosen.index)
    return pd.concat([chosen, pd.Series(overall, index=missing)])


def apply_choice(part: pd.DataFrame, chosen: pd.Series, segments: pd.DataFrame,
                 models: Sequence[str]) -> pd.DataFrame:
    """Add ``auto`` point and quantile columns taken, per series, from the model chosen for its segment."""
    model_of = part[schema.UNIQUE_ID].map(segments["segment"]).map(chosen).fillna(chosen.iloc[0])
    part = part.copy()
    part[AUTO] = np.nan
    for model in models:
        rows = model_of == model
        part.loc[rows, AUTO] = part.loc[rows, model]
        for column in [c for c in part.columns if (schema.parse_quantile_column(c) or ("", 0))[0] == model]:
            target = column.replace(f"{model}-q", f"{AUTO}-q", 1)
            if target not in part.columns:
                part[target] = np.nan
            part.loc[rows, target] = part.loc[rows, column]
    part[AUTO_MODEL] = model_of.to_numpy()
    return part


def _breakdowns(results: pd.DataFrame, scales: pd.DataFrame, segments: pd.DataFrame,
                models: Sequence[str], baseline: str) -> pd.DataFrame:
    """Leaderboards within ABC class, XYZ class, ABC-XYZ segment and channel (when there is one)."""
    parts = []
    kinds = ["abc", "xyz", "segment"] + [c for c in (schema.CHANNEL, schema.CATEGORY) if c in segments.columns]
    for kind in kinds:
        table = metrics.summarize_by(results, scales, segments[kind], models, baseline)
        table.insert(0, "by", kind)
        parts.append(table)
    return pd.concat(parts, ignore_index=True)
