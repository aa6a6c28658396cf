"""Tests for core.data.readers: bytes of any supported kind -> a raw table of text cells, or one clear DataError."""

from __future__ import annotations

import datetime
import gzip
import io
import zipfile

import numpy as np
import pandas as pd
import pytest

from core.data import readers
from core.data.readers import ROW, decode_text, read_bytes, read_table, sniff_delimiter
from core.errors import DataError

HEADER = "date,sku,units\n"
BODY = "".join(f"2024-01-{d:02d},SKU-{d % 3},{d}\n" for d in range(1, 29))
TEXT = HEADER + BODY


def table(data: bytes | str) -> readers.RawTable:
    return read_table(data.encode() if isinstance(data, str) else data)


# --- encodings -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding, name", [
    ("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("utf-16", "utf-16-le"), ("utf-16-be", "utf-16-be"),
    ("utf-16-le", "utf-16-le"), ("gb18030", "gb18030"), ("gbk", "gb18030"), ("utf-32", "utf-32-le"),
])
def test_chinese_text_decodes_in_every_encoding(encoding, name):
    text = "日期,商品,渠道,销量\n" + "".join(f"2024-01-{d:02d},商品{d:03d},天猫,{d}\n" for d in range(1, 40))
    decoded, detected = decode_text(text.encode(encoding))
    assert detected == name
    assert decoded.lstrip("\ufeff") == text


def test_gb18030_four_byte_characters():
    text = "sku,units\n" + "".join(f"𠀀{d}䶮𪚥,{d}\n" for d in range(30)) + "商品甲,1\n"
    decoded, detected = decode_text(text.encode("gb18030"))
    assert detected == "gb18030" and decoded == text


def test_big5_traditional_chinese():
    text = "日期,商品,數量\n" + "".join(f"2024-01-{d:02d},產品{d},{d}\n" for d in range(1, 20))
    decoded, detected = decode_text(text.encode("big5"))
    assert detected == "big5" and decoded == text


def test_western_european_text_is_windows_1252():
    text = "Artikel;Menge\nMüller Brot;3\nCafé crème;2\nStraße €;1\n"
    decoded, detected = decode_text(text.encode("cp1252"))
    assert detected == "cp1252" and decoded == text


def test_mostly_utf8_with_a_damaged_byte_stays_utf8():
    data = ("sku,units\n" + "商品,1\n" * 50).encode() + b"bad\xff,2\n"
    decoded, detected = decode_text(data)
    assert detected.startswith("utf-8") and decoded.count("商品") == 50


def test_multibyte_character_cut_at_the_end():
    data = ("sku,units\n商品,1\n").encode()[:-3] + "商".encode()[:2]
    decoded, _ = decode_text(data)
    assert decoded.startswith("sku,units")


@pytest.mark.parametrize("data", [
    bytes(range(256)) * 8,
    b"\x00\x01\x02" * 1000,
    np.random.default_rng(1).integers(128, 256, 5000, dtype=np.uint8).tobytes(),
])
def test_binary_content_is_rejected(data):
    with pytest.raises(DataError, match="not a readable text table"):
        read_table(data)


