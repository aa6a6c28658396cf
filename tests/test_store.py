"""Tests for the persistent workspace (core.store)."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import sqlite3
import sys
import time
import types
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core import schema
from core.store import (
    CURRENT_DATASET_KEY,
    DEFAULT_HOME,
    REPAIR_MIN_AGE_S,
    SCHEMA_VERSION,
    DatasetNotFound,
    DatasetUnavailable,
    Workspace,
    workspace_root,
)


def make_frame() -> pd.DataFrame:
    """A small clean long frame with the awkward values planners' data contains."""
    dates = pd.date_range("2024-01-01", periods=4, freq="D")
    return pd.DataFrame(
        {
            schema.UNIQUE_ID: pd.Series(["茶叶 | 天猫", "茶叶 | 天猫", "long", "=SUM(A1:A2)"], dtype="str"),
            schema.DS: dates,
            schema.Y: [1.0, np.nan, 3.5, 0.0],
            "note": pd.Series(["x" * 20_000, "line one\nline two", "=HYPERLINK(\"x\")", None], dtype="str"),
        }
    )


def save(workspace: Workspace, name: str = "shop", **kwargs) -> str:
    frame = kwargs.pop("frame", make_frame())
    issues = kwargs.pop("issues", frame.head(1))
    report = kwargs.pop("report", {"outcome": schema.ACCEPT_WITH_ISSUES, "n_dropped": np.int64(1)})
    mapping = kwargs.pop("mapping", {schema.DATE: "日期", schema.SKU: "sku", schema.UNITS: "销量"})
    return workspace.save_dataset(name, frame, issues, report, mapping, **kwargs).id


def age(folder: Path, seconds: float = REPAIR_MIN_AGE_S + 5) -> None:
    """Backdate a folder and its files, as if a crash had left them there a while ago."""
    past = time.time() - seconds
    for path in [folder, *folder.iterdir()]:
        os.utime(path, (past, past))


def test_frames_round_trip_verbatim(tmp_path):
    workspace = Workspace(tmp_path)
    frame = make_frame()
    dataset_id = save(workspace, frame=frame, source_name="sales.CSV.gz", source_bytes=b"\x1f\x8b raw bytes")

    pd.testing.assert_frame_equal(workspace.load_frame(dataset_id), frame)
    pd.testing.assert_frame_equal(workspace.load_issues(dataset_id), frame.head(1))
    assert workspace.load_source(dataset_id) == ("sales.CSV.gz", b"\x1f\x8b raw bytes")
    assert (tmp_path / "datasets" / dataset_id / "source.csv.gz").is_file()
    assert workspace.load_report(dataset_id) == {"outcome": schema.ACCEPT_WITH_ISSUES, "n_dropped": 1}


def test_info_is_derived_from_the_frame(tmp_path):
    workspace = Workspace(tmp_path)
    info = workspace.get(save(workspace, freq=schema.DAILY, source_name="sales.csv"))

    assert (info.n_rows, info.n_series) == (4, 3)
    assert (info.start, info.end) == ("2024-01-01", "2024-01-04")
    assert info.outcome == schema.ACCEPT_WITH_ISSUES
    assert info.freq == schema.DAILY
    assert info.mapping[schema.UNITS] == "销量"
    assert info.available


def test_mixed_object_columns_are_stored_as_text(tmp_path):
    workspace = Workspace(tmp_path)
    issues = pd.DataFrame({"raw_units": pd.Series(["12", 3, 4.5, None], dtype=object), "row": [1, 2, 3, 4]})
    dataset_id = save(workspace, issues=issues)

    loaded = workspace.load_issues(dataset_id)
    assert loaded["raw_units"].tolist()[:3] == ["12", "3", "4.5"]
    assert pd.isna(loaded["raw_units"].iloc[3])


def test_empty_issues_round_trip(tmp_path):
    workspace = Workspace(tmp_path)
    dataset_id = save(workspace, issues=pd.DataFrame())
    assert workspace.load_issues(dataset_id).empty


