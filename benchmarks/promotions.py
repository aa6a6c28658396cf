"""Causal promotion effects, validated against planted truth and a natural experiment.

Usage (from the repository root)::

    python benchmarks/promotions.py              # demo shop and M5 SNAP; writes results (about 3 minutes)
    python benchmarks/promotions.py --no-m5 --no-write

Measured, each analysis in a fresh process (its time and peak memory):

* **demo shop** — ``core.causal.analyse_promotions`` on ``demo_data/sales.csv.gz`` (read like an upload) against
  ``demo_data/ground_truth.json``: per-episode uplift error (median absolute percentage error of ``uplift_pct``
  against the planted expected uplift), 95 % interval coverage, the placebo false-positive rate (pooled and raw),
  category averages against the planted ones, pull-forward and cannibalisation by category (sign and size),
  elasticities against the planted ones. A *noise floor* per category is scored too: the realised demand of
  ``demo_data/true_demand.csv.gz`` over the planted expected baseline — what an estimator that knew each
  episode's baseline exactly would report — because the planted truth is an *expected* uplift and the demand
  drawn around it is noisy.
* **M5 SNAP** — ``../shared/data/m5_store_dept`` with each store's state SNAP days as the intervention (the
  ``promo`` column), department prefix as category. SNAP is a benefit payment, not a promotion, so no
  pull-forward window is measured (``post_periods=0``). Then the same estimator on fake SNAP days (the real ones
  shifted by 15 days), with the real SNAP days left out of its baseline (``exclude``), should find nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import M5_PATH, demo_m5_parser, ROOT, machine, machine_line, publish, run_child  # noqa: I001

FAKE_SHIFT_DAYS = 15
TARGETS = {"mdape": 0.15, "coverage": (0.85, 0.99), "placebo_fpr": 0.10, "category_error": 0.10}

_DEMO = r"""
import json, sys, time
from core.data.validate import load_sales
from core.causal import analyse_promotions, public_model
out = sys.argv[1]
result = load_sales("demo_data/sales.csv.gz")
start = time.perf_counter()
analysis = analyse_promotions(result.frame, result.report.freq)
seconds = time.perf_counter() - start
analysis.episodes.to_parquet(f"{out}/episodes.parquet")
analysis.summary.to_parquet(f"{out}/summary.parquet")
analysis.elasticity.to_parquet(f"{out}/elasticity.parquet")
model = public_model(analysis.model)
print(json.dumps({"seconds": seconds, "placebo": analysis.placebo_rates, "caveats": analysis.caveats,
                  "tau": model["tau"], "noise_calibration": model["noise_calibration"],
                  "series": int(result.frame["unique_id"].nunique())}, default=float))
"""

_M5 = r"""
import json, sys, time
import numpy as np
sys.path.insert(0, "benchmarks")
from accuracy import load_dataset
from core.causal import PromotionSettings, analyse_promotions, public_model
shift, out = int(sys.argv[1]), sys.argv[2]
frame, _, _ = load_dataset("m5_store_dept")
frame["category"] = frame["sku"].astype(str).str.split("_").str[0]
state = frame["location"].astype(str).str[:2]
frame["snap"] = np.select([state == s for s in ("CA", "TX", "WI")],
                          [frame[f"snap_{s}"] for s in ("CA", "TX", "WI")]).astype(float)
if shift:
    frame["promo"] = frame.groupby("unique_id")["snap"].shift(shift).fillna(0.0)
    exclude = ("snap",)
else:
    frame["promo"] = frame["snap"]
    exclude = ()
settings = PromotionSettings(countries=("US",), post_periods=0, exclude=exclude)
start = time.perf_counter()
analysis = analyse_promotions(frame, "D", settings)
seconds = time.perf_counter() - start
analysis.episodes.to_parquet(f"{out}/episodes.parquet")
analysis.summary.to_parquet(f"{out}/summary.parquet")
model = public_model(analysis.model)
print(json.dumps({"seconds": seconds, "placebo": analysis.placebo_rates, "caveats": analysis.caveats,
                  "tau": model["tau"], "noise_calibration": model["noise_calibration"]}, default=float))
