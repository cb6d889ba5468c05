"""The chapter's experiments; each takes the resolved :class:`~lab.probhard_e2e.config.Config`.

- :func:`exactness`: DPPL feasibility (float64 / float32), projected-sample covariance, closed-form
  against sample CRPS, the Newton layer's Jacobian against finite differences;
- :func:`pde_variants`: the six variants on heat / PME / Stefan (MSE, CRPS, constraint error, PME front);
- :func:`pde_nonlinear`: the nonlinear PME constraint ``G u^m = G u_true^m`` (full tier);
- :func:`hierarchy_variants`: the M4-hourly hierarchy;
- :func:`step_timing`: a closed-form CRPS training step against a sample-CRPS one;
- :func:`spike_task`: oblique against orthogonal on spike-injected heteroscedastic data.
"""
from __future__ import annotations

import time

import numpy as np
import torch

from lab.cache import cached
from lab.progress import progress
from lab.probhard_e2e import newton, problems, train
from lab.probhard_e2e.hierarchy import m4_hourly_hierarchy
from lab.probhard_e2e.models import EVAL_METRIC, TRAINED_AS, VARIANTS
from lab.probhard_e2e.projection import constraint_error, project, project_samples
from lab.probhard_e2e.scores import crps_gaussian, crps_samples

CACHE_VERSION = 1


def exactness(cfg) -> dict:
    """Exact and structural checks on random problems (no training)."""
    g = torch.Generator().manual_seed(cfg.seed)
    out = {}
    n, q, S = cfg.exact_n, cfg.exact_q, cfg.exact_samples
    for dtype, name in ((torch.float64, "fp64"), (torch.float32, "fp32")):
        mu = torch.randn(8, n, generator=g, dtype=torch.float64)
        var = torch.rand(8, n, generator=g, dtype=torch.float64) * 2 + 0.05
        A = torch.randn(q, n, generator=g, dtype=torch.float64)
        b = torch.randn(8, q, generator=g, dtype=torch.float64)
        for metric in ("oblique", "orthogonal"):
            mu_h, _ = project(mu.to(dtype), var.to(dtype), A.to(dtype), b.to(dtype), metric)
            z = mu.unsqueeze(1) + var.sqrt().unsqueeze(1) * torch.randn(8, 64, n, generator=g, dtype=torch.float64)
            zp = project_samples(z.to(dtype), var.to(dtype), A.to(dtype), b.to(dtype), metric)
            out[f"rel_ce_{name}_{metric}"] = max(constraint_error(mu_h, A.to(dtype), b.to(dtype), relative=True).max().item(),
                                                 constraint_error(zp, A.to(dtype), b.unsqueeze(1).to(dtype), relative=True).max().item())
    # projected-sample covariance against Sigma_hat, entry by entry in standard errors
    mu, var = torch.randn(n, generator=g, dtype=torch.float64), torch.rand(n, generator=g, dtype=torch.float64) + 0.1
    A, b = torch.randn(q, n, generator=g, dtype=torch.float64), torch.randn(q, generator=g, dtype=torch.float64)
    cov_z = {}
    for metric in ("oblique", "orthogonal"):
        mu_h, C = project(mu, var, A, b, metric, full_cov=True)
        z = mu + var.sqrt() * torch.randn(S, n, generator=g, dtype=torch.float64)
        zp = project_samples(z, var, A, b, metric)
        emp = torch.cov(zp.T)
        d = torch.diagonal(C)
        se = torch.sqrt((torch.outer(d, d) + C**2) / S).clamp_min(1e-300)
        mask = torch.outer(d, d) > 1e-20
        zscores = ((emp - C).abs() / se)[mask]
        # one statistic for the whole matrix: ||emp - C||_F over its standard error sqrt(sum se^2)
        frob_z = (torch.linalg.norm(emp - C) / torch.sqrt((se**2).sum())).item()
        mean_z = ((zp.mean(0) - mu_h).abs() / torch.sqrt(d / S).clamp_min(1e-300))[d > 1e-20]
        # the largest of n^2 |z| values is ~ 4 under the null; report the share beyond 3 and the max
        cov_z[metric] = dict(frob_z=frob_z, max_z=zscores.max().item(), frac_over_3=(zscores > 3).double().mean().item(),
                             mean_max_z=mean_z.max().item(), n_entries=int(mask.sum()))
    out["cov"] = cov_z
    # closed-form CRPS against a 1e5-sample estimate
    m = torch.randn(16, generator=g, dtype=torch.float64)
    s2 = torch.rand(16, generator=g, dtype=torch.float64) * 3 + 0.01
    y = m + torch.randn(16, generator=g, dtype=torch.float64) * 2
    # stratified draws, one uniform per 1/N-quantile stratum: i.i.d. draws at N = 1e5 carry ~0.8% Monte-Carlo
    # error where y is near mu (CRPS ~ 0.23 sigma), as large as the 1% being checked
    N = cfg.crps_samples
    u = (torch.arange(N, dtype=torch.float64) + torch.rand(16, N, generator=g, dtype=torch.float64)) / N
    x = m[:, None] + s2.sqrt()[:, None] * torch.special.ndtri(u)
    closed = crps_gaussian(m, s2, y, eps=0.0)
    out["crps_rel_err"] = ((crps_samples(x, y) - closed).abs() / closed).max().item()
    # Newton layer on a sphere ||u||^2 = r^2: Jacobians against central differences
    h = lambda u: (u * u).sum(-1, keepdim=True) - 4.0
    z0 = torch.randn(3, 6, generator=g, dtype=torch.float64)
    v0 = torch.rand(3, 6, generator=g, dtype=torch.float64) + 0.1
    u0, lam, iters = newton.newton_kkt(z0, v0, h)
    Jc, Jl = newton.jacobians(u0, lam, v0, h)
    Jfd = torch.zeros_like(Jc)
    for j in range(6):
        e = torch.zeros(6, dtype=torch.float64)
        e[j] = 1e-6
        Jfd[:, :, j] = (newton.newton_kkt(z0 + e, v0, h)[0] - newton.newton_kkt(z0 - e, v0, h)[0]) / 2e-6
    out["newton"] = dict(iters=iters, residual=torch.vmap(h)(u0).abs().max().item(),
                         jac_err_curvature=(Jc - Jfd).abs().max().item(), jac_err_linearised=(Jl - Jfd).abs().max().item())
    return out


