"""Tests for core.data.mapping: planners' headers (English, Chinese, European) -> StockPilot's fields."""

from __future__ import annotations

import pytest

from core.data.mapping import ColumnMapping, detect_mapping, normalise_header, require_fields, resolve_mapping
from core.errors import DataError


@pytest.mark.parametrize("columns, expected", [
    (["date", "sku", "channel", "units", "price", "promo"],
     {"date": "date", "sku": "sku", "channel": "channel", "units": "units", "price": "price", "promo": "promo"}),
    (["Order Date", "SKU", "Quantity Sold", "Unit Price", "Sales Amount"],
     {"date": "Order Date", "sku": "SKU", "units": "Quantity Sold", "price": "Unit Price"}),
    (["日期", "商品编码", "商品名称", "销售数量(件)", "销售额", "单价", "是否促销", "库存"],
     {"date": "日期", "sku": "商品编码", "units": "销售数量(件)", "price": "单价", "promo": "是否促销",
      "on_hand": "库存"}),
    (["下单日期", "货号", "数量", "平台", "仓库", "类目"],
     {"date": "下单日期", "sku": "货号", "units": "数量", "channel": "平台", "location": "仓库",
      "category": "类目"}),
    (["Datum", "Artikelnummer", "Menge", "Preis", "Aktion", "Lagerbestand", "Kanal"],
     {"date": "Datum", "sku": "Artikelnummer", "units": "Menge", "price": "Preis", "promo": "Aktion",
      "on_hand": "Lagerbestand", "channel": "Kanal"}),
    (["fecha", "producto", "cantidad", "precio", "canal"],
     {"date": "fecha", "sku": "producto", "units": "cantidad", "price": "precio", "channel": "canal"}),
    (["ds", "unique_id", "y"], {"date": "ds", "sku": "unique_id", "units": "y"}),
    (["Week", "Item", "Units", "Store", "Category"],
     {"date": "Week", "sku": "Item", "units": "Units", "location": "Store", "category": "Category"}),
    (["Date", "SKU", "Revenue", "Stock Code"], {"date": "Date", "sku": "SKU"}),
    (["date", "product_category", "product_id", "qty", "unit_cost"],
     {"date": "date", "sku": "product_id", "units": "qty", "category": "product_category"}),
    (["timestamp", "asin", "units_ordered", "marketplace"],
     {"date": "timestamp", "sku": "asin", "units": "units_ordered", "channel": "marketplace"}),
    (["\ufeffDATE ", " Sku_Code ", "Units Sold"], {"date": "\ufeffDATE ", "sku": " Sku_Code ", "units": "Units Sold"}),
])
def test_detect_mapping(columns, expected):
    assert detect_mapping(columns).mapped() == expected


@pytest.mark.parametrize("column", ["unit_cost", "Sales Amount", "销售额", "StockCode", "Unit Price"])
def test_vague_headers_are_not_units(column):
    assert detect_mapping(["date", "sku", column]).units is None


def test_each_column_serves_one_field():
    mapping = detect_mapping(["date", "sku", "sku"])
    assert list(mapping.mapped().values()).count("sku") == 1


def test_normalise_header():
    assert normalise_header(" Unit Price (¥) ") == "unitprice"
    assert normalise_header("销售数量（件）") == "销售数量件"
    assert normalise_header("\ufeffdate") == "date"


def test_override_wins_and_frees_the_column_from_other_fields():
    columns = ["date", "sku", "qty", "pieces"]
    assert detect_mapping(columns).units == "qty"
    mapping = resolve_mapping(columns, {"units": "pieces"})
    assert mapping.units == "pieces" and mapping.sku == "sku"
    mapping = resolve_mapping(columns, ColumnMapping(sku="qty"))
    assert mapping.sku == "qty" and mapping.units is None


def test_override_naming_a_missing_column():
    with pytest.raises(DataError) as error:
        resolve_mapping(["date", "sku", "units"], {"units": "qty_sold"})
    message = str(error.value)
    assert "'qty_sold'" in message and "not in the file" in message and "'units'" in message


def test_override_naming_an_unknown_field():
    with pytest.raises(DataError, match="colour"):
        resolve_mapping(["date"], {"colour": "date"})


def test_require_fields_names_the_field_the_columns_and_the_fix():
    columns = ["date", "sku", "price"]
    with pytest.raises(DataError) as error:
        require_fields(detect_mapping(columns), columns, ("date", "units"))
    message = str(error.value)
    assert "'units'" in message and "'date'," in message and "'price'" in message and "--units-col" in message


def test_long_column_lists_are_shortened():
    columns = ["date"] + [f"x{i}" for i in range(100)]
    with pytest.raises(DataError, match="and 71 more"):
        require_fields(detect_mapping(columns), columns, ("units",))


def test_mapping_round_trips():
    mapping = ColumnMapping(date="Datum", units="Menge")
    assert ColumnMapping.from_dict(mapping.to_dict()) == mapping
    assert ColumnMapping.from_dict({"date": "", "colour": "x"}) == ColumnMapping()


def test_a_field_marked_not_in_file_is_not_used_even_when_a_header_matches():
    from core.data.mapping import NOT_IN_FILE, resolve_mapping

    columns = ["date", "sku", "units", "promo"]
    assert resolve_mapping(columns, {"promo": None}).promo == "promo"
    assert resolve_mapping(columns, {"promo": NOT_IN_FILE}).promo is None
