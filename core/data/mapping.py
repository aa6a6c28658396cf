"""Map a planner's column names to StockPilot's fields, from English, Chinese and European headers.

Auto-detection matches normalised header names against synonyms; a planner's explicit choice always wins.
"""

from __future__ import annotations

import functools
import re
from dataclasses import asdict, dataclass, fields

from core import schema
from core.errors import DataError

# Synonyms per field, compared after normalisation (lower case, no spaces or punctuation). An exact match beats a
# match inside a longer header; among exact matches the synonym listed first wins, among inside matches the longest.
SYNONYMS: dict[str, tuple[str, ...]] = {
    schema.DATE: (
        "date", "ds", "day", "dt", "datetime", "time", "timestamp", "period", "week", "weekstart", "weekending",
        "month", "orderdate", "invoicedate", "salesdate", "saledate", "transactiondate", "businessdate", "reportdate",
        "datum", "fecha", "data", "日期", "时间", "销售日期", "订单日期", "下单日期", "统计日期", "业务日期",
        "日期时间", "周", "月份", "年月", "月",
    ),
    schema.SKU: (
        "sku", "skuid", "skucode", "item", "itemid", "itemcode", "itemno", "itemnumber", "product", "productid",
        "productcode", "productname", "article", "articleno", "articlenumber", "material", "materialno", "asin",
        "ean", "upc", "barcode", "uniqueid", "stockcode", "artikel", "artikelnummer", "producto", "produit",
        "referencia",
        "商品", "商品编码", "商品编号", "商品id", "商品名称", "商品名", "货号", "产品", "产品编码", "产品名称",
        "物料", "物料编码", "款号", "条码", "品名", "商家编码", "sku编码", "宝贝", "单品",
    ),
    schema.UNITS: (
        "units", "unit", "qty", "quantity", "unitssold", "soldunits", "sold", "sales", "salesqty",
        "salesquantity", "salesunits", "volume", "demand", "y", "orders", "pieces", "pcs", "menge", "anzahl",
        "absatz", "cantidad", "unidades", "quantite", "qte", "销量", "数量", "销售数量", "件数", "销售量",
        "销售件数", "出库量", "出库数量", "售出数量", "成交件数", "需求量", "订单量",
    ),
    schema.CHANNEL: (
        "channel", "saleschannel", "platform", "marketplace", "shop", "storefront", "kanal", "canal",
        "渠道", "平台", "销售渠道", "店铺", "电商平台", "销售平台",
    ),
    schema.LOCATION: (
        "location", "warehouse", "store", "storeid", "region", "site", "dc", "plant", "branch", "lager",
        "standort", "almacen", "entrepot", "仓库", "门店", "地区", "区域", "仓", "发货仓", "城市", "库房",
    ),
    schema.CATEGORY: (
        "category", "cat", "categoryname", "dept", "department", "class", "group", "productgroup", "family",
        "segment", "kategorie", "warengruppe", "categoria", "categorie", "品类", "类目", "类别", "分类", "大类",
        "品类名称", "类目名称",
    ),
    schema.PRICE: (
        "price", "unitprice", "sellingprice", "salesprice", "saleprice", "avgprice", "averageprice",
        "netprice", "preis", "precio", "prix", "价格", "单价", "售价", "销售单价", "成交价", "均价", "成交单价",
    ),
    schema.PROMO: (
        "promo", "promotion", "onpromo", "onpromotion", "ispromo", "promoflag", "promotionflag", "discount",
        "discountdepth", "deal", "campaign", "aktion", "promocion", "促销", "活动", "是否促销", "折扣",
        "促销标记", "优惠", "促销活动",
    ),
    schema.ON_HAND: (
        "onhand", "stock", "stockonhand", "soh", "inventory", "inventoryonhand", "endingstock",
        "closingstock", "endofdaystock", "bestand", "lagerbestand", "existencias", "库存", "在库", "期末库存",
        "现有库存", "库存量", "可用库存", "剩余库存", "库存数量",
    ),
}

_NORMALISE = re.compile(r"[\s_\-./()（）:：#\[\]【】'\"]+")
# Synonyms that may also match inside a longer header ("Order Date", "销售数量(件)"). Short or vague English words
# ("y", "unit", "sales", "stock") must match exactly: "unit cost", "sales amount" and "StockCode" are other things.
_VAGUE = {"sales", "store", "month", "class", "group", "orders", "pieces", "volume", "period", "stock", "price"}
_STRONG_SHORT = {"date", "qty", "sku"}


def _may_match_inside(synonym: str) -> bool:
    if re.search(r"[\u4e00-\u9fff]", synonym):
        return len(synonym) >= 2
    return synonym in _STRONG_SHORT or (len(synonym) >= 5 and synonym not in _VAGUE)


