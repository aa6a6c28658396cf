"""Column names and naming rules, in one place.

Two vocabularies meet here:

* the planner's *fields* (``date``, ``sku``, ``units`` ...), which are what an upload is mapped to and what
  ``python -m core validate --out`` writes;
* the *frame contract* inside ``core`` (``unique_id``, ``ds``, ``y`` plus covariates), which every model,
  backtest and plot consumes.
"""

from __future__ import annotations

# --- the frame contract inside core -------------------------------------------------------------------------------
UNIQUE_ID = "unique_id"
DS = "ds"
Y = "y"

# --- planner-facing fields (upload mapping and clean CSV) ---------------------------------------------------------
DATE = "date"
SKU = "sku"
UNITS = "units"
CHANNEL = "channel"
LOCATION = "location"
CATEGORY = "category"
PRICE = "price"
PROMO = "promo"
ON_HAND = "on_hand"

REQUIRED_FIELDS: tuple[str, ...] = (DATE, SKU, UNITS)
OPTIONAL_FIELDS: tuple[str, ...] = (CHANNEL, LOCATION, CATEGORY, PRICE, PROMO, ON_HAND)
FIELDS: tuple[str, ...] = REQUIRED_FIELDS + OPTIONAL_FIELDS
#: The fields that, together with the date, identify one observation.
KEY_FIELDS: tuple[str, ...] = (SKU, CHANNEL, LOCATION)

# --- columns the validator derives ---------------------------------------------------------------------------------
#: 1 where ``on_hand`` shows the item was out of stock that day: sales are censored below demand.
STOCKOUT = "stockout"
#: Units returned (negative units in the upload), kept apart from sales.
RETURNS = "returns"
#: 1 on periods that were missing from the upload and filled in by the validator.
FILLED = "filled"

#: Order of the clean export written by ``validate --out`` (mapped field names, then everything else kept).
EXPORT_COLUMNS: tuple[str, ...] = (DATE, SKU, CHANNEL, LOCATION, UNITS, PRICE, PROMO, ON_HAND)

# --- frequencies ----------------------------------------------------------------------------------------------------
DAILY = "D"
WEEKLY = "W"
MONTHLY = "M"
FREQ_NAMES = {DAILY: "daily", WEEKLY: "weekly", MONTHLY: "monthly"}
#: Days in one period of each frequency (lead times and review periods are given in days).
PERIOD_DAYS = {DAILY: 1.0, WEEKLY: 7.0, MONTHLY: 365.0 / 12}
#: Default forecast horizon per frequency (4 weeks, 12 weeks, 6 months).
DEFAULT_HORIZON = {DAILY: 28, WEEKLY: 12, MONTHLY: 6}
#: Seasonal periods per frequency (weekly and yearly on daily data; yearly on weekly and monthly data).
SEASONAL_PERIODS = {DAILY: (7, 365), WEEKLY: (52,), MONTHLY: (12,)}

# --- validation outcomes ---------------------------------------------------------------------------------------------
ACCEPT = "ACCEPT"
ACCEPT_WITH_ISSUES = "ACCEPT WITH ISSUES"
REJECT = "REJECT"

#: Separator used to build ``unique_id`` from sku / channel / location.
ID_SEPARATOR = " | "


def quantile_column(model: str, q: float) -> str:
    """Name of a quantile forecast column, in percent: ``quantile_column("ets", 0.9) == "ets-q90"``,
    ``quantile_column("ets", 0.025) == "ets-q2.5"``."""
    return f"{model}-q{round(q * 100, 6):g}"


def parse_quantile_column(column: str) -> tuple[str, float] | None:
    """``("ets", 0.9)`` for ``"ets-q90"``; ``None`` for a column that is not a quantile column."""
    model, sep, pct = column.rpartition("-q")
    if not sep or not model:
        return None
    try:
        level = float(pct) / 100
    except ValueError:
        return None
    return (model, level) if 0 < level < 1 else None
