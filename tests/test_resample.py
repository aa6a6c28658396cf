"""Daily data summed to weeks and months."""

import numpy as np
import pandas as pd
import pytest

from core import schema
from core.data.resample import resample_frame
from core.errors import DataError


def _daily(start="2024-01-03", days=30):
    dates = pd.date_range(start, periods=days)
    return pd.DataFrame({schema.UNIQUE_ID: "a", schema.DS: dates, schema.Y: 1.0,
                         schema.PROMO: (np.arange(days) % 7 < 2).astype(float), "label": "x"})


def test_weeks_start_on_monday_and_partial_weeks_are_left_out():
    weekly = resample_frame(_daily(), schema.DAILY, schema.WEEKLY)
    # 2024-01-03 is a Wednesday: the first whole week starts Monday 2024-01-08; data end 2024-02-01 (Thursday)
    assert weekly[schema.DS].min() == pd.Timestamp("2024-01-08")
    assert weekly[schema.DS].max() == pd.Timestamp("2024-01-22")
    assert (weekly[schema.Y] == 7).all()
    assert weekly[schema.PROMO].between(0, 1).all()


def test_a_week_with_every_day_unobserved_stays_unobserved():
    daily = _daily("2024-01-01", 21)
    daily.loc[7:13, schema.Y] = np.nan
    weekly = resample_frame(daily, schema.DAILY, schema.WEEKLY)
    assert weekly[schema.Y].isna().tolist() == [False, True, False]


def test_months_and_refusing_to_split_periods():
    monthly = resample_frame(_daily("2024-01-01", 59), schema.DAILY, schema.MONTHLY)
    assert monthly[schema.DS].tolist() == [pd.Timestamp("2024-01-01")]  # data end 28 February 2024: February is partial
    with pytest.raises(DataError, match="cannot be split"):
        resample_frame(monthly, schema.MONTHLY, schema.WEEKLY)