def _pde_metrics(data, mu, var, name):
    U = torch.tensor(data.u)
    m = dict(mse=((mu - U) ** 2).mean().item(), crps=crps_gaussian(mu, var, U).mean().item(),
             ce=constraint_error(mu, torch.tensor(data.G)[None], torch.tensor(data.b)[..., None]).max().item(),
             rel_ce=constraint_error(mu, torch.tensor(data.G)[None], torch.tensor(data.b)[..., None], relative=True).max().item())
    if name == "pme":
        m["front_err"] = front_error(data, mu.numpy())
    return m


def front_error(data, mu: np.ndarray, level: float = 0.1) -> float:
    """Mean |front(mu) - front(u)| over rows, front = length of the set where the field exceeds ``level``."""
    dx = data.x[1] - data.x[0]
    est = lambda f: (f > level).sum(-1) * dx
    return float(np.abs(est(mu) - est(data.u)).mean())


def _train_cfg(cfg) -> dict:
    return dict(steps=cfg.steps, batch=cfg.batch, lr=cfg.lr, width=cfg.width, depth=cfg.depth)


def pde_variants(cfg, name: str) -> dict:
    """Per variant and seed: MSE, CRPS, max |G mu - b| (and relative), PME front error; plus one example."""
    res = {v: {} for v in cfg.variants}
    example = {}
    for k in progress(range(cfg.n_seeds), desc=f"{name} seeds"):
        seed = cfg.seed + k
        tr = problems.make_problem(name, cfg.n_train, cfg.nx, cfg.nt, seed)
        te = problems.make_problem(name, cfg.n_test, cfg.nx, cfg.nt, 10_000 + seed)
        states = {}
        for v in cfg.variants:
            tv = TRAINED_AS[v]
            if tv not in states:
                key = dict(task="pde", problem=name, variant=tv, seed=seed, n_train=cfg.n_train, nx=cfg.nx, nt=cfg.nt,
                           soft_weight=cfg.soft_weight, **_train_cfg(cfg))
                states[tv] = cached("probhard_e2e", key, lambda: train.train_pde(
                    tv, tr, seed=seed, soft_weight=cfg.soft_weight, **_train_cfg(cfg)), version=CACHE_VERSION)
            mu, var, mu_p, var_p = train.predict_pde(states[tv], EVAL_METRIC[v], te, cfg.width, cfg.depth)
            for key_, val in _pde_metrics(te, mu_p, var_p, name).items():
                res[v].setdefault(key_, []).append(val)
            if k == 0:
                example[v] = dict(mu=mu_p[0].numpy(), var=var_p[0].numpy(), var_before=var[0].numpy())
        if k == 0:
            example["truth"], example["x"], example["t"] = te.u[0], te.x, te.t
            example["params"] = te.params[0]
    return dict(metrics={v: {k_: np.array(x) for k_, x in d.items()} for v, d in res.items()}, example=example)


