"""Pretraining the transformer on the synthetic corpus: seeded, resumable, logged.

``pretrain(out, ...)`` draws the corpus (:mod:`core.data.corpus`), then trains :class:`~core.models.tsfm.TSFMNetwork`
with the pinball loss on random windows (each a series, a forecast origin and the ``horizon`` periods after it,
the target being uncensored demand), AdamW with weight decay, linear warm-up then cosine decay, and gradient
clipping. Every ``eval_every`` steps it scores a fixed set of windows from held-out series and appends a row
to ``loss.csv``; every ``checkpoint_every`` steps it saves ``state.pt`` (weights, optimiser, schedule, random
states), from which ``resume=True`` continues exactly. At the end it writes ``model.safetensors`` and
``config.json`` (the checkpoint :class:`~core.models.tsfm.TSFMForecaster` loads), ``corpus.json`` (what went into
the corpus) and ``training.json`` (steps, wall time, machine, losses).
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from core.machine import cpu_name
from core.data.corpus import Corpus, CorpusRecipe, FreqBlock, add_external_series, generate_corpus
from core.models.tsfm import (
    SeriesGrids,
    TSFMConfig,
    build_network,
    network_inputs,
    pinball_loss,
    save_checkpoint,
)

STATE_FILE = "state.pt"
LOSS_FILE = "loss.csv"
#: the shortest history a training window has before its origin, per frequency
MIN_CONTEXT = {"D": 14, "W": 8, "M": 6}
VALIDATION_SHARE = 0.02


@dataclass(frozen=True)
class PretrainConfig:
    """How long and how the network is trained."""

    steps: int = 7000
    minutes: float | None = None
    batch_size: int = 256
    learning_rate: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 300
    min_lr_ratio: float = 0.05
    clip_norm: float = 1.0
    eval_every: int = 250
    checkpoint_every: int = 500
    validation_windows: int = 2048
    seed: int = 0
    threads: int | None = None


def warmup_cosine(step: int, base: float, warmup: int, total: int, floor: float) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay to ``floor * base`` at step ``total``."""
    if step < warmup:
        return base * (step + 1) / warmup
    progress = min((step - warmup) / max(total - warmup, 1), 1.0)
    return base * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


def learning_rate(step: int, config: PretrainConfig) -> float:
    return warmup_cosine(step, config.learning_rate, config.warmup_steps, config.steps, config.min_lr_ratio)


