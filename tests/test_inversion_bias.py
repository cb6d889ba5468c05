"""Inversion bias of random sampling (Niu, Liao, Ling & Mahoney, ICML 2025): lab.inversion_bias.

Every check compares with an independent reference: a dense computation (hat-matrix
diagonal, ``scipy.linalg.hadamard``, ``scipy.linalg.sqrtm``), a closed form (inverse-Wishart
mean, the fine-equals-scalar identity, the fixed point of Thm 3.1), a Monte-Carlo mean with a
standard-error tolerance, finite differences, or scikit-learn's logistic regression.
"""

import json
import time

import numpy as np
import pytest
import scipy.linalg
from sklearn.linear_model import LogisticRegression

from lab.inversion_bias import experiments
from lab.run import jsonable
from lab.inversion_bias.bias import bias_of, biases_of, inversion_bias, mean_inverses, relative_gap
from lab.inversion_bias.config import TIERS, Config, resolve
from lab.inversion_bias.data import digits_logistic, logistic_data, spiked_rows, t_rows
from lab.inversion_bias.debias import (
    deterministic_equivalent,
    fine_weights,
    gaussian_factor,
    scalar_factor,
)
from lab.inversion_bias.leverage import (
    approximate_ridge_leverage,
    effective_dimension,
    mixed_probabilities,
    plugin_d_eff,
    rho_factors,
    ridge_leverage,
)
from lab.inversion_bias.logistic import (
    hessian_factor,
    logistic_gradient,
    logistic_hessian,
    logistic_loss,
    newton_solve,
)
from lab.inversion_bias.newton import gradient_descent, sgd, subsampled_newton
from lab.inversion_bias.sketches import (
    SAMPLERS,
    plan_sketch,
    sampling_plan,
    sampling_weights,
    sketched_grams,
)
from lab.inversion_bias.srht import fwht, next_power_of_two, randomized_hadamard


def _rng(*key):
    return np.random.default_rng([20250213, *key])


# --- Walsh-Hadamard transform and SRHT rotation ------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 8, 64, 512])
def test_fwht_matches_dense_hadamard_along_any_axis(n):
    rng = _rng(1, n)
    x = rng.standard_normal((3, n))
    H = scipy.linalg.hadamard(n)
    np.testing.assert_allclose(fwht(x), x @ H, rtol=1e-12, atol=1e-12)
    rows = rng.standard_normal((2, n, 5))
    np.testing.assert_allclose(fwht(rows, axis=1), np.einsum("ij,tjk->tik", H, rows), atol=1e-11)


def test_fwht_rejects_length_that_is_not_a_power_of_two():
    with pytest.raises(ValueError, match="power of two"):
        fwht(np.ones((2, 12)))


def test_randomized_hadamard_rows_keep_the_gram_for_padded_n():
    rng = _rng(3)
    A = rng.standard_normal((300, 6))
    N = next_power_of_two(300)
    assert N == 512
    signs = rng.choice((-1.0, 1.0), size=(2, N))
    rotated = randomized_hadamard(A, signs)
    assert rotated.shape == (2, 512, 6)
    for t in range(2):
        np.testing.assert_allclose(rotated[t].T @ rotated[t], A.T @ A, rtol=1e-10)
    # and the rotation flattens leverage: max score far below the original's
    lev = ridge_leverage(rotated[0], 0.0)
    assert lev.max() < ridge_leverage(spiked_rows(300, 6, 0.02, 20.0, rng=rng), 0.0).max()


# --- leverage -----------------------------------------------------------------------------


@pytest.mark.parametrize("lam", [0.0, 0.3, 50.0])
def test_ridge_leverage_is_the_dense_hat_matrix_diagonal(lam):
    rng = _rng(4)
    A = t_rows(157, 7, 3.0, rng=rng)
    H = A.T @ A + lam * np.eye(7)
    hat = A @ np.linalg.solve(H, A.T)
    ell = ridge_leverage(A, lam)
    np.testing.assert_allclose(ell, np.diag(hat), rtol=1e-10)
    np.testing.assert_allclose(effective_dimension(ell), np.trace(A.T @ A @ np.linalg.inv(H)), rtol=1e-10)
    np.testing.assert_allclose(plugin_d_eff(A.T @ A, lam), effective_dimension(ell), rtol=1e-10)


