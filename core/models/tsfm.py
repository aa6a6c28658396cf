"""StockPilot's pretrained forecasting transformer: a PatchTST encoder with quantile and covariate heads.

The network (:class:`TSFMNetwork`) reads a series' last ``context_length`` periods divided by their mean (so it
is scale-free), cut into overlapping patches and encoded by ``transformers``' :class:`PatchTSTModel` (layer
norm, so a saved model reloads exactly). Two heads read the encoding:

* a linear head from all patch encodings (plus, per patch, the share of observed periods, promotion, event and
  holiday days, and the frequency) to ``horizon`` x 13 quantiles -- the forecast when nothing is planned;
* a covariate head, per future period, from what is known about it -- promotion planned, price against the usual
  price, e-commerce event / event window / public holiday, a promotion in the week before (pull-forward), the same
  period a year earlier and the level around it then -- plus a summary of the encoding; it adds its own
  correction to each quantile.

PatchTST has no input for future covariates, hence the second head; the ablation in the model card says what it
adds. The network is trained by :mod:`core.models.pretrain` on :mod:`core.data.corpus` and loaded here from
safetensors only (no network access).

:class:`TSFMForecaster` plugs it into the forecaster interface: zero-shot, batched, on a GPU when one is present.
Its bands are rescaled by how well they covered the last periods of the history (see ``calibrate``).
"""

from __future__ import annotations

import functools
import json
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import pandas as pd

from core import schema
from core.data.calendar import DEFAULT_COUNTRIES, event_features, events_for_countries
from core.errors import StockPilotError
from core.metrics import pinball
from core.models.base import (
    PLANNED_COLUMNS,
    Forecaster,
    Panel,
    ar1_equivalent_correlation,
    future_dates,
    pit_scores,
)
from core.models.features import numeric_grid, value_grids

#: the checkpoint shipped with StockPilot (the output of ``python -m core pretrain``)
SHIPPED_CHECKPOINT = Path(__file__).resolve().parent / "tsfm_checkpoint"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
#: a fine-tuned LoRA checkpoint's adapter weights (instead of WEIGHTS_FILE)
ADAPTER_FILE = "adapter_model.safetensors"
#: the quantile levels the network emits; other levels are interpolated between them
NETWORK_QUANTILES: tuple[float, ...] = (0.025, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.975)
FREQS: tuple[str, ...] = (schema.DAILY, schema.WEEKLY, schema.MONTHLY)
#: the same period a year earlier, and the half-width of the window averaged around it
YEAR_LAG: dict[str, tuple[int, int]] = {schema.DAILY: (364, 3), schema.WEEKLY: (52, 1), schema.MONTHLY: (12, 0)}
#: periods before the year-ago forecast origin whose mean is last year's level
YEAR_BASE: dict[str, int] = {schema.DAILY: 28, schema.WEEKLY: 8, schema.MONTHLY: 3}
#: series the held-out check (band calibration, calendar choice) uses at most: its results are shared by all
CALIBRATION_SERIES = 500
#: observed periods a series needs (fewer: the base class's own-average fallback)
MIN_HISTORY: dict[str, int] = {schema.DAILY: 14, schema.WEEKLY: 8, schema.MONTHLY: 6}
PATCH_FEATURES: tuple[str, ...] = ("observed", "promo", "event", "holiday")
FUTURE_FEATURES: tuple[str, ...] = (
    "promo", "log_price_ratio", "event", "event_window", "holiday", "promo_last_week",
    "year_ago", "year_ago_smooth", "year_ago_known", "year_ago_level", "step", "daily", "weekly", "monthly",
)


class CheckpointError(StockPilotError):
    """A checkpoint folder is missing or unreadable."""


