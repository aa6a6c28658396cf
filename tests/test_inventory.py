"""Tests for the inventory snapshot loader (core.inventory): formats, header detection, every rule, every REJECT.

Files are built in ``tmp_path`` or as bytes; nothing needs the network or /work/shared.
"""

from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core import schema
from core.data import ValidationOptions, load_sales, readers
from core.errors import DataError
from core.inventory import (
    INVENTORY_FIELDS,
    ISSUE_COLUMNS,
    NUMERIC_FIELDS,
    InventoryError,
    InventoryResult,
    clean_inventory,
    detect_inventory_mapping,
    inventory_template,
    load_inventory,
)

DEMO = Path(__file__).resolve().parents[1] / "demo_data" / "inventory.csv"
HEADER = "sku,channel,on_hand,on_order,lead_time_days,service_level,moq,case_pack,unit_cost"
ROWS = ["A,app,10,5,7,0.95,10,12,3.50", "B,app,4,0,3,0.9,1,1,2.00", "C,web,0,20,14,0.98,24,12,7.98"]


def snapshot(*rows: str, header: str = HEADER) -> bytes:
    """A small snapshot CSV: the three valid rows, then ``rows`` (each a CSV line under ``header``)."""
    return ("\n".join([header, *(ROWS if header == HEADER else []), *rows]) + "\n").encode()


def issues_for(result: InventoryResult, field: str) -> pd.DataFrame:
    return result.issues[result.issues["field"] == field]


def row_of(result: InventoryResult, uid: str) -> pd.Series:
    return result.frame.set_index(schema.UNIQUE_ID).loc[uid]


def assert_contract(result: InventoryResult) -> None:
    """Invariants of every accepted snapshot."""
    frame = result.frame
    assert frame.columns[0] == schema.UNIQUE_ID and list(frame.columns[-len(NUMERIC_FIELDS):]) == list(NUMERIC_FIELDS)
    assert frame[schema.UNIQUE_ID].is_unique
    for name in NUMERIC_FIELDS:
        assert frame[name].dtype == np.float64
        assert not np.isinf(frame[name]).any()
    for name in ("on_hand", "on_order", "backorders"):
        assert (frame[name].dropna() >= 0).all()
    assert list(result.issues.columns) == list(ISSUE_COLUMNS)
    assert frame[[c for c in frame.columns if c not in NUMERIC_FIELDS]].map(lambda v: isinstance(v, str)).all().all()


# --- the demo file and the formats ------------------------------------------------------------------------------------


def test_demo_snapshot_reads_cleanly():
    result = load_inventory(DEMO)
    assert_contract(result)
    assert len(result.frame) == 146 and result.issues.empty
    assert result.key_fields == ("sku", "channel")
    first = row_of(result, "BEV-001 | app")
    assert (first["on_hand"], first["on_order"], first["service_level"], first["case_pack"]) == (73, 48, 0.95, 12)
    assert first["backorders"] == 0 and np.isnan(first["fill_rate"])
    assert result.mapping["lead_time_sd_days"] == "lead_time_sd_days" and "fill_rate" not in result.mapping
    assert any("No column for fill_rate" in n and "plan settings" in n for n in result.notes)
    assert any("No backorders column" in n for n in result.notes)


def test_keys_match_the_sales_unique_ids():
    keys = [("  A-1 ", "app"), ("B 2", ""), ('=HYPERLINK("x")', "web")]
    sales = pd.DataFrame([(f"2024-01-{day:02d}", sku, channel, 3) for sku, channel in keys for day in range(1, 15)],
                         columns=["date", "sku", "channel", "units"])
    loaded = load_sales(sales.to_csv(index=False).encode(), options=ValidationOptions(today=pd.Timestamp("2024-06-01")))
    stock = pd.DataFrame([(sku, channel, 5) for sku, channel in keys], columns=["sku", "channel", "on_hand"])
    result = load_inventory(stock.to_csv(index=False).encode())
    assert sorted(result.frame[schema.UNIQUE_ID]) == sorted(loaded.frame[schema.UNIQUE_ID].unique())


