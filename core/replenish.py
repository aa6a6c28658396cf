"""Replenishment policy maths: from joint draws of future demand to reorder points and order quantities.

The policy is a periodic review with a reorder point (R, s, S): every ``review_period_days`` the planner looks at
the inventory position (on hand + on order - backorders); when it is below the reorder point ``s`` an order brings
it up to ``S``, rounded up to the case pack and at least the MOQ.

* The demand an order must cover is the demand over lead time + review period (an order placed now arrives after
  the lead time; the next one can only be placed at the next review). Its distribution comes from sample paths of
  the forecast, so day-to-day correlation is kept, and every draw has its own lead time drawn from the lead time's
  mean and standard deviation (``protection_demand``).
* Cycle service level target alpha: ``s`` is the alpha-quantile of that demand. Fill rate target beta: ``s`` is the
  smallest level whose expected shortage over the cycle is at most (1 - beta) x the demand of a review period.
* ``S = s + max(0, EOQ - demand over a review period)`` when an order cost is known (fewer, larger orders), else
  ``S = s`` (a base-stock policy).

Everything here is plain numpy on arrays with one row per series, so the plan, the what-if and the inventory replay
share it. Frames and files are assembled in :mod:`core.plan`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

#: the two kinds of service target a planner can set
CYCLE_SERVICE_LEVEL = "cycle service level"
FILL_RATE = "fill rate"
TARGETS: tuple[str, ...] = (CYCLE_SERVICE_LEVEL, FILL_RATE)
DAYS_PER_YEAR = 365.0


@dataclass(frozen=True)
class ProtectionDemand:
    """Draws of demand per series: over the lead time (``lead``), over lead time + review period (``protection``),
    each ``(n_series, n_samples)``, and the expected demand over one review period (``review_mean``, ``(n,)``)."""

    lead: np.ndarray
    protection: np.ndarray
    review_mean: np.ndarray

    @property
    def protection_mean(self) -> np.ndarray:
        return self.protection.mean(axis=1)

    @property
    def lead_mean(self) -> np.ndarray:
        return self.lead.mean(axis=1)


def cumulative_demand(paths: np.ndarray, periods: np.ndarray, cumulative: np.ndarray | None = None) -> np.ndarray:
    """Demand from now until ``periods`` from now, per draw: ``paths`` ``(n, S, h)``, ``periods`` ``(n, S)`` (may be
    fractional: a part period counts in proportion). Beyond the horizon the path's last 7 periods' rate is carried on.
    ``cumulative``: the paths' running totals with a leading 0 (``running_totals``), when already computed.
    """
    h = paths.shape[2]
    if cumulative is None:
        cumulative = running_totals(paths)
    periods = np.clip(periods, 0, None)
    inside = np.minimum(periods, h)
    whole = np.minimum(np.floor(inside).astype(np.int64), h)
    part = inside - whole
    at_whole = np.take_along_axis(cumulative, whole[..., None], axis=2)[..., 0]
    next_period = np.take_along_axis(paths, np.minimum(whole, h - 1)[..., None], axis=2)[..., 0]
    total = at_whole + np.where(whole < h, part * next_period, 0.0)
    beyond = periods - inside
    if np.any(beyond > 0):
        tail_rate = paths[..., -min(7, h):].mean(axis=2)
        total = total + beyond * tail_rate
    return total


def running_totals(paths: np.ndarray) -> np.ndarray:
    """``(n, S, h + 1)``: demand up to the start of each period, from 0."""
    n, n_samples, _ = paths.shape
    return np.concatenate([np.zeros((n, n_samples, 1), dtype=paths.dtype), np.cumsum(paths, axis=2)], axis=2)


def draw_lead_times(lead_time: np.ndarray, lead_time_sd: np.ndarray, n_samples: int, seed: int) -> np.ndarray:
    """``(n, n_samples)`` lead times: normal with the given mean and standard deviation, never below 0."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((len(lead_time), n_samples))
    return np.clip(lead_time[:, None] + np.nan_to_num(lead_time_sd)[:, None] * noise, 0, None)


