"""Fine-tuning the pretrained transformer on a planner's own sales: full or LoRA, seeded, resumable, logged.

``finetune(frame, out, ...)`` starts from the shipped checkpoint (or any checkpoint folder, such as a registered
version) and trains on the dataset's own history:

* **split by time**: the last ``horizon`` periods of every series are the validation window; training windows
  forecast from origins before it and their targets stop where it starts, so nothing from the validation window
  is ever learned (no shuffling across time);
* **what trains**: ``mode="full"`` trains every weight; ``mode="lora"`` freezes them and trains low-rank adapters
  (``peft``) on every linear layer of the encoder and of the quantile and summary heads, plus the small covariate
  head in full;
* **covariates**: promotions, prices, closed days and the event calendar as the base network reads them, and
  the dataset's other known-future columns (SNAP days, school holidays, event names ...) and static attributes
  (channel, location, category) through an extra head whose output starts at zero (:func:`choose_extra_features`);
* **optimiser**: AdamW with weight decay, linear warm-up then cosine decay, gradient clipping; the pinball loss
  over 13 quantile levels; validation every ``eval_every`` steps, early stopping after ``patience`` evaluations
  without improvement, and the best weights kept;
* **logs and resume**: ``log.csv`` (step, epoch, learning rate, train and validation loss, elapsed seconds) and
  every ``checkpoint_every`` steps ``state.pt``, from which ``resume=True`` continues exactly.

The result is a checkpoint folder :class:`~core.models.tsfm.TSFMForecaster` loads like the shipped one:
``config.json`` plus ``model.safetensors`` (full) or ``adapter_model.safetensors`` and ``adapter_config.json``
(LoRA, a few hundred KB; the base it adapts is named and hashed in ``finetune.json``), ``log.csv`` and
``finetune.json`` (settings, losses, wall time, peak memory and, after :func:`compare`, the scores).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from core import schema
from core.data.calendar import DEFAULT_COUNTRIES
from core.errors import StockPilotError
from core.models.base import PLANNED_COLUMNS, build_panel, future_frame, infer_freq
from core.models.tsfm import (
    ADAPTER_FILE,
    CONFIG_FILE,
    MIN_HISTORY,
    SHIPPED_CHECKPOINT,
    WEIGHTS_FILE,
    CheckpointError,
    SeriesGrids,
    TSFMConfig,
    TSFMForecaster,
    build_network,
    load_network,
    network_inputs,
    pinball_loss,
    save_checkpoint,
)
from core.models.pretrain import append_log, batch_tensors, evaluate, truncate_log, warmup_cosine

MODES = ("lora", "full")
ADAPTER_CONFIG = "adapter_config.json"
INFO_FILE = "finetune.json"
LOG_FILE = "log.csv"
STATE_FILE = "state.pt"
LOG_FIELDS = ("step", "epoch", "lr", "train_loss", "validation_loss", "best_validation_loss", "elapsed_s")
#: heads trained in full in LoRA mode (small); every other linear layer gets an adapter
FULLY_TRAINED = ("covariates", "extra")
#: at most this many values of one text column or static attribute become extra inputs
MAX_LEVELS = 12
#: a value must occur this often (periods for known-future columns, series for statics) to become an input
MIN_OCCURRENCES = {"future": 5, "static": 2}

Progress = Callable[[dict], None]


class FinetuneError(StockPilotError):
    """Fine-tuning cannot run as asked (too little history, unknown mode, a broken base...)."""


@dataclass(frozen=True)
class FinetuneConfig:
    """How to fine-tune. The defaults fit the demo shop in about two minutes on 2 CPU cores."""

    mode: str = "lora"
    #: validation window in periods (default: 28 days, 12 weeks or 6 months; at most the network's horizon)
    horizon: int | None = None
    max_steps: int = 600
    #: stop (keeping the best weights so far) after this much training time
    max_minutes: float | None = 10.0
    batch_size: int = 128
    #: default 1e-4 for full fine-tuning, 2e-3 for LoRA adapters
    learning_rate: float | None = None
    #: for the new extra-covariate head, which starts from zero
    extra_learning_rate: float = 2e-3
    weight_decay: float = 0.01
    warmup_steps: int = 20
    min_lr_ratio: float = 0.1
    clip_norm: float = 1.0
    eval_every: int = 20
    patience: int = 5
    checkpoint_every: int = 40
    lora_rank: int = 8
    lora_alpha: int = 16
    #: read the dataset's other known-future columns and static attributes through the extra head
    extra_covariates: bool = True
    seed: int = 0
    threads: int | None = None

    def __post_init__(self):
        if self.mode not in MODES:
            raise FinetuneError(f"The fine-tuning mode must be 'lora' or 'full'; got {self.mode!r}.")
        if self.max_steps < 1 or self.batch_size < 1 or self.eval_every < 1:
            raise FinetuneError("max_steps, batch_size and eval_every must be at least 1.")

    @property
    def lr(self) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        return 1e-4 if self.mode == "full" else 2e-3


def learning_rate(step: int, base: float, config: FinetuneConfig) -> float:
    """Linear warm-up, then cosine decay to ``min_lr_ratio`` of ``base`` at ``max_steps``."""
    return warmup_cosine(step, base, config.warmup_steps, config.max_steps, config.min_lr_ratio)


# -- what the model reads ---------------------------------------------------------------------------------------------

def choose_extra_features(frame: pd.DataFrame, known_future: Sequence[str], skip: Sequence[str] = ()) -> list[str]:
    """The extra inputs (see :func:`~core.models.tsfm.extra_feature_grid`) a dataset offers beyond what the
    base network reads: numeric known-future columns as they are, text ones as one flag per frequent value
    (the most common value, e.g. "no event", is the baseline), and the static attributes channel, location and
    category as one flag per value when they take more than one. ``skip``: columns already read otherwise."""
    names = []
    for column in known_future:
        if column in (schema.PROMO, schema.PRICE) or column in skip or column not in frame.columns:
            continue
        values = frame[column]
        if pd.api.types.is_numeric_dtype(values):
            if values.nunique(dropna=True) > 1:
                names.append(f"future:{column}")
            continue
        counts = values.dropna().astype(str).value_counts(sort=True)
        kept = counts.iloc[1:][counts.iloc[1:] >= MIN_OCCURRENCES["future"]].index[:MAX_LEVELS]
        names += [f"future:{column}={value}" for value in sorted(kept)]
    for column in (schema.CHANNEL, schema.LOCATION, schema.CATEGORY):
        if column not in frame.columns:
            continue
        per_series = frame.groupby(schema.UNIQUE_ID, sort=False)[column].first().dropna().astype(str)
        counts = per_series.value_counts()
        if len(counts) > 1:
            kept = counts[counts >= MIN_OCCURRENCES["static"]].index[:MAX_LEVELS]
            names += [f"static:{column}={value}" for value in sorted(kept)]
    return names


@dataclass
class TrainingData:
    """A dataset laid out for fine-tuning: the grids, where each series' training origins lie, and the
    validation window (``validation_origin`` onwards, ``horizon`` periods)."""

    grids: SeriesGrids
    series: np.ndarray
    first_origin: np.ndarray
    validation_origin: int
    horizon: int
    open_flag: np.ndarray

    @property
    def origins_per_series(self) -> np.ndarray:
        return np.maximum(self.validation_origin - self.first_origin, 0)


def prepare_data(frame: pd.DataFrame, network_config: TSFMConfig, horizon: int, freq: str | None,
                 known_future: Sequence[str], countries: Sequence[str], base: str | Path | None) -> TrainingData:
    """Lay ``frame`` out as the forecaster does (same grids, calendar flags, closed days and extra inputs)."""
    reader = TSFMForecaster(freq=freq, known_future=known_future, countries=countries, checkpoint=base,
                            calibrate=False, calendar=True)
    panel = build_panel(frame, freq)
    reader.panel_, reader.freq_ = panel, panel.freq
    mask = np.ones(panel.n_series, dtype=bool)
    reader._fit_inputs(panel, _Layout(network_config))
    future = future_frame(panel, 1, None, reader.known_future)
    grids, open_flag = reader._grids(mask, future, 1)
    n_hist = len(panel.dates)
    validation_origin = n_hist - horizon
    observed = grids.observed[:, :validation_origin] > 0.5
    counts = observed.sum(axis=1)
    first_seen = np.where(counts > 0, observed.argmax(axis=1), validation_origin)
    first_origin = first_seen + MIN_HISTORY[panel.freq]
    usable = counts >= MIN_HISTORY[panel.freq]
    if not usable.any():
        raise FinetuneError(
            f"Too little history to fine-tune: no series has {MIN_HISTORY[panel.freq]} observed periods before "
            f"the {horizon}-period validation window. Use a longer history or a shorter horizon.")
    first_origin = np.where(usable, first_origin, validation_origin)
    return TrainingData(grids, np.asarray(panel.ids), first_origin, validation_origin, horizon, open_flag)


@dataclass(frozen=True)
class _Layout:
    """Stands in for a network where only its configuration is read (laying out inputs)."""

    config: TSFMConfig


class WindowSampler:
    """Training windows (random series and origin before the validation window) and the validation windows."""

    def __init__(self, data: TrainingData, config: TSFMConfig):
        self.data, self.config = data, config
        counts = data.origins_per_series.astype(float)
        self.rows = np.flatnonzero(counts > 0)
        if len(self.rows) == 0:
            raise FinetuneError("No series has history before the validation window to learn from.")
        self.weights = counts[self.rows] / counts[self.rows].sum()
        self.target_periods = int(np.isfinite(data.grids.sales[:, :data.validation_origin]).sum())

    def _windows(self, rows: np.ndarray, origin: np.ndarray, stop: np.ndarray) -> dict[str, np.ndarray]:
        grids, horizon = self.data.grids, self.config.horizon
        part = replace(grids, **{name: getattr(grids, name)[rows] for name in
                                 ("sales", "observed", "promo", "price", "event", "event_window", "holiday")},
                       extra=None if grids.extra is None else grids.extra[rows])
        inputs = network_inputs(part, origin, self.config)
        ahead = origin[:, None] + np.arange(horizon)[None, :]
        index = np.clip(ahead, 0, grids.sales.shape[1] - 1)
        target = np.take_along_axis(part.sales, index, axis=1)
        seen = np.take_along_axis(part.observed, index, axis=1) > 0.5
        target = np.where(seen & (ahead < stop[:, None]), target, np.nan) / inputs["scale"][:, None]
        inputs["target"] = target.astype(np.float32)
        return inputs

    def batch(self, size: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        rows = rng.choice(self.rows, size, p=self.weights)
        span = self.data.origins_per_series[rows]
        origin = self.data.first_origin[rows] + np.floor(rng.random(size) * span).astype(np.int64)
        return self._windows(rows, origin, np.full(size, self.data.validation_origin))

    def validation(self, batch_size: int = 512) -> list[dict[str, np.ndarray]]:
        data = self.data
        rows = np.flatnonzero(data.first_origin < data.validation_origin)
        origin = np.full(len(rows), data.validation_origin)
        stop = origin + data.horizon
        return [self._windows(rows[lo:lo + batch_size], origin[lo:lo + batch_size], stop[lo:lo + batch_size])
                for lo in range(0, len(rows), batch_size)]


# -- LoRA -------------------------------------------------------------------------------------------------------------

def lora_targets(network) -> list[str]:
    """Every linear layer outside the fully trained heads."""
    from torch import nn

    return [name for name, module in network.named_modules()
            if isinstance(module, nn.Linear) and not name.startswith(FULLY_TRAINED)]


def add_lora(network, rank: int, alpha: int):
    """Inject LoRA adapters (peft) into ``network`` in place; only adapters and :data:`FULLY_TRAINED` heads
    stay trainable. Returns the peft ``LoraConfig`` used."""
    from peft import LoraConfig, inject_adapter_in_model

    lora = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=0.0, target_modules=lora_targets(network),
                      bias="none")
    inject_adapter_in_model(lora, network)
    for name, parameter in network.named_parameters():
        parameter.requires_grad = "lora_" in name or name.startswith(FULLY_TRAINED)
    return lora


def merged_network(network):
    """A plain network (no adapters) whose weights are ``network``'s with its LoRA updates added in."""
    import torch

    plain = build_network(network.config)
    state = {}
    modules = dict(network.named_modules())
    with torch.no_grad():
        for key, value in network.state_dict().items():
            if "lora_" in key:
                continue
            if ".base_layer." in key:
                owner, _, leaf = key.rpartition(".base_layer.")
                if leaf == "weight":
                    value = value + modules[owner].get_delta_weight("default")
                key = f"{owner}.{leaf}"
            state[key] = value
    plain.load_state_dict(state)
    return plain.eval()


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_file(folder: Path) -> Path:
    """The file holding a checkpoint's own weights: full weights, or its LoRA adapter."""
    return folder / (ADAPTER_FILE if (folder / ADAPTER_FILE).is_file() else WEIGHTS_FILE)


