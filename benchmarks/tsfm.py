"""Zero-shot benchmark of the pretrained transformer: accuracy, ablations and speed, by one command.

Usage (from the repository root)::

    python benchmarks/tsfm.py                                   # the shipped checkpoint; writes results
    python benchmarks/tsfm.py --checkpoint DIR --no-write       # any checkpoint (e.g. a short pretraining run)
    python benchmarks/tsfm.py --datasets m5_store_dept --variants zero-shot --no-write --json-out F

Protocol: the one of ``benchmarks/accuracy.py`` (daily data, horizon 28, 3 rolling windows that do not overlap,
each forecast made from the data up to its cutoff only), and the same datasets and mapping. The transformer is
never trained on these datasets: every figure is zero-shot. Variants (each in its own process):

* ``zero-shot`` -- the forecaster as the product runs it (planned promotions and prices; the event calendar
  when it forecast the last periods before the cutoff better; bands calibrated on those periods);
* ``uncalibrated`` -- the network's own quantiles;
* ``no-covariates`` -- promotions, prices and events blanked: what the covariate inputs add.

Speed: the series per second of a 28-day quantile forecast (fitting, inputs, network, the held-out check and
calibration included; the checkpoint loaded and one small forecast made first) on a seeded panel of 5,000 daily
series with three years of history.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import tempfile
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy import DATASETS, PEERS, available_datasets, load_dataset, protocol_parser  # noqa: I001
from harness import RESULTS_DIR, ROOT, machine, machine_line, publish, run_child

sys.path.insert(0, str(ROOT))
from core import metrics
from core.backtest import CUTOFF

VARIANTS: dict[str, dict] = {
    "zero-shot": {},
    "uncalibrated": {"calibrate": False},
    "no-covariates": {"covariates": False},
}
#: targets from the issue: relMASE, WQL at most; 80% coverage between
TARGETS = {"m5_store_dept": (0.74, 0.072), "rossmann": (0.68, 0.14)}
COVERAGE_TARGET = (0.75, 0.85)
SPEED_TARGET = 1000

_CHILD = r"""
import json, sys, time
sys.path.insert(0, "benchmarks")
from accuracy import load_dataset
from core.backtest import BacktestConfig, cross_validation
name, settings, h, windows, out = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
frame, known, countries = load_dataset(name)
import functools
import core.models.tsfm as tsfm
original = tsfm.TSFMForecaster.__init__
@functools.wraps(original)  # keeps the signature: make_model passes only the settings __init__ declares
def configured(self, *args, **kwargs):
    original(self, *args, **{**kwargs, **settings})
tsfm.TSFMForecaster.__init__ = configured
config = BacktestConfig(h=h, n_windows=windows, models=("tsfm",), known_future=known, countries=countries,
                        auto=False)
result = cross_validation(frame, config)
result.results.to_parquet(out)
print(json.dumps({"seconds": result.seconds["tsfm"]}))
"""

_SPEED = r"""
import json, sys, time
import numpy as np
from core import schema
from core.data.synthetic import generate_series
from core.models.tsfm import TSFMForecaster, load_network
settings, n_series = json.loads(sys.argv[1]), int(sys.argv[2])
sales = generate_series(n_series, 3 * 365, seed=0)
frame = sales.rename(columns={"date": "ds", "units": "y", "sku": "unique_id"})
load_network(settings.get("checkpoint"))
warm = frame[frame["unique_id"].isin(frame["unique_id"].unique()[:50])]
TSFMForecaster(**settings).fit(warm).predict(28)  # torch and calendar caches warm, as in a running app
out = {}
for calibrate in (True, False):
    start = time.perf_counter()
    forecast = TSFMForecaster(calibrate=calibrate, **settings).fit(frame).predict(28)
    seconds = time.perf_counter() - start
    out["calibrated" if calibrate else "uncalibrated"] = {"seconds": seconds, "series_per_s": n_series / seconds}
