"""Saved forecast runs: a backtest and the future forecast it led to, kept per dataset in the workspace.

Layout under the workspace root::

    results/<dataset id>/<run key>/run.json          the backtest config, frequency, timings, when it was saved
    results/<dataset id>/<run key>/<table>.parquet   results, leaderboard, by_segment, segments, auto_choice, forecast

The run key is a hash of the dataset (id and creation time) and the backtest config, so the same settings on the
same data find the saved run instead of computing it again. A run is written into a ``.tmp-`` folder, fsynced and
renamed into place, so a crash leaves either a complete run or a leftover that :meth:`ResultStore.remove_orphans`
cleans up.

Also here: the tables a page shows from a run (leaderboard, auto choice, accuracy by segment, in planner words)
and the data behind a fan chart for one series or any aggregate.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from core import schema
from core.backtest import AUTO, CUTOFF, BacktestConfig, BacktestResult, cross_validation
from core.errors import StockPilotError
from core.forecast import ForecastConfig, run_forecast
from core.history import LEVELS, TOTAL
from core.metrics import BANDS, model_names
from core.models import label_of
from core.models.base import PLANNED_COLUMNS, default_season_length
from core.store import REPAIR_MIN_AGE_S, _fsync_dir, _write_parquet  # the workspace's durable writers

RESULTS_DIR = "results"
#: bump when the files of a run change shape; older runs are then computed again
FORMAT_VERSION = 1
Progress = Callable[[float, str], None]
#: share of the progress bar given to the backtest (the rest is the future forecast)
BACKTEST_SHARE = 0.8

_RUN_FILE = "run.json"
_TABLES = ("results", "leaderboard", "by_segment", "segments", "auto_choice")
_FORECAST_FILE = "forecast"
_TMP_PREFIX = ".tmp-"
_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")

#: planner headers of the metric columns, in the order tables show them
METRIC_LABELS: dict[str, str] = {
    "mase": "MASE", "rel_mase": "relMASE", "wape": "WAPE", "bias": "Bias", "wql": "WQL",
    "coverage_80": "80% coverage", "coverage_95": "95% coverage",
}
#: metrics shown in percent (the tables multiply them by 100)
PERCENT_METRICS: tuple[str, ...] = ("wape", "bias", "coverage_80", "coverage_95")
#: what a planner picks in "accuracy by" -> the ``by`` value of :attr:`BacktestResult.by_segment`
SEGMENT_KINDS: dict[str, str] = {"ABC": "abc", "XYZ": "xyz", "ABC-XYZ": "segment", "Channel": schema.CHANNEL,
                                 "Category": schema.CATEGORY}
#: the point column of :attr:`FanData.future` and :attr:`FanData.backtest`
FAN_POINT = "forecast"
#: the bands a fan chart draws: level in percent -> the quantiles at its edges
FAN_BANDS: dict[int, tuple[float, float]] = {80: BANDS["coverage_80"], 95: BANDS["coverage_95"]}


@dataclass(frozen=True)
class RunInfo:
    """What is known about a saved run without reading its tables."""

    key: str
    dataset_id: str
    dataset_created_at: str
    saved_at: str
    config: BacktestConfig
    freq: str


@dataclass
class ForecastRun:
    """A backtest and the future forecast made with the same models (``auto`` as the backtest chose it)."""

    info: RunInfo
    backtest: BacktestResult
    forecast: pd.DataFrame


# --- computing a run -------------------------------------------------------------------------------------------------
def backtest_config(df: pd.DataFrame, h: int, n_windows: int, models: Sequence[str], freq: str) -> BacktestConfig:
    """The backtest a page asks for: the planned columns the data has are known ahead; auto when 2+ models."""
    known = tuple(c for c in PLANNED_COLUMNS if c in df.columns)
    return BacktestConfig(h=int(h), n_windows=int(n_windows), models=tuple(models), known_future=known, freq=freq)


def forecast_config(config: BacktestConfig) -> ForecastConfig:
    """The future forecast that goes with a backtest: the same models and settings, plus ``auto`` when the
    backtest chose models per segment."""
    models = tuple(config.models) + ((AUTO,) if _has_auto(config) else ())
    return ForecastConfig(h=config.h, models=models, quantiles=config.quantiles, known_future=config.known_future,
                          countries=config.countries, freq=config.freq, seed=config.seed)


def run_key(dataset_id: str, dataset_created_at: str, config: BacktestConfig) -> str:
    """A stable key for a run: the same dataset and settings give the same key, any change another one."""
    payload = {"format": FORMAT_VERSION, "dataset": dataset_id, "created_at": dataset_created_at,
               "config": _config_to_dict(config), "checkpoints": _checkpoint_stamps(config.models)}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _checkpoint_stamps(models: Sequence[str]) -> dict[str, str]:
    """For fine-tuned models (``tsfm@<version>``), which checkpoint the name points at and when it was written:
    a version deleted and made again under the same name is another model, so its runs get other keys."""
    from core.models import FINETUNED_PREFIX, is_finetuned
    from core.registry import resolve_checkpoint

    stamps = {}
    for name in models:
        if is_finetuned(name):
            try:
                folder = resolve_checkpoint(name[len(FINETUNED_PREFIX):])
                stamps[name] = f"{folder.resolve()}@{(folder / 'config.json').stat().st_mtime_ns}"
            except (StockPilotError, OSError):
                stamps[name] = "missing"  # the backtest itself will say so
    return stamps


def compute_run(df: pd.DataFrame, config: BacktestConfig, dataset_id: str, dataset_created_at: str,
                progress: Progress | None = None) -> ForecastRun:
    """Backtest ``config`` on ``df``, then forecast the future with the same models and the backtest's auto
    choice (no second selection backtest). ``progress(fraction, message)`` is called as the work advances."""
    def scaled(start: float, share: float) -> Progress | None:
        return (lambda fraction, message: progress(start + share * fraction, message)) if progress else None

    backtest = cross_validation(df, config, progress=scaled(0.0, BACKTEST_SHARE))
    choice = backtest.auto_choice if _has_auto(config) else None
    forecast = run_forecast(df, forecast_config(config), auto_choice=choice,
                            progress=scaled(BACKTEST_SHARE, 1 - BACKTEST_SHARE))
    info = RunInfo(key=run_key(dataset_id, dataset_created_at, config), dataset_id=dataset_id,
                   dataset_created_at=dataset_created_at, saved_at="", config=config, freq=backtest.freq)
    return ForecastRun(info, backtest, forecast)


def describe_run(info: RunInfo) -> str:
    """One line saying what a saved run is: models, windows, horizon and when it was saved."""
    config = info.config
    saved = info.saved_at[:16].replace("T", " ")
    return (f"Backtest of {len(config.models)} model(s) over {config.n_windows} window(s) of {config.h} "
            f"{schema.FREQ_NAMES.get(info.freq, info.freq)} periods, saved {saved} UTC.")


def _has_auto(config: BacktestConfig) -> bool:
    """Whether a backtest of ``config`` picks a model per segment (it needs two models to choose from)."""
    return config.auto and len(config.models) > 1


# --- storing runs ----------------------------------------------------------------------------------------------------
class ResultStore:
    """Forecast runs saved under ``<workspace root>/results``; safe to share between threads and processes."""

    def __init__(self, root: str | Path) -> None:
        self.dir = Path(root).expanduser() / RESULTS_DIR

    def save(self, run: ForecastRun) -> RunInfo:
        """Write a run (replacing one with the same key) and return its info with ``saved_at`` set."""
        info = dataclasses.replace(run.info, saved_at=datetime.now(timezone.utc).isoformat(timespec="microseconds"))
        parent = self.dir / _checked(info.dataset_id)
        parent.mkdir(parents=True, exist_ok=True)
        final = parent / _checked(info.key)
        tmp = parent / f"{_TMP_PREFIX}{info.key}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            tables = dict(zip(_TABLES, _backtest_tables(run.backtest)))
            tables[_FORECAST_FILE] = run.forecast
            for name, table in tables.items():
                _write_parquet(table, tmp / f"{name}.parquet")
            _write_json(_info_to_dict(info, run.backtest.seconds), tmp / _RUN_FILE)
            _fsync_dir(tmp)
            if final.exists():  # the same settings again: move the old run aside, then drop it
                old = parent / f"{_TMP_PREFIX}old-{uuid.uuid4().hex[:8]}"
                os.replace(final, old)
                shutil.rmtree(old, ignore_errors=True)
            os.replace(tmp, final)
            _fsync_dir(parent)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return info

    def exists(self, dataset_id: str, key: str) -> bool:
        """Whether a complete run with this key is saved for the dataset."""
        return (self.dir / _checked(dataset_id) / _checked(key) / _RUN_FILE).is_file()

    def load(self, dataset_id: str, key: str) -> ForecastRun:
        """A saved run; raises :class:`FileNotFoundError` when there is none with this key."""
        folder = self.dir / _checked(dataset_id) / _checked(key)
        raw = json.loads((folder / _RUN_FILE).read_text(encoding="utf-8"))
        info = _info_from_dict(raw)
        tables = {name: pd.read_parquet(str(folder / f"{name}.parquet"), engine="pyarrow")
                  for name in (*_TABLES, _FORECAST_FILE)}
        backtest = BacktestResult(
            results=tables["results"], leaderboard=tables["leaderboard"], by_segment=tables["by_segment"],
            segments=tables["segments"].set_index(schema.UNIQUE_ID), auto_choice=tables["auto_choice"],
            config=info.config, freq=info.freq, seconds=raw.get("seconds", {}),
        )
        return ForecastRun(info, backtest, tables[_FORECAST_FILE])

    def list_runs(self, dataset_id: str) -> list[RunInfo]:
        """The dataset's saved runs, newest first (runs of another format version are left out)."""
        folder = self.dir / _checked(dataset_id)
        if not folder.is_dir():
            return []
        runs = []
        for path in folder.iterdir():
            if path.name.startswith(".") or not (path / _RUN_FILE).is_file():
                continue
            try:
                raw = json.loads((path / _RUN_FILE).read_text(encoding="utf-8"))
                if raw.get("format") == FORMAT_VERSION:
                    runs.append(_info_from_dict(raw))
            except (OSError, ValueError, KeyError, TypeError):  # unreadable: as if it were not there
                continue
        return sorted(runs, key=lambda run: run.saved_at, reverse=True)

    def latest(self, dataset_id: str, dataset_created_at: str) -> RunInfo | None:
        """The newest run saved for this version of the dataset, or None."""
        return next((run for run in self.list_runs(dataset_id) if run.dataset_created_at == dataset_created_at),
                    None)

    def delete_dataset(self, dataset_id: str) -> None:
        """Remove every run saved for a dataset."""
        shutil.rmtree(self.dir / _checked(dataset_id), ignore_errors=True)

    def remove_orphans(self, dataset_ids: Sequence[str]) -> list[str]:
        """Remove the runs of datasets not in ``dataset_ids`` and the leftovers of interrupted saves (those
        untouched for ``REPAIR_MIN_AGE_S``, so a save running elsewhere is not disturbed); return what went."""
        if not self.dir.is_dir():
            return []
        keep = set(dataset_ids)
        removed = []
        for folder in self.dir.iterdir():
            if not folder.is_dir():
                continue
            if folder.name not in keep:
                leftovers = [folder]
            else:
                leftovers = [p for p in folder.iterdir() if p.is_dir() and p.name.startswith(_TMP_PREFIX)]
            for path in leftovers:
                if time.time() - path.stat().st_mtime >= REPAIR_MIN_AGE_S:
                    shutil.rmtree(path, ignore_errors=True)
                    removed.append(str(path))
        return removed


