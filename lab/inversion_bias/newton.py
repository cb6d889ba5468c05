r"""Sub-sampled Newton (Def. 4.1) and first-order baselines for logistic regression.

De-biased SSN (Niu et al., ICML 2025, Sec. 4):

.. math:: \beta_{t+1} = \beta_t - \mu_t\big(A_t^\top \check S_t^\top \check S_t A_t + \lambda I\big)^{-1}
          \nabla F(\beta_t), \qquad \mu_t = \frac{m}{m + \rho_{\max} d_{\rm eff}} \quad\text{(Thm 4.3)},

with :math:`A_t = A(\beta_t)` the Hessian factor and :math:`\check S_t` a de-biased sketch
drawn afresh each step. Its local rate is
:math:`\mathbb E\|\beta_T-\beta_*\|_H^2 \lesssim (\rho_{\max}d_{\rm eff}/m)^T\|\beta_0-\beta_*\|_H^2`.
See ``book/inversion_bias.md``.

Sampler names follow the paper's figures; the paper does not define ARLev, ALev, SLev in the
text we have, so the readings below are ours:

=============  ===============================================================
``leverage``   exact ridge leverage of :math:`A(\beta_t)` (theory check)
``arlev``      ridge leverage estimated from an SRHT sketch (``approx_leverage``)
``alev``       plain (``lam = 0``) leverage estimated the same way, for sampling and fine weights
``slev``       ``pi = ell~/(2 d~_eff) + 1/(2n)`` with estimated ridge scores
``srht``       SRHT; scalar correction :math:`m/(m-\hat d_{\rm eff})` (Cor. 3.7)
``uniform``    uniform sampling
``less``       Newton-LESS: LESS-uniform sketch, :math:`m/(m-\hat d_{\rm eff})`, step 1
=============  ===============================================================

For ``srht`` and ``less`` the effective dimension is the plug-in
:math:`\hat d_{\rm eff} = \operatorname{tr}(G(G+\lambda I)^{-1})` of the drawn sketch ``G``,
and :math:`\rho_{\max} = 1` in the step size.
"""

from __future__ import annotations

import time

import numpy as np

from .logistic import hessian_factor, logistic_gradient, logistic_loss
from .leverage import plugin_d_eff
from .sketches import plan_sketch, sketched_grams

SSN_SAMPLERS = {
    "leverage": "leverage",
    "arlev": "approx_leverage",
    "alev": "approx_plain_leverage",
    "slev": "shrinkage_leverage",
    "srht": "srht",
    "uniform": "uniform",
    "less": "less",
}


def subsampled_newton(
    X: np.ndarray,
    y: np.ndarray,
    lam: float,
    beta0: np.ndarray,
    sampler: str,
    m: int,
    T: int,
    correction: str = "fine",
    step="debiased",
    rng: np.random.Generator | None = None,
    line_search: bool = False,
    **plan_options,
) -> dict:
    r"""Run ``T`` steps of (de-biased) sub-sampled Newton.

    Parameters
    ----------
    X : ndarray, shape (n, d)
    y : ndarray, shape (n,), entries +-1
    lam : float
    beta0 : ndarray, shape (d,)
    sampler : str, a key of :data:`SSN_SAMPLERS`
    m : int
        Sketch size per step.
    T : int
        Number of steps.
    correction : {"fine", "scalar", "none"}
    step : "debiased" or float
        ``"debiased"`` is :math:`\mu_t = m/(m+\rho_{\max}d_{\rm eff})`; a number is a fixed step.
    rng : numpy.random.Generator
    line_search : bool
        If true, halve the step from :math:`\mu_t` until the Armijo condition
        :math:`F(\beta_t - \mu p) \le F(\beta_t) - 10^{-4}\mu\, g^\top p` holds (a
        globalisation of ours for runs started far from :math:`\beta_*`; near
        :math:`\beta_*` the step :math:`\mu_t` is accepted and Thm 4.3 applies unchanged).
    **plan_options
        Passed to :func:`~lab.inversion_bias.sketches.plan_sketch` (``approx_k``, ...).

    Returns
    -------
    dict
        ``betas`` [T+1, d], ``times`` [T+1] cumulative wall-clock seconds, ``steps`` [T].
    """
    if sampler not in SSN_SAMPLERS:
        raise ValueError(f"unknown SSN sampler {sampler!r}; choose from {tuple(SSN_SAMPLERS)}")
    name = SSN_SAMPLERS[sampler]
    if name in ("srht", "less"):
        plan_options.setdefault("d_eff", "plugin")
    wanted = tuple(dict.fromkeys((correction, "none")))
    d = X.shape[1]
    beta = np.array(beta0, dtype=float)
    betas, times, steps = [beta.copy()], [0.0], []
    elapsed = 0.0
    for _ in range(T):
        start = time.perf_counter()
        A = hessian_factor(X, beta)
        g = logistic_gradient(X, y, lam, beta)
        plan = plan_sketch(A, lam, name, m, rng, **plan_options)
        grams = sketched_grams(plan, wanted, 1, rng)
        if step == "debiased":
            d_eff = plugin_d_eff(grams["none"], lam)[0] if plan.d_eff == "plugin" else plan.d_eff
            mu = m / (m + plan.rho_max * d_eff)
        else:
            mu = float(step)
        # beta_{t+1} = beta_t - mu_t (A_t^T S^T S A_t + C)^{-1} grad F(beta_t)
        direction = np.linalg.solve(grams[correction][0] + lam * np.eye(d), g)
        if line_search:
            f0, slope = logistic_loss(X, y, lam, beta), float(g @ direction)
            while mu > 1e-8 and logistic_loss(X, y, lam, beta - mu * direction) > f0 - 1e-4 * mu * slope:
                mu *= 0.5
        beta = beta - mu * direction
        elapsed += time.perf_counter() - start
        betas.append(beta.copy())
        times.append(elapsed)
        steps.append(mu)
    return {"betas": np.array(betas), "times": np.array(times), "steps": np.array(steps)}


