"""The Replenishment page (AppTest) on a small synthetic shop, and what it builds on: the words and views of
:mod:`core.replenish_text` and the figures of :mod:`core.plots_replenish`."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from streamlit.testing.v1 import AppTest

from conftest import REPO, open_page, small_shop
from core import schema
from core.plan import ORDER_NOW, Plan, PlanSettings
from core.plots_replenish import frontier_figure, order_value_figure, risk_cover_figure
from core.replay import CLASSIC
from core.replenish import FILL_RATE
from core.explain import explainable
from core.replay import parameters_per_series
from core.replenish_text import (PLANS_MADE, choices, editor_frame, filter_plan, headline,
                                 model_choices, money, percent, replay_defaults, replay_sentence,
                                 why_note)

TIMEOUT = 120
PAGE = "pages/replenishment.py"



def _snapshot() -> pd.DataFrame:
    """Stock of five of the six series (SKU-005 is missing), with a unit cost and a lead time."""
    keys = small_shop().groupby(["sku", "channel"]).size().reset_index()[["sku", "channel"]].head(5)
    return keys.assign(on_hand=[10, 2_000, 0, 5, 50], on_order=[0, 0, 20, 0, 0], lead_time_days=5,
                       unit_cost=[4.0, 2.5, 10.0, 1.0, 8.0])



def _with_snapshot(content: bytes | None = None, name: str = "stock.csv") -> AppTest:
    at = open_page(PAGE, TIMEOUT)
    content = _snapshot().to_csv(index=False).encode() if content is None else content
    return at.file_uploader(key="replen_upload").upload(name, content, "text/csv").run()


def _planned(model: str = "snaive") -> AppTest:
    at = _with_snapshot()
    at.selectbox(key="replen_model").set_value(model)
    return at.button(key="replen_make").click().run()


def _metrics(at: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in at.metric}


def _table_with(at: AppTest, column: str) -> pd.DataFrame:
    """The first table with ``column`` (read-only tables have no key in AppTest)."""
    return next(d.value for d in at.dataframe if column in d.value.columns and d.editing_mode == "read_only")


def _plan_table(at: AppTest) -> pd.DataFrame:
    return _table_with(at, "order_qty")


# --- the page ----------------------------------------------------------------------------------------------------

def test_without_a_dataset_the_page_points_to_the_data_page():
    at = open_page(PAGE, TIMEOUT)
    assert not at.exception
    assert at.title[0].value == "Replenishment"
    assert any("No dataset yet" in i.value and "reorder plan" in i.value for i in at.info)
    assert not at.get("file_uploader")


def test_an_uploaded_snapshot_becomes_a_plan_with_a_row_per_series(on_small):
    at = open_page(PAGE, TIMEOUT)
    assert not at.exception and not at.error
    assert any("Upload your inventory snapshot" in i.value for i in at.info)
    assert not at.get("button") or "replen_demo" not in [b.key for b in at.button]  # not the demo shop

    at = _with_snapshot()
    assert not at.exception and not at.error
    assert list(at.data_editor[0].value["sku"]) == list(_snapshot()["sku"])
    assert any("press **Make the plan**" in i.value for i in at.info)

    at.selectbox(key="replen_model").set_value("snaive")
    at.button(key="replen_make").click().run()
    assert not at.exception and not at.error
    table = _plan_table(at)
    assert len(table) == 6 and set(table["sku"]) == set(small_shop()["sku"])
    missing = table.loc[table["sku"] == "SKU-005"].iloc[0]
    assert missing["status"] == "not in the inventory snapshot" and missing["order_qty"] == 0
    assert table.loc[table["sku"] == "SKU-001", "status"].iloc[0] != ORDER_NOW  # 2,000 on hand is plenty
    assert (table["order_qty"] >= 0).all()
    metrics = _metrics(at)
    assert metrics["Orders"] == str(int((table["order_qty"] > 0).sum()))
    assert metrics["Order value"] == money(float((table["order_qty"] * table["unit_cost"]).sum()))
    assert "Expected cycle service level" in metrics
    assert len(at.get("plotly_chart")) == 2
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Download the plan (XLSX)" in labels and "Download the plan (CSV)" in labels
    (made,) = at.session_state[PLANS_MADE].values()
    assert made.startswith(f"{metrics['Orders']} orders worth {metrics['Order value']}, ")


def test_what_if_on_service_level_and_budget_changes_the_numbers_without_forecasting_again(on_small, monkeypatch):
    at = _planned()
    before = _metrics(at)

    def refuse(*args, **kwargs):
        raise AssertionError("the what-if fitted a model again")

    monkeypatch.setattr("core.models.make_model", refuse)
    at.select_slider(key="replen_whatif_level").set_value(0.995).run()
    assert not at.exception and not at.error
    higher = _metrics(at)
    assert float(higher["Expected cycle service level"].rstrip("%")) >= 99.5
    assert float(higher["Units to order"].replace(",", "")) > float(before["Units to order"].replace(",", ""))
    assert set(_plan_table(at)["service_level"].dropna()) == {0.995}

    at.number_input(key="replen_budget").set_value(50.0).run()
    assert not at.exception and not at.error
    budget = _metrics(at)
    assert budget["Units to order"] == higher["Units to order"]  # the unconstrained plan stays
    spent = float(budget["Spent of the budget"].split(" of ")[0].replace(",", ""))
    assert 0 < spent <= 50 and budget["Spent of the budget"].endswith("of 50.00")
    assert "Expected cycle service level reached" in budget
    assert any(e.label.startswith("Priority list under the budget") for e in at.expander)

    at.multiselect(key="replen_filter_abc_class").set_value(["A"]).run()
    shown = _plan_table(at)
    assert set(shown["abc_class"]) == {"A"} and len(shown) < 6


def test_edits_in_the_table_are_checked_and_used(on_small):
    at = _planned()
    editor = at.data_editor[0].key
    at.session_state[editor] = {"edited_rows": {2: {"on_hand": -30}}, "added_rows": [], "deleted_rows": []}
    at.run()
    assert not at.exception and not at.error
    assert any("1 snapshot row(s) were left out or changed" in w.value for w in at.warning)
    assert any("The snapshot changed since this plan was made" in i.value for i in at.info)
    at.button(key="replen_make").click().run()
    assert not any("The snapshot changed" in i.value for i in at.info)
    row = _plan_table(at).set_index("sku").loc["SKU-002"]
    assert row["on_hand"] == 0 and row["backorders"] == 30  # negative stock read as owed to customers


def test_a_bad_snapshot_file_is_explained_without_a_traceback(on_small):
    at = _with_snapshot(b"item,qty\nA,1\n", "stock.csv")
    assert not at.exception
    assert len(at.error) == 1 and "No column for the required field(s) 'on_hand'" in at.error[0].value
    assert not at.data_editor
    at = _with_snapshot(b"\x00\x01\x02 not a table", "stock.xlsx")
    assert not at.exception and len(at.error) == 1


def test_a_template_can_be_filled_in(on_small):
    at = open_page(PAGE, TIMEOUT)
    at.button(key="replen_template").click().run()
    assert not at.exception and not at.error
    template = at.data_editor[0].value
    assert len(template) == 6 and (template["on_hand"] == 0).all() and template["lead_time_days"].isna().all()
    at.selectbox(key="replen_model").set_value("snaive")
    at.button(key="replen_make").click().run()
    assert not at.exception and not at.error
    assert (_plan_table(at)["status"] == ORDER_NOW).all()  # nothing in stock


def test_the_why_column_is_offered_for_explainable_models_only(on_small, monkeypatch):
    at = _planned()
    why = at.checkbox(key="replen_why")
    assert why.disabled and "LightGBM or the transformer" in why.help

    explained = []

    def explain(frame, freq, model, h, ids=None, **kwargs):  # the explainer itself is tested in test_explain*
        explained.append((model, h, ids))
        return ids

    monkeypatch.setattr("core.explain.explain_frame", explain)
    monkeypatch.setattr("core.explain.top_drivers", lambda ids: pd.DataFrame({schema.UNIQUE_ID: ids, "why": "promo"}))
    at = _planned("tsfm")
    assert not at.checkbox(key="replen_why").disabled
    at.checkbox(key="replen_why").check().run()
    assert not at.exception and not at.error
    orders = _plan_table(at).query("order_qty > 0")["unique_id"]
    assert [(model, sorted(ids)) for model, _, ids in explained] == [("tsfm", sorted(orders))]


def test_the_replay_draws_the_frontier_and_names_the_leanest_policy(on_small):
    at = _planned()
    at.multiselect(key="replen_replay_models").set_value(["snaive"])
    at.number_input(key="replen_replay_periods").set_value(28)
    at.button(key="replen_replay_run").click().run()
    assert not at.exception and not at.error
    frontier = json.loads(at.get("plotly_chart")[-1].proto.spec)
    assert frontier["data"][0]["name"] == "Seasonal naive"
    assert len(frontier["data"]) == 2 and all(trace["text"] == ["90%", "95%", "98%"]
                                                       for trace in frontier["data"])
    assert any("with the least stock" in m.value or "No policy reached" in m.value for m in at.markdown)
    summary = _table_with(at, "policy")
    assert len(summary) == 6 and set(summary["service_level"]) == {0.9, 0.95, 0.98}


def test_home_ticks_the_plan_step_once_a_plan_was_made(on_small):
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=TIMEOUT).run()
    assert any("**3. Plan** — make a reorder plan" in m.value for m in at.markdown)
    dataset = at.session_state["sidebar_dataset"]
    at.session_state[PLANS_MADE] = {dataset: "3 orders worth 1,200"}
    at.run()
    assert any(":material/check_circle: **3. Plan** — made in this session: 3 orders worth 1,200" in m.value
               for m in at.markdown)


# --- words, views and figures ----------------------------------------------------------------------------------------

def _table() -> pd.DataFrame:
    return pd.DataFrame({
        schema.UNIQUE_ID: ["a | app", "b | app", "c | jd", "d | jd"], "sku": list("abcd"),
        "channel": ["app", "app", "jd", "jd"], "category": ["x", "y", "x", ""], "abc_class": ["B", "A", "C", "A"],
        "status": [ORDER_NOW, "enough stock", ORDER_NOW, "not in the inventory snapshot"],
        "order_qty": [10.0, 0.0, 5.0, 0.0], "order_value": [100.0, 0.0, 25.0, np.nan],
        "days_of_cover": [2.0, 400.0, 1.0, np.nan], "stockout_risk": [0.6, 0.0, 0.9, np.nan],
    })


def test_filters_and_choices():
    table = _table()
    assert choices(table, "abc_class") == ["A", "B", "C"]
    assert choices(table, "status")[0] == ORDER_NOW
    assert choices(table, "location") == []
    assert list(filter_plan(table, {"abc_class": ["A"], "channel": []})["sku"]) == ["b", "d"]
    assert list(filter_plan(table, {"status": [ORDER_NOW], "category": ["x"]})["sku"]) == ["a", "c"]


def test_words():
    assert money(1_074_275.94) == "1,074,276" and money(12.5) == "12.50" and money(float("nan")) == "–"
    assert percent(0.98125) == "98.1%" and percent(float("nan")) == "–"
    assert list(model_choices()) == ["tsfm", "ets", "snaive", "tsb", "lgbm"]
    tuned = model_choices("tsfm@spring")
    assert next(iter(tuned)) == "tsfm@spring" and tuned["tsfm@spring"] == "Fine-tuned transformer (spring)"
    assert replay_defaults("tsfm@spring") == ["snaive", "ets", "tsfm", "tsfm@spring"]
    assert explainable("lgbm") and explainable("tsfm@spring") and not explainable("ets")


def test_headline_and_why_note():
    table = _table().assign(unit_cost=10.0)
    plan = Plan(table=table, forecast=pd.DataFrame(), parameters=pd.DataFrame(), issues=pd.DataFrame(),
                priority=pd.DataFrame(), settings=PlanSettings(target=FILL_RATE, budget=50.0), model="lgbm",
                summary={"orders": 2, "units": 15.0, "order_value": 125.0, "expected_service_level": 0.9,
                         "expected_fill_rate": 0.97, "rows": 4, "planned": 3, "unpriced_orders": 0, "budget": 50.0,
                         "budget_orders": 1, "budget_units": 5.0, "budget_order_value": 50.0,
                         "budget_expected_service_level": 0.5, "budget_expected_fill_rate": 0.8})
    numbers = headline(plan)
    assert numbers["service_label"] == "Expected fill rate" and numbers["service"] == "97.0%"
    assert numbers["budget_service"] == "80.0%" and numbers["planned"] == "3 of 4"
    sales = pd.DataFrame({schema.UNIQUE_ID: ["a | app", "b | app", "c | jd", "d | jd"]})
    assert why_note(plan, sales) == ""
    per_sku = pd.DataFrame({schema.UNIQUE_ID: ["a | app | north"]})
    assert "left out" in why_note(plan, per_sku)
    plan.model = "snaive"
    assert "Seasonal naive" in why_note(plan, sales)


def test_a_snapshot_per_sku_gives_its_parameters_to_every_channel():
    sales = pd.DataFrame({schema.UNIQUE_ID: ["a | app", "a | jd", "b | app"], "sku": ["a", "a", "b"],
                          "channel": ["app", "jd", "app"], schema.DS: pd.Timestamp("2025-01-01"), schema.Y: 1.0})
    snapshot = pd.DataFrame({"sku": ["a", "b"], "on_hand": [1.0, 2.0], "lead_time_days": [3.0, np.nan],
                             "moq": [np.nan, np.nan], "unit_cost": [2.0, 5.0]})
    parameters = parameters_per_series(sales, snapshot)
    assert list(parameters.columns) == [schema.UNIQUE_ID, "lead_time_days", "unit_cost"]  # blank moq: defaults
    assert list(parameters["unit_cost"]) == [2.0, 2.0, 5.0]
    assert list(editor_frame(snapshot.assign(unique_id="x")).columns) == ["sku", "on_hand", "lead_time_days", "moq",
                                                                         "unit_cost"]


def _summary() -> pd.DataFrame:
    rows = []
    for model, label, stock, service in (("ets", "ETS", 100.0, (0.91, 0.96, 0.985)),
                                         (CLASSIC, "Classic", 150.0, (0.90, 0.94, 0.97))):
        for k, level in enumerate((0.90, 0.95, 0.98)):
            rows.append({"model": model, "label": label, "target": "cycle service level", "service_level": level,
                         "cycle_service_level": service[k], "fill_rate": 0.99, "avg_stock_value": stock * (1 + k),
                         "avg_stock_units": 10.0, "stockout_days": 3 - k, "lost_units": 5.0, "orders": 4,
                         "units_ordered": 40.0})
    return pd.DataFrame(rows)


def test_the_replay_sentence_names_the_leanest_policy_that_reaches_the_target():
    summary = _summary()
    sentence = replay_sentence(summary, 0.95)
    assert sentence.startswith("**ETS** reaches a 95% cycle service level with the least stock: 96.0% achieved")
    assert "The classic policy needs 450 to reach it: ETS holds 56% less." in sentence
    assert replay_sentence(summary, 0.99).startswith("No policy reached a 99% cycle service level in the replay; "
                                                     "the closest was ETS with 98.5%")


def test_figures():
    frontier = frontier_figure(_summary())
    assert [t.name for t in frontier.data] == ["ETS", "Classic"]
    assert frontier.data[1].line.dash == "dash" and list(frontier.data[0].text) == ["90%", "95%", "98%"]
    assert list(frontier.data[0].x) == [100.0, 200.0, 300.0]
    risk = risk_cover_figure(_table())
    assert {t.name for t in risk.data} == {ORDER_NOW, "enough stock"}
    assert max(max(t.x) for t in risk.data) == 120  # 400 days of cover drawn at the cap
    value = order_value_figure(_table(), "category")
    assert [t.name for t in value.data] == ["class B", "class C"] and list(value.data[0].x) == ["x"]


def test_the_replay_caption_counts_the_fits_and_warns_of_slow_models():
    from core.replenish_text import replay_models_text

    text = replay_models_text(["snaive", "lgbm"], 90, 7, schema.DAILY)
    assert text.startswith("Each model is fitted 13 times, every 7 daily periods")
    assert "LightGBM global model is slow here" in text
    assert "slow" not in replay_models_text(["ets"], 28, 7, schema.DAILY)


def test_page_helpers_pick_filters_orders_to_explain_and_replay_defaults():
    from core.plan import PlanSettings
    from core.replenish_text import chart_group, orders_to_explain, plan_filters, replay_config_defaults

    table = pd.DataFrame({schema.UNIQUE_ID: ["a", "b", "c"], "status": ["order now", "order now", "enough stock"],
                          "abc_class": ["A", "B", "C"], "category": ["", "", ""], "order_qty": [5.0, 9.0, 0.0],
                          "order_value": [50.0, 20.0, 0.0]})
    assert list(plan_filters(table)) == ["status", "abc_class"]  # blank categories offer no filter
    assert chart_group(table) == "abc_class"
    assert orders_to_explain(table, 1) == ("a",) and orders_to_explain(table, 5) == ("a", "b")
    defaults = replay_config_defaults(PlanSettings(lead_time_days=9, case_pack=6, holding_cost_rate=0.3))
    assert defaults["default_lead_time_days"] == 9 and defaults["default_case_pack"] == 6
    assert defaults["default_holding_cost_rate"] == 0.3
