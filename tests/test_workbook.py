"""The planner's Excel download: formatted, readable back, and no uploaded text ever becomes a formula."""

from __future__ import annotations

from io import BytesIO

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from core.workbook import (
    MAX_CELL_CHARS,
    MAX_WIDTH,
    MIN_WIDTH,
    Sheet,
    column_kind,
    write_workbook,
)

FORMULA_LIKE = ["=1+1", "+cmd|' /C calc'!A0", "@SUM(A1)", "-2+3", '=HYPERLINK("http://x","y")', "\t=1", "_x0041_"]


def _plan(rows: int = 3) -> pd.DataFrame:
    return pd.DataFrame({
        "sku": [f"SKU-{i}" for i in range(rows)],
        "next_order": pd.date_range("2025-01-06", periods=rows, freq="D"),
        "order_units": pd.array(range(rows), dtype="Int64"),
        "order_value": np.linspace(10.5, 20.25, rows),
        "service_level": np.full(rows, 0.95),
        "days_of_cover": np.full(rows, 12.5),
        "forecast": np.full(rows, 3.25),
        "in_stock": [True, False, True][:rows],
    })


def _book(*sheets: Sheet):
    return load_workbook(BytesIO(write_workbook(sheets)))


def _all_cells(book):
    return [cell for ws in book.worksheets for row in ws.iter_rows() for cell in row]


@pytest.mark.parametrize(("name", "values", "kind"), [
    ("ds", pd.Series(pd.to_datetime(["2025-01-01"])), "date"),
    ("units", pd.Series([1, None], dtype="Int64"), "int"),
    ("units", pd.Series([1, 2]), "int"),
    ("stock_value", pd.Series([1.5]), "money"), ("unit_cost", pd.Series([1.5]), "money"),
    ("budget", pd.Series([1.5]), "money"), ("fill_rate", pd.Series([0.9]), "percent"),
    ("service_level", pd.Series([0.9]), "percent"), ("stockout_risk", pd.Series([0.1]), "percent"),
    ("holding_cost_rate", pd.Series([0.2]), "percent"), ("category_share", pd.Series([0.2]), "percent"),
    ("lead_time_days", pd.Series([3.5]), "days"), ("days_of_cover", pd.Series([3.5]), "days"),
    ("generated_units", pd.Series([1.5]), "number"), ("sku", pd.Series(["A"]), "text"),
    ("promo", pd.Series([True]), "text"), ("mixed", pd.Series(["a", 1], dtype=object), "text"),
])
def test_column_kind_from_dtype_and_name(name, values, kind):
    assert column_kind(name, values) == kind


def test_sheets_headers_values_and_number_formats():
    book = _book(Sheet("Reorder plan", _plan(), title="What to order this week"), Sheet("Forecast", _plan(2)[["forecast"]]))
    assert book.sheetnames == ["Reorder plan", "Forecast"]
    ws = book["Reorder plan"]
    assert [c.value for c in ws[1]] == list(_plan().columns)
    assert all(c.font.b for c in ws[1]) and ws["A1"].fill.fgColor.rgb.endswith("DCE6F1")
    assert ws["A1"].comment.text == "What to order this week"
    row = {h.value: c for h, c in zip(ws[1], ws[3])}
    assert row["sku"].value == "SKU-1" and row["sku"].data_type == "s"
    assert row["next_order"].value == pd.Timestamp("2025-01-07") and row["next_order"].number_format == "yyyy-mm-dd"
    assert row["order_units"].value == 1 and row["order_units"].number_format == "#,##0"
    assert row["order_value"].value == pytest.approx(15.375) and row["order_value"].number_format == "#,##0.00"
    assert row["service_level"].value == pytest.approx(0.95) and row["service_level"].number_format == "0.0%"
    assert row["days_of_cover"].number_format == "0.0" and row["forecast"].number_format == "#,##0.00"
    assert row["in_stock"].value == "no"
    assert ws.freeze_panes == "B2" and book["Forecast"].freeze_panes == "A2"
    assert ws.auto_filter.ref == "A1:H4"
    widths = [ws.column_dimensions[c].width for c in "ABCDEFGH"]
    assert all(MIN_WIDTH <= w <= MAX_WIDTH + 1 for w in widths)


def test_formats_and_widths_can_be_overridden():
    frame = pd.DataFrame({"margin": [0.25], "code": ["12"]})
    ws = _book(Sheet("S", frame, formats={"margin": "percent", "code": "int"}, widths={"code": 30}))["S"]
    assert ws["A2"].number_format == "0.0%" and ws["B2"].value == 12 and ws.column_dimensions["B"].width == pytest.approx(30, abs=1)


