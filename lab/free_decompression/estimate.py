"""A smooth density estimate of a submatrix's spectrum: kernel density, Jacobi projection, damping.

Step 2 of the paper's Algorithm 1 (``book/free_decompression.md``, "Estimating the submatrix's
density"). The eigenvalues are smoothed by a kernel density estimate ``rho_h`` on the support
``[lo, hi]``, mapped to ``u in [-1, 1]``, and projected on Jacobi polynomials:

.. math::

   \\rho_u(t) \\approx w(t) \\sum_{k=0}^{K} \\psi_k P_k^{(a,b)}(t),\\qquad
   \\psi_k = \\frac{g_k}{1 + \\gamma\\,k(k + a + b + 1)}\\,\\frac{1}{h_k}\\int_{-1}^{1}\\rho_u(t) P_k^{(a,b)}(t)\\,dt,

with optional Jackson damping ``g_k`` and a Sobolev-type ridge ``gamma`` (our reading of the
paper's "ridge regularisation": it penalises the eigenvalues ``k(k+a+b+1)`` of the Jacobi
differential operator, i.e. roughness). ``psi_0`` is then set so that the mass is exactly one.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import betaln

from lab.free_decompression.jacobi import JacobiWeight, jackson_damping
from lab.free_decompression.model import SpectralModel

KERNELS = ("beta", "gaussian")


@dataclass(frozen=True)
class FitSettings:
    """The density estimate's knobs (paper Table H.1 uses ``K = 50``, Beta kernel ``h = 3e-3``
    and Jackson damping for Marchenko-Pastur).

    ``bandwidth`` is in units of the support's length. ``edges`` picks how the support is
    estimated: ``"sqrt"`` extrapolates square-root edges from the ``edge_k`` extreme eigenvalues
    (:func:`sqrt_edge_support`), ``"range"`` widens the eigenvalues' range by ``margin`` of its
    length on each side.
    """

    K: int = 50
    a: float = 0.5
    b: float = 0.5
    kernel: str = "beta"
    bandwidth: float = 3e-3
    damping: str | None = "jackson"
    reg: float = 0.0
    edges: str = "sqrt"
    edge_k: int = 20
    margin: float = 0.01
    n_grid: int = 2000

    def __post_init__(self):
        if self.K < 1:
            raise ValueError(f"K must be >= 1, got {self.K}")
        if self.kernel not in KERNELS:
            raise ValueError(f"kernel must be one of {KERNELS}, got {self.kernel!r}")
        if self.bandwidth <= 0 or self.reg < 0 or self.margin < 0:
            raise ValueError("bandwidth must be > 0, reg and margin >= 0")
        if self.edges not in ("sqrt", "range"):
            raise ValueError(f"edges must be 'sqrt' or 'range', got {self.edges!r}")
        if self.damping not in (None, "jackson"):
            raise ValueError(f"damping must be None or 'jackson', got {self.damping!r}")
        JacobiWeight(self.a, self.b)  # validates the exponents


def kde(eigs: np.ndarray, v: np.ndarray, bandwidth: float, kernel: str = "beta") -> np.ndarray:
    """Kernel density of ``eigs`` (already mapped to [0, 1]) at points ``v`` in [0, 1].

    ``beta``: Chen's boundary-free Beta kernel, ``mean_j Beta(V_j; v/h + 1, (1 - v)/h + 1)``.
    ``gaussian``: ``mean_j N(v; V_j, h^2)``, truncated to [0, 1] (mass leaks at the edges).
    """
    V = np.clip(np.asarray(eigs, float), 1e-12, 1 - 1e-12)[None, :]
    v = np.asarray(v, float)[:, None]
    if kernel == "beta":
        A, B = v / bandwidth + 1, (1 - v) / bandwidth + 1
        logpdf = (A - 1) * np.log(V) + (B - 1) * np.log1p(-V) - betaln(A, B)
        return np.exp(logpdf).mean(axis=1)
    if kernel == "gaussian":
        return np.exp(-0.5 * ((v - V) / bandwidth) ** 2).mean(axis=1) / (bandwidth * np.sqrt(2 * np.pi))
    raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")


def default_support(eigs: np.ndarray, margin: float) -> tuple[float, float]:
    """The eigenvalues' range widened by ``margin`` times its length on each side."""
    lo, hi = float(np.min(eigs)), float(np.max(eigs))
    pad = margin * (hi - lo)
    return lo - pad, hi + pad


