"""``python -m core promotions``: the episode table and the other CSVs, what is printed, and the exit codes."""

from __future__ import annotations

import pandas as pd
import pytest

from core import schema
from core.causal import AFTER, PROMOTION, SIBLING
from core.cli import EXIT_ACCEPT, EXIT_REJECT, EXIT_USAGE, main
from core.cli_promotions import BASELINE_COLUMNS, EPISODE_FIRST
from core.data.synthetic import generate_series

ISO_DATE = r"\d{4}-\d\d-\d\d$"


def _sales_csv(path, n_series: int = 6, seed: int = 4, promo_elasticity: float = 2.5) -> str:
    """A seeded daily panel in the planner's fields plus a category (alternating A, B over the SKUs)."""
    frame = generate_series(n_series=n_series, n_periods=500, seed=seed, promo_elasticity=promo_elasticity)
    skus = sorted(frame["sku"].unique())
    frame["category"] = frame["sku"].map({sku: "AB"[i % 2] for i, sku in enumerate(skus)})
    frame.to_csv(path, index=False)
    return str(path)


def _read(path) -> pd.DataFrame:
    return pd.read_csv(path, encoding="utf-8-sig", dtype={"phase": str, "episode_id": str}, keep_default_na=False,
                       na_values=[""])


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """One run with every output, shared by the tests that read them."""
    folder = tmp_path_factory.mktemp("promotions")
    sales = _sales_csv(folder / "sales.csv")
    paths = {name: folder / f"{name}.csv" for name in
             ("episodes", "summary", "elasticity", "placebo", "baseline", "cleaned", "validated")}
    code = main(["promotions", sales, "--out", str(paths["episodes"]), "--summary-out", str(paths["summary"]),
                 "--elasticity-out", str(paths["elasticity"]), "--placebo-out", str(paths["placebo"]),
                 "--baseline-out", str(paths["baseline"]), "--cleaned-out", str(paths["cleaned"])])
    assert main(["validate", sales, "--out", str(paths["validated"])]) == EXIT_ACCEPT
    return code, paths


def test_episode_table_leads_with_series_dates_and_uplift(written):
    code, paths = written
    assert code == EXIT_ACCEPT
    episodes = pd.read_csv(paths["episodes"], encoding="utf-8-sig", dtype={"start": str, "end": str})
    assert tuple(episodes.columns[:len(EPISODE_FIRST)]) == EPISODE_FIRST
    assert {"episode_id", "sku", "channel", "category", "depth", "raw_uplift_pct", "after_effect_units",
            "sibling_effect_units", "net_incremental_units", "significant"} <= set(episodes.columns)
    assert episodes["start"].str.match(ISO_DATE).all() and episodes["end"].str.match(ISO_DATE).all()
    assert (episodes["start"] <= episodes["end"]).all()
    assert (episodes["uplift_lo"] <= episodes["uplift_pct"]).all()
    assert (episodes["uplift_pct"] <= episodes["uplift_hi"]).all()
    assert episodes["episode_id"].is_unique and episodes[schema.UNIQUE_ID].nunique() == 6


def test_summary_elasticity_and_placebo_tables_parse(written):
    _, paths = written
    summary = pd.read_csv(paths["summary"], encoding="utf-8-sig")
    overall = summary.loc[summary["level"] == "all"].iloc[0]
    assert overall["episodes"] == len(pd.read_csv(paths["episodes"], encoding="utf-8-sig"))
    assert overall["uplift_lo"] > 0  # 10-30 % discounts with an elasticity of 2.5 planted
    assert {"category", "channel", "depth"} <= set(summary["level"])
    elasticity = pd.read_csv(paths["elasticity"], encoding="utf-8-sig")
    assert {"category", "promo_elasticity", "promo_elasticity_lo", "promo_elasticity_hi"} <= set(elasticity.columns)
    assert len(elasticity) >= 1 and elasticity["promo_elasticity"].notna().all()
    placebo = pd.read_csv(paths["placebo"], encoding="utf-8-sig", dtype={"start": str})
    assert len(placebo) > 0 and placebo["start"].str.match(ISO_DATE).all()
    assert {"uplift_pct", "uplift_lo", "uplift_hi", "significant"} <= set(placebo.columns)


def test_baseline_is_per_day_actual_against_counterfactual_for_promoted_series(written):
    _, paths = written
    baseline = _read(paths["baseline"])
    assert tuple(baseline.columns) == BASELINE_COLUMNS
    assert baseline[schema.DS].str.match(ISO_DATE).all()
    assert set(baseline["phase"].fillna("")) <= {"", PROMOTION, AFTER, SIBLING}
    assert PROMOTION in set(baseline["phase"])
    episodes = pd.read_csv(paths["episodes"], encoding="utf-8-sig")
    assert set(baseline[schema.UNIQUE_ID]) == set(episodes[schema.UNIQUE_ID])
    known = baseline["counterfactual"].notna()
    assert (baseline.loc[known, "counterfactual_lo"] <= baseline.loc[known, "counterfactual"]).all()
    assert (baseline.loc[known, "counterfactual"] <= baseline.loc[known, "counterfactual_hi"]).all()
    on_promo = baseline["phase"] == PROMOTION
    assert baseline.loc[on_promo, "episode_id"].notna().all()


def test_cleaned_sales_keep_the_validate_layout_without_promotions(written):
    _, paths = written
    cleaned = pd.read_csv(paths["cleaned"], encoding="utf-8-sig")
    validated = pd.read_csv(paths["validated"], encoding="utf-8-sig")
    assert list(cleaned.columns) == list(validated.columns)
    assert len(cleaned) == len(validated) and cleaned["date"].astype(str).str.match(ISO_DATE).all()
    assert (cleaned["promo"] == 0).all()
    promoted = validated["promo"] > 0
    assert cleaned.loc[promoted, "units"].sum() < validated.loc[promoted, "units"].sum()  # the planted lift is gone


