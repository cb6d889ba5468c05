"""Limit laws with exact free decompressions: the ground truths of the chapter.

Free decompression by ``alpha = n / n_s`` maps the R-transform ``R(w)`` to ``R(alpha w)``
(``book/free_decompression.md``, "Free compression"), i.e. a law ``mu`` to
``(D_alpha mu)^{boxplus 1/alpha}``. Four families are closed under it:

==========================  =============================================  ==========================
law                         density                                        decompressed by ``alpha``
==========================  =============================================  ==========================
semicircle, variance s2     ``sqrt(4 s2 - x^2) / (2 pi s2)``               ``s2 -> alpha s2``
Marchenko-Pastur, ratio l   ``sqrt((l+ - x)(x - l-)) / (2 pi l x)``        ``l -> alpha l``
Kesten-McKay ``D_c KM(s)``  ``s sqrt(4(s-1) - y^2) / (2 pi c (s^2 - y^2))``, ``y = x/c``   ``(c, s) -> (alpha c, s/alpha)``
Wachter (a, b)              ``(a+b) sqrt((x - l-)(l+ - x)) / (2 pi x(1-x))``   ``(a, b) -> (a/alpha, b/alpha)``
==========================  =============================================  ==========================

``KM(s)`` is the free convolution power ``B^{boxplus s}`` of the symmetric Bernoulli law (the
spectral law of the ``s``-regular tree); ``Wachter(a, b)`` is the law of
``(W_1 + W_2)^{-1} W_1`` with Wisharts of ``a n`` and ``b n`` degrees of freedom, a compressed
projection, which is why compression only rescales ``(a, b)``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lab.free_decompression.jacobi import JacobiWeight
from lab.free_decompression.model import SpectralModel

_CHEB2 = JacobiWeight(0.5, 0.5)


@dataclass(frozen=True)
class Law:
    """A limit law with square-root edges: ``rho(x) = sqrt((hi - x)(x - lo)) * g(x)``."""

    name: str
    support: tuple[float, float]

    def g(self, x):
        raise NotImplementedError

    def density(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        lo, hi = self.support
        inside = (x > lo) & (x < hi)
        out = np.zeros_like(x)
        out[inside] = np.sqrt((hi - x[inside]) * (x[inside] - lo)) * self.g(x[inside])
        return out

    def model(self, n_nodes: int = 400) -> SpectralModel:
        """The law as a :class:`SpectralModel` (factor ``F(u) = r^2 g(x(u))``, ``r`` the half-span)."""
        lo, hi = self.support
        c, r = 0.5 * (lo + hi), 0.5 * (hi - lo)
        return SpectralModel(self.support, _CHEB2, lambda u: r * r * self.g(c + r * np.asarray(u)),
                             n_nodes=n_nodes, name=self.name)

    def decompressed(self, alpha: float) -> "Law":
        raise NotImplementedError


@dataclass(frozen=True, init=False)
class Semicircle(Law):
    variance: float

    def __init__(self, variance: float = 1.0):
        if variance <= 0:
            raise ValueError(f"semicircle variance must be positive, got {variance}")
        r = 2 * np.sqrt(variance)
        object.__setattr__(self, "variance", float(variance))
        object.__setattr__(self, "name", f"semicircle(σ²={variance:g})")
        object.__setattr__(self, "support", (-r, r))

    def g(self, x):
        return np.ones_like(np.asarray(x)) / (2 * np.pi * self.variance)

    def stieltjes_closed_form(self, z):
        """Root of ``s2 m^2 + z m + 1 = 0`` with ``m ~ -1/z`` at infinity."""
        z = np.asarray(z, dtype=complex)
        return (-z + np.sqrt(z - self.support[1]) * np.sqrt(z + self.support[1])) / (2 * self.variance)

    def decompressed(self, alpha: float) -> "Semicircle":
        return Semicircle(alpha * self.variance)


@dataclass(frozen=True, init=False)
class MarchenkoPastur(Law):
    ratio: float

    def __init__(self, ratio: float):
        if not 0 < ratio < 1:
            raise ValueError(f"Marchenko-Pastur ratio must lie in (0, 1) (no atom at zero), got {ratio}")
        object.__setattr__(self, "ratio", float(ratio))
        object.__setattr__(self, "name", f"MP(λ={ratio:g})")
        object.__setattr__(self, "support", ((1 - np.sqrt(ratio)) ** 2, (1 + np.sqrt(ratio)) ** 2))

    def g(self, x):
        return 1 / (2 * np.pi * self.ratio * np.asarray(x))

    def stieltjes_closed_form(self, z):
        """Root of ``l z m^2 + (z - 1 + l) m + 1 = 0`` with ``m ~ -1/z`` at infinity."""
        z = np.asarray(z, dtype=complex)
        lo, hi = self.support
        return (1 - self.ratio - z + np.sqrt(z - lo) * np.sqrt(z - hi)) / (2 * self.ratio * z)

    def log_moment(self) -> float:
        """``int log x dMP(l) = -1 - ((1 - l)/l) log(1 - l)``: ``log det / n`` of a large Wishart."""
        return -1 - (1 - self.ratio) / self.ratio * np.log1p(-self.ratio)

    def decompressed(self, alpha: float) -> "MarchenkoPastur":
        return MarchenkoPastur(alpha * self.ratio)


@dataclass(frozen=True, init=False)
class KestenMcKay(Law):
    """``D_scale KM(s)``: ``KM(s)`` (``s >= 2``) dilated by ``scale``."""

    s: float
    scale: float

    def __init__(self, s: float, scale: float = 1.0):
        if s < 2 or scale <= 0:
            raise ValueError(f"Kesten-McKay needs s >= 2 and scale > 0, got s={s}, scale={scale}")
        r = 2 * np.sqrt(s - 1) * scale
        object.__setattr__(self, "s", float(s))
        object.__setattr__(self, "scale", float(scale))
        object.__setattr__(self, "name", f"KM(s={s:g}) × {scale:g}")
        object.__setattr__(self, "support", (-r, r))

    def g(self, x):
        y = np.asarray(x) / self.scale
        return self.s / (2 * np.pi * self.scale * self.scale * (self.s**2 - y * y))

    def density(self, x):
        if self.s == 2:  # arcsine: inverse-square-root edges, g has poles at the edges
            x = np.asarray(x, dtype=float)
            r = self.support[1]
            inside = np.abs(x) < r
            out = np.zeros_like(x)
            out[inside] = 1 / (np.pi * np.sqrt(r * r - x[inside] ** 2))
            return out
        return super().density(x)

    def decompressed(self, alpha: float) -> "KestenMcKay":
        return KestenMcKay(self.s / alpha, self.scale * alpha)


@dataclass(frozen=True, init=False)
class Wachter(Law):
    a: float
    b: float

    def __init__(self, a: float, b: float):
        if a < 1 or b < 1:
            raise ValueError(f"Wachter(a, b) has atoms unless a, b >= 1; got a={a}, b={b}")
        s = a + b
        lo = (np.sqrt(a * (s - 1)) - np.sqrt(b)) ** 2 / s**2
        hi = (np.sqrt(a * (s - 1)) + np.sqrt(b)) ** 2 / s**2
        object.__setattr__(self, "a", float(a))
        object.__setattr__(self, "b", float(b))
        object.__setattr__(self, "name", f"Wachter(a={a:g}, b={b:g})")
        object.__setattr__(self, "support", (lo, hi))

    def g(self, x):
        x = np.asarray(x)
        return (self.a + self.b) / (2 * np.pi * x * (1 - x))

    def decompressed(self, alpha: float) -> "Wachter":
        return Wachter(self.a / alpha, self.b / alpha)
