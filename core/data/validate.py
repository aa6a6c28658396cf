"""Validate an upload once, at the boundary: a clean long frame plus a report, or one clear REJECT.

The pipeline reads the file (:mod:`core.data.readers`), maps its columns (:mod:`core.data.mapping`), reshapes
wide layouts, parses every field (:mod:`core.data.parse`), and then settles what real exports get wrong:
unreadable dates and numbers, returns, duplicates, mixed frequencies, gaps, short and never-sold series,
stockouts. Every row it excludes, alters or adds is kept in ``LoadResult.issue_rows`` so nothing is lost.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from core import schema
from core.data.mapping import ColumnMapping, detect_mapping, require_fields, resolve_mapping
from core.data.parse import detect_decimal_comma, parse_dates, parse_numbers, parse_promo
from core.data.readers import ROW, RawTable, read_bytes, read_table, text_cells
from core.data.report import ISSUE, NOTICE, Finding, ValidationReport, example
from core.errors import DataError

logger = logging.getLogger(__name__)

#: Fewest distinct periods a dataset needs before anything can be forecast.
MIN_DATASET_PERIODS = 7
#: Fewest periods a series needs for a model forecast; shorter series are flagged and get a fallback.
MIN_SERIES_PERIODS = {schema.DAILY: 14, schema.WEEKLY: 8, schema.MONTHLY: 6}
#: A quantity this large is not a real sale of one SKU in one period (1e308, overflowed exports, ids in the wrong
#: column).
MAX_QUANTITY = 1e9
#: A run of missing periods is read as a data gap, not as periods without sales, when a run that long would turn up
#: by chance less often than this in the series (given how often the series has no row at all).
GAP_CHANCE = 0.01
#: Finding code of a REJECT caused by a defect of the loader itself rather than by the file.
INTERNAL_ERROR = "internal_error"
#: SKU, channel or location values that label a totals row rather than an item (compared in lower case).
TOTAL_LABELS = frozenset({
    "total", "totals", "grand total", "sum", "subtotal", "sub-total", "sub total", "all", "gesamt", "summe",
    "totaal", "totale", "合计", "总计", "小计", "总和", "汇总", "全部",
})
#: Series with this many rows or more are judged for their own frequency (fewer could look weekly by chance;
#: dates on one day of the month, each 28+ days apart, do not happen by chance as often).
_MIN_ROWS_FOR_FREQUENCY = {schema.DAILY: 6, schema.WEEKLY: 6, schema.MONTHLY: 4}
_BLANK_KEY = "(blank)"
_NO_SKU = "total"
_EXAMPLES = 5
_STEP_DAYS = {schema.DAILY: 1, schema.WEEKLY: 7, schema.MONTHLY: 31}
_ISSUE_COLUMNS = ["row", "issue", "action", "field", "value"]


@dataclass(frozen=True)
class ValidationOptions:
    """Choices a planner can make about how an upload is read.

    date_format: ``"auto"``, or the order of numeric dates: ``"DMY"``, ``"MDY"``, ``"YMD"``.
    duplicates: rows sharing a date and series: ``"auto"`` (drop exact copies, sum the rest; sum everything when
        most rows share a date, as order-line exports do), ``"sum"`` or ``"drop"`` (keep the first).
    fill_gaps: fill missing periods inside a series with 0 units (marked ``filled``); else leave them missing.
    today: rows dated after this are future rows (default: today).
    max_covariates: extra numeric columns kept as candidate covariates.
    covariates: columns the planner declares known in advance (an open/closed flag, a planned event): always
        kept, as numbers when they read as numbers, else as text labels (blank = none). Listed in
        ``LoadResult.known_future`` under their name in the clean frame.
    """

    date_format: str = "auto"
    duplicates: str = "auto"
    fill_gaps: bool = True
    today: pd.Timestamp | None = None
    max_covariates: int = 20
    covariates: tuple[str, ...] = ()


@dataclass
class LoadResult:
    """A validated upload: ``frame`` in the core contract (``None`` when rejected), the report, and every row
    that was excluded, altered or added (``issue_rows``), plus one line per series (``series``)."""

    frame: pd.DataFrame | None
    report: ValidationReport
    mapping: ColumnMapping
    issue_rows: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=_ISSUE_COLUMNS))
    series: pd.DataFrame = field(default_factory=pd.DataFrame)
    columns: list[str] = field(default_factory=list)
    #: clean-frame names of the covariates declared known in advance (``ValidationOptions.covariates``)
    known_future: list[str] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return self.frame is not None

    def export_frame(self) -> pd.DataFrame:
        """The clean frame with the planner's field names: ``date, sku, channel, location, units, ...``."""
        if self.frame is None:
            raise DataError("The upload was rejected; there is no clean data to export.")
        return to_export_frame(self.frame)


def to_export_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Rename a core frame to the planner's field names, in the documented column order."""
    renamed = frame.rename(columns={schema.DS: schema.DATE, schema.Y: schema.UNITS}).drop(columns=schema.UNIQUE_ID)
    first = [c for c in schema.EXPORT_COLUMNS if c in renamed.columns]
    return renamed[first + [c for c in renamed.columns if c not in first]]


def load_sales(
    source: str | Path | bytes | BinaryIO,
    mapping: ColumnMapping | dict | None = None,
    options: ValidationOptions | None = None,
    filename: str = "",
) -> LoadResult:
    """Read and validate a sales upload. Never raises for bad content: a REJECT comes back as the report."""
    options = options or ValidationOptions()
    resolved = ColumnMapping.from_dict(mapping.to_dict() if isinstance(mapping, ColumnMapping) else mapping)
    source_info: dict[str, str] = {}
    columns: list[str] = []
    try:
        data, name = read_bytes(source)
        raw = read_table(data, filename or name)
        columns = raw.columns
        source_info = _describe_source(raw, filename or name)
        result = _Validator(raw, mapping, options).run()
        result.report.source = source_info
        return result
    except DataError as error:
        report = ValidationReport(schema.REJECT, str(error), mapping=resolved.to_dict(), source=source_info)
        return LoadResult(None, report, resolved, columns=columns)
    except Exception as error:  # noqa: BLE001 - a defect of ours must still end in a report, never a traceback
        logger.exception("Unexpected error while validating %r", filename)
        message = (
            f"The file could not be validated because of an unexpected error ({type(error).__name__}: "
            f"{str(error)[:200]}). Nothing was imported. Saving the table again as CSV (UTF-8) may avoid it; "
            "please report the file to the StockPilot maintainers."
        )
        report = ValidationReport(schema.REJECT, message, [Finding(INTERNAL_ERROR, ISSUE, message)],
                                  mapping=resolved.to_dict(), source=source_info)
        return LoadResult(None, report, resolved, columns=columns)


def _describe_source(raw: RawTable, filename: str) -> dict[str, str]:
    names = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
    return {
        "file": Path(filename).name if filename else "",
        "format": raw.file_format,
        "encoding": raw.encoding,
        "delimiter": names.get(raw.delimiter, raw.delimiter),
    }


