"""The Gaussian copula over the forecast horizon, and the estimate of its ρ.

Latent ``z ~ N(0, R)`` over ``h = 1..H``, ``u_h = Φ(z_h)``, path ``ỹ_h = F_h^{-1}(u_h)``
(``book/copula_sample_paths.md``, "The copula"). For the Toeplitz ``R_{hh'} = ρ^{|h-h'|}``
(a stationary AR(1)) two samplers agree in distribution:

- the recursion ``z_1 = ε_1``, ``z_h = ρ z_{h-1} + sqrt(1-ρ²) ε_h`` — O(H) per path;
- Cholesky ``z = L ε`` with ``L Lᵀ = R`` — O(H²), and it takes any correlation matrix R.

``ρ = 0`` gives independent sampling; ``ρ → 1`` comonotone paths (one quantile level for all h).
"""
from __future__ import annotations

import numpy as np
import torch

from .iqf import check_grid, inverse_quantile

RHO_METHODS = ("rank_gauss", "levels", "diff")


def _check_rho(rho) -> torch.Tensor:
    r = torch.as_tensor(rho, dtype=torch.float64)
    if not torch.isfinite(r).all() or (r.abs() >= 1).any():
        raise ValueError(f"the latent correlation ρ must satisfy |ρ| < 1, got {r.flatten()[:5].tolist()}")
    return r


def toeplitz(rho: float, H: int) -> torch.Tensor:
    """``R_{hh'} = ρ^{|h-h'|}``, float64 ``[H, H]``."""
    _check_rho(rho)
    h = torch.arange(H, dtype=torch.float64)
    return float(rho) ** (h[:, None] - h[None, :]).abs()


def exact_ar1_correlation(phi: float, H: int) -> torch.Tensor:
    """Correlation of the h = 1..H step-ahead predictive of a Gaussian AR(1) given its last value:
    ``φ^{h'-h} sqrt(v_h / v_{h'})`` for h ≤ h', ``v_h = (1-φ^{2h})/(1-φ²)`` (not Toeplitz)."""
    h = torch.arange(1, H + 1, dtype=torch.float64)
    v = (1 - phi ** (2 * h)) / (1 - phi**2)
    lo, hi = torch.minimum(h[:, None], h[None, :]), torch.maximum(h[:, None], h[None, :])
    return phi ** (hi - lo) * torch.sqrt(v[lo.long() - 1] / v[hi.long() - 1])


def ar1_latent(eps: torch.Tensor, rho) -> torch.Tensor:
    """The AR(1) recursion on normals ``eps [..., H]`` with ``rho`` broadcastable to ``eps[..., 0]``."""
    r = _check_rho(rho).to(eps.dtype).to(eps.device)
    r = r.expand(eps.shape[:-1]) if r.dim() == 0 else r
    c = torch.sqrt(1 - r * r)
    z = torch.empty_like(eps)
    z[..., 0] = eps[..., 0]
    for h in range(1, eps.shape[-1]):
        z[..., h] = r * z[..., h - 1] + c * eps[..., h]
    return z


def cholesky_latent(eps: torch.Tensor, R) -> torch.Tensor:
    """``z = L ε`` with ``L Lᵀ = R`` for a correlation matrix ``R [H, H]`` (or ``[..., H, H]``)."""
    R = torch.as_tensor(R, dtype=torch.float64)
    if R.shape[-1] != R.shape[-2] or R.shape[-1] != eps.shape[-1]:
        raise ValueError(f"R must be [H, H] with H = {eps.shape[-1]}, got {tuple(R.shape)}")
    if not torch.allclose(R, R.transpose(-1, -2)) or not torch.allclose(torch.diagonal(R, dim1=-2, dim2=-1),
                                                                        torch.ones(R.shape[-1], dtype=R.dtype)):
        raise ValueError("R must be a symmetric correlation matrix with a unit diagonal")
    L, info = torch.linalg.cholesky_ex(R)
    if (info != 0).any():
        raise ValueError("R is not positive definite")
    return (eps.to(torch.float64) @ L.transpose(-1, -2)).to(eps.dtype)


def latent_normals(shape, seed: int, dtype=torch.float64) -> torch.Tensor:
    """Standard normals of ``shape`` from a seeded generator."""
    g = torch.Generator().manual_seed(int(seed))
    return torch.randn(*shape, generator=g, dtype=dtype)


