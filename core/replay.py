"""Inventory replay: each candidate policy run day by day over the last stretch of the sales history.

A planner chooses a forecasting model by what it does to the stock, not only by its forecast error. The replay
takes the last ``periods`` periods of the uploaded history as a held-out stretch and runs, for every model and
every service target, the replenishment policy of :mod:`core.replenish` over it, as if the planner had used it
then. How the replay works, in the order a day is simulated:

* **Forecasts only see the past.** Every ``forecast_every`` periods (the *origins*, from the first replay day)
  each model is fitted on the rows dated before the origin and draws ``n_samples`` sample paths. Promotions and
  prices of the forecast days are taken as known (they are planned in advance). A review uses the paths of the
  latest origin on or before it, from the review day on.
* **Reviews.** Each series reviews every ``R`` periods (its review period) from the first replay day. At a
  review the inventory position is on hand + on order; the reorder point ``s`` and order-up-to level ``S`` come
  from the demand over lead time + review period (:func:`core.replenish.protection_demand`,
  :func:`~core.replenish.reorder_points`); ``S = s`` (base stock) unless the parameters give an ``order_cost``,
  when the EOQ sets ``S``. When the position is below ``s`` the policy orders
  :func:`~core.replenish.order_quantities` (up to ``S``, whole case packs, at least the MOQ).
* **Lead times.** An order placed at a review arrives at the start of the day ``max(1, round(L + sd * z))``
  periods later, with ``z`` a standard normal draw per series and review day that is the *same for every
  policy* (common random numbers): policies differ only by what they order.
* **A day.** Arrivals come in at the start of the day, then the review (if it is a review day), then the day's
  demand is served from stock; what cannot be served is lost (an e-commerce customer buys elsewhere), never
  backordered.
* **Demand** is the history's sales. On a stock-out day (``stockout == 1``) or a day with no sales figure, the
  sales understate demand: the replay uses ``max(sales, mean of the same weekday over the previous 4 weeks
  without a stock-out)`` (for weekly or monthly data: the previous 4 periods without one), rounded to whole
  units; the notes say how many days and units that added. Periods after a series' last row count as 0 demand.
  The forecasts are fitted on the recorded sales (stock-out days unobserved), never on the replay's simulated
  stock: the history is what it was, whatever the policy.
* **Start.** Every policy starts in its own steady state: at the first review its inventory position equals its
  own order-up-to level ``S``, of which the orders placed at the previous reviews and still in transit (the
  expected review-period demand each, nominal lead time) are on order and the rest is on hand. Starting with all
  of ``S`` on hand would overstate every policy's stock over the first lead time; these pre-replay orders are not
  counted as orders placed.
* **The classic policy** (model ``"classic"``): the textbook level a spreadsheet would use, recomputed at each
  review: a seasonal naive rate (the mean of the last 7 days for daily data, the last period for weekly or
  monthly data) times ``L + R``, plus ``z * sqrt((L + R) sigma^2 + mu^2 sigma_L^2)``, with ``sigma`` the standard
  deviation of the sales over the last 56 days (8 periods for weekly or monthly data), stock-out days left out;
  whole units rounded up (:func:`core.replenish.normal_reorder_points`). For a fill-rate target ``z`` solves the
  normal loss equation ``sigma_P G(z) = (1 - beta) mu R``.

What is reported per model and service target (``summary``; ``per_series`` the same per series):

* **fill rate**: units served / units demanded;
* **cycle service level achieved**: the share of review cycles with no lost sale, where the cycle of a review on
  day ``t`` is the days its order protects, ``[t + L, t + L + R)`` with the nominal lead time ``L`` (at least 1
  period); only cycles that lie wholly inside the replay count;
* **stockout days**: series-days with a lost sale; **lost units**;
* **average stock**: the mean end-of-day on hand, in units and at unit cost (the summary adds up the series);
* **orders** placed and **units ordered** during the replay, and the demand.

Lead times and review periods are given in days; for weekly (monthly) data they are converted to periods of 7
(30.4) days, the review period rounded to whole periods.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from core import schema
from core.data.calendar import DEFAULT_COUNTRIES
from core.errors import StockPilotError
from core.models import label_of, make_model
from core.models.base import (
    PLANNED_COLUMNS,
    check_frame,
    date_grid,
    future_dates,
    infer_freq,
)
from core.replenish import (
    CYCLE_SERVICE_LEVEL,
    DAYS_PER_YEAR,
    FILL_RATE,
    TARGETS,
    economic_order_quantity,
    normal_reorder_points,
    order_quantities,
    order_up_to_levels,
    protection_demand,
    reorder_points,
)

Progress = Callable[[float, str], None]

#: the policy name of the textbook benchmark policy
CLASSIC = "classic"
CLASSIC_LABEL = "Classic (seasonal naive + normal safety stock)"
#: periods between same-season observations used by the stock-out imputation and the classic rate
SEASON_STEP = {schema.DAILY: 7, schema.WEEKLY: 1, schema.MONTHLY: 1}
#: periods of sales behind the classic policy's standard deviation
CLASSIC_SD_WINDOW = {schema.DAILY: 56, schema.WEEKLY: 8, schema.MONTHLY: 8}
IMPUTE_LOOKBACK = 4
PARAMETER_COLUMNS = ("lead_time_days", "lead_time_sd_days", "review_period_days", "moq", "case_pack", "unit_cost",
                     "order_cost", "holding_cost_rate")
SUMMARY_COLUMNS = ["model", "label", "target", "service_level", "fill_rate", "cycle_service_level", "stockout_days",
                   "lost_units", "avg_stock_units", "avg_stock_value", "orders", "units_ordered", "demand_units",
                   "cycles", "series", "periods"]


class ReplayError(StockPilotError):
    """The replay cannot run on what was given (the message says why and what to change)."""


@dataclass(frozen=True)
class ReplayConfig:
    """What to replay. The ``default_*`` values stand in for parameters a series lacks (a blank cell or no row);
    ``order_cost`` / ``holding_cost_rate`` only come from the parameters (no order cost: base stock, ``S = s``)."""

    periods: int = 90
    models: tuple[str, ...] = ("snaive", "ets", "lgbm", "tsfm")
    service_levels: tuple[float, ...] = (0.90, 0.95, 0.98)
    target: str = CYCLE_SERVICE_LEVEL
    classic: bool = True
    forecast_every: int = 7
    n_samples: int = 200
    seed: int = 0
    known_future: tuple[str, ...] = PLANNED_COLUMNS
    countries: tuple[str, ...] = DEFAULT_COUNTRIES
    freq: str | None = None
    default_lead_time_days: float = 7.0
    default_lead_time_sd_days: float = 0.0
    default_review_period_days: float = 7.0
    default_moq: float = 0.0
    default_case_pack: float = 1.0
    default_unit_cost: float = 1.0
    default_holding_cost_rate: float = 0.25

    def __post_init__(self):
        if self.target not in TARGETS:
            raise ReplayError(f"Unknown service target {self.target!r}; choose {' or '.join(TARGETS)}.")
        if not self.service_levels or any(not 0 < float(a) < 1 for a in self.service_levels):
            raise ReplayError("Service levels must lie between 0 and 1 (e.g. 0.95 for 95%); got "
                              f"{list(self.service_levels)}.")
        if int(self.periods) < 1 or int(self.forecast_every) < 1:
            raise ReplayError(f"periods and forecast_every must be at least 1; got {self.periods} and "
                              f"{self.forecast_every}.")
        if self.n_samples < 20:
            raise ReplayError(f"At least 20 demand draws are needed for a policy; got {self.n_samples}.")
        if not self.models and not self.classic:
            raise ReplayError("Nothing to replay: name at least one model or keep the classic policy.")


@dataclass
class ReplayPlan:
    """The expensive half of a replay: every policy's reorder point and order-up-to level on every review day.

    ``reorder_point[model]`` and ``order_up_to[model]`` are ``(n_levels, n_series, periods)`` (NaN on days a
    series does not review); ``start_review_mean[model]`` is the expected review-period demand at the first
    review (it sizes the orders in transit at the start). :func:`simulate` runs the stock over any demand.
    """

    ids: np.ndarray
    dates: pd.DatetimeIndex
    freq: str
    config: ReplayConfig
    parameters: pd.DataFrame          # per series, in periods: lead_time, lead_time_sd, review_period, moq, ...
    demand: np.ndarray                # (n, periods) the replay's demand (sales, stock-out days imputed)
    sales: np.ndarray                 # (n, periods) recorded sales (NaN: no figure)
    censored: np.ndarray              # (n, periods) stock-out or missing days
    lead_draws: np.ndarray            # (n, periods) realised lead time of an order placed that day, periods
    reorder_point: dict[str, np.ndarray] = field(default_factory=dict)
    order_up_to: dict[str, np.ndarray] = field(default_factory=dict)
    start_review_mean: dict[str, np.ndarray] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def reviews(self) -> np.ndarray:
        """``(n, periods)``: True on each series' review days."""
        review = self.parameters["review_period"].to_numpy(dtype=np.int64)
        return (np.arange(len(self.dates))[None, :] % review[:, None]) == 0


