"""Read dates, numbers and promotion flags the many ways planners' exports write them.

Every parser works on the distinct values of a column (a million rows rarely hold more than a few thousand
distinct dates) and returns what it decided, so the validation report can say how a column was read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

# --- dates -----------------------------------------------------------------------------------------------------------

DATE_FORMATS = ("auto", "YMD", "DMY", "MDY")
#: Dates outside these years are not sales history (1900-01-01 stand-ins for "no date", 9999-12-31 "open end" markers).
FIRST_YEAR, LAST_YEAR = 1900, 2200

_YMD = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:$|[ T])")
_COMPACT = re.compile(r"^((?:19|20)\d{2})(\d{2})(\d{2})$")
_NUMERIC_DMY = re.compile(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4}|\d{2})(?:$|[ T])")
_CHINESE = re.compile(r"^(\d{4})\s*年\s*(\d{1,2})\s*月(?:\s*(\d{1,2})\s*[日号])?\s*$")
_YEAR_MONTH = re.compile(r"^(\d{4})[-/.](\d{1,2})$")
_ISO_WEEK = re.compile(r"^(\d{4})-?W(\d{1,2})(?:-?([1-7]))?$", re.IGNORECASE)
_EXCEL_SERIAL = re.compile(r"^\d{5}(?:\.\d+)?$")
_MONTHS = {name: number for number, names in enumerate((
    ("jan", "january", "janvier", "januar", "enero"), ("feb", "february", "fevrier", "février", "februar", "febrero"),
    ("mar", "march", "mars", "märz", "marz", "marzo"), ("apr", "april", "avril", "abril"),
    ("may", "mai", "mayo"), ("jun", "june", "juin", "juni", "junio"), ("jul", "july", "juillet", "juli", "julio"),
    ("aug", "august", "août", "aout", "agosto"), ("sep", "sept", "september", "septembre", "septiembre"),
    ("oct", "october", "octobre", "oktober", "octubre"), ("nov", "november", "novembre", "noviembre"),
    ("dec", "december", "décembre", "decembre", "dezember", "diciembre"),
), start=1) for name in names}
_MONTH_NAME = r"([A-Za-zéûä]{3,9})\.?"
_MONTH_YEAR = re.compile(rf"^{_MONTH_NAME}[-\s/']*(\d{{4}}|\d{{2}})$")  # Jan-24, January 2024
_WEEKDAY = r"(?:[A-Za-z]{2,9},?\s+)?"  # "Fri, " before a date
_DAY = r"(\d{1,2})(?:st|nd|rd|th)?"
# 5 Jan 2024, 05-Jan-24, Fri, 5 Jan 2024 / Jan 5, 2024, January 5th, 2024
_DAY_MONTH_YEAR = re.compile(rf"^{_WEEKDAY}{_DAY}[-\s/.]*{_MONTH_NAME}[-\s/.,]*(\d{{4}}|\d{{2}})(?:$|[ T])")
_MONTH_DAY_YEAR = re.compile(rf"^{_WEEKDAY}{_MONTH_NAME}[-\s/.]*{_DAY}[-\s/.,]+(\d{{4}})(?:$|[ T])")


@dataclass(frozen=True)
class DateReading:
    """Parsed dates (NaT where unreadable) and a plain description of how they were read.

    ``out_of_range`` marks well-formed dates outside the years :data:`FIRST_YEAR`..:data:`LAST_YEAR` (left NaT);
    ``year`` holds their year so the report can call them future or implausibly old dates.
    """

    dates: pd.Series
    description: str
    day_first: bool | None  # None when no value needed the choice
    out_of_range: pd.Series | None = None
    year: pd.Series | None = None
    order_conflict: tuple[str, ...] = ()  # (a day-first example, a month-first example) when the column mixes both


def parse_dates(values: pd.Series, date_format: str = "auto") -> DateReading:
    """Parse a column of dates; ambiguous ``01/02/2024`` values are read one way for the whole column.

    ``date_format`` forces the order of numeric dates (``"DMY"``, ``"MDY"``, ``"YMD"``). With ``"auto"`` the order
    comes from evidence: a value like ``13/01/2024`` can only be day-first. When no value settles it, the order
    that keeps consecutive rows closest in time wins. Only the calendar day is kept: a time of day (and its time
    zone) is ignored, so ``2024-01-05T23:30-05:00`` is 5 January.
    """
    if date_format not in DATE_FORMATS:
        raise ValueError(f"date_format must be one of {DATE_FORMATS}, got {date_format!r}")
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return _typed_dates(values)
    text = values.astype(object).where(values.notna(), "").astype(str).str.strip()
    codes, uniques = pd.factorize(text)
    uniques = pd.Series(uniques, dtype=object).astype(str)
    if len(uniques) > 5000:  # timestamps: read each distinct calendar day once
        with_time = uniques.str.match(r"^\d{4}-\d{2}-\d{2}[ T]")
        if with_time.any():
            day_codes, uniques = pd.factorize(uniques.where(~with_time, uniques.str.slice(0, 10)))
            codes = np.where(codes >= 0, day_codes[np.maximum(codes, 0)], -1)
            uniques = pd.Series(uniques, dtype=object).astype(str)
    parts = _DateParts(len(uniques))
    blank = (uniques == "").to_numpy()

    def extract(pattern: re.Pattern) -> pd.DataFrame | None:
        """Groups of ``pattern`` in the values not read yet; None when every value is read already."""
        still = parts.open.to_numpy() & ~blank
        if not still.any():
            return None
        found = uniques[still].str.extract(pattern)
        return found if found[0].notna().any() else None

    for pattern, kind in ((_YMD, "year-month-day"), (_COMPACT, "yyyymmdd"), (_CHINESE, "年月日")):
        found = extract(pattern)
        if found is not None:
            parts.take(found.fillna({2: "1"}), kind, order=(0, 1, 2))
    found = extract(_YEAR_MONTH)
    if found is not None:
        parts.take(found.assign(day="1"), "year-month", order=(0, 1, "day"))
    week = extract(_ISO_WEEK)
    if week is not None:
        iso_week = (week[0] + "-W" + week[1].str.zfill(2) + "-" + week[2].fillna("1")).where(week[0].notna())
        monday = pd.to_datetime(iso_week, format="%G-W%V-%u", errors="coerce")
        parts.take(pd.DataFrame({0: monday.dt.year, 1: monday.dt.month, 2: monday.dt.day}), "ISO week",
                   order=(0, 1, 2))

    day_first = None
    conflict: tuple[str, ...] = ()
    numeric = extract(_NUMERIC_DMY)
    if numeric is not None:
        numeric = numeric.dropna(subset=[0])
        numeric[2] = _full_year(numeric[2])
        day_first = _choose_day_first(numeric, date_format, codes, numeric.index)
        conflict = _order_conflict(numeric) if date_format == "auto" else ()
        parts.take(numeric, "day/month/year" if day_first else "month/day/year",
                   order=(2, 0, 1) if not day_first else (2, 1, 0))

    if parts.open.to_numpy()[~blank].any():
        serial = uniques.str.match(_EXCEL_SERIAL) & parts.open
        if serial.any() and serial.sum() == (~blank).sum():  # only when the whole column is Excel day numbers
            days = pd.to_numeric(uniques.where(serial), errors="coerce")
            days = days.where((days > 20000) & (days < 80000))
            excel = pd.Timestamp("1899-12-30") + pd.to_timedelta(days.round(), unit="D")
            parts.take(pd.DataFrame({0: excel.dt.year, 1: excel.dt.month, 2: excel.dt.day}), "Excel day numbers",
                       order=(0, 1, 2))
        if uniques[parts.open].str.contains(r"[^\W\d_]{3}", regex=True).any():
            _month_names(uniques, parts)

    dates_u, out_u, year_u = parts.result()
    take = np.where(codes >= 0, codes, 0)
    valid = codes >= 0
    dates = pd.Series(np.where(valid, dates_u[take], np.datetime64("NaT")), index=values.index,
                      dtype="datetime64[ns]")
    out_of_range = pd.Series(valid & out_u[take], index=values.index)
    year = pd.Series(np.where(valid, year_u[take], np.nan), index=values.index)
    description = " and ".join(f"{kind} ({n} distinct)" for kind, n in parts.kinds.items()) or "no readable dates"
    return DateReading(dates, description, day_first, out_of_range, year, conflict)


def _order_conflict(parts: pd.DataFrame) -> tuple[str, ...]:
    """Examples when some numeric dates can only be day-first (13/01/2024) and others only month-first
    (01/13/2024): the column mixes both orders and no single reading is right."""
    first, second = (pd.to_numeric(parts[i], errors="coerce") for i in (0, 1))
    day_first = (first > 12) & (first <= 31) & (second <= 12)
    month_first = (second > 12) & (second <= 31) & (first <= 12)
    if not (day_first.any() and month_first.any()):
        return ()
    show = lambda mask: "/".join(parts.loc[mask].iloc[0, :3].astype(str))  # noqa: E731
    return show(day_first), show(month_first)


class _DateParts:
    """Year, month and day per distinct value, filled by one pattern after another (first match wins)."""

    def __init__(self, size: int):
        self.year = np.full(size, np.nan)
        self.month = np.full(size, np.nan)
        self.day = np.full(size, np.nan)
        self.kinds: dict[str, int] = {}

    @property
    def open(self) -> pd.Series:
        return pd.Series(np.isnan(self.year))

    def take(self, found: pd.DataFrame, kind: str, order: tuple) -> None:
        """Take year, month, day from columns ``order`` of ``found`` where they form a real calendar date."""
        if not len(found):
            return
        found = found.reindex(range(len(self.year)))
        year, month, day = (pd.to_numeric(found[c], errors="coerce").to_numpy(dtype=float) for c in order)
        days_in_month = _days_in_month(year, month)
        ok = (
            np.isnan(self.year) & (year >= 1) & (year <= 9999) & (month >= 1) & (month <= 12)
            & (day >= 1) & (day <= days_in_month)
        )
        if ok.any():
            self.year[ok], self.month[ok], self.day[ok] = year[ok], month[ok], day[ok]
            self.kinds[kind] = self.kinds.get(kind, 0) + int(ok.sum())

    def result(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        known = ~np.isnan(self.year)
        in_range = known & (self.year >= FIRST_YEAR) & (self.year <= LAST_YEAR)
        dates = np.full(len(self.year), np.datetime64("NaT"), dtype="datetime64[ns]")
        if in_range.any():
            months = ((self.year[in_range] - 1970) * 12 + self.month[in_range] - 1).astype("int64")
            start = months.astype("datetime64[M]").astype("datetime64[D]")
            dates[in_range] = (start + (self.day[in_range] - 1).astype("int64")).astype("datetime64[ns]")
        return dates, known & ~in_range, self.year


def _full_year(years: pd.Series) -> pd.Series:
    """Four-digit years; two-digit ones in this century up to ten years ahead, else the last (``99`` -> 1999)."""
    two = years.str.len() == 2
    if not two.any():
        return years
    pivot = pd.Timestamp.today().year % 100 + 10
    century = np.where(pd.to_numeric(years.where(two), errors="coerce") <= pivot, "20", "19")
    return years.where(~two, pd.Series(century, index=years.index) + years)


def _days_in_month(year: np.ndarray, month: np.ndarray) -> np.ndarray:
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    lengths = np.array([np.nan, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
    index = np.where((month >= 1) & (month <= 12), month, 0).astype(int)
    return lengths[index] + (leap & (month == 2))


def _month_names(uniques: pd.Series, parts: _DateParts) -> None:
    """Dates written with month names: ``Jan-24`` / ``January 2024`` (a month), ``5 Jan 2024``, ``Jan 5, 2024``."""

    def month_number(names: pd.Series) -> pd.Series:
        return names.str.rstrip(".").map(_MONTHS)

    def extract(pattern: re.Pattern) -> pd.DataFrame | None:
        found = uniques[parts.open].str.lower().str.extract(pattern).dropna(subset=[0])
        return found if len(found) else None

    found = extract(_DAY_MONTH_YEAR)
    if found is not None:
        parts.take(pd.DataFrame({0: _full_year(found[2]), 1: month_number(found[1]), 2: found[0]}), "month names",
                   order=(0, 1, 2))
    found = extract(_MONTH_DAY_YEAR)
    if found is not None:
        parts.take(pd.DataFrame({0: found[2], 1: month_number(found[0]), 2: found[1]}), "month names",
                   order=(0, 1, 2))
    found = extract(_MONTH_YEAR)
    if found is not None:
        parts.take(pd.DataFrame({0: _full_year(found[1]), 1: month_number(found[0]), 2: "1"}), "month and year",
                   order=(0, 1, 2))


def _typed_dates(values: pd.Series) -> DateReading:
    """Dates that arrive typed (Parquet, Excel): keep the day; years outside the plausible range are set apart."""
    if getattr(values.dt, "tz", None) is not None:
        values = values.dt.tz_localize(None)
    year = values.dt.year.astype(float)
    in_range = year.between(FIRST_YEAR, LAST_YEAR)
    dates = values.where(in_range).dt.normalize().astype("datetime64[ns]")
    return DateReading(dates, "typed dates", None, values.notna() & ~in_range, year)


def _choose_day_first(parts: pd.DataFrame, date_format: str, codes: np.ndarray, unique_index: pd.Index) -> bool:
    """Decide d/m/Y or m/d/Y for the whole column (``parts``: first number, second number, year)."""
    if date_format in ("DMY", "MDY"):
        return date_format == "DMY"
    first, second = (pd.to_numeric(parts[i], errors="coerce") for i in (0, 1))
    day_first_votes = int(((first > 12) & (first <= 31) & (second <= 12)).sum())
    month_first_votes = int(((second > 12) & (second <= 31) & (first <= 12)).sum())
    if day_first_votes != month_first_votes:
        return day_first_votes > month_first_votes
    # No value settles it: prefer the reading under which consecutive rows lie closest together in time.
    spreads = {}
    for candidate in (True, False):
        trial = _DateParts(len(parts))
        trial.take(parts.reset_index(drop=True), "", order=(2, 1, 0) if candidate else (2, 0, 1))
        dates = trial.result()[0]
        lookup = np.full(codes.max() + 1, np.datetime64("NaT"), dtype="datetime64[ns]")
        lookup[unique_index.to_numpy()] = dates
        in_file_order = pd.Series(lookup[codes[codes >= 0]]).dropna()
        steps = in_file_order.diff().dropna().abs()
        spreads[candidate] = steps.median() if len(steps) else pd.Timedelta(0)
    return spreads[True] <= spreads[False]


# --- numbers ---------------------------------------------------------------------------------------------------------

_CURRENCY = re.compile(r"(?i)^(?:rmb|cny|usd|eur|gbp|us\$|[¥￥$€£])\s*|\s*(?:rmb|cny|usd|eur|gbp|元|[¥￥$€£])$")
_SPACES = re.compile(r"[\s\u00a0\u202f\u2009']")
_EU_EVIDENCE = re.compile(r"^[+-]?\d+,\d{1,2}$|^[+-]?\d+,\d{4,}$|^[+-]?\d{1,3}(?:\.\d{3})+,\d+$")
_US_EVIDENCE = re.compile(r"^[+-]?\d+\.\d{1,2}$|^[+-]?\d+\.\d{4,}$|^[+-]?\d{1,3}(?:,\d{3})+\.\d+$")
_US_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_EU_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(?:\.\d{3})+(?:,\d+)?$")
_WITH_UNIT = re.compile(r"^([+-]?\d+(?:[.,]\d+)?)\s*([A-Za-z\u4e00-\u9fff]{1,8}\.?)$")


def detect_decimal_comma(columns: list[pd.Series], semicolon: bool = False) -> bool:
    """True when numbers in these text columns use a decimal comma (``19,90``) rather than a point.

    Values like ``1.299`` are evidence for neither; in a semicolon-separated file (the European export) they
    are read as thousands, when nothing says otherwise.
    """
    eu = us = eu_thousands = 0
    for column in columns:
        if not (isinstance(column.dtype, pd.StringDtype) or column.dtype == object):
            continue
        sample = pd.Series(column.dropna().unique()[:5000], dtype=object).astype(str).str.strip()
        eu += int(sample.str.match(_EU_EVIDENCE).sum())
        us += int(sample.str.match(_US_EVIDENCE).sum())
        eu_thousands += int(sample.str.match(r"^[+-]?\d{1,3}(?:\.\d{3})+$").sum())
    if eu == us and semicolon and eu_thousands:
        return True
    return eu > us


@dataclass(frozen=True)
class NumberReading:
    """Parsed numbers (NaN where not a number) and which rows needed a rule to read."""

    values: pd.Series
    missing: pd.Series  # empty cell or a word for nothing ("N/A", "-")
    invalid: pd.Series  # text that is not a number
    with_unit: pd.Series  # "12 pcs" read as 12


_MISSING_WORDS = {"", "na", "n/a", "nan", "null", "none", "-", "--", "—", "?", "#n/a", "无", "空", "nil", "missing"}


def parse_numbers(values: pd.Series, decimal_comma: bool = False, allow_unit: bool = False) -> NumberReading:
    """Parse a column of numbers written with thousands separators, currency signs or (optionally) a unit.

    Text is parsed once per distinct value, so a million rows cost little more than their distinct values.
    """
    if pd.api.types.is_bool_dtype(values.dtype):
        values = values.astype(float)
    if pd.api.types.is_numeric_dtype(values.dtype):
        numbers = pd.to_numeric(values, errors="coerce").astype(float)
        false = pd.Series(False, index=values.index)
        return NumberReading(numbers, numbers.isna(), false, false)
    codes, uniques = pd.factorize(values)
    distinct = _number_text(pd.Series(uniques, dtype=object).astype(str).str.strip(), decimal_comma, allow_unit)
    known = codes >= 0
    take = np.where(known, codes, 0)

    def spread(column: str, empty: object) -> pd.Series:
        data = distinct[column].to_numpy()[take] if len(distinct) else np.full(len(codes), empty)
        return pd.Series(np.where(known, data, empty), index=values.index)

    return NumberReading(spread("value", np.nan).astype(float), spread("missing", True).astype(bool),
                         spread("invalid", False).astype(bool), spread("with_unit", False).astype(bool))


def _number_text(text: pd.Series, decimal_comma: bool, allow_unit: bool) -> pd.DataFrame:
    """Read distinct stripped texts: value, and whether each is missing, invalid or a number with a unit."""
    if not decimal_comma:
        numbers = pd.to_numeric(text, errors="coerce").astype(float)
    else:
        numbers = pd.Series(np.nan, index=text.index)
    todo = numbers.isna() & (text != "")
    if todo.any():
        numbers[todo] = _parse_messy(text[todo], decimal_comma)
    with_unit = pd.Series(False, index=text.index)
    if allow_unit:
        still = numbers.isna() & (text != "")
        if still.any():
            parts = text[still].str.extract(_WITH_UNIT)
            recovered = _parse_messy(parts[0].dropna(), decimal_comma)
            numbers[recovered.index] = recovered
            with_unit[recovered.index[recovered.notna()]] = True
    missing = numbers.isna() & text.str.lower().isin(_MISSING_WORDS)
    invalid = numbers.isna() & ~missing
    return pd.DataFrame({"value": numbers, "missing": missing, "invalid": invalid, "with_unit": with_unit})


def _parse_messy(text: pd.Series, decimal_comma: bool) -> pd.Series:
    cleaned = text.str.replace(_CURRENCY, "", regex=True).str.replace(_SPACES, "", regex=True)
    negative = cleaned.str.match(r"^\(.*\)$")  # accounting style (5) = -5
    cleaned = cleaned.str.strip("()").where(~negative, "-" + cleaned.str.strip("()"))
    if decimal_comma:
        cleaned = cleaned.where(~cleaned.str.match(_EU_THOUSANDS), cleaned.str.replace(".", "", regex=False))
        cleaned = cleaned.str.replace(",", ".", regex=False)
    else:
        cleaned = cleaned.where(~cleaned.str.match(_US_THOUSANDS), cleaned.str.replace(",", "", regex=False))
    return pd.to_numeric(cleaned, errors="coerce").astype(float)


# --- promotion flags --------------------------------------------------------------------------------------------------

_PROMO_YES = {"1", "1.0", "yes", "y", "true", "t", "on", "x", "是", "有", "促销", "是促销", "ja", "si", "sí", "oui"}
_PROMO_NO = {"0", "0.0", "no", "n", "false", "f", "off", "否", "无", "没有", "不是", "nein", "non", "none", "-"}


@dataclass(frozen=True)
class PromoReading:
    """Promotion as 0..1 (1 = on promotion, a fraction = discount depth), with which rows needed a rule.

    ``notation`` says how each cell was written: ``blank``, ``number`` (0/1 or a depth), ``percent`` ("20%"),
    ``word`` (yes/no, true/false, 是/否) or ``label`` (the name of a promotion).
    """

    values: pd.Series
    blank: pd.Series  # empty cell, read as 0
    label: pd.Series  # free text naming a promotion, read as 1 (the text is kept)
    invalid: pd.Series  # a number outside 0..1 (or 0..100 %), left empty
    notation: pd.Series | None = None


def parse_promo(values: pd.Series, decimal_comma: bool = False) -> PromoReading:
    """Read 0/1, yes/no, true/false, 是/否, discount depths (0.2 or "20%") and promotion names."""
    if pd.api.types.is_bool_dtype(values.dtype) or pd.api.types.is_numeric_dtype(values.dtype):
        numbers = pd.to_numeric(values, errors="coerce").astype(float)
        invalid = numbers.notna() & ~numbers.between(0, 1)
        false = pd.Series(False, index=values.index)
        notation = pd.Series(np.where(numbers.isna(), "blank", "number"), index=values.index)
        return PromoReading(numbers.fillna(0.0).where(~invalid), numbers.isna(), false, invalid, notation)
    text = values.astype(object).where(values.notna(), "").astype(str).str.strip()
    codes, uniques = pd.factorize(text)  # decide once per distinct value
    distinct = pd.Series(uniques, dtype=object).astype(str)
    result, notation = _promo_values(distinct, decimal_comma)
    take = np.where(codes >= 0, codes, 0)
    values_out = pd.Series(result.to_numpy()[take], index=text.index)
    notation_out = pd.Series(notation.to_numpy()[take], index=text.index)
    blank = notation_out == "blank"
    invalid = values_out.isna() & ~blank
    label = notation_out == "label"
    return PromoReading(values_out, blank, label, invalid, notation_out)


def _promo_values(distinct: pd.Series, decimal_comma: bool) -> tuple[pd.Series, pd.Series]:
    lowered = distinct.str.lower()
    result = pd.Series(np.nan, index=distinct.index)
    notation = pd.Series("label", index=distinct.index, dtype=object)
    notation[lowered == ""] = "blank"
    result[lowered == ""] = 0.0
    percent = lowered.str.match(r"^[+-]?\d+(?:[.,]\d+)?\s*%$")
    if percent.any():
        result[percent] = _parse_messy(lowered[percent].str.rstrip("%").str.strip(), decimal_comma) / 100
        notation[percent] = "percent"
    numeric = parse_numbers(distinct.where(~percent & (lowered != ""), ""), decimal_comma).values
    is_number = numeric.notna()
    result[is_number] = numeric[is_number]
    notation[is_number] = "number"
    words = ~is_number & ~percent & (lowered.isin(_PROMO_YES) | lowered.isin(_PROMO_NO))
    result[words & lowered.isin(_PROMO_YES)] = 1.0
    result[words & lowered.isin(_PROMO_NO)] = 0.0
    notation[words] = "word"
    result[~result.between(0, 1) & result.notna()] = np.nan  # invalid depth: left empty
    result[notation == "label"] = 1.0
    return result, notation
