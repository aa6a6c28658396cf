"""Files planners download. Text from uploads can never run as a formula in Excel or LibreOffice."""

from __future__ import annotations

import pandas as pd

#: A cell starting with one of these is read as a formula by spreadsheet programs.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n", "｜")


def neutralise_formula(text: object) -> object:
    """Prefix text that a spreadsheet would run as a formula with an apostrophe (OWASP CSV-injection advice)."""
    if isinstance(text, str) and text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def safe_text_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text columns are neutralised; numbers and dates are untouched."""
    safe = frame.copy()
    for column in safe.columns:
        if isinstance(safe[column].dtype, pd.StringDtype) or safe[column].dtype == object:
            safe[column] = safe[column].map(neutralise_formula)
    safe.columns = [neutralise_formula(str(c)) for c in safe.columns]
    return safe


def whole_numbers_as_integers(frame: pd.DataFrame) -> pd.DataFrame:
    """Float columns holding only whole numbers become nullable integers, so files show 30, not 30.0."""
    converted = frame.copy()
    for column in converted.columns:
        values = converted[column]
        if pd.api.types.is_float_dtype(values.dtype):
            finite = values.dropna()
            if len(finite) and (finite == finite.round()).all() and finite.abs().max() < 2**53:
                converted[column] = values.astype("Int64")
    return converted


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """CSV for planners: UTF-8 with a byte-order mark (so Excel shows Chinese text), injection-safe, ISO dates."""
    safe = safe_text_frame(whole_numbers_as_integers(frame))
    return safe.to_csv(index=False, date_format="%Y-%m-%d").encode("utf-8-sig")
