"""The reorder plan as files planners download: a formatted XLSX (plan, priority list, forecast, parameters, data
issues, drivers) and the same plan as CSV. Column headers are written for people; text from uploads never runs as a
formula (see :mod:`core.workbook` and :mod:`core.export`)."""

from __future__ import annotations

import pandas as pd

from core import schema
from core.export import to_csv_bytes
from core.plan import Plan

#: sheet names, in workbook order
PLAN_SHEET, PRIORITY_SHEET, FORECAST_SHEET, PARAMETERS_SHEET, ISSUES_SHEET, WHY_SHEET = (
    "Reorder plan", "Priority list", "Forecast", "Parameters", "Data issues", "Why")

#: frame column -> header a planner reads (columns not listed keep their name)
HEADERS = {
    schema.UNIQUE_ID: "Series", schema.SKU: "SKU", schema.CHANNEL: "Channel", schema.LOCATION: "Location",
    schema.CATEGORY: "Category", "abc_class": "ABC class", "status": "Status", "order_qty": "Order qty",
    "order_value": "Order value", "budget_order_qty": "Order qty within budget",
    "budget_order_value": "Order value within budget", "on_hand": "On hand", "on_order": "On order",
    "backorders": "Backorders", "inventory_position": "Inventory position", "mean_daily_demand": "Mean daily demand",
    "days_of_cover": "Days of cover", "lead_time_days": "Lead time (days)",
    "lead_time_sd_days": "Lead time sd (days)", "review_period_days": "Review period (days)", "target": "Target",
    "service_level": "Service level target", "lead_time_demand": "Demand over lead time",
    "protection_demand": "Demand over lead time + review", "safety_stock": "Safety stock",
    "reorder_point": "Reorder point", "order_up_to": "Order-up-to level", "eoq": "EOQ",
    "stockout_risk": "Stockout risk before arrival", "expected_service_level": "Expected cycle service level",
    "expected_fill_rate": "Expected fill rate", "moq": "MOQ", "case_pack": "Case pack", "unit_cost": "Unit cost",
    "defaults_used": "Defaults used for", "why": "Why (top forecast drivers)",
    "priority": "Priority", "units": "Units", "cost": "Cost", "cumulative_cost": "Cumulative cost",
    "expected_shortage_avoided": "Expected shortage avoided (units)",
    "shortage_avoided_per_1000": "Shortage avoided per 1,000 spent", "within_budget": "Within budget",
    "date": "Date", "mean": "Mean", "parameter": "Parameter", "value": "Value", "meaning": "Meaning",
    "source": "Source", "row": "Row", "field": "Field", "problem": "Problem", "action": "Action",
    "severity": "Severity", "count": "Count", "examples": "Examples", "sales_value_365d": "Sales value (365 days)",
}
#: number formats that the column names alone do not tell
KINDS = {
    "order_qty": "int", "budget_order_qty": "int", "on_hand": "int", "on_order": "int", "backorders": "int",
    "inventory_position": "int", "reorder_point": "int", "order_up_to": "int", "eoq": "int", "moq": "int",
    "case_pack": "int", "units": "int", "priority": "int", "safety_stock": "number", "mean_daily_demand": "number",
    "lead_time_demand": "number", "protection_demand": "number", "days_of_cover": "days",
    "order_value": "money", "budget_order_value": "money", "unit_cost": "money", "cost": "money",
    "cumulative_cost": "money", "service_level": "percent", "stockout_risk": "percent",
    "expected_service_level": "percent", "expected_fill_rate": "percent", "date": "date",
}


def plan_with_why(plan: Plan, why: pd.DataFrame | None) -> pd.DataFrame:
    """The plan table with the "why" column (top drivers per series, joined on the plan's series) when given."""
    if why is None or why.empty:
        return plan.table
    drivers = why.drop_duplicates(schema.UNIQUE_ID).set_index(schema.UNIQUE_ID)["why"]
    table = plan.table.copy()
    table.insert(table.columns.get_loc("status") + 1, "why", drivers.reindex(table[schema.UNIQUE_ID]).to_numpy())
    return table


def plan_sheets(plan: Plan, why: pd.DataFrame | None = None) -> list:
    """The workbook's sheets, in order (the priority list only with a budget, the drivers only when given)."""
    from core.workbook import Sheet

    def sheet(name: str, frame: pd.DataFrame) -> Sheet:
        kinds = {HEADERS.get(c, c): KINDS[c] for c in frame.columns if c in KINDS}
        kinds.update({HEADERS.get(c, c): "number" for c in frame.columns if c in ("mean",) or
                      (c.startswith("q") and c[1:].isdigit())})
        return Sheet(name, frame.rename(columns=HEADERS), formats=kinds)

    sheets = [sheet(PLAN_SHEET, plan_with_why(plan, why))]
    if not plan.priority.empty:
        sheets.append(sheet(PRIORITY_SHEET, plan.priority))
    sheets += [sheet(FORECAST_SHEET, plan.forecast), sheet(PARAMETERS_SHEET, plan.parameters),
               sheet(ISSUES_SHEET, plan.issues if not plan.issues.empty else
                     pd.DataFrame({"problem": ["No data issues were found."]}))]
    if why is not None and not why.empty:
        sheets.append(sheet(WHY_SHEET, why))
    return sheets


def plan_workbook(plan: Plan, why: pd.DataFrame | None = None) -> bytes:
    """The .xlsx file of the plan."""
    from core.workbook import write_workbook

    return write_workbook(plan_sheets(plan, why))


def plan_csv(plan: Plan, why: pd.DataFrame | None = None) -> bytes:
    """The reorder plan sheet as CSV (UTF-8 with BOM, injection-safe, the same headers as the workbook; decimals
    to 4 places)."""
    table = plan_with_why(plan, why)
    floats = [c for c in table.columns if pd.api.types.is_float_dtype(table[c])]
    return to_csv_bytes(table.assign(**{c: table[c].round(4) for c in floats}).rename(columns=HEADERS))
