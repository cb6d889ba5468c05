"""One call from eigenvalues (or a matrix) of a small submatrix to the spectrum at any size.

``decompress_spectrum`` chains the paper's Algorithm 1: density estimate
(:mod:`~lab.free_decompression.estimate`), Padé glue (:mod:`~lab.free_decompression.glue`) and
the characteristic solve (:mod:`~lab.free_decompression.decompress`).
"""
from __future__ import annotations

import numpy as np

from lab.free_decompression.decompress import Decompressed, decompress, support_edges
from lab.free_decompression.estimate import FitSettings, fit_density
from lab.free_decompression.glue import Continuation
from lab.free_decompression.matrices import check_symmetric


def target_grid(cont: Continuation, alpha: float, points: int, pad: float = 0.1) -> np.ndarray:
    """A grid covering the predicted support at ``alpha``, widened by ``pad`` of its length."""
    lo, hi = support_edges(cont, alpha, cont.model.support)
    return np.linspace(lo - pad * (hi - lo), hi + pad * (hi - lo), points)


def decompress_spectrum(submatrix_or_eigs, size: int, *, x=None, n_sub: int | None = None,
                        settings: FitSettings = FitSettings(), pade: tuple[int, int] = (1, 1),
                        delta: float = 1e-4, points: int = 500) -> Decompressed:
    """Density of the spectrum of the ``size x size`` matrix from one ``n_s x n_s`` submatrix.

    Parameters
    ----------
    submatrix_or_eigs : the symmetric submatrix, or its eigenvalues (then ``n_sub`` defaults
        to their number; pass it when several submatrices' eigenvalues are pooled).
    size : ``n``, the size of the matrix whose spectrum is wanted; ``n >= n_s``.
    x : grid for the density; by default ``points`` points around the predicted support.
    """
    A = np.asarray(submatrix_or_eigs, float)
    if A.ndim == 2:
        eigs = np.linalg.eigvalsh(check_symmetric(A))
        n_sub = n_sub or A.shape[0]
    elif A.ndim == 1:
        eigs = A
        n_sub = n_sub or A.size
    else:
        raise ValueError(f"pass a square matrix or a 1-D array of eigenvalues, got shape {A.shape}")
    if size < n_sub:
        raise ValueError(f"target size {size} is smaller than the submatrix ({n_sub}): free decompression "
                         "only grows a matrix; use free compression to shrink it")
    cont = Continuation(fit_density(eigs, settings), "pade", *pade)
    alpha = size / n_sub
    grid = target_grid(cont, alpha, points) if x is None else np.asarray(x, float)
    return decompress(cont, alpha, grid, delta=delta, scale=cont.model.half_span)
