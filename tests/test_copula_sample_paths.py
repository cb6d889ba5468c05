"""Tests of lab.copula_sample_paths against theory and independent references (properscoring,
brute-force scores, closed forms); see book/copula_sample_paths.md."""
import math

import numpy as np
import properscoring as ps
import pytest
import torch
from scipy import stats

from lab.copula_sample_paths import (aggregate_crps, ar1_latent, cholesky_latent, crps_gaussian, crps_samples,
                                     energy_score, estimate_rho, exact_ar1_correlation, inverse_quantile,
                                     latent_normals, sample_paths, toeplitz, variogram_score)
from lab.copula_sample_paths import claims as cclaims, config, experiments
from lab.claims import Claims
from lab.tiers import ParameterError

LV = experiments.LEVELS


def test_iqf_passes_through_knots_and_is_monotone():
    q = torch.as_tensor(experiments.fixed_grid(5))[0]  # [5, 9]
    at_knots = inverse_quantile(q, LV, torch.tensor(LV).expand(5, 9))
    assert torch.allclose(at_knots, q, atol=1e-12)
    u = torch.linspace(1e-6, 1 - 1e-6, 2001).expand(5, -1)
    for tail in ("linear", "exponential"):
        v = inverse_quantile(q, LV, u, tail=tail)
        assert (v.diff(dim=-1) >= -1e-12).all()
    # linear tails continue the end slopes; exponential tails are continuous at the end knots
    s0 = (q[:, 1] - q[:, 0]) / 0.1
    assert torch.allclose(inverse_quantile(q, LV, torch.full((5, 1), 0.05))[:, 0], q[:, 0] - 0.05 * s0)
    e = inverse_quantile(q, LV, torch.tensor([[0.1 - 1e-9, 0.9 + 1e-9]]).expand(5, 2), tail="exponential")
    assert torch.allclose(e, q[:, [0, -1]], atol=1e-6)
    lo = inverse_quantile(q, LV, torch.full((5, 1), 1e-8), tail="exponential")
    assert (lo[:, 0] < inverse_quantile(q, LV, torch.full((5, 1), 1e-8))[:, 0]).all()  # heavier than linear


def test_iqf_interpolates_linearly_between_knots():
    q = torch.tensor([[0.0, 1.0, 3.0]])
    v = inverse_quantile(q, (0.25, 0.5, 0.75), torch.tensor([[0.375, 0.625, 0.5]]))
    assert torch.allclose(v, torch.tensor([[0.5, 2.0, 1.0]], dtype=v.dtype))


@pytest.mark.parametrize("rho", [0.0, 0.4, 0.9])
def test_marginals_are_the_iqf_and_latent_correlation_is_toeplitz(rho):
    H = 6
    q = torch.as_tensor(experiments.fixed_grid(H))
    y, z = sample_paths(q, LV, 20000, rho=rho, seed=3, return_latent=True)
    for h in range(H):
        p = stats.kstest(y[0, :, h].numpy(), lambda v: experiments.iqf_cdf(v, q[0, h].numpy(), LV)).pvalue
        assert p > 0.01 / H  # Bonferroni over the H steps
    C = np.corrcoef(z[0].numpy().T)
    assert np.abs(C - toeplitz(rho, H).numpy()).max() < 0.02


def test_recursion_and_cholesky_have_the_same_law():
    eps = latent_normals((1, 30000, 7), 1)
    za = ar1_latent(eps, 0.8)
    zb = cholesky_latent(latent_normals((1, 30000, 7), 2), toeplitz(0.8, 7))
    assert np.abs(np.cov(za[0].numpy().T) - np.cov(zb[0].numpy().T)).max() < 0.05
    # the Cholesky factor of the Toeplitz matrix is the recursion written as a matrix
    L = torch.linalg.cholesky(toeplitz(0.8, 7))
    assert torch.allclose(ar1_latent(eps[0, :5], 0.8), eps[0, :5] @ L.T, atol=1e-12)


def test_rho_zero_is_independent_and_rho_one_is_comonotone():
    q = torch.as_tensor(experiments.fixed_grid(5))
    eps = latent_normals((1, 100, 5), 0)
    y0 = sample_paths(q, LV, 100, rho=0.0, eps=eps)
    yi = inverse_quantile(q, LV, torch.special.ndtr(eps).transpose(1, 2)).transpose(1, 2)
    assert torch.equal(y0, yi)
    _, z = sample_paths(q, LV, 100, rho=1 - 1e-9, eps=eps, return_latent=True)
    u = torch.special.ndtr(z)
    assert (u.max(-1).values - u.min(-1).values).max() < 1e-3


def test_exact_ar1_correlation_matches_simulation():
    phi, H = 0.7, 5
    rng = np.random.default_rng(0)
    ctx, fut = experiments._ar1_series(40000, 20, H, phi, rng)
    resid = fut - phi ** np.arange(1, H + 1)[None] * ctx[:, -1:]
    assert np.abs(np.corrcoef(resid.T) - exact_ar1_correlation(phi, H).numpy()).max() < 0.02