def base_reference(base: str | Path | None) -> dict:
    folder = Path(base).resolve() if base is not None else SHIPPED_CHECKPOINT
    shipped = folder == SHIPPED_CHECKPOINT.resolve()
    return {"base": "shipped" if shipped else str(folder), "base_sha256": file_hash(weights_file(folder))}


def base_folder(reference: dict) -> Path:
    return SHIPPED_CHECKPOINT if reference["base"] == "shipped" else Path(reference["base"])


def _base_network(base: str | Path | None, config: TSFMConfig):
    """A trainable copy of the base checkpoint's network laid out for ``config`` (its extra head new)."""
    source = load_network(base, "cpu")
    if base is not None and (Path(base) / ADAPTER_FILE).is_file():
        source = merged_network(source)  # adapters on adapters: the new ones adapt the merged weights
    network = build_network(config)
    missing, unexpected = network.load_state_dict(copy.deepcopy(source.state_dict()), strict=False)
    if unexpected or any(not key.startswith("extra.") for key in missing):
        raise CheckpointError(f"The base checkpoint does not fit the fine-tuned layout: missing {missing}, "
                              f"unexpected {unexpected}.")
    return network


def load_adapter_network(folder: str | Path):
    """The network of a LoRA checkpoint: its base (checked against the recorded hash) with the adapter."""
    from peft import LoraConfig
    from safetensors.torch import load_file

    folder = Path(folder)
    info = json.loads((folder / INFO_FILE).read_text())
    base = base_folder(info)
    if not (base / CONFIG_FILE).is_file():
        raise CheckpointError(f"The LoRA adapter in {folder} adapts {base}, which is not there any more.")
    if file_hash(weights_file(base)) != info["base_sha256"]:
        raise CheckpointError(f"The LoRA adapter in {folder} was trained on other weights than those now in "
                              f"{base}: fine-tune again.")
    config = TSFMConfig.from_json((folder / CONFIG_FILE).read_text())
    network = _base_network(None if info["base"] == "shipped" else base, config)
    lora = LoraConfig.from_pretrained(str(folder))
    add_lora(network, lora.r, lora.lora_alpha)
    state = load_file(str(folder / ADAPTER_FILE))
    _, unexpected = network.load_state_dict(state, strict=False)
    trainable = {name for name, p in network.named_parameters() if p.requires_grad}
    if unexpected or trainable - set(state):
        raise CheckpointError(f"The LoRA adapter in {folder} does not fit its base network.")
    return network


