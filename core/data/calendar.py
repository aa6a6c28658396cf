"""Events calendar: public holidays and e-commerce shopping events, as a table and as model features.

Two views of the same dates:

* :func:`event_calendar` lists every event day between two dates (for overlays and reports);
* :func:`event_features` turns any column of dates (daily, weekly or monthly periods) into numeric
  features a model can use: event days, the days before and after each event, public holidays and the
  distance to the nearest event.

Everything is computed offline from fixed rules and the ``holidays`` package; nothing touches the network.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import holidays
import numpy as np
import pandas as pd

from core.schema import DAILY, MONTHLY, WEEKLY

DEFAULT_COUNTRIES: tuple[str, ...] = ("CN", "US", "DE", "GB")

ECOMMERCE = "ecommerce"
HOLIDAY = "holiday"
CALENDAR_COLUMNS: tuple[str, ...] = ("date", "event", "label", "kind", "country")
DAYS_TO_NEXT_EVENT = "days_to_next_event"
DAYS_SINCE_LAST_EVENT = "days_since_last_event"

_FREQS = (DAILY, WEEKLY, MONTHLY)
_CN_NEW_YEAR_NAME = "Chinese New Year (Spring Festival)"
#: Days looked beyond the input range, so that every date has a next and a previous event (all events are yearly).
_SEARCH_PAD_DAYS = 400

_EPOCH = dt.date(1970, 1, 1)

Span = tuple[dt.date, dt.date]


@dataclass(frozen=True)
class EcommerceEvent:
    """One recurring shopping event.

    Attributes
    ----------
    key : stable snake_case name, used in feature columns (``ev_<key>``).
    label : text for planners, e.g. ``"11.11 Singles' Day"``.
    pre_days, post_days : default length of the windows before the first and after the last event day, where
        demand typically moves too (shoppers wait and fill carts before 11.11, and buy less right after it).
    rule : how the dates are set, in words.
    span : ``span(year)`` gives the first and last event day in that year, or ``None`` if it has none.
    """

    key: str
    label: str
    pre_days: int
    post_days: int
    rule: str
    span: Callable[[int], Span | None] = field(repr=False, compare=False)


def _fixed_day(month: int, day: int) -> Callable[[int], Span]:
    def span(year: int) -> Span:
        date = dt.date(year, month, day)
        return date, date

    return span


def _thanksgiving(year: int) -> dt.date:
    """US Thanksgiving: the fourth Thursday of November."""
    first = dt.date(year, 11, 1)
    first_thursday = first + dt.timedelta(days=(3 - first.weekday()) % 7)
    return first_thursday + dt.timedelta(weeks=3)


def _black_friday(year: int) -> Span:
    date = _thanksgiving(year) + dt.timedelta(days=1)
    return date, date


def _cyber_monday(year: int) -> Span:
    date = _thanksgiving(year) + dt.timedelta(days=4)
    return date, date


#: Amazon Prime Day as Amazon announced it (first and last day); other years follow the rule in ``_prime_day``.
PRIME_DAY_DATES: dict[int, Span] = {
    2019: (dt.date(2019, 7, 15), dt.date(2019, 7, 16)),
    2020: (dt.date(2020, 10, 13), dt.date(2020, 10, 14)),
    2021: (dt.date(2021, 6, 21), dt.date(2021, 6, 22)),
    2022: (dt.date(2022, 7, 12), dt.date(2022, 7, 13)),
    2023: (dt.date(2023, 7, 11), dt.date(2023, 7, 12)),
    2024: (dt.date(2024, 7, 16), dt.date(2024, 7, 17)),
    2025: (dt.date(2025, 7, 8), dt.date(2025, 7, 11)),
}


def _prime_day(year: int) -> Span:
    if year in PRIME_DAY_DATES:
        return PRIME_DAY_DATES[year]
    first = dt.date(year, 7, 1)
    second_tuesday = first + dt.timedelta(days=(1 - first.weekday()) % 7 + 7)
    return second_tuesday, second_tuesday + dt.timedelta(days=1)


def _spring_festival(year: int) -> Span | None:
    """Chinese New Year's Eve to the sixth day of the new year (the official week off, when couriers stop)."""
    new_year = min(
        (date for date, name in _holidays("CN", year).items() if _CN_NEW_YEAR_NAME in name.split("; ")),
        default=None,
    )
    if new_year is None:
        return None
    return new_year - dt.timedelta(days=1), new_year + dt.timedelta(days=6)