import torch
out["threads"] = torch.get_num_threads()
print(json.dumps(out))
"""


def run_dataset(name: str, variants: list[str], checkpoint: str | None, h: int, windows: int) -> dict:
    frame, _, _ = load_dataset(name)
    runs, merged = {}, None
    with tempfile.TemporaryDirectory() as folder:
        for variant in variants:
            settings = dict(VARIANTS[variant], **({"checkpoint": checkpoint} if checkpoint else {}))
            out = str(Path(folder) / f"{variant}.parquet")
            print(f"  {name}: {variant} ...", flush=True)
            runs[variant] = run_child(_CHILD, name, json.dumps(settings), str(h), str(windows), out)
            part = pd.read_parquet(out)
            part = part.rename(columns=lambda c: c.replace("tsfm", variant) if c.startswith("tsfm") else c)
            merged = part if merged is None else merged.merge(part.drop(columns=["y"]),
                                                              on=["unique_id", "ds", CUTOFF])
    first_cutoff = merged[CUTOFF].min()
    history = frame.loc[frame["ds"] <= first_cutoff]
    merged["snaive"] = _seasonal_naive(frame, merged)
    scales = metrics.seasonal_scales(history, 7)
    table = metrics.summarize(merged, scales, [*variants, "snaive"], "snaive")
    table = table.loc[table["model"] != "snaive"].reset_index(drop=True)
    table["seconds"] = table["model"].map({v: r["seconds"] for v, r in runs.items()})
    table["peak_rss_mb"] = table["model"].map({v: r["peak_rss_mb"] for v, r in runs.items()})
    return {"dataset": name, "series": int(frame["unique_id"].nunique()),
            "cutoffs": [f"{c:%Y-%m-%d}" for c in sorted(merged[CUTOFF].unique())],
            "table": table.to_dict(orient="records")}


def _seasonal_naive(frame: pd.DataFrame, results: pd.DataFrame) -> pd.Series:
    """The weekly seasonal naive forecast of each backtest row (the relMASE baseline, as in accuracy.py)."""
    from core.models import make_model

    out = pd.Series(index=results.index, dtype=float)
    for cutoff, rows in results.groupby(CUTOFF):
        h = int(rows["ds"].nunique())
        forecast = make_model("snaive").fit(frame.loc[frame["ds"] <= cutoff]).predict(h, quantiles=())
        keyed = rows[["unique_id", "ds"]].merge(forecast, on=["unique_id", "ds"], how="left")
        out.loc[rows.index] = keyed["snaive"].to_numpy()
    return out


def reference_rows() -> dict[str, list[dict]]:
    """The other models' figures from the last accuracy benchmark (same protocol), for comparison."""
    path = RESULTS_DIR / "accuracy.json"
    if not path.exists():
        return {}
    saved = json.loads(path.read_text())
    return {r["dataset"]: [row for row in r["table"] if row["model"] in ("ets", "lgbm")] for r in saved["results"]}


