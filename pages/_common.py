"""Streamlit helpers every page shares: the workspace, cached data, error handling, the report view.

Not a page: files starting with ``_`` are not listed, and ``app.py`` names its pages explicitly.
"""

from __future__ import annotations

import logging
import runpy
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import pandas as pd
import streamlit as st

from core import schema
from core.data.report import ValidationReport
from core.datasets import current_dataset
from core.errors import StockPilotError
from core.export import to_csv_bytes
from core.results import ForecastRun, ResultStore
from core.store import CURRENT_DATASET_KEY, DatasetInfo, Workspace, workspace_root

log = logging.getLogger("stockpilot.ui")
_OUTCOME_STYLE = {schema.ACCEPT: st.success, schema.ACCEPT_WITH_ISSUES: st.warning, schema.REJECT: st.error}


def ensure_navigation() -> None:
    """Make a page opened by its own URL run inside ``app.py`` (sidebar, navigation), not on its own.

    Streamlit starts in its legacy multipage mode whenever a ``pages/`` folder exists, and stays there until the
    entry point first calls ``st.navigation``; a planner whose first visit is a bookmarked ``/data`` would get a
    bare page. Here the page hands the run to ``app.py`` (which opens the page asked for) and stops its own.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        runpy.run_path(str(Path(__file__).resolve().parents[1] / "app.py"), run_name="__main__")
        st.stop()


@st.cache_resource(show_spinner=False)
def _workspace(root: str) -> Workspace:
    workspace = Workspace(root)
    # once per server start and workspace: jobs whose worker died while the dashboard was down are marked
    # failed with the reason, and queued ones start
    from core.jobs import JobRunner

    JobRunner(workspace).start_up()
    return workspace


def workspace() -> Workspace:
    """The workspace at ``STOCKPILOT_HOME`` (one object per location, shared by all sessions)."""
    return _workspace(str(workspace_root()))


@st.cache_data(show_spinner="Loading dataset…", max_entries=8)
def load_frame(root: str, dataset_id: str, created_at: str) -> pd.DataFrame:
    """A stored dataset's clean frame (``created_at`` keys the cache, so a replaced dataset is re-read)."""
    return _workspace(root).load_frame(dataset_id)


def current_or_stop(then: str, link: bool = True) -> DatasetInfo:
    """The current dataset; without one, say how to get one (and ``then`` what this page will do), with a
    ``link`` to the Data page (it needs the app's navigation: not for a page run on its own), and stop."""
    info = current()
    if info is None:
        st.info("No dataset yet. Load the demo shop on the Home page or upload your sales on the Data page, "
                f"then come back to {then}.")
        if link:
            st.page_link("pages/data.py", label="Go to the Data page", icon=":material/upload_file:")
        st.stop()
    return info


def current() -> DatasetInfo | None:
    """The current dataset, as chosen in the sidebar (persisted in the workspace)."""
    return current_dataset(workspace())


def current_frame(info: DatasetInfo) -> pd.DataFrame:
    return load_frame(str(workspace().root), info.id, info.created_at)


def set_current(dataset_id: str) -> None:
    workspace().set_setting(CURRENT_DATASET_KEY, dataset_id)


def result_store() -> ResultStore:
    """Where forecast runs are saved: the ``results`` folder of the workspace."""
    return ResultStore(workspace().root)


@st.cache_data(show_spinner="Loading the saved forecast…", max_entries=4)
def load_run(root: str, dataset_id: str, key: str) -> ForecastRun:
    """A saved forecast run (the key names dataset, dataset version and settings, so a cached run is never stale)."""
    return ResultStore(root).load(dataset_id, key)


@contextmanager
def explained_errors() -> Iterator[None]:
    """Show the project's own errors as messages; log anything else and show a friendly line, not a traceback."""
    try:
        yield
    except StockPilotError as error:
        st.error(str(error))
    except Exception:  # noqa: BLE001 - the UI boundary: log it, never show a traceback to a planner
        log.exception("Unexpected error in the dashboard")
        st.error("Something went wrong on our side. Your data is safe; the details were written to the server log.")


def show_report(report: ValidationReport) -> None:
    """Outcome banner, then the findings as a table."""
    _OUTCOME_STYLE[report.outcome](f"**{report.outcome}** — {report.headline}")
    if report.findings:
        findings = report.findings_frame()
        findings["examples"] = findings["examples"].str.slice(0, 300)
        st.table(findings.set_index("severity"))


#: Downloads of up to this many rows are written with the page (instant, and no server round trip when clicked);
#: larger ones only when clicked, so that a million-row export does not slow every rerun.
EAGER_DOWNLOAD_ROWS = 50_000


def download_button(label: str, frame: pd.DataFrame | Callable[[], pd.DataFrame], file_name: str, key: str,
                    rows: int | None = None) -> None:
    """A CSV download. ``frame`` may be a callable (with ``rows``, its size when known) to build it lazily."""
    if isinstance(frame, pd.DataFrame):
        rows, make = len(frame), (lambda: frame)
    else:
        make = frame
    eager = rows is not None and rows <= EAGER_DOWNLOAD_ROWS
    data = to_csv_bytes(make()) if eager else (lambda: to_csv_bytes(make()))
    st.download_button(label, data, file_name=file_name, mime="text/csv", key=key, disabled=rows == 0)


def display_frame(frame: pd.DataFrame, limit: int = 200) -> pd.DataFrame:
    """The first rows with long text shortened, so a 20,000-character name cannot break a table."""
    head = frame.head(limit).copy()
    for column in head.columns:
        if isinstance(head[column].dtype, pd.StringDtype) or head[column].dtype == object:
            text = head[column].astype(str)
            head[column] = text.where(text.str.len() <= 80, text.str.slice(0, 79) + "…")
    return head


@st.cache_data(show_spinner="Validating…", max_entries=4)
def validate_upload(data: bytes, filename: str, mapping: dict, date_format: str, duplicates: str):
    """Validate an upload with the planner's mapping and choices (cached per file and choices)."""
    from core.data.validate import ValidationOptions, load_sales

    return load_sales(data, mapping=mapping, filename=filename,
                      options=ValidationOptions(date_format=date_format, duplicates=duplicates))


def as_markdown(text: str) -> str:
    """``text`` with Markdown's special characters escaped, so SKU names such as ``A_1*`` show as typed."""
    return "".join(f"\\{c}" if c in "\\`*_[]<>$~|#" else c for c in text)