ECOMMERCE_EVENTS: dict[str, EcommerceEvent] = {
    event.key: event
    for event in (
        EcommerceEvent("spring_festival", "Spring Festival (Chinese New Year)", 14, 7,
                       "Chinese New Year's Eve to day 6 of the lunar year (from the holidays package's CN calendar)",
                       _spring_festival),
        EcommerceEvent("womens_day", "3.8 Women's Day / Queen's Day", 3, 1, "8 March", _fixed_day(3, 8)),
        EcommerceEvent("love_day_520", "520 Love Day", 3, 0, "20 May", _fixed_day(5, 20)),
        EcommerceEvent("mid_year_618", "618 Mid-Year Sale", 14, 2, "18 June", _fixed_day(6, 18)),
        EcommerceEvent("prime_day", "Amazon Prime Day", 7, 2,
                       "announced dates 2019-2025; otherwise the second Tuesday of July and the day after",
                       _prime_day),
        EcommerceEvent("singles_day", "11.11 Singles' Day", 10, 3, "11 November", _fixed_day(11, 11)),
        EcommerceEvent("black_friday", "Black Friday", 7, 0, "the day after US Thanksgiving (4th Thursday of November)",
                       _black_friday),
        EcommerceEvent("cyber_monday", "Cyber Monday", 0, 1, "the Monday after US Thanksgiving", _cyber_monday),
        EcommerceEvent("double_12", "12.12 Double Twelve", 3, 1, "12 December", _fixed_day(12, 12)),
        EcommerceEvent("christmas", "Christmas", 14, 0, "25 December", _fixed_day(12, 25)),
        EcommerceEvent("boxing_day", "Boxing Day", 0, 5, "26 December", _fixed_day(12, 26)),
    )
}


#: Events that are shopping events only in some markets: Chinese platform festivals, and the Western ones. An
#: event not listed here is everyone's. Used where a model should not be told about another market's event
#: (the pretrained transformer: 618 flags on a US store's calendar made its forecasts worse).
EVENT_MARKETS: dict[str, frozenset[str]] = {
    **{key: frozenset({"CN"}) for key in ("spring_festival", "womens_day", "love_day_520", "mid_year_618",
                                          "singles_day", "double_12")},
    **{key: frozenset({"*"}) for key in ("prime_day", "black_friday", "cyber_monday", "christmas")},  # * = not CN
    "boxing_day": frozenset({"GB", "IE", "CA", "AU", "NZ", "HK", "ZA"}),
}


def events_for_countries(countries: Sequence[str]) -> list[str]:
    """The e-commerce events that are shopping events in at least one of ``countries`` (all when none given).

    Chinese platform festivals belong to CN; Prime Day, Black Friday, Cyber Monday and Christmas to every other
    country; Boxing Day to the countries that keep it.
    """
    codes = {country.upper() for country in ([countries] if isinstance(countries, str) else countries)}
    if not codes:
        return list(ECOMMERCE_EVENTS)
    chosen = []
    for key in ECOMMERCE_EVENTS:
        markets = EVENT_MARKETS.get(key)
        if markets is None or codes & markets or ("*" in markets and codes - {"CN"}):
            chosen.append(key)
    return chosen


@lru_cache(maxsize=512)
def _holidays(country: str, year: int) -> dict[dt.date, str]:
    """Public holidays of one country and year, names in English."""
    return dict(holidays.country_holidays(country, years=year, language="en_US"))


def _select_events(events: Iterable[str] | None) -> list[EcommerceEvent]:
    if events is None:
        return list(ECOMMERCE_EVENTS.values())
    keys = list(events)
    unknown = [key for key in keys if key not in ECOMMERCE_EVENTS]
    if unknown:
        raise ValueError(f"Unknown event(s) {unknown}. Known events: {', '.join(ECOMMERCE_EVENTS)}.")
    return [ECOMMERCE_EVENTS[key] for key in keys]


def _check_countries(countries: Sequence[str]) -> list[str]:
    if isinstance(countries, str):
        countries = [countries]
    codes = [country.upper() for country in countries]
    unsupported = [code for code in codes if code not in holidays.list_supported_countries()]
    if unsupported:
        raise ValueError(
            f"No public holiday calendar for country code(s) {unsupported}; use ISO codes like 'CN', 'US'."
        )
    return codes


