"""Plotly figures for the Explain page, built from :mod:`core.explain` results (an :class:`Explanation` and
:func:`~core.explain.global_importance` tables)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core import schema
from core.explain import BASE_VALUE, CONTRIBUTION, FEATURE, PREDICTION, ExplainError, Explanation

_UP, _DOWN, _TOTAL = "#2ca02c", "#d62728", "#1f77b4"
#: the waterfall's first and last bars
START_LABEL, FORECAST_LABEL = "starting point", "forecast"


def _short(text: str, width: int = 45) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def importance_figure(importance: pd.DataFrame, top: int = 15) -> go.Figure:
    """Horizontal bars of the ``top`` features' mean absolute contribution (units), largest on top; green where the
    feature raises forecasts on average, red where it lowers them."""
    part = importance.nlargest(top, "mean_abs_contribution")
    colours = np.where(part["mean_contribution"] >= 0, _UP, _DOWN)
    figure = go.Figure(go.Bar(
        x=part["mean_abs_contribution"], y=part[FEATURE].map(_short), orientation="h", marker_color=colours,
        customdata=np.stack([part["mean_contribution"], part["share"], part[FEATURE]], axis=1),
        hovertemplate="%{customdata[2]}: %{x:,.2f} units on average either way, %{customdata[0]:+,.2f} with the "
                      "sign (%{customdata[1]:.0%} of all contributions)<extra></extra>"))
    figure.update_layout(height=max(260, 26 * len(part) + 80), margin=dict(l=10, r=10, t=30, b=10),
                         showlegend=False, xaxis_title="mean |contribution| (units per forecast)",
                         yaxis=dict(autorange="reversed"))
    return figure


def beeswarm_positions(x: np.ndarray, bins: int = 40, width: float = 0.8) -> np.ndarray:
    """Vertical offsets that spread dots with similar ``x`` apart, wider where they crowd (a beeswarm), within
    ``±width / 2``; deterministic."""
    x = np.asarray(x, dtype=float)
    if len(x) == 0:
        return np.zeros(0)
    low, high = np.nanmin(x), np.nanmax(x)
    which = np.zeros(len(x), dtype=int) if high <= low else np.minimum(
        ((x - low) / (high - low) * bins).astype(int), bins - 1)
    frame = pd.DataFrame({"bin": which, "x": x})
    rank = frame.sort_values("x", kind="stable").groupby("bin").cumcount().reindex(frame.index).to_numpy()
    count = frame.groupby("bin")["bin"].transform("size").to_numpy()
    # alternate above and below the line: 0, +1, -1, +2, -2 ...
    side = np.where(rank % 2 == 0, -1.0, 1.0) * ((rank + 1) // 2)
    return side * (width / max(int(count.max()), 2))


def beeswarm_figure(explanation: Explanation, top: int = 12, max_per_feature: int = 800, seed: int = 0) -> go.Figure:
    """One dot per forecast for each of the ``top`` features (by mean absolute contribution): how far it moved that
    forecast (x, units), coloured by how many periods ahead the forecast is. More than ``max_per_feature`` dots per
    feature are thinned to a seeded random sample."""
    data = explanation.contributions
    ranking = data[CONTRIBUTION].abs().groupby(data[FEATURE]).mean().sort_values(ascending=False)
    features = list(ranking.index[:top])
    dates = np.sort(explanation.forecasts[schema.DS].unique())  # every series is forecast from the same end
    ahead = pd.Series(np.arange(1, len(dates) + 1), index=dates)
    rng = np.random.default_rng(seed)
    xs, ys, colours, hover = [], [], [], []
    thinned = False
    for position, feature in enumerate(features):
        part = data.loc[data[FEATURE] == feature]
        if len(part) > max_per_feature:
            part, thinned = part.iloc[np.sort(rng.choice(len(part), max_per_feature, replace=False))], True
        values = part[CONTRIBUTION].to_numpy()
        xs.append(values)
        ys.append(len(features) - 1 - position + beeswarm_positions(values))
        colours.append(part[schema.DS].map(ahead).to_numpy())
        hover.append(np.stack([part[schema.UNIQUE_ID].astype(str).to_numpy(),
                               part[schema.DS].dt.strftime("%a %d %b %Y").to_numpy(),
                               np.full(len(part), feature, dtype=object)], axis=1))
    figure = go.Figure()
    if features:
        figure.add_trace(go.Scatter(
            x=np.concatenate(xs), y=np.concatenate(ys), mode="markers", name="forecasts",
            marker=dict(size=5, opacity=0.7, color=np.concatenate(colours), colorscale="Viridis",
                        colorbar=dict(title="periods<br>ahead", thickness=12)),
            customdata=np.concatenate(hover),
            hovertemplate="%{customdata[2]}: %{x:+,.2f} units<br>%{customdata[0]} on %{customdata[1]}"
                          "<extra></extra>"))
    figure.add_vline(x=0, line_width=1, line_color="#444444")
    figure.update_layout(
        height=max(300, 34 * len(features) + 90), margin=dict(l=10, r=10, t=40 if thinned else 30, b=10),
        showlegend=False, xaxis_title="contribution to the forecast (units)",
        title=f"{max_per_feature:,} random forecasts per input shown" if thinned else None,
        yaxis=dict(tickmode="array", tickvals=list(range(len(features) - 1, -1, -1)),
                   ticktext=[_short(f) for f in features], range=[-0.7, len(features) - 0.3], zeroline=False))
    return figure


def waterfall_steps(explanation: Explanation, unique_id: str, ds, top: int = 10) -> pd.DataFrame:
    """The bars of :func:`waterfall_figure`: ``label, value, measure`` — the starting point (base value), the ``top``
    contributions by size, the rest as one "N other inputs" bar, and the forecast. The values add up to the
    forecast within the explanation's tolerance."""
    ds = pd.Timestamp(ds)
    forecasts = explanation.forecasts
    forecast = forecasts.loc[(forecasts[schema.UNIQUE_ID] == unique_id) & (forecasts[schema.DS] == ds)]
    if forecast.empty:
        raise ExplainError(f"No explained forecast for {unique_id!r} on {ds:%Y-%m-%d}.")
    data = explanation.contributions
    rows = data.loc[(data[schema.UNIQUE_ID] == unique_id) & (data[schema.DS] == ds)]
    by_feature = rows.groupby(FEATURE)[CONTRIBUTION].sum()
    ranked = by_feature.reindex(by_feature.abs().sort_values(ascending=False, kind="stable").index)
    shown, rest = ranked.iloc[:top], ranked.iloc[top:]
    steps = [(START_LABEL, float(forecast[BASE_VALUE].iloc[0]), "absolute")]
    steps += [(str(name), float(value), "relative") for name, value in shown.items()]
    if len(rest):
        steps.append((f"{len(rest)} other inputs", float(rest.sum()), "relative"))
    steps.append((FORECAST_LABEL, float(forecast[PREDICTION].iloc[0]), "total"))
    return pd.DataFrame(steps, columns=["label", "value", "measure"])


