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

_ISO = re.compile(r"^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}(?:[ T].*)?$")
_COMPACT = re.compile(r"^(?:19|20)\d{6}$")
_NUMERIC_DMY = re.compile(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{2}|\d{4})(?:[ T].*)?$")
_CHINESE = re.compile(r"^(\d{4})年(\d{1,2})月(?:(\d{1,2})[日号])?")
_YEAR_MONTH = re.compile(r"^(\d{4})[-/.](\d{1,2})$")
_ISO_WEEK = re.compile(r"^(\d{4})-?W(\d{1,2})(?:-?([1-7]))?$", re.IGNORECASE)
_EXCEL_SERIAL = re.compile(r"^\d{5}(?:\.\d+)?$")
_HAS_LETTERS = re.compile(r"[A-Za-z]{3,}")


@dataclass(frozen=True)
class DateReading:
    """Parsed dates (NaT where unreadable) and a plain description of how they were read."""

    dates: pd.Series
    description: str
    day_first: bool | None  # None when no value needed the choice


def parse_dates(values: pd.Series, date_format: str = "auto") -> DateReading:
    """Parse a column of dates; ambiguous ``01/02/2024`` values are read one way for the whole column.

    ``date_format`` forces the order of numeric dates (``"DMY"``, ``"MDY"``, ``"YMD"``). With ``"auto"`` the order
    comes from evidence: a value like ``13/01/2024`` can only be day-first. When no value settles it, the order
    that keeps consecutive rows closest in time wins.
    """
    if date_format not in DATE_FORMATS:
        raise ValueError(f"date_format must be one of {DATE_FORMATS}, got {date_format!r}")
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        dates = pd.to_datetime(values).dt.tz_localize(None) if values.dt.tz is not None else values
        return DateReading(dates.dt.normalize().astype("datetime64[ns]"), "typed dates", None)
    text = values.astype(str).where(values.notna(), "").str.strip()
    codes, uniques = pd.factorize(text)
    uniques = pd.Series(uniques, dtype=object)
    parsed = pd.Series(pd.NaT, index=uniques.index, dtype="datetime64[ns]")
    kinds: dict[str, int] = {}

    def take(mask: pd.Series, result: pd.Series, kind: str) -> None:
        good = mask & result.notna() & parsed.isna()
        parsed[good] = result[good]
        if good.any():
            kinds[kind] = kinds.get(kind, 0) + int(good.sum())

    iso = uniques.str.match(_ISO)
    take(iso, _to_datetime(uniques.str.replace(r"[/.]", "-", regex=True).where(iso), "ISO8601"), "year-month-day")
    compact = uniques.str.match(_COMPACT) & parsed.isna()
    take(compact, _to_datetime(uniques.where(compact), "%Y%m%d"), "yyyymmdd")
    chinese = uniques.str.extract(_CHINESE)
    has_chinese = chinese[0].notna()
    take(has_chinese, _from_parts(chinese[0], chinese[1], chinese[2].fillna("1")), "年月日")
    year_month = uniques.str.extract(_YEAR_MONTH)
    take(year_month[0].notna(), _from_parts(year_month[0], year_month[1], "1"), "year-month")
    week = uniques.str.extract(_ISO_WEEK)
    if week[0].notna().any():
        iso_week = week[0] + "-W" + week[1].str.zfill(2) + "-" + week[2].fillna("1")
        take(week[0].notna(), _to_datetime(iso_week, "%G-W%V-%u"), "ISO week")

    day_first = None
    numeric = uniques.str.extract(_NUMERIC_DMY)
    is_numeric = numeric[0].notna() & parsed.isna()
    if is_numeric.any():
        day_first = _choose_day_first(numeric[is_numeric], date_format, codes, uniques.index[is_numeric])
        day, month = (numeric[0], numeric[1]) if day_first else (numeric[1], numeric[0])
        year = numeric[2].where(numeric[2].str.len() == 4, "20" + numeric[2])
        take(is_numeric, _from_parts(year, month, day), "day/month/year" if day_first else "month/day/year")

    serial = uniques.str.match(_EXCEL_SERIAL) & parsed.isna()
    if serial.any() and serial.sum() == (uniques != "").sum():  # only when the whole column is Excel day numbers
        days = pd.to_numeric(uniques.where(serial), errors="coerce")
        days = days.where((days > 20000) & (days < 80000))
        take(serial, pd.Timestamp("1899-12-30") + pd.to_timedelta(days.round(), unit="D"), "Excel day numbers")

    rest = parsed.isna() & uniques.str.contains(_HAS_LETTERS)  # "Jan 5, 2024", "05-Jan-2024"
    if rest.any():
        take(rest, _to_datetime(uniques.where(rest), "mixed", dayfirst=bool(day_first)), "month names")

    dates = pd.Series(parsed.to_numpy()[codes], index=values.index, dtype="datetime64[ns]")
    dates = dates.where(codes >= 0)
    description = " and ".join(f"{kind} ({n} distinct)" for kind, n in kinds.items()) or "no readable dates"
    return DateReading(dates.dt.normalize(), description, day_first)


def _to_datetime(values: pd.Series, fmt: str, dayfirst: bool = False) -> pd.Series:
    result = pd.to_datetime(values, format=fmt, errors="coerce", dayfirst=dayfirst, utc=True)
    return result.dt.tz_localize(None).astype("datetime64[ns]")


