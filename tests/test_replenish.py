"""Policy maths (core.replenish): order quantities, reorder points from sample paths, the textbook case, budgets."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from core.replenish import (
    CYCLE_SERVICE_LEVEL,
    FILL_RATE,
    budget_allocation,
    cumulative_demand,
    cycle_service_at,
    economic_order_quantity,
    expected_shortage,
    fill_rate_at,
    normal_reorder_points,
    order_quantities,
    order_up_to_levels,
    protection_demand,
    reorder_points,
)

quantities = st.floats(min_value=0, max_value=1e5, allow_nan=False)
packs = st.integers(min_value=1, max_value=500)


@given(position=st.floats(min_value=-1e4, max_value=1e5, allow_nan=False), reorder_point=quantities,
       extra=quantities, moq=quantities, case_pack=packs)
def test_order_quantity_is_never_negative_a_whole_number_of_cases_and_at_least_the_moq(
        position, reorder_point, extra, moq, case_pack):
    quantity = order_quantities(np.array([position]), np.array([reorder_point]), np.array([reorder_point + extra]),
                                np.array([moq]), np.array([case_pack]))[0]
    assert quantity >= 0
    assert quantity / case_pack == pytest.approx(round(quantity / case_pack), abs=1e-6)
    if quantity > 0:
        assert quantity >= moq - 1e-6
        assert position + quantity >= reorder_point - 1e-6  # an order always lifts the position to s at least
    else:  # nothing ordered: the position is at the reorder point already (up to rounding of a millionth)
        assert position >= reorder_point - 1e-6


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), levels=st.lists(st.floats(0.5, 0.995), min_size=2, max_size=5),
       position=st.floats(0, 300), moq=st.integers(0, 50), case_pack=packs,
       target=st.sampled_from([CYCLE_SERVICE_LEVEL, FILL_RATE]))
def test_order_quantity_does_not_fall_when_the_service_level_rises(seed, levels, position, moq, case_pack, target):
    rng = np.random.default_rng(seed)
    paths = rng.negative_binomial(3, 0.3, (1, 300, 30)).astype(float)
    demand = protection_demand(paths, np.array([7.0]), np.array([2.0]), np.array([7.0]), seed=seed)
    ordered = []
    for level in sorted(levels):
        s = reorder_points(demand, np.array([level]), target)
        S = order_up_to_levels(s, np.array([np.nan]), demand.review_mean)
        ordered.append(order_quantities(np.array([position]), s, S, np.array([moq]), np.array([case_pack]))[0])
    assert all(b >= a for a, b in itertools.pairwise(ordered))


@pytest.mark.parametrize("level", [0.9, 0.95, 0.98])
def test_normal_demand_with_a_fixed_lead_time_matches_the_textbook_formula(level):
    """mu (L + R) + z sigma sqrt(L + R) for i.i.d. normal daily demand (Silver, Pyke & Thomas, ch. 7)."""
    rng = np.random.default_rng(0)
    mean, sd = np.array([20.0, 100.0]), np.array([6.0, 15.0])
    lead, review = np.array([5.0, 9.0]), np.array([7.0, 3.0])
    paths = mean[:, None, None] + sd[:, None, None] * rng.standard_normal((2, 40_000, 20))
    demand = protection_demand(paths, lead, np.zeros(2), review)
    textbook = mean * (lead + review) + stats.norm.ppf(level) * sd * np.sqrt(lead + review)
    np.testing.assert_allclose(reorder_points(demand, np.full(2, level)), textbook, rtol=0.01)
    np.testing.assert_allclose(normal_reorder_points(mean, sd, lead, 0, review, level), textbook)


def test_lead_time_variability_adds_the_textbook_variance_term():
    """Var(D over L + R) = (L + R) sigma^2 + mu^2 sigma_L^2 when the lead time varies."""
    rng = np.random.default_rng(1)
    paths = 30 + 5 * rng.standard_normal((1, 40_000, 30))
    demand = protection_demand(paths, np.array([8.0]), np.array([2.0]), np.array([7.0]), seed=2)
    expected = normal_reorder_points(30.0, 5.0, 8.0, 2.0, 7.0, 0.95)
    assert reorder_points(demand, np.array([0.95]))[0] == pytest.approx(expected, rel=0.02)
    assert np.sqrt(demand.protection.var()) == pytest.approx(np.sqrt(15 * 25 + 900 * 4), rel=0.03)


def test_correlated_days_need_more_safety_stock_than_independent_ones():
    rng = np.random.default_rng(2)
    shocks = rng.standard_normal((1, 20_000, 21))
    independent = 10 + 3 * shocks
    persistent = 10 + 3 * np.repeat(shocks[..., :1], 21, axis=2)  # a slow week stays slow
    levels = [reorder_points(protection_demand(p, np.array([7.0]), np.array([0.0]), np.array([7.0])),
                             np.array([0.95]))[0] for p in (independent, persistent)]
    assert levels[1] > levels[0] + 20


def test_cumulative_demand_counts_part_periods_and_carries_the_rate_past_the_horizon():
    paths = np.array([[[1.0, 2.0, 3.0, 4.0]]])
    for periods, expected in ((0.0, 0.0), (1.5, 1 + 0.5 * 2), (4.0, 10.0), (6.0, 10 + 2 * 2.5), (-1.0, 0.0)):
        assert cumulative_demand(paths, np.array([[periods]]))[0, 0] == pytest.approx(expected)


def test_expected_shortage_matches_brute_force():
    rng = np.random.default_rng(3)
    draws = np.sort(rng.poisson(4, (5, 80)).astype(float), axis=1)
    levels = np.array([[-1.0, 0.0, 2.5, 4.0, 30.0]] * 5)
    brute = np.maximum(draws[:, None, :] - levels[:, :, None], 0).mean(axis=2)
    np.testing.assert_allclose(expected_shortage(draws, levels), brute)


def test_fill_rate_target_reaches_its_level_and_needs_less_stock_than_the_same_cycle_service_level():
    rng = np.random.default_rng(4)
    paths = rng.negative_binomial(2, 0.2, (3, 2000, 30)).astype(float)
    demand = protection_demand(paths, np.array([5.0, 10.0, 3.0]), np.array([1.0, 2.0, 0.0]), np.array([7.0] * 3))
    by_fill = reorder_points(demand, np.full(3, 0.95), FILL_RATE)
    by_cycle = reorder_points(demand, np.full(3, 0.95), CYCLE_SERVICE_LEVEL)
    assert np.all(fill_rate_at(demand, by_fill) >= 0.95 - 1e-9)
    assert np.all(by_fill <= by_cycle)
    assert np.all(cycle_service_at(demand, by_cycle) >= 0.95)


def test_zero_demand_needs_no_stock():
    demand = protection_demand(np.zeros((2, 100, 20)), np.array([7.0, 3.0]), np.array([1.0, 0.0]),
                               np.array([7.0, 7.0]))
    for target in (CYCLE_SERVICE_LEVEL, FILL_RATE):
        s = reorder_points(demand, np.full(2, 0.99), target)
        np.testing.assert_array_equal(s, 0)
        np.testing.assert_array_equal(order_quantities(np.zeros(2), s, s, np.array([10, 0]), np.ones(2)), 0)


def test_economic_order_quantity():
    assert economic_order_quantity(1000, 50, 10, 0.25)[()] == pytest.approx(np.sqrt(2 * 1000 * 50 / 2.5))
    assert np.isnan(economic_order_quantity(1000, np.nan, 10, 0.25))
    assert np.isnan(economic_order_quantity(1000, 50, 0, 0.25))


def test_budget_buys_the_most_shortage_avoided_per_money_first_and_never_overspends():
    rng = np.random.default_rng(5)
    paths = np.concatenate([rng.poisson(20, (1, 500, 30)), rng.poisson(20, (1, 500, 30))]).astype(float)
    demand = protection_demand(paths, np.array([7.0, 7.0]), np.zeros(2), np.array([7.0, 7.0]))
    position = np.zeros(2)
    s = reorder_points(demand, np.full(2, 0.95))
    quantity = order_quantities(position, s, s, np.zeros(2), np.array([10.0, 10.0]))
    cheap_and_dear = np.array([1.0, 10.0])
    allowed, blocks = budget_allocation(demand, position, quantity, np.zeros(2), np.array([10.0, 10.0]),
                                        cheap_and_dear, budget=300.0)
    spent = (allowed * cheap_and_dear).sum()
    assert 300 - 100 < spent <= 300  # only a block that no longer fits is left over
    assert allowed[0] > allowed[1]  # the cheap item's units avoid more shortage per money
    assert np.all(allowed % 10 == 0) and np.all(allowed <= quantity)
    bought = blocks["bought"].astype(bool)
    assert blocks["cost"][bought].sum() == pytest.approx(spent)
    ratio = blocks["shortage_avoided"] / blocks["cost"]
    assert np.all(np.diff(ratio) <= 1e-12)  # considered best first
    unlimited, _ = budget_allocation(demand, position, quantity, np.zeros(2), np.full(2, 10.0), cheap_and_dear,
                                     budget=1e12)
    np.testing.assert_array_equal(unlimited, quantity)


def test_budget_respects_the_moq_and_skips_items_without_a_cost():
    rng = np.random.default_rng(6)
    paths = rng.poisson(5, (2, 300, 30)).astype(float)
    demand = protection_demand(paths, np.array([7.0, 7.0]), np.zeros(2), np.array([7.0, 7.0]))
    quantity = np.array([100.0, 100.0])
    allowed, _ = budget_allocation(demand, np.zeros(2), quantity, np.array([40.0, 0.0]), np.array([5.0, 1.0]),
                                   np.array([1.0, np.nan]), budget=1000.0)
    assert allowed[0] >= 40 and allowed[0] % 5 == 0
    assert allowed[1] == 0
    nothing, blocks = budget_allocation(demand, np.zeros(2), quantity, np.zeros(2), np.ones(2), np.ones(2), 0.0)
    np.testing.assert_array_equal(nothing, 0)
    assert not blocks["bought"].any()