def pde_nonlinear(cfg) -> dict:
    """PME with integer m and the nonlinear constraint ``G u^m = G u_true^m`` (Newton DPPL)."""
    out = {}
    for m in cfg.nonlinear_m:
        def fam(n, seed):
            d = problems.make_problem("pme", n, cfg.nx, cfg.nt, seed)
            d.params[:, 0] = m
            d.u = problems.solution("pme", d.params, d.t, d.x)
            d.b = d.u @ d.G
            return d
        tr, te = fam(cfg.n_train, cfg.seed), fam(cfg.n_test, cfg.seed + 10_000)
        res = {}
        for v, tv in (("inference_only", "unconstrained"), ("oblique", "oblique")):
            state = train.train_pde(tv, tr, seed=cfg.seed, **_train_cfg(cfg)) if tv == "unconstrained" else \
                _train_nonlinear(tr, m, cfg)
            mu, var, _, _ = train.predict_pde(state, None, te, cfg.width, cfg.depth)
            up, vp = project_power_mass(mu.reshape(-1, mu.shape[-1]), var.reshape(-1, var.shape[-1]), te, m)
            U = torch.tensor(te.u).reshape(up.shape)
            res[v] = dict(mse=((up - U) ** 2).mean().item(), crps=crps_gaussian(up, vp, U).mean().item(),
                          ce=((torch.tensor(te.G) * up**m).sum(-1) - torch.tensor((te.u**m) @ te.G).reshape(-1)).abs().max().item())
        out[m] = res
    return out


def project_power_mass(mu, var, data, m: int, rows=None, check: bool = True):
    """Newton DPPL of rows ``[R, nx]`` onto ``G u^m = G u_true^m`` (each row's right-hand side as context)."""
    G = torch.tensor(data.G, dtype=mu.dtype)
    bm = torch.tensor((data.u ** m) @ data.G, dtype=mu.dtype).reshape(-1, 1)
    bm = bm if rows is None else bm[rows]
    h = lambda u, c: (G * u**m).sum(-1, keepdim=True) - c
    return newton.project_nonlinear(mu, var, h, context=bm, check=check)


