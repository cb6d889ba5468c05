"""R1: the Marchenko–Pastur and semicircle laws and the resolvent's deterministic equivalent.

Convention (``book/rmt_equivalents.md``, section R1): the Stieltjes transform of a density
``rho`` is ``m(z) = ∫ rho(x) / (x - z) dx``, so ``Im m(z) > 0`` when ``Im z > 0``.

For ``X ∈ R^{p×n}`` with i.i.d. N(0, 1) entries and ``c = p/n``, the eigenvalues of
``XXᵀ/n`` follow the MP law with edges ``λ± = (1 ± √c)²``,

    rho(x) = √((λ+ − x)(x − λ−)) / (2π c x)   (+ an atom 1 − 1/c at 0 when c > 1),

and ``m`` solves ``c z m² + (z − 1 + c) m + 1 = 0``. Of its two roots we take the one with the
square root ``√(z − λ−)·√(z − λ+)`` (principal branches): its cut is exactly the support and it
behaves like ``z`` at infinity, so ``m ~ −1/z`` there and ``m`` is a Stieltjes transform.
"""
from __future__ import annotations

import numpy as np


def check_ratio(c: float) -> float:
    """Return ``c`` as a float, or raise ``ValueError`` when it is not a positive finite ratio."""
    c = float(c)
    if not np.isfinite(c) or c <= 0:
        raise ValueError(f"the dimension ratio c = p/n must be a positive number, got c = {c}")
    return c


def mp_edges(c: float) -> tuple[float, float]:
    """Support edges ``((1 − √c)², (1 + √c)²)`` of the MP law of ratio ``c``."""
    c = check_ratio(c)
    return (1 - np.sqrt(c)) ** 2, (1 + np.sqrt(c)) ** 2


def mp_density(x, c: float) -> np.ndarray:
    """Continuous part of the MP density of ratio ``c`` at ``x`` (the atom at 0 is not included)."""
    lo, hi = mp_edges(c)
    x = np.asarray(x, float)
    inside = (x > lo) & (x < hi)
    out = np.zeros_like(x)
    xi = x[inside]
    out[inside] = np.sqrt((hi - xi) * (xi - lo)) / (2 * np.pi * c * xi)
    return out


def mp_atom(c: float) -> float:
    """Mass ``max(0, 1 − 1/c)`` of the MP law at 0."""
    c = check_ratio(c)
    return max(0.0, 1 - 1 / c)


def mp_stieltjes(z, c: float) -> np.ndarray:
    """``m(z)`` of the MP law of ratio ``c`` (atom included), on the Stieltjes branch.

    ``m = (1 − c − z + √(z − λ−)√(z − λ+)) / (2 c z)``; defined off the support ``[λ−, λ+]``
    (and off 0 when ``c > 1``). For real ``z`` inside the support, pass ``x + iε``.
    """
    lo, hi = mp_edges(c)
    z = np.asarray(z, complex)
    root = np.sqrt(z - lo) * np.sqrt(z - hi)
    return (1 - c - z + root) / (2 * c * z)


def mp_quadratic_residual(m, z, c: float) -> np.ndarray:
    """``c z m² + (z − 1 + c) m + 1``: zero on either root of MP's self-consistent equation."""
    return c * z * m**2 + (z - 1 + c) * m + 1


def semicircle_density(x, radius: float = 2.0) -> np.ndarray:
    """Wigner's semicircle ``2√(R² − x²)/(π R²)`` on ``[−R, R]`` (R = 2 for variance 1/n)."""
    x = np.asarray(x, float)
    return np.where(np.abs(x) < radius, 2 * np.sqrt(np.clip(radius**2 - x**2, 0, None)) / (np.pi * radius**2), 0.0)


def semicircle_stieltjes(z, radius: float = 2.0) -> np.ndarray:
    """``m(z) = 2(−z + √(z − R)√(z + R)) / R²``, the Stieltjes transform of the semicircle."""
    z = np.asarray(z, complex)
    return 2 * (-z + np.sqrt(z - radius) * np.sqrt(z + radius)) / radius**2


def mp_integral(g, c: float, nodes: int = 4001) -> np.ndarray:
    """``∫ g(x) rho_MP(x) dx`` over the continuous part, by the substitution ``x = a + b cos θ``.

    With ``a = 1 + c``, ``b = 2√c`` the square-root edges become ``b sin θ`` and the integrand
    ``b² sin²θ g(x) / (2π c x)`` is smooth and periodic in θ, so the trapezoid rule on
    ``[0, π]`` converges spectrally. ``g`` maps an array of ``x`` (shape ``(nodes,)``) to an
    array whose first axis is ``x``; the result drops that axis.
    """
    c = check_ratio(c)
    theta = np.linspace(0.0, np.pi, nodes)
    a, b = 1 + c, 2 * np.sqrt(c)
    x = a + b * np.cos(theta)
    w = b**2 * np.sin(theta) ** 2 / (2 * np.pi * c * x)
    w *= np.pi / (nodes - 1)
    w[0] *= 0.5
    w[-1] *= 0.5
    vals = np.asarray(g(x))
    return np.tensordot(w, vals, axes=(0, 0))


