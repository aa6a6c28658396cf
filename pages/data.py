"""Data: upload sales, map columns, read the validation report, browse and manage datasets."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core import schema
from core.data.mapping import NOT_IN_FILE, detect_mapping
from core.data.parse import DATE_FORMATS
from core.data.report import ValidationReport
from core.data.validate import to_export_frame
from core.datasets import save_result
from core.history import history_table, levels_for
from core.plots import history_figure
from pages._common import (current, current_frame, display_frame, download_button, ensure_navigation,
                           explained_errors, set_current, show_report, validate_upload, workspace)

ensure_navigation()

UPLOAD_TYPES = ["csv", "tsv", "txt", "xlsx", "parquet", "gz"]
NOT_MAPPED = "(not in file)"

st.title("Data")


def mapping_form(columns: list[str], rejected: bool) -> dict:
    """Selectboxes for each field, pre-set to the auto-detected column."""
    detected = detect_mapping(columns).to_dict()
    chosen = {}
    with st.expander("Column mapping and reading options", expanded=rejected):
        cells = st.columns(3)
        for position, field in enumerate(schema.FIELDS):
            options = [NOT_MAPPED] + columns
            default = options.index(detected[field]) if detected[field] in columns else 0
            label = field + (" (required)" if field in (schema.DATE, schema.UNITS) else "")
            chosen[field] = cells[position % 3].selectbox(label, options, index=default, key=f"map_{field}")
        left, right = st.columns(2)
        chosen["_date_format"] = left.selectbox("Numeric date order", DATE_FORMATS, key="date_format",
                                                help="auto decides from values such as 13/01/2024")
        chosen["_duplicates"] = right.selectbox("Rows sharing a date and SKU", ["auto", "sum", "drop"],
                                                key="duplicates")
    return chosen


def history_chart(frame, key: str) -> None:
    levels = levels_for(frame)
    left, right = st.columns([1, 2])
    level = left.selectbox("Show", levels, key=f"{key}_level")
    if level == "SKU":
        ids = sorted(frame[schema.UNIQUE_ID].unique())
        level = right.selectbox("Series", ids, key=f"{key}_series", format_func=lambda s: s[:80])
    view = st.session_state.get("view_freq")
    st.plotly_chart(history_figure(history_table(frame, level, view)), key=f"{key}_chart")


st.subheader("Upload sales")
uploaded = st.file_uploader("CSV, TSV, XLSX or Parquet (gzip welcome); English or Chinese headers",
                            type=UPLOAD_TYPES, key="upload")
if uploaded is not None:
    with explained_errors():
        data = uploaded.getvalue()
        result = validate_upload(data, uploaded.name, {}, "auto", "auto")  # as auto-detected
        if result.columns:  # readable: let the planner re-map columns and re-read
            chosen = mapping_form(result.columns, rejected=not result.accepted)
            mapping = {f: (c if c != NOT_MAPPED else NOT_IN_FILE) for f, c in chosen.items() if not f.startswith("_")}
            detected = {f: c or NOT_IN_FILE for f, c in detect_mapping(result.columns).to_dict().items()}
            if mapping != detected or (chosen["_date_format"], chosen["_duplicates"]) != ("auto", "auto"):
                result = validate_upload(data, uploaded.name, mapping, chosen["_date_format"], chosen["_duplicates"])
        show_report(result.report)
        if result.accepted:
            names = result.series[schema.UNIQUE_ID].head(6).str.slice(0, 60).tolist()
            st.caption(f"Series: {', '.join(names)}" + (" …" if len(result.series) > 6 else ""))
            download_button("Download excluded, altered and added rows (CSV)", result.issue_rows,
                            f"{Path(uploaded.name).stem}-issues.csv", key="upload_issues")
            history_chart(result.frame, "upload")
            name = st.text_input("Dataset name", value=Path(uploaded.name).name.split(".")[0], key="upload_name")
            if st.button("Save as dataset and make it current", type="primary", key="save_upload"):
                info = save_result(workspace(), result, name, uploaded.name, data)
                set_current(info.id)
                st.success(f"Saved '{info.name}': {info.n_rows:,} rows in {info.n_series} series.")
else:
    st.caption("Required: a date, a SKU and the units sold per row. Optional: channel, location, category, price, "
               "promo, on_hand (end-of-day stock). Wide files with one column per date are reshaped.")

info = current()
st.divider()
if info is None:
    st.info("No dataset yet. Load the demo shop on the Home page or upload your sales above.")
    st.stop()

with explained_errors():
    st.subheader(f"Current dataset: {info.name}")
    frame = current_frame(info)
    show_report(ValidationReport.from_dict(workspace().load_report(info.id)))
    left, right = st.columns(2)
    with left:
        download_button("Download excluded, altered and added rows (CSV)", workspace().load_issues(info.id),
                        f"{info.name}-issues.csv", key="current_issues")
    with right:
        download_button("Download the clean data (CSV)", lambda: to_export_frame(frame), f"{info.name}-clean.csv",
                        key="current_clean", rows=len(frame))
    history_chart(frame, "current")
    with st.expander("Preview (first 200 rows)"):
        st.dataframe(display_frame(frame), hide_index=True)

st.subheader("All datasets")
for dataset in workspace().list_datasets():
    cells = st.columns([3, 2, 1, 1])
    new_name = cells[0].text_input("Name", dataset.name, key=f"name_{dataset.id}", label_visibility="collapsed")
    cells[1].caption(f"{dataset.outcome} · {dataset.n_series} series · {dataset.start} to {dataset.end}"
                     + ("" if dataset.available else " · files missing"))
    if new_name.strip() and new_name != dataset.name:
        with explained_errors():
            workspace().rename(dataset.id, new_name)
            st.rerun()
    if cells[2].button("Use", key=f"use_{dataset.id}", disabled=not dataset.available):
        set_current(dataset.id)
        st.rerun()
    with cells[3].popover("Delete"):
        st.caption(f"Delete '{dataset.name}' and its report? The original upload goes too.")
        if st.button("Delete for good", key=f"delete_{dataset.id}", type="primary"):
            workspace().delete(dataset.id)
            st.rerun()
