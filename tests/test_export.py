"""Downloads: text from uploads never runs as a formula; names with newlines and quotes survive a round trip."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from core.export import neutralise_formula, to_csv_bytes, whole_numbers_as_integers


@pytest.mark.parametrize("text", ["=1+1", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\t=1", '=HYPERLINK("x","y")'])
def test_formula_like_text_is_neutralised(text):
    assert neutralise_formula(text) == "'" + text


@pytest.mark.parametrize("value", ["SKU-001", "商品001", 5, -5.0, None])
def test_other_values_are_untouched(value):
    assert neutralise_formula(value) == value


def test_csv_keeps_numbers_numeric_and_text_safe():
    frame = pd.DataFrame({"sku": ["=1+1", 'SKU "q", x\nline2'], "units": [-3.0, 4.0], "price": [1.5, None]})
    text = to_csv_bytes(frame).decode("utf-8-sig")
    back = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    assert back["sku"].tolist() == ["'=1+1", 'SKU "q", x\nline2']
    assert back["units"].tolist() == ["-3", "4"]
    assert back["price"].tolist() == ["1.5", ""]


def test_whole_number_floats_become_integers_but_fractions_stay():
    frame = whole_numbers_as_integers(pd.DataFrame({"a": [1.0, None], "b": [1.5, 2.0]}))
    assert str(frame["a"].dtype) == "Int64" and frame["b"].dtype == float
