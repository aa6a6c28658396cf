"""The reorder plan (core.plan), its workbook and CSV (core.plan_export) and ``python -m core plan``."""

from __future__ import annotations

from io import BytesIO

import numpy as np
import openpyxl
import pandas as pd
import pytest

from core import schema
from core.cli import main
from core.data.synthetic import generate_series
from core.data.validate import load_sales
from core.inventory import load_inventory
from core.plan import (
    NEW_ITEM,
    NO_DEMAND,
    NOT_IN_SNAPSHOT,
    ORDER_NOW,
    STOCK_UNKNOWN,
    PlanError,
    PlanSettings,
    build_plan,
    default_model,
    prepare_plan,
)
from core.plan_export import FORECAST_SHEET, ISSUES_SHEET, PARAMETERS_SHEET, PLAN_SHEET, plan_csv, plan_workbook

FORMULA_SKU = '=HYPERLINK("http://evil.example","click")'


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> dict:
    """Five SKUs on two channels for 200 days (one never sells), a snapshot and their files."""
    folder = tmp_path_factory.mktemp("shop")
    sales = generate_series(5, 200, seed=3)
    sales["channel"] = np.where(np.arange(len(sales)) % 2 == 0, "app", "web")
    sales = sales.groupby(["date", "sku", "channel"], as_index=False).agg(
        units=("units", "sum"), price=("price", "mean"), promo=("promo", "max"))
    skus = sorted(sales["sku"].unique())
    sales.loc[sales["sku"] == skus[0], "units"] = 0  # never sold
    sales["sku"] = sales["sku"].replace({skus[1]: FORMULA_SKU})
    sales_path = folder / "sales.csv"
    sales.to_csv(sales_path, index=False)
    keys = sales[["sku", "channel"]].drop_duplicates().sort_values(["sku", "channel"]).reset_index(drop=True)
    snapshot = keys.assign(on_hand=20, on_order=0, lead_time_days=5, lead_time_sd_days=1, review_period_days=7,
                           service_level=0.95, moq=12, case_pack=6, unit_cost=4.5, order_cost=20)
    missing = f"{snapshot['sku'].iloc[0]} | {snapshot['channel'].iloc[0]}"
    snapshot = snapshot.iloc[1:]  # the first series is sold but not in the snapshot
    snapshot = pd.concat([snapshot, pd.DataFrame([{"sku": "NEW-1", "channel": "app", "on_hand": 0,
                                                   "case_pack": 1}])], ignore_index=True)
    snapshot.loc[snapshot.index[-2], "on_hand"] = np.nan  # stock not known
    snapshot_path = folder / "inventory.csv"
    snapshot.to_csv(snapshot_path, index=False)
    frame = load_sales(sales_path).frame
    return {"frame": frame, "inventory": load_inventory(snapshot_path), "sales_path": sales_path,
            "snapshot_path": snapshot_path, "skus": skus, "missing": missing}


@pytest.fixture(scope="module")
def inputs(shop):
    return prepare_plan(shop["frame"], "D", shop["inventory"].frame, model="ets", known_future=("promo", "price"),
                        settings=PlanSettings(n_samples=300))


def test_every_row_gets_a_status_and_unplanned_rows_are_explained(shop, inputs):
    plan = build_plan(inputs)
    table = plan.table.set_index(schema.UNIQUE_ID)
    keys = set(shop["frame"][schema.UNIQUE_ID]) | {"NEW-1 | app"}
    assert set(table.index) == keys
    assert table.loc[shop["missing"], "status"] == NOT_IN_SNAPSHOT
    assert table.loc["NEW-1 | app", "status"] == NEW_ITEM
    assert (table["status"] == STOCK_UNKNOWN).sum() == 1
    for status in (NOT_IN_SNAPSHOT, NEW_ITEM, STOCK_UNKNOWN):
        assert (table.loc[table["status"] == status, "order_qty"] == 0).all()
    never_sold = f"{shop['skus'][0]} | web"
    assert table.loc[never_sold, "status"] == NO_DEMAND
    assert table.loc[never_sold, "reorder_point"] == 0
    problems = plan.issues["problem"].str.cat(sep=" ")
    assert "not in the inventory snapshot" in problems and "never in the sales history" in problems


def test_orders_follow_the_policy(inputs):
    plan = build_plan(inputs)
    table = plan.table
    ordered = table[table["status"] == ORDER_NOW]
    assert len(ordered) >= 1
    assert (ordered["order_qty"] % 6 == 0).all() and (ordered["order_qty"] >= 12).all()
    assert (ordered["inventory_position"] < ordered["reorder_point"]).all()
    planned = table[table["reorder_point"].notna()]
    np.testing.assert_allclose(planned["safety_stock"], planned["reorder_point"] - planned["protection_demand"])
    assert (planned["order_up_to"] >= planned["reorder_point"]).all()
    selling = planned["mean_daily_demand"] > 0
    assert (planned.loc[selling, "eoq"] > 0).all()  # order costs and unit costs given
    assert planned["stockout_risk"].between(0, 1).all()
    assert table.loc[table["status"] == ORDER_NOW].index.max() < table.loc[table["status"] != ORDER_NOW].index.min()
    assert plan.summary["orders"] == len(ordered)
    np.testing.assert_allclose(plan.summary["order_value"], (ordered["order_qty"] * 4.5).sum())


