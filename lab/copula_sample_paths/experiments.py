"""The chapter's experiments (``book/copula_sample_paths.md``); each returns a dict of arrays.

- :func:`structural`: the sampler on a fixed quantile grid (KS per step, latent correlation,
  recursion vs Cholesky, the ρ = 0 and ρ → 1 limits);
- :func:`oracle`: a Gaussian AR(1) with known φ, exact predictive marginals; independent,
  Toeplitz (estimated ρ and ρ = φ), exact-R copula and exact joint sampling;
- :func:`seasonal_failure`: seasonal mean plus white noise: the lag-1 estimate of ρ is high,
  the truth is independent across h;
- :func:`bolt`: a mini-Bolt trained in-process (cached) on M4 hourly + synthetic series, scored
  on held-out M4-hourly windows: independent, copula and AR sampling; a ρ sweep; times.

Scores are computed on each window divided by the mean absolute value of its context (every
score here is positively homogeneous, so orderings within a window are unaffected).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from scipy import stats

from lab import tsfm

from . import samplers
from .copula import estimate_rho, exact_ar1_correlation, latent_normals, sample_paths, toeplitz
from .scores import aggregate_crps, crps_samples, energy_score, increment_acf, variogram_score

#: A skewed 9-level grid for the sampler checks (Bolt's levels 0.1..0.9).
LEVELS = tuple(np.round(np.arange(1, 10) / 10, 2).tolist())


def iqf_cdf(y: np.ndarray, knots: np.ndarray, levels) -> np.ndarray:
    """CDF of the linear-tail IQF through ``knots`` at ``levels`` (the inverse of :func:`inverse_quantile`)."""
    a = np.asarray(levels, dtype=float)
    s0 = (knots[1] - knots[0]) / (a[1] - a[0])
    s1 = (knots[-1] - knots[-2]) / (a[-1] - a[-2])
    xs = np.concatenate([[knots[0] - s0 * a[0]], knots, [knots[-1] + s1 * (1 - a[-1])]])
    us = np.concatenate([[0.0], a, [1.0]])
    return np.interp(y, xs, us)


def fixed_grid(H: int) -> np.ndarray:
    """Skewed quantile knots ``[1, H, 9]`` that widen with h (a log-normal-like forecast)."""
    from scipy.special import ndtri
    z = ndtri(np.array(LEVELS))
    h = np.arange(1, H + 1)[:, None]
    return (np.exp(0.3 * np.sqrt(h) * z) + 0.1 * h)[None]


def scores(paths, y) -> dict:
    """ES, VS, aggregate CRPS ``[B]`` and CRPS per step ``[B, H]``."""
    return dict(es=energy_score(paths, y).numpy(), vs=variogram_score(paths, y).numpy(),
                agg=aggregate_crps(paths, y).numpy(), crps=crps_samples(paths, y).numpy())


def structural(cfg) -> dict:
    H, N = cfg.struct_h, cfg.struct_n
    q = torch.as_tensor(fixed_grid(H))
    out = dict(ks_p={}, corr_err={}, chol_ks_p={}, crps_gap={})
    for j, rho in enumerate(cfg.struct_rhos):
        y, z = sample_paths(q, LEVELS, N, rho=rho, seed=cfg.seed + j, return_latent=True)
        y, z = y[0].numpy(), z[0].numpy()
        out["ks_p"][rho] = np.array([stats.kstest(y[:, h], lambda v, h=h: iqf_cdf(v, q[0, h].numpy(), LEVELS)).pvalue
                                     for h in range(H)])
        C = np.corrcoef(z.T)
        out["corr_err"][rho] = float(np.abs(C - toeplitz(rho, H).numpy()).max())
        yc = sample_paths(q, LEVELS, N, rho=rho, seed=cfg.seed + 100 + j, method="cholesky")[0].numpy()
        out["chol_ks_p"][rho] = np.array([stats.ks_2samp(y[:, h], yc[:, h]).pvalue for h in range(H)])
    eps = latent_normals((1, 2000, H), cfg.seed)
    y0 = sample_paths(q, LEVELS, 2000, rho=0.0, eps=eps)
    from .iqf import inverse_quantile
    yi = inverse_quantile(q, LEVELS, torch.special.ndtr(eps).transpose(1, 2)).transpose(1, 2)
    out["rho0_gap"] = float((y0 - yi).abs().max())
    _, z1 = sample_paths(q, LEVELS, 2000, rho=0.9999, seed=cfg.seed, return_latent=True)
    u1 = torch.special.ndtr(z1)
    out["rho1_spread"] = float((u1.max(-1).values - u1.min(-1).values).max())
    return out


def _ar1_series(n, C, H, phi, rng):
    x = np.empty((n, C + H))
    x[:, 0] = rng.standard_normal(n) / math.sqrt(1 - phi**2)
    e = rng.standard_normal((n, C + H))
    for t in range(1, C + H):
        x[:, t] = phi * x[:, t - 1] + e[:, t]
    return x[:, :C], x[:, C:]


def oracle(cfg) -> dict:
    """Exact Gaussian marginals ``N(φ^h x_C, v_h)``; methods differ only in the latent correlation."""
    rng = np.random.default_rng(cfg.seed + 7)
    B, C, H, N, phi = cfg.oracle_series, cfg.oracle_context, cfg.oracle_horizon, cfg.n_paths, cfg.phi
    ctx, fut = _ar1_series(B, C, H, phi, rng)
    h = np.arange(1, H + 1)
    mu = torch.as_tensor(phi**h[None] * ctx[:, -1:])
    sd = torch.as_tensor(np.sqrt((1 - phi ** (2 * h)) / (1 - phi**2)))[None]
    Rex = exact_ar1_correlation(phi, H)
    rho_hat = estimate_rho(ctx, cfg.rho_method)
    eps = lambda k: latent_normals((B, N, H), cfg.seed * 1000 + k)  # noqa: E731

    def gauss(z):
        return mu[:, None] + sd[:, None] * z

    from .copula import ar1_latent, cholesky_latent
    paths = {
        "independent": gauss(eps(1)),
        "Toeplitz, estimated ρ": gauss(ar1_latent(eps(2), torch.as_tensor(rho_hat)[:, None].expand(B, N))),
        "Toeplitz, ρ = φ": gauss(ar1_latent(eps(3), phi)),
        "copula, exact R": gauss(torch.special.ndtri(torch.special.ndtr(cholesky_latent(eps(4), Rex)))),
        "exact joint": mu[:, None] + eps(5) @ torch.linalg.cholesky(Rex * (sd.T @ sd)).T,
    }
    y = torch.as_tensor(fut)
    res = {k: scores(v, y) for k, v in paths.items()}
    return dict(scores=res, rho_hat=rho_hat, R_exact=Rex.numpy(), R_toeplitz=toeplitz(phi, H).numpy(),
                phi=phi, H=H)


def seasonal_failure(cfg) -> dict:
    """``x_t = A sin(2πt/s + θ) + ε_t``: the exact predictive is independent across h."""
    rng = np.random.default_rng(cfg.seed + 11)
    B, C, H, N, s = cfg.oracle_series, cfg.oracle_context, cfg.oracle_horizon, cfg.n_paths, cfg.season
    theta = rng.uniform(0, 2 * np.pi, (B, 1))
    t = np.arange(C + H)[None]
    mean = cfg.season_amp * np.sin(2 * np.pi * t / s + theta)
    x = mean + rng.standard_normal((B, C + H))
    ctx, fut = x[:, :C], x[:, C:]
    mu = torch.as_tensor(mean[:, C:])
    rho_hat = {m: estimate_rho(ctx, m) for m in ("rank_gauss", "levels", "diff")}
    res = {}
    for k, (name, r) in enumerate([("independent", np.zeros(B)), ("copula, ρ̂ (rank-Gauss lag 1)", rho_hat["rank_gauss"]),
                                   ("copula, ρ̂ (differences)", rho_hat["diff"])]):
        from .copula import ar1_latent
        z = ar1_latent(latent_normals((B, N, H), cfg.seed * 1000 + 50 + k), torch.as_tensor(r)[:, None].expand(B, N))
        res[name] = scores(mu[:, None] + z, torch.as_tensor(fut))
    return dict(scores=res, rho_hat={m: v for m, v in rho_hat.items()})


def model_config(cfg):
    return tsfm.mini_bolt(context=cfg.context, horizon=cfg.horizon, d_model=cfg.d_model, n_layers=cfg.n_layers,
                          n_heads=4 if cfg.d_model >= 16 else 2, d_ff=2 * cfg.d_model, steps=cfg.steps,
                          batch_size=cfg.batch_size, seed=cfg.seed)


def corpus(cfg):
    c = tsfm.real_corpus(tuple(cfg.real_datasets))
    if cfg.synth_series:
        c = c + tsfm.synthetic_corpus("kernel_synth", cfg.synth_series, 4 * cfg.context, seed=cfg.seed + 1)
    return c


def test_windows(cfg):
    """Held-out M4-hourly windows: the last ``context`` training values, then the test's first ``horizon``."""
    from lab import data
    ds = data.load("m4_hourly", download=False)
    rng = np.random.default_rng(cfg.seed + 3)
    idx = np.sort(rng.choice(len(ds.train), min(cfg.n_test, len(ds.train)), replace=False))
    ctx = np.stack([np.asarray(ds.train[i][-cfg.context:], dtype=np.float64) for i in idx])
    fut = np.stack([np.asarray(ds.test[i][:cfg.horizon], dtype=np.float64) for i in idx])
    return ctx, fut, idx


