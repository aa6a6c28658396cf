"""Plain words and small views of a :class:`core.explain.Explanation`, for the Explain page and reports."""

from __future__ import annotations

import pandas as pd

from core import schema
from core.explain import Explanation
from core.models import label_of

#: the models the Explain page offers, with what a planner reads (a fine-tuned version is added when active)
EXPLAINABLE: dict[str, str] = {"lgbm": "LightGBM", "tsfm": "Transformer"}
#: the series explained when there are more (LightGBM takes about 30 s for 40 of the demo shop's series)
DEFAULT_SAMPLE = 40
#: the columns whose levels get an importance table of their own
GROUP_COLUMNS = (schema.CATEGORY, schema.CHANNEL, schema.LOCATION)


def model_choices(finetuned: str | None = None) -> dict[str, str]:
    """Model name -> label for the picker; ``finetuned`` (``tsfm@VERSION``, the active version) after Transformer."""
    choices = dict(EXPLAINABLE)
    if finetuned:
        choices[finetuned] = label_of(finetuned)
    return choices


def sample_text(n_explained: int, n_series: int, n_forecasts: int) -> str:
    """``"Explained for 40 of 149 series (a random sample): 1,120 forecasts."``"""
    if n_explained < n_series:
        who = f"Explained for {n_explained:,} of {n_series:,} series (a random sample, the same on every visit)"
    else:
        who = f"Explained for all {n_series:,} series"
    return f"{who}: {n_forecasts:,} forecasts."


def tolerance_text(explanation: Explanation) -> str:
    """How closely the base value and the contributions add up to each forecast."""
    return (f"The starting point plus the contributions add up to each forecast within "
            f"{explanation.tolerance:.2g} units.")


def group_columns(frame: pd.DataFrame) -> list[str]:
    """The grouping columns (category, channel, location) ``frame`` has."""
    return [column for column in GROUP_COLUMNS if column in frame.columns]


def series_groups(frame: pd.DataFrame, column: str) -> pd.Series:
    """``unique_id`` -> the series' value of ``column`` (its first one), for :func:`core.explain.global_importance`."""
    return frame.groupby(schema.UNIQUE_ID, sort=False)[column].first().astype(str)


def importance_by_view(table: pd.DataFrame, top: int = 10) -> pd.DataFrame:
    """The ``top`` features of each group of a grouped :func:`core.explain.global_importance` table."""
    return table.groupby("group", sort=True, group_keys=False).head(top).reset_index(drop=True)


def date_label(ds) -> str:
    """``"Sat 07 Nov 2026"``."""
    return f"{pd.Timestamp(ds):%a %d %b %Y}"


def explained_series(explanation: Explanation) -> list[str]:
    """The explained series, sorted."""
    return sorted(explanation.forecasts[schema.UNIQUE_ID].astype(str).unique())


def forecast_dates(explanation: Explanation, unique_id: str) -> list[pd.Timestamp]:
    """The dates of one series' explained forecasts, in order."""
    rows = explanation.forecasts.loc[explanation.forecasts[schema.UNIQUE_ID] == unique_id, schema.DS]
    return [pd.Timestamp(ds) for ds in sorted(rows.unique())]
