"""``python -m core <command>``: StockPilot without the browser, for scheduled runs.

Exit codes a scheduler can act on: 0 accepted, 1 accepted with issues, 2 rejected,
64 wrong command-line usage, 70 an unexpected internal error (logged with its traceback).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from core import schema
from core.data.parse import DATE_FORMATS
from core.data.validate import LoadResult, ValidationOptions, load_sales
from core.errors import StockPilotError

EXIT_ACCEPT, EXIT_ISSUES, EXIT_REJECT, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 64, 70
_EXIT_BY_OUTCOME = {schema.ACCEPT: EXIT_ACCEPT, schema.ACCEPT_WITH_ISSUES: EXIT_ISSUES, schema.REJECT: EXIT_REJECT}
log = logging.getLogger("stockpilot")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2, which here means "rejected"
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def add_mapping_options(parser: argparse.ArgumentParser) -> None:
    """The Data page's column mapping and reading choices, shared by every command that reads sales."""
    group = parser.add_argument_group("column mapping (auto-detected when omitted)")
    for field in schema.FIELDS:
        flag = f"--{field.replace('_', '-')}-col"
        group.add_argument(flag, dest=f"{field}_col", metavar="COLUMN",
                           help=f"column holding {field} ('' = the file has none)")
    reading = parser.add_argument_group("reading")
    reading.add_argument("--date-format", choices=DATE_FORMATS, default="auto",
                         help="order of numeric dates such as 01/02/2024 (default: decided from the data)")
    reading.add_argument("--duplicates", choices=("auto", "sum", "drop"), default="auto",
                         help="rows sharing a date and series: auto (drop exact copies, sum order lines), sum, drop")
    reading.add_argument("--no-fill-gaps", action="store_true",
                         help="leave missing periods missing instead of filling them with 0 units")


def mapping_from_args(args: argparse.Namespace) -> dict[str, str]:
    """The fields given on the command line (``''`` means: the file has no such column, ignore look-alikes)."""
    given = {field: getattr(args, f"{field}_col") for field in schema.FIELDS}
    return {field: column for field, column in given.items() if column is not None}


def options_from_args(args: argparse.Namespace, covariates: tuple[str, ...] = ()) -> ValidationOptions:
    return ValidationOptions(date_format=args.date_format, duplicates=args.duplicates,
                             fill_gaps=not args.no_fill_gaps, covariates=covariates)


def read_sales(args: argparse.Namespace) -> LoadResult:
    return load_sales(args.file, mapping=mapping_from_args(args), options=options_from_args(args))


def _validate(args: argparse.Namespace) -> int:
    result = read_sales(args)
    report = result.report
    print(json.dumps(report.to_dict(), ensure_ascii=False, indent=1, default=str) if args.json else report.to_text())
    if result.accepted:
        from core.export import to_csv_bytes

        if args.out:
            Path(args.out).write_bytes(to_csv_bytes(result.export_frame()))
            print(f"Clean data written to {args.out}", file=sys.stderr)
        if args.issues:
            Path(args.issues).write_bytes(to_csv_bytes(result.issue_rows))
            print(f"Excluded, altered and added rows written to {args.issues}", file=sys.stderr)
        if args.save:
            from core.datasets import save_result
            from core.store import Workspace

            data = Path(args.file).read_bytes()
            info = save_result(Workspace(), result, args.save, Path(args.file).name, data)
            print(f"Saved to the workspace as '{info.name}' (id {info.id})", file=sys.stderr)
    return _EXIT_BY_OUTCOME[report.outcome]


def _demo(args: argparse.Namespace) -> int:
    from core.data.synthetic import write_demo_shop

    paths = write_demo_shop(args.out, seed=args.seed)
    for path in paths:
        print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    if args.load:
        from core.datasets import load_demo_shop
        from core.store import Workspace

        workspace = Workspace()
        info = load_demo_shop(workspace)
        print(f"Demo shop loaded into the workspace {workspace.root} as '{info.name}' "
              f"({info.n_rows:,} rows, {info.n_series} series)")
    return EXIT_ACCEPT


def read_clean(args: argparse.Namespace, covariates: tuple[str, ...] = ()) -> tuple[pd.DataFrame, str, LoadResult]:
    """The accepted upload at the frequency asked (``--freq``); a rejected file raises DataError with its report,
    and the report of a file accepted with issues goes to stderr."""
    from core.data.resample import resample_frame
    from core.errors import DataError

    result = load_sales(args.file, mapping=mapping_from_args(args), options=options_from_args(args, covariates))
    if not result.accepted:
        raise DataError(result.report.to_text())
    if result.report.outcome == schema.ACCEPT_WITH_ISSUES:
        print(result.report.to_text(), file=sys.stderr)
    freq = args.freq or result.report.freq
    return resample_frame(result.frame, result.report.freq, freq), freq, result