def protection_demand(paths: np.ndarray, lead_time: np.ndarray, lead_time_sd: np.ndarray, review_period: np.ndarray,
                      seed: int = 0) -> ProtectionDemand:
    """Demand over the lead time and over lead time + review period, from sample paths ``(n, S, h)``.

    Lead times and review periods are in periods of the paths (days for daily data). Each draw of a path is paired
    with its own drawn lead time, so the spread combines demand and lead-time uncertainty.
    """
    lead_time = np.asarray(lead_time, dtype=float)
    review_period = np.asarray(review_period, dtype=float)
    lead_draws = draw_lead_times(lead_time, np.asarray(lead_time_sd, dtype=float), paths.shape[1], seed)
    cumulative = running_totals(paths)
    lead = cumulative_demand(paths, lead_draws, cumulative)
    protection = cumulative_demand(paths, lead_draws + review_period[:, None], cumulative)
    review_mean = (protection - lead).mean(axis=1)
    return ProtectionDemand(lead, protection, review_mean)


def expected_shortage(sorted_draws: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """E[(D - level)+] per series and level: ``sorted_draws`` ``(n, S)`` sorted along axis 1, ``levels`` ``(n, K)``."""
    n, n_samples = sorted_draws.shape
    suffix = np.concatenate([np.cumsum(sorted_draws[:, ::-1], axis=1)[:, ::-1], np.zeros((n, 1))], axis=1)
    # a batched searchsorted: shift every row into its own band of the number line
    span = float(max(np.max(np.abs(sorted_draws)) if sorted_draws.size else 0.0,
                     np.max(np.abs(levels)) if levels.size else 0.0)) * 2 + 1
    offsets = np.arange(n)[:, None] * span
    index = np.searchsorted((sorted_draws + offsets).ravel(), (levels + offsets).ravel(), side="right")
    index = index.reshape(levels.shape) - np.arange(n)[:, None] * n_samples
    index = np.clip(index, 0, n_samples)
    above_sum = np.take_along_axis(suffix, index, axis=1)
    return np.clip((above_sum - levels * (n_samples - index)) / n_samples, 0, None)


def fill_rate_at(demand: ProtectionDemand, level: np.ndarray) -> np.ndarray:
    """Expected fill rate of a cycle when the inventory position after ordering is ``level`` (``(n,)``): the share
    of a review period's demand that is served, ``1 - (E[(D_L+R - y)+] - E[(D_L - y)+]) / E[D_R]``."""
    level = np.asarray(level, dtype=float)[:, None]
    short = (expected_shortage(np.sort(demand.protection, axis=1), level)
             - expected_shortage(np.sort(demand.lead, axis=1), level))[:, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = 1 - np.clip(short, 0, None) / demand.review_mean
    return np.where(demand.review_mean > 0, np.clip(rate, 0, 1), 1.0)


def cycle_service_at(demand: ProtectionDemand, level: np.ndarray) -> np.ndarray:
    """Probability that demand over lead time + review period stays within ``level`` (no stockout in the cycle)."""
    return (demand.protection <= np.asarray(level, dtype=float)[:, None]).mean(axis=1)


def reorder_points(demand: ProtectionDemand, service_level: np.ndarray, target: str = CYCLE_SERVICE_LEVEL,
                   resolution: int = 400) -> np.ndarray:
    """The reorder point ``s`` per series for its service target (see the module notes); whole units, rounded up.

    Non-decreasing in the service level for either target.
    """
    if target not in TARGETS:
        raise ValueError(f"Unknown service target {target!r}; choose one of: {', '.join(TARGETS)}.")
    service_level = np.broadcast_to(np.asarray(service_level, dtype=float), demand.review_mean.shape)
    if target == CYCLE_SERVICE_LEVEL:
        sorted_draws = np.sort(demand.protection, axis=1)
        n_samples = sorted_draws.shape[1]
        # the smallest draw with at least alpha of the draws at or below it (the inverted empirical CDF)
        rank = np.clip(np.ceil(service_level * n_samples).astype(np.int64) - 1, 0, n_samples - 1)
        return np.ceil(np.take_along_axis(sorted_draws, rank[:, None], axis=1)[:, 0] - 1e-9) + 0.0  # no "-0"
    # fill rate: the smallest candidate level (a quantile of the protection demand) that reaches beta
    levels = np.linspace(0, 1, resolution + 1)
    candidates = np.ceil(np.quantile(demand.protection, levels, axis=1).T - 1e-9) + 0.0  # (n, K), non-decreasing
    short = (expected_shortage(np.sort(demand.protection, axis=1), candidates)
             - expected_shortage(np.sort(demand.lead, axis=1), candidates))
    allowed = (1 - service_level)[:, None] * demand.review_mean[:, None]
    enough = short <= allowed + 1e-9
    first = np.where(enough.any(axis=1), np.argmax(enough, axis=1), resolution)
    return np.take_along_axis(candidates, first[:, None], axis=1)[:, 0]


def economic_order_quantity(annual_demand: np.ndarray, order_cost: np.ndarray, unit_cost: np.ndarray,
                            holding_cost_rate: np.ndarray) -> np.ndarray:
    """sqrt(2 D K / (h c)); NaN where an input is missing or the holding cost is not positive."""
    annual_demand, order_cost, unit_cost, holding_cost_rate = (
        np.asarray(v, dtype=float) for v in (annual_demand, order_cost, unit_cost, holding_cost_rate))
    holding = unit_cost * holding_cost_rate
    with np.errstate(divide="ignore", invalid="ignore"):
        eoq = np.sqrt(2 * annual_demand * order_cost / holding)
    return np.where((holding > 0) & (order_cost >= 0) & (annual_demand >= 0), eoq, np.nan)


def order_up_to_levels(reorder_point: np.ndarray, eoq: np.ndarray, review_mean: np.ndarray) -> np.ndarray:
    """``S = s + max(0, EOQ - demand over a review period)``; ``S = s`` where there is no EOQ."""
    extra = np.nan_to_num(np.asarray(eoq, dtype=float) - np.asarray(review_mean, dtype=float), nan=0.0)
    return np.asarray(reorder_point, dtype=float) + np.ceil(np.clip(extra, 0, None))


def order_quantities(position: np.ndarray, reorder_point: np.ndarray, order_up_to: np.ndarray,
                     moq: np.ndarray, case_pack: np.ndarray) -> np.ndarray:
    """Units to order now: nothing while the inventory position is at or above the reorder point; otherwise
    ``S - position`` rounded up to a whole number of case packs and to at least the MOQ.

    Never negative; a multiple of the case pack; at least the MOQ when positive; non-decreasing in ``s`` and ``S``.
    """
    position, reorder_point, order_up_to = (np.asarray(v, dtype=float) for v in (position, reorder_point, order_up_to))
    case_pack = np.clip(np.nan_to_num(np.asarray(case_pack, dtype=float), nan=1.0), 1, None)
    moq = np.clip(np.nan_to_num(np.asarray(moq, dtype=float), nan=0.0), 0, None)
    need = np.clip(np.maximum(order_up_to, reorder_point) - position, 0, None)
    wanted = np.where(position < reorder_point, np.maximum(need, moq), 0.0)
    return np.ceil(wanted / case_pack - 1e-9) * case_pack + 0.0  # + 0.0: no "-0" in the plan


def normal_reorder_points(mean_per_period: np.ndarray, sd_per_period: np.ndarray, lead_time: np.ndarray,
                          lead_time_sd: np.ndarray, review_period: np.ndarray, service_level: np.ndarray) -> np.ndarray:
    """The textbook (classic) order-up-to level for normal demand: ``mu (L+R) + z sqrt((L+R) sigma^2 + mu^2
    sigma_L^2)``, with independent periods; not rounded. The benchmark's classic policy and the check of the
    sample-path maths."""
    mu, sigma, lead, lead_sd, review = (np.asarray(v, dtype=float) for v in (
        mean_per_period, sd_per_period, lead_time, lead_time_sd, review_period))
    z = stats.norm.ppf(np.asarray(service_level, dtype=float))
    cover = lead + review
    return mu * cover + z * np.sqrt(cover * sigma ** 2 + mu ** 2 * np.nan_to_num(lead_sd) ** 2)


def budget_allocation(demand: ProtectionDemand, position: np.ndarray, quantity: np.ndarray, moq: np.ndarray,
                      case_pack: np.ndarray, unit_cost: np.ndarray, budget: float, blocks_per_row: int = 20
                      ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Spend at most ``budget`` on the suggested orders, buying first the units that cut the expected shortage
    over lead time + review period most per unit of money.

    Each row's order is split into blocks (the first at least the MOQ, the rest whole case packs, at most
    ``blocks_per_row``); a block is bought only after the one before it, and a block that no longer fits ends its
    row. Because the expected shortage is convex in the stock, earlier blocks of a row never pay off less than
    later ones, so this greedy order is the best one up to the block size. Rows without a unit cost are not bought.
    Returns the units allowed per row and the blocks (``row, units, cost, shortage_avoided, bought``) in the order
    they were considered.
    """
    position = np.asarray(position, dtype=float)
    case_pack = np.clip(np.nan_to_num(np.asarray(case_pack, dtype=float), nan=1.0), 1, None)
    moq = np.clip(np.nan_to_num(np.asarray(moq, dtype=float), nan=0.0), 0, None)
    unit_cost = np.asarray(unit_cost, dtype=float)
    candidates = np.flatnonzero((quantity > 0) & np.isfinite(unit_cost) & (unit_cost > 0))
    allowed = np.zeros(len(position))
    empty = {k: np.array([]) for k in ("row", "units", "cost", "shortage_avoided", "bought")}
    if len(candidates) == 0:
        return allowed, empty
    bounds = []
    for i in candidates:
        pack, total = case_pack[i], quantity[i]
        first = min(total, np.ceil(max(moq[i], pack) / pack) * pack)
        step = max(pack, np.ceil((total - first) / blocks_per_row / pack) * pack) if total > first else pack
        bounds.append(np.unique(np.concatenate([[0.0, first], np.arange(first, total, step), [total]])))
    width = max(len(b) for b in bounds)
    levels = np.array([np.pad(b, (0, width - len(b)), mode="edge") for b in bounds])  # (m, K) units ordered
    shortage = expected_shortage(np.sort(demand.protection[candidates], axis=1), position[candidates, None] + levels)
    units = np.diff(levels, axis=1)
    gain = -np.diff(shortage, axis=1)
    cost = units * unit_cost[candidates, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(units > 0, gain / cost, -np.inf)
    ratio = np.minimum.accumulate(ratio, axis=1)  # numerical ties must not put a later block first
    row_index, block_index = np.nonzero(units > 0)
    order = np.lexsort((block_index, row_index, -ratio[row_index, block_index]))
    left, stopped = float(budget), np.zeros(len(candidates), dtype=bool)
    bought = np.zeros(len(order), dtype=bool)
    for position_in_list, k in enumerate(order):
        r, b = row_index[k], block_index[k]
        if stopped[r]:
            continue
        if cost[r, b] <= left + 1e-9:
            left -= cost[r, b]
            allowed[candidates[r]] = levels[r, b + 1]
            bought[position_in_list] = True
        else:
            stopped[r] = True
    rows, blocks = row_index[order], block_index[order]
    return allowed, {"row": candidates[rows], "units": units[rows, blocks], "cost": cost[rows, blocks],
                     "shortage_avoided": gain[rows, blocks], "bought": bought}
