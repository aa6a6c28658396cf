"""Speed of the reorder plan: 10,000 SKUs from sales to plan (target < 30 s) and its XLSX (target < 15 s).

    python benchmarks/plan.py                 # 10,000 series; writes the "plan" section of RESULTS.md
    python benchmarks/plan.py --series 2000 --no-write

The panel comes from the project's seeded generator (``core.data.synthetic.generate_series``: one year of daily
sales per series, promotions and prices); the snapshot is seeded too (lead times 3-14 days with 10-30% spread, review
periods 3/7/14 days, case packs, MOQs, unit and order costs). The plan uses the product's default model (the
zero-shot transformer) and settings, 400 demand paths per SKU. Each measurement runs in a fresh process.
"""

from __future__ import annotations

import argparse
import time

from harness import machine, machine_line, publish, run_child

_CHILD = r"""
import json, sys, time
import numpy as np, pandas as pd
from core import schema
from core.data.synthetic import generate_series
from core.models.tsfm import load_network
from core.plan import PlanSettings, build_plan, prepare_plan
from core.plan_export import plan_workbook

n_series = int(sys.argv[1])
sales = generate_series(n_series, 365, seed=0)
frame = sales.rename(columns={"date": schema.DS, "units": schema.Y})
frame[schema.UNIQUE_ID] = frame[schema.SKU]
rng = np.random.default_rng(1)
ids = frame[schema.UNIQUE_ID].unique()
lead = rng.integers(3, 15, len(ids)).astype(float)
pack = rng.choice([1, 6, 12, 24], len(ids)).astype(float)
snapshot = pd.DataFrame({
    schema.UNIQUE_ID: ids, schema.SKU: ids, "on_hand": rng.integers(0, 300, len(ids)).astype(float),
    "on_order": rng.integers(0, 2, len(ids)) * 50.0, "lead_time_days": lead,
    "lead_time_sd_days": np.round(lead * rng.uniform(0.1, 0.3, len(ids)), 1),
    "review_period_days": rng.choice([3.0, 7.0, 14.0], len(ids)), "moq": pack * rng.choice([1, 2], len(ids)),
    "case_pack": pack, "unit_cost": np.round(rng.uniform(2, 80, len(ids)), 2), "order_cost": 30.0,
})
load_network()  # the checkpoint is loaded once per running app
out = {"series": len(ids), "rows": len(frame)}
start = time.perf_counter()
inputs = prepare_plan(frame, "D", snapshot, model="tsfm", known_future=("promo", "price"))
out["prepare_s"] = time.perf_counter() - start
start = time.perf_counter()
plan = build_plan(inputs, PlanSettings())
out["build_s"] = time.perf_counter() - start
out["plan_s"] = out["prepare_s"] + out["build_s"]
start = time.perf_counter()
budgeted = build_plan(inputs, PlanSettings(budget=plan.summary["order_value"] / 2))
out["what_if_budget_s"] = time.perf_counter() - start
start = time.perf_counter()
data = plan_workbook(plan)
out["xlsx_s"] = time.perf_counter() - start
out["xlsx_mb"] = len(data) / 1e6
out["forecast_rows"] = len(plan.forecast)
out["orders"] = plan.summary["orders"]
out["horizon"] = int(inputs.paths.shape[2])
out["samples"] = int(inputs.paths.shape[1])
print(json.dumps(out))
"""


def markdown(result: dict, m: dict) -> str:
    when = time.strftime("%Y-%m-%d %H:%M")
    def met(value: float, target: float) -> str:
        return "yes" if value < target else "no"

    return "\n".join([
        "## Reorder plan speed (`benchmarks/plan.py`)",
        "",
        f"`python benchmarks/plan.py` on {when}: {result['series']:,} daily series (one year each, "
        f"{result['rows']:,} rows) and a seeded snapshot; the zero-shot transformer, {result['samples']} demand "
        f"paths per SKU over {result['horizon']} days; a fresh process with the checkpoint loaded.",
        "",
        machine_line(m),
        "",
        "| step | seconds | target | met |",
        "|---|---|---|---|",
        f"| fit and draw demand paths (`prepare_plan`) | {result['prepare_s']:.1f} | | |",
        f"| policy for every SKU (`build_plan`) | {result['build_s']:.1f} | | |",
        f"| plan, total | {result['plan_s']:.1f} | 30 | {met(result['plan_s'], 30)} |",
        f"| what-if: the same plan under a budget (priority list) | {result['what_if_budget_s']:.1f} | | |",
        f"| XLSX ({result['xlsx_mb']:.1f} MB; plan, forecast with {result['forecast_rows']:,} rows, parameters, "
        f"issues) | {result['xlsx_s']:.1f} | 15 | {met(result['xlsx_s'], 15)} |",
        "",
        f"Peak resident memory of the process: {result['peak_rss_mb']:,.0f} MB. {result['orders']:,} of the "
        f"{result['series']:,} SKUs get an order.",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    result = run_child(_CHILD, str(args.series))
    m = machine()
    publish("plan", {**result, "machine": m}, markdown(result, m), write=not args.no_write)


if __name__ == "__main__":
    main()
