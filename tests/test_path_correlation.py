"""The sample paths' day-to-day correlation, estimated from held-out forecast errors (core.models.base)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from core.models.base import ar1_equivalent_correlation, copula_samples, pit_scores


def _ar1(rho: float, shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    z = np.empty(shape)
    z[:, 0] = rng.standard_normal(shape[0])
    for k in range(1, shape[1]):
        z[:, k] = rho * z[:, k - 1] + np.sqrt(1 - rho ** 2) * rng.standard_normal(shape[0])
    return z


@pytest.mark.parametrize("rho", [0.0, 0.3, 0.6, 0.9])
def test_the_correlation_of_ar1_errors_is_recovered(rho):
    assert ar1_equivalent_correlation(_ar1(rho, (400, 28))) == pytest.approx(rho, abs=0.06)


def test_a_persistent_level_error_reads_as_a_high_correlation_and_noise_as_none():
    rng = np.random.default_rng(1)
    level = rng.standard_normal((300, 1)) * np.ones((1, 28))
    assert ar1_equivalent_correlation(0.9 * level + 0.44 * rng.standard_normal((300, 28))) > 0.8
    assert ar1_equivalent_correlation(rng.standard_normal((300, 28))) < 0.1


def test_too_few_scores_give_no_estimate_and_gaps_are_skipped():
    assert ar1_equivalent_correlation(np.zeros((10, 10))) is None
    z = _ar1(0.5, (400, 28), seed=2)
    z[::3, 5:9] = np.nan
    assert ar1_equivalent_correlation(z) == pytest.approx(0.5, abs=0.08)


def test_pit_scores_of_draws_from_the_forecast_are_standard_normal():
    levels = np.linspace(0.05, 0.95, 19)
    rng = np.random.default_rng(3)
    table = np.broadcast_to(stats.norm.ppf(levels, loc=10, scale=2), (200, 14, 19))
    actual = rng.normal(10, 2, (200, 14))
    scores = pit_scores(table, levels, actual, np.ones_like(actual, dtype=bool))
    assert abs(np.nanmean(scores)) < 0.05 and 0.85 < np.nanstd(scores) < 1.1
    assert np.isnan(pit_scores(table, levels, actual, np.zeros_like(actual, dtype=bool))).all()


def test_copula_paths_keep_their_marginals_and_correlation():
    levels = tuple(np.round(np.linspace(0.01, 0.99, 33), 4))
    table = {q: np.full((3, 20), stats.norm.ppf(q, loc=50, scale=5)) for q in levels}
    paths = copula_samples(table, 4000, seed=0, correlation=0.5)
    assert paths.shape == (3, 4000, 20)
    assert np.median(paths) == pytest.approx(50, abs=0.3)
    lagged = np.corrcoef(paths[0, :, 5], paths[0, :, 6])[0, 1]
    assert lagged == pytest.approx(0.5, abs=0.05)
