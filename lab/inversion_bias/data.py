"""Offline data for the inversion-bias chapter (``book/inversion_bias.md``).

Synthetic matrices whose rows have uneven norms (so leverage scores, and the uniform
sampler's ``rho_max``, are far from flat), and scikit-learn's bundled ``load_digits`` as a
small binary logistic regression.
"""

from __future__ import annotations

import numpy as np


def spiked_rows(
    n: int, d: int, frac: float = 0.1, scale: float = 3.0, *, rng: np.random.Generator
) -> np.ndarray:
    """Standard Gaussian rows with a random ``frac`` of them multiplied by ``scale``.

    With ``n=1024, d=10`` and the defaults, uniform sampling has ``rho_max = max_i n ell_i/d``
    around 10, the dossier's setting A.

    Returns
    -------
    ndarray, shape (n, d)
    """
    A = rng.standard_normal((n, d))
    spiked = rng.choice(n, size=int(round(frac * n)), replace=False)
    A[spiked] *= scale
    return A


def t_rows(n: int, d: int, df: float, rng: np.random.Generator) -> np.ndarray:
    r"""Gaussian rows each scaled by :math:`|t_{\rm df}|`, heavy-tailed row norms.

    Row ``i`` is :math:`|t_i|\, g_i` with :math:`t_i \sim t_{\rm df}` and
    :math:`g_i \sim N(0, I_d)`, so a few rows carry large leverage.
    """
    return np.abs(rng.standard_t(df, size=(n, 1))) * rng.standard_normal((n, d))


def logistic_data(n: int, d: int, df: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    r"""Rows from :func:`t_rows` and labels :math:`y_i \in \{-1,+1\}` from a logistic model.

    :math:`P(y_i = 1) = 1/(1 + e^{-x_i^\top\beta})` with :math:`\beta \sim N(0, I_d/d)`.

    Returns
    -------
    X : ndarray, shape (n, d)
    y : ndarray, shape (n,)
    """
    X = t_rows(n, d, df, rng=rng)
    beta = rng.standard_normal(d) / np.sqrt(d)
    p = 1.0 / (1.0 + np.exp(-X @ beta))
    y = np.where(rng.random(n) < p, 1.0, -1.0)
    return X, y


def digits_logistic(standardize: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's ``load_digits`` as binary logistic regression (``n = 1797``).

    Labels are ``+1`` for digits 0-4 and ``-1`` for 5-9. Pixels that are constant over the
    data set (three of the 64) are dropped, since standardising would divide by zero; the
    rest are standardised to mean 0 and variance 1 when ``standardize``; an intercept column
    of ones is appended last (and is regularised like every other coefficient).

    Returns
    -------
    X : ndarray, shape (1797, 62)
    y : ndarray, shape (1797,)
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    X = digits.data.astype(float)
    X = X[:, X.std(axis=0) > 0]
    if standardize:
        X = (X - X.mean(axis=0)) / X.std(axis=0)
    y = np.where(digits.target < 5, 1.0, -1.0)
    return np.hstack([X, np.ones((X.shape[0], 1))]), y
