"""Plain words and small views for the Replenishment page: the snapshot editor's columns, the model choices, the
plan's headline numbers and filters, and what the inventory replay says. No Streamlit here."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pandas as pd

from core import schema
from core.inventory import INVENTORY_FIELDS, NUMERIC_FIELDS
from core.explain import explainable
from core.models import label_of
from core.plan import ABC_CLASSES, ORDER_NOW, Plan
from core.replay import CLASSIC
from core.replenish import FILL_RATE

#: the files a snapshot may come in (as on the Data page)
UPLOAD_TYPES = ["csv", "tsv", "txt", "xlsx", "parquet", "gz"]
#: the session-state key under which the page records, per dataset id, a line on the plan made in this session
#: (the Home page reads it to tick the "Plan" step)
PLANS_MADE = "replenishment_plans_made"
#: models offered for the plan, in this order after an active fine-tuned version
PLAN_MODELS = ("tsfm", "ets", "snaive", "tsb", "lgbm")
#: the models the replay runs unless the planner changes them (plus the active fine-tuned version)
REPLAY_DEFAULTS = ("snaive", "ets", "tsfm")
#: models slow enough in a replay (a fit per forecast origin) to say so
SLOW_IN_REPLAY = ("lgbm",)


def model_choices(active: str | None = None, models: tuple[str, ...] = PLAN_MODELS) -> dict[str, str]:
    """Model name -> label, the active fine-tuned version (``tsfm@VERSION``) first when there is one."""
    names = ([active] if active else []) + [m for m in models if m != active]
    return {name: label_of(name) for name in names}


def replay_defaults(active: str | None = None) -> list[str]:
    """Seasonal naive, ETS, the transformer and the active fine-tuned version."""
    return list(REPLAY_DEFAULTS) + ([active] if active else [])


# -- the snapshot ----------------------------------------------------------------------------------------------------
def editor_frame(snapshot: pd.DataFrame) -> pd.DataFrame:
    """The snapshot as the planner edits it: keys, category and the numeric fields, in the file's field order
    (``unique_id`` is left out: it is rebuilt from the keys)."""
    columns = [c for c in INVENTORY_FIELDS if c in snapshot.columns]
    frame = snapshot[columns].reset_index(drop=True).copy()
    for column in columns:
        if column in NUMERIC_FIELDS:
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
        else:
            frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame


def snapshot_digest(frame: pd.DataFrame, issues: pd.DataFrame | None = None) -> str:
    """A short fingerprint of a snapshot's content and its issues (it keys the cached forecast of the plan)."""
    text = frame.to_csv(index=False) + ("" if issues is None else issues.to_csv(index=False))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def snapshot_issues(file_issues: pd.DataFrame, table_issues: pd.DataFrame) -> pd.DataFrame:
    """The rows reading the file and checking the edited table left out or changed, with their ``source``."""
    parts = [t.assign(source=source) for source, t in (("file", file_issues), ("table", table_issues)) if len(t)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def series_ids(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per sales series with its keys and category (what :func:`core.inventory.inventory_template`
    takes)."""
    columns = [c for c in (*schema.KEY_FIELDS, schema.CATEGORY) if c in frame.columns]
    return frame.groupby(schema.UNIQUE_ID, sort=True)[columns].first().reset_index()


# -- the plan --------------------------------------------------------------------------------------------------------
def money(value: float) -> str:
    """``"1,074,276"`` (no decimals above 100, two below); ``"–"`` for a missing value."""
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def percent(value: float) -> str:
    """``"98.1%"``; ``"–"`` for a missing value."""
    return "–" if value is None or not math.isfinite(value) else f"{value:.1%}"


def headline(plan: Plan) -> dict[str, str]:
    """The plan's numbers as shown: orders, units, order value, expected service (of the target), and with a
    budget the same within it."""
    summary = plan.summary
    service = "expected_fill_rate" if plan.settings.target == FILL_RATE else "expected_service_level"
    out = {"orders": f"{summary['orders']:,}", "units": f"{summary['units']:,.0f}",
           "order_value": money(summary["order_value"]), "service": percent(summary[service]),
           "service_label": "Expected fill rate" if plan.settings.target == FILL_RATE
           else "Expected cycle service level",
           "planned": f"{summary['planned']:,} of {summary['rows']:,}"}
    if "budget" in summary:
        out.update(budget=money(summary["budget"]), budget_orders=f"{summary['budget_orders']:,}",
                   budget_units=f"{summary['budget_units']:,.0f}",
                   budget_order_value=money(summary["budget_order_value"]),
                   budget_service=percent(summary[f"budget_{service}"]))
    return out


def metrics(plan: Plan) -> list[list[tuple[str, str, str | None]]]:
    """The headline as rows of ``(label, value, help)`` for the page's metrics: the plan, and under a budget what
    it buys."""
    numbers = headline(plan)
    rows = [[("Orders", numbers["orders"], f"rows planned: {numbers['planned']}"),
             ("Units to order", numbers["units"], None), ("Order value", numbers["order_value"], None),
             (numbers["service_label"], numbers["service"], "Expected after these orders arrive")]]
    if "budget" in numbers:
        rows.append([("Orders within the budget", numbers["budget_orders"], None),
                     ("Units within the budget", numbers["budget_units"], None),
                     ("Spent of the budget", f"{numbers['budget_order_value']} of {numbers['budget']}", None),
                     (f"{numbers['service_label']} reached", numbers["budget_service"], None)])
    return rows


#: the plan table's filters: column -> label
FILTERS = {"status": "Status", "abc_class": "ABC class", schema.CATEGORY: "Category", schema.CHANNEL: "Channel"}


def plan_filters(table: pd.DataFrame) -> dict[str, str]:
    """The filters this plan's table can offer (columns with values)."""
    return {column: label for column, label in FILTERS.items() if choices(table, column)}


def chart_group(table: pd.DataFrame) -> str:
    """What the order-value chart groups by: the category where the data has one, else the ABC class."""
    has_category = schema.CATEGORY in table.columns and table[schema.CATEGORY].astype(bool).any()
    return schema.CATEGORY if has_category else "abc_class"


def orders_to_explain(table: pd.DataFrame, limit: int) -> tuple[str, ...]:
    """The series of the ``limit`` largest orders by value (the ones the "why" column explains)."""
    orders = table.loc[table["order_qty"] > 0].nlargest(limit, "order_value")
    return tuple(sorted(orders[schema.UNIQUE_ID]))


def priority_title(priority: pd.DataFrame) -> str:
    bought = int((priority["within_budget"] == "yes").sum())
    return f"Priority list under the budget ({bought:,} of {len(priority):,} blocks bought)"


def plan_sentence(plan: Plan, model_label: str) -> str:
    """One line on the plan (the Home page shows it)."""
    numbers = headline(plan)
    return (f"{numbers['orders']} orders worth {numbers['order_value']}, {numbers['service'].lower()} "
            f"{numbers['service_label'].lower()} ({model_label})")


def unpriced_text(plan: Plan) -> str:
    """A warning when orders have no unit cost (their value is missing from the totals); else ``""``."""
    count = plan.summary.get("unpriced_orders", 0)
    if not count:
        return ""
    return (f"{count} order(s) have no unit cost: their value is left out of the totals and they come last "
            "under a budget. Fill in unit_cost in the snapshot.")


def choices(table: pd.DataFrame, column: str) -> list[str]:
    """The distinct values of ``column`` (ABC classes in A, B, C order; none when the column is absent)."""
    if column not in table.columns:
        return []
    values = table[column].dropna().astype(str)
    values = values[values != ""]  # a blank category is nothing to filter on
    if column == "abc_class":
        return [c for c in ABC_CLASSES if c in set(values)]
    if column == "status":  # orders first, as the table is sorted
        found = list(dict.fromkeys(values))
        return ([ORDER_NOW] if ORDER_NOW in found else []) + sorted(v for v in found if v != ORDER_NOW)
    return sorted(values.unique())


def filter_plan(table: pd.DataFrame, chosen: dict[str, list[str]]) -> pd.DataFrame:
    """The rows whose value of each column is among the chosen ones (an empty choice keeps every row)."""
    keep = pd.Series(True, index=table.index)
    for column, values in chosen.items():
        if values and column in table.columns:
            keep &= table[column].astype(str).isin(values)
    return table.loc[keep]


def filtered_text(shown: int, total: int) -> str:
    return f"{shown:,} of {total:,} rows" if shown < total else f"All {total:,} rows"


def why_note(plan: Plan, frame: pd.DataFrame) -> str:
    """Why the "why" column cannot be added to this plan, or ``""`` when it can."""
    if not explainable(plan.model):
        return (f"The why column needs LightGBM or the transformer; this plan was made with {label_of(plan.model)}.")
    if not set(plan.table[schema.UNIQUE_ID]) <= set(frame[schema.UNIQUE_ID].unique()):
        return ("The plan's rows add up several sales series (the snapshot has fewer key fields than the sales), so "
                "the drivers of one series would not explain a row: the why column is left out.")
    return ""


# -- the replay ------------------------------------------------------------------------------------------------------
def service_column(target: str) -> str:
    """The replay summary's achieved service for a target."""
    return "fill_rate" if target == FILL_RATE else "cycle_service_level"


#: replay summary column -> header a planner reads, and its number format (as :data:`core.plan_export.KINDS`)
REPLAY_HEADERS = {"policy": "Policy", "cycle_service_level": "Cycle service level achieved",
                  "fill_rate": "Fill rate achieved", "avg_stock_value": "Average stock value",
                  "avg_stock_units": "Average stock (units)", "stockout_days": "Stockout days",
                  "lost_units": "Lost units", "orders": "Orders placed", "units_ordered": "Units ordered"}
REPLAY_KINDS = {"cycle_service_level": "percent", "fill_rate": "percent", "avg_stock_value": "money",
                "avg_stock_units": "int", "stockout_days": "int", "lost_units": "int", "orders": "int",
                "units_ordered": "int"}


def replay_view(summary: pd.DataFrame) -> pd.DataFrame:
    """The replay summary as shown: policy, target, achieved service, stock, stock-outs, orders."""
    columns = ["label", "service_level", "cycle_service_level", "fill_rate", "avg_stock_value", "avg_stock_units",
               "stockout_days", "lost_units", "orders", "units_ordered"]
    return summary[[c for c in columns if c in summary.columns]].rename(columns={"label": "policy"})


def replay_sentence(summary: pd.DataFrame, level: float) -> str:
    """Which policy reaches ``level`` of the target's service with the least average stock value, and how it
    compares with the classic policy."""
    if summary.empty:
        return "The replay has no results."
    target = summary["target"].iloc[0]
    column = service_column(target)
    what = "fill rate" if target == FILL_RATE else "cycle service level"
    reached = summary.loc[summary[column] >= level - 1e-9]
    if reached.empty:
        best = summary.loc[summary[column].idxmax()]
        return (f"No policy reached a {level:.0%} {what} in the replay; the closest was {best['label']} with "
                f"{best[column]:.1%} (its {best['service_level']:.0%} target).")
    best = reached.loc[reached["avg_stock_value"].idxmin()]
    sentence = (f"**{best['label']}** reaches a {level:.0%} {what} with the least stock: {best[column]:.1%} "
                f"achieved with an average stock value of {money(best['avg_stock_value'])} (its "
                f"{best['service_level']:.0%} target).")
    classic = reached.loc[reached["model"] == CLASSIC]
    if best["model"] != CLASSIC:
        if len(classic):
            least = classic["avg_stock_value"].min()
            saved = 1 - best["avg_stock_value"] / least if least > 0 else np.nan
            sentence += f" The classic policy needs {money(least)} to reach it"
            sentence += f": {best['label']} holds {saved:.0%} less." if saved > 0 else "."
        elif (summary["model"] == CLASSIC).any():
            sentence += f" The classic policy does not reach {level:.0%}."
    return sentence


def replay_config_defaults(settings) -> dict:
    """The replay's defaults for blank snapshot cells, taken from the plan's :class:`core.plan.PlanSettings`."""
    return {"default_lead_time_days": settings.lead_time_days, "default_lead_time_sd_days": settings.lead_time_sd_days,
            "default_review_period_days": settings.review_period_days, "default_moq": settings.moq,
            "default_case_pack": settings.case_pack, "default_holding_cost_rate": settings.holding_cost_rate}


def replay_models_text(models: list[str], periods: int, forecast_every: int, freq: str) -> str:
    """A caption on what a replay of ``models`` (those offered) costs in time."""
    fits = -(-int(periods) // int(forecast_every))
    unit = schema.FREQ_NAMES.get(freq, freq)
    text = (f"Each model is fitted {fits} times, every {forecast_every} {unit} periods of the held-out stretch, on "
            "the sales before; the classic policy (a seasonal naive rate and a normal safety stock) needs no fit.")
    slow = [label_of(m) for m in models if m in SLOW_IN_REPLAY]
    if slow:
        text += f" {' and '.join(slow)} is slow here: each of its fits takes from seconds to a minute."
    return text
