"""Training loops for the three tasks: PDE families, the M4-hourly hierarchy, the spike task.

Each loop trains one variant (see :mod:`lab.probhard_e2e.models`) with Adam from a seed and
returns the model's state dict; models are cached by configuration hash (:mod:`lab.cache`).
Evaluation always projects in float64, so a DPPL's constraint error is rounding-level.
"""
from __future__ import annotations

import numpy as np
import torch

from lab.probhard_e2e.models import GaussianMLP, TRAIN_METRIC, dppl, loss_fn
from lab.probhard_e2e.problems import PDEData

#: training runs on the GPU when there is one (the full tier), else on the CPU; evaluation on the CPU
DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _cpu_state(model) -> dict:
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}

# ---------------------------------------------------------------------------------------------
# PDE families: an MLP per point, (params, t, x) -> (mu, var); one constraint G u(t, .) = b(t) per row


def pde_model(data: PDEData, width: int, depth: int) -> GaussianMLP:
    return GaussianMLP(data.params.shape[1] + 2, 1, width, depth)


def pde_tensors(data: PDEData, dtype=torch.float32):
    X = torch.tensor(data.features(), dtype=dtype)
    return X, torch.tensor(data.u, dtype=dtype), torch.tensor(data.b, dtype=dtype), torch.tensor(data.G, dtype=dtype)


