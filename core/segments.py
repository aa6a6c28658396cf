"""ABC / XYZ segments: how much a series sells and how predictable it is.

* **ABC** ranks series by units sold over the last year of history: the series making up the first 80% of
  units are A, the next 15% B, the rest C.
* **XYZ** uses the coefficient of variation of weekly units (monthly units on monthly data) over the same year:
  X below 0.5 (steady), Y below 1.0, Z from 1.0 (erratic or intermittent).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core import schema

ABC_SHARES: tuple[float, float] = (0.80, 0.95)
XYZ_LIMITS: tuple[float, float] = (0.5, 1.0)
SEGMENT_COLUMNS: tuple[str, ...] = ("abc", "xyz", "segment")


def segment_series(df: pd.DataFrame, freq: str = schema.DAILY, window_days: int = 365) -> pd.DataFrame:
    """Per series: ``abc``, ``xyz``, ``segment`` (e.g. ``"A-X"``), ``units`` and ``cv``, plus ``channel`` /
    ``category`` when the frame has them. Indexed by ``unique_id``."""
    end = df[schema.DS].max()
    recent = df.loc[df[schema.DS] > end - pd.Timedelta(days=window_days),
                    [schema.UNIQUE_ID, schema.DS, schema.Y]]
    ids = pd.Index(sorted(df[schema.UNIQUE_ID].astype(str).unique()), name=schema.UNIQUE_ID)
    units = recent.groupby(schema.UNIQUE_ID)[schema.Y].sum().reindex(ids).fillna(0.0)
    order = units.sort_values(ascending=False, kind="stable")
    total = order.sum()
    share_before = (order.cumsum() - order) / total if total > 0 else pd.Series(1.0, index=order.index)
    abc = pd.Series(np.select([share_before < ABC_SHARES[0], share_before < ABC_SHARES[1]], ["A", "B"], "C"),
                    index=order.index).reindex(ids)

    period = recent[schema.DS].dt.to_period("M" if freq == schema.MONTHLY else "W-SUN")
    per_bucket = recent.groupby([recent[schema.UNIQUE_ID], period])[schema.Y].sum(min_count=1)
    stats = per_bucket.groupby(level=0).agg(["mean", "std"]).reindex(ids)
    cv = (stats["std"] / stats["mean"]).where(stats["mean"] > 0)
    xyz = pd.Series(np.select([cv < XYZ_LIMITS[0], cv < XYZ_LIMITS[1]], ["X", "Y"], "Z"), index=ids)

    table = pd.DataFrame({"abc": abc, "xyz": xyz, "units": units, "cv": cv}, index=ids)
    table["segment"] = table["abc"] + "-" + table["xyz"]
    for column in (schema.CHANNEL, schema.CATEGORY, schema.LOCATION):
        if column in df.columns:
            table[column] = df.groupby(schema.UNIQUE_ID)[column].first().reindex(ids)
    return table
