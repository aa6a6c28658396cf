"""Plotly figures built from ``core`` results. Pages only show them."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from core import schema
from core.backtest import CUTOFF
from core.results import FAN_BANDS, FAN_POINT, FanData, band_columns

#: fill of the forecast bands, widest first
_BAND_FILLS = {95: "rgba(31, 119, 180, 0.15)", 80: "rgba(31, 119, 180, 0.30)"}
_FORECAST_COLOUR = "#1f77b4"
_BACKTEST_COLOUR = "#ff7f0e"


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


def fan_figure(fan: FanData, title: str = "", model_label: str = "forecast", unit: str = "units") -> go.Figure:
    """History, then the future point forecast inside its 80% and 95% bands; backtest forecasts (when ``fan``
    has them) as dashed lines over the history they were scored on."""
    figure = go.Figure()
    figure.add_trace(go.Scatter(x=fan.history[schema.DS], y=fan.history[schema.Y], mode="lines", name="actual",
                                line=dict(color="#444444"),
                                hovertemplate="%{x|%Y-%m-%d}: %{y:,.0f} " + unit + "<extra>actual</extra>"))
    windows = fan.backtest.groupby(CUTOFF, sort=True) if len(fan.backtest) else []
    for number, (cutoff, window) in enumerate(windows):
        figure.add_trace(go.Scatter(
            x=window[schema.DS], y=window[FAN_POINT], mode="lines", name="backtest forecast",
            legendgroup="backtest", showlegend=number == 0, line=dict(color=_BACKTEST_COLOUR, dash="dash"),
            hovertemplate="%{x|%Y-%m-%d}: %{y:,.1f} " + unit + f"<extra>made on {cutoff:%Y-%m-%d}</extra>",
        ))
    future = fan.future
    for level in sorted(FAN_BANDS, reverse=True):  # the wide band first, so the narrow one is drawn over it
        lower, upper = band_columns(level)
        if future[[lower, upper]].isna().all().all():
            continue
        figure.add_trace(go.Scatter(x=future[schema.DS], y=future[upper], mode="lines", line=dict(width=0),
                                    legendgroup=f"band{level}", showlegend=False, hoverinfo="skip"))
        figure.add_trace(go.Scatter(
            x=future[schema.DS], y=future[lower], mode="lines", line=dict(width=0), fill="tonexty",
            fillcolor=_BAND_FILLS.get(level, _BAND_FILLS[80]), name=f"{level}% band", legendgroup=f"band{level}",
            customdata=future[upper],
            hovertemplate="%{y:,.0f} to %{customdata:,.0f} " + unit + f"<extra>{level}%</extra>",
        ))
    figure.add_trace(go.Scatter(x=future[schema.DS], y=future[FAN_POINT], mode="lines", name=_short(model_label),
                                line=dict(color=_FORECAST_COLOUR, width=2),
                                hovertemplate="%{x|%Y-%m-%d}: %{y:,.1f} " + unit + "<extra>forecast</extra>"))
    figure.update_layout(
        title=dict(text=title, x=0, xanchor="left", y=0.98, yanchor="top") if title else None, height=440,
        margin=dict(l=10, r=10, t=75 if title else 10, b=10), hovermode="x unified",
        legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0), yaxis_title=unit, xaxis_title=None,
    )
    return figure


def _short(text: str, limit: int = 40) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def loss_figure(log: pd.DataFrame) -> go.Figure:
    """Training and validation loss against the step, from a fine-tuning ``log.csv`` (:func:`read_log`)."""
    figure = go.Figure()
    for column, name in (("train_loss", "training loss"), ("validation_loss", "validation loss")):
        rows = log.dropna(subset=[column])
        figure.add_trace(go.Scatter(x=rows["step"], y=rows[column], mode="lines+markers", name=name))
    figure.update_layout(height=320, margin=dict(l=10, r=10, t=10, b=10), xaxis_title="step",
                         yaxis_title="quantile loss", legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0))
    return figure