@dataclass(frozen=True)
class TSFMConfig:
    """Architecture of the network; saved as ``config.json`` beside the weights."""

    context_length: int = 256
    patch_length: int = 16
    patch_stride: int = 8
    d_model: int = 128
    n_heads: int = 4
    n_layers: int = 3
    ffn_dim: int = 256
    #: dropout in the encoder and heads (0: the corpus is drawn fresh, and dropout doubled the step time on CPU)
    dropout: float = 0.0
    horizon: int = 64
    quantiles: tuple[float, ...] = NETWORK_QUANTILES
    covariate_hidden: int = 64
    summary_dim: int = 32
    use_covariates: bool = True
    #: "patchtst" (self-attention over patches) or "patchtsmixer" (MLP mixing); compared in the model card
    backbone: str = "patchtst"
    #: known-future inputs a fine-tuned model added (see :func:`extra_feature_grid`): read by a third head
    extra_features: tuple[str, ...] = ()
    #: what the checkpoint records about how it was made (corpus, steps, scores); not architecture
    card: dict = field(default_factory=dict, compare=False)

    @property
    def n_patches(self) -> int:
        return (self.context_length - self.patch_length) // self.patch_stride + 1

    def backbone_config(self):
        if self.backbone == "patchtsmixer":
            from transformers import PatchTSMixerConfig

            return PatchTSMixerConfig(
                context_length=self.context_length, patch_length=self.patch_length, patch_stride=self.patch_stride,
                num_input_channels=1, d_model=self.d_model, num_layers=self.n_layers, dropout=self.dropout,
                scaling=None, norm_mlp="LayerNorm", mode="common_channel", prediction_length=self.horizon)
        if self.backbone != "patchtst":
            raise ValueError(f"backbone must be 'patchtst' or 'patchtsmixer', got {self.backbone!r}.")
        from transformers import PatchTSTConfig

        return PatchTSTConfig(
            num_input_channels=1, context_length=self.context_length, patch_length=self.patch_length,
            patch_stride=self.patch_stride, d_model=self.d_model, num_attention_heads=self.n_heads,
            num_hidden_layers=self.n_layers, ffn_dim=self.ffn_dim, norm_type="layernorm", scaling=None,
            do_mask_input=False, attention_dropout=self.dropout, ff_dropout=self.dropout,
            positional_dropout=self.dropout, prediction_length=self.horizon, pre_norm=True)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> TSFMConfig:
        raw = json.loads(text)
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in raw.items() if k in known}
        for name in ("quantiles", "extra_features"):
            if name in values:
                values[name] = tuple(values[name])
        return cls(**values)


def build_network(config: TSFMConfig):
    """A fresh :class:`TSFMNetwork` (torch is imported here, not when :mod:`core.models` loads)."""
    import torch
    from torch import nn
    from transformers import PatchTSMixerModel, PatchTSTModel

    class TSFMNetwork(nn.Module):
        def __init__(self, config: TSFMConfig):
            super().__init__()
            self.config = config
            backbone = PatchTSMixerModel if config.backbone == "patchtsmixer" else PatchTSTModel
            self.encoder = backbone(config.backbone_config())
            n_quantiles = len(config.quantiles)
            head_in = config.n_patches * (config.d_model + len(PATCH_FEATURES)) + len(FREQS)
            self.head = nn.Linear(head_in, config.horizon * n_quantiles)
            self.dropout = nn.Dropout(config.dropout)
            if config.use_covariates or config.extra_features:
                self.summary = nn.Linear(head_in, config.summary_dim)
            if config.use_covariates:
                self.covariates = nn.Sequential(
                    nn.Linear(len(FUTURE_FEATURES) + config.summary_dim, config.covariate_hidden), nn.GELU(),
                    nn.Linear(config.covariate_hidden, config.covariate_hidden), nn.GELU(),
                    nn.Linear(config.covariate_hidden, n_quantiles))
            if config.extra_features:
                # added by fine-tuning; its last layer starts at zero, so training starts from the base's forecast
                self.extra = nn.Sequential(
                    nn.Linear(len(config.extra_features) + config.summary_dim, config.covariate_hidden), nn.GELU(),
                    nn.Linear(config.covariate_hidden, n_quantiles))
                nn.init.zeros_(self.extra[-1].weight)
                nn.init.zeros_(self.extra[-1].bias)

        def forward(self, context, patch_features, freq, future, extra=None):
            encoded = self.encoder(past_values=context.unsqueeze(-1)).last_hidden_state[:, 0]  # (B, P, d)
            flat = torch.cat([encoded, patch_features], dim=-1).flatten(1)
            flat = torch.cat([flat, freq], dim=-1)
            out = self.head(self.dropout(flat)).view(len(context), self.config.horizon, -1)
            if self.config.use_covariates or self.config.extra_features:
                summary = self.summary(flat).unsqueeze(1).expand(-1, self.config.horizon, -1)
            if self.config.use_covariates:
                out = out + self.covariates(torch.cat([future, summary], dim=-1))
            if self.config.extra_features:
                out = out + self.extra(torch.cat([extra, summary], dim=-1))
            return out

    return TSFMNetwork(config)


