"""Free decompression along characteristics (paper, Prop. 3 and Algorithm 1, steps 5-7).

With ``t = log(n/n_s)`` and ``alpha = e^t`` the Stieltjes transform of the ``n x n`` matrix
solves ``d_t m = -m + (1/m) d_z m`` with ``m(0, .) = m_0`` (``book/free_decompression.md``,
"The PDE and its characteristics"). Along the straight characteristics

.. math:: z = z_0 + \\frac{1 - \\alpha}{m_0(z_0)},\\qquad m(t, z) = \\frac{m_0(z_0)}{\\alpha},

so the density at ``x`` is ``Im m_0(z_0) / (alpha pi)`` where ``z_0`` solves the first equation
for ``z = x + i delta``; ``z_0`` lies below the axis, on the second sheet of ``m_0``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.optimize import minimize_scalar


def characteristic(m0: Callable, z0, alpha: float) -> np.ndarray:
    """``z(z0) = z0 + (1 - alpha)/m0(z0)``: where the characteristic from ``z0`` is at ``alpha``."""
    z0 = np.asarray(z0, dtype=complex)
    return z0 + (1 - alpha) / m0(z0)


def decompressed_stieltjes(m0: Callable, z0, alpha: float) -> np.ndarray:
    """``m(t, z(z0)) = m0(z0)/alpha``."""
    return m0(np.asarray(z0, dtype=complex)) / alpha


@dataclass
class Solve:
    """Foot points ``z0`` of the characteristics through ``x + i delta`` and how well they solve it."""

    z0: np.ndarray
    residual: np.ndarray
    iterations: int


def solve_characteristics(m0: Callable, x: np.ndarray, alpha: float, delta: float, scale: float,
                          z_init: np.ndarray | None = None, tol: float = 1e-11, max_iter: int = 200) -> Solve:
    """Damped Newton for ``z0 + (1 - alpha)/m0(z0) = x + i delta``, all grid points at once.

    ``scale`` is a length of the problem (the support's half-width). It sets the start
    ``x - i scale (alpha - 1) / (2 sqrt(alpha))`` below the axis (exact at the centre of a
    semicircle), the finite-difference step of the derivative, and the tolerance. A step is
    halved (up to 30 times) until it lowers the residual, so an iterate cannot jump to a far
    branch; the horizontal difference stencil never crosses the real axis.
    """
    target = np.asarray(x, float) + 1j * delta
    if z_init is None:
        z = target.real - 1j * scale * (alpha - 1) / (2 * np.sqrt(alpha))
    else:
        z = np.asarray(z_init, complex).copy()
    h = 1e-7 * scale

    def F(z, tgt):
        return characteristic(m0, z, alpha) - tgt

    f = F(z, target)
    done = np.zeros(z.shape, dtype=bool)
    it = 0
    for it in range(1, max_iter + 1):
        active = np.flatnonzero((np.abs(f) > tol * scale) & ~done)
        if active.size == 0:
            break
        za, fa, ta = z[active], f[active], target[active]
        slope = (F(za + h, ta) - F(za - h, ta)) / (2 * h)
        step = fa / slope
        step = np.where(np.isfinite(step), step, 0.1j * scale)
        lam = np.ones(za.shape)
        new = za - step
        fnew = F(new, ta)
        for _ in range(30):
            worse = ~(np.abs(fnew) < np.abs(fa))
            if not worse.any():
                break
            lam[worse] *= 0.5
            new[worse] = za[worse] - lam[worse] * step[worse]
            fnew[worse] = F(new[worse], ta[worse])
        # a point whose damped step has shrunk to nothing is stuck (typically on the real axis
        # outside the support, where the density is zero anyway): stop iterating it
        still = ~(np.abs(fnew) < np.abs(fa))
        new[still], fnew[still] = za[still], fa[still]
        stuck = still | (np.abs(lam * step) < 1e-15 * scale)
        z[active], f[active] = new, fnew
        done[active[stuck]] = True
    return Solve(z, np.abs(f) / scale, it)


@dataclass
class Decompressed:
    """The density of the ``n x n`` matrix on a grid, and the solve behind it."""

    x: np.ndarray
    density: np.ndarray
    alpha: float
    raw_mass: float
    solve: Solve

    @property
    def converged(self) -> float:
        """Share of grid points whose characteristic equation was solved to 1e-8 (relative)."""
        return float(np.mean(self.solve.residual < 1e-8))


def decompress(m0: Callable, alpha: float, x, *, delta: float = 1e-6, scale: float = 1.0,
               normalize: bool = True) -> Decompressed:
    """Density of the decompressed spectrum on the grid ``x`` (paper, Algorithm 1, steps 5-6).

    Parameters
    ----------
    m0 : the submatrix's Stieltjes transform glued to its second sheet below the axis
        (:class:`lab.free_decompression.glue.Continuation`).
    alpha : ``n / n_s >= 1``.
    x : increasing grid on which to evaluate ``rho_n``.
    delta : height ``x + i delta`` at which Plemelj's formula is applied.
    scale : a length of the problem, e.g. the submatrix support's half-width.
    normalize : rescale to unit mass with the trapezoid rule (the paper's step 6).
    """
    if not alpha >= 1:
        raise ValueError(f"decompression needs n >= n_s (alpha = n/n_s >= 1), got alpha = {alpha}")
    x = np.asarray(x, float)
    if x.ndim != 1 or x.size < 2 or np.any(np.diff(x) <= 0):
        raise ValueError("x must be an increasing 1-D grid")
    sol = solve_characteristics(m0, x, alpha, delta, scale)
    rho = np.maximum(0.0, decompressed_stieltjes(m0, sol.z0, alpha).imag / np.pi)
    rho[~np.isfinite(rho)] = 0.0
    mass = float(np.trapezoid(rho, x))
    if normalize and mass > 0:
        rho = rho / mass
    return Decompressed(x, rho, float(alpha), mass, sol)


def support_edges(m0: Callable, alpha: float, support: tuple[float, float], n_grid: int = 400) -> tuple[float, float]:
    """Edges of the decompressed spectrum: extremes of the characteristic map on the real axis.

    A real ``x`` outside the new support is reached from a real ``z0`` outside the old one on
    the *second* sheet; the edges are where that map folds, ``dz/dz0 = 0``:
    upper edge ``min_{z0 > hi} z(z0)``, lower edge ``max_{z0 < lo} z(z0)``. (The image of the
    old edges, ``lambda_pm - (alpha - 1) Re(1/m0(lambda_pm))``, only bounds them from outside.)
    """
    lo, hi = support
    span = hi - lo
    eps = 1e-10 * span

    def z_of(z0):
        return characteristic(m0, np.atleast_1d(z0) - 1j * eps, alpha).real

    offsets = span * np.logspace(-7, np.log10(4 * alpha), n_grid)
    edges = []
    for side, sign in ((hi, 1.0), (lo, -1.0)):
        z0 = side + sign * offsets
        values = sign * z_of(z0)
        values[~np.isfinite(values)] = np.inf
        j = int(np.argmin(values))
        a, b = offsets[max(j - 1, 0)], offsets[min(j + 1, n_grid - 1)]
        best = minimize_scalar(lambda o: sign * z_of(side + sign * o)[0], bounds=(a, b), method="bounded",
                               options={"xatol": 1e-12 * span})
        edges.append(sign * best.fun)
    return edges[1], edges[0]


def outer_bound_edges(m0: Callable, alpha: float, support: tuple[float, float], delta: float = 1e-6) -> tuple[float, float]:
    """Images of the old edges, ``lambda_pm - (alpha - 1) Re(1/m0(lambda_pm + i delta))``."""
    lo, hi = support
    m = m0(np.array([lo + 1j * delta, hi + 1j * delta]))
    return float(lo - (alpha - 1) * (1 / m[0]).real), float(hi - (alpha - 1) * (1 / m[1]).real)
