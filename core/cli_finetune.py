"""``python -m core finetune``: fine-tune the pretrained transformer on a sales file.

Wired into :mod:`core.cli` by ``add_finetune_command(commands)``. The output folder is a checkpoint that
``backtest`` and ``forecast`` use with ``--models tsfm@DIR``; ``--register NAME`` also stores it in the
workspace's model registry, after which ``tsfm@NAME`` works too.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_finetune_command(commands: argparse._SubParsersAction) -> None:
    """Add the ``finetune`` sub-command to ``python -m core``."""
    from core.cli import _positive, add_sales_options
    from core.models.finetune import MODES, FinetuneConfig

    defaults = FinetuneConfig()
    parser = commands.add_parser(
        "finetune", help="fine-tune the pretrained transformer on a sales file (full or LoRA)",
        description="Trains on every series' history except its last --horizon periods (the validation window, "
                    "used for early stopping), then scores zero-shot, fine-tuned and baseline models on that "
                    "window. Writes a checkpoint folder for --models tsfm@DIR, with log.csv (the training log) "
                    "and finetune.json. Exit code: 0 done, 2 data rejected or too short, 64 wrong usage.")
    add_sales_options(parser, "data")
    training = parser.add_argument_group("training")
    training.add_argument("--mode", choices=MODES, default=defaults.mode,
                          help="lora: small adapters on a frozen network (default); full: every weight")
    training.add_argument("--out", required=True, metavar="DIR", help="folder for the fine-tuned checkpoint")
    training.add_argument("--horizon", type=_positive, metavar="H",
                          help="validation window in periods (default: 28 days, 12 weeks or 6 months)")
    training.add_argument("--max-steps", type=_positive, default=defaults.max_steps,
                          help=f"(default {defaults.max_steps}; early stopping may end sooner)")
    training.add_argument("--minutes", type=float, default=defaults.max_minutes,
                          help=f"training time budget (default {defaults.max_minutes:g})")
    training.add_argument("--learning-rate", type=float, help="default 1e-4 (full) or 2e-3 (lora)")
    training.add_argument("--batch-size", type=_positive, default=defaults.batch_size)
    training.add_argument("--no-extra-covariates", action="store_true",
                          help="do not add the data's other known-future columns and attributes as inputs")
    training.add_argument("--base", metavar="DIR|VERSION",
                          help="start from this checkpoint or registered version (default: the shipped one)")
    training.add_argument("--resume", action="store_true", help="continue from DIR/state.pt when it exists")
    training.add_argument("--seed", type=int, default=defaults.seed)
    training.add_argument("--threads", type=_positive, help="CPU threads for torch (default: torch's choice)")
    after = parser.add_argument_group("after training")
    after.add_argument("--no-compare", action="store_true", help="skip scoring against zero-shot and baselines")
    after.add_argument("--register", metavar="NAME",
                       help="store the result in the workspace's model registry as NAME (moves DIR there)")
    after.add_argument("--activate", action="store_true", help="with --register: make it the active version")
    parser.set_defaults(run=_finetune)


def _finetune(args: argparse.Namespace) -> int:
    from core.cli import EXIT_ACCEPT, EXIT_USAGE, _read_for_forecasting
    from core.models.finetune import FinetuneConfig, compare, finetune, read_info, verdict, write_info

    if args.activate and not args.register:
        print("Error: --activate needs --register NAME.", file=sys.stderr)
        return EXIT_USAGE
    frame, freq, known = _read_for_forecasting(args)
    base = None
    if args.base:
        from core.registry import resolve_checkpoint

        base = resolve_checkpoint(args.base)
    config = FinetuneConfig(mode=args.mode, horizon=args.horizon, max_steps=args.max_steps,
                            max_minutes=args.minutes, learning_rate=args.learning_rate,
                            batch_size=args.batch_size, extra_covariates=not args.no_extra_covariates,
                            seed=args.seed, threads=args.threads)
    last = {"logged": -1}

    def report(update: dict) -> None:
        step = update.get("step", 0)
        if "train_loss" not in update or step - last["logged"] >= 20 or update.get("fraction") == 1.0:
            last["logged"] = step
            loss = update.get("best_validation_loss", update.get("validation_loss"))
            tail = f"  best validation loss {loss:.4f}" if loss is not None else ""
            print(f"{update.get('message', '')}{tail}", file=sys.stderr, flush=True)

    summary = finetune(frame, args.out, config, freq=freq, known_future=known, countries=args.countries,
                       base=base, resume=args.resume, progress=report,
                       dataset={"file": str(Path(args.file).resolve())}).summary
    print(f"Fine-tuned checkpoint written to {args.out} ({summary['steps']} steps, stopped by "
          f"{summary['stopped_by']}, {summary['wall_time_s']:.0f} s; validation loss "
          f"{summary['zero_shot_validation_loss']:.4f} zero-shot -> {summary['validation_loss']:.4f})",
          file=sys.stderr)
    scores = {}
    if not args.no_compare:
        table = compare(frame, args.out, freq, known, args.countries, summary["horizon"])
        shown = table[["label", "mase", "rel_mase", "wql", "coverage_80", "coverage_95"]]
        print(shown.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        words = verdict(table)
        print(words)
        info = read_info(args.out)
        write_info(Path(args.out), {**info, "comparison": table.to_dict(orient="records"), "verdict": words})
        scores = {row["model"]: {k: row[k] for k in ("mase", "wql", "coverage_80")}
                  for row in table.to_dict(orient="records")}
    if args.register:
        from core.registry import ModelRegistry

        registry = ModelRegistry()
        version = registry.register(args.out, args.register, "", Path(args.file).name, scores)
        if args.activate:
            registry.activate(version.id)
        state = " and activated" if args.activate else ""
        print(f"Registered{state} as {version.model_name} in {registry.folder}", file=sys.stderr)
    return EXIT_ACCEPT