def save_finetuned(network, folder: Path, mode: str, lora, card: dict) -> None:
    """Write the checkpoint: full weights, or the adapter and what it adapts."""
    from safetensors.torch import save_file

    if mode == "full":
        save_checkpoint(network, folder, card=card)
        return
    config = TSFMConfig(**{**{k: getattr(network.config, k) for k in asdict(network.config)}, "card": card})
    trainable = {name for name, p in network.named_parameters() if p.requires_grad}
    state = {k: v.detach().cpu().contiguous() for k, v in network.state_dict().items() if k in trainable}
    save_file(state, str(folder / ADAPTER_FILE), metadata={"format": "pt"})
    lora.save_pretrained(str(folder))
    (folder / CONFIG_FILE).write_text(config.to_json() + "\n")


# -- training ---------------------------------------------------------------------------------------------------------

@dataclass
class FinetuneResult:
    """What :func:`finetune` returns: the summary it wrote to ``finetune.json`` and the trained network (in
    memory, eval mode, best weights; the same forecasts as the saved checkpoint reloaded)."""

    summary: dict
    network: object


def finetune(frame: pd.DataFrame, out: str | Path, config: FinetuneConfig = FinetuneConfig(),
             freq: str | None = None, known_future: Sequence[str] = PLANNED_COLUMNS,
             countries: Sequence[str] = DEFAULT_COUNTRIES, base: str | Path | None = None, resume: bool = False,
             progress: Progress | None = None, dataset: dict | None = None) -> FinetuneResult:
    """Fine-tune the checkpoint ``base`` (default: the shipped one) on ``frame`` and save it to ``out``.

    ``progress`` receives dicts with ``step, total, epoch, fraction, train_loss, validation_loss`` (the latest
    check), ``best_validation_loss, elapsed_s, message`` as training goes (an exception it raises stops training; ``state.pt`` allows resuming).
    """
    import torch

    say = progress or (lambda update: None)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    base_config = load_network(base, "cpu").config
    freq = freq or infer_freq(frame[schema.DS])
    horizon = min(config.horizon or schema.DEFAULT_HORIZON[freq], base_config.horizon)
    known_future = tuple(known_future)
    extras = set(base_config.extra_features)  # a fine-tuned base keeps the inputs it was given
    if config.extra_covariates:
        extras |= set(choose_extra_features(frame, known_future, _open_columns_of(frame, known_future)))
    extras = sorted(extras)
    network_config = replace(base_config, extra_features=tuple(extras), card={})
    say({"message": "Laying out the data", "step": 0, "total": config.max_steps, "fraction": 0.0})
    data = prepare_data(frame, network_config, horizon, freq, known_future, countries, base)
    network = _base_network(base, network_config)
    lora = add_lora(network, config.lora_rank, config.lora_alpha) if config.mode == "lora" else None
    network.train()
    sampler = WindowSampler(data, network_config)
    validation = sampler.validation()
    new = [p for n, p in network.named_parameters() if p.requires_grad and n.startswith("extra.")]
    rest = [p for n, p in network.named_parameters() if p.requires_grad and not n.startswith("extra.")]
    groups = [{"params": rest, "base_lr": config.lr}] + ([{"params": new, "base_lr": config.extra_learning_rate}]
                                                         if new else [])
    optimiser = torch.optim.AdamW(groups, lr=config.lr, weight_decay=config.weight_decay)
    trainable = sum(p.numel() for p in network.parameters() if p.requires_grad)
    windows_per_epoch = max(sampler.target_periods / max(network_config.horizon, 1), 1.0)

    rng = np.random.default_rng(config.seed)
    step, elapsed_before, best_loss, best_step, bad_evals = 0, 0.0, math.inf, 0, 0
    best_state = None
    state_path = out / STATE_FILE
    if resume and state_path.exists():
        state = torch.load(state_path, map_location="cpu", weights_only=False)
        network.load_state_dict(state["model"], strict=False)
        optimiser.load_state_dict(state["optimiser"])
        rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        step, elapsed_before = state["step"], state["elapsed"]
        best_loss, best_step, bad_evals, best_state = (state["best_loss"], state["best_step"], state["bad_evals"],
                                                       state["best_state"])
        truncate_log(out / LOG_FILE, step)
    else:  # a fresh run: nothing of an earlier one in the folder may be mistaken for this one's
        for stale in (LOG_FILE, STATE_FILE, INFO_FILE, CONFIG_FILE, WEIGHTS_FILE, ADAPTER_FILE, ADAPTER_CONFIG):
            (out / stale).unlink(missing_ok=True)
    zero_shot_loss = evaluate(network, validation)
    if step == 0:
        append_log(out / LOG_FILE, {"step": 0, "epoch": 0.0, "lr": 0.0, "train_loss": "",
                                     "validation_loss": round(zero_shot_loss, 5),
                                     "best_validation_loss": round(zero_shot_loss, 5), "elapsed_s": 0.0})
        best_loss, best_state = zero_shot_loss, _trainable_state(network)
    say({"message": f"Training {trainable:,} of {sum(p.numel() for p in network.parameters()):,} weights "
                    f"({config.mode})", "step": step, "total": config.max_steps, "validation_loss": zero_shot_loss})

    def save_state() -> None:
        torch.save({"model": _trainable_state(network), "optimiser": optimiser.state_dict(),
                    "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(), "step": step,
                    "elapsed": elapsed, "best_loss": best_loss, "best_step": best_step, "bad_evals": bad_evals,
                    "best_state": best_state}, state_path.with_suffix(".tmp"))
        os.replace(state_path.with_suffix(".tmp"), state_path)

    clock = time.perf_counter()
    elapsed = elapsed_before
    running, count, stop_reason = 0.0, 0, None
    validation_loss = zero_shot_loss if step == 0 else best_loss
    while step < config.max_steps and stop_reason is None:
        for group in optimiser.param_groups:
            group["lr"] = learning_rate(step, group["base_lr"], config)
        tensors = batch_tensors(sampler.batch(config.batch_size, rng))
        target = tensors.pop("target")
        loss = pinball_loss(network(**tensors), target, network_config.quantiles)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in network.parameters() if p.requires_grad], config.clip_norm)
        optimiser.step()
        running += float(loss.detach())
        count += 1
        step += 1
        elapsed = elapsed_before + time.perf_counter() - clock
        epoch = step * config.batch_size / windows_per_epoch
        if step % config.eval_every == 0 or step == config.max_steps:
            validation_loss = evaluate(network, validation)
            if validation_loss < best_loss - 1e-6:
                best_loss, best_step, bad_evals, best_state = validation_loss, step, 0, _trainable_state(network)
            else:
                bad_evals += 1
            row = {"step": step, "epoch": round(epoch, 3), "lr": round(optimiser.param_groups[0]["lr"], 7),
                   "train_loss": round(running / max(count, 1), 5), "validation_loss": round(validation_loss, 5),
                   "best_validation_loss": round(best_loss, 5), "elapsed_s": round(elapsed, 1)}
            append_log(out / LOG_FILE, row)
            running, count = 0.0, 0
            if bad_evals >= config.patience:
                stop_reason = "early stopping"
        if step % config.checkpoint_every == 0:
            save_state()
        if stop_reason is None and config.max_minutes is not None and elapsed >= config.max_minutes * 60:
            stop_reason = "time budget"
        say({"message": f"Step {step:,} of {config.max_steps:,}", "step": step, "total": config.max_steps,
             "epoch": round(epoch, 3), "fraction": step / config.max_steps, "train_loss": float(loss.detach()),
             "validation_loss": validation_loss, "best_validation_loss": best_loss, "elapsed_s": round(elapsed, 1)})
    stop_reason = stop_reason or "steps"
    save_state()
    network.load_state_dict(best_state, strict=False)
    network.eval()
    summary = {
        "mode": config.mode, **base_reference(base), "dataset": dataset or {}, "freq": freq, "horizon": horizon,
        "known_future": list(known_future), "countries": list(countries), "extra_features": extras,
        "settings": asdict(config), "steps": step, "best_step": best_step, "stopped_by": stop_reason,
        "zero_shot_validation_loss": round(zero_shot_loss, 5), "validation_loss": round(best_loss, 5),
        "trainable_parameters": trainable, "series": int(len(sampler.rows)),
        "wall_time_s": round(elapsed, 1), "peak_memory_mb": peak_memory_mb(),
        "created_at": pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds"),
    }
    save_finetuned(network, out, config.mode, lora, card={k: summary[k] for k in ("mode", "base", "steps",
                                                                                    "validation_loss")})
    write_info(out, summary)
    say({"message": f"Saved after {step:,} steps (best at step {best_step:,}; stopped by {stop_reason})",
         "step": step, "total": config.max_steps, "fraction": 1.0, "validation_loss": best_loss,
         "elapsed_s": round(elapsed, 1)})
    return FinetuneResult(summary, network)