def sqrt_edge_support(eigs: np.ndarray, k: int = 20) -> tuple[float, float]:
    """Edges extrapolated from the ``k`` extreme eigenvalues assuming square-root edges.

    Near a square-root edge ``E`` the counting function grows like ``(E - x)^{3/2}``, so the
    ``j``-th largest eigenvalue sits near ``E - c ((j - 1/2)/n)^{2/3}``; a straight-line fit in
    ``((j - 1/2)/n)^{2/3}`` gives ``E`` as its intercept (likewise at the lower edge).
    """
    e = np.sort(np.ravel(eigs))
    n = e.size
    k = min(k, n // 4)
    s = ((np.arange(1, k + 1) - 0.5) / n) ** (2 / 3)
    hi = np.polynomial.polynomial.polyfit(s, e[::-1][:k], 1)[0]
    lo = np.polynomial.polynomial.polyfit(s, e[:k], 1)[0]
    return float(lo), float(hi)


class JacobiSeries:
    """``F(t) = sum_k psi_k P_k^{(a,b)}(t)``, callable on complex arrays."""

    def __init__(self, weight: JacobiWeight, psi: np.ndarray):
        self.weight, self.psi = weight, np.asarray(psi, float)

    def __call__(self, t):
        t = np.asarray(t)
        P = self.weight.polys(len(self.psi) - 1, t.ravel())
        return (self.psi @ P).reshape(t.shape)


def fit_density(eigs, settings: FitSettings = FitSettings(), support: tuple[float, float] | None = None) -> SpectralModel:
    """Fit the smooth model ``rho(x) = w(u) F(u) / r`` to eigenvalues (one or several submatrices).

    Parameters
    ----------
    eigs : eigenvalues, a 1-D array or a list of arrays (pooled).
    settings : :class:`FitSettings`.
    support : ``(lo, hi)``; by default the eigenvalues' range widened by ``settings.margin``.

    Returns
    -------
    SpectralModel whose ``factor`` is a :class:`JacobiSeries` (its coefficients in ``factor.psi``).
    """
    eigs = np.concatenate([np.ravel(e) for e in eigs]) if isinstance(eigs, (list, tuple)) else np.ravel(eigs)
    if eigs.size < 2 or not np.all(np.isfinite(eigs)):
        raise ValueError("need at least two finite eigenvalues to estimate a density")
    if support is None:
        support = (sqrt_edge_support(eigs, settings.edge_k) if settings.edges == "sqrt"
                   else default_support(eigs, settings.margin))
    lo, hi = support
    outside = np.mean((eigs < lo) | (eigs > hi))
    if outside > 0.01:
        raise ValueError(f"{100 * outside:.1f}% of the eigenvalues fall outside the support [{lo:.4g}, {hi:.4g}]")
    eigs = np.clip(eigs, lo, hi)  # a few edge eigenvalues beyond an estimated edge (Tracy-Widom)
    weight = JacobiWeight(settings.a, settings.b)
    K = settings.K
    t, tw = np.polynomial.legendre.leggauss(settings.n_grid)
    rho_u = 0.5 * kde((eigs - lo) / (hi - lo), 0.5 * (t + 1), settings.bandwidth, settings.kernel)
    P = weight.polys(K, t)
    k = np.arange(K + 1)
    psi = (P * (tw * rho_u)).sum(axis=1) / weight.norms(K)
    if settings.damping == "jackson":
        psi = psi * jackson_damping(K)
    psi = psi / (1 + settings.reg * k * (k + settings.a + settings.b + 1))
    psi[0] = 1 / weight.norms(0)[0]  # unit mass: only P_0 has a nonzero integral against w
    return SpectralModel((lo, hi), weight, JacobiSeries(weight, psi), n_nodes=K + 8,
                         name=f"Jacobi({settings.a:g},{settings.b:g}) K={K}")