def test_ridge_leverage_needs_full_rank_without_regulariser():
    A = np.ones((10, 3))
    with pytest.raises(ValueError, match="singular"):
        ridge_leverage(A, 0.0)


def test_rho_factors_and_mixed_probabilities_sweep_from_one_to_uniform():
    rng = _rng(5)
    A = spiked_rows(400, 5, rng=rng)
    ell = ridge_leverage(A, 0.0)
    n, d = A.shape
    assert rho_factors(ell, mixed_probabilities(ell, 0.0)) == pytest.approx((1.0, 1.0))
    rho_min, rho_max = rho_factors(ell, mixed_probabilities(ell, 1.0))
    assert rho_max == pytest.approx(n * ell.max() / d) and rho_min == pytest.approx(n * ell.min() / d)
    rmax = [rho_factors(ell, mixed_probabilities(ell, w))[1] for w in (0.0, 0.3, 0.6, 0.9, 1.0)]
    assert np.all(np.diff(rmax) > 0)


def test_approximate_ridge_leverage_is_close_and_its_sum_unbiased():
    rng = _rng(6)
    A = t_rows(1024, 10, 4.0, rng=rng)
    ell = ridge_leverage(A, 1.0)
    sums, rhos = [], []
    for _ in range(40):
        est = approximate_ridge_leverage(A, 1.0, 80, rng)
        sums.append(est.sum())
        rhos.append(rho_factors(ell, est / est.sum()))
    sums = np.array(sums)
    # the k/(k - d) de-biasing of the sketched inverse: the sum estimates d_eff
    assert abs(sums.mean() - ell.sum()) < 4 * sums.std() / np.sqrt(len(sums)) + 0.02 * ell.sum()
    rhos = np.array(rhos)
    assert rhos[:, 0].min() > 0.3 and rhos[:, 1].max() < 3.0


# --- de-biasing factors -------------------------------------------------------------------


def test_fine_weights_equal_the_scalar_under_exact_leverage_sampling():
    rng = _rng(7)
    A = t_rows(500, 8, 3.0, rng=rng)
    ell = ridge_leverage(A, 2.0)
    d_eff = ell.sum()
    pi = ell / d_eff
    m = 60
    # fine weight relative to the plain 1/(m pi_i) is m pi_i/(m pi_i - ell_i) = m/(m - d_eff)
    ratio = fine_weights(pi, ell, m) * m * pi
    np.testing.assert_allclose(ratio, scalar_factor(m, d_eff), rtol=1e-12, atol=0)


def test_fine_correction_refuses_rows_with_m_pi_not_above_ell():
    rng = _rng(8)
    A = spiked_rows(512, 8, rng=rng)
    ell = ridge_leverage(A, 0.0)
    bound = ell.max() * 512
    with pytest.raises(ValueError, match=r"m=40 .*ell_i/pi_i=") as err:
        fine_weights(np.full(512, 1 / 512), ell, 40)
    assert f"{bound:.4g}" in str(err.value)
    plan = plan_sketch(A, 0.0, "uniform", 40, rng)
    with pytest.raises(ValueError, match="m \\* pi_i > ell_i"):
        sketched_grams(plan, "fine", 3, rng)
    feasible = plan_sketch(A, 0.0, "uniform", int(bound) + 1, rng)
    assert sketched_grams(feasible, "fine", 2, rng)["fine"].shape == (2, 8, 8)


def test_scalar_and_gaussian_factors_refuse_too_small_sketches():
    assert gaussian_factor(200, 10) == pytest.approx(200 / 189)
    with pytest.raises(ValueError):
        scalar_factor(10, 10.0)
    with pytest.raises(ValueError):
        gaussian_factor(11, 10)


def test_deterministic_equivalent_solves_its_fixed_point_within_the_bounds():
    rng = _rng(9)
    A = spiked_rows(600, 6, rng=rng)
    lam = 0.5
    ell = ridge_leverage(A, lam)
    pi = mixed_probabilities(ell, 0.7)
    m = 150
    D, Q_D = deterministic_equivalent(A, lam, pi, m)
    np.testing.assert_allclose(Q_D, np.linalg.inv(A.T @ (D[:, None] * A) + lam * np.eye(6)), rtol=1e-10)
    quad = np.einsum("ij,jk,ik->i", A, Q_D, A)
    np.testing.assert_allclose(D, m / (m + quad / pi), rtol=1e-10)
    rho_min, rho_max = rho_factors(ell, pi)
    d_eff = ell.sum()
    assert D.min() >= m / (m + 2 * rho_max * d_eff) and D.max() <= m / (m + rho_min * d_eff)
    with pytest.raises(RuntimeError, match="did not converge"):
        deterministic_equivalent(A, lam, pi, m, max_iter=2)