def _open_columns_of(frame: pd.DataFrame, known_future: Sequence[str]) -> list[str]:
    from core.models.tsfm import open_columns

    return open_columns(frame, [c for c in known_future if c in frame.columns])


def _trainable_state(network) -> dict:
    trainable = {name for name, p in network.named_parameters() if p.requires_grad}
    return {k: v.detach().clone() for k, v in network.state_dict().items() if k in trainable}


def peak_memory_mb() -> float:
    """This process's peak resident memory so far."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def write_info(folder: Path, info: dict) -> None:
    path = Path(folder) / INFO_FILE
    path.with_suffix(".tmp").write_text(json.dumps(info, indent=1, default=str) + "\n")
    os.replace(path.with_suffix(".tmp"), path)


def read_info(folder: str | Path) -> dict:
    path = Path(folder) / INFO_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def read_log(folder: str | Path) -> pd.DataFrame:
    """The training log (``log.csv``) as a frame; empty before the first row is written."""
    path = Path(folder) / LOG_FILE
    if not path.is_file():
        return pd.DataFrame(columns=list(LOG_FIELDS))
    log = pd.read_csv(path)
    return log.apply(pd.to_numeric, errors="coerce")


# -- before / after ---------------------------------------------------------------------------------------------------

#: the baselines the fine-tuned model is compared with (besides the zero-shot transformer)
COMPARISON_BASELINES: tuple[str, ...] = ("snaive", "ets", "lgbm")
FINETUNED_ROW, ZERO_SHOT_ROW = "finetuned", "tsfm"


def compare(frame: pd.DataFrame, checkpoint: str | Path, freq: str | None = None,
            known_future: Sequence[str] = PLANNED_COLUMNS, countries: Sequence[str] = DEFAULT_COUNTRIES,
            horizon: int | None = None, baselines: Sequence[str] = COMPARISON_BASELINES,
            progress: Callable[[float, str], None] | None = None) -> pd.DataFrame:
    """Before (zero-shot, or the base version) vs fine-tuned vs ``baselines`` on the validation window (the last ``horizon`` periods, which
    fine-tuning never trained on but chose its stopping step by): one row per model with ``model, label``
    and the leaderboard metrics (``mase, rel_mase, wape, bias, wql, coverage_80, coverage_95``)."""
    from core.backtest import BacktestConfig, cross_validation
    from core.models import FINETUNED_PREFIX

    info = read_info(checkpoint)
    freq = freq or info.get("freq") or infer_freq(frame[schema.DS])
    horizon = horizon or info.get("horizon") or schema.DEFAULT_HORIZON[freq]
    finetuned = FINETUNED_PREFIX + str(Path(checkpoint).resolve())
    # "before": the checkpoint the run started from (the shipped one, or the version it built on)
    before = "tsfm" if info.get("base", "shipped") == "shipped" else FINETUNED_PREFIX + info["base"]
    models = (*baselines, before, finetuned)
    config = BacktestConfig(h=horizon, n_windows=1, models=models, known_future=tuple(known_future),
                            countries=tuple(countries), freq=freq, auto=False)
    result = cross_validation(frame, config, progress=progress)
    table = result.leaderboard.copy()
    table["model"] = table["model"].replace({finetuned: FINETUNED_ROW, before: ZERO_SHOT_ROW})
    labels = {FINETUNED_ROW: "Fine-tuned transformer", ZERO_SHOT_ROW: "Pretrained transformer (zero-shot)"
              if before == "tsfm" else "The base it was fine-tuned from"}
    from core.models import label_of

    table.insert(1, "label", [labels.get(m, label_of(m)) for m in table["model"]])
    return table.drop(columns=["rows"], errors="ignore").reset_index(drop=True)


def verdict(table: pd.DataFrame) -> str:
    """The comparison in plain words: did fine-tuning help, and does the fine-tuned model beat the baselines."""
    rows = table.set_index("model")
    if FINETUNED_ROW not in rows.index or ZERO_SHOT_ROW not in rows.index:
        return "No comparison: the fine-tuned or the zero-shot model is missing from the table."
    tuned, zero = rows.loc[FINETUNED_ROW], rows.loc[ZERO_SHOT_ROW]
    change = (zero["wql"] - tuned["wql"]) / zero["wql"] if zero["wql"] > 0 else 0.0
    words = (f"WQL {tuned['wql']:.3f} against {zero['wql']:.3f} zero-shot, MASE {tuned['mase']:.3f} against "
             f"{zero['mase']:.3f}")
    if change >= 0.02:
        first = f"Fine-tuning helped: its bands and forecasts are {change:.0%} better than zero-shot ({words})."
    elif change > -0.02:
        first = f"Fine-tuning made little difference ({words})."
    else:
        first = f"Fine-tuning made the forecasts worse ({words}); keep the zero-shot model."
    others = rows.drop(index=[FINETUNED_ROW, ZERO_SHOT_ROW])
    if others.empty:
        return first
    best = others["mase"].idxmin()
    if tuned["mase"] <= others.loc[best, "mase"]:
        second = (f"It is also the most accurate model here (the best other, {others.loc[best, 'label']}, has MASE "
                  f"{others.loc[best, 'mase']:.3f}).")
    else:
        second = (f"{others.loc[best, 'label']} is still more accurate on these weeks (MASE "
                  f"{others.loc[best, 'mase']:.3f}).")
    advice = (" Activate it to use it for forecasts and the reorder plan." if change >= 0.02 else "")
    return f"{first} {second}{advice}"


# -- as a background job ----------------------------------------------------------------------------------------------

def run_folder(params: dict, job_folder: str | Path) -> Path:
    """Where a ``finetune`` job writes its run (checkpoint, ``log.csv``, ``state.pt``) until it is registered:
    its own folder's ``model``, or the stopped run it resumes (``resume_dir``)."""
    return Path(params["resume_dir"]) if params.get("resume_dir") else Path(job_folder) / "model"