def test_forced_numeric_kind_keeps_text_that_is_not_a_number():
    ws = _book(Sheet("S", pd.DataFrame({"code": ["12", "n/a"]}), formats={"code": "money"}))["S"]
    assert [ws["A2"].value, ws["A3"].value] == ["12", "n/a"]


@pytest.mark.parametrize("text", FORMULA_LIKE)
def test_formula_like_text_stays_verbatim_text(text):
    book = _book(Sheet("S", pd.DataFrame({"sku": [text], text: [1]})))
    cell, header = book["S"]["A2"], book["S"]["B1"]
    assert cell.data_type == "s" and cell.value == text and header.data_type == "s" and header.value == text
    if text.startswith(("=", "+", "-", "@", "\t")):
        assert cell.quotePrefix and header.quotePrefix
    assert not any(c.data_type == "f" for c in _all_cells(book))


def test_no_formula_anywhere_and_pandas_reads_it_back():
    frame = pd.DataFrame({"sku": FORMULA_LIKE, "units": range(len(FORMULA_LIKE))})
    data = write_workbook([Sheet("Plan", frame), Sheet("Forecast", _plan())])
    assert not any(c.data_type == "f" for c in _all_cells(load_workbook(BytesIO(data))))
    back = pd.read_excel(BytesIO(data), sheet_name=None)
    assert list(back) == ["Plan", "Forecast"]
    assert back["Plan"]["sku"].tolist() == FORMULA_LIKE and back["Plan"]["units"].tolist() == list(range(7))
    assert back["Forecast"]["next_order"].tolist() == _plan()["next_order"].tolist()


def test_long_text_is_cut_and_width_is_capped():
    ws = _book(Sheet("S", pd.DataFrame({"name": ["x" * 40_000, "ok"]})))["S"]
    assert len(ws["A2"].value) == MAX_CELL_CHARS and ws["A2"].value.endswith("…")
    assert ws.column_dimensions["A"].width == pytest.approx(MAX_WIDTH, abs=1)


def test_control_characters_and_chinese_text():
    frame = pd.DataFrame({"商品": ["鞋子\x00\x07x\x1f", "line1\nline2\tend", "\ud800bad"]}, dtype=object)
    ws = _book(Sheet("中文", frame))["中文"]
    assert ws["A1"].value == "商品"
    assert [ws["A2"].value, ws["A3"].value, ws["A4"].value] == ["鞋子\ufffd\ufffdx\ufffd", "line1\nline2\tend", "\ufffdbad"]


def test_missing_and_infinite_values_are_empty_cells():
    frame = pd.DataFrame({"sku": ["a", None, ""], "units": pd.array([1, None, 2], dtype="Int64"),
                          "forecast": [np.inf, np.nan, -np.inf], "ds": pd.to_datetime(["2025-01-01", None, None])})
    ws = _book(Sheet("S", frame))["S"]
    assert [[c.value for c in row] for row in ws.iter_rows(min_row=2)] == [
        ["a", 1, None, pd.Timestamp("2025-01-01")], [None, None, None, None], [None, 2, None, None]]


def test_empty_frames():
    book = _book(Sheet("Empty", _plan().iloc[:0]), Sheet("Nothing", pd.DataFrame()))
    assert [c.value for c in book["Empty"][1]] == list(_plan().columns) and book["Empty"].max_row == 1
    assert book["Nothing"]["A1"].value == "(nothing to show)"
    back = pd.read_excel(BytesIO(write_workbook([Sheet("Empty", _plan().iloc[:0])])))
    assert back.empty and list(back.columns) == list(_plan().columns)


@pytest.mark.parametrize(("name", "message"), [
    ("", "empty"), ("x" * 32, "at most 31"), ("a/b", "forbids"), ("Plan [v2]", "forbids"), ("a:b?", "forbids"),
    ("'quoted'", "apostrophe"),
])
def test_invalid_sheet_names_raise(name, message):
    with pytest.raises(ValueError, match=message):
        Sheet(name, _plan())


def test_other_user_errors_raise():
    with pytest.raises(ValueError, match="unknown column format"):
        Sheet("S", _plan(), formats={"sku": "currency"})
    with pytest.raises(ValueError, match="clash"):
        write_workbook([Sheet("Plan", _plan()), Sheet("PLAN", _plan())])
    with pytest.raises(ValueError, match="at least one"):
        write_workbook([])
