"""``python -m core plan``: the reorder plan as a formatted XLSX (and CSV) from sales and an inventory snapshot.

Wired into :mod:`core.cli` by ``add_plan_command(commands)``.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from core import schema


def _level(text: str) -> float:
    """A service level as a share (0.95) or in percent (95)."""
    try:
        value = float(text.strip().rstrip("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a service level such as 0.95 or 95%, got {text!r}") from None
    value = value / 100 if value > 1 else value
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"a service level lies between 0 and 100% (below 100%); got {text!r}")
    return value


def _levels(text: str) -> tuple[float, float, float]:
    parts = [part for part in text.split(",") if part.strip()]
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(f"expected three levels for classes A,B,C such as 98,95,90; got {text!r}")
    return tuple(_level(part) for part in parts)  # type: ignore[return-value]


def _amount(text: str) -> float:
    try:
        value = float(text.replace(",", "").replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected 0 or more, got {text!r}")
    return value


def _inventory_mapping(text: str | None) -> dict[str, str]:
    """``--inventory-columns on_hand=Stock,sku=Item`` -> ``{"on_hand": "Stock", "sku": "Item"}``."""
    from core.cli import comma_list
    from core.inventory import INVENTORY_FIELDS

    mapping = {}
    for part in comma_list(text):
        field, sep, column = part.partition("=")
        field = field.strip()
        if not sep or field not in INVENTORY_FIELDS:
            raise argparse.ArgumentTypeError(
                f"expected FIELD=COLUMN pairs with FIELD one of {', '.join(INVENTORY_FIELDS)}; got {part!r}")
        mapping[field] = column.strip()
    return mapping


def add_plan_command(commands: argparse._SubParsersAction) -> None:
    """Add the ``plan`` sub-command to ``python -m core``."""
    from core.cli import add_sales_options, whole_number
    from core.replenish import CYCLE_SERVICE_LEVEL, FILL_RATE

    parser = commands.add_parser(
        "plan", help="the reorder plan from sales and an inventory snapshot, as a formatted XLSX",
        description="Fits the forecasting model on the whole history, draws joint sample paths of demand, and "
                    "sets per row a periodic-review policy: reorder point and order-up-to level for the service "
                    "target, the order quantity rounded to the case pack and at least the MOQ, EOQ where an "
                    "order cost is known, days of cover and stockout risk. Exit code: 0 done, 2 the sales or "
                    "the snapshot rejected, 64 wrong usage.")
    parser.add_argument("--inventory", metavar="SNAPSHOT", required=True,
                        help="inventory snapshot: sku [channel] [location], on_hand, and optionally on_order, "
                             "lead_time_days, lead_time_sd_days, review_period_days, service_level, moq, case_pack, "
                             "unit_cost, holding_cost_rate, order_cost (CSV, TSV, XLSX or Parquet)")
    parser.add_argument("--inventory-columns", type=_inventory_mapping, default={}, metavar="FIELD=COLUMN,...",
                        help="snapshot columns to use for fields the headers do not name (FIELD= for none)")
    policy = add_sales_options(parser, "policy")
    policy.add_argument("--model", metavar="MODEL",
                        help="forecasting model: tsfm, tsfm@VERSION, lgbm, ets, snaive or tsb (default: the active "
                             "fine-tuned transformer, else the zero-shot transformer)")
    policy.add_argument("--target", choices=("csl", "fill-rate"), default="csl",
                        help="service target: cycle service level (default) or fill rate")
    policy.add_argument("--service-level", type=_level, metavar="LEVEL",
                        help="one target for every row (e.g. 95%%), over the snapshot and the ABC classes")
    policy.add_argument("--class-levels", type=_levels, default=(0.98, 0.95, 0.90), metavar="A,B,C",
                        help="targets of ABC classes A, B and C for rows the snapshot gives none (default 98,95,90)")
    policy.add_argument("--ignore-snapshot-levels", action="store_true",
                        help="use the class targets even where the snapshot has a service level")
    policy.add_argument("--budget", type=_amount, metavar="MONEY",
                        help="spend at most this on orders, most shortage avoided per unit of money first")
    defaults = parser.add_argument_group("defaults for blank snapshot cells")
    defaults.add_argument("--lead-time", type=_amount, default=7.0, metavar="DAYS", help="lead time (default 7)")
    defaults.add_argument("--lead-time-sd", type=_amount, default=0.0, metavar="DAYS",
                          help="lead time standard deviation (default 0)")
    defaults.add_argument("--review-period", type=_amount, default=7.0, metavar="DAYS",
                          help="days between reviews (default 7)")
    defaults.add_argument("--moq", type=_amount, default=0.0, help="minimum order quantity (default 0)")
    defaults.add_argument("--case-pack", type=_amount, default=1.0, help="units per case (default 1)")
    defaults.add_argument("--holding-cost-rate", type=_amount, default=0.25, metavar="RATE",
                          help="yearly holding cost as a share of unit cost (default 0.25)")
    defaults.add_argument("--order-cost", type=_amount, metavar="MONEY", help="fixed cost per order (for EOQ)")
    defaults.add_argument("--no-eoq", action="store_true", help="do not enlarge orders to the EOQ")
    run = parser.add_argument_group("run and output")
    run.add_argument("--samples", type=whole_number(50), default=400, metavar="N",
                     help="demand paths drawn per row (default 400)")
    run.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    run.add_argument("--why", action="store_true",
                     help="add each row's top forecast drivers (transformer or LightGBM only; slower)")
    run.add_argument("--progress", action="store_true", help="print progress to stderr")
    run.add_argument("--out", metavar="XLSX", required=True,
                     help="write the workbook: Reorder plan, [Priority list], Forecast, Parameters, Data issues, "
                          "[Why]")
    run.add_argument("--csv-out", metavar="CSV", help="also write the reorder plan as CSV")
    parser.set_defaults(run=_plan, targets={"csl": CYCLE_SERVICE_LEVEL, "fill-rate": FILL_RATE})


def _plan(args: argparse.Namespace) -> int:
    from core.cli import EXIT_ACCEPT, comma_list, known_future_of, print_progress, read_clean
    from core.inventory import load_inventory
    from core.plan import PlanSettings, build_plan, inventory_issue_rows, prepare_plan, sales_issue_rows
    from core.plan_export import plan_csv, plan_workbook

    if not args.out.lower().endswith(".xlsx"):
        print(f"Note: {args.out} is written as an Excel workbook (.xlsx).", file=sys.stderr)
    inventory = load_inventory(args.inventory, mapping=args.inventory_columns or None)
    for note in inventory.notes:
        print(f"Snapshot: {note}", file=sys.stderr)
    frame, freq, result = read_clean(args, comma_list(args.covariates))
    known = known_future_of(frame, result)
    settings = PlanSettings(
        target=args.targets[args.target], class_service_levels=args.class_levels, service_level=args.service_level,
        snapshot_levels=not args.ignore_snapshot_levels, lead_time_days=args.lead_time,
        lead_time_sd_days=args.lead_time_sd, review_period_days=args.review_period, moq=args.moq,
        case_pack=max(1.0, args.case_pack), holding_cost_rate=args.holding_cost_rate, order_cost=args.order_cost,
        use_eoq=not args.no_eoq, budget=args.budget, n_samples=args.samples, seed=args.seed)
    issues = [sales_issue_rows(result.report), inventory_issue_rows(inventory.issues)]
    inputs = prepare_plan(frame, freq, inventory.frame, model=args.model, settings=settings, known_future=known,
                          countries=args.countries, issues=issues,
                          progress=print_progress if args.progress else None)
    plan = build_plan(inputs, settings)
    why = _why(args, frame, freq, known, inputs) if args.why else None
    Path(args.out).write_bytes(plan_workbook(plan, why))
    if args.csv_out:
        Path(args.csv_out).write_bytes(plan_csv(plan, why))
    _report(plan, inputs, args)
    return EXIT_ACCEPT


def _why(args, frame, freq, known, inputs):
    from core.explain import explain_frame, explainable, top_drivers

    if not explainable(inputs.model):
        print(f"Note: no drivers for {inputs.model_label}: explanations exist for the transformer and LightGBM.",
              file=sys.stderr)
        return None
    planned = set(inputs.rows[schema.UNIQUE_ID])
    if not planned & set(frame[schema.UNIQUE_ID].unique()):
        print("Note: no drivers: the plan is per SKU while the forecasts are per SKU and channel or location.",
              file=sys.stderr)
        return None
    explanation = explain_frame(frame, freq, inputs.model, schema.DEFAULT_HORIZON[freq], known_future=known,
                                countries=args.countries, ids=sorted(planned & set(frame[schema.UNIQUE_ID])))
    return top_drivers(explanation)


def _report(plan, inputs, args) -> None:
    s = plan.summary
    print(f"Plan for {s['rows']:,} rows ({s['planned']:,} planned) with {inputs.model_label}: {s['orders']:,} "
          f"orders, {s['units']:,.0f} units, order value {s['order_value']:,.2f}; expected cycle service level "
          f"{_share(s['expected_service_level'])}, fill rate {_share(s['expected_fill_rate'])}.", file=sys.stderr)
    if s.get("unpriced_orders"):
        count = s["unpriced_orders"]
        print(f"Note: {count:,} order{'s have' if count > 1 else ' has'} no unit cost, so no order value.",
              file=sys.stderr)
    if "budget" in s:
        print(f"Within the budget of {s['budget']:,.2f}: {s['budget_orders']:,} orders, "
              f"{s['budget_units']:,.0f} units, {s['budget_order_value']:,.2f} spent; expected cycle service level "
              f"{_share(s['budget_expected_service_level'])}, fill rate {_share(s['budget_expected_fill_rate'])}.",
              file=sys.stderr)
    for note in inputs.notes:
        print(f"Note: {note}", file=sys.stderr)
    if len(plan.issues):
        print(f"{len(plan.issues):,} data issues are listed in the 'Data issues' sheet.", file=sys.stderr)
    print(f"Plan written to {args.out}" + (f" and {args.csv_out}" if args.csv_out else ""), file=sys.stderr)


def _share(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.1%}"
