"""Cheaper log-determinant estimates that FLODANCE is compared against (``book/logdet_scaling.md``).

* :func:`slq_logdet` — stochastic Lanczos quadrature: for Rademacher probes ``v`` (``‖v‖² = m``),
  ``log det A = tr log A ≈ (1/s) Σ_v vᵀ log(A) v`` and each ``vᵀ log(A) v ≈ m Σ_i τ_i² log θ_i``
  from the Ritz values ``θ_i`` and first eigenvector components ``τ_i`` of the ``l``-step Lanczos
  tridiagonal matrix (Gauss quadrature). Full reorthogonalisation keeps the Ritz values inside the
  spectrum.
* :func:`block_diagonal_logdet` — ``Σ_k log det A_kk`` over diagonal blocks (drops all coupling;
  by Fischer's inequality an upper bound for SPD ``A``).
* :func:`imate_slq` — the same SLQ estimate from the ``imate`` package, as a peer (``None`` when it
  is not installed).
"""
from __future__ import annotations

import numpy as np


def lanczos(A: np.ndarray, v: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """``steps`` Lanczos steps from ``v`` with full reorthogonalisation: diagonal α and off-diagonal β."""
    m = len(v)
    steps = min(steps, m)
    Q = np.zeros((steps, m))
    alpha, beta = np.zeros(steps), np.zeros(max(steps - 1, 0))
    q = v / np.linalg.norm(v)
    for j in range(steps):
        Q[j] = q
        w = A @ q
        alpha[j] = q @ w
        w -= Q[: j + 1].T @ (Q[: j + 1] @ w)  # full reorthogonalisation (twice is enough)
        w -= Q[: j + 1].T @ (Q[: j + 1] @ w)
        if j == steps - 1:
            break
        beta[j] = np.linalg.norm(w)
        if beta[j] < 1e-12 * abs(alpha[j]):
            return alpha[: j + 1], beta[:j]
        q = w / beta[j]
    return alpha, beta


def slq_logdet(A: np.ndarray, *, degree: int = 50, samples: int = 20, seed: int = 0) -> float:
    """SLQ estimate of ``log det A`` for symmetric positive definite ``A`` (see module docstring)."""
    from scipy.linalg import eigh_tridiagonal

    rng = np.random.default_rng(seed)
    m = A.shape[0]
    total = 0.0
    for _ in range(samples):
        v = rng.choice([-1.0, 1.0], size=m)
        alpha, beta = lanczos(A, v, degree)
        theta, U = eigh_tridiagonal(alpha, beta)
        theta = np.maximum(theta, np.finfo(float).tiny)
        total += m * np.sum(U[0] ** 2 * np.log(theta))
    return total / samples


def block_diagonal_logdet(A: np.ndarray, block: int) -> float:
    """``Σ_k log|det A_kk|`` over consecutive diagonal blocks of ``block`` rows (the last may be smaller)."""
    m = A.shape[0]
    if not 1 <= block:
        raise ValueError(f"block must be ≥ 1, got {block}")
    return float(sum(np.linalg.slogdet(A[i:i + block, i:i + block])[1] for i in range(0, m, block)))


def imate_slq(A: np.ndarray, *, degree: int = 50, samples: int = 20, seed: int = 0) -> float | None:
    """``imate.logdet(A, method='slq')`` with our degree and sample count, or ``None`` without imate."""
    try:
        import imate
    except ImportError:
        return None
    out = imate.logdet(A, method="slq", gram=False, min_num_samples=samples, max_num_samples=samples,
                       lanczos_degree=degree, orthogonalize=-1, seed=seed, verbose=False)
    return float(out[0] if isinstance(out, tuple) else out)