def normalise_header(name: str) -> str:
    """Lower-case a header and drop spaces and punctuation, so "Unit Price (¥)" and "unit_price" compare equal."""
    return _NORMALISE.sub("", str(name).replace("\ufeff", "").lower()).replace("¥", "").replace("￥", "")


@dataclass(frozen=True)
class ColumnMapping:
    """Which column of the upload holds each field (``None`` = not in the file)."""

    date: str | None = None
    sku: str | None = None
    units: str | None = None
    channel: str | None = None
    location: str | None = None
    category: str | None = None
    price: str | None = None
    promo: str | None = None
    on_hand: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, str | None] | None) -> "ColumnMapping":
        known = {f.name for f in fields(cls)}
        return cls(**{k: (v or None) for k, v in (values or {}).items() if k in known})

    def mapped(self) -> dict[str, str]:
        """Field -> column for the fields that are present."""
        return {k: v for k, v in self.to_dict().items() if v}


def _header_score(header: str, exact: dict[str, int], inside: tuple[str, ...]) -> int:
    """Exact matches first (the more usual synonym, earlier in its list, first), then the longest synonym found
    inside the header."""
    if header in exact:
        return 1000 - exact[header]
    return max((len(synonym) for synonym in inside if synonym in header), default=0)


_EXACT = {name: {synonym: rank for rank, synonym in reversed(list(enumerate(synonyms)))}
          for name, synonyms in SYNONYMS.items()}
_INSIDE = {name: tuple(s for s in synonyms if _may_match_inside(s)) for name, synonyms in SYNONYMS.items()}


def detect_mapping(columns: list[str]) -> ColumnMapping:
    """Guess the mapping from header names alone; each column serves at most one field."""
    return _detect(tuple(str(c) for c in columns))


@functools.lru_cache(maxsize=256)
def _detect(columns: tuple[str, ...]) -> ColumnMapping:
    normalised = {column: normalise_header(column) for column in columns}
    candidates = []
    for field_name in SYNONYMS:
        for column, header in normalised.items():
            score = _header_score(header, _EXACT[field_name], _INSIDE[field_name])
            if score:
                candidates.append((score, field_name, column))
    chosen: dict[str, str] = {}
    used: set[str] = set()
    position = {column: index for index, column in enumerate(columns)}
    for _score, field_name, column in sorted(candidates, key=lambda c: (-c[0], position[c[2]])):
        if field_name not in chosen and column not in used:
            chosen[field_name] = column
            used.add(column)
    return ColumnMapping(**chosen)


#: The value that tells :func:`resolve_mapping` a field is not in the file, even if a header looks like it.
NOT_IN_FILE = ""


def resolve_mapping(columns: list[str], override: ColumnMapping | dict | None = None) -> ColumnMapping:
    """Combine auto-detection with the planner's choices; a chosen column that does not exist is an error.

    In ``override`` a field set to ``None`` (or left out) is auto-detected, and a field set to
    :data:`NOT_IN_FILE` is not used at all.
    """
    detected = detect_mapping(columns).to_dict()
    chosen = override.to_dict() if isinstance(override, ColumnMapping) else dict(override or {})
    unknown_fields = sorted(set(chosen) - set(detected))
    if unknown_fields:
        raise DataError(f"Unknown field(s) in the column mapping: {', '.join(unknown_fields)}.")
    for field_name, column in chosen.items():
        if column == NOT_IN_FILE:
            detected[field_name] = None
            continue
        if column is None:
            continue
        if column not in columns:
            raise DataError(
                f"The column '{column}' chosen for {field_name} is not in the file. "
                f"Columns found: {_list_columns(columns)}."
            )
        for other, detected_column in detected.items():  # the chosen column no longer serves another field
            if detected_column == column and other != field_name and not chosen.get(other):
                detected[other] = None
        detected[field_name] = column
    return ColumnMapping(**detected)


def require_fields(mapping: ColumnMapping, columns: list[str], required: tuple[str, ...]) -> None:
    """Raise a REJECT message naming each required field that no column was mapped to."""
    missing = [name for name in required if not getattr(mapping, name)]
    if missing:
        options = " ".join(f"--{name.replace('_', '-')}-col" for name in missing)
        raise DataError(
            f"No column for the required field(s) {', '.join(repr(m) for m in missing)}. "
            f"Columns found: {_list_columns(columns)}. "
            f"Rename the column in the file, or choose it in the column mapping ({options} on the command line). "
            "StockPilot reads one row per date and SKU, with columns such as date, sku, units (a table with one "
            "column per date, or one per SKU, is reshaped automatically)."
        )


def _list_columns(columns: list[str], limit: int = 30) -> str:
    shown = ", ".join(f"'{c[:60]}'" for c in columns[:limit])
    return shown + (f" and {len(columns) - limit} more" if len(columns) > limit else "")