# --- samplers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sampler", ["uniform", "leverage", "approx_leverage", "approx_plain_leverage", "shrinkage_leverage"]
)
def test_random_sampling_weights_make_the_sketch_exactly_unbiased(sampler):
    rng = _rng(10)
    A = t_rows(300, 5, 3.0, rng=rng)
    plan = plan_sketch(A, 0.1, sampler, 50, rng)
    w = sampling_weights(plan, "none")
    # E[A^T S^T S A] = m sum_i pi_i w_i a_i a_i^T, enumerated over the rows
    expectation = plan.m * (A * (plan.pi * w)[:, None]).T @ A
    np.testing.assert_allclose(expectation, A.T @ A, rtol=1e-12)
    np.testing.assert_allclose(plan.pi.sum(), 1.0, rtol=1e-12)


@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize("m", [30, 200])
def test_every_sampler_is_unbiased_in_monte_carlo(sampler, m):
    rng = _rng(11, m)
    A = t_rows(300, 4, 3.0, rng=rng)
    plan = plan_sketch(A, 0.1, sampler, m, rng)
    G = sketched_grams(plan, "none", 4000, rng)["none"]
    mean, se = G.mean(axis=0), G.std(axis=0, ddof=1) / np.sqrt(len(G))
    assert np.all(np.abs(mean - A.T @ A) <= 5 * se + 1e-9 * np.abs(A.T @ A).max())


def test_gaussian_gram_from_bartlett_has_the_law_of_an_explicit_gaussian_sketch():
    rng = _rng(12)
    A = t_rows(200, 5, 4.0, rng=rng)
    m, T = 12, 4000
    bartlett = sketched_grams(plan_sketch(A, 0.0, "gaussian", m, rng), "none", T, rng)["none"]
    S = rng.standard_normal((T, m, 200)) / np.sqrt(m)
    SA = S @ A
    explicit = SA.transpose(0, 2, 1) @ SA
    for stat in (lambda G: G, lambda G: np.linalg.inv(G)):
        a, b = stat(bartlett), stat(explicit)
        se = np.sqrt(a.var(axis=0) / T + b.var(axis=0) / T)
        assert np.all(np.abs(a.mean(axis=0) - b.mean(axis=0)) <= 5 * se)


def test_gaussian_sketch_inverse_is_unbiased_after_the_inverse_wishart_factor():
    rng = _rng(13)
    A = spiked_rows(512, 8, rng=rng)
    res = biases_of(A, 0.0, "gaussian", ("none", "gaussian_exact"), 60, 500, rng)
    corrected, raw = res["gaussian_exact"][0], res["none"][0]
    assert corrected < 0.05
    assert raw > 3 * corrected and raw > (60 / 51 - 1) * 0.8


def test_fine_correction_removes_uniform_sampling_bias_where_the_scalar_does_not():
    rng = _rng(14)
    A = spiked_rows(1024, 10, rng=rng)
    assert rho_factors(ridge_leverage(A, 0.0), np.full(1024, 1 / 1024))[1] > 7
    m, T = 200, 1500
    res = biases_of(A, 0.0, "uniform", ("none", "scalar", "fine"), m, T, rng)
    floor = bias_of(A, 0.0, "gaussian", "gaussian_exact", m, T, rng)[0]
    assert res["fine"][0] <= max(2.5 * floor, 0.015)
    assert res["scalar"][0] > 5 * floor
    assert res["none"][0] > res["scalar"][0] > res["fine"][0]


def test_scalar_correction_suffices_for_leverage_and_srht():
    rng = _rng(15)
    A = t_rows(1024, 10, 4.0, rng=rng)
    for sampler in ("leverage", "srht"):
        res = biases_of(A, 1.0, sampler, ("none", "scalar", "fine"), 60, 600, rng)
        assert res["scalar"][0] < res["none"][0] / 4
        assert res["fine"][0] < res["none"][0] / 4


