"""The Replenishment page's sections that stand apart from the plan: the inventory snapshot (upload, the demo's, a
template; edited in a table and checked again) and the inventory replay. Not a page (files starting with ``_`` are
not listed); the logic they show lives in :mod:`core.inventory`, :mod:`core.replay` and :mod:`core.replenish_text`.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core import schema
from core.data.synthetic import DEMO_DATA_DIR, INVENTORY_FILE
from core.datasets import DEMO_NAME
from core.inventory import InventoryResult, clean_inventory, inventory_template, load_inventory
from core.models import label_of
from core.plots_replenish import frontier_figure
from core.replay import ReplayConfig, replay
from core.replenish_text import (UPLOAD_TYPES, editor_frame, model_choices, replay_defaults, replay_models_text,
                                 replay_sentence, replay_view, series_ids, snapshot_issues)
from core.store import DatasetInfo
from pages._common import as_markdown, display_frame, download_button, explained_errors, load_frame


@st.cache_data(show_spinner="Reading the snapshot…", max_entries=8)
def read_snapshot(data: bytes, filename: str) -> InventoryResult:
    return load_inventory(data, filename=filename)


@st.cache_data(show_spinner=False, max_entries=4)
def replay_of(root: str, dataset_id: str, created_at: str, digest: str, _parameters: pd.DataFrame,
              config: ReplayConfig):
    bar = st.progress(0.0, text="Replaying…")
    try:
        return replay(load_frame(root, dataset_id, created_at), _parameters, config,
                      progress=lambda fraction, message: bar.progress(min(fraction, 1.0), text=message))
    finally:
        bar.empty()


def snapshot_section(info: DatasetInfo, frame: pd.DataFrame, state: dict,
                     columns: dict) -> tuple[InventoryResult, pd.DataFrame]:
    """Section 1: the snapshot in an editable table, checked again on every edit; stops the page without one.
    Returns the checked snapshot and every row the file and the table left out or changed."""
    def use(result: InventoryResult, source: str) -> None:  # a new snapshot drops the edits of the earlier one
        state.update(base=editor_frame(result.frame), issues=result.issues, notes=result.notes, source=source,
                     version=state["version"] + 1)

    st.subheader("1. Inventory snapshot")
    left, right = st.columns([3, 2])
    uploaded = left.file_uploader("Your stock per SKU: CSV, TSV, XLSX or Parquet (gzip welcome); English or "
                                  "Chinese headers", type=UPLOAD_TYPES, key="replen_upload")
    if uploaded is not None and uploaded.file_id != state.get("file"):
        with explained_errors():
            use(read_snapshot(uploaded.getvalue(), uploaded.name), f"'{uploaded.name}'")
            state["file"] = uploaded.file_id
    with right:
        if info.name == DEMO_NAME and st.button("Use the demo shop's snapshot", key="replen_demo", type="primary"):
            use(read_snapshot((DEMO_DATA_DIR / INVENTORY_FILE).read_bytes(), INVENTORY_FILE),
                "the demo shop's snapshot")
        if st.button("Start from an empty template", key="replen_template",
                     help="One row per series of this dataset, stock 0 and blank parameters, to fill in below"):
            use(InventoryResult(inventory_template(series_ids(frame)), pd.DataFrame()), "a template")
        download_button("Download the template (CSV)", lambda: editor_frame(inventory_template(series_ids(frame))),
                        f"{info.name}-inventory-template.csv"[:120], key="replen_template_download",
                        rows=info.n_series)
    if "base" not in state:
        st.info("Upload your inventory snapshot (sku, [channel], on_hand, on_order, lead_time_days, ... one row per "
                "SKU), use the demo shop's, or start from a template, then make the plan.")
        st.stop()

    st.caption(f"From {as_markdown(state['source'])}: edit any cell, add or delete rows; edits are checked again. "
               "Blank parameters take the defaults in the plan settings.")
    edited = st.data_editor(state["base"], num_rows="dynamic", hide_index=True,
                            key=f"replen_editor_{state['version']}", column_config=columns)
    checked = None
    with explained_errors():
        checked = clean_inventory(edited)
    if checked is None:
        st.stop()
    issues = snapshot_issues(state["issues"], checked.issues)
    if len(issues):
        st.warning(f"{len(issues):,} snapshot row(s) were left out or changed: see the list below.")
        with st.expander("Snapshot issues"):
            st.dataframe(display_frame(issues, 1_000), hide_index=True, key="replen_issues")
            download_button("Download the snapshot issues (CSV)", issues, f"{info.name}-inventory-issues.csv"[:120],
                            key="replen_issues_download")
    with st.expander("Notes on the snapshot"):
        st.markdown("\n".join(f"- {as_markdown(n)}" for n in state["notes"] or checked.notes))
    return checked, issues


def replay_section(info: DatasetInfo, state: dict, root: str, active: str | None, defaults: dict,
                   target: str, level: float | None, columns: dict) -> None:
    """Section 6: every chosen model's policy run over the end of the history; the stock-service frontier.
    ``defaults``: the ReplayConfig defaults for blank snapshot cells (the plan settings')."""
    st.subheader("6. Inventory replay")
    st.markdown("Each policy is run day by day over the last stretch of your history, as if you had used it then: "
                "choose the model that reaches your service with the least stock, not only the best forecast error.")
    options = list(model_choices(active))
    with st.form("replen_replay_form", border=True):
        left, right = st.columns([3, 1])
        models = left.multiselect("Models", options, replay_defaults(active), format_func=label_of,
                                  key="replen_replay_models")
        periods = right.number_input(f"Held-out {schema.FREQ_NAMES.get(info.freq, info.freq)} periods", 7, 730,
                                     {schema.DAILY: 90, schema.WEEKLY: 26}.get(info.freq, 12),
                                     key="replen_replay_periods")
        config = ReplayConfig(periods=int(periods), models=tuple(models), target=target, n_samples=200, **defaults)
        st.caption(replay_models_text(options, config.periods, config.forecast_every, info.freq))
        if st.form_submit_button("Run the replay", key="replen_replay_run"):
            state["replay"] = config
    if "replay" not in state:
        return
    with explained_errors():
        config = state["replay"]
        result = replay_of(root, info.id, info.created_at, state["made"]["digest"], state["made"]["snapshot"],
                           config)
        st.caption(f"Replayed {result.start:%Y-%m-%d} to {result.end:%Y-%m-%d}, targets "
                   f"{', '.join(f'{v:.0%}' for v in config.service_levels)} of the {config.target}.")
        st.plotly_chart(frontier_figure(result.summary), key="replen_frontier")
        st.markdown(replay_sentence(result.summary, level or 0.95))
        st.dataframe(replay_view(result.summary), hide_index=True, column_config=columns, key="replen_replay_table")
        if result.notes:
            with st.expander("Notes on the replay"):
                st.markdown("\n".join(f"- {as_markdown(n)}" for n in result.notes))
