r"""Fast Walsh-Hadamard transform and the randomized Hadamard rotation of SRHT (Def. 3.6).

The SRHT sketch is :math:`S H_N D_N A / \sqrt N`: pad ``A`` with zero rows to ``N = 2^k``,
flip row signs with a Rademacher diagonal ``D``, mix rows with the Walsh-Hadamard matrix
``H`` (Sylvester order, entries +-1), then sample rows uniformly. Because
:math:`H D/\sqrt N` is orthogonal the rotated matrix has the same Gram as ``A`` but flatter
leverage scores. See ``book/inversion_bias.md``.

The transform is ``kernels/fwht.py``'s: the Triton kernel on a GPU, its torch reference on the CPU.
"""

from __future__ import annotations

import numpy as np


def next_power_of_two(n: int) -> int:
    """Smallest power of two ``>= n``."""
    return 1 << max(int(n) - 1, 0).bit_length()


def fwht(x: np.ndarray, axis: int = -1) -> np.ndarray:
    r"""Unnormalised Walsh-Hadamard transform along ``axis`` (length a power of two).

    Equals ``np.moveaxis(np.moveaxis(x, axis, -1) @ scipy.linalg.hadamard(n), -1, axis)`` in
    ``O(n log n)`` per vector. It runs the shared implementation in ``kernels/fwht.py``: the
    Triton kernel through its dispatcher on a CUDA GPU, the torch reference (float64) on the CPU.
    """
    import torch

    from kernels.fwht import fwht as fwht_dispatched, fwht_reference

    on_gpu = torch.cuda.is_available()
    t = torch.from_numpy(np.ascontiguousarray(np.moveaxis(np.asarray(x, dtype=float), axis, -1)))
    y = fwht_dispatched(t.cuda()).cpu() if on_gpu else fwht_reference(t)
    return np.moveaxis(y.numpy(), -1, axis)


def randomized_hadamard(A: np.ndarray, signs: np.ndarray) -> np.ndarray:
    r"""Rotated rows :math:`H_N D A_{\rm pad} / \sqrt N` for a stack of sign vectors.

    Parameters
    ----------
    A : ndarray, shape (n, d)
    signs : ndarray, shape (T, N)
        Rademacher diagonals, ``N = next_power_of_two(n)``.

    Returns
    -------
    ndarray, shape (T, N, d)
        One rotated matrix per trial; each has Gram ``A^T A``.
    """
    n, d = A.shape
    T, N = signs.shape
    if N != next_power_of_two(n):
        raise ValueError(f"signs have length {N}, expected {next_power_of_two(n)} for n={n}")
    DA = np.zeros((T, N, d))
    DA[:, :n, :] = signs[:, :n, None] * A[None]
    return fwht(DA, axis=1) / np.sqrt(N)
