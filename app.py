"""StockPilot: the dashboard's entry point — navigation, the shared sidebar and the Home page."""

from __future__ import annotations

import streamlit as st

from core import schema
from core.datasets import load_demo_shop
from core.replenish_text import PLANS_MADE
from pages._common import current, explained_errors, result_store, set_current, workspace

st.set_page_config(page_title="StockPilot", page_icon=":material/inventory_2:", layout="wide")


def sidebar() -> None:
    """Current dataset, its frequency and the forecast horizon, shared by every page."""
    datasets = [d for d in workspace().list_datasets() if d.available]
    info = current()
    with st.sidebar:
        st.markdown("### StockPilot")
        if not datasets:
            st.caption("No dataset yet: load the demo shop or upload your sales on the Data page.")
            return
        ids = [d.id for d in datasets]
        labels = {d.id: f"{d.name} ({d.n_series} series)" for d in datasets}
        if info is not None and st.session_state.get("sidebar_dataset") != info.id:
            st.session_state["sidebar_dataset"] = info.id  # chosen elsewhere (Use, Save, the demo button)
        st.selectbox("Current dataset", ids, format_func=labels.get, key="sidebar_dataset",
                     on_change=lambda: set_current(st.session_state["sidebar_dataset"]))
        freq_name = schema.FREQ_NAMES.get(info.freq, info.freq)
        st.caption(f"Recorded **{freq_name}** · {info.start} to {info.end} · {info.n_rows:,} rows")
        order = list(schema.FREQ_NAMES)  # daily, weekly, monthly
        coarser = order[order.index(info.freq):] if info.freq in order else order
        st.selectbox("Show charts", coarser, format_func=schema.FREQ_NAMES.get, key="view_freq")
        st.number_input(f"Forecast horizon ({freq_name} periods)", min_value=1, max_value=400,
                        value=schema.DEFAULT_HORIZON.get(info.freq, 28), key=f"horizon_{info.freq}")


def home() -> None:
    st.title("StockPilot")
    st.markdown(
        "Turn your sales history into a replenishment plan you can trust.  \n"
        "Upload sales exports, get probabilistic demand forecasts from a transformer fine-tuned on your data, "
        "see why demand moves, and download an order plan as a spreadsheet.  \n"
        "Everything runs on this machine; no data leaves it."
    )
    info = current()
    left, right = st.columns(2)
    with left:
        st.subheader("Start")
        if st.button("Load the demo shop", type="primary", key="load_demo",
                     help="A seeded online shop: 60 SKUs, 6 categories, 3 channels, 3 years of daily sales"):
            with explained_errors(), st.spinner("Loading the demo shop…"):
                info = load_demo_shop(workspace())
                st.success(f"Demo shop loaded: {info.n_rows:,} rows in {info.n_series} series.")
        st.page_link("pages/data.py", label="Upload your own sales data", icon=":material/upload_file:")
    with right:
        st.subheader("Where you are")
        forecast_run = result_store().latest(info.id, info.created_at) if info else None
        plan = st.session_state.get(PLANS_MADE, {}).get(info.id) if info else None
        steps = [
            ("Data", info is not None, f"{info.name}: {info.n_series} series, {info.start} to {info.end}"
             if info else "load the demo shop or upload a sales file"),
            ("Forecast", forecast_run is not None, f"backtested {len(forecast_run.config.models)} model(s), "
             f"saved {forecast_run.saved_at[:10]}" if forecast_run else "backtest the models on the Forecast page"),
            ("Plan", plan is not None, f"made in this session: {plan}" if plan else
             "make a reorder plan from your stock on the Replenishment page"),
        ]
        for number, (name, done, detail) in enumerate(steps, start=1):
            mark = ":material/check_circle:" if done else ":material/radio_button_unchecked:"
            st.markdown(f"{mark} **{number}. {name}** — {detail}")
        if info is not None:
            st.page_link("pages/forecast.py", label="Backtest the models and forecast", icon=":material/query_stats:")
            st.page_link("pages/replenishment.py", label="Make the reorder plan", icon=":material/local_shipping:")


navigation = st.navigation([
    st.Page(home, title="Home", icon=":material/home:", default=True),
    st.Page("pages/data.py", title="Data", icon=":material/upload_file:"),
    st.Page("pages/forecast.py", title="Forecast", icon=":material/query_stats:", url_path="forecast"),
    st.Page("pages/finetune.py", title="Fine-tuning", icon=":material/model_training:", url_path="finetune"),
    st.Page("pages/seasonality.py", title="Seasonality", icon=":material/insights:", url_path="seasonality"),
    st.Page("pages/promotions.py", title="Promotions", icon=":material/sell:", url_path="promotions"),
    st.Page("pages/explain.py", title="Explain", icon=":material/psychology:", url_path="explain"),
    st.Page("pages/replenishment.py", title="Replenishment", icon=":material/local_shipping:",
            url_path="replenishment"),
])
with explained_errors():
    sidebar()
navigation.run()
