"""Scoring rules for sample paths (``book/copula_sample_paths.md``, "Scoring paths").

With N sample paths ``X_i ∈ R^H`` of the forecast and the outcome ``y ∈ R^H``:

- CRPS per step, the ensemble form ``E|X_h - y_h| - ½ E|X_h - X'_h|`` (all N² pairs, the
  V-statistic of ``properscoring.crps_ensemble``); its Gaussian closed form
  ``σ[z(2Φ(z)-1) + 2φ(z) - 1/√π]``, ``z = (y-μ)/σ``, checks it;
- the energy score ``ES = E‖X - y‖ - ½ E‖X - X'‖``;
- the variogram score of order γ, ``VS = Σ_{h<h'} w_{hh'} (|y_h - y_h'|^γ - E|X_h - X_h'|^γ)²``
  (w = 1, γ = 0.5);
- the aggregate CRPS: the CRPS of ``Σ_h X_h`` against ``Σ_h y_h``;
- (a diagnostic, not a score) the lag-1 autocorrelation of path increments ``ΔX_h``.

All lower-is-better; inputs are torch or numpy, paths ``[..., N, H]`` and outcomes ``[..., H]``.
"""
from __future__ import annotations

import math

import torch


def _t(x) -> torch.Tensor:
    return torch.as_tensor(x, dtype=torch.float64)


def crps_samples(paths, y) -> torch.Tensor:
    """Per-step ensemble CRPS ``[..., H]`` of ``paths [..., N, H]`` at ``y [..., H]``."""
    X, y = _t(paths), _t(y)
    N = X.shape[-2]
    t1 = (X - y[..., None, :]).abs().mean(-2)
    Xs, _ = X.sort(dim=-2)  # E|X-X'| = 2/N² Σ_i (2i - N - 1) X_(i)
    i = torch.arange(1, N + 1, dtype=X.dtype).reshape(*([1] * (X.dim() - 2)), N, 1)
    t2 = (2 * (2 * i - N - 1) * Xs).sum(-2) / N**2
    return t1 - 0.5 * t2


def crps_gaussian(y, mu, sigma) -> torch.Tensor:
    """Closed-form CRPS of N(μ, σ²) at y."""
    y, mu, sigma = _t(y), _t(mu), _t(sigma)
    z = (y - mu) / sigma
    pdf = torch.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    return sigma * (z * (2 * torch.special.ndtr(z) - 1) + 2 * pdf - 1 / math.sqrt(math.pi))


def energy_score(paths, y) -> torch.Tensor:
    """``E‖X-y‖ - ½E‖X-X'‖`` over the N paths (V-statistic: all N² pairs), shape ``[...]``."""
    X, y = _t(paths), _t(y)
    t1 = torch.linalg.vector_norm(X - y[..., None, :], dim=-1).mean(-1)
    t2 = torch.cdist(X, X).mean((-1, -2))
    return t1 - 0.5 * t2


def variogram_score(paths, y, gamma: float = 0.5, weights=None) -> torch.Tensor:
    """``Σ_{h<h'} w_{hh'} (|y_h-y_h'|^γ - mean_i |X_ih - X_ih'|^γ)²``, shape ``[...]``."""
    X, y = _t(paths), _t(y)
    H = X.shape[-1]
    vy = (y[..., :, None] - y[..., None, :]).abs() ** gamma
    vx = ((X[..., :, None] - X[..., None, :]).abs() ** gamma).mean(-3)
    w = torch.triu(torch.ones(H, H, dtype=X.dtype), 1) if weights is None else torch.triu(_t(weights), 1)
    return (w * (vy - vx) ** 2).sum((-1, -2))


def aggregate_crps(paths, y) -> torch.Tensor:
    """CRPS of the path sums ``Σ_h X_h`` at ``Σ_h y_h``, shape ``[...]``."""
    X, y = _t(paths), _t(y)
    return crps_samples(X.sum(-1, keepdim=True), y.sum(-1, keepdim=True))[..., 0]


def increment_acf(paths) -> torch.Tensor:
    """Lag-1 autocorrelation of the increments ``X_h - X_{h-1}`` along each path, ``[..., N]``
    for paths ``[..., N, H]`` (or ``[...]`` for one path ``[..., H]`` given as ``[..., 1, H]``)."""
    d = torch.diff(_t(paths), dim=-1)
    d = d - d.mean(-1, keepdim=True)
    den = (d * d).sum(-1)
    return torch.where(den > 0, (d[..., 1:] * d[..., :-1]).sum(-1) / den.clamp_min(1e-300), torch.zeros_like(den))
