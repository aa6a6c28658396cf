"""Plotly figures for the Seasonality page, built from :mod:`core.decompose` and :mod:`core.anomalies` results."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core import schema
from core.anomalies import EVENT_KIND, PROMOTION, STOCKOUT, UNEXPLAINED
from core.decompose import BASELINE, EVENT, OBSERVED, REMAINDER, TREND, WINDOWS, Decomposition

KIND_COLOURS = {UNEXPLAINED: "#d62728", PROMOTION: "#2ca02c", EVENT_KIND: "#9467bd", STOCKOUT: "#ff7f0e"}
_OBSERVED_COLOUR, _BASELINE_COLOUR, _COMPONENT_COLOUR = "#555555", "#1f77b4", "#1f77b4"
_EVENT_FILL = "rgba(148, 103, 189, 0.12)"
_ROW_HEIGHT = 170


def event_spans(decomposition: Decomposition) -> pd.DataFrame:
    """Runs of consecutive periods on an e-commerce event day (not its windows, not holidays): ``start, end,
    label``."""
    table = decomposition.components
    label = table[EVENT].where(~table[EVENT].str.contains(r"\((?:before|after)\)$|^holiday:", regex=True), "")
    change = label.ne(label.shift()).cumsum()
    spans = table.assign(_label=label, _run=change).loc[label != ""].groupby("_run").agg(
        start=(schema.DS, "min"), end=(schema.DS, "max"), label=("_label", "first"))
    return spans.reset_index(drop=True)


def decomposition_figure(decomposition: Decomposition, anomalies: pd.DataFrame | None = None, title: str = "",
                         unit: str = "units") -> go.Figure:
    """Observed with its baseline, trend, each seasonal component and the remainder, one panel each on a shared
    time axis; e-commerce event days shaded, flagged periods marked by kind (hover for the reason)."""
    table = decomposition.components
    rows = [("Observed", [OBSERVED, BASELINE]), ("Trend", [TREND])]
    rows += [(f"{s.name.capitalize()} seasonality", [s.column]) for s in decomposition.seasons]
    rows.append(("Remainder", [REMAINDER]))
    figure = make_subplots(rows=len(rows), cols=1, shared_xaxes=True, vertical_spacing=0.03,
                           subplot_titles=[name for name, _ in rows], row_heights=[2] + [1] * (len(rows) - 1))
    dates = table[schema.DS]
    hover = "%{x|%Y-%m-%d}: %{y:,.1f} " + unit + "<extra>%{fullData.name}</extra>"
    figure.add_trace(go.Scatter(x=dates, y=table[OBSERVED], mode="lines", name="actual", connectgaps=False,
                                line=dict(color=_OBSERVED_COLOUR, width=1), hovertemplate=hover), row=1, col=1)
    figure.add_trace(go.Scatter(x=dates, y=table[BASELINE], mode="lines", name="baseline (trend + seasonality)",
                                line=dict(color=_BASELINE_COLOUR, width=1.5), hovertemplate=hover), row=1, col=1)
    for number, (name, columns) in enumerate(rows[1:], start=2):
        remainder = columns[0] == REMAINDER  # points, so gaps and single outliers stay visible
        figure.add_trace(go.Scatter(x=dates, y=table[columns[0]], mode="markers" if remainder else "lines",
                                    name=name.lower(), showlegend=False, marker=dict(color="#7f7f7f", size=3),
                                    line=dict(color=_COMPONENT_COLOUR, width=1.2), hovertemplate=hover),
                         row=number, col=1)
    if anomalies is not None and len(anomalies):
        for kind, part in anomalies.groupby("kind", sort=False):
            for row, column in ((1, OBSERVED), (len(rows), REMAINDER)):
                figure.add_trace(go.Scatter(
                    x=part[schema.DS], y=part[column], mode="markers", name=kind, legendgroup=kind,
                    showlegend=row == 1, customdata=part["reason"],
                    marker=dict(color=KIND_COLOURS.get(kind, "#000000"), size=7,
                                symbol="x" if kind == STOCKOUT else "circle"),
                    hovertemplate="%{x|%Y-%m-%d}: %{y:,.1f} " + unit + "<br>%{customdata}<extra></extra>",
                ), row=row, col=1)
    spans = event_spans(decomposition)
    half = pd.Timedelta(days=3.5 if decomposition.freq == schema.WEEKLY else 0.5)
    # one full-height shape per event (set at once: add_vrect per subplot is quadratic in the number of shapes)
    shapes = [dict(type="rect", xref="x", yref="paper", x0=start - half, x1=end + half, y0=0, y1=1,
                   fillcolor=_EVENT_FILL, line_width=0, layer="below")
              for start, end in zip(spans["start"], spans["end"])]
    if len(spans):  # the shading has no hover: one invisible marker per event carries its name
        top = float(np.nanmax(table[OBSERVED])) if table[OBSERVED].notna().any() else 0.0
        figure.add_trace(go.Scatter(x=spans["start"], y=[top] * len(spans), mode="markers", name="events",
                                    marker=dict(color="rgba(148, 103, 189, 0.6)", size=6, symbol="triangle-down"),
                                    customdata=spans["label"],
                                    hovertemplate="%{x|%Y-%m-%d}: %{customdata}<extra></extra>"), row=1, col=1)
    figure.update_layout(
        title=title or None, height=_ROW_HEIGHT * (len(rows) + 1), hovermode="closest",
        margin=dict(l=10, r=10, t=60 if title else 30, b=10),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0), shapes=shapes,
    )
    return figure


def profile_figure(profile: pd.DataFrame, unit: str = "units") -> go.Figure:
    """Bars of a :func:`core.decompose.seasonal_profile`: the average effect by weekday and by month (or week),
    as a percentage of the mean level."""
    components = list(dict.fromkeys(profile["component"]))
    figure = make_subplots(rows=1, cols=max(1, len(components)),
                           subplot_titles=[f"{c.capitalize()} profile" for c in components] or [""])
    for number, component in enumerate(components, start=1):
        part = profile.loc[profile["component"] == component]
        colours = np.where(part["effect_pct"] >= 0, "#1f77b4", "#ff7f0e")
        figure.add_trace(go.Bar(x=part["label"], y=part["effect_pct"], marker_color=colours, name=component,
                                showlegend=False, customdata=part["effect"],
                                hovertemplate="%{x}: %{y:+.1f}% (%{customdata:+,.1f} " + unit + ")<extra></extra>"),
                         row=1, col=number)
        figure.update_yaxes(title_text="% of mean level" if number == 1 else None, row=1, col=number)
    figure.update_layout(height=300, margin=dict(l=10, r=10, t=40, b=10))
    return figure


def event_effects_figure(effects: pd.DataFrame, window: str = "day") -> go.Figure:
    """Uplift % of each event per group (bars) with its interval, for one window (``pre``, ``day``, ``post``)."""
    if window not in WINDOWS:
        raise ValueError(f"window must be one of {WINDOWS}, got {window!r}.")
    part = effects.loc[effects["window"] == window]
    figure = go.Figure()
    for group, rows in part.groupby("group", sort=True):
        figure.add_trace(go.Bar(
            x=rows["label"], y=rows["uplift_pct"], name=str(group),
            error_y=dict(type="data", symmetric=False, array=(rows["uplift_hi_pct"] - rows["uplift_pct"]).fillna(0),
                         arrayminus=(rows["uplift_pct"] - rows["uplift_lo_pct"]).fillna(0), thickness=1),
            customdata=np.stack([rows["uplift_lo_pct"], rows["uplift_hi_pct"], rows["occurrences"]], axis=1),
            hovertemplate="%{x}<br>%{y:+.0f}% (95% interval %{customdata[0]:+.0f}% to %{customdata[1]:+.0f}%), "
                          "%{customdata[2]} occurrences<extra>%{fullData.name}</extra>",
        ))
    names = {"pre": "in the days before", "day": "on the event days", "post": "in the days after"}
    figure.update_layout(barmode="group", height=420, margin=dict(l=10, r=10, t=30, b=10),
                         yaxis_title=f"uplift % {names[window]}",
                         legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0))
    figure.add_hline(y=0, line_width=1, line_color="#444444")
    return figure
