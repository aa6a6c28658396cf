"""The one forecaster interface every model implements, and the panel it works on.

``fit(df) -> self`` takes a long frame in the core contract (``unique_id``, ``ds``, ``y`` plus covariates);
``predict(h, X_df=None, quantiles=...)`` returns a long frame ``unique_id, ds, <name>, <name>-q<pct>...``;
``sample_paths(h, n_samples, X_df=None, seed=0)`` returns joint draws over the horizon (what replenishment needs
for demand over a lead time). Fitted state lives in attributes ending in ``_``.

Shared rules, enforced here so that every model follows them:

* every series is forecast from the end of the panel (the last date of any series): periods after a series' own
  last row are read as 0 units, like the gaps an export leaves out -- a discontinued item forecasts near 0;
* ``y`` may be NaN (unobserved: outages, data gaps); stock-out periods (``stockout == 1``) are censored sales
  and are treated as unobserved when fitting;
* series with fewer observed periods than a model needs are forecast by their own average so far (the fallback
  the data report promises), with Poisson quantiles; series that never sold forecast 0;
* forecasts and quantiles are never negative and quantiles never cross; for a series that only ever sold whole
  units the quantiles are whole units too (a forecast distribution stands for a count: a q10 of 0.02 means no
  sale), while the point forecast stays a mean.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import special, stats

from core import schema
from core.errors import StockPilotError

#: The quantile levels every model gives by default: the 80% band is q10-q90, the 95% band q2.5-q97.5.
DEFAULT_QUANTILES: tuple[float, ...] = (0.025, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.975)
#: Columns that are known ahead when planned and may be given for the future in ``X_df``.
PLANNED_COLUMNS: tuple[str, ...] = (schema.PROMO, schema.PRICE)
#: Columns describing a series (constant over time) that global models use as categories.
STATIC_COLUMNS: tuple[str, ...] = (schema.CHANNEL, schema.CATEGORY, schema.LOCATION)
_STEP = {schema.DAILY: pd.Timedelta(days=1), schema.WEEKLY: pd.Timedelta(days=7)}


class NotFittedError(StockPilotError):
    """A model was asked to forecast before it was fitted."""


class ForecastInputError(StockPilotError):
    """The frame given to a model does not follow the core contract."""


def infer_freq(ds: pd.Series | pd.DatetimeIndex) -> str:
    """``"D"``, ``"W"`` or ``"M"`` from the most common step between consecutive dates."""
    values = np.unique(pd.DatetimeIndex(ds).values.astype("datetime64[D]").astype(np.int64))
    if len(values) < 2:
        return schema.DAILY
    step = int(np.median(np.diff(values)))
    if step <= 1:
        return schema.DAILY
    if step <= 10:
        return schema.WEEKLY
    return schema.MONTHLY


def future_dates(last: pd.Timestamp, h: int, freq: str) -> pd.DatetimeIndex:
    """The ``h`` periods after ``last``."""
    if freq == schema.MONTHLY:
        return pd.DatetimeIndex([last + pd.DateOffset(months=k) for k in range(1, h + 1)])
    return pd.DatetimeIndex(last + _STEP[freq] * np.arange(1, h + 1))


def date_grid(start: pd.Timestamp, end: pd.Timestamp, freq: str) -> pd.DatetimeIndex:
    if freq == schema.MONTHLY:
        months = (end.year - start.year) * 12 + end.month - start.month
        return pd.DatetimeIndex([start + pd.DateOffset(months=k) for k in range(months + 1)])
    return pd.date_range(start, end, freq=_STEP[freq])


def default_season_length(freq: str) -> int:
    """The shortest seasonal period per frequency: a week of days, a year of weeks or months."""
    return schema.SEASONAL_PERIODS[freq][0]


@dataclass
class Panel:
    """A long frame laid out on one regular date grid: what local (per-series) models work on.

    ``y`` is ``(n_series, n_periods)`` with NaN where unobserved and before a series starts; ``start`` is each
    series' first period on the grid. ``frame`` is the long frame on the same grid (padded rows have ``y = 0``),
    sorted by ``unique_id, ds``, for global models.
    """

    ids: np.ndarray
    dates: pd.DatetimeIndex
    y: np.ndarray
    start: np.ndarray
    freq: str
    frame: pd.DataFrame
    statics: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def n_series(self) -> int:
        return len(self.ids)

    @property
    def end(self) -> pd.Timestamp:
        return self.dates[-1]

    def observed_counts(self) -> np.ndarray:
        return np.sum(~np.isnan(self.y), axis=1)


DUPLICATE_ROWS = "The frame has more than one row for the same unique_id and ds."


def check_frame(df: pd.DataFrame, duplicates: bool = True) -> None:
    """Raise :class:`ForecastInputError` naming what is wrong when ``df`` is not a core long frame
    (``duplicates=False`` leaves the check for repeated ``unique_id, ds`` to the caller)."""
    if not isinstance(df, pd.DataFrame):
        raise ForecastInputError(f"Expected a DataFrame with columns unique_id, ds, y; got {type(df).__name__}.")
    missing = [c for c in (schema.UNIQUE_ID, schema.DS, schema.Y) if c not in df.columns]
    if missing:
        raise ForecastInputError(
            f"The frame has no column(s) {', '.join(missing)} (it has: {', '.join(map(str, df.columns[:12]))}). "
            "Load sales through core.data.validate.load_sales, which returns frames with unique_id, ds and y."
        )
    if df.empty:
        raise ForecastInputError("The frame has no rows: there is nothing to forecast from.")
    if not pd.api.types.is_datetime64_any_dtype(df[schema.DS]):
        raise ForecastInputError(f"Column 'ds' must hold dates; it holds {df[schema.DS].dtype}.")
    if duplicates and df[[schema.UNIQUE_ID, schema.DS]].duplicated().any():
        raise ForecastInputError(DUPLICATE_ROWS)


def build_panel(df: pd.DataFrame, freq: str | None = None, end: pd.Timestamp | None = None) -> Panel:
    """Lay ``df`` out on a regular grid from its first date to ``end`` (default: its last date).

    Periods inside a series that have no row are unobserved (NaN); periods after a series' last row up to
    ``end`` are 0 units (see the module notes). Stock-out periods become unobserved in ``y`` (censored).
    """
    check_frame(df, duplicates=False)  # checked below on integer codes, much faster
    freq = freq or infer_freq(df[schema.DS])
    text_ids = df[schema.UNIQUE_ID].astype(str)
    first_codes, first_ids = pd.factorize(text_ids, sort=True)
    order = np.lexsort((df[schema.DS].to_numpy().astype("datetime64[s]").astype(np.int64), first_codes))
    frame = df.take(order)  # sorted by unique_id, ds (as sort_values, faster on text ids)
    frame = frame.assign(**{schema.UNIQUE_ID: text_ids.array.take(order),
                            schema.Y: pd.to_numeric(frame[schema.Y], errors="coerce").astype(float)})
    end = pd.Timestamp(end) if end is not None else frame[schema.DS].max()
    frame = frame.loc[frame[schema.DS] <= end]
    if frame.empty:
        raise ForecastInputError(f"No rows on or before {end:%Y-%m-%d}: there is nothing to forecast from.")
    dates = date_grid(frame[schema.DS].min(), end, freq)
    codes, ids = pd.factorize(frame[schema.UNIQUE_ID], sort=True)
    position = dates.get_indexer(frame[schema.DS])
    if np.any((codes[1:] == codes[:-1]) & (position[1:] == position[:-1]) & (position[1:] >= 0)):
        raise ForecastInputError(DUPLICATE_ROWS)  # rows are sorted: repeats are neighbours
    if (position < 0).any():
        bad = frame.loc[position < 0, schema.DS].iloc[0]
        raise ForecastInputError(
            f"Date {bad:%Y-%m-%d} is off the {schema.FREQ_NAMES[freq]} grid that starts on "
            f"{dates[0]:%Y-%m-%d}; pass freq= or aggregate the data to one period length first."
        )
    y = np.full((len(ids), len(dates)), np.nan)
    values = frame[schema.Y].to_numpy(dtype=float)
    if schema.STOCKOUT in frame.columns:
        values = np.where(frame[schema.STOCKOUT].fillna(0).to_numpy() == 1, np.nan, values)
    y[codes, position] = values
    start = np.full(len(ids), len(dates), dtype=np.int64)
    np.minimum.at(start, codes, position)
    last = np.full(len(ids), -1, dtype=np.int64)
    np.maximum.at(last, codes, position)
    after_last = np.arange(len(dates))[None, :] > last[:, None]
    y[after_last] = 0.0
    statics = _statics(frame)
    long = _padded_frame(frame, ids, dates, last, freq)
    return Panel(np.asarray(ids, dtype=object), dates, y, start, freq, long, statics)


def _statics(frame: pd.DataFrame) -> pd.DataFrame:
    present = [c for c in (schema.SKU,) + STATIC_COLUMNS if c in frame.columns]
    if not present:
        return pd.DataFrame(index=pd.Index(sorted(frame[schema.UNIQUE_ID].unique()), name=schema.UNIQUE_ID))
    return frame.groupby(schema.UNIQUE_ID, sort=True)[present].first()


def _padded_frame(frame: pd.DataFrame, ids: pd.Index, dates: pd.DatetimeIndex, last: np.ndarray,
                  freq: str) -> pd.DataFrame:
    """``frame`` plus the trailing periods (0 units, no promotion, last price) of series that end early."""
    short = np.flatnonzero(last < len(dates) - 1)
    if len(short) == 0:
        return frame.reset_index(drop=True)
    lengths = len(dates) - 1 - last[short]
    pad = pd.DataFrame({
        schema.UNIQUE_ID: np.repeat(np.asarray(ids)[short], lengths),
        schema.DS: np.concatenate([dates[last[i] + 1:] for i in short]),
        schema.Y: 0.0,
    })
    tails = frame.groupby(schema.UNIQUE_ID, sort=True).tail(1).set_index(schema.UNIQUE_ID)
    carried = [c for c in frame.columns if c not in (schema.UNIQUE_ID, schema.DS, schema.Y)]
    for column in carried:
        pad[column] = tails[column].reindex(pad[schema.UNIQUE_ID]).to_numpy()
    for column in (schema.PROMO, schema.RETURNS, schema.STOCKOUT):
        if column in pad.columns:
            pad[column] = 0
    if schema.FILLED in pad.columns:
        pad[schema.FILLED] = 1
    padded = pd.concat([frame, pad], ignore_index=True)
    return padded.sort_values([schema.UNIQUE_ID, schema.DS], kind="stable").reset_index(drop=True)


def future_frame(panel: Panel, h: int, X_df: pd.DataFrame | None, known_future: Sequence[str]) -> pd.DataFrame:
    """The ``h`` future periods of every series with its known-future columns.

    Values come from ``X_df`` where given; otherwise a planned column is assumed unchanged from the last period
    (price, an open/closed flag) except ``promo``, which is assumed 0 (no promotion planned).
    """
    dates = future_dates(panel.end, h, panel.freq)
    future = pd.DataFrame({
        schema.UNIQUE_ID: np.repeat(panel.ids, h),
        schema.DS: np.tile(dates.values, panel.n_series),
    })
    columns = [c for c in known_future if c in panel.frame.columns]
    if not columns:
        return future
    last = panel.frame.groupby(schema.UNIQUE_ID, sort=True)[columns].last()
    for column in columns:
        default = 0.0 if column == schema.PROMO else last[column].reindex(future[schema.UNIQUE_ID]).to_numpy()
        future[column] = default
    if X_df is not None and len(X_df):
        given = [c for c in columns if c in X_df.columns]
        if given:
            planned = X_df[[schema.UNIQUE_ID, schema.DS] + given].copy()
            planned[schema.UNIQUE_ID] = planned[schema.UNIQUE_ID].astype(str)
            merged = future[[schema.UNIQUE_ID, schema.DS]].merge(planned, how="left",
                                                                 on=[schema.UNIQUE_ID, schema.DS])
            for column in given:
                if pd.api.types.is_numeric_dtype(panel.frame[column]):
                    values = pd.to_numeric(merged[column], errors="coerce")
                    future[column] = values.fillna(pd.Series(future[column].to_numpy())).to_numpy()
                else:  # text (an event name): taken as given, a blank cell means none
                    future[column] = merged[column].to_numpy()
    return future


@dataclass(frozen=True)
class SamplePaths:
    """Joint draws of future demand: ``values[i, s, k]`` is draw ``s`` for series ``ids[i]`` at ``dates[k]``."""

    ids: np.ndarray
    dates: pd.DatetimeIndex
    values: np.ndarray

    def to_frame(self) -> pd.DataFrame:
        n, s, h = self.values.shape
        return pd.DataFrame({
            schema.UNIQUE_ID: np.repeat(self.ids, s * h),
            "sample": np.tile(np.repeat(np.arange(s), h), n),
            schema.DS: np.tile(self.dates.values, n * s),
            schema.Y: self.values.reshape(-1),
        })


def forecast_frame(name: str, ids: np.ndarray, dates: pd.DatetimeIndex, point: np.ndarray,
                   quantiles: dict[float, np.ndarray]) -> pd.DataFrame:
    """The long output frame: ``unique_id, ds, <name>, <name>-q<pct> ...`` (non-negative, non-crossing)."""
    n, h = point.shape
    out = {schema.UNIQUE_ID: np.repeat(ids, h), schema.DS: np.tile(dates.values, n),
           name: np.clip(point, 0, None).reshape(-1)}
    levels = sorted(quantiles)
    if levels:
        stacked = np.clip(np.stack([quantiles[q] for q in levels], axis=-1), 0, None)
        stacked = np.sort(stacked, axis=-1)
        for j, q in enumerate(levels):
            out[schema.quantile_column(name, q)] = stacked[..., j].reshape(-1)
    return pd.DataFrame(out)


def check_quantiles(quantiles: Sequence[float]) -> tuple[float, ...]:
    levels = tuple(sorted({float(q) for q in quantiles}))
    if any(not 0 < q < 1 for q in levels):
        raise ValueError(f"Quantile levels must lie strictly between 0 and 1; got {list(quantiles)}.")
    return levels


def poisson_quantiles(mean: np.ndarray, quantiles: Sequence[float]) -> dict[float, np.ndarray]:
    return {q: stats.poisson.ppf(q, np.clip(mean, 1e-9, None)).astype(float) for q in quantiles}


def count_quantiles(mean: np.ndarray, variance: np.ndarray, quantiles: Sequence[float]) -> dict[float, np.ndarray]:
    """Negative binomial quantiles with the given mean and variance (Poisson where the variance is not larger)."""
    mean = np.clip(mean, 1e-9, None)
    variance = np.broadcast_to(variance, mean.shape)
    over = variance > mean * 1.05
    size = np.where(over, mean ** 2 / np.maximum(variance - mean, 1e-9), 1.0)
    probability = np.where(over, mean / np.maximum(variance, 1e-9), 0.5)
    table = {}
    for q in quantiles:
        table[q] = np.where(over, stats.nbinom.ppf(q, size, probability), stats.poisson.ppf(q, mean)).astype(float)
    return table


def copula_samples(quantile_values: dict[float, np.ndarray], n_samples: int, seed: int,
                   correlation: float = 0.6) -> np.ndarray:
    """Draws with the given marginal quantiles and AR(1)-correlated ranks over the horizon.

    Forecast errors of one series are correlated from period to period (a slow week stays slow); drawing
    each period independently would understate the spread of demand over a lead time. ``correlation`` is the
    lag-one correlation of the Gaussian copula. Marginals are interpolated linearly between quantile levels.
    Returns ``(n_series, n_samples, h)``.
    """
    levels = np.array(sorted(quantile_values))
    table = np.stack([quantile_values[q] for q in levels], axis=-1)  # (n, h, L)
    table = np.sort(np.clip(table, 0, None), axis=-1)
    chunk = max(1, 2_000_000 // max(1, n_samples * table.shape[1]))  # bounded memory for many series
    starts = range(0, len(table), chunk)
    # each chunk has its own random stream, so the draws do not depend on which thread ran it first
    streams = np.random.SeedSequence(seed).spawn(len(starts))
    with ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:  # numpy's work releases the GIL
        parts = list(pool.map(lambda args: _copula_chunk(table[args[0]:args[0] + chunk], levels, n_samples,
                                                         np.random.default_rng(args[1]), correlation),
                              zip(starts, streams)))
    return np.concatenate(parts) if parts else np.zeros((0, n_samples, table.shape[1]), dtype=np.float32)


def _copula_chunk(table: np.ndarray, levels: np.ndarray, n_samples: int, rng: np.random.Generator,
                  correlation: float) -> np.ndarray:
    n, h, _ = table.shape
    # single precision: draws of demand need no more, and the arrays are large (series x samples x steps)
    z = np.empty((n, h, n_samples), dtype=np.float32)  # steps before samples: marginals looked up on the last axis
    z[:, 0] = rng.standard_normal((n, n_samples), dtype=np.float32)
    scale = np.float32(np.sqrt(1 - correlation ** 2))
    for k in range(1, h):
        z[:, k] = np.float32(correlation) * z[:, k - 1] + scale * rng.standard_normal((n, n_samples), dtype=np.float32)
    # extend the marginal flat beyond the outer levels, then interpolate per (series, step)
    u = np.clip(special.ndtr(z), levels[0], levels[-1]).astype(np.float32)
    step = np.diff(levels)
    if len(step) and np.allclose(step, step[0]):  # evenly spaced levels (what sample_paths asks for): no search
        position = (u - np.float32(levels[0])) / np.float32(step[0])
        index = np.clip(position.astype(np.int32), 0, len(levels) - 2)
        weight = np.clip(position - index.astype(np.float32), 0, 1)
    else:
        index = np.clip(np.searchsorted(levels, u, side="right") - 1, 0, len(levels) - 2)
        low_level = levels.astype(np.float32)
        weight = (u - low_level[index]) / (low_level[index + 1] - low_level[index])
    table = table.astype(np.float32)
    lo = np.take_along_axis(table, index, axis=2)
    hi = np.take_along_axis(table, index + 1, axis=2)
    return np.ascontiguousarray(np.transpose(lo + weight * (hi - lo), (0, 2, 1)))


def pit_scores(quantile_values: np.ndarray, levels: Sequence[float], actual: np.ndarray,
               usable: np.ndarray) -> np.ndarray:
    """Normal scores of what sold under earlier quantile forecasts ``(m, k, Q)``: ``Phi^-1`` of the level midway
    between the quantiles just below and just above the actual (ties of whole units fall in the middle); NaN where
    not ``usable``."""
    levels = np.asarray(levels, dtype=float)
    table = np.sort(quantile_values, axis=-1)
    below = np.where(table < actual[..., None], levels, 0.0).max(axis=-1)
    above = np.where(table > actual[..., None], levels, 1.0).min(axis=-1)
    u = np.clip((below + above) / 2, 0.01, 0.99)
    return np.where(usable, stats.norm.ppf(u), np.nan)


def ar1_equivalent_correlation(scores: np.ndarray, window: int = 14) -> float | None:
    """The AR(1) correlation whose sums over ``window`` consecutive periods have the variance that normal scores of
    forecast errors ``(m, k)`` (NaN where unknown) show: what the path copula needs so that demand over a lead time
    + review period is as spread as the errors say. Errors that persist (a level misjudged for weeks) raise it,
    day-to-day noise lowers it. ``None`` with fewer than 500 scores."""
    usable = np.isfinite(scores)
    if usable.sum() < 500 or scores.shape[1] < 2:
        return None
    window = min(window, scores.shape[1])
    z = np.where(usable, scores, 0.0)
    variance = (z ** 2).sum() / usable.sum()
    ratio = 1.0
    for lag in range(1, window):
        both = usable[:, lag:] & usable[:, :-lag]
        if both.sum() < 100:
            break
        correlation = (z[:, lag:] * z[:, :-lag])[both].mean() / variance
        ratio += 2 * (1 - lag / window) * correlation
    lags = np.arange(1, window)

    def sum_ratio(rho: float) -> float:
        return 1 + 2 * float(np.sum((1 - lags / window) * rho ** lags))

    low, high = 0.0, 0.98
    if ratio <= sum_ratio(low):
        return low
    if ratio >= sum_ratio(high):
        return high
    for _ in range(40):
        middle = (low + high) / 2
        low, high = (middle, high) if sum_ratio(middle) < ratio else (low, middle)
    return (low + high) / 2


class Forecaster(ABC):
    """Base class: common input handling, fallbacks for short series, output naming and sample paths.

    Subclasses implement :meth:`_fit` on a :class:`Panel` and :meth:`_forecast`, which returns the point
    forecast ``(n, h)`` and a dict of quantile arrays for the rows of ``self.modelled_`` (a boolean mask over
    ``panel_.ids``); everything else is handled here.
    """

    #: column name of the point forecast; quantiles are ``<name>-q<pct>``
    name: str = "model"
    #: what a planner reads in the leaderboard
    label: str = "Model"

    def __init__(self, freq: str | None = None, season_length: int | None = None,
                 known_future: Sequence[str] = PLANNED_COLUMNS):
        self.freq = freq
        self.season_length = season_length
        self.known_future = tuple(known_future)

    # -- what subclasses provide -----------------------------------------------------------------------------
    def min_history(self, freq: str) -> int:
        """Observed periods a series needs for this model (fewer: the own-average fallback)."""
        return 2 * (self.season_length or default_season_length(freq))

    @abstractmethod
    def _fit(self, panel: Panel, mask: np.ndarray) -> None:
        """Learn from the rows of ``panel`` selected by ``mask``."""

    @abstractmethod
    def _forecast(self, h: int, future: pd.DataFrame, quantiles: tuple[float, ...]
                  ) -> tuple[np.ndarray, dict[float, np.ndarray]]:
        """Point ``(m, h)`` and quantiles for the ``m`` modelled series, in ``panel_.ids`` order."""

    def _sample(self, h: int, future: pd.DataFrame, n_samples: int, seed: int) -> np.ndarray | None:
        """Model-specific joint draws ``(m, n_samples, h)``; ``None`` uses the quantile copula."""
        return None

    #: lag-one correlation of the copula used when a model has no sampler of its own; a model that checks itself on
    #: held-out periods sets ``path_correlation_`` from its errors there (:func:`ar1_equivalent_correlation`)
    path_correlation: float = 0.6

    # -- the interface ----------------------------------------------------------------------------------------
    def fit(self, df: pd.DataFrame) -> Forecaster:
        panel = build_panel(df, self.freq)
        self.freq_ = panel.freq
        self.season_length_ = self.season_length or default_season_length(panel.freq)
        self.panel_ = panel
        observed = panel.observed_counts()
        totals = np.nansum(panel.y, axis=1)
        self.never_sold_ = totals <= 0
        self.modelled_ = (observed >= self.min_history(panel.freq)) & ~self.never_sold_
        with np.errstate(invalid="ignore", divide="ignore"):
            self.fallback_mean_ = np.where(observed > 0, totals / np.maximum(observed, 1), 0.0)
        self.fallback_variance_ = np.zeros(panel.n_series)
        spread = observed > 1
        self.fallback_variance_[spread] = np.nanvar(panel.y[spread], axis=1, ddof=1)
        self.whole_units_ = np.all(np.isnan(panel.y) | (panel.y == np.round(panel.y)), axis=1)
        if self.modelled_.any():
            self._fit(panel, self.modelled_)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "panel_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with a sales frame first.")

    def predict(self, h: int, X_df: pd.DataFrame | None = None,
                quantiles: Sequence[float] = DEFAULT_QUANTILES) -> pd.DataFrame:
        """Forecast ``h`` periods after the panel end for every series: point and quantile columns."""
        self._check_fitted()
        h = _check_horizon(h)
        levels = check_quantiles(quantiles)
        panel = self.panel_
        future = future_frame(panel, h, X_df, self.known_future)
        point = np.zeros((panel.n_series, h))
        table = {q: np.zeros((panel.n_series, h)) for q in levels}
        rest = ~self.modelled_ & ~self.never_sold_
        if rest.any():
            mean = np.repeat(self.fallback_mean_[rest][:, None], h, axis=1)
            point[rest] = mean
            variance = self.fallback_variance_[rest][:, None]
            for q, values in count_quantiles(mean, variance, levels).items():
                table[q][rest] = values
        if self.modelled_.any():
            rows = np.repeat(self.modelled_, h)
            model_point, model_q = self._forecast(h, future.loc[rows].reset_index(drop=True), levels)
            point[self.modelled_] = model_point
            for q in levels:
                table[q][self.modelled_] = model_q[q]
        for q in levels:
            table[q][self.whole_units_] = np.round(table[q][self.whole_units_])
        return forecast_frame(self.name, panel.ids, future_dates(panel.end, h, panel.freq), point, table)

    def sample_paths(self, h: int, n_samples: int = 200, X_df: pd.DataFrame | None = None,
                     seed: int = 0) -> SamplePaths:
        """Joint draws over the horizon, for demand over a lead time. Reproducible for a given ``seed``."""
        self._check_fitted()
        h = _check_horizon(h)
        panel = self.panel_
        dates = future_dates(panel.end, h, panel.freq)
        future = future_frame(panel, h, X_df, self.known_future)
        own = None
        if self.modelled_.any():
            rows = np.repeat(self.modelled_, h)
            own = self._sample(h, future.loc[rows].reset_index(drop=True), n_samples, seed)
        if own is not None:
            values = np.zeros((panel.n_series, n_samples, h))
            values[self.modelled_] = np.clip(own, 0, None)
            rest = ~self.modelled_ & ~self.never_sold_
            if rest.any():
                rng = np.random.default_rng(seed + 1)
                values[rest] = rng.poisson(self.fallback_mean_[rest][:, None, None], (int(rest.sum()), n_samples, h))
            return SamplePaths(panel.ids, dates, values)
        levels = tuple(np.linspace(0.01, 0.99, 33))  # evenly spaced: the copula looks levels up by arithmetic
        forecast = self.predict(h, X_df, levels)
        table = {q: forecast[schema.quantile_column(self.name, q)].to_numpy().reshape(panel.n_series, h)
                 for q in levels}
        correlation = getattr(self, "path_correlation_", None)
        correlation = self.path_correlation if correlation is None else correlation
        return SamplePaths(panel.ids, dates, copula_samples(table, n_samples, seed, correlation))


def _check_horizon(h: int) -> int:
    if not isinstance(h, (int, np.integer)) or isinstance(h, bool) or h < 1:
        raise ValueError(f"The horizon h must be a whole number of periods, at least 1; got {h!r}.")
    return int(h)
