"""Inventory replay: each model's policy run day by day over the last 90 days of the history.

Usage (from the repository root)::

    python benchmarks/replay.py              # demo shop and M5; writes results (about 20 minutes on 2 cores)
    python benchmarks/replay.py --no-m5 --no-write

Measured, each dataset in a fresh process (its time and peak memory), with :func:`core.replay.replay` rules:

* **demo shop** — ``demo_data/sales.csv.gz`` with its snapshot ``demo_data/inventory.csv`` (lead time and its
  spread, review period, MOQ, case pack, unit cost per SKU x channel). The snapshot's order cost is left out, so
  every policy is base stock (``S = s``): the checks are about service, and an EOQ would add the same cycle stock
  to every policy. Models ``snaive``, ``ets``, ``lgbm``, ``tsfm`` (and the active fine-tuned transformer when the
  workspace has one), plus the classic policy, at cycle-service targets 80 %-99.9 %; forecasts every 7 days.
  Checks: achieved cycle service within 3 points of the targets 90 %, 95 % and 98 %; average stock at least 10 %
  below the classic policy at the same achieved service. Then the same policies over the demo's *true* demand
  (``true_demand.csv.gz``: what customers wanted, stock-outs included) to check the stock-out imputation, and
  over the sales with case pack 1 and no MOQ (what the rounding adds to service).
* **M5 store x department** — ``../shared/data/m5_store_dept`` (70 series), no snapshot: lead time 7 days
  (sd 2), review every 7 days, case pack 1, no MOQ, unit cost 1.

Diagnostic: the *protection coverage* — how often the demand over the realised lead time + review period stayed
within the reorder point set at the review (:func:`core.replay.protection_coverage`): the forecast's
calibration over the protection period, before case packs, MOQs and lost sales act.
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import M5_PATH, demo_m5_parser, machine, machine_line, publish, run_child

LEVELS = (0.80, 0.85, 0.90, 0.95, 0.98, 0.99, 0.995, 0.999)
CHECKED = (0.90, 0.95, 0.98)
TOLERANCE = 0.03
STOCK_SAVING = 0.10
MODELS = ("snaive", "ets", "lgbm", "tsfm")

_CHILD = r"""
import dataclasses, json, sys, time
import pandas as pd
sys.path.insert(0, "benchmarks")
from core.replay import ReplayConfig, plan_policies, protection_coverage, simulate
dataset, out, levels, models = sys.argv[1], sys.argv[2], eval(sys.argv[3]), tuple(sys.argv[4].split(","))
try:
    from core.registry import ModelRegistry
    active = ModelRegistry().active()
except Exception:
    active = None
if active is not None:
    models = models + (active.model_name,)
if dataset == "demo":
    from core.data.validate import load_sales
    frame = load_sales("demo_data/sales.csv.gz").frame
    parameters = pd.read_csv("demo_data/inventory.csv").drop(columns=["order_cost"])
    config = ReplayConfig(periods=90, models=models, service_levels=levels, forecast_every=7)
else:
    from accuracy import load_dataset
    frame, known, countries = load_dataset("m5_store_dept")
    parameters = None
    config = ReplayConfig(periods=90, models=models, service_levels=levels, forecast_every=7, known_future=known,
                          countries=countries, default_lead_time_days=7.0, default_lead_time_sd_days=2.0,
                          default_review_period_days=7.0, default_case_pack=1.0, default_moq=0.0,
                          default_unit_cost=1.0)
start = time.perf_counter()
plan = plan_policies(frame, parameters, config, progress=lambda f, m: print(f"{f:.0%} {m}", file=sys.stderr,
                                                                            flush=True))
planned = time.perf_counter() - start
result = simulate(plan)
seconds = time.perf_counter() - start
result.summary.to_parquet(f"{out}/summary.parquet")
result.per_series.to_parquet(f"{out}/per_series.parquet")
protection_coverage(plan).to_parquet(f"{out}/coverage.parquet")
loose = dataclasses.replace(plan, parameters=plan.parameters.assign(case_pack=1.0, moq=0.0))
simulate(loose).summary.to_parquet(f"{out}/unrounded.parquet")
protection_coverage(loose).to_parquet(f"{out}/coverage_unrounded.parquet")
if dataset == "demo":
    truth = pd.read_csv("demo_data/true_demand.csv.gz", parse_dates=["date"])
    truth = pd.DataFrame({"unique_id": truth["sku"] + " | " + truth["channel"], "ds": truth["date"],
                          "y": truth["demand"].astype(float)})
    simulate(plan, truth).summary.to_parquet(f"{out}/true_demand.parquet")
    protection_coverage(plan, truth).to_parquet(f"{out}/coverage_true.parquet")
    censored = int(plan.censored.sum())
