"""Seeded synthetic sales data.

* :func:`generate_series` — a tiny long panel for tests and examples (like Nixtla's ``generate_series``).
* :func:`generate_demo_shop` / :func:`write_demo_shop` — the demo shop: about 60 SKUs on three Chinese
  e-commerce channels over three years, with seasonality, events, promotions, price changes, intermittent and
  new SKUs, a discontinued SKU and stockouts from a simulated replenishment policy. Every planted effect is
  recorded in ``ground_truth`` so that forecasts, promotion analyses and inventory replays can be checked
  against the truth.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd

from core.data.calendar import event_features
from core.schema import CATEGORY, CHANNEL, DAILY, DATE, MONTHLY, ON_HAND, PRICE, PROMO, SKU, UNITS, WEEKLY

CHANNELS: tuple[str, ...] = ("app", "tmall", "jd")

DEMO_SEED = 42
DEMO_START = "2023-11-01"
DEMO_END = "2026-10-31"
DEMO_DATA_DIR = Path(__file__).resolve().parents[2] / "demo_data"

DEMAND = "demand"
MEAN_DEMAND = "mean_demand"
SALES_COLUMNS: tuple[str, ...] = (DATE, SKU, CHANNEL, CATEGORY, UNITS, PRICE, PROMO, ON_HAND)
TRUE_DEMAND_COLUMNS: tuple[str, ...] = (DATE, SKU, CHANNEL, DEMAND, MEAN_DEMAND)
INVENTORY_COLUMNS: tuple[str, ...] = (
    SKU, CHANNEL, ON_HAND, "on_order", "lead_time_days", "lead_time_sd_days", "review_period_days",
    "service_level", "moq", "case_pack", "unit_cost", "holding_cost_rate", "order_cost",
)
SALES_FILE = "sales.csv.gz"
TRUE_DEMAND_FILE = "true_demand.csv.gz"
INVENTORY_FILE = "inventory.csv"
GROUND_TRUTH_FILE = "ground_truth.json"


# --- the tiny panel --------------------------------------------------------------------------------------------------

def _period_dates(start: str | pd.Timestamp, n_periods: int, freq: str) -> pd.DatetimeIndex:
    steps = {DAILY: "D", WEEKLY: "7D", MONTHLY: "MS"}
    if freq not in steps:
        raise ValueError(f"freq must be one of {tuple(steps)} (daily, weekly, monthly), got {freq!r}.")
    return pd.date_range(start, periods=n_periods, freq=steps[freq], unit="us")


def generate_series(
    n_series: int = 3,
    n_periods: int = 120,
    freq: str = DAILY,
    start: str | pd.Timestamp = "2024-01-01",
    seed: int = 0,
    promo_elasticity: float = 2.5,
) -> pd.DataFrame:
    """A small seeded long panel in the planner's fields: ``date, sku, channel, units, price, promo``.

    Each series has its own level, trend, yearly cycle and (daily data) weekday pattern; about one period in
    twelve is on promotion with a discount depth of 10-30 %, which lifts mean demand by
    ``(1 - depth) ** -promo_elasticity`` (use ``promo_elasticity=0`` for promotions without effect). Units are
    negative-binomial counts. Weekly periods are 7 days from ``start``; monthly periods are calendar months.
    """
    if n_series < 1 or n_periods < 1:
        raise ValueError(f"n_series and n_periods must be at least 1, got {n_series} and {n_periods}.")
    rng = np.random.default_rng(seed)
    dates = _period_dates(start, n_periods, freq)
    days_per_period = {DAILY: np.ones(n_periods), WEEKLY: np.full(n_periods, 7.0),
                       MONTHLY: np.asarray(dates.days_in_month, dtype=float)}[freq]
    years = (dates - dates[0]).days.to_numpy() / 365.25
    day_of_year = dates.dayofyear.to_numpy()

    level = rng.uniform(2.0, 40.0, (n_series, 1))
    growth = rng.uniform(-0.1, 0.3, (n_series, 1))
    yearly_peak = rng.uniform(0, 365, (n_series, 1))
    yearly = rng.uniform(0.0, 0.3, (n_series, 1)) * np.cos(2 * np.pi * (day_of_year - yearly_peak) / 365.25)
    weekday = np.zeros((n_series, n_periods))
    if freq == DAILY:
        weekday_peak = rng.integers(0, 7, (n_series, 1))
        weekday_phase = 2 * np.pi * (dates.dayofweek.to_numpy() - weekday_peak) / 7
        weekday = rng.uniform(0.0, 0.2, (n_series, 1)) * np.cos(weekday_phase)
    on_promo = rng.random((n_series, n_periods)) < 1 / 12
    depth = np.where(on_promo, rng.choice([0.1, 0.2, 0.3], (n_series, n_periods)), 0.0)
    mean = level * days_per_period * np.exp(growth * years + yearly + weekday) * (1 - depth) ** -promo_elasticity
    units = rng.negative_binomial(DISPERSION, DISPERSION / (DISPERSION + mean))
    list_price = np.round(rng.uniform(5.0, 100.0, (n_series, 1)), 1)

    return pd.DataFrame({
        DATE: np.tile(dates.to_numpy(), n_series),
        SKU: np.repeat([f"SKU-{i:03d}" for i in range(n_series)], n_periods),
        CHANNEL: np.repeat([CHANNELS[i % len(CHANNELS)] for i in range(n_series)], n_periods),
        UNITS: units.ravel().astype(np.int64),
        PRICE: np.round(list_price * (1 - depth), 2).ravel(),
        PROMO: depth.ravel(),
    })


# --- the demo shop: planted parameters --------------------------------------------------------------------------------

@dataclass(frozen=True)
class CategoryProfile:
    """How one category behaves; every number here is planted in the demo shop."""

    prefix: str
    season_amplitude: float  # yearly cycle: mean x exp(amplitude * cos(2 pi (day_of_year - peak) / 365.25))
    season_peak_day: int  # day of the year with the highest season factor
    promo_elasticity: float  # promotion uplift = (1 - depth) ** -promo_elasticity
    price_elasticity: float  # permanent list-price change: mean x (new / old) ** -price_elasticity
    pull_forward_share: float  # share of a promotion's incremental units lost in the days after it
    cannibalisation_share: float  # share of a promotion's incremental units taken from sibling SKUs
    price_range: tuple[float, float]
    case_packs: tuple[int, ...]


CATEGORIES: dict[str, CategoryProfile] = {
    "beverages": CategoryProfile("BEV", 0.35, 200, 2.5, 1.2, 0.3, 0.4, (3.0, 15.0), (12, 24)),
    "snacks": CategoryProfile("SNK", 0.25, 30, 3.0, 1.5, 0.2, 0.5, (5.0, 40.0), (10, 20)),
    "personal care": CategoryProfile("PC", 0.10, 160, 2.0, 1.0, 0.4, 0.3, (20.0, 150.0), (6, 12)),
    "home": CategoryProfile("HOME", 0.15, 290, 1.8, 0.8, 0.3, 0.3, (15.0, 200.0), (4, 6)),
    "baby": CategoryProfile("BABY", 0.05, 100, 1.5, 0.6, 0.5, 0.4, (50.0, 300.0), (2, 4)),
    "electronics accessories": CategoryProfile("ELEC", 0.20, 320, 2.2, 1.1, 0.0, 0.2, (20.0, 300.0), (5, 10)),
}
SKUS_PER_CATEGORY = 10
#: SKUs of a category are substitutes in groups of about three (numbers 1-3, 4-6, 7-10): a promotion takes
#: demand from the other SKUs of its group on the same channel (its siblings).
SUBSTITUTE_GROUP_SIZE = 3
N_INTERMITTENT = 8
#: Chance that a SKU is listed on each channel (every SKU is on at least one).
CHANNEL_LISTING = {"app": 0.7, "tmall": 0.9, "jd": 0.85}
CHANNEL_WEIGHT = {"app": 0.5, "tmall": 1.0, "jd": 0.8}
#: Weekday multipliers, Monday first (normalised to mean 1 when used).
WEEKLY_PATTERN = {
    "app": (0.92, 0.95, 0.95, 0.97, 1.03, 1.10, 1.08),
    "tmall": (1.05, 0.98, 0.96, 0.95, 0.97, 1.02, 1.07),
    "jd": (1.08, 1.06, 1.03, 1.00, 0.98, 0.92, 0.93),
}
#: Demand multipliers on event days and in the pre/post windows of ``core.data.calendar``, per channel
#: (app, tmall, jd). Missing entries are 1. Overlapping effects multiply.
EVENT_MULTIPLIERS: dict[str, dict[str, tuple[float, float, float]]] = {
    "spring_festival": {"day": (0.45, 0.40, 0.35), "pre": (0.85, 0.85, 0.80), "post": (0.80, 0.80, 0.75)},
    "womens_day": {"day": (1.3, 1.8, 1.4)},
    "love_day_520": {"day": (1.2, 1.2, 1.1)},
    "mid_year_618": {"day": (1.6, 2.2, 3.5), "pre": (1.10, 1.15, 1.30), "post": (0.85, 0.85, 0.80)},
    "singles_day": {"day": (2.0, 4.5, 3.0), "pre": (0.80, 0.70, 0.80), "post": (0.85, 0.80, 0.85)},
    "black_friday": {"day": (1.5, 1.0, 1.0)},
    "cyber_monday": {"day": (1.3, 1.0, 1.0)},
    "double_12": {"day": (1.4, 2.0, 1.6), "pre": (0.95, 0.90, 0.95)},
    "christmas": {"pre": (1.10, 1.0, 1.0)},
}
#: CN public holidays outside the Spring Festival days (e.g. National Day week): shoppers travel.
CN_HOLIDAY_MULTIPLIER = 0.9
#: No promotion starts in these events or their windows, so each promotion's effect is easy to isolate.
PROMO_BLACKOUT_EVENTS = ("spring_festival", "mid_year_618", "singles_day", "double_12")
PROMO_DEPTHS = (0.1, 0.15, 0.2, 0.25, 0.3, 0.4)
PULL_FORWARD_DAYS = 7
NEW_LAUNCH_RAMP_DAYS = 30
DISPERSION = 5.0  # negative binomial size of regular SKUs (variance = mean + mean^2 / size)
INTERMITTENT_DISPERSION = 0.5
FORECAST_ERROR_SD = 0.25  # log-sd of the simulated planner's misjudgement of demand at each order
ORDER_STOP_DAYS = 45  # the discontinued SKU is not reordered in its last days
CHANNEL_LEAD_TIME_DAYS = {"app": (7, 15), "tmall": (4, 11), "jd": (3, 8)}
CHANNEL_ORDER_COST = {"app": 25.0, "tmall": 40.0, "jd": 35.0}
HOLDING_COST_RATE = 0.25
#: Planning look-ahead beyond the last day (longest lead time + review period).
_LOOKAHEAD_DAYS = 40


@dataclass(frozen=True)
class DemoShop:
    """The demo shop: observed sales, the inventory snapshot at the end, the true demand and every planted setting."""

    sales: pd.DataFrame
    inventory: pd.DataFrame
    true_demand: pd.DataFrame
    ground_truth: dict


@dataclass(frozen=True)
class _Catalogue:
    """SKUs (one entry per SKU) and series (one entry per SKU x channel)."""

    skus: pd.DataFrame
    series: pd.DataFrame


# --- the demo shop: building blocks -------------------------------------------------------------------------------

def _price_ending_in_9(value: np.ndarray | float) -> np.ndarray:
    return np.floor(value) + 0.9


def _design_catalogue(rng: np.random.Generator, n_days: int) -> _Catalogue:
    """Draw SKUs, their life cycle and price history, and the channels each is listed on."""
    n_groups = SKUS_PER_CATEGORY // SUBSTITUTE_GROUP_SIZE
    rows = []
    for category, profile in CATEGORIES.items():
        for number in range(1, SKUS_PER_CATEGORY + 1):
            rows.append({
                SKU: f"{profile.prefix}-{number:03d}",
                CATEGORY: category,
                "substitute_group": min((number - 1) // SUBSTITUTE_GROUP_SIZE, n_groups - 1),
                "level": float(rng.lognormal(np.log(8.0), 0.7)),
                "growth_per_year": float(rng.uniform(-0.15, 0.35)),
                "list_price": float(_price_ending_in_9(rng.uniform(*profile.price_range))),
                "cost_share": float(rng.uniform(0.4, 0.65)),  # unit cost as a share of the list price
            })
    skus = pd.DataFrame(rows)
    n_skus = len(skus)
    order = rng.permutation(n_skus)
    new_index = order[: len(CATEGORIES)]
    discontinued_index = order[len(CATEGORIES)]
    intermittent_index = order[len(CATEGORIES) + 1: len(CATEGORIES) + 1 + N_INTERMITTENT]

    skus["intermittent"] = False
    skus.loc[intermittent_index, "intermittent"] = True
    skus.loc[intermittent_index, "level"] = rng.uniform(0.08, 0.4, len(intermittent_index))
    skus["first_day"] = 0
    skus.loc[new_index, "first_day"] = np.sort(rng.integers(int(0.25 * n_days), int(0.75 * n_days), len(new_index)))
    skus["last_day"] = n_days - 1 + _LOOKAHEAD_DAYS
    skus.loc[discontinued_index, "last_day"] = int(0.7 * n_days)
    skus["new"] = skus["first_day"] > 0
    skus["discontinued"] = skus["last_day"] < n_days - 1

    changes = rng.random(n_skus) < 0.3
    skus["price_change_day"] = np.where(changes, rng.integers(int(0.15 * n_days), int(0.9 * n_days), n_skus), -1)
    change = rng.choice([-0.15, -0.1, 0.05, 0.08, 0.1, 0.15], n_skus)
    changed_price = _price_ending_in_9(skus["list_price"] * (1 + change))
    skus["new_list_price"] = np.where(changes, changed_price, skus["list_price"])

    listed = np.column_stack([rng.random(n_skus) < CHANNEL_LISTING[channel] for channel in CHANNELS])
    listed[~listed.any(axis=1), CHANNELS.index("tmall")] = True
    sku_index, channel_index = np.nonzero(listed)
    n_series = len(sku_index)
    channels = np.asarray(CHANNELS)[channel_index]
    intermittent = skus["intermittent"].to_numpy()[sku_index]
    lead_time = np.array([rng.integers(*CHANNEL_LEAD_TIME_DAYS[channel]) for channel in channels])
    case_pack = np.array([rng.choice(CATEGORIES[category].case_packs)
                          for category in skus[CATEGORY].to_numpy()[sku_index]])
    case_pack = np.where(intermittent, 1, case_pack)
    series = pd.DataFrame({
        SKU: skus[SKU].to_numpy()[sku_index],
        CHANNEL: channels,
        CATEGORY: skus[CATEGORY].to_numpy()[sku_index],
        "sku_index": sku_index,
        "channel_index": channel_index,
        "base_level": skus["level"].to_numpy()[sku_index] * np.array([CHANNEL_WEIGHT[c] for c in channels])
        * rng.lognormal(0.0, 0.3, n_series),
        "dispersion": np.where(intermittent, INTERMITTENT_DISPERSION, DISPERSION),
        "lead_time_days": lead_time,
        "lead_time_sd_days": np.round(lead_time * rng.uniform(0.1, 0.3, n_series), 1),
        "review_period_days": rng.choice([3, 7, 7, 14], n_series),
        "service_level": rng.choice([0.85, 0.9, 0.95, 0.98], n_series),
        "case_pack": case_pack,
        "moq": case_pack * rng.choice([1, 1, 2, 4], n_series),
        "review_offset": rng.integers(0, 14, n_series),
    })
    return _Catalogue(skus=skus, series=series)


def _event_log_multipliers(events: pd.DataFrame) -> np.ndarray:
    """log demand multiplier per channel and day, shape (channels, days)."""
    log_multiplier = np.zeros((len(CHANNELS), len(events)))
    for key, windows in EVENT_MULTIPLIERS.items():
        for window, multipliers in windows.items():
            column = f"ev_{key}" if window == "day" else f"ev_{key}_{window}"
            log_multiplier += np.log(np.asarray(multipliers))[:, None] * events[column].to_numpy()[None, :]
    other_holiday = (events["holiday_cn"].to_numpy() > 0) & (events["ev_spring_festival"].to_numpy() == 0)
    return log_multiplier + np.log(CN_HOLIDAY_MULTIPLIER) * other_holiday[None, :]


def _baseline_mean(
    catalogue: _Catalogue, dates: pd.DatetimeIndex, events: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """Mean daily demand of every series without promotions, and the list price of every SKU; (series, days)."""
    skus, series = catalogue.skus, catalogue.series
    day = np.arange(len(dates))
    years = day / 365.25
    day_of_year = dates.dayofyear.to_numpy()
    weekday = dates.dayofweek.to_numpy()

    profiles = [CATEGORIES[category] for category in skus[CATEGORY]]
    amplitude = np.array([p.season_amplitude for p in profiles])[:, None]
    peak = np.array([p.season_peak_day for p in profiles])[:, None]
    price_elasticity = np.array([p.price_elasticity for p in profiles])[:, None]
    first_day = skus["first_day"].to_numpy()[:, None]
    last_day = skus["last_day"].to_numpy()[:, None]
    change_day = skus["price_change_day"].to_numpy()[:, None]
    changed = (change_day >= 0) & (day[None, :] >= change_day)
    list_price = np.where(changed, skus["new_list_price"].to_numpy()[:, None], skus["list_price"].to_numpy()[:, None])

    log_sku = (
        skus["growth_per_year"].to_numpy()[:, None] * years[None, :]
        + amplitude * np.cos(2 * np.pi * (day_of_year[None, :] - peak) / 365.25)
        - price_elasticity * np.log(list_price / skus["list_price"].to_numpy()[:, None])
    )
    age = day[None, :] - first_day
    ramp = np.where(skus["new"].to_numpy()[:, None], 1 - np.exp(-np.maximum(age, 0) / NEW_LAUNCH_RAMP_DAYS), 1.0)
    alive = (age >= 0) & (day[None, :] <= last_day)
    sku_factor = np.exp(log_sku) * ramp * alive

    weekly = np.array([WEEKLY_PATTERN[channel] for channel in CHANNELS])
    weekly = weekly / weekly.mean(axis=1, keepdims=True)
    channel_log = np.log(weekly[:, weekday]) + _event_log_multipliers(events)
    sku_index = series["sku_index"].to_numpy()
    channel_index = series["channel_index"].to_numpy()
    mean = series["base_level"].to_numpy()[:, None] * sku_factor[sku_index] * np.exp(channel_log[channel_index])
    return mean, list_price


def _plant_promotions(
    rng: np.random.Generator, catalogue: _Catalogue, baseline: np.ndarray, events: pd.DataFrame, n_days: int
) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """Schedule promotion episodes and return the demand multiplier, the discount depth and one record per episode.

    Within one category and channel, episodes (with their post-promotion dip and a gap) never overlap, so each
    SKU-day carries at most one promotion effect and every planted number below is exact.
    """
    series = catalogue.series
    multiplier = np.ones_like(baseline)
    depth = np.zeros_like(baseline)
    blackout = np.zeros(n_days, dtype=bool)
    for key in PROMO_BLACKOUT_EVENTS:
        for column in (f"ev_{key}", f"ev_{key}_pre", f"ev_{key}_post"):
            blackout |= events[column].to_numpy()[:n_days] > 0
    intermittent = catalogue.skus["intermittent"].to_numpy()[series["sku_index"].to_numpy()]
    substitute_group = catalogue.skus["substitute_group"].to_numpy()[series["sku_index"].to_numpy()]
    alive = baseline[:, :n_days] > 0

    episodes = []
    for (category, _channel), group in series.groupby([CATEGORY, CHANNEL], sort=True):
        members = group.index.to_numpy()
        profile = CATEGORIES[category]
        day = int(rng.integers(0, 20))
        while day + 7 + PULL_FORWARD_DAYS < n_days:
            duration = int(rng.integers(3, 8))
            start, end = day, day + duration - 1
            dip = slice(end + 1, end + 1 + PULL_FORWARD_DAYS)
            eligible = [s for s in members
                        if not intermittent[s] and start >= 30 and alive[s, start - 30: dip.stop].all()]
            if blackout[start: end + 1].any() or dip.stop > n_days or not eligible:
                day += 1
                continue
            promoted = int(rng.choice(eligible))
            discount = float(rng.choice(PROMO_DEPTHS))
            days = slice(start, end + 1)
            siblings = [s for s in members if s != promoted and substitute_group[s] == substitute_group[promoted]]

            uplift = (1 - discount) ** -profile.promo_elasticity
            expected_baseline = baseline[promoted, days].sum()
            incremental = (uplift - 1) * expected_baseline
            after_baseline = baseline[promoted, dip].sum()
            dip_share = (min(0.6, profile.pull_forward_share * incremental / after_baseline)
                         if after_baseline > 0 else 0.0)
            sibling_baseline = baseline[siblings, days].sum() if siblings else 0.0
            sibling_share = (min(0.5, profile.cannibalisation_share * incremental / sibling_baseline)
                             if sibling_baseline > 0 else 0.0)

            multiplier[promoted, days] *= uplift
            multiplier[promoted, dip] *= 1 - dip_share
            multiplier[siblings, days] *= 1 - sibling_share
            depth[promoted, days] = discount
            episodes.append({
                "series": promoted,
                "start": start,
                "end": end,
                "depth": discount,
                "expected_baseline_units": expected_baseline,
                "expected_incremental_units": incremental,
                "uplift_pct": 100 * (uplift - 1),
                "pull_forward_days": PULL_FORWARD_DAYS,
                "pull_forward_units": dip_share * after_baseline,
                "pull_forward_share_of_daily_demand": dip_share,
                "cannibalised_units": sibling_share * sibling_baseline,
                "cannibalised_share_of_sibling_demand": sibling_share,
                "siblings": sorted(series.loc[siblings, SKU].tolist()),
            })
            day = dip.stop + int(rng.integers(3, 20))
    return multiplier, depth, episodes


def _shutdown_release_day(events: pd.DataFrame) -> np.ndarray:
    """Day on which an order placed on each day reaches the supplier: after the Spring Festival shutdown."""
    shut = events["ev_spring_festival"].to_numpy() > 0
    release = np.arange(len(shut))
    for day in range(len(shut) - 2, -1, -1):
        if shut[day]:
            release[day] = release[day + 1] if shut[day + 1] else day + 1
    return release


def _simulate_inventory(
    rng: np.random.Generator, series: pd.DataFrame, mean: np.ndarray, demand: np.ndarray,
    first_day: np.ndarray, order_stop: np.ndarray, release_day: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Periodic-review order-up-to replenishment of every series; returns sales, end-of-day stock and stock on order.

    At each review the simulated planner targets the demand expected over lead time + review period (the true mean
    times a log-normal misjudgement) plus safety stock for the service level; orders are rounded up to the case
    pack and the MOQ and arrive after a noisy lead time. A new series starts with its target stock.
    """
    n_series, n_days = demand.shape
    lead_time = series["lead_time_days"].to_numpy()
    lead_time_sd = series["lead_time_sd_days"].to_numpy()
    review = series["review_period_days"].to_numpy()
    review_offset = series["review_offset"].to_numpy()
    z = np.array([NormalDist().inv_cdf(level) for level in series["service_level"]])
    case_pack = series["case_pack"].to_numpy()
    moq = series["moq"].to_numpy()
    dispersion = series["dispersion"].to_numpy()[:, None]

    cumulative_mean = np.hstack([np.zeros((n_series, 1)), np.cumsum(mean, axis=1)])
    cumulative_var = np.hstack([np.zeros((n_series, 1)), np.cumsum(mean + mean**2 / dispersion, axis=1)])
    misjudgement = np.exp(rng.normal(0.0, FORECAST_ERROR_SD, (n_series, n_days)))
    lead_noise = rng.normal(0.0, 1.0, (n_series, n_days))
    rows = np.arange(n_series)
    horizon = lead_time + review

    arrivals = np.zeros((n_series, mean.shape[1] + 3 * _LOOKAHEAD_DAYS), dtype=np.int64)
    on_hand = np.zeros(n_series, dtype=np.int64)
    on_order = np.zeros(n_series, dtype=np.int64)
    sales = np.zeros((n_series, n_days), dtype=np.int64)
    stock_end = np.zeros((n_series, n_days), dtype=np.int64)
    for day in range(n_days):
        window_end = np.minimum(day + 1 + horizon, mean.shape[1])
        expected = (cumulative_mean[rows, window_end] - cumulative_mean[:, day + 1]) * misjudgement[:, day]
        demand_variance = cumulative_var[rows, window_end] - cumulative_var[:, day + 1]
        spread = np.sqrt(demand_variance + (lead_time_sd * expected / horizon) ** 2)
        target = expected + z * spread

        launching = first_day == day
        on_hand[launching] = np.ceil(target[launching] + mean[launching, day]).astype(np.int64)
        on_hand += arrivals[:, day]
        on_order -= arrivals[:, day]
        sales[:, day] = np.minimum(demand[:, day], on_hand)
        on_hand -= sales[:, day]
        stock_end[:, day] = on_hand

        reviewing = (day >= first_day) & (day < order_stop) & ((day - first_day + review_offset) % review == 0)
        shortfall = target - on_hand - on_order
        quantity = np.where(reviewing & (shortfall > 0), np.ceil(shortfall / case_pack) * case_pack, 0).astype(np.int64)
        quantity = np.where(quantity > 0, np.maximum(quantity, moq), 0)
        realised_lead_time = np.maximum(1, np.rint(lead_time + lead_time_sd * lead_noise[:, day])).astype(np.int64)
        arrival_day = release_day[day] + realised_lead_time
        np.add.at(arrivals, (rows, np.minimum(arrival_day, arrivals.shape[1] - 1)), quantity)
        on_order += quantity
    return sales, stock_end, on_order


