"""Seasonality benchmark: speed of the decompositions and of the Seasonality page, and what they recover.

Usage (from the repository root)::

    python benchmarks/decompose.py                        # 1,000 daily series x 3 years; writes results
    python benchmarks/decompose.py --series 200 --no-write

Measured, each in a fresh process (time and that process' peak memory):

* **all series, one pass** — ``core.decompose.panel_decompose`` (batched weighted regression: trend, weekday
  effects, yearly harmonics, robust reweighting, events / promotions / stock-outs left out) plus the strength
  table and the event effects, on a seeded panel from ``core.data.synthetic.generate_series``. Target: under 60 s
  for 1,000 daily series x 3 years on a 2-core laptop.
* **one series, STL/MSTL** — ``core.decompose.decompose`` plus ``core.anomalies.find_anomalies`` (what the chart
  shows) on 100 of those series: milliseconds per series.
* **the page** — ``pages/seasonality.py`` under Streamlit's AppTest on the demo shop: the first visit (all series
  decomposed), then a change of series, and a change back to one already shown. Target: about a second.
* **fidelity** — the demo shop's planted 11.11 uplift per channel against the estimate, and precision / recall
  of planted one-off anomalies (5 seeded series with planted promotions and events, as in tests/test_decompose.py).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import ROOT, machine, machine_line, publish, run_child

TARGET_PANEL_S = 60.0
TARGET_SWITCH_S = 1.5

_PANEL = r"""
import json, sys, time
from core import schema
from core.data.synthetic import generate_series
from core.decompose import DecomposeSettings, event_effects, panel_decompose, strength_table
n_series, n_days = int(sys.argv[1]), int(sys.argv[2])
raw = generate_series(n_series=n_series, n_periods=n_days, seed=11)
frame = raw.rename(columns={"date": schema.DS, "units": schema.Y}).astype({schema.Y: float})
frame.insert(0, schema.UNIQUE_ID, frame["sku"] + " | " + frame["channel"])
start = time.perf_counter()
panel = panel_decompose(frame, schema.DAILY, DecomposeSettings())
table = strength_table(panel, frame)
decomposed = time.perf_counter()
effects = event_effects(panel, frame, by=schema.CHANNEL)
done = time.perf_counter()
print(json.dumps({"decompose_strength_s": decomposed - start, "event_effects_s": done - decomposed,
                  "total_s": done - start, "rows": len(frame), "series": len(table),
                  "nan_strength": int(table["yearly_strength"].isna().sum()), "effect_rows": len(effects)}))
"""

_SINGLE = r"""
import json, sys, time
from core import schema
from core.anomalies import find_anomalies
from core.data.synthetic import generate_series
from core.decompose import DecomposeSettings, decompose, series_frame
n_series, n_days = int(sys.argv[1]), int(sys.argv[2])
raw = generate_series(n_series=n_series, n_periods=n_days, seed=11)
frame = raw.rename(columns={"date": schema.DS, "units": schema.Y}).astype({schema.Y: float})
frame.insert(0, schema.UNIQUE_ID, frame["sku"] + " | " + frame["channel"])
groups = [part for _, part in frame.groupby(schema.UNIQUE_ID)]
decompose(series_frame(groups[0]), schema.DAILY)  # imports and calendar caches warm
timings = {}
for robust in (True, False):
    start = time.perf_counter()
    for part in groups:
        find_anomalies(decompose(series_frame(part), schema.DAILY, DecomposeSettings(robust=robust)))
    timings["robust_ms" if robust else "plain_ms"] = 1000 * (time.perf_counter() - start) / len(groups)
print(json.dumps(timings))
"""

_PAGE = r"""
import json, os, sys, tempfile, time
os.environ["STOCKPILOT_HOME"] = tempfile.mkdtemp()
from streamlit.testing.v1 import AppTest
from core.datasets import load_demo_shop
from core.store import Workspace
load_demo_shop(Workspace())
page = sys.argv[1]
at = AppTest.from_file(page, default_timeout=300)
start = time.perf_counter(); at.run(); first = time.perf_counter() - start
assert not at.exception, at.exception
at.selectbox(key="season_level").set_value("SKU").run()
switches = []
for sku in ("SNK-003 | tmall", "BEV-004 | jd", "HOME-002 | tmall", "PC-005 | jd"):
    start = time.perf_counter(); at.selectbox(key="season_value_SKU").set_value(sku).run()
    switches.append(time.perf_counter() - start)
    assert not at.exception, at.exception
start = time.perf_counter(); at.selectbox(key="season_value_SKU").set_value("SNK-003 | tmall").run()
back = time.perf_counter() - start
print(json.dumps({"first_visit_s": first, "switch_s": sorted(switches), "switch_back_s": back}))
"""

_FIDELITY = r"""
import json, sys
sys.path.insert(0, "tests")
from test_decompose import _planted_series
from core import schema
from core.anomalies import find_anomalies
from core.data.validate import load_sales
from core.decompose import DecomposeSettings, decompose, event_effects, panel_decompose
frame = load_sales("demo_data/sales.csv.gz").frame
truth = json.load(open("demo_data/ground_truth.json", encoding="utf-8"))["event_multipliers"]["singles_day"]["day"]
panel = panel_decompose(frame, schema.DAILY, DecomposeSettings())
effects = event_effects(panel, frame, by=schema.CHANNEL, events=["singles_day"])
day = effects.loc[effects["window"] == "day"].set_index("group")
singles = [{"channel": c, "planted_pct": 100 * (m - 1), "estimate_pct": float(day.loc[c, "uplift_pct"]),
            "lo_pct": float(day.loc[c, "uplift_lo_pct"]), "hi_pct": float(day.loc[c, "uplift_hi_pct"])}
           for c, m in truth.items()]
