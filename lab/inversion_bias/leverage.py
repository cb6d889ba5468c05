"""Ridge leverage scores, effective dimension and approximation factors.

Definitions 2.2-2.3 of Niu, Liao, Ling & Mahoney (ICML 2025), explained in the chapter
``book/inversion_bias.md``. Throughout, ``A`` is ``n x d`` with rows ``a_i`` and the
regulariser is ``C = lam * I``.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from .srht import next_power_of_two, randomized_hadamard


def _cholesky(M: np.ndarray, what: str) -> np.ndarray:
    """Lower Cholesky factor of a symmetric positive definite ``M`` with a readable error."""
    try:
        return np.linalg.cholesky(M)
    except np.linalg.LinAlgError as err:
        raise ValueError(
            f"{what} is singular: use lam > 0 or a matrix A of full column rank"
        ) from err


def leverage_under_gram(A: np.ndarray, gram: np.ndarray, lam: float) -> np.ndarray:
    r"""Quadratic forms :math:`a_i^\top (G + \lambda I)^{-1} a_i` for every row of ``A``.

    Parameters
    ----------
    A : ndarray, shape (n, d)
    gram : ndarray, shape (d, d)
        A symmetric positive semi-definite ``G`` (``A^T A`` for exact scores, a sketched Gram
        for approximate ones).
    lam : float
        Ridge parameter; ``G + lam I`` must be positive definite.

    Returns
    -------
    ndarray, shape (n,)
    """
    d = A.shape[1]
    L = _cholesky(gram + lam * np.eye(d), "A^T A + lam I")
    # a_i^T (L L^T)^{-1} a_i = ||L^{-1} a_i||^2 for all rows at once; numpy's BLAS only, since
    # alternating it with scipy's separate OpenBLAS makes their thread pools fight
    Z = A @ np.linalg.inv(L).T
    return np.einsum("ij,ij->i", Z, Z)


def ridge_leverage(A: np.ndarray, lam: float) -> np.ndarray:
    r"""Ridge leverage scores (Def. 2.2).

    .. math:: \ell_i = a_i^\top (A^\top A + \lambda I)^{-1} a_i .

    ``lam = 0`` gives the ordinary leverage scores and needs ``A`` of full column rank.
    Cost ``O(n d^2)``. See ``book/inversion_bias.md``.

    Parameters
    ----------
    A : ndarray, shape (n, d)
    lam : float, >= 0

    Returns
    -------
    ell : ndarray, shape (n,), each in ``[0, 1]``.
    """
    A = np.asarray(A, dtype=float)
    return leverage_under_gram(A, A.T @ A, lam)


def effective_dimension(ell: np.ndarray) -> float:
    r"""Effective dimension :math:`d_{\rm eff} = \sum_i \ell_i = \operatorname{tr}(A^\top A(A^\top A+\lambda I)^{-1})`."""
    return float(np.sum(ell))


def rho_factors(ell: np.ndarray, pi: np.ndarray) -> tuple[float, float]:
    r"""Approximation factors of a sampling distribution (Def. 2.3).

    .. math:: \rho_{\min} = \min_i \frac{\ell_i}{\pi_i d_{\rm eff}}, \qquad
              \rho_{\max} = \max_i \frac{\ell_i}{\pi_i d_{\rm eff}} .

    Rows with ``pi_i = 0`` and ``ell_i = 0`` are ignored; a row with ``pi_i = 0 < ell_i``
    makes ``rho_max`` infinite (sampling never sees it).

    Returns
    -------
    (rho_min, rho_max) : tuple of float
    """
    ell = np.asarray(ell, dtype=float)
    pi = np.asarray(pi, dtype=float)
    d_eff = effective_dimension(ell)
    seen = pi > 0
    rho = ell[seen] / (pi[seen] * d_eff)
    rho_max = np.inf if np.any(ell[~seen] > 0) else float(rho.max())
    return float(rho.min()), rho_max


def sketched_gram(A: np.ndarray, k: int, rng: np.random.Generator, kind: str = "srht") -> np.ndarray:
    r"""Gram :math:`(\Pi A)^\top (\Pi A)` of a ``k``-row oblivious sketch, with :math:`\mathbb E[\Pi^\top\Pi]=I`.

    ``kind="srht"`` samples ``k`` rows of :math:`H D A/\sqrt N` uniformly and rescales them
    by :math:`\sqrt{N/k}` (cost ``O(nd log n + kd^2)``); ``kind="gaussian"`` uses i.i.d.
    ``N(0, 1/k)`` entries (cost ``O(ndk)``); ``kind="countsketch"`` hashes every row to one
    of ``k`` buckets with a random sign (cost ``O(nd + kd^2)``), but with ``k`` a few times
    ``d`` it occasionally loses a direction held by one or two rows (two high-leverage rows
    cancelling in one bucket), which sends some estimated ridge scores towards
    ``||a_i||^2 / lam``.
    """
    n = A.shape[0]
    if kind == "srht":
        N = next_power_of_two(n)
        rotated = randomized_hadamard(A, rng.choice((-1.0, 1.0), size=(1, N)))[0]
        PA = rotated[rng.integers(0, N, size=k)] * np.sqrt(N / k)
    elif kind == "gaussian":
        PA = rng.standard_normal((k, n)) @ A / np.sqrt(k)
    elif kind == "countsketch":
        bucket = rng.integers(0, k, size=n)
        signs = rng.choice((-1.0, 1.0), size=n)
        PA = sparse.csr_matrix((signs, (bucket, np.arange(n))), shape=(k, n)) @ A
    else:
        raise ValueError(f"unknown sketch kind {kind!r}; use 'srht', 'gaussian' or 'countsketch'")
    return PA.T @ PA


def plugin_d_eff(grams: np.ndarray, lam: float) -> np.ndarray:
    r"""Plug-in effective dimension :math:`\operatorname{tr}(G(G+\lambda I)^{-1})` of each Gram in a stack.

    ``grams`` has shape ``[..., d, d]``; for ``lam = 0`` this is the numerical rank.
    """
    ev = np.clip(np.linalg.eigvalsh(grams), 0.0, None)
    if lam > 0:
        return np.sum(ev / (ev + lam), axis=-1)
    return np.sum(ev > 1e-12 * ev.max(axis=-1, keepdims=True), axis=-1).astype(float)


def approximate_ridge_leverage(
    A: np.ndarray,
    lam: float,
    k: int,
    rng: np.random.Generator,
    kind: str = "srht",
) -> np.ndarray:
    r"""Ridge leverage scores estimated from a ``k``-row sketch :math:`\Pi A`.

    .. math:: \tilde\ell_i = a_i^\top\Big(\frac{k}{k-\hat d}\,A^\top\Pi^\top\Pi A + \lambda I\Big)^{-1} a_i,
              \qquad \hat d = \operatorname{tr}\big(\tilde G(\tilde G+\lambda I)^{-1}\big),
              \quad \tilde G = A^\top\Pi^\top\Pi A .

    The factor :math:`k/(k-\hat d)` is our choice: inverting a sketched Gram is biased in
    exactly the way this paper describes, and without it :math:`\sum_i\tilde\ell_i`
    overshoots :math:`d_{\rm eff}` by about :math:`k/(k-d_{\rm eff})` (a third at ``k = 4d``),
    which the fine correction would then carry into ``m / (m - d~_eff)``. With it the sum
    is unbiased for :math:`d_{\rm eff}` (checked in the tests). Cost ``O(nd\log n + kd^2 + d^3)``
    for the default SRHT sketch (``O(ndk)`` for a Gaussian one) plus ``O(nd^2)`` for the
    quadratic forms, i.e. ``O(ndk + d^3)``; ``A^T A`` is never formed. See
    ``book/inversion_bias.md``.

    Parameters
    ----------
    A : ndarray, shape (n, d)
    lam : float
    k : int
        Sketch rows.
    rng : numpy.random.Generator
        Draws the sketch.
    kind : {"srht", "gaussian", "countsketch"}
        See :func:`sketched_gram`.
    """
    A = np.asarray(A, dtype=float)
    gram = sketched_gram(A, k, rng, kind)
    d_hat = float(plugin_d_eff(gram, lam))
    if k <= d_hat:
        raise ValueError(f"the leverage sketch needs k > d_eff: k={k}, estimated d_eff={d_hat:.4g}")
    # scalar de-biasing of the sketched inverse, as in Prop. 2.8: G~ -> k/(k - d^) G~
    return leverage_under_gram(A, k / (k - d_hat) * gram, lam)


def mixed_probabilities(ell: np.ndarray, w: float) -> np.ndarray:
    r"""Leverage scores mixed with uniform, to sweep :math:`\rho_{\max}` (Fig. 1).

    .. math:: \pi_i = (1-w)\,\frac{\ell_i}{d_{\rm eff}} + \frac{w}{n} ,

    so ``w = 0`` is exact leverage sampling (``rho_max = 1``) and ``w = 1`` is uniform.
    """
    ell = np.asarray(ell, dtype=float)
    if not 0.0 <= w <= 1.0:
        raise ValueError(f"mixing weight w={w} must lie in [0, 1]")
    return (1.0 - w) * ell / effective_dimension(ell) + w / ell.size