def pinball_loss(prediction, target, quantiles: Sequence[float]):
    """Mean pinball loss over the quantile levels and the finite targets (``target`` NaN where unknown)."""
    import torch

    levels = torch.tensor(quantiles, dtype=prediction.dtype, device=prediction.device)
    valid = torch.isfinite(target)
    error = torch.nan_to_num(target).unsqueeze(-1) - prediction
    loss = torch.maximum(levels * error, (levels - 1) * error).mean(-1)
    return (loss * valid).sum() / valid.sum().clamp(min=1)


# -- inputs -----------------------------------------------------------------------------------------------------------

@dataclass
class SeriesGrids:
    """What the network reads about ``n`` series on one period grid of length ``T`` (history and future).

    ``sales`` is NaN where unobserved or in the future; ``promo``, ``event``, ``event_window``, ``holiday`` are
    in [0, 1]; ``price`` is a price or a price ratio (NaN where unknown); ``open`` is 0 where the shop is closed.
    """

    freq: str
    sales: np.ndarray
    observed: np.ndarray
    promo: np.ndarray
    price: np.ndarray
    event: np.ndarray
    event_window: np.ndarray
    holiday: np.ndarray
    #: ``(n, T, E)`` values of the checkpoint's ``extra_features`` (fine-tuned models only)
    extra: np.ndarray | None = None


def _gather(values: np.ndarray, index: np.ndarray, fill: float) -> np.ndarray:
    inside = (index >= 0) & (index < values.shape[1])
    taken = np.take_along_axis(values, np.clip(index, 0, values.shape[1] - 1), axis=1)
    return np.where(inside, taken, fill)


def network_inputs(grids: SeriesGrids, origin: np.ndarray, config: TSFMConfig) -> dict[str, np.ndarray]:
    """The network's inputs for forecasting each series from period ``origin`` (the first forecast period).

    Returns float32 arrays ``context (n, C)``, ``patch_features (n, P, 4)``, ``freq (n, 3)``,
    ``future (n, H, F)`` and the per-series ``scale (n,)`` that the outputs are multiplied by.
    """
    n = len(origin)
    horizon, length = config.horizon, config.context_length
    origin = np.asarray(origin, dtype=np.int64)[:, None]
    past = origin + np.arange(-length, 0)[None, :]
    ahead = origin + np.arange(horizon)[None, :]
    sales = _gather(grids.sales, past, np.nan)
    observed = (_gather(grids.observed, past, 0.0) > 0.5) & np.isfinite(sales)
    known = np.where(observed, sales, np.nan)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        scale = np.nanmean(known, axis=1)
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
    started = np.cumsum(observed, axis=1) > 0
    context = np.where(observed, sales / scale[:, None], np.where(started, 1.0, 0.0))

    per_period = np.nan_to_num(np.stack([observed.astype(float), np.clip(_gather(grids.promo, past, 0.0), 0, 1),
                                         _gather(grids.event, past, 0.0), _gather(grids.holiday, past, 0.0)],
                                        axis=-1))
    starts = np.arange(config.n_patches) * config.patch_stride
    cumulative = np.concatenate([np.zeros((n, 1, per_period.shape[-1])), np.cumsum(per_period, axis=1)], axis=1)
    patch_features = (cumulative[:, starts + config.patch_length] - cumulative[:, starts]) / config.patch_length

    freq_onehot = np.zeros((n, len(FREQS)))
    freq_onehot[:, FREQS.index(grids.freq)] = 1.0

    promo = np.clip(np.nan_to_num(_gather(grids.promo, ahead, 0.0)), 0, 1)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        usual_price = np.nanmedian(np.where(observed, _gather(grids.price, past, np.nan), np.nan), axis=1)
        ratio = _gather(grids.price, ahead, np.nan) / usual_price[:, None]
        log_price = np.clip(np.nan_to_num(np.log(ratio), nan=0.0, posinf=0.0, neginf=0.0), -1, 1)
    last_week = np.zeros((n, horizon))
    for lag in range(1, 8):
        last_week = np.maximum(last_week, np.clip(np.nan_to_num(_gather(grids.promo, ahead - lag, 0.0)), 0, 1))

    lag, half = YEAR_LAG[grids.freq]
    origin_flat = origin[:, 0]

    def year_ago(shift: int) -> np.ndarray:
        index = ahead - lag + shift
        values = _gather(grids.sales, index, np.nan)
        usable = (index < origin) & (_gather(grids.observed, index, 0.0) > 0.5) & np.isfinite(values)
        return np.where(usable, values, np.nan)

    same = year_ago(0)
    around = np.stack([year_ago(s) for s in range(-half, half + 1)], axis=-1)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        smooth = np.nanmean(around, axis=-1)
        base_index = origin_flat[:, None] - lag - np.arange(1, YEAR_BASE[grids.freq] + 1)[None, :]
        base_values = _gather(grids.sales, base_index, np.nan)
        base_values = np.where(_gather(grids.observed, base_index, 0.0) > 0.5, base_values, np.nan)
        level = np.nanmean(base_values, axis=1)
    known_year = np.isfinite(same) | np.isfinite(smooth)
    future = np.stack([
        promo, log_price,
        np.clip(np.nan_to_num(_gather(grids.event, ahead, 0.0)), 0, 1),
        np.clip(np.nan_to_num(_gather(grids.event_window, ahead, 0.0)), 0, 1),
        np.clip(np.nan_to_num(_gather(grids.holiday, ahead, 0.0)), 0, 1),
        last_week,
        np.log1p(np.nan_to_num(np.clip(same / scale[:, None], 0, 1e4))),
        np.log1p(np.nan_to_num(np.clip(smooth / scale[:, None], 0, 1e4))),
        known_year.astype(float),
        np.repeat(np.log1p(np.nan_to_num(np.clip(level / scale, 0, 1e4)))[:, None], horizon, axis=1),
        np.repeat(((np.arange(horizon) + 1) / horizon)[None, :], n, axis=0),
        *[np.repeat(freq_onehot[:, [j]], horizon, axis=1) for j in range(len(FREQS))],
    ], axis=-1)
    inputs = {"context": context.astype(np.float32), "patch_features": patch_features.astype(np.float32),
              "freq": freq_onehot.astype(np.float32), "future": future.astype(np.float32),
              "scale": scale.astype(np.float64)}
    if config.extra_features:
        extra = np.zeros((n, horizon, len(config.extra_features)), dtype=np.float32)
        if grids.extra is not None:
            inside = (ahead >= 0) & (ahead < grids.extra.shape[1])
            rows = np.repeat(np.arange(n)[:, None], horizon, axis=1)
            extra[inside] = grids.extra[rows[inside], ahead[inside]]
        inputs["extra"] = extra
    return inputs