def _read_for_forecasting(args: argparse.Namespace) -> tuple[pd.DataFrame, str, tuple[str, ...]]:
    """The clean frame, its frequency and the known-future columns (planned ones plus ``--covariates``)."""
    frame, freq, result = read_clean(args, comma_list(args.covariates))
    return frame, freq, known_future_of(frame, result)


def known_future_of(frame: pd.DataFrame, result: LoadResult) -> tuple[str, ...]:
    """The planned columns the frame has, plus the covariates the upload declared known in advance."""
    from core.models.base import PLANNED_COLUMNS

    return tuple(c for c in PLANNED_COLUMNS if c in frame.columns) + tuple(result.known_future)


def _model_list(text: str) -> tuple[str, ...]:
    from core.backtest import AUTO
    from core.models import MODELS, is_finetuned, is_known

    names = tuple(dict.fromkeys(m.strip() if is_finetuned(m.strip()) else m.strip().lower()
                                for m in text.split(",") if m.strip()))
    unknown = [m for m in names if not is_known(m) and m != AUTO]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown model(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join([*MODELS, AUTO])}, "
            "or tsfm@VERSION for a fine-tuned transformer (a version name or a checkpoint folder)")
    return names


def country_codes(text: str) -> tuple[str, ...]:
    """``--countries``: ISO codes with a public-holiday calendar ('' for none)."""
    import holidays

    codes = tuple(c.strip().upper() for c in text.split(",") if c.strip())
    unknown = [code for code in codes if code not in holidays.list_supported_countries()]
    if unknown:
        raise argparse.ArgumentTypeError(f"no public holiday calendar for {', '.join(unknown)}; use ISO codes like CN")
    return codes


