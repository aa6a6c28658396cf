"""Seasonality: trend, weekly and yearly cycles, event effects and flagged periods of any series or aggregate."""

from __future__ import annotations

import streamlit as st

from core import schema
from core.anomalies import UNEXPLAINED, find_anomalies
from core.data.calendar import DEFAULT_COUNTRIES
from core.data.resample import resample_frame
from core.decompose import (DecomposeSettings, PanelDecomposition, decompose, event_effects, filter_strength,
                            panel_decompose, seasonal_profile, series_chunks, series_frame, series_label,
                            strength_table)
from core.history import levels_for
from core.plots_seasonality import decomposition_figure, event_effects_figure, profile_figure
from pages._common import (current_or_stop, display_frame, download_button, ensure_navigation, explained_errors,
                           load_frame, workspace)

ensure_navigation()


@st.cache_data(show_spinner="Preparing the data…", max_entries=4)
def frame_at(root: str, dataset_id: str, created_at: str, source_freq: str, freq: str):
    return resample_frame(load_frame(root, dataset_id, created_at), source_freq, freq)


@st.cache_data(show_spinner="Decomposing…", max_entries=64)
def series_result(root, dataset_id, created_at, source_freq, freq, level, value, channels, settings):
    frame = frame_at(root, dataset_id, created_at, source_freq, freq)
    label = series_label(level, value) + (f" ({', '.join(channels)})" if channels else "")
    result = decompose(series_frame(frame, level, value, {schema.CHANNEL: channels} if channels else None), freq,
                       settings, label=label)
    return result, find_anomalies(result)


@st.cache_data(show_spinner=False, max_entries=64)
def panel_chunk(root, dataset_id, created_at, source_freq, freq, settings, number) -> PanelDecomposition:
    frame = frame_at(root, dataset_id, created_at, source_freq, freq)
    return panel_decompose(frame, freq, settings, ids=series_chunks(frame)[number])


@st.cache_data(show_spinner="Measuring event effects…", max_entries=8)
def effects_by(_panel: PanelDecomposition, key: tuple, by: str | None):
    root, dataset_id, created_at, source_freq, freq, _settings = key
    return event_effects(_panel, frame_at(root, dataset_id, created_at, source_freq, freq), by=by)


def whole_panel(key: tuple, n_chunks: int) -> PanelDecomposition:
    """Every series' decomposition, chunk by chunk behind a progress bar (each chunk cached)."""
    bar = st.progress(0.0, text="Decomposing every series…")
    parts = []
    for number in range(n_chunks):
        parts.append(panel_chunk(*key, number))
        bar.progress((number + 1) / n_chunks, text=f"Decomposing every series… chunk {number + 1} of {n_chunks}")
    bar.empty()
    return PanelDecomposition.concat(parts)


st.title("Seasonality")
info = current_or_stop("see its trend, seasons and event effects", link=False)

with st.expander("Settings"):
    left, middle, right = st.columns(3)
    robust = left.toggle("Robust fit", value=True, key="season_robust",
                         help="One-off spikes do not bend the trend or the seasonal pattern")
    threshold = middle.slider("Flag periods beyond this score", 2.5, 6.0, 3.5, 0.5, key="season_threshold",
                              help="Robust z-score of the remainder; higher flags fewer periods")
    yearly = right.selectbox("Yearly component", ["auto", "harmonic", "stl"], key="season_yearly",
                             help="auto: STL with eight or more years of history, else a smooth harmonic curve")
    countries = st.multiselect("Public holidays of", ["CN", "US", "DE", "GB", "FR", "JP", "KR", "IN"],
                               default=list(DEFAULT_COUNTRIES), key="season_countries")
settings = DecomposeSettings(robust=robust, threshold=threshold, yearly=yearly, countries=tuple(countries))
view = st.session_state.get("view_freq") or info.freq
freq = view if view in schema.FREQ_NAMES else info.freq

