"""Features for global tree models on a :class:`~core.models.base.Panel`.

A global model learns one mapping for all series, so the target enters on a common scale: each series is
divided by its mean over the last year before the forecast origin (:func:`series_scale`). The features of period
``t`` of a series are

* its scaled target strictly before ``t``: lags, rolling means, spread and share of zero periods
  (:func:`target_features`); recursive forecasting fills the periods after the origin with predictions;
* the calendar of ``t``: date parts, e-commerce events and public holidays (:func:`calendar_table`);
* the known-future covariates at ``t``: numbers as they are, text (an event name) as categories, and the price
  relative to the series' usual price; and the series' static categories (:class:`CovariateCoding`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core import schema
from core.data.calendar import event_features

#: Lags per frequency: the last week of days and the same weekday up to four weeks back plus a year back; the last
#: four weeks and a year back; the last quarter and a year back.
BASE_LAGS: dict[str, tuple[int, ...]] = {
    schema.DAILY: (1, 2, 3, 4, 5, 6, 7, 14, 21, 28, 364),
    schema.WEEKLY: (1, 2, 3, 4, 52),
    schema.MONTHLY: (1, 2, 3, 12),
}
#: Rolling windows per frequency; the middle one also gives the spread and the share of zero periods.
BASE_WINDOWS: dict[str, tuple[int, ...]] = {
    schema.DAILY: (7, 28, 91),
    schema.WEEKLY: (4, 13, 52),
    schema.MONTHLY: (3, 6, 12),
}
#: Periods in a year, the window of the series scale.
YEAR_PERIODS: dict[str, int] = {schema.DAILY: 364, schema.WEEKLY: 52, schema.MONTHLY: 12}
#: Seasonal cycles averaged by the ``seasonal_mean`` feature.
SEASONAL_CYCLES = 4
#: Text value standing for a blank cell in a text covariate (no event that day).
BLANK = "none"


@dataclass(frozen=True)
class LagSpec:
    """Which past periods describe period ``t``: ``y[t - lag]`` for each lag and statistics of the last ``w``
    periods for each window; ``season_length`` sets the seasonal lags averaged by ``seasonal_mean``."""

    lags: tuple[int, ...]
    windows: tuple[int, ...]
    season_length: int

    @property
    def seasonal_lags(self) -> tuple[int, ...]:
        return tuple(self.season_length * k for k in range(1, SEASONAL_CYCLES + 1))

    @property
    def lookback(self) -> int:
        """Periods before ``t`` that the features read."""
        return max(self.lags + self.windows + self.seasonal_lags)

    @property
    def names(self) -> list[str]:
        middle = self.windows[len(self.windows) // 2]
        return ([f"lag_{lag}" for lag in self.lags] + [f"mean_{w}" for w in self.windows]
                + [f"std_{middle}", f"zero_share_{middle}", "seasonal_mean"])


def lag_spec(freq: str, season_length: int) -> LagSpec:
    """The lags and windows for a frequency, with the season's own lag added when it is not among them."""
    lags = tuple(sorted(set(BASE_LAGS[freq]) | {season_length}))
    return LagSpec(lags, BASE_WINDOWS[freq], season_length)


def series_scale(y: np.ndarray, freq: str) -> np.ndarray:
    """Each series' mean over its last year of observed periods (its whole history when that mean is 0), or 1 for
    a series that never sold: the divisor that puts all series on one scale."""
    recent = y[:, -YEAR_PERIODS[freq]:]
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = _nanmean(recent)
        scale = np.where(scale > 0, scale, _nanmean(y))
    return np.where(scale > 0, scale, 1.0)


def _nanmean(values: np.ndarray) -> np.ndarray:
    observed = ~np.isnan(values)
    counts = observed.sum(axis=1)
    totals = np.where(observed, values, 0.0).sum(axis=1)
    return np.where(counts > 0, totals / np.maximum(counts, 1), np.nan)


