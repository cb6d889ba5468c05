"""FLODANCE: extrapolate a log-determinant from the leading blocks, and the cost it saves.

Chapter: ``book/logdet_scaling.md``. If the determinant ratios of successive leading blocks
follow a power law, ``det K_k / det K_{k−1} ≈ c k^{−ν}``, then summing their logs gives
``ℓ_k ≈ c₀ + k log c − ν log k!``. FLODANCE fits the richer model

    ℓ(x) = a₀ + a₁ x + (b₀ + Σ_{i=1}^{q} b_i x^{−i}) ln Γ(x+1) + Σ_{j=1}^{r} c_j x^{−j}

by least squares (rows weighted by ``x^{−α}``) on ``x ∈ [n₀, n_s]`` (``x`` counts data points: for
an NTK with ``d`` outputs, ``ℓ(x)`` is the log-det of the leading ``x d × x d`` block) and evaluates
it at the full ``n``. Factoring only the leading ``n_s d`` rows costs ``(n/n_s)³`` times fewer
FLOPs than the whole matrix.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from scipy.special import gammaln


def _design(x: np.ndarray, q: int, r: int) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    lg = gammaln(x + 1)
    cols = [np.ones_like(x), x, lg]
    cols += [lg * x ** (-i) for i in range(1, q + 1)]
    cols += [x ** (-j) for j in range(1, r + 1)]
    return np.stack(cols, axis=1)


@dataclass
class LogdetFit:
    """A fitted FLODANCE model: coefficients ``[a₀, a₁, b₀, b₁…b_q, c₁…c_r]``."""

    coef: np.ndarray
    q: int
    r: int
    window: tuple[int, int]

    @property
    def nu(self) -> float:
        """The power-law exponent ``ν = −b₀`` (ratios ``∝ x^{−ν}`` asymptotically)."""
        return -float(self.coef[2])

    def __call__(self, x) -> np.ndarray:
        return _design(np.atleast_1d(x), self.q, self.r) @ self.coef


def fit_logdet(x, ell, *, q: int = 2, r: int = 0, alpha: float = 0.0) -> LogdetFit:
    """Weighted least-squares fit of the FLODANCE model to ``(x, ℓ(x))`` (``x > 0``).

    Columns are scaled to unit norm before ``lstsq`` (the ``ln Γ`` column and ``x^{−i}``
    columns differ by many orders of magnitude); rows are weighted by ``x^{−α}``.
    """
    x, ell = np.asarray(x, dtype=float), np.asarray(ell, dtype=float)
    if x.shape != ell.shape or x.ndim != 1:
        raise ValueError(f"x and ell must be 1-D of equal length, got {x.shape} and {ell.shape}")
    if q < 0 or r < 0:
        raise ValueError(f"q and r must be ≥ 0, got q={q}, r={r}")
    if len(x) < 3 + q + r:
        raise ValueError(f"{len(x)} points cannot fit {3 + q + r} coefficients (q={q}, r={r})")
    if np.any(x <= 0) or not np.all(np.isfinite(ell)):
        raise ValueError("x must be positive and ell finite")
    w = x ** (-alpha)
    X = _design(x, q, r) * w[:, None]
    norms = np.linalg.norm(X, axis=0)
    norms[norms == 0] = 1.0
    coef, *_ = np.linalg.lstsq(X / norms, ell * w, rcond=None)
    return LogdetFit(coef / norms, q, r, (int(x.min()), int(x.max())))


def flodance(ell_points: np.ndarray, n: int, *, n0: int, ns: int, q: int = 2, r: int = 0,
             alpha: float = 0.0) -> tuple[float, LogdetFit]:
    """Extrapolate ``ℓ(n)`` from ``ell_points[k−1] = ℓ(k)`` for ``k = 1..len(ell_points)``.

    The fit uses ``k ∈ [n0, ns]``; only ``ell_points[:ns]`` is read, so the caller may pass the
    leading log-dets of a factorisation of the leading ``ns`` points only.

    Raises
    ------
    ValueError
        If the window is not ``1 ≤ n0 < ns ≤ len(ell_points)``, ``ns ≤ n``.
    """
    ell_points = np.asarray(ell_points, dtype=float)
    avail = len(ell_points)
    if not (1 <= n0 < ns):
        raise ValueError(f"FLODANCE window must satisfy 1 ≤ n0 < ns, got n0={n0}, ns={ns}")
    if ns > avail:
        raise ValueError(f"FLODANCE window [{n0}, {ns}] lies outside the matrix: only {avail} leading "
                         f"log-determinants (points) are available")
    if ns > n:
        raise ValueError(f"FLODANCE window end ns={ns} exceeds the target size n={n}")
    k = np.arange(n0, ns + 1)
    fit = fit_logdet(k, ell_points[k - 1], q=q, r=r, alpha=alpha)
    return float(fit(n)[0]), fit


def memdet_fmas(m: int) -> Fraction:
    """The paper's multiply-add count of an ``m × m`` LDLᵀ/Cholesky: ``m³/6 − m²/4 + m/12`` (Table J.2).

    Exact (a ``Fraction``). It equals ``Σ_{t<m} t²/2``: half of the full-square Schur updates.
    """
    m = Fraction(int(m))
    return m ** 3 / 6 - m ** 2 / 4 + m / 12


def cholesky_fmas(m: int) -> int:
    """Multiply-adds of the unblocked right-looking Cholesky updating lower triangles only.

    Step ``k`` updates the ``t(t+1)/2`` lower entries of the trailing ``t × t`` block
    (``t = m − k``), so the total is ``Σ_{t<m} t(t+1)/2 = (m³ − m)/6``.
    """
    return (m ** 3 - m) // 6


def flop_saving(n: int, ns: int) -> float:
    """FLOP ratio of factoring ``n`` points against ``ns`` points: ``(n/n_s)³`` to leading order."""
    return (n / ns) ** 3
