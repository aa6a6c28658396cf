"""Plotly figures for the Promotions page, built from :mod:`core.causal` results."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core import schema
from core.causal import AFTER, OTHER_PROMOTION, PHASE, PROMOTION, SIBLING

_ACTUAL_COLOUR, _BASELINE_COLOUR, _EFFECT_COLOUR = "#333333", "#1f77b4", "#2ca02c"
_BAND_FILL, _EFFECT_FILL = "rgba(31, 119, 180, 0.18)", "rgba(44, 160, 44, 0.18)"
PHASE_FILLS = {PROMOTION: "rgba(44, 160, 44, 0.15)", AFTER: "rgba(255, 127, 14, 0.13)",
               SIBLING: "rgba(148, 103, 189, 0.10)", OTHER_PROMOTION: "rgba(127, 127, 127, 0.15)"}
PHASE_LABELS = {PROMOTION: "promotion", AFTER: "after", SIBLING: "sibling on promotion",
                OTHER_PROMOTION: "another promotion"}


def phase_spans(path: pd.DataFrame) -> pd.DataFrame:
    """Runs of consecutive periods in one phase of an :func:`core.causal.effect_path`: ``phase, start, end``."""
    phase = path[PHASE].fillna("")
    run = phase.ne(phase.shift()).cumsum()
    spans = path.assign(_run=run).loc[phase != ""].groupby("_run").agg(
        phase=(PHASE, "first"), start=(schema.DS, "min"), end=(schema.DS, "max"))
    return spans.reset_index(drop=True)


def _band(figure: go.Figure, x: pd.Series, lo: pd.Series, hi: pd.Series, name: str, fill: str, row: int) -> None:
    """A shaded interval between ``lo`` and ``hi`` (one legend entry)."""
    figure.add_trace(go.Scatter(x=x, y=hi, mode="lines", line=dict(width=0), showlegend=False, hoverinfo="skip",
                                legendgroup=name), row=row, col=1)
    figure.add_trace(go.Scatter(x=x, y=lo, mode="lines", line=dict(width=0), fill="tonexty", fillcolor=fill,
                                name=name, legendgroup=name, hoverinfo="skip"), row=row, col=1)


def effect_figure(path: pd.DataFrame, title: str = "", unit: str = "units", freq: str = schema.DAILY) -> go.Figure:
    """One episode, CausalImpact style: above, actual sales against the counterfactual (what would have sold
    without the promotion) with its 95% band; below, the cumulative effect from the promotion's start with its
    band. The promotion, the periods after it and siblings' promotions are shaded; stock-outs marked."""
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08, row_heights=[2, 1],
                           subplot_titles=["Actual and without the promotion", "Cumulative effect"])
    dates = path[schema.DS]
    hover = "%{x|%Y-%m-%d}: %{y:,.1f} " + unit + "<extra>%{fullData.name}</extra>"
    _band(figure, dates, path["counterfactual_lo"], path["counterfactual_hi"], "95% band", _BAND_FILL, row=1)
    figure.add_trace(go.Scatter(x=dates, y=path["counterfactual"], mode="lines", name="without the promotion",
                                line=dict(color=_BASELINE_COLOUR, width=1.5, dash="dash"), hovertemplate=hover),
                     row=1, col=1)
    figure.add_trace(go.Scatter(x=dates, y=path["actual"], mode="lines+markers", name="actual",
                                line=dict(color=_ACTUAL_COLOUR, width=1.2), marker=dict(size=4),
                                hovertemplate=hover), row=1, col=1)
    stockout = path["stockout"].fillna(False).astype(bool)
    if stockout.any():
        figure.add_trace(go.Scatter(x=dates[stockout], y=path.loc[stockout, "actual"], mode="markers",
                                    name="out of stock", marker=dict(color="#ff7f0e", size=9, symbol="x"),
                                    hovertemplate="%{x|%Y-%m-%d}: out of stock, %{y:,.0f} sold<extra></extra>"),
                         row=1, col=1)
    _band(figure, dates, path["cumulative_lo"], path["cumulative_hi"], "95% band (cumulative)", _EFFECT_FILL, row=2)
    figure.add_trace(go.Scatter(x=dates, y=path["cumulative"], mode="lines", name="cumulative effect",
                                line=dict(color=_EFFECT_COLOUR, width=2), hovertemplate=hover), row=2, col=1)
    figure.add_hline(y=0, line_width=1, line_color="#888888", row=2, col=1)

    half = pd.Timedelta(days=3.5 if freq == schema.WEEKLY else 15 if freq == schema.MONTHLY else 0.5)
    spans = phase_spans(path)
    shapes = [dict(type="rect", xref="x", yref="paper", x0=start - half, x1=end + half, y0=0, y1=1,
                   fillcolor=PHASE_FILLS.get(phase, "rgba(0,0,0,0.05)"), line_width=0, layer="below",
                   label=dict(text=PHASE_LABELS.get(phase, phase) if phase != SIBLING else "",
                              textposition="top left", font=dict(size=11, color="#555555")))
              for phase, start, end in zip(spans["phase"], spans["start"], spans["end"])]
    if (spans["phase"] == SIBLING).any():  # the shading has no legend of its own: one swatch for it
        figure.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name="a sibling SKU on promotion",
                                    marker=dict(symbol="square", size=12, color=PHASE_FILLS[SIBLING]),
                                    hoverinfo="skip"), row=1, col=1)
    figure.update_layout(title=title or None, height=560, hovermode="x unified", shapes=shapes,
                         margin=dict(l=10, r=10, t=70 if title else 40, b=10),
                         legend=dict(orientation="h", yanchor="top", y=-0.12, x=0))
    figure.update_yaxes(title_text=unit, row=1, col=1)
    figure.update_yaxes(title_text="units since the start", row=2, col=1)
    return figure