def test_corrections_are_refused_where_they_are_not_defined():
    rng = _rng(16)
    A = rng.standard_normal((64, 3))
    for sampler, correction in [("gaussian", "fine"), ("less", "fine"), ("uniform", "gaussian_exact")]:
        with pytest.raises(ValueError, match="not defined"):
            sketched_grams(plan_sketch(A, 0.0, sampler, 20, rng), correction, 2, rng)
    with pytest.raises(ValueError, match="unknown sampler"):
        plan_sketch(A, 0.0, "bernoulli", 20, rng)


def test_same_seed_gives_the_same_bias():
    A = spiked_rows(256, 4, rng=_rng(17))
    one = bias_of(A, 0.0, "srht", "fine", 80, 50, _rng(18))
    two = bias_of(A, 0.0, "srht", "fine", 80, 50, _rng(18))
    assert one[0] == two[0] and np.array_equal(one[1], two[1])


# --- bias metric --------------------------------------------------------------------------


def test_inversion_bias_equals_the_symmetric_square_root_form():
    rng = _rng(19)
    A = rng.standard_normal((50, 6))
    H = A.T @ A + 0.3 * np.eye(6)
    E = rng.standard_normal((6, 6)) * 0.01
    Q = np.linalg.inv(H) + E @ E.T - 0.5 * (E + E.T) * 1e-3
    root = np.real(scipy.linalg.sqrtm(H))
    expected = np.linalg.norm(root @ Q @ root - np.eye(6), 2)
    assert inversion_bias(H, Q) == pytest.approx(expected, rel=1e-9)
    assert relative_gap(H, np.linalg.inv(H)) < 1e-12


def test_mean_inverses_streams_batches_without_changing_the_average():
    A = spiked_rows(128, 3, rng=_rng(20))
    plan = sampling_plan(A, 0.0, 40, np.full(128, 1 / 128))
    whole = mean_inverses(plan, "none", 90, _rng(21), batch=90)["none"]
    assert whole.shape == (3, 3)
    one = sketched_grams(plan, "none", 90, _rng(21))["none"]
    np.testing.assert_allclose(whole, np.linalg.inv(one).mean(axis=0), rtol=1e-12)


# --- logistic regression and Newton -------------------------------------------------------


def test_logistic_gradient_and_hessian_match_finite_differences():
    rng = _rng(22)
    X, y = logistic_data(200, 5, 5.0, rng=rng)
    lam, beta = 1e-2, rng.standard_normal(5) * 0.3
    eps = 1e-6
    basis = np.eye(5)
    def central(f):
        return np.array([(f(beta + eps * e) - f(beta - eps * e)) / (2 * eps) for e in basis])

    fd_grad = central(lambda b: logistic_loss(X, y, lam, b))
    np.testing.assert_allclose(logistic_gradient(X, y, lam, beta), fd_grad, rtol=1e-6, atol=1e-9)
    fd_hess = central(lambda b: logistic_gradient(X, y, lam, b))
    np.testing.assert_allclose(logistic_hessian(X, y, lam, beta), np.array(fd_hess), rtol=1e-6, atol=1e-9)
    A = hessian_factor(X, beta)
    np.testing.assert_allclose(A.T @ A + lam * np.eye(5), logistic_hessian(X, y, lam, beta), rtol=1e-12)


def test_newton_solve_agrees_with_scikit_learn():
    rng = _rng(23)
    X, y = logistic_data(600, 6, 5.0, rng=rng)
    lam = 1e-3
    beta = newton_solve(X, y, lam)
    assert np.linalg.norm(logistic_gradient(X, y, lam, beta)) < 1e-13
    clf = LogisticRegression(C=1.0 / (len(y) * lam), fit_intercept=False, tol=1e-12, max_iter=10_000)
    clf.fit(X, y)
    np.testing.assert_allclose(beta, clf.coef_[0], rtol=1e-5, atol=1e-7)