def extra_feature_grid(names: Sequence[str], columns: dict[str, np.ndarray], statics: dict[str, np.ndarray],
                       shape: tuple[int, int]) -> np.ndarray:
    """``(n, T, E)`` float32 values of a fine-tuned model's extra inputs, in the order of ``names``.

    A name is ``future:COLUMN`` (a numeric known-future column: values in [-1, 1] as they are, larger ones
    compressed to ``sign * (1 + log|x|)``), ``future:COLUMN=VALUE`` (1 where a text column equals VALUE) or
    ``static:COLUMN=VALUE`` (1 for the series whose static column equals VALUE). ``columns`` holds the
    ``(n, T)`` grids of the known-future columns, ``statics`` each static column per series. A column that is
    missing gives zeros (the value is taken as unknown).
    """
    n, length = shape
    out = np.zeros((n, length, len(names)), dtype=np.float32)
    for k, name in enumerate(names):
        kind, _, spec = name.partition(":")
        column, equals, value = spec.partition("=")
        if kind == "static":
            if column in statics:
                out[:, :, k] = (np.asarray(statics[column]).astype(str) == value)[:, None]
            continue
        if column not in columns:
            continue
        grid = columns[column]
        if equals:
            out[:, :, k] = np.asarray(grid, dtype=object).astype(str) == value
        else:
            x = np.nan_to_num(numeric_grid(np.asarray(grid)), nan=0.0, posinf=0.0, neginf=0.0)
            out[:, :, k] = np.where(np.abs(x) <= 1, x, np.sign(x) * (1 + np.log(np.maximum(np.abs(x), 1))))
    return out


def interpolate_levels(values: np.ndarray, levels: Sequence[float], wanted: Sequence[float]) -> dict[float, np.ndarray]:
    """Quantiles at ``wanted`` levels from sorted ``values[..., j]`` at ``levels`` (flat beyond the outer ones)."""
    levels = np.asarray(levels, dtype=float)
    values = np.sort(values, axis=-1)
    out = {}
    for q in wanted:
        if q <= levels[0]:
            out[q] = values[..., 0]
        elif q >= levels[-1]:
            out[q] = values[..., -1]
        else:
            j = int(np.searchsorted(levels, q, side="right") - 1)
            weight = (q - levels[j]) / (levels[j + 1] - levels[j])
            out[q] = values[..., j] + weight * (values[..., j + 1] - values[..., j])
    return out


# -- loading ----------------------------------------------------------------------------------------------------------