def smoothness(X: np.ndarray, lam: float) -> float:
    r"""Lipschitz constant of :math:`\nabla F`: :math:`L = \|X\|_2^2/(4n) + \lambda`."""
    return np.linalg.norm(X, 2) ** 2 / (4 * X.shape[0]) + lam


def gradient_descent(
    X: np.ndarray, y: np.ndarray, lam: float, beta0: np.ndarray, iters: int, record_every: int = 1
) -> dict:
    r"""Gradient descent :math:`\beta_{t+1} = \beta_t - \nabla F(\beta_t)/L`.

    Returns ``betas``, ``times`` (cumulative seconds, including computing ``L``) and
    ``iters`` at every ``record_every``-th iteration.
    """
    start = time.perf_counter()
    step = 1.0 / smoothness(X, lam)
    beta = np.array(beta0, dtype=float)
    betas, times, its = [beta.copy()], [0.0], [0]
    elapsed = time.perf_counter() - start
    for t in range(1, iters + 1):
        start = time.perf_counter()
        beta = beta - step * logistic_gradient(X, y, lam, beta)
        elapsed += time.perf_counter() - start
        if t % record_every == 0:
            betas.append(beta.copy())
            times.append(elapsed)
            its.append(t)
    return {"betas": np.array(betas), "times": np.array(times), "iters": np.array(its)}


def sgd(
    X: np.ndarray,
    y: np.ndarray,
    lam: float,
    beta0: np.ndarray,
    epochs: int,
    batch: int,
    rng: np.random.Generator,
    step0: float | None = None,
) -> dict:
    r"""Minibatch SGD with step :math:`\eta_t = \eta_0/(1 + t/\tau)`, :math:`\tau` = steps per epoch.

    Each epoch visits a fresh permutation in minibatches of ``batch`` rows; ``step0``
    defaults to ``1/L``. The state is recorded once per epoch.
    """
    n = X.shape[0]
    start = time.perf_counter()
    step0 = 1.0 / smoothness(X, lam) if step0 is None else step0
    tau = max(n // batch, 1)
    beta = np.array(beta0, dtype=float)
    betas, times, its = [beta.copy()], [0.0], [0]
    elapsed, t = time.perf_counter() - start, 0
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        order = rng.permutation(n)
        for lo in range(0, n - batch + 1, batch):
            rows = order[lo : lo + batch]
            grad = logistic_gradient(X[rows], y[rows], lam, beta)
            beta = beta - step0 / (1.0 + t / tau) * grad
            t += 1
        elapsed += time.perf_counter() - start
        betas.append(beta.copy())
        times.append(elapsed)
        its.append(epoch)
    return {"betas": np.array(betas), "times": np.array(times), "iters": np.array(its)}
