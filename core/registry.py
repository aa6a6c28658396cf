"""The model registry: fine-tuned transformer versions kept in the workspace, one of which may be active.

Layout under the workspace root::

    models/<version id>/    a checkpoint folder (config.json, weights or LoRA adapter, log.csv, finetune.json)
    workspace.sqlite        table ``model_versions`` (one row per version) and the setting ``active_model``

A version is registered by moving a finished fine-tuning folder into ``models/`` and then inserting its row, so a
crash leaves either a complete version or a folder without a row (removed by :meth:`ModelRegistry.repair`). The
active version is what the Forecast page and the reorder plan use for the transformer; with none active they use
the shipped zero-shot checkpoint. Models are named ``tsfm@<version name>`` wherever a model name is expected.
"""

from __future__ import annotations

import json
import re
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from core.errors import StockPilotError
from core.models import FINETUNED_PREFIX
from core.store import Workspace

ACTIVE_MODEL_KEY = "active_model"
MODELS_DIR = "models"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,47}")
_CREATE = """CREATE TABLE IF NOT EXISTS model_versions (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    mode TEXT NOT NULL,
    base TEXT NOT NULL,
    dataset_id TEXT NOT NULL,
    dataset_name TEXT NOT NULL,
    scores_json TEXT NOT NULL,
    info_json TEXT NOT NULL
)"""
_COLUMNS = "id, name, created_at, mode, base, dataset_id, dataset_name, scores_json, info_json"


class RegistryError(StockPilotError):
    """A version cannot be found, registered or deleted as asked."""


@dataclass(frozen=True)
class ModelVersion:
    """One fine-tuned version: where it lives, what it was trained on and how it scored."""

    id: str
    name: str
    created_at: str
    mode: str
    base: str
    dataset_id: str
    dataset_name: str
    scores: dict = field(hash=False)
    info: dict = field(hash=False)
    folder: Path

    @property
    def model_name(self) -> str:
        """The name to use where a model is expected (backtests, forecasts): ``tsfm@<name>``."""
        return FINETUNED_PREFIX + self.name


