"""Sales history shaped for charts and tables: one series, a group (category, channel) or the total."""

from __future__ import annotations

import pandas as pd

from core import schema

TOTAL = "Total"
#: Levels a history can be viewed at, with the column that defines them.
LEVELS = {"Total": None, "Category": schema.CATEGORY, "Channel": schema.CHANNEL, "Location": schema.LOCATION,
          "SKU": schema.UNIQUE_ID}
_RESAMPLE = {schema.DAILY: "D", schema.WEEKLY: "W-MON", schema.MONTHLY: "MS"}


def levels_for(frame: pd.DataFrame) -> list[str]:
    """The levels this dataset supports (a Category level only if it has a category column, ...)."""
    return [name for name, column in LEVELS.items() if column is None or column in frame.columns]


def history_table(frame: pd.DataFrame, level: str = TOTAL, freq: str | None = None, top: int = 8) -> pd.DataFrame:
    """Units per period and group: columns ``ds``, ``group``, ``y``, ``stockout`` (share of series out of stock).

    ``level`` is a key of :data:`LEVELS` or a single ``unique_id``; ``freq`` re-buckets to weekly or monthly.
    Groups beyond the ``top`` largest are summed into "Other" so charts stay readable.
    """
    column = LEVELS.get(level, schema.UNIQUE_ID)
    if level in LEVELS or column is None:
        data = frame
    else:
        data = frame.loc[frame[schema.UNIQUE_ID] == level]
    group = data[column].astype(str) if column else pd.Series(TOTAL, index=data.index)
    if column and group.nunique() > top:
        largest = data.groupby(group)[schema.Y].sum().nlargest(top).index
        group = group.where(group.isin(largest), "Other")
    ds = data[schema.DS]
    if freq and freq in _RESAMPLE and freq != schema.DAILY:
        ds = ds.dt.to_period("W-SUN" if freq == schema.WEEKLY else "M").dt.start_time
    stockout = data[schema.STOCKOUT] if schema.STOCKOUT in data.columns else pd.Series(0, index=data.index)
    table = pd.DataFrame({schema.DS: ds, "group": group, schema.Y: data[schema.Y], "stockout": stockout})
    return table.groupby([schema.DS, "group"], as_index=False).agg(
        y=(schema.Y, lambda y: y.sum(min_count=1)), stockout=("stockout", "mean")
    )