def _backtest_tables(result: BacktestResult) -> tuple[pd.DataFrame, ...]:
    """The backtest's frames in :data:`_TABLES` order (segments with their index as a column)."""
    return (result.results, result.leaderboard, result.by_segment,
            result.segments.rename_axis(schema.UNIQUE_ID).reset_index(), result.auto_choice)


def _checked(name: str) -> str:
    """Refuse names that could leave the results folder."""
    if not _NAME_PATTERN.fullmatch(name):
        raise ValueError(f"Invalid dataset id or run key {name!r}: use letters, digits, '-' or '_'.")
    return name


def _config_to_dict(config: BacktestConfig) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()}


def _config_from_dict(values: dict) -> BacktestConfig:
    names = {f.name for f in dataclasses.fields(BacktestConfig)}
    return BacktestConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in names})


def _info_to_dict(info: RunInfo, seconds: dict[str, float]) -> dict:
    return {"format": FORMAT_VERSION, "key": info.key, "dataset_id": info.dataset_id,
            "dataset_created_at": info.dataset_created_at, "saved_at": info.saved_at, "freq": info.freq,
            "config": _config_to_dict(info.config), "seconds": {k: float(v) for k, v in seconds.items()}}


def _info_from_dict(raw: dict) -> RunInfo:
    return RunInfo(key=raw["key"], dataset_id=raw["dataset_id"], dataset_created_at=raw["dataset_created_at"],
                   saved_at=raw["saved_at"], config=_config_from_dict(raw["config"]), freq=raw["freq"])


