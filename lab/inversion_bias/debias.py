"""De-biasing factors and Theorem 3.1's deterministic equivalent.

Prop. 2.8 (scalar), Prop. 3.2 (fine, per row), the inverse-Wishart factor of the Gaussian
sketch, and the diagonal fixed point ``D`` of Thm 3.1 of Niu, Liao, Ling & Mahoney
(ICML 2025). The chapter ``book/inversion_bias.md`` derives each one.
"""

from __future__ import annotations

import numpy as np


def scalar_factor(m: int, d_eff: float) -> float:
    r"""Coarse scalar correction (Prop. 2.8): multiply the sketched Gram by :math:`m/(m-d_{\rm eff})`."""
    if m <= d_eff:
        raise ValueError(f"scalar correction needs m > d_eff, got m={m}, d_eff={d_eff:.4g}")
    return m / (m - d_eff)


def gaussian_factor(m: int, d: int) -> float:
    r"""Inverse-Wishart factor :math:`m/(m-d-1)`.

    For Gaussian ``S`` with ``N(0, 1/m)`` entries and ``C = 0``,
    :math:`\mathbb E[(A^\top S^\top S A)^{-1}] = \frac{m}{m-d-1}(A^\top A)^{-1}`, so multiplying
    the Gram by this factor makes the inverse exactly unbiased.
    """
    if m <= d + 1:
        raise ValueError(f"the inverse-Wishart mean needs m > d + 1, got m={m}, d={d}")
    return m / (m - d - 1)


def fine_weights(pi_idx: np.ndarray, ell_idx: np.ndarray, m: int) -> np.ndarray:
    r"""Squared row weights of the de-biased sampling sketch :math:`\check S` (Prop. 3.2).

    A sampled row :math:`a_i` enters the sketch as :math:`a_i\sqrt{\omega_i}` with

    .. math:: \omega_i = \frac{1}{m\pi_i - \ell_i}
              \quad\text{instead of}\quad \frac{1}{m\pi_i},

    which solves :math:`F_{ii}/(1 + F_{ii}\ell_i/(m\pi_i)) = 1` for the per-row factor
    :math:`F_{ii} = m\pi_i/(m\pi_i - \ell_i)`. Under exact leverage sampling
    (:math:`\pi_i = \ell_i/d_{\rm eff}`) every ratio equals :math:`m/(m-d_{\rm eff})`.

    Parameters
    ----------
    pi_idx, ell_idx : ndarray
        Sampling probabilities and ridge leverage scores of the rows (any common shape).
    m : int
        Number of sampled rows.

    Raises
    ------
    ValueError
        If :math:`m\pi_i \le \ell_i` for some row, i.e. :math:`m \le \ell_i/\pi_i`.
    """
    pi_idx = np.asarray(pi_idx, dtype=float)
    ell_idx = np.asarray(ell_idx, dtype=float)
    slack = m * pi_idx - ell_idx
    if np.any(slack <= 0):
        ratio = np.divide(ell_idx, pi_idx, out=np.full_like(ell_idx, np.inf), where=pi_idx > 0)
        worst = float(ratio.max())
        raise ValueError(
            "fine correction needs m * pi_i > ell_i for every row: "
            f"m={m} but the worst row has ell_i/pi_i={worst:.4g}; "
            f"need m > max_i ell_i/pi_i = rho_max * d_eff = {worst:.4g}"
        )
    return 1.0 / slack


def deterministic_equivalent(
    A: np.ndarray,
    lam: float,
    pi: np.ndarray,
    m: int,
    tol: float = 1e-12,
    max_iter: int = 2000,
    damping: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Diagonal ``D`` of Thm 3.1, :math:`\mathbb E[(A^\top S^\top SA + C)^{-1}] \approx (A^\top DA + C)^{-1}`.

    Solves the fixed point

    .. math:: D_{ii} = \frac{m}{m + a_i^\top (A^\top D A + \lambda I)^{-1} a_i / \pi_i}

    by damped iteration :math:`D \leftarrow (1-\eta) D + \eta\,\Phi(D)` from ``D = I``.
    Rows with :math:`\pi_i = 0` get :math:`D_{ii} = 0` (never sampled).

    Parameters
    ----------
    A : ndarray, shape (n, d)
    lam : float
    pi : ndarray, shape (n,)
        Sampling distribution of Def. 2.1.
    m : int
        Sketch size.
    tol : float
        Stop when :math:`\max_i |\Phi(D)_{ii} - D_{ii}| \le` ``tol``.
    max_iter : int
    damping : float in (0, 1]
        The step :math:`\eta`.

    Returns
    -------
    D : ndarray, shape (n,)
        The diagonal of ``D``.
    Q_D : ndarray, shape (d, d)
        :math:`(A^\top D A + \lambda I)^{-1}`.

    Raises
    ------
    RuntimeError
        If the iteration has not converged after ``max_iter`` steps.
    """
    A = np.asarray(A, dtype=float)
    pi = np.asarray(pi, dtype=float)
    n, d = A.shape
    D = np.ones(n)
    for _ in range(max_iter):
        Q_D = np.linalg.inv(A.T @ (D[:, None] * A) + lam * np.eye(d))
        q = np.einsum("ij,ij->i", A @ Q_D, A)
        # Phi(D)_ii = m / (m + a_i^T (A^T D A + C)^{-1} a_i / pi_i)
        ratio = np.divide(q, pi, out=np.full(n, np.inf), where=pi > 0)
        target = m / (m + ratio)
        step = np.max(np.abs(target - D))
        D = (1.0 - damping) * D + damping * target
        if step <= tol:
            Q_D = np.linalg.inv(A.T @ (D[:, None] * A) + lam * np.eye(d))
            return D, Q_D
    raise RuntimeError(
        f"deterministic equivalent did not converge in {max_iter} iterations "
        f"(last change {step:.3g} > tol {tol:.3g})"
    )