with explained_errors():
    root = str(workspace().root)
    key = (root, info.id, info.created_at, info.freq, freq, settings)
    frame = frame_at(*key[:5])
    left, middle, right = st.columns([1, 2, 2])
    level = left.selectbox("Series", levels_for(frame), key="season_level")
    column = {"Category": schema.CATEGORY, "Channel": schema.CHANNEL, "Location": schema.LOCATION,
              "SKU": schema.UNIQUE_ID}.get(level)
    value = middle.selectbox(level, sorted(frame[column].astype(str).unique()), key=f"season_value_{level}",
                             format_func=lambda s: s[:80]) if column else None
    channels = ()
    if schema.CHANNEL in frame.columns and level in ("Total", "Category", "Location"):
        channels = tuple(right.multiselect("Only these channels", sorted(frame[schema.CHANNEL].astype(str).unique()),
                                           key="season_channels"))

    result, anomalies = series_result(*key[:5], level, value, channels, settings)
    for note in result.notes:
        st.info(note)
    strengths = " · ".join(f"{name} {value:.2f}" for name, value in result.strength.items())
    st.caption(f"{result.method}. Strength (0 = none, 1 = all of the variation): {strengths}. "
               f"Event days are shaded; hover a marker for why a period was flagged.")
    unit = "units per " + {schema.DAILY: "day", schema.WEEKLY: "week"}.get(freq, "month")
    st.plotly_chart(decomposition_figure(result, anomalies, title=result.label, unit=unit), key="season_chart")
    profile = seasonal_profile(result)
    if len(profile):
        st.plotly_chart(profile_figure(profile), key="season_profile")

    st.subheader("Flagged periods")
    counts = anomalies["kind"].value_counts()
    explained = ", ".join(f"{n} {kind}" for kind, n in counts.items() if kind != UNEXPLAINED) or "none"
    st.caption(f"{int(counts.get(UNEXPLAINED, 0))} unexplained; explained by a promotion, an event or a stock-out: "
               f"{explained}.")
    only = st.toggle("Only unexplained", value=False, key="season_only_unexplained")
    shown = anomalies.loc[anomalies["anomaly"]] if only else anomalies
    st.dataframe(display_frame(shown.sort_values("score", key=abs, ascending=False), 500), hide_index=True,
                 key="season_anomalies")
    download_button("Download flagged periods (CSV)", shown, f"{info.name}-{result.label}-flags.csv"[:120],
                    key="season_download_flags")

    st.subheader("Seasonality of every series")
    panel = whole_panel(key, len(series_chunks(frame)))
    table = strength_table(panel, frame)
    left, middle, right = st.columns([2, 2, 1])
    search = left.text_input("Search series", key="season_search", placeholder="SKU, channel…")
    categories = sorted(table[schema.CATEGORY].dropna().unique()) if schema.CATEGORY in table.columns else []
    chosen = middle.multiselect("Categories", categories, key="season_categories", disabled=not categories)
    minimum = right.number_input("Min yearly strength", 0.0, 1.0, 0.0, 0.05, key="season_min_strength")
    table = filter_strength(table, search, chosen, minimum)
    st.caption(f"{len(table):,} series, most seasonal first; click a column to sort. Fitted in one batched pass "
               "(weighted regression: piecewise-linear trend, weekday effects, yearly harmonics), which agrees "
               "closely with the chart's STL/MSTL.")
    st.dataframe(table, hide_index=True, key="season_strength", column_config={
        c: st.column_config.ProgressColumn(c.replace("_", " "), min_value=0.0, max_value=1.0, format="%.2f")
        for c in ("trend_strength", "weekly_strength", "yearly_strength")})
    download_button("Download the strength table (CSV)", table, f"{info.name}-seasonality.csv",
                    key="season_download_strength")

    st.subheader("Event effects")
    groups = [c for c in (schema.CATEGORY, schema.CHANNEL) if c in frame.columns]
    by = st.radio("By", groups + ["all series"], horizontal=True, key="season_effects_by")
    effects = effects_by(panel, key, None if by == "all series" else by)
    window = st.radio("Window", ["day", "pre", "post"], horizontal=True, key="season_effects_window",
                      format_func={"day": "event days", "pre": "days before", "post": "days after"}.get)
    if effects.empty:
        st.info("No e-commerce event falls inside this history.")
    else:
        st.plotly_chart(event_effects_figure(effects, window), key="season_effects_chart")
        st.caption("Sales against the baseline fitted without event periods, summed over every occurrence and "
                   "series; bars show the 95% bootstrap interval. Stocked-out periods are left out.")
        st.dataframe(display_frame(effects, 1000), hide_index=True, key="season_effects_table")
        download_button("Download event effects (CSV)", effects, f"{info.name}-event-effects.csv",
                        key="season_download_effects")