def bolt(cfg, show_progress: bool = False) -> dict:
    mcfg = model_config(cfg)
    from .config import device
    model = tsfm.train(mcfg, corpus(cfg), show_progress=show_progress, device=device(cfg))
    ctx, fut, idx = test_windows(cfg)
    scale = np.abs(ctx).mean(1, keepdims=True)
    ctx_s, fut_s = ctx / scale, fut / scale  # the model is scale-equivariant up to float error
    y = torch.as_tensor(fut_s)
    N, H, p = cfg.n_paths, cfg.horizon, cfg.ar_commit
    m = samplers.CountingModel(model)
    out = dict(train=dict(model.train_stats) if isinstance(model.train_stats, dict) else {}, idx=idx)
    (ind, q), c_ind, w_ind = samplers.timed(samplers.independent_paths, m, ctx_s, N, seed=cfg.seed, tail=cfg.tail)
    calls_ind = m.calls
    m.calls = m.sequences = 0
    rho_hat = estimate_rho(ctx_s, cfg.rho_method)
    (cop, _), c_cop, w_cop = samplers.timed(samplers.copula_paths, m, ctx_s, N, rho=rho_hat, seed=cfg.seed + 1,
                                            tail=cfg.tail)
    calls_cop, seqs_cop = m.calls, m.sequences
    m.calls = m.sequences = 0
    ar, c_ar, w_ar = samplers.timed(samplers.ar_paths, m, ctx_s, N, commit=p, seed=cfg.seed + 2, tail=cfg.tail)
    calls_ar, seqs_ar = m.calls, m.sequences
    # unbatched AR on a subset of windows, and the copula on the same subset, for the time ratio
    sub = ctx_s[:cfg.unbatched_windows]
    m.calls = m.sequences = 0
    _, c_aru, w_aru = samplers.timed(samplers.ar_paths, m, sub, N, commit=p, seed=cfg.seed + 2, batched=False,
                                     tail=cfg.tail)
    calls_aru, seqs_aru = m.calls, m.sequences
    _, c_copsub, w_copsub = samplers.timed(samplers.copula_paths, m, sub, N, rho=rho_hat[:len(sub)], seed=cfg.seed)
    _, c_arsub, w_arsub = samplers.timed(samplers.ar_paths, m, sub, N, commit=p, seed=cfg.seed + 2)
    res = {"independent": scores(ind, y), "copula": scores(cop, y), "autoregressive": scores(ar, y)}
    res["direct quantiles"] = dict(crps=_quantile_crps(q, cfg, y))
    # the marginal-CRPS equality replicated over further sampling seeds (z of the paired difference)
    crps_z = []
    for k in range(cfg.replicate_seeds):
        a = crps_samples(sample_paths(q, mcfg.quantiles, N, rho=0.0, seed=cfg.seed + 500 + k, tail=cfg.tail), y)
        b = crps_samples(sample_paths(q, mcfg.quantiles, N, rho=torch.as_tensor(rho_hat), seed=cfg.seed + 700 + k,
                                      tail=cfg.tail), y)
        d = (b - a).mean(1).numpy()
        crps_z.append(float(d.mean() / (d.std(ddof=1) / np.sqrt(len(d)))))
    sweep = {}
    for j, r in enumerate(cfg.rho_grid):
        pth = sample_paths(q, mcfg.quantiles, N, rho=r, seed=cfg.seed + 10 + j, tail=cfg.tail)
        s = scores(pth, y)
        sweep[r] = {k: float(np.mean(v)) for k, v in s.items()}
    out.update(
        increment_acf={"truth": float(increment_acf(y[:, None]).mean()),
                       **{k: float(increment_acf(v).mean()) for k, v in (("independent", ind), ("copula", cop),
                                                                          ("autoregressive", ar))}},
        scores=res, rho_hat=rho_hat, crps_equal_z=crps_z, rho_sweep=sweep, quantiles=q.numpy(), ctx=ctx_s, fut=fut_s,
        paths={"independent": ind[:4].numpy(), "autoregressive": ar[:4].numpy(), "copula": cop[:4].numpy()},
        calls=dict(independent=calls_ind, copula=calls_cop, copula_sequences=seqs_cop, ar_batched=calls_ar,
                   ar_batched_sequences=seqs_ar, ar_unbatched=calls_aru, ar_unbatched_sequences=seqs_aru,
                   B=len(ctx_s), B_sub=len(sub), N=N, H=H, p=p),
        cpu_s=dict(independent=c_ind, copula=c_cop, ar_batched=c_ar, copula_sub=c_copsub, ar_batched_sub=c_arsub,
                   ar_unbatched_sub=c_aru),
        wall_s=dict(independent=w_ind, copula=w_cop, ar_batched=w_ar, copula_sub=w_copsub, ar_batched_sub=w_arsub,
                    ar_unbatched_sub=w_aru),
        time_vs_n=time_vs_n(cfg, m, sub[:cfg.time_windows], rho_hat[:cfg.time_windows]),
        model_cfg=mcfg, n_parameters=model.n_parameters(),
    )
    return out


def _quantile_crps(q, cfg, y) -> np.ndarray:
    """CRPS per step of the model's IQF itself (no sampling): ∫ 2·pinball over a fine level grid."""
    from .iqf import inverse_quantile
    lv = (np.arange(200) + 0.5) / 200
    u = torch.as_tensor(lv)[None, None].expand(q.shape[0], q.shape[1], -1)
    x = inverse_quantile(q, tsfm.QUANTILES, u, tail=cfg.tail)
    d = y[..., None] - x
    return (2 * d * (torch.as_tensor(lv) - (d < 0).double())).mean(-1).numpy()


def time_vs_n(cfg, m, ctx, rho) -> dict:
    """CPU seconds of copula and batched AR sampling against the number of paths N."""
    out = {"N": list(cfg.time_n), "copula": [], "ar_batched": []}
    for n in cfg.time_n:
        out["copula"].append(samplers.timed(samplers.copula_paths, m, ctx, n, rho=rho, seed=cfg.seed)[1])
        out["ar_batched"].append(samplers.timed(samplers.ar_paths, m, ctx, n, commit=cfg.ar_commit, seed=cfg.seed)[1])
    return out
