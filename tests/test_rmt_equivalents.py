"""High-dimensional equivalents (``lab/rmt_equivalents``) against independent computations.

Closed forms against numerical integration of the density (scipy ``quad``), Monte-Carlo
expectations and brute-force simulations at small size, with the tolerance stated in each test;
the fixed-point solvers' branches (including near the interpolation threshold) and their errors.
"""
import numpy as np
import pytest
from scipy.integrate import quad

from lab.claims.status import Status
from lab.rmt_equivalents import config, experiments, laws, ridge, simulate as sim
from lab.rmt_equivalents import conjugate_kernel as ck, gradient_descent as gd, random_features as rf
from lab.tiers import ParameterError

Z_OFF = np.array([0.5 + 0.1j, 1.0 + 0.3j, 2.5 + 0.05j, -1.0 + 0j, -0.3 + 0.2j, 1.2 - 0.2j, 8.0 + 0j])


def _quad_stieltjes(density, lo, hi, z):
    return quad(lambda x: density(x) / (x - z), lo, hi, complex_func=True, limit=400, epsabs=1e-12)[0]


# ---------------------------------------------------------------------------------------- R1


@pytest.mark.parametrize("c", [0.1, 0.5, 2.0])
def test_mp_stieltjes_matches_quadrature_of_the_density(c):
    lo, hi = laws.mp_edges(c)
    z = Z_OFF[(Z_OFF.imag != 0) | (Z_OFF.real < 0) | (Z_OFF.real > hi)]
    ours = laws.mp_stieltjes(z, c)
    ref = np.array([_quad_stieltjes(lambda x: laws.mp_density(x, c), lo, hi, zz) - laws.mp_atom(c) / zz for zz in z])
    np.testing.assert_allclose(ours, ref, atol=1e-8)
    np.testing.assert_allclose(laws.mp_quadratic_residual(ours, z, c), 0, atol=1e-12)


def test_mp_stieltjes_is_on_the_herglotz_branch():
    x = np.linspace(-2, 6, 81)
    for c in (0.3, 1.0, 3.0):
        m = laws.mp_stieltjes(x + 1e-3j, c)
        assert np.all(m.imag > 0)
        assert abs(laws.mp_stieltjes(1e6 + 0j, c) * 1e6 + 1) < 1e-5  # m ~ −1/z


def test_mp_density_moments_by_quadrature_and_by_the_theta_rule():
    for c in (0.1, 0.5, 0.9):
        lo, hi = laws.mp_edges(c)
        for k, expected in ((0, 1.0), (1, 1.0), (2, 1 + c)):  # MP moments: 1, 1, 1 + c
            assert quad(lambda x: x**k * laws.mp_density(x, c), lo, hi)[0] == pytest.approx(expected, rel=1e-7)
            assert laws.mp_integral(lambda x: x**k, c) == pytest.approx(expected, rel=1e-12)
        assert laws.mp_integral(lambda x: 1 / x, c) == pytest.approx(1 / (1 - c), rel=1e-10)


def test_mp_cdf_matches_quadrature_and_includes_the_atom():
    c = 0.5
    lo, hi = laws.mp_edges(c)
    for x in (0.2, 0.7, 1.5, 2.5):
        assert laws.mp_cdf(x, c) == pytest.approx(quad(lambda t: laws.mp_density(t, c), lo, x)[0], abs=1e-6)
    assert laws.mp_cdf(0.0, 2.0) == pytest.approx(0.5) and laws.mp_cdf(100.0, 2.0) == pytest.approx(1.0)


def test_semicircle_stieltjes_and_cdf_match_quadrature():
    for z in (0.3 + 0.1j, -1.5 + 0.02j, 3.0 + 0j):
        ref = _quad_stieltjes(laws.semicircle_density, -2, 2, z)
        assert laws.semicircle_stieltjes(z) == pytest.approx(ref, abs=1e-8)
    assert laws.semicircle_cdf(0.7) == pytest.approx(quad(laws.semicircle_density, -2, 0.7)[0], abs=1e-10)