def test_service_level_what_if_orders_more_for_a_higher_target_without_forecasting_again(inputs):
    low = build_plan(inputs, PlanSettings(service_level=0.8)).table.set_index(schema.UNIQUE_ID)
    high = build_plan(inputs, PlanSettings(service_level=0.99)).table.set_index(schema.UNIQUE_ID)
    planned = low["reorder_point"].notna()
    assert (high.loc[planned, "reorder_point"] >= low.loc[planned, "reorder_point"]).all()
    assert (high.loc[planned, "order_qty"] >= low.loc[planned, "order_qty"]).all()
    assert (high.loc[planned, "service_level"] == 0.99).all()


def test_budget_caps_the_spend_and_lists_the_priorities(inputs):
    full = build_plan(inputs)
    budget = full.summary["order_value"] / 3
    capped = build_plan(inputs, PlanSettings(budget=budget))
    assert capped.summary["budget_order_value"] <= budget + 1e-9
    assert (capped.table["budget_order_qty"] <= capped.table["order_qty"]).all()
    assert capped.summary["budget_expected_service_level"] <= capped.summary["expected_service_level"]
    assert capped.priority["priority"].tolist() == list(range(1, len(capped.priority) + 1))
    assert set(capped.priority["within_budget"]) <= {"yes", "no"}


def test_class_levels_apply_where_the_snapshot_gives_none(inputs):
    plan = build_plan(inputs, PlanSettings(snapshot_levels=False, class_service_levels=(0.99, 0.9, 0.8)))
    levels = plan.table.dropna(subset=["reorder_point"]).set_index("abc_class")["service_level"]
    assert set(levels.groupby(level=0).first().to_dict().items()) <= {("A", 0.99), ("B", 0.9), ("C", 0.8)}
    assert (build_plan(inputs).table.dropna(subset=["reorder_point"])["service_level"] == 0.95).all()


def test_a_snapshot_per_sku_adds_up_the_channels_forecasts(shop):
    per_sku = shop["inventory"].frame.drop(columns=["channel"]).copy()
    per_sku[schema.UNIQUE_ID] = per_sku["sku"]
    both = prepare_plan(shop["frame"], "D", shop["inventory"].frame, model="snaive",
                        settings=PlanSettings(n_samples=100))
    merged = prepare_plan(shop["frame"], "D", per_sku, model="snaive", settings=PlanSettings(n_samples=100))
    assert set(merged.rows[schema.UNIQUE_ID]) == set(shop["frame"]["sku"]) | {"NEW-1"}
    assert any("added up" in note for note in merged.notes)
    sku = shop["skus"][2]
    channel_rows = both.rows[schema.UNIQUE_ID].str.startswith(sku + " |").to_numpy()
    row = merged.rows[schema.UNIQUE_ID].eq(sku).to_numpy()
    np.testing.assert_allclose(merged.paths[row].mean(), both.paths[channel_rows].sum(axis=0).mean(), rtol=1e-5)


def test_weekly_sales_plan_in_weeks(tmp_path):
    sales = generate_series(3, 80, freq="W", seed=1)
    path = tmp_path / "weekly.csv"
    sales.to_csv(path, index=False)
    frame = load_sales(path).frame
    snapshot = frame.groupby(schema.UNIQUE_ID, as_index=False)[["sku", "channel"]].first().assign(
        on_hand=0.0, lead_time_days=14.0, review_period_days=7.0)
    plan = build_plan(prepare_plan(frame, "W", snapshot, model="ets", settings=PlanSettings(n_samples=100)))
    table = plan.table
    assert (table["order_qty"] > 0).all()
    weekly_units = frame.groupby(schema.UNIQUE_ID)[schema.Y].mean()
    ratio = table.set_index(schema.UNIQUE_ID)["lead_time_demand"] / weekly_units.reindex(table[schema.UNIQUE_ID])
    assert ratio.between(1.0, 3.5).all()  # two weeks of demand
    steps = plan.forecast.groupby(schema.UNIQUE_ID)["date"].diff().dropna()
    assert (steps == pd.Timedelta(days=7)).all()


