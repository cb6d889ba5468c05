r"""Sketched Gram matrices :math:`A^\top S_t^\top S_t A` for a stack of Monte-Carlo trials.

A sketch is set up once with :func:`plan_sketch` (leverage scores, sampling distribution,
factors) and then drawn many times with :func:`sketched_grams`, which returns one
``[T, d, d]`` stack per requested correction, all built from the *same* random draws so
that corrections are compared on common random numbers. The regulariser ``C = lam I`` is
never sketched. The chapter ``book/inversion_bias.md`` explains every sampler.

Samplers
--------
Random sampling (Def. 2.1: ``m`` i.i.d. rows from ``pi``, row ``a_i / sqrt(m pi_i)``):

* ``"uniform"``: ``pi_i = 1/n``.
* ``"leverage"``: exact ridge leverage, ``pi_i = ell_i / d_eff``.
* ``"approx_leverage"`` (the paper's ARLev, our reading): ``pi`` proportional to ridge
  scores estimated from a ``k``-row SRHT sketch
  (:func:`~lab.inversion_bias.leverage.approximate_ridge_leverage`).
* ``"approx_plain_leverage"`` (ALev, our reading): as ``"approx_leverage"`` but with
  *unregularised* (``lam = 0``) scores, used for ``pi`` and for the corrections alike, so the
  fine correction is :math:`m/(m-\sum_i\tilde\ell^{(0)}_i)\approx m/(m-d)`. (Pairing plain-score
  sampling with ridge-score corrections breaks :math:`m\pi_i>\ell_i` on ill-conditioned
  Hessians.)
* ``"shrinkage_leverage"`` (SLev, our reading): ``pi = ell~/(2 d~_eff) + 1/(2n)`` with the
  estimated ridge scores.
* ``"custom"``: any ``pi`` with exact scores, built by :func:`sampling_plan` (used for the
  ``rho_max`` sweep).

Projections:

* ``"srht"``: :math:`S H D A/\sqrt N` (Def. 3.6), uniform sampling of rotated rows.
* ``"gaussian"``: i.i.d. ``N(0, 1/m)`` entries. We draw the Gram directly and exactly in
  distribution: :math:`A^\top S^\top S A = L W L^\top/m` with :math:`A^\top A = LL^\top` and
  :math:`W = G^\top G \sim \mathrm{Wishart}(m, I_d)` (``G`` an ``m x d`` standard normal),
  sampled by the Bartlett decomposition in ``O(d^3)`` per trial.
* ``"less"``: LESS-uniform, each of the ``m`` rows of ``S`` sums ``s`` uniformly chosen rows
  with random signs, scaled by :math:`\sqrt{n/(ms)}` so :math:`\mathbb E[S^\top S] = I`.

Corrections
-----------
``"none"``; ``"scalar"``: Gram times :math:`m/(m-d_{\rm eff})` (Prop. 2.8; for SRHT Cor. 3.7);
``"fine"``: squared row weight :math:`1/(m\pi_i-\ell_i)` (Prop. 3.2; for SRHT with the ridge
leverage of the rotated rows and ``pi = 1/N``; for estimated scores the estimates, Cor. E.1);
``"gaussian_exact"``: Gram times :math:`m/(m-d-1)`, Gaussian sampler only (exact for ``lam = 0``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .debias import fine_weights, gaussian_factor, scalar_factor
from .leverage import (
    approximate_ridge_leverage,
    effective_dimension,
    mixed_probabilities,
    plugin_d_eff,
    rho_factors,
    ridge_leverage,
)
from .projections import gaussian_grams, less_grams, srht_grams, weighted_grams

SAMPLING = ("uniform", "leverage", "approx_leverage", "approx_plain_leverage", "shrinkage_leverage")
SAMPLERS = SAMPLING + ("srht", "gaussian", "less")
CORRECTIONS = ("none", "scalar", "fine", "gaussian_exact")
_ALLOWED = {s: ("none", "scalar", "fine") for s in SAMPLING + ("custom", "srht")}
_ALLOWED.update(gaussian=("none", "scalar", "gaussian_exact"), less=("none", "scalar"))


@dataclass(frozen=True, eq=False)
class SketchPlan:
    """Everything a sampler needs that does not change between trials.

    Attributes
    ----------
    sampler : str
    A : ndarray, shape (n, d)
    lam : float
    m : int
        Sketch size.
    d_eff : float or "plugin"
        Effective dimension used by the scalar correction (exact unless the sampler works
        from estimated scores and no exact value was supplied); ``"plugin"`` estimates it
        per trial from the sketched Gram.
    rho_max : float
        Def. 2.3 for the sampling distribution against the scores in ``ell``; 1 for the
        projections (our convention for the SSN step size).
    pi, ell : ndarray, shape (n,) or None
        Sampling distribution and the scores the fine correction uses (random sampling only).
    factor : ndarray, shape (d, d) or None
        ``L`` with ``A^T A = L L^T`` (Gaussian only).
    less_nnz : int
        Non-zeros per LESS row.
    """

    sampler: str
    A: np.ndarray
    lam: float
    m: int
    d_eff: float | str
    rho_max: float = 1.0
    pi: np.ndarray | None = None
    ell: np.ndarray | None = None
    factor: np.ndarray | None = None
    less_nnz: int = 0


def _exact_d_eff(A: np.ndarray, lam: float) -> float:
    """``tr(A^T A (A^T A + lam I)^{-1})`` from the eigenvalues of the Gram."""
    ev = np.clip(np.linalg.eigvalsh(A.T @ A), 0.0, None)
    return float(np.sum(ev / (ev + lam))) if lam > 0 else float(np.sum(ev > ev.max() * 1e-12))


def sampling_plan(
    A: np.ndarray, lam: float, m: int, pi: np.ndarray, ell: np.ndarray | None = None, d_eff=None
) -> SketchPlan:
    """Random-sampling plan (Def. 2.1) for a given distribution ``pi`` (sampler ``"custom"``).

    ``ell`` are the scores for the fine correction (exact ridge leverage by default) and
    ``d_eff`` the value for the scalar one (``sum(ell)`` by default).
    """
    A = np.asarray(A, dtype=float)
    pi = np.asarray(pi, dtype=float)
    if pi.shape != (A.shape[0],) or np.any(pi < 0) or not np.isclose(pi.sum(), 1.0):
        raise ValueError("pi must be a probability vector with one entry per row of A")
    pi = pi / pi.sum()
    ell = ridge_leverage(A, lam) if ell is None else np.asarray(ell, dtype=float)
    d_eff = effective_dimension(ell) if d_eff is None else d_eff
    return SketchPlan("custom", A, float(lam), int(m), d_eff, rho_factors(ell, pi)[1], pi=pi, ell=ell)


def plan_sketch(
    A: np.ndarray,
    lam: float,
    sampler: str,
    m: int,
    rng: np.random.Generator,
    *,
    approx_k: int | None = None,
    less_nnz: int | None = None,
    d_eff: float | str | None = None,
    mix: float = 0.0,
) -> SketchPlan:
    r"""Prepare ``sampler`` for ``A`` (see the module docstring for the samplers).

    Parameters
    ----------
    A : ndarray, shape (n, d)
    lam : float
    sampler : str, one of :data:`SAMPLERS`
    m : int
    rng : numpy.random.Generator
        Used only by the estimated-leverage samplers (their sketch).
    approx_k : int, optional
        Rows of the SRHT sketch behind estimated scores; default ``4 d``.
    less_nnz : int, optional
        Non-zeros per LESS row; default ``d``.
    d_eff : float or "plugin", optional
        Value for the scalar correction; by default exact (``O(nd^2)``) except for the
        estimated-leverage samplers, which use the sum of their estimated scores.
        ``"plugin"`` estimates it per trial from the uncorrected sketched Gram ``G`` as
        ``tr(G (G + lam I)^{-1})``, touching ``A`` only through the sketch (used by SSN with
        SRHT and LESS).
    mix : float
        For ``"leverage"`` only: sample from :math:`(1-w)\ell/d_{\rm eff} + w/n` with ``w = mix``,
        which raises :math:`\rho_{\max}` above 1 (the SSN rate's dependence on it).
    """
    A = np.asarray(A, dtype=float)
    n, d = A.shape
    if sampler not in SAMPLERS:
        raise ValueError(
            f"unknown sampler {sampler!r}; choose from {SAMPLERS} "
            "(sampling_plan takes a custom distribution)"
        )
    common = dict(sampler=sampler, A=A, lam=float(lam), m=int(m))
    if sampler in ("uniform", "leverage"):
        ell = ridge_leverage(A, lam)
        pi = np.full(n, 1.0 / n) if sampler == "uniform" else mixed_probabilities(ell, mix)
    elif sampler in SAMPLING:
        k = approx_k or 4 * d
        # ALev ignores the regulariser everywhere: its scores, pi and corrections use lam = 0
        lam_scores = 0.0 if sampler == "approx_plain_leverage" else lam
        ell = approximate_ridge_leverage(A, lam_scores, k, rng)
        pi = ell / ell.sum()
        if sampler == "shrinkage_leverage":
            pi = 0.5 * pi + 0.5 / n
    else:
        d_eff = _exact_d_eff(A, lam) if d_eff is None else d_eff
        factor = None
        if sampler == "gaussian":
            ev, V = np.linalg.eigh(A.T @ A)
            factor = V * np.sqrt(np.clip(ev, 0.0, None))
        return SketchPlan(**common, d_eff=d_eff, factor=factor, less_nnz=less_nnz or d)
    d_eff = effective_dimension(ell) if d_eff is None else d_eff
    return SketchPlan(**common, d_eff=d_eff, rho_max=rho_factors(ell, pi)[1], pi=pi, ell=ell)


def sampling_weights(plan: SketchPlan, correction: str) -> np.ndarray:
    r"""Squared weight :math:`\omega_i` a sampled row ``a_i`` gets, so it enters as :math:`\sqrt{\omega_i}a_i`.

    ``"none"``: :math:`1/(m\pi_i)` (Def. 2.1, so :math:`\mathbb E[A^\top S^\top SA] =
    m\sum_i\pi_i\omega_i a_ia_i^\top = A^\top A`); ``"fine"``: :math:`1/(m\pi_i-\ell_i)`
    (Prop. 3.2). Rows with :math:`\pi_i = 0` are never drawn and get 0.
    """
    pi, m = plan.pi, plan.m
    seen = pi > 0
    w = np.zeros(pi.size)
    if correction == "none":
        w[seen] = 1.0 / (m * pi[seen])
    elif correction == "fine":
        w[seen] = fine_weights(pi[seen], plan.ell[seen], m)
    else:
        raise ValueError(f"row weights exist for 'none' and 'fine', not {correction!r}")
    return w


def _sampling_grams(plan: SketchPlan, wanted: tuple[str, ...], trials: int, rng) -> dict:
    A, m, pi = plan.A, plan.m, plan.pi
    n, d = A.shape
    weights = {c: sampling_weights(plan, c) for c in ("none", "fine") if c == "none" or c in wanted}
    if n * (trials + 1) < 2 * trials * m:
        # many draws per row: count each row's draws and do one GEMM with the outer products
        counts = rng.multinomial(m, pi, size=trials).astype(float)
        outer = (A[:, :, None] * A[:, None, :]).reshape(n, d * d)
        grams = {c: ((counts * w) @ outer).reshape(trials, d, d) for c, w in weights.items()}
    else:
        idx = rng.choice(n, size=(trials, m), p=pi)
        grams = {c: weighted_grams(A[idx], w[idx]) for c, w in weights.items()}
    return grams


def sketched_grams(
    plan: SketchPlan, corrections, trials: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Draw ``trials`` sketches and return the corrected Grams, one stack per correction.

    Parameters
    ----------
    plan : SketchPlan
    corrections : str or sequence of str, from :data:`CORRECTIONS`
    trials : int
    rng : numpy.random.Generator

    Returns
    -------
    dict
        ``{correction: ndarray [trials, d, d]}``; all corrections share the same draws.
    """
    wanted = (corrections,) if isinstance(corrections, str) else tuple(corrections)
    for c in wanted:
        if c not in _ALLOWED[plan.sampler]:
            raise ValueError(
                f"correction {c!r} is not defined for sampler {plan.sampler!r}; "
                f"use one of {_ALLOWED[plan.sampler]}"
            )
    if plan.pi is not None:
        grams = _sampling_grams(plan, wanted, trials, rng)
    elif plan.sampler == "srht":
        grams = srht_grams(plan.A, plan.lam, plan.m, trials, rng, "fine" in wanted)
    elif plan.sampler == "gaussian":
        grams = {"none": gaussian_grams(plan.factor, plan.m, trials, rng)}
    else:
        grams = {"none": less_grams(plan.A, plan.m, plan.less_nnz, trials, rng)}
    out = {}
    for c in wanted:
        if c == "scalar" and plan.d_eff == "plugin":
            factors = [scalar_factor(plan.m, dh) for dh in plugin_d_eff(grams["none"], plan.lam)]
            out[c] = np.asarray(factors)[:, None, None] * grams["none"]
        elif c == "scalar":
            out[c] = scalar_factor(plan.m, plan.d_eff) * grams["none"]
        elif c == "gaussian_exact":
            out[c] = gaussian_factor(plan.m, plan.A.shape[1]) * grams["none"]
        else:
            out[c] = grams[c]
    return out