def _occurrences(event: EcommerceEvent, years: range) -> list[Span]:
    return [span for year in years if (span := event.span(year)) is not None]


def _to_day(value: object) -> dt.date:
    return pd.Timestamp(value).date()


def event_calendar(
    start: str | dt.date | pd.Timestamp,
    end: str | dt.date | pd.Timestamp,
    countries: Sequence[str] = DEFAULT_COUNTRIES,
    events: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Every event day from ``start`` to ``end`` (both included).

    Parameters
    ----------
    start, end : first and last day of the range.
    countries : ISO country codes whose public holidays are listed (``kind == "holiday"``).
    events : keys of :data:`ECOMMERCE_EVENTS` to list; ``None`` lists all of them.

    Returns
    -------
    DataFrame with one row per event day: ``date`` (datetime64), ``event`` (e.g. ``"singles_day"`` or
    ``"holiday_cn"``), ``label``, ``kind`` (``"ecommerce"`` or ``"holiday"``) and ``country`` (``""`` for
    e-commerce events), sorted by date, then kind and event.
    """
    first, last = _to_day(start), _to_day(end)
    years = range(first.year - 1, last.year + 1)
    rows: list[tuple[dt.date, str, str, str, str]] = []
    for event in _select_events(events):
        for span_start, span_end in _occurrences(event, years):
            for offset in range((span_end - span_start).days + 1):
                day = span_start + dt.timedelta(days=offset)
                if first <= day <= last:
                    rows.append((day, event.key, event.label, ECOMMERCE, ""))
    for country in _check_countries(countries):
        for year in range(first.year, last.year + 1):
            rows.extend(
                (day, f"holiday_{country.lower()}", name, HOLIDAY, country)
                for day, name in _holidays(country, year).items()
                if first <= day <= last
            )
    table = pd.DataFrame(rows, columns=list(CALENDAR_COLUMNS))
    table["date"] = pd.to_datetime(table["date"]).astype("datetime64[us]")
    return table.sort_values(["date", "kind", "event"], ignore_index=True)


def _as_days(dates: pd.Series | pd.DatetimeIndex | Sequence) -> tuple[np.ndarray, pd.Index]:
    """Input dates as int64 day numbers (days since 1970-01-01) plus the index the features get."""
    index = dates.index if isinstance(dates, pd.Series) else None
    stamps = pd.DatetimeIndex(pd.to_datetime(dates))
    if stamps.tz is not None:
        stamps = stamps.tz_localize(None)
    if stamps.hasnans:
        raise ValueError(
            f"{int(stamps.isna().sum())} date(s) are missing (NaT); drop or fill them before building features."
        )
    if index is None:
        index = stamps
    return stamps.values.astype("datetime64[D]").astype(np.int64), index


def _period_bounds(days: np.ndarray, freq: str) -> tuple[np.ndarray, np.ndarray]:
    """First day and one-past-last day of the period each date stands for."""
    if freq == DAILY:
        return days, days + 1
    if freq == WEEKLY:
        return days, days + 7
    months = days.astype("datetime64[D]").astype("datetime64[M]")
    return months.astype("datetime64[D]").astype(np.int64), (months + 1).astype("datetime64[D]").astype(np.int64)


def _mark(flags: np.ndarray, grid_start: int, first: dt.date, last: dt.date) -> None:
    """Set ``flags`` to 1 from ``first`` to ``last`` (inclusive), clipped to the grid."""
    lo = max(_day_number(first) - grid_start, 0)
    hi = min(_day_number(last) - grid_start + 1, len(flags))
    if lo < hi:
        flags[lo:hi] = 1


def _day_number(day: dt.date) -> int:
    return (day - _EPOCH).days


def event_features(
    dates: pd.Series | pd.DatetimeIndex | Sequence,
    freq: str = DAILY,
    countries: Sequence[str] = DEFAULT_COUNTRIES,
    events: Iterable[str] | None = None,
    windows: bool = True,
) -> pd.DataFrame:
    """Numeric event and holiday features for each date, in the order given.

    Parameters
    ----------
    dates : dates to describe; duplicates are fine (e.g. the ``ds`` column of a long panel).
    freq : ``"D"`` (each date is one day), ``"W"`` (each date starts a 7-day period) or ``"M"`` (each date stands
        for its calendar month). For ``"W"`` and ``"M"`` every feature counts the days inside the period.
    countries : ISO codes; one ``holiday_<cc>`` column each.
    events : keys of :data:`ECOMMERCE_EVENTS`; ``None`` uses all of them.
    windows : add ``ev_<key>_pre`` / ``ev_<key>_post`` for the days in each event's pre and post window.

    Returns
    -------
    DataFrame with one row per input date (same order; indexed like ``dates`` when it is a Series, else by the
    dates), small-integer columns ``ev_<key>``, ``ev_<key>_pre``, ``ev_<key>_post`` (windows of non-zero length
    only), ``holiday_<cc>``, and ``days_to_next_event`` / ``days_since_last_event``: days from the (period) start
    to the nearest e-commerce event day ahead of it / behind it, 0 on an event day.
    """
    if freq not in _FREQS:
        raise ValueError(f"freq must be one of {_FREQS} (daily, weekly, monthly), got {freq!r}.")
    selected = _select_events(events)
    codes = _check_countries(countries)
    days, index = _as_days(dates)
    if len(days) == 0:
        columns = event_features(pd.DatetimeIndex(["2000-01-01"]), freq, countries, events, windows).columns
        return pd.DataFrame(np.zeros((0, len(columns)), dtype=np.int16), columns=columns, index=index)
    inverse, unique_days = pd.factorize(days)
    period_start, period_end = _period_bounds(np.asarray(unique_days, dtype=np.int64), freq)

    grid_start = int(period_start.min()) - _SEARCH_PAD_DAYS
    grid_end = int(period_end.max()) + _SEARCH_PAD_DAYS
    first_day = _EPOCH + dt.timedelta(days=grid_start)
    last_day = _EPOCH + dt.timedelta(days=grid_end - 1)
    years = range(first_day.year - 1, last_day.year + 1)
    n_grid = grid_end - grid_start

    columns: dict[str, np.ndarray] = {}
    any_event_day = np.zeros(n_grid, dtype=np.int8)
    for event in selected:
        on_day = np.zeros(n_grid, dtype=np.int8)
        before = np.zeros(n_grid, dtype=np.int8)
        after = np.zeros(n_grid, dtype=np.int8)
        for span_start, span_end in _occurrences(event, years):
            _mark(on_day, grid_start, span_start, span_end)
            if event.pre_days:
                _mark(before, grid_start, span_start - dt.timedelta(days=event.pre_days),
                      span_start - dt.timedelta(days=1))
            if event.post_days:
                _mark(after, grid_start, span_end + dt.timedelta(days=1),
                      span_end + dt.timedelta(days=event.post_days))
        columns[f"ev_{event.key}"] = on_day
        if windows and event.pre_days:
            columns[f"ev_{event.key}_pre"] = before
        if windows and event.post_days:
            columns[f"ev_{event.key}_post"] = after
        any_event_day |= on_day
    for country in codes:
        flags = np.zeros(n_grid, dtype=np.int8)
        for year in years:
            for day in _holidays(country, year):
                _mark(flags, grid_start, day, day)
        columns[f"holiday_{country.lower()}"] = flags

    lo, hi = period_start - grid_start, period_end - grid_start
    names = list(columns)
    daily = np.zeros((n_grid, len(names)), dtype=np.int16)
    for position, name in enumerate(names):
        daily[:, position] = columns[name]
    cumulative = np.vstack([np.zeros((1, len(names)), dtype=np.int32), np.cumsum(daily, axis=0, dtype=np.int32)])
    per_period = (cumulative[hi] - cumulative[lo]).astype(np.int16)

    event_positions = np.flatnonzero(any_event_day)
    if event_positions.size:
        next_index = np.searchsorted(event_positions, lo, side="left").clip(max=len(event_positions) - 1)
        last_index = (np.searchsorted(event_positions, lo, side="right") - 1).clip(min=0)
        next_position, last_position = event_positions[next_index], event_positions[last_index]
        distances = np.stack([next_position - lo, lo - last_position], axis=1).astype(np.int16)
        per_period = np.hstack([per_period, distances])
        names += [DAYS_TO_NEXT_EVENT, DAYS_SINCE_LAST_EVENT]

    # Taking rows from the transposed block hands pandas column-major data it can keep without copying.
    return pd.DataFrame(per_period.T[:, inverse].T, columns=names, index=index, copy=False)
