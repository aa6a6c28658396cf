"""``python -m core``: exit codes, the printed report, the clean export and the mapping options."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from conftest import REPO
from core.cli import EXIT_ACCEPT, EXIT_ISSUES, EXIT_REJECT, EXIT_USAGE, main
from core.data.synthetic import generate_series
from core.store import Workspace


@pytest.fixture
def sales_csv(tmp_path):
    path = tmp_path / "sales.csv"
    generate_series(n_series=3, n_periods=60, seed=3).to_csv(path, index=False)
    return path


def test_validate_accepts_a_clean_file_and_writes_the_mapped_fields(sales_csv, tmp_path, capsys):
    out = tmp_path / "clean.csv"
    assert main(["validate", str(sales_csv), "--out", str(out)]) == EXIT_ACCEPT
    assert capsys.readouterr().out.startswith("ACCEPT:")
    clean = pd.read_csv(out, encoding="utf-8-sig")
    assert list(clean.columns[:6]) == ["date", "sku", "channel", "units", "price", "promo"]
    assert len(clean) == 180


def test_validate_exits_1_with_issues_and_writes_the_issue_rows(sales_csv, tmp_path, capsys):
    frame = pd.read_csv(sales_csv, dtype=str)
    frame.loc[5, "units"] = "12 pcs"
    frame.loc[9, "date"] = "yesterday"
    frame.to_csv(sales_csv, index=False)
    issues = tmp_path / "issues.csv"
    assert main(["validate", str(sales_csv), "--issues", str(issues)]) == EXIT_ISSUES
    text = capsys.readouterr().out
    assert "ACCEPT WITH ISSUES" in text and "row 11: 'yesterday'" in text
    listed = pd.read_csv(issues, encoding="utf-8-sig", dtype=str)
    assert set(listed["issue"]) >= {"bad_date", "units_with_text"}


def test_validate_rejects_a_missing_column_and_the_mapping_option_fixes_it(sales_csv, capsys):
    frame = pd.read_csv(sales_csv).rename(columns={"units": "qq_col"})
    frame.to_csv(sales_csv, index=False)
    assert main(["validate", str(sales_csv)]) == EXIT_REJECT
    assert "'units'" in capsys.readouterr().out
    assert main(["validate", str(sales_csv), "--units-col", "qq_col"]) == EXIT_ACCEPT


def test_validate_json_report_and_workspace_save(sales_csv, capsys):
    assert main(["validate", str(sales_csv), "--json", "--save", "nightly"]) == EXIT_ACCEPT
    assert '"outcome": "ACCEPT"' in capsys.readouterr().out
    assert [d.name for d in Workspace().list_datasets()] == ["nightly"]


def test_usage_errors_do_not_look_like_a_reject(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["validate"])
    assert stopped.value.code == EXIT_USAGE


def test_module_entry_point_runs_as_a_scheduler_would(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    done = subprocess.run([sys.executable, "-m", "core", "validate", str(empty)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == EXIT_REJECT
    assert "REJECT: The file is empty" in done.stdout


def test_demo_regenerates_identical_files_and_loads(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--load"]) == EXIT_ACCEPT
    for path in out.iterdir():
        assert path.read_bytes() == (REPO / "demo_data" / path.name).read_bytes(), path.name
    assert [d.name for d in Workspace().list_datasets()] == ["Demo shop"]
