"""Forecast accuracy: point and probabilistic metrics over backtest results.

Definitions (``e = forecast - y`` over the evaluated rows, rows with unobserved ``y`` skipped):

* **MASE** -- mean |e| of a series divided by its *scale*, the mean absolute seasonal difference
  ``|y_t - y_{t-m}|`` of its history before the first cutoff; the model-level figure is the mean over series.
* **RMSSE** -- sqrt(mean e² / mean squared seasonal difference), same history; mean over series.
* **relMASE** -- geometric mean over series of MASE(model) / MASE(seasonal naive) (series where the seasonal
  naive is exact are skipped): below 1 beats the seasonal naive.
* **WAPE** -- Σ|e| / Σ|y|; **bias** -- Σe / Σ|y| (positive: over-forecast).
* **WQL** -- mean over q in :data:`WQL_LEVELS` of 2·Σ pinball_q / Σ|y| (the scaled pinball loss used by the
  peers we compare with, so the figures are comparable).
* **coverage 80 / 95** -- share of actuals inside [q10, q90] and [q2.5, q97.5].
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from core import schema

WQL_LEVELS: tuple[float, ...] = (0.1, 0.5, 0.9)
BANDS: dict[str, tuple[float, float]] = {"coverage_80": (0.1, 0.9), "coverage_95": (0.025, 0.975)}
#: columns of the summary table, in order
METRIC_COLUMNS: tuple[str, ...] = ("mase", "rel_mase", "rmsse", "wape", "bias", "wql", "coverage_80", "coverage_95")
BASELINE = "snaive"


def mae(y: np.ndarray, yhat: np.ndarray) -> float:
    return float(np.mean(np.abs(yhat - y)))


def wape(y: np.ndarray, yhat: np.ndarray) -> float:
    total = np.sum(np.abs(y))
    return float(np.sum(np.abs(yhat - y)) / total) if total > 0 else np.nan


def bias(y: np.ndarray, yhat: np.ndarray) -> float:
    total = np.sum(np.abs(y))
    return float(np.sum(yhat - y) / total) if total > 0 else np.nan


def pinball(y: np.ndarray, quantile_forecast: np.ndarray, q: float) -> np.ndarray:
    """Pinball (quantile) loss per row."""
    diff = y - quantile_forecast
    return np.maximum(q * diff, (q - 1) * diff)


def wql(y: np.ndarray, quantile_forecasts: dict[float, np.ndarray]) -> float:
    """Mean over the given levels of 2·Σ pinball / Σ|y|."""
    total = np.sum(np.abs(y))
    if total <= 0 or not quantile_forecasts:
        return np.nan
    return float(np.mean([2 * np.sum(pinball(y, f, q)) / total for q, f in quantile_forecasts.items()]))


def coverage(y: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    return float(np.mean((y >= lower) & (y <= upper))) if len(y) else np.nan


def seasonal_scales(history: pd.DataFrame, season_length: int) -> pd.DataFrame:
    """Per series: ``scale`` (mean |y_t - y_{t-m}|) and ``scale_sq`` (mean squared difference) of ``history``.

    Falls back to the lag-one difference for series shorter than a season, and to the mean |y| (or 1) where
    the differences are all zero, so that no scale is 0 or missing.
    """
    frame = history[[schema.UNIQUE_ID, schema.DS, schema.Y]].sort_values([schema.UNIQUE_ID, schema.DS])
    grouped = frame.groupby(schema.UNIQUE_ID, sort=False)[schema.Y]
    seasonal = frame[schema.Y] - grouped.shift(season_length)
    lag_one = frame[schema.Y] - grouped.shift(1)
    ids = frame[schema.UNIQUE_ID]
    scale = seasonal.abs().groupby(ids, sort=False).mean()
    scale_sq = (seasonal ** 2).groupby(ids, sort=False).mean()
    scale = scale.fillna(lag_one.abs().groupby(ids, sort=False).mean())
    scale_sq = scale_sq.fillna((lag_one ** 2).groupby(ids, sort=False).mean())
    level = frame[schema.Y].abs().groupby(ids, sort=False).mean()
    scale = scale.where(scale > 0, level).where(lambda s: s > 0, 1.0).fillna(1.0)
    scale_sq = scale_sq.where(scale_sq > 0, level ** 2).where(lambda s: s > 0, 1.0).fillna(1.0)
    return pd.DataFrame({"scale": scale, "scale_sq": scale_sq})


def model_names(results: pd.DataFrame) -> list[str]:
    """Models with a point column in a backtest or forecast frame, in column order."""
    reserved = {schema.UNIQUE_ID, schema.DS, schema.Y, "cutoff"}
    names = []
    for column in results.columns:
        if column in reserved or schema.parse_quantile_column(column) or column.endswith("_model"):
            continue
        if pd.api.types.is_numeric_dtype(results[column]):
            names.append(column)
    return names


def quantile_levels(results: pd.DataFrame, model: str) -> list[float]:
    levels = []
    for column in results.columns:
        parsed = schema.parse_quantile_column(column)
        if parsed and parsed[0] == model:
            levels.append(parsed[1])
    return sorted(levels)


def series_errors(results: pd.DataFrame, scales: pd.DataFrame, models: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per series and model: ``mae``, ``mase``, ``rmsse``, ``abs_y``, ``n``."""
    models = list(models or model_names(results))
    scored = results.loc[results[schema.Y].notna()]
    ids = scored[schema.UNIQUE_ID]
    rows = []
    for model in models:
        error = scored[model] - scored[schema.Y]
        part = pd.DataFrame({
            "mae": error.abs().groupby(ids, sort=True).mean(),
            "mse": (error ** 2).groupby(ids, sort=True).mean(),
            "n": error.groupby(ids, sort=True).size(),
        })
        part = part.join(scales, how="left")
        part["mase"] = part["mae"] / part["scale"].fillna(1.0)
        part["rmsse"] = np.sqrt(part["mse"] / part["scale_sq"].fillna(1.0))
        part["model"] = model
        rows.append(part.reset_index()[[schema.UNIQUE_ID, "model", "mae", "mase", "rmsse", "n"]])
    return pd.concat(rows, ignore_index=True)