def run_job(params: dict, context) -> dict:
    """The ``finetune`` job (:mod:`core.jobs`): fine-tune on a workspace dataset, compare, register.

    ``params``: ``dataset_id``, ``name`` (the version name), ``mode``, and optionally ``max_steps``,
    ``max_minutes``, ``horizon``, ``learning_rate``, ``base`` (a registered version), ``countries``,
    ``known_future``, ``resume_dir`` (the ``model`` folder of a stopped job, to continue from). Progress goes to
    the job's progress record; the run's files are in the job folder until registered. Returns the version id,
    the comparison and the verdict.
    """
    from core.registry import ModelRegistry, resolve_checkpoint

    workspace = context.workspace
    ModelRegistry(workspace).check_name(params["name"])  # before training, not after it
    dataset = workspace.get(params["dataset_id"])
    frame = workspace.load_frame(dataset.id)
    known = tuple(params.get("known_future") or [c for c in PLANNED_COLUMNS if c in frame.columns])
    countries = tuple(params.get("countries") or DEFAULT_COUNTRIES)
    base = resolve_checkpoint(params["base"], workspace) if params.get("base") else None
    settings = {k: params[k] for k in ("mode", "max_steps", "max_minutes", "horizon", "learning_rate")
                if params.get(k) is not None}
    config = FinetuneConfig(**settings)
    out = run_folder(params, context.folder)

    def report(update: dict) -> None:
        fraction = update.get("fraction")
        context.report(**{**update, "stage": "training",
                          "fraction": None if fraction is None else 0.85 * fraction})

    summary = finetune(frame, out, config, freq=dataset.freq, known_future=known, countries=countries, base=base,
                       resume=bool(params.get("resume_dir")), progress=report,
                       dataset={"id": dataset.id, "name": dataset.name, "created_at": dataset.created_at}).summary
    context.report(stage="comparing", message="Scoring zero-shot, fine-tuned and baselines on the validation "
                   "window", fraction=0.86, force=True)
    table = compare(frame, out, dataset.freq, known, countries, summary["horizon"],
                    progress=lambda f, m: context.report(stage="comparing", message=m, fraction=0.86 + 0.13 * f))
    summary["comparison"] = table.to_dict(orient="records")
    summary["verdict"] = verdict(table)
    write_info(out, summary)
    scores = {row["model"]: {k: row[k] for k in ("mase", "wql", "coverage_80")} for row in summary["comparison"]}
    version = ModelRegistry(workspace).register(out, params["name"], dataset.id, dataset.name, scores)
    return {"version_id": version.id, "version": version.name, "verdict": summary["verdict"],
            "comparison": summary["comparison"], "steps": summary["steps"], "stopped_by": summary["stopped_by"],
            "wall_time_s": summary["wall_time_s"]}