def _depth_order(labels: pd.Series) -> np.ndarray:
    """Depth labels (``"20%"``, ``"10-20%"``, ``"unknown"``) by their first number, unknown last."""
    numbers = pd.to_numeric(labels.astype(str).str.extract(r"^(\d+(?:\.\d+)?)")[0], errors="coerce")
    return np.argsort(numbers.fillna(np.inf).to_numpy(), kind="stable")


def summary_figure(summary: pd.DataFrame, level: str) -> go.Figure:
    """Average uplift % per group of one ``level`` of :attr:`PromotionAnalysis.summary` (``category``,
    ``channel``, ``location`` or ``depth``), with its 95% interval."""
    part = summary.loc[summary["level"] == level]
    if level == "depth":
        part = part.iloc[_depth_order(part["group"])]
    else:
        part = part.sort_values("uplift_pct", ascending=False)
    colours = np.where(part["uplift_lo"] > 0, "#2ca02c", np.where(part["uplift_hi"] < 0, "#d62728", "#7f7f7f"))
    figure = go.Figure(go.Bar(
        x=part["group"].astype(str), y=part["uplift_pct"], marker_color=colours, name="uplift",
        error_y=dict(type="data", symmetric=False, array=(part["uplift_hi"] - part["uplift_pct"]).fillna(0),
                     arrayminus=(part["uplift_pct"] - part["uplift_lo"]).fillna(0), thickness=1),
        customdata=np.stack([part["uplift_lo"], part["uplift_hi"], part["episodes"],
                             part["net_incremental_units"]], axis=1),
        hovertemplate="%{x}: %{y:+.0f}% (95% interval %{customdata[0]:+.0f}% to %{customdata[1]:+.0f}%)<br>"
                      "%{customdata[2]} episodes, net %{customdata[3]:+,.0f} units<extra></extra>",
    ))
    names = {"depth": "discount depth"}
    figure.update_layout(height=360, margin=dict(l=10, r=10, t=30, b=10), showlegend=False,
                         yaxis_title="average uplift %", xaxis_title=names.get(level, level))
    figure.add_hline(y=0, line_width=1, line_color="#444444")
    return figure


def placebo_figure(placebo: pd.DataFrame, episodes: pd.DataFrame) -> go.Figure:
    """Estimated uplift % of the fake (placebo) promotions next to the real ones: the fakes should sit near 0."""
    figure = go.Figure()
    for name, table, colour in (("fake promotions (placebo)", placebo, "#7f7f7f"),
                                ("real promotions", episodes, "#2ca02c")):
        values = table["uplift_pct"].dropna()
        figure.add_trace(go.Histogram(x=values, name=f"{name}: {len(values):,}", marker_color=colour, opacity=0.6,
                                      histnorm="percent", xbins=dict(size=10),
                                      hovertemplate="%{x}: %{y:.1f}% of them<extra></extra>"))
    figure.update_layout(barmode="overlay", height=300, margin=dict(l=10, r=10, t=30, b=10),
                         xaxis_title="estimated uplift %", yaxis_title="% of episodes",
                         legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0))
    figure.add_vline(x=0, line_width=1, line_color="#444444")
    return figure