def relative_mase(per_series: pd.DataFrame, model: str, baseline: str = BASELINE) -> float:
    """Geometric mean over series of MAE(model) / MAE(baseline), skipping series the baseline gets exactly."""
    table = per_series.pivot_table(index=schema.UNIQUE_ID, columns="model", values="mae")
    if model not in table.columns or baseline not in table.columns:
        return np.nan
    ratio = (table[model] / table[baseline]).replace([np.inf, -np.inf], np.nan)
    ratio = ratio[(table[baseline] > 0) & ratio.notna()]
    if ratio.empty:
        return np.nan
    return float(np.exp(np.mean(np.log(np.clip(ratio, 1e-3, None)))))


def summarize(results: pd.DataFrame, scales: pd.DataFrame, models: Sequence[str] | None = None,
              baseline: str = BASELINE) -> pd.DataFrame:
    """The leaderboard: one row per model with :data:`METRIC_COLUMNS`."""
    models = list(models or model_names(results))
    scored = results.loc[results[schema.Y].notna()]
    if scored.empty:
        return pd.DataFrame(columns=["model", "series", "rows", *METRIC_COLUMNS])
    per_series = series_errors(scored, scales, models)
    y = scored[schema.Y].to_numpy(dtype=float)
    rows = []
    for model in models:
        point = scored[model].to_numpy(dtype=float)
        levels = quantile_levels(scored, model)
        row = {
            "model": model,
            "series": int(scored[schema.UNIQUE_ID].nunique()),
            "rows": len(scored),
            "mase": float(per_series.loc[per_series["model"] == model, "mase"].mean()),
            "rel_mase": relative_mase(per_series, model, baseline),
            "rmsse": float(per_series.loc[per_series["model"] == model, "rmsse"].mean()),
            "wape": wape(y, point),
            "bias": bias(y, point),
            "wql": _wql_of(scored, model, levels, y),
        }
        for name, (lower, upper) in BANDS.items():
            if _has_level(levels, lower) and _has_level(levels, upper):
                row[name] = coverage(y, _quantile(scored, model, levels, lower), _quantile(scored, model, levels, upper))
            else:
                row[name] = np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def summarize_by(results: pd.DataFrame, scales: pd.DataFrame, groups: pd.Series,
                 models: Sequence[str] | None = None, baseline: str = BASELINE) -> pd.DataFrame:
    """The leaderboard within each group of series (``groups``: a label per ``unique_id``, e.g. ABC class)."""
    labels = results[schema.UNIQUE_ID].map(groups)
    parts = []
    for label, part in results.groupby(labels, sort=True):
        table = summarize(part, scales, models, baseline)
        table.insert(0, "segment", label)
        parts.append(table)
    if not parts:
        return pd.DataFrame(columns=["segment", "model", "series", "rows", *METRIC_COLUMNS])
    return pd.concat(parts, ignore_index=True)


def _has_level(levels: list[float], q: float) -> bool:
    return any(abs(level - q) < 1e-9 for level in levels)


def _quantile(frame: pd.DataFrame, model: str, levels: list[float], q: float) -> np.ndarray:
    level = next(level for level in levels if abs(level - q) < 1e-9)
    return frame[schema.quantile_column(model, level)].to_numpy(dtype=float)


def _wql_of(frame: pd.DataFrame, model: str, levels: list[float], y: np.ndarray) -> float:
    if not all(_has_level(levels, q) for q in WQL_LEVELS):
        return np.nan
    return wql(y, {q: _quantile(frame, model, levels, q) for q in WQL_LEVELS})