@pytest.mark.parametrize("signature, words", [
    (b"%PDF-1.7", "PDF"), (b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff\xe0", "JPEG"), (b"GIF89a", "GIF"),
    (b"BZh91AY", "bzip2"), (b"7z\xbc\xaf\x27\x1c", "7-Zip"), (b"Rar!\x1a\x07", "RAR"),
    (b"SQLite format 3\x00", "SQLite"), (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "xls"),
])
def test_foreign_files_are_named(signature, words):
    with pytest.raises(DataError, match=words):
        read_table(signature + b"\x00" * 200)


# --- delimiters, headers, lines ------------------------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiters_are_sniffed(delimiter):
    text = TEXT.replace(",", delimiter)
    assert sniff_delimiter(text) == delimiter
    raw = table(text)
    assert raw.columns == ["date", "sku", "units"] and len(raw.frame) == 28


def test_comma_inside_quotes_does_not_confuse_the_sniffer():
    text = "date;sku;price\n" + "".join(f'2024-01-{d:02d};"a, b, c";1,5\n' for d in range(1, 20))
    assert sniff_delimiter(text) == ";"


def test_excel_sep_hint():
    raw = table("sep=|\n" + TEXT.replace(",", "|"))
    assert raw.delimiter == "|" and raw.columns == ["date", "sku", "units"]


def test_unknown_sep_hint_does_not_crash():
    raw = table("sep=:\n" + TEXT.replace(",", ":"))
    assert len(raw.frame) == 28


@pytest.mark.parametrize("title", ["Sales report\n", "Report,Q1\n\n", "Store: A, Period: Jan, Currency: EUR\n",
                                   "\n\n\n", "销售报表,,\n"])
def test_title_lines_are_skipped(title):
    raw = table(title + TEXT)
    assert raw.columns == ["date", "sku", "units"]
    assert raw.frame[ROW].iloc[0] == title.count("\n") + 2  # spreadsheet row of the first record


def test_row_numbers_are_spreadsheet_rows():
    raw = table(TEXT)
    assert raw.frame[ROW].tolist() == list(range(2, 30))


def test_blank_rows_are_dropped_but_numbering_kept():
    raw = table(HEADER + "2024-01-01,A,1\n\n,,\n2024-01-02,A,2\n")
    assert raw.frame[ROW].tolist() == [2, 5]


def test_crlf_and_old_mac_line_endings():
    assert len(table(TEXT.replace("\n", "\r\n")).frame) == 28
    assert len(table(TEXT.replace("\n", "\r")).frame) == 28


@pytest.mark.parametrize("extra_row", [0, 5, 27])
def test_a_record_with_one_cell_too_many_is_set_apart(extra_row):
    lines = TEXT.splitlines()
    lines[1 + extra_row] += ",oops"
    raw = table("\n".join(lines) + "\n")
    assert len(raw.frame) == 27 and raw.columns == ["date", "sku", "units"]
    assert raw.bad_lines[ROW].tolist() == [extra_row + 2]
    assert raw.bad_lines["content"].iloc[0].endswith(",oops")
    assert raw.frame["sku"].str.startswith("SKU-").all()  # nothing shifted into the wrong column


def test_records_with_several_extra_cells_use_the_slow_path():
    lines = TEXT.splitlines()
    lines[3] += ",x,y,z"
    lines[1] += ",p,q"
    raw = table("\n".join(lines))
    assert sorted(raw.bad_lines[ROW]) == [2, 4]
    assert len(raw.frame) == 26


def test_short_records_are_padded():
    raw = table(HEADER + "2024-01-01,A\n2024-01-02,A,2\n")
    assert raw.frame["units"].tolist() == ["", "2"]


def test_trailing_delimiters_add_no_column():
    raw = table(TEXT.replace("\n", ",\n"))
    assert raw.columns == ["date", "sku", "units"]


def test_quoted_newlines_and_quotes_survive():
    raw = table(HEADER + '2024-01-01,"two\nlines, and ""quotes""",1\n2024-01-02,A,2\n')
    assert raw.frame["sku"].iloc[0] == 'two\nlines, and "quotes"'
    assert raw.frame[ROW].tolist() == [2, 3]


def test_column_names_are_cleaned():
    raw = table("\ufeff date ,,sku,sku\n1,2,3,4\n")
    assert raw.columns == ["date", "column 2", "sku", "sku (2)"]


def test_five_thousand_columns():
    header = ",".join(["date", "sku", "units"] + [f"x{i}" for i in range(5000)])
    row = ",".join(["2024-01-01", "A", "1"] + ["0.5"] * 5000)
    raw = table(header + "\n" + (row + "\n") * 20)
    assert len(raw.columns) == 5003 and len(raw.frame) == 20


def test_header_only_gives_an_empty_frame():
    raw = table(HEADER)
    assert raw.columns == ["date", "sku", "units"] and len(raw.frame) == 0


@pytest.mark.parametrize("data", [b"", b"  \n\t\r\n", b"\xef\xbb\xbf", b"\xff\xfe", b"\xef\xbb\xbf\n\n"])
def test_empty_files(data):
    with pytest.raises(DataError, match="empty"):
        read_table(data)


# --- containers ------------------------------------------------------------------------------------------------------


def test_gzip_and_double_gzip():
    assert len(read_table(gzip.compress(TEXT.encode())).frame) == 28
    raw = read_table(gzip.compress(gzip.compress(TEXT.replace(",", "\t").encode())))
    assert raw.delimiter == "\t" and "gzip" in raw.notices[0]


def test_truncated_and_damaged_gzip():
    data = gzip.compress(TEXT.encode() * 50)
    with pytest.raises(DataError, match="truncated"):
        read_table(data[: len(data) // 2])
    with pytest.raises(DataError, match="damaged"):
        read_table(data[:10] + b"\x00" * 50 + data[60:])


def test_gzip_expanding_past_the_limit(monkeypatch):
    monkeypatch.setattr(readers, "MAX_EXPANDED_BYTES", 1000)
    with pytest.raises(DataError, match="expands"):
        read_table(gzip.compress(TEXT.encode() * 100))


def test_upload_size_limit(monkeypatch, tmp_path):
    monkeypatch.setattr(readers, "MAX_UPLOAD_BYTES", 100)
    with pytest.raises(DataError, match="limit"):
        read_table(TEXT.encode())
    path = tmp_path / "big.csv"
    path.write_text(TEXT)
    with pytest.raises(DataError, match="MB"):
        read_bytes(path)


def xlsx(sheets: dict[str, pd.DataFrame], title: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        for name, frame in sheets.items():
            frame.to_excel(writer, sheet_name=name, index=False, startrow=2 if title else 0)
            if title:
                writer.sheets[name]["A1"] = title
    return buffer.getvalue()


def sales_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "date": pd.date_range("2024-01-01", periods=10),
        "sku": ["=1+1", "A"] * 5,
        "units": [1.0, 2.5, 3, 4, 5, 6, 7, 8, 9, 1e15],
        "time": [datetime.time(9, 30)] * 10,
    })


def test_xlsx_cells_become_text():
    raw = read_table(xlsx({"Sales": sales_frame()}, title="Report"))
    assert raw.file_format == "xlsx" and raw.columns == ["date", "sku", "units", "time"]
    assert raw.frame["date"].iloc[0] == "2024-01-01"
    assert raw.frame["units"].tolist()[:3] == ["1", "2.5", "3"]
    assert raw.frame["time"].iloc[0] == "09:30:00"
    assert raw.frame[ROW].iloc[0] == 4
    assert any("Skipped 1 row" in n for n in raw.notices)  # the title; the blank row between is not counted


def test_xlsx_picks_the_sheet_with_sales():
    notes = pd.DataFrame({"note": ["a", "b", "c", "d"], "by": ["x", "y", "z", "w"]})
    raw = read_table(xlsx({"Read me": notes, "Data": sales_frame()}))
    assert "Data" in raw.notices[0] and "units" in raw.columns


def test_empty_workbook_and_broken_zip():
    with pytest.raises(DataError, match="no sheet"):
        read_table(xlsx({"Empty": pd.DataFrame({"a": []})}))
    data = xlsx({"Sales": sales_frame()})
    with pytest.raises(DataError, match="(?i)excel"):
        read_table(data[:300])


def test_zip_without_a_workbook():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
    with pytest.raises(DataError, match="broken .xlsx"):
        read_table(buffer.getvalue())


def test_parquet_keeps_types_and_index():
    frame = sales_frame().drop(columns="time").set_index("date")
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    raw = read_table(buffer.getvalue())
    assert raw.file_format == "parquet" and "date" in raw.columns
    assert pd.api.types.is_datetime64_any_dtype(raw.frame["date"])
    assert raw.frame[ROW].tolist() == list(range(1, 11))


def test_damaged_parquet():
    with pytest.raises(DataError, match="Parquet"):
        read_table(b"PAR1" + b"\x00" * 100 + b"PAR1")


def test_text_cells_of_typed_columns():
    column = pd.Series([1.5, None, 3.0])
    assert readers.text_cells(column).tolist() == ["1.5", "", "3.0"]
    assert readers.text_cells(pd.Series([" a ", None], dtype=object)).tolist() == ["a", ""]
