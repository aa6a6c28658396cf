"""Why each forecast is what it is: SHAP contributions as data, global importance, and plain-words drivers.

* **LightGBM** (:func:`explain_lgbm`): exact tree SHAP from LightGBM's own ``pred_contrib``, computed on the very
  feature rows the recursive forecast used (later steps read earlier forecasts as their lags). The booster works
  on a log scale (Tweedie objective) of sales divided by the series' usual level, so the SHAP values add up in
  log space; they are turned into units by splitting ``prediction - base_value`` in proportion to them, which
  keeps the sum exact. The ``base_value`` is the model's average day for that SKU: its usual level times the
  booster's expected value.
* **The transformer**: see :mod:`core.explain_tsfm` (exact Shapley values over groups of its inputs).

Raw model features get planner-readable names ("units 7 days ago", "weekday: Saturday", "11.11 window",
"promotion planned", "price vs usual"); features that share a name (an event's days before, on and after) are
summed, which SHAP's additivity allows.
"""

from __future__ import annotations

import calendar as _calendar
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core import schema
from core.errors import StockPilotError

FEATURE = "feature"
CONTRIBUTION = "contribution"
BASE_VALUE = "base_value"
PREDICTION = "prediction"
#: The row name for forecasts of series too short for the model (they get their recent average).
SHORT_HISTORY = "too little history (its average)"
_UNIT = {schema.DAILY: ("day", "days"), schema.WEEKLY: ("week", "weeks"), schema.MONTHLY: ("month", "months")}
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class ExplainError(StockPilotError):
    """An explanation cannot be made as asked; the message says why."""


@dataclass
class Explanation:
    """Contributions of each input to each forecast, in units.

    contributions : ``unique_id, ds, feature, contribution``.
    forecasts : ``unique_id, ds, base_value, prediction``; per forecast ``base_value + sum(contribution)`` equals
        ``prediction`` within ``tolerance``.
    """

    model: str
    contributions: pd.DataFrame
    forecasts: pd.DataFrame
    method: str
    tolerance: float
    notes: list[str] = field(default_factory=list)

    def to_long(self) -> pd.DataFrame:
        """Long rows for a CSV: the contributions, then one ``base_value`` and one ``prediction`` row per forecast."""
        extra = []
        for name in (BASE_VALUE, PREDICTION):
            part = self.forecasts[[schema.UNIQUE_ID, schema.DS, name]].rename(columns={name: CONTRIBUTION})
            extra.append(part.assign(**{FEATURE: name})[[schema.UNIQUE_ID, schema.DS, FEATURE, CONTRIBUTION]])
        long = pd.concat([self.contributions[[schema.UNIQUE_ID, schema.DS, FEATURE, CONTRIBUTION]], *extra],
                         ignore_index=True)
        order = {BASE_VALUE: 0, PREDICTION: 2}
        long["_order"] = long[FEATURE].map(order).fillna(1)
        return (long.sort_values([schema.UNIQUE_ID, schema.DS, "_order"], kind="stable")
                .drop(columns="_order").reset_index(drop=True))

    def check(self) -> float:
        """The largest gap between ``base_value + sum(contributions)`` and ``prediction``."""
        sums = self.contributions.groupby([schema.UNIQUE_ID, schema.DS])[CONTRIBUTION].sum()
        merged = self.forecasts.set_index([schema.UNIQUE_ID, schema.DS])
        total = merged[BASE_VALUE] + sums.reindex(merged.index).fillna(0.0)
        return float(np.max(np.abs(total - merged[PREDICTION]))) if len(merged) else 0.0


# --- readable names ------------------------------------------------------------------------------------------------

def _event_labels() -> dict[str, str]:
    from core.data.calendar import ECOMMERCE_EVENTS

    return {key: event.label for key, event in ECOMMERCE_EVENTS.items()}


