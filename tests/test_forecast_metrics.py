"""lab.forecast.metrics, ensemble and gradients against hand-computed cases."""
import numpy as np
import pytest

from lab.forecast.ensemble import causal_mean_ensemble
from lab.forecast.gradients import total_variance
from lab.forecast.metrics import (excess_volatility, excess_volatility_terms, pinball, regroup_by_date,
                                  revision_pairs, scaled_crps, sfpc, targets_by_date)


def test_pinball_by_hand():
    # u = y - q = 2 (under-forecast) costs tau*u; u = -2 costs (1 - tau)*2
    assert pinball(3.0, 1.0, 0.9) == pytest.approx(1.8)
    assert pinball(1.0, 3.0, 0.9) == pytest.approx(0.2)
    assert pinball(1.0, 1.0, 0.3) == 0


def test_scaled_crps_by_hand():
    y = np.array([2.0, 4.0])
    q = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    taus = [0.1, 0.5, 0.9]
    # series 1: 0.1*1 + 0 + 0.1*1 = 0.2; series 2: 0 + 0.5*1 + 0.1*2 = 0.7; 2/3 * 0.9 / 6
    assert scaled_crps(y, q, taus) == pytest.approx(2 / 3 * 0.9 / 6)
    assert scaled_crps(y, q, taus, mask=np.array([1, 0])) == pytest.approx(2 / 3 * 0.2 / 2)


def test_regroup_by_date_by_hand():
    grid = np.array([[1.0, 2.0], [3.0, 4.0]])  # FCD 0: dates 0, 1; FCD 1: dates 1, 2
    expected = np.array([[1.0, np.nan], [3.0, 2.0], [np.nan, 4.0]])
    np.testing.assert_array_equal(regroup_by_date(grid), expected)
    np.testing.assert_array_equal(targets_by_date(np.array([[5.0, 6.0], [6.0, 7.0]])), [5.0, 6.0, 7.0])


def test_sfpc_and_ev_by_hand():
    grid = np.array([[1.0, 2.0], [3.0, 4.0]])
    # one pair (date 1): before = 2 (FCD 0, two steps ahead), update = 3 (FCD 1, one step ahead)
    before, update, _ = revision_pairs(grid)
    assert before.tolist() == [2.0] and update.tolist() == [3.0]
    assert sfpc(grid) == pytest.approx(200 * 1 / 5)
    # y = 2.5: revision cost rho(3 - 2) = 0.5, accuracy gain rho(0.5) - rho(-0.5) = 0
    y_dates = np.array([0.0, 2.5, 0.0])
    assert excess_volatility_terms(grid, y_dates).tolist() == [0.5]
    assert excess_volatility(grid, y_dates) == pytest.approx(0.5 / 2.5)


def test_ev_is_zero_for_an_improving_revision_and_nonnegative_always():
    grid = np.array([[0.0, 1.0], [2.0, 0.0]])  # date 1: before 1, update 2, truth 3
    assert excess_volatility_terms(grid, np.array([0.0, 3.0, 0.0])).tolist() == [0.0]
    rng = np.random.default_rng(0)
    g, y = rng.standard_normal((5, 7, 4)), rng.standard_normal((5, 10))
    assert excess_volatility_terms(g, y).min() >= -1e-12
    assert len(revision_pairs(g)[0]) == 5 * 6 * 3


def test_sfpc_needs_two_fcds_and_two_horizons():
    with pytest.raises(ValueError, match="F >= 2"):
        sfpc(np.ones((1, 5)))


def test_causal_mean_ensemble_by_hand():
    grid = np.arange(12.0).reshape(4, 3)
    ens = causal_mean_ensemble(grid)
    assert ens[0].tolist() == [0.0, 1.0, 2.0]  # nothing earlier to pool
    assert ens[1, 0] == pytest.approx((1 + 3) / 2)  # date 1 from FCD 0 (h=1) and FCD 1 (h=0)
    assert ens[3, 0] == pytest.approx((5 + 7 + 9) / 3)  # date 3 from FCDs 1, 2, 3
    assert ens[3, 2] == grid[3, 2]


def test_causal_ensemble_never_uses_later_fcds():
    rng = np.random.default_rng(1)
    grid = rng.standard_normal((2, 6, 4, 3))
    base = causal_mean_ensemble(grid)
    changed = grid.copy()
    changed[:, 4] += 100.0  # FCD 4 changes
    out = causal_mean_ensemble(changed)
    np.testing.assert_array_equal(out[:, :4], base[:, :4])
    assert not np.allclose(out[:, 4:], base[:, 4:])


def test_ensemble_of_consistent_forecasts_is_the_identity_and_skips_nan():
    path = np.arange(10.0)
    grid = np.array([[path[k + h] for h in range(3)] for k in range(6)])  # every FCD agrees on each date
    np.testing.assert_allclose(causal_mean_ensemble(grid), grid)
    grid_nan = grid.copy()
    grid_nan[0] = np.nan
    out = causal_mean_ensemble(grid_nan)
    assert np.isnan(out[0]).all() and np.allclose(out[1:], grid[1:])


def test_total_variance_is_the_trace_of_the_sample_covariance():
    g = np.random.default_rng(2).standard_normal((20, 7))
    assert total_variance(g) == pytest.approx(np.trace(np.cov(g.T)))