else:
    censored = int(plan.censored.sum())
print(json.dumps({"seconds": seconds, "planning_seconds": planned, "model_seconds": result.seconds,
                  "notes": result.notes, "start": f"{result.start:%Y-%m-%d}", "end": f"{result.end:%Y-%m-%d}",
                  "series": len(plan.ids), "censored": censored, "models": list(models)}))
"""


def stock_at(summary: pd.DataFrame, model: str, achieved: float, service: str = "cycle_service_level") -> float:
    """A model's average stock value at an achieved service, interpolated along its own curve (NaN outside)."""
    part = summary.loc[summary["model"] == model].groupby(service)["avg_stock_value"].mean().sort_index()
    x = part.index.to_numpy(dtype=float)
    if not len(x) or achieved < x.min() or achieved > x.max():
        return float("nan")
    return float(np.interp(achieved, x, part.to_numpy()))


def score(folder: Path, run: dict) -> dict:
    from core.replay import CLASSIC, frontier_gap

    summary = pd.read_parquet(folder / "summary.parquet")
    coverage = pd.read_parquet(folder / "coverage.parquet")
    models = [m for m in summary["model"].unique()]
    gaps = pd.concat([frontier_gap(summary, m) for m in models if m != CLASSIC], ignore_index=True)
    checks = {}
    for model in models:
        rows = summary.loc[(summary["model"] == model) & summary["service_level"].isin(CHECKED)]
        off = (rows["cycle_service_level"] - rows["service_level"]).to_numpy()
        saved = {}
        for level in CHECKED:
            ref = stock_at(summary, CLASSIC, level)
            own = stock_at(summary, model, level)
            saved[str(level)] = 1 - own / ref if np.isfinite(ref) and np.isfinite(own) and ref > 0 else None
        checks[model] = {"worst_gap": float(np.max(np.abs(off))), "within": bool(np.all(np.abs(off) <= TOLERANCE)),
                         "saved_at": saved}
    candidates = [m for m in models if m != CLASSIC]
    best = min(candidates, key=lambda m: checks[m]["worst_gap"])
    out = {**run, "summary": summary.to_dict("records"), "coverage": coverage.to_dict("records"),
           "gaps": gaps.to_dict("records"), "checks": checks, "best": best,
           "unrounded": pd.read_parquet(folder / "unrounded.parquet").to_dict("records"),
           "coverage_unrounded": pd.read_parquet(folder / "coverage_unrounded.parquet").to_dict("records")}
    if (folder / "true_demand.parquet").exists():
        out["true_demand"] = pd.read_parquet(folder / "true_demand.parquet").to_dict("records")
        out["coverage_true"] = pd.read_parquet(folder / "coverage_true.parquet").to_dict("records")
    return out


def _saved(value) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:+.1%}"


def _table(result: dict) -> list[str]:
    summary = pd.DataFrame(result["summary"])
    gaps = pd.DataFrame(result["gaps"]).set_index(["model", "service_level"])
    coverage = pd.DataFrame(result["coverage"]).set_index(["model", "service_level"])
    lines = [("| model | target | achieved CSL | protection coverage | fill rate | stockout days | lost units | "
             "avg stock value | orders | stock saved vs classic at same CSL |"), "|---|---|---|---|---|---|---|---|---|---|"]
    for row in summary.itertuples():
        key = (row.model, row.service_level)
        saved = gaps["stock_saved"].get(key, np.nan) if key in gaps.index else np.nan
        lines.append(f"| {row.model} | {row.service_level:.1%} | {row.cycle_service_level:.1%} | "
                     f"{coverage['coverage'].get(key, np.nan):.1%} | {row.fill_rate:.2%} | {row.stockout_days:,} | "
                     f"{row.lost_units:,.0f} | {row.avg_stock_value:,.0f} | {row.orders:,} | {_saved(saved)} |")
    return lines


def _checks(result: dict) -> list[str]:
    lines = [("| model | achieved CSL at targets 90 / 95 / 98% | within 3 points | stock vs classic at achieved "
             "CSL 90 / 95 / 98% |"), "|---|---|---|---|"]
    summary = pd.DataFrame(result["summary"])
    for model, check in result["checks"].items():
        rows = summary.loc[(summary["model"] == model) & summary["service_level"].isin(CHECKED)]
        achieved = " / ".join(f"{v:.1%}" for v in rows.sort_values("service_level")["cycle_service_level"])
        saved = " / ".join(_saved(check["saved_at"][str(level)]) for level in CHECKED)
        best = " (best calibrated)" if model == result["best"] else ""
        lines.append(f"| {model}{best} | {achieved} | {'yes' if check['within'] else 'no'} (worst "
                     f"{check['worst_gap']:+.1%}) | {saved if model != 'classic' else '-'} |")
    return lines


