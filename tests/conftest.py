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


def open_page(page: str, timeout: float):
    """The app under AppTest, switched to ``page`` (e.g. ``"pages/explain.py"``) and run."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=timeout).run()
    at.switch_page(page).run()
    return at


def import_frame(home: Path, frame, name: str = "small shop"):
    """Import a frame in the planner's fields into the workspace at ``home`` as an upload; its DatasetInfo."""
    from core.datasets import import_upload
    from core.store import Workspace

    outcome = import_upload(Workspace(home), frame.to_csv(index=False).encode(), "small.csv", name=name)
    assert outcome.dataset is not None, outcome.result.report.headline
    return outcome.dataset


def small_shop():
    """Six daily series of 400 days in two categories (drinks, snacks), from the seeded generator."""
    from core.data.synthetic import generate_series

    frame = generate_series(n_series=6, n_periods=400, seed=11)
    frame["category"] = frame["sku"].map(lambda sku: ("drinks", "snacks")[int(sku[-3:]) % 2])
    return frame


@pytest.fixture(scope="module")
def small_home(request, tmp_path_factory) -> Path:
    """A workspace holding the test module's ``_small_shop()`` (else :func:`small_shop`), imported once per module
    and shared by the tests that only read it."""
    home = tmp_path_factory.mktemp("small_workspace")
    import_frame(home, getattr(request.module, "_small_shop", small_shop)())
    return home


@pytest.fixture
def on_small(small_home, monkeypatch) -> Path:
    """The current test works in :func:`small_home`'s workspace."""
    monkeypatch.setenv("STOCKPILOT_HOME", str(small_home))
    return small_home