def markdown(summary: dict) -> str:
    card = summary.get("card", {})
    lines = [
        "## Pretrained transformer, zero-shot (`benchmarks/tsfm.py`)",
        "",
        f"`python benchmarks/tsfm.py` on {summary['date']}: checkpoint `{summary['checkpoint']}`"
        + (f" ({card.get('steps', '?'):,} steps, {card.get('wall_time_s', 0) / 60:.0f} min of pretraining)"
           if card else "") + f"; horizon {summary['h']} days, {summary['windows']} rolling windows, the "
        "protocol of the accuracy section. The network never saw these datasets.",
        "",
        machine_line(summary["machine"]),
        "",
        "Variants: *zero-shot* is what the product runs (planned promotions and prices read; the event calendar "
        "read when it forecast the last periods before the cutoff better; bands calibrated on those periods); *uncalibrated* keeps the network's own "
        "quantiles; *no-covariates* blanks promotions, prices and events (the ablation of the covariate head). "
        "ETS and LightGBM rows are from the accuracy section, for comparison.",
    ]
    references = reference_rows()
    for result in summary["results"]:
        name = result["dataset"]
        lines += ["", f"### {name}: {DATASETS[name]['note']}", "",
                  f"{result['series']:,} series; cutoffs {', '.join(result['cutoffs'])}.", "",
                  "| model | relMASE | WAPE | bias | WQL | cov80 | cov95 | seconds |", "|---|---|---|---|---|---|---|---|"]
        for row in result["table"]:
            seconds = "" if pd.isna(row.get("seconds")) else f"{row['seconds']:.1f}"
            lines.append(f"| tsfm {row['model']} | {row['rel_mase']:.3f} | {row['wape']:.3f} | {row['bias']:+.3f} "
                         f"| {row['wql']:.3f} | {row['coverage_80']:.2f} | {row['coverage_95']:.2f} | {seconds} |")
        for row in references.get(name, []):
            lines.append(f"| *{row['model']} (accuracy section)* | {row['rel_mase']:.3f} | {row['wape']:.3f} | "
                         f"{row['bias']:+.3f} | {row['wql']:.3f} | {row['coverage_80']:.2f} | "
                         f"{row['coverage_95']:.2f} | |")
        for peer, (rel, wql) in PEERS.get(name, {}).items():
            lines.append(f"| *{peer} (peer)* | {rel:.3f} | | | {'' if wql is None else f'{wql:.3f}'} | | | |")
        if name in TARGETS:
            zero = next((r for r in result["table"] if r["model"] == "zero-shot"), None)
            if zero:
                rel_t, wql_t = TARGETS[name]
                met = (zero["rel_mase"] <= rel_t, zero["wql"] <= wql_t,
                       COVERAGE_TARGET[0] <= zero["coverage_80"] <= COVERAGE_TARGET[1])
                lines += ["", f"Targets: relMASE ≤ {rel_t} ({'met' if met[0] else 'not met'}), WQL ≤ {wql_t} "
                          f"({'met' if met[1] else 'not met'}), 80% coverage in {COVERAGE_TARGET[0]}-"
                          f"{COVERAGE_TARGET[1]} ({'met' if met[2] else 'not met'})."]
    if summary.get("speed"):
        speed = summary["speed"]
        lines += ["", "### Speed", "",
                  f"A 28-day quantile forecast for {speed['series']:,} daily series (3 years of history each), "
                  f"{speed['threads']} torch threads, in a fresh process after one small warm-up forecast (fitting, "
                  "inputs, network, held-out check and calibration included):", "",
                  "| | seconds | series per second | target |", "|---|---|---|---|"]
        for key in ("calibrated", "uncalibrated"):
            part = speed[key]
            lines.append(f"| {key} | {part['seconds']:.1f} | {part['series_per_s']:,.0f} | ≥ {SPEED_TARGET:,} |")
    return "\n".join(lines)


def main() -> None:
    parser = protocol_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated (default: all)")
    parser.add_argument("--checkpoint", help="checkpoint folder (default: the shipped one)")
    parser.add_argument("--speed-series", type=int, default=5000, help="0 skips the speed measurement")
    parser.add_argument("--json-out", help="also write the summary to this file")
    args = parser.parse_args()
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    results = [run_dataset(name, variants, args.checkpoint, args.horizon, args.windows)
               for name in available_datasets(args.datasets)]
    speed = None
    if args.speed_series:
        settings = {"checkpoint": args.checkpoint} if args.checkpoint else {}
        speed = run_child(_SPEED, json.dumps(settings), str(args.speed_series))
        speed["series"] = args.speed_series
    from core.models.tsfm import CONFIG_FILE, SHIPPED_CHECKPOINT

    folder = Path(args.checkpoint) if args.checkpoint else SHIPPED_CHECKPOINT
    card = json.loads((folder / CONFIG_FILE).read_text()).get("card", {})
    shown = str(folder.resolve().relative_to(ROOT)) if folder.resolve().is_relative_to(ROOT) else str(folder)
    summary = {"date": dt.datetime.now().strftime("%Y-%m-%d %H:%M"), "h": args.horizon, "windows": args.windows,
               "checkpoint": shown, "card": {k: card.get(k) for k in ("steps", "wall_time_s", "machine")},
               "machine": machine(), "results": results, "speed": speed}
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(summary, indent=1, default=str))
    publish("tsfm", summary, markdown(summary), write=not args.no_write)


if __name__ == "__main__":
    main()