def sample_paths(quantiles, levels, n_paths: int, *, rho=None, R=None, seed: int = 0, method: str = "recursion",
                 tail: str = "linear", eps: torch.Tensor | None = None, return_latent: bool = False):
    """Copula sample paths ``[B, N, H]`` from quantile forecasts ``[B, H, M]`` at ``levels``.

    Exactly one of ``rho`` (scalar or ``[B]``; Toeplitz ρ^|h-h'|; ``0`` = independent) and ``R``
    (a correlation matrix ``[H, H]`` or ``[B, H, H]``, sampled by Cholesky) is given.
    ``method``: ``"recursion"`` (O(H)) or ``"cholesky"`` for the Toeplitz case. ``eps``
    injects the standard normals ``[B, N, H]``. Raises ``ValueError`` on bad input: N < 1,
    |ρ| ≥ 1, a grid without 0.5, NaN or decreasing quantiles.
    """
    if not isinstance(n_paths, (int, np.integer)) or n_paths < 1:
        raise ValueError(f"the number of paths N must be an integer ≥ 1, got {n_paths!r}")
    q = torch.as_tensor(quantiles, dtype=torch.float64)
    if q.dim() != 3:
        raise ValueError(f"quantiles must be [B, H, M], got shape {tuple(q.shape)}")
    check_grid(levels, q)
    B, H, _ = q.shape
    if (rho is None) == (R is None):
        raise ValueError("give exactly one of rho (Toeplitz) and R (a correlation matrix)")
    if eps is None:
        eps = latent_normals((B, n_paths, H), seed)
    elif tuple(eps.shape) != (B, n_paths, H):
        raise ValueError(f"injected normals must be [B, N, H] = {(B, n_paths, H)}, got {tuple(eps.shape)}")
    eps = eps.to(torch.float64)
    if R is not None:
        R = torch.as_tensor(R, dtype=torch.float64)
        z = cholesky_latent(eps, R[:, None] if R.dim() == 3 else R)
    else:
        r = _check_rho(rho)
        r = r.reshape(-1, 1) if r.dim() == 1 else r
        if method == "recursion":
            z = ar1_latent(eps, r.expand(B, n_paths) if r.dim() else r)
        elif method == "cholesky":
            if r.dim() == 0:
                z = cholesky_latent(eps, toeplitz(float(r), H))
            else:
                z = cholesky_latent(eps, torch.stack([toeplitz(float(x), H) for x in r.flatten()])[:, None])
        else:
            raise ValueError(f"method must be 'recursion' or 'cholesky', got {method!r}")
    u = torch.special.ndtr(z)
    y = inverse_quantile(q, levels, u.transpose(1, 2), tail=tail).transpose(1, 2)  # [B, N, H]
    return (y, z) if return_latent else y


def estimate_rho(context, method: str = "rank_gauss", clip=(0.0, 0.99)) -> np.ndarray:
    """ρ from the context window only, one per series (``context [B, C]``, NaN = missing).

    - ``"rank_gauss"`` (default): ranks (ties averaged) → normal scores ``Φ^{-1}((r - 1/2)/n)``, then the lag-1
      sample autocorrelation (the choice of Choi et al.; robust to scale and outliers);
    - ``"levels"``: the lag-1 sample autocorrelation of the values;
    - ``"diff"``: the lag-1 autocorrelation of first differences.

    Clipped to ``clip`` (the dossier's [0, 0.99]).
    """
    if method not in RHO_METHODS:
        raise ValueError(f"method must be one of {RHO_METHODS}, got {method!r}")
    from scipy.special import ndtri
    from scipy.stats import rankdata
    x = np.atleast_2d(np.asarray(context, dtype=float))
    out = np.empty(len(x))
    for i, s in enumerate(x):
        s = s[np.isfinite(s)]
        if method == "diff":
            s = np.diff(s)
        if method == "rank_gauss":
            s = ndtri((rankdata(s) - 0.5) / len(s))  # tied values share their average rank
        if len(s) < 3 or np.std(s) == 0:
            out[i] = 0.0
            continue
        s = s - s.mean()
        out[i] = float(np.sum(s[1:] * s[:-1]) / np.sum(s * s))
    return np.clip(out, *clip)