def save_checkpoint(network, folder: str | Path, card: dict | None = None) -> Path:
    """Write ``config.json`` and ``model.safetensors`` to ``folder``."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = network.config
    if card is not None:
        config = TSFMConfig(**{**{f.name: getattr(config, f.name) for f in fields(TSFMConfig)}, "card": card})
    state = {k: v.detach().cpu().contiguous() for k, v in network.state_dict().items()}
    save_file(state, str(folder / WEIGHTS_FILE), metadata={"format": "pt"})
    (folder / CONFIG_FILE).write_text(config.to_json() + "\n")
    return folder


def load_network(folder: str | Path | None = None, device: str | None = None):
    """The network in ``folder`` (default: the shipped checkpoint), in eval mode, from safetensors only.

    ``folder`` holds ``config.json`` and either ``model.safetensors`` or a fine-tuned LoRA adapter
    (:mod:`core.models.finetune`), which is loaded onto the base it names. Loaded networks are cached and
    shared: do not train them in place.
    """
    folder = Path(folder) if folder is not None else SHIPPED_CHECKPOINT
    config_path, weights_path = folder / CONFIG_FILE, folder / WEIGHTS_FILE
    adapter_path = folder / ADAPTER_FILE
    if adapter_path.is_file():
        weights_path = adapter_path
    if not config_path.is_file() or not weights_path.is_file():
        raise CheckpointError(
            f"No transformer checkpoint in {folder}: it needs {CONFIG_FILE} and {WEIGHTS_FILE} (or a fine-tuned "
            f"{ADAPTER_FILE}). Create one with 'python -m core pretrain --out FOLDER' or 'python -m core finetune'.")
    stamp = (weights_path.stat().st_mtime_ns, config_path.stat().st_mtime_ns)
    return _load_cached(str(folder.resolve()), stamp, device or default_device())


@functools.lru_cache(maxsize=4)
def _load_cached(folder: str, stamp: tuple[int, int], device: str):
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        if (Path(folder) / ADAPTER_FILE).is_file():
            from core.models.finetune import load_adapter_network

            network = load_adapter_network(folder)
        else:
            config = TSFMConfig.from_json((Path(folder) / CONFIG_FILE).read_text())
            network = build_network(config)
            state = load_file(str(Path(folder) / WEIGHTS_FILE))
            network.load_state_dict(state)
    except (OSError, ValueError, RuntimeError, TypeError, KeyError, SafetensorError) as error:
        raise CheckpointError(f"The transformer checkpoint in {folder} cannot be read: {error}") from error
    network.eval()  # forecasting runs under torch.no_grad() (run_network)
    for parameter in network.parameters():
        parameter.requires_grad_(False)
    return network.to(device)


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def run_network(network, inputs: dict[str, np.ndarray], batch_size: int = 1024) -> np.ndarray:
    """Quantiles ``(n, H, Q)`` in the series' own units, in batches."""
    import torch

    device = next(network.parameters()).device
    n = len(inputs["context"])
    out = np.empty((n, network.config.horizon, len(network.config.quantiles)), dtype=np.float64)
    with torch.no_grad():
        for lo in range(0, n, batch_size):
            part = {k: torch.from_numpy(inputs[k][lo:lo + batch_size]).to(device)
                    for k in ("context", "patch_features", "freq", "future", "extra") if k in inputs}
            out[lo:lo + batch_size] = network(**part).float().cpu().numpy()
    return np.sort(out, axis=-1) * inputs["scale"][:, None, None]


# -- the forecaster ---------------------------------------------------------------------------------------------------