@pytest.mark.parametrize("c", [0.25, 0.5, 1.0, 2.0])
def test_resolvent_equivalent_with_identity_covariance_is_mp(c):
    z = np.array([0.5 + 0.1j, 1.0 + 0.01j, -0.5 + 0j, 3 - 0.5j])
    de = laws.resolvent_equivalent(np.ones(30), c, z)
    np.testing.assert_allclose(de["m"], laws.mp_stieltjes(z, c), atol=1e-9)


def test_resolvent_equivalent_matches_simulation_for_a_two_point_covariance():
    """p = 600, c = 0.5, C with eigenvalues 1 and 4: max |(1/p) tr Q − m̄| < 0.05 on x + 0.1i, 3 draws."""
    s = np.where(np.arange(600) < 300, 1.0, 4.0)
    z = np.linspace(-0.5, 12, 40) + 0.1j
    m = laws.resolvent_equivalent(s, 0.5, z)["m"]
    for seed in range(3):
        eigs = sim.covariance_wishart_eigs(s, 1200, seed)
        assert np.max(np.abs(laws.empirical_stieltjes(eigs, z) - m)) < 0.05


def test_resolvent_equivalent_refuses_bad_input_instead_of_a_wrong_branch():
    with pytest.raises(ValueError, match="c = p/n must be a positive"):
        laws.resolvent_equivalent(np.ones(5), 0.0, 1 + 1j)
    with pytest.raises(ValueError, match="c = p/n must be a positive"):
        laws.mp_edges(-0.5)
    with pytest.raises(ValueError, match="real half-line"):
        laws.resolvent_equivalent(np.ones(5), 0.5, 1.0 + 0j)
    with pytest.raises(ValueError, match="non-negative"):
        laws.resolvent_equivalent(np.array([1.0, -1.0]), 0.5, 1 + 1j)
    with pytest.raises(RuntimeError, match="did not converge"):
        laws.resolvent_equivalent(np.ones(5), 0.5, 1 + 1e-9j, max_iter=3)


def test_ks_distance_separates_the_right_law_from_a_wrong_one():
    eigs = sim.wishart_eigs(400, 800, 0)
    assert laws.ks_distance(eigs, lambda x: laws.mp_cdf(x, 0.5)) < 0.03
    assert laws.ks_distance(eigs, lambda x: laws.mp_cdf(x, 0.3)) > 0.1


# ---------------------------------------------------------------------------------------- R2


@pytest.mark.parametrize("p,n,lam", [(300, 100, 1e-3), (300, 100, 0.0), (100, 300, 0.0), (100, 99, 0.0),
                                     (100, 101, 0.0), (100, 100, 1e-8), (100, 100, 1.0), (1000, 50, 1e-3)])
def test_effective_regularization_solves_its_equation_on_the_right_branch(p, n, lam):
    s = ridge.power_law_spectrum(p, 1.0)
    k = ridge.effective_regularization(s, n, lam)
    assert k >= lam
    assert abs(k - lam - k * np.sum(s / (s + k)) / n) < 1e-10 * (1 + k)
    if lam == 0 and p > n:
        assert k > 0  # the interpolating branch, not the trivial root κ = 0
    if lam > 0:  # the root is unique: nothing else in (0, 10·κ) solves the equation
        ks = np.linspace(k / 100, 10 * k, 2000)
        g = ks - ks * np.array([np.sum(s / (s + v)) / n for v in ks]) - lam
        assert np.sum(np.diff(np.sign(g)) != 0) == 1


def test_effective_regularization_is_continuous_as_lambda_goes_to_zero():
    s = ridge.power_law_spectrum(200, 1.5)
    for n in (100, 400):
        assert ridge.effective_regularization(s, n, 1e-12) == pytest.approx(ridge.effective_regularization(s, n, 0.0), abs=1e-9)


def test_ridge_refuses_negative_lambda_and_the_interpolation_threshold():
    with pytest.raises(ValueError, match="λ must be ≥ 0"):
        ridge.effective_regularization(np.ones(10), 20, -0.1)
    with pytest.raises(ValueError, match="interpolation threshold"):
        ridge.effective_regularization(np.ones(10), 10, 0.0)
    with pytest.raises(ValueError, match="γ = p/n must be positive"):
        ridge.ridgeless_isotropic_risk([0.5, -1.0], 1.0, 0.1)


