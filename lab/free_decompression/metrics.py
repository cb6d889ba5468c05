"""Distances between spectral densities, and spectral sums read off a density.

``book/free_decompression.md`` reports total variation (TV), Jensen-Shannon (JS) and
Kolmogorov-Smirnov (KS) distances as the paper does (its Table 2), each between two densities on
a common grid, or between a density and a histogram of true eigenvalues.
"""
from __future__ import annotations

import numpy as np


def _normalised(x, p):
    p = np.clip(np.asarray(p, float), 0, None)
    return p / np.trapezoid(p, x)


def total_variation(x, p, q) -> float:
    """``TV = 1/2 int |p - q|`` after normalising both to unit mass on the grid ``x``."""
    return float(0.5 * np.trapezoid(np.abs(_normalised(x, p) - _normalised(x, q)), x))


def jensen_shannon(x, p, q) -> float:
    """``JS = 1/2 KL(p | M) + 1/2 KL(q | M)``, ``M = (p + q)/2``, in nats (at most ``log 2``)."""
    p, q = _normalised(x, p), _normalised(x, q)
    mid = 0.5 * (p + q)
    with np.errstate(divide="ignore", invalid="ignore"):
        kl = lambda a: np.where(a > 0, a * np.log(a / mid), 0.0)  # noqa: E731
        return float(0.5 * np.trapezoid(kl(p) + kl(q), x))


def kolmogorov_smirnov(x, p, q) -> float:
    """Largest gap between the two cumulative distributions on the grid."""
    cp = np.concatenate([[0], np.cumsum(0.5 * (p[1:] + p[:-1]) * np.diff(x))])
    cq = np.concatenate([[0], np.cumsum(0.5 * (q[1:] + q[:-1]) * np.diff(x))])
    return float(np.max(np.abs(cp / cp[-1] - cq / cq[-1])))


def histogram_distances(x, rho, eigs, bins: int = 100) -> dict:
    """TV, JS and KS between a density and the eigenvalues' histogram (``bins`` bins on their range).

    The density's mass in each bin is integrated on its grid, so both sides are bin probabilities.
    """
    eigs = np.ravel(eigs)
    edges = np.linspace(eigs.min(), eigs.max(), bins + 1)
    emp = np.histogram(eigs, edges)[0] / eigs.size
    cdf = np.concatenate([[0], np.cumsum(0.5 * (rho[1:] + rho[:-1]) * np.diff(x))])
    cdf = cdf / cdf[-1]
    model = np.diff(np.interp(edges, x, cdf))
    model = model / model.sum()
    mid = 0.5 * (emp + model)
    with np.errstate(divide="ignore", invalid="ignore"):
        js = 0.5 * np.sum(np.where(emp > 0, emp * np.log(emp / mid), 0) + np.where(model > 0, model * np.log(model / mid), 0))
    return {"tv": float(0.5 * np.abs(emp - model).sum()), "js": float(js),
            "ks": float(np.max(np.abs(np.cumsum(emp) - np.cumsum(model))))}


def log_histogram_distances(x, rho, eigs, bins: int = 60, floor: float = 1e-5) -> dict:
    """TV and KS as :func:`histogram_distances`, on ``bins`` log-spaced bins from ``floor`` up.

    A kernel spectrum spans decades, so a linear histogram puts most eigenvalues in its first
    bin; these bins see how the small eigenvalues are spread. Everything below ``floor``
    (the density's negative side included) forms one extra bin.
    """
    eigs = np.ravel(eigs)
    edges = np.concatenate([[min(x[0], eigs.min())], np.geomspace(floor, 1.001 * eigs.max(), bins)])
    emp = np.histogram(eigs, edges)[0] / eigs.size
    cdf = np.concatenate([[0], np.cumsum(0.5 * (rho[1:] + rho[:-1]) * np.diff(x))])
    model = np.diff(np.interp(edges, x, cdf / cdf[-1]))
    model = model / model.sum()
    return {"tv": float(0.5 * np.abs(emp - model).sum()), "ks": float(np.max(np.abs(np.cumsum(emp) - np.cumsum(model))))}


def log_determinant(x, rho, n: int, max_leak: float = 0.05) -> float:
    """``log det A ~ n int log(x) rho(x) dx`` for an ``n x n`` positive definite ``A``.

    A decompressed density can leak a little mass to ``x <= 0`` near a hard lower edge; it is
    dropped (and the rest renormalised) unless it exceeds ``max_leak``, which raises.
    """
    x, rho = np.asarray(x, float), np.clip(np.asarray(rho, float), 0, None)
    keep = x > 0
    total = np.trapezoid(rho, x)
    leak = 1 - np.trapezoid(rho[keep], x[keep]) / total
    if leak > max_leak:
        raise ValueError(f"{100 * leak:.1f}% of the density lies at x <= 0: the matrix is not positive definite")
    rho_k = rho[keep] / np.trapezoid(rho[keep], x[keep])
    return float(n * np.trapezoid(np.log(x[keep]) * rho_k, x[keep]))


def moments(x, rho, orders=(1, 2)) -> dict:
    """``mu_k = int x^k rho(x) dx``, so ``tr A^k ~ n mu_k``."""
    rho = _normalised(x, rho)
    return {k: float(np.trapezoid(x**k * rho, x)) for k in orders}
