"""``python -m core explain``: SHAP contributions of every forecast, as long CSV rows that add up.

Wired into :mod:`core.cli` by ``add_explain_command(commands)``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core import schema


def add_explain_command(commands: argparse._SubParsersAction) -> None:
    """Add the ``explain`` sub-command to ``python -m core``."""
    from core.cli import _positive, add_sales_options

    parser = commands.add_parser(
        "explain", help="why each forecast is what it is: the contribution of every input, in units",
        description="Fits the model on the whole history and explains its point forecasts: LightGBM by exact tree "
                    "SHAP, the transformer by exact Shapley values over groups of its inputs (blocks of recent "
                    "sales, promotions, prices, events). Per forecast, base_value plus the contributions equals "
                    "the prediction. Exit code: 0 done, 2 data rejected, 64 wrong usage.")
    group = add_sales_options(parser, "explanation")
    group.add_argument("--model", default="lgbm", metavar="MODEL",
                       help="lgbm (default), tsfm, or tsfm@VERSION for a fine-tuned version")
    group.add_argument("--horizon", type=_positive, metavar="H",
                       help="periods to forecast and explain (default: 28 days, 12 weeks or 6 months)")
    group.add_argument("--series", metavar="ID,...", help="explain only these series (unique_id as in the output)")
    group.add_argument("--sample", type=_positive, metavar="N",
                       help="explain a random sample of N series (seeded by --seed)")
    group.add_argument("--seed", type=int, default=0, help="random seed for --sample (default 0)")
    output = parser.add_argument_group("output")
    output.add_argument("--out", metavar="CSV", required=True,
                        help="write long rows unique_id, ds, feature, contribution; per forecast a base_value row "
                             "first and a prediction row last")
    output.add_argument("--importance-out", metavar="CSV",
                        help="write the mean absolute contribution of each input over all forecasts")
    output.add_argument("--why-out", metavar="CSV", help="write each series' top drivers over the horizon")
    parser.set_defaults(run=_explain)


def _explain(args: argparse.Namespace) -> int:
    from core.cli import EXIT_ACCEPT, _read_for_forecasting, comma_list, csv_ready
    from core.explain import explain_frame, global_importance, sample_ids, top_drivers
    from core.export import to_csv_bytes

    frame, freq, known = _read_for_forecasting(args)
    ids = list(comma_list(args.series)) or None
    if args.sample:
        ids = sample_ids(ids or frame[schema.UNIQUE_ID].unique().tolist(), args.sample, args.seed)
    h = args.horizon or schema.DEFAULT_HORIZON[freq]
    explanation = explain_frame(frame, freq, args.model, h, known_future=known, countries=args.countries, ids=ids)
    Path(args.out).write_bytes(to_csv_bytes(csv_ready(explanation.to_long())))
    n = len(explanation.forecasts)
    print(f"{n:,} forecasts of {explanation.forecasts[schema.UNIQUE_ID].nunique():,} series explained "
          f"({explanation.model}): {explanation.method}", file=sys.stderr)
    print(f"Base value plus contributions equals each prediction within {explanation.tolerance:.2g} units.",
          file=sys.stderr)
    for note in explanation.notes:
        print(f"Note: {note}", file=sys.stderr)
    print(f"Contributions written to {args.out}", file=sys.stderr)
    if args.importance_out:
        Path(args.importance_out).write_bytes(to_csv_bytes(csv_ready(global_importance(explanation))))
        print(f"Importance written to {args.importance_out}", file=sys.stderr)
    if args.why_out:
        Path(args.why_out).write_bytes(to_csv_bytes(top_drivers(explanation)))
        print(f"Top drivers per series written to {args.why_out}", file=sys.stderr)
    return EXIT_ACCEPT
