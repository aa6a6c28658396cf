import time

import numpy as np
import pandas as pd
import pytest

from core.data.calendar import (
    CALENDAR_COLUMNS,
    DAYS_SINCE_LAST_EVENT,
    DAYS_TO_NEXT_EVENT,
    ECOMMERCE_EVENTS,
    event_calendar,
    event_features,
)


@pytest.fixture(scope="module")
def calendar_2024() -> pd.DataFrame:
    return event_calendar("2024-01-01", "2024-12-31")


def event_days(calendar: pd.DataFrame, key: str) -> list[str]:
    return calendar.loc[calendar["event"] == key, "date"].dt.strftime("%Y-%m-%d").tolist()


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("singles_day", ["2024-11-11"]),
        ("black_friday", ["2024-11-29"]),
        ("cyber_monday", ["2024-12-02"]),
        ("mid_year_618", ["2024-06-18"]),
        ("double_12", ["2024-12-12"]),
        ("womens_day", ["2024-03-08"]),
        ("prime_day", ["2024-07-16", "2024-07-17"]),
    ],
)
def test_known_event_dates(calendar_2024, key, expected):
    assert event_days(calendar_2024, key) == expected


def test_spring_festival_is_a_multi_day_period_around_chinese_new_year(calendar_2024):
    days = event_days(calendar_2024, "spring_festival")
    assert "2024-02-10" in days  # Chinese New Year 2024
    assert days[0] == "2024-02-09" and len(days) == 8
    assert "2025-01-29" in event_days(event_calendar("2025-01-01", "2025-12-31"), "spring_festival")


def test_black_friday_follows_thanksgiving_in_other_years():
    calendar = event_calendar("2023-01-01", "2026-12-31", countries=())
    assert event_days(calendar, "black_friday") == ["2023-11-24", "2024-11-29", "2025-11-28", "2026-11-27"]


def test_calendar_table_shape(calendar_2024):
    assert tuple(calendar_2024.columns) == CALENDAR_COLUMNS
    assert pd.api.types.is_datetime64_any_dtype(calendar_2024["date"])
    assert set(calendar_2024["kind"]) == {"ecommerce", "holiday"}
    holidays_ = calendar_2024[calendar_2024["kind"] == "holiday"]
    assert set(holidays_["country"]) == {"CN", "US", "DE", "GB"}
    assert (calendar_2024.loc[calendar_2024["kind"] == "ecommerce", "country"] == "").all()
    assert not calendar_2024.duplicated(["date", "event"]).any()
    us_thanksgiving = holidays_[(holidays_["country"] == "US") & (holidays_["date"] == "2024-11-28")]
    assert us_thanksgiving["label"].str.contains("Thanksgiving").all() and len(us_thanksgiving) == 1


def test_every_event_has_a_label_and_windows():
    for key, event in ECOMMERCE_EVENTS.items():
        assert event.key == key and event.label and event.pre_days >= 0 and event.post_days >= 0
    assert ECOMMERCE_EVENTS["singles_day"].pre_days == 10


def test_daily_features_mark_event_day_and_windows():
    dates = pd.date_range("2024-10-25", "2024-11-20")
    features = event_features(dates, countries=("CN",)).set_axis(dates.strftime("%Y-%m-%d"))
    assert features.loc["2024-11-11", "ev_singles_day"] == 1
    assert features["ev_singles_day"].sum() == 1
    pre = features.index[features["ev_singles_day_pre"] == 1]
    assert list(pre) == [f"2024-11-{day:02d}" for day in range(1, 11)]
    post = features.index[features["ev_singles_day_post"] == 1]
    assert list(post) == ["2024-11-12", "2024-11-13", "2024-11-14"]
    assert features.loc["2024-11-11", DAYS_TO_NEXT_EVENT] == 0
    assert features.loc["2024-11-09", DAYS_TO_NEXT_EVENT] == 2
    assert features.loc["2024-11-14", DAYS_SINCE_LAST_EVENT] == 3
    assert "holiday_cn" in features and "holiday_us" not in features


def test_holiday_columns_per_country():
    features = event_features(pd.to_datetime(["2024-07-04", "2024-10-03", "2024-12-26"]))
    assert features["holiday_us"].tolist() == [1, 0, 0]
    assert features["holiday_de"].tolist() == [0, 1, 1]
    assert features["holiday_gb"].tolist() == [0, 0, 1]


def test_weekly_features_count_days_in_the_seven_day_period():
    weeks = pd.date_range("2024-11-04", periods=4, freq="7D")  # Mondays
    features = event_features(weeks, freq="W", countries=())
    assert features["ev_singles_day"].tolist() == [0, 1, 0, 0]
    # pre window 1-10 Nov: 4-10 Nov falls in the first week
    assert features["ev_singles_day_pre"].tolist() == [7, 0, 0, 0]
    assert features["ev_black_friday"].tolist() == [0, 0, 0, 1]  # 29 Nov in the week of 25 Nov


def test_monthly_features_count_days_in_the_month():
    features = event_features(pd.to_datetime(["2024-02-01", "2024-11-01"]), freq="M", countries=("CN",))
    assert features["ev_spring_festival"].tolist() == [8, 0]
    assert features["ev_singles_day_pre"].tolist() == [0, 10]
    assert features.loc[pd.Timestamp("2024-02-01"), "holiday_cn"] == 7


def test_output_aligned_with_duplicated_unordered_input():
    dates = pd.Series(pd.to_datetime(["2024-11-11", "2024-01-05", "2024-11-11", "2024-11-29", "2024-01-05"]),
                      index=[10, 11, 12, 13, 14])
    features = event_features(dates)
    assert list(features.index) == [10, 11, 12, 13, 14]
    assert features["ev_singles_day"].tolist() == [1, 0, 1, 0, 0]
    assert features["ev_black_friday"].tolist() == [0, 0, 0, 1, 0]
    one_by_one = pd.concat([event_features(pd.Series([d])) for d in dates], ignore_index=True)
    np.testing.assert_array_equal(features.to_numpy(), one_by_one.to_numpy())


def test_without_windows_and_with_selected_events():
    features = event_features(pd.date_range("2024-01-01", periods=3), events=["singles_day"], countries=(),
                              windows=False)
    assert list(features.columns) == ["ev_singles_day", DAYS_TO_NEXT_EVENT, DAYS_SINCE_LAST_EVENT]


def test_empty_input_keeps_the_columns():
    features = event_features(pd.DatetimeIndex([]))
    assert len(features) == 0 and "ev_singles_day" in features


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"freq": "Q"}, "freq must be one of"),
        ({"events": ["singles_day", "double_11"]}, r"Unknown event\(s\) \['double_11'\]"),
        ({"countries": ("XX",)}, "No public holiday calendar"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        event_features(pd.date_range("2024-01-01", periods=3), **kwargs)


def test_missing_dates_are_rejected():
    with pytest.raises(ValueError, match="1 date"):
        event_features(pd.Series(pd.to_datetime(["2024-01-01", None])))


def test_fast_on_a_million_rows():
    dates = pd.Series(pd.date_range("2023-01-01", periods=1000)).sample(1_000_000, replace=True, random_state=0)
    event_features(dates.iloc[:10])  # warm the holiday cache
    started = time.perf_counter()
    features = event_features(dates)
    assert time.perf_counter() - started < 1.0
    assert len(features) == len(dates)