@dataclass
class ReplayResult:
    """Outcomes per policy (``summary``: one row per model and service level) and per series (``per_series``)."""

    summary: pd.DataFrame
    per_series: pd.DataFrame
    start: pd.Timestamp
    end: pd.Timestamp
    notes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


# -- the public entry points -----------------------------------------------------------------------------------------
def replay(frame: pd.DataFrame, parameters: pd.DataFrame | None, config: ReplayConfig = ReplayConfig(),
           progress: Progress | None = None) -> ReplayResult:
    """Replay every policy of ``config`` over the last ``config.periods`` periods of ``frame`` (see the module
    notes). ``parameters``: one row per ``unique_id`` (or per ``sku`` [+ ``channel`` / ``location``]) with
    ``lead_time_days``, ``lead_time_sd_days``, ``review_period_days``, ``moq``, ``case_pack``, ``unit_cost`` and
    optionally ``order_cost``, ``holding_cost_rate``; blanks and missing series take the config's defaults."""
    return simulate(plan_policies(frame, parameters, config, progress))


def plan_policies(frame: pd.DataFrame, parameters: pd.DataFrame | None, config: ReplayConfig = ReplayConfig(),
                  progress: Progress | None = None) -> ReplayPlan:
    """Forecast from every origin and set every policy's levels on every review day (the slow half)."""
    check_frame(frame)
    freq = config.freq or infer_freq(frame[schema.DS])
    ids, grid, sales_all, censored_all = _grids(frame, freq)
    periods = int(config.periods)
    if len(grid) <= periods:
        raise ReplayError(f"The history has {len(grid)} {schema.FREQ_NAMES[freq]} periods; a replay of the last "
                          f"{periods} needs more before them to forecast from. Replay fewer periods.")
    first = len(grid) - periods
    notes: list[str] = []
    table = _parameters(parameters_per_series(frame, parameters), ids, config, freq, notes)
    demand = _impute(sales_all, censored_all, first, SEASON_STEP[freq], notes)
    rng = np.random.default_rng(config.seed)
    z = rng.standard_normal((len(ids), periods))
    lead_draws = np.maximum(1, np.round(table["lead_time"].to_numpy()[:, None]
                                        + table["lead_time_sd"].to_numpy()[:, None] * z)).astype(np.int64)
    plan = ReplayPlan(ids=ids, dates=grid[first:], freq=freq, config=config, parameters=table, demand=demand,
                      sales=sales_all[:, first:], censored=censored_all[:, first:], lead_draws=lead_draws,
                      notes=notes)
    origins = list(range(0, periods, int(config.forecast_every)))
    steps = len(config.models) * len(origins) + (1 if config.classic else 0)
    done = 0
    for name in config.models:
        plan.labels[name] = label_of(name)
        began = time.perf_counter()
        shape = (len(config.service_levels), len(ids), periods)
        plan.reorder_point[name] = np.full(shape, np.nan)
        plan.order_up_to[name] = np.full(shape, np.nan)
        for index, origin in enumerate(origins):
            if progress:
                progress(done / steps, f"{plan.labels[name]}: forecasting from {plan.dates[origin]:%Y-%m-%d}")
            paths = _paths(frame, plan, name, origin, index)
            _set_levels(plan, name, paths, origin, range(origin, min(origin + config.forecast_every, periods)))
            done += 1
        plan.seconds[name] = time.perf_counter() - began
    if config.classic:
        if progress:
            progress(done / steps, "Classic policy")
        began = time.perf_counter()
        plan.labels[CLASSIC] = CLASSIC_LABEL
        _set_classic_levels(plan, sales_all, censored_all, first)
        plan.seconds[CLASSIC] = time.perf_counter() - began
    if progress:
        progress(1.0, "Policies set")
    return plan


