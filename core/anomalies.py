"""Anomalies: periods far from a decomposition, each with a reason a planner can act on.

A period is flagged when its remainder is far from the usual (a robust z-score: (remainder - median) / (1.4826
MAD) over the periods the decomposition was fitted on, beyond ``settings.threshold``; for unit counts the
remainder is taken on the square-root scale, sqrt(observed) - sqrt(baseline), so that busy periods, which vary
more in units, and skewed counts do not swamp the list; intermittent series are not scored), or when stock capped its
sales (``stockout`` from ``on_hand``, or a run of zero days too long to be chance in a fast mover). Each flag gets
one reason, in this order: stock-out, promotion (a spike on promotion, a dip just after one), event or holiday,
else an unexplained spike or dip. Only the unexplained ones are anomalies in the strict sense (``anomaly``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from core import schema
from core.decompose import (BASELINE, EVENT, IN_FIT, N_SERIES, OBSERVED, PROMO_SHARE, REMAINDER, SHARE_FLAG,
                            STOCKOUT_SHARE, DecomposeSettings, Decomposition, DecompositionError, decompose,
                            series_frame, series_label)
from core.history import LEVELS, TOTAL

UNEXPLAINED, PROMOTION, EVENT_KIND, STOCKOUT = "unexplained", "promotion", "event", "stock-out"
SERIES = "series"
ANOMALY_COLUMNS = (SERIES, schema.DS, OBSERVED, BASELINE, REMAINDER, "score", "direction", "kind", "reason",
                   "anomaly")
#: Periods after a promotion in which a dip is put down to it (shoppers bought ahead).
POST_PROMOTION_PERIODS = {schema.DAILY: 7, schema.WEEKLY: 1, schema.MONTHLY: 0}
#: A series selling at least this many units per period on average is a fast mover.
FAST_MOVER_UNITS = 2.0
#: A run of zero periods in a fast mover less likely than this (negative binomial around the baseline, size
#: :data:`ZERO_RUN_DISPERSION`, generous to overdispersed demand) is put down to a stock-out.
ZERO_RUN_PROBABILITY = 1e-3
ZERO_RUN_DISPERSION = 2.0
_MAD_TO_SD = 1.4826
#: Series with more zero periods than this are intermittent: a sale is no spike there, so none are scored.
MAX_ZERO_SHARE = 0.5


def robust_scores(decomposition: Decomposition) -> np.ndarray:
    """Robust z-score of each period's remainder (square-root scale for counts); NaN where unobserved, and
    everywhere for an intermittent series (over half its fitted periods without sales) or a flat remainder."""
    table = decomposition.components
    observed = table[OBSERVED].to_numpy(dtype=np.float64)
    remainder = table[REMAINDER].to_numpy(dtype=np.float64)
    fitted = table[IN_FIT].to_numpy() & ~np.isnan(remainder)
    if fitted.sum() < 3 or (observed[fitted] == 0).mean() > MAX_ZERO_SHARE:
        return np.full(len(remainder), np.nan)
    if np.nanmin(observed) >= 0:  # counts: the square root evens out the spread of high and low periods
        remainder = np.sqrt(observed) - np.sqrt(np.clip(table[BASELINE].to_numpy(dtype=np.float64), 0, None))
    reference = remainder[fitted]
    centre = np.median(reference)
    scale = _MAD_TO_SD * np.median(np.abs(reference - centre))
    if not scale > 0:  # more than half the remainders equal (intermittent demand): the mean absolute deviation
        scale = np.sqrt(np.pi / 2) * np.mean(np.abs(reference - centre))
    if not scale > 0:
        return np.full(len(remainder), np.nan)
    return (remainder - centre) / scale


def improbable_zero_runs(decomposition: Decomposition) -> tuple[np.ndarray, np.ndarray]:
    """Periods inside a run of zero sales that is too unlikely for a fast mover; and each period's run length."""
    table = decomposition.components
    observed = table[OBSERVED].to_numpy(dtype=np.float64)
    flagged = np.zeros(len(observed), dtype=bool)
    lengths = np.zeros(len(observed), dtype=np.int64)
    fitted = table[IN_FIT].to_numpy() & ~np.isnan(observed)
    if not fitted.any() or observed[fitted].mean() < FAST_MOVER_UNITS:
        return flagged, lengths
    mean = np.clip(table[BASELINE].to_numpy(dtype=np.float64), 1e-9, None)
    size = ZERO_RUN_DISPERSION
    log_zero = size * np.log(size / (size + mean))  # log P(0) under a negative binomial with that mean
    zero = observed == 0
    edges = np.flatnonzero(np.diff(np.concatenate([[0], zero.astype(np.int8), [0]])))
    for start, stop in zip(edges[::2], edges[1::2]):
        lengths[start:stop] = stop - start
        if stop - start >= 2 and log_zero[start:stop].sum() < np.log(ZERO_RUN_PROBABILITY):
            flagged[start:stop] = True
    return flagged, lengths


