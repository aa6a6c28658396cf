"""The formatted Excel workbook planners download (reorder plan, forecasts, ...).

Every sheet is one table: row 1 is the header (bold, filled, wrapped, frozen, with an autofilter), the rows below
are the frame's values with a number format per column kind. Text from uploads is always written as text, never
as a formula: every text cell is a shared string (no cell ever holds a formula element, and the workbook turns no
string into a formula, URL or number), and text that a spreadsheet would read as a formula also carries Excel's
quote prefix, so editing the cell keeps it text.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from io import BytesIO

import numpy as np
import pandas as pd
import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.utility import xl_col_to_name
from xlsxwriter.worksheet import Worksheet

from core.export import FORMULA_PREFIXES
from core.schema import SKU, UNIQUE_ID

#: Excel number format per column kind.
NUMBER_FORMATS: dict[str, str] = {
    "int": "#,##0",
    "number": "#,##0.00",
    "money": "#,##0.00",
    "percent": "0.0%",
    "date": "yyyy-mm-dd",
    "days": "0.0",
}
KINDS: tuple[str, ...] = (*NUMBER_FORMATS, "text")

MAX_SHEET_NAME = 31
MAX_CELL_CHARS = 32_767  # Excel's limit, in UTF-16 code units
MAX_ROWS = 1_048_576
MAX_COLUMNS = 16_384
MIN_WIDTH, MAX_WIDTH = 8.0, 60.0
EMPTY_NOTE = "(nothing to show)"

_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")
#: Characters XML 1.0 cannot hold (tab, newline and carriage return are allowed).
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")
_WIDTH_SAMPLE = 1_000
_CHUNK_ROWS = 5_000


@dataclass(frozen=True)
class Sheet:
    """One table for the workbook. ``title`` becomes a comment on the header's first cell; ``formats`` maps a
    column to one of :data:`KINDS` (other columns are inferred by :func:`column_kind`); ``widths`` overrides
    column widths in Excel character units. The frame's index is not written: ``reset_index()`` to keep it."""

    name: str
    frame: pd.DataFrame
    title: str = ""
    formats: dict[str, str] = field(default_factory=dict)
    widths: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        name = self.name
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"Sheet name {name!r} is empty; give every sheet a short name such as 'Reorder plan'.")
        if len(name) > MAX_SHEET_NAME:
            raise ValueError(f"Sheet name {name!r} has {len(name)} characters; Excel allows at most {MAX_SHEET_NAME}.")
        if bad := sorted(set(_BAD_SHEET_CHARS.findall(name))):
            raise ValueError(f"Sheet name {name!r} contains {' '.join(bad)}; Excel forbids the characters [ ] : * ? / \\.")
        if name.startswith("'") or name.endswith("'"):
            raise ValueError(f"Sheet name {name!r} starts or ends with an apostrophe, which Excel forbids.")
        if bad_kinds := {c: k for c, k in self.formats.items() if k not in KINDS}:
            raise ValueError(f"Sheet {name!r}: unknown column format(s) {bad_kinds}; use one of {', '.join(KINDS)}.")
        rows, columns = self.frame.shape
        if rows + 1 > MAX_ROWS or columns > MAX_COLUMNS:
            raise ValueError(
                f"Sheet {name!r} has {rows:,} rows and {columns:,} columns; Excel holds at most {MAX_ROWS - 1:,} rows "
                f"below the header and {MAX_COLUMNS:,} columns. Filter the table or download it as CSV instead."
            )


def column_kind(name: str, values: pd.Series) -> str:
    """The kind of a column from its dtype and name: one of :data:`KINDS`.

    Dates -> ``date``; integers -> ``int``; floats named ``*_value``, ``*cost`` or ``*budget`` -> ``money``,
    ``*_days`` or ``*days_of_cover`` -> ``days``, with a word ``rate``, ``share``, ``risk``, ``probability`` or
    ``service_level`` -> ``percent`` (values are fractions: 0.95 shows as 95.0%); other floats -> ``number``;
    durations -> ``days``; anything else (text, booleans, categories, mixed) -> ``text``.
    """
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
        return "text"
    if dtype == object:
        inferred = pd.api.types.infer_dtype(values, skipna=True)
        dtype = {"integer": np.dtype("int64"), "floating": np.dtype(float), "mixed-integer-float": np.dtype(float),
                 "decimal": np.dtype(float), "datetime": np.dtype("M8[ns]"), "datetime64": np.dtype("M8[ns]"),
                 "date": np.dtype("M8[ns]"), "timedelta": np.dtype("m8[ns]"), "timedelta64": np.dtype("m8[ns]")}.get(
            inferred, dtype)
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "date"
    if pd.api.types.is_timedelta64_dtype(dtype):
        return "days"
    if pd.api.types.is_integer_dtype(dtype):
        return "int"
    if not pd.api.types.is_float_dtype(dtype):
        return "text"
    lowered = str(name).lower()
    words = set(re.split(r"[^a-z0-9]+", lowered))
    if lowered.endswith(("_value", "cost", "budget")):
        return "money"
    if lowered.endswith(("_days", "days_of_cover")):
        return "days"
    if words & {"rate", "share", "risk", "probability"} or "service_level" in lowered:
        return "percent"
    return "number"


