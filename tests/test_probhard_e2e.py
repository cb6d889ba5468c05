"""ProbHardE2E: the DPPL against its definitions and independent references (book/probhard_e2e.md)."""
import numpy as np
import properscoring
import pytest
import torch

from lab.probhard_e2e import config, newton, problems
from lab.probhard_e2e.projection import (ConstraintError, constraint_error, project, project_oblique,
                                         project_orthogonal, project_samples, project_single)
from lab.probhard_e2e.scores import crps_gaussian, crps_samples, nll_gaussian
from lab.tiers import ParameterError


def _problem(seed, B=5, n=9, q=3, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(B, n, generator=g, dtype=torch.float64)
    var = torch.rand(B, n, generator=g, dtype=torch.float64) * 2 + 0.05
    A = torch.randn(q, n, generator=g, dtype=torch.float64)
    b = torch.randn(B, q, generator=g, dtype=torch.float64)
    return mu.to(dtype), var.to(dtype), A.to(dtype), b.to(dtype)


@pytest.mark.parametrize("metric", ["oblique", "orthogonal"])
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
def test_means_and_projected_samples_satisfy_Au_eq_b(metric, dtype, tol):
    mu, var, A, b = _problem(0, dtype=dtype)
    mu_h, _ = project(mu, var, A, b, metric)
    assert constraint_error(mu_h, A, b, relative=True).max().item() < tol
    z = mu.unsqueeze(1) + var.sqrt().unsqueeze(1) * torch.randn(5, 50, 9, dtype=dtype)
    zp = project_samples(z, var, A, b, metric)
    assert constraint_error(zp, A, b.unsqueeze(1), relative=True).max().item() < tol
    # an unprojected mean is far from feasible (the test can fail)
    assert constraint_error(mu, A, b, relative=True).max().item() > 1e-2


@pytest.mark.parametrize("metric", ["oblique", "orthogonal"])
def test_projected_covariance_is_psd_and_annihilated_by_A(metric):
    mu, var, A, b = _problem(1, B=1)
    _, C = project(mu[0], var[0], A, b[0], metric, full_cov=True)
    assert torch.allclose(C, C.T, atol=1e-12)
    assert torch.linalg.eigvalsh(C).min().item() > -1e-12
    assert (A @ C).abs().max().item() < 1e-12
    assert torch.linalg.matrix_rank(C).item() == 9 - 3


@pytest.mark.parametrize("metric", ["oblique", "orthogonal"])
def test_projected_sample_mean_and_covariance_within_3_standard_errors(metric):
    mu, var, A, b = _problem(2, B=1, n=6, q=2)
    mu, var, b = mu[0], var[0], b[0]
    mu_h, C = project(mu, var, A, b, metric, full_cov=True)
    S = 40_000
    g = torch.Generator().manual_seed(5)
    z = mu + var.sqrt() * torch.randn(S, 6, generator=g, dtype=torch.float64)
    zp = project_samples(z, var, A, b, metric)
    d = torch.diagonal(C)
    assert ((zp.mean(0) - mu_h).abs() / torch.sqrt(d / S)).max().item() < 3.5
    se = torch.sqrt((torch.outer(d, d) + C**2) / S)
    frob_z = torch.linalg.norm(torch.cov(zp.T) - C) / torch.sqrt((se**2).sum())
    assert frob_z.item() < 3
    # the unprojected covariance is rejected by the same statistic
    wrong = torch.linalg.norm(torch.cov(zp.T) - torch.diag(var)) / torch.sqrt((se**2).sum())
    assert wrong.item() > 10


def test_oblique_equals_orthogonal_when_sigma_is_isotropic():
    mu, var, A, b = _problem(3)
    iso = torch.full_like(var, 0.7)
    m1, C1 = project_oblique(mu, iso, A, b, full_cov=True)
    m2, C2 = project_orthogonal(mu, iso, A, b, full_cov=True)
    assert torch.allclose(m1, m2, atol=1e-12) and torch.allclose(C1, C2, atol=1e-12)
    m3, _ = project_oblique(mu, var, A, b)
    assert (m3 - m2).abs().max().item() > 1e-3  # and they differ when Sigma is not isotropic


def test_single_constraint_closed_form_equals_general_formula():
    mu, var, A, b = _problem(4, q=1)
    m1, v1 = project_single(mu, var, A[0], b[:, 0])
    m2, C2 = project_oblique(mu, var, A, b, full_cov=True)
    assert torch.allclose(m1, m2, atol=1e-13)
    assert torch.allclose(v1, torch.diagonal(C2, dim1=-2, dim2=-1), atol=1e-13)


def test_orthogonal_mean_is_the_euclidean_nearest_feasible_point():
    mu, var, A, b = _problem(5, B=1)
    m, _ = project_orthogonal(mu[0], var[0], A, b[0])
    # KKT of min ||u - mu||^2 s.t. Au = b: u - mu in the row space of A
    resid = (m - mu[0]) - A.T @ torch.linalg.lstsq(A.T, (m - mu[0]).unsqueeze(-1)).solution.squeeze(-1)
    assert resid.abs().max().item() < 1e-12


@pytest.mark.parametrize("metric", ["oblique", "orthogonal"])
def test_gradcheck_through_linear_layer(metric):
    mu, var, A, b = _problem(6, B=2, n=5, q=2)
    f = lambda m, v: torch.cat(project(m, v, A, b, metric), -1)
    assert torch.autograd.gradcheck(f, (mu.requires_grad_(), var.requires_grad_()))


@pytest.mark.parametrize("metric", ["oblique", "orthogonal"])
def test_newton_layer_converges_and_gradcheck_passes(metric):
    g = torch.Generator().manual_seed(7)
    z = torch.randn(3, 5, generator=g, dtype=torch.float64)
    var = torch.rand(3, 5, generator=g, dtype=torch.float64) + 0.2
    c = torch.randn(5, generator=g, dtype=torch.float64)
    h = lambda u: torch.stack([(u * u).sum() - 3.0, (c * u).sum() + 0.3 * u[0] ** 3 - 0.5])
    u, _ = newton.project_nonlinear(z, var, h, metric)
    assert torch.vmap(h)(u).abs().max().item() < 1e-9
    f = lambda zz, vv: newton.project_nonlinear(zz, vv, h, metric)[0]
    assert torch.autograd.gradcheck(f, (z.requires_grad_(), var.requires_grad_()))


def test_newton_curvature_jacobian_matches_finite_differences_and_linearised_does_not():
    g = torch.Generator().manual_seed(8)
    z = torch.randn(2, 4, generator=g, dtype=torch.float64) * 2
    var = torch.rand(2, 4, generator=g, dtype=torch.float64) + 0.1
    h = lambda u: (u * u).sum(-1, keepdim=True) - 1.0
    u, lam, _ = newton.newton_kkt(z, var, h)
    Jc, Jl = newton.jacobians(u, lam, var, h)
    Jfd = torch.stack([(newton.newton_kkt(z + 1e-6 * e, var, h)[0] - newton.newton_kkt(z - 1e-6 * e, var, h)[0]) / 2e-6
                       for e in torch.eye(4, dtype=torch.float64)], -1)
    assert (Jc - Jfd).abs().max().item() < 1e-7
    assert (Jl - Jfd).abs().max().item() > 1e-2


def test_newton_reduces_to_linear_dppl_for_a_linear_constraint():
    mu, var, A, b = _problem(9, B=2, n=6, q=2)
    u, v = newton.project_nonlinear(mu, var, lambda x: A @ x - b[0])
    m, vv = project_oblique(mu, var, A, b[0].expand(2, 2))
    assert torch.allclose(u, m, atol=1e-10) and torch.allclose(v, vv, atol=1e-10)


def test_newton_with_per_row_context_matches_row_by_row_solves():
    g = torch.Generator().manual_seed(11)
    z = torch.randn(4, 5, generator=g, dtype=torch.float64)
    var = torch.rand(4, 5, generator=g, dtype=torch.float64) + 0.2
    r2 = torch.tensor([[1.0], [2.0], [3.0], [4.0]], dtype=torch.float64)
    u, _ = newton.project_nonlinear(z, var, lambda x, c: (x * x).sum(-1, keepdim=True) - c, context=r2)
    for i in range(4):
        ui, _ = newton.project_nonlinear(z[i:i + 1], var[i:i + 1], lambda x, c=r2[i]: (x * x).sum(-1, keepdim=True) - c)
        assert torch.allclose(u[i], ui[0], atol=1e-10)
    assert torch.allclose((u * u).sum(-1, keepdim=True), r2, atol=1e-9)


def test_newton_that_cannot_converge_reports_its_residual():
    h = lambda u: (u * u).sum(-1, keepdim=True) + 1.0  # ||u||^2 = -1 has no solution
    with pytest.raises(newton.NewtonError) as info:
        newton.project_nonlinear(torch.ones(1, 3, dtype=torch.float64), torch.ones(1, 3, dtype=torch.float64), h,
                                 max_iter=15)
    assert info.value.residual > 1e-3 and "residual" in str(info.value)


def test_closed_form_crps_matches_properscoring_and_samples():
    rng = np.random.default_rng(0)
    mu, sd = rng.standard_normal(50), rng.uniform(0.01, 3, 50)
    y = mu + rng.standard_normal(50) * 2
    ours = crps_gaussian(torch.tensor(mu), torch.tensor(sd**2), torch.tensor(y), eps=0.0).numpy()
    np.testing.assert_allclose(ours, properscoring.crps_gaussian(y, mu, sd), rtol=1e-10)
    x = torch.tensor(mu[:8, None] + sd[:8, None] * rng.standard_normal((8, 100_000)))
    mc = crps_samples(x, torch.tensor(y[:8])).numpy()
    assert np.max(np.abs(mc - ours[:8]) / ours[:8]) < 0.01
    np.testing.assert_allclose(mc, properscoring.crps_ensemble(y[:8], x.numpy()), rtol=1e-9)


def test_crps_tends_to_absolute_error_at_zero_variance_and_nll_matches_scipy():
    from scipy.stats import norm

    mu, y = torch.tensor([0.3, -1.0]), torch.tensor([1.0, -1.5])
    assert torch.allclose(crps_gaussian(mu, torch.zeros(2), y), (y - mu).abs(), atol=1e-5)
    v = torch.tensor([0.5, 2.0], dtype=torch.float64)
    np.testing.assert_allclose(nll_gaussian(mu.double(), v, y.double(), eps=0).numpy(),
                               -norm.logpdf(y.numpy(), mu.numpy(), np.sqrt(v.numpy())), rtol=1e-10)


def test_bad_constraints_and_variances_raise_clear_errors():
    mu, var, A, b = _problem(10, B=1, n=5, q=2)
    A_dup = torch.cat([A[:1], A[:1]])
    with pytest.raises(ConstraintError, match="rank-deficient"):
        project(mu, var, A_dup, torch.cat([b[:, :1], b[:, :1]], 1))
    with pytest.raises(ConstraintError, match="infeasible"):
        project(mu, var, A_dup, torch.tensor([[0.0, 1.0]], dtype=torch.float64))
    with pytest.raises(ConstraintError, match="rank"):
        project(mu, var, torch.randn(6, 5, dtype=torch.float64), torch.zeros(1, 6, dtype=torch.float64), "orthogonal")
    bad = var.clone()
    bad[0, 0] = -0.1
    with pytest.raises(ValueError, match="negative"):
        project(mu, bad, A, b)
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        project(mu, bad, A, b)
    zero = var.clone()
    zero[:] = 0
    with pytest.raises(ValueError, match="singular"):
        project_oblique(mu, zero, A, b)
    with pytest.raises(ValueError, match="metric"):
        project(mu, var, A, b, "diagonal")


@pytest.mark.parametrize("name,param", [("heat", [2.5]), ("pme", [3.0, 1.7]), ("pme", [5.2, 0.4]), ("stefan", [0.3])])
def test_analytic_solutions_satisfy_their_pdes(name, param):
    t = np.array([0.4, 0.8])
    if name == "heat":
        x = np.array([0.7, 2.0, 4.4])
    elif name == "pme":
        x = np.array([0.3, 0.6]) * 0.4 / param[1]  # behind the front x = t / s
    else:
        alpha, _ = problems.stefan_constants(param[0])
        x = np.array([0.3, 0.6]) * alpha * np.sqrt(0.4)  # behind the front x = alpha sqrt(t)
    res = problems.fd_residual(name, param, t, x)
    assert np.abs(res).max() < 1e-4
    # the residual is small against the size of the terms it balances
    ut = (problems.solution(name, np.array([param]), t + 1e-4, x) - problems.solution(name, np.array([param]), t - 1e-4, x)) / 2e-4
    assert np.abs(ut).max() > 1e-2


def test_fd_residual_sees_a_wrong_pde():
    # exp(-k t) sin x does not solve u_t = 2k u_xx: residual k e^{-kt} sin x, far from zero
    t, x = np.array([0.3]), np.array([1.2])
    u = lambda tt, xx: np.exp(-2.0 * tt) * np.sin(xx)
    h = 1e-4
    wrong = (u(t + h, x) - u(t - h, x)) / (2 * h) - 4.0 * (u(t, x + h) - 2 * u(t, x) + u(t, x - h)) / h**2
    assert abs(wrong[0]) > 0.5 and np.abs(problems.fd_residual("heat", [2.0], t, x)).max() < 1e-4


def test_pme_mass_from_the_constraint_quadrature_is_exactly_feasible_and_closed_form_lacks_s():
    d = problems.make_problem("pme", 6, 4000, 5, 0)
    assert np.abs(d.u @ d.G - d.b).max() < 1e-14
    m, s = d.params[:, 0, None], d.params[:, 1, None]
    inside = (d.t[None, :] / s < 0.95) & (d.t[None, :] / s > 0.1)
    exact = m ** (1 + 1 / m) / ((m + 1) * s) * d.t[None, :] ** (1 + 1 / m)
    reference_code = m ** (1 + 1 / m) / (m + 1) * d.t[None, :] ** (1 + 1 / m)
    assert np.abs((d.b - exact) / exact)[inside].max() < 0.05
    assert np.abs((reference_code - exact) / exact)[inside & (np.abs(s - 1) > 0.2)].min() > 0.15


def test_hierarchy_constraint_holds_on_the_data():
    from lab.probhard_e2e.hierarchy import summing_matrix

    S = summing_matrix(8, 4)
    assert S.shape == (3, 8) and S[-1].sum() == 8
    with pytest.raises(ValueError):
        summing_matrix(10, 4)


def test_config_checks():
    assert config.resolve("full").nx == 256 and "stefan" in config.resolve("full").problems
    with pytest.raises(ParameterError):
        config.resolve("smoke", n_seeds=0)
    with pytest.raises(ParameterError):
        config.resolve("smoke", problems=["wave"])
    with pytest.raises(TypeError):
        config.resolve("smoke", bogus=1)


def test_full_tier_nonlinear_and_stefan_paths_run_at_smoke_size():
    from lab.probhard_e2e import experiments

    cfg = config.resolve("smoke", nx=8, n_train=2, n_test=1, steps=2, problems=["stefan"])
    object.__setattr__(cfg, "nt", 2)
    object.__setattr__(cfg, "nonlinear_m", (2,))
    out = experiments.pde_nonlinear(cfg)
    assert set(out[2]) == {"inference_only", "oblique"} and all(np.isfinite(v["mse"]) for v in out[2].values())
    assert all(v["ce"] < 1e-9 for v in out[2].values())  # G u^2 = G u_true^2 after the Newton projection
    res = experiments.pde_variants(cfg, "stefan")
    assert res["metrics"]["oblique"]["rel_ce"].max() < 1e-10


def test_smoke_claims_exact_and_structural_reproduce():
    from lab.claims import Claims
    from lab.claims.status import Status
    from lab.probhard_e2e import claims as criteria, experiments

    cfg = config.resolve("smoke")
    exact = experiments.exactness(cfg)
    claims = Claims("probhard_e2e", "smoke")
    criteria.feasibility(claims, exact, {})
    criteria.covariance(claims, exact)
    criteria.crps_closed_form(claims, exact, cfg.crps_samples)
    assert all(c.status is Status.REPRODUCED for c in claims.items), claims