def find_anomalies(decomposition: Decomposition, threshold: float | None = None, series: str | None = None
                   ) -> pd.DataFrame:
    """Flagged periods of one decomposition with their reason, in date order.

    Returns ``series`` (``series`` or the decomposition's label), ``ds``, ``observed``, ``baseline``,
    ``remainder``, ``score`` (robust z), ``direction`` (spike / dip), ``kind`` (``unexplained``, ``promotion``,
    ``event``, ``stock-out``), ``reason`` (in words) and ``anomaly`` (True for the unexplained ones). Unobserved
    periods are never flagged.
    """
    threshold = decomposition.settings.threshold if threshold is None else threshold
    table = decomposition.components
    score = robust_scores(decomposition)
    observed = table[OBSERVED].to_numpy(dtype=np.float64)
    baseline = table[BASELINE].to_numpy(dtype=np.float64)
    known = ~np.isnan(observed)
    far = known & (np.abs(np.nan_to_num(score)) > threshold)
    stockout_share = table[STOCKOUT_SHARE].to_numpy(dtype=np.float64)
    capped = known & (stockout_share >= SHARE_FLAG) & (observed < baseline)
    zero_run, run_length = improbable_zero_runs(decomposition)
    zero_run &= known & ~capped
    promo_share = table[PROMO_SHARE].to_numpy(dtype=np.float64)
    promoted = promo_share >= SHARE_FLAG
    after_promotion = _after(promoted, POST_PROMOTION_PERIODS.get(decomposition.freq, 0))
    single = float(table[N_SERIES].max()) <= 1

    rows = []
    for i in np.flatnonzero(far | capped | zero_run):
        spike = observed[i] >= baseline[i]
        if capped[i]:
            kind, reason = STOCKOUT, ("stock-out: sales capped by stock on hand" if single else
                                      f"stock-out: {stockout_share[i]:.0%} of series out of stock")
        elif zero_run[i]:
            kind, reason = STOCKOUT, f"stock-out suspected: {run_length[i]} periods in a row without sales"
        elif spike and promoted[i]:
            kind, reason = PROMOTION, ("promotion" if single else f"promotion ({promo_share[i]:.0%} of units)")
        elif not spike and after_promotion[i] and not promoted[i]:
            kind, reason = PROMOTION, "dip after a promotion (shoppers bought ahead)"
        elif table[EVENT].iat[i]:
            kind, reason = EVENT_KIND, f"event: {table[EVENT].iat[i]}"
        else:
            kind, reason = UNEXPLAINED, f"unexplained {'spike' if spike else 'dip'}"
        rows.append((series if series is not None else decomposition.label, table[schema.DS].iat[i], observed[i],
                     baseline[i], observed[i] - baseline[i], score[i], "spike" if spike else "dip", kind, reason,
                     kind == UNEXPLAINED))
    return _typed(pd.DataFrame(rows, columns=list(ANOMALY_COLUMNS)))


def _typed(table: pd.DataFrame) -> pd.DataFrame:
    types = {SERIES: "str", schema.DS: "datetime64[ns]", OBSERVED: "float64", BASELINE: "float64",
             REMAINDER: "float64", "score": "float64", "direction": "str", "kind": "str", "reason": "str",
             "anomaly": "bool"}
    return table.astype(types)


def _after(flags: np.ndarray, periods: int) -> np.ndarray:
    """True in the ``periods`` periods following a run of ``flags``."""
    after = np.zeros_like(flags)
    for lag in range(1, periods + 1):
        after[lag:] |= flags[:-lag]
    return after


def decompose_all(
    frame: pd.DataFrame, freq: str = schema.DAILY, settings: DecomposeSettings | None = None,
    progress: Callable[[float, str], None] | None = None, level: str = "SKU",
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Decompose every series — or every group of ``level`` (``"Category"``, ``"Channel"``, ``"Total"`` ...) —
    with :func:`core.decompose.decompose`, one by one, and find the anomalies of each.

    Returns the components of all of them (``unique_id`` first: the series, or the group's label), their
    anomalies, and one line per series that could not be decomposed (too short), so a batch never stops on one.
    """
    settings = settings or DecomposeSettings()
    column = LEVELS.get(level, schema.UNIQUE_ID)
    if column is not None and column not in frame.columns:
        raise DecompositionError(f"The data have no {level.lower()} column to group by.")
    keys = frame[column].astype(str) if column else pd.Series(TOTAL, index=frame.index)
    groups = dict(tuple(frame.groupby(keys, sort=True)))
    components, anomalies, skipped = [], [], []
    for number, (value, part) in enumerate(groups.items()):
        name = series_label(level, value)
        try:
            result = decompose(series_frame(part), freq, settings, label=name)
        except DecompositionError as error:
            skipped.append(f"{name}: {error}")
            continue
        components.append(result.components.drop(columns=[IN_FIT]).assign(**{schema.UNIQUE_ID: name}))
        anomalies.append(find_anomalies(result, series=name))
        if progress and (number % 10 == 9 or number == len(groups) - 1):
            progress((number + 1) / len(groups), f"{number + 1:,} of {len(groups):,} series")
    table = pd.concat(components, ignore_index=True) if components else pd.DataFrame(columns=[schema.UNIQUE_ID])
    table = table[[schema.UNIQUE_ID, *[c for c in table.columns if c != schema.UNIQUE_ID]]]
    flags = pd.concat(anomalies, ignore_index=True) if anomalies else pd.DataFrame(columns=list(ANOMALY_COLUMNS))
    return table, _typed(flags), skipped

