"""Replenishment: an inventory snapshot (uploaded, the demo's, or a template filled in here) and the sales forecast
become a reorder plan; what-if on service level and budget; an inventory replay that compares the models by the
stock they need; the plan as XLSX and CSV."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import streamlit as st

from core import schema
from core.data.report import ValidationReport
from core.explain import explain_frame, top_drivers
from core.models import label_of
from core.models.base import PLANNED_COLUMNS
from core.plan import PlanSettings, build_plan, inventory_issue_rows, prepare_plan, sales_issue_rows
from core.plan_export import HEADERS, KINDS, plan_csv, plan_workbook
from core.plots_replenish import order_value_figure, risk_cover_figure
from core.registry import ModelRegistry
from core.replenish import TARGETS
from core.replenish_text import (PLANS_MADE, REPLAY_HEADERS, REPLAY_KINDS, chart_group, choices, filter_plan,
                                 filtered_text, metrics, model_choices, orders_to_explain, plan_filters,
                                 plan_sentence, priority_title, replay_config_defaults, snapshot_digest,
                                 unpriced_text, why_note)
from pages._common import (as_markdown, current_or_stop, display_frame, ensure_navigation, explained_errors,
                           load_frame, workspace)
from pages._replenish_sections import replay_section, snapshot_section

ensure_navigation()

FORMATS = {"int": "localized", "money": "accounting", "percent": "percent", "days": "%.1f", "number": "%.1f"}
KIND = KINDS | REPLAY_KINDS
COLUMNS = {c: st.column_config.NumberColumn(label, format=FORMATS[KIND[c]]) if KIND.get(c) in FORMATS
           else st.column_config.Column(label) for c, label in (HEADERS | REPLAY_HEADERS).items()}
LEVELS = [None, 0.80, 0.85, 0.90, 0.925, 0.95, 0.975, 0.98, 0.99, 0.995]
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
WHY_LIMIT = 60  # the why column explains at most this many orders (the largest), about a minute with LightGBM


@st.cache_data(show_spinner=False, max_entries=4)
def plan_inputs(root: str, dataset_id: str, created_at: str, freq: str, digest: str, _snapshot: pd.DataFrame,
                _issues: pd.DataFrame, model: str, version: str, settings: PlanSettings):
    """The fitted model's demand draws for every snapshot row (``digest`` keys the snapshot and its issues,
    ``version`` a fine-tuned model's id)."""
    bar = st.progress(0.0, text=f"Forecasting with {label_of(model)}…")
    try:
        frame = load_frame(root, dataset_id, created_at)
        report = ValidationReport.from_dict(workspace().load_report(dataset_id))
        return prepare_plan(frame, freq, _snapshot, model=model, settings=settings,
                            known_future=tuple(c for c in PLANNED_COLUMNS if c in frame.columns),
                            issues=(sales_issue_rows(report), inventory_issue_rows(_issues)),
                            progress=lambda fraction, message: bar.progress(min(fraction, 1.0), text=message))
    finally:
        bar.empty()


@st.cache_data(show_spinner="Explaining the forecasts of the orders…", max_entries=4)
def drivers_of(root: str, dataset_id: str, created_at: str, freq: str, model: str, version: str, horizon: int,
               ids: tuple[str, ...]) -> pd.DataFrame:
    frame = load_frame(root, dataset_id, created_at)
    return top_drivers(explain_frame(frame, freq, model, horizon, ids=list(ids)))


st.title("Replenishment")
info = current_or_stop("turn its forecast and your stock into a reorder plan")
root = str(workspace().root)
frame = load_frame(root, info.id, info.created_at)
state = st.session_state.setdefault(f"replen_{info.id}", {"version": 0})
checked, issues = snapshot_section(info, frame, state, COLUMNS)

st.subheader("2. Plan settings")
tuned = ModelRegistry(workspace()).active()
models = model_choices(tuned.model_name if tuned is not None else None)
with st.form("replen_form", border=True):
    left, right = st.columns([3, 2])
    model = left.selectbox("Forecasting model", list(models), format_func=models.get, key="replen_model")
    target = right.radio("Service target", TARGETS, horizontal=True, key="replen_target",
                         help="Cycle service level: the chance of no stockout in a cycle; fill rate: the share of "
                              "demand served from stock")
    cells = st.columns(4)
    levels = [cell.number_input(f"Class {abc} target (%)", 50.0, 99.9, value, 0.5, format="%.1f",
                                key=f"replen_level_{abc}")
              for cell, abc, value in zip(cells, "ABC", (98.0, 95.0, 90.0))]
    snapshot_levels = cells[3].toggle("Use the snapshot's levels", True, key="replen_snapshot_levels",
                                      help="A service_level (or fill_rate) in the snapshot wins over its class")
    st.caption("ABC classes by the last year's sales value: A makes the first 80%, B the next 15%, C the rest.")
    with st.expander("Defaults for blank cells"):
        cells = st.columns(4)
        lead = cells[0].number_input("Lead time (days)", 0.0, 365.0, 7.0, key="replen_lead")
        spread = cells[1].number_input("Lead time sd (days)", 0.0, 100.0, 0.0, key="replen_lead_sd")
        review = cells[2].number_input("Review period (days)", 1.0, 365.0, 7.0, key="replen_review")
        moq = cells[3].number_input("MOQ", 0.0, value=0.0, step=1.0, key="replen_moq")
        case_pack = cells[0].number_input("Case pack", 1.0, value=1.0, step=1.0, key="replen_case_pack")
        holding = cells[1].number_input("Holding cost (% a year)", 0.0, 100.0, 25.0, key="replen_holding")
        order_cost = cells[2].number_input("Order cost", 0.0, value=None, key="replen_order_cost",
                                           help="Blank: no EOQ where the snapshot has none")
        samples = cells[3].number_input("Demand draws", 100, 2_000, 400, 100, key="replen_samples")
        use_eoq = st.checkbox("Use the EOQ where an order cost is given", True, key="replen_eoq")
    if st.form_submit_button("Make the plan", type="primary", key="replen_make"):
        state["made"] = {"snapshot": checked.frame, "issues": issues,
                         "digest": snapshot_digest(checked.frame, issues)}