def mp_cdf(x, c: float, nodes: int = 20001) -> np.ndarray:
    """CDF of the MP law of ratio ``c`` (atom included), from the θ-substitution of :func:`mp_integral`."""
    c = check_ratio(c)
    theta = np.linspace(np.pi, 0.0, nodes)  # x increases along this grid
    a, b = 1 + c, 2 * np.sqrt(c)
    xs = a + b * np.cos(theta)
    f = b**2 * np.sin(theta) ** 2 / (2 * np.pi * c * xs)
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (f[1:] + f[:-1]) * np.diff(-theta))])
    cum /= cum[-1]  # the continuous part has mass min(1, 1/c)
    cont = min(1.0, 1 / c)
    x = np.asarray(x, float)
    return mp_atom(c) * (x >= 0) + cont * np.interp(x, xs, cum, left=0.0, right=1.0)


def semicircle_cdf(x, radius: float = 2.0) -> np.ndarray:
    """CDF of the semicircle on ``[−R, R]`` in closed form."""
    u = np.clip(np.asarray(x, float) / radius, -1, 1)
    return 0.5 + (u * np.sqrt(1 - u**2) + np.arcsin(u)) / np.pi


def ks_distance(eigs, cdf) -> float:
    """Kolmogorov–Smirnov distance ``sup |F_emp − F|`` between eigenvalues and a CDF."""
    lam = np.sort(np.asarray(eigs, float))
    k = len(lam)
    f = cdf(lam)
    i = np.arange(1, k + 1)
    return float(max(np.max(i / k - f), np.max(f - (i - 1) / k)))


def resolvent_equivalent(cov_eigs, c: float, z, *, tol: float = 1e-12, max_iter: int = 100_000) -> dict:
    """Deterministic equivalent of ``Q(z) = (Σ̂ − zI)⁻¹``, ``Σ̂ = C^{1/2} X Xᵀ C^{1/2} / n``.

    ``Q̄(z) = (C/(1 + δ) − zI)⁻¹`` with ``δ = (1/n) tr C Q̄(z)``, written in C's eigenbasis
    (``cov_eigs``, the ``p`` eigenvalues of ``C``; ``c = p/n``). Solved by a damped fixed-point
    iteration, which stays in the upper half plane when ``Im z > 0``; the result is checked to
    be on the Stieltjes branch (``Im δ ≥ 0`` and ``Im m ≥ 0`` for ``Im z > 0``) and to satisfy
    its equation, else ``RuntimeError``.

    Returns ``delta`` and ``m = (1/p) tr Q̄(z)``, arrays of ``z``'s shape.

    Raises
    ------
    ValueError
        ``c ≤ 0``, an eigenvalue of C that is negative, or ``z`` on the real axis at or right of 0
        (where the spectrum may live: give ``Im z > 0``).
    RuntimeError
        When the iteration does not converge or lands off the Stieltjes branch.
    """
    c = check_ratio(c)
    s = np.asarray(cov_eigs, float).ravel()
    if s.size == 0 or np.any(s < 0) or not np.all(np.isfinite(s)):
        raise ValueError("cov_eigs must be the non-negative, finite eigenvalues of a covariance")
    z = np.asarray(z, complex)
    if np.any((np.abs(z.imag) == 0) & (z.real >= 0)):
        raise ValueError("z must leave the real half-line [0, ∞), where eigenvalues live: give Im z > 0 or Re z < 0")
    flat = z.ravel()
    conj = flat.imag < 0  # Q̄(z̄) is the conjugate of Q̄(z): solve in the upper half plane
    zz = np.where(conj, flat.conj(), flat)
    delta = np.where(zz.imag > 0, 1j, 0.0).astype(complex)
    for _ in range(max_iter):
        # δ ← (1/n) Σ_i s_i / (s_i/(1+δ) − z)
        new = c * np.mean(s[None, :] / (s[None, :] / (1 + delta[:, None]) - zz[:, None]), axis=1)
        step = np.max(np.abs(new - delta)) if new.size else 0.0
        delta = 0.5 * delta + 0.5 * new
        if step < tol * (1 + np.max(np.abs(delta))):
            break
    else:
        raise RuntimeError(f"the resolvent's fixed point did not converge in {max_iter} iterations")
    m = np.mean(1.0 / (s[None, :] / (1 + delta[:, None]) - zz[:, None]), axis=1)
    resid = np.max(np.abs(delta - c * np.mean(s[None, :] / (s[None, :] / (1 + delta[:, None]) - zz[:, None]), axis=1)))
    upper = zz.imag > 0
    if resid > 1e-8 * (1 + np.max(np.abs(delta))) or np.any(delta.imag[upper] < -1e-12) or np.any(m.imag[upper] < -1e-12):
        raise RuntimeError("the resolvent's fixed point left the Stieltjes branch (Im δ or Im m < 0)")
    delta = np.where(conj, delta.conj(), delta)
    m = np.where(conj, m.conj(), m)
    return {"delta": delta.reshape(z.shape), "m": m.reshape(z.shape)}


def empirical_stieltjes(eigs, z) -> np.ndarray:
    """``(1/p) Σ_i 1/(λ_i − z)`` for each ``z``: ``(1/p) tr Q(z)`` from the eigenvalues."""
    lam = np.asarray(eigs, float)
    z = np.asarray(z, complex)
    return np.mean(1.0 / (lam[None, :] - z.ravel()[:, None]), axis=1).reshape(z.shape)
