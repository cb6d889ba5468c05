"""Jacobi weights on [-1, 1]: polynomials, quadrature and the Cauchy transform of the weight.

A density on the standard interval is modelled as ``w(t) F(t)`` with a Jacobi weight
``w(t) = (1 - t)^a (1 + t)^b`` and a smooth factor ``F`` (chapter ``book/free_decompression.md``,
"Estimating the submatrix's density"). We handle the weights whose exponents are both integers or
both half-integers: then ``w = w0 * q`` with a *base* weight ``w0`` that is either ``1``
(Legendre) or ``sqrt(1 - t^2)`` (Chebyshev of the second kind) and a polynomial
``q(t) = (1 - t)^j (1 + t)^l``. The base weight's Cauchy transform

.. math:: C_0(u) = \\int_{-1}^{1} \\frac{w_0(t)}{t - u}\\,dt

has a closed form, which is what makes the Stieltjes transform exact up to the real axis.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln


@dataclass(frozen=True)
class JacobiWeight:
    """``(1 - t)^a (1 + t)^b`` split as a base weight times a polynomial.

    Parameters
    ----------
    a, b : exponents at ``t = 1`` and ``t = -1``; both integers or both half-integers, ``>= 0``.
    """

    a: float = 0.5
    b: float = 0.5

    def __post_init__(self):
        ok = all(x >= 0 and float(2 * x).is_integer() for x in (self.a, self.b))
        if not ok or (2 * self.a) % 2 != (2 * self.b) % 2:
            raise ValueError(
                f"Jacobi exponents (a, b) = ({self.a}, {self.b}) must be >= 0 and both integers or both "
                "half-integers (e.g. (0.5, 0.5), (0, 0), (2, 2)); other weights have no closed-form Cauchy transform here"
            )

    @property
    def base(self) -> str:
        """``"cheb2"`` for ``sqrt(1 - t^2)``, ``"legendre"`` for ``1``."""
        return "cheb2" if (2 * self.a) % 2 == 1 else "legendre"

    @property
    def extra(self) -> tuple[int, int]:
        """Integer powers ``(j, l)`` of ``(1 - t)`` and ``(1 + t)`` beyond the base weight."""
        h = 0.5 if self.base == "cheb2" else 0.0
        return int(self.a - h), int(self.b - h)

    def w0(self, t):
        """Base weight, continued analytically off [-1, 1] (principal square root)."""
        t = np.asarray(t)
        if self.base == "cheb2":
            return np.sqrt(1 - t.astype(complex) ** 2) if np.iscomplexobj(t) else np.sqrt(np.clip(1 - t**2, 0, None))
        return np.ones_like(t)

    def q(self, t):
        """Polynomial part ``(1 - t)^j (1 + t)^l``."""
        j, l = self.extra
        return (1 - t) ** j * (1 + t) ** l

    def __call__(self, t):
        return self.w0(t) * self.q(t)

    def cauchy0(self, u):
        """``C_0(u)`` on the principal sheet; ``u`` with ``Im u = +0`` gives the limit from above.

        Chebyshev-II: ``-pi (u - sqrt(u - 1) sqrt(u + 1))``; Legendre: ``log(u - 1) - log(u + 1)``.
        Both products of principal roots/logs have their cut exactly on [-1, 1].
        """
        u = np.asarray(u, dtype=complex)
        if self.base == "cheb2":
            return -np.pi * (u - np.sqrt(u - 1) * np.sqrt(u + 1))
        return np.log(u - 1) - np.log(u + 1)

    def nodes(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Gauss quadrature for the base weight: exact for polynomials of degree ``2n - 1``."""
        if self.base == "cheb2":
            k = np.arange(1, n + 1)
            theta = k * np.pi / (n + 1)
            return np.cos(theta), np.pi / (n + 1) * np.sin(theta) ** 2
        return np.polynomial.legendre.leggauss(n)

    def norms(self, K: int) -> np.ndarray:
        """``h_k = int w P_k^2`` for ``k = 0..K`` (closed form, DLMF 18.3)."""
        a, b = self.a, self.b
        k = np.arange(K + 1, dtype=float)
        log_h = ((a + b + 1) * np.log(2) - np.log(2 * k + a + b + 1) + gammaln(k + a + 1) + gammaln(k + b + 1)
                 - gammaln(k + a + b + 1) - gammaln(k + 1))
        return np.exp(log_h)

    def polys(self, K: int, t) -> np.ndarray:
        """``P_k^{(a,b)}(t)`` for ``k = 0..K`` by the three-term recurrence; shape ``(K + 1, *t.shape)``."""
        a, b = self.a, self.b
        t = np.asarray(t)
        P = np.empty((K + 1,) + t.shape, dtype=np.result_type(t, float))
        P[0] = 1.0
        if K >= 1:
            P[1] = (a + 1) + (a + b + 2) * (t - 1) / 2
        for n in range(2, K + 1):
            c = 2 * n + a + b
            P[n] = ((c - 1) * (c * (c - 2) * t + a * a - b * b) * P[n - 1]
                    - 2 * (n + a - 1) * (n + b - 1) * c * P[n - 2]) / (2 * n * (n + a + b) * (c - 2))
        return P


def jackson_damping(K: int) -> np.ndarray:
    """Jackson kernel ``g_k`` for ``k = 0..K``; multiplying coefficients by it suppresses Gibbs ripples."""
    N = K + 1
    k = np.arange(N)
    return ((N - k + 1) * np.cos(np.pi * k / (N + 1)) + np.sin(np.pi * k / (N + 1)) / np.tan(np.pi / (N + 1))) / (N + 1)
