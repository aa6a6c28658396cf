"""Plotly figures for the Replenishment page, built from a :class:`core.plan.Plan` table and a
:class:`core.replay.ReplayResult` summary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core import schema
from core.plan import ENOUGH_STOCK, NO_DEMAND, ORDER_NOW
from core.replay import CLASSIC
from core.replenish import FILL_RATE

STATUS_COLOURS = {ORDER_NOW: "#d62728", ENOUGH_STOCK: "#2ca02c", NO_DEMAND: "#7f7f7f"}
CLASS_COLOURS = {"A": "#1f77b4", "B": "#ff7f0e", "C": "#9e9e9e"}
#: days of cover beyond this are drawn at the edge (a slow seller can have years of stock)
MAX_COVER_DAYS = 120
_CLASSIC_COLOUR = "#333333"


def risk_cover_figure(table: pd.DataFrame) -> go.Figure:
    """One dot per planned row: days of cover on hand (x) against the chance of a stockout before an order placed
    now arrives (y), coloured by status, sized by order value."""
    planned = table.loc[table["stockout_risk"].notna()]
    figure = go.Figure()
    largest = float(np.nanmax(planned["order_value"])) if len(planned) and planned["order_value"].notna().any() else 0
    for status, rows in planned.groupby("status", sort=False):
        value = rows["order_value"].fillna(0).to_numpy(dtype=float)
        size = 6 + 24 * np.sqrt(value / largest) if largest > 0 else np.full(len(rows), 8.0)
        cover = rows["days_of_cover"].to_numpy(dtype=float)
        figure.add_trace(go.Scatter(
            x=np.minimum(np.nan_to_num(cover, nan=0.0), MAX_COVER_DAYS), y=rows["stockout_risk"], mode="markers",
            name=status, marker=dict(size=size, color=STATUS_COLOURS.get(status, "#9467bd"), opacity=0.75,
                                     line=dict(width=0.5, color="white")),
            customdata=np.c_[rows[schema.UNIQUE_ID].astype(str).str.slice(0, 60), cover,
                             rows["order_qty"], rows["order_value"].fillna(0)],
            hovertemplate="%{customdata[0]}<br>days of cover %{customdata[1]:.1f}<br>stockout risk %{y:.0%}"
                          "<br>order %{customdata[2]:,.0f} units (%{customdata[3]:,.0f})<extra></extra>"))
    figure.update_layout(title="Stockout risk against days of cover", height=420, margin=dict(t=50, b=40),
                         legend=dict(orientation="h", y=-0.15), xaxis_title=f"days of cover on hand "
                         f"(capped at {MAX_COVER_DAYS})", yaxis_title="stockout risk before an order arrives")
    figure.update_yaxes(tickformat=".0%", range=[-0.03, 1.03])
    return figure


def order_value_figure(table: pd.DataFrame, by: str = schema.CATEGORY) -> go.Figure:
    """Order value per ``by`` (category, channel ...), stacked by ABC class; with a budget, what it buys as a
    marker."""
    orders = table.loc[table["order_qty"] > 0]
    groups = orders[by].astype(str).replace("", "(none)") if by in orders.columns else pd.Series("all", orders.index)
    totals = orders.assign(_group=groups).pivot_table(index="_group", columns="abc_class", values="order_value",
                                                      aggfunc="sum", fill_value=0.0, observed=True)
    order = totals.sum(axis=1).sort_values(ascending=False).index
    figure = go.Figure()
    for abc in [c for c in CLASS_COLOURS if c in totals.columns]:
        figure.add_trace(go.Bar(x=list(order), y=totals.loc[order, abc], name=f"class {abc}",
                                marker_color=CLASS_COLOURS[abc],
                                hovertemplate="%{x}: %{y:,.0f}<extra>class " + abc + "</extra>"))
    if "budget_order_value" in orders.columns:
        within = orders.assign(_group=groups).groupby("_group")["budget_order_value"].sum().reindex(order)
        figure.add_trace(go.Scatter(x=list(order), y=within, mode="markers", name="within the budget",
                                    marker=dict(symbol="line-ew", size=30, line=dict(width=3, color="black")),
                                    hovertemplate="%{x}: %{y:,.0f} within the budget<extra></extra>"))
    figure.update_layout(barmode="stack", title=f"Order value by {by}", height=420, margin=dict(t=50, b=40),
                         legend=dict(orientation="h", y=-0.15), yaxis_title="order value")
    return figure


def frontier_figure(summary: pd.DataFrame) -> go.Figure:
    """The replay's stock-service frontier: per policy, average stock value (x) against the service achieved
    (y), one point per service target joined by a line; the targets as dotted lines. Up and to the left is
    better."""
    target = summary["target"].iloc[0] if len(summary) else ""
    column = "fill_rate" if target == FILL_RATE else "cycle_service_level"
    what = "fill rate" if target == FILL_RATE else "cycle service level"
    figure = go.Figure()
    for model, rows in summary.groupby("model", sort=False):
        rows = rows.sort_values("service_level")
        classic = model == CLASSIC
        figure.add_trace(go.Scatter(
            x=rows["avg_stock_value"], y=rows[column], mode="lines+markers+text", name=rows["label"].iloc[0],
            text=[f"{level:.0%}" for level in rows["service_level"]], textposition="top center",
            line=dict(dash="dash", color=_CLASSIC_COLOUR) if classic else dict(),
            customdata=np.c_[rows["service_level"], rows["stockout_days"], rows["lost_units"]],
            hovertemplate="target %{customdata[0]:.0%}: achieved %{y:.1%}<br>average stock value %{x:,.0f}"
                          "<br>stockout days %{customdata[1]:,.0f}, lost units %{customdata[2]:,.0f}"
                          "<extra>%{fullData.name}</extra>"))
    for level in sorted(summary["service_level"].unique()) if len(summary) else []:
        figure.add_hline(y=level, line=dict(dash="dot", width=1, color="#bbbbbb"))
    figure.update_layout(title=f"Stock against {what} achieved in the replay", height=450,
                         margin=dict(t=50, b=40), legend=dict(orientation="h", y=-0.18),
                         xaxis_title="average stock value", yaxis_title=f"{what} achieved")
    figure.update_yaxes(tickformat=".0%")
    return figure
