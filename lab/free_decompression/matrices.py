"""Random and real matrices, their submatrices, and eigenvalues on the CPU or a GPU.

The synthetic models realise the laws of :mod:`lab.free_decompression.laws` at finite size;
the Gaussian-kernel matrix of scikit-learn's digits is a real matrix whose full spectrum we
compute (``book/free_decompression.md``). Large eigendecompositions run through :func:`eigvalsh`
(torch, float64 on the CPU, float32 or float64 on CUDA); the experiments cache them with
:func:`lab.cache.cached`, since they are deterministic given the seed.
"""
from __future__ import annotations

import time

import numpy as np
import torch


def check_symmetric(A: np.ndarray, rtol: float = 1e-10) -> np.ndarray:
    """``A`` as a float array, or a ValueError naming what is wrong with it."""
    A = np.asarray(A)
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"need a square matrix, got shape {A.shape}")
    A = A.astype(float)
    gap = np.max(np.abs(A - A.T)) if A.size else 0.0
    if gap > rtol * max(np.max(np.abs(A)), 1e-300):
        raise ValueError(f"matrix is not symmetric (max |A - A^T| = {gap:.3g}); free decompression needs a "
                         "real symmetric (Hermitian) matrix")
    return A


def eigvalsh(A, device: str | None = None, dtype=torch.float64) -> tuple[np.ndarray, float]:
    """Eigenvalues of a symmetric matrix with torch, and the wall time of the solve in seconds."""
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    T = torch.as_tensor(A, dtype=dtype, device=device)
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    w = torch.linalg.eigvalsh(T)
    if device == "cuda":
        torch.cuda.synchronize()
    return w.double().cpu().numpy(), time.perf_counter() - t0


def principal_submatrix(A: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A random ``size x size`` principal submatrix (rows and columns of one random index set)."""
    A = check_symmetric(A)
    if not 1 <= size <= A.shape[0]:
        raise ValueError(f"submatrix size {size} must lie in [1, {A.shape[0]}]")
    idx = np.sort(rng.choice(A.shape[0], size, replace=False))
    return A[np.ix_(idx, idx)]


def wishart_eigs(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """Eigenvalues of ``X X^T / d`` with ``X`` ``n x d`` standard Gaussian: law MP(``n/d``)."""
    X = rng.standard_normal((n, d))
    return np.linalg.eigvalsh(X @ X.T / d)


def wigner_eigs(n: int, variance: float, rng: np.random.Generator) -> np.ndarray:
    """Eigenvalues of a GOE matrix whose spectrum is the semicircle of the given variance."""
    G = rng.standard_normal((n, n))
    return np.linalg.eigvalsh((G + G.T) * np.sqrt(variance / (2 * n)))


def matching_sum_eigs(n: int, s: int, scale: float, rng: np.random.Generator) -> np.ndarray:
    """Eigenvalues of ``scale * sum`` of ``s`` random perfect matchings: law ``D_scale KM(s)``.

    The sum is the adjacency matrix of a random ``s``-regular multigraph, whose spectrum tends
    to Kesten-McKay; its Perron eigenvalue ``s`` (constant vector) is dropped.
    """
    if n % 2:
        raise ValueError("a perfect matching needs an even n")
    A = np.zeros((n, n))
    for _ in range(s):
        p = rng.permutation(n).reshape(-1, 2)
        np.add.at(A, (p[:, 0], p[:, 1]), 1.0)
        np.add.at(A, (p[:, 1], p[:, 0]), 1.0)
    return scale * np.linalg.eigvalsh(A)[:-1]


def wachter_eigs(n: int, a: float, b: float, rng: np.random.Generator) -> np.ndarray:
    """Eigenvalues of ``(W1 + W2)^{-1} W1``, Wisharts with ``a n`` and ``b n`` degrees of freedom."""
    X = rng.standard_normal((n, int(round(a * n))))
    Y = rng.standard_normal((n, int(round(b * n))))
    W1, W2 = X @ X.T, Y @ Y.T
    L = np.linalg.cholesky(W1 + W2)
    M = np.linalg.solve(L, np.linalg.solve(L, W1).T)  # L^{-1} W1 L^{-T}: same spectrum, symmetric
    return np.linalg.eigvalsh(0.5 * (M + M.T))


def gaussian_kernel(points: np.ndarray, bandwidth: float) -> np.ndarray:
    """``K_ij = exp(-|p_i - p_j|^2 / (2 h^2))``."""
    P = np.asarray(points, float)
    sq = (P * P).sum(1)
    D = np.maximum(sq[:, None] + sq[None, :] - 2 * P @ P.T, 0)
    return np.exp(-D / (2 * bandwidth**2))


def digits_points() -> np.ndarray:
    """scikit-learn's handwritten digits (1797 x 64), pixels scaled to [0, 1]."""
    from sklearn.datasets import load_digits

    return load_digits().data / 16.0


def median_bandwidth(points: np.ndarray) -> float:
    """The median heuristic: ``h = median_{i<j} |p_i - p_j|``, for :func:`gaussian_kernel`."""
    from scipy.spatial.distance import pdist

    P = np.asarray(points, float)
    if P.ndim != 2 or P.shape[0] < 2:
        raise ValueError(f"need at least two points as rows of a 2-D array, got shape {P.shape}")
    return float(np.median(pdist(P)))


def digits_kernel(seed: int) -> dict:
    """The ``1797 x 1797`` Gaussian kernel of :func:`digits_points` and its full spectrum.

    Pixels are scaled by 1/16 (not standardised), the bandwidth is :func:`median_bandwidth`,
    and the points are shuffled by a seeded permutation, so the leading ``n_s x n_s`` block is a
    uniformly random principal submatrix. Returns the matrix, ``h``, the eigenvalues and the
    time of the direct solve (``numpy.linalg.eigvalsh``, float64).
    """
    P = digits_points()
    P = P[np.random.default_rng([seed, 1797]).permutation(len(P))]
    h = median_bandwidth(P)
    K = gaussian_kernel(P, h)
    t0 = time.perf_counter()
    eigs = np.linalg.eigvalsh(K)
    return {"K": K, "bandwidth": h, "eigs": eigs, "direct_s": time.perf_counter() - t0}