def test_prints_episodes_pooled_uplift_placebo_rates_and_where_files_went(tmp_path, capsys):
    sales = _sales_csv(tmp_path / "sales.csv")
    out = tmp_path / "episodes.csv"
    placebo = tmp_path / "placebo.csv"
    code = main(["promotions", sales, "--out", str(out), "--placebo-out", str(placebo), "--level", "0.8",
                 "--no-controls", "--post-periods", "3", "--placebo-per-series", "0", "--seed", "1", "--progress"])
    assert code == EXIT_ACCEPT
    err = capsys.readouterr().err
    assert "promotion episodes in 6 series" in err
    assert "Average uplift: +" in err and "80% interval" in err
    assert "Placebo check: not run" in err and len(pd.read_csv(placebo, encoding="utf-8-sig")) == 0
    assert "Caveat: No comparable series on another channel or location" in err  # --no-controls
    assert f"written to {out}" in err and "[100%] Done" in err


def test_planted_no_effect_gives_a_pooled_interval_covering_zero(tmp_path, capsys):
    sales = _sales_csv(tmp_path / "sales.csv", promo_elasticity=0)
    summary = tmp_path / "summary.csv"
    assert main(["promotions", sales, "--out", str(tmp_path / "e.csv"), "--summary-out", str(summary)]) == 0
    overall = pd.read_csv(summary, encoding="utf-8-sig").query("level == 'all'").iloc[0]
    assert overall["uplift_lo"] <= 0 <= overall["uplift_hi"]
    assert abs(overall["uplift_pct"]) < 15
    assert "Placebo check: 12 fake promotions" in capsys.readouterr().err


def test_a_file_without_promo_or_price_is_rejected_naming_the_promo_column(tmp_path, capsys):
    path = tmp_path / "sales.csv"
    _sales_csv(path)
    pd.read_csv(path).drop(columns=["promo", "price"]).to_csv(path, index=False)
    assert main(["promotions", str(path), "--out", str(tmp_path / "e.csv")]) == EXIT_REJECT
    err = capsys.readouterr().err
    assert err.startswith("Error: No promotions to analyse: map a 'promo' column")
    assert not (tmp_path / "e.csv").exists()


def test_a_promo_column_of_zeros_is_rejected_with_a_clear_message(tmp_path, capsys):
    path = tmp_path / "sales.csv"
    _sales_csv(path)
    pd.read_csv(path).drop(columns=["price"]).assign(promo=0).to_csv(path, index=False)
    assert main(["promotions", str(path), "--out", str(tmp_path / "e.csv")]) == EXIT_REJECT
    assert "The promo column is 0 everywhere" in capsys.readouterr().err


def test_a_rejected_or_missing_file_exits_2(tmp_path, capsys):
    assert main(["promotions", str(tmp_path / "nowhere.csv"), "--out", str(tmp_path / "e.csv")]) == EXIT_REJECT
    assert "File not found" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("colour,size\nred,3\n", encoding="utf-8")
    assert main(["promotions", str(bad), "--out", str(tmp_path / "e.csv")]) == EXIT_REJECT
    assert "REJECT" in capsys.readouterr().err


@pytest.mark.parametrize("wrong", [
    [], ["--level", "1.5"], ["--level", "ninety"], ["--post-periods", "-1"], ["--placebo-per-series", "two"],
    ["--countries", "XX"], ["--freq", "W"],
])
def test_wrong_usage_exits_64(tmp_path, capsys, wrong):
    out = [] if wrong == [] else ["--out", str(tmp_path / "e.csv")]  # [] : the required --out is missing
    with pytest.raises(SystemExit) as stopped:
        main(["promotions", str(tmp_path / "sales.csv"), *out, *wrong])
    assert stopped.value.code == EXIT_USAGE
    assert "error:" in capsys.readouterr().err


def test_an_output_folder_that_does_not_exist_is_a_usage_error(tmp_path, capsys):
    sales = _sales_csv(tmp_path / "sales.csv", n_series=4)
    assert main(["promotions", sales, "--out", str(tmp_path / "no" / "e.csv")]) == EXIT_USAGE
    assert "No such file or directory" in capsys.readouterr().err


def test_covariates_and_other_interventions_reach_the_baseline(tmp_path):
    frame = generate_series(n_series=4, n_periods=400, seed=5)
    frame["campaign"] = ((pd.to_datetime(frame["date"]).dt.day == 15) & (frame["promo"] == 0)).astype(int)
    frame["school_holiday"] = (pd.to_datetime(frame["date"]).dt.month == 8).astype(int)
    frame.to_csv(tmp_path / "sales.csv", index=False)
    out, baseline = tmp_path / "episodes.csv", tmp_path / "baseline.csv"
    code = main(["promotions", str(tmp_path / "sales.csv"), "--out", str(out), "--baseline-out", str(baseline),
                 "--covariates", "school_holiday", "--exclude", "campaign"])
    assert code == EXIT_ACCEPT
    days = _read(baseline)
    fifteenth = pd.to_datetime(days["ds"]).dt.day == 15
    assert not days.loc[fifteenth & (days["phase"] == ""), "in_fit"].astype(str).eq("True").any()
    assert main(["promotions", str(tmp_path / "sales.csv"), "--out", str(out), "--exclude", "nope"]) == EXIT_REJECT
