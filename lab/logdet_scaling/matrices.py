"""Test matrices for the log-determinant chapter (``book/logdet_scaling.md``).

* :func:`wishart` — ``X Xᵀ / p + ρ I`` with Gaussian ``X`` (``n × p``): SPD, well conditioned for ``p ≫ n``.
* :func:`symmetric_indefinite` — ``(G + Gᵀ)/2`` with Gaussian ``G``: eigenvalues of both signs.
* :func:`matern` — the Matérn-3/2 kernel ``k(r) = (1 + √3 r/ℓ) e^{−√3 r/ℓ}`` on uniform random
  points of ``[0, 1]^dim``, plus a jitter ``ε I``; :func:`matern_lmc` its multi-output linear
  model of co-regionalisation ``K ⊗ B`` with ``B = W Wᵀ + diag(κ)``, ordered (point, output) so
  that the leading ``k d`` rows are all outputs of the first ``k`` points.
* :func:`write_npy` — put a matrix on disk as a ``.npy`` that :func:`lab.logdet_scaling.memdet.memdet`
  reads through a memory map.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.spatial.distance import cdist


def wishart(n: int, *, p: int | None = None, ridge: float = 0.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    p = 2 * n if p is None else p
    X = rng.standard_normal((n, p))
    A = X @ X.T / p
    A[np.diag_indices(n)] += ridge
    return A


def symmetric_indefinite(n: int, *, seed: int = 0) -> np.ndarray:
    G = np.random.default_rng(seed).standard_normal((n, n))
    return (G + G.T) / 2


def random_points(n: int, *, dim: int = 2, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(size=(n, dim))


def matern(points: np.ndarray, *, length: float = 0.04, jitter: float = 1e-8) -> np.ndarray:
    """Matérn ν = 3/2 kernel matrix ``(1 + √3 r/ℓ) exp(−√3 r/ℓ) + ε I``."""
    r = np.sqrt(3.0) * cdist(points, points) / length
    K = (1.0 + r) * np.exp(-r)
    K[np.diag_indices(len(points))] += jitter
    return K


def lmc_coregionalisation(d: int, *, rank: int = 2, kappa: float = 0.1, seed: int = 0) -> np.ndarray:
    """``B = W Wᵀ + κ I`` with Gaussian ``W`` (``d × rank``): the outputs' covariance."""
    W = np.random.default_rng(seed).standard_normal((d, rank))
    return W @ W.T + kappa * np.eye(d)


def matern_lmc(points: np.ndarray, d: int, *, length: float = 0.04, jitter: float = 1e-8,
               rank: int = 2, seed: int = 0) -> np.ndarray:
    """``K ⊗ B``: row ``x d + o`` is output ``o`` of point ``x``."""
    return np.kron(matern(points, length=length, jitter=jitter), lmc_coregionalisation(d, rank=rank, seed=seed))


def write_npy(path, A: np.ndarray) -> Path:
    """Write ``A`` to ``path`` as ``.npy`` through a memory map and return the path."""
    path = Path(path)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=A.shape)
    out[:] = A
    out.flush()
    del out
    return path