class _Validator:
    """One validation run. Steps read and write ``self.work`` (the frame being cleaned) in order."""

    def __init__(self, raw: RawTable, mapping: ColumnMapping | dict | None, options: ValidationOptions):
        self.raw = raw
        self.options = options
        self.user_mapping = mapping
        self.findings: list[Finding] = [Finding("read", NOTICE, n) for n in raw.notices]
        self.logged: list[pd.DataFrame] = []
        self.source = raw.frame
        self.work = pd.DataFrame(index=raw.frame.index)
        self.excluded = pd.Series(False, index=raw.frame.index)
        self.today = (options.today or pd.Timestamp.today()).normalize()
        self.known_future: list[str] = []

    # --- recording -----------------------------------------------------------------------------------------------

    def note(self, code: str, message: str, count: int = 0, examples: tuple[str, ...] = ()) -> None:
        self.findings.append(Finding(code, NOTICE, message, count, examples))

    def flag(self, code: str, message: str, count: int = 0, examples: tuple[str, ...] = ()) -> None:
        self.findings.append(Finding(code, ISSUE, message, count, examples))

    def record(self, code: str, mask: pd.Series, action: str, field_name: str, message: str) -> None:
        """Log the rows in ``mask`` (original content kept), exclude them if asked, and add a finding."""
        index = mask[mask].index
        if not len(index):
            return
        if field_name:
            values = text_cells(self.source.loc[index, self.mapping.mapped()[field_name]])
        else:  # a whole row: show what identifies it
            when = (self.work.loc[index, schema.DS].dt.strftime("%Y-%m-%d").fillna("") if schema.DS in self.work
                    else text_cells(self.source.loc[index, self.mapping.date]))
            values = self.work.loc[index, schema.SKU].astype(str) + " " + when
        part = self.source.loc[index].copy()
        part.insert(0, "value", values)
        part.insert(0, "field", field_name)
        part.insert(0, "action", action)
        part.insert(0, "issue", code)
        self.logged.append(part)
        if action == "excluded":
            self.excluded |= mask
        examples = tuple(example(r, v) for r, v in zip(part[ROW].head(_EXAMPLES), part["value"].head(_EXAMPLES)))
        text = message.format(n=len(index), s="" if len(index) == 1 else "s")
        column = self.mapping.mapped().get(field_name) if field_name else None
        if column and column != field_name:  # say where, in the planner's own column name
            text += f" (Column '{column[:60]}'.)"
        self.flag(code, text, len(index), examples)

    # --- the pipeline --------------------------------------------------------------------------------------------

    def run(self) -> LoadResult:
        if len(self.source) == 0 and len(self.raw.bad_lines) == 0:
            raise DataError(
                "The file has a header but no data rows"
                f" (columns: {', '.join(self.raw.columns[:20])}). Export the sales table again with its rows."
            )
        self._resolve_layout()
        self._bad_lines()
        self._keys()
        self._dates()
        self._units()
        self._price()
        self._promo()
        self._on_hand()
        self._covariates()
        frame = self._kept_rows()
        frame = self._frequency(frame)
        frame = self._duplicates(frame)
        frame = self._gaps(frame)
        series = self._series_flags(frame)
        return self._result(frame, series)

    def _resolve_layout(self) -> None:
        columns = self.raw.columns
        mapping = resolve_mapping(columns, self.user_mapping)
        chosen = ColumnMapping.from_dict(
            self.user_mapping.to_dict() if isinstance(self.user_mapping, ColumnMapping) else self.user_mapping
        )
        user_chose = bool(chosen.units or chosen.sku)  # the planner said where units or SKUs are: no reshaping
        wide_dates = [] if mapping.date else _wide_date_columns(columns)
        if wide_dates:
            self.source, mapping, blanks = _melt_dates_as_columns(self.source, wide_dates, mapping)
            self.note(
                "layout",
                f"Wide layout detected: one column per date ({len(wide_dates)} date columns, {wide_dates[0]} to "
                f"{wide_dates[-1]}). It was reshaped to one row per date and SKU ({len(self.source):,} rows)."
                + _blank_note(blanks),
            )
        elif mapping.date and not mapping.units and not user_chose:
            sku_columns = _sku_columns(self.source, mapping)
            if sku_columns:
                self.source, mapping, blanks = _melt_skus_as_columns(self.source, sku_columns, mapping)
                self.note(
                    "layout",
                    f"Wide layout detected: one column per SKU ({len(sku_columns)} columns such as "
                    f"'{sku_columns[0][:40]}'). It was reshaped to one row per date and SKU ({len(self.source):,} "
                    "rows)." + _blank_note(blanks),
                )
        require_fields(mapping, columns, (schema.DATE, schema.UNITS))
        self.mapping = mapping
        self.work = pd.DataFrame({ROW: self.source[ROW]}, index=self.source.index)
        self.excluded = pd.Series(False, index=self.source.index)
        self.decimal_comma = detect_decimal_comma(
            [self.source[c] for f, c in mapping.mapped().items() if f in (schema.UNITS, schema.PRICE, schema.ON_HAND)],
            semicolon=self.raw.delimiter == ";",
        )
        if self.decimal_comma:
            self.note("decimal", "Decimal comma detected: numbers such as 19,90 were read as 19.90.")

    def _bad_lines(self) -> None:
        """Records with more cells than the header: excluded and listed; the period they were for (read from
        their first cells where possible) is unknown, never a period without sales."""
        bad = self.raw.bad_lines
        self.bad_line_keys = pd.DataFrame()
        if not len(bad):
            return
        part = bad.drop(columns="content").assign(
            issue="malformed_line", action="excluded", field="", value=bad["content"].to_numpy())
        self.logged.append(part)
        self.flag(
            "malformed_line",
            f"{len(bad)} line(s) had more cells than the header and were left out (often an unquoted "
            "delimiter inside a name). Quote such names in the export.",
            len(bad),
            tuple(example(r, v) for r, v in zip(bad[ROW].head(_EXAMPLES), bad["content"].head(_EXAMPLES))),
        )
        mapped = self.mapping.mapped()
        if self.source is not self.raw.frame or not all(c in bad.columns for c in mapped.values()):
            return  # the table was reshaped: its keys are not the header's columns
        keys = pd.DataFrame({schema.DS: parse_dates(bad[mapped[schema.DATE]].astype(str),
                                                    self.options.date_format).dates}, index=bad.index)
        for name in schema.KEY_FIELDS:
            if name in mapped:
                values = text_cells(bad[mapped[name]].astype(str))
                keys[name] = values.where(values != "", _BLANK_KEY) if name != schema.SKU else values
        self.bad_line_keys = keys.dropna(subset=[schema.DS])

    def _keys(self) -> None:
        mapped = self.mapping.mapped()
        if schema.SKU in mapped:
            sku = text_cells(self.source[mapped[schema.SKU]])
            self.record("missing_sku", sku == "", "excluded", schema.SKU, "{n} row{s} had no SKU and were left out.")
        else:
            sku = pd.Series(_NO_SKU, index=self.source.index)
            by = [f for f in (schema.CHANNEL, schema.LOCATION) if f in mapped]
            self.note(
                "no_sku",
                f"No SKU column: each {' and '.join(by)} is read as one series." if by
                else f"No SKU column: the whole file is read as one series named '{_NO_SKU}'.",
            )
        self.work[schema.SKU] = sku
        for name in (schema.CHANNEL, schema.LOCATION, schema.CATEGORY):
            if name in mapped:
                values = text_cells(self.source[mapped[name]])
                blank = values == ""
                self.work[name] = values.where(~blank, _BLANK_KEY)
                self.record(
                    f"blank_{name}", blank & ~self.excluded, "altered", name,
                    f"{{n}} row{{s}} had no {name}; grouped under '{_BLANK_KEY}'.",
                )
        totals = pd.Series(False, index=self.source.index)
        for name in (schema.SKU, schema.CHANNEL, schema.LOCATION):
            if name in mapped and self.work[name].nunique() > 1:
                totals |= self.work[name].str.lower().isin(TOTAL_LABELS)
        self.record(
            "total_rows", totals & ~self.excluded, "excluded", "",
            "{n} row{s} are totals (SKU, channel or location 'Total', '合计' ...), not an item: left out so sales "
            "are not counted twice.",
        )
        long_names = sku.str.len() > 200
        if long_names.any():
            self.note(
                "long_sku", f"{sku[long_names].nunique()} SKU name(s) are longer than 200 characters; they are kept "
                "in full and shortened only for display.",
            )

    def _dates(self) -> None:
        column = self.mapping.date
        reading = parse_dates(self.source[column], self.options.date_format)
        dates = reading.dates
        out_of_range = reading.out_of_range if reading.out_of_range is not None else pd.Series(False, dates.index)
        year = reading.year if reading.year is not None else pd.Series(np.nan, dates.index)
        if dates.notna().sum() == 0 and not out_of_range.any():
            seen = text_cells(self.source[column]).drop_duplicates().head(_EXAMPLES).tolist()
            raise DataError(
                f"The date column '{column}' has no readable dates (values such as "
                f"{', '.join(repr(v[:40]) for v in seen)}). Use dates like 2024-01-31, or choose another column "
                "for the date."
            )
        if reading.order_conflict:
            day_first, month_first = reading.order_conflict
            raise DataError(
                f"The date column '{column}' mixes day-first dates (such as {day_first}) and month-first dates "
                f"(such as {month_first}), so dates like 01/02/2024 cannot be read safely. Export the dates in one "
                "format (best 2024-01-31), or say which order to use: --date-format DMY or MDY (the date format "
                "choice on the Data page); dates that do not fit it are then listed as unreadable."
            )
        self.record(
            "bad_date", dates.isna() & ~out_of_range & ~self.excluded, "excluded", schema.DATE,
            "{n} row{s} with unreadable dates were left out. Write dates as 2024-01-31 (or one consistent format).",
        )
        if reading.day_first is not None or " and " in reading.description:
            order = {True: "day/month/year", False: "month/day/year", None: ""}[reading.day_first]
            why = (
                f" Numeric dates such as 01/02/2024 were read as {order}"
                + (" (forced by the date format option)." if self.options.date_format != "auto" else
                   "; if that is wrong, set the date format (--date-format DMY or MDY).")
                if order else ""
            )
            self.note("date_format", f"Dates read as {reading.description}.{why}")
        future = ((dates > self.today) | (out_of_range & (year > 2000))) & ~self.excluded
        self.record(
            "future_date", future, "excluded", schema.DATE,
            f"{{n}} row{{s}} dated after today ({self.today:%Y-%m-%d}) were kept out of the history.",
        )
        ancient = ((dates < pd.Timestamp("1990-01-01")) | (out_of_range & (year <= 2000))) & ~self.excluded
        self.record(
            "implausible_date", ancient, "excluded", schema.DATE,
            "{n} row{s} dated before 1990 (often an empty date exported as 1900-01-01) were left out.",
        )
        self.work[schema.DS] = dates

    def _units(self) -> None:
        column = self.mapping.units
        reading = parse_numbers(self.source[column], self.decimal_comma, allow_unit=True)
        units = reading.values
        finite = np.isfinite(units) & (units.abs() < MAX_QUANTITY)
        if not finite.any():
            seen = text_cells(self.source[column]).drop_duplicates().head(_EXAMPLES).tolist()
            raise DataError(
                f"The units column '{column}' has no numeric values (values such as {', '.join(map(repr, seen))}). "
                "Choose the column that holds the quantity sold."
            )
        open_rows = ~self.excluded
        self.record(
            "missing_units", reading.missing & open_rows, "excluded", schema.UNITS,
            "{n} row{s} had no units (empty or N/A); they were left out, not read as 0 sales.",
        )
        self.record(
            "non_numeric_units", reading.invalid & open_rows, "excluded", schema.UNITS,
            "{n} row{s} had units that are not a number; they were left out.",
        )
        self.record(
            "invalid_units", units.notna() & ~finite & open_rows, "excluded", schema.UNITS,
            "{n} row{s} had infinite or impossibly large units (1e308, inf); they were left out.",
        )
        self.record(
            "units_with_text", reading.with_unit & ~self.excluded, "altered", schema.UNITS,
            "{n} row{s} had a number followed by a unit (e.g. '12 pcs'); the number was used.",
        )
        negative = (units < 0) & ~self.excluded
        self.record(
            "returns", negative, "altered", schema.UNITS,
            "{n} row{s} had negative units, read as returns: sales set to 0 and the quantity moved to column "
            "'returns' (returns are not negative demand).",
        )
        self.work[schema.Y] = units.clip(lower=0).where(finite)
        if negative.any():
            self.work[schema.RETURNS] = (-units).clip(lower=0)

    def _price(self) -> None:
        if not self.mapping.price:
            return
        reading = parse_numbers(self.source[self.mapping.price], self.decimal_comma)
        price = reading.values
        bad = (reading.invalid | (price <= 0) | ~np.isfinite(price.fillna(1)) | (price >= MAX_QUANTITY))
        self.record(
            "invalid_price", bad & ~self.excluded, "altered", schema.PRICE,
            "{n} row{s} had a zero, negative or unreadable price; the price was left empty, not used.",
        )
        self.work[schema.PRICE] = price.where(~bad)

    def _promo(self) -> None:
        """Promotion flags. A column written one way throughout (0/1, yes/no, 20%, campaign names) is read as
        written; cells written another way than the rest of the column, and empty cells in a column that
        writes 'no' explicitly, are read by a stated rule and listed."""
        if not self.mapping.promo:
            return
        column = self.mapping.promo
        reading = parse_promo(self.source[column], self.decimal_comma)
        open_rows = ~self.excluded
        notation = reading.notation[open_rows & ~reading.invalid]
        written = notation[notation != "blank"]
        dominant = written.mode().iloc[0] if len(written) else "blank"
        says_no = (reading.values[open_rows & ~reading.blank & ~reading.invalid] == 0).any()
        blank = reading.blank & open_rows
        if blank.any() and (says_no and dominant != "label"):
            self.record(
                "promo_blank", blank, "altered", schema.PROMO,
                "{n} promotion cell{s} were empty in a column that otherwise says 'no' explicitly; read as no "
                "promotion (0).",
            )
        elif blank.any():
            self.note("promo_blank", f"{int(blank.sum()):,} empty promotion cells read as no promotion (0): the "
                      "column marks only promotion periods.", int(blank.sum()))
        if dominant in ("number", "word", "percent"):
            other = open_rows & ~reading.blank & ~reading.invalid & (reading.notation != dominant)
            if other.any():
                shown = {"number": "numbers (0/1)", "word": "words (yes/no)", "percent": "percentages"}[dominant]
                self.record(
                    "promo_mixed", other, "altered", schema.PROMO,
                    f"{{n}} promotion cell{{s}} are written differently from the rest of the column ({shown}), e.g. "
                    "'yes', 'TRUE', '20%' or a campaign name; read as on promotion (1), 'no' words as 0, and "
                    "percentages as a discount depth.",
                )
        if (reading.label & open_rows).any():
            labels = text_cells(self.source.loc[reading.label & open_rows, column])
            if dominant == "label":
                self.note(
                    "promo_label", f"{len(labels):,} promotion cells held text such as '{labels.iloc[0][:40]}'; "
                    "read as on promotion (1), the text kept in column 'promo_label'.", len(labels),
                )
            self.work["promo_label"] = text_cells(self.source[column]).where(reading.label, "")
        self.record(
            "invalid_promo", reading.invalid & open_rows, "altered", schema.PROMO,
            "{n} row{s} had a promotion value that is neither a yes/no flag nor a discount depth between 0 and 1 "
            "(or 0-100%); it was left empty (unknown).",
        )
        self.work[schema.PROMO] = reading.values
        if dominant in ("word", "percent"):
            self.note("promo_notation", {
                "word": "Promotion flags written as words (yes/no, true/false, 是/否) were read as 1/0.",
                "percent": "Promotion discounts written as percentages (20%) were read as depths (0.2).",
            }[dominant])

    def _on_hand(self) -> None:
        if not self.mapping.on_hand:
            return
        reading = parse_numbers(self.source[self.mapping.on_hand], self.decimal_comma)
        stock = reading.values
        bad = reading.invalid | (stock < 0) | ~np.isfinite(stock.fillna(0)) | (stock >= MAX_QUANTITY)
        self.record(
            "invalid_on_hand", bad & ~self.excluded, "altered", schema.ON_HAND,
            "{n} row{s} had a negative or unreadable stock level; it was left empty.",
        )
        stock = stock.where(~bad)
        self.work[schema.ON_HAND] = stock
        self.work[schema.STOCKOUT] = (stock <= 0).astype("int8")

    def _covariates(self) -> None:
        used = set(self.mapping.mapped().values())
        declared = list(dict.fromkeys(c.strip() for c in self.options.covariates if c and c.strip()))
        absent = [c for c in declared if c not in self.source.columns]
        if absent:
            raise DataError(
                f"Covariate column(s) {', '.join(repr(c) for c in absent)} are not in the file. Its columns are: "
                f"{', '.join(repr(c) for c in self.raw.columns[:30])}. Check the spelling of --covariates."
            )
        clash = [c for c in declared if c in used]
        if clash:
            raise DataError(
                f"Column(s) {', '.join(repr(c) for c in clash)} are mapped to a field (date, sku, units, ...) and "
                "cannot also be covariates. Remove them from the covariates or map the field to another column."
            )
        extras = [c for c in self.raw.columns if c not in used and c in self.source.columns and c not in declared]
        if not extras and not declared:
            return
        numeric = _numeric_columns(self.source, extras, self.decimal_comma)
        kept = numeric[: self.options.max_covariates]
        # a declared column is numbers only if every filled cell is one (StateHoliday's '0' vs 'a' is a label)
        numeric += [c for c in declared if _all_numbers(self.source[c], self.decimal_comma)]
        reserved = set(schema.FIELDS) | {schema.UNIQUE_ID, schema.DS, schema.Y, schema.STOCKOUT, schema.RETURNS,
                                         schema.FILLED, "promo_label"}
        for column in kept + declared:
            name = column if column not in reserved else f"x_{column}"
            if column in numeric:
                self.work[name] = parse_numbers(self.source[column], self.decimal_comma).values
            else:  # a label such as an event name: text, blank = no label
                labels = text_cells(self.source[column]).str.strip()
                self.work[name] = labels.where(labels != "")
            if column in declared:
                self.known_future.append(name)
        if declared:
            kinds = [f"{c} ({'numbers' if c in numeric else 'labels'})" for c in declared]
            self.note("known_future", f"Declared known in advance, used for future periods: {', '.join(kinds)}.",
                      len(declared))
        ignored = [c for c in extras if c not in kept]
        message = ""
        if kept:
            message = f"{len(kept)} extra numeric column(s) kept as candidate covariates ({', '.join(kept[:8])}"
            message += ", ...)." if len(kept) > 8 else ")."
        if ignored:
            message += f" {len(ignored)} other column(s) ignored ({', '.join(c[:30] for c in ignored[:8])}"
            message += ", ...)." if len(ignored) > 8 else ")."
        if message:
            self.note("extra_columns", message.strip(), len(extras))

    def _kept_rows(self) -> pd.DataFrame:
        if self.excluded.all():
            reasons = "; ".join(f.message for f in self.findings if f.severity == ISSUE)
            raise DataError(f"No usable rows remain after validation: {reasons}")
        keys = [k for k in schema.KEY_FIELDS if k in self.work.columns]
        uid = self.work[keys[0]].astype(str)
        for key in keys[1:]:
            uid = uid + schema.ID_SEPARATOR + self.work[key].astype(str)
        self.work[schema.UNIQUE_ID] = uid
        # A period whose row was left out for its units is unknown, never "no sales": gaps keep it empty.
        unusable = self.excluded & self.work[schema.Y].isna() & self.work[schema.DS].notna()
        unknown = [self.work.loc[unusable, [schema.UNIQUE_ID, schema.DS]]]
        if len(self.bad_line_keys) and all(k in self.bad_line_keys.columns for k in keys):
            bad_uid = self.bad_line_keys[keys[0]].astype(str)
            for key in keys[1:]:
                bad_uid = bad_uid + schema.ID_SEPARATOR + self.bad_line_keys[key].astype(str)
            unknown.append(pd.DataFrame({schema.UNIQUE_ID: bad_uid, schema.DS: self.bad_line_keys[schema.DS]}))
        self.unknown_periods = pd.concat(unknown, ignore_index=True).drop_duplicates()
        frame = self.work.loc[~self.excluded]
        return frame.sort_values([schema.UNIQUE_ID, schema.DS, ROW], kind="stable")

    def _frequency(self, frame: pd.DataFrame) -> pd.DataFrame:
        per_series = _series_frequency(frame)
        weights = per_series.dropna(subset=["freq"]).groupby("freq")["n"].sum()
        self.freq = str(weights.idxmax()) if len(weights) else schema.DAILY
        enough = per_series["n"] >= per_series["freq"].map(_MIN_ROWS_FOR_FREQUENCY).fillna(np.inf)
        other = per_series[per_series["freq"].notna() & (per_series["freq"] != self.freq) & enough]
        if len(other):
            mask = frame[schema.UNIQUE_ID].isin(other.index)
            freq_name = schema.FREQ_NAMES[self.freq]
            ids = ", ".join(f"'{i[:40]}' ({schema.FREQ_NAMES[f]})" for i, f in other["freq"].head(3).items())
            self.record(
                "mixed_frequency", pd.Series(mask.to_numpy(), index=frame.index).reindex(self.source.index,
                                                                                            fill_value=False),
                "excluded", schema.DATE,
                f"{len(other)} series recorded at another frequency than the rest of the file ({freq_name}): "
                f"{ids}. Their {{n}} row{{s}} were left out; upload them as a separate dataset.",
            )
            frame = frame.loc[~mask]
        if self.freq == schema.WEEKLY:
            weekday = frame[schema.DS].dt.day_of_week
            anchor = int(weekday.mode().iloc[0])
            if (weekday != anchor).any():
                shift = pd.to_timedelta((weekday - anchor) % 7, unit="D")
                frame = frame.assign(**{schema.DS: frame[schema.DS] - shift})
                self.note("week_anchor", f"Weeks labelled on different weekdays were aligned to "
                          f"{pd.Timestamp(2024, 1, 1 + anchor):%A}s (the most common).")
        elif self.freq == schema.MONTHLY and (frame[schema.DS].dt.day != 1).any():
            frame = frame.assign(**{schema.DS: frame[schema.DS].dt.to_period("M").dt.start_time})
            self.note("month_anchor", "Monthly dates were labelled by the first day of their month.")
        periods = frame[schema.DS].nunique()
        if periods < MIN_DATASET_PERIODS:
            unit = {schema.DAILY: "day", schema.WEEKLY: "week", schema.MONTHLY: "month"}[self.freq]
            raise DataError(
                f"The file holds {periods} {unit}{'s' if periods != 1 else ''} of history; at least "
                f"{MIN_DATASET_PERIODS} are needed to forecast (and {MIN_SERIES_PERIODS[self.freq]} per SKU for a "
                "model forecast). Upload a longer history."
            )
        return frame

    def _duplicates(self, frame: pd.DataFrame) -> pd.DataFrame:
        key = [schema.UNIQUE_ID, schema.DS]
        shared = frame.duplicated(key, keep=False)
        if not shared.any():
            return frame
        policy = self.options.duplicates
        value_columns = [c for c in frame.columns if c != ROW]
        exact = frame.duplicated(value_columns, keep="first")
        order_lines = policy == "auto" and frame.loc[~exact].duplicated(key, keep=False).mean() > 0.3
        source_mask = lambda mask: pd.Series(mask.to_numpy(), index=frame.index).reindex(  # noqa: E731
            self.source.index, fill_value=False)
        if order_lines or policy == "sum":
            self.note(
                "aggregated",
                f"{int(shared.sum()):,} rows share a date and series with another row: read as order lines and "
                "summed per period (units and returns added, price averaged, promotion and stock-out kept if any).",
                int(shared.sum()),
            )
            return _aggregate(frame, key)
        self.record(
            "duplicate_rows", source_mask(exact), "excluded", "",
            "{n} exact duplicate row{s} (same date, series and values) were dropped; the first copy was kept.",
        )
        frame = frame.loc[~exact]
        conflicting = frame.duplicated(key, keep=False)
        if conflicting.any():
            action = "summed" if policy == "auto" else "excluded"
            self.record(
                "conflicting_rows", source_mask(conflicting & frame.duplicated(key, keep="first")),
                action, schema.UNITS,
                "{n} row{s} repeat a date and series with different values; " + (
                    "their units were added to the first row's." if action == "summed" else "the first was kept."),
            )
            frame = _aggregate(frame, key) if action == "summed" else frame.loc[~frame.duplicated(key)]
        return frame

    def _gaps(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Make every series regular from its first to its last period.

        Exports usually leave out periods without sales, so a missing period is read as 0 units -- when that is
        plausible. It is not when a series that almost always has a row misses a whole run of periods (a run
        that long would turn up by chance less often than :data:`GAP_CHANCE`), nor when every series misses the
        same periods at once (an outage of the data, not of demand). Such periods are added as unobserved
        (units empty), as are periods whose row was left out for unreadable units. A weekday on which no series
        ever has a row is a closed day: 0.
        """
        bounds = frame.groupby(schema.UNIQUE_ID, sort=False)[schema.DS].agg(["min", "max", "size"])
        full = _full_index(bounds, self.freq)
        missing = len(full) - len(frame)
        if missing <= 0:
            return frame.assign(**{schema.FILLED: np.int8(0)})
        if not self.options.fill_gaps:
            self.flag("gaps", f"{missing:,} missing periods inside series were left missing (treated as unobserved).",
                      missing)
            return frame.assign(**{schema.FILLED: np.int8(0)})
        filled = full.merge(frame, on=[schema.UNIQUE_ID, schema.DS], how="left", indicator=True)
        added = (filled["_merge"] == "left_only").to_numpy()
        filled = filled.drop(columns="_merge")
        keys = [c for c in (schema.SKU, schema.CHANNEL, schema.LOCATION, schema.CATEGORY) if c in filled.columns]
        filled[keys] = filled.groupby(schema.UNIQUE_ID, sort=False)[keys].ffill()
        span = full.groupby(schema.UNIQUE_ID, sort=False).size()
        absent_share = (span - bounds["size"].reindex(span.index) + 0.5) / (span + 1)  # smoothed: never 0 or 1
        closed = self._closed_weekdays(frame)
        open_day = ~filled[schema.DS].dt.day_of_week.isin(closed).to_numpy()
        unknown = filled[[schema.UNIQUE_ID, schema.DS]].merge(
            self.unknown_periods.assign(_unknown=True), how="left", on=[schema.UNIQUE_ID, schema.DS]
        )["_unknown"].fillna(False).to_numpy(dtype=bool)
        candidates = added & open_day
        outage = candidates & self._outages(filled, candidates, len(bounds), absent_share)
        # runs of missing periods that are this series' own (not an outage of all, not a row with bad units)
        own = candidates & ~outage & ~unknown
        uid = filled[schema.UNIQUE_ID]
        known_span = pd.Series((~(outage | unknown)).astype(int), index=uid.index).groupby(uid, sort=False).sum()
        own_share = (pd.Series(own.astype(int), index=uid.index).groupby(uid, sort=False).sum() + 0.5) / (
            known_span + 1)
        data_gap = own & _improbable_runs(uid.to_numpy(), own, own_share)
        unobserved = outage | unknown | data_gap
        zero = added & ~unobserved
        filled.loc[zero, schema.Y] = 0.0
        for column in (schema.PROMO, schema.RETURNS):
            if column in filled.columns:
                filled.loc[zero, column] = 0.0
        if schema.PRICE in filled.columns:  # price stays what it was until it changes
            filled[schema.PRICE] = filled.groupby(schema.UNIQUE_ID, sort=False)[schema.PRICE].ffill()
        filled[schema.FILLED] = added.astype("int8")
        period = schema.FREQ_NAMES[self.freq]
        step = _STEP_DAYS[self.freq]
        if zero.any():
            self._log_added(filled.loc[zero], "gaps", "0")
            self.note(
                "gaps",
                f"{int(zero.sum()):,} {period} periods missing inside {filled.loc[zero, schema.UNIQUE_ID].nunique()} "
                "series were filled with 0 units: exports usually leave out periods without sales. They are marked "
                "in column 'filled' and listed in the download.",
                int(zero.sum()), _added_examples(filled.loc[zero]),
            )
        if (added & unknown).any():
            self.note(
                "unknown_units", f"{int((added & unknown).sum()):,} period(s) whose row was left out (unreadable "
                "units, or a malformed line) are kept as unobserved (units empty, 'filled' = 1), not as zero sales.",
                int((added & unknown).sum()),
            )
        if outage.any():
            self._log_added(filled.loc[outage], "outage", "")
            dates = pd.DatetimeIndex(sorted(filled.loc[outage, schema.DS].unique()))
            self.flag(
                "outage",
                f"{len(dates)} {period} period(s) have no rows for any series ({_date_ranges(dates, step)}): this "
                "looks like missing data, not zero sales, so those periods are kept as unobserved (units empty, "
                f"column 'filled' = 1) and are not read as demand. {int(outage.sum()):,} rows were added. Export "
                "those periods again if they had sales.",
                int(outage.sum()), _added_examples(filled.loc[outage]),
            )
        if data_gap.any():
            self._log_added(filled.loc[data_gap], "data_gap", "")
            gaps = filled.loc[data_gap]
            by_series = list(gaps.groupby(schema.UNIQUE_ID, sort=False)[schema.DS])
            examples = tuple(
                f"{uid[:40]}: {_date_ranges(pd.DatetimeIndex(sorted(dates)), step, limit=2)}"
                for uid, dates in by_series[:_EXAMPLES]
            )
            self.flag(
                "data_gap",
                f"{int(data_gap.sum()):,} {period} periods are missing in {len(by_series)} series in runs too long "
                "to be periods without sales (those series have a row almost every period): kept as unobserved "
                "(units empty, column 'filled' = 1), not read as 0. Export those periods again if they had sales.",
                int(data_gap.sum()), examples,
            )
        return filled

    def _closed_weekdays(self, frame: pd.DataFrame) -> set[int]:
        """Weekdays (daily data) without a row for any series in at least 80% of weeks: closed days, sold 0."""
        if self.freq != schema.DAILY or frame[schema.UNIQUE_ID].nunique() < 2:
            return set()
        span = pd.date_range(frame[schema.DS].min(), frame[schema.DS].max(), freq="D")
        if len(span) < 28:
            return set()
        absent = ~span.isin(pd.DatetimeIndex(frame[schema.DS].unique()))
        share = pd.Series(absent, index=span).groupby(span.day_of_week).mean()
        closed = {int(day) for day in share.index[share >= 0.8]}
        if not closed or len(closed) == 7:
            return set()
        days = ", ".join(f"{pd.Timestamp(2024, 1, 1 + d):%A}s" for d in sorted(closed))
        self.note("closed_days", f"No series has rows on {days}: read as closed days with 0 sales.")
        return closed

    def _outages(self, filled: pd.DataFrame, candidates: np.ndarray, n_series: int,
                 absent_share: pd.Series) -> np.ndarray:
        """Rows on dates that every running series misses, in runs of dates too long to be chance."""
        none = np.zeros(len(filled), dtype=bool)
        if n_series < 2 or not candidates.any():
            return none
        dates = filled[schema.DS]
        running = dates.value_counts()
        missing = dates[candidates].value_counts()
        everywhere = missing.index[missing.to_numpy() == running.reindex(missing.index).to_numpy()].sort_values()
        if not len(everywhere):
            return none
        # log of the chance that every running series misses the date by chance; summed over runs of dates
        codes, uniques = pd.factorize(filled[schema.UNIQUE_ID])
        log_share = pd.Series(np.log(absent_share.reindex(uniques).to_numpy())[codes], index=dates.to_numpy())
        per_date = log_share.groupby(level=0).sum().reindex(everywhere)
        run = (per_date.index.to_series().diff() > pd.Timedelta(days=1.5 * _STEP_DAYS[self.freq])).cumsum()
        run_chance = per_date.groupby(run.to_numpy()).transform("sum")
        improbable = per_date.index[(run_chance + np.log(len(running))).to_numpy() < np.log(GAP_CHANCE)]
        return dates.isin(improbable).to_numpy()

    def _log_added(self, added: pd.DataFrame, code: str, units: str) -> None:
        mapped = self.mapping.mapped()
        part = pd.DataFrame({ROW: pd.array([pd.NA] * len(added), dtype="Int64"), "issue": code,
                             "action": "added", "field": schema.DATE,
                             "value": added[schema.DS].dt.strftime("%Y-%m-%d")})
        part[mapped[schema.DATE]] = part["value"].to_numpy()
        for name in (schema.SKU, schema.CHANNEL, schema.LOCATION):
            if name in mapped:
                part[mapped[name]] = added[name].to_numpy()
        part[mapped[schema.UNITS]] = units
        self.logged.append(part)

    def _series_flags(self, frame: pd.DataFrame) -> pd.DataFrame:
        grouped = frame.groupby(schema.UNIQUE_ID, sort=True)
        series = grouped.agg(first=(schema.DS, "min"), last=(schema.DS, "max"), periods=(schema.DS, "size"),
                             units=(schema.Y, "sum"), observed=(schema.Y, "count"))
        series["zero_share"] = (frame[schema.Y] == 0).groupby(frame[schema.UNIQUE_ID]).mean().reindex(series.index)
        for key in (schema.SKU, schema.CHANNEL, schema.LOCATION, schema.CATEGORY):
            if key in frame.columns:
                series[key] = grouped[key].first()
        minimum = MIN_SERIES_PERIODS[self.freq]
        unit = {schema.DAILY: "days", schema.WEEKLY: "weeks", schema.MONTHLY: "months"}[self.freq]
        flags = pd.Series("", index=series.index)
        short = series["periods"] < minimum
        never = (series["units"] == 0) & (series["observed"] > 0)
        end = frame[schema.DS].max()
        stale_after = {schema.DAILY: 28, schema.WEEKLY: 8 * 7, schema.MONTHLY: 93}[self.freq]
        stale = (end - series["last"]).dt.days >= stale_after
        stale_long = stale & ~short
        # A short series is a new item when its rows reach the end of the file: within the last week (two weeks,
        # a month) for several rows; a single row only on the last two periods (a lone row earlier is a one-off,
        # e.g. a mistyped SKU). Short series that stopped earlier are one-off or retired items: no forecast needed.
        new_within = {schema.DAILY: 7, schema.WEEKLY: 14, schema.MONTHLY: 31}[self.freq]
        since_last = (end - series["last"]).dt.days
        active_short = short & (since_last < new_within) & (
            (series["periods"] > 1) | (since_last <= _STEP_DAYS[self.freq]))
        if active_short.any():
            flags[active_short] += "short history; "
            self.flag(
                "short_history",
                f"{int(active_short.sum())} active series have fewer than {minimum} {unit} of history: too short "
                "for a model forecast; they are forecast by their own average so far (a stated fallback).",
                int(active_short.sum()),
                tuple(f"{i[:40]} ({n} {unit})" for i, n in series.loc[active_short, "periods"].head(5).items()),
            )
        one_off = short & ~active_short
        if one_off.any():
            flags[one_off] += "one-off; "
            self.note(
                "one_off",
                f"{int(one_off.sum())} series have fewer than {minimum} {unit} of rows and none in the last "
                f"{new_within} days (one-off or retired items): kept in the data; no forecast is needed for them.",
                int(one_off.sum()), tuple(i[:40] for i in series.index[one_off][:5]),
            )
        if never.any():
            flags[never] += "never sold; "
            self.flag(
                "never_sold",
                f"{int(never.sum())} series never sold in this history: their forecast and suggested order are 0.",
                int(never.sum()), tuple(i[:40] for i in series.index[never][:5]),
            )
        if stale_long.any():
            flags[stale_long] += "no recent sales; "
            self.note(
                "stale",
                f"{int(stale_long.sum())} series have no rows in the last {stale_after} days before {end:%Y-%m-%d} "
                "(discontinued, or zero days left out of the export).", int(stale_long.sum()),
                tuple(f"{i[:40]} (last {d:%Y-%m-%d})" for i, d in series.loc[stale_long, "last"].head(5).items()),
            )
        if schema.STOCKOUT in frame.columns:
            stockouts = frame.loc[frame[schema.STOCKOUT] == 1]
            if len(stockouts):
                series["stockout_periods"] = stockouts.groupby(schema.UNIQUE_ID).size().reindex(series.index).fillna(0)
                self.note(
                    "stockouts",
                    f"{len(stockouts):,} periods in {stockouts[schema.UNIQUE_ID].nunique()} series ended with zero "
                    "stock: sales there are censored (demand may have been higher); marked in column 'stockout'.",
                    len(stockouts),
                )
        series["flags"] = flags.str.rstrip("; ")
        return series.reset_index()

    def _result(self, frame: pd.DataFrame, series: pd.DataFrame) -> LoadResult:
        ordered = [schema.UNIQUE_ID, schema.DS, schema.Y]
        frame = frame[ordered + [c for c in frame.columns if c not in ordered and c != ROW]].reset_index(drop=True)
        frame[schema.UNIQUE_ID] = frame[schema.UNIQUE_ID].astype(str)
        issue_rows = pd.concat(self.logged, ignore_index=True) if self.logged else pd.DataFrame(columns=_ISSUE_COLUMNS)
        issue_rows = issue_rows[_ISSUE_COLUMNS[:1] + _ISSUE_COLUMNS[1:] +
                                [c for c in issue_rows.columns if c not in _ISSUE_COLUMNS]]
        issue_rows[ROW] = pd.array(issue_rows[ROW], dtype="Int64")
        outcome = schema.ACCEPT_WITH_ISSUES if any(f.severity == ISSUE for f in self.findings) else schema.ACCEPT
        rows_read = len(self.raw.frame) + len(self.raw.bad_lines)
        headline = (
            f"{len(frame):,} rows in {frame[schema.UNIQUE_ID].nunique():,} series imported"
            + (f"; {len(self.issues_summary())} kind(s) of problem found and handled (see below)."
               if outcome == schema.ACCEPT_WITH_ISSUES else ".")
        )
        report = ValidationReport(
            outcome=outcome, headline=headline, findings=self.findings, mapping=self.mapping.to_dict(),
            freq=self.freq, rows_read=rows_read, rows_clean=len(frame), n_series=frame[schema.UNIQUE_ID].nunique(),
            start=f"{frame[schema.DS].min():%Y-%m-%d}", end=f"{frame[schema.DS].max():%Y-%m-%d}",
        )
        return LoadResult(frame, report, self.mapping, issue_rows, series, self.raw.columns, self.known_future)

    def issues_summary(self) -> list[str]:
        return [f.code for f in self.findings if f.severity == ISSUE]


# --- helpers ----------------------------------------------------------------------------------------------------------


def _series_frequency(frame: pd.DataFrame) -> pd.DataFrame:
    """Per series: number of distinct dates and its own frequency (None when too few dates to tell).

    Weekly: every step a multiple of 7 days. Monthly: every date on the same day of the month (or month end) and
    28+ days apart, so steps are whole months and gaps do not hide a monthly series. ``frame`` is sorted by
    series and date.
    """
    dates = frame[[schema.UNIQUE_ID, schema.DS]].drop_duplicates()
    codes, uniques = pd.factorize(dates[schema.UNIQUE_ID])
    stamps = dates[schema.DS]
    days = stamps.to_numpy().astype("datetime64[D]").astype(np.int64)
    first = np.r_[True, codes[1:] != codes[:-1]] if len(codes) else np.zeros(0, bool)
    step = np.where(first, 0, np.diff(days, prepend=days[:1]))
    groups = len(uniques)
    n = np.bincount(codes, minlength=groups)
    min_step = np.full(groups, np.inf)
    np.minimum.at(min_step, codes[~first], step[~first])
    not_weekly = np.bincount(codes, weights=(~first & (step % 7 != 0)), minlength=groups) > 0
    not_monthly = np.bincount(codes, weights=(~first & (step < 28)), minlength=groups) > 0
    month_day = np.where(stamps.dt.is_month_end.to_numpy(), 31, stamps.dt.day.to_numpy())
    distinct_days = np.bincount(np.unique(codes * 32 + month_day) // 32, minlength=groups)
    stats = pd.DataFrame({"n": n, "min_step": min_step, "weekly": ~not_weekly, "month_days": distinct_days,
                          "monthly": ~not_monthly}, index=pd.Index(uniques, name=schema.UNIQUE_ID))
    freq = np.full(groups, schema.DAILY, dtype=object)
    freq[(n >= 3) & ~not_weekly & (min_step >= 7)] = schema.WEEKLY
    freq[(n >= 3) & (distinct_days == 1) & ~not_monthly] = schema.MONTHLY
    freq[n < 2] = None
    stats["freq"] = freq
    return stats


def _improbable_runs(ids: np.ndarray, candidates: np.ndarray, absent_share: pd.Series) -> np.ndarray:
    """Mark runs of consecutive missing periods within a series that are too long to be chance.

    A series without a row in a share ``p`` of its ``n`` periods shows a run of ``L`` missing periods about
    ``n * p**L`` times; runs expected less often than :data:`GAP_CHANCE` are data gaps. ``ids`` must be grouped
    by series, periods in order (as :func:`_full_index` makes them).
    """
    if not candidates.any():
        return candidates.copy()
    new_series = np.r_[True, ids[1:] != ids[:-1]]
    starts = candidates & (new_series | ~np.r_[False, candidates[:-1]])
    run_id = np.cumsum(starts)
    run_length = np.bincount(run_id[candidates], minlength=int(run_id.max()) + 1)[run_id]
    codes, uniques = pd.factorize(ids)
    share = absent_share.reindex(uniques).to_numpy()[codes]
    periods = np.bincount(codes)[codes]
    return candidates & (periods * np.power(share, run_length) < GAP_CHANCE)


def _added_examples(added: pd.DataFrame) -> tuple[str, ...]:
    return tuple(f"{u[:40]} {d:%Y-%m-%d}" for u, d in zip(added[schema.UNIQUE_ID].head(3), added[schema.DS].head(3)))


def _date_ranges(dates: pd.DatetimeIndex, max_step_days: int, limit: int = 4) -> str:
    """``2024-01-21 to 2024-02-04, 2024-03-01`` for sorted dates; neighbours at most ``max_step_days`` apart join."""
    runs: list[list[pd.Timestamp]] = []
    for date in dates:
        if runs and (date - runs[-1][-1]).days <= max_step_days:
            runs[-1].append(date)
        else:
            runs.append([date])
    text = [f"{r[0]:%Y-%m-%d}" + (f" to {r[-1]:%Y-%m-%d}" if len(r) > 1 else "") for r in runs[:limit]]
    return ", ".join(text) + (f" and {len(runs) - limit} more" if len(runs) > limit else "")


def _full_index(bounds: pd.DataFrame, freq: str) -> pd.DataFrame:
    """Every period from each series' first to last date."""
    if freq == schema.MONTHLY:
        start = bounds["min"].dt.to_period("M")
        lengths = ((bounds["max"].dt.to_period("M") - start).apply(lambda offset: offset.n) + 1).to_numpy()
    else:
        days = 1 if freq == schema.DAILY else 7
        lengths = ((bounds["max"] - bounds["min"]).dt.days // days + 1).to_numpy()
    ids = np.repeat(bounds.index.to_numpy(), lengths)
    offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    if freq == schema.MONTHLY:
        months = np.repeat(start.dt.year.to_numpy() * 12 + start.dt.month.to_numpy() - 1, lengths) + offsets
        ds = pd.to_datetime({"year": months // 12, "month": months % 12 + 1, "day": 1})
    else:
        ds = np.repeat(bounds["min"].to_numpy(), lengths) + pd.to_timedelta(offsets * days, unit="D")
    return pd.DataFrame({schema.UNIQUE_ID: ids, schema.DS: pd.DatetimeIndex(ds).astype("datetime64[ns]")})


def _aggregate(frame: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    """One row per series and period: units and returns summed, price averaged, flags kept if any row had them."""
    how: dict[str, str] = {}
    for column in frame.columns:
        if column in key:
            continue
        if column in (schema.Y, schema.RETURNS):
            how[column] = "sum"
        elif column in (schema.PROMO, schema.STOCKOUT):
            how[column] = "max"
        elif column in (schema.PRICE,) or pd.api.types.is_float_dtype(frame[column].dtype):
            how[column] = "mean"
        elif column == schema.ON_HAND:
            how[column] = "last"
        else:
            how[column] = "first"
    return frame.groupby(key, sort=False, as_index=False).agg(how)


def _wide_date_columns(columns: list[str]) -> list[str]:
    """Column names that are dates, when they make up most of the header (one column per date)."""
    if len(columns) < 4:
        return []
    reading = parse_dates(pd.Series(columns, dtype=object))
    dated = [c for c, d in zip(columns, reading.dates) if pd.notna(d)]
    return dated if len(dated) >= 3 and len(dated) >= 0.5 * len(columns) else []


def _sku_columns(frame: pd.DataFrame, mapping: ColumnMapping) -> list[str]:
    """Columns that hold one SKU's units each (a date column, then one numeric column per SKU), or ``[]``.

    A header like ``SKU-001`` may have been taken for the SKU column; a numeric column cannot be one, so it
    counts as a SKU column here. Columns mapped to price, promotion or stock never do.
    """
    taken = {column for name, column in mapping.mapped().items() if name != schema.SKU}
    candidates = [c for c in frame.columns if c != ROW and c not in taken]
    numeric = _numeric_columns(frame, candidates)
    if len(numeric) < 2 or (mapping.sku and mapping.sku not in numeric):
        return []
    return numeric


def _melt_dates_as_columns(
    frame: pd.DataFrame, date_columns: list[str], mapping: ColumnMapping
) -> tuple[pd.DataFrame, ColumnMapping, dict[str, int]]:
    """One row per SKU and one column per date -> one row per SKU and date. Numeric non-date columns (totals)
    are dropped; text columns identify the series."""
    others = [c for c in frame.columns if c not in date_columns and c != ROW]
    totals = [c for c in _numeric_columns(frame, others) if c == mapping.units or _is_total_label(c)]
    id_columns = [c for c in others if c not in totals]
    position = {column: index for index, column in enumerate(date_columns)}
    long = frame.melt(id_vars=id_columns + [ROW], value_vars=date_columns, var_name=schema.DATE,
                      value_name=schema.UNITS)
    long["_position"] = long[schema.DATE].map(position)
    long, blanks = _settle_wide_blanks(long, [ROW], "_position")
    long = long.drop(columns="_position").reset_index(drop=True)
    detected = resolve_mapping(id_columns, {k: v for k, v in mapping.mapped().items() if v in id_columns})
    sku = detected.sku or next((c for c in id_columns if c not in detected.mapped().values()), None)
    if sku is None:
        long[schema.SKU] = _NO_SKU
        sku = schema.SKU
    mapped = {**detected.to_dict(), "date": schema.DATE, "units": schema.UNITS, "sku": sku}
    return long, ColumnMapping(**mapped), blanks


def _melt_skus_as_columns(
    frame: pd.DataFrame, sku_columns: list[str], mapping: ColumnMapping
) -> tuple[pd.DataFrame, ColumnMapping, dict[str, int]]:
    id_columns = [c for c in frame.columns if c not in sku_columns]
    long = frame.melt(id_vars=id_columns, value_vars=sku_columns, var_name=schema.SKU, value_name=schema.UNITS)
    long["_position"] = long[ROW]
    long, blanks = _settle_wide_blanks(long, [schema.SKU], "_position")
    long = long.drop(columns="_position").reset_index(drop=True)
    return long, ColumnMapping(**{**mapping.to_dict(), "sku": schema.SKU, "units": schema.UNITS}), blanks


def _settle_wide_blanks(long: pd.DataFrame, series: list[str], order: str) -> tuple[pd.DataFrame, dict[str, int]]:
    """Empty cells of a pivot table: before a series' first and after its last value the item did not exist yet
    (or any more), so those cells are dropped; between values an empty cell is a period without sales (0)."""
    long = long.sort_values(series + [order], kind="stable")
    blank = long[schema.UNITS].astype(str).str.strip() == ""
    if not blank.any():
        return long, {"zero": 0, "outside": 0}
    seen = (~blank).astype(int).groupby([long[c] for c in series], sort=False)
    so_far = seen.cumsum()
    before = so_far == 0
    after = so_far == seen.transform("sum")
    outside = blank & (before | after)
    inside = blank & ~outside
    long.loc[inside, schema.UNITS] = "0"
    return long.loc[~outside], {"zero": int(inside.sum()), "outside": int(outside.sum())}


def _is_total_label(name: str) -> bool:
    lowered = str(name).strip().lower()
    return lowered in TOTAL_LABELS or any(word in lowered for word in ("total", "合计", "总计", "汇总"))


def _blank_note(blanks: dict[str, int]) -> str:
    text = ""
    if blanks.get("zero"):
        text += f" {blanks['zero']:,} empty cells between a series' values were read as 0 sales."
    if blanks.get("outside"):
        text += f" {blanks['outside']:,} empty cells before a series' first or after its last value were left out."
    return text


def _numeric_columns(frame: pd.DataFrame, columns: list[str], decimal_comma: bool = False) -> list[str]:
    """Columns whose non-empty cells are at least 90% numbers (judged on a sample of rows, all columns at once)."""
    if not columns:
        return []
    sample = frame[columns].head(2000)
    reading = parse_numbers(pd.Series(sample.to_numpy(dtype=object).ravel(order="F"), dtype=object), decimal_comma)
    rows = len(sample)
    filled = (~reading.missing.to_numpy()).reshape(len(columns), rows).sum(axis=1)
    numbers = reading.values.notna().to_numpy().reshape(len(columns), rows).sum(axis=1)
    return [c for c, f, n in zip(columns, filled, numbers) if f and n >= 0.9 * f]


def _all_numbers(column: pd.Series, decimal_comma: bool) -> bool:
    reading = parse_numbers(column, decimal_comma)
    filled = ~reading.missing.to_numpy()
    return bool(filled.any()) and bool(reading.values.notna().to_numpy()[filled].all())


__all__ = ["LoadResult", "ValidationOptions", "detect_mapping", "load_sales", "to_export_frame"]