def readable_name(raw: str, freq: str, value: float | None = None, season_length: int = 7) -> str:
    """A planner's name for a model feature; ``value`` fills in names that depend on it (weekday, month)."""
    one, many = _UNIT.get(freq, ("period", "periods"))

    def ago(k: int) -> str:
        return f"units 1 {one} ago" if k == 1 else f"units {k} {many} ago"

    if raw.startswith("lag_") and raw[4:].isdigit():
        return ago(int(raw[4:]))
    if raw.startswith("mean_") and raw[5:].isdigit():
        return f"average of the last {raw[5:]} {many}"
    if raw.startswith("std_") and raw[4:].isdigit():
        return f"ups and downs over the last {raw[4:]} {many}"
    if raw.startswith("zero_share_"):
        return f"{many} without sales lately"
    if raw == "seasonal_mean":
        return {schema.DAILY: "same weekday in recent weeks", schema.WEEKLY: "same week in earlier years",
                schema.MONTHLY: "same month in earlier years"}.get(freq, "same season earlier")
    if raw == "log_scale":
        return "usual sales level of the SKU"
    if raw == "weekday":
        return f"weekday: {_WEEKDAYS[int(value)]}" if value is not None and np.isfinite(value) else "weekday"
    if raw == "month":
        return (f"month: {_calendar.month_name[int(value)]}" if value is not None and np.isfinite(value)
                and 1 <= value <= 12 else "month")
    if raw == "day_of_month":
        return "day of the month"
    if raw == "week_of_year":
        return "week of the year"
    if raw.startswith("ev_"):
        key = raw[3:]
        for suffix in ("_pre", "_post"):
            if key.endswith(suffix):
                key = key[: -len(suffix)]
        return f"{_event_labels().get(key, key.replace('_', ' '))} window"
    if raw.startswith("holiday_"):
        return f"public holiday ({raw[len('holiday_'):].upper()})"
    if raw == "days_to_next_event":
        return "days to the next event"
    if raw == "days_since_last_event":
        return "days since the last event"
    if raw == schema.PROMO and value is not None and np.isfinite(value) and value <= 0:
        return "no promotion planned"
    for suffix, words in (("_prev", f"the {one} before"), ("_next", f"the {one} after")):
        if raw.endswith(suffix):
            return f"{readable_name(raw[: -len(suffix)], freq, value, season_length)}, {words}"
    return {schema.PROMO: "promotion planned", "price_ratio": "price vs usual", schema.PRICE: "price",
            "open": "store open", schema.SKU: "the SKU itself", schema.CHANNEL: "channel",
            schema.LOCATION: "location", schema.CATEGORY: "category"}.get(raw, raw.replace("_", " "))


# --- LightGBM ------------------------------------------------------------------------------------------------------

