"""``python -m core <command>``: StockPilot without the browser, for scheduled runs.

Exit codes a scheduler can act on: 0 accepted, 1 accepted with issues, 2 rejected,
64 wrong command-line usage, 70 an unexpected internal error (logged with its traceback).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

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


def options_from_args(args: argparse.Namespace) -> ValidationOptions:
    return ValidationOptions(date_format=args.date_format, duplicates=args.duplicates, fill_gaps=not args.no_fill_gaps)


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
    except Exception:  # noqa: BLE001 - the one place unexpected errors become an exit code
        log.exception("Unexpected error; please report it with the traceback above.")
        return EXIT_INTERNAL