def test_persists_across_workspace_objects(tmp_path):
    first = Workspace(tmp_path)
    dataset_id = save(first, name="Spring shop")
    first.set_setting("horizon", "28")

    second = Workspace(tmp_path)
    assert [info.id for info in second.list_datasets()] == [dataset_id]
    assert second.find_by_name("Spring shop").id == dataset_id
    assert second.get_setting("horizon") == "28"
    pd.testing.assert_frame_equal(second.load_frame(dataset_id), make_frame())


def test_root_comes_from_env_var(tmp_path, monkeypatch):
    monkeypatch.setenv("STOCKPILOT_HOME", str(tmp_path / "home"))
    assert workspace_root() == tmp_path / "home"
    assert Workspace().root == tmp_path / "home"
    assert (tmp_path / "home" / "workspace.sqlite").is_file()

    monkeypatch.delenv("STOCKPILOT_HOME")
    assert workspace_root() == DEFAULT_HOME == Path.home() / ".stockpilot"


def test_list_is_newest_first_and_names_may_repeat(tmp_path):
    workspace = Workspace(tmp_path)
    first = save(workspace, name="shop")
    second = save(workspace, name="shop")

    assert [info.id for info in workspace.list_datasets()] == [second, first]
    assert workspace.find_by_name("shop").id == second
    assert workspace.find_by_name("nothing") is None


def test_rename(tmp_path):
    workspace = Workspace(tmp_path)
    dataset_id = save(workspace, name="old")

    assert workspace.rename(dataset_id, "  new name ").name == "new name"
    assert workspace.get(dataset_id).name == "new name"
    with pytest.raises(ValueError, match="name must contain some text"):
        workspace.rename(dataset_id, "   ")
    with pytest.raises(DatasetNotFound, match="No dataset with id 'missing'"):
        workspace.rename("missing", "x")


def test_delete_removes_files_and_clears_current_dataset(tmp_path):
    workspace = Workspace(tmp_path)
    kept, deleted = save(workspace), save(workspace)
    workspace.set_setting(CURRENT_DATASET_KEY, deleted)

    workspace.delete(deleted)

    assert [info.id for info in workspace.list_datasets()] == [kept]
    assert not (tmp_path / "datasets" / deleted).exists()
    assert workspace.get_setting(CURRENT_DATASET_KEY) is None
    with pytest.raises(DatasetNotFound, match=f"No dataset with id '{deleted}'"):
        workspace.load_frame(deleted)
    with pytest.raises(DatasetNotFound):
        workspace.delete(deleted)


def test_delete_keeps_current_dataset_pointing_elsewhere(tmp_path):
    workspace = Workspace(tmp_path)
    kept, deleted = save(workspace), save(workspace)
    workspace.set_setting(CURRENT_DATASET_KEY, kept)
    workspace.delete(deleted)
    assert workspace.get_setting(CURRENT_DATASET_KEY) == kept


def test_settings(tmp_path):
    workspace = Workspace(tmp_path)
    assert workspace.get_setting("k", "default") == "default"
    workspace.set_setting("k", "1")
    workspace.set_setting("k", "2")
    assert workspace.get_setting("k") == "2"
    workspace.set_setting("k", None)
    assert workspace.get_setting("k") is None


def test_unknown_id_raises_clear_error(tmp_path):
    workspace = Workspace(tmp_path)
    with pytest.raises(DatasetNotFound, match="No dataset with id 'abc'"):
        workspace.get("abc")
    with pytest.raises(LookupError):
        workspace.load_report("abc")


def test_invalid_names_and_ids_are_rejected(tmp_path):
    workspace = Workspace(tmp_path)
    with pytest.raises(ValueError, match="name must contain some text"):
        save(workspace, name=" ")
    with pytest.raises(ValueError, match="Invalid dataset id '../escape'"):
        save(workspace, dataset_id="../escape")
    save(workspace, dataset_id="demo")
    with pytest.raises(ValueError, match="id 'demo' already exists"):
        save(workspace, dataset_id="demo")