def clean_text(value: object) -> str:
    """Text as Excel can hold it: characters XML forbids become U+FFFD, booleans ``yes``/``no``, and text longer
    than Excel's 32,767-character cell limit is cut, ending in "…"."""
    text = ("yes" if value else "no") if isinstance(value, (bool, np.bool_)) else str(value)
    if _XML_FORBIDDEN.search(text):
        text = _XML_FORBIDDEN.sub("\ufffd", text)
    if len(text) > MAX_CELL_CHARS // 2 and len(encoded := text.encode("utf-16-le")) > 2 * MAX_CELL_CHARS:
        text = encoded[: 2 * (MAX_CELL_CHARS - 1)].decode("utf-16-le", errors="ignore") + "…"
    return text


def _numbers(values: pd.Series, kind: str) -> np.ndarray | None:
    """Float values for a numeric or date kind (dates as Excel serial days), or None when some value is not one."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "date":
            converted = pd.to_datetime(values, errors="coerce")
            if converted.dt.tz is not None:
                converted = converted.dt.tz_localize(None)
            numbers = (converted - _EXCEL_EPOCH) / pd.Timedelta(days=1)
        elif pd.api.types.is_timedelta64_dtype(values.dtype):
            numbers = values / pd.Timedelta(days=1)
        elif pd.api.types.is_bool_dtype(values.dtype):
            return None
        else:
            numbers = pd.to_numeric(values, errors="coerce")
    numbers = np.asarray(pd.Series(numbers).astype("Float64").to_numpy(dtype=float, na_value=np.nan))
    if (np.isnan(numbers) & ~values.isna().to_numpy()).any():
        return None
    return numbers


def _cells(values: pd.Series, kind: str) -> tuple[str, list]:
    """The column's final kind and its cells: floats, strings, or None for an empty cell (also for "")."""
    if kind != "text" and (numbers := _numbers(values, kind)) is not None:
        cells = numbers.astype(object)
        cells[~np.isfinite(numbers)] = None
        return kind, cells.tolist()
    missing = values.isna().to_numpy()
    return "text", [None if gone else (clean_text(v) or None) for v, gone in zip(values.tolist(), missing)]


def _display_width(text: str) -> int:
    """Characters as Excel draws them: East Asian characters take about two columns."""
    return len(text) + sum(1 for ch in text if ord(ch) >= 0x2E80)


