"""Theorem 1 numerics: the stable rank of a random ReLU patch embedding against bandwidth.

``φ(x) = W₂ ReLU(W₁x) + b`` on patches ``x ∈ R^k``; ``V`` stacks ``n`` patches. Patches are drawn
from a frequency band ``[f₀, f₀ + ω]`` (cycles per step; sums of ``m`` sinusoids with frequencies
uniform in the band and random phases), or from ``n_bands`` mutually disjoint bands. The
theorem: one band of width ω gives ``stable-rank(φ(V)) = O(ω)``; ``n`` disjoint bands give nearly
orthogonal embeddings and ``Ω(n)``. Both stable-rank definitions are computed:
``‖A‖_F / ‖A‖₂`` (the paper note's) and ``‖A‖_F² / ‖A‖₂²`` (the usual one). See
``book/tsfm_biases.md``.
"""
from __future__ import annotations

import numpy as np


def stable_ranks(A: np.ndarray, center: bool = True) -> tuple[float, float]:
    """``(‖A‖_F/‖A‖₂, ‖A‖_F²/‖A‖₂²)`` of a matrix (rows centred first when ``center``).

    Centring removes the common mean row: ReLU's outputs are non-negative, so every embedding
    shares a large mean direction that dominates ``‖A‖₂`` and carries no band information.
    """
    if center:
        A = A - A.mean(axis=0)
    s = np.linalg.svd(A, compute_uv=False)
    fro = np.sqrt((s**2).sum())
    return float(fro / s[0]), float(fro**2 / s[0] ** 2)


def _both(E: np.ndarray) -> np.ndarray:
    return np.array([*stable_ranks(E, True), *stable_ranks(E, False)])


def _table(name: str, x: np.ndarray, rows) -> dict:
    """``{name: x, sr1, sr2 (centred), sr1_raw, sr2_raw}``."""
    rows = np.array(rows)
    return {name: x, "sr1": rows[:, 0], "sr2": rows[:, 1], "sr1_raw": rows[:, 2], "sr2_raw": rows[:, 3]}


def random_relu_mlp(k: int, hidden: int, d: int, rng: np.random.Generator, bias: float = 0.0):
    """A random ``φ(x) = W₂ ReLU(W₁x) + b`` with He-scaled Gaussian weights; returns ``φ``."""
    W1 = rng.standard_normal((hidden, k)) * np.sqrt(2.0 / k)
    W2 = rng.standard_normal((d, hidden)) / np.sqrt(hidden)
    b = bias * rng.standard_normal(d)
    return lambda V: np.maximum(V @ W1.T, 0.0) @ W2.T + b


def band_patches(n: int, k: int, lo: float, hi: float, rng: np.random.Generator, m: int = 4) -> np.ndarray:
    """``n`` patches of length ``k``: ``Σ_{j≤m} sin(2π f_j t + φ_j)/√m``, ``f_j ~ U[lo, hi]``."""
    t = np.arange(k)
    f = rng.uniform(lo, hi, (n, m, 1))
    ph = rng.uniform(0, 2 * np.pi, (n, m, 1))
    return np.sin(2 * np.pi * f * t + ph).sum(axis=1) / np.sqrt(m)


def stable_rank_vs_bandwidth(widths, *, k: int = 64, n: int = 512, hidden: int = 256, d: int = 128,
                             f0: float = 0.02, seed: int = 0, draws: int = 3) -> dict:
    """Both stable ranks of ``φ(V)`` for patches from ``[f0, f0 + ω]``, averaged over ``draws`` MLPs."""
    rows = []
    for w in widths:
        acc = np.zeros(4)
        for j in range(draws):
            rng = np.random.default_rng([seed, j, int(round(w * 1e6))])
            phi = random_relu_mlp(k, hidden, d, np.random.default_rng([seed, j]))
            acc += _both(phi(band_patches(n, k, f0, f0 + w, rng))) / draws
        rows.append(acc)
    return _table("width", np.asarray(widths, float), rows)


def stable_rank_vs_bands(counts, *, width: float = 0.01, k: int = 64, n: int = 512, hidden: int = 256,
                         d: int = 128, f_max: float = 0.45, seed: int = 0, draws: int = 3) -> dict:
    """Both stable ranks for patches spread evenly over ``n_bands`` disjoint bands of width ``width``.

    Band ``j`` of ``N`` sits at ``[c_j, c_j + width]`` with centres spread evenly over
    ``[0.02, f_max]``; each patch comes from one band (``n / N`` patches per band).
    """
    rows = []
    for N in counts:
        starts = np.linspace(0.02, f_max - width, N) if N > 1 else np.array([0.02])
        acc = np.zeros(4)
        for j in range(draws):
            rng = np.random.default_rng([seed, j, N, 7])
            phi = random_relu_mlp(k, hidden, d, np.random.default_rng([seed, j]))
            per = np.array_split(np.arange(n), N)
            V = np.concatenate([band_patches(len(p), k, s, s + width, rng) for p, s in zip(per, starts)])
            acc += _both(phi(V)) / draws
        rows.append(acc)
    return _table("bands", np.asarray(counts, int), rows)


def linear_fit(x, y) -> dict:
    """Least-squares ``y ≈ a + b x`` with ``R²``; and the same on log-log axes."""
    x, y = np.asarray(x, float), np.asarray(y, float)

    def fit(u, v):
        b, a = np.polyfit(u, v, 1)
        res = v - (a + b * u)
        r2 = 1 - (res**2).sum() / ((v - v.mean()) ** 2).sum()
        return float(a), float(b), float(r2)

    a, b, r2 = fit(x, y)
    la, lb, lr2 = fit(np.log(x), np.log(y))
    return dict(intercept=a, slope=b, r2=r2, loglog_slope=lb, loglog_r2=lr2)