def explain_lgbm(model, h: int, X_df: pd.DataFrame | None = None, ids: Sequence[str] | None = None) -> Explanation:
    """Tree SHAP of a fitted :class:`~core.models.lgbm.LightGBMForecaster`'s point forecasts ``h`` periods ahead.

    ``ids`` limits the explanation to some series (default: all). The contributions add up to the point forecast
    that ``model.predict(h, X_df)`` returns, exactly up to float rounding.
    """
    from core.models.base import future_dates, future_frame
    from core.models.features import calendar_table, series_scale

    model._check_fitted()
    panel = model.panel_
    h = int(h)
    if h < 1:
        raise ExplainError(f"The horizon must be at least 1 period, got {h}.")
    wanted = wanted_ids(panel.ids, ids)
    future = future_frame(panel, h, X_df, model.known_future)
    dates = future_dates(panel.end, h, panel.freq)
    modelled = model.modelled_
    if not modelled.any():  # every series too short for the model: their averages are the whole story
        records, forecasts = [], []
        short_series_rows(panel, modelled, model, wanted, dates, records, forecasts)
        return make_explanation("lgbm", records, forecasts, "Every series is too short for LightGBM; each forecast "
                            "is the series' recent average.", model)
    m, n_periods = model.y_.shape
    rows_future = np.repeat(modelled, h)
    part = future.loc[rows_future].reset_index(drop=True)
    columns = list(model.coding_.numeric) + list(model.coding_.text)
    grids = {c: part[c].to_numpy().reshape(m, h) for c in columns}
    covariates = np.concatenate([model.covariates_, model.coding_.covariates(grids, (m, h))], axis=1)
    calendar_frame = calendar_table(dates, model.freq_, model.countries)
    calendar = np.vstack([model.calendar_, calendar_frame.to_numpy()])

    spec = model.lag_spec_
    scale = series_scale(model.y_[:, :n_periods], model.freq_)
    lookback = spec.lookback
    window = np.full((m, lookback + h), np.nan)
    history = model.y_[:, max(n_periods - lookback, 0):n_periods] / scale[:, None]
    window[:, lookback - history.shape[1]:lookback] = history
    rows = np.arange(m)
    modelled_ids = panel.ids[modelled]
    keep = np.isin(modelled_ids, wanted)
    names = model.feature_names_
    weekday_at = names.index("weekday") if "weekday" in names else None
    month_at = names.index("month") if "month" in names else None
    promo_at = [j for j, name in enumerate(names) if name in (schema.PROMO, f"{schema.PROMO}_prev",
                                                               f"{schema.PROMO}_next")]
    records, forecasts = [], []
    chosen = np.flatnonzero(keep)
    for step in range(h):
        periods = np.full(m, lookback + step)
        design = model._design(window, scale, rows, periods, np.full(m, n_periods + step), covariates, calendar)
        prediction = model.booster_.predict(design, num_threads=model.n_jobs)
        window[:, lookback + step] = prediction  # every series: later steps read it as a lag
        # SHAP only for the series asked for (each series' recursion reads its own forecasts only)
        raw = np.zeros((m, design.shape[1] + 1))
        raw[chosen] = model.booster_.predict(design[chosen], num_threads=model.n_jobs, pred_contrib=True)
        contributions, bias = raw[:, :-1], raw[:, -1]
        units_pred = prediction * scale
        units_base = np.exp(bias) * scale
        total = contributions.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where((np.abs(total) > 1e-12)[:, None], contributions / total[:, None],
                             1.0 / contributions.shape[1])
        units = share * (units_pred - units_base)[:, None]
        # weekday and month are the same for every series on a date; promotion names depend on the series
        labels = [readable_name(raw_name, model.freq_, design[0, j] if j in (weekday_at, month_at) else None,
                                model.season_length_) for j, raw_name in enumerate(names)]
        for j in promo_at:
            labels[j] = readable_name(names[j], model.freq_, 1.0, model.season_length_)
        unique_labels = sorted(set(labels) | {readable_name(names[j], model.freq_, 0.0, model.season_length_)
                                              for j in promo_at})
        position = {label: k for k, label in enumerate(unique_labels)}
        group = np.array([position[label] for label in labels])
        grouped = np.zeros((m, len(unique_labels)))
        np.add.at(grouped.T, group, units.T)
        for j in promo_at:  # a promotion column at 0 reads "no promotion ..."
            off = design[:, j] <= 0
            moved = position[readable_name(names[j], model.freq_, 0.0, model.season_length_)]
            grouped[off, moved] += units[off, j]
            grouped[off, position[labels[j]]] -= units[off, j]
        unique_labels = np.asarray(unique_labels, dtype=object)
        part = grouped[chosen]
        step_rows = pd.DataFrame({
            schema.UNIQUE_ID: np.repeat(modelled_ids[chosen], len(unique_labels)),
            schema.DS: dates[step], FEATURE: np.tile(unique_labels, len(chosen)), CONTRIBUTION: part.ravel()})
        records.append(step_rows.loc[step_rows[CONTRIBUTION] != 0.0])  # inputs no tree ever splits on
        forecasts.append(pd.DataFrame({schema.UNIQUE_ID: modelled_ids[chosen], schema.DS: dates[step],
                                       BASE_VALUE: units_base[chosen], PREDICTION: units_pred[chosen]}))
    short_series_rows(panel, modelled, model, wanted, dates, records, forecasts)
    return make_explanation("lgbm", records, forecasts,
                        "Tree SHAP (LightGBM pred_contrib) on the forecast's own feature rows, exact in the "
                        "model's log scale and split into units in proportion; base value = the SKU's usual "
                        "level times the model's average.", model)


def wanted_ids(all_ids: np.ndarray, ids: Sequence[str] | None) -> np.ndarray:
    """The series to explain: ``ids`` (checked against the fitted ones), or all of them."""
    if ids is None:
        return np.asarray(all_ids)
    wanted = np.asarray(list(ids), dtype=object)
    unknown = [i for i in wanted if i not in set(all_ids)]
    if unknown:
        raise ExplainError(f"Unknown series {unknown[:3]}; the model was fitted on {len(all_ids):,} series, e.g. "
                           f"{list(all_ids[:3])}.")
    return wanted