def test_debiased_subsampled_newton_contracts_at_the_theoretical_rate():
    rng = _rng(24)
    X, y = logistic_data(2048, 10, 5.0, rng=rng)
    lam = 1e-4
    beta_star = newton_solve(X, y, lam)
    H = logistic_hessian(X, y, lam, beta_star)
    m, T, runs = 100, 5, 12
    d_eff = ridge_leverage(hessian_factor(X, beta_star), lam).sum()
    ratios = []
    for _ in range(runs):
        u = rng.standard_normal(10)
        beta0 = beta_star + 1e-3 * np.linalg.norm(beta_star) * u / np.linalg.norm(u)
        hist = subsampled_newton(X, y, lam, beta0, "leverage", m, T, "fine", "debiased", rng)
        e0, eT = beta0 - beta_star, hist["betas"][-1] - beta_star
        ratios.append((eT @ H @ eT) / (e0 @ H @ e0))
        assert hist["betas"].shape == (T + 1, 10) and np.all(np.diff(hist["times"]) >= 0)
        np.testing.assert_allclose(hist["steps"], m / (m + d_eff), rtol=0.02)
    rate = np.mean(ratios) ** (1 / T)
    assert 0.6 * d_eff / m < rate < 1.3 * d_eff / m


@pytest.mark.parametrize("sampler", ["arlev", "alev", "slev", "srht", "less", "uniform"])
def test_every_ssn_sampler_converges_from_zero_with_line_search(sampler):
    rng = _rng(25)
    X, y = logistic_data(1024, 6, 5.0, rng=rng)
    lam = 1e-3
    beta_star = newton_solve(X, y, lam)
    correction = {"srht": "scalar", "less": "scalar", "uniform": "none"}.get(sampler, "fine")
    step = 1.0 if sampler in ("less", "uniform") else "debiased"
    hist = subsampled_newton(
        X, y, lam, np.zeros(6), sampler, 300, 12, correction, step, rng, line_search=True
    )
    err = np.linalg.norm(hist["betas"] - beta_star, axis=1) / np.linalg.norm(beta_star)
    assert err[-1] < 1e-3 * err[0]


def test_first_order_baselines_decrease_the_objective():
    rng = _rng(26)
    X, y = logistic_data(512, 5, 5.0, rng=rng)
    lam = 1e-2
    f_star = logistic_loss(X, y, lam, newton_solve(X, y, lam))
    runs = (
        gradient_descent(X, y, lam, np.zeros(5), 200, record_every=10),
        sgd(X, y, lam, np.zeros(5), 10, 32, rng),
    )
    for hist in runs:
        gaps = [logistic_loss(X, y, lam, b) - f_star for b in hist["betas"]]
        assert gaps[-1] < 0.2 * gaps[0] and np.all(np.diff(hist["times"]) >= 0)


def test_digits_logistic_is_the_standardised_binary_problem():
    X, y = digits_logistic()
    assert X.shape == (1797, 62) and set(np.unique(y)) == {-1.0, 1.0}
    np.testing.assert_allclose(X[:, :-1].mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(X[:, :-1].std(axis=0), 1, rtol=1e-12)
    assert np.all(X[:, -1] == 1)


# --- configuration and experiments --------------------------------------------------------


def test_resolve_applies_overrides_and_rejects_unknown_names():
    cfg = resolve("smoke", trials=77, seed=None)
    assert isinstance(cfg, Config) and cfg.trials == 77 and cfg.seed == resolve("smoke").seed
    assert resolve("book").trials != resolve("smoke").trials
    with pytest.raises(TypeError, match="trails"):
        resolve("book", trails=5)
    with pytest.raises(ValueError, match="smoke.*book.*full"):
        resolve("huge")
    assert TIERS == ("smoke", "book", "full")
    assert resolve("book", a_m=[100, 300]).a_m == (100, 300)  # lists from papermill become tuples


def test_smoke_tier_experiments_run_fast_and_serialise():
    cfg = resolve("smoke")
    start = time.perf_counter()
    out = {
        f.__name__: f(cfg)
        for f in (
            experiments.bias_vs_sketch_size,
            experiments.deterministic_equivalent_gap,
            experiments.phase_transition,
            experiments.ssn_local_rates,
            experiments.error_vs_time,
        )
    }
    assert time.perf_counter() - start < 30
    json.dumps(jsonable(out))
    bias = out["bias_vs_sketch_size"]["bias"]
    assert bias["A"]["uniform"]["fine"].shape == (cfg.n_seeds, len(cfg.a_m))
    assert bias["B"]["srht"]["scalar"].shape == (cfg.n_seeds, len(cfg.b_m))
    assert out["ssn_local_rates"]["rate_sq"]["debiased"].shape == (cfg.n_seeds, len(cfg.ssn_m))
    methods = {"ssn-arlev", "ssn-slev", "ssn-alev", "ssn-srht", "newton-less", "gd", "sgd"}
    assert set(out["error_vs_time"]["methods"]) == methods
