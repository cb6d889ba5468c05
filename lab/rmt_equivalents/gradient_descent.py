"""R5: gradient-descent risk on least squares from the Marchenko–Pastur integral.

With ``β₀ = 0``, ``β_{t+1} = β_t − η(Σ̂β_t − Xy/n)``, isotropic data, ``‖β*‖ = 1`` and
``c = p/n < 1``, in Σ̂'s eigenbasis ``β_t − β* = −(I − ηΣ̂)^t β* + (I − (I − ηΣ̂)^t)Σ̂⁻¹Xε/n``, so

    R(t) = ∫ (1 − ηx)^{2t} dμ_MP(x) + σ²c ∫ (1 − (1 − ηx)^t)² x⁻¹ dμ_MP(x),

a U-shaped curve (bias falls, variance rises) with ``R(∞) = σ²c ∫x⁻¹dμ_MP = σ²c/(1 − c)``.
See ``book/rmt_equivalents.md``, section R5.
"""
from __future__ import annotations

import numpy as np

from lab.rmt_equivalents.laws import check_ratio, mp_edges, mp_integral


def gd_risk(t, c: float, noise: float, eta: float, nodes: int = 4001) -> dict:
    """``bias``, ``variance`` and ``risk`` of the module docstring at each step count ``t``.

    Raises ``ValueError`` for ``c ≤ 0``, ``c ≥ 1`` (no finite ``R(∞)``: the formula needs an
    invertible Σ̂), ``σ² < 0``, or a step size outside ``(0, 2/λ₊)`` (GD diverges).
    """
    c = check_ratio(c)
    if c >= 1:
        raise ValueError(f"the GD risk formula needs c = p/n < 1, got c = {c}")
    if noise < 0:
        raise ValueError(f"the noise variance σ² must be ≥ 0, got {noise}")
    hi = mp_edges(c)[1]
    if not 0 < eta < 2 / hi:
        raise ValueError(f"step size η = {eta} outside (0, 2/λ₊) = (0, {2 / hi:.4g}): gradient descent diverges")
    t = np.atleast_1d(np.asarray(t, float))
    bias = mp_integral(lambda x: (1 - eta * x)[:, None] ** (2 * t[None, :]), c, nodes)
    var = noise * c * mp_integral(lambda x: (1 - (1 - eta * x)[:, None] ** t[None, :]) ** 2 / x[:, None], c, nodes)
    return {"t": t, "bias": bias, "variance": var, "risk": bias + var}


def gd_risk_limit(c: float, noise: float) -> float:
    """``R(∞) = σ²c/(1 − c)``, the ridgeless least-squares risk that GD converges to."""
    c = check_ratio(c)
    if c >= 1:
        raise ValueError(f"R(∞) is finite only for c < 1, got c = {c}")
    return noise * c / (1 - c)