def test_crps_against_properscoring_and_closed_form():
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(4, 60, 3)), rng.normal(size=(4, 3))
    ref = ps.crps_ensemble(y, X.transpose(0, 2, 1))
    assert np.allclose(crps_samples(X, y).numpy(), ref, atol=1e-12)
    mu, sd, yy = 0.3, 1.7, np.array([-2.0, 0.1, 4.0])
    assert np.allclose(crps_gaussian(yy, mu, sd).numpy(), ps.crps_gaussian(yy, mu, sd), atol=1e-12)
    big = torch.as_tensor(mu + sd * latent_normals((1, 200000, 1), 5).numpy())
    mc = crps_samples(big.expand(3, -1, -1), torch.as_tensor(yy)[:, None])[:, 0]
    assert np.allclose(mc.numpy(), crps_gaussian(yy, mu, sd).numpy(), atol=0.01)


def _brute(X, y, gamma=0.5):
    N, H = X.shape
    es = np.mean([np.linalg.norm(x - y) for x in X]) - 0.5 * np.mean([np.linalg.norm(a - b) for a in X for b in X])
    vs = 0.0
    for i in range(H):
        for j in range(i + 1, H):
            vs += (abs(y[i] - y[j]) ** gamma - np.mean([abs(x[i] - x[j]) ** gamma for x in X])) ** 2
    s = X.sum(1)
    agg = np.mean(np.abs(s - y.sum())) - 0.5 * np.mean(np.abs(s[:, None] - s[None]))
    return es, vs, agg


def test_energy_variogram_aggregate_against_brute_force():
    rng = np.random.default_rng(2)
    for _ in range(3):
        X, y = rng.normal(size=(17, 5)), rng.normal(size=5)
        es, vs, agg = _brute(X, y)
        assert math.isclose(float(energy_score(X, y)), es, rel_tol=1e-10)
        assert math.isclose(float(variogram_score(X, y)), vs, rel_tol=1e-10)
        assert math.isclose(float(aggregate_crps(X, y)), agg, rel_tol=1e-10)
    # ES at H = 1 is the CRPS
    X, y = rng.normal(size=(30, 1)), rng.normal(size=1)
    assert math.isclose(float(energy_score(X, y)), float(crps_samples(X, y)[0]), rel_tol=1e-10)


def test_variogram_score_sees_dependence_that_crps_does_not():
    q = torch.as_tensor(experiments.fixed_grid(8))
    rng = np.random.default_rng(4)
    u = torch.as_tensor(rng.uniform(size=(200, 1))).expand(200, 8)  # comonotone truths
    ys = inverse_quantile(q[0].T[None].expand(1, 9, 8).permute(0, 2, 1)[0], LV, u.T.contiguous()).T
    vs0, vs9 = [], []
    for y in ys[:40]:
        vs0.append(float(variogram_score(sample_paths(q, LV, 200, rho=0.0, seed=1)[0], y)))
        vs9.append(float(variogram_score(sample_paths(q, LV, 200, rho=0.99, seed=1)[0], y)))
    assert np.mean(vs9) < np.mean(vs0)


def test_estimate_rho():
    rng = np.random.default_rng(0)
    ctx, _ = experiments._ar1_series(200, 400, 1, 0.6, rng)
    for m in ("rank_gauss", "levels"):
        assert abs(estimate_rho(ctx, m).mean() - 0.6) < 0.03
    assert estimate_rho(ctx, "diff").mean() == pytest.approx(0.0, abs=0.02)  # lag-1 of AR(1) diffs: -(1-φ)/2 < 0, clipped
    assert np.all(estimate_rho(np.ones((2, 10))) == 0)


def test_bad_input_errors():
    q = torch.as_tensor(experiments.fixed_grid(3))
    with pytest.raises(ValueError, match="non-monotone"):
        sample_paths(q.flip(-1), LV, 10, rho=0.5)
    bad = q.clone()
    bad[0, 1, 3] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        sample_paths(bad, LV, 10, rho=0.5)
    for r in (1.0, -1.0, 1.5):
        with pytest.raises(ValueError, match="ρ"):
            sample_paths(q, LV, 10, rho=r)
    no_median = tuple(v for v in LV if v != 0.5)
    with pytest.raises(ValueError, match="median"):
        sample_paths(q[..., [0, 1, 2, 3, 5, 6, 7, 8]], no_median, 10, rho=0.5)
    for n in (0, -3):
        with pytest.raises(ValueError, match="N"):
            sample_paths(q, LV, n, rho=0.5)
    with pytest.raises(ValueError, match="positive definite"):
        sample_paths(q, LV, 10, R=torch.tensor([[1, .9, -.9], [.9, 1, .9], [-.9, .9, 1.0]]))
    with pytest.raises(ValueError, match="tail"):
        inverse_quantile(q[0], LV, torch.rand(3, 4), tail="gpd")