def _from_parts(year: pd.Series, month: pd.Series | str, day: pd.Series | str) -> pd.Series:
    frame = pd.DataFrame({"year": year, "month": month, "day": day}).apply(pd.to_numeric, errors="coerce")
    ok = frame.notna().all(axis=1) & frame["year"].between(1900, 2200)
    result = pd.to_datetime(frame.where(ok), errors="coerce")
    return pd.Series(result, index=year.index).astype("datetime64[ns]")


def _choose_day_first(parts: pd.DataFrame, date_format: str, codes: np.ndarray, unique_index: pd.Index) -> bool:
    """Decide d/m/Y or m/d/Y for the whole column."""
    if date_format in ("DMY", "MDY"):
        return date_format == "DMY"
    first, second = (pd.to_numeric(parts[i], errors="coerce") for i in (0, 1))
    day_first_votes = int((first > 12).sum())
    month_first_votes = int((second > 12).sum())
    if day_first_votes != month_first_votes:
        return day_first_votes > month_first_votes
    # No value settles it: prefer the reading under which consecutive rows lie closest together in time.
    year = parts[2].where(parts[2].str.len() == 4, "20" + parts[2])
    spreads = {}
    for candidate in (True, False):
        day, month = (parts[0], parts[1]) if candidate else (parts[1], parts[0])
        lookup = pd.Series(pd.NaT, index=pd.RangeIndex(codes.max() + 1), dtype="datetime64[ns]")
        lookup[unique_index] = _from_parts(year, month, day).to_numpy()
        in_file_order = pd.Series(lookup.to_numpy()[codes[codes >= 0]]).dropna()
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


def detect_decimal_comma(columns: list[pd.Series]) -> bool:
    """True when numbers in these text columns use a decimal comma (``19,90``) rather than a point."""
    eu = us = 0
    for column in columns:
        if not (isinstance(column.dtype, pd.StringDtype) or column.dtype == object):
            continue
        sample = pd.Series(column.dropna().unique()[:5000], dtype=str).str.strip()
        eu += int(sample.str.match(_EU_EVIDENCE).sum())
        us += int(sample.str.match(_US_EVIDENCE).sum())
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
    """Parse a column of numbers written with thousands separators, currency signs or (optionally) a unit."""
    if pd.api.types.is_bool_dtype(values.dtype):
        values = values.astype(float)
    if pd.api.types.is_numeric_dtype(values.dtype):
        numbers = pd.to_numeric(values, errors="coerce").astype(float)
        false = pd.Series(False, index=values.index)
        return NumberReading(numbers, numbers.isna(), false, false)
    text = values.astype(str).where(values.notna(), "").str.strip()
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
    lowered = text.str.lower()
    missing = numbers.isna() & lowered.isin(_MISSING_WORDS)
    invalid = numbers.isna() & ~missing
    return NumberReading(numbers, missing, invalid, with_unit)


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


# --- promotion flags ---------------------------------------------------------------------------------------------------

_PROMO_YES = {"1", "1.0", "yes", "y", "true", "t", "on", "x", "是", "有", "促销", "是促销", "ja", "si", "sí", "oui"}
_PROMO_NO = {"0", "0.0", "no", "n", "false", "f", "off", "否", "无", "没有", "不是", "nein", "non", "none", "-"}


@dataclass(frozen=True)
class PromoReading:
    """Promotion as 0..1 (1 = on promotion, a fraction = discount depth), with which rows needed a rule."""

    values: pd.Series
    blank: pd.Series  # empty cell, read as 0
    label: pd.Series  # free text naming a promotion, read as 1 (the text is kept)
    invalid: pd.Series  # a number outside 0..1 (or 0..100 %), left empty


def parse_promo(values: pd.Series, decimal_comma: bool = False) -> PromoReading:
    """Read 0/1, yes/no, true/false, 是/否, discount depths (0.2 or "20%") and promotion names."""
    if pd.api.types.is_bool_dtype(values.dtype) or pd.api.types.is_numeric_dtype(values.dtype):
        numbers = pd.to_numeric(values, errors="coerce").astype(float)
        invalid = numbers.notna() & ~numbers.between(0, 1)
        false = pd.Series(False, index=values.index)
        return PromoReading(numbers.where(~invalid).fillna(0.0).where(~invalid), numbers.isna(), false, invalid)
    text = values.astype(str).where(values.notna(), "").str.strip()
    lowered = text.str.lower()
    result = pd.Series(np.nan, index=text.index)
    result[lowered.isin(_PROMO_YES)] = 1.0
    result[lowered.isin(_PROMO_NO)] = 0.0
    blank = lowered == ""
    result[blank] = 0.0
    percent = lowered.str.match(r"^[+-]?\d+(?:[.,]\d+)?\s*%$") & result.isna()
    if percent.any():
        result[percent] = _parse_messy(lowered[percent].str.rstrip("%").str.strip(), decimal_comma) / 100
    numeric = parse_numbers(text.where(result.isna(), ""), decimal_comma).values
    is_number = numeric.notna() & result.isna()
    result[is_number] = numeric[is_number]
    invalid = (is_number | percent) & ~result.between(0, 1)
    result[invalid] = np.nan
    label = result.isna() & ~invalid & ~blank
    result[label] = 1.0
    return PromoReading(result, blank, label, invalid)