def test_path_bytes_and_file_object_read_alike(tmp_path):
    path = tmp_path / "stock.csv"
    path.write_bytes(snapshot())
    by_path = load_inventory(path).frame
    pd.testing.assert_frame_equal(by_path, load_inventory(snapshot(), "stock.csv").frame)
    pd.testing.assert_frame_equal(by_path, load_inventory(io.BytesIO(snapshot())).frame)


def test_gbk_chinese_headers_and_names(tmp_path):
    text = "商品编码,渠道,库存,在途,交期,服务水平,最小起订量,箱规,进价\n商品001,天猫,10,5,7,95,12,6,3.5\n商品002,京东,3,0,4,90,1,1,2\n"
    path = tmp_path / "库存.csv"
    path.write_bytes(text.encode("gbk"))
    result = load_inventory(path)
    assert_contract(result)
    assert list(result.frame[schema.UNIQUE_ID]) == ["商品001 | 天猫", "商品002 | 京东"]
    assert result.mapping == {"sku": "商品编码", "channel": "渠道", "on_hand": "库存", "on_order": "在途",
                              "lead_time_days": "交期", "service_level": "服务水平", "moq": "最小起订量",
                              "case_pack": "箱规", "unit_cost": "进价"}
    assert row_of(result, "商品001 | 天猫")["service_level"] == pytest.approx(0.95)
    assert any("GBK" in n for n in result.notes)
    assert any("'库存' as on_hand" in n for n in result.notes)


def test_semicolon_and_decimal_comma():
    data = "sku;on_hand;unit_cost;service_level;holding_cost_rate\nA;1.250;19,90;0,95;0,25\nB;3;7,5;0,9;0,25\n"
    result = load_inventory(data.encode(), "eu.csv")
    a = row_of(result, "A")
    assert (a["on_hand"], a["unit_cost"], a["service_level"]) == (1250, pytest.approx(19.9), pytest.approx(0.95))
    assert any("semicolon" in n for n in result.notes) and any("Decimal comma" in n for n in result.notes)
    assert result.issues.empty


def test_xlsx_gzip_utf16_and_bom(tmp_path):
    frame = pd.DataFrame({"SKU": ["A", "B"], "Stock on hand": [5, 7], "Lead time (days)": [3, 4]})
    path = tmp_path / "stock.xlsx"
    frame.to_excel(path, index=False, sheet_name="Bestand")
    for data in (path.read_bytes(), gzip.compress(snapshot()), "\ufeff".encode() + snapshot(),
                 snapshot().decode().encode("utf-16")):
        result = load_inventory(data)
        assert_contract(result)
        assert result.issues.empty and len(result.frame) in (2, 3)
    xlsx = load_inventory(path)
    assert xlsx.mapping == {"sku": "SKU", "on_hand": "Stock on hand", "lead_time_days": "Lead time (days)"}
    assert list(xlsx.frame["lead_time_days"]) == [3, 4]
    assert any("sheet 'Bestand'" in n for n in xlsx.notes)
    assert any("gzip" in n for n in load_inventory(gzip.compress(snapshot())).notes)


def test_extra_columns_are_ignored_with_a_note():
    header = HEADER + "," + ",".join(f"x{i}" for i in range(500))
    data = header + "\n" + "\n".join(r + "," + ",".join(["1"] * 500) for r in ROWS) + "\n"
    result = load_inventory(data.encode())
    assert len(result.frame) == 3 and result.issues.empty
    assert any("500 column(s) not used: 'x0'" in n and "and 492 more" in n for n in result.notes)


# --- header detection and the mapping override -----------------------------------------------------------------------