def test_crash_leftovers_are_repaired_and_never_listed(tmp_path):
    workspace = Workspace(tmp_path)
    dataset_id = save(workspace)
    datasets = tmp_path / "datasets"
    # A crash while writing, and a crash between the folder rename and the row insert.
    shutil.copytree(datasets / dataset_id, datasets / ".tmp-deadbeef")
    shutil.copytree(datasets / dataset_id, datasets / "orphan123")
    shutil.copytree(datasets / dataset_id, datasets / "fresh456")  # a concurrent save, not yet committed
    age(datasets / ".tmp-deadbeef")
    age(datasets / "orphan123")

    assert [info.id for info in workspace.list_datasets()] == [dataset_id]
    removed = workspace.repair()

    assert sorted(Path(path).name for path in removed) == [".tmp-deadbeef", "orphan123"]
    assert sorted(path.name for path in datasets.iterdir()) == sorted([dataset_id, "fresh456"])
    assert [info.id for info in workspace.list_datasets()] == [dataset_id]


def test_opening_repairs(tmp_path):
    save(Workspace(tmp_path))
    leftover = tmp_path / "datasets" / ".tmp-0123"
    leftover.mkdir()
    age(leftover)
    Workspace(tmp_path)
    assert not leftover.exists()


def test_missing_folder_is_reported_unavailable(tmp_path):
    workspace = Workspace(tmp_path)
    dataset_id = save(workspace, name="lost", source_bytes=b"a,b\n")
    shutil.rmtree(tmp_path / "datasets" / dataset_id)

    (info,) = workspace.list_datasets()
    assert not info.available
    assert workspace.load_report(dataset_id)["outcome"] == schema.ACCEPT_WITH_ISSUES
    with pytest.raises(DatasetUnavailable, match=f"'lost' \\(id {dataset_id}\\) is unavailable"):
        workspace.load_frame(dataset_id)
    with pytest.raises(DatasetUnavailable):
        workspace.load_issues(dataset_id)
    with pytest.raises(DatasetUnavailable, match="original upload"):
        workspace.load_source(dataset_id)
    workspace.delete(dataset_id)
    assert workspace.list_datasets() == []


def _save_many(root: str, worker: int, count: int) -> None:
    workspace = Workspace(root)
    for i in range(count):
        save(workspace, name=f"worker {worker} #{i}", source_name="s.csv", source_bytes=f"{worker},{i}".encode())


def test_two_processes_write_concurrently(tmp_path, monkeypatch):
    # A spawned process re-imports __main__; after an in-process AppTest that is the last page script run.
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_save_many, args=(str(tmp_path), worker, 5)) for worker in range(2)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=120)
    assert [process.exitcode for process in workers] == [0, 0]

    workspace = Workspace(tmp_path)
    infos = workspace.list_datasets()
    assert sorted(info.name for info in infos) == sorted(f"worker {w} #{i}" for w in range(2) for i in range(5))
    for info in infos:
        assert info.available
        assert len(workspace.load_frame(info.id)) == 4
        assert workspace.load_source(info.id)[1] == f"{info.name[7]},{info.name[-1]}".encode()


def test_threads_share_one_workspace(tmp_path):
    workspace = Workspace(tmp_path)
    with ThreadPoolExecutor(max_workers=4) as pool:
        ids = list(pool.map(lambda i: save(workspace, name=f"thread {i}"), range(8)))
    assert sorted(info.id for info in workspace.list_datasets()) == sorted(ids)


def test_database_uses_wal_and_a_schema_version(tmp_path):
    Workspace(tmp_path)
    with sqlite3.connect(tmp_path / "workspace.sqlite") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()


def test_newer_workspace_is_refused(tmp_path):
    Workspace(tmp_path)
    with sqlite3.connect(tmp_path / "workspace.sqlite") as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(RuntimeError, match="written by a newer StockPilot"):
        Workspace(tmp_path)