class WindowSampler:
    """Random training windows from the corpus; the last 2% of each frequency's series are held out."""

    def __init__(self, corpus: Corpus, model: TSFMConfig):
        self.model = model
        self.blocks = list(corpus.blocks.values())
        self.train_rows, self.validation_rows = [], []
        for block in self.blocks:
            n_valid = max(1, int(block.n_series * VALIDATION_SHARE))
            self.train_rows.append(np.arange(block.n_series - n_valid))
            self.validation_rows.append(np.arange(block.n_series - n_valid, block.n_series))
        sizes = np.array([len(r) for r in self.train_rows], dtype=float)
        self.block_weights = sizes / sizes.sum()

    def _windows(self, block: FreqBlock, rows: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
        length = block.sales.shape[1]
        lo = np.minimum(block.start[rows] + MIN_CONTEXT[block.freq], length - 1)
        origin = lo + np.floor(rng.random(len(rows)) * (length - lo)).astype(np.int64)
        grids = SeriesGrids(
            block.freq, np.where(block.flags["observed"][rows] > 0.5, block.sales[rows], np.nan),
            block.flags["observed"][rows], block.flags["promo"][rows], block.price_ratio[rows],
            block.flags["event"][rows], block.flags["event_window"][rows], block.flags["holiday"][rows])
        inputs = network_inputs(grids, origin, self.model)
        ahead = origin[:, None] + np.arange(self.model.horizon)[None, :]
        inside = ahead < length
        target = np.take_along_axis(block.demand[rows], np.clip(ahead, 0, length - 1), axis=1)
        target = np.where(inside, target, np.nan) / inputs["scale"][:, None]
        inputs["target"] = target.astype(np.float32)
        return inputs

    def batch(self, size: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        which = int(rng.choice(len(self.blocks), p=self.block_weights))
        rows = rng.choice(self.train_rows[which], size)
        return self._windows(self.blocks[which], rows, rng)

    def validation(self, n_windows: int, seed: int) -> list[dict[str, np.ndarray]]:
        rng = np.random.default_rng(seed + 7919)
        batches = []
        for block, rows, weight in zip(self.blocks, self.validation_rows, self.block_weights):
            count = max(1, int(round(n_windows * weight)))
            batches.append(self._windows(block, rng.choice(rows, count), rng))
        return batches


def batch_tensors(batch: dict[str, np.ndarray], device="cpu") -> dict:
    """A batch of network inputs (and ``target``) as tensors on ``device`` (``scale`` stays behind)."""
    import torch

    return {k: torch.from_numpy(v).to(device) for k, v in batch.items() if k != "scale"}


def evaluate(network, batches: list[dict[str, np.ndarray]], device="cpu") -> float:
    """Mean pinball loss (in units of each window's mean) over the finite targets of ``batches``."""
    import torch

    network.eval()
    total, weight = 0.0, 0
    with torch.no_grad():
        for batch in batches:
            tensors = batch_tensors(batch, device)
            target = tensors.pop("target")
            loss = pinball_loss(network(**tensors), target, network.config.quantiles)
            count = int(torch.isfinite(target).sum())
            total += float(loss) * count
            weight += count
    network.train()
    return total / max(weight, 1)


def machine_description() -> str:
    import torch

    cpu = cpu_name()
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    return f"{cpu}, {os.cpu_count()} cores{gpu}; torch {torch.__version__}, {torch.get_num_threads()} threads"


def pretrain(out: str | Path, model: TSFMConfig = TSFMConfig(), training: PretrainConfig = PretrainConfig(),
             recipe: CorpusRecipe = CorpusRecipe(), external: str | Path | None = None, resume: bool = False,
             progress: Callable[[str], None] | None = None) -> dict:
    """Train, checkpoint and save; returns the summary written to ``training.json``."""
    import torch

    say = progress or (lambda message: None)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if training.threads:
        torch.set_num_threads(training.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(training.seed)

    say(f"drawing the corpus: {recipe.n_series:,} series (seed {recipe.seed})")
    started = time.perf_counter()
    corpus = generate_corpus(recipe)
    if external is not None:
        corpus = add_external_series(corpus, external)
    corpus.manifest["seconds"] = round(time.perf_counter() - started, 1)
    (out / "corpus.json").write_text(json.dumps(corpus.manifest, indent=1, default=str) + "\n")
    sampler = WindowSampler(corpus, model)
    validation = sampler.validation(training.validation_windows, training.seed)

    network = build_network(model).to(device)
    network.train()
    optimiser = torch.optim.AdamW(network.parameters(), lr=training.learning_rate,
                                  weight_decay=training.weight_decay)
    rng = np.random.default_rng(training.seed)
    step, elapsed_before, log_rows = 0, 0.0, []
    state_path = out / STATE_FILE
    if resume and state_path.exists():
        state = torch.load(state_path, map_location=device, weights_only=False)
        network.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        step, elapsed_before = state["step"], state["elapsed"]
        truncate_log(out / LOSS_FILE, step)
        say(f"resuming at step {step:,}")
    elif (out / LOSS_FILE).exists():
        (out / LOSS_FILE).unlink()
    parameters = sum(p.numel() for p in network.parameters())
    say(f"training {parameters:,} parameters on {device} for {training.steps:,} steps")

    def save_state() -> None:
        torch.save({"model": network.state_dict(), "optimiser": optimiser.state_dict(),
                    "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(), "step": step,
                    "elapsed": elapsed}, state_path.with_suffix(".tmp"))
        os.replace(state_path.with_suffix(".tmp"), state_path)

    clock = time.perf_counter()
    running, count = 0.0, 0
    elapsed = elapsed_before
    stopped_early = False
    while step < training.steps:
        for group in optimiser.param_groups:
            group["lr"] = learning_rate(step, training)
        tensors = batch_tensors(sampler.batch(training.batch_size, rng), device)
        target = tensors.pop("target")
        loss = pinball_loss(network(**tensors), target, model.quantiles)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(network.parameters(), training.clip_norm)
        optimiser.step()
        running += float(loss.detach())
        count += 1
        step += 1
        elapsed = elapsed_before + time.perf_counter() - clock
        if step % training.eval_every == 0 or step == training.steps:
            row = {"step": step, "lr": round(learning_rate(step - 1, training), 7),
                   "train_loss": round(running / max(count, 1), 5),
                   "validation_loss": round(evaluate(network, validation, device), 5),
                   "elapsed_s": round(elapsed, 1)}
            append_log(out / LOSS_FILE, row)
            log_rows.append(row)
            say(f"step {step:,}/{training.steps:,}  train {row['train_loss']:.4f}  "
                f"validation {row['validation_loss']:.4f}  {elapsed / 60:.1f} min")
            running, count = 0.0, 0
        if step % training.checkpoint_every == 0:
            save_state()
        if training.minutes is not None and elapsed >= training.minutes * 60:
            stopped_early = step < training.steps
            break
    save_state()
    summary = {
        "steps": step, "planned_steps": training.steps, "stopped_by_time_budget": stopped_early,
        "wall_time_s": round(elapsed, 1), "machine": machine_description(), "parameters": parameters,
        "training": asdict(training), "corpus": {k: corpus.manifest[k] for k in
                                                 ("recipe", "series_by_freq", "share_zero_heavy", "external")},
        "final_validation_loss": evaluate(network, validation, device),
    }
    save_checkpoint(network, out, card=summary)
    (out / "training.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
    say(f"saved {out / 'model.safetensors'} after {step:,} steps ({elapsed / 60:.1f} min)")
    return summary


def append_log(path: Path, row: dict) -> None:
    """Append ``row`` to a CSV log, writing the header (its keys) first when the file is new."""
    new = not path.exists()
    with path.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)


def truncate_log(path: Path, step: int) -> None:
    """Drop log rows written after the checkpoint a run resumes from (they will be written again)."""
    if not path.exists():
        return
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    kept = [row for row in rows if int(row["step"]) <= step]
    path.unlink()
    for row in kept:
        append_log(path, row)