"""


def demo_truth() -> tuple[pd.DataFrame, dict]:
    truth = json.loads((ROOT / "demo_data" / "ground_truth.json").read_text())
    episodes = pd.DataFrame(truth["promotions"])
    episodes["unique_id"] = episodes["sku"] + " | " + episodes["channel"]
    episodes["start"] = pd.to_datetime(episodes["start"])
    episodes["end"] = pd.to_datetime(episodes["end"])
    return episodes, truth


def noise_floor(truth: pd.DataFrame) -> pd.Series:
    """Per category: the mean uplift an estimator that knew every episode's expected baseline would report,
    from the demand actually drawn (``true_demand.csv.gz``), as an error against the planted mean uplift."""
    demand = pd.read_csv(ROOT / "demo_data" / "true_demand.csv.gz", parse_dates=["date"])
    demand["unique_id"] = demand["sku"] + " | " + demand["channel"]
    realised = []
    by_series = dict(tuple(demand.groupby("unique_id")))
    for row in truth.itertuples():
        days = by_series[row.unique_id]
        inside = days["date"].between(row.start, row.end)
        realised.append(days.loc[inside, "demand"].sum() / row.expected_baseline_units - 1)
    frame = truth.assign(realised_pct=100 * np.array(realised))
    grouped = frame.groupby("category").agg(planted=("uplift_pct", "mean"), realised=("realised_pct", "mean"))
    return (grouped["realised"] - grouped["planted"]) / grouped["planted"]


def score_demo(folder: Path, run: dict) -> dict:
    truth, planted = demo_truth()
    episodes = pd.read_parquet(folder / "episodes.parquet")
    summary = pd.read_parquet(folder / "summary.parquet")
    elasticity = pd.read_parquet(folder / "elasticity.parquet")
    merged = truth.merge(episodes, on=["unique_id", "start"], suffixes=("_truth", ""), how="left")
    found = merged["uplift_pct"].notna()
    scored = merged.loc[found]
    error = (scored["uplift_pct"] - scored["uplift_pct_truth"]).abs() / scored["uplift_pct_truth"]
    raw_error = (scored["raw_uplift_pct"] - scored["uplift_pct_truth"]).abs() / scored["uplift_pct_truth"]
    covered = (scored["uplift_lo"] <= scored["uplift_pct_truth"]) & (scored["uplift_hi"] >= scored["uplift_pct_truth"])
    raw_covered = ((scored["raw_uplift_lo"] <= scored["uplift_pct_truth"])
                   & (scored["raw_uplift_hi"] >= scored["uplift_pct_truth"]))
    incremental_error = ((scored["incremental_units"] - scored["expected_incremental_units"]).abs()
                         / scored["expected_incremental_units"])
    by_category = summary.loc[summary["level"] == "category"].set_index("group")
    floor = noise_floor(truth)
    categories = []
    for category, part in scored.groupby("category_truth"):
        row = by_category.loc[category]
        planted_mean = part["uplift_pct_truth"].mean()
        profile = planted["categories"][category]
        el = elasticity.set_index("category")
        categories.append({
            "category": category, "episodes": len(part), "planted_uplift_pct": planted_mean,
            "estimated_uplift_pct": row["uplift_pct"], "lo": row["uplift_lo"], "hi": row["uplift_hi"],
            "error": (row["uplift_pct"] - planted_mean) / planted_mean, "noise_floor_error": floor[category],
            "planted_pull_forward": -part["pull_forward_units"].sum(),
            "estimated_pull_forward": part["after_effect_units"].sum(),
            "pull_forward_lo": row["after_effect_lo"], "pull_forward_hi": row["after_effect_hi"],
            "planted_cannibalised": -part["cannibalised_units"].sum(),
            "estimated_cannibalised": part["sibling_effect_units"].sum(),
            "cannibalised_lo": row["sibling_effect_lo"], "cannibalised_hi": row["sibling_effect_hi"],
            "planted_promo_elasticity": profile["promo_elasticity"],
            "promo_elasticity": el["promo_elasticity"].get(category, np.nan),
            "promo_elasticity_lo": el["promo_elasticity_lo"].get(category, np.nan),
            "promo_elasticity_hi": el["promo_elasticity_hi"].get(category, np.nan),
            "planted_price_elasticity": profile["price_elasticity"],
            "price_elasticity": el["price_elasticity"].get(category, np.nan),
        })
    return {
        "episodes_planted": len(truth), "episodes_found": int(len(episodes)), "episodes_matched": int(found.sum()),
        "mdape": float(error.median()), "raw_mdape": float(raw_error.median()),
        "incremental_mdape": float(incremental_error.median()),
        "coverage": float(covered.mean()), "raw_coverage": float(raw_covered.mean()),
        "placebo": run["placebo"], "tau": run["tau"], "noise_calibration": run["noise_calibration"],
        "seconds": run["seconds"], "peak_rss_mb": run["peak_rss_mb"], "series": run["series"],
        "caveats": run["caveats"], "categories": categories,
    }


def score_m5(folder: Path, run: dict) -> dict:
    episodes = pd.read_parquet(folder / "episodes.parquet")
    summary = pd.read_parquet(folder / "summary.parquet")
    category = summary.loc[summary["level"] == "category", ["group", "episodes", "uplift_pct", "uplift_lo",
                                                              "uplift_hi"]]
    departments = (episodes.groupby("sku").agg(episodes=("uplift_pct", "size"), uplift_pct=("uplift_pct", "mean"),
                                               raw_uplift_pct=("raw_uplift_pct", "mean"),
                                               significant_share=("significant", "mean"))
                   .reset_index().rename(columns={"sku": "department"}))
    return {"seconds": run["seconds"], "peak_rss_mb": run["peak_rss_mb"], "episodes": len(episodes),
            "placebo": run["placebo"], "noise_calibration": run["noise_calibration"], "caveats": run["caveats"],
            "category": category.to_dict("records"), "departments": departments.to_dict("records")}


def _sign_row(name: str, categories: list[dict], key: str) -> str:
    """Right sign: the estimate is negative in every category where a loss was planted; also how many of those
    intervals exclude zero."""
    negative = sum(c[f"estimated_{key}"] < 0 for c in categories)
    excluded = sum(c[f"{key}_hi"] < 0 for c in categories)
    return (f"| {name} recovered with the right sign (categories where planted) | negative | {negative} of "
            f"{len(categories)} negative, {excluded} of {len(categories)} with the interval below 0 | "
            f"{'yes' if negative == len(categories) else 'no'} |")


def _pct(value: float) -> str:
    return "" if value is None or not np.isfinite(value) else f"{value:+.1f}%"


def markdown(demo: dict | None, m5: dict | None, m: dict) -> str:
    today = dt.date.today().isoformat()
    lines = ["## Causal promotion effects (`benchmarks/promotions.py`)", "",
             f"{machine_line(m)} Run on {today}. Each analysis ran in a fresh process (time and peak memory are "
             "that process's own).", ""]
    if demo:
        lo, hi = TARGETS["coverage"]
        fpr = demo["placebo"]["false_positive_rate"]
        raw_fpr = demo["placebo"]["raw_false_positive_rate"]
        lines += [
            f"### Demo shop against `ground_truth.json` ({demo['episodes_planted']} planted episodes, "
            f"{demo['series']} series)", "",
            f"{demo['episodes_found']} episodes found from the promo column (every planted one, same start); "
            f"{demo['episodes_matched']} measured — the others were out of stock on every day, so they have no "
            f"uplift. Analysis: {demo['seconds']:.0f} s, peak {demo['peak_rss_mb']:,.0f} MB.", "",
            "| check | target | result | met |", "|---|---|---|---|",
            f"| per-episode uplift error (MdAPE of `uplift_pct`) | <= {TARGETS['mdape']:.0%} | "
            f"{demo['mdape']:.1%} | {'yes' if demo['mdape'] <= TARGETS['mdape'] else 'no'} |",
            f"| 95% interval coverage of the planted uplift | {lo:.0%}-{hi:.0%} | {demo['coverage']:.1%} | "
            f"{'yes' if lo <= demo['coverage'] <= hi else 'no'} |",
            f"| placebo false-positive rate (pooled intervals, as reported) | <= {TARGETS['placebo_fpr']:.0%} | "
            f"{fpr:.1%} of {demo['placebo']['episodes']} | {'yes' if fpr <= TARGETS['placebo_fpr'] else 'no'} |",
            f"| placebo false-positive rate (each fake episode alone) | <= {TARGETS['placebo_fpr']:.0%} | "
            f"{raw_fpr:.1%} | {'yes' if raw_fpr <= TARGETS['placebo_fpr'] else 'no'} |",
        ]
        worst = max(demo["categories"], key=lambda c: abs(c["error"]))
        met = all(abs(c["error"]) <= TARGETS["category_error"] for c in demo["categories"])
        lines += [
            f"| category averages within {TARGETS['category_error']:.0%} of the planted ones | all 6 | worst "
            f"{worst['category']} {worst['error']:+.1%} | {'yes' if met else 'no'} |",
            _sign_row("pull-forward", [c for c in demo["categories"] if c["planted_pull_forward"] < 0],
                      "pull_forward"),
            _sign_row("cannibalisation", demo["categories"], "cannibalised"),
            "",
            f"For comparison, each episode alone (no pooling): MdAPE {demo['raw_mdape']:.1%}, coverage "
            f"{demo['raw_coverage']:.1%}. Incremental units: MdAPE {demo['incremental_mdape']:.1%} against the "
            f"planted expected incremental units. Heterogeneity tau {demo['tau']:.3f} (log-ratio scale); noise "
            f"calibration from the placebos x{demo['noise_calibration']:.2f}.", "",
            "By category (uplift: mean over the category's episodes; *noise floor*: the error an estimator that "
            "knew every episode's expected baseline exactly would make, from the demand actually drawn):", "",
            "| category | episodes | planted uplift | estimated (95% CI) | error | noise floor | pull-forward "
            "planted / estimated (CI) | cannibalised planted / estimated (CI) | promo elasticity planted / "
            "estimated (CI) | price elasticity planted / estimated |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for c in demo["categories"]:
            lines.append(
                f"| {c['category']} | {c['episodes']} | {c['planted_uplift_pct']:.1f}% | "
                f"{c['estimated_uplift_pct']:.1f}% ({c['lo']:.1f} to {c['hi']:.1f}) | {c['error']:+.1%} | "
                f"{c['noise_floor_error']:+.1%} | {c['planted_pull_forward']:,.0f} / "
                f"{c['estimated_pull_forward']:,.0f} ({c['pull_forward_lo']:,.0f} to {c['pull_forward_hi']:,.0f}) | "
                f"{c['planted_cannibalised']:,.0f} / {c['estimated_cannibalised']:,.0f} "
                f"({c['cannibalised_lo']:,.0f} to {c['cannibalised_hi']:,.0f}) | "
                f"{c['planted_promo_elasticity']:.1f} / {c['promo_elasticity']:.2f} "
                f"({c['promo_elasticity_lo']:.2f} to {c['promo_elasticity_hi']:.2f}) | "
                f"{c['planted_price_elasticity']:.1f} / {c['price_elasticity']:.2f} |")
        lines.append("")
    if m5:
        real, fake = m5["real"], m5["fake"]
        lines += ["### M5 store x department: SNAP days as the intervention", "",
                  "Each store's state SNAP days are the intervention on every department; the pooled model has a "
                  "term per department group. Real SNAP days, then fake ones (shifted by "
                  f"{FAKE_SHIFT_DAYS} days, the real ones left out of the baseline):", "",
                  "| group | real SNAP: uplift (95% CI) | episodes significant | fake SNAP: uplift (95% CI) | "
                  "episodes significant |", "|---|---|---|---|---|"]
        fake_rows = {r["group"]: r for r in fake["category"]}
        real_dept = {d["department"]: d for d in real["departments"]}
        fake_dept = {d["department"]: d for d in fake["departments"]}
        for r in real["category"]:
            f = fake_rows.get(r["group"], {})
            share_real = np.mean([d["significant_share"] for k, d in real_dept.items() if k.startswith(r["group"])])
            share_fake = np.mean([d["significant_share"] for k, d in fake_dept.items() if k.startswith(r["group"])])
            lines.append(f"| {r['group']} | {_pct(r['uplift_pct'])} ({_pct(r['uplift_lo'])} to "
                         f"{_pct(r['uplift_hi'])}) | {share_real:.1%} | {_pct(f.get('uplift_pct'))} "
                         f"({_pct(f.get('uplift_lo'))} to {_pct(f.get('uplift_hi'))}) | {share_fake:.1%} |")
        lines += ["", "| department | real: mean episode uplift | fake: mean episode uplift |", "|---|---|---|"]
        for name, d in real_dept.items():
            lines.append(f"| {name} | {_pct(d['uplift_pct'])} | {_pct(fake_dept.get(name, {}).get('uplift_pct'))} |")
        lines += ["", f"Real: {real['episodes']:,} episodes in {real['seconds']:.0f} s (peak "
                      f"{real['peak_rss_mb']:,.0f} MB); placebo false positives "
                      f"{real['placebo']['false_positive_rate']:.1%} pooled, "
                      f"{real['placebo']['raw_false_positive_rate']:.1%} raw; noise calibration "
                      f"x{real['noise_calibration']:.2f}. Fake: {fake['episodes']:,} episodes in "
                      f"{fake['seconds']:.0f} s.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = demo_m5_parser(__doc__)
    args = parser.parse_args(argv)
    summary: dict = {"date": dt.date.today().isoformat(), "machine": machine()}
    demo = m5 = None
    with tempfile.TemporaryDirectory() as folder:
        if not args.no_demo:
            print("demo shop ...", flush=True)
            out = Path(folder) / "demo"
            out.mkdir()
            demo = score_demo(out, run_child(_DEMO, str(out)))
            summary["demo"] = demo
        if not args.no_m5 and M5_PATH.exists():
            m5 = {}
            for label, shift in (("real", 0), ("fake", FAKE_SHIFT_DAYS)):
                print(f"M5 SNAP ({label}) ...", flush=True)
                out = Path(folder) / f"m5_{label}"
                out.mkdir()
                m5[label] = score_m5(out, run_child(_M5, str(shift), str(out)))
            summary["m5_snap"] = m5
    publish("promotions", summary, markdown(demo, m5, summary["machine"]), write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
