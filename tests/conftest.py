"""Shared fixtures: every test gets its own empty workspace and no network-dependent settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(autouse=True)
def workspace_home(tmp_path, monkeypatch) -> Path:
    """Point STOCKPILOT_HOME at a fresh folder so tests never touch a planner's real workspace."""
    home = tmp_path / "workspace"
    monkeypatch.setenv("STOCKPILOT_HOME", str(home))
    return home