def target_features(y_scaled: np.ndarray, rows: np.ndarray, periods: np.ndarray, spec: LagSpec) -> np.ndarray:
    """Lag and rolling features of the scaled target for the pairs ``(rows[j], periods[j])``, in ``spec.names``
    order: ``(len(rows), len(spec.names))`` float32, NaN where the history is missing or unobserved.

    Only ``y_scaled[:, :period]`` is read for a pair, so periods after a forecast origin may hold predictions.
    """
    columns = [_lagged(y_scaled, rows, periods, lag) for lag in spec.lags]
    seasonal = np.stack([_lagged(y_scaled, rows, periods, lag) for lag in spec.seasonal_lags])
    # rolling statistics read at most the last max(windows) periods: sum from there on (cheap when recursing)
    first = max(int(periods.min()) - max(spec.windows), 0) if len(periods) else 0
    recent, local = y_scaled[:, first:], periods - first
    observed = ~np.isnan(recent)
    values = np.where(observed, recent, 0.0)
    prefix = {  # prefix[name][:, t] sums the first t periods of ``recent``
        "sum": _prefix_sum(values),
        "square": _prefix_sum(values ** 2),
        "count": _prefix_sum(observed.astype(np.float64)),
        "zero": _prefix_sum((observed & (values == 0)).astype(np.float64)),
    }
    middle = spec.windows[len(spec.windows) // 2]
    with np.errstate(invalid="ignore", divide="ignore"):
        for window in spec.windows:
            columns.append(_window_sum(prefix["sum"], rows, local, window)
                           / _window_sum(prefix["count"], rows, local, window))
        count = _window_sum(prefix["count"], rows, local, middle)
        mean = _window_sum(prefix["sum"], rows, local, middle) / count
        square = _window_sum(prefix["square"], rows, local, middle) / count
        columns.append(np.sqrt(np.clip(square - mean ** 2, 0, None)))
        columns.append(_window_sum(prefix["zero"], rows, local, middle) / count)
        seasonal_count = np.sum(~np.isnan(seasonal), axis=0)
        columns.append(np.where(seasonal_count > 0, np.nansum(seasonal, axis=0) / np.maximum(seasonal_count, 1),
                                np.nan))
    return np.column_stack(columns).astype(np.float32)


def _prefix_sum(values: np.ndarray) -> np.ndarray:
    out = np.zeros((values.shape[0], values.shape[1] + 1))
    np.cumsum(values, axis=1, out=out[:, 1:])
    return out


def _lagged(y: np.ndarray, rows: np.ndarray, periods: np.ndarray, lag: int) -> np.ndarray:
    source = periods - lag
    return np.where(source >= 0, y[rows, np.maximum(source, 0)], np.nan)


def _window_sum(prefix: np.ndarray, rows: np.ndarray, periods: np.ndarray, window: int) -> np.ndarray:
    return prefix[rows, periods] - prefix[rows, np.maximum(periods - window, 0)]


def calendar_table(dates: pd.DatetimeIndex, freq: str, countries: Sequence[str]) -> pd.DataFrame:
    """One row per date: date parts that fit the frequency, then events and public holidays
    (:func:`core.data.calendar.event_features`)."""
    parts: dict[str, np.ndarray] = {}
    if freq == schema.DAILY:
        parts["weekday"] = dates.day_of_week.to_numpy()
        parts["day_of_month"] = dates.day.to_numpy()
    if freq in (schema.DAILY, schema.WEEKLY):
        parts["week_of_year"] = dates.isocalendar().week.to_numpy(dtype=np.int64)
    parts["month"] = dates.month.to_numpy()
    events = event_features(dates, freq, countries)
    return pd.concat([pd.DataFrame(parts, index=events.index), events], axis=1).astype(np.float32)


@dataclass(frozen=True)
class CovariateCoding:
    """How the known-future covariates and the static categories become numbers, learned on the history.

    Numeric covariates are used as they are (and ``price`` also relative to the series' usual price, its median);
    text covariates and static columns become category codes (blank cells are the category ``"none"``, values not
    seen in the history are missing). Static columns with more than ``max_levels`` values (e.g. a SKU column that
    names every series) are left out: a category per series teaches a global model little and costs much.
    """

    numeric: tuple[str, ...]
    text: dict[str, tuple[str, ...]]
    statics: dict[str, tuple[str, ...]]
    usual_price: np.ndarray | None

    @classmethod
    def learn(cls, frame: pd.DataFrame, statics: pd.DataFrame, grids: dict[str, np.ndarray],
              max_levels: int) -> CovariateCoding:
        """Codings for the covariates laid out in ``grids`` (history, see :func:`value_grids`) and for the
        columns of ``statics``."""
        numeric = tuple(c for c in grids if pd.api.types.is_numeric_dtype(frame[c]))
        text = {c: _levels(grids[c].ravel()) for c in grids if c not in numeric}
        static_levels = {c: _levels(statics[c].to_numpy()) for c in statics.columns}
        kept = {c: levels for c, levels in static_levels.items() if len(levels) <= max_levels}
        usual_price = _nanmedian(grids[schema.PRICE]) if schema.PRICE in numeric else None
        return cls(numeric, text, kept, usual_price)

    @property
    def covariate_names(self) -> list[str]:
        ratio = ["price_ratio"] if self.usual_price is not None else []
        return list(self.numeric) + ratio + list(self.text)

    @property
    def static_names(self) -> list[str]:
        return list(self.statics)

    def covariates(self, grids: dict[str, np.ndarray], shape: tuple[int, int]) -> np.ndarray:
        """``(n, P, k)`` float32 from ``(n, P)`` value grids (``shape``), in ``covariate_names`` order."""
        blocks = [numeric_grid(grids[c]) for c in self.numeric]
        if self.usual_price is not None:
            with np.errstate(invalid="ignore", divide="ignore"):
                blocks.append(blocks[self.numeric.index(schema.PRICE)] / self.usual_price[:, None])
        blocks += [_codes(grids[c].ravel(), levels).reshape(shape) for c, levels in self.text.items()]
        if not blocks:
            return np.zeros(shape + (0,), dtype=np.float32)
        return np.stack(blocks, axis=-1).astype(np.float32)

    def static_codes(self, statics: pd.DataFrame) -> np.ndarray:
        """``(n, s)`` float32 category codes, in ``static_names`` order."""
        blocks = [_codes(statics[c].to_numpy(), levels) for c, levels in self.statics.items()]
        return np.column_stack(blocks).astype(np.float32) if blocks else np.zeros((len(statics), 0), np.float32)


def _as_text(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Factor codes of ``values`` and the text of each distinct value (blank cells read ``"none"``)."""
    codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=False)
    text = pd.Series(uniques, dtype=object)
    blank = text.isna() | text.astype(str).str.strip().isin(["", "nan", "None"])
    return codes, text.astype(str).str.strip().mask(blank, BLANK).to_numpy()


def _levels(values: np.ndarray) -> tuple[str, ...]:
    return tuple(sorted(set(_as_text(values)[1])))


def _codes(values: np.ndarray, levels: tuple[str, ...]) -> np.ndarray:
    codes, text = _as_text(values)
    level_of_text = pd.Index(levels).get_indexer(text).astype(np.float64)
    level_of_text[level_of_text < 0] = np.nan
    return level_of_text[codes]


def numeric_grid(grid: np.ndarray) -> np.ndarray:
    """A grid from :func:`value_grids` as floats (text that is not a number: NaN)."""
    if grid.dtype.kind in "fiub":
        return grid.astype(np.float64)
    return pd.to_numeric(pd.Series(grid.ravel()), errors="coerce").to_numpy(dtype=np.float64).reshape(grid.shape)


def _nanmedian(values: np.ndarray) -> np.ndarray:
    observed = ~np.isnan(values)
    median = np.full(values.shape[0], np.nan)
    has_values = observed.any(axis=1)
    if has_values.any():
        median[has_values] = np.nanmedian(values[has_values], axis=1)
    return median


def value_grids(frame: pd.DataFrame, ids: np.ndarray, dates: pd.DatetimeIndex, columns: Sequence[str]
                ) -> dict[str, np.ndarray]:
    """``columns`` of a long frame laid out as ``(len(ids), len(dates))`` grids (missing cells: NaN / None)."""
    series = pd.Index(ids).get_indexer(frame[schema.UNIQUE_ID].astype(str))
    period = dates.get_indexer(frame[schema.DS])
    inside = (series >= 0) & (period >= 0)
    grids = {}
    for column in columns:
        if pd.api.types.is_numeric_dtype(frame[column]):
            values = frame[column].to_numpy(dtype=np.float64, na_value=np.nan)
            grid = np.full((len(ids), len(dates)), np.nan)
        else:
            values = frame[column].to_numpy(dtype=object)
            grid = np.full((len(ids), len(dates)), None, dtype=object)
        grid[series[inside], period[inside]] = values[inside]
        grids[column] = grid
    return grids
