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


def test_backtest_writes_long_rows_with_model_and_quantile_columns(sales_csv, tmp_path, capsys):
    generate_series(n_series=3, n_periods=120, seed=3).to_csv(sales_csv, index=False)
    out, summary = tmp_path / "bt.csv", tmp_path / "metrics.csv"
    code = main(["backtest", str(sales_csv), "--horizon", "7", "--windows", "2", "--models", "snaive,ets",
                 "--out", str(out), "--metrics-out", str(summary)])
    assert code == EXIT_ACCEPT
    assert "rel_mase" in capsys.readouterr().out
    rows = pd.read_csv(out, encoding="utf-8-sig")
    assert list(rows.columns[:5]) == ["unique_id", "ds", "cutoff", "y", "snaive"]
    for model in ("snaive", "ets"):
        for pct in (5, 10, 20, 50, 80, 90, 95):
            assert f"{model}-q{pct}" in rows.columns
    assert len(rows) == 2 * 7 * 3
    metrics = pd.read_csv(summary, encoding="utf-8-sig")
    assert {"snaive", "ets"} <= set(metrics.loc[metrics["by"] == "all", "model"])


def test_forecast_writes_quantiles_after_the_last_date_weekly_too(sales_csv, tmp_path):
    generate_series(n_series=3, n_periods=200, seed=3).to_csv(sales_csv, index=False)
    out = tmp_path / "forecast.csv"
    assert main(["forecast", str(sales_csv), "--models", "ets", "--horizon", "10", "--out", str(out)]) == EXIT_ACCEPT
    forecast = pd.read_csv(out, encoding="utf-8-sig", parse_dates=["ds"])
    assert list(forecast.columns[:3]) == ["unique_id", "ds", "ets"] and "y" not in forecast.columns
    assert len(forecast) == 30 and forecast["ds"].min() > pd.Timestamp("2024-07-18")
    assert main(["forecast", str(sales_csv), "--models", "snaive", "--freq", "W", "--horizon", "4",
                 "--out", str(out)]) == EXIT_ACCEPT
    weekly = pd.read_csv(out, encoding="utf-8-sig", parse_dates=["ds"])
    assert (weekly["ds"].dt.dayofweek == 0).all() and len(weekly) == 12


def test_backtest_usage_and_data_errors(sales_csv, tmp_path, capsys):
    for wrong in (["--models", "prophet"], ["--horizon", "0"]):
        with pytest.raises(SystemExit) as stopped:
            main(["backtest", str(sales_csv), *wrong])
        assert stopped.value.code == EXIT_USAGE
    assert main(["backtest", str(sales_csv), "--covariates", "no_such_column", "--models", "snaive"]) == EXIT_REJECT
    assert "no_such_column" in capsys.readouterr().err
    assert main(["backtest", str(sales_csv), "--horizon", "50", "--windows", "3", "--models", "snaive"]) == EXIT_REJECT
    assert "Too little history" in capsys.readouterr().err


def test_decompose_writes_components_strength_and_anomalies(sales_csv, tmp_path):
    generate_series(n_series=2, n_periods=120, seed=3).to_csv(sales_csv, index=False)
    out, strength, anomalies = tmp_path / "c.csv", tmp_path / "s.csv", tmp_path / "a.csv"
    code = main(["decompose", str(sales_csv), "--out", str(out), "--strength-out", str(strength),
                 "--anomalies-out", str(anomalies)])
    assert code == EXIT_ACCEPT
    components = pd.read_csv(out, encoding="utf-8-sig")
    assert {"unique_id", "ds", "observed", "trend", "remainder"} <= set(components.columns)
    assert len(components) == 240
    assert len(pd.read_csv(strength, encoding="utf-8-sig")) == 2
    assert "reason" in pd.read_csv(anomalies, encoding="utf-8-sig").columns
