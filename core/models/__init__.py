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


#: names a fine-tuned transformer: ``tsfm@<registered version or checkpoint folder>``
FINETUNED_PREFIX = "tsfm@"


def is_finetuned(name: str) -> bool:
    """True for ``tsfm@<version or folder>``, a fine-tuned transformer."""
    return name.startswith(FINETUNED_PREFIX) and len(name) > len(FINETUNED_PREFIX)


def is_known(name: str) -> bool:
    return name in MODELS or is_finetuned(name)


def label_of(name: str) -> str:
    """What a planner reads for a model name."""
    if is_finetuned(name):
        return f"Fine-tuned transformer ({name[len(FINETUNED_PREFIX):]})"
    return LABELS.get(name, name)


def model_class(name: str) -> type[Forecaster]:
    if is_finetuned(name):
        name = "tsfm"
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
    settings = {k: v for k, v in settings.items() if k in accepted}
    if not is_finetuned(name):
        return cls(**settings)
    from core.registry import resolve_checkpoint

    model = cls(**{**settings, "checkpoint": resolve_checkpoint(name[len(FINETUNED_PREFIX):])})
    model.name, model.label = name, label_of(name)  # the forecast columns are named after the version
    return model


__all__ = ["DEFAULT_MODELS", "DEFAULT_QUANTILES", "FINETUNED_PREFIX", "LABELS", "MODELS", "Forecaster", "SamplePaths",
           "is_finetuned", "is_known", "label_of", "make_model", "model_class"]
