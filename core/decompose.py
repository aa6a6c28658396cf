"""Seasonality and events: why demand moves.

* :func:`series_frame` — one series or any aggregate (category, channel, total, any filter) as one dated series;
* :func:`decompose` — trend + a seasonal component per period + remainder for that series (STL / MSTL), fitted
  with event days, promotions and stock-outs left out so they show in the remainder instead of bending the
  pattern; trend and seasonal strength; :func:`seasonal_profile` by weekday and month (or week) of the year;
* :func:`panel_decompose` — every series at once (a batched regression decomposition, see its docstring) for the
  strength table and the baselines :func:`event_effects` compares event periods with.

Anomalies (points far from the decomposition, with reasons) are in :mod:`core.anomalies`.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import holidays
import numpy as np
import pandas as pd

from core import schema
from core.data.calendar import DEFAULT_COUNTRIES, ECOMMERCE_EVENTS, event_calendar
from core.errors import StockPilotError
from core.history import LEVELS, TOTAL

OBSERVED, TREND, REMAINDER, BASELINE = "observed", "trend", "remainder", "baseline"
SEASONAL_PREFIX = "seasonal_"
IN_FIT = "in_fit"  # True where the period informed the fit: observed, no event, promotion or stock-out
EVENT = "event"  # event or holiday label of the period, "" if none
PROMO_SHARE, STOCKOUT_SHARE, N_SERIES = "promo_share", "stockout_share", "n_series"
WEEKLY, YEARLY = "weekly", "yearly"
STL_METHOD, HARMONIC_METHOD = "stl", "harmonic"
YEAR_DAYS = 365.25
#: Fewer full cycles than this and STL's cycle-subseries smoother mostly fits noise (each day of the year would be
#: estimated from two or three values: white noise gets a yearly "strength" near 0.7), so such a period is
#: estimated as a smooth harmonic (Fourier) regression instead.
MIN_STL_CYCLES = 8
#: An aggregate's period counts as promoted / stocked out when this share of its units (series) is.
SHARE_FLAG = 0.2
WINDOWS = ("pre", "day", "post")
_YEARLY_PERIOD = {schema.DAILY: 365, schema.WEEKLY: 52, schema.MONTHLY: 12}
_EPOCH = np.datetime64("1970-01-01", "D")
Progress = Callable[[float, str], None]


class DecompositionError(StockPilotError):
    """A series cannot be decomposed (too short, nothing observed); the message says why and what to do."""


@dataclass(frozen=True)
class DecomposeSettings:
    """How decompositions are fitted; every page and CLI result is keyed by these.

    Attributes
    ----------
    robust : downweight outliers while fitting (STL's bisquare robustness weights), so one-off spikes stay in the
        remainder instead of leaking into trend and seasonality.
    threshold : robust z-score (remainder / MAD) beyond which a period is flagged.
    countries : ISO codes of the public holidays treated as events.
    exclude_events : fit trend and seasonality without event periods, promotions and stock-outs.
    yearly : ``"auto"`` (STL with enough cycles, else harmonic), ``"stl"`` or ``"harmonic"``.
    harmonics : Fourier pairs of a harmonic yearly component.
    seasonal_window : STL's seasonal smoother length in cycles (odd, at least 7): larger is steadier.
    """

    robust: bool = True
    threshold: float = 3.5
    countries: tuple[str, ...] = DEFAULT_COUNTRIES
    exclude_events: bool = True
    yearly: str = "auto"
    harmonics: int = 6
    seasonal_window: int = 31

    def __post_init__(self) -> None:
        if self.yearly not in ("auto", STL_METHOD, HARMONIC_METHOD):
            raise ValueError(f"yearly must be 'auto', 'stl' or 'harmonic', got {self.yearly!r}.")
        if not self.threshold > 0:
            raise ValueError(f"threshold must be positive, got {self.threshold}.")
        if not 1 <= self.harmonics <= 20:
            raise ValueError(f"harmonics must be 1 to 20, got {self.harmonics}.")
        if self.seasonal_window < 7 or self.seasonal_window % 2 == 0:
            raise ValueError(f"seasonal_window must be an odd number of at least 7, got {self.seasonal_window}.")
        codes = tuple(c.upper() for c in ((self.countries,) if isinstance(self.countries, str) else self.countries))
        unknown = [code for code in codes if code not in holidays.list_supported_countries()]
        if unknown:
            raise ValueError(f"No public holiday calendar for {unknown}; use ISO codes like 'CN', 'US'.")
        object.__setattr__(self, "countries", codes)


@dataclass(frozen=True)
class Season:
    """One seasonal component: ``period`` samples per cycle, estimated by ``method`` (``stl`` or ``harmonic``)."""

    name: str
    period: int
    method: str

    @property
    def column(self) -> str:
        return SEASONAL_PREFIX + self.name


@dataclass(frozen=True)
class Decomposition:
    """One series split into trend, seasonal components and remainder.

    ``components`` has one row per period: ``ds``, ``observed`` (NaN where unobserved), ``trend``,
    ``seasonal_<name>`` per season, ``baseline`` (trend + seasonality: what the period would sell without events
    and promotions), ``remainder`` (observed - baseline), ``in_fit``, ``event`` (label), ``promo_share``,
    ``stockout_share`` and ``n_series``. ``strength`` maps ``"trend"`` and each season name to a Hyndman–Wang
    strength in [0, 1].
    """

    components: pd.DataFrame
    seasons: tuple[Season, ...]
    freq: str
    settings: DecomposeSettings
    strength: dict[str, float]
    notes: tuple[str, ...] = ()
    label: str = ""

    @property
    def method(self) -> str:
        """The method in words, e.g. ``"MSTL: weekly by STL, yearly by harmonic regression (6 pairs), robust"``."""
        parts = [f"{s.name} by " + ("STL" if s.method == STL_METHOD else
                                    f"harmonic regression ({self.settings.harmonics} pairs)") for s in self.seasons]
        stl = any(s.method == STL_METHOD for s in self.seasons)
        name = ("MSTL" if len(self.seasons) > 1 else "STL") if stl else "Harmonic" if self.seasons else "Trend only"
        return f"{name}: " + (", ".join(parts) or "loess trend") + (", robust" if self.settings.robust else "")


# --- series and aggregates ------------------------------------------------------------------------------------------

def series_frame(
    frame: pd.DataFrame, level: str = TOTAL, value: str | None = None, filters: dict[str, Sequence] | None = None,
) -> pd.DataFrame:
    """One dated series: a single ``unique_id`` (``level="SKU"``) or the sum over a level's group.

    Parameters
    ----------
    frame : the clean long frame (``unique_id, ds, y`` and optional ``promo``, ``stockout``, ``on_hand`` ...).
    level : a key of :data:`core.history.LEVELS` (``"Total"``, ``"Category"``, ``"Channel"``, ``"SKU"`` ...).
    value : the group (category name, channel, ``unique_id``); ignored for ``"Total"``.
    filters : ``{column: [values]}`` applied first, e.g. ``{"channel": ["tmall"]}``.

    Returns
    -------
    DataFrame ``ds, y, promo_share, stockout_share, n_series``: ``y`` summed (NaN only where no series was
    observed), the share of units sold on promotion (of series, on days without sales) and of series out of stock.
    """
    data = frame
    for column, values in (filters or {}).items():
        if column not in data.columns:
            raise DecompositionError(f"Cannot filter on '{column}': the data have no such column.")
        data = data.loc[data[column].astype(str).isin([str(v) for v in values])]
    if level not in LEVELS:
        raise DecompositionError(f"Unknown level {level!r}; choose one of {', '.join(LEVELS)}.")
    column = LEVELS[level]
    if column is not None:
        if column not in data.columns:
            raise DecompositionError(f"The data have no {level.lower()} column.")
        data = data.loc[data[column].astype(str) == str(value)]
    if data.empty:
        chosen = f"{level} '{value}'" if column else "the filter"
        raise DecompositionError(f"No sales rows for {chosen}; pick another series or loosen the filter.")
    promo = data[schema.PROMO].fillna(0).gt(0) if schema.PROMO in data.columns else pd.Series(False, data.index)
    units = data[schema.Y].fillna(0).clip(lower=0)
    parts = pd.DataFrame({
        schema.DS: data[schema.DS], schema.Y: data[schema.Y], "units": units, "promo_units": units * promo,
        "promo": promo.astype(float), "stockout": _stockout(data), "observed": data[schema.Y].notna().astype(float),
    })
    by_date = parts.groupby(schema.DS, sort=True)
    grouped = by_date.agg(units=("units", "sum"), promo_units=("promo_units", "sum"), promo=("promo", "mean"),
                          stockout=("stockout", "mean"), n=("observed", "size"))
    grouped[schema.Y] = by_date[schema.Y].sum(min_count=1)
    share = np.where(grouped["units"] > 0, grouped["promo_units"] / grouped["units"].where(grouped["units"] > 0),
                     grouped["promo"])
    return pd.DataFrame({schema.DS: grouped.index, schema.Y: grouped[schema.Y].to_numpy(), PROMO_SHARE: share,
                         STOCKOUT_SHARE: grouped["stockout"].to_numpy(), N_SERIES: grouped["n"].to_numpy()})


def _stockout(data: pd.DataFrame) -> pd.Series:
    if schema.STOCKOUT in data.columns:
        return data[schema.STOCKOUT].fillna(0).astype(float)
    if schema.ON_HAND in data.columns:
        return data[schema.ON_HAND].le(0).astype(float)
    return pd.Series(0.0, index=data.index)


def series_label(level: str, value: str | None) -> str:
    return TOTAL if LEVELS.get(level) is None else f"{value}" if level == "SKU" else f"{level}: {value}"


# --- events on a date grid --------------------------------------------------------------------------------------------

def _period_bounds(dates: pd.DatetimeIndex, freq: str) -> tuple[np.ndarray, np.ndarray]:
    """First day and one-past-last day (day numbers) of each period."""
    days = (dates.values.astype("datetime64[D]") - _EPOCH).astype(np.int64)
    if freq == schema.DAILY:
        return days, days + 1
    if freq == schema.WEEKLY:
        return days, days + 7
    months = dates.values.astype("datetime64[M]")
    return ((months.astype("datetime64[D]") - _EPOCH).astype(np.int64),
            ((months + 1).astype("datetime64[D]") - _EPOCH).astype(np.int64))


def _day(day: dt.date) -> int:
    return (np.datetime64(day, "D") - _EPOCH).astype(np.int64)


def event_windows(dates: pd.DatetimeIndex, freq: str = schema.DAILY) -> pd.DataFrame:
    """Where each e-commerce event falls on a date grid.

    Returns one row per event occurrence, window (``pre``, ``day``, ``post``, from the event's default windows in
    :data:`core.data.calendar.ECOMMERCE_EVENTS`) and period it touches: ``event``, ``label``, ``occurrence`` (the
    event's first day), ``window``, ``position`` (index into ``dates``). On weekly or monthly data a period that
    holds event days is a ``day`` period, never also ``pre`` or ``post``.
    """
    dates = pd.DatetimeIndex(dates)
    columns = ["event", "label", "occurrence", "window", "position"]
    if len(dates) == 0:
        return pd.DataFrame(columns=columns)
    start, end = _period_bounds(dates, freq)
    rows = []
    for event in ECOMMERCE_EVENTS.values():
        for year in range(dates.min().year - 1, dates.max().year + 2):
            span = event.span(year)
            if span is None:
                continue
            first, last = _day(span[0]), _day(span[1])
            ranges = {"pre": (first - event.pre_days, first - 1), "day": (first, last),
                      "post": (last + 1, last + event.post_days)}
            day_positions = set(np.flatnonzero((start <= last) & (end > first)).tolist())
            for window, (lo, hi) in ranges.items():
                if hi < lo:
                    continue
                touched = np.flatnonzero((start <= hi) & (end > lo))
                for position in touched:
                    if window != "day" and position in day_positions:
                        continue
                    rows.append((event.key, event.label, pd.Timestamp(span[0]), window, int(position)))
    return pd.DataFrame(rows, columns=columns)


def calendar_marks(dates: pd.DatetimeIndex, freq: str, countries: Sequence[str] = DEFAULT_COUNTRIES) -> pd.DataFrame:
    """Per period of ``dates``: ``event`` (the label shown to planners, ``""`` if none) and ``excluded`` (whether
    the period is left out of the baseline fit).

    Daily data: e-commerce event days and their pre/post windows, and public holidays. Weekly data: weeks holding
    an event day or at least three holiday days. Monthly data: nothing is excluded (events are part of the month).
    """
    dates = pd.DatetimeIndex(dates)
    key = (dates.values.astype("datetime64[D]").tobytes(), freq, tuple(countries))
    return _calendar_marks(key).copy()


@lru_cache(maxsize=64)
def _calendar_marks(key: tuple) -> pd.DataFrame:
    raw, freq, countries = key
    dates = pd.DatetimeIndex(np.frombuffer(raw, dtype="datetime64[D]"))
    label = np.full(len(dates), "", dtype=object)
    excluded = np.zeros(len(dates), dtype=bool)
    if len(dates) == 0:
        return pd.DataFrame({EVENT: label, "excluded": excluded})
    windows = event_windows(dates, freq)
    suffix = {"pre": " (before)", "post": " (after)", "day": ""}
    # holidays first, then event windows, then event days: the most specific label wins
    if countries:
        start, end = _period_bounds(dates, freq)
        public = event_calendar(dates.min(), pd.Timestamp(end.max() - 1, unit="D"), countries, events=[])
        holiday_days = (public["date"].values.astype("datetime64[D]") - _EPOCH).astype(np.int64)
        counts = np.zeros(len(dates), dtype=np.int64)
        for day, name, country in zip(holiday_days, public["label"], public["country"]):
            hit = np.flatnonzero((start <= day) & (end > day))
            counts[hit] += 1
            label[hit] = f"holiday: {name} ({country})"
        excluded |= counts >= (1 if freq == schema.DAILY else 3 if freq == schema.WEEKLY else 10**9)
    for window in ("pre", "post", "day"):
        part = windows.loc[windows["window"] == window]
        label[part["position"].to_numpy()] = (part["label"] + suffix[window]).to_numpy()
        if freq == schema.DAILY or (freq == schema.WEEKLY and window == "day"):
            excluded[part["position"].to_numpy()] = True
    return pd.DataFrame({EVENT: label.astype(str), "excluded": excluded})


# --- one series: STL / MSTL -------------------------------------------------------------------------------------------

def plan_seasons(freq: str, n_periods: int, yearly: str = "auto") -> tuple[tuple[Season, ...], tuple[str, ...]]:
    """The seasonal components ``n_periods`` of history support, and a note for each one left out."""
    seasons, notes = [], []
    unit = schema.FREQ_NAMES.get(freq, freq)
    if freq == schema.DAILY:
        if n_periods >= 2 * 7:
            seasons.append(Season(WEEKLY, 7, STL_METHOD))
        else:
            notes.append(f"Only {n_periods} days of history: the weekly rhythm needs at least 14 days.")
    period = _YEARLY_PERIOD.get(freq)
    if period is None:
        raise DecompositionError(f"Unknown frequency {freq!r}; expected one of {', '.join(schema.FREQ_NAMES)}.")
    if n_periods >= 2 * period:
        method = yearly if yearly != "auto" else STL_METHOD if n_periods >= MIN_STL_CYCLES * period else HARMONIC_METHOD
        seasons.append(Season(YEARLY, period, method))
    else:
        shown = "the weekly rhythm and the trend" if seasons else "the trend only"
        notes.append(f"The yearly cycle needs at least two years of history ({2 * period} {unit} periods); this "
                     f"series has {n_periods}, so the yearly component is left out and the chart shows {shown}.")
    return tuple(seasons), tuple(notes)


def _next_odd(value: float) -> int:
    number = int(np.ceil(value))
    return number if number % 2 else number + 1


def trend_window(seasons: Sequence[Season], n_periods: int) -> int:
    """Trend smoother length: about 1.75 cycles of the longest period (MSTL's choice), else an eighth of the data."""
    longest = max((s.period for s in seasons), default=0)
    return _next_odd(1.75 * longest) if longest else _next_odd(max(7, n_periods / 8))


def fourier_terms(dates: pd.DatetimeIndex, harmonics: int) -> np.ndarray:
    """``cos, sin`` pairs of the calendar year (so leap years and weekly or monthly dates line up), shape (T, 2K)."""
    years = ((pd.DatetimeIndex(dates).values.astype("datetime64[D]") - _EPOCH).astype(np.float64)) / YEAR_DAYS
    angle = 2 * np.pi * years[:, None] * np.arange(1, harmonics + 1)[None, :]
    return np.hstack([np.cos(angle), np.sin(angle)])


def _bisquare(residual: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """STL's robustness weights: bisquare of residual / (6 x median |residual|) over the fitted points."""
    scale = 6 * np.median(np.abs(residual[mask])) if mask.any() else 0.0
    if not scale > 0:
        return np.ones_like(residual)
    return np.clip(1 - (residual / scale) ** 2, 0, None) ** 2


def _stl_seasonal(values: np.ndarray, period: int, window: int, robust: bool) -> np.ndarray:
    from statsmodels.tsa.seasonal import STL

    trend = _next_odd(1.5 * period / (1 - 1.5 / window))
    low_pass = _next_odd(period + 1)
    # R's stl() jumps: evaluate each loess every ~10% of its window and interpolate; 20x faster, same result
    stl = STL(values, period=period, seasonal=window, trend=trend, low_pass=low_pass, robust=robust,
              seasonal_jump=max(1, window // 10), trend_jump=max(1, trend // 10),
              low_pass_jump=max(1, low_pass // 10))
    return stl.fit(outer_iter=4 if robust else 0).seasonal


def _smooth_trend(values: np.ndarray, window: int, robust: bool) -> np.ndarray:
    from statsmodels.nonparametric.smoothers_lowess import lowess

    n = len(values)
    x = np.arange(n, dtype=np.float64)
    return lowess(values, x, frac=min(1.0, window / n), it=2 if robust else 0, delta=max(0.0, window / 20),
                  return_sorted=False)


def decompose(
    series: pd.DataFrame | pd.Series, freq: str = schema.DAILY, settings: DecomposeSettings | None = None,
    label: str = "",
) -> Decomposition:
    """Decompose one series (a :func:`series_frame`, or a Series of units indexed by date) additively in units.

    Method: MSTL's backfitting (Bandara, Hyndman & Bergmeir 2021) — each seasonal component in turn is
    re-estimated from the data minus the other components, twice — with statsmodels' STL for periods with many
    cycles (the weekly rhythm of daily data) and a harmonic regression for periods with fewer than
    :data:`MIN_STL_CYCLES` cycles (the yearly cycle of a few years of data); the trend is a loess of the
    deseasonalised data about 1.75 yearly (or weekly) cycles wide. Periods left out of the fit (unobserved, event
    days and windows, promotions, stock-outs when ``settings.exclude_events``) are filled with the current fit
    between rounds, so they neither bend the pattern nor leave holes; their remainder is measured against the
    actual value. Raises :class:`DecompositionError` when there is too little data.
    """
    settings = settings or DecomposeSettings()
    data = _as_series_frame(series)
    observed_at = np.flatnonzero(data[schema.Y].notna().to_numpy())
    if len(observed_at) < 8:
        raise DecompositionError(f"{label or 'This series'} has {len(observed_at)} observed periods; a "
                                 "decomposition needs at least 8.")
    data = data.iloc[observed_at[0]: observed_at[-1] + 1].reset_index(drop=True)
    dates = pd.DatetimeIndex(data[schema.DS])
    y = data[schema.Y].to_numpy(dtype=np.float64)
    seasons, notes = plan_seasons(freq, len(y), settings.yearly)
    marks = calendar_marks(dates, freq, settings.countries)
    observed = ~np.isnan(y)
    fit = observed.copy()
    if settings.exclude_events:
        left_out = (marks["excluded"].to_numpy() | (data[PROMO_SHARE].to_numpy() >= SHARE_FLAG)
                    | (data[STOCKOUT_SHARE].to_numpy() >= SHARE_FLAG))
        if (observed & ~left_out).sum() >= max(8, 0.3 * observed.sum()):
            fit &= ~left_out
        else:
            notes += ("Most periods are events, promotions or stock-outs, so they were kept in the fit.",)
    components = _fit_one(y, dates, seasons, fit, trend_window(seasons, len(y)), settings)
    baseline = components[TREND] + sum(components[s.column] for s in seasons)
    table = pd.DataFrame({schema.DS: dates, OBSERVED: y, **components, BASELINE: baseline,
                          REMAINDER: y - baseline, IN_FIT: fit, EVENT: marks[EVENT].to_numpy(),
                          PROMO_SHARE: data[PROMO_SHARE].to_numpy(), STOCKOUT_SHARE: data[STOCKOUT_SHARE].to_numpy(),
                          N_SERIES: data[N_SERIES].to_numpy()})
    remainder = table[REMAINDER].to_numpy()
    strength = {TREND: strength_of(components[TREND][fit], remainder[fit])}
    strength.update({s.name: strength_of(components[s.column][fit], remainder[fit]) for s in seasons})
    return Decomposition(table, seasons, freq, settings, strength, tuple(notes), label)


def _as_series_frame(series: pd.DataFrame | pd.Series) -> pd.DataFrame:
    if isinstance(series, pd.Series):
        series = pd.DataFrame({schema.DS: pd.to_datetime(series.index), schema.Y: series.to_numpy(dtype=float)})
    data = series.sort_values(schema.DS).reset_index(drop=True)
    for column, default in ((PROMO_SHARE, 0.0), (STOCKOUT_SHARE, 0.0), (N_SERIES, 1)):
        if column not in data.columns:
            data[column] = default
    return data


def _fit_one(y: np.ndarray, dates: pd.DatetimeIndex, seasons: Sequence[Season], fit: np.ndarray, window: int,
             settings: DecomposeSettings) -> dict[str, np.ndarray]:
    """Backfit trend and seasons on the periods in ``fit``; the others are filled from the fit between rounds."""
    n = len(y)
    values = pd.Series(np.where(fit, y, np.nan)).interpolate(limit_direction="both").to_numpy()
    seasonal = {s.column: np.zeros(n) for s in seasons}
    fourier = fourier_terms(dates, settings.harmonics)
    weights = fit.astype(np.float64)
    trend = _smooth_trend(values, window, settings.robust)
    for _ in range(3 if settings.robust else 2):
        for season in seasons:
            others = sum((seasonal[s.column] for s in seasons if s != season), np.zeros(n))
            if season.method == STL_METHOD:
                seasonal[season.column] = _stl_seasonal(values - others, season.period, settings.seasonal_window,
                                                        settings.robust)
            else:
                seasonal[season.column] = _harmonic(values - others - trend, fourier, weights)
        deseasonalised = values - sum(seasonal.values(), np.zeros(n))
        trend = _smooth_trend(deseasonalised, window, settings.robust)
        fitted = trend + sum(seasonal.values(), np.zeros(n))
        values = np.where(fit, y, fitted)  # refill the periods left out with the current fit
        if settings.robust:
            weights = fit * _bisquare(values - fitted, fit)
    # robust weights pull a skewed (count) series' fit towards its median; re-centre the level on the mean
    trend = trend + np.mean((y - fitted)[fit])
    return {TREND: trend, **seasonal}


def _harmonic(target: np.ndarray, fourier: np.ndarray, weights: np.ndarray) -> np.ndarray:
    design = np.hstack([np.ones((len(target), 1)), fourier])
    weighted = design * weights[:, None]
    cross = weighted.T @ design
    cross[np.diag_indices_from(cross)] += 1e-9 * np.trace(cross)
    coefficients = np.linalg.solve(cross, weighted.T @ target)
    return fourier @ coefficients[1:]


def strength_of(component: np.ndarray, remainder: np.ndarray) -> float:
    """Hyndman–Wang strength ``max(0, 1 - var(R) / var(C + R))``; NaN when there is nothing to measure."""
    keep = ~(np.isnan(component) | np.isnan(remainder))
    if keep.sum() < 3:
        return float("nan")
    total = np.var(component[keep] + remainder[keep])
    return float(max(0.0, 1 - np.var(remainder[keep]) / total)) if total > 0 else 0.0


def seasonal_profile(decomposition: Decomposition) -> pd.DataFrame:
    """Average seasonal effect by weekday (weekly component) and by month, or week of the year on weekly data
    (yearly component): ``component, position, label, effect`` (units) and ``effect_pct`` (of the mean level)."""
    table = decomposition.components
    level = float(np.nanmean(table[TREND])) or 1.0
    dates = pd.DatetimeIndex(table[schema.DS])
    parts = []
    for season in decomposition.seasons:
        if season.name == WEEKLY:
            position, names = dates.day_of_week, dict(enumerate(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]))
        elif decomposition.freq == schema.WEEKLY:
            position = dates.isocalendar().week.to_numpy().clip(max=52)
            names = {week: f"W{week:02d}" for week in range(1, 53)}
        else:
            position, names = dates.month, {m: dt.date(2000, m, 1).strftime("%b") for m in range(1, 13)}
        effect = table[season.column].groupby(np.asarray(position)).mean()
        parts.append(pd.DataFrame({"component": season.name, "position": effect.index.astype(int),
                                   "label": [names[p] for p in effect.index], "effect": effect.to_numpy(),
                                   "effect_pct": 100 * effect.to_numpy() / abs(level)}))
    columns = ["component", "position", "label", "effect", "effect_pct"]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)


# --- every series at once ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PanelDecomposition:
    """The batched decomposition of many series on one date grid (arrays are series x periods).

    ``strength`` has one row per series; ``observed`` / ``baseline`` / ``usable`` (observed and not stocked out)
    are what :func:`event_effects` compares.
    """

    ids: np.ndarray
    dates: pd.DatetimeIndex
    freq: str
    observed: np.ndarray
    baseline: np.ndarray
    usable: np.ndarray
    strength: pd.DataFrame
    settings: DecomposeSettings = field(default_factory=DecomposeSettings)

    @staticmethod
    def concat(parts: Sequence[PanelDecomposition]) -> PanelDecomposition:
        """Join parts computed on the same dataset (e.g. in chunks, for a progress bar)."""
        first = parts[0]
        return PanelDecomposition(
            np.concatenate([p.ids for p in parts]), first.dates, first.freq,
            np.vstack([p.observed for p in parts]), np.vstack([p.baseline for p in parts]),
            np.vstack([p.usable for p in parts]), pd.concat([p.strength for p in parts], ignore_index=True),
            first.settings)


STRENGTH_COLUMNS = ("n_periods", "mean_units", "trend_strength", "weekly_strength", "yearly_strength",
                    "weekly_swing_pct", "yearly_swing_pct", "peak_weekday", "peak_month")


def series_chunks(frame: pd.DataFrame, size: int = 200) -> list[list[str]]:
    """The dataset's series ids in fixed chunks (the same every time, so chunk results can be cached)."""
    ids = sorted(frame[schema.UNIQUE_ID].astype(str).unique())
    return [ids[i: i + size] for i in range(0, len(ids), size)]


def panel_decompose(
    frame: pd.DataFrame, freq: str = schema.DAILY, settings: DecomposeSettings | None = None,
    ids: Sequence[str] | None = None, progress: Progress | None = None, chunk_size: int = 200,
) -> PanelDecomposition:
    """Trend and seasonal strength of every series (or of ``ids``), in one batched pass.

    Method (a fast stand-in for running MSTL on each series): every series is fitted by weighted least squares on
    one shared design — a piecewise-linear trend with knots about 0.9 yearly (weekly) cycles apart, weekday
    effects on daily data and a harmonic yearly cycle (``settings.harmonics`` pairs, only for series with two
    years) — with the same periods left out as :func:`decompose` (unobserved, events, promotions, stock-outs) and,
    when ``settings.robust``, three rounds of bisquare reweighting. All series are solved at once with matrix
    products, so 1,000 daily series x 3 years take seconds. Strength is Hyndman–Wang's on the fitted periods.
    """
    settings = settings or DecomposeSettings()
    chunks = [list(ids)] if ids is not None else series_chunks(frame, chunk_size)
    parts = []
    for number, chunk in enumerate(chunks):
        parts.append(_panel_chunk(frame, freq, settings, chunk))
        if progress:
            progress((number + 1) / len(chunks), f"{min((number + 1) * chunk_size, sum(map(len, chunks))):,} series")
    return PanelDecomposition.concat(parts)


def _panel_chunk(frame: pd.DataFrame, freq: str, settings: DecomposeSettings, ids: Sequence[str]
                 ) -> PanelDecomposition:
    dates = pd.DatetimeIndex(np.sort(frame[schema.DS].unique()))
    data = frame.loc[frame[schema.UNIQUE_ID].isin(list(ids))]
    grid = pd.MultiIndex.from_product([list(ids), dates])

    def matrix(values: pd.Series) -> np.ndarray:
        wide = pd.Series(values.to_numpy(dtype=np.float64), index=pd.MultiIndex.from_arrays(
            [data[schema.UNIQUE_ID].astype(str), data[schema.DS]])).reindex(grid)
        return wide.to_numpy().reshape(len(ids), len(dates))

    y = matrix(data[schema.Y])
    observed = ~np.isnan(y)
    stockout = matrix(_stockout(data)) > 0
    promo = matrix(data[schema.PROMO].fillna(0)) > 0 if schema.PROMO in data.columns else np.zeros_like(observed)
    usable = observed & ~stockout
    fit = observed.copy()
    if settings.exclude_events:
        excluded = calendar_marks(dates, freq, settings.countries)["excluded"].to_numpy()
        fit &= ~(excluded[None, :] | promo | stockout)
    span = np.cumsum(observed, axis=1)
    alive = (span > 0) & (span < span[:, -1:] + observed.astype(int))  # from first to last observation
    n_periods = alive.sum(axis=1)
    fit &= (n_periods >= 8)[:, None]

    seasons, _ = plan_seasons(freq, len(dates), settings.yearly)
    design, blocks = _panel_design(dates, freq, seasons, settings.harmonics)
    enabled = np.ones((len(ids), design.shape[1]), dtype=bool)
    for name, columns in blocks.items():
        if name == YEARLY:
            enabled[:, columns] = (n_periods >= 2 * _YEARLY_PERIOD[freq])[:, None]
        elif name == WEEKLY:
            enabled[:, columns] = (n_periods >= 14)[:, None]
    target = np.where(fit, y, 0.0)
    weights = fit.astype(np.float64)
    for _ in range(3 if settings.robust else 1):
        coefficients = _weighted_solve(design, target, weights, enabled)
        fitted = coefficients @ design.T
        if settings.robust:
            weights = fit * _bisquare_rows(target - fitted, fit)
    parts = {name: coefficients[:, columns] @ design[:, columns].T for name, columns in blocks.items()}
    # robust weights pull a skewed (count) series' fit towards its median; re-centre the level on the mean
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        shift = np.nan_to_num(np.nanmean(np.where(fit, y - fitted, np.nan), axis=1))
    parts[TREND] = parts[TREND] + shift[:, None]
    fitted = fitted + shift[:, None]
    baseline = np.where(alive, fitted, np.nan)
    remainder = np.where(fit, y - fitted, np.nan)
    yearly = coefficients[:, blocks[YEARLY]] if YEARLY in blocks else None
    strength = _strength_table(ids, dates, y, fit, n_periods, parts, remainder, enabled, blocks, yearly)
    return PanelDecomposition(np.asarray(ids, dtype=object), dates, freq, np.where(alive, y, np.nan), baseline,
                              usable & alive, strength, settings)


def _panel_design(dates: pd.DatetimeIndex, freq: str, seasons: Sequence[Season], harmonics: int
                  ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Columns: trend hats (a partition of unity, so they carry the level), weekday effects, yearly harmonics."""
    n = len(dates)
    spacing = max(trend_window(seasons, n) / 2, n / 40, 2.0)
    knots = np.arange(0, n - 1 + spacing, spacing)
    position = np.arange(n, dtype=np.float64)
    columns = [np.clip(1 - np.abs(position[:, None] - knots[None, :]) / spacing, 0, None)]
    blocks = {TREND: np.arange(len(knots))}
    if any(s.name == WEEKLY for s in seasons):
        weekday = pd.DatetimeIndex(dates).day_of_week.to_numpy()
        effects = (weekday[:, None] == np.arange(6)[None, :]).astype(float) - (weekday == 6)[:, None]
        blocks[WEEKLY] = np.arange(6) + sum(c.shape[1] for c in columns)
        columns.append(effects)
    if any(s.name == YEARLY for s in seasons):
        blocks[YEARLY] = np.arange(2 * harmonics) + sum(c.shape[1] for c in columns)
        columns.append(fourier_terms(dates, harmonics))
    return np.hstack(columns), blocks


def _weighted_solve(design: np.ndarray, target: np.ndarray, weights: np.ndarray, enabled: np.ndarray) -> np.ndarray:
    """Per-row weighted least squares on one design, all rows at once; disabled columns are held at zero."""
    p = design.shape[1]
    cross = (weights @ (design[:, :, None] * design[:, None, :]).reshape(len(design), p * p)).reshape(-1, p, p)
    right = (weights * target) @ design
    scale = np.maximum(np.trace(cross, axis1=1, axis2=2) / p, 1e-9)
    penalty = np.where(enabled, 1e-6, 1e6) * scale[:, None]
    cross[:, np.arange(p), np.arange(p)] += penalty
    return np.linalg.solve(cross, right[:, :, None])[:, :, 0]


def _bisquare_rows(residual: np.ndarray, mask: np.ndarray) -> np.ndarray:
    absolute = np.where(mask, np.abs(residual), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # rows without fitted periods
        scale = 6 * np.nanmedian(absolute, axis=1, keepdims=True)
    scale = np.where(scale > 0, scale, np.inf)
    return np.clip(1 - (residual / scale) ** 2, 0, None) ** 2


def _masked_strength(component: np.ndarray, remainder: np.ndarray, mask: np.ndarray) -> np.ndarray:
    count = mask.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        def var(values):
            values = np.where(mask, values, 0.0)
            mean = values.sum(axis=1) / count
            return (np.where(mask, values - mean[:, None], 0.0) ** 2).sum(axis=1) / count
        total = var(component + remainder)
        result = np.where(total > 0, np.maximum(0.0, 1 - var(remainder) / total), 0.0)
    return np.where(count >= 3, result, np.nan)


def _strength_table(ids, dates, y, fit, n_periods, parts, remainder, enabled, blocks, yearly) -> pd.DataFrame:
    """Strength, swing and peak of each series' components (``yearly``: its harmonic coefficients, or None)."""
    remainder = np.nan_to_num(remainder)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean_units = np.nanmean(y, axis=1)
    table = pd.DataFrame({schema.UNIQUE_ID: pd.array(list(ids), dtype="str"), "n_periods": n_periods,
                          "mean_units": mean_units,
                          "trend_strength": _masked_strength(parts[TREND], remainder, fit)})
    level = np.where(np.abs(mean_units) > 0, np.abs(mean_units), np.nan)
    for name in (WEEKLY, YEARLY):
        on = enabled[:, blocks[name][0]] if name in blocks else np.zeros(len(ids), dtype=bool)
        strength = _masked_strength(parts[name], remainder, fit) if name in blocks else np.full(len(ids), np.nan)
        table[f"{name}_strength"] = np.where(on, strength, np.nan)
        table[f"{name}_swing_pct"] = np.nan
    dates = pd.DatetimeIndex(dates)
    if WEEKLY in blocks:
        weekday = dates.day_of_week.to_numpy()
        profile = np.stack([parts[WEEKLY][:, weekday == d].mean(axis=1) for d in range(7)], axis=1)
        on = enabled[:, blocks[WEEKLY][0]]
        table["weekly_swing_pct"] = np.where(on, 100 * (profile.max(1) - profile.min(1)) / level, np.nan)
        names = np.array(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"])
        table["peak_weekday"] = pd.array(np.where(on, names[profile.argmax(1)], None), dtype="str")
    else:
        table["peak_weekday"] = pd.array([None] * len(ids), dtype="str")
    if YEARLY in blocks:
        year = pd.date_range("2001-01-01", "2001-12-31", freq="D")
        curve = yearly @ fourier_terms(year, yearly.shape[1] // 2).T
        on = enabled[:, blocks[YEARLY][0]]
        table["yearly_swing_pct"] = np.where(on, 100 * (curve.max(1) - curve.min(1)) / level, np.nan)
        months = np.array([m.strftime("%b") for m in year[curve.argmax(1)]]) if len(ids) else np.array([])
        table["peak_month"] = pd.array(np.where(on, months, None), dtype="str")
    else:
        table["peak_month"] = pd.array([None] * len(ids), dtype="str")
    return table[[schema.UNIQUE_ID, *STRENGTH_COLUMNS]]


def strength_table(panel: PanelDecomposition, frame: pd.DataFrame) -> pd.DataFrame:
    """The panel's strength table with each series' SKU, channel, category and location (where the data have them),
    most seasonal first."""
    attributes = [c for c in (schema.SKU, schema.CHANNEL, schema.LOCATION, schema.CATEGORY) if c in frame.columns]
    first = frame.drop_duplicates(schema.UNIQUE_ID)[[schema.UNIQUE_ID, *attributes]]
    table = panel.strength.merge(first, on=schema.UNIQUE_ID, how="left")
    order = [schema.UNIQUE_ID, *attributes, *STRENGTH_COLUMNS]
    seasonal = table[["weekly_strength", "yearly_strength"]].max(axis=1)
    return table.assign(_order=seasonal).sort_values("_order", ascending=False, na_position="last")[order]\
        .reset_index(drop=True)


def filter_strength(table: pd.DataFrame, search: str = "", categories: Sequence[str] = (),
                    min_yearly: float = 0.0) -> pd.DataFrame:
    """The rows of a :func:`strength_table` whose series id contains ``search`` (any case), whose category is one
    of ``categories`` (all when empty) and whose yearly strength is at least ``min_yearly``."""
    keep = pd.Series(True, index=table.index)
    if search:
        keep &= table[schema.UNIQUE_ID].str.contains(search, case=False, regex=False)
    if categories and schema.CATEGORY in table.columns:
        keep &= table[schema.CATEGORY].isin(list(categories))
    if min_yearly > 0:
        keep &= table["yearly_strength"].fillna(0) >= min_yearly
    return table.loc[keep]


# --- event effects ----------------------------------------------------------------------------------------------------

EFFECT_COLUMNS = ("event", "label", "window", "group", "occurrences", "series", "periods", "actual_units",
                  "baseline_units", "incremental_units_per_occurrence", "uplift_pct", "uplift_lo_pct", "uplift_hi_pct")


def event_effects(
    panel: PanelDecomposition, frame: pd.DataFrame | None = None, by: str | None = schema.CATEGORY,
    level: float = 0.95, n_boot: int = 500, seed: int = 0, events: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The average effect of each e-commerce event, before, on and after it, per group.

    For each series and occurrence the units sold in the window are compared with the panel's baseline (trend and
    seasonality fitted without event periods) over the same periods; stocked-out periods are left out of both,
    since their sales understate demand. Per event, window and group (the ``by`` column of ``frame``, or
    ``"All"``): ``uplift_pct = 100 (sum actual / sum baseline - 1)`` with a percentile interval from a bootstrap
    over series x occurrence pairs (``level``, ``n_boot`` resamples, ``seed``), and the incremental units per
    occurrence summed over the group's series.
    """
    windows = event_windows(panel.dates, panel.freq)
    if events is not None:
        windows = windows.loc[windows["event"].isin(list(events))]
    groups = np.full(len(panel.ids), "All", dtype=object)
    if by is not None:
        if frame is None or by not in frame.columns:
            raise DecompositionError(f"Cannot group event effects by '{by}': the data have no such column.")
        lookup = frame.drop_duplicates(schema.UNIQUE_ID).set_index(schema.UNIQUE_ID)[by].astype(str)
        groups = lookup.reindex(pd.Index(panel.ids, dtype="str")).fillna("(none)").to_numpy(dtype=object)
    actual = np.where(panel.usable, panel.observed, 0.0)
    baseline = np.where(panel.usable & ~np.isnan(panel.baseline), panel.baseline, 0.0)
    counted = panel.usable & ~np.isnan(panel.baseline)
    rows = []
    for (event, label, occurrence, window), part in windows.groupby(["event", "label", "occurrence", "window"],
                                                                   sort=False):
        positions = part["position"].to_numpy()
        n_days = counted[:, positions].sum(axis=1)
        keep = n_days > 0
        if not keep.any():
            continue
        rows.append(pd.DataFrame({
            "event": event, "label": label, "window": window, "occurrence": occurrence, "group": groups[keep],
            "series": panel.ids[keep], "periods": n_days[keep], "actual": actual[keep][:, positions].sum(axis=1),
            "baseline": baseline[keep][:, positions].sum(axis=1),
        }))
    if not rows:
        return pd.DataFrame(columns=list(EFFECT_COLUMNS))
    clusters = pd.concat(rows, ignore_index=True)
    clusters = clusters.loc[clusters["baseline"] > 0]
    rng = np.random.default_rng(seed)
    out = []
    order = {key: number for number, key in enumerate(ECOMMERCE_EVENTS)}
    for (event, label, window, group), part in clusters.groupby(["event", "label", "window", "group"], sort=False):
        a, b = part["actual"].to_numpy(), part["baseline"].to_numpy()
        low = high = np.nan
        if len(a) >= 2:
            draws = rng.integers(0, len(a), (n_boot, len(a)))
            ratios = a[draws].sum(axis=1) / b[draws].sum(axis=1)
            low, high = 100 * (np.quantile(ratios, [(1 - level) / 2, (1 + level) / 2]) - 1)
        occurrences = part["occurrence"].nunique()
        out.append((event, label, window, group, occurrences, part["series"].nunique(), int(part["periods"].sum()),
                    a.sum(), b.sum(), (a.sum() - b.sum()) / occurrences, 100 * (a.sum() / b.sum() - 1), low, high))
    table = pd.DataFrame(out, columns=list(EFFECT_COLUMNS))
    table["_event"] = table["event"].map(order)
    table["_window"] = table["window"].map({w: i for i, w in enumerate(WINDOWS)})
    return table.sort_values(["_event", "group", "_window"]).drop(columns=["_event", "_window"])\
        .reset_index(drop=True)