def short_series_rows(panel, modelled: np.ndarray, model, wanted: np.ndarray, dates: pd.DatetimeIndex,
                      records: list, forecasts: list) -> None:
    """Series the model does not forecast (too short): their average is the whole story."""
    fallback = getattr(model, "fallback_mean_", None)
    wanted = set(wanted)
    for index in np.flatnonzero(~modelled):
        uid = panel.ids[index]
        if uid not in wanted:
            continue
        value = float(fallback[index]) if fallback is not None else 0.0
        records.append(pd.DataFrame({schema.UNIQUE_ID: uid, schema.DS: dates, FEATURE: SHORT_HISTORY,
                                     CONTRIBUTION: value}))
        forecasts.append(pd.DataFrame({schema.UNIQUE_ID: uid, schema.DS: dates, BASE_VALUE: 0.0, PREDICTION: value}))


def make_explanation(name: str, records: list[pd.DataFrame], forecasts: list[pd.DataFrame], method: str,
                     model=None) -> Explanation:
    """An :class:`Explanation` from per-step frames of contributions and forecasts, its tolerance measured."""
    contributions = (pd.concat(records, ignore_index=True) if records else
                     pd.DataFrame(columns=[schema.UNIQUE_ID, schema.DS, FEATURE, CONTRIBUTION]))
    table = (pd.concat(forecasts, ignore_index=True) if forecasts else
             pd.DataFrame(columns=[schema.UNIQUE_ID, schema.DS, BASE_VALUE, PREDICTION]))
    contributions = contributions.sort_values([schema.UNIQUE_ID, schema.DS], kind="stable", ignore_index=True)
    table = table.sort_values([schema.UNIQUE_ID, schema.DS], kind="stable", ignore_index=True)
    explanation = Explanation(getattr(model, "name", name) if model is not None else name, contributions, table,
                              method, 0.0)
    explanation.tolerance = explanation.check()
    return explanation


# --- one call from a frame -----------------------------------------------------------------------------------------

def explainable(model_name: str) -> bool:
    """Whether :func:`explain_frame` can explain this model: LightGBM, the transformer or a fine-tuned version."""
    from core.models import is_finetuned

    return model_name in ("lgbm", "tsfm") or is_finetuned(model_name)


def explain_frame(frame: pd.DataFrame, freq: str, model_name: str, h: int, known_future: Sequence[str] = (),
                  countries: Sequence[str] | None = None, ids: Sequence[str] | None = None,
                  X_df: pd.DataFrame | None = None) -> Explanation:
    """Fit ``model_name`` (``lgbm``, ``tsfm`` or ``tsfm@VERSION``) on ``frame`` and explain its forecasts."""
    from core.data.calendar import DEFAULT_COUNTRIES
    from core.models import make_model
    from core.models.base import PLANNED_COLUMNS

    if not explainable(model_name):
        raise ExplainError(f"Explanations exist for 'lgbm' and the transformer ('tsfm' or 'tsfm@VERSION'), not "
                           f"{model_name!r}.")
    known = tuple(dict.fromkeys([c for c in PLANNED_COLUMNS if c in frame.columns] + list(known_future)))
    model = make_model(model_name, freq=freq, known_future=known,
                       countries=tuple(countries) if countries is not None else DEFAULT_COUNTRIES)
    model.fit(frame)
    if model_name == "lgbm":
        return explain_lgbm(model, h, X_df, ids)
    from core.explain_tsfm import explain_tsfm

    return explain_tsfm(model, h, X_df, ids)


def sample_ids(ids: Sequence[str], limit: int, seed: int = 0) -> list[str]:
    """At most ``limit`` series, drawn at random (seeded) when there are more, in their original order."""
    ids = list(dict.fromkeys(ids))
    if len(ids) <= limit:
        return ids
    chosen = set(np.random.default_rng(seed).choice(len(ids), limit, replace=False).tolist())
    return [uid for i, uid in enumerate(ids) if i in chosen]


# --- aggregations and words --------------------------------------------------------------------------------------