@pytest.mark.parametrize("gamma", [0.3, 0.8, 0.95, 1.05, 1.5, 3.0])
def test_ridge_equivalent_at_lambda_zero_is_the_ridgeless_closed_form(gamma):
    n = 200
    p = int(gamma * n)
    eq = ridge.ridge_risk(np.ones(p), np.ones(p) / np.sqrt(p), n, 0.0, 0.3)
    assert eq["risk"] == pytest.approx(float(ridge.ridgeless_isotropic_risk(p / n, 1.0, 0.3)), rel=1e-9)


def test_ridge_equivalent_matches_brute_force_simulation():
    """Σ_ii = i^-1.5, p = 300, n = 150 and 600, λ = 1e-2, 30 draws: mean risk within 8%."""
    s = ridge.power_law_spectrum(300, 1.5)
    beta = np.random.default_rng(1).standard_normal(300) / np.sqrt(300)
    for n in (150, 600):
        emp = np.mean([sim.ridge_excess_risk(s, beta, n, 1e-2, 0.1, seed) for seed in range(30)])
        assert emp == pytest.approx(ridge.ridge_risk(s, beta, n, 1e-2, 0.1)["risk"], rel=0.08)


def test_ridgeless_closed_form_matches_brute_force_simulation():
    """n = 200, γ = 0.5 and 2, σ² = 0.25, 40 draws of min-norm least squares: within 8%."""
    for gamma in (0.5, 2.0):
        p = int(gamma * 200)
        rng = np.random.default_rng(int(10 * gamma))
        emp = []
        for seed in range(40):
            b = rng.standard_normal(p)
            emp.append(sim.ridge_excess_risk(np.ones(p), b / np.linalg.norm(b), 200, 0.0, 0.25, seed))
        assert np.mean(emp) == pytest.approx(float(ridge.ridgeless_isotropic_risk(gamma, 1.0, 0.25)), rel=0.08)


def test_sklearn_ridge_peer_agrees_with_our_estimator():
    res = experiments.peers(config.resolve("smoke"))
    assert res["sklearn_ridge_max_diff"] < 1e-8
    if "freealg_max_diff" in res:
        assert max(res["freealg_max_diff"]) < 1e-8


# ---------------------------------------------------------------------------------------- R3


