"""The shared folder of malformed uploads (../shared/bad_inputs): each file gets the outcome EXPECTED.md names.

The folder sits beside the repository in the development workspace, not in a fresh clone: without it the whole
module is skipped.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core import schema
from core.data import ValidationOptions, load_sales

BAD_INPUTS = Path(__file__).resolve().parents[2] / "shared" / "bad_inputs"
EXPECTED_MD = BAD_INPUTS / "EXPECTED.md"
if not EXPECTED_MD.is_file():
    pytest.skip(f"{BAD_INPUTS} is not here (a fresh clone): nothing to check", allow_module_level=True)

_OUTCOME = re.compile(rf"{schema.ACCEPT_WITH_ISSUES}|{schema.ACCEPT}|{schema.REJECT}")
#: A fixed 'today' after the files' history (2024) and before their planted future date (2099).
TODAY = pd.Timestamp("2025-01-01")


def expected_outcomes() -> dict[str, set[str]]:
    """File name -> every outcome its row in EXPECTED.md allows ("ACCEPT (or ACCEPT WITH ISSUES)" allows two)."""
    table: dict[str, set[str]] = {}
    for line in EXPECTED_MD.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 2 or cells[0] in ("file", "") or set(cells[0]) <= {"-"}:
            continue
        outcomes = set(_OUTCOME.findall(" | ".join(cells[1:])))
        if outcomes:
            table[cells[0]] = outcomes
    return table


EXPECTED = expected_outcomes()
FILES = sorted(p.name for p in BAD_INPUTS.iterdir() if p.is_file() and p.name != EXPECTED_MD.name)


def load(name: str):
    return load_sales(BAD_INPUTS / name, options=ValidationOptions(today=TODAY))


def test_expected_md_names_every_file():
    assert len(EXPECTED) >= 30
    assert set(FILES) == set(EXPECTED), set(FILES) ^ set(EXPECTED)


@pytest.mark.parametrize("name", FILES)
def test_outcome_matches_expected(name):
    result = load(name)
    report = result.report
    assert report.outcome in EXPECTED[name], f"{name}: {report.outcome}: {report.headline}"
    assert all(f.code != "internal_error" for f in report.findings)
    if report.outcome == schema.REJECT:
        assert result.frame is None and len(report.headline) > 30
        return
    frame = result.frame
    assert not frame.duplicated([schema.UNIQUE_ID, schema.DS]).any()
    y = frame[schema.Y]
    assert np.isfinite(y.dropna()).all() and (y.dropna() >= 0).all()
    assert (frame.loc[y.isna(), schema.FILLED] == 1).all()
    if report.outcome == schema.ACCEPT_WITH_ISSUES:
        assert report.issues and all(f.message for f in report.issues)


def test_rejections_say_what_and_how():
    assert "empty" in load("empty.csv").report.headline
    assert "no data rows" in load("header_only.csv").report.headline
    for name, field in (("missing_units_column.csv", "units"), ("missing_date_column.csv", "date")):
        message = load(name).report.headline
        assert f"'{field}'" in message and "Columns found" in message and f"--{field}-col" in message
    assert "no numeric values" in load("all_nan_units.csv").report.headline
    assert "binary" in load("binary_garbage.csv").report.headline
    assert "zip" in load("xlsx_bytes_named_csv.csv").report.headline.lower()
    assert "at least 7" in load("single_row.csv").report.headline


def test_missing_units_column_imports_once_mapped():
    columns = pd.read_csv(BAD_INPUTS / "missing_units_column.csv", nrows=0).columns
    numeric = [c for c in columns if c not in ("date", "sku", "channel", "promo")]
    result = load_sales(BAD_INPUTS / "missing_units_column.csv", mapping={"units": numeric[0]},
                        options=ValidationOptions(today=TODAY))
    assert result.report.accepted


def test_bad_dates_rows_are_listed():
    result = load("bad_dates.csv")
    bad = result.issue_rows.loc[result.issue_rows["issue"] == "bad_date"]
    assert sorted(bad["value"]) == ["2024-13-45", "yesterday"]
    assert bad["row"].notna().all()


def test_semicolon_prices_are_decimal():
    frame = load("semicolon_decimal_comma.csv").frame
    assert set(frame[schema.PRICE].round(2)) <= {16.9, 19.9}


def test_gbk_names_survive():
    frame = load("gbk_encoded_chinese.csv").frame
    assert "商品001" in set(frame[schema.SKU])
    assert {"天猫", "京东"} <= set(frame[schema.CHANNEL])


def test_utf8_bom_first_column_is_date():
    assert load("utf8_bom.csv").report.mapping["date"] == "date"


def test_non_numeric_units_are_unknown_not_zero():
    result = load("non_numeric_units.csv")
    assert {"missing_units", "units_with_text"} <= {f.code for f in result.report.issues}
    assert result.frame[schema.Y].isna().sum() == 2


def test_formula_and_newline_skus_are_kept_verbatim():
    skus = set(load("formula_injection_sku.csv").frame[schema.SKU])
    assert "=HYPERLINK(\"http://example.invalid\",\"x\")" in skus and "+cmd|' /C calc'!A0" in skus
    skus = set(load("quoted_newlines.csv").frame[schema.SKU])
    assert "SKU\nwith newline" in skus and 'SKU "quoted", comma' in skus


def test_future_and_all_zero_and_short_are_flagged():
    assert load("future_date.csv").frame[schema.DS].max() < TODAY
    assert "never_sold" in {f.code for f in load("all_zero_sku.csv").report.issues}
    assert "short_history" in {f.code for f in load("one_sku_too_short.csv").report.issues}


def test_gaps_are_unobserved_and_stated():
    result = load("gaps_in_history.csv")
    frame = result.frame
    assert frame[schema.Y].isna().sum() == 45 and (frame.loc[frame[schema.Y].isna(), schema.FILLED] == 1).all()
    assert "unobserved" in result.report.issues[0].message
