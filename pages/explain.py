"""Explain: why each forecast is what it is — SHAP contributions of the LightGBM model or the transformer, overall,
by category and channel, and for one SKU and date as a waterfall and a sentence."""

from __future__ import annotations

import streamlit as st

from core import schema
from core.explain import Explanation, drivers_sentence, explain_frame, global_importance, sample_ids, top_drivers
from core.explain_text import (DEFAULT_SAMPLE, date_label, explained_series, forecast_dates, group_columns,
                               importance_by_view, model_choices, sample_text, series_groups, tolerance_text)
from core.plots_explain import beeswarm_figure, importance_by_figure, importance_figure, waterfall_figure
from core.registry import ModelRegistry
from pages._common import (as_markdown, current_or_stop, display_frame, download_button, ensure_navigation,
                           explained_errors, load_frame, workspace)

ensure_navigation()

UNITS = st.column_config.NumberColumn(format="%.2f")
COLUMNS = {"mean_abs_contribution": UNITS, "mean_contribution": UNITS,
           "share": st.column_config.NumberColumn(format="percent")}


@st.cache_data(show_spinner=False, max_entries=4)
def explanation_of(root: str, dataset_id: str, created_at: str, freq: str, model_name: str, version: str,
                   horizon: int, sample_size: int) -> Explanation:
    """The model fitted on a stored dataset and its forecasts explained for a seeded sample of series (``version``
    keys a fine-tuned model's cache: the version's id)."""
    frame = load_frame(root, dataset_id, created_at)
    ids = sample_ids(frame[schema.UNIQUE_ID].unique(), sample_size, seed=0)
    return explain_frame(frame, freq, model_name, horizon, ids=ids)


st.title("Explain")
info = current_or_stop("see why each forecast is what it is")

freq_name = schema.FREQ_NAMES.get(info.freq, info.freq)
horizon = int(st.session_state.get(f"horizon_{info.freq}", schema.DEFAULT_HORIZON.get(info.freq, 28)))
tuned = ModelRegistry(workspace()).active()  # the fine-tuned version chosen on the Fine-tuning page
choices = model_choices(tuned.model_name if tuned is not None else None)

with st.form("explain_form", border=True):
    left, right = st.columns([3, 1])
    model_name = left.selectbox("Model", list(choices), format_func=choices.get, key="explain_model")
    sample_size = right.number_input("Series to explain", min_value=1, max_value=5_000, value=DEFAULT_SAMPLE,
                                     key="explain_sample", help="A random sample (the same on every visit) when the "
                                     "dataset has more series: LightGBM explains 40 of the demo shop's in about "
                                     "half a minute")
    st.caption(f"Horizon: {horizon} {freq_name} periods (set in the sidebar). The model is fitted on the whole "
               "history and its point forecasts are split into what each input added or took away, in units.")
    st.form_submit_button("Explain", type="primary", key="explain_run")

with explained_errors():
    root = str(workspace().root)
    version = tuned.id if tuned is not None and model_name == tuned.model_name else ""
    with st.spinner(f"Fitting {choices[model_name]} and explaining its forecasts…"):
        explanation = explanation_of(root, info.id, info.created_at, info.freq, model_name, version, horizon,
                                     int(sample_size))
    series = explained_series(explanation)
    st.caption(f"{sample_text(len(series), info.n_series, len(explanation.forecasts))} {explanation.method} "
               f"{tolerance_text(explanation)}")
    if explanation.notes:
        with st.expander("Notes on this explanation"):
            st.markdown("\n".join(f"- {as_markdown(note)}" for note in explanation.notes))

    st.subheader("What drives the forecasts")
    importance = global_importance(explanation)
    left, right = st.columns(2)
    left.plotly_chart(importance_figure(importance), key="explain_importance_chart")
    right.plotly_chart(beeswarm_figure(explanation), key="explain_beeswarm_chart")
    st.caption("Left: how many units each input moves a forecast on average, either way (green: it raises "
               "forecasts on average, red: it lowers them). Right: one dot per forecast, how far the input moved it.")

    frame = load_frame(root, info.id, info.created_at)
    levels = group_columns(frame)
    if levels:
        st.subheader("By category and channel")
        by = st.radio("By", levels, horizontal=True, key="explain_by")
        grouped = global_importance(explanation, series_groups(frame, by))
        st.plotly_chart(importance_by_figure(grouped), key="explain_by_chart")
        st.caption(f"Each {by}'s share of all contributions to its forecasts (the top inputs overall).")
        st.dataframe(display_frame(importance_by_view(grouped), 1_000), hide_index=True, column_config=COLUMNS,
                     key="explain_by_table")

    st.subheader("One forecast")
    left, right = st.columns([2, 3])
    unique_id = left.selectbox("SKU", series, key="explain_series", format_func=lambda text: text[:80])
    dates = forecast_dates(explanation, unique_id)
    ds = right.select_slider("Date", dates, key="explain_date", format_func=date_label)
    st.markdown(as_markdown(drivers_sentence(explanation, unique_id, ds)))
    st.plotly_chart(waterfall_figure(explanation, unique_id, ds), key="explain_waterfall_chart")
    st.caption("From the model's starting point to the forecast: green inputs raise it, red ones lower it; the ten "
               "largest are shown and the rest grouped. The axis is zoomed to the steps, so long bars may be cut.")

    st.subheader("Downloads")
    left, right = st.columns(2)
    with left:
        download_button("Download the contributions (CSV)", explanation.to_long,
                        f"{info.name}-explain-{model_name}-contributions.csv"[:120], key="explain_download_long",
                        rows=len(explanation.contributions) + 2 * len(explanation.forecasts))
    with right:
        download_button("Download the top drivers per SKU (CSV)", top_drivers(explanation),
                        f"{info.name}-explain-{model_name}-drivers.csv"[:120], key="explain_download_drivers")