def _width(header: str, kind: str, cells: list) -> float:
    """A column width from the header and a sample of cells, between MIN_WIDTH and MAX_WIDTH."""
    step = max(1, len(cells) // _WIDTH_SAMPLE)
    sample = [c for c in cells[::step] if c is not None]
    if kind == "text":
        longest = max((_display_width(c[:200]) for c in sample), default=0)
    elif kind == "date":
        longest = 10
    else:
        shown = {"percent": "{:.1%}", "int": "{:,.0f}", "days": "{:.1f}"}.get(kind, "{:,.2f}")
        longest = max((len(shown.format(c)) for c in sample), default=0)
    longest_word = max((_display_width(word) for word in header.split()), default=0)  # the header wraps at spaces
    return float(min(MAX_WIDTH, max(MIN_WIDTH, longest + 2, min(longest_word + 2, 24))))


class _TableSheet(Worksheet):
    """A worksheet that writes one table's cells straight into its XML when the file is assembled.

    xlsxwriter's ``write_number``/``write_string`` cost about 7 µs a cell, so a 3-million-cell forecast took over
    20 s. Here each cell is one f-string: numbers as values (16 significant digits, as xlsxwriter writes them), text as indices into the shared string table (which
    xlsxwriter escapes when it writes it), and never a formula element. This leans on xlsxwriter internals
    (``fh``, ``str_table``, ``Format._get_xf_index``), hence the pinned version and the read-back tests.
    """

    header_row: str
    columns: list[tuple[str, list, int]]  # (kind, cells, style index); text cells are ready-made XML tails
    rows: int

    def set_table(self, headers: list[str], columns: list[tuple[str, list]], styles: dict[str, Format],
                  height: float) -> None:
        """Register the header and cells; text goes into the shared string table now, before it is frozen."""
        def style(name: str) -> str:
            return f' s="{styles[name]._get_xf_index()}"'

        def tail(text: str, plain: str, quoted: str) -> str:
            chosen = quoted if text.startswith(FORMULA_PREFIXES) else plain
            return f'{chosen} t="s"><v>{self.str_table._get_shared_string_index(text)}</v></c>'

        header, header_quoted, text_quoted = style("header"), style("header_quoted"), style("text_quoted")
        cells = "".join(f'<c r="{xl_col_to_name(i)}1"{tail(h, header, header_quoted)}' for i, h in enumerate(headers))
        self.header_row = f'<row r="1" ht="{height}" customHeight="1">{cells}</row>'
        self.columns = [
            (kind, [None if v is None else tail(v, "", text_quoted) for v in values], 0) if kind == "text"
            else (kind, values, styles[kind]._get_xf_index())
            for kind, values in columns
        ]
        self.rows = max((len(values) for _, values in columns), default=0)
        self._check_dimensions(0, 0)
        self._check_dimensions(self.rows, len(headers) - 1)

    def _write_sheet_data(self) -> None:
        write = self.fh.write
        letters = [xl_col_to_name(position) for position in range(len(self.columns))]
        write(f"<sheetData>{self.header_row}")
        for start in range(0, self.rows, _CHUNK_ROWS):
            numbers = range(start + 2, min(start + _CHUNK_ROWS, self.rows) + 2)
            parts = []
            for letter, (kind, cells, style) in zip(letters, self.columns):
                chunk = cells[start : start + _CHUNK_ROWS]
                if kind == "text":
                    parts.append(["" if v is None else f'<c r="{letter}{r}"{v}' for r, v in zip(numbers, chunk)])
                else:
                    parts.append(["" if v is None else f'<c r="{letter}{r}" s="{style}"><v>{v:.16G}</v></c>'
                                  for r, v in zip(numbers, chunk)])
            for r, cells in zip(numbers, zip(*parts)):
                write(f'<row r="{r}">{"".join(cells)}</row>')
        write("</sheetData>")


def _write_sheet(book: xlsxwriter.Workbook, sheet: Sheet, styles: dict[str, Format]) -> None:
    frame = sheet.frame
    if frame.shape[1] == 0:
        ws = book.add_worksheet(sheet.name)
        ws.write_string(0, 0, EMPTY_NOTE)
        ws.set_column(0, 0, len(EMPTY_NOTE) + 2)
        return
    ws = book.add_worksheet(sheet.name, worksheet_class=_TableSheet)
    headers = [clean_text(c) for c in frame.columns]
    columns, widths = [], []
    for position, header in enumerate(headers):
        values, name = frame.iloc[:, position], frame.columns[position]
        kind, cells = _cells(values, sheet.formats.get(name) or column_kind(name, values))
        columns.append((kind, cells))
        widths.append(float(sheet.widths.get(name) or _width(header, kind, cells)))
        ws.set_column(position, position, widths[-1])
    lines = max(-(-_display_width(h) // max(1, int(w) - 1)) for h, w in zip(headers, widths))
    ws.set_table(headers, columns, styles, height=15.0 * min(max(lines, 1), 4))
    if sheet.title:
        ws.write_comment(0, 0, clean_text(sheet.title))
    first = str(frame.columns[0]).lower()
    first_is_id = columns[0][0] == "text" and (first in (UNIQUE_ID, SKU, "id") or first.endswith("_id"))
    ws.freeze_panes(1, 1 if first_is_id else 0)
    ws.autofilter(0, 0, len(frame), len(headers) - 1)


def write_workbook(sheets: Sequence[Sheet]) -> bytes:
    """The contents of an .xlsx file with one formatted table per sheet, in the given order.

    Missing values (NaN, None, NaT) and infinite numbers are written as empty cells. Booleans are written as the
    text ``yes``/``no``. Text is kept verbatim, except that characters XML 1.0 forbids become U+FFFD and text
    longer than Excel's 32,767-character cell limit is cut to fit, ending in "…". A column forced to a numeric
    or date kind whose values are not all numbers (or dates) is written as text. Dates are Excel dates (time zones
    dropped, wall-clock kept); percent columns hold fractions (0.95 shows as 95.0%).
    """
    if not sheets:
        raise ValueError("write_workbook needs at least one Sheet; an Excel file cannot be empty.")
    seen: dict[str, str] = {}
    for sheet in sheets:
        if (key := sheet.name.lower()) in seen:
            raise ValueError(f"Sheet names {seen[key]!r} and {sheet.name!r} clash; Excel ignores case in names.")
        seen[key] = sheet.name
    buffer = BytesIO()
    options = {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False,
               "in_memory": True}
    with xlsxwriter.Workbook(buffer, options) as book:
        header = {"bold": True, "bg_color": "#DCE6F1", "bottom": 2, "text_wrap": True, "valign": "top"}
        styles = {kind: book.add_format({"num_format": fmt}) for kind, fmt in NUMBER_FORMATS.items()}
        styles["text_quoted"] = book.add_format({"quote_prefix": True})
        styles["header"] = book.add_format(header)
        styles["header_quoted"] = book.add_format({**header, "quote_prefix": True})
        for sheet in sheets:
            _write_sheet(book, sheet, styles)
    return buffer.getvalue()
