"""``python -m core pretrain``: draw the synthetic corpus and pretrain the forecasting transformer.

Wired into :mod:`core.cli` by ``add_pretrain_command(commands)``. The shipped checkpoint in
``core/models/tsfm_checkpoint`` is this command's output (see its MODEL_CARD.md for the exact command).
"""

from __future__ import annotations

import argparse
import sys


def add_pretrain_command(commands: argparse._SubParsersAction) -> None:
    """Add the ``pretrain`` sub-command to ``python -m core``."""
    from core.cli import _positive
    from core.data.corpus import CorpusRecipe
    from core.models.pretrain import PretrainConfig
    from core.models.tsfm import TSFMConfig

    model, training, recipe = TSFMConfig(), PretrainConfig(), CorpusRecipe()
    parser = commands.add_parser(
        "pretrain", help="pretrain the forecasting transformer on a synthetic demand corpus",
        description="Draws a seeded corpus of demand-like series, trains the PatchTST-based network with the "
                    "pinball loss and writes model.safetensors + config.json (a checkpoint for --models tsfm), "
                    "loss.csv, corpus.json and training.json to --out. Resumable with --resume. Uses a GPU when "
                    "one is present. Exit code: 0 done, 64 wrong usage.")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for the checkpoint and logs")
    parser.add_argument("--resume", action="store_true", help="continue from DIR/state.pt when it exists")
    parser.add_argument("--seed", type=int, default=training.seed, help="seeds the corpus and the training")
    run = parser.add_argument_group("training")
    run.add_argument("--steps", type=_positive, default=training.steps, help=f"(default {training.steps})")
    run.add_argument("--minutes", type=float, help="stop (and save) after this much training time")
    run.add_argument("--batch-size", type=_positive, default=training.batch_size)
    run.add_argument("--learning-rate", type=float, default=training.learning_rate)
    run.add_argument("--warmup-steps", type=int, default=training.warmup_steps)
    run.add_argument("--eval-every", type=_positive, default=training.eval_every, metavar="STEPS")
    run.add_argument("--checkpoint-every", type=_positive, default=training.checkpoint_every, metavar="STEPS")
    run.add_argument("--threads", type=_positive, help="CPU threads for torch (default: torch's choice)")
    corpus = parser.add_argument_group("corpus")
    corpus.add_argument("--series", type=_positive, default=recipe.n_series,
                        help=f"synthetic series to draw (default {recipe.n_series:,})")
    corpus.add_argument("--extra-series", metavar="FOLDER",
                        help="also train on the sales files in FOLDER (their last 90 periods are left out)")
    architecture = parser.add_argument_group("architecture")
    architecture.add_argument("--context-length", type=_positive, default=model.context_length)
    architecture.add_argument("--horizon", type=_positive, default=model.horizon)
    architecture.add_argument("--d-model", type=_positive, default=model.d_model)
    architecture.add_argument("--layers", type=_positive, default=model.n_layers)
    architecture.add_argument("--backbone", choices=("patchtst", "patchtsmixer"), default=model.backbone,
                              help=f"the encoder from transformers (default {model.backbone})")
    architecture.add_argument("--no-covariates", action="store_true",
                              help="leave out the covariate head (for the ablation)")
    parser.set_defaults(run=_pretrain)


def _pretrain(args: argparse.Namespace) -> int:
    from core.cli import EXIT_ACCEPT, EXIT_USAGE
    from core.data.corpus import CorpusRecipe
    from core.models.pretrain import PretrainConfig, pretrain
    from core.models.tsfm import TSFMConfig

    model = TSFMConfig(context_length=args.context_length, horizon=args.horizon, d_model=args.d_model,
                       n_layers=args.layers, use_covariates=not args.no_covariates, backbone=args.backbone)
    if model.context_length < model.patch_length:
        print(f"Error: --context-length must be at least the patch length ({model.patch_length}).", file=sys.stderr)
        return EXIT_USAGE
    training = PretrainConfig(steps=args.steps, minutes=args.minutes, batch_size=args.batch_size,
                              learning_rate=args.learning_rate, warmup_steps=args.warmup_steps,
                              eval_every=args.eval_every, checkpoint_every=args.checkpoint_every, seed=args.seed,
                              threads=args.threads)
    recipe = CorpusRecipe(n_series=args.series, seed=args.seed)
    pretrain(args.out, model, training, recipe, external=args.extra_series, resume=args.resume,
             progress=lambda message: print(message, file=sys.stderr, flush=True))
    return EXIT_ACCEPT