def test_config_rejects_bad_knobs():
    assert config.resolve("smoke").n_paths == 50
    with pytest.raises(ParameterError):
        config.resolve("smoke", n_paths=0)
    with pytest.raises(ParameterError):
        config.resolve("smoke", phi=1.0)
    with pytest.raises(ParameterError):
        config.resolve("smoke", tail="gpd")
    with pytest.raises(ParameterError):
        config.resolve("smoke", context=60)


def test_ar_sampler_counts_calls():
    from lab import tsfm
    from lab.copula_sample_paths import samplers
    mcfg = tsfm.mini_bolt(context=16, horizon=10, d_model=8, n_layers=1, n_heads=2, d_ff=16)
    m = samplers.CountingModel(tsfm.build_model(mcfg))
    ctx = np.random.default_rng(0).normal(size=(3, 16))
    p = samplers.ar_paths(m, ctx, 5, commit=4)
    assert p.shape == (3, 5, 10) and m.calls == 3 and m.sequences == 3 * 5 * 3
    m.calls = m.sequences = 0
    samplers.ar_paths(m, ctx, 5, commit=4, batched=False)
    assert m.calls == 5 * 3 and m.sequences == 3 * 5 * 3
    m.calls = 0
    y, _ = samplers.copula_paths(m, ctx, 7)
    assert m.calls == 1 and y.shape == (3, 7, 10)


def test_smoke_tier_exact_claims_reproduce():
    cfg = config.resolve("smoke")
    st, orc, bo = experiments.structural(cfg), experiments.oracle(cfg), experiments.bolt(cfg)
    claims = Claims("copula_sample_paths", "smoke")
    cclaims.all_claims(claims, st, orc, bo)
    status = {c.id: c.status.value for c in claims.items}
    for cid in ("copula-marginals-preserved", "copula-latent-acf", "copula-exact-R-recovery", "copula-speedup"):
        assert status[cid] == "reproduced", (cid, status[cid])
    assert status["copula-speedup-gpu"] == "not checkable at this tier"


def test_full_tier_model_and_samplers_run_at_its_width():
    """The full tier (GPU, not run) configures d=128, 4 layers: its model builds and every sampler
    runs on it at tiny N on the CPU (untrained weights)."""
    from lab import tsfm
    from lab.copula_sample_paths import samplers
    cfg = config.resolve("full")
    assert cfg.n_paths == 200 and cfg.d_model == 128 and cfg.n_layers == 4 and cfg.device == "auto"
    assert config.resolve("smoke").device == config.resolve("book").device == "cpu"
    assert 0 < config.FULL_TIER_SECONDS <= 240
    m = samplers.CountingModel(tsfm.build_model(experiments.model_config(cfg)))
    ctx = np.abs(np.random.default_rng(0).normal(size=(2, cfg.context))) + 1
    y, q = samplers.copula_paths(m, ctx, 3)
    assert y.shape == (2, 3, cfg.horizon) and torch.isfinite(y).all()
    ar = samplers.ar_paths(m, ctx, 2, commit=cfg.ar_commit)
    assert ar.shape == (2, 2, cfg.horizon) and m.calls == 1 + -(-cfg.horizon // cfg.ar_commit)


def test_increment_acf_of_independent_steps_is_minus_half():
    from lab.copula_sample_paths.scores import increment_acf
    x = latent_normals((1, 400, 200), 9)  # i.i.d. values: increments have lag-1 correlation -1/2
    assert abs(float(increment_acf(x).mean()) + 0.5) < 0.02
    walk = x.cumsum(-1)  # a random walk: i.i.d. increments, correlation 0
    assert abs(float(increment_acf(walk).mean())) < 0.02


def test_full_tier_code_path_at_toy_size_on_the_cpu(tmp_path, monkeypatch):
    """The mini-Bolt study of the full tier with its device knob set to "cpu" at toy sizes: training,
    the three samplers (batched and unbatched AR), the scores and the timing sweep run through the
    device path and hand back CPU arrays."""
    monkeypatch.setenv("LAB_CACHE_DIR", str(tmp_path))
    cfg = config.resolve("full", device="cpu", d_model=8, n_layers=1, steps=2, batch_size=4, n_paths=4, n_test=3,
                         unbatched_windows=2, time_n=(2, 3), time_windows=2, synth_series=2, replicate_seeds=2,
                         rho_grid=(0.0, 0.5))
    out = experiments.bolt(cfg)
    assert out["train"]["device"] == "cpu"
    assert out["quantiles"].shape == (3, cfg.horizon, 9) and np.isfinite(out["quantiles"]).all()
    for name in ("independent", "copula", "autoregressive"):
        assert np.isfinite(out["scores"][name]["es"]).all() and out["paths"][name].shape == (3, cfg.n_paths, cfg.horizon)
    with pytest.raises(ParameterError, match="device"):
        config.resolve("book", device="gpu")