def _write_json(value: dict, path: Path) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(value, handle, ensure_ascii=False, indent=1)
        handle.flush()
        os.fsync(handle.fileno())


# --- tables for planners ---------------------------------------------------------------------------------------------
def model_label(name: str) -> str:
    """The planner's name of a model (``"ets"`` -> ``"Exponential smoothing (ETS)"``)."""
    return label_of(name)


def leaderboard_table(leaderboard: pd.DataFrame) -> pd.DataFrame:
    """The leaderboard with planner headers: Model, the metrics of :data:`METRIC_LABELS` (those of
    :data:`PERCENT_METRICS` in percent), Seconds; best first, as the backtest sorts it."""
    table = _in_percent(leaderboard[["model", *METRIC_LABELS, "seconds"]])
    table = table.assign(model=table["model"].map(model_label))
    return table.rename(columns={**METRIC_LABELS, "model": "Model", "seconds": "Seconds"})


def auto_choice_table(auto_choice: pd.DataFrame) -> pd.DataFrame:
    """Per ABC-XYZ segment: how many series it holds and the model auto uses for them."""
    return pd.DataFrame({"Segment": auto_choice["segment"], "Series": auto_choice["series"],
                         "Model": auto_choice["model"].map(model_label)})


def segment_kinds(by_segment: pd.DataFrame) -> list[str]:
    """The "accuracy by" choices this backtest has (Channel only when the data has channels, ...)."""
    present = set(by_segment["by"])
    return [label for label, kind in SEGMENT_KINDS.items() if kind in present]


