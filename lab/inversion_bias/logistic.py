r"""ℓ2-regularised logistic regression: objective, derivatives, Hessian factor, exact Newton.

.. math:: F(\beta) = \frac1n\sum_{i=1}^n \log\big(1+e^{-y_i x_i^\top\beta}\big)
          + \frac\lambda2\|\beta\|^2, \qquad y_i\in\{-1,+1\}.

Its Hessian has the form of Sec. 4 of Niu et al. (ICML 2025),
:math:`\nabla^2F(\beta) = A(\beta)^\top A(\beta) + \lambda I` with
:math:`A(\beta) = \operatorname{diag}\big(\sqrt{p_i(1-p_i)/n}\big)X`,
:math:`p_i = 1/(1+e^{-x_i^\top\beta})`. See ``book/inversion_bias.md``.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit


def logistic_loss(X: np.ndarray, y: np.ndarray, lam: float, beta: np.ndarray) -> float:
    """Objective ``F(beta)``, computed with ``logaddexp`` to avoid overflow."""
    return float(np.mean(np.logaddexp(0.0, -y * (X @ beta))) + 0.5 * lam * beta @ beta)


def logistic_gradient(X: np.ndarray, y: np.ndarray, lam: float, beta: np.ndarray) -> np.ndarray:
    r""":math:`\nabla F(\beta) = -\frac1n X^\top\big(y \odot \sigma(-y\odot X\beta)\big) + \lambda\beta`."""
    return -(X.T @ (y * expit(-y * (X @ beta)))) / X.shape[0] + lam * beta


def hessian_factor(X: np.ndarray, beta: np.ndarray) -> np.ndarray:
    r"""``A(beta)`` of shape ``(n, d)`` with :math:`\nabla^2F = A^\top A + \lambda I`."""
    p = expit(X @ beta)
    return np.sqrt(p * (1.0 - p) / X.shape[0])[:, None] * X


def logistic_hessian(X: np.ndarray, y: np.ndarray, lam: float, beta: np.ndarray) -> np.ndarray:
    """Exact Hessian ``A(beta)^T A(beta) + lam I``."""
    A = hessian_factor(X, beta)
    return A.T @ A + lam * np.eye(X.shape[1])


def newton_solve(
    X: np.ndarray,
    y: np.ndarray,
    lam: float,
    beta0: np.ndarray | None = None,
    tol: float = 1e-30,
    max_iter: int = 100,
) -> np.ndarray:
    r"""Minimiser :math:`\beta_*` by damped Newton with Armijo backtracking.

    Stops when the squared Newton decrement :math:`g^\top H^{-1} g` (twice the predicted
    decrease) is below ``tol`` or, once below ``1e-20``, stops shrinking (rounding level):
    the result is at machine precision.

    Raises
    ------
    RuntimeError
        If not converged in ``max_iter`` iterations.
    """
    beta = np.zeros(X.shape[1]) if beta0 is None else np.array(beta0, dtype=float)
    previous = np.inf
    for _ in range(max_iter):
        g = logistic_gradient(X, y, lam, beta)
        step = np.linalg.solve(logistic_hessian(X, y, lam, beta), g)
        decrement = float(g @ step)
        if decrement <= tol or (decrement < 1e-20 and decrement > 0.1 * previous):
            return beta - step
        t, f0 = 1.0, logistic_loss(X, y, lam, beta)
        # backtrack only while the decrease is resolvable in floating point
        while t > 1e-12 and decrement > 1e-12 and (
            logistic_loss(X, y, lam, beta - t * step) > f0 - 0.25 * t * decrement
        ):
            t *= 0.5
        beta = beta - t * step
        previous = decrement
    raise RuntimeError(f"Newton did not converge in {max_iter} iterations (decrement {decrement:.3g})")
