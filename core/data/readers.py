"""Turn uploaded bytes into a raw table of text cells, whatever the file looks like.

Handles CSV / TSV / semicolon- and pipe-separated text, XLSX, Parquet and gzip; detects the encoding (UTF-8,
UTF-8 BOM, UTF-16 with or without a byte-order mark, UTF-32, GBK/GB18030, Big5, Windows-1252), the delimiter,
and title lines above the header. Records with more cells than the header are set apart, never shifted into
other columns. Everything that was interpreted is recorded as a notice; anything unreadable raises
:class:`~core.errors.DataError` with a message that says what the file looks like instead.
"""

from __future__ import annotations

import codecs
import csv
import datetime
import io
import re
import warnings
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from core.data.mapping import detect_mapping
from core.errors import DataError

#: Largest upload accepted (compressed size), and largest size a compressed upload may expand to.
MAX_UPLOAD_BYTES = 200 * 1024 * 1024
MAX_EXPANDED_BYTES = 1024 * 1024 * 1024
#: Column holding each row's position in the original table (the header is row 1, as in a spreadsheet).
ROW = "row"

_SAMPLE_BYTES = 64 * 1024
_DELIMITERS = (",", ";", "\t", "|")
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}

# Signatures of files that are not text tables, with what to tell the planner.
_FOREIGN_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "a PDF document"),
    (b"\xd0\xcf\x11\xe0", "an old Excel (.xls) or other Office file; save it as .xlsx or .csv"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"BZh", "a bzip2 archive; only gzip compression is supported"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
    (b"\xfd7zXZ", "an xz archive; only gzip compression is supported"),
    (b"SQLite format 3", "an SQLite database"),
)


@dataclass
class RawTable:
    """A table exactly as read: every cell is text (or a typed value from Parquet), plus how it was read.

    ``frame`` has the file's own column names and a :data:`ROW` column with each record's position.
    ``bad_lines`` holds records that could not be split into the header's columns (kept, not lost): their row,
    the whole record as text (``content``) and, under the header's names, their first cells as read.
    """

    frame: pd.DataFrame
    file_format: str
    encoding: str = ""
    delimiter: str = ""
    notices: list[str] = field(default_factory=list)
    bad_lines: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=[ROW, "content"]))

    @property
    def columns(self) -> list[str]:
        return [c for c in self.frame.columns if c != ROW]


def read_bytes(source: str | Path | bytes | BinaryIO) -> tuple[bytes, str]:
    """Return the bytes and the file name of ``source`` (a path, raw bytes or an open binary file)."""
    if isinstance(source, (bytes, bytearray)):
        return bytes(source), ""
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise DataError(f"File not found: {path}")
        size = path.stat().st_size
        if size > MAX_UPLOAD_BYTES:
            raise DataError(_too_big_message(size))
        return path.read_bytes(), path.name
    data = source.read()
    return data, getattr(source, "name", "") or ""


