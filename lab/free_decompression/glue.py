"""Continuing the Stieltjes transform through the support: the Padé glue (paper, Prop. 5).

Characteristics that reach a point just above the real axis start *below* it, on the second
sheet of ``m`` (``book/free_decompression.md``, "Why a second branch"). Below the axis the
principal branch is ``conj(m(conj z))`` (Schwarz reflection), and the second sheet is

.. math:: m_{II}(z) = G(z) - \\overline{m(\\bar z)},\\qquad G(x) = 2\\,\\mathrm{p.v.}\\!\\int\\frac{\\rho(y)}{y - x}\\,dy\\ \\text{on the support,}

since then ``m_II(x - i0) = 2H(x) - (H(x) - i pi rho(x)) = m(x + i0)``. ``G`` is known only on
the support; a low-order rational ``P/Q`` fitted there continues it smoothly, where continuing
the fitted density itself (``m + 2 pi i rho``, exact for the model) amplifies the error of its
high-order coefficients off the axis. For Marchenko-Pastur ``G(x) = (1 - l - x)/(l x)`` and for
the semicircle ``G(x) = -x/s2``, so a ``[1/1]`` Padé is exact for both.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lab.free_decompression.model import SpectralModel


@dataclass
class Pade:
    """``G(z) = P(u)/Q(u)`` in the standard variable ``u`` of a support, ``Q(u) = 1 + sum_j c_j u^j``."""

    num: np.ndarray  # P's coefficients, lowest degree first
    den: np.ndarray  # Q's coefficients, lowest degree first (den[0] == 1)
    center: float
    half_span: float

    def __call__(self, z):
        u = (np.asarray(z, dtype=complex) - self.center) / self.half_span
        return np.polynomial.polynomial.polyval(u, self.num) / np.polynomial.polynomial.polyval(u, self.den)

    def poles(self) -> np.ndarray:
        """Poles of ``G`` in ``x``."""
        if len(self.den) < 2:
            return np.array([], dtype=complex)
        return self.center + self.half_span * np.polynomial.polynomial.polyroots(self.den)


def fit_pade(x: np.ndarray, g: np.ndarray, support: tuple[float, float], p: int = 1, q: int = 1,
             iterations: int = 8) -> Pade:
    """Least-squares rational fit ``P/Q`` (degrees ``p``, ``q``) of values ``g`` at real ``x``.

    Linearised: minimise ``sum_i |P(u_i) - g_i Q(u_i)|^2 / |Q_prev(u_i)|^2`` and iterate
    (Sanathanan-Koerner), so that the final residual approximates ``|P/Q - g|``.
    """
    if p < 0 or q < 0:
        raise ValueError(f"Padé degrees must be >= 0, got ({p}, {q})")
    center, half = 0.5 * (support[0] + support[1]), 0.5 * (support[1] - support[0])
    u = (np.asarray(x, float) - center) / half
    g = np.asarray(g, float)
    Vp = np.vander(u, p + 1, increasing=True)
    Vq = np.vander(u, q + 1, increasing=True)[:, 1:]
    scale = np.ones_like(u)
    for _ in range(max(1, iterations if q else 1)):
        A = np.hstack([Vp, -g[:, None] * Vq]) / scale[:, None]
        coef = np.linalg.lstsq(A, g / scale, rcond=None)[0]
        den = np.concatenate([[1.0], coef[p + 1:]])
        scale = np.abs(np.polynomial.polynomial.polyval(u, den))
    return Pade(coef[:p + 1], den, center, half)


class Continuation:
    """The glued transform the characteristics use: ``m`` above the axis, ``m_II`` below.

    Parameters
    ----------
    model : the submatrix's density model.
    method : ``"pade"`` (paper's glue, degrees ``p``, ``q``) or ``"exact"`` (Plemelj continuation
        of the model itself: exact for analytic laws, noisy for high-order fits).
    """

    def __init__(self, model: SpectralModel, method: str = "pade", p: int = 1, q: int = 1, n_fit: int = 400):
        if method not in ("pade", "exact"):
            raise ValueError(f"continuation must be 'pade' or 'exact', got {method!r}")
        self.model, self.method = model, method
        self.pade = None
        self.pole_warning = ""
        if method == "pade":
            lo, hi = model.support
            # evenly spaced: Chebyshev points would crowd the edges, where the fit is least reliable
            x = np.linspace(lo, hi, n_fit + 2)[1:-1]
            self.pade = fit_pade(x, 2 * model.hilbert(x), model.support, p, q)
            inside = [z for z in self.pade.poles() if lo <= z.real <= hi and abs(z.imag) < 0.05 * (hi - lo)]
            if inside:
                self.pole_warning = f"glue has poles near the support: {np.round(inside, 4)}"

    def __call__(self, z) -> np.ndarray:
        z = np.asarray(z, dtype=complex)
        out = np.empty(z.shape, dtype=complex)
        above = z.imag >= 0
        out[above] = self.model.stieltjes(z[above])
        below = ~above
        if below.any():
            if self.method == "exact":
                out[below] = self.model.second_sheet(z[below])
            else:
                out[below] = self.pade(z[below]) - np.conj(self.model.stieltjes(np.conj(z[below])))
        return out

    def glue_residual(self, n: int = 200) -> float:
        """Largest ``|G - 2H|`` on the support, relative to ``max |2H|`` (Padé only)."""
        if self.pade is None:
            return 0.0
        lo, hi = self.model.support
        x = np.linspace(lo, hi, n + 2)[1:-1]
        two_h = 2 * self.model.hilbert(x)
        return float(np.max(np.abs(self.pade(x).real - two_h)) / np.max(np.abs(two_h)))