found = planted_n = hits = explained_called = 0
for seed in range(5):
    series, planted, explained = _planted_series(seed)
    flags = find_anomalies(decompose(series, schema.DAILY, DecomposeSettings()))
    position = {d: i for i, d in enumerate(series[schema.DS])}
    unexplained = {position[d] for d in flags.loc[flags["anomaly"], schema.DS]}
    found += len(unexplained); planted_n += len(planted); hits += len(unexplained & planted)
    explained_called += len(unexplained & explained)
print(json.dumps({"singles_day": singles, "precision": hits / found, "recall": hits / planted_n,
                  "planted": planted_n, "flagged": found, "promo_or_event_called_anomaly": explained_called}))
"""


def markdown(summary: dict) -> str:
    panel, single, page, fidelity = summary["panel"], summary["single"], summary["page"], summary["fidelity"]
    met = "yes" if panel["total_s"] <= TARGET_PANEL_S else "no"
    typical = page["switch_s"][len(page["switch_s"]) // 2]
    lines = [
        "## Seasonality (`benchmarks/decompose.py`)",
        "",
        f"`python benchmarks/decompose.py` on {summary['date']}; each measurement in a fresh process.",
        "",
        machine_line(summary["machine"]),
        "",
        "| measurement | figure | target | met |",
        "|---|---|---|---|",
        f"| all series, one pass: decomposition + strength, {summary['series']:,} daily series x {summary['days']} "
        f"days | {panel['decompose_strength_s']:.1f} s | | |",
        f"| + event effects (11 events x pre/day/post x channel, bootstrap intervals) | "
        f"{panel['event_effects_s']:.1f} s | | |",
        f"| all series, total (peak RSS {panel['peak_rss_mb']:.0f} MB) | {panel['total_s']:.1f} s | "
        f"{TARGET_PANEL_S:.0f} s | {met} |",
        f"| one series, STL/MSTL + anomalies, robust / plain ({summary['single_series']} series) | "
        f"{single['robust_ms']:.0f} / {single['plain_ms']:.0f} ms per series | | |",
        f"| page, first visit on the demo shop (149 series decomposed) | {page['first_visit_s']:.1f} s | | |",
        f"| page, change of series (median of 4; slowest {page['switch_s'][-1]:.2f} s) | {typical:.2f} s | "
        f"about 1 s | {'yes' if typical <= TARGET_SWITCH_S else 'no'} |",
        f"| page, back to a series already shown (cached) | {page['switch_back_s']:.2f} s | | |",
        "",
        "Fidelity: the demo shop's planted 11.11 uplift on the event day, per channel (estimate with its 95% "
        "bootstrap interval):",
        "",
        "| channel | planted | estimate | interval |",
        "|---|---|---|---|",
    ]
    for row in fidelity["singles_day"]:
        lines.append(f"| {row['channel']} | +{row['planted_pct']:.0f}% | {row['estimate_pct']:+.0f}% | "
                     f"{row['lo_pct']:+.0f}% to {row['hi_pct']:+.0f}% |")
    lines += [
        "",
        f"Planted one-off anomalies (5 seeded daily series, {fidelity['planted']} planted, with planted promotions "
        f"and 11.11 / 618 events): precision {fidelity['precision']:.2f}, recall {fidelity['recall']:.2f}; "
        f"promotion or event days called anomalies: {fidelity['promo_or_event_called_anomaly']}.",
        "",
        "The all-series pass is a batched weighted regression (piecewise-linear trend, weekday effects, yearly "
        "harmonics, bisquare reweighting); the chart of one series is STL/MSTL (weekly by STL, the yearly cycle "
        "as a harmonic regression when there are fewer than 8 years). Page times are Streamlit AppTest runs of "
        "the whole page script, chart and tables included, browser rendering excluded.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--days", type=int, default=1096)
    parser.add_argument("--single-series", type=int, default=100)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    summary = {"date": dt.datetime.now().strftime("%Y-%m-%d %H:%M"), "series": args.series, "days": args.days,
               "single_series": args.single_series, "machine": machine()}
    for name, code, argv in (("panel", _PANEL, (str(args.series), str(args.days))),
                             ("single", _SINGLE, (str(args.single_series), str(args.days))),
                             ("page", _PAGE, (str(ROOT / "pages" / "seasonality.py"),)),
                             ("fidelity", _FIDELITY, ())):
        print(f"{name} ...", flush=True)
        summary[name] = run_child(code, *argv)
        print(json.dumps(summary[name]), flush=True)
    publish("decompose", summary, markdown(summary), write=not args.no_write)


if __name__ == "__main__":
    main()