def read_table(data: bytes, filename: str = "") -> RawTable:
    """Read an upload of any supported kind into a :class:`RawTable`; raise :class:`DataError` if unreadable."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise DataError(_too_big_message(len(data)))
    if not data.strip():
        raise DataError("The file is empty: it has no header and no rows. Export the sales table again.")
    notices: list[str] = []
    if data[:2] == b"\x1f\x8b":
        data = _gunzip(data)
        notices.append("The file was gzip-compressed; it was decompressed.")
        if not data.strip():
            raise DataError("The gzip file contains an empty file: it has no header and no rows.")
    if data[:4] == b"PK\x03\x04":
        table = _read_xlsx(data)
    elif data[:4] == b"PAR1":
        table = _read_parquet(data)
    else:
        _reject_foreign(data)
        table = _read_text(data)
    table.notices[:0] = notices
    return table


def _too_big_message(size: int) -> str:
    return (
        f"The file is {size / 1e6:,.0f} MB; the limit is {MAX_UPLOAD_BYTES / 1e6:,.0f} MB. "
        "Compress it with gzip or Parquet, or split it by period."
    )


def _gunzip(data: bytes) -> bytes:
    """Decompress gzip, refusing truncated archives and archives that expand past the size limit."""
    decompressor = zlib.decompressobj(wbits=31)
    try:
        out = decompressor.decompress(data, MAX_EXPANDED_BYTES + 1)
    except zlib.error as error:
        raise DataError(f"The file looks gzip-compressed but is damaged ({error}). Compress it again.") from None
    if len(out) > MAX_EXPANDED_BYTES:
        raise DataError(
            f"The gzip file expands to more than {MAX_EXPANDED_BYTES / 1e9:.0f} GB; split it by period."
        )
    if not decompressor.eof:
        raise DataError("The gzip file is truncated (it ends early). Upload the complete file.")
    if out[:2] == b"\x1f\x8b":  # compressed twice by some export tools
        return _gunzip(out)
    return out


def _reject_foreign(data: bytes) -> None:
    for signature, what in _FOREIGN_SIGNATURES:
        if data.startswith(signature):
            raise DataError(f"This is {what}, not a sales table. Upload a CSV, TSV, XLSX or Parquet file.")


# --- text ------------------------------------------------------------------------------------------------------------


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode bytes to text, detecting the encoding. Returns ``(text, encoding name)``.

    Order: byte-order marks; UTF-16 without a mark (every other byte zero); binary content (rejected);
    strict UTF-8; GB18030 or Big5, whichever reads as ordinary Chinese; UTF-8 with a few damaged bytes;
    Windows-1252 for Western text; anything else is rejected as not text.
    """
    for bom, name in (
        (codecs.BOM_UTF32_LE, "utf-32-le"),
        (codecs.BOM_UTF32_BE, "utf-32-be"),
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if data.startswith(bom):
            text = data[len(bom) :].decode(name.replace("-sig", ""), errors="replace")
            return _check_decoded(text, name), name
    sample = data[:_SAMPLE_BYTES]
    utf16 = _utf16_without_bom(sample)
    if utf16:
        return _check_decoded(data.decode(utf16, errors="replace"), utf16), utf16
    _reject_binary(sample)
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as error:
        if error.start >= len(data) - 3:  # a multi-byte character cut at the very end of the file
            return data.decode("utf-8", errors="replace"), "utf-8"
    chinese = _decode_chinese(data)
    if chinese:
        return chinese
    text = data.decode("utf-8", errors="replace")
    if _mostly_valid_utf8(text):  # a UTF-8 file with a few damaged bytes: keep the rest right
        return text, "utf-8 (damaged bytes replaced)"
    high = int(np.count_nonzero(np.frombuffer(sample, np.uint8) >= 0x80))
    if high > 0.3 * len(sample):  # Western text has a few accented letters, not a third of its bytes
        raise DataError(
            "This is not a readable text table: most of the file is neither UTF-8, Chinese (GBK/GB18030) nor "
            "Western European text. Upload the sales table as CSV (UTF-8), TSV, XLSX or Parquet."
        )
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


# Characters common in Chinese sales exports (simplified and traditional): text decoded with the wrong Chinese
# encoding is full of rare characters instead.
_COMMON_CHINESE = set(
    "的一是不了在人有我他这个们中来上大为和国地到以说时要就出会可也你对生能而子那得于着下自之年过发后作里"
    "商品日期数量价格销售店天猫京东仓库货号名称类别渠道平台单件促销活动折扣库存合计总编码条规颜色尺码门市场"
    "數量價銷貨號稱類別東庫倉產個們來為國說時會對發過後裡單編碼條規顏門場總計訂購"
)


def _decode_chinese(data: bytes) -> tuple[str, str] | None:
    """GB18030 (GBK) or Big5 text, whichever reads as ordinary Chinese; None for anything else."""
    sample = data[: 4 * _SAMPLE_BYTES]
    paired = _looks_like_double_byte_chinese(sample)
    best: tuple[float, str, str] | None = None
    for encoding in ("gb18030", "big5"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if not _mostly_chinese(text):
            continue
        wide = [c for c in text[: 4 * _SAMPLE_BYTES] if ord(c) > 127]
        common = sum(1 for c in wide if c in _COMMON_CHINESE) / max(len(wide), 1)
        if best is None or common > best[0]:
            best = (common, text, encoding)
    if best is None or not (paired or best[0] >= 0.2):
        return None
    return best[1], best[2]


def _mostly_chinese(text: str) -> bool:
    """True when the non-ASCII characters are mostly Chinese characters and CJK punctuation."""
    sample = text[: 4 * _SAMPLE_BYTES]
    wide = [c for c in sample if ord(c) > 127]
    if not wide:
        return False
    cjk = sum(1 for c in wide if 0x3000 <= ord(c) <= 0x9FFF or 0xF900 <= ord(c) <= 0xFFEF or ord(c) >= 0x20000)
    return cjk >= 0.9 * len(wide)


def _mostly_valid_utf8(text: str) -> bool:
    sample = text[: 4 * _SAMPLE_BYTES]
    bad = sample.count("\ufffd")
    good = sum(1 for c in sample if ord(c) > 127) - bad
    return good >= 10 * bad and bad <= 20


def _utf16_without_bom(sample: bytes) -> str:
    half = len(sample) // 2
    if half < 4:
        return ""
    zeros_even = sample[0::2].count(0)
    zeros_odd = sample[1::2].count(0)
    if zeros_odd > 0.3 * half and zeros_even < 0.05 * half:
        return "utf-16-le"
    if zeros_even > 0.3 * half and zeros_odd < 0.05 * half:
        return "utf-16-be"
    return ""


def _reject_binary(sample: bytes) -> None:
    controls = sum(sample.count(bytes([b])) for b in (*range(0, 9), 11, 12, *range(14, 32), 127))
    if b"\x00" in sample or controls > max(2, 0.01 * len(sample)):
        raise DataError(
            "This is not a readable text table: the file contains binary data. "
            "Upload the sales table as CSV, TSV, XLSX or Parquet."
        )


def _looks_like_double_byte_chinese(data: bytes) -> bool:
    """True when bytes >= 0x80 mostly come in runs of even length (two bytes per Chinese character).

    GB18030's four-byte characters (rare names, high byte, digit, high byte, digit) count as one pair.
    """
    sample = re.sub(rb"[\x81-\xfe][\x30-\x39][\x81-\xfe][\x30-\x39]", b"\x81\x81", data[: 4 * _SAMPLE_BYTES])
    runs = np.diff(np.flatnonzero(np.diff(np.r_[0, np.frombuffer(sample, np.uint8) >= 0x80, 0])))
    run_lengths = runs[::2]
    if run_lengths.size == 0:
        return False
    return float(np.mean(run_lengths % 2 == 0)) >= 0.8


def _check_decoded(text: str, encoding: str) -> str:
    sample = text[:_SAMPLE_BYTES]
    bad = sample.count("\ufffd") + sum(sample.count(chr(c)) for c in (*range(0, 9), 11, 12, *range(14, 32)))
    if bad > max(2, 0.01 * len(sample)):
        raise DataError(
            f"This is not a readable text table: it does not decode as {encoding}. "
            "Export the sales table again as CSV (UTF-8) or XLSX."
        )
    return text


def sniff_delimiter(text: str) -> str:
    """Pick the delimiter that splits the first records into the most columns, most consistently.

    A delimiter that cuts through quoted cells (leaving a stray quote inside a cell) loses: in
    ``2024-01-01;"a, b";1,5`` the commas are not the delimiter.
    """
    lines = text[:_SAMPLE_BYTES].splitlines()[:200]
    if len(text) > _SAMPLE_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the last sampled line may be cut off
    best, best_score = ",", 0.0
    for delimiter in _DELIMITERS:
        records = [record for record in csv.reader(lines, delimiter=delimiter) if any(record)]
        counts = [len(record) for record in records]
        if not counts:
            continue
        modal = max(set(counts), key=counts.count)
        if modal < 2:
            continue
        broken = sum(1 for record in records if any('"' in cell[1:-1] and not cell.startswith('"') for cell in record))
        score = modal * counts.count(modal) / len(counts) * (1 - broken / len(records))
        if score > best_score + 1e-9:
            best, best_score = delimiter, score
    return best


def _read_text(data: bytes) -> RawTable:
    text, encoding = decode_text(data)
    notices = []
    if encoding not in ("utf-8", "utf-8-sig"):
        names = {"gb18030": "GBK/GB18030 (Chinese)", "big5": "Big5 (Traditional Chinese)",
                 "cp1252": "Windows-1252 (Western European)", "latin-1": "Latin-1 (Western European)",
                 "utf-8 (damaged bytes replaced)": "UTF-8, with a few damaged bytes shown as \ufffd"}
        notices.append(f"Text encoding detected: {names.get(encoding, encoding.upper())}.")
    elif encoding == "utf-8-sig":
        notices.append("The file starts with a UTF-8 byte-order mark; it was removed from the first column name.")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    delimiter = ""
    first_line = text.split("\n", 1)[0].strip().strip('"')
    if first_line.lower().startswith("sep=") and len(first_line) == 5:  # Excel's delimiter hint line
        delimiter = first_line[4]
        text = text.split("\n", 1)[1] if "\n" in text else ""
    delimiter = delimiter or sniff_delimiter(text)
    if delimiter != ",":
        notices.append(f"Delimiter detected: {_DELIMITER_NAMES.get(delimiter, repr(delimiter))} ({delimiter!r}).")
    header_index = _find_header(text, delimiter)
    if header_index:
        notices.append(f"Skipped {header_index} line(s) above the header row (titles or blank lines).")
    frame, bad_lines = _parse_delimited(text, delimiter, header_index)
    return RawTable(frame, "csv", encoding, delimiter, notices, bad_lines)


def _find_header(text: str, delimiter: str) -> int:
    """Index of the header record, below any title or blank lines (see :func:`header_position`)."""
    records = list(csv.reader(text[:_SAMPLE_BYTES].split("\n")[:60], delimiter=delimiter))
    return header_position(records)


def header_position(records: list[list[str]], search: int = 20) -> int:
    """Position of the header among a table's leading records (lists of cell texts).

    Candidates are the first records nearly as wide as the table's usual row; among them the one whose names
    are most recognisable as sales fields (date, SKU, units ...) wins, so a title such as
    "Store: Main, Period: Jan-Apr, Currency: EUR" above the header is skipped even when it is as wide.
    """
    filled = [sum(1 for cell in record if str(cell).strip()) for record in records]
    widths = [n for n in filled if n > 0]
    if not widths:
        return 0
    modal = max(set(widths), key=widths.count)
    candidates = [i for i, n in enumerate(filled[:search]) if n >= max(2, 0.6 * modal) or (modal <= 1 and n)]
    if not candidates:
        return 0
    hits = [len(detect_mapping([str(c) for c in records[i] if str(c).strip()]).mapped()) for i in candidates]
    return candidates[hits.index(max(hits))] if max(hits) > 0 else candidates[0]


def _parse_delimited(text: str, delimiter: str, header_index: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Parse with pandas' fast reader; records with more cells than the header are set apart, never shifted.

    One spare column catches a record with one cell too many; more than that falls back to the csv module.
    """
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header: list[str] = []
    for _ in range(header_index + 1):
        header = next(reader, [])
    width = len(header)
    if width == 0:
        raise DataError("The file is empty: it has no header and no rows.")
    try:
        with warnings.catch_warnings():  # "names do not match the data" means cells would be lost: fall back
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = _read_csv_cells(text, delimiter, header_index, width)
    except (pd.errors.ParserError, pd.errors.ParserWarning, ValueError):
        return _parse_with_csv_module(text, delimiter, header_index, header)
    extra = frame.pop(width)
    frame.columns = _clean_column_names(pd.Index(header))
    frame[ROW] = np.arange(len(frame), dtype=np.int64) + header_index + 2
    bad = extra.str.strip() != ""
    bad_lines = pd.DataFrame(columns=[ROW, "content"])
    if bad.any():
        cells = pd.concat([frame.loc[bad, frame.columns[:width]], extra[bad]], axis=1).astype(str)
        bad_lines = frame.loc[bad].reset_index(drop=True)
        bad_lines.insert(0, "content", cells.apply(delimiter.join, axis=1).to_numpy())
        bad_lines = bad_lines[[ROW, "content"] + [c for c in bad_lines.columns if c not in (ROW, "content")]]
        frame = frame.loc[~bad]
    return _drop_blank(frame, header), bad_lines


def _read_csv_cells(text: str, delimiter: str, header_index: int, width: int) -> pd.DataFrame:
    return pd.read_csv(
        io.StringIO(text),
        sep=delimiter,
        skiprows=header_index + 1,
        header=None,
        names=list(range(width + 1)),
        dtype=str,
        keep_default_na=False,
        na_filter=False,
        skip_blank_lines=False,
        index_col=False,
        engine="c",
    )


def _drop_blank(frame: pd.DataFrame, header: list[str]) -> pd.DataFrame:
    """Drop rows with no filled cell, and unnamed columns with no filled cell (trailing delimiters)."""
    columns = [c for c in frame.columns if c != ROW]
    if not columns or not len(frame):
        return frame.reset_index(drop=True)
    first = frame[columns[0]].astype(str).str.strip() == ""
    blank = first.copy()
    if first.any():
        rest = frame.loc[first, columns[1:]].astype(str).apply(lambda col: col.str.strip() == "")
        blank[first] = rest.all(axis=1) if len(columns) > 1 else True
    frame = frame.loc[~blank]
    empty_named = [c for c, raw in zip(columns, header) if not str(raw).replace("\ufeff", "").strip()]
    unused = [c for c in empty_named if (frame[c].astype(str).str.strip() == "").all()]
    return frame.drop(columns=unused).reset_index(drop=True)


def _parse_with_csv_module(
    text: str, delimiter: str, header_index: int, header: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    records = list(csv.reader(io.StringIO(text), delimiter=delimiter))[header_index + 1 :]
    width = len(header)
    rows, row_numbers, bad = [], [], []
    for index, record in enumerate(records):
        number = index + header_index + 2
        if len(record) > width and not any(cell.strip() for cell in record[width:]):
            record = record[:width]  # trailing empty cells, e.g. a trailing delimiter
        if len(record) > width:
            bad.append([number, delimiter.join(record), *record[:width]])
            continue
        rows.append(record + [""] * (width - len(record)))
        row_numbers.append(number)
    frame = pd.DataFrame(rows, columns=_clean_column_names(pd.Index(header)), dtype=str)
    frame[ROW] = np.array(row_numbers, dtype=np.int64)
    names = [c for c in frame.columns if c != ROW]
    bad_lines = pd.DataFrame(bad, columns=[ROW, "content", *names], dtype=object)
    return _drop_blank(frame, header), bad_lines.loc[:, ~bad_lines.columns.duplicated()]


def _clean_column_names(columns: pd.Index) -> list[str]:
    """Strip spaces and stray byte-order marks; name blank headers; make duplicates unique."""
    names, seen = [], {}
    for position, raw in enumerate(columns):
        name = str(raw).replace("\ufeff", "").strip()
        if not name or name.lower().startswith("unnamed:"):
            name = f"column {position + 1}"
        if name in seen:
            seen[name] += 1
            name = f"{name} ({seen[name]})"
        else:
            seen[name] = 1
        names.append(name)
    return names


# --- binary formats --------------------------------------------------------------------------------------------------


def _read_xlsx(data: bytes) -> RawTable:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except zipfile.BadZipFile:
        raise DataError(
            "This looks like a damaged Excel (.xlsx) or zip file, not a CSV: it starts like a zip archive but "
            "cannot be opened. Open it in Excel and save it again as .xlsx or .csv."
        ) from None
    if "xl/workbook.xml" not in names:
        raise DataError(
            "This is a zip archive, not a sales table or an Excel workbook"
            + (" (it looks like a broken .xlsx file)" if "[Content_Types].xml" in names else "")
            + ". Upload the CSV or XLSX itself."
        )
    try:
        sheets = pd.read_excel(io.BytesIO(data), sheet_name=None, header=None, dtype=object, engine="openpyxl")
    except Exception as error:  # openpyxl raises many types for damaged workbooks
        raise DataError(
            f"The Excel workbook could not be read ({type(error).__name__}: {error}). Save it again as .xlsx or .csv."
        ) from None
    tables = {}
    for name, sheet in sheets.items():
        sheet = sheet.dropna(how="all").dropna(axis=1, how="all")
        if len(sheet) >= 2:
            tables[name] = _sheet_table(sheet)
    if not tables:
        raise DataError("The workbook has no sheet with a header and data rows. Put the sales table on a sheet "
                        "with one header row and one row per date and SKU.")
    chosen = max(tables, key=lambda name: _sales_likeness(tables[name][0]))
    frame, header_pos = tables[chosen]
    notices = [f"Excel workbook: read sheet '{chosen}'."]
    others = [str(name) for name in sheets if name != chosen]
    if others:
        notices.append(f"Other sheets ignored: {', '.join(others)}.")
    if header_pos:
        notices.append(f"Skipped {header_pos} row(s) above the header row.")
    return RawTable(frame, "xlsx", notices=notices)


def _sheet_table(sheet: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """A sheet as text cells under its header row (found below any title rows); row numbers as in Excel."""
    text = sheet.map(_excel_cell_to_text)
    header_pos = header_position(text.head(60).to_numpy().tolist())
    header = text.iloc[header_pos]
    body = text.iloc[header_pos + 1 :]
    frame = pd.DataFrame(body.to_numpy(), columns=_clean_column_names(pd.Index(header)), dtype=str)
    frame[ROW] = (body.index.to_numpy() + 1).astype(np.int64)
    return _drop_blank(frame, list(header)), header_pos


def _sales_likeness(frame: pd.DataFrame) -> tuple[int, int]:
    """Rank sheets: the one whose header names a date and a quantity, then the one with most rows."""
    mapping = detect_mapping([c for c in frame.columns if c != ROW])
    return (bool(mapping.date) + bool(mapping.units) + bool(mapping.sku), len(frame))


def _excel_cell_to_text(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT:
        return ""
    if isinstance(value, datetime.datetime):
        text = value.isoformat(sep=" ")
        return text[:10] if text.endswith("00:00:00") else text
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def _read_parquet(data: bytes) -> RawTable:
    try:
        frame = pd.read_parquet(io.BytesIO(data), use_threads=False)  # threads + file object abort at exit (pyarrow 26)
    except Exception as error:  # pyarrow raises several types for damaged files
        raise DataError(f"The Parquet file could not be read ({error}). Write it again.") from None
    frame = frame.reset_index(drop=not any(frame.index.names))
    frame.columns = _clean_column_names(frame.columns)
    frame[ROW] = np.arange(1, len(frame) + 1, dtype=np.int64)
    return RawTable(frame, "parquet", notices=["Parquet file read."])


def text_cells(column: pd.Series) -> pd.Series:
    """The column as stripped text, missing values as ``""`` (works for typed Parquet columns too)."""
    if isinstance(column.dtype, pd.StringDtype) or column.dtype == object:
        return column.fillna("").astype(str).str.strip()
    return column.astype(str).where(column.notna(), "").str.strip()

