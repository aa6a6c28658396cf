"""Forecasters behind one interface (:mod:`core.models.base`), looked up by name.

Model modules are imported when a model is made, so that importing ``core.models`` stays cheap (LightGBM and
torch load only when used).
"""

from __future__ import annotations

from importlib import import_module

from core.models.base import DEFAULT_QUANTILES, Forecaster, SamplePaths

#: model name -> (module, class). The name is also the forecast column.
MODELS: dict[str, tuple[str, str]] = {
    "snaive": ("core.models.baselines", "SeasonalNaive"),
    "ets": ("core.models.baselines", "ETS"),
    "tsb": ("core.models.baselines", "TSB"),
    "lgbm": ("core.models.lgbm", "LightGBMForecaster"),
    "tsfm": ("core.models.tsfm", "TSFMForecaster"),
}
#: what a planner reads for each model
LABELS: dict[str, str] = {
    "snaive": "Seasonal naive",
    "ets": "Exponential smoothing (ETS)",
    "tsb": "Intermittent demand (TSB)",
    "lgbm": "LightGBM global model",
    "tsfm": "Pretrained transformer (zero-shot)",
    "auto": "Auto (best model per segment)",
}
#: the models a backtest runs when none are named
DEFAULT_MODELS: tuple[str, ...] = ("snaive", "ets", "tsb", "lgbm", "tsfm")


def model_class(name: str) -> type[Forecaster]:
    if name not in MODELS:
        known = ", ".join(list(MODELS) + ["auto"])
        raise ValueError(f"Unknown model {name!r}. Known models: {known}.")
    module, cls = MODELS[name]
    return getattr(import_module(module), cls)


def make_model(name: str, **settings) -> Forecaster:
    """A fresh, unfitted model; ``settings`` are passed on where the model accepts them."""
    import inspect

    cls = model_class(name)
    accepted = inspect.signature(cls.__init__).parameters
    return cls(**{k: v for k, v in settings.items() if k in accepted})


__all__ = ["DEFAULT_MODELS", "DEFAULT_QUANTILES", "LABELS", "MODELS", "Forecaster", "SamplePaths", "make_model",
           "model_class"]