@pytest.mark.parametrize("act", ["relu", "erf"])
def test_kernels_match_monte_carlo_over_w(act):
    """E_w[σ(wᵀx)σ(wᵀz)] with 4·10⁵ Gaussian w: within 5e-3 of the closed form."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((6, 5)) / np.sqrt(6) * np.array([0.5, 1, 1.5, 1, 2])
    W = rng.standard_normal((400_000, 6))
    F = np.maximum(W @ X, 0) if act == "relu" else __import__("scipy.special").special.erf(W @ X)
    np.testing.assert_allclose(rf.kernel(X, activation=act), F.T @ F / len(W), atol=5e-3)
    np.testing.assert_allclose(rf.kernel_diag(X, act), np.diag(rf.kernel(X, activation=act)), rtol=1e-12)


def test_rf_fixed_point_branch_and_errors():
    lam = np.linspace(0.01, 2, 50)
    for psi, gam in ((0.5, 1e-7), (0.99, 1e-7), (1.0, 1e-7), (1.01, 1e-7), (3.0, 1e-2)):
        d = rf.solve_delta(lam, psi, gam)
        assert d > 0 and abs(d - np.sum(lam * (1 + d) / (psi * lam + gam * (1 + d))) / 50) < 1e-9 * (1 + d)
    assert rf.solve_delta(lam, 2.0, 0.0) == pytest.approx(1.0)  # rank/(N − rank) = 50/50
    with pytest.raises(ValueError, match="no finite root"):
        rf.solve_delta(lam, 0.8, 0.0)
    with pytest.raises(ValueError, match="γ must be ≥ 0"):
        rf.solve_delta(lam, 1.0, -1e-3)
    with pytest.raises(ValueError, match="ψ = N/n must be positive"):
        rf.solve_delta(lam, 0.0, 1e-3)
    with pytest.raises(ValueError, match="no closed-form kernel"):
        rf.kernel(np.ones((3, 2)), activation="sigmoid")


@pytest.mark.parametrize("act,psi,gamma", [("relu", 0.5, 1e-2), ("relu", 2.0, 1e-7), ("erf", 1.5, 1e-2)])
def test_rf_equivalent_matches_brute_force_simulation(act, psi, gamma):
    """p = 64, n = n̂ = 256, 20 draws of W: mean test and train MSE within 8% (train: 8% or 1e-3)."""
    rng = np.random.default_rng(3)
    X, y = rf.gmm_data(64, 256, rng)
    Xt, yt = rf.gmm_data(64, 256, rng)
    N = int(psi * 256)
    eq = rf.rf_equivalent(X, y, Xt, yt, N, gamma, act)
    runs = [sim.rf_errors(X, y, Xt, yt, N, [gamma], s, act) for s in range(20)]
    assert np.mean([r["test"][0] for r in runs]) == pytest.approx(eq["test"], rel=0.08)
    assert np.mean([r["train"][0] for r in runs]) == pytest.approx(eq["train"], rel=0.08, abs=1e-3)


# ---------------------------------------------------------------------------------------- R4


def test_gaussian_coefficients_match_closed_forms_and_the_dossier():
    co = ck.gaussian_coefficients("relu")
    assert (co["a0"], co["a1"], co["nu"]) == pytest.approx((0.39894, 0.5, 0.5), abs=1e-5)
    assert co["noise"] == pytest.approx(0.09085, abs=1e-5)
    for act in ("relu", "erf"):
        got = ck.gaussian_coefficients(act)
        for k, v in ck.CLOSED_FORMS[act].items():
            assert got[k] == pytest.approx(v, abs=1e-10)
    with pytest.raises(ValueError, match="no linear equivalent"):
        ck.gaussian_coefficients("swish")


def test_ck_spectrum_matches_its_gaussian_equivalent_at_small_size():
    """p = 200, n = 400, N = 600: spike within 2%, bulk mean quantile gap < 1e-2."""
    co = ck.gaussian_coefficients("relu")
    X = ck.unit_columns(200, 400, np.random.default_rng(0))
    sp = sim.ck_spectra(X, 600, 0, co)
    assert sp["empirical"][-1] == pytest.approx(sp["equivalent"][-1], rel=0.02)
    assert sp["empirical"][-1] == pytest.approx(400 * co["a0"] ** 2, rel=0.05)
    assert ck.bulk_quantile_gap(sp["empirical"], sp["equivalent"])["mean"] < 1e-2
    # and not against a wrong equivalent: dropping the noise term moves the bulk
    wrong = sim.ck_spectra(X, 600, 0, {**co, "nu": co["a0"] ** 2 + co["a1"] ** 2})
    assert ck.bulk_quantile_gap(sp["empirical"], wrong["equivalent"])["mean"] > 3e-2


def test_deep_ck_runs_at_small_size_on_the_cpu():
    """The full tier's 3-layer CK path at n = 300: the layer-wise equivalent's bulk within 3e-2."""
    cfg = config.resolve("smoke", deep_ck_n=300)
    res = experiments.deep_conjugate_kernel(cfg)
    assert res["layers"] == 3 and res["bulk_mean_gap"] < 3e-2


# ---------------------------------------------------------------------------------------- R5


def test_gd_risk_matches_quadrature_and_its_limit():
    c, s2, eta = 0.5, 0.25, 0.5
    lo, hi = laws.mp_edges(c)
    th = gd.gd_risk([3, 10, 40], c, s2, eta)
    for j, t in enumerate((3, 10, 40)):
        b = quad(lambda x: (1 - eta * x) ** (2 * t) * laws.mp_density(x, c), lo, hi, limit=200)[0]
        v = s2 * c * quad(lambda x: (1 - (1 - eta * x) ** t) ** 2 / x * laws.mp_density(x, c), lo, hi, limit=200)[0]
        assert th["risk"][j] == pytest.approx(b + v, rel=1e-8)
    assert gd.gd_risk(10_000, c, s2, eta)["risk"][0] == pytest.approx(gd.gd_risk_limit(c, s2), rel=1e-10)
    assert gd.gd_risk_limit(0.5, 0.25) == pytest.approx(0.25)


def test_gd_iteration_equals_its_spectral_form_and_the_theory_at_small_size():
    """p = 100, n = 200, 30 draws, 200 steps: mean risk within 8% of R(t) at every t ≥ 1."""
    curves = np.array([sim.gd_risk_curve(100, 200, 0.25, 0.5, 200, s) for s in range(30)])
    th = gd.gd_risk(np.arange(201), 0.5, 0.25, 0.5)["risk"]
    np.testing.assert_allclose(curves.mean(0)[1:], th[1:], rtol=0.08)
    assert curves[0, 0] == pytest.approx(1.0)


def test_gd_refuses_bad_input():
    with pytest.raises(ValueError, match="c = p/n < 1"):
        gd.gd_risk(10, 1.5, 0.1, 0.1)
    with pytest.raises(ValueError, match="c = p/n must be a positive"):
        gd.gd_risk(10, -0.5, 0.1, 0.1)
    with pytest.raises(ValueError, match="diverges"):
        gd.gd_risk(10, 0.5, 0.1, 1.0)


# ---------------------------------------------------------------------------------------- chapter


@pytest.mark.parametrize("knob,value,match", [
    ("mp_c", [0.5, 0.0], "mp_c"), ("ridge_lam", -1e-3, "ridge_lam"), ("rf_activations", ["relu", "gelu"], "rf_activations"),
    ("rf_gamma", [-1.0], "rf_gamma"), ("gd_eta", 0.0, "gd_eta"), ("gd_p", 900, "gd_p"),
])
def test_bad_parameters_stop_with_a_parameter_error(knob, value, match):
    with pytest.raises(ParameterError, match=match):
        config.resolve("book", **{knob: value})


def test_full_tier_is_configured_for_one_gpu():
    full = config.resolve("full")
    assert full.device == "cuda" and full.mp_p == 20_000 and full.rf_n == 4096 and max(full.gap_p) == 16000
    assert full.deep_ck_n == 10_000 and full.rf_seeds == 20 and full.ridge_p == 10_000


def test_smoke_claims_reproduce():
    """The claims whose dossier tier includes smoke come out reproduced at the smoke tier."""
    from lab.claims import Claims
    from lab.rmt_equivalents import claims as criteria

    cfg = config.resolve("smoke")
    claims = Claims("rmt_equivalents", "smoke")
    criteria.check_all(claims, mp=experiments.mp(cfg), ridge_res=experiments.ridge_power_law(cfg),
                       ridgeless_res=experiments.ridgeless(cfg), rf_res=experiments.random_features(cfg),
                       ck_res=experiments.conjugate_kernel(cfg), deep_res=None,
                       gd_res=experiments.gradient_descent(cfg), gap_res=experiments.size_gap(cfg))
    status = {c.id: c.status for c in claims.items}
    assert len(status) == 12
    for cid in ("mp-esd-matches-density", "resolvent-deterministic-equivalent", "rf-double-descent-peak"):
        assert status[cid] is Status.REPRODUCED, cid
    for cid in ("deep-ck-equivalent", "finite-size-rate"):
        assert status[cid] is Status.NOT_CHECKABLE


def test_full_tier_claims_are_judged_when_their_sizes_are_present():
    """The GPU-only claims take the full tier's results: a 1/p gap passes, a flat one fails."""
    from lab.claims import Claims
    from lab.rmt_equivalents import claims as criteria

    p = np.array([500, 1000, 2000, 4000, 8000, 16000], float)
    for gap, expected in ((1 / p, Status.REPRODUCED), (p ** -0.2, Status.NOT_REPRODUCED)):
        claims = Claims("rmt_equivalents", "full")
        criteria.size_claim(claims, {"p": p, "resolvent_err": np.stack([gap, gap], 1), "slope_resolvent": 0.0})
        assert claims.items[0].status is expected
    claims = Claims("rmt_equivalents", "full")
    criteria.ck_claims(claims, {"spike_rel": np.array([1e-3]), "bulk_mean_gap": np.array([1e-3])},
                       {"n": 10_000, "bulk_mean_gap": 5e-3})
    assert [c.status for c in claims.items] == [Status.REPRODUCED, Status.REPRODUCED]
