"""``python -m core decompose``: trend, seasonality, event effects and flagged periods of every series, as CSV.

Wired into :mod:`core.cli` by ``add_decompose_command(commands)``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core import schema

_LEVELS = {"series": "SKU", "category": "Category", "channel": "Channel", "location": "Location", "total": "Total"}


def add_decompose_command(commands: argparse._SubParsersAction) -> None:
    """Add the ``decompose`` sub-command to ``python -m core``."""
    from core.cli import (  # here, not at the top: core.cli imports this module
        add_mapping_options,
        country_codes,
    )
    from core.data.calendar import DEFAULT_COUNTRIES

    parser = commands.add_parser(
        "decompose", help="trend, weekly and yearly seasonality and flagged periods of every series",
        description="Splits each series (or each category, channel or the total) into trend, seasonal components "
                    "and remainder (STL / MSTL, fitted without event days, promotions and stock-outs), and flags "
                    "periods far from it with a reason. Exit code: 0 done, 2 data rejected, 64 wrong usage.")
    parser.add_argument("file", help="sales file: CSV, TSV, XLSX or Parquet, optionally gzip-compressed")
    add_mapping_options(parser)
    fitting = parser.add_argument_group("decomposition")
    fitting.add_argument("--freq", choices=(schema.DAILY, schema.WEEKLY, schema.MONTHLY),
                         help="decompose per day, week or month (default: the data's own)")
    fitting.add_argument("--by", choices=tuple(_LEVELS), default="series",
                         help="decompose each series (default), or the sum per category, channel, location, or total")
    fitting.add_argument("--robust", action=argparse.BooleanOptionalAction, default=True,
                         help="downweight one-off spikes while fitting (default: on)")
    fitting.add_argument("--threshold", type=_positive_float, default=3.5, metavar="Z",
                         help="flag periods whose robust score is beyond Z (default 3.5)")
    fitting.add_argument("--yearly", choices=("auto", "harmonic", "stl"), default="auto",
                         help="how the yearly cycle is estimated (default: STL with 8+ years, else harmonic)")
    fitting.add_argument("--countries", type=country_codes, default=DEFAULT_COUNTRIES, metavar="CC,...",
                         help=f"public holidays treated as events (default: {','.join(DEFAULT_COUNTRIES)}; "
                              "'' for none)")
    fitting.add_argument("--progress", action="store_true", help="print progress to stderr")
    output = parser.add_argument_group("output")
    output.add_argument("--out", metavar="CSV", required=True,
                        help="write unique_id, ds, observed, trend, seasonal_<name>, baseline, remainder, event, ...")
    output.add_argument("--strength-out", metavar="CSV",
                        help="write trend, weekly and yearly strength of every series (batched fit)")
    output.add_argument("--anomalies-out", metavar="CSV", help="write every flagged period with its reason")
    output.add_argument("--effects-out", metavar="CSV",
                        help="write the average effect of each e-commerce event per category (or channel)")
    parser.set_defaults(run=_decompose)


def _decompose(args: argparse.Namespace) -> int:
    from core.anomalies import decompose_all
    from core.cli import EXIT_ACCEPT, csv_ready, print_progress, read_clean
    from core.decompose import (
        DecomposeSettings,
        event_effects,
        panel_decompose,
        strength_table,
    )
    from core.export import to_csv_bytes

    frame, freq, _ = read_clean(args)
    settings = DecomposeSettings(robust=args.robust, threshold=args.threshold, yearly=args.yearly,
                                 countries=args.countries)
    progress = print_progress if args.progress else None

    components, anomalies, skipped = decompose_all(frame, freq, settings, progress=progress, level=_LEVELS[args.by])
    for line in skipped:
        print(f"Skipped {line}", file=sys.stderr)
    Path(args.out).write_bytes(to_csv_bytes(csv_ready(components)))
    print(f"Components of {components[schema.UNIQUE_ID].nunique():,} series ({len(components):,} rows) written to "
          f"{args.out}", file=sys.stderr)
    if args.anomalies_out:
        Path(args.anomalies_out).write_bytes(to_csv_bytes(csv_ready(anomalies)))
        print(f"{len(anomalies):,} flagged periods ({int(anomalies['anomaly'].sum()):,} unexplained) written to "
              f"{args.anomalies_out}", file=sys.stderr)
    if args.strength_out or args.effects_out:
        panel = panel_decompose(frame, freq, settings, progress=progress)
        if args.strength_out:
            Path(args.strength_out).write_bytes(to_csv_bytes(csv_ready(strength_table(panel, frame))))
            print(f"Strength of {len(panel.ids):,} series written to {args.strength_out}", file=sys.stderr)
        if args.effects_out:
            by = next((c for c in (schema.CATEGORY, schema.CHANNEL) if c in frame.columns), None)
            effects = event_effects(panel, frame, by=by)
            Path(args.effects_out).write_bytes(to_csv_bytes(csv_ready(effects)))
            print(f"Event effects by {by or 'all series'} written to {args.effects_out}", file=sys.stderr)
    return EXIT_ACCEPT


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value

