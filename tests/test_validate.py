"""Tests for the upload validator (core.data.validate): every class of malformed upload, made on the fly.

Each case starts from a small valid panel (``date, sku, channel, units, price, promo`` for 3 SKUs x 120 days) and
adds one defect, in variations the shipped example files do not have. Tests assert the outcome class and what
happened to the data, plus the invariants every accepted frame must keep.
"""

from __future__ import annotations

import gzip
import io
import math
import zipfile

import numpy as np
import pandas as pd
import pytest

from core import schema
from core.data import ColumnMapping, ValidationOptions, load_sales, to_export_frame
from core.data.report import ISSUE, NOTICE

ACCEPT, ISSUES, REJECT = schema.ACCEPT, schema.ACCEPT_WITH_ISSUES, schema.REJECT
TODAY = pd.Timestamp("2024-06-01")
SKUS = (("SKU-000", "app"), ("SKU-001", "web"), ("SKU-002", "app"))
COLUMNS = ["date", "sku", "channel", "units", "price", "promo"]


# --- a tiny generator of valid uploads --------------------------------------------------------------------------------


def make_panel(
    periods: int = 120,
    freq: str = "D",
    start: str = "2024-01-01",
    skus: tuple[tuple[str, str], ...] = SKUS,
    mean: float = 25.0,
    seed: int = 0,
) -> pd.DataFrame:
    """A valid long sales table of text cells, as a planner's export would hold it."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range(start, periods=periods, freq={"D": "D", "W": "W-MON", "M": "MS"}[freq])
    parts = []
    for number, (sku, channel) in enumerate(skus):
        promo = rng.random(periods) < 0.2
        units = rng.poisson(mean * (1 + number * 0.3) * np.where(promo, 1.5, 1.0))
        parts.append(
            pd.DataFrame(
                {
                    "date": dates.strftime("%Y-%m-%d"),
                    "sku": sku,
                    "channel": channel,
                    "units": units.astype(str),
                    "price": np.where(promo, "16.90", "19.90"),
                    "promo": promo.astype(int).astype(str),
                }
            )
        )
    return pd.concat(parts, ignore_index=True).astype(str)


def to_csv(frame: pd.DataFrame, sep: str = ",", encoding: str = "utf-8", header: bool = True) -> bytes:
    text = frame.to_csv(index=False, sep=sep, header=header, lineterminator="\n")
    return text.encode(encoding)


def load(data: bytes, mapping: dict | None = None, filename: str = "upload.csv", **options) -> object:
    """Load with a fixed 'today' so future-date rules are deterministic."""
    return load_sales(data, mapping=mapping, options=ValidationOptions(today=TODAY, **options), filename=filename)


def codes(result) -> set[str]:
    return {f.code for f in result.report.findings}


def issue_codes(result) -> set[str]:
    return {f.code for f in result.report.findings if f.severity == ISSUE}


def finding(result, code: str):
    matches = [f for f in result.report.findings if f.code == code]
    assert matches, f"no finding {code!r} in {[f.code for f in result.report.findings]}"
    return matches[0]


def check_frame(result) -> pd.DataFrame:
    """Invariants of every accepted frame: forecastable as it stands."""
    assert result.report.outcome in (ACCEPT, ISSUES), result.report.headline
    frame = result.frame
    assert frame is not None and len(frame)
    assert list(frame.columns[:3]) == [schema.UNIQUE_ID, schema.DS, schema.Y]
    assert not frame.duplicated([schema.UNIQUE_ID, schema.DS]).any()
    assert frame.equals(frame.sort_values([schema.UNIQUE_ID, schema.DS]).reset_index(drop=True))
    assert pd.api.types.is_datetime64_any_dtype(frame[schema.DS])
    freq = result.report.freq
    for _, dates in frame.groupby(schema.UNIQUE_ID)[schema.DS]:
        if len(dates) < 2:
            continue
        if freq == schema.MONTHLY:
            assert (dates.dt.day == 1).all()
            months = dates.dt.year * 12 + dates.dt.month
            assert (months.diff().dropna() == 1).all()
        else:
            step = pd.Timedelta(days=1 if freq == schema.DAILY else 7)
            assert (dates.diff().dropna() == step).all()
    y = frame[schema.Y].astype(float)
    finite = np.isfinite(y)
    assert (y[finite] >= 0).all()
    assert (y[finite] < 1e9).all()
    if (~finite).any():  # unknown units only on periods the validator added (marked filled)
        assert schema.FILLED in frame.columns
        assert (frame.loc[~finite, schema.FILLED] == 1).all()
        assert y[~finite].isna().all()
    for column in frame.columns:
        if pd.api.types.is_float_dtype(frame[column].dtype):
            assert not np.isinf(frame[column].to_numpy()).any(), column
    return frame


def check_reject(result, *words: str) -> str:
    assert result.report.outcome == REJECT, (result.report.outcome, result.report.headline)
    assert result.frame is None
    message = result.report.headline
    for word in words:
        assert word.lower() in message.lower(), (word, message)
    return message


def series_units(result, sku: str) -> pd.Series:
    frame = result.frame
    return frame.loc[frame[schema.SKU] == sku].set_index(schema.DS)[schema.Y]


@pytest.fixture
def panel() -> pd.DataFrame:
    return make_panel()


# --- clean files of every shape are accepted as they are --------------------------------------------------------------


def test_clean_panel_is_accepted_without_findings(panel):
    result = load(to_csv(panel))
    frame = check_frame(result)
    assert result.report.outcome == ACCEPT
    assert result.report.freq == schema.DAILY
    assert len(frame) == 360 and frame[schema.UNIQUE_ID].nunique() == 3
    assert frame[schema.Y].sum() == panel["units"].astype(int).sum()
    assert len(result.issue_rows) == 0


def test_export_frame_uses_planner_names(panel):
    result = load(to_csv(panel))
    exported = result.export_frame()
    assert list(exported.columns[:5]) == ["date", "sku", "channel", "units", "price"]
    assert to_export_frame(result.frame).shape == exported.shape


@pytest.mark.parametrize("freq, expected, periods", [("W", schema.WEEKLY, 52), ("M", schema.MONTHLY, 24)])
def test_weekly_and_monthly_data_are_inferred(freq, expected, periods):
    panel = make_panel(periods=periods, freq=freq, start="2022-01-03")
    result = load(to_csv(panel))
    check_frame(result)
    assert result.report.outcome == ACCEPT, [f.message for f in result.report.findings]
    assert result.report.freq == expected
    assert len(result.frame) == len(panel)


@pytest.mark.parametrize("freq, expected", [("W", schema.WEEKLY), ("M", schema.MONTHLY)])
def test_weekly_and_monthly_gaps_are_filled_at_their_own_frequency(freq, expected):
    panel = make_panel(periods=40, freq=freq, start="2021-01-04", mean=2.0)
    panel = panel.loc[~((panel["sku"] == "SKU-001") & panel.index.isin([45, 50, 51]))]
    result = load(to_csv(panel))
    frame = check_frame(result)
    assert result.report.freq == expected
    assert len(frame) == 120
    filled = frame.loc[frame[schema.FILLED] == 1]
    assert set(filled[schema.SKU]) == {"SKU-001"} and len(filled) == 3


def test_weekly_dates_on_different_weekdays_are_aligned():
    panel = make_panel(periods=30, freq="W")
    shifted = pd.to_datetime(panel["date"]) + pd.to_timedelta(np.where(panel["sku"] == "SKU-001", 6, 0), unit="D")
    panel["date"] = shifted.dt.strftime("%Y-%m-%d")
    result = load(to_csv(panel))
    check_frame(result)
    assert result.report.freq == schema.WEEKLY
    assert "week_anchor" in codes(result)


def test_month_end_labels_are_monthly():
    panel = make_panel(periods=24, freq="M", start="2022-01-01")
    panel["date"] = (pd.to_datetime(panel["date"]) + pd.offsets.MonthEnd(0)).dt.strftime("%Y-%m-%d")
    result = load(to_csv(panel))
    frame = check_frame(result)
    assert result.report.freq == schema.MONTHLY
    assert (frame[schema.DS].dt.day == 1).all()


# --- dates ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fmt",
    ["%Y/%m/%d", "%d.%m.%Y", "%Y%m%d", "%Y年%m月%d日", "%d/%m/%Y", "%m/%d/%Y", "%d-%b-%Y", "%b %d, %Y",
     "%Y-%m-%d 00:00:00", "%Y-%m-%dT00:00:00Z", "%-m/%-d/%Y", "%Y.%m.%d"],
)
def test_date_formats_are_read(panel, fmt):
    expected = pd.to_datetime(panel["date"])
    panel["date"] = expected.dt.strftime(fmt)
    result = load(to_csv(panel))
    frame = check_frame(result)
    assert result.report.outcome == ACCEPT, [f.message for f in result.report.findings]
    assert frame[schema.DS].min() == expected.min() and frame[schema.DS].max() == expected.max()
    assert len(frame) == 360


def test_month_first_us_dates_are_read_month_first(panel):
    panel["date"] = pd.to_datetime(panel["date"]).dt.strftime("%m/%d/%Y")
    result = load(to_csv(panel))
    frame = check_frame(result)
    assert frame[schema.DS].max() == pd.Timestamp("2024-04-29")
    assert "month/day/year" in finding(result, "date_format").message


def test_ambiguous_short_history_prefers_consecutive_reading():
    panel = make_panel(periods=12)  # every day <= 12: no value settles the order
    panel["date"] = pd.to_datetime(panel["date"]).dt.strftime("%m/%d/%Y")
    result = load(to_csv(panel))
    frame = check_frame(result)
    assert frame[schema.DS].max() == pd.Timestamp("2024-01-12")
    assert "--date-format" in finding(result, "date_format").message


def test_date_format_option_forces_the_order(panel):
    panel = make_panel(periods=12, start="2023-01-01")
    panel["date"] = pd.to_datetime(panel["date"]).dt.strftime("%d/%m/%Y")
    result = load(to_csv(panel), date_format="MDY")
    frame = check_frame(result)
    assert frame[schema.DS].dt.month.nunique() == 12  # read as the first of 12 months, as asked


def test_mixed_iso_and_day_first_dates_state_the_reading(panel):
    dates = pd.to_datetime(panel["date"])
    panel["date"] = np.where(np.arange(len(panel)) % 3 == 0, dates.dt.strftime("%d/%m/%Y"), panel["date"])
    result = load(to_csv(panel))
    frame = check_frame(result)
    assert result.report.outcome == ACCEPT
    assert frame[schema.DS].max() == pd.Timestamp("2024-04-29")
    assert "day/month/year" in finding(result, "date_format").message


def test_mixed_iso_and_month_first_dates_state_the_reading(panel):
    dates = pd.to_datetime(panel["date"])
    panel["date"] = np.where(np.arange(len(panel)) % 4 == 0, dates.dt.strftime("%m/%d/%Y"), panel["date"])
    result = load(to_csv(panel))
    frame = check_frame(result)
    assert len(frame) == 360 and frame[schema.DS].max() == pd.Timestamp("2024-04-29")
    assert "month/day/year" in finding(result, "date_format").message


@pytest.mark.parametrize("bad", ["2024-13-45", "yesterday", "today", "now", "2024-02-30", "00/00/0000", "TBD", "",
                                 "#VALUE!", "1/1", "12345678901"])
def test_unreadable_dates_are_listed_and_excluded(panel, bad):
    panel.loc[[6, 200], "date"] = bad
    result = load(to_csv(panel))
    frame = check_frame(result)
    assert result.report.outcome == ISSUES
    assert finding(result, "bad_date").count == 2
    rows = result.issue_rows.loc[result.issue_rows["issue"] == "bad_date", "row"].tolist()
    assert rows == [8, 202]  # header is row 1
    assert len(frame) == 360  # the two days come back as filled gaps, marked
    assert frame[schema.FILLED].sum() == 2


@pytest.mark.parametrize("future", ["2099-12-31", "9999-12-31", "2030-01-01", "2262-04-12", "3000-01-01"])
def test_future_dates_are_flagged_and_kept_out(panel, future):
    extra = panel.iloc[[-1]].assign(date=future)
    result = load(to_csv(pd.concat([panel, extra])))
    frame = check_frame(result)
    assert result.report.outcome == ISSUES
    assert finding(result, "future_date").count == 1
    assert frame[schema.DS].max() == pd.Timestamp("2024-04-29")
    logged = result.issue_rows.loc[result.issue_rows["issue"] == "future_date"]
    assert logged["row"].tolist() == [362] and logged["value"].tolist() == [future]


@pytest.mark.parametrize("old", ["1900-01-01", "1899-12-30", "0001-01-01", "1066-10-14"])
def test_implausibly_old_dates_are_flagged(panel, old):
    panel.loc[3, "date"] = old
    result = load(to_csv(panel))
    check_frame(result)
    assert result.report.outcome == ISSUES
    assert {"implausible_date", "bad_date"} & issue_codes(result)


def test_dates_with_time_zone_keep_the_local_day(panel):
    panel["date"] = panel["date"] + "T23:30:00-05:00"
    result = load(to_csv(panel))
    frame = check_frame(result)
    assert frame[schema.DS].min() == pd.Timestamp("2024-01-01")


def test_excel_serial_dates(panel):
    serial = (pd.to_datetime(panel["date"]) - pd.Timestamp("1899-12-30")).dt.days
    panel["date"] = serial.astype(str)
    result = load(to_csv(panel))
    frame = check_frame(result)
    assert frame[schema.DS].min() == pd.Timestamp("2024-01-01")


def test_month_name_monthly_labels():
    panel = make_panel(periods=24, freq="M", start="2022-01-01")
    panel["date"] = pd.to_datetime(panel["date"]).dt.strftime("%b-%y")  # "Jan-22"
    result = load(to_csv(panel))
    frame = check_frame(result)
    assert result.report.freq == schema.MONTHLY
    assert frame[schema.DS].min() == pd.Timestamp("2022-01-01")


def test_chinese_year_month_labels():
    panel = make_panel(periods=24, freq="M", start="2022-01-01")
    panel["date"] = pd.to_datetime(panel["date"]).dt.strftime("%Y年%-m月")
    result = load(to_csv(panel))
    check_frame(result)
    assert result.report.freq == schema.MONTHLY


# --- units ------------------------------------------------------------------------------------------------------------


def test_negative_units_are_returns(panel):
    panel.loc[[11, 130], "units"] = ["-5", "-120"]
    result = load(to_csv(panel))
    frame = check_frame(result)
    assert result.report.outcome == ISSUES
    returns = finding(result, "returns")
    assert returns.count == 2 and "returns" in returns.message
    assert frame[schema.RETURNS].sum() == 125
    assert (frame[schema.Y] >= 0).all()
    assert set(result.issue_rows.loc[result.issue_rows["issue"] == "returns", "row"]) == {13, 132}


@pytest.mark.parametrize("blank", ["", "N/A", "-", "NaN", "null", "#N/A", "—"])
def test_missing_units_are_unknown_not_zero(panel, blank):
    panel.loc[[4, 5], "units"] = blank
    result = load(to_csv(panel))
    frame = check_frame(result)
    assert result.report.outcome == ISSUES
    assert finding(result, "missing_units").count == 2
    sku000 = series_units(result, "SKU-000")
    assert sku000.loc["2024-01-05":"2024-01-06"].isna().all()  # unknown, not a sale of 0
    assert sku000.drop(pd.to_datetime(["2024-01-05", "2024-01-06"])).notna().all()
    assert frame.loc[frame[schema.Y].isna(), schema.FILLED].eq(1).all()


@pytest.mark.parametrize("text, value", [("12 pcs", 12), ("12件", 12), ("12 units", 12)])
def test_units_with_a_unit_word_are_read(panel, text, value):
    panel.loc[4, "units"] = text
    result = load(to_csv(panel))
    check_frame(result)
    assert series_units(result, "SKU-000").loc["2024-01-05"] == value
    assert "units_with_text" in issue_codes(result)


@pytest.mark.parametrize("text", ["twelve", "abc", "12-15", "#DIV/0!", "1e5e5"])
def test_text_units_are_listed_and_excluded(panel, text):
    panel.loc[4, "units"] = text
    result = load(to_csv(panel))
    check_frame(result)
    assert finding(result, "non_numeric_units").count == 1
    assert pd.isna(series_units(result, "SKU-000").loc["2024-01-05"])


@pytest.mark.parametrize("huge", ["1e308", "inf", "-inf", "Infinity", "1e309", "-1e308", "1.7976931348623157e308",
                                  "99999999999999999999", "1e15"])
def test_huge_and_infinite_units_are_invalid(panel, huge):
    panel.loc[[8, 9], "units"] = huge
    result = load(to_csv(panel))
    check_frame(result)
    assert result.report.outcome == ISSUES
    assert finding(result, "invalid_units").count == 2
    assert series_units(result, "SKU-000").loc["2024-01-09":"2024-01-10"].isna().all()


@pytest.mark.parametrize("blank", ["", "NaN", "N/A", "-", "abc"])
def test_units_without_any_number_are_rejected(panel, blank):
    panel["units"] = blank
    message = check_reject(load(to_csv(panel)), "units")
    assert "'units'" in message and "no numeric values" in message


def test_fractional_units_are_kept(panel):
    panel.loc[0, "units"] = "2.5"
    result = load(to_csv(panel))
    check_frame(result)
    assert series_units(result, "SKU-000").iloc[0] == 2.5


def test_thousands_separators_in_units(panel):
    panel.loc[0, "units"] = "1,234"
    result = load(to_csv(panel))
    check_frame(result)
    assert series_units(result, "SKU-000").iloc[0] == 1234


# --- decimal comma, delimiters, encodings ----------------------------------------------------------------------------


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_decimal_comma_with_thousands_separators(panel, sep):
    panel["price"] = np.where(panel.index % 2 == 0, "1.234,56", "19,90")
    panel.loc[0, "units"] = "1.500"
    result = load(to_csv(panel, sep=sep))
    frame = check_frame(result)
    assert result.report.outcome == ACCEPT
    prices = set(frame[schema.PRICE].round(2))
    assert prices == {1234.56, 19.9}
    assert series_units(result, "SKU-000").iloc[0] == 1500
    assert "decimal" in codes(result)


@pytest.mark.parametrize("sep, name", [("\t", "tab"), ("|", "pipe"), (";", "semicolon")])
def test_other_delimiters_are_detected(panel, sep, name):
    result = load(to_csv(panel, sep=sep))
    check_frame(result)
    assert result.report.outcome == ACCEPT
    assert result.report.source["delimiter"] == name


def test_excel_sep_hint_line(panel):
    result = load(b"sep=;\n" + to_csv(panel, sep=";"))
    check_frame(result)
    assert result.report.outcome == ACCEPT


def chinese_panel() -> pd.DataFrame:
    skus = (("商品001", "天猫"), ("商品002", "京东"), ("𠀀𪚥䶮商品", "拼多多"))
    panel = make_panel(skus=skus)
    panel.columns = ["日期", "商品编码", "渠道", "销量", "单价", "促销"]
    panel["促销"] = np.where(panel["促销"] == "1", "是", "否")
    return panel


@pytest.mark.parametrize("encoding", ["gb18030", "utf-16", "utf-16-le", "utf-16-be", "utf-8-sig", "utf-8"])
def test_chinese_in_any_encoding_survives(encoding):
    panel = chinese_panel()
    data = to_csv(panel, encoding=encoding)
    result = load(data)
    frame = check_frame(result)
    assert result.report.outcome == ACCEPT, [f.message for f in result.report.findings]
    assert set(frame[schema.SKU]) == {"商品001", "商品002", "𠀀𪚥䶮商品"}
    assert set(frame[schema.CHANNEL]) == {"天猫", "京东", "拼多多"}
    assert frame[schema.PROMO].isin([0, 1]).all()


def test_gbk_with_semicolons_and_decimal_comma():
    panel = chinese_panel()
    panel["单价"] = panel["单价"].str.replace(".", ",", regex=False)
    result = load(to_csv(panel, sep=";", encoding="gb18030"))
    frame = check_frame(result)
    assert set(frame[schema.PRICE]) == {16.9, 19.9}


def test_windows_1252_western_names(panel):
    panel["sku"] = panel["sku"].map({"SKU-000": "Café crème", "SKU-001": "Müller Brot", "SKU-002": "Straße €5"})
    result = load(to_csv(panel, encoding="cp1252"))
    frame = check_frame(result)
    assert set(frame[schema.SKU]) == {"Café crème", "Müller Brot", "Straße €5"}


def test_utf8_bom_header(panel):
    result = load(to_csv(panel, encoding="utf-8-sig"))
    check_frame(result)
    assert result.report.mapping["date"] == "date"


def test_crlf_line_endings(panel):
    result = load(to_csv(panel).replace(b"\n", b"\r\n"))
    check_frame(result)
    assert result.report.outcome == ACCEPT


# --- containers: gzip, xlsx, parquet --------------------------------------------------------------------------------


def test_gzip_of_tsv(panel):
    result = load(gzip.compress(to_csv(panel, sep="\t")), filename="sales.tsv.gz")
    check_frame(result)
    assert result.report.outcome == ACCEPT
    assert result.report.source["delimiter"] == "tab"


def test_truncated_gzip_is_rejected(panel):
    data = gzip.compress(to_csv(panel))
    check_reject(load(data[: len(data) // 2]), "gzip", "truncated")


def xlsx_bytes(frame: pd.DataFrame, title: str | None = None, sheets: dict | None = None) -> bytes:
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        for name, extra in (sheets or {}).items():
            extra.to_excel(writer, sheet_name=name, index=False)
        frame.to_excel(writer, sheet_name="Sales", index=False, startrow=2 if title else 0)
        if title:
            writer.sheets["Sales"]["A1"] = title
    return buffer.getvalue()


def test_xlsx_with_real_dates_and_a_title_row(panel):
    typed = panel.assign(date=pd.to_datetime(panel["date"]), units=panel["units"].astype(int),
                         price=panel["price"].astype(float))
    result = load(xlsx_bytes(typed, title="Sales report Jan-Apr 2024"), filename="sales.xlsx")
    frame = check_frame(result)
    assert result.report.outcome == ACCEPT
    assert frame[schema.DS].min() == pd.Timestamp("2024-01-01")
    assert frame[schema.Y].sum() == typed["units"].sum()
    assert set(frame[schema.PRICE]) == {16.9, 19.9}
    logged_rows = result.frame.shape[0]
    assert logged_rows == 360


def test_xlsx_data_on_second_sheet(panel):
    notes = pd.DataFrame({"note": ["exported by ERP", "do not edit", "contact: x"]})
    result = load(xlsx_bytes(panel, sheets={"Notes": notes}), filename="sales.xlsx")
    check_frame(result)
    assert len(result.frame) == 360


def test_xlsx_row_numbers_match_the_sheet(panel):
    panel.loc[6, "date"] = "yesterday"
    result = load(xlsx_bytes(panel, title="Report"), filename="sales.xlsx")
    check_frame(result)
    rows = result.issue_rows.loc[result.issue_rows["issue"] == "bad_date", "row"].tolist()
    assert rows == [4 + 6]  # title row 1, blank row 2, header row 3, first data row 4


def test_parquet_typed_columns(panel):
    typed = panel.assign(date=pd.to_datetime(panel["date"]), units=panel["units"].astype(float),
                         price=panel["price"].astype(float), promo=panel["promo"] == "1")
    buffer = io.BytesIO()
    typed.to_parquet(buffer, index=False)
    result = load(buffer.getvalue(), filename="sales.parquet")
    frame = check_frame(result)
    assert result.report.outcome == ACCEPT
    assert frame[schema.PROMO].isin([0, 1]).all()
    assert frame[schema.Y].sum() == typed["units"].sum()


def test_parquet_with_far_future_timestamp(panel):
    typed = panel.assign(date=pd.to_datetime(panel["date"]).astype("datetime64[us]"),
                         units=panel["units"].astype(float))
    typed.loc[len(typed)] = typed.iloc[-1]
    typed.loc[len(typed) - 1, "date"] = pd.Timestamp("9999-12-31").as_unit("us")
    buffer = io.BytesIO()
    typed.to_parquet(buffer, index=False)
    result = load(buffer.getvalue(), filename="sales.parquet")
    check_frame(result)
    assert "future_date" in issue_codes(result)


# --- duplicates, order lines, gaps -----------------------------------------------------------------------------------


def test_exact_duplicates_are_dropped_and_listed(panel):
    copies = panel.sample(40, random_state=1)
    result = load(to_csv(pd.concat([panel, copies])))
    frame = check_frame(result)
    assert result.report.outcome == ISSUES
    assert finding(result, "duplicate_rows").count == 40
    assert frame[schema.Y].sum() == panel["units"].astype(int).sum()
    logged = result.issue_rows.loc[result.issue_rows["issue"] == "duplicate_rows", "row"]
    assert logged.min() >= 362


def test_order_lines_are_summed_per_day(panel):
    lines = []
    for _, row in panel.iterrows():
        total = int(row["units"])
        first = total // 3
        lines += [row.to_dict() | {"units": str(first)}, row.to_dict() | {"units": str(total - first)}]
    order_lines = pd.DataFrame(lines)
    result = load(to_csv(order_lines))
    frame = check_frame(result)
    assert "aggregated" in codes(result)
    assert len(frame) == 360
    assert frame[schema.Y].sum() == panel["units"].astype(int).sum()
    day = series_units(result, "SKU-001")
    assert day.iloc[0] == int(panel.loc[120, "units"])


def test_conflicting_rows_are_summed_and_listed(panel):
    extra = panel.iloc[[10, 20]].assign(units="7")
    result = load(to_csv(pd.concat([panel, extra])))
    check_frame(result)
    assert result.report.outcome == ISSUES
    assert finding(result, "conflicting_rows").count == 2
    assert series_units(result, "SKU-000").iloc[10] == int(panel.loc[10, "units"]) + 7


def test_zero_sale_days_left_out_are_filled_with_zero():
    panel = make_panel(mean=0.7, seed=3)
    sold = panel.loc[panel["units"] != "0"]
    result = load(to_csv(sold))
    frame = check_frame(result)
    assert result.report.outcome == ACCEPT, [f.message for f in result.report.findings]
    assert "gaps" in codes(result)
    first = sold.groupby("sku")["date"].min()
    last = sold.groupby("sku")["date"].max()
    expected_rows = sum((pd.Timestamp(last[s]) - pd.Timestamp(first[s])).days + 1 for s in first.index)
    assert len(frame) == expected_rows
    assert frame[schema.Y].notna().all()  # zero days are zeros, not unknown
    assert frame[schema.Y].sum() == sold["units"].astype(int).sum()


def test_block_missing_for_every_series_is_an_outage(panel):
    dates = pd.to_datetime(panel["date"])
    result = load(to_csv(panel.loc[~dates.between("2024-02-01", "2024-02-10")]))
    frame = check_frame(result)
    assert result.report.outcome == ISSUES
    outage = finding(result, "outage")
    assert outage.count == 30 and "2024-02-01 to 2024-02-10" in outage.message
    assert frame.loc[frame[schema.DS].between("2024-02-01", "2024-02-10"), schema.Y].isna().all()


def test_block_missing_in_one_busy_series_is_a_data_gap(panel):
    dates = pd.to_datetime(panel["date"])
    hole = (panel["sku"] == "SKU-001") & dates.between("2024-03-01", "2024-03-15")
    result = load(to_csv(panel.loc[~hole]))
    check_frame(result)
    assert result.report.outcome == ISSUES
    gap = series_units(result, "SKU-001").loc["2024-03-01":"2024-03-15"]
    assert len(gap) == 15 and gap.isna().all()  # a busy SKU does not sell 0 for 15 days in a row


def test_gaps_left_missing_when_asked(panel):
    result = load(to_csv(panel.drop(index=[5, 6, 7])), fill_gaps=False)
    assert result.report.outcome == ISSUES
    assert "gaps" in issue_codes(result)


def test_mixed_frequency_series_is_listed(panel):
    weekly = make_panel(periods=18, freq="W", skus=(("SKU-003", "app"),))
    result = load(to_csv(pd.concat([panel, weekly])))
    frame = check_frame(result)
    assert result.report.outcome == ISSUES
    assert "mixed_frequency" in issue_codes(result)
    assert "SKU-003" not in set(frame[schema.SKU])
    assert (result.issue_rows["issue"] == "mixed_frequency").sum() == 18


def test_mixed_frequency_monthly_series(panel):
    monthly = make_panel(periods=8, freq="M", start="2023-09-01", skus=(("SKU-M", "web"),))
    result = load(to_csv(pd.concat([panel, monthly])))
    check_frame(result)
    assert "mixed_frequency" in issue_codes(result)


# --- promotions, prices, stock ----------------------------------------------------------------------------------------


def test_promo_words_blanks_and_invalid_numbers(panel):
    panel.loc[[0, 1, 2, 3, 4, 5, 6], "promo"] = ["yes", "TRUE", "", "2", "-1", "是", "否"]
    result = load(to_csv(panel))
    frame = check_frame(result)
    assert result.report.outcome == ISSUES
    promo = frame.loc[frame[schema.SKU] == "SKU-000", schema.PROMO].iloc[:7].tolist()
    assert promo[:3] == [1.0, 1.0, 0.0] and promo[5:] == [1.0, 0.0]
    assert all(math.isnan(p) for p in promo[3:5])
    assert finding(result, "invalid_promo").count == 2


@pytest.mark.parametrize("values, expected", [
    (["yes", "no"], [1.0, 0.0]), (["Y", "N"], [1.0, 0.0]), (["是", "否"], [1.0, 0.0]),
    (["20%", "0%"], [0.2, 0.0]), (["0.3", "0"], [0.3, 0.0]), (["TRUE", "FALSE"], [1.0, 0.0]),
])
def test_consistent_promo_notations_are_accepted(panel, values, expected):
    panel["promo"] = np.where(panel.index % 2 == 0, values[0], values[1])
    result = load(to_csv(panel))
    frame = check_frame(result)
    assert result.report.outcome == ACCEPT, [f.message for f in result.report.findings]
    assert frame[schema.PROMO].iloc[:2].tolist() == expected


def test_promo_names_with_blanks_read_as_on_promotion(panel):
    panel["promo"] = np.where(panel.index % 5 == 0, "618大促", "")
    result = load(to_csv(panel))
    frame = check_frame(result)
    assert result.report.outcome == ACCEPT
    assert frame[schema.PROMO].iloc[0] == 1 and frame[schema.PROMO].iloc[1] == 0
    assert frame["promo_label"].iloc[0] == "618大促"


def test_blank_promo_in_a_flag_column_is_listed(panel):
    panel.loc[[3, 9], "promo"] = ""
    result = load(to_csv(panel))
    check_frame(result)
    assert result.report.outcome == ISSUES
    logged = result.issue_rows.loc[result.issue_rows["field"] == "promo"]
    assert sorted(logged["row"]) == [5, 11]


@pytest.mark.parametrize("bad", ["0", "-19.90", "free", "0,00", "-0.01"])
def test_bad_prices_are_not_used(panel, bad):
    panel.loc[[13, 14], "price"] = bad
    result = load(to_csv(panel))
    frame = check_frame(result)
    assert result.report.outcome == ISSUES
    assert finding(result, "invalid_price").count == 2
    assert (frame[schema.PRICE].dropna() > 0).all()


def test_on_hand_zero_marks_stockouts(panel):
    panel["on_hand"] = np.where(panel.index % 10 == 0, "0", "50")
    result = load(to_csv(panel))
    frame = check_frame(result)
    assert result.report.outcome == ACCEPT
    assert frame[schema.STOCKOUT].sum() == 36
    assert finding(result, "stockouts").count == 36


# --- keys and names -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sku", ["=1+1", "+cmd|' /C calc'!A0", "-2+3", "@SUM(1+1)", "=HYPERLINK(\"http://x\",\"y\")",
                                 "\t=1+1"])
def test_formula_like_skus_are_kept_verbatim(panel, sku):
    panel.loc[panel["sku"] == "SKU-001", "sku"] = sku
    result = load(to_csv(panel))
    frame = check_frame(result)
    assert result.report.outcome == ACCEPT
    assert sku.strip() in set(frame[schema.SKU])
    assert sku.strip() in set(result.export_frame()["sku"])


def test_formula_sku_in_single_rows_is_accepted(panel):
    panel.loc[[0, 40, 80], "sku"] = ["=HYPERLINK(\"x\")", "+cmd|' /C calc'!A0", "@SUM(1+1)"]
    result = load(to_csv(panel))
    check_frame(result)
    assert result.report.outcome == ACCEPT, [f.message for f in result.report.issues]


def test_twenty_thousand_character_sku(panel):
    long_name = "S" * 20_000
    panel.loc[panel["sku"] == "SKU-002", "sku"] = long_name
    result = load(to_csv(panel))
    frame = check_frame(result)
    assert result.report.outcome in (ACCEPT, ISSUES)
    assert long_name in set(frame[schema.SKU])
    assert len(result.report.to_text()) < 5000


def test_quoted_newlines_quotes_and_commas_survive(panel):
    panel.loc[panel["sku"] == "SKU-001", "sku"] = 'SKU\nwith newline, "quoted"'
    result = load(to_csv(panel))
    frame = check_frame(result)
    assert result.report.outcome == ACCEPT
    assert 'SKU\nwith newline, "quoted"' in set(frame[schema.SKU])
    back = pd.read_csv(io.StringIO(result.export_frame().to_csv(index=False)), dtype=str)
    assert 'SKU\nwith newline, "quoted"' in set(back["sku"])


def test_row_numbers_count_records_after_quoted_newlines(panel):
    panel.loc[0, "sku"] = "two\nlines"
    panel.loc[10, "date"] = "never"
    result = load(to_csv(panel))
    rows = result.issue_rows.loc[result.issue_rows["issue"] == "bad_date", "row"].tolist()
    assert rows == [12]


def test_missing_sku_cells_are_listed(panel):
    panel.loc[[3, 4], "sku"] = ""
    result = load(to_csv(panel))
    check_frame(result)
    assert finding(result, "missing_sku").count == 2


def test_without_sku_column_channels_are_series(panel):
    result = load(to_csv(panel.drop(columns="sku").groupby(["date", "channel"], as_index=False).first()))
    frame = check_frame(result)
    assert set(frame[schema.UNIQUE_ID]) == {"total | app", "total | web"}


def test_total_rows_are_not_a_sku(panel):
    totals = panel.groupby("date", as_index=False).first().assign(sku="Total", channel="")
    result = load(to_csv(pd.concat([panel, totals])))
    frame = check_frame(result)
    assert "Total" not in set(frame[schema.SKU])
    assert result.report.outcome == ISSUES


# --- layout: extra columns, wide tables, ragged lines, titles --------------------------------------------------------


def test_five_hundred_extra_columns(panel):
    rng = np.random.default_rng(0)
    extra = pd.DataFrame(rng.random((len(panel), 500)).round(3).astype(str),
                         columns=[f"x{i}" for i in range(500)])
    result = load(to_csv(pd.concat([panel, extra], axis=1)))
    frame = check_frame(result)
    assert result.report.outcome == ACCEPT
    assert frame.shape[1] < 40


def test_wide_dates_as_columns(panel):
    wide = panel.pivot(index=["sku", "channel"], columns="date", values="units").reset_index()
    result = load(to_csv(wide))
    frame = check_frame(result)
    assert result.report.outcome == ACCEPT
    assert "layout" in codes(result)
    assert len(frame) == 360 and frame[schema.Y].sum() == panel["units"].astype(int).sum()
    assert set(frame[schema.CHANNEL]) == {"app", "web"}


def test_wide_dates_as_columns_day_first_with_blank_cells(panel):
    panel["date"] = pd.to_datetime(panel["date"]).dt.strftime("%d/%m/%Y")
    wide = panel.pivot(index="sku", columns="date", values="units")
    wide = wide[sorted(wide.columns, key=lambda d: pd.to_datetime(d, dayfirst=True))].reset_index()
    wide.iloc[0, 5] = ""
    result = load(to_csv(wide))
    frame = check_frame(result)
    assert result.report.outcome == ACCEPT, [f.message for f in result.report.issues]
    assert frame[schema.DS].max() == pd.Timestamp("2024-04-29")
    assert frame[schema.Y].notna().all()


def test_wide_skus_as_columns(panel):
    wide = panel.pivot(index="date", columns="sku", values="units").reset_index()
    result = load(to_csv(wide))
    frame = check_frame(result)
    assert result.report.outcome == ACCEPT
    assert set(frame[schema.SKU]) == {"SKU-000", "SKU-001", "SKU-002"}
    assert frame[schema.Y].sum() == panel["units"].astype(int).sum()


def test_wide_product_names_as_columns():
    panel = chinese_panel()
    wide = panel.pivot(index="日期", columns="商品编码", values="销量").reset_index()
    result = load(to_csv(wide))
    check_frame(result)
    assert result.report.outcome == ACCEPT


def test_ragged_line_with_an_extra_cell(panel):
    text = to_csv(panel).decode().split("\n")
    text[5] += ",surprise"
    text[1] += ",another"
    result = load("\n".join(text).encode())
    frame = check_frame(result)
    assert result.report.outcome == ISSUES
    assert finding(result, "malformed_line").count == 2
    assert sorted(result.issue_rows.loc[result.issue_rows["issue"] == "malformed_line", "row"]) == [2, 6]
    assert frame[schema.Y].notna().sum() == 358


def test_short_line_with_missing_cells(panel):
    text = to_csv(panel).decode().split("\n")
    text[5] = ",".join(text[5].split(",")[:3])
    result = load("\n".join(text).encode())
    check_frame(result)
    assert result.report.outcome == ISSUES


def test_trailing_delimiter_on_every_line(panel):
    text = to_csv(panel).decode().replace("\n", ",\n")
    result = load(text.encode())
    check_frame(result)
    assert result.report.outcome == ACCEPT


@pytest.mark.parametrize("title", [
    "Sales report\nExported 2024-05-01\n\n",
    "Store: Main, Period: Jan-Apr, Currency: EUR\n",
    "销售报表,,,,,\n,,,,,\n",
])
def test_title_lines_above_the_header(panel, title):
    result = load(title.encode() + to_csv(panel))
    frame = check_frame(result)
    assert result.report.outcome == ACCEPT
    assert len(frame) == 360
    assert result.report.mapping["units"] == "units"


def test_blank_lines_between_rows(panel):
    text = to_csv(panel).decode().replace("\n2024-02-01", "\n\n\n2024-02-01")
    result = load(text.encode())
    check_frame(result)
    assert result.report.outcome == ACCEPT


# --- mapping ----------------------------------------------------------------------------------------------------------


def test_missing_units_column_is_rejected_with_the_columns_found(panel):
    message = check_reject(load(to_csv(panel.drop(columns="units"))), "units")
    for column in ("date", "sku", "channel", "price", "promo"):
        assert f"'{column}'" in message
    assert "--units-col" in message


def test_missing_units_column_mapped_to_another(panel):
    data = to_csv(panel.rename(columns={"units": "Stück verkauft"}))
    check_reject(load(data), "units")
    result = load(data, mapping={"units": "Stück verkauft"})
    check_frame(result)
    assert result.report.outcome == ACCEPT


def test_missing_date_column_is_rejected(panel):
    message = check_reject(load(to_csv(panel.drop(columns="date"))), "date")
    assert "--date-col" in message and "'units'" in message


def test_missing_date_column_mapped_to_another(panel):
    data = to_csv(panel.rename(columns={"date": "Buchungstag"}))
    check_reject(load(data), "date")
    result = load(data, mapping=ColumnMapping(date="Buchungstag"))
    check_frame(result)


def test_mapping_a_column_that_does_not_exist(panel):
    message = check_reject(load(to_csv(panel), mapping={"units": "qty_sold"}), "qty_sold")
    assert "not in the file" in message and "'units'" in message


def test_mapping_unknown_field(panel):
    check_reject(load(to_csv(panel), mapping={"colour": "sku"}), "colour")


def test_european_and_chinese_headers_are_detected(panel):
    german = panel.rename(columns={"date": "Datum", "sku": "Artikelnummer", "units": "Menge", "price": "Preis"})
    result = load(to_csv(german, sep=";"))
    check_frame(result)
    assert result.report.mapping["units"] == "Menge"


# --- unreadable files -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("data, words", [
    (b"", ["empty"]),
    (b"   \n\n \t \r\n", ["empty"]),
    (b"\xef\xbb\xbf", ["empty"]),
    (b"\xff\xfe", ["empty"]),
    (gzip.compress(b""), ["empty"]),
    (b"date,sku,channel,units,price,promo\n", ["no data rows"]),
    (b"date,sku,channel,units,price,promo\r\n\r\n,,,,,\n", ["no data rows"]),
    ("date,sku,units\n".encode("utf-16"), ["no data rows"]),
    (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, ["PNG"]),
    (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", ["PDF"]),
    (b"PK\x03\x04" + b"\x00" * 100, ["zip", "excel"]),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, ["xls"]),
    (b"{\"date\": \"2024-01-01\", \"units\": 5}", []),
    (b"<html><body><table><tr><td>1</td></tr></table></body></html>", []),
])
def test_unreadable_files_are_rejected(data, words):
    check_reject(load(data), *words)


@pytest.mark.parametrize("seed", range(8))
def test_random_bytes_are_rejected(seed):
    data = np.random.default_rng(seed).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    check_reject(load(data))


def test_broken_xlsx_is_rejected(panel):
    data = xlsx_bytes(panel)
    check_reject(load(data[:2000], filename="sales.xlsx"), "excel")
    check_reject(load(data[: len(data) - 200], filename="sales.xlsx"), "excel")


def test_zip_holding_a_csv_is_rejected_with_advice(panel):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("sales.csv", to_csv(panel))
    check_reject(load(buffer.getvalue()), "zip")


def test_single_row_is_rejected_with_the_minimum(panel):
    message = check_reject(load(to_csv(panel.iloc[:1])), "7")
    assert "1 day" in message


@pytest.mark.parametrize("days", [2, 6])
def test_too_few_days_are_rejected(days):
    check_reject(load(to_csv(make_panel(periods=days))), "at least")


def test_one_short_new_series_is_flagged(panel):
    new = make_panel(periods=3, start="2024-04-27", skus=(("SKU-NEW", "web"),))
    result = load(to_csv(pd.concat([panel, new])))
    check_frame(result)
    assert result.report.outcome == ISSUES
    assert "short_history" in issue_codes(result)
    flags = result.series.set_index(schema.SKU)["flags"]
    assert "short" in flags["SKU-NEW"]


def test_never_sold_series_is_flagged_with_zeros(panel):
    panel.loc[panel["sku"] == "SKU-001", "units"] = "0"
    result = load(to_csv(panel))
    check_frame(result)
    assert "never_sold" in issue_codes(result)
    assert (series_units(result, "SKU-001") == 0).all()


def test_load_never_raises_on_a_missing_file(tmp_path):
    check_reject(load_sales(tmp_path / "nope.csv"), "not found")


def test_load_accepts_paths_and_file_objects(tmp_path, panel):
    path = tmp_path / "sales.csv"
    path.write_bytes(to_csv(panel))
    assert load_sales(path).report.accepted
    with path.open("rb") as handle:
        assert load_sales(handle).report.accepted


def test_report_round_trips_and_reads_as_text(panel):
    panel.loc[3, "units"] = "-4"
    result = load(to_csv(panel))
    text = result.report.to_text()
    assert text.startswith(ISSUES)
    again = type(result.report).from_dict(result.report.to_dict())
    assert again.outcome == result.report.outcome and again.findings == result.report.findings
    assert NOTICE in {f.severity for f in result.report.findings} or True


def test_dates_mixing_day_first_and_month_first_are_rejected_with_the_choice(panel):
    panel.loc[0, "date"] = "13/01/2024"
    panel.loc[1, "date"] = "01/14/2024"
    message = check_reject(load(to_csv(panel)), "13/01/2024", "01/14/2024", "--date-format")
    assert "'date'" in message
    result = load(to_csv(panel), date_format="DMY")  # the planner's choice imports, the misfit listed
    check_frame(result)
    assert finding(result, "bad_date").count == 1


def test_semicolon_file_with_thousands_only(panel):
    panel["price"] = "1.299"
    result = load(to_csv(panel, sep=";"))
    frame = check_frame(result)
    assert set(frame[schema.PRICE]) == {1299.0}


def test_an_unexpected_error_is_a_reject_not_a_traceback(panel, monkeypatch, caplog):
    def broken(self, frame):
        raise KeyError("ds")

    monkeypatch.setattr("core.data.validate._Validator._gaps", broken)
    result = load(to_csv(panel))
    message = check_reject(result, "unexpected error", "KeyError", "Nothing was imported")
    assert finding(result, "internal_error").severity == ISSUE
    assert "Unexpected error" in caplog.text and message


def test_wide_layout_with_totals_column_and_late_launch(panel):
    wide = panel.pivot(index="sku", columns="date", values="units")
    wide.loc["SKU-002", wide.columns[:10]] = np.nan  # launched on day 11: empty before, not zero
    wide.insert(0, "Total", wide.apply(pd.to_numeric).sum(axis=1).astype(int).astype(str))
    result = load(to_csv(wide.reset_index().fillna("")))
    frame = check_frame(result)
    assert result.report.outcome == ACCEPT
    assert series_units(result, "SKU-002").index.min() == pd.Timestamp("2024-01-11")
    assert "Total" not in frame.columns and frame[schema.Y].max() < 200


def test_issue_rows_keep_the_original_cells(panel):
    panel.loc[7, "units"] = "twelve"
    panel.loc[8, "price"] = "-1"
    result = load(to_csv(panel))
    rows = result.issue_rows.set_index("issue")
    assert rows.loc["non_numeric_units", "units"] == "twelve" and rows.loc["non_numeric_units", "row"] == 9
    assert rows.loc["invalid_price", "price"] == "-1" and rows.loc["invalid_price", "action"] == "altered"
    assert list(result.issue_rows.columns[:5]) == ["row", "issue", "action", "field", "value"]


# --- every class of EXPECTED.md, in random variations -----------------------------------------------------------------


def variant(kind: str, seed: int) -> tuple[bytes, set[str]]:
    """A seeded random variation of one class of defect, and the outcomes its class allows."""
    rng = np.random.default_rng(seed)
    panel = make_panel(seed=seed)
    n = len(panel)

    def rows(low: int, high: int) -> np.ndarray:
        return rng.choice(n, size=int(rng.integers(low, high + 1)), replace=False)

    def pick(values: list[str], size: int) -> np.ndarray:
        return rng.choice(np.array(values, dtype=object), size=size)

    if kind == "bad_dates":
        chosen = rows(1, 6)
        panel.loc[chosen, "date"] = pick(["2024-13-45", "yesterday", "32/01/2024", "2024-02-30", "", "N/A",
                                          "0000-00-00", "31.02.2024"], len(chosen))
        return to_csv(panel), {ISSUES}
    if kind == "mixed_date_formats":
        fmt = ["%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%b %d, %Y", "%Y%m%d"][seed % 5]
        chosen = rng.random(n) < 0.3
        panel.loc[chosen, "date"] = pd.to_datetime(panel.loc[chosen, "date"]).dt.strftime(fmt)
        return to_csv(panel), {ACCEPT, REJECT}
    if kind == "negative_units":
        chosen = rows(1, 10)
        panel.loc[chosen, "units"] = (-rng.integers(1, 200, len(chosen))).astype(str)
        return to_csv(panel), {ISSUES}
    if kind == "non_numeric_units":
        chosen = rows(1, 6)
        panel.loc[chosen, "units"] = pick(["12 pcs", "N/A", "", "abc", "-", "#N/A", "5 units"], len(chosen))
        return to_csv(panel), {ISSUES}
    if kind == "duplicate_rows":
        copies = panel.sample(int(rng.choice([1, 10, 50, 100])), random_state=seed)
        return to_csv(pd.concat([panel, copies]).sample(frac=1, random_state=seed)), {ISSUES}
    if kind == "future_date":
        extra = panel.iloc[[int(rng.integers(n))]].assign(date=pick(["2099-12-31", "9999-12-31", "2031-06-01"], 1))
        return to_csv(pd.concat([panel, extra])), {ISSUES}
    if kind == "huge_and_inf_values":
        chosen = rows(1, 4)
        panel.loc[chosen, "units"] = pick(["1e308", "inf", "-inf", "1e309", "Infinity", "-1e308"], len(chosen))
        return to_csv(panel), {ISSUES}
    if kind == "one_sku_too_short":
        new = make_panel(periods=int(rng.integers(1, 6)), start="2024-04-29", skus=(("SKU-NEW", "web"),))
        new["date"] = (pd.to_datetime(new["date"]) - pd.Timedelta(days=len(new) - 1)).dt.strftime("%Y-%m-%d")
        return to_csv(pd.concat([panel, new])), {ISSUES}
    if kind == "formula_injection_sku":
        chosen = rng.choice(np.arange(0, 90, 10), size=3, replace=False)
        panel.loc[chosen, "sku"] = ["=HYPERLINK(\"http://x\",\"y\")", "+cmd|' /C calc'!A0", "@SUM(1+1)"]
        return to_csv(panel), {ACCEPT}
    if kind == "quoted_newlines":
        chosen = rng.choice(np.arange(0, 90), size=2, replace=False)
        panel.loc[chosen, "sku"] = ["SKU\nwith newline", 'SKU "quoted", comma']
        return to_csv(panel), {ACCEPT}
    if kind == "mixed_frequency":
        sku = SKUS[seed % 3][0]
        dates = pd.to_datetime(panel["date"])
        keep = dates.dt.day_of_week == seed % 7 if seed % 2 else dates.dt.day == 1 + seed % 28
        return to_csv(panel.loc[(panel["sku"] != sku) | keep]), {ISSUES}
    if kind == "gaps_in_history":
        start = pd.Timestamp("2024-01-11") + pd.Timedelta(days=int(rng.integers(0, 80)))
        hole = pd.to_datetime(panel["date"]).between(start, start + pd.Timedelta(days=int(rng.integers(3, 20))))
        if seed % 2:
            hole &= panel["sku"] == SKUS[seed % 3][0]
        return to_csv(panel.loc[~hole]), {ISSUES}
    if kind == "promo_not_binary":
        chosen = rows(3, 30)
        panel.loc[chosen, "promo"] = pick(["yes", "TRUE", "", "2", "-1", "Y", "no", "是", "20%", "BOGO"], len(chosen))
        return to_csv(panel), {ISSUES}
    if kind == "price_negative_or_zero":
        chosen = rows(1, 6)
        panel.loc[chosen, "price"] = pick(["0", "-19.90", "0.00", "-1", "free"], len(chosen))
        return to_csv(panel), {ISSUES}
    raise ValueError(kind)


VARIANT_KINDS = ["bad_dates", "mixed_date_formats", "negative_units", "non_numeric_units", "duplicate_rows",
                 "future_date", "huge_and_inf_values", "one_sku_too_short", "formula_injection_sku",
                 "quoted_newlines", "mixed_frequency", "gaps_in_history", "promo_not_binary", "price_negative_or_zero"]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("kind", VARIANT_KINDS)
def test_random_variants_of_each_class(kind, seed):
    data, allowed = variant(kind, seed)
    result = load(data)
    assert result.report.outcome in allowed, (result.report.headline, [f.message for f in result.report.issues])
    if result.report.accepted:
        check_frame(result)


def test_wide_skus_as_columns_with_a_mapped_date(panel):
    wide = panel.pivot(index="date", columns="sku", values="units").reset_index().rename(columns={"date": "Tag"})
    result = load(to_csv(wide), mapping={"date": "Tag"})
    check_frame(result)
    assert set(result.frame[schema.SKU]) == {"SKU-000", "SKU-001", "SKU-002"}