def test_header_synonyms():
    columns = ["Item Code", "Warehouse", "Category", "SOH", "In transit", "Backorder", "LeadTime", "Lead time SD",
               "Review period", "Service level %", "Fill rate", "Min order", "Pack size", "Unit cost",
               "Holding cost", "Order cost", "Selling price", "Date"]
    assert detect_inventory_mapping(columns) == {
        "sku": "Item Code", "location": "Warehouse", "category": "Category", "on_hand": "SOH",
        "on_order": "In transit", "backorders": "Backorder", "lead_time_days": "LeadTime",
        "lead_time_sd_days": "Lead time SD", "review_period_days": "Review period",
        "service_level": "Service level %", "fill_rate": "Fill rate", "moq": "Min order", "case_pack": "Pack size",
        "unit_cost": "Unit cost", "holding_cost_rate": "Holding cost", "order_cost": "Order cost",
    }
    chinese = ["货号", "仓库", "现有库存", "采购在途", "采购周期", "起订量", "装箱数", "成本", "订货成本", "持有成本率"]
    assert detect_inventory_mapping(chinese) == {
        "sku": "货号", "location": "仓库", "on_hand": "现有库存", "on_order": "采购在途", "lead_time_days": "采购周期",
        "moq": "起订量", "case_pack": "装箱数", "unit_cost": "成本", "holding_cost_rate": "持有成本率",
        "order_cost": "订货成本",
    }


def test_mapping_override_and_not_in_file():
    data = "code,qty,stock,lead\nA,5,9,3\nB,1,2,4\n"
    with pytest.raises(InventoryError, match=r"required field\(s\) 'sku'.*'code', 'qty', 'stock', 'lead'"):
        load_inventory(data.encode())
    result = load_inventory(data.encode(), mapping={"sku": "code", "on_hand": "qty", "lead_time_days": "lead"})
    assert result.mapping == {"sku": "code", "on_hand": "qty", "lead_time_days": "lead"}
    assert list(result.frame["on_hand"]) == [5, 1] and list(result.frame["lead_time_days"]) == [3, 4]
    assert any("'stock'" in n and "not used" in n for n in result.notes)
    without = load_inventory(snapshot(), mapping={"channel": "", "moq": ""})
    assert "channel" not in without.mapping and without.key_fields == ("sku",)
    assert without.frame["moq"].isna().all()
    with pytest.raises(InventoryError, match="column 'nope' chosen for on_hand is not in the file"):
        load_inventory(data.encode(), mapping={"sku": "code", "on_hand": "nope"})
    with pytest.raises(InventoryError, match="Unknown field.*units"):
        load_inventory(data.encode(), mapping={"units": "qty"})
    with pytest.raises(InventoryError, match="'qty' is chosen for more than one field"):
        load_inventory(data.encode(), mapping={"sku": "code", "on_hand": "qty", "on_order": "qty"})


# --- REJECT -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty"),
        (b"  \n\n", "The file is empty"),
        (HEADER.encode() + b"\n", r"header but no data rows \(columns: 'sku', 'channel', 'on_hand'"),
        (b"channel,on_hand\napp,5\n", r"required field\(s\) 'sku'\. Columns found: 'channel', 'on_hand'"),
        (b"sku,channel,price\nA,app,5\n", r"required field\(s\) 'on_hand'\. Columns found: 'sku', 'channel', 'price'"),
        (bytes(range(256)) * 40, "not a readable text table"),
        (b"PK\x03\x04" + b"\x00" * 200, "damaged Excel"),
        (b"sku,on_hand\nA,n/a\nB,abc\n", "The on_hand column has no numbers.*'n/a', 'abc'"),
        (b"sku,on_hand\n,5\n  ,6\n", "No usable rows remain"),
    ],
    ids=["empty", "blank", "header_only", "no_sku", "no_on_hand", "binary", "xlsx_named_csv", "no_numbers", "no_skus"],
)
def test_reject(data, message):
    with pytest.raises(InventoryError, match=message):
        load_inventory(data, "upload.csv")


