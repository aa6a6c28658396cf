"""Plotly figures built from ``core`` results. Pages only show them."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from core import schema


def history_figure(table: pd.DataFrame, title: str = "", unit: str = "units") -> go.Figure:
    """Line chart of a :func:`core.history.history_table`; one line per group, unobserved periods left as gaps."""
    figure = go.Figure()
    groups = list(table.groupby("group", sort=False))
    for group, part in groups:
        figure.add_trace(go.Scatter(x=part[schema.DS], y=part[schema.Y], mode="lines", name=_short(str(group)),
                                    hovertemplate="%{x|%Y-%m-%d}: %{y:,.0f} " + unit + "<extra>%{fullData.name}</extra>"))
    if len(groups) == 1 and "stockout" in table.columns:  # one line: mark the periods sales hit zero stock
        out = table.loc[table["stockout"] > 0]
        if len(out):
            figure.add_trace(go.Scatter(
                x=out[schema.DS], y=out[schema.Y], mode="markers", name="stock-out (sales censored)",
                marker=dict(color="#d62728", size=6, symbol="x"),
                hovertemplate="%{x|%Y-%m-%d}: stock-out, %{y:,.0f} " + unit + " sold<extra></extra>",
            ))
    figure.update_layout(
        title=title or None, height=380, margin=dict(l=10, r=10, t=40 if title else 10, b=10),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0), hovermode="x unified",
        yaxis_title=unit, xaxis_title=None,
    )
    return figure


def _short(text: str, limit: int = 40) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"