def simulate(plan: ReplayPlan, demand: pd.DataFrame | None = None) -> ReplayResult:
    """Run every policy of ``plan`` day by day over the replay's demand, or over ``demand`` (a long frame
    ``unique_id, ds, y``; cells it lacks keep the replay's demand), e.g. a known true demand."""
    values = plan.demand if demand is None else _demand_override(plan, demand)
    table = plan.parameters
    lead = table["lead_nominal"].to_numpy(dtype=np.int64)
    review = table["review_period"].to_numpy(dtype=np.int64)
    unit_cost = table["unit_cost"].to_numpy(dtype=float)
    periods = len(plan.dates)
    reviews = plan.reviews
    # the cycles that count: reviews whose protected days [t + L, t + L + R) lie inside the replay
    counted = reviews & ((np.arange(periods)[None, :] + lead[:, None] + review[:, None]) <= periods)
    rows, per_series = [], []
    for name in plan.reorder_point:
        outcome = _run(plan, name, values)
        lost = outcome["lost"]
        had_loss = lost > 1e-9
        cumulative = np.concatenate([np.zeros(lost.shape[:2] + (1,)), np.cumsum(had_loss, axis=2)], axis=2)
        t = np.arange(periods)
        begin = np.minimum(t[None, :] + lead[:, None], periods)
        end = np.minimum(begin + review[:, None], periods)
        in_cycle = (np.take_along_axis(cumulative, np.broadcast_to(end, lost.shape), axis=2)
                    - np.take_along_axis(cumulative, np.broadcast_to(begin, lost.shape), axis=2))
        cycles = counted.sum(axis=1)
        cycles_ok = ((in_cycle == 0) & counted[None]).sum(axis=2)
        demand_units = values.sum(axis=1)
        for k, level in enumerate(plan.config.service_levels):
            served = demand_units - lost[k].sum(axis=1)
            stock = outcome["on_hand"][k].mean(axis=1)
            series = pd.DataFrame({
                "model": name, "label": plan.labels[name], "target": plan.config.target,
                "service_level": float(level), schema.UNIQUE_ID: plan.ids,
                "fill_rate": np.where(demand_units > 0, served / np.where(demand_units > 0, demand_units, 1), 1.0),
                "cycle_service_level": np.where(cycles > 0, cycles_ok[k] / np.maximum(cycles, 1), np.nan),
                "stockout_days": had_loss[k].sum(axis=1), "lost_units": lost[k].sum(axis=1),
                "avg_stock_units": stock, "avg_stock_value": stock * unit_cost,
                "orders": outcome["orders"][k], "units_ordered": outcome["units_ordered"][k],
                "demand_units": demand_units, "cycles": cycles, "cycles_ok": cycles_ok[k],
            })
            per_series.append(series)
            total_demand = demand_units.sum()
            rows.append({
                "model": name, "label": plan.labels[name], "target": plan.config.target,
                "service_level": float(level),
                "fill_rate": (total_demand - lost[k].sum()) / total_demand if total_demand > 0 else 1.0,
                "cycle_service_level": cycles_ok[k].sum() / cycles.sum() if cycles.sum() else np.nan,
                "stockout_days": int(had_loss[k].sum()), "lost_units": float(lost[k].sum()),
                "avg_stock_units": float(stock.sum()), "avg_stock_value": float((stock * unit_cost).sum()),
                "orders": int(outcome["orders"][k].sum()), "units_ordered": float(outcome["units_ordered"][k].sum()),
                "demand_units": float(total_demand), "cycles": int(cycles.sum()), "series": len(plan.ids),
                "periods": periods,
            })
    notes = list(plan.notes)
    if demand is not None:
        notes.append("Demand: as given to the replay (not the sales with stock-out days estimated).")
    return ReplayResult(summary=pd.DataFrame(rows, columns=SUMMARY_COLUMNS),
                        per_series=pd.concat(per_series, ignore_index=True) if per_series else pd.DataFrame(),
                        start=plan.dates[0], end=plan.dates[-1], notes=notes, seconds=dict(plan.seconds))