def train_pde(variant: str, data: PDEData, *, steps: int, batch: int, lr: float, width: int, depth: int,
              seed: int, soft_weight: float = 1.0, sample_crps: int = 0) -> dict:
    """Train ``variant`` on ``data``; ``sample_crps > 0`` swaps the closed-form CRPS for an S-sample one."""
    from lab.probhard_e2e.scores import crps_samples

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = pde_model(data, width, depth).to(DEVICE)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1))
    X, U, B, G = (t.to(DEVICE) for t in pde_tensors(data))
    A = G.reshape(1, 1, 1, -1)
    metric = TRAIN_METRIC[variant]
    for _ in range(steps):
        idx = torch.randint(0, X.shape[0], (min(batch, X.shape[0]),), generator=gen)
        mu, var = model(X[idx])
        b = B[idx].unsqueeze(-1)
        mu, var = dppl(mu, var, A, b, metric)
        if sample_crps:
            eps = torch.randn(*mu.shape, sample_crps, generator=gen).to(DEVICE)
            loss = crps_samples(mu.unsqueeze(-1) + var.sqrt().unsqueeze(-1) * eps, U[idx]).mean()
        else:
            loss = loss_fn(variant, mu, var, U[idx], A, b, soft_weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return _cpu_state(model)


def predict_pde(state: dict, variant_eval_metric: str | None, data: PDEData, width: int, depth: int):
    """``(mu, var)`` before and after the evaluation projection, float64 ``[F, nt, nx]``."""
    model = pde_model(data, width, depth)
    model.load_state_dict(state)
    X, _, B, G = pde_tensors(data)
    with torch.no_grad():
        mu, var = model(X)
    mu, var = mu.double(), var.double()
    A = torch.tensor(data.G).reshape(1, 1, 1, -1)
    b = torch.tensor(data.b).unsqueeze(-1)
    mu_p, var_p = dppl(mu, var, A, b, variant_eval_metric, check=variant_eval_metric is not None)
    return mu, var, mu_p, var_p

# ---------------------------------------------------------------------------------------------
# Hierarchy: one MLP shared by all series, last L values (scaled by their mean) -> H Gaussians


def _windows(series: torch.Tensor, ends: torch.Tensor, L: int, H: int):
    idx = (ends[:, None] + torch.arange(-L, H)[None, :]).to(series.device)  # [B, L + H]
    w = series[:, idx].permute(1, 0, 2)                           # [B, n, L + H]
    x, y = w[..., :L], w[..., L:]
    level = x.mean(-1, keepdim=True).clamp_min(1e-3)
    return x / level, y, level


def hier_forward(model, x, level, A, metric):
    mu, var = model(x)                                            # [B, n, H] each
    mu, var = mu * level, var * level**2
    mu, var = mu.transpose(1, 2), var.transpose(1, 2)             # [B, H, n]: constraint over series
    b = torch.zeros(*mu.shape[:-1], A.shape[0], dtype=mu.dtype, device=mu.device)
    mu_p, var_p = dppl(mu, var, A.to(mu.dtype), b, metric)
    return mu, var, mu_p, var_p


def train_hierarchy(variant: str, train: np.ndarray, A: np.ndarray, *, L: int, H: int, steps: int, batch: int,
                    lr: float, width: int, depth: int, seed: int, soft_weight: float = 1.0) -> dict:
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    series = torch.tensor(train, dtype=torch.float32, device=DEVICE)
    At = torch.tensor(A, dtype=torch.float32, device=DEVICE)
    model = GaussianMLP(L, H, width, depth).to(DEVICE)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    metric = TRAIN_METRIC[variant]
    T = series.shape[1]
    for _ in range(steps):
        ends = torch.randint(L, T - H + 1, (batch,), generator=gen)
        x, y, level = _windows(series, ends, L, H)
        _, _, mu, var = hier_forward(model, x, level, At, metric)
        w = (1.0 / level).transpose(1, 2)                         # scale-free loss per series
        b = torch.zeros(*mu.shape[:-1], A.shape[0], device=DEVICE)
        loss = loss_fn(variant, mu, var, y.transpose(1, 2), At, b, soft_weight, weight=w)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return _cpu_state(model)


def predict_hierarchy(state: dict, metric: str | None, train: np.ndarray, A: np.ndarray, *, L: int, H: int,
                      width: int, depth: int):
    """Forecast the H hours after the training part; ``(mu, var, mu_p, var_p)`` float64 ``[H, n]``."""
    model = GaussianMLP(L, H, width, depth)
    model.load_state_dict(state)
    x = torch.tensor(train[:, -L:], dtype=torch.float32)[None]
    level = x.mean(-1, keepdim=True).clamp_min(1e-3)
    with torch.no_grad():
        mu, var = model(x / level)
    mu, var = (mu * level).double()[0].T, (var * level**2).double()[0].T
    At = torch.tensor(A)
    mu_p, var_p = dppl(mu, var, At, torch.zeros(H, A.shape[0], dtype=torch.float64), metric,
                       check=metric is not None)
    return mu, var, mu_p, var_p

# ---------------------------------------------------------------------------------------------
# Spike-injected heteroscedastic task: n coordinates, a known total, spikes flagged in the input


def spike_data(n_samples: int, n: int, p_spike: float, spike_sd: float, base_sd: float, seed: int):
    """``(features [N, 2 + n], y [N, n], total [N])``: smooth base, Gaussian spikes on flagged coordinates."""
    rng = np.random.default_rng([seed, 11])
    theta = rng.uniform(0, 2 * np.pi, n_samples)
    flags = rng.random((n_samples, n)) < p_spike
    base = np.sin(theta[:, None] + np.linspace(0, np.pi, n)[None, :])
    y = base + np.where(flags, spike_sd, base_sd) * rng.standard_normal((n_samples, n))
    feats = np.concatenate([np.cos(theta)[:, None], np.sin(theta)[:, None], flags.astype(float)], 1)
    return feats, y, y.sum(1)


def train_spike(variant: str, feats, y, *, steps: int, batch: int, lr: float, width: int, depth: int, seed: int) -> dict:
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    X = torch.tensor(feats, dtype=torch.float32, device=DEVICE)
    Y = torch.tensor(y, dtype=torch.float32, device=DEVICE)
    n = Y.shape[1]
    A = torch.ones(1, n, device=DEVICE)
    model = GaussianMLP(X.shape[1], n, width, depth).to(DEVICE)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        idx = torch.randint(0, X.shape[0], (batch,), generator=gen)
        mu, var = model(X[idx])
        mu, var = dppl(mu, var, A, Y[idx].sum(1, keepdim=True), TRAIN_METRIC[variant])
        loss = loss_fn(variant, mu, var, Y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return _cpu_state(model)


def predict_spike(state: dict, metric, feats, y, *, width: int, depth: int):
    X = torch.tensor(feats, dtype=torch.float32)
    n = y.shape[1]
    model = GaussianMLP(X.shape[1], n, width, depth)
    model.load_state_dict(state)
    with torch.no_grad():
        mu, var = model(X)
    mu, var = mu.double(), var.double()
    mu_p, var_p = dppl(mu, var, torch.ones(1, n, dtype=torch.float64),
                       torch.tensor(y.sum(1, keepdims=True)), metric, check=True)
    return mu, var, mu_p, var_p
