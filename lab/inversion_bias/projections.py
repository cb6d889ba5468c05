r"""Gram stacks of the random-projection sketches: SRHT, Gaussian and LESS-uniform.

Each function draws ``trials`` independent sketches and returns the uncorrected Grams
:math:`A^\top S_t^\top S_t A` as a ``[trials, d, d]`` array (SRHT also the fine-corrected
one); :func:`~lab.inversion_bias.sketches.sketched_grams` applies the scalar corrections.
All satisfy :math:`\mathbb E[S^\top S] = I`. See ``book/inversion_bias.md``.
"""

from __future__ import annotations

import numpy as np

from .debias import fine_weights
from .srht import next_power_of_two, randomized_hadamard

_CACHE_ELEMENTS = 2**18


def weighted_grams(X: np.ndarray, w: np.ndarray) -> np.ndarray:
    r""":math:`\sum_s w_{ts}\, x_{ts} x_{ts}^\top` for rows ``X [T, m, d]`` and weights ``w [T, m]``."""
    return np.matmul(X.transpose(0, 2, 1), X * w[..., None])


def srht_grams(
    A: np.ndarray,
    lam: float,
    m: int,
    trials: int,
    rng: np.random.Generator,
    fine: bool = False,
) -> dict[str, np.ndarray]:
    r"""SRHT sketches :math:`S H_N D A/\sqrt N` (Def. 3.6) with ``m`` uniform row draws.

    Row ``j`` of the rotated matrix :math:`\tilde A = H_N D A_{\rm pad}/\sqrt N` is sampled
    with probability ``1/N`` and squared weight ``N/m``. With ``fine=True`` the same rows
    also get the Prop. 3.2 weight :math:`1/(m/N - \tilde\ell_j)`, where
    :math:`\tilde\ell_j = \tilde a_j^\top(A^\top A+\lambda I)^{-1}\tilde a_j` is the ridge
    leverage of the rotated row (the rotation keeps the Gram, hence ``H``).

    Returns
    -------
    dict
        ``{"none": [T, d, d]}`` and, with ``fine``, ``"fine"``.
    """
    n, d = A.shape
    N = next_power_of_two(n)
    signs = rng.choice((-1.0, 1.0), size=(trials, N))
    idx = rng.integers(0, N, size=(trials, m))
    X = np.empty((trials, m, d))
    # rotate a few trials at a time: the butterflies stay in cache (about 2x faster)
    chunk = max(1, _CACHE_ELEMENTS // (N * d))
    for lo in range(0, trials, chunk):
        rotated = randomized_hadamard(A, signs[lo : lo + chunk])
        X[lo : lo + chunk] = np.take_along_axis(rotated, idx[lo : lo + chunk, :, None], axis=1)
    grams = {"none": weighted_grams(X, np.full((trials, m), N / m))}
    if fine:
        H_inv = np.linalg.inv(A.T @ A + lam * np.eye(d))
        ell_rot = np.einsum("tsi,tsi->ts", X @ H_inv, X)
        # Prop. 3.2 with pi_j = 1/N: squared weight 1 / (m/N - ell~_j)
        grams["fine"] = weighted_grams(X, fine_weights(np.full_like(ell_rot, 1.0 / N), ell_rot, m))
    return grams


def gaussian_grams(factor: np.ndarray, m: int, trials: int, rng: np.random.Generator) -> np.ndarray:
    r"""Gaussian-sketch Grams, drawn exactly in distribution without forming ``S``.

    For ``S`` with i.i.d. ``N(0, 1/m)`` entries, :math:`SA` has the law of :math:`GL^\top/\sqrt m`
    with ``G`` an ``m x d`` standard normal and :math:`A^\top A = LL^\top` (``factor = L``), so
    :math:`A^\top S^\top SA = L W L^\top/m` with :math:`W = G^\top G\sim\mathrm{Wishart}(m, I_d)`.
    ``W`` is sampled by the Bartlett decomposition :math:`W = BB^\top`, ``B`` lower triangular
    with :math:`B_{ii}^2\sim\chi^2_{m-i}` (``i = 0..d-1``) and standard normals below the
    diagonal: ``O(d^3)`` per trial instead of ``O(md^2)``.
    """
    d = factor.shape[0]
    if m < d:
        raise ValueError(f"the Gaussian sketch Gram needs m >= d, got m={m}, d={d}")
    B = np.tril(rng.standard_normal((trials, d, d)), k=-1)
    # Bartlett: diagonal entries are chi variables with m, m-1, ..., m-d+1 degrees of freedom
    B[:, np.arange(d), np.arange(d)] = np.sqrt(rng.chisquare(m - np.arange(d), size=(trials, d)))
    LB = factor @ B
    return np.matmul(LB, LB.transpose(0, 2, 1)) / m


def less_grams(A: np.ndarray, m: int, nnz: int, trials: int, rng: np.random.Generator) -> np.ndarray:
    r"""LESS-uniform sketches: each of the ``m`` rows sums ``nnz`` random rows with random signs.

    Row ``r`` of :math:`SA` is :math:`\sqrt{n/(m\,s)}\sum_{k=1}^{s}\sigma_{rk}a_{j_{rk}}` with
    :math:`j_{rk}` uniform on ``{1..n}`` and :math:`\sigma_{rk}=\pm1`, ``s = nnz``; the cross
    terms vanish in expectation, so :math:`\mathbb E[S^\top S] = m\cdot\frac{n}{ms}\cdot\frac{s}{n}I = I`.
    """
    n = A.shape[0]
    rows = rng.integers(0, n, size=(trials, m, nnz))
    signs = rng.choice((-1.0, 1.0), size=(trials, m, nnz))
    X = np.matmul(signs[..., None, :], A[rows])[..., 0, :] * np.sqrt(n / (m * nnz))
    return np.matmul(X.transpose(0, 2, 1), X)
