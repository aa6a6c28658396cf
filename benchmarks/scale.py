"""Scale benchmark: fit and 28-day quantile forecast for 10,000 daily series x 2 years, per model.

Usage (from the repository root)::

    python benchmarks/scale.py                          # 10,000 series x 730 days, ETS and LightGBM; writes results
    python benchmarks/scale.py --series 1000 --no-write # a quicker look

The panel comes from the project's seeded generator (``core.data.synthetic.generate_series``: level, trend,
yearly and weekday cycles, promotions with price cuts, negative-binomial counts). Each model runs in a fresh
process; the time is ``fit`` plus ``predict(28)`` with the 13 default quantile levels (data generation excluded),
the memory the process' own peak resident set, data included.

Targets on the reference 2-core laptop: LightGBM under 2 minutes, ETS under 5 minutes, peak under 8 GB.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import machine, machine_line, publish, run_child

TARGETS = {"lgbm": 120.0, "ets": 300.0}
TARGET_PEAK_MB = 8 * 1024

_CHILD = r"""
import json, sys, time
from core import schema
from core.data.synthetic import generate_series
from core.models import make_model
n_series, n_days, model_name = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
raw = generate_series(n_series=n_series, n_periods=n_days, seed=11)
frame = raw.rename(columns={"date": schema.DS, "units": schema.Y})
frame.insert(0, schema.UNIQUE_ID, frame["sku"].astype(str) + " | " + frame["channel"].astype(str))
start = time.perf_counter()
model = make_model(model_name, freq="D")
model.fit(frame)
fitted = time.perf_counter()
forecast = model.predict(28)
done = time.perf_counter()
print(json.dumps({"fit_s": fitted - start, "predict_s": done - fitted, "total_s": done - start,
                  "rows_in": len(frame), "rows_out": len(forecast), "nan_out": int(forecast.isna().sum().sum())}))
"""


def markdown(summary: dict) -> str:
    lines = [
        "## Scale (`benchmarks/scale.py`)",
        "",
        f"`python benchmarks/scale.py` on {summary['date']}: {summary['series']:,} daily series x "
        f"{summary['days']} days ({summary['series'] * summary['days']:,} rows), fit + 28-day forecast with 13 "
        "quantile levels, each model in a fresh process.",
        "",
        machine_line(summary["machine"]),
        "",
        "| model | fit s | predict s | total s | target s | peak RSS MB | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in summary["runs"]:
        target = TARGETS.get(row["model"])
        met = "" if target is None else (
            "yes" if row["total_s"] <= target and row["peak_rss_mb"] <= TARGET_PEAK_MB else "no")
        lines.append(f"| {row['model']} | {row['fit_s']:.1f} | {row['predict_s']:.1f} | {row['total_s']:.1f} | "
                     f"{target or ''} | {row['peak_rss_mb']:.0f} | {met} |")
    lines += ["", "Peak RSS includes the interpreter, the generated data and the forecast frame "
              f"(target under {TARGET_PEAK_MB // 1024} GB)."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--models", default="lgbm,ets")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    runs = []
    for model in [m.strip() for m in args.models.split(",") if m.strip()]:
        print(f"{model} ...", flush=True)
        result = run_child(_CHILD, str(args.series), str(args.days), model)
        result["model"] = model
        runs.append(result)
        print(json.dumps(result))
    summary = {"date": dt.datetime.now().strftime("%Y-%m-%d %H:%M"), "series": args.series, "days": args.days,
               "machine": machine(), "runs": runs}
    publish("scale", summary, markdown(summary), write=not args.no_write)


if __name__ == "__main__":
    main()
