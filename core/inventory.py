"""Read and validate an inventory snapshot: stock and ordering parameters per SKU, the replenishment plan's input.

A snapshot is read like a sales upload: any file :mod:`core.data.readers` reads, numbers as
:mod:`core.data.parse` reads them, and key text normalised as the sales validator does it, so ``unique_id``
matches the sales series. A snapshot that cannot be used raises :class:`InventoryError`; anything else comes
back as an :class:`InventoryResult` whose ``issues`` list every row that was left out or changed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from core import schema
from core.data.mapping import SYNONYMS, detect_mapping, normalise_header
from core.data.parse import detect_decimal_comma, parse_numbers
from core.data.readers import ROW, read_bytes, read_table, text_cells
from core.data.validate import TOTAL_LABELS
from core.errors import DataError

SKU, CHANNEL, LOCATION, CATEGORY, ON_HAND = schema.SKU, schema.CHANNEL, schema.LOCATION, schema.CATEGORY, schema.ON_HAND
ON_ORDER = "on_order"
BACKORDERS = "backorders"
LEAD_TIME_DAYS = "lead_time_days"
LEAD_TIME_SD_DAYS = "lead_time_sd_days"
REVIEW_PERIOD_DAYS = "review_period_days"
SERVICE_LEVEL = "service_level"
FILL_RATE = "fill_rate"
MOQ = "moq"
CASE_PACK = "case_pack"
UNIT_COST = "unit_cost"
HOLDING_COST_RATE = "holding_cost_rate"
ORDER_COST = "order_cost"

STOCK_FIELDS: tuple[str, ...] = (ON_HAND, ON_ORDER, BACKORDERS)
PARAMETER_FIELDS: tuple[str, ...] = (
    LEAD_TIME_DAYS, LEAD_TIME_SD_DAYS, REVIEW_PERIOD_DAYS, SERVICE_LEVEL, FILL_RATE, MOQ, CASE_PACK, UNIT_COST,
    HOLDING_COST_RATE, ORDER_COST,
)
NUMERIC_FIELDS: tuple[str, ...] = STOCK_FIELDS + PARAMETER_FIELDS
INVENTORY_FIELDS: tuple[str, ...] = (SKU, CHANNEL, LOCATION, CATEGORY) + NUMERIC_FIELDS
REQUIRED_FIELDS: tuple[str, ...] = (SKU, ON_HAND)
#: Columns of ``InventoryResult.issues``.
ISSUE_COLUMNS: tuple[str, ...] = ("row", schema.UNIQUE_ID, SKU, "field", "value", "problem", "action")
#: A number this large is not a stock level, a cost or a lead time (1e308, overflowed exports).
MAX_VALUE = 1e12
MAX_LEAD_TIME_DAYS = 365
#: What a blank channel or location becomes, as in the sales validator (so the keys match).
BLANK_KEY = "(blank)"

_LEVELS = (SERVICE_LEVEL, FILL_RATE)
_RATES = _LEVELS + (HOLDING_COST_RATE,)
_NOT_NEGATIVE = (LEAD_TIME_DAYS, LEAD_TIME_SD_DAYS, REVIEW_PERIOD_DAYS, MOQ, UNIT_COST, ORDER_COST)
_SYNONYMS: dict[str, tuple[str, ...]] = {
    **{name: SYNONYMS[name] for name in (SKU, CHANNEL, LOCATION, CATEGORY, ON_HAND)},
    ON_ORDER: ("onorder", "onorderqty", "openorders", "openpo", "intransit", "inbound", "incoming", "ordered",
               "pipeline", "bestellt", "unterwegs", "在途", "在途库存", "采购在途", "在途数量", "已订购", "未到货"),
    BACKORDERS: ("backorders", "backorder", "backordered", "backlog", "rückstand", "缺货数量", "欠货", "待发货"),
    LEAD_TIME_DAYS: ("leadtimedays", "leadtime", "lt", "supplierleadtime", "lieferzeit", "wiederbeschaffungszeit",
                     "交期", "采购周期", "提前期", "交货期", "到货周期", "采购提前期"),
    LEAD_TIME_SD_DAYS: ("leadtimesddays", "leadtimesd", "leadtimestd", "leadtimestddev", "ltsd", "交期标准差",
                        "提前期标准差"),
    REVIEW_PERIOD_DAYS: ("reviewperioddays", "reviewperiod", "reviewdays", "orderinterval", "ordercycle",
                         "reviewcycle", "bestellrhythmus", "订货周期", "补货周期", "订货间隔"),
    SERVICE_LEVEL: ("servicelevel", "targetservicelevel", "cycleservicelevel", "csl", "servicegrad",
                    "lieferbereitschaft", "服务水平", "目标服务水平"),
    FILL_RATE: ("fillrate", "targetfillrate", "fillratetarget", "满足率", "订单满足率", "现货率"),
    MOQ: ("moq", "minorder", "minorderqty", "minimumorder", "minimumorderquantity", "mindestbestellmenge",
          "最小起订量", "起订量", "最小订货量", "最小采购量"),
    CASE_PACK: ("casepack", "packsize", "casesize", "caseqty", "packqty", "unitspercase", "verpackungseinheit",
                "箱规", "装箱数", "每箱数量"),
    UNIT_COST: ("unitcost", "cost", "costprice", "costperunit", "productcost", "itemcost", "purchaseprice",
                "purchasecost", "buyprice", "einkaufspreis", "成本", "采购价", "进价", "单位成本", "成本价", "采购单价",
                "采购成本"),
    HOLDING_COST_RATE: ("holdingcostrate", "holdingcost", "holdingrate", "carryingcost", "carryingcostrate",
                        "lagerkostensatz", "持有成本", "持有成本率", "库存持有成本", "仓储成本", "仓储成本率"),
    ORDER_COST: ("ordercost", "orderingcost", "costperorder", "setupcost", "fixedordercost", "bestellkosten",
                 "订货成本", "订单成本", "每单成本"),
}
# Short or vague words match only a whole header: "stock", "cost" and "store" inside a header mean other things.
_VAGUE = {"store", "class", "group", "stock", "ordered"}
_STRONG_SHORT = {"sku", "moq"}


class InventoryError(DataError):
    """The snapshot cannot be used at all (REJECT); the message says what is wrong and how to fix it."""


@dataclass
class InventoryResult:
    """A validated snapshot: one row per key in ``frame``, every row left out or changed in ``issues``."""

    frame: pd.DataFrame
    issues: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    mapping: dict[str, str] = field(default_factory=dict)

    @property
    def key_fields(self) -> tuple[str, ...]:
        """The key fields (sku, channel, location) the snapshot has."""
        return tuple(name for name in schema.KEY_FIELDS if name in self.frame.columns)


def detect_inventory_mapping(columns: list[str]) -> dict[str, str]:
    """Guess field -> column from header names; each column serves at most one field."""
    candidates = []
    for position, column in enumerate(columns):
        header = normalise_header(column).replace("%", "")
        for name, synonyms in _SYNONYMS.items():
            if header in synonyms:
                score = 1000 - synonyms.index(header)
            else:
                score = max((len(s) for s in synonyms if _may_match_inside(s) and s in header), default=0)
            if score:
                candidates.append((-score, position, name, column))
    chosen: dict[str, str] = {}
    for _score, _position, name, column in sorted(candidates):
        if name not in chosen and column not in chosen.values():
            chosen[name] = column
    return {name: chosen[name] for name in INVENTORY_FIELDS if name in chosen}


def load_inventory(
    source: str | Path | bytes | BinaryIO, filename: str = "", mapping: dict[str, str] | None = None
) -> InventoryResult:
    """Read and validate a snapshot file (a path, bytes or a binary file object).

    ``mapping`` (field -> column) overrides detection; a field mapped to ``""`` is not taken from the file.
    Raises :class:`InventoryError` when the snapshot cannot be used.
    """
    try:
        data, name = read_bytes(source)
        raw = read_table(data, filename or name)
    except InventoryError:
        raise
    except DataError as error:
        message = str(error).replace("a sales table", "an inventory snapshot")
        raise InventoryError(message.replace("sales table", "inventory snapshot")) from None
    if not len(raw.frame) and not len(raw.bad_lines):
        raise InventoryError(
            f"The file has a header but no data rows (columns: {_list_columns(raw.columns)}). Export the inventory "
            "snapshot again with one row per SKU."
        )
    resolved = _resolve_mapping(raw.columns, mapping)
    _reject_history(raw.frame, resolved)
    cells = pd.DataFrame({name: raw.frame[column] for name, column in resolved.items()}, index=raw.frame.index)
    notes = list(raw.notices)
    renamed = [f"'{column[:60]}' as {name}" for name, column in resolved.items() if column != name]
    if renamed:
        notes.append(f"Columns read: {', '.join(renamed)}.")
    ignored = [c for c in raw.columns if c not in resolved.values()]
    if ignored:
        notes.append(f"{len(ignored)} column(s) not used: {_list_columns(ignored, 8)}.")
    numeric = [cells[name] for name in NUMERIC_FIELDS if name in cells]
    decimal_comma = detect_decimal_comma(numeric, semicolon=raw.delimiter == ";")
    if decimal_comma:
        notes.append("Decimal comma detected: numbers such as 7,98 were read as 7.98.")
    check = _Check(cells, raw.frame[ROW], notes, decimal_comma)
    check.bad_lines(raw.bad_lines, resolved.get(SKU))
    return check.run(resolved)


def clean_inventory(frame: pd.DataFrame) -> InventoryResult:
    """Validate a snapshot already in field names (the page's editable table); ``row`` counts its rows from 1."""
    missing = [name for name in REQUIRED_FIELDS if name not in frame.columns]
    if missing:
        raise InventoryError(
            f"The inventory table has no {' or '.join(missing)} column (columns: {_list_columns(list(frame.columns))})."
            " Add it: a snapshot needs at least sku and on_hand."
        )
    if not len(frame):
        raise InventoryError("The inventory table has no rows. Add one row per SKU with its stock on hand.")
    cells = frame[[name for name in INVENTORY_FIELDS if name in frame.columns]].reset_index(drop=True)
    rows = pd.Series(np.arange(1, len(cells) + 1), index=cells.index)
    return _Check(cells, rows, [], decimal_comma=False).run({name: name for name in cells.columns})


def inventory_template(ids: pd.DataFrame) -> pd.DataFrame:
    """An empty snapshot for the given sales series (``unique_id``, ``sku``, [channel], [location], [category]):
    stock quantities 0 and parameters NaN, to be filled in."""
    if SKU not in ids.columns:
        raise InventoryError(f"The series have no sku column (columns: {_list_columns(list(ids.columns))}).")
    keys = [name for name in schema.KEY_FIELDS if name in ids.columns]
    text = keys + ([CATEGORY] if CATEGORY in ids.columns else [])
    template = ids[[c for c in [schema.UNIQUE_ID, *text] if c in ids.columns]].copy()
    if schema.UNIQUE_ID not in template.columns:
        template.insert(0, schema.UNIQUE_ID, _unique_id(template, keys))
    template = template.drop_duplicates(schema.UNIQUE_ID).reset_index(drop=True)
    template[text] = template[text].fillna("").astype(str)
    template[schema.UNIQUE_ID] = template[schema.UNIQUE_ID].astype(str)
    for name in NUMERIC_FIELDS:
        template[name] = 0.0 if name in STOCK_FIELDS else np.nan
    return template


class _Check:
    """One validation pass over a snapshot's cells (one column per field, as read); ``run`` returns the result."""

    def __init__(self, cells: pd.DataFrame, rows: pd.Series, notes: list[str], decimal_comma: bool):
        self.cells = cells.reset_index(drop=True)
        self.rows = pd.Series(rows.to_numpy(), index=self.cells.index).astype("int64")
        self.notes = notes
        self.decimal_comma = decimal_comma
        self.work = pd.DataFrame(index=self.cells.index)
        self.excluded = pd.Series(False, index=self.cells.index)
        self.logged: list[pd.DataFrame] = []
        self.missing: dict[str, pd.Series] = {}  # per numeric field: empty cells (or N/A)
        self.percent: dict[str, pd.Series] = {}  # per rate field: cells written with %

    def record(self, mask: pd.Series, name: str, problem: str, action: str | pd.Series, note: str,
               exclude: bool = False) -> None:
        """List the rows in ``mask`` (not yet left out) as issues, add one note with their count."""
        mask = mask.reindex(self.cells.index, fill_value=False) & ~self.excluded
        index = mask[mask].index
        if not len(index):
            return
        value = _as_text(self.cells.loc[index, name]) if name in self.cells else _row_text(self.cells.loc[index])
        self.logged.append(pd.DataFrame({
            "row": self.rows[index], schema.UNIQUE_ID: self.work.loc[index, schema.UNIQUE_ID],
            SKU: self.work.loc[index, SKU], "field": name, "value": value, "problem": problem,
            "action": action[index] if isinstance(action, pd.Series) else action,
        }))
        self.notes.append(note.format(n=len(index), s="" if len(index) == 1 else "s"))
        if exclude:
            self.excluded |= mask

    def bad_lines(self, bad: pd.DataFrame, sku_column: str | None) -> None:
        """Records with more cells than the header: listed and left out."""
        if not len(bad):
            return
        sku = text_cells(bad[sku_column]) if sku_column in bad.columns else pd.Series("", index=bad.index)
        self.logged.append(pd.DataFrame({
            "row": bad[ROW].to_numpy(), schema.UNIQUE_ID: "", SKU: sku.to_numpy(), "field": "",
            "value": bad["content"].astype(str).to_numpy(), "problem": "more cells than the header",
            "action": "left out; quote names that contain the delimiter",
        }))
        self.notes.append(f"{len(bad)} line(s) had more cells than the header and were left out (often an unquoted "
                          "delimiter inside a name).")

    def run(self, mapping: dict[str, str]) -> InventoryResult:
        self.keys()
        self.numbers()
        self.levels()
        self.stock()
        self.parameters()
        frame = self.merge_duplicates(self.work.loc[~self.excluded])
        columns = [schema.UNIQUE_ID, *[n for n in (SKU, CHANNEL, LOCATION, CATEGORY) if n in frame], *NUMERIC_FIELDS]
        frame = frame[columns].reset_index(drop=True)
        frame[list(NUMERIC_FIELDS)] = frame[list(NUMERIC_FIELDS)].astype("float64")
        issues = pd.concat(self.logged, ignore_index=True) if self.logged else pd.DataFrame(columns=ISSUE_COLUMNS)
        issues = issues[list(ISSUE_COLUMNS)].astype({"row": "int64"}).sort_values("row", kind="stable")
        keys = "-".join(n for n in schema.KEY_FIELDS if n in frame)
        self.notes.insert(0, f"{len(self.cells):,} rows read; {len(frame):,} {keys} keys in the snapshot.")
        return InventoryResult(frame, issues.reset_index(drop=True), self.notes, dict(mapping))

    def keys(self) -> None:
        """SKU, channel and location text as the sales validator keeps it; totals rows and blank SKUs left out."""
        self.work[SKU] = text_cells(self.cells[SKU])
        for name in (CHANNEL, LOCATION, CATEGORY):
            if name in self.cells:
                self.work[name] = text_cells(self.cells[name])
        keys = [name for name in schema.KEY_FIELDS if name in self.work]
        uid = _unique_id(self.work[keys].replace("", BLANK_KEY), keys)
        self.work[schema.UNIQUE_ID] = uid.where(self.work[SKU] != "", "")
        self.record(self.work[SKU] == "", SKU, "no SKU", "left out", "No SKU: {n} row{s} left out.", exclude=True)
        totals = pd.Series(False, index=self.work.index)
        for name in keys:
            if self.work[name].nunique() > 1:
                totals |= self.work[name].str.lower().isin(TOTAL_LABELS)
        self.record(totals, "", "a totals row ('Total', '合计' ...), not an item", "left out",
                    "Totals rows: {n} row{s} left out, so stock is not counted twice.", exclude=True)
        for name in keys[1:]:
            self.record(self.work[name] == "", name, f"no {name}", f"grouped under '{BLANK_KEY}'",
                        f"No {name}: {{n}} row{{s}} grouped under '{BLANK_KEY}', as in the sales data.")
            self.work[name] = self.work[name].replace("", BLANK_KEY)
        if not (~self.excluded).any():
            raise InventoryError("No usable rows remain: every row has a blank SKU or is a totals row. Fill in the "
                                 "sku column, or choose the column that holds the SKU in the column mapping.")
        long_names = self.work[SKU].str.len() > 200
        if long_names.any():
            self.notes.append(f"{self.work.loc[long_names, SKU].nunique()} SKU name(s) are longer than 200 "
                              "characters; they are kept in full.")

    def numbers(self) -> None:
        """Every numeric field parsed; text, infinite and absurd values left empty."""
        for name in NUMERIC_FIELDS:
            if name not in self.cells:
                continue
            column = self.cells[name]
            percent = pd.Series(False, index=column.index)
            if name in _RATES and not pd.api.types.is_numeric_dtype(column.dtype):
                column = text_cells(column)
                percent = column.str.endswith("%")
                column = column.where(~percent, column.str.rstrip("%").str.strip())
            reading = parse_numbers(column, self.decimal_comma, allow_unit=name not in _RATES)
            values = reading.values.where(~percent, reading.values / 100)
            huge = values.notna() & ~(values.abs() <= MAX_VALUE)
            self.record(reading.invalid, name, "not a number", "left empty",
                        f"{name} not a number: {{n}} row{{s}}; left empty.")
            self.record(huge, name, f"infinite or impossibly large (beyond {MAX_VALUE:.0e})", "left empty",
                        f"{name} infinite or impossibly large (1e308, inf): {{n}} row{{s}}; left empty.")
            self.record(reading.with_unit, name, "a number followed by a unit (e.g. '12 pcs')", "the number was used",
                        f"{name} with a unit after the number ('12 pcs'): {{n}} row{{s}}; the number was used.")
            if percent.any():
                self.notes.append(f"{int(percent.sum())} {name} value(s) written with % were read as fractions.")
            self.work[name] = values.where(~huge)
            self.missing[name], self.percent[name] = reading.missing, percent

    def levels(self) -> None:
        """Service level, fill rate and holding cost rate as fractions; columns written in percent are converted."""
        for name in _RATES:
            if name not in self.work:
                continue
            percent = self.percent[name]
            values = self.work[name]
            plain = values[values.notna() & ~percent & ~self.excluded]
            if len(plain) and ((plain > 1) & (plain <= 100)).all():
                self.work[name] = values.where(percent, values / 100)
                self.notes.append(f"{name} was given in percent (e.g. {plain.iloc[0]:g}); divided by 100.")
            values = self.work[name]
            if name != HOLDING_COST_RATE:  # a target of 50 to 99.9 can only be a percent, whatever the other rows say
                stray = values.notna() & ~percent & (values >= 50) & (values < 100) & ~self.excluded
                if stray.any():
                    self.work[name] = values = values.where(~stray, values / 100)
                    self.notes.append(f"{int(stray.sum())} {name} value(s) above 1 (e.g. "
                                      f"{values[stray].iloc[0] * 100:g}) were read as percent.")
            if name == HOLDING_COST_RATE:
                self.record(values < 0, name, "a negative holding cost rate", "left empty",
                            f"Negative {name}: {{n}} row{{s}}; left empty (the plan default applies).")
                self.record(values > 1, name, "a yearly holding cost above 100% of the unit cost", "left empty",
                            f"{name} above 1 (100% a year): {{n}} row{{s}}; left empty. Write 0.25 or 25%.")
                self.work[name] = values.where(values.between(0, 1) | values.isna())
                continue
            self.record(values == 1, name, "a target of 100% (it would need unlimited safety stock)",
                        "left empty; give a target below 100%, e.g. 0.99",
                        f"{name} of 100%: {{n}} row{{s}}; left empty, as 100% cannot be planned for. Give a target "
                        "below 100%, e.g. 0.99.")
            outside = (values <= 0) | (values > 1)
            self.record(outside, name, "outside 0-100%", "left empty",
                        f"{name} not between 0 and 100%: {{n}} row{{s}}; left empty (the plan default applies).")
            self.work[name] = values.where((values > 0) & (values < 1))

    def stock(self) -> None:
        """On order and backorders default to 0; negative stock on hand becomes a backorder."""
        for name in (ON_ORDER, BACKORDERS):
            if name not in self.work:
                what = "nothing is on order" if name == ON_ORDER else "no customer backorders"
                self.notes.append(f"No {name} column: {what} (0) is assumed.")
                self.work[name] = 0.0
                continue
            blank = self.missing[name] & ~self.excluded
            if blank.any():
                self.notes.append(f"Empty {name} cells: {int(blank.sum())}; read as 0.")
            self.work[name] = self.work[name].where(~self.missing[name], 0.0)
            negative = self.work[name] < 0
            self.record(negative, name, f"negative {name}", "set to 0",
                        f"Negative {name}: {{n}} row{{s}}; set to 0.")
            self.work[name] = self.work[name].where(~negative, 0.0)
        on_hand = self.work[ON_HAND]
        if not (on_hand.notna() & ~self.excluded).any():
            seen = _as_text(self.cells[ON_HAND])[~self.excluded].drop_duplicates().head(5).tolist()
            raise InventoryError(
                f"The on_hand column has no numbers (values such as {', '.join(repr(v[:40]) for v in seen)}). "
                "Choose the column that holds the stock on hand."
            )
        self.record(self.missing[ON_HAND], ON_HAND, "no stock on hand given",
                    "left empty: no order can be planned for this row until it is filled in",
                    "No on_hand: {n} row{s}; left empty, so no order can be planned for them until it is filled in.")
        owed = (-on_hand).clip(lower=0).fillna(0)
        self.record(owed > 0, ON_HAND, "negative stock on hand (stock owed to customers)",
                    "on_hand set to 0 and " + owed.map("{:g}".format) + " added to backorders",
                    "Negative on_hand: {n} row{s}; read as stock owed to customers, so on_hand was set to 0 and the "
                    "amount added to backorders.")
        self.work[ON_HAND] = on_hand.where(owed == 0, 0.0)
        self.work[BACKORDERS] = self.work[BACKORDERS] + owed

    def parameters(self) -> None:
        """Lead times, review period, MOQ, case pack and costs: impossible values left empty, MOQ rounded up."""
        for name in PARAMETER_FIELDS:
            if name not in self.work:
                continue
            blank = self.missing[name] & ~self.excluded
            if blank.any():
                rows = "any row" if blank.sum() == (~self.excluded).sum() else f"{int(blank.sum())} row(s)"
                self.notes.append(f"No {name} in {rows}: the plan settings' default applies there.")
            if name in _NOT_NEGATIVE:
                negative = self.work[name] < 0
                self.record(negative, name, f"negative {name}", "left empty",
                            f"Negative {name}: {{n}} row{{s}}; left empty (the plan default applies).")
                self.work[name] = self.work[name].where(~negative)
        for name in (LEAD_TIME_DAYS, LEAD_TIME_SD_DAYS):
            if name in self.work:
                self.record(self.work[name] > MAX_LEAD_TIME_DAYS, name, f"above {MAX_LEAD_TIME_DAYS} days",
                            "kept; check the unit is days",
                            f"{name} above {MAX_LEAD_TIME_DAYS} days: {{n}} row{{s}}; kept, check the unit.")
        if CASE_PACK in self.work:
            pack = self.work[CASE_PACK]
            bad = pack.notna() & ((pack < 1) | (pack != np.round(pack)))
            self.record(bad, CASE_PACK, "not a whole number of at least 1", "left empty",
                        "case_pack not a whole number of at least 1: {n} row{s}; left empty.")
            self.work[CASE_PACK] = pack.where(~bad)
        if MOQ in self.work:
            moq = self.work[MOQ]
            fractional = moq.notna() & (moq != np.ceil(moq))
            self.record(fractional, MOQ, "not a whole number", "rounded up to " + np.ceil(moq).map("{:g}".format),
                        "Fractional moq: {n} row{s}; rounded up.")
            self.work[MOQ] = np.ceil(moq)
        missing = [name for name in PARAMETER_FIELDS if name not in self.work]
        for name in missing:
            self.work[name] = np.nan
        if missing:
            self.notes.append(f"No column for {', '.join(missing)}: the plan settings' defaults will apply.")

    def merge_duplicates(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Exact copies left out; other rows sharing a key merged (stock summed, first given parameters kept)."""
        copies = frame.duplicated(keep="first")
        self.record(copies, "", "an exact copy of an earlier row", "left out",
                    "Exact copies of an earlier row: {n} row{s}; left out.", exclude=True)
        frame = frame.loc[~copies]
        shared = frame[schema.UNIQUE_ID].duplicated(keep=False)
        if not shared.any():
            return frame
        first = self.rows[frame.index].groupby(frame[schema.UNIQUE_ID].to_numpy()).transform("min")
        self.record(shared, "", "another row has the same key",
                    "merged into one row (first at row " + first.astype(str) + "): stock summed, "
                    "parameters from the first row giving them",
                    "Rows sharing a key: {n} row{s}; merged, with on_hand, on_order and backorders summed and "
                    "the parameters taken from the first row that gives them.")
        groups = frame.groupby(schema.UNIQUE_ID, sort=False)
        merged = groups.first()
        merged[list(STOCK_FIELDS)] = groups[list(STOCK_FIELDS)].sum(min_count=1)
        return merged.reset_index()


def _resolve_mapping(columns: list[str], override: dict[str, str] | None) -> dict[str, str]:
    """Detection combined with the planner's choices (``""`` = not in the file); required fields checked."""
    chosen = dict(override or {})
    unknown = sorted(set(chosen) - set(INVENTORY_FIELDS))
    if unknown:
        raise InventoryError(f"Unknown field(s) in the column mapping: {', '.join(unknown)}. "
                             f"Fields: {', '.join(INVENTORY_FIELDS)}.")
    fixed = {name: column for name, column in chosen.items() if column}
    for name, column in fixed.items():
        if column not in columns:
            raise InventoryError(f"The column '{column}' chosen for {name} is not in the file. "
                                 f"Columns found: {_list_columns(columns)}.")
    twice = sorted({c for c in fixed.values() if list(fixed.values()).count(c) > 1})
    if twice:
        raise InventoryError(f"The column '{twice[0]}' is chosen for more than one field; choose one column each.")
    detected = detect_inventory_mapping([c for c in columns if c not in fixed.values()])
    resolved = {**{n: c for n, c in detected.items() if n not in chosen}, **fixed}
    missing = [name for name in REQUIRED_FIELDS if name not in resolved]
    if missing:
        raise InventoryError(
            f"No column for the required field(s) {', '.join(repr(m) for m in missing)}. "
            f"Columns found: {_list_columns(columns)}. Rename the column in the file, or choose it in the column "
            "mapping. A snapshot has one row per SKU (and channel or location) with at least sku and on_hand."
        )
    return {name: resolved[name] for name in INVENTORY_FIELDS if name in resolved}


def _reject_history(frame: pd.DataFrame, mapping: dict[str, str]) -> None:
    """A dated file whose keys mostly repeat is a history (sales, daily stock), not a snapshot: summing it is wrong."""
    date = detect_mapping(list(frame.columns)).date
    if not date or date in mapping.values() or frame[date].nunique() < 2:
        return
    keys = [mapping[name] for name in schema.KEY_FIELDS if name in mapping]
    repeated = frame.duplicated(subset=keys)
    if repeated.mean() > 0.5:
        raise InventoryError(
            f"This looks like a history, not a snapshot: it has a date column ('{date[:60]}') and "
            f"{len(frame):,} rows for {len(frame) - int(repeated.sum()):,} SKUs. Upload the stock on one day, "
            "one row per SKU (and channel or location)."
        )


def _may_match_inside(synonym: str) -> bool:
    if re.search(r"[\u4e00-\u9fff]", synonym):
        return len(synonym) >= 2
    return synonym in _STRONG_SHORT or (len(synonym) >= 5 and synonym not in _VAGUE)


def _unique_id(frame: pd.DataFrame, keys: list[str]) -> pd.Series:
    """``sku | channel | location`` for the key fields present, as the sales validator builds it."""
    uid = frame[keys[0]].astype(str)
    for key in keys[1:]:
        uid = uid + schema.ID_SEPARATOR + frame[key].astype(str)
    return uid


def _as_text(column: pd.Series) -> pd.Series:
    """Cells as the planner wrote them (numbers without a trailing .0), empty for missing."""
    if pd.api.types.is_numeric_dtype(column.dtype):
        return column.map(lambda v: "" if pd.isna(v) else f"{v:g}" if math.isfinite(v) else str(v))
    return column.astype(object).where(column.notna(), "").astype(str)


def _row_text(cells: pd.DataFrame) -> pd.Series:
    text = [name + "=" + _as_text(cells[name]) for name in cells.columns]
    return pd.concat(text, axis=1).agg("; ".join, axis=1) if text else pd.Series("", index=cells.index)


def _list_columns(columns: list[str], limit: int = 30) -> str:
    shown = ", ".join(f"'{str(c)[:60]}'" for c in columns[:limit])
    return shown + (f" and {len(columns) - limit} more" if len(columns) > limit else "")


__all__ = [
    "INVENTORY_FIELDS", "NUMERIC_FIELDS", "InventoryError", "InventoryResult", "clean_inventory",
    "detect_inventory_mapping", "inventory_template", "load_inventory",
]