class ModelRegistry:
    """Versions in one workspace; safe to use from several processes (each call opens its own connection)."""

    def __init__(self, workspace: Workspace | None = None):
        self.workspace = workspace or Workspace()
        self.folder = self.workspace.root / MODELS_DIR
        self.folder.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            conn.execute(_CREATE)

    def _connect(self):
        return self.workspace._connect()  # the workspace's short-lived autocommit connections (WAL)

    def check_name(self, name: str, reserved: set[str] | frozenset[str] = frozenset()) -> str:
        """``name`` stripped, or :class:`RegistryError` saying why it cannot name a new version (``reserved``:
        names that runs still training will take)."""
        name = name.strip()
        if not _NAME.fullmatch(name):
            raise RegistryError(f"A version name is 1-48 letters, digits, '.', '_' or '-' and starts with a letter "
                                f"or digit; got {name!r}.")
        if self.find(name) is not None or name in reserved:
            raise RegistryError(f"A version named {name!r} exists already: choose another name or delete it.")
        return name

    def register(self, folder: str | Path, name: str, dataset_id: str, dataset_name: str,
                 scores: dict | None = None) -> ModelVersion:
        """Move a finished fine-tuning ``folder`` into the registry as version ``name``."""
        from core.models.finetune import read_info

        name = self.check_name(name)
        info = read_info(folder)
        if not info:
            raise RegistryError(f"{folder} is not a finished fine-tuning run (it has no finetune.json).")
        version_id = f"ft-{uuid.uuid4().hex[:10]}"
        target = self.folder / version_id
        shutil.move(str(folder), str(target))
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with self._connect() as conn:
            conn.execute(f"INSERT INTO model_versions ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (version_id, name, created, info.get("mode", "?"), info.get("base", "?"), dataset_id,
                          dataset_name, json.dumps(scores or {}, default=str), json.dumps(info, default=str)))
        return self.get(version_id)

    def list(self) -> list[ModelVersion]:
        """Newest first; versions whose folder vanished are left out."""
        with self._connect() as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM model_versions ORDER BY created_at DESC, id").fetchall()
        return [v for v in map(self._version, rows) if v.folder.is_dir()]

    def find(self, ref: str) -> ModelVersion | None:
        """The version with this id or name, or ``None``."""
        with self._connect() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM model_versions WHERE id = ? OR name = ?",
                               (ref, ref)).fetchone()
        return self._version(row) if row else None

    def get(self, ref: str) -> ModelVersion:
        version = self.find(ref)
        if version is None:
            names = ", ".join(v.name for v in self.list()) or "none yet"
            raise RegistryError(f"No fine-tuned version {ref!r} in the workspace (versions: {names}).")
        return version

    def activate(self, ref: str | None) -> ModelVersion | None:
        """Make a version the one the Forecast page and reorder plan use (``None``: back to zero-shot)."""
        version = self.get(ref) if ref is not None else None
        self.workspace.set_setting(ACTIVE_MODEL_KEY, version.id if version else None)
        return version

    def active(self) -> ModelVersion | None:
        chosen = self.workspace.get_setting(ACTIVE_MODEL_KEY)
        version = self.find(chosen) if chosen else None
        return version if version is not None and version.folder.is_dir() else None

    def delete(self, ref: str) -> None:
        """Remove a version (and deactivate it). Refused while another version's LoRA adapter builds on it."""
        version = self.get(ref)
        dependants = [v.name for v in self.list() if v.base == str(version.folder.resolve())]
        if dependants:
            raise RegistryError(f"Version {version.name!r} is the base of {', '.join(dependants)}: delete "
                                "those first.")
        if self.workspace.get_setting(ACTIVE_MODEL_KEY) == version.id:
            self.workspace.set_setting(ACTIVE_MODEL_KEY, None)
        with self._connect() as conn:
            conn.execute("DELETE FROM model_versions WHERE id = ?", (version.id,))
        shutil.rmtree(version.folder, ignore_errors=True)

    def repair(self) -> list[str]:
        """Remove version folders without a row (a registration that crashed half-way)."""
        with self._connect() as conn:
            known = {row[0] for row in conn.execute("SELECT id FROM model_versions")}
        removed = []
        for path in self.folder.iterdir():
            if path.is_dir() and path.name not in known:
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path.name)
        return removed

    def table(self) -> pd.DataFrame:
        """The versions as a planner reads them: name, dataset, mode, date, the fine-tuned model's MASE and WQL
        on its validation window, the zero-shot WQL there, and which one is active."""
        from core.models.finetune import FINETUNED_ROW, ZERO_SHOT_ROW

        active = self.active()
        return pd.DataFrame([{
            "Version": v.name, "Dataset": v.dataset_name, "Mode": v.mode,
            "Created": v.created_at[:16].replace("T", " "),
            "MASE": v.scores.get(FINETUNED_ROW, {}).get("mase"), "WQL": v.scores.get(FINETUNED_ROW, {}).get("wql"),
            "Zero-shot WQL": v.scores.get(ZERO_SHOT_ROW, {}).get("wql"),
            "Active": "✓" if active is not None and v.id == active.id else ""} for v in self.list()],
            columns=["Version", "Dataset", "Mode", "Created", "MASE", "WQL", "Zero-shot WQL", "Active"])

    def _version(self, row: tuple) -> ModelVersion:
        return ModelVersion(*row[:7], scores=json.loads(row[7]), info=json.loads(row[8]),
                            folder=self.folder / row[0])


def resolve_checkpoint(ref: str, workspace: Workspace | None = None) -> Path:
    """The checkpoint folder for ``tsfm@<ref>``: a folder path, or a version id or name in the workspace."""
    path = Path(ref).expanduser()
    if path.is_dir():
        return path
    registry = ModelRegistry(workspace)
    version = registry.find(ref)
    if version is None:
        names = ", ".join(v.name for v in registry.list()) or "none yet"
        raise RegistryError(f"'{ref}' is neither a checkpoint folder nor a fine-tuned version in the workspace "
                            f"{registry.workspace.root} (versions: {names}).")
    return version.folder
