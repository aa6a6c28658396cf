"""The persistent workspace: uploaded datasets, their validation reports and column mappings.

Layout under the workspace root (``$STOCKPILOT_HOME``, default ``~/.stockpilot``)::

    workspace.sqlite            metadata (SQLite in WAL mode): tables ``datasets`` and ``settings``
    datasets/<id>/clean.parquet the clean long frame
    datasets/<id>/issues.parquet excluded or altered rows (may be empty)
    datasets/<id>/source.<ext>  the original uploaded bytes, as given

Crash safety: a dataset's files are written into ``datasets/.tmp-<id>``, fsynced and renamed into place, and only
then is its row inserted. Reads trust rows only, so a crash at any point leaves either a complete dataset or leftovers
that :meth:`Workspace.repair` removes. Every operation opens its own short-lived SQLite connection, so one
:class:`Workspace` may be used from several threads, and several processes may share a root.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from core.schema import DS, UNIQUE_ID

DEFAULT_HOME: Path = Path.home() / ".stockpilot"
HOME_ENV_VAR = "STOCKPILOT_HOME"
#: Setting that names the dataset the planner is working on; cleared when that dataset is deleted.
CURRENT_DATASET_KEY = "current_dataset"

SCHEMA_VERSION = 1
#: Leftover folders younger than this may belong to a writer that is still running, so repair leaves them alone.
REPAIR_MIN_AGE_S = 60.0
BUSY_TIMEOUT_S = 10.0

_DB_NAME = "workspace.sqlite"
_DATASETS_DIR = "datasets"
_TMP_PREFIX = ".tmp-"
_CLEAN_FILE = "clean.parquet"
_ISSUES_FILE = "issues.parquet"
_SOURCE_STEM = "source"
_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")

_CREATE_TABLES = (
    """CREATE TABLE IF NOT EXISTS datasets (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        created_at TEXT NOT NULL,
        source_name TEXT NOT NULL,
        outcome TEXT NOT NULL,
        n_rows INTEGER NOT NULL,
        n_series INTEGER NOT NULL,
        freq TEXT NOT NULL,
        start TEXT NOT NULL,
        "end" TEXT NOT NULL,
        mapping_json TEXT NOT NULL,
        report_json TEXT NOT NULL
    )""",
    "CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)
_INFO_COLUMNS = 'id, name, created_at, source_name, outcome, n_rows, n_series, freq, start, "end", mapping_json'


class DatasetNotFound(LookupError):
    """No dataset with the given id exists in the workspace."""


class DatasetUnavailable(DatasetNotFound):
    """The dataset is listed, but its files are missing from disk."""


@dataclass(frozen=True)
class DatasetInfo:
    """What the workspace knows about one saved dataset (its metadata, not its frames)."""

    id: str
    name: str
    created_at: str
    source_name: str
    outcome: str
    n_rows: int
    n_series: int
    freq: str
    start: str
    end: str
    mapping: dict[str, Any] = field(hash=False)
    #: False when the dataset's files are missing from disk; loading it then raises :class:`DatasetUnavailable`.
    available: bool


def workspace_root() -> Path:
    """The workspace folder: ``$STOCKPILOT_HOME`` when set, else ``~/.stockpilot``."""
    configured = os.environ.get(HOME_ENV_VAR, "").strip()
    return Path(configured).expanduser() if configured else DEFAULT_HOME


class Workspace:
    """Datasets and settings stored under one root folder; safe to share between threads and processes."""

    def __init__(self, root: str | Path | None = None) -> None:
        """Open the workspace at ``root`` (default :func:`workspace_root`), creating it if needed, and repair it."""
        self.root = Path(root).expanduser() if root is not None else workspace_root()
        self.datasets_dir = self.root / _DATASETS_DIR
        self.db_path = self.root / _DB_NAME
        self.datasets_dir.mkdir(parents=True, exist_ok=True)
        self._create_schema()
        self.repair()

    # --- datasets ---------------------------------------------------------------------------------------------------
    def save_dataset(
        self,
        name: str,
        frame: pd.DataFrame,
        issues: pd.DataFrame,
        report: dict,
        mapping: dict,
        source_name: str = "",
        source_bytes: bytes | None = None,
        freq: str = "",
        dataset_id: str | None = None,
    ) -> DatasetInfo:
        """Store a validated dataset and return its metadata.

        ``n_rows``, ``n_series``, ``start`` and ``end`` are derived from ``frame`` (its ``unique_id`` and ``ds``
        columns, where present); ``outcome`` is taken from ``report["outcome"]``. ``source_bytes``, when given, are
        kept verbatim so that the original upload can be downloaded again.
        """
        name = _clean_name(name)
        dataset_id = _new_id() if dataset_id is None else _check_id(dataset_id)
        if self._fetch_row(dataset_id) is not None:
            raise ValueError(f"A dataset with id {dataset_id!r} already exists; choose another id or delete it first.")

        final_dir = self._dataset_dir(dataset_id)
        tmp_dir = self.datasets_dir / f"{_TMP_PREFIX}{dataset_id}"
        shutil.rmtree(tmp_dir, ignore_errors=True)
        tmp_dir.mkdir()
        try:
            _write_parquet(frame, tmp_dir / _CLEAN_FILE)
            _write_parquet(issues, tmp_dir / _ISSUES_FILE)
            if source_bytes is not None:
                _write_bytes(source_bytes, tmp_dir / f"{_SOURCE_STEM}.{_source_extension(source_name)}")
            _fsync_dir(tmp_dir)
            os.replace(tmp_dir, final_dir)
            _fsync_dir(self.datasets_dir)
        except BaseException:
            shutil.rmtree(tmp_dir, ignore_errors=True)
            raise

        start, end = _date_range(frame)
        row = {
            "id": dataset_id,
            "name": name,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "source_name": source_name,
            "outcome": str(report.get("outcome", "")),
            "n_rows": len(frame),
            "n_series": int(frame[UNIQUE_ID].nunique()) if UNIQUE_ID in frame.columns else 0,
            "freq": freq,
            "start": start,
            "end": end,
            "mapping_json": _to_json(mapping),
            "report_json": _to_json(report),
        }
        try:
            with self._transaction() as conn:
                conn.execute(
                    'INSERT INTO datasets (id, name, created_at, source_name, outcome, n_rows, n_series, freq, start, '
                    '"end", mapping_json, report_json) VALUES (:id, :name, :created_at, :source_name, :outcome, '
                    ":n_rows, :n_series, :freq, :start, :end, :mapping_json, :report_json)",
                    row,
                )
        except BaseException:
            shutil.rmtree(final_dir, ignore_errors=True)
            raise
        return self.get(dataset_id)

    def list_datasets(self) -> list[DatasetInfo]:
        """All saved datasets, newest first (including unavailable ones, flagged ``available=False``)."""
        with self._connect() as conn:
            rows = conn.execute(f"SELECT {_INFO_COLUMNS} FROM datasets ORDER BY created_at DESC, rowid DESC").fetchall()
        return [self._info(row) for row in rows]

    def get(self, dataset_id: str) -> DatasetInfo:
        """Metadata of one dataset; raises :class:`DatasetNotFound` if there is none with this id."""
        row = self._fetch_row(dataset_id)
        if row is None:
            raise self._not_found(dataset_id)
        return self._info(row)

    def find_by_name(self, name: str) -> DatasetInfo | None:
        """The newest dataset with exactly this display name (surrounding spaces ignored), or None."""
        with self._connect() as conn:
            row = conn.execute(
                f"SELECT {_INFO_COLUMNS} FROM datasets WHERE name = ? ORDER BY created_at DESC, rowid DESC LIMIT 1",
                (name.strip(),),
            ).fetchone()
        return None if row is None else self._info(row)

    def load_frame(self, dataset_id: str) -> pd.DataFrame:
        """The clean long frame of a dataset."""
        return self._read_parquet(dataset_id, _CLEAN_FILE)

    def load_issues(self, dataset_id: str) -> pd.DataFrame:
        """The rows that validation excluded or altered (possibly an empty frame)."""
        return self._read_parquet(dataset_id, _ISSUES_FILE)

    def load_report(self, dataset_id: str) -> dict:
        """The validation report saved with a dataset."""
        with self._connect() as conn:
            row = conn.execute("SELECT report_json FROM datasets WHERE id = ?", (dataset_id,)).fetchone()
        if row is None:
            raise self._not_found(dataset_id)
        return json.loads(row[0])

    def load_source(self, dataset_id: str) -> tuple[str, bytes]:
        """The original upload as ``(source_name, bytes)``; raises :class:`DatasetUnavailable` if none was kept."""
        info = self.get(dataset_id)
        sources = sorted(self._dataset_dir(dataset_id).glob(f"{_SOURCE_STEM}.*"))
        if not sources:
            raise DatasetUnavailable(
                f"The original upload of dataset {info.name!r} (id {dataset_id}) is not stored in the workspace."
            )
        return info.source_name, sources[0].read_bytes()

    def rename(self, dataset_id: str, new_name: str) -> DatasetInfo:
        """Give a dataset a new display name (names need not be unique)."""
        new_name = _clean_name(new_name)
        with self._transaction() as conn:
            updated = conn.execute("UPDATE datasets SET name = ? WHERE id = ?", (new_name, dataset_id)).rowcount
        if not updated:
            raise self._not_found(dataset_id)
        return self.get(dataset_id)

    def delete(self, dataset_id: str) -> None:
        """Remove a dataset (its row first, then its files) and clear the current-dataset setting if it named it."""
        with self._transaction() as conn:
            deleted = conn.execute("DELETE FROM datasets WHERE id = ?", (dataset_id,)).rowcount
            conn.execute("DELETE FROM settings WHERE key = ? AND value = ?", (CURRENT_DATASET_KEY, dataset_id))
        if not deleted:
            raise self._not_found(dataset_id)
        # The row is gone, so any files left behind by a failed removal are an orphan that repair() cleans up.
        shutil.rmtree(self._dataset_dir(dataset_id), ignore_errors=True)

    # --- settings ---------------------------------------------------------------------------------------------------
    def get_setting(self, key: str, default: str | None = None) -> str | None:
        """The stored value of a setting, or ``default`` when it is not set."""
        with self._connect() as conn:
            row = conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return default if row is None else row[0]

    def set_setting(self, key: str, value: str | None) -> None:
        """Store a setting; ``None`` removes it."""
        with self._transaction() as conn:
            if value is None:
                conn.execute("DELETE FROM settings WHERE key = ?", (key,))
            else:
                conn.execute(
                    "INSERT INTO settings (key, value) VALUES (?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (key, value),
                )

    # --- maintenance ------------------------------------------------------------------------------------------------
    def repair(self) -> list[str]:
        """Remove what an interrupted write left behind; return the paths removed.

        Removes ``.tmp-*`` folders and dataset folders without a row, but only those untouched for
        ``REPAIR_MIN_AGE_S`` seconds, so that a save running in another thread or process is not disturbed.
        """
        with self._connect() as conn:
            known_ids = {row[0] for row in conn.execute("SELECT id FROM datasets")}
        removed = []
        for path in sorted(self.datasets_dir.iterdir()):
            if not path.is_dir():
                continue
            is_leftover = path.name.startswith(_TMP_PREFIX) or (
                not path.name.startswith(".") and path.name not in known_ids
            )
            if is_leftover and _seconds_since_modified(path) >= REPAIR_MIN_AGE_S:
                shutil.rmtree(path, ignore_errors=True)
                removed.append(str(path))
        return removed

    # --- internals --------------------------------------------------------------------------------------------------
    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A fresh autocommit connection, closed on exit (sqlite3 connections must not cross threads)."""
        conn = sqlite3.connect(self.db_path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            yield conn
        finally:
            conn.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that takes the write lock up front and commits, or rolls back on error."""
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _create_schema(self) -> None:
        with self._transaction() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"The workspace at {self.root} was written by a newer StockPilot (schema version {version}, "
                    f"this version reads {SCHEMA_VERSION}). Upgrade StockPilot or set {HOME_ENV_VAR} to another folder."
                )
            for statement in _CREATE_TABLES:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")

    def _fetch_row(self, dataset_id: str) -> tuple | None:
        with self._connect() as conn:
            return conn.execute(f"SELECT {_INFO_COLUMNS} FROM datasets WHERE id = ?", (dataset_id,)).fetchone()

    def _info(self, row: tuple) -> DatasetInfo:
        *values, mapping_json = row
        available = (self._dataset_dir(row[0]) / _CLEAN_FILE).is_file()
        return DatasetInfo(*values, mapping=json.loads(mapping_json), available=available)

    def _not_found(self, dataset_id: str) -> DatasetNotFound:
        return DatasetNotFound(
            f"No dataset with id {dataset_id!r} in the workspace at {self.root}. "
            "It may have been deleted; pick one from the list of saved datasets."
        )

    def _dataset_dir(self, dataset_id: str) -> Path:
        return self.datasets_dir / dataset_id

    def _read_parquet(self, dataset_id: str, file_name: str) -> pd.DataFrame:
        info = self.get(dataset_id)
        try:
            # Read from a path, not a file object: pyarrow 26 can abort at interpreter exit after threaded reads
            # through Python file objects.
            return pd.read_parquet(str(self._dataset_dir(dataset_id) / file_name), engine="pyarrow")
        except FileNotFoundError:
            raise DatasetUnavailable(
                f"Dataset {info.name!r} (id {dataset_id}) is unavailable: its files are missing from "
                f"{self._dataset_dir(dataset_id)}. Delete it and upload the data again."
            ) from None


# --- helpers -------------------------------------------------------------------------------------------------------
def _new_id() -> str:
    return uuid.uuid4().hex[:12]


def _check_id(dataset_id: str) -> str:
    """Reject ids that could escape the datasets folder or clash with temporary folders."""
    if not _ID_PATTERN.fullmatch(dataset_id):
        raise ValueError(
            f"Invalid dataset id {dataset_id!r}: use 1-64 letters, digits, '-' or '_', starting with a letter or digit."
        )
    return dataset_id


def _clean_name(name: str) -> str:
    cleaned = name.strip() if isinstance(name, str) else ""
    if not cleaned:
        raise ValueError(f"A dataset name must contain some text; got {name!r}.")
    return cleaned


def _source_extension(source_name: str) -> str:
    """``sales.csv.gz`` -> ``csv.gz``; ``bin`` when the name has no usable extension."""
    suffixes = [s.lstrip(".").lower() for s in Path(source_name).suffixes]
    suffixes = [s for s in suffixes if s.isalnum()]
    return ".".join(suffixes) or "bin"


def _date_range(frame: pd.DataFrame) -> tuple[str, str]:
    """First and last ``ds`` as ISO text (dates without a time of day when all times are midnight)."""
    if DS not in frame.columns:
        return "", ""
    dates = pd.to_datetime(frame[DS]).dropna()
    if dates.empty:
        return "", ""
    bounds = (dates.min(), dates.max())
    if (dates == dates.dt.normalize()).all():
        return bounds[0].date().isoformat(), bounds[1].date().isoformat()
    return bounds[0].isoformat(), bounds[1].isoformat()


def _to_json(value: dict) -> str:
    return json.dumps(value, default=_json_default, ensure_ascii=False)


def _json_default(value: Any) -> Any:
    """Numpy scalars become Python numbers; anything else JSON cannot hold becomes its text."""
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def _arrow_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Write object columns that pyarrow cannot type (mixed values) as strings, keeping missing values missing."""
    frame = frame.copy(deep=False)
    for column in frame.columns[frame.dtypes == object]:
        try:
            pa.array(frame[column], from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            as_text = frame[column].map(lambda v: v if pd.api.types.is_scalar(v) and pd.isna(v) else str(v))
            frame[column] = as_text.astype("str")
    return frame


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    with open(path, "wb") as handle:
        _arrow_safe(frame).to_parquet(handle, engine="pyarrow", index=False)
        handle.flush()
        os.fsync(handle.fileno())


def _write_bytes(data: bytes, path: Path) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    """Make a folder's entries (new files, a rename) durable; a no-op where folders cannot be opened (Windows)."""
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _seconds_since_modified(folder: Path) -> float:
    """Time since the folder or any file directly in it last changed."""
    try:
        newest = max(p.stat().st_mtime for p in [folder, *folder.iterdir()])
    except FileNotFoundError:  # removed meanwhile by another process
        return 0.0
    return time.time() - newest