def segment_table(by_segment: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Accuracy within each group of one kind (a key of :data:`SEGMENT_KINDS`): the group, Model, Series and the
    metrics as in :func:`leaderboard_table`."""
    part = by_segment.loc[by_segment["by"] == SEGMENT_KINDS[kind]]
    table = _in_percent(part[["segment", "model", "series", *METRIC_LABELS]])
    table = table.assign(model=table["model"].map(model_label))
    renamed = table.rename(columns={**METRIC_LABELS, "segment": kind, "model": "Model", "series": "Series"})
    return renamed.reset_index(drop=True)


def _in_percent(table: pd.DataFrame) -> pd.DataFrame:
    return table.assign(**{c: table[c] * 100 for c in PERCENT_METRICS if c in table.columns})


def downloadable(frame: pd.DataFrame) -> pd.DataFrame:
    """A forecast or backtest frame for a CSV: numbers to 4 decimals (dates are written as YYYY-MM-DD)."""
    floats = [c for c in frame.columns if pd.api.types.is_float_dtype(frame[c])]
    return frame.assign(**{c: frame[c].round(4) for c in floats})


# --- fan charts ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FanData:
    """What a fan chart draws for one series or the sum of several.

    ``history``: ``ds, y``; ``future``: ``ds, forecast, lo_80, hi_80, lo_95, hi_95``; ``backtest``: the same
    plus ``cutoff`` and ``y`` (empty when not asked for). Bands are NaN when the model has no quantiles.
    """

    history: pd.DataFrame
    future: pd.DataFrame
    backtest: pd.DataFrame
    n_series: int


def band_columns(level: int) -> tuple[str, str]:
    """The lower and upper edge columns of a band in :class:`FanData` (``lo_80``, ``hi_80``)."""
    return f"lo_{level}", f"hi_{level}"


def level_members(frame: pd.DataFrame, level: str) -> list[str]:
    """What can be charted at ``level`` (a key of :data:`core.history.LEVELS`): every series, category, channel
    or location, or just the total."""
    column = LEVELS[level]
    if column is None:
        return [TOTAL]
    return sorted(frame[column].dropna().astype(str).unique())


def member_series(frame: pd.DataFrame, level: str, member: str) -> list[str]:
    """The ``unique_id`` of every series that makes up ``member`` at ``level``."""
    column = LEVELS[level]
    ids = frame[schema.UNIQUE_ID] if column is None else frame.loc[frame[column].astype(str) == member,
                                                                   schema.UNIQUE_ID]
    return sorted(ids.astype(str).unique())


def history_periods(config: BacktestConfig, freq: str) -> int:
    """How much history a fan chart shows: enough for every backtest window, two seasons and 4 horizons."""
    span = (config.n_windows - 1) * (config.step or config.h) + 2 * config.h
    return max(4 * config.h, span, 2 * default_season_length(freq))


def fan_data(frame: pd.DataFrame, run: ForecastRun, series: Sequence[str], model: str,
             with_backtest: bool = True) -> FanData:
    """History, future forecast and (optionally) backtest forecasts of ``model`` summed over ``series``.

    Quantiles are summed too, which is what they would be if all series moved together (comonotone): a cautious,
    wide band for an aggregate.
    """
    wanted = set(series)
    rows = frame.loc[frame[schema.UNIQUE_ID].isin(wanted), [schema.DS, schema.Y]]
    history = rows.groupby(schema.DS, as_index=False)[schema.Y].sum(min_count=1)
    history = history.tail(history_periods(run.info.config, run.info.freq)).reset_index(drop=True)
    future = _summed(run.forecast, wanted, model, [schema.DS])
    backtest = (_summed(run.backtest.results, wanted, model, [CUTOFF, schema.DS], with_actuals=True)
                if with_backtest and model in run.backtest.results.columns else pd.DataFrame())
    return FanData(history, future, backtest, len(wanted))


def _summed(table: pd.DataFrame, series: set[str], model: str, keys: list[str],
            with_actuals: bool = False) -> pd.DataFrame:
    """Point forecast and band edges of ``model`` summed over ``series`` per ``keys``."""
    columns = {FAN_POINT: model}
    for level, quantiles in FAN_BANDS.items():
        for name, q in zip(band_columns(level), quantiles):
            columns[name] = schema.quantile_column(model, q)
    if with_actuals:
        columns[schema.Y] = schema.Y
    part = table.loc[table[schema.UNIQUE_ID].isin(series)]
    data = pd.DataFrame({name: part[source] if source in part.columns else np.nan
                         for name, source in columns.items()})
    data[keys] = part[keys]
    summed = data.groupby(keys, as_index=False).sum(min_count=1)
    return summed[keys + list(columns)]


def forecast_models(run: ForecastRun) -> list[str]:
    """Models with a future forecast in ``run``, ``auto`` first."""
    names = model_names(run.forecast)
    return sorted(names, key=lambda name: name != AUTO)