def test_a_sales_history_is_not_a_snapshot():
    history = "date,sku,on_hand\n" + "".join(f"2024-01-0{d},{s},{d}\n" for d in range(1, 8) for s in "AB")
    with pytest.raises(InventoryError, match=r"history, not a snapshot.*'date'.*14 rows for 2 SKUs"):
        load_inventory(history.encode())
    dated = load_inventory(b"date,sku,on_hand\n2024-01-31,A,1\n2024-01-31,B,2\n")  # a snapshot date is fine
    assert len(dated.frame) == 2 and any("'date'" in n and "not used" in n for n in dated.notes)


def test_reject_messages_speak_of_the_snapshot_and_are_data_errors(monkeypatch):
    with pytest.raises(DataError, match="Export the inventory snapshot again"):
        load_inventory(b"", "empty.csv")
    monkeypatch.setattr(readers, "MAX_UPLOAD_BYTES", 10)
    with pytest.raises(InventoryError, match="the limit is"):
        load_inventory(snapshot())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("stock.csv", snapshot())
    monkeypatch.undo()
    with pytest.raises(InventoryError, match="zip archive, not an inventory snapshot"):
        load_inventory(buffer.getvalue(), "stock.csv")


# --- keys -------------------------------------------------------------------------------------------------------------


def test_sku_text_kept_verbatim_and_blank_skus_dropped():
    long_sku = "L" * 20_000
    data = snapshot('"=HYPERLINK(""http://evil"",""x"")",app,1,0,1,0.9,1,1,1', f"{long_sku},app,2,0,1,0.9,1,1,1",
                    '"line one\nline two",app,3,0,1,0.9,1,1,1', ",app,4,0,1,0.9,1,1,1", "  D  ,app,5,0,1,0.9,1,1,1")
    result = load_inventory(data)
    assert_contract(result)
    skus = set(result.frame["sku"])
    assert {'=HYPERLINK("http://evil","x")', long_sku, "line one\nline two", "D"} <= skus
    dropped = issues_for(result, "sku")  # rows count records, as a spreadsheet shows them
    assert list(dropped["row"]) == [8] and dropped["action"].iloc[0] == "left out"
    assert "No SKU: 1 row left out." in result.notes
    assert any("longer than 200 characters" in n for n in result.notes)


def test_blank_channel_grouped_like_sales_and_totals_left_out():
    result = load_inventory(snapshot("E,,1,0,1,0.9,1,1,1", "合计,,99,0,,,,,"))
    assert "E | (blank)" in set(result.frame[schema.UNIQUE_ID])
    blank = issues_for(result, "channel")
    assert list(blank["row"]) == [5] and blank["action"].iloc[0] == "grouped under '(blank)'"
    total = result.issues[result.issues["problem"].str.contains("totals row")]
    assert list(total["row"]) == [6] and "on_hand=99" in total["value"].iloc[0]
    assert "合计" not in set(result.frame["sku"])


def test_lines_with_too_many_cells_are_listed_not_shifted():
    result = load_inventory(snapshot("Tea, green,app,5,0,1,0.9,1,1,1"))
    assert len(result.frame) == 3
    bad = result.issues[result.issues["problem"] == "more cells than the header"]
    assert list(bad["row"]) == [5] and bad["value"].iloc[0].startswith("Tea, green,app,5")
    assert any("more cells than the header" in n for n in result.notes)


# --- numbers ----------------------------------------------------------------------------------------------------------


def test_thousands_separators_and_units_in_numbers():
    result = load_inventory(snapshot('D,app,"1,200",12 pcs,7 days,0.9,1,1,"$1,299.50"'))
    d = row_of(result, "D | app")
    assert (d["on_hand"], d["on_order"], d["lead_time_days"], d["unit_cost"]) == (1200, 12, 7, 1299.5)
    with_unit = result.issues[result.issues["problem"].str.contains("followed by a unit")]
    assert set(with_unit["field"]) == {"on_order", "lead_time_days"} and set(with_unit["value"]) == {"12 pcs", "7 days"}


