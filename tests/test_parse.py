"""Tests for core.data.parse: dates, numbers and promotion flags written the many ways exports write them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.data.parse import detect_decimal_comma, parse_dates, parse_numbers, parse_promo

D = pd.Timestamp


def dates(*values: str, date_format: str = "auto") -> list:
    return parse_dates(pd.Series(values, dtype=object), date_format).dates.tolist()


# --- dates ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("2024-01-05", "2024-01-05"), ("2024/1/5", "2024-01-05"), ("2024.01.05", "2024-01-05"),
    ("20240105", "2024-01-05"), ("2024年1月5日", "2024-01-05"), ("2024年01月05号", "2024-01-05"),
    ("2024年1月", "2024-01-01"), ("2024-01", "2024-01-01"), ("2024-W02", "2024-01-08"), ("2024W021", "2024-01-08"),
    ("2024-01-05 13:45:00", "2024-01-05"), ("2024-01-05T23:30:00-05:00", "2024-01-05"), ("2024-01-05Z", None),
    ("5 Jan 2024", "2024-01-05"), ("05-Jan-2024", "2024-01-05"), ("Jan 5, 2024", "2024-01-05"),
    ("January 5th, 2024", "2024-01-05"), ("Fri, 5 Jan 2024", "2024-01-05"), ("Jan-24", "2024-01-01"),
    ("January 2024", "2024-01-01"), ("5. März 2024", "2024-03-05"), ("13/01/2024", "2024-01-13"),
    ("13.01.24", "2024-01-13"), ("", None), ("yesterday", None), ("today", None), ("now", None),
    ("2024-13-45", None), ("2024-02-30", None), ("2023-02-29", None), ("2024-02-29", "2024-02-29"),
    ("00/00/0000", None), ("#VALUE!", None), ("1/1", None), ("Jan", None),
])
def test_one_date(text, expected):
    assert dates(text) == [pd.NaT if expected is None else D(expected)]


def test_excel_serial_numbers_when_the_whole_column_is_serials():
    assert dates("45292", "45293") == [D("2024-01-01"), D("2024-01-02")]
    assert dates("45292", "2024-01-02")[0] is pd.NaT  # a lone number among dates is not a date


def test_day_first_from_evidence():
    reading = parse_dates(pd.Series(["01/02/2024", "13/02/2024"]))
    assert reading.day_first is True and reading.dates.tolist() == [D("2024-02-01"), D("2024-02-13")]


def test_month_first_from_evidence():
    reading = parse_dates(pd.Series(["01/02/2024", "02/13/2024"]))
    assert reading.day_first is False and reading.dates.tolist() == [D("2024-01-02"), D("2024-02-13")]


def test_without_evidence_consecutive_rows_decide():
    month_first = [f"{m:02d}/{d:02d}/2024" for m in (1,) for d in range(1, 13)]
    assert parse_dates(pd.Series(month_first)).day_first is False
    day_first = [f"{d:02d}/{m:02d}/2024" for m in (1,) for d in range(1, 13)]
    assert parse_dates(pd.Series(day_first)).day_first is True


def test_forced_order():
    assert dates("01/02/2024", date_format="MDY") == [D("2024-01-02")]
    assert dates("01/02/2024", date_format="DMY") == [D("2024-02-01")]
    with pytest.raises(ValueError, match="date_format"):
        parse_dates(pd.Series(["2024-01-01"]), "YDM")


def test_mixed_orders_are_reported_not_guessed():
    reading = parse_dates(pd.Series(["13/01/2024", "01/13/2024", "2024-01-05"]))
    assert reading.order_conflict == ("13/01/2024", "01/13/2024")
    assert parse_dates(pd.Series(["13/01/2024", "32/13/2024"])).order_conflict == ()  # invalid, not a vote


def test_out_of_range_years_are_set_apart():
    reading = parse_dates(pd.Series(["9999-12-31", "1066-10-14", "2024-01-01", "2262-04-12"]))
    assert reading.dates.isna().tolist() == [True, True, False, True]
    assert reading.out_of_range.tolist() == [True, True, False, True]
    assert reading.year.tolist()[:2] == [9999, 1066]


def test_typed_dates_with_time_zone_and_far_future():
    values = pd.Series(pd.to_datetime(["2024-01-05 23:00", "2024-01-06 00:00"]).tz_localize("Asia/Shanghai"))
    assert parse_dates(values).dates.tolist() == [D("2024-01-05"), D("2024-01-06")]
    far = pd.Series(np.array(["2024-01-05", "9999-12-31"], dtype="datetime64[us]"))
    reading = parse_dates(far)
    assert reading.dates.tolist()[0] == D("2024-01-05") and reading.out_of_range.tolist() == [False, True]


def test_many_timestamps_are_read_per_day():
    stamps = pd.date_range("2024-01-01", periods=20_000, freq="37s").strftime("%Y-%m-%d %H:%M:%S")
    reading = parse_dates(pd.Series(stamps))
    assert reading.dates.notna().all()
    assert reading.dates.dt.normalize().equals(reading.dates)


def test_description_names_each_form():
    reading = parse_dates(pd.Series(["2024-01-01", "02/01/2024", "13/01/2024"]))
    assert "year-month-day" in reading.description and "day/month/year" in reading.description


def test_missing_cells_are_not_dates():
    reading = parse_dates(pd.Series(["2024-01-01", None, np.nan], dtype=object))
    assert reading.dates.isna().tolist() == [False, True, True]


# --- numbers ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, decimal_comma, expected", [
    ("12", False, 12), ("12.5", False, 12.5), ("1,234", False, 1234), ("1,234.56", False, 1234.56),
    ("1 234", False, 1234), ("$19.90", False, 19.9), ("¥ 19.90", False, 19.9), ("19.90元", False, 19.9),
    ("RMB 5", False, 5), ("(5)", False, -5), ("-5", False, -5), ("+5", False, 5), ("1e3", False, 1000),
    ("19,90", True, 19.9), ("1.234,56", True, 1234.56), ("1 234,56", True, 1234.56), ("1.500", True, 1500),
    ("€ 2,50", True, 2.5), ("19.90", True, 19.9), ("inf", False, np.inf), ("1e308", False, 1e308),
])
def test_numbers(text, decimal_comma, expected):
    reading = parse_numbers(pd.Series([text], dtype=object), decimal_comma)
    assert reading.values.iloc[0] == pytest.approx(expected)
    assert not reading.invalid.iloc[0] and not reading.missing.iloc[0]


@pytest.mark.parametrize("text", ["", "  ", "N/A", "n/a", "NaN", "null", "None", "-", "--", "—", "#N/A", "无", "?"])
def test_missing_words(text):
    reading = parse_numbers(pd.Series([text, None], dtype=object))
    assert reading.missing.tolist() == [True, True]
    assert reading.values.isna().all() and not reading.invalid.any()


@pytest.mark.parametrize("text", ["abc", "twelve", "12-15", "#DIV/0!", "1,2,3,4.5.6"])
def test_invalid_numbers(text):
    reading = parse_numbers(pd.Series([text], dtype=object))
    assert reading.invalid.tolist() == [True] and reading.values.isna().all()


def test_numbers_with_units_only_when_allowed():
    values = pd.Series(["12 pcs", "3件", "4 units", "7"], dtype=object)
    assert parse_numbers(values).invalid.tolist() == [True, True, True, False]
    reading = parse_numbers(values, allow_unit=True)
    assert reading.values.tolist() == [12, 3, 4, 7]
    assert reading.with_unit.tolist() == [True, True, True, False]


def test_typed_numbers_pass_through():
    reading = parse_numbers(pd.Series([1, 2, None], dtype="Float64"))
    assert reading.values.tolist()[:2] == [1.0, 2.0] and reading.missing.tolist() == [False, False, True]
    assert parse_numbers(pd.Series([True, False])).values.tolist() == [1.0, 0.0]


def test_distinct_values_are_parsed_once_and_spread_back():
    values = pd.Series(["5", "x", "5", None, "x"] * 1000, dtype=object)
    reading = parse_numbers(values)
    assert reading.values.iloc[0] == 5.0 and reading.values.iloc[2] == 5.0 and reading.values.iloc[1:2].isna().all()
    assert int(reading.invalid.sum()) == 2000 and int(reading.missing.sum()) == 1000


@pytest.mark.parametrize("values, expected", [
    (["19,90", "1.234,56", "5"], True), (["19.90", "1,234.56", "5"], False), (["5", "7"], False),
    (["1,5", "2,25"], True), (["1,234", "5,678"], False),
])
def test_decimal_comma_detection(values, expected):
    assert detect_decimal_comma([pd.Series(values, dtype=object)]) is expected


# --- promotion --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, value, notation", [
    ("1", 1, "number"), ("0", 0, "number"), ("0.3", 0.3, "number"), ("yes", 1, "word"), ("No", 0, "word"),
    ("TRUE", 1, "word"), ("false", 0, "word"), ("Y", 1, "word"), ("是", 1, "word"), ("否", 0, "word"),
    ("20%", 0.2, "percent"), ("0%", 0, "percent"), ("", 0, "blank"), ("618大促", 1, "label"), ("BOGO", 1, "label"),
    ("2", None, "number"), ("-1", None, "number"), ("150%", None, "percent"),
])
def test_promo_values(text, value, notation):
    reading = parse_promo(pd.Series([text], dtype=object))
    got = reading.values.iloc[0]
    assert (np.isnan(got) if value is None else got == pytest.approx(value))
    assert reading.notation.iloc[0] == notation
    assert reading.invalid.iloc[0] == (value is None)


def test_typed_promo_columns():
    reading = parse_promo(pd.Series([True, False, None], dtype=object).astype("boolean"))
    assert reading.values.tolist() == [1.0, 0.0, 0.0] and reading.blank.tolist() == [False, False, True]
    reading = parse_promo(pd.Series([0.0, 0.5, 3.0]))
    assert reading.invalid.tolist() == [False, False, True]