def _clean_floats(value: object, digits: int = 4) -> object:
    """Round floats and turn numpy scalars into plain Python, so the ground truth dumps as tidy JSON."""
    if isinstance(value, dict):
        return {key: _clean_floats(item, digits) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean_floats(item, digits) for item in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return round(float(value), digits)
    return value


# --- the demo shop: public API --------------------------------------------------------------------------------------

def generate_demo_shop(seed: int = DEMO_SEED, start: str = DEMO_START, end: str = DEMO_END) -> DemoShop:
    """Generate the demo shop, deterministically from ``seed``.

    Returns
    -------
    DemoShop with
    ``sales`` (``date, sku, channel, category, units, price, promo, on_hand``; ``units`` are censored by stock),
    ``inventory`` (one row per SKU-channel at ``end``, the replenishment parameters used in the simulation),
    ``true_demand`` (``date, sku, channel, demand, mean_demand``, same rows as ``sales``) and
    ``ground_truth`` (a JSON-serialisable dict of every planted setting, promotion episode and stockout count).
    """
    rng = np.random.default_rng(seed)
    history = pd.date_range(start, end, freq="D", unit="us")
    n_days = len(history)
    if n_days < 120:
        raise ValueError(f"The demo shop needs at least 120 days of history, got {n_days} ({start} to {end}).")
    dates = pd.date_range(start, periods=n_days + _LOOKAHEAD_DAYS, freq="D", unit="us")
    events = event_features(dates, countries=("CN",))

    catalogue = _design_catalogue(rng, n_days)
    skus, series = catalogue.skus, catalogue.series
    baseline, list_price = _baseline_mean(catalogue, dates, events)
    promo_multiplier, depth, episodes = _plant_promotions(rng, catalogue, baseline, events, n_days)
    mean = baseline * promo_multiplier
    dispersion = series["dispersion"].to_numpy()[:, None]
    demand = rng.negative_binomial(dispersion, dispersion / (dispersion + mean[:, :n_days]))

    sku_index = series["sku_index"].to_numpy()
    first_day = skus["first_day"].to_numpy()[sku_index]
    last_day = np.minimum(skus["last_day"].to_numpy()[sku_index], n_days - 1)
    order_stop = np.where(skus["discontinued"].to_numpy()[sku_index], last_day - ORDER_STOP_DAYS, n_days)
    sales, stock_end, on_order = _simulate_inventory(
        rng, series, mean, demand, first_day, order_stop, _shutdown_release_day(events)
    )

    day = np.arange(n_days)
    observed = (day[None, :] >= first_day[:, None]) & (day[None, :] <= last_day[:, None])
    series_of_row, day_of_row = np.nonzero(observed)
    price = np.round(list_price[sku_index][:, :n_days] * (1 - depth[:, :n_days]), 2)
    row_keys = {
        DATE: history[day_of_row],
        SKU: series[SKU].to_numpy()[series_of_row],
        CHANNEL: series[CHANNEL].to_numpy()[series_of_row],
    }
    sales_frame = pd.DataFrame({
        **row_keys,
        CATEGORY: series[CATEGORY].to_numpy()[series_of_row],
        UNITS: sales[observed],
        PRICE: price[observed],
        PROMO: depth[:, :n_days][observed],
        ON_HAND: stock_end[observed],
    })
    true_demand = pd.DataFrame({
        **row_keys,
        DEMAND: demand[observed],
        MEAN_DEMAND: np.round(mean[:, :n_days][observed], 3),
    })

    unit_cost = np.round(list_price[:, n_days - 1] * skus["cost_share"].to_numpy(), 2)[sku_index]
    inventory = pd.DataFrame({
        SKU: series[SKU],
        CHANNEL: series[CHANNEL],
        ON_HAND: stock_end[:, -1],
        "on_order": on_order,
        "lead_time_days": series["lead_time_days"],
        "lead_time_sd_days": series["lead_time_sd_days"],
        "review_period_days": series["review_period_days"],
        "service_level": series["service_level"],
        "moq": series["moq"],
        "case_pack": series["case_pack"],
        "unit_cost": unit_cost,
        "holding_cost_rate": HOLDING_COST_RATE,
        "order_cost": series[CHANNEL].map(CHANNEL_ORDER_COST),
    })[last_day == n_days - 1].reset_index(drop=True)  # a discontinued SKU is no longer planned

    ground_truth = _ground_truth(seed, history, catalogue, episodes, demand, sales, stock_end, observed)
    return DemoShop(sales=sales_frame, inventory=inventory, true_demand=true_demand, ground_truth=ground_truth)


def _ground_truth(
    seed: int, history: pd.DatetimeIndex, catalogue: _Catalogue, episodes: list[dict],
    demand: np.ndarray, sales: np.ndarray, stock_end: np.ndarray, observed: np.ndarray,
) -> dict:
    """Everything planted in the demo shop, as plain JSON-ready data."""
    skus, series = catalogue.skus, catalogue.series
    day_name = history.strftime("%Y-%m-%d")
    censored = observed & (sales < demand)
    out_of_stock = observed & (stock_end == 0)

    promotions = [
        {
            SKU: series.at[episode["series"], SKU],
            CHANNEL: series.at[episode["series"], CHANNEL],
            CATEGORY: series.at[episode["series"], CATEGORY],
            "start": day_name[episode["start"]],
            "end": day_name[episode["end"]],
            **{key: value for key, value in episode.items() if key not in ("series", "start", "end")},
            "stockout_days_observed": int(out_of_stock[episode["series"], episode["start"]: episode["end"] + 1].sum()),
        }
        for episode in episodes
    ]
    price_changes = [
        {SKU: row[SKU], "date": day_name[row["price_change_day"]], "old_price": row["list_price"],
         "new_price": row["new_list_price"],
         "demand_multiplier": (row["new_list_price"] / row["list_price"])
         ** -CATEGORIES[row[CATEGORY]].price_elasticity}
        for _, row in skus[skus["price_change_day"] >= 0].iterrows()
    ]
    truth = {
        "generator": "core.data.synthetic.generate_demo_shop",
        "seed": seed,
        "start": day_name[0],
        "end": day_name[-1],
        "channels": list(CHANNELS),
        "demand_model": (
            "mean = base_level(sku, channel) * exp(growth_per_year * years + season_amplitude * cos(2 pi (day_of_year"
            " - season_peak_day) / 365.25)) * weekly_pattern[channel][weekday] * event multipliers * CN holiday"
            " multiplier * (list_price / first list_price) ** -price_elasticity * launch ramp * promotion effects;"
            " demand ~ NegativeBinomial(mean, size=dispersion); units = min(demand, stock available that day)"
        ),
        "categories": {name: {key: value for key, value in vars(profile).items() if key != "case_packs"}
                       for name, profile in CATEGORIES.items()},
        "weekly_pattern": {channel: list(np.asarray(pattern) / np.mean(pattern))
                           for channel, pattern in WEEKLY_PATTERN.items()},
        "event_multipliers": {key: {window: dict(zip(CHANNELS, windows.get(window, (1.0, 1.0, 1.0))))
                                    for window in ("day", "pre", "post")}
                              for key, windows in EVENT_MULTIPLIERS.items()},
        "events_without_effect": ["prime_day", "boxing_day"],
        "cn_holiday_multiplier": CN_HOLIDAY_MULTIPLIER,
        "promotion_model": {
            "uplift": "mean x (1 - depth) ** -promo_elasticity on the promotion days",
            "pull_forward": f"the {PULL_FORWARD_DAYS} days after lose pull_forward_share x incremental units"
                            " (same share of each day's demand, at most 0.6)",
            "cannibalisation": "the promoted SKU's siblings (same category, substitute group and channel) lose"
                               " cannibalisation_share x incremental units during the promotion (same share of each"
                               " sibling's demand, at most 0.5)",
            "substitute_group_size": SUBSTITUTE_GROUP_SIZE,
            "blackout_events": list(PROMO_BLACKOUT_EVENTS),
            "note": "expected units are of true (uncensored) demand; observed sales are lower on stockout days",
        },
        "dispersion": {"regular": DISPERSION, "intermittent": INTERMITTENT_DISPERSION},
        "skus": skus[[SKU, CATEGORY, "substitute_group", "level", "growth_per_year", "list_price", "intermittent",
                      "new", "discontinued"]].to_dict("records"),
        "intermittent_skus": skus.loc[skus["intermittent"], SKU].tolist(),
        "new_skus": {row[SKU]: day_name[row["first_day"]] for _, row in skus[skus["new"]].iterrows()},
        "new_launch_ramp_days": NEW_LAUNCH_RAMP_DAYS,
        "discontinued_skus": {row[SKU]: day_name[row["last_day"]] for _, row in skus[skus["discontinued"]].iterrows()},
        "price_changes": price_changes,
        "series": series[[SKU, CHANNEL, "base_level"]].assign(
            stockout_days=out_of_stock.sum(axis=1),
            censored_days=censored.sum(axis=1),
            lost_units=np.where(observed, demand - sales, 0).sum(axis=1),
        ).to_dict("records"),
        "inventory_policy": {
            "rule": "periodic review, order up to expected demand over lead time + review period (true mean x"
                    " log-normal misjudgement) + z(service_level) x sd; rounded up to case_pack, at least moq",
            "forecast_error_log_sd": FORECAST_ERROR_SD,
            "spring_festival_shutdown": "orders placed during the Spring Festival days reach the supplier after it",
            "discontinued_order_stop_days": ORDER_STOP_DAYS,
        },
        "promotions": promotions,
    }
    return _clean_floats(truth)


def write_demo_shop(out_dir: str | Path = DEMO_DATA_DIR, seed: int = DEMO_SEED) -> list[Path]:
    """Generate the demo shop and write it to ``out_dir``; the bytes are identical run to run for a given seed.

    Writes ``sales.csv.gz``, ``true_demand.csv.gz`` (gzip with a zero timestamp), ``inventory.csv`` and
    ``ground_truth.json``, and returns their paths.
    """
    shop = generate_demo_shop(seed=seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    gzip_fixed = {"method": "gzip", "mtime": 0}
    paths = [out / SALES_FILE, out / TRUE_DEMAND_FILE, out / INVENTORY_FILE, out / GROUND_TRUTH_FILE]
    shop.sales.to_csv(paths[0], index=False, compression=gzip_fixed, lineterminator="\n", date_format="%Y-%m-%d")
    shop.true_demand.to_csv(paths[1], index=False, compression=gzip_fixed, lineterminator="\n",
                            date_format="%Y-%m-%d")
    shop.inventory.to_csv(paths[2], index=False, lineterminator="\n")
    ground_truth_text = json.dumps(shop.ground_truth, indent=1, ensure_ascii=False) + "\n"
    paths[3].write_text(ground_truth_text, encoding="utf-8", newline="\n")
    return paths