def _compare(result: dict, key: str, title: str) -> list[str]:
    base = pd.DataFrame(result["summary"]).set_index(["model", "service_level"])
    other = pd.DataFrame(result[key]).set_index(["model", "service_level"])
    lines = [title, "", "| model | target | achieved CSL (sales, imputed) | achieved CSL (" + key.replace("_", " ")
             + ") | fill rate | fill rate (" + key.replace("_", " ") + ") |", "|---|---|---|---|---|---|"]
    for (model, level) in base.index:
        if level not in CHECKED:
            continue
        a, b = base.loc[(model, level)], other.loc[(model, level)]
        lines.append(f"| {model} | {level:.0%} | {a['cycle_service_level']:.1%} | {b['cycle_service_level']:.1%} | "
                     f"{a['fill_rate']:.2%} | {b['fill_rate']:.2%} |")
    return lines + [""]


def markdown(demo: dict | None, m5: dict | None, m: dict) -> str:
    today = dt.date.today().isoformat()
    lines = ["## Inventory replay (`benchmarks/replay.py`)", "",
             (f"{machine_line(m)} Run on {today}. Each dataset ran in a fresh process (time and peak memory are that "
             "process's own)."), "",
             ("Rules (`core/replay.py`): the last 90 days held out; every 7 days each model is fitted on the rows "
             "before that day only and draws 200 sample paths (planned promotions and prices of the forecast days "
             "given); each series reviews every R days and orders up to its reorder point (base stock, whole case "
             "packs, at least the MOQ); realised lead time max(1, round(L + sd z)) with the same draws for every "
             "policy; lost sales; each policy starts in its own steady state. Achieved CSL: share of review cycles "
             "[t+L, t+L+R) wholly inside the 90 days with no lost sale. *Protection coverage*: share of reviews "
             "whose realised demand over lead time + review period stayed within the reorder point (the forecast's "
             "calibration, before case packs, MOQs and lost sales). *Classic*: the seasonal naive rate (last 7 "
             "days) x (L+R) + z sqrt((L+R) sigma^2 + mu^2 sigma_L^2), sigma over the last 56 days. Stock saved: "
             "1 - stock / the classic's stock at the same achieved CSL, interpolated along the classic's curve "
             "(n/a: outside the service range the classic reached)."), ""]
    for name, result, title in (("demo", demo, "Demo shop, last 90 days"),
                                ("m5", m5, "M5 store x department, last 90 days")):
        if not result:
            continue
        seconds = ", ".join(f"{k} {v:.0f} s" for k, v in result["model_seconds"].items())
        lines += [f"### {title} ({result['start']} to {result['end']}, {result['series']} series)", "",
                  (f"Total {result['seconds']:.0f} s (peak {result['peak_rss_mb']:,.0f} MB); per model (13 origins): "
                  f"{seconds}."), ""]
        lines += [f"- {note}" for note in result["notes"]] + [""]
        lines += _checks(result) + [""]
        lines += _table(result) + [""]
        if "true_demand" in result:
            lines += _compare(result, "true_demand", "Replayed over the demo's true demand (a check of the stock-out "
                                                    "imputation; the same orders policy by policy):")
        lines += _compare(result, "unrounded", "The same policies with case pack 1 and no MOQ (what rounding adds):")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = demo_m5_parser(__doc__)
    parser.add_argument("--models", default=",".join(MODELS))
    args = parser.parse_args(argv)
    summary: dict = {"date": dt.date.today().isoformat(), "machine": machine(), "levels": LEVELS}
    demo = m5 = None
    with tempfile.TemporaryDirectory() as folder:
        if not args.no_demo:
            print("demo shop ...", flush=True)
            out = Path(folder) / "demo"
            out.mkdir()
            demo = score(out, run_child(_CHILD, "demo", str(out), repr(LEVELS), args.models))
            summary["demo"] = demo
        if not args.no_m5 and M5_PATH.exists():
            print("M5 store x department ...", flush=True)
            out = Path(folder) / "m5"
            out.mkdir()
            m5 = score(out, run_child(_CHILD, "m5", str(out), repr(LEVELS), args.models))
            summary["m5_store_dept"] = m5
    publish("replay", summary, markdown(demo, m5, summary["machine"]), write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