def test_non_numeric_infinite_and_absurd_values_become_empty():
    result = load_inventory(snapshot("D,app,abc,1,inf,0.9,1e308,1,-inf", "E,app,5,2e12,1,0.9,1,1,N/A"))
    assert_contract(result)
    d, e = row_of(result, "D | app"), row_of(result, "E | app")
    assert np.isnan(d["on_hand"]) and np.isnan(d["lead_time_days"]) and np.isnan(d["moq"]) and np.isnan(d["unit_cost"])
    assert np.isnan(e["on_order"])  # unreadable, not "nothing on order"
    bad = result.issues[result.issues["action"] == "left empty"]
    assert set(zip(bad["row"], bad["field"], bad["value"])) >= {
        (5, "on_hand", "abc"), (5, "lead_time_days", "inf"), (5, "moq", "1e308"), (5, "unit_cost", "-inf"),
        (6, "on_order", "2e12"),
    }
    assert "on_hand not a number: 1 row; left empty." in result.notes
    assert any(n.startswith("unit_cost infinite or impossibly large") for n in result.notes)
    assert np.isnan(e["unit_cost"]) and not issues_for(result, "unit_cost")["row"].eq(6).any()  # N/A: not given


def test_blank_cells():
    result = load_inventory(snapshot("D,app,,,,,,,"))
    d = row_of(result, "D | app")
    assert np.isnan(d["on_hand"]) and d["on_order"] == 0 and np.isnan(d["lead_time_days"])
    missing = issues_for(result, "on_hand")
    assert list(missing["row"]) == [5] and "no order can be planned" in missing["action"].iloc[0]
    assert "Empty on_order cells: 1; read as 0." in result.notes
    assert any(n.startswith("No lead_time_days in 1 row(s)") for n in result.notes)


# --- rates ------------------------------------------------------------------------------------------------------------


def test_percent_service_levels_are_converted():
    data = "sku,on_hand,service_level,fill_rate,holding_cost_rate\nA,1,95,98%,25\nB,1,90,0.97,20%\n"
    result = load_inventory(data.encode())
    assert list(result.frame["service_level"]) == [pytest.approx(0.95), pytest.approx(0.90)]
    assert list(result.frame["fill_rate"]) == [pytest.approx(0.98), pytest.approx(0.97)]
    assert list(result.frame["holding_cost_rate"]) == [pytest.approx(0.25), pytest.approx(0.20)]
    assert "service_level was given in percent (e.g. 95); divided by 100." in result.notes
    assert any("written with % were read as fractions" in n for n in result.notes)
    assert result.issues.empty


def test_impossible_service_levels():
    data = "sku,on_hand,service_level\nA,1,1\nB,1,0\nC,1,1.5\nD,1,-0.2\nE,1,0.9\n"
    result = load_inventory(data.encode())
    assert list(result.frame["service_level"].fillna(-1)) == [-1, -1, -1, -1, 0.9]
    issues = issues_for(result, "service_level").set_index("row")
    assert "below 100%" in issues.loc[2, "action"]
    assert (issues.loc[[3, 4, 5], "problem"] == "outside 0-100%").all()
    assert any("below 100%" in n for n in result.notes)
    hundred = load_inventory(b"sku,on_hand,service_level\nA,1,95\nB,1,100\n")
    assert np.isnan(row_of(hundred, "B")["service_level"]) and "below 100%" in hundred.issues["action"].iloc[0]


def test_holding_cost_rate_above_one_is_dropped():
    result = load_inventory(b"sku,on_hand,holding_cost_rate\nA,1,0.25\nB,1,25\n")
    assert row_of(result, "A")["holding_cost_rate"] == 0.25 and np.isnan(row_of(result, "B")["holding_cost_rate"])
    assert "above 100% of the unit cost" in issues_for(result, "holding_cost_rate")["problem"].iloc[0]


# --- stock and parameters ---------------------------------------------------------------------------------------------