def _backtest(args: argparse.Namespace) -> int:
    from core.backtest import AUTO, BacktestConfig, cross_validation
    from core.export import to_csv_bytes

    frame, freq, known = _read_for_forecasting(args)
    models = tuple(m for m in args.models if m != AUTO)
    config = BacktestConfig(h=args.horizon or schema.DEFAULT_HORIZON[freq], n_windows=args.windows,
                            step=args.step, models=models, known_future=known, countries=args.countries,
                            freq=freq, seed=args.seed, auto=AUTO in args.models)
    result = cross_validation(frame, config, progress=print_progress if args.progress else None)
    print(result.leaderboard.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if args.out:
        Path(args.out).write_bytes(to_csv_bytes(csv_ready(result.results)))
        print(f"Backtest forecasts written to {args.out}", file=sys.stderr)
    if args.metrics_out:
        overall = result.leaderboard.assign(by="all", segment="all")
        table = pd.concat([overall, result.by_segment], ignore_index=True)
        first = ["by", "segment", "model"]
        Path(args.metrics_out).write_bytes(to_csv_bytes(table[first + [c for c in table if c not in first]]))
        print(f"Metrics written to {args.metrics_out}", file=sys.stderr)
    return EXIT_ACCEPT


def _forecast(args: argparse.Namespace) -> int:
    from core.export import to_csv_bytes
    from core.forecast import ForecastConfig, run_forecast

    frame, freq, known = _read_for_forecasting(args)
    config = ForecastConfig(h=args.horizon or schema.DEFAULT_HORIZON[freq], models=args.models,
                            known_future=known, countries=args.countries, freq=freq, seed=args.seed)
    forecast = run_forecast(frame, config, progress=print_progress if args.progress else None)
    Path(args.out).write_bytes(to_csv_bytes(csv_ready(forecast)))
    print(f"{len(forecast):,} forecast rows for {forecast[schema.UNIQUE_ID].nunique():,} series written to "
          f"{args.out}", file=sys.stderr)
    return EXIT_ACCEPT


def csv_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """Dates as YYYY-MM-DD and forecasts to 4 decimals, for a readable CSV."""
    out = frame.copy()
    floats = [c for c in out.columns if pd.api.types.is_float_dtype(out[c])]
    out[floats] = out[floats].round(4)
    for column in (schema.DS, "cutoff"):
        if column in out.columns:
            out[column] = out[column].dt.strftime("%Y-%m-%d")
    return out


def print_progress(fraction: float, message: str) -> None:
    print(f"[{fraction:4.0%}] {message}", file=sys.stderr, flush=True)


def add_sales_options(parser: argparse.ArgumentParser, title: str) -> argparse._ArgumentGroup:
    """The sales file, its mapping and what is known about it (known-future columns, frequency, holiday
    countries): what every command that models sales reads. Returns the group for the command's own options."""
    from core.data.calendar import DEFAULT_COUNTRIES

    parser.add_argument("file", help="sales file: CSV, TSV, XLSX or Parquet, optionally gzip-compressed")
    add_mapping_options(parser)
    group = parser.add_argument_group(title)
    group.add_argument("--covariates", metavar="COL,...",
                       help="other columns known in advance, used for future periods (an open/closed flag, an event)")
    group.add_argument("--freq", choices=(schema.DAILY, schema.WEEKLY, schema.MONTHLY),
                       help="work per day, week or month (default: the data's own; daily data can be summed "
                            "to weeks or months)")
    group.add_argument("--countries", type=country_codes, default=DEFAULT_COUNTRIES, metavar="CC,...",
                       help=f"public-holiday calendars to use (default: {','.join(DEFAULT_COUNTRIES)})")
    return group


def _add_forecast_options(parser: argparse.ArgumentParser, default_models: str) -> None:
    model = add_sales_options(parser, "forecasting")
    model.add_argument("--horizon", type=_positive, metavar="H",
                       help="periods to forecast (default: 28 days, 12 weeks or 6 months)")
    model.add_argument("--models", type=_model_list, default=default_models, metavar="M,...",
                       help=f"models, comma-separated (default: {default_models}); 'auto' = best per segment")
    model.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    model.add_argument("--progress", action="store_true", help="print progress to stderr")


def whole_number(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number of at least ``minimum``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            wanted = "0 or more" if minimum == 0 else f"at least {minimum}"
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {value}")
        return value

    return parse


_positive = whole_number(1)


def comma_list(text: str | None) -> tuple[str, ...]:
    """``"a, b,,c"`` -> ``("a", "b", "c")``: the names a ``COL,...`` option lists."""
    return tuple(part.strip() for part in (text or "").split(",") if part.strip())


def build_parser() -> argparse.ArgumentParser:
    from core.data.synthetic import DEMO_DATA_DIR, DEMO_SEED

    parser = _Parser(prog="python -m core", description="StockPilot from the command line.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    validate = commands.add_parser("validate", help="read and validate a sales file; print the report",
                                   description="Exit code: 0 accepted, 1 accepted with issues, 2 rejected.")
    validate.add_argument("file", help="CSV, TSV, XLSX or Parquet file, optionally gzip-compressed")
    add_mapping_options(validate)
    output = validate.add_argument_group("output")
    output.add_argument("--out", metavar="CSV", help="write the clean long data with the mapped field names")
    output.add_argument("--issues", metavar="CSV", help="write every excluded, altered or added row")
    output.add_argument("--json", action="store_true", help="print the report as JSON")
    output.add_argument("--save", metavar="NAME", help="also store the dataset in the workspace under NAME")
    validate.set_defaults(run=_validate)

    demo = commands.add_parser("demo", help="regenerate the demo shop (seeded) into demo_data/")
    demo.add_argument("--out", default=str(DEMO_DATA_DIR), help="folder to write to (default: demo_data/)")
    demo.add_argument("--seed", type=int, default=DEMO_SEED, help=f"random seed (default {DEMO_SEED})")
    demo.add_argument("--load", action="store_true", help="also load it into the workspace as the current dataset")
    demo.set_defaults(run=_demo)

    backtest = commands.add_parser(
        "backtest", help="rolling-origin backtest of forecasting models; prints the leaderboard",
        description="Fits each model on the history before each cutoff and scores it on the periods after. "
                    "Exit code: 0 done, 2 data rejected or too short, 64 wrong usage.")
    _add_forecast_options(backtest, "snaive,ets,tsb,lgbm,tsfm,auto")
    windows = backtest.add_argument_group("windows and output")
    windows.add_argument("--windows", type=_positive, default=3, metavar="N", help="number of windows (default 3)")
    windows.add_argument("--step", type=_positive, metavar="S", help="periods between cutoffs (default: horizon)")
    windows.add_argument("--out", metavar="CSV",
                         help="write unique_id, ds, cutoff, y and per model its forecast and <model>-q<pct> columns")
    windows.add_argument("--metrics-out", metavar="CSV", help="write the metrics table (overall and by segment)")
    backtest.set_defaults(run=_backtest)

    forecast = commands.add_parser(
        "forecast", help="forecast the periods after the data with quantiles",
        description="Future promotions are assumed off and other known-future columns unchanged from the last "
                    "period. Exit code: 0 done, 2 data rejected, 64 wrong usage.")
    _add_forecast_options(forecast, "auto")
    forecast.add_argument("--out", metavar="CSV", required=True,
                          help="write unique_id, ds and per model its forecast and <model>-q<pct> columns")
    forecast.set_defaults(run=_forecast)

    from core.cli_decompose import add_decompose_command

    add_decompose_command(commands)
    from core.cli_promotions import add_promotions_command

    add_promotions_command(commands)
    from core.cli_explain import add_explain_command

    add_explain_command(commands)
    from core.cli_plan import add_plan_command

    add_plan_command(commands)
    from core.cli_pretrain import add_pretrain_command

    add_pretrain_command(commands)
    from core.cli_finetune import add_finetune_command

    add_finetune_command(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except StockPilotError as error:
        print(f"Error: {error}", file=sys.stderr)
        return EXIT_REJECT
    except OSError as error:
        print(f"Error: {error.strerror or error}: {error.filename or ''}", file=sys.stderr)
        return EXIT_USAGE
    except Exception:
        log.exception("Unexpected error; please report it with the traceback above.")
        return EXIT_INTERNAL
