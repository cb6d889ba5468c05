r"""Inversion bias of a sketched inverse, estimated by Monte Carlo.

The metric of the chapter ``book/inversion_bias.md``:

.. math:: \mathrm{bias} = \big\| H^{1/2}\, \widehat{\mathbb E}[Q]\, H^{1/2} - I \big\|_2,
          \qquad Q_t = (A^\top S_t^\top S_t A + \lambda I)^{-1},\quad H = A^\top A + \lambda I,

with :math:`\widehat{\mathbb E}` the average over trials. Zero means the sketched inverse is
unbiased; Monte-Carlo noise alone leaves a floor of order ``1/sqrt(trials)``.
"""

from __future__ import annotations

import numpy as np

from .sketches import plan_sketch, sketched_grams


def relative_gap(H: np.ndarray, Q_mean: np.ndarray) -> float:
    r"""Spectral gap :math:`\|L^\top Q L - I\|_2` with :math:`H = LL^\top`.

    :math:`L^\top Q L` is similar to :math:`H^{1/2} Q H^{1/2}` through an orthogonal matrix,
    so both have the same spectral norm after subtracting ``I``; the Cholesky factor avoids
    a matrix square root.

    Parameters
    ----------
    H : ndarray, shape (d, d), symmetric positive definite
    Q_mean : ndarray, shape (d, d), symmetric
    """
    L = np.linalg.cholesky(H)
    M = L.T @ Q_mean @ L
    M = 0.5 * (M + M.T) - np.eye(H.shape[0])
    return float(np.max(np.abs(np.linalg.eigvalsh(M))))


def inversion_bias(H: np.ndarray, Q_mean: np.ndarray) -> float:
    r"""Inversion bias :math:`\|H^{1/2} Q H^{1/2} - I\|_2` for ``H = A^T A + lam I``."""
    return relative_gap(H, Q_mean)


def mean_inverses(plan, corrections, trials: int, rng: np.random.Generator, batch: int = 500) -> dict:
    r"""Average :math:`(G_t + \lambda I)^{-1}` over ``trials`` sketches, streamed in batches.

    Returns ``{correction: Q_mean}``; all corrections share the same draws. Memory is that
    of one batch of ``[batch, m, d]`` sketched rows.
    """
    wanted = (corrections,) if isinstance(corrections, str) else tuple(corrections)
    d = plan.A.shape[1]
    reg = plan.lam * np.eye(d)
    sums = {c: np.zeros((d, d)) for c in wanted}
    done = 0
    while done < trials:
        size = min(batch, trials - done)
        for c, grams in sketched_grams(plan, wanted, size, rng).items():
            # Q_t = (A^T S_t^T S_t A + C)^{-1}; C is never sketched
            sums[c] += np.linalg.inv(grams + reg).sum(axis=0)
        done += size
    return {c: s / trials for c, s in sums.items()}


def biases_of(
    A: np.ndarray,
    lam: float,
    sampler: str,
    corrections,
    m: int,
    trials: int,
    rng: np.random.Generator,
    batch: int = 500,
    **plan_options,
) -> dict[str, tuple[float, np.ndarray]]:
    """Bias of several corrections of one sampler on common random draws.

    Returns ``{correction: (bias, Q_mean)}``. ``plan_options`` go to
    :func:`~lab.inversion_bias.sketches.plan_sketch`.
    """
    A = np.asarray(A, dtype=float)
    H = A.T @ A + lam * np.eye(A.shape[1])
    plan = plan_sketch(A, lam, sampler, m, rng, **plan_options)
    means = mean_inverses(plan, corrections, trials, rng, batch)
    return {c: (inversion_bias(H, Q), Q) for c, Q in means.items()}


def bias_of(
    A: np.ndarray,
    lam: float,
    sampler: str,
    correction: str,
    m: int,
    trials: int,
    rng: np.random.Generator,
    batch: int = 500,
    **plan_options,
) -> tuple[float, np.ndarray]:
    """Inversion bias of one sampler and correction; returns ``(bias, Q_mean)``.

    Parameters
    ----------
    A : ndarray, shape (n, d)
    lam : float
    sampler : str
        See :data:`~lab.inversion_bias.sketches.SAMPLERS`.
    correction : str
        See :data:`~lab.inversion_bias.sketches.CORRECTIONS`.
    m, trials : int
    rng : numpy.random.Generator
    batch : int
        Trials per batch.
    """
    return biases_of(A, lam, sampler, (correction,), m, trials, rng, batch, **plan_options)[correction]
