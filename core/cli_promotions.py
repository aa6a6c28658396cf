"""``python -m core promotions``: what every promotion added, what it took from the days after and from sibling
SKUs, as CSV.

Wired into :mod:`core.cli` by ``add_promotions_command(commands)``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from core import schema

if TYPE_CHECKING:
    from core.causal import PromotionAnalysis

#: The episode table's first columns: which series, when, and what the promotion added.
EPISODE_FIRST = (schema.UNIQUE_ID, "start", "end", "incremental_units", "uplift_pct", "uplift_lo", "uplift_hi")
#: The per-period baseline's columns, CausalImpact-style.
BASELINE_COLUMNS = (schema.UNIQUE_ID, schema.DS, "actual", "counterfactual", "counterfactual_lo", "counterfactual_hi",
                    "pointwise", "phase", "episode_id", "stockout", "in_fit")


def add_promotions_command(commands: argparse._SubParsersAction) -> None:
    """Add the ``promotions`` sub-command to ``python -m core``."""
    from core.cli import (  # here, not at the top: core.cli imports this module
        add_mapping_options,
        country_codes,
        whole_number,
    )
    from core.data.calendar import DEFAULT_COUNTRIES

    parser = commands.add_parser(
        "promotions", help="uplift of every promotion, its pull-forward dip and what it took from sibling SKUs",
        description="Each series' baseline (what would have sold without promotions) is fitted on its ordinary "
                    "days from trend, seasonality, events, holidays, regular price and the same category on other "
                    "channels, and a promotion's uplift is its actual sales over that baseline. Uplifts are pooled "
                    "by category, discount depth and channel so that a short, noisy promotion leans on its peers, "
                    "and fake promotions on ordinary days show how often the method sees an effect that is not "
                    "there. Exit code: 0 done, 2 data rejected or no promotions to analyse, 64 wrong usage.")
    parser.add_argument("file", help="sales file: CSV, TSV, XLSX or Parquet, optionally gzip-compressed, with a "
                                     "promo column (0/1 or the discount) or a price column whose cuts mark promotions")
    add_mapping_options(parser)
    analysis = parser.add_argument_group("analysis")
    analysis.add_argument("--post-periods", type=whole_number(0), metavar="N",
                          help="periods after each promotion checked for a dip in sales (customers who bought "
                               "ahead); default: 7 days, 1 week, none on monthly data")
    analysis.add_argument("--level", type=_level, default=0.95, metavar="P",
                          help="coverage of every interval, e.g. 0.9 (default 0.95)")
    analysis.add_argument("--countries", type=country_codes, default=DEFAULT_COUNTRIES, metavar="CC,...",
                          help=f"public holidays the baseline knows about (default: {','.join(DEFAULT_COUNTRIES)}; "
                               "'' for none)")
    analysis.add_argument("--placebo-per-series", type=whole_number(0), default=2, metavar="N",
                          help="fake promotions placed on ordinary days of each series to test the method "
                               "(default 2; 0 skips the check)")
    analysis.add_argument("--no-controls", dest="controls", action="store_false",
                          help="do not use the same category on other channels or locations as a control")
    analysis.add_argument("--covariates", metavar="COL,...", default="",
                          help="other numeric columns that move demand (e.g. school holidays): inputs of the "
                               "baseline")
    analysis.add_argument("--exclude", metavar="COL,...", default="",
                          help="0/1 columns marking other interventions (another campaign type): those periods "
                               "and the periods after them are left out of the baseline")
    analysis.add_argument("--seed", type=int, default=0, help="random seed for placing the fake promotions "
                                                              "(default 0)")
    analysis.add_argument("--progress", action="store_true", help="print progress to stderr")
    output = parser.add_argument_group("output")
    output.add_argument("--out", metavar="CSV", required=True,
                        help="write one row per promotion: unique_id, start, end, incremental_units, uplift_pct "
                             "with its interval, then the raw uplift, after-promotion dip, effect on sibling SKUs, "
                             "net incremental units, ...")
    output.add_argument("--summary-out", metavar="CSV",
                        help="write the average uplift and the summed effects overall and by category, channel, "
                             "location and discount depth")
    output.add_argument("--elasticity-out", metavar="CSV",
                        help="write the price elasticity per category: of promotional cuts and of regular price "
                             "changes")
    output.add_argument("--placebo-out", metavar="CSV",
                        help="write every fake promotion with its estimated (should be no) uplift")
    output.add_argument("--baseline-out", metavar="CSV",
                        help="write per period of each promoted series: actual, counterfactual with its band, "
                             "their difference and the phase (promotion, after, sibling promotion)")
    output.add_argument("--cleaned-out", metavar="CSV",
                        help="write the sales with promotion effects replaced by the baseline, in the same layout "
                             "as 'validate --out' (date, sku, channel, location, units, ...), for forecasting "
                             "demand without promotions")
    parser.set_defaults(run=_promotions, freq=None)


def _promotions(args: argparse.Namespace) -> int:
    from core.causal import PromotionSettings, analyse_promotions, promotion_cleaned
    from core.cli import EXIT_ACCEPT, comma_list, print_progress, read_clean
    from core.data.validate import to_export_frame

    covariates, exclude = comma_list(args.covariates), comma_list(args.exclude)
    frame, freq, _ = read_clean(args, covariates + exclude)
    settings = PromotionSettings(post_periods=args.post_periods, level=args.level, countries=args.countries,
                                 controls=args.controls, placebo_per_series=args.placebo_per_series, seed=args.seed,
                                 covariates=covariates, exclude=exclude)
    analysis = analyse_promotions(frame, freq, settings, progress=print_progress if args.progress else None)

    episodes = analysis.episodes
    _write(args.out, episodes[list(EPISODE_FIRST) + [c for c in episodes.columns if c not in EPISODE_FIRST]])
    for line in report_lines(analysis):
        print(line, file=sys.stderr)
    written = [f"{len(episodes):,} episodes written to {args.out}"]
    if args.summary_out:
        _write(args.summary_out, analysis.summary)
        written.append(f"summary ({len(analysis.summary):,} rows) written to {args.summary_out}")
    if args.elasticity_out:
        _write(args.elasticity_out, analysis.elasticity)
        written.append(f"price elasticities ({len(analysis.elasticity):,} rows) written to {args.elasticity_out}")
    if args.placebo_out:
        _write(args.placebo_out, analysis.placebo)
        written.append(f"{len(analysis.placebo):,} fake promotions written to {args.placebo_out}")
    if args.baseline_out:
        baseline = baseline_table(analysis)
        _write(args.baseline_out, baseline)
        written.append(f"baseline of {baseline[schema.UNIQUE_ID].nunique():,} series ({len(baseline):,} rows) "
                       f"written to {args.baseline_out}")
    if args.cleaned_out:
        _write(args.cleaned_out, to_export_frame(promotion_cleaned(frame, analysis)))
        written.append(f"sales without promotion effects written to {args.cleaned_out}")
    for line in written:
        print(line[0].upper() + line[1:], file=sys.stderr)
    return EXIT_ACCEPT


def report_lines(analysis: PromotionAnalysis) -> list[str]:
    """What a planner reads first: how many episodes, the pooled average uplift, the placebo check, the caveats."""
    episodes = analysis.episodes
    percent = f"{analysis.settings.level:.0%}"
    measured = int(episodes["uplift_pct"].notna().sum())
    lines = [f"{len(episodes):,} promotion episodes in {episodes[schema.UNIQUE_ID].nunique():,} series"
             + (f" ({measured:,} measured)" if measured < len(episodes) else "")
             + f"; {int(episodes['significant'].sum()):,} with an uplift clearly different from zero."]
    overall = analysis.summary.loc[analysis.summary["level"] == "all"]
    if len(overall) and pd.notna(overall["uplift_pct"].iloc[0]):
        row = overall.iloc[0]
        lines.append(f"Average uplift: {row['uplift_pct']:+.1f}% ({percent} interval {row['uplift_lo']:+.1f}% to "
                     f"{row['uplift_hi']:+.1f}%), {row['incremental_units']:,.0f} incremental units in all, "
                     f"{row['net_incremental_units']:,.0f} after the dip and sibling SKUs.")
    else:
        lines.append("Average uplift: not estimated (no episode had a usable baseline).")
    rates = analysis.placebo_rates
    if rates.get("episodes"):
        lines.append(f"Placebo check: {rates['episodes']:,} fake promotions on ordinary days; "
                     f"{rates['false_positive_rate']:.0%} flagged as an effect "
                     f"({rates['raw_false_positive_rate']:.0%} before pooling); "
                     f"about {1 - analysis.settings.level:.0%} is expected by chance.")
    else:
        lines.append("Placebo check: not run (no fake promotions placed).")
    lines.extend(f"Caveat: {caveat}" for caveat in analysis.caveats)
    return lines


def baseline_table(analysis: PromotionAnalysis) -> pd.DataFrame:
    """Per period of every series with an episode: actual, counterfactual with its band, the pointwise effect,
    the phase and the episode, whether it was a stock-out and whether it trained the baseline."""
    baseline = analysis.baseline
    promoted = baseline[schema.UNIQUE_ID].isin(analysis.episodes[schema.UNIQUE_ID])
    out = baseline.loc[promoted].rename(columns={schema.Y: "actual"})
    out["pointwise"] = out["actual"] - out["counterfactual"]
    return out[list(BASELINE_COLUMNS)].reset_index(drop=True)


def _write(path: str, frame: pd.DataFrame) -> None:
    """Floats to 4 decimals; dates come out as YYYY-MM-DD."""
    from core.cli import csv_ready
    from core.export import to_csv_bytes

    Path(path).write_bytes(to_csv_bytes(csv_ready(frame)))


def _level(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a coverage such as 0.9, got {text!r}") from None
    if not 0.5 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a coverage from 0.5 up to (not including) 1, such as 0.9; "
                                         f"got {value:g}")
    return value
