"""Explanation speed: SHAP of 1,000 LightGBM forecasts and of one transformer forecast, on 2 cores.

Usage (from the repository root)::

    python benchmarks/explain.py              # the demo shop; writes results
    python benchmarks/explain.py --no-write

Each part runs in a fresh process. The model is fitted first (not timed as explanation); then
``core.explain.explain_lgbm`` explains 1,000 forecasts (36 series x 28 days, a seeded sample) and all 4,172, and
``core.explain_tsfm.explain_tsfm`` explains one series' 28-day transformer forecast and then 50 series'. Also
checked: the largest gap between base value plus contributions and the model's own ``predict`` output.
Targets (from the issue): 1,000 LightGBM forecasts in under 20 s; one transformer forecast in under 3 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import machine, machine_line, publish, run_child  # noqa: I001

TARGET_LGBM_S = 20.0
TARGET_TSFM_S = 3.0

_SETUP = r"""
import json, sys, time
import numpy as np
from core import schema
from core.data.validate import load_sales
from core.explain import sample_ids
from core.models import make_model
from core.models.base import PLANNED_COLUMNS
result = load_sales("demo_data/sales.csv.gz")
frame = result.frame
known = tuple(c for c in PLANNED_COLUMNS if c in frame.columns)
ids = frame[schema.UNIQUE_ID].unique().tolist()
"""

_LGBM = _SETUP + r"""
from core.explain import explain_lgbm
model = make_model("lgbm", freq="D", known_future=known)
start = time.perf_counter(); model.fit(frame); fit_s = time.perf_counter() - start
point = model.predict(28).set_index([schema.UNIQUE_ID, schema.DS])["lgbm"]
out = {"fit_s": fit_s}
for label, chosen in (("sample", sample_ids(ids, 36, seed=0)), ("all", None)):
    start = time.perf_counter()
    explanation = explain_lgbm(model, 28, ids=chosen)
    seconds = time.perf_counter() - start
    table = explanation.forecasts.set_index([schema.UNIQUE_ID, schema.DS])
    gap = float(np.max(np.abs(table["prediction"] - point.reindex(table.index))))
    out[label] = {"forecasts": len(table), "seconds": seconds, "tolerance": explanation.tolerance, "vs_predict": gap}
print(json.dumps(out))
"""

_TSFM = _SETUP + r"""
from core.explain_tsfm import explain_tsfm
model = make_model("tsfm", freq="D", known_future=known)
start = time.perf_counter(); model.fit(frame); fit_s = time.perf_counter() - start
point = model.predict(28).set_index([schema.UNIQUE_ID, schema.DS])["tsfm"]
out = {"fit_s": fit_s}
explain_tsfm(model, 28, ids=ids[:1])  # loads and warms the network, as the page's cached model would be
for label, chosen in (("one", sample_ids(ids, 1, seed=1)), ("fifty", sample_ids(ids, 50, seed=0))):
    start = time.perf_counter()
    explanation = explain_tsfm(model, 28, ids=chosen)
    seconds = time.perf_counter() - start
    table = explanation.forecasts.set_index([schema.UNIQUE_ID, schema.DS])
    gap = float(np.max(np.abs(table["prediction"] - point.reindex(table.index))))
    out[label] = {"series": len(chosen), "forecasts": len(table), "seconds": seconds,
                  "tolerance": explanation.tolerance, "vs_predict": gap, "method": explanation.method}
print(json.dumps(out))
"""


def markdown(lgbm: dict, tsfm: dict | None, m: dict) -> str:
    lines = ["## Explanations (`benchmarks/explain.py`)", "",
             f"{machine_line(m)} Run on {dt.date.today().isoformat()}, on the demo shop (149 series, horizon 28 "
             "days). Each model in a fresh process; fitting is not counted as explaining.", "",
             "| what | forecasts | seconds | target | met | largest gap: base + contributions vs prediction | "
             "vs the model's predict() | peak memory |", "|---|---|---|---|---|---|---|---|"]
    for label, name in (("sample", "LightGBM, 36 series (seeded sample)"), ("all", "LightGBM, all series")):
        r = lgbm[label]
        target = TARGET_LGBM_S * r["forecasts"] / 1000
        lines.append(f"| {name} | {r['forecasts']:,} | {r['seconds']:.1f} | < {target:.0f} s (20 s per 1,000) | "
                     f"{'yes' if r['seconds'] < target else 'no'} | {r['tolerance']:.1e} | {r['vs_predict']:.1e} | "
                     f"{lgbm['peak_rss_mb']:,.0f} MB |")
    if tsfm:
        for label, name in (("one", "transformer, one series"), ("fifty", "transformer, 50 series")):
            r = tsfm[label]
            target = TARGET_TSFM_S * r["series"]
            lines.append(f"| {name} | {r['forecasts']:,} | {r['seconds']:.2f} | < {target:.0f} s (3 s per series) "
                         f"| {'yes' if r['seconds'] < target else 'no'} | {r['tolerance']:.1e} | "
                         f"{r['vs_predict']:.1e} | {tsfm['peak_rss_mb']:,.0f} MB |")
    lines += ["", f"Model fitting, not included above: LightGBM {lgbm['fit_s']:.0f} s"
              + (f", transformer {tsfm['fit_s']:.0f} s." if tsfm else ".")]
    if tsfm:
        lines += ["", f"Transformer method: {tsfm['one']['method']}"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--no-tsfm", action="store_true")
    args = parser.parse_args(argv)
    print("LightGBM ...", flush=True)
    lgbm = run_child(_LGBM)
    tsfm = None
    if not args.no_tsfm:
        print("transformer ...", flush=True)
        tsfm = run_child(_TSFM)
    summary = {"date": dt.date.today().isoformat(), "machine": machine(), "lgbm": lgbm, "tsfm": tsfm}
    publish("explain", summary, markdown(lgbm, tsfm, summary["machine"]), write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
