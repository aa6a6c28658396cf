"""Forecast: backtest the models, read the leaderboard and fan charts, check accuracy by segment, download."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core import schema
from core.history import LEVELS, levels_for
from core.models import DEFAULT_MODELS, MODELS
from core.plots import fan_figure
from core.registry import ModelRegistry
from core.results import (auto_choice_table, backtest_config, compute_run, describe_run, downloadable, fan_data,
                          forecast_models, leaderboard_table, level_members, member_series, model_label, run_key,
                          segment_kinds, segment_table)
from pages._common import (current_frame, current_or_stop, download_button, ensure_navigation, explained_errors,
                           load_run, result_store, workspace)

ensure_navigation()

MAX_WINDOWS = 5
PERCENT = st.column_config.NumberColumn(format="%.1f%%")
METRIC_FORMATS = {
    "MASE": st.column_config.NumberColumn(format="%.3f", help="Mean absolute error scaled by the seasonal naive "
                                          "error in the history: lower is better"),
    "relMASE": st.column_config.NumberColumn(format="%.3f", help="Below 1 beats the seasonal naive"),
    "WAPE": PERCENT, "Bias": PERCENT,
    "WQL": st.column_config.NumberColumn(format="%.3f", help="Weighted quantile loss: how good the bands are"),
    "80% coverage": PERCENT, "95% coverage": PERCENT,
    "Seconds": st.column_config.NumberColumn(format="%.1f", help="Fitting and forecasting time over all windows"),
}

st.title("Forecast")
info = current_or_stop("backtest the models and forecast")

freq_name = schema.FREQ_NAMES.get(info.freq, info.freq)
horizon = int(st.session_state.get(f"horizon_{info.freq}", schema.DEFAULT_HORIZON.get(info.freq, 28)))
run_state = f"forecast_run_{info.id}"  # the run this session last made or loaded for the dataset
options, defaults = list(MODELS), list(DEFAULT_MODELS)
tuned = ModelRegistry(workspace()).active()  # the fine-tuned version chosen on the Fine-tuning page
if tuned is not None:
    for names in (options, defaults):
        names.insert(names.index("tsfm") + 1, tuned.model_name)

with st.form("backtest_form", border=True):
    st.markdown(f"**Backtest on {info.name}**: each model forecasts the last periods of your history as if they "
                "had not happened yet, and is scored against what was actually sold.")
    left, right = st.columns([3, 1])
    models = left.multiselect("Models", options, default=defaults, format_func=model_label, key="forecast_models")
    windows = right.number_input("Backtest windows", min_value=1, max_value=MAX_WINDOWS, value=3,
                                 key="forecast_windows", help="More windows: a fairer score, a longer wait")
    st.caption(f"Horizon: {horizon} {freq_name} periods (set in the sidebar). The future forecast uses the same "
               "models, and Auto picks the best one per segment from this backtest.")
    if tuned is not None:
        st.caption(f"{model_label(tuned.model_name)} is active (chosen on the Fine-tuning page): it is backtested "
                   f"next to the zero-shot transformer, tuned on {tuned.dataset_name}.")
    submitted = st.form_submit_button("Run backtest", type="primary", key="run_backtest")

if submitted:
    with explained_errors():
        frame = current_frame(info)
        config = backtest_config(frame, horizon, windows, models, info.freq)
        key = run_key(info.id, info.created_at, config)
        if result_store().exists(info.id, key):
            st.toast("These settings were backtested on this data before: showing the saved results.")
        else:
            bar = st.progress(0.0, text="Starting the backtest…")
            run = compute_run(frame, config, info.id, info.created_at,
                              progress=lambda fraction, message: bar.progress(min(fraction, 1.0), text=message))
            result_store().save(run)
            result_store().remove_orphans([d.id for d in workspace().list_datasets()])
            bar.empty()
        st.session_state[run_state] = key

key = st.session_state.get(run_state)
if key is None or not result_store().exists(info.id, key):
    latest = result_store().latest(info.id, info.created_at)
    key = latest.key if latest else None
if key is None:
    st.info("No backtest for this dataset yet: choose the models and click **Run backtest**.")
    st.stop()

with explained_errors():
    run = load_run(str(workspace().root), info.id, key)
    frame = current_frame(info)
    st.caption(describe_run(run.info))

    st.subheader("Leaderboard")
    board = leaderboard_table(run.backtest.leaderboard)
    best = pd.DataFrame("", index=board.index, columns=board.columns)
    best.iloc[0] = "font-weight: bold; background-color: rgba(33, 195, 84, 0.15)"
    st.dataframe(board.style.apply(lambda _: best, axis=None), hide_index=True, placeholder="—",
                 column_config=METRIC_FORMATS)
    st.caption("relMASE compares each model with the seasonal naive (same period last week or year) series by "
               "series: below 1 beats it. Coverage is how often the actual fell inside the 80% and 95% bands.")
    if len(run.backtest.auto_choice):
        with st.expander("Model Auto uses per segment"):
            st.caption("A/B/C: the series making up 80% / the next 15% / the last 5% of units; X/Y/Z: steady, "
                       "variable, erratic weekly sales.")
            st.dataframe(auto_choice_table(run.backtest.auto_choice), hide_index=True)
            if run.backtest.auto_in_sample:
                st.caption("With one window Auto is chosen and scored on the same window, so its score flatters "
                           "it; use two or more windows for an honest one.")

    st.subheader("Fan chart")
    cells = st.columns([1, 2, 2, 1])
    level = cells[0].selectbox("Show", levels_for(frame), key="fan_level")
    member = cells[1].selectbox("Series" if level == "SKU" else level, level_members(frame, level),
                                key=f"fan_member_{level}", format_func=lambda text: text[:80],
                                disabled=LEVELS[level] is None)
    model = cells[2].selectbox("Model", forecast_models(run), format_func=model_label, key="fan_model")
    with_backtest = cells[3].checkbox("Backtest", value=True, key="fan_backtest",
                                      help="Show the backtest forecasts over the actual sales they were scored on")
    series = member_series(frame, level, member)
    fan = fan_data(frame, run, series, model, with_backtest)
    title = member[:80] + (f" — {len(series)} series" if len(series) > 1 else "")
    st.plotly_chart(fan_figure(fan, title=title, model_label=model_label(model)), key="fan_chart")
    if len(series) > 1:
        st.caption("Forecasts and bands of an aggregate are the sums of its series' forecasts and quantiles. Adding "
                   "quantiles assumes all series run high or low together, so the band is cautious (wide).")

    st.subheader("Accuracy by segment")
    kinds = segment_kinds(run.backtest.by_segment)
    kind = st.selectbox("Accuracy by", kinds, key="segment_kind")
    st.dataframe(segment_table(run.backtest.by_segment, kind), hide_index=True, column_config=METRIC_FORMATS)

    st.subheader("Downloads")
    left, right = st.columns(2)
    with left:
        download_button("Download the forecast (CSV)", lambda: downloadable(run.forecast),
                        f"{info.name}-forecast.csv", key="download_forecast", rows=len(run.forecast))
    with right:
        download_button("Download the backtest (CSV)", lambda: downloadable(run.backtest.results),
                        f"{info.name}-backtest.csv", key="download_backtest", rows=len(run.backtest.results))
