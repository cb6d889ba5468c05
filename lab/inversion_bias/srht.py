r"""Fast Walsh-Hadamard transform and the randomized Hadamard rotation of SRHT (Def. 3.6).

The SRHT sketch is :math:`S H_N D_N A / \sqrt N`: pad ``A`` with zero rows to ``N = 2^k``,
flip row signs with a Rademacher diagonal ``D``, mix rows with the Walsh-Hadamard matrix
``H`` (Sylvester order, entries +-1), then sample rows uniformly. Because
:math:`H D/\sqrt N` is orthogonal the rotated matrix has the same Gram as ``A`` but flatter
leverage scores. See ``book/inversion_bias.md``.

The transform uses ``kernels.fwht.fwht`` (a GPU kernel) when it is importable and CUDA is
available, and an ``O(N log N)`` numpy butterfly otherwise; tests keep the two equal.
"""

from __future__ import annotations

import functools
import os

import numpy as np


def next_power_of_two(n: int) -> int:
    """Smallest power of two ``>= n``."""
    return 1 << max(int(n) - 1, 0).bit_length()


def fwht_numpy(x: np.ndarray, axis: int = -1) -> np.ndarray:
    r"""Unnormalised Walsh-Hadamard transform along ``axis`` (length a power of two).

    Equals ``np.moveaxis(np.moveaxis(x, axis, -1) @ scipy.linalg.hadamard(n), -1, axis)``
    in ``O(n log n)`` per vector: stage ``h`` maps each pair ``(u, v)`` at distance ``h``
    to ``(u + v, u - v)``, which builds :math:`H_{2h} = [[H_h, H_h], [H_h, -H_h]]`.
    """
    x = np.asarray(x, dtype=float)
    axis = axis % x.ndim
    n = x.shape[axis]
    if n & (n - 1):
        raise ValueError(f"FWHT length must be a power of two, got {n}")
    pre = int(np.prod(x.shape[:axis], dtype=int))
    post = int(np.prod(x.shape[axis + 1 :], dtype=int))
    cur = np.array(x.reshape(pre, n, post), copy=True)
    nxt = np.empty_like(cur)
    h = 1
    while h < n:
        u = cur.reshape(pre, n // (2 * h), 2, h, post)
        out = nxt.reshape(pre, n // (2 * h), 2, h, post)
        # butterfly: (u, v) -> (u + v, u - v)
        np.add(u[:, :, 0], u[:, :, 1], out=out[:, :, 0])
        np.subtract(u[:, :, 0], u[:, :, 1], out=out[:, :, 1])
        cur, nxt = nxt, cur
        h *= 2
    return cur.reshape(x.shape)


@functools.lru_cache(maxsize=1)
def _kernel_fwht():
    """``kernels.fwht.fwht`` if it can be imported, else ``None``."""
    try:
        from kernels.fwht import fwht as kernel_fwht
    except ImportError:
        return None
    return kernel_fwht


@functools.lru_cache(maxsize=1)
def _cuda_present() -> bool:
    """Whether a CUDA device is usable; looks for the driver before paying torch's import."""
    if not (os.path.exists("/proc/driver/nvidia/version") or os.path.exists("/dev/nvidia0")):
        return False
    import torch

    return torch.cuda.is_available()


def fwht(x: np.ndarray, axis: int = -1, backend: str = "auto") -> np.ndarray:
    """Walsh-Hadamard transform along ``axis`` with a choice of backend.

    Parameters
    ----------
    x : ndarray
    axis : int
    backend : {"auto", "numpy", "kernels"}
        ``"kernels"`` calls ``kernels.fwht.fwht`` on a float64 torch tensor; ``"auto"`` does
        so only when it is importable and CUDA is available, otherwise uses
        :func:`fwht_numpy`.
    """
    if backend not in ("auto", "numpy", "kernels"):
        raise ValueError(f"unknown FWHT backend {backend!r}; use 'auto', 'numpy' or 'kernels'")
    use_kernel = backend == "kernels" or (backend == "auto" and _cuda_present())
    kernel = _kernel_fwht() if use_kernel else None
    if backend == "kernels" and kernel is None:
        raise ImportError("kernels.fwht is not importable")
    if kernel is None:
        return fwht_numpy(x, axis)
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    t = torch.as_tensor(np.moveaxis(np.asarray(x, dtype=float), axis, -1).copy(), device=device)
    return np.moveaxis(kernel(t, normalize=False).cpu().numpy(), -1, axis)


def randomized_hadamard(A: np.ndarray, signs: np.ndarray, backend: str = "auto") -> np.ndarray:
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
    return fwht(DA, axis=1, backend=backend) / np.sqrt(N)
