"""The interpolated quantile function (IQF) of one forecast step, from a grid of quantiles.

``F_h^{-1}(u)`` is piecewise linear through the knots ``(α_m, q_h(α_m))``, ``m = 1..M``. Outside
``[α_1, α_M]`` the tails are extrapolated (``book/copula_sample_paths.md``, "Marginals"):

- ``"linear"`` (default): the end segment's slope continues, ``q_1 + s_1 (u - α_1)`` below and
  ``q_M + s_{M-1} (u - α_M)`` above; the support is bounded (uniform tails of mass α_1 and 1-α_M).
- ``"exponential"``: ``q_1 + s_1 α_1 log(u/α_1)`` below and ``q_M - s_{M-1}(1-α_M) log((1-u)/(1-α_M))``
  above; continuous with a continuous slope at the end knots (exponential tails).

The paper's tail rule is not known; the default is ours. Bad grids raise ``ValueError``.
"""
from __future__ import annotations

import numpy as np
import torch

TAILS = ("linear", "exponential")


def check_grid(levels, quantiles=None, *, need_median: bool = True) -> None:
    """Raise ``ValueError`` for a bad quantile grid: levels outside (0, 1) or not strictly
    increasing, no 0.5 level (``need_median``), NaN/inf quantiles, or quantiles decreasing in α."""
    a = np.asarray(levels, dtype=float)
    if a.ndim != 1 or a.size < 2:
        raise ValueError(f"quantile levels must be a 1-d grid of at least 2 levels, got shape {a.shape}")
    if not np.all(np.isfinite(a)) or a.min() <= 0 or a.max() >= 1:
        raise ValueError(f"quantile levels must lie strictly inside (0, 1), got {a.tolist()}")
    if np.any(np.diff(a) <= 0):
        raise ValueError(f"quantile levels must be strictly increasing, got {a.tolist()}")
    if need_median and not np.any(np.isclose(a, 0.5)):
        raise ValueError(f"the quantile grid has no median level 0.5: {a.tolist()}")
    if quantiles is not None:
        q = torch.as_tensor(quantiles)
        if q.shape[-1] != a.size:
            raise ValueError(f"quantiles have {q.shape[-1]} levels in the last axis, the grid has {a.size}")
        if not torch.isfinite(q).all():
            raise ValueError("quantiles hold NaN or infinite values")
        if (q.diff(dim=-1) < 0).any():
            raise ValueError("quantiles decrease in the level (non-monotone grid); sort them first "
                             "(lab.tsfm's predict_quantiles already does)")


def inverse_quantile(quantiles, levels, u, tail: str = "linear") -> torch.Tensor:
    """``F^{-1}(u)`` for knots ``quantiles [..., M]`` at ``levels [M]``, evaluated at ``u [..., N]``.

    ``quantiles`` has shape ``[*batch, M]`` and ``u`` shape ``[*batch, N]`` (or broadcastable):
    N evaluation points per batch element. Returns ``[*batch, N]`` in the quantiles' dtype.
    """
    if tail not in TAILS:
        raise ValueError(f"tail must be one of {TAILS}, got {tail!r}")
    q = torch.as_tensor(quantiles)
    dt = q.dtype if q.is_floating_point() else torch.float64
    q = q.to(dt)
    a = torch.as_tensor(np.asarray(levels, dtype=float), dtype=dt, device=q.device)
    check_grid(a.cpu().numpy(), q, need_median=False)
    u = torch.as_tensor(u, dtype=dt, device=q.device)
    M = a.numel()
    q, u = torch.broadcast_tensors(q[..., None, :], u[..., :, None])  # [..., N, M], [..., N, M]
    u = u[..., 0]
    # segment k in 0..M-2: the last knot with α_k ≤ u, clamped (the tails use the end segments)
    k = (torch.searchsorted(a, u.contiguous(), right=True) - 1).clamp(0, M - 2)
    q0 = q.gather(-1, k[..., None])[..., 0]
    q1 = q.gather(-1, (k + 1)[..., None])[..., 0]
    a0, a1 = a[k], a[k + 1]
    slope = (q1 - q0) / (a1 - a0)
    out = q0 + slope * (u - a0)
    if tail == "exponential":
        lo, hi = u < a[0], u > a[-1]
        s_lo = (q[..., 1] - q[..., 0]) / (a[1] - a[0])
        s_hi = (q[..., -1] - q[..., -2]) / (a[-1] - a[-2])
        uc = u.clamp(torch.finfo(dt).tiny, 1 - torch.finfo(dt).eps)
        low = q[..., 0] + s_lo * a[0] * torch.log(uc / a[0])
        high = q[..., -1] - s_hi * (1 - a[-1]) * torch.log((1 - uc) / (1 - a[-1]))
        out = torch.where(lo, low, torch.where(hi, high, out))
    return out
