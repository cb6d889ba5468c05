"""R2: ridge regression's deterministic equivalent, its scaling law and the ridgeless closed form.

Data ``x ~ N(0, Σ)`` in ``R^p``, ``y = xᵀβ* + ε`` with ``Var ε = σ²``, ``n`` samples, and
``β̂ = (XᵀX/n + λI)⁻¹ Xᵀy/n``. The *effective regularisation* ``κ`` solves

    κ − λ = κ · (1/n) tr Σ(Σ + κI)⁻¹,                                   (1)

and with ``df₂ = tr Σ²(Σ + κI)⁻²`` the excess risk ``(β̂ − β*)ᵀΣ(β̂ − β*)`` is close to

    R = [κ² β*ᵀΣ(Σ + κI)⁻²β* + σ² df₂/n] / (1 − df₂/n)        (bias + variance).

Equation (1) is ``g(κ) = κ − (1/n) Σ_i s_i κ/(s_i + κ) = λ`` with ``g`` convex, ``g(0) = 0``
and ``g(κ) ≥ κ − tr Σ/n``: for ``λ > 0`` it has exactly one root in ``(0, λ + tr Σ/n]``, found
by bracketing (never a wrong branch). For ``λ = 0`` the root is ``κ = 0`` when ``n`` exceeds the
rank of Σ (under-parametrised) and otherwise the positive root of ``(1/n) tr Σ(Σ+κ)⁻¹ = 1``
(the interpolating branch). See ``book/rmt_equivalents.md``, section R2.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import brentq


def _check(cov_eigs, n, lam) -> np.ndarray:
    s = np.asarray(cov_eigs, float).ravel()
    if s.size == 0 or np.any(s < 0) or not np.all(np.isfinite(s)):
        raise ValueError("cov_eigs must be the non-negative, finite eigenvalues of Σ")
    if not (np.isfinite(n) and n > 0):
        raise ValueError(f"the sample size n must be positive, got {n}")
    if not np.isfinite(lam) or lam < 0:
        raise ValueError(f"the ridge regularisation λ must be ≥ 0, got λ = {lam}")
    return s


def effective_regularization(cov_eigs, n: float, lam: float) -> float:
    """The root ``κ ≥ λ`` of equation (1) on the right branch (see the module docstring).

    Raises
    ------
    ValueError
        Negative ``λ``, ``n ≤ 0``, or ``λ = 0`` with ``n`` exactly the rank of Σ (the
        interpolation threshold, where the ridgeless risk is infinite).
    """
    s = _check(cov_eigs, n, lam)
    n = float(n)
    rank = int(np.sum(s > 0))

    def g(k):  # g(κ) − λ
        return k - np.sum(s * k / (s + k)) / n - lam

    if lam > 0:
        hi = lam + s.sum() / n
        return float(brentq(g, 0.0, hi, xtol=1e-15 * hi, rtol=1e-14, maxiter=500))
    if rank < n:
        return 0.0
    if rank == n:
        raise ValueError("λ = 0 at the interpolation threshold n = rank(Σ): the ridgeless risk diverges")

    def h(k):  # (1/n) tr Σ(Σ+κ)⁻¹ − 1: decreasing in κ, from rank/n − 1 > 0 at κ = 0 to −1
        return np.sum(s / (s + k)) / n - 1

    hi = 2 * s.sum() / n
    lo = hi
    while h(lo) < 0:
        lo /= 2
    return float(brentq(h, lo, hi, xtol=1e-15 * hi, rtol=1e-14, maxiter=500))


def ridge_risk(cov_eigs, beta_coords, n: float, lam: float, noise: float) -> dict:
    """Deterministic equivalent of the excess risk, with its bias and variance parts.

    ``beta_coords`` are β*'s coordinates in Σ's eigenbasis (for a diagonal Σ, β* itself),
    ``noise`` is σ². Returns ``kappa, df2, bias, variance, risk``.
    """
    s = _check(cov_eigs, n, lam)
    b = np.asarray(beta_coords, float).ravel()
    if b.shape != s.shape:
        raise ValueError(f"beta_coords has {b.size} entries, Σ has {s.size} eigenvalues")
    if noise < 0:
        raise ValueError(f"the noise variance σ² must be ≥ 0, got {noise}")
    k = effective_regularization(s, n, lam)
    df2 = float(np.sum(s**2 / (s + k) ** 2))
    denom = 1 - df2 / n
    if denom <= 0:
        raise ValueError(f"1 − df₂/n = {denom:.3g} ≤ 0: no finite risk (at or past the interpolation threshold)")
    bias = k**2 * float(np.sum(s * b**2 / (s + k) ** 2)) / denom
    var = noise * df2 / n / denom
    return {"kappa": k, "df2": df2, "bias": bias, "variance": var, "risk": bias + var}


def ridgeless_isotropic_risk(gamma, beta_norm2: float, noise: float) -> np.ndarray:
    """Min-norm least squares risk for ``Σ = I``, ``γ = p/n`` (textbook closed form).

    ``γ < 1``: ``σ²γ/(1 − γ)``; ``γ > 1``: ``‖β*‖²(1 − 1/γ) + σ²/(γ − 1)``; infinite at ``γ = 1``.
    """
    g = np.asarray(gamma, float)
    if np.any(g <= 0):
        raise ValueError(f"the ratio γ = p/n must be positive, got {g[g <= 0][0]}")
    with np.errstate(divide="ignore"):
        under = noise * g / (1 - g)
        over = beta_norm2 * (1 - 1 / g) + noise / (g - 1)
    return np.where(g < 1, under, np.where(g > 1, over, np.inf))


def power_law_spectrum(p: int, a: float) -> np.ndarray:
    """``Σ_ii = i^{−a}``, ``i = 1..p``: a power-law covariance spectrum (the scaling-law setting)."""
    if a <= 0:
        raise ValueError(f"the power-law exponent must be positive, got {a}")
    return np.arange(1, p + 1, dtype=float) ** (-a)


def loglog_slope(n, risk) -> float:
    """Least-squares slope of ``log risk`` against ``log n``: the scaling-law exponent."""
    return float(np.polyfit(np.log(np.asarray(n, float)), np.log(np.asarray(risk, float)), 1)[0])