def frontier_gap(summary: pd.DataFrame, model: str, reference: str = CLASSIC,
                 service: str | None = None) -> pd.DataFrame:
    """The stock ``model`` saves against ``reference`` at the same achieved service.

    For each of ``model``'s service targets, the reference's average stock at the service ``model`` achieved,
    interpolated along the reference's curve (achieved service -> stock; NaN outside the service range the
    reference achieved). ``service``: ``"cycle_service_level"`` or ``"fill_rate"`` (default: the one of the
    summary's target). ``stock_saved`` is the share of the reference's stock value not needed.
    """
    rows = summary.loc[summary["model"] == model].sort_values("service_level")
    ref = summary.loc[summary["model"] == reference]
    if rows.empty or ref.empty:
        missing = model if rows.empty else reference
        raise ReplayError(f"The replay summary has no rows for {missing!r}; it has: "
                          f"{', '.join(summary['model'].unique())}.")
    if service is None:
        service = "fill_rate" if rows["target"].iloc[0] == FILL_RATE else "cycle_service_level"
    curve = ref.groupby(service)["avg_stock_value"].mean().sort_index()
    curve_units = ref.groupby(service)["avg_stock_units"].mean().sort_index()
    achieved = rows[service].to_numpy(dtype=float)
    x = curve.index.to_numpy(dtype=float)
    inside = (achieved >= x.min() - 1e-12) & (achieved <= x.max() + 1e-12)
    value = np.where(inside, np.interp(achieved, x, curve.to_numpy()), np.nan)
    units = np.where(inside, np.interp(achieved, x, curve_units.to_numpy()), np.nan)
    stock = rows["avg_stock_value"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        saved = np.where(value > 0, 1 - stock / value, np.nan)
    return pd.DataFrame({
        "model": model, "reference": reference, "service_level": rows["service_level"].to_numpy(),
        "service": service, "achieved": achieved, "avg_stock_value": stock,
        "reference_stock_value": value, "avg_stock_units": rows["avg_stock_units"].to_numpy(dtype=float),
        "reference_stock_units": units, "stock_saved": saved,
    })


def protection_coverage(plan: ReplayPlan, demand: pd.DataFrame | None = None) -> pd.DataFrame:
    """How often the demand that followed a review, over its realised lead time + review period, stayed within
    the reorder point set at that review: per model and service level, over the reviews whose window lies
    inside the replay. For a cycle-service target this is the calibration of the forecast's protection quantile
    (what the policy would achieve with backorders, no case packs and no MOQ); the achieved cycle service
    differs from it by those and by lost sales."""
    values = plan.demand if demand is None else _demand_override(plan, demand)
    periods = len(plan.dates)
    review = plan.parameters["review_period"].to_numpy(dtype=np.int64)
    cumulative = np.concatenate([np.zeros((len(plan.ids), 1)), np.cumsum(values, axis=1)], axis=1)
    t = np.arange(periods)[None, :]
    end = t + plan.lead_draws + review[:, None]
    inside = plan.reviews & (end <= periods)
    realised = (np.take_along_axis(cumulative, np.minimum(end, periods), axis=1) - cumulative[:, :periods])
    rows = []
    for name, reorder in plan.reorder_point.items():
        for k, level in enumerate(plan.config.service_levels):
            within = (realised <= reorder[k] + 1e-9) & inside
            rows.append({"model": name, "service_level": float(level), "reviews": int(inside.sum()),
                         "coverage": within.sum() / inside.sum() if inside.any() else np.nan})
    return pd.DataFrame(rows)


def classic_levels(sales_history: np.ndarray, lead_time: np.ndarray, lead_time_sd: np.ndarray,
                   review_period: np.ndarray, service_level: float, freq: str = schema.DAILY,
                   target: str = CYCLE_SERVICE_LEVEL) -> np.ndarray:
    """The classic policy's reorder point per series from its sales before the review (``(n, t)``, NaN where
    unobserved; periods in the units of the data): see the module notes. Whole units, rounded up, never below 0."""
    rate, sd = _classic_rate_sd(np.asarray(sales_history, dtype=float), freq)
    lead_time, lead_time_sd, review_period = (np.asarray(v, dtype=float) for v in (lead_time, lead_time_sd,
                                                                                  review_period))
    if target == FILL_RATE:
        cover = lead_time + review_period
        spread = np.sqrt(cover * sd ** 2 + rate ** 2 * lead_time_sd ** 2)
        z = _normal_loss_z((1 - service_level) * rate * review_period, spread)
        level = rate * cover + z * spread
    else:
        level = normal_reorder_points(rate, sd, lead_time, lead_time_sd, review_period, service_level)
    return np.clip(np.ceil(level - 1e-9), 0, None)


# -- building blocks ---------------------------------------------------------------------------------------------------
def _nanmean(values: np.ndarray) -> np.ndarray:
    """Row means over the observed cells; NaN for a row with none (without numpy's empty-slice warning)."""
    count = np.sum(~np.isnan(values), axis=1)
    return np.where(count > 0, np.nansum(values, axis=1) / np.maximum(count, 1), np.nan)


def _classic_rate_sd(history: np.ndarray, freq: str) -> tuple[np.ndarray, np.ndarray]:
    """The classic policy's rate (mean of the last season step, else of the window) and standard deviation
    (over the window) per series, from the sales before the review (NaN: unobserved); 0 when unknown."""
    window = history[:, -CLASSIC_SD_WINDOW[freq]:] if history.shape[1] else history
    recent = history[:, -SEASON_STEP[freq]:] if history.shape[1] else history
    rate = _nanmean(recent)
    rate = np.where(np.isnan(rate), _nanmean(window), rate)
    count = np.sum(~np.isnan(window), axis=1)
    centred = np.where(np.isnan(window), 0.0, window - _nanmean(window)[:, None])
    sd = np.sqrt(np.nansum(centred ** 2, axis=1) / np.maximum(count - 1, 1))
    return np.nan_to_num(rate), np.where(count > 1, np.nan_to_num(sd), 0.0)


def _grids(frame: pd.DataFrame, freq: str) -> tuple[np.ndarray, pd.DatetimeIndex, np.ndarray, np.ndarray]:
    """Series ids (sorted), the date grid, sales ``(n, T)`` and the censored mask (stock-out or no figure).
    Before a series' first row and after its last row demand is 0 (not yet listed / discontinued)."""
    ds = pd.DatetimeIndex(frame[schema.DS])
    grid = date_grid(ds.min(), ds.max(), freq)
    position = grid.get_indexer(ds)
    if (position < 0).any():
        bad = ds[position < 0][0]
        raise ReplayError(f"Date {bad:%Y-%m-%d} is off the {schema.FREQ_NAMES[freq]} grid that starts on "
                          f"{grid[0]:%Y-%m-%d}; pass freq= or aggregate the data to one period length first.")
    codes, ids = pd.factorize(frame[schema.UNIQUE_ID].astype(str), sort=True)
    n, length = len(ids), len(grid)
    sales = np.full((n, length), np.nan)
    y = pd.to_numeric(frame[schema.Y], errors="coerce").to_numpy(dtype=float)
    sales[codes, position] = y
    stockout = np.zeros((n, length), dtype=bool)
    if schema.STOCKOUT in frame.columns:
        stockout[codes, position] = pd.to_numeric(frame[schema.STOCKOUT], errors="coerce").fillna(0).to_numpy() == 1
    first = np.full(n, length, dtype=np.int64)
    np.minimum.at(first, codes, position)
    last = np.full(n, -1, dtype=np.int64)
    np.maximum.at(last, codes, position)
    t = np.arange(length)[None, :]
    outside = (t < first[:, None]) | (t > last[:, None])
    sales[outside] = 0.0
    censored = (stockout | np.isnan(sales)) & ~outside
    return np.asarray(ids, dtype=object), grid, sales, censored


def _impute(sales: np.ndarray, censored: np.ndarray, first: int, step: int, notes: list[str]) -> np.ndarray:
    """The replay's demand: sales, and on censored days ``max(sales, mean of the last 4 uncensored same-season
    periods)`` (looking back at most 8 seasons), rounded."""
    demand = np.nan_to_num(sales[:, first:].copy())
    rows, cols = np.nonzero(censored[:, first:])
    if len(rows) == 0:
        return demand
    days = cols + first
    lags = days[:, None] - step * np.arange(1, 2 * IMPUTE_LOOKBACK + 1)[None, :]
    valid = lags >= 0
    safe = np.clip(lags, 0, None)
    looked = sales[rows[:, None], safe]
    valid &= ~censored[rows[:, None], safe] & ~np.isnan(looked)
    valid &= np.cumsum(valid, axis=1) <= IMPUTE_LOOKBACK
    count = valid.sum(axis=1)
    mean = np.where(count > 0, np.where(valid, looked, 0).sum(axis=1) / np.maximum(count, 1), np.nan)
    recorded = np.nan_to_num(sales[rows, days])
    estimate = np.where(count > 0, np.maximum(recorded, np.round(mean)), recorded)
    demand[rows, cols] = estimate
    added = float((estimate - recorded).sum())
    total = float(demand.sum())
    what = (f"the previous {IMPUTE_LOOKBACK} periods" if step == 1
            else f"the same weekday over the previous {IMPUTE_LOOKBACK} weeks")
    notes.append(
        f"{len(rows):,} series-periods of the replay were stock-outs or had no sales figure: their demand was set "
        f"to max(sales, mean of {what} without a stock-out), adding {added:,.0f} units ({added / total:.1%} of "
        "the replay's demand)." if total > 0 else
        f"{len(rows):,} series-periods of the replay were stock-outs or had no sales figure.")
    unknown = int((count == 0).sum())
    if unknown:
        notes.append(f"{unknown:,} of them had no earlier period without a stock-out to estimate from: their "
                     "recorded sales (0 where blank) were used.")
    return demand


#: what the replay reads per series (a blank or missing one takes the config's default)
PARAMETER_COLUMNS = ("lead_time_days", "lead_time_sd_days", "review_period_days", "moq", "case_pack", "unit_cost",
                     "order_cost", "holding_cost_rate")


def parameters_per_series(frame: pd.DataFrame, parameters: pd.DataFrame | None) -> pd.DataFrame | None:
    """Parameters given per ``sku`` [``channel``] [``location``] (an inventory snapshot) as one row per sales
    series, matched on the key fields both have: a snapshot per SKU gives its values to every channel of the SKU.
    Parameters without a ``sku`` column are returned as they are (keyed by ``unique_id``)."""
    if parameters is None or schema.SKU not in parameters.columns:
        return parameters
    keys = [k for k in schema.KEY_FIELDS if k in frame.columns and k in parameters.columns]
    if not keys:  # a frame with unique_id only: the parameters' own keys make the id, as the validator does
        own = [k for k in schema.KEY_FIELDS if k in parameters.columns]
        return parameters.assign(**{schema.UNIQUE_ID: parameters[own].astype(str).agg(schema.ID_SEPARATOR.join,
                                                                                        axis=1)})
    series = frame.groupby(schema.UNIQUE_ID, sort=True)[keys].first().reset_index().astype(str)
    values = [c for c in PARAMETER_COLUMNS if c in parameters.columns
              and pd.to_numeric(parameters[c], errors="coerce").notna().any()]  # an all-blank column: defaults
    given = parameters[keys + values].astype({k: str for k in keys}).drop_duplicates(keys)
    return series.merge(given, on=keys, how="left")[[schema.UNIQUE_ID] + values]


def _parameters(parameters: pd.DataFrame | None, ids: np.ndarray, config: ReplayConfig, freq: str,
                notes: list[str]) -> pd.DataFrame:
    """One row per series, in the data's periods: lead_time, lead_time_sd, lead_nominal, review_period, moq,
    case_pack, unit_cost, eoq inputs. Blank, invalid and missing values take the config's defaults."""
    defaults = {"lead_time_days": config.default_lead_time_days, "lead_time_sd_days": config.default_lead_time_sd_days,
                "review_period_days": config.default_review_period_days, "moq": config.default_moq,
                "case_pack": config.default_case_pack, "unit_cost": config.default_unit_cost,
                "order_cost": np.nan, "holding_cost_rate": config.default_holding_cost_rate}
    index = pd.Index(ids, name=schema.UNIQUE_ID)
    given = pd.DataFrame(index=index)
    if parameters is not None and len(parameters):
        table = parameters.copy()
        if schema.UNIQUE_ID not in table.columns:
            raise ReplayError("The replay parameters need a unique_id column (or sku, with channel / location "
                              f"where the sales have them); they have: {', '.join(map(str, table.columns))}.")
        table[schema.UNIQUE_ID] = table[schema.UNIQUE_ID].astype(str)
        table = table.drop_duplicates(schema.UNIQUE_ID, keep="last").set_index(schema.UNIQUE_ID)
        given = table.reindex(index)
        missing = int(given.isna().all(axis=1).sum()) if len(given.columns) else len(ids)
        if missing:
            notes.append(f"{missing:,} series had no row in the parameters, or only blank cells: they use the defaults (lead time "
                         f"{config.default_lead_time_days:g} days, sd {config.default_lead_time_sd_days:g}, review "
                         f"every {config.default_review_period_days:g} days, case pack "
                         f"{config.default_case_pack:g}, MOQ {config.default_moq:g}, unit cost "
                         f"{config.default_unit_cost:g}).")
    out = pd.DataFrame(index=index)
    rules = {"lead_time_days": lambda v: v >= 0, "lead_time_sd_days": lambda v: v >= 0,
             "review_period_days": lambda v: v > 0, "moq": lambda v: v >= 0, "case_pack": lambda v: v > 0,
             "unit_cost": lambda v: v >= 0, "order_cost": lambda v: v >= 0, "holding_cost_rate": lambda v: v > 0}
    blanks = 0
    for column, default in defaults.items():
        values = (pd.to_numeric(given[column], errors="coerce").to_numpy(dtype=float) if column in given.columns
                  else np.full(len(ids), np.nan))
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(values) | ~rules[column](values)
        if column != "order_cost" and column in given.columns:  # a column the parameters lack is no blank cell
            blanks += int((bad & given.notna().any(axis=1).to_numpy()).sum())
        out[column] = np.where(bad, default, values)
    if blanks:
        notes.append(f"{blanks:,} blank or invalid parameter cells (e.g. a negative lead time) took the defaults.")
    period = schema.PERIOD_DAYS[freq]
    out["lead_time"] = out["lead_time_days"] / period
    out["lead_time_sd"] = out["lead_time_sd_days"] / period
    out["lead_nominal"] = np.maximum(1, np.round(out["lead_time"])).astype(np.int64)
    out["review_period"] = np.maximum(1, np.round(out["review_period_days"] / period)).astype(np.int64)
    if freq != schema.DAILY:
        notes.append(f"Lead times and review periods are in days; the replay uses them in {schema.FREQ_NAMES[freq]} "
                     f"periods of {period:g} days (review periods rounded to whole periods, at least 1).")
    return out


def _horizon(plan: ReplayPlan) -> int:
    table = plan.parameters
    longest = float(np.max(table["lead_time"] + 3 * table["lead_time_sd"] + table["review_period"]))
    return int(min(400, plan.config.forecast_every + np.ceil(longest) + 1))


def _paths(frame: pd.DataFrame, plan: ReplayPlan, name: str, origin: int, index: int) -> np.ndarray:
    """Sample paths ``(n, S, h)`` in ``plan.ids`` order from a model fitted on the rows before the origin."""
    config = plan.config
    day = plan.dates[origin]
    history = frame.loc[frame[schema.DS] < day]
    h = _horizon(plan)
    dates = future_dates(history[schema.DS].max(), h, plan.freq)
    known = [c for c in config.known_future if c in frame.columns]
    x_df = None
    if known:
        ahead = frame.loc[frame[schema.DS].isin(dates), [schema.UNIQUE_ID, schema.DS] + known]
        x_df = ahead if len(ahead) else None
    model = make_model(name, freq=plan.freq, known_future=config.known_future, countries=config.countries,
                       seed=config.seed)
    draws = model.fit(history).sample_paths(h, n_samples=config.n_samples, X_df=x_df, seed=config.seed + index)
    values = np.zeros((len(plan.ids), config.n_samples, h))
    where = pd.Index(np.asarray(draws.ids, dtype=str)).get_indexer(plan.ids.astype(str))
    found = where >= 0
    values[found] = draws.values[where[found]]
    return values


def _set_levels(plan: ReplayPlan, name: str, paths: np.ndarray, origin: int, days: range) -> None:
    """Reorder points and order-up-to levels of ``name`` on the review days in ``days`` from the paths of
    ``origin``."""
    config = plan.config
    table = plan.parameters
    reviews = plan.reviews
    for t in days:
        rows = np.flatnonzero(reviews[:, t])
        if len(rows) == 0:
            continue
        ahead = paths[rows][:, :, t - origin:]
        demand = protection_demand(ahead, table["lead_time"].to_numpy()[rows],
                                   table["lead_time_sd"].to_numpy()[rows],
                                   table["review_period"].to_numpy(dtype=float)[rows], seed=config.seed + t)
        eoq = _eoq(table.iloc[rows], demand.review_mean, plan.freq)
        for k, level in enumerate(config.service_levels):
            s = np.clip(reorder_points(demand, np.full(len(rows), float(level)), config.target), 0, None)
            plan.reorder_point[name][k, rows, t] = s
            plan.order_up_to[name][k, rows, t] = order_up_to_levels(s, eoq, demand.review_mean)
        if t == 0:
            plan.start_review_mean[name] = np.zeros(len(plan.ids))
            plan.start_review_mean[name][rows] = demand.review_mean


def _eoq(table: pd.DataFrame, review_mean: np.ndarray, freq: str) -> np.ndarray:
    """EOQ where an order cost is given (NaN elsewhere: base stock)."""
    periods_per_year = DAYS_PER_YEAR / schema.PERIOD_DAYS[freq]
    annual = review_mean / table["review_period"].to_numpy(dtype=float) * periods_per_year
    return economic_order_quantity(annual, table["order_cost"].to_numpy(), table["unit_cost"].to_numpy(),
                                   table["holding_cost_rate"].to_numpy())


def _set_classic_levels(plan: ReplayPlan, sales_all: np.ndarray, censored_all: np.ndarray, first: int) -> None:
    config = plan.config
    table = plan.parameters
    observed = np.where(censored_all, np.nan, sales_all)
    reviews = plan.reviews
    shape = (len(config.service_levels), len(plan.ids), len(plan.dates))
    plan.reorder_point[CLASSIC] = np.full(shape, np.nan)
    plan.order_up_to[CLASSIC] = np.full(shape, np.nan)
    lead, spread = table["lead_time"].to_numpy(), table["lead_time_sd"].to_numpy()
    review = table["review_period"].to_numpy(dtype=float)
    window = max(CLASSIC_SD_WINDOW[plan.freq], SEASON_STEP[plan.freq])
    for t in range(len(plan.dates)):
        rows = np.flatnonzero(reviews[:, t])
        if len(rows) == 0:
            continue
        history = observed[rows, max(0, first + t - window):first + t]
        rate, _ = _classic_rate_sd(history, plan.freq)
        review_mean = rate * review[rows]
        eoq = _eoq(table.iloc[rows], review_mean, plan.freq)
        for k, level in enumerate(config.service_levels):
            s = classic_levels(history, lead[rows], spread[rows], review[rows], float(level), plan.freq,
                               config.target)
            plan.reorder_point[CLASSIC][k, rows, t] = s
            plan.order_up_to[CLASSIC][k, rows, t] = order_up_to_levels(s, eoq, review_mean)
        if t == 0:
            plan.start_review_mean[CLASSIC] = np.zeros(len(plan.ids))
            plan.start_review_mean[CLASSIC][rows] = review_mean


def _normal_loss_z(allowed_shortage: np.ndarray, spread: np.ndarray) -> np.ndarray:
    """The smallest z with ``spread * G(z) <= allowed_shortage`` (G: the standard normal loss function), by
    bisection on [-4, 6]; 0 spread needs no safety stock."""
    allowed_shortage, spread = np.broadcast_arrays(np.asarray(allowed_shortage, dtype=float),
                                                   np.asarray(spread, dtype=float))
    lo, hi = np.full(spread.shape, -4.0), np.full(spread.shape, 6.0)
    for _ in range(60):
        mid = (lo + hi) / 2
        loss = stats.norm.pdf(mid) - mid * stats.norm.sf(mid)
        ok = spread * loss <= allowed_shortage
        hi, lo = np.where(ok, mid, hi), np.where(ok, lo, mid)
    return np.where(spread > 0, hi, 0.0)


def _demand_override(plan: ReplayPlan, demand: pd.DataFrame) -> np.ndarray:
    missing = [c for c in (schema.UNIQUE_ID, schema.DS, schema.Y) if c not in demand.columns]
    if missing:
        raise ReplayError(f"The demand frame has no column(s) {', '.join(missing)}; give unique_id, ds and y.")
    values = plan.demand.copy()
    rows = pd.Index(plan.ids.astype(str)).get_indexer(demand[schema.UNIQUE_ID].astype(str))
    cols = plan.dates.get_indexer(pd.DatetimeIndex(demand[schema.DS]))
    y = pd.to_numeric(demand[schema.Y], errors="coerce").to_numpy(dtype=float)
    keep = (rows >= 0) & (cols >= 0) & np.isfinite(y)
    values[rows[keep], cols[keep]] = y[keep]
    return values


def _run(plan: ReplayPlan, name: str, demand: np.ndarray) -> dict[str, np.ndarray]:
    """Day-by-day stock of one model's policies, all service levels at once: lost units and end-of-day on hand
    ``(K, n, periods)``, orders and units ordered ``(K, n)``."""
    table = plan.parameters
    reorder, order_up_to = plan.reorder_point[name], plan.order_up_to[name]
    n_levels, n, periods = reorder.shape
    moq, case_pack = table["moq"].to_numpy(), table["case_pack"].to_numpy()
    lead = table["lead_nominal"].to_numpy(dtype=np.int64)
    review = table["review_period"].to_numpy(dtype=np.int64)
    arrivals = np.zeros((n_levels, n, periods + 1))
    on_order = np.zeros((n_levels, n))
    # steady-state start: position = S at the first review; orders of earlier reviews still in transit
    start_level = np.nan_to_num(order_up_to[:, :, 0])
    each = np.ceil(np.nan_to_num(plan.start_review_mean.get(name, np.zeros(n))))
    in_transit = np.maximum(0, np.ceil(lead / review).astype(np.int64) - 1)  # reviews j with lead - j R > 0
    per_order = np.where(in_transit > 0, np.minimum(each[None, :],
                                                    np.floor(start_level / np.maximum(in_transit, 1))), 0.0)
    for i in np.flatnonzero(in_transit):
        for j in range(1, in_transit[i] + 1):
            if lead[i] - j * review[i] <= periods:
                arrivals[:, i, lead[i] - j * review[i]] += per_order[:, i]
    on_order += per_order * in_transit[None, :]
    on_hand = start_level - on_order
    lost = np.zeros((n_levels, n, periods))
    end_stock = np.zeros((n_levels, n, periods))
    orders = np.zeros((n_levels, n))
    units = np.zeros((n_levels, n))
    reviews = plan.reviews
    for t in range(periods):
        on_hand += arrivals[:, :, t]
        on_order -= arrivals[:, :, t]
        rows = np.flatnonzero(reviews[:, t])
        if len(rows):
            position = on_hand[:, rows] + on_order[:, rows]
            quantity = order_quantities(position, np.nan_to_num(reorder[:, rows, t]),
                                        np.nan_to_num(order_up_to[:, rows, t]), moq[rows], case_pack[rows])
            arrive = t + plan.lead_draws[rows, t]
            inside = arrive <= periods
            arrivals[:, rows[inside], arrive[inside]] += quantity[:, inside]
            on_order[:, rows] += quantity
            orders[:, rows] += quantity > 0
            units[:, rows] += quantity
        served = np.minimum(on_hand, demand[None, :, t])
        lost[:, :, t] = demand[None, :, t] - served
        on_hand -= served
        end_stock[:, :, t] = on_hand
    return {"lost": lost, "on_hand": end_stock, "orders": orders, "units_ordered": units}