def open_columns(frame: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    """Known-future 0/1 columns that mark closed periods: where they are 0, (almost) nothing sells.

    Found from the data, not the name: a column qualifies when at least 0.5% of rows are 0 and 95% of those
    rows sold nothing while most rows at 1 sold something. The forecast is 0 where such a column is 0, and those
    periods are not read as demand.
    """
    found = []
    y = pd.to_numeric(frame[schema.Y], errors="coerce")
    for column in columns:
        if column not in frame.columns or column in (schema.PROMO, schema.PRICE):
            continue
        values = pd.to_numeric(frame[column], errors="coerce")
        if values.isna().all() or not values.dropna().isin([0, 1]).all():
            continue
        closed = values == 0
        if closed.mean() < 0.005 or (values == 1).sum() == 0:
            continue
        if (y[closed] <= 0).mean() >= 0.95 and (y[values == 1] > 0).mean() >= 0.5:
            found.append(column)
    return found


class TSFMForecaster(Forecaster):
    """The pretrained transformer, zero-shot: one forward pass per series, no fitting on the data.

    Parameters
    ----------
    freq, season_length, known_future : see :class:`~core.models.base.Forecaster`. Of the known-future columns
        the network reads ``promo``, ``price`` and 0/1 open/closed columns (:func:`open_columns`).
    countries : ISO codes whose public holidays are flagged to the network (e-commerce events always are).
    checkpoint : a folder with ``config.json`` and ``model.safetensors``; default the shipped one.
    covariates : read planned promotions, prices and the event calendar; ``False`` blanks them (an ablation:
        the forecast from the sales history alone; closed periods are still forecast as 0).
    calendar : flag e-commerce events and public holidays: ``"auto"`` when doing so forecast the last periods
        of the history better (lower pinball loss on the held-out periods), ``True`` always, ``False`` never.
    calibrate : rescale the bands around the median so that they cover the last periods of the history as
        often as their levels promise (one extra forward pass from an earlier origin).
    batch_size : series per forward pass. device : ``"cpu"``, ``"cuda"``; default a GPU when present.
    seed : unused by the forecast itself (deterministic); kept for the common interface.
    """

    name = "tsfm"
    label = "Pretrained transformer (zero-shot)"
    #: lag-one correlation of the quantile copula for sample paths (as LightGBM: errors persist over weeks)
    path_correlation = 0.9

    def __init__(self, freq: str | None = None, season_length: int | None = None,
                 known_future: Sequence[str] = PLANNED_COLUMNS, countries: Sequence[str] = DEFAULT_COUNTRIES,
                 checkpoint: str | Path | None = None, covariates: bool = True, calendar: bool | str = "auto",
                 calibrate: bool = True, batch_size: int = 1024, device: str | None = None, seed: int = 0):
        super().__init__(freq, season_length, known_future)
        self.countries = tuple(countries)
        self.checkpoint = checkpoint
        self.covariates = covariates
        self.calendar = calendar
        self.calibrate = calibrate
        self.batch_size = batch_size
        self.device = device
        self.seed = seed

    def min_history(self, freq: str) -> int:
        return MIN_HISTORY[freq]

    def _fit(self, panel: Panel, mask: np.ndarray) -> None:
        self._fit_inputs(panel, load_network(self.checkpoint, self.device))

    def _fit_inputs(self, panel: Panel, network) -> None:
        """Lay out what ``network`` reads from the panel (the covariate grids); only its ``config`` is used."""
        self.network_ = network
        frame = panel.frame
        self.open_columns_ = open_columns(frame, [c for c in self.known_future if c in frame.columns])
        self.inputs_used_ = [c for c in (schema.PROMO, schema.PRICE) if c in self.known_future and c in frame.columns]
        self.inputs_used_ += self.open_columns_
        grids = value_grids(frame, panel.ids, panel.dates, self.inputs_used_)
        self.history_ = {column: numeric_grid(grid) for column, grid in grids.items()}
        self.extra_columns_, self.extra_history_, self.extra_statics_ = [], {}, {}
        names = self.network_.config.extra_features
        if names:  # a fine-tuned network with inputs of its own
            wanted = sorted({n.partition(":")[2].partition("=")[0] for n in names if n.startswith("future:")})
            self.extra_columns_ = [c for c in wanted if c in self.known_future and c in frame.columns]
            self.extra_history_ = value_grids(frame, panel.ids, panel.dates, self.extra_columns_)
            statics = panel.statics.reindex(pd.Index(panel.ids, name=schema.UNIQUE_ID))
            self.extra_statics_ = {c: statics[c].to_numpy(dtype=object) for c in statics.columns}
        self.band_scale_ = None

    def _grids(self, mask: np.ndarray, future: pd.DataFrame, h: int) -> tuple[SeriesGrids, np.ndarray]:
        panel = self.panel_
        m, n_hist = int(mask.sum()), len(panel.dates)
        total = n_hist + h
        dates = panel.dates.append(future_dates(panel.end, h, panel.freq))

        def extended(column: str, fill: float) -> np.ndarray:
            grid = np.full((m, total), fill)
            if column in self.history_:
                grid[:, :n_hist] = self.history_[column][mask]
                if column in future.columns:
                    grid[:, n_hist:] = pd.to_numeric(future[column], errors="coerce").to_numpy().reshape(m, h)
            return grid

        open_flag = np.ones((m, total))
        for column in self.open_columns_:
            open_flag = np.minimum(open_flag, np.nan_to_num(extended(column, 1.0), nan=1.0))
        sales = np.full((m, total), np.nan)
        sales[:, :n_hist] = panel.y[mask]
        observed = np.isfinite(sales) & (open_flag > 0.5)
        calendar = _calendar_flags(dates, panel.freq, self.countries)
        promo, price = extended(schema.PROMO, 0.0), extended(schema.PRICE, np.nan)
        if not self.covariates:
            promo, price = np.zeros_like(promo), np.full_like(price, np.nan)
        grids = SeriesGrids(panel.freq, sales, observed.astype(np.float32), promo, price,
                            *[np.broadcast_to(calendar[k], (m, total)) for k in ("event", "event_window", "holiday")])
        names = self.network_.config.extra_features
        if names:
            columns = {}
            for column in self.extra_columns_:
                history = self.extra_history_[column][mask]
                grid = np.full((m, total), np.nan if history.dtype.kind == "f" else None, dtype=history.dtype)
                grid[:, :n_hist] = history
                if column in future.columns:
                    values = future[column]
                    values = (pd.to_numeric(values, errors="coerce").to_numpy(dtype=float) if grid.dtype.kind == "f"
                              else values.to_numpy(dtype=object))
                    grid[:, n_hist:] = values.reshape(m, h)
                columns[column] = grid
            statics = {c: values[mask] for c, values in self.extra_statics_.items()}
            grids.extra = extra_feature_grid(names, columns, statics, (m, total))
        return grids, open_flag

    def _quantile_path(self, grids: SeriesGrids, origin: int, h: int) -> np.ndarray:
        """``(m, h, Q)`` from ``origin``; beyond the network's horizon the median is fed back as history."""
        config = self.network_.config
        m = len(grids.sales)
        out = np.empty((m, h, len(config.quantiles)))
        median = config.quantiles.index(0.5)
        done = 0
        sales, observed = grids.sales.copy(), grids.observed.copy()
        while done < h:
            step = min(config.horizon, h - done)
            chunk = replace(grids, sales=sales, observed=observed)
            inputs = network_inputs(chunk, np.full(m, origin + done), config)
            values = run_network(self.network_, inputs, self.batch_size)[:, :step]
            out[:, done:done + step] = values
            sales[:, origin + done:origin + done + step] = values[..., median]
            observed[:, origin + done:origin + done + step] = 1.0
            done += step
        return out

    def _forecast(self, h: int, future: pd.DataFrame, quantiles: tuple[float, ...]
                  ) -> tuple[np.ndarray, dict[float, np.ndarray]]:
        mask = self.modelled_
        n_hist = len(self.panel_.dates)
        grids, open_flag = self._grids(mask, future, h)
        holdout = self._holdout(grids, h) if (self.calibrate or self.calendar == "auto") else None
        self.calendar_used_ = bool(self.covariates and self.calendar)
        earlier = {}  # the held-out periods' forecasts, with and without the calendar
        if holdout is not None:
            history, actual, usable = holdout
            k = actual.shape[1]
            choices = [True, False] if (self.covariates and self.calendar == "auto") else [self.calendar_used_]
            for flagged in choices:
                earlier[flagged] = self._quantile_path(history if flagged else _without_calendar(history),
                                                       n_hist - k, k)
            if len(choices) == 2:
                # a shop that did not react to the calendar it was given is forecast without it
                levels = self.network_.config.quantiles
                self.calendar_used_ = (_pinball(earlier[True], actual, usable, levels)
                                       <= _pinball(earlier[False], actual, usable, levels))
        if not self.calendar_used_:
            grids = _without_calendar(grids)
        values = self._quantile_path(grids, n_hist, h)
        self.band_scale_ = self.path_correlation_ = None
        if self.calibrate and holdout is not None:
            values = self._calibrated(values, earlier[self.calendar_used_], actual, usable)
        if holdout is not None:  # how persistent the errors were on the held-out periods sets the paths' correlation
            checked = earlier[self.calendar_used_]
            if self.band_scale_ is not None:
                centre = checked[..., [self.network_.config.quantiles.index(0.5)]]
                checked = centre + (checked - centre) * np.array(list(self.band_scale_.values()))
            self.path_correlation_ = ar1_equivalent_correlation(
                pit_scores(checked, self.network_.config.quantiles, actual, usable))
        levels = self.network_.config.quantiles
        closed = open_flag[:, n_hist:] < 0.5
        values[closed] = 0.0
        point = values[..., levels.index(0.5)]
        return point, interpolate_levels(values, levels, quantiles)

    def _holdout(self, grids: SeriesGrids, h: int) -> tuple[SeriesGrids, np.ndarray, np.ndarray] | None:
        """The last ``k`` periods of the history, hidden, for at most ``CALIBRATION_SERIES`` series drawn
        with ``seed``: the grids to forecast them from, what was sold, and where it was observed. ``None`` when
        fewer than 200 periods can be checked."""
        config = self.network_.config
        n_hist = len(self.panel_.dates)
        k = min(h, config.horizon, n_hist // 4)
        if k < 1:
            return None
        rows = np.arange(len(grids.sales))
        if len(rows) > CALIBRATION_SERIES:
            rows = np.sort(np.random.default_rng(self.seed).choice(rows, CALIBRATION_SERIES, replace=False))

        def part(grid: np.ndarray) -> np.ndarray:
            return np.ascontiguousarray(grid[rows])

        history = SeriesGrids(grids.freq, part(grids.sales)[:, :n_hist], part(grids.observed)[:, :n_hist],
                              part(grids.promo), part(grids.price), part(grids.event), part(grids.event_window),
                              part(grids.holiday), None if grids.extra is None else part(grids.extra))
        actual = history.sales[:, n_hist - k:].copy()
        usable = (history.observed[:, n_hist - k:] > 0.5) & np.isfinite(actual)
        if usable.sum() < 200:
            return None
        history.sales[:, n_hist - k:] = np.nan
        return history, actual, usable

    def _calibrated(self, values: np.ndarray, earlier: np.ndarray, actual: np.ndarray,
                    usable: np.ndarray) -> np.ndarray:
        """Stretch or shrink each quantile's distance from the median so that, forecasting the held-out last
        periods of the history (``earlier``, see :meth:`_holdout`), each level was exceeded as often as it
        should be. A split-conformal rescaling, one factor per level for all series, within [0.2, 3]."""
        levels = self.network_.config.quantiles
        median = levels.index(0.5)
        residual = (actual - earlier[..., median])[usable]
        factors = np.ones(len(levels))
        for j, q in enumerate(levels):
            if j == median:
                continue
            spread = (earlier[..., j] - earlier[..., median])[usable]
            wide = np.abs(spread) > 1e-9
            if wide.sum() < 100:
                continue
            ratio = residual[wide] / spread[wide]
            # the level is met when P(residual beyond factor * spread, on its side) equals min(q, 1 - q)
            target = 1 - (q if q < 0.5 else 1 - q)
            factors[j] = float(np.clip(np.quantile(ratio, target), 0.2, 3.0))
        self.band_scale_ = dict(zip(levels, factors))
        centre = values[..., [median]]
        return np.clip(centre + (values - centre) * factors, 0, None)


def _pinball(values: np.ndarray, actual: np.ndarray, usable: np.ndarray, levels: Sequence[float]) -> float:
    """Mean pinball loss of quantile forecasts ``(n, k, Q)`` at ``levels``, where ``usable``."""
    return float(np.mean([pinball(actual[usable], values[..., j][usable], q).mean() for j, q in enumerate(levels)]))


def _without_calendar(grids: SeriesGrids) -> SeriesGrids:
    blank = np.zeros_like(grids.event)
    return replace(grids, event=blank, event_window=blank, holiday=blank)


def _calendar_flags(dates: pd.DatetimeIndex, freq: str, countries: Sequence[str]) -> dict[str, np.ndarray]:
    """Share of each period's days that are e-commerce event days, in an event's window, or public holidays
    (for daily data: 0 or 1), as the corpus generator records them. Only the events of the markets in
    ``countries`` are flagged (:func:`~core.data.calendar.events_for_countries`)."""
    if freq == schema.DAILY:
        days = dates
    else:
        last = dates[-1] + (pd.Timedelta(days=6) if freq == schema.WEEKLY else pd.offsets.MonthEnd(0))
        days = pd.date_range(dates[0], last, freq="D")
    table = event_features(days, schema.DAILY, countries, events=events_for_countries(countries))
    on = [c for c in table.columns if c.startswith("ev_") and not c.endswith(("_pre", "_post"))]
    around = [c for c in table.columns if c.endswith(("_pre", "_post"))]
    holidays = [c for c in table.columns if c.startswith("holiday_")]
    period = np.searchsorted(dates.values, days.values, side="right") - 1
    counts = np.bincount(period, minlength=len(dates)).astype(float)

    def share(columns: list[str]) -> np.ndarray:
        if not columns:
            return np.zeros(len(dates))
        daily = (table[columns].to_numpy().max(axis=1) > 0).astype(float)
        return np.bincount(period, weights=daily, minlength=len(dates)) / np.maximum(counts, 1)

    return {"event": share(on), "event_window": share(around), "holiday": share(holidays)}
