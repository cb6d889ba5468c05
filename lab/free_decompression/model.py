"""A spectral density on an interval and its Stieltjes transform, exact up to the real axis.

A density on ``[lo, hi]`` is written in the standard variable ``u = (2x - lo - hi)/(hi - lo)`` as
``rho_u(t) = w(t) F(t)`` with a Jacobi weight ``w`` (:mod:`lab.free_decompression.jacobi`) and a
smooth factor ``F``: a polynomial for a fitted density, a rational function for the analytic laws.
With ``w = w0 q`` and ``f = q F`` the Stieltjes transform ``m(z) = int rho(y)/(y - z) dy`` is

.. math::

   m(z) = \\frac{2}{hi - lo}\\Big[f(u)\\,C_0(u) + \\int_{-1}^{1} w_0(t)\\,\\frac{f(t) - f(u)}{t - u}\\,dt\\Big],

the first term carrying the singularity (closed form) and the second a smooth integrand that
Gauss quadrature of the base weight integrates exactly when ``f`` is a polynomial. This holds
for ``u`` anywhere, the real axis included, so the Hilbert transform on the support is just
``Re m(x + i0)``. Off the support, however, a degree-``K`` polynomial grows like
``|u + sqrt(u^2 - 1)|^K`` and the two terms cancel; there (outside a thin Bernstein ellipse
around [-1, 1]) plain Gauss quadrature ``sum_i w_i f(t_i)/(t_i - u)`` with four times more nodes
is accurate to rounding and is used instead. Across the support, ``m`` continues to the second sheet (Plemelj):
``m_II(z) = m(z) + 2 pi i rho(z)`` for ``Im z < 0``, with ``rho`` continued analytically.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from lab.free_decompression.jacobi import JacobiWeight

# Where a point sits this close to a quadrature node, the difference quotient of f is replaced
# by a central difference: the quotient's rounding error grows like eps / |t - u|.
_NODE_GUARD = 1e-9


@dataclass
class SpectralModel:
    """``rho(x) = (2/(hi - lo)) w(u) F(u)`` on ``[lo, hi]``; see the module docstring.

    Parameters
    ----------
    support : ``(lo, hi)``.
    weight : the Jacobi weight ``w``.
    factor : ``F``, vectorised and valid for complex arguments (its analytic continuation).
    n_nodes : Gauss nodes for the smooth part of the Stieltjes integral.
    name : label for plots.
    """

    support: tuple[float, float]
    weight: JacobiWeight
    factor: Callable[[np.ndarray], np.ndarray]
    n_nodes: int = 200
    name: str = ""

    def __post_init__(self):
        lo, hi = map(float, self.support)
        if not hi > lo:
            raise ValueError(f"support must be an interval lo < hi, got {self.support}")
        self.support = (lo, hi)
        self._t, self._w = self.weight.nodes(self.n_nodes)
        self._ft = self.f(self._t)
        n_far = 4 * self.n_nodes + 40
        self._t_far, self._w_far = self.weight.nodes(n_far)
        self._wf_far = self._w_far * self.f(self._t_far)
        # Gauss quadrature of a Cauchy kernel converges like rho^(-2 n): 1e-15 beyond this ellipse
        self._rho_far = np.exp(np.log(1e15) / (2 * n_far))

    @property
    def half_span(self) -> float:
        return 0.5 * (self.support[1] - self.support[0])

    def to_u(self, z):
        return (np.asarray(z) - 0.5 * (self.support[0] + self.support[1])) / self.half_span

    def f(self, t):
        """``q(t) F(t)``: everything except the base weight."""
        return self.weight.q(t) * self.factor(t)

    def density(self, x) -> np.ndarray:
        """``rho(x)`` on the real line, zero outside the support."""
        u = self.to_u(np.asarray(x, dtype=float))
        inside = np.abs(u) < 1
        out = np.zeros_like(u)
        out[inside] = np.real(self.weight.w0(u[inside]) * self.f(u[inside])) / self.half_span
        return out

    def density_continued(self, z) -> np.ndarray:
        """``rho(z)``: the density's formula continued analytically to complex ``z``."""
        u = self.to_u(np.asarray(z, dtype=complex))
        return self.weight.w0(u) * self.f(u) / self.half_span

    def _stieltjes_u(self, u: np.ndarray) -> np.ndarray:
        out = np.empty(u.shape, dtype=complex)
        far = np.abs(u + np.sqrt(u - 1) * np.sqrt(u + 1)) > self._rho_far
        if far.any():
            out[far] = self._wf_far @ (1 / (self._t_far[:, None] - u[far][None, :]))
        if (~far).any():
            out[~far] = self._stieltjes_near(u[~far])
        return out

    def _stieltjes_near(self, u: np.ndarray) -> np.ndarray:
        fu = self.f(u)
        diff = self._t[:, None] - u[None, :]
        near = np.abs(diff) < _NODE_GUARD
        diff = np.where(near, 1.0, diff)
        quotient = (self._ft[:, None] - fu[None, :]) / diff
        if near.any():
            h = 1e-6
            slope = (self.f(self._t + h) - self.f(self._t - h)) / (2 * h)
            quotient = np.where(near, slope[:, None], quotient)
        return fu * self.weight.cauchy0(u) + self._w @ quotient

    def stieltjes(self, z) -> np.ndarray:
        """Principal-sheet ``m(z)`` (``Im m > 0`` for ``Im z > 0``); real ``x`` means ``x + i0``."""
        z = np.asarray(z, dtype=complex)
        u = self.to_u(z).ravel()
        # keep +0 imaginary parts on the real axis so that the closed forms take the upper limit
        u = u.real + 1j * np.where(u.imag == 0, 0.0, u.imag)
        out = np.empty(u.shape, dtype=complex)
        for s in range(0, u.size, 4096):  # bounded memory: nodes x chunk
            out[s:s + 4096] = self._stieltjes_u(u[s:s + 4096])
        return (out / self.half_span).reshape(z.shape)

    def hilbert(self, x) -> np.ndarray:
        """``p.v. int rho(y)/(y - x) dy = Re m(x + i0)``."""
        return self.stieltjes(np.asarray(x, dtype=float) + 0j).real

    def second_sheet(self, z) -> np.ndarray:
        """``m`` continued from above through the support: ``m(z) + 2 pi i rho(z)`` below the axis,
        ``m(z)`` above it."""
        z = np.asarray(z, dtype=complex)
        m = self.stieltjes(z)
        below = z.imag < 0
        m[below] = m[below] + 2j * np.pi * self.density_continued(z[below])
        return m

    def mass(self) -> float:
        """``int rho``: ``int w0 f`` by the same quadrature."""
        return float(np.real(self._w @ self._ft))

    def moment(self, k: int) -> float:
        """``int x^k rho(x) dx`` by quadrature (exact for polynomial factors of low degree)."""
        x = 0.5 * (self.support[0] + self.support[1]) + self.half_span * self._t
        return float(np.real(self._w @ (self._ft * x**k)))