def _train_nonlinear(tr, m, cfg) -> dict:
    """E2E training through the Newton layer: every (function, t) row of a batch projected at once."""
    torch.manual_seed(cfg.seed)
    model = train.pde_model(tr, cfg.width, cfg.depth).double()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    X, U, _, _ = train.pde_tensors(tr, torch.float64)
    gen = torch.Generator().manual_seed(cfg.seed)
    nt, nx = U.shape[1], U.shape[2]
    for _ in range(cfg.steps):
        f = torch.randint(0, X.shape[0], (min(cfg.batch, X.shape[0]),), generator=gen)
        mu, var = model(X[f])
        rows = (f[:, None] * nt + torch.arange(nt)[None, :]).reshape(-1)
        mu_p, var_p = project_power_mass(mu.reshape(-1, nx), var.reshape(-1, nx), tr, m, rows, check=False)
        loss = crps_gaussian(mu_p, var_p, U[f].reshape(-1, nx)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return {k: v.float() for k, v in model.state_dict().items()}


def hierarchy_variants(cfg) -> dict:
    """Scaled CRPS (sum CRPS / sum |y|), MSE and max |[I -S] mu| per variant and seed on the M4 test hours."""
    hier = m4_hourly_hierarchy(cfg.hier_bottom, cfg.hier_group, cfg.hier_length)
    A, H = hier.A, hier.horizon
    res = {v: {} for v in cfg.hier_variants}
    kw = dict(L=cfg.hier_lookback, H=H, width=cfg.hier_width, depth=cfg.depth)
    y = torch.tensor(hier.test.T)
    for k in progress(range(cfg.n_seeds), desc="hierarchy seeds"):
        seed = cfg.seed + k
        states = {}
        for v in cfg.hier_variants:
            tv = TRAINED_AS[v]
            if tv not in states:
                key = dict(task="hier", variant=tv, seed=seed, bottom=cfg.hier_bottom, group=cfg.hier_group,
                           length=cfg.hier_length, steps=cfg.hier_steps, batch=cfg.hier_batch, lr=cfg.lr,
                           soft_weight=cfg.soft_weight, **kw)
                states[tv] = cached("probhard_e2e", key, lambda: train.train_hierarchy(
                    tv, hier.train, A, steps=cfg.hier_steps, batch=cfg.hier_batch, lr=cfg.lr, seed=seed,
                    soft_weight=cfg.soft_weight, **kw), version=CACHE_VERSION)
            mu, var, mu_p, var_p = train.predict_hierarchy(states[tv], EVAL_METRIC[v], hier.train, A, **kw)
            c = crps_gaussian(mu_p, var_p, y)
            for key_, val in dict(scrps=(c.sum() / y.abs().sum()).item(),
                                  scrps_bottom=(c[:, hier.n_agg:].sum() / y[:, hier.n_agg:].abs().sum()).item(),
                                  mse=((mu_p - y) ** 2).mean().item(),
                                  ce=constraint_error(mu_p, torch.tensor(A), torch.zeros(A.shape[0], dtype=torch.float64)).max().item(),
                                  rel_ce=constraint_error(mu_p, torch.tensor(A), torch.zeros(A.shape[0], dtype=torch.float64), relative=True).max().item(),
                                  ).items():
                res[v].setdefault(key_, []).append(val)
    return dict(metrics={v: {k_: np.array(x) for k_, x in d.items()} for v, d in res.items()},
                n_bottom=cfg.hier_bottom, n_agg=hier.n_agg, horizon=H)


def step_timing(cfg) -> dict:
    """Seconds per training step (oblique DPPL on PME): closed-form CRPS against an S-sample CRPS.

    CPU seconds (``time.process_time``) where training runs on the CPU; where it runs on a GPU
    (``train.DEVICE``), wall seconds between two ``torch.cuda.synchronize()`` calls, since the
    CPU time of asynchronous kernel launches says nothing about the step's cost.
    """
    data = problems.make_problem("pme", cfg.n_train, cfg.nx, cfg.nt, cfg.seed)
    on_gpu = train.DEVICE.type == "cuda"

    def clock() -> float:
        if on_gpu:
            torch.cuda.synchronize()
            return time.perf_counter()
        return time.process_time()

    out = {}
    for label, S in (("closed_form", 0), ("samples", cfg.timing_samples)):
        train.train_pde("oblique", data, seed=cfg.seed, sample_crps=S, **{**_train_cfg(cfg), "steps": 3})  # warm-up
        times = []
        for r in range(cfg.timing_repeats):
            t0 = clock()
            train.train_pde("oblique", data, seed=cfg.seed + r, sample_crps=S, **{**_train_cfg(cfg), "steps": cfg.timing_steps})
            times.append((clock() - t0) / cfg.timing_steps)
        out[label] = np.array(times)
    out["ratio"] = out["samples"] / out["closed_form"]
    return out


def spike_task(cfg) -> dict:
    """Oblique against orthogonal DPPL (both CRPS-trained) on spike-injected data; also the oracle."""
    res = {"oblique": {}, "orthogonal": {}}
    example = {}
    for k in progress(range(cfg.n_seeds), desc="spike seeds"):
        seed = cfg.seed + k
        f_tr, y_tr, _ = train.spike_data(cfg.spike_train, cfg.spike_n, cfg.spike_p, cfg.spike_sd, 0.05, seed)
        f_te, y_te, _ = train.spike_data(cfg.spike_test, cfg.spike_n, cfg.spike_p, cfg.spike_sd, 0.05, seed + 10_000)
        for v in ("oblique", "orthogonal"):
            key = dict(task="spike", variant=v, seed=seed, n=cfg.spike_n, p=cfg.spike_p, sd=cfg.spike_sd,
                       n_train=cfg.spike_train, steps=cfg.spike_steps, batch=cfg.batch, lr=cfg.lr, width=cfg.width, depth=cfg.depth)
            state = cached("probhard_e2e", key, lambda: train.train_spike(
                v, f_tr, y_tr, steps=cfg.spike_steps, batch=64, lr=cfg.lr, width=cfg.width, depth=cfg.depth, seed=seed),
                version=CACHE_VERSION)
            mu, var, mu_p, var_p = train.predict_spike(state, v, f_te, y_te, width=cfg.width, depth=cfg.depth)
            Y = torch.tensor(y_te)
            res[v].setdefault("crps", []).append(crps_gaussian(mu_p, var_p, Y).mean().item())
            res[v].setdefault("mse", []).append(((mu_p - Y) ** 2).mean().item())
            res[v].setdefault("ce", []).append(constraint_error(mu_p, torch.ones(1, cfg.spike_n, dtype=torch.float64),
                                                                Y.sum(1, keepdim=True)).max().item())
            if k == 0:
                example[v] = dict(var_before=var[0].numpy(), var_after=var_p[0].numpy(), flags=f_te[0, 2:])
    return dict(metrics={v: {k_: np.array(x) for k_, x in d.items()} for v, d in res.items()}, example=example)
