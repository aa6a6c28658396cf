"""Turn a clean daily frame into weekly or monthly periods (for planning on weeks, or for charts)."""

from __future__ import annotations

import pandas as pd

from core import schema
from core.errors import DataError

_ORDER = {schema.DAILY: 0, schema.WEEKLY: 1, schema.MONTHLY: 2}


def resample_frame(frame: pd.DataFrame, source_freq: str, target_freq: str) -> pd.DataFrame:
    """Sum units per series and week (weeks start on Monday, labelled by their Monday) or month (labelled by its
    first day). A period's units are unobserved only when all its days are. Promotion becomes the share of the
    period on promotion, prices and numeric covariates their mean, stock-out and filled flags whether any day had
    them, labels and series attributes the first value. A first or last period that the data cover only in part
    (a week cut off by the export date) is left out, so it does not read as a slump."""
    if target_freq == source_freq:
        return frame
    if _ORDER[target_freq] < _ORDER[source_freq]:
        raise DataError(
            f"The data are {schema.FREQ_NAMES[source_freq]}; they cannot be split into "
            f"{schema.FREQ_NAMES[target_freq]} periods. Choose {schema.FREQ_NAMES[source_freq]} or a longer period."
        )
    dates = frame[schema.DS]
    if target_freq == schema.WEEKLY:
        period = dates - pd.to_timedelta(dates.dt.dayofweek, unit="D")
    else:
        period = dates.dt.to_period("M").dt.start_time
    period = period.astype("datetime64[ns]")
    first, last = dates.min(), dates.max()
    if target_freq == schema.WEEKLY:
        period_end = period + pd.Timedelta(days=6)
    else:
        period_end = period + pd.offsets.MonthEnd(0)
    complete = (period >= first) & (period_end <= last)
    if not complete.any():
        raise DataError(
            f"The data ({first:%Y-%m-%d} to {last:%Y-%m-%d}) do not cover one whole "
            f"{'week' if target_freq == schema.WEEKLY else 'month'}; choose a shorter period."
        )
    work = frame.loc[complete].assign(**{schema.DS: period[complete]})
    how: dict[str, str] = {}
    for column in work.columns:
        if column in (schema.UNIQUE_ID, schema.DS):
            continue
        if column in (schema.Y, schema.RETURNS):
            how[column] = "sum"
        elif column in (schema.STOCKOUT, schema.FILLED):
            how[column] = "max"
        elif column == schema.ON_HAND:
            how[column] = "last"
        elif pd.api.types.is_numeric_dtype(work[column]):
            how[column] = "mean"
        else:
            how[column] = "first"
    grouped = work.groupby([schema.UNIQUE_ID, schema.DS], sort=True)
    out = grouped.agg(how)
    if schema.Y in how:
        out[schema.Y] = grouped[schema.Y].sum(min_count=1)
    return out.reset_index()