def test_negative_on_hand_becomes_backorders():
    data = b"sku,on_hand,on_order,backorders\nA,-5,3,2\nB,-4,,\nC,6,-2,-1\n"
    result = load_inventory(data)
    assert_contract(result)
    a, b, c = (row_of(result, k) for k in "ABC")
    assert (a["on_hand"], a["backorders"], a["on_order"]) == (0, 7, 3)
    assert (b["on_hand"], b["backorders"], b["on_order"]) == (0, 4, 0)
    assert (c["on_hand"], c["on_order"], c["backorders"]) == (6, 0, 0)
    owed = issues_for(result, "on_hand").set_index("row")
    assert owed.loc[2, "action"] == "on_hand set to 0 and 5 added to backorders" and owed.loc[2, "value"] == "-5"
    assert list(issues_for(result, "on_order")["action"]) == ["set to 0"]
    assert any(n.startswith("Negative on_hand: 2 rows") for n in result.notes)


def test_missing_stock_columns_default_to_zero():
    result = load_inventory(b"sku,on_hand\nA,-2\n")
    assert (row_of(result, "A")[["on_hand", "on_order", "backorders"]] == [0, 0, 2]).all()
    assert "No on_order column: nothing is on order (0) is assumed." in result.notes


def test_negative_parameters_become_empty():
    data = (b"sku,on_hand,lead_time_days,lead_time_sd_days,review_period_days,moq,unit_cost,order_cost\n"
            b"A,1,-1,-1,-7,-5,-2,-30\n")
    result = load_inventory(data)
    a = row_of(result, "A")
    fields = ["lead_time_days", "lead_time_sd_days", "review_period_days", "moq", "unit_cost", "order_cost"]
    assert a[fields].isna().all()
    assert set(result.issues["field"]) == set(fields) and set(result.issues["problem"].str[:9]) == {"negative "}


def test_case_pack_and_moq_rules():
    data = b"sku,on_hand,moq,case_pack\nA,1,2.5,12.0\nB,1,10,0\nC,1,4,-6\nD,1,5,2.5\nE,1,,1\n"
    result = load_inventory(data)
    frame = result.frame.set_index("sku")
    assert frame.loc["A", "moq"] == 3 and frame.loc["A", "case_pack"] == 12
    assert frame.loc[["B", "C", "D"], "case_pack"].isna().all() and frame.loc["E", "case_pack"] == 1
    assert np.isnan(frame.loc["E", "moq"])
    packs = issues_for(result, "case_pack")
    assert list(packs["row"]) == [3, 4, 5] and (packs["problem"] == "not a whole number of at least 1").all()
    moq = issues_for(result, "moq")
    assert list(moq["row"]) == [2] and moq["action"].iloc[0] == "rounded up to 3"


def test_lead_times():
    data = b"sku,on_hand,lead_time_days,lead_time_sd_days\nA,1,400,2\nB,1,10,500\n"
    result = load_inventory(data)
    assert row_of(result, "A")["lead_time_days"] == 400  # kept
    assert set(zip(result.issues["row"], result.issues["field"])) == {(2, "lead_time_days"), (3, "lead_time_sd_days")}
    assert (result.issues["action"] == "kept; check the unit is days").all()
    sd_only = load_inventory(b"sku,on_hand,lead_time_sd_days\nA,1,2\n")
    assert sd_only.issues.empty and row_of(sd_only, "A")["lead_time_sd_days"] == 2
    assert np.isnan(row_of(sd_only, "A")["lead_time_days"])


# --- duplicates -------------------------------------------------------------------------------------------------------


def test_duplicates_dropped_or_merged():
    data = snapshot("A,app,10,5,7,0.95,10,12,3.50", "B,app,6,1,,0.8,1,1,2.00", "B,app,1,1,5,0.7,1,1,2.00")
    result = load_inventory(data)
    assert_contract(result)
    assert len(result.frame) == 3
    a, b = row_of(result, "A | app"), row_of(result, "B | app")
    assert (a["on_hand"], a["on_order"]) == (10, 5)
    assert (b["on_hand"], b["on_order"], b["service_level"], b["lead_time_days"]) == (11, 2, 0.9, 3)
    copies = result.issues[result.issues["problem"] == "an exact copy of an earlier row"]
    assert list(copies["row"]) == [5] and copies["action"].iloc[0] == "left out"
    merged = result.issues[result.issues["problem"] == "another row has the same key"]
    assert list(merged["row"]) == [3, 6, 7]
    assert merged["action"].str.startswith("merged into one row (first at row 3): stock summed").all()
    assert "on_hand=6" in merged["value"].iloc[1]