def global_importance(explanation: Explanation, groups: pd.Series | None = None) -> pd.DataFrame:
    """Mean absolute contribution of each feature over all forecasts (in units), its mean signed contribution
    and its share of the total; with ``groups`` (a Series mapping unique_id to e.g. category), per group too."""
    data = explanation.contributions
    n_forecasts = len(explanation.forecasts)
    keys = [FEATURE]
    if groups is not None:
        data = data.assign(group=data[schema.UNIQUE_ID].map(groups).fillna("unknown").astype(str))
        keys = ["group", FEATURE]
        counts = (explanation.forecasts.assign(group=explanation.forecasts[schema.UNIQUE_ID].map(groups)
                                               .fillna("unknown").astype(str)).groupby("group").size())
    table = data.assign(absolute=data[CONTRIBUTION].abs()).groupby(keys, as_index=False).agg(
        total_abs=("absolute", "sum"), total=(CONTRIBUTION, "sum"))
    denominator = (table["group"].map(counts) if groups is not None else n_forecasts)
    table["mean_abs_contribution"] = table["total_abs"] / denominator
    table["mean_contribution"] = table["total"] / denominator
    by = table.groupby("group")["total_abs"] if groups is not None else None
    table["share"] = table["total_abs"] / (by.transform("sum") if by is not None else table["total_abs"].sum())
    table = table.drop(columns=["total_abs", "total"])
    return table.sort_values([*keys[:-1], "mean_abs_contribution"], ascending=[True] * (len(keys) - 1) + [False],
                             ignore_index=True)


def _amount(value: float) -> str:
    text = f"{abs(value):,.0f}" if abs(value) >= 10 else f"{abs(value):,.1f}"
    return ("+" if value >= 0 else "-") + text


def drivers_sentence(explanation: Explanation, unique_id: str, ds, top: int = 3, unit: str = "units") -> str:
    """The top drivers of one forecast in words, e.g. "The model expects 340 units (a usual day: 120). Mostly the
    11.11 window (+180) and promotion planned (+95); average of the last 7 days pulls it down (-40)."""
    ds = pd.Timestamp(ds)
    rows = explanation.contributions.loc[(explanation.contributions[schema.UNIQUE_ID] == unique_id)
                                         & (explanation.contributions[schema.DS] == ds)]
    forecast = explanation.forecasts.loc[(explanation.forecasts[schema.UNIQUE_ID] == unique_id)
                                         & (explanation.forecasts[schema.DS] == ds)]
    if forecast.empty:
        raise ExplainError(f"No explained forecast for {unique_id!r} on {ds:%Y-%m-%d}.")
    prediction, base = float(forecast[PREDICTION].iloc[0]), float(forecast[BASE_VALUE].iloc[0])
    head = f"The model expects {prediction:,.1f} {unit} on {ds:%a %d %b %Y} (starting from {base:,.1f})."
    return head + " " + _drivers_text(rows.groupby(FEATURE)[CONTRIBUTION].sum(), prediction, top)


def _drivers_text(by_feature: pd.Series, scale: float, top: int) -> str:
    floor = 0.02 * max(abs(scale), 1e-9)
    ranked = by_feature[by_feature.abs() >= floor].sort_values(key=np.abs, ascending=False).head(top)
    if ranked.empty:
        return "No single input moves it much."
    up = [f"{name} ({_amount(v)})" for name, v in ranked.items() if v > 0]
    down = [f"{name} ({_amount(v)})" for name, v in ranked.items() if v < 0]
    if ranked.iloc[0] > 0:  # lead with the side of the largest driver
        sentence = "Mostly " + _join(up)
        if down:
            sentence += f"; {_join(down)} {'pulls' if len(down) == 1 else 'pull'} it down"
    else:
        sentence = "Mostly held down by " + _join(down)
        if up:
            sentence += f"; {_join(up)} {'lifts' if len(up) == 1 else 'lift'} it"
    sentence += "."
    return sentence[0].upper() + sentence[1:]


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def top_drivers(explanation: Explanation, top: int = 3) -> pd.DataFrame:
    """Per series, over the explained horizon: ``unique_id, why`` — its top drivers summed over the forecasts,
    e.g. "promotion planned +120; 11.11 window +80; price vs usual -15" (for the reorder plan's "why" column)."""
    summed = explanation.contributions.groupby([schema.UNIQUE_ID, FEATURE], as_index=False)[CONTRIBUTION].sum()
    rows = []
    for uid, part in summed.groupby(schema.UNIQUE_ID, sort=True):
        ranked = part.reindex(part[CONTRIBUTION].abs().sort_values(ascending=False).index).head(top)
        rows.append((uid, "; ".join(f"{f} {_amount(v)}" for f, v in zip(ranked[FEATURE], ranked[CONTRIBUTION]))))
    return pd.DataFrame(rows, columns=[schema.UNIQUE_ID, "why"])