def test_bad_inputs_raise_plan_errors(shop):
    with pytest.raises(PlanError, match="no rows"):
        prepare_plan(shop["frame"], "D", shop["inventory"].frame.iloc[:0], model="snaive")
    with pytest.raises(PlanError, match="between 0 and 1"):
        PlanSettings(service_level=95)
    with pytest.raises(PlanError, match="budget"):
        PlanSettings(budget=-1)


def test_default_model_is_the_transformer_without_a_fine_tuned_version(tmp_path, monkeypatch):
    monkeypatch.setenv("STOCKPILOT_HOME", str(tmp_path / "ws"))
    assert default_model() == "tsfm"


def test_workbook_reads_back_with_the_sheets_values_and_no_formulas(inputs):
    plan = build_plan(inputs, PlanSettings(budget=100.0))
    why = pd.DataFrame({schema.UNIQUE_ID: plan.table[schema.UNIQUE_ID], "why": "=1+1 recent sales +3"})
    book = openpyxl.load_workbook(BytesIO(plan_workbook(plan, why)))
    assert book.sheetnames[0] == PLAN_SHEET
    assert {FORECAST_SHEET, PARAMETERS_SHEET, ISSUES_SHEET, "Priority list", "Why"} <= set(book.sheetnames)
    sheet = book[PLAN_SHEET]
    header = [cell.value for cell in sheet[1]]
    assert header[:3] == ["Series", "SKU", "Channel"] and "Order qty" in header and "Reorder point" in header
    assert sheet.freeze_panes in ("A2", "B2") and sheet.auto_filter.ref
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert len(rows) == len(plan.table)
    first = dict(zip(header, rows[0]))
    assert first["Series"] == plan.table[schema.UNIQUE_ID].iloc[0]
    assert first["Order qty"] == plan.table["order_qty"].iloc[0]
    for worksheet in book.worksheets:
        for row in worksheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"{worksheet.title}!{cell.coordinate} is a formula"
    skus = [cell.value for cell in sheet["B"][1:]]
    assert FORMULA_SKU in skus  # kept verbatim, as text
    assert sheet.cell(row=2 + skus.index(FORMULA_SKU), column=2).data_type == "s"


def test_csv_neutralises_formula_like_text(inputs):
    text = plan_csv(build_plan(inputs)).decode("utf-8-sig")
    assert "'" + FORMULA_SKU.replace('"', '""') in text
    assert text.splitlines()[0].startswith("Series,SKU,Channel")


def test_cli_writes_the_workbook_and_csv(shop, tmp_path, capsys):
    out, csv = tmp_path / "plan.xlsx", tmp_path / "plan.csv"
    code = main(["plan", str(shop["sales_path"]), "--inventory", str(shop["snapshot_path"]), "--out", str(out),
                 "--csv-out", str(csv), "--model", "snaive", "--samples", "100", "--budget", "500",
                 "--service-level", "97%"])
    assert code == 0
    err = capsys.readouterr().err
    assert "orders" in err and "Within the budget of 500.00" in err and "Data issues" in err
    table = pd.read_excel(out, sheet_name=PLAN_SHEET)
    assert (table.loc[table["Reorder point"].notna(), "Service level target"] == 0.97).all()
    assert pd.read_csv(csv)["Series"].nunique() == len(table)


def test_cli_explains_bad_snapshots_and_options(shop, tmp_path, capsys):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    args = ["plan", str(shop["sales_path"]), "--out", str(tmp_path / "p.xlsx"), "--model", "snaive"]
    assert main(args + ["--inventory", str(empty)]) == 2
    assert "empty" in capsys.readouterr().err
    no_stock = tmp_path / "no_stock.csv"
    no_stock.write_text("sku,lead_time_days\nA,5\n")
    assert main(args + ["--inventory", str(no_stock)]) == 2
    assert "on_hand" in capsys.readouterr().err
    assert main(args + ["--inventory", str(tmp_path / "missing.csv")]) == 2
    for bad in (["--service-level", "100"], ["--budget", "-5"], ["--class-levels", "90,80"],
                ["--inventory-columns", "stock"]):
        with pytest.raises(SystemExit) as stop:
            main(args + ["--inventory", str(shop["snapshot_path"])] + bad)
        assert stop.value.code == 64
    with pytest.raises(SystemExit) as stop:
        main(["plan", str(shop["sales_path"]), "--out", str(tmp_path / "p.xlsx")])
    assert stop.value.code == 64
    assert "--inventory" in capsys.readouterr().err


def test_a_snapshot_matching_no_sales_series_is_refused_with_examples(shop):
    other = shop["inventory"].frame.assign(sku="ZZ-" + shop["inventory"].frame["sku"])
    other[schema.UNIQUE_ID] = other["sku"] + " | " + other["channel"]
    with pytest.raises(PlanError, match="No row of the inventory snapshot matches.*spelled the same"):
        prepare_plan(shop["frame"], "D", other, model="snaive")