def waterfall_figure(explanation: Explanation, unique_id: str, ds, top: int = 10, unit: str = "units") -> go.Figure:
    """One forecast as a waterfall: from the starting point (the base value) through its ``top`` contributions (the
    rest grouped) to the forecast."""
    steps = waterfall_steps(explanation, unique_id, ds, top)
    text = [f"{v:,.1f}" if m != "relative" else f"{v:+,.1f}" for v, m in zip(steps["value"], steps["measure"])]
    figure = go.Figure(go.Waterfall(
        orientation="h", y=steps["label"].map(_short), x=steps["value"], measure=steps["measure"], text=text,
        textposition="outside", connector=dict(line=dict(color="#999999", width=1)),
        increasing=dict(marker=dict(color=_UP)), decreasing=dict(marker=dict(color=_DOWN)),
        totals=dict(marker=dict(color=_TOTAL)), customdata=steps["label"],
        hovertemplate="%{customdata}: %{text} " + unit + "<extra></extra>"))
    figure.update_layout(title=f"{_short(str(unique_id), 60)} on {pd.Timestamp(ds):%a %d %b %Y}",
                         height=max(300, 30 * len(steps) + 100), margin=dict(l=10, r=40, t=50, b=10),
                         showlegend=False, xaxis=dict(title=unit, range=waterfall_range(steps)),
                         yaxis=dict(autorange="reversed"))
    return figure


def waterfall_range(steps: pd.DataFrame, margin: float = 0.3) -> list[float]:
    """An x range around the path from the starting point to the forecast, so that contributions small next to
    the forecast stay visible (the first and last bars are cut where the range does not reach 0)."""
    path = np.where(steps["measure"] == "relative", steps["value"].cumsum(), steps["value"])  # after each bar
    low, high = float(np.min(path)), float(np.max(path))
    pad = margin * max(high - low, 0.05 * max(abs(high), abs(low)), 1e-6)
    left = low - pad
    return [0.0 if low >= 0 > left else left, high + pad]


def importance_by_figure(table: pd.DataFrame, top: int = 10) -> go.Figure:
    """A heatmap of each group's share of contributions (a grouped :func:`~core.explain.global_importance` table):
    the ``top`` features overall (rows) against the groups (columns)."""
    overall = table.groupby(FEATURE)["mean_abs_contribution"].mean().nlargest(top).index
    grid = (table.loc[table[FEATURE].isin(overall)].pivot(index=FEATURE, columns="group", values="share")
            .reindex(overall).fillna(0.0))
    figure = go.Figure(go.Heatmap(
        z=grid.to_numpy(), x=[_short(str(g), 30) for g in grid.columns], y=[_short(f) for f in grid.index],
        colorscale="Blues", zmin=0, text=np.vectorize(lambda v: f"{v:.0%}")(grid.to_numpy()),
        texttemplate="%{text}", colorbar=dict(title="share", tickformat=".0%", thickness=12),
        hovertemplate="%{y} in %{x}: %{text} of all contributions<extra></extra>"))
    figure.update_layout(height=max(280, 28 * len(grid) + 90), margin=dict(l=10, r=10, t=30, b=10),
                         yaxis=dict(autorange="reversed"))
    return figure
