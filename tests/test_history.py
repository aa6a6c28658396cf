"""History tables behind the Data page's charts."""

from __future__ import annotations

import pandas as pd

from core import schema
from core.data.synthetic import generate_series
from core.data.validate import load_sales
from core.history import TOTAL, history_table, levels_for
from core.plots import history_figure


def _frame() -> pd.DataFrame:
    data = generate_series(n_series=3, n_periods=70, seed=2).to_csv(index=False).encode()
    return load_sales(data).frame


def test_total_sums_every_series_per_day():
    frame = _frame()
    table = history_table(frame, TOTAL)
    assert table["group"].unique().tolist() == [TOTAL]
    assert table[schema.Y].sum() == frame[schema.Y].sum()
    assert len(table) == frame[schema.DS].nunique()


def test_one_series_and_weekly_view():
    frame = _frame()
    series_id = frame[schema.UNIQUE_ID].iloc[0]
    table = history_table(frame, series_id, freq=schema.WEEKLY)
    expected = frame.loc[frame[schema.UNIQUE_ID] == series_id, schema.Y].sum()
    assert table[schema.Y].sum() == expected
    assert (table[schema.DS].dt.weekday == 0).all()


def test_levels_follow_the_columns_present_and_groups_are_capped():
    frame = _frame()
    assert levels_for(frame) == ["Total", "Channel", "SKU"]
    capped = history_table(frame, "SKU", top=2)
    assert set(capped["group"]) == {*frame.groupby(schema.UNIQUE_ID)[schema.Y].sum().nlargest(2).index, "Other"}
    assert len(history_figure(capped).data) == 3


def test_unobserved_periods_stay_gaps_not_zeros():
    frame = _frame()
    frame.loc[frame[schema.DS] == frame[schema.DS].iloc[5], schema.Y] = float("nan")
    table = history_table(frame, TOTAL)
    assert table[schema.Y].isna().sum() == 1


def test_one_series_chart_marks_stockouts():
    table = pd.DataFrame({schema.DS: pd.date_range("2024-01-01", periods=4), "group": "A",
                          schema.Y: [3.0, 0.0, 2.0, 1.0], "stockout": [0, 1, 0, 0]})
    figure = history_figure(table)
    assert [trace.name for trace in figure.data] == ["A", "stock-out (sales censored)"]
    assert list(figure.data[1].y) == [0.0]