if "made" not in state:
    st.info("Check the settings and press **Make the plan**.")
    st.stop()
made = state["made"]
drawn = PlanSettings(lead_time_days=lead, lead_time_sd_days=spread, review_period_days=review, n_samples=int(samples))
settings = replace(drawn, target=target, class_service_levels=tuple(v / 100 for v in levels),
                   snapshot_levels=snapshot_levels, moq=moq, case_pack=case_pack, holding_cost_rate=holding / 100,
                   order_cost=order_cost, use_eoq=use_eoq)
version = tuned.id if tuned is not None and model == tuned.model_name else ""
plan = None
with explained_errors():
    inputs = plan_inputs(root, info.id, info.created_at, info.freq, made["digest"], made["snapshot"],
                         made["issues"], model, version, drawn)
    st.subheader("3. What if")
    left, right = st.columns(2)
    level = left.select_slider("One service level for every row", LEVELS, key="replen_whatif_level",
                               format_func=lambda v: "off: per row" if v is None else f"{v:.1%}")
    budget = right.number_input("Budget (blank: no limit)", 0.0, value=None, step=1_000.0, key="replen_budget",
                                help="The units that avoid most expected shortage per unit of money come first")
    plan = build_plan(inputs, replace(settings, service_level=level, budget=budget))
if plan is None:
    st.stop()
st.session_state.setdefault(PLANS_MADE, {})[info.id] = plan_sentence(plan, inputs.model_label)
if snapshot_digest(checked.frame, issues) != made["digest"]:
    st.info("The snapshot changed since this plan was made: press **Make the plan** to use the changes.")

st.subheader("4. The reorder plan")
for row in metrics(plan):
    for cell, (label, value, note) in zip(st.columns(4), row):
        cell.metric(label, value, help=note)
if warning := unpriced_text(plan):
    st.warning(warning)
st.caption(f"Forecast by {inputs.model_label} from sales up to {inputs.data_end:%Y-%m-%d}. "
           + " ".join(as_markdown(n) for n in inputs.notes))
table = plan.table
filters = plan_filters(table)
chosen = {column: cell.multiselect(name, choices(table, column), key=f"replen_filter_{column}")
          for cell, (column, name) in zip(st.columns(len(filters)), filters.items())}
shown = filter_plan(table, chosen)
st.caption(f"{filtered_text(len(shown), len(table))}: orders first, the riskiest first.")
st.dataframe(display_frame(shown, 5_000), hide_index=True, column_config=COLUMNS, key="replen_plan_table",
             column_order=[c for c in shown.columns if c != schema.UNIQUE_ID])
left, right = st.columns(2)
left.plotly_chart(risk_cover_figure(shown), key="replen_risk_chart")
right.plotly_chart(order_value_figure(shown, chart_group(table)), key="replen_value_chart")
if len(plan.priority):
    with st.expander(priority_title(plan.priority)):
        st.dataframe(display_frame(plan.priority, 5_000), hide_index=True, column_config=COLUMNS,
                     key="replen_priority")

st.subheader("5. Downloads")
note = why_note(plan, frame)
with_why = st.checkbox("Add the why column (the top forecast drivers of each order)", key="replen_why",
                       disabled=bool(note), help=note or f"Explains up to {WHY_LIMIT} of the largest orders")
why = None
if with_why and not note:
    with explained_errors():
        why = drivers_of(root, info.id, info.created_at, info.freq, plan.model, version, len(inputs.dates),
                         orders_to_explain(table, WHY_LIMIT))
left, right = st.columns(2)
left.download_button("Download the plan (XLSX)", lambda: plan_workbook(plan, why),
                     f"{info.name}-reorder-plan.xlsx"[:120], mime=XLSX_MIME, key="replen_xlsx", type="primary")
right.download_button("Download the plan (CSV)", lambda: plan_csv(plan, why), f"{info.name}-reorder-plan.csv"[:120],
                      mime="text/csv", key="replen_csv")

replay_section(info, state, root, tuned.model_name if tuned is not None else None, replay_config_defaults(settings),
               plan.settings.target, level, COLUMNS)