# --- clean_inventory and the template ---------------------------------------------------------------------------------


def test_clean_inventory_on_an_edited_table():
    result = load_inventory(DEMO)
    again = clean_inventory(result.frame)
    pd.testing.assert_frame_equal(again.frame, result.frame)
    assert again.issues.empty
    edited = result.frame.drop(columns=["unique_id", "fill_rate"]).head(3).astype({"on_hand": object})
    edited.loc[0, "on_hand"] = -4
    edited.loc[1, "on_hand"] = "lots"
    edited.loc[2, "sku"] = None
    edited["service_level"] = [95.0, 90.0, np.nan]
    cleaned = clean_inventory(edited)
    assert_contract(cleaned)
    assert list(cleaned.frame[schema.UNIQUE_ID]) == ["BEV-001 | app", "BEV-001 | tmall"]
    assert (cleaned.frame["on_hand"].iloc[0], cleaned.frame["backorders"].iloc[0]) == (0, 4)
    assert np.isnan(cleaned.frame["on_hand"].iloc[1])
    assert list(cleaned.frame["service_level"]) == [pytest.approx(0.95), pytest.approx(0.9)]
    assert set(zip(cleaned.issues["row"], cleaned.issues["field"])) == {(1, "on_hand"), (2, "on_hand"), (3, "sku")}
    assert cleaned.mapping == {c: c for c in INVENTORY_FIELDS if c in edited.columns}
    with pytest.raises(InventoryError, match="no on_hand column"):
        clean_inventory(edited.drop(columns="on_hand"))
    with pytest.raises(InventoryError, match="no rows"):
        clean_inventory(edited.head(0))


def test_template_round_trips_through_clean_inventory():
    ids = pd.DataFrame({"unique_id": ["A | app", "A | app", "B | (blank)"], "sku": ["A", "A", "B"],
                        "channel": ["app", "app", "(blank)"], "y": [1.0, 2.0, 3.0]})  # a sales frame: one row a day
    template = inventory_template(ids)
    assert list(template.columns) == ["unique_id", "sku", "channel", *NUMERIC_FIELDS]
    assert list(template["unique_id"]) == ["A | app", "B | (blank)"]
    assert (template[["on_hand", "on_order", "backorders"]] == 0).all().all()
    assert template[["lead_time_days", "service_level", "moq", "unit_cost"]].isna().all().all()
    template.loc[0, ["on_hand", "service_level"]] = [12, 0.95]
    cleaned = clean_inventory(template)
    assert cleaned.issues.empty and list(cleaned.frame["unique_id"]) == list(template["unique_id"])
    assert cleaned.frame["on_hand"].iloc[0] == 12
    built = inventory_template(pd.DataFrame({"sku": ["X"], "location": ["north"]}))
    assert built["unique_id"].iloc[0] == "X | north"
    with pytest.raises(InventoryError, match="no sku column"):
        inventory_template(pd.DataFrame({"unique_id": ["X"]}))


def test_a_target_above_1_among_fractions_is_read_as_a_percent():
    data = "sku,on_hand,service_level,fill_rate\nA,1,0.9,95%\nB,2,98,0.97\nC,3,95%,99.5\nD,4,100,0.9\n".encode()
    result = load_inventory(data, filename="stock.csv")
    levels = result.frame.set_index("sku")
    assert levels.loc["A", "service_level"] == pytest.approx(0.9)
    assert levels.loc["B", "service_level"] == pytest.approx(0.98)
    assert levels.loc["C", "service_level"] == pytest.approx(0.95)
    assert levels.loc["C", "fill_rate"] == pytest.approx(0.995)
    assert np.isnan(levels.loc["D", "service_level"])  # 100% cannot be planned for
    assert any("read as percent" in note for note in result.notes)
