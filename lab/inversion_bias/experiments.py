"""Experiments of the inversion-bias chapter (``book/inversion_bias.md``).

Each function takes a :class:`~lab.inversion_bias.config.Config`, shows a progress bar over
seeds, and returns a dict of numpy arrays and floats; per-seed values come first so the
chapter can report mean +- std. :func:`lab.run.jsonable` turns a result into plain JSON types.
Every seed is an independent replicate: fresh data and fresh sketches, drawn from
``np.random.default_rng([cfg.seed, <experiment tag>, seed index])``.
"""

from __future__ import annotations

import zlib

import numpy as np
from lab.progress import progress


from .bias import bias_of, biases_of, inversion_bias, mean_inverses, relative_gap
from .config import Config
from .data import digits_logistic, logistic_data, spiked_rows, t_rows
from .debias import deterministic_equivalent
from .leverage import effective_dimension, mixed_probabilities, rho_factors, ridge_leverage
from .logistic import hessian_factor, logistic_hessian, newton_solve
from .newton import gradient_descent, sgd, subsampled_newton
from .sketches import plan_sketch, sampling_plan


def _rng(cfg: Config, tag: str, seed: int) -> np.random.Generator:
    return np.random.default_rng([cfg.seed, zlib.crc32(tag.encode()), seed])


def _setting_a(cfg: Config, rng: np.random.Generator) -> np.ndarray:
    return spiked_rows(cfg.a_n, cfg.a_d, cfg.a_frac, cfg.a_scale, rng=rng)


def _gaussian_floor(A: np.ndarray, m: int, cfg: Config, rng: np.random.Generator) -> float:
    """Bias of the exactly de-biased Gaussian sketch (``lam = 0``): Monte-Carlo noise only."""
    return bias_of(A, 0.0, "gaussian", "gaussian_exact", m, cfg.trials, rng, cfg.batch)[0]


def bias_vs_sketch_size(cfg: Config) -> dict:
    """Inversion bias against sketch size ``m`` for every sampler and correction.

    Setting A: spiked rows, ``lam = 0``, uniform sampling x {none, scalar, fine} and the
    Gaussian sketch {none, gaussian_exact}; the corrected Gaussian is the Monte-Carlo floor.
    Setting B: ``t``-scaled rows, small ``lam``, exact leverage, estimated leverage and SRHT
    x {none, scalar, fine}, plus the Gaussian floor. The scalar correction uses the exact
    ``d_eff`` (Prop. 2.8, Cor. 3.4, 3.7).

    Returns
    -------
    dict
        ``bias[setting][sampler][correction]`` arrays ``[n_seeds, len(m)]``, ``m[setting]``,
        and per seed ``rho_max_uniform`` (A), ``d_eff`` (B) and ``rho_approx`` (B, the
        ``(rho_min, rho_max)`` of the estimated-leverage distribution).
    """
    plan_b = {
        "leverage": ("none", "scalar", "fine"),
        "approx_leverage": ("none", "scalar", "fine"),
        "srht": ("none", "scalar", "fine"),
        "gaussian": ("none", "gaussian_exact"),
    }
    plan_a = {"uniform": ("none", "scalar", "fine"), "gaussian": ("none", "gaussian_exact")}
    S, ma, mb = cfg.n_seeds, len(cfg.a_m), len(cfg.b_m)
    bias = {
        "A": {s: {c: np.zeros((S, ma)) for c in cs} for s, cs in plan_a.items()},
        "B": {s: {c: np.zeros((S, mb)) for c in cs} for s, cs in plan_b.items()},
    }
    rho_a, d_eff_b, rho_approx = np.zeros(S), np.zeros(S), np.zeros((S, mb, 2))
    for seed in progress(range(S), desc="bias vs m"):
        rng = _rng(cfg, "bias_vs_sketch_size", seed)
        A = _setting_a(cfg, rng)
        rho_a[seed] = rho_factors(ridge_leverage(A, 0.0), np.full(cfg.a_n, 1.0 / cfg.a_n))[1]
        for j, m in enumerate(cfg.a_m):
            for sampler, corrections in plan_a.items():
                res = biases_of(A, 0.0, sampler, corrections, m, cfg.trials, rng, cfg.batch)
                for c in corrections:
                    bias["A"][sampler][c][seed, j] = res[c][0]
        B = t_rows(cfg.b_n, cfg.b_d, cfg.b_df, rng=rng)
        H = B.T @ B + cfg.b_lam * np.eye(cfg.b_d)
        ell_b = ridge_leverage(B, cfg.b_lam)
        d_eff_b[seed] = effective_dimension(ell_b)
        opts = dict(d_eff=d_eff_b[seed], approx_k=cfg.approx_k_per_d * cfg.b_d)
        for j, m in enumerate(cfg.b_m):
            for sampler, corrections in plan_b.items():
                plan = plan_sketch(B, cfg.b_lam, sampler, m, rng, **(opts if sampler != "gaussian" else {}))
                if sampler == "approx_leverage":
                    rho_approx[seed, j] = rho_factors(ell_b, plan.pi)
                means = mean_inverses(plan, corrections, cfg.trials, rng, cfg.batch)
                for c in corrections:
                    bias["B"][sampler][c][seed, j] = inversion_bias(H, means[c])
    return {
        "m": {"A": np.array(cfg.a_m), "B": np.array(cfg.b_m)},
        "bias": bias,
        "rho_max_uniform": rho_a,
        "d_eff": d_eff_b,
        "rho_approx": rho_approx,
    }


def deterministic_equivalent_gap(cfg: Config) -> dict:
    r"""Thm 3.1 under uniform sampling in setting A.

    For each ``m``: the gap of the empirical mean inverse to :math:`(A^\top DA)^{-1}`
    (``gap_D``) and to the naive :math:`(A^\top A)^{-1}` (``gap_naive``), the Gaussian
    Monte-Carlo floor, and the range of ``D`` against
    :math:`m/(m+2\rho_{\max}d_{\rm eff}) \le D_{ii} \le m/(m+\rho_{\min}d_{\rm eff})`.
    All arrays are ``[n_seeds, len(m)]``.
    """
    S, M = cfg.n_seeds, len(cfg.a_m)
    keys = ("gap_D", "gap_naive", "floor", "D_min", "D_max", "lower", "upper")
    out = {k: np.zeros((S, M)) for k in keys}
    for seed in progress(range(S), desc="Thm 3.1"):
        rng = _rng(cfg, "deterministic_equivalent_gap", seed)
        A = _setting_a(cfg, rng)
        n, d = A.shape
        pi = np.full(n, 1.0 / n)
        ell = ridge_leverage(A, 0.0)
        rho_min, rho_max = rho_factors(ell, pi)
        d_eff = effective_dimension(ell)
        for j, m in enumerate(cfg.a_m):
            D, _ = deterministic_equivalent(A, 0.0, pi, m)
            plan = plan_sketch(A, 0.0, "uniform", m, rng)
            Q_mean = mean_inverses(plan, "none", cfg.trials, rng, cfg.batch)["none"]
            out["gap_D"][seed, j] = relative_gap(A.T @ (D[:, None] * A), Q_mean)
            out["gap_naive"][seed, j] = relative_gap(A.T @ A, Q_mean)
            out["floor"][seed, j] = _gaussian_floor(A, m, cfg, rng)
            out["D_min"][seed, j], out["D_max"][seed, j] = D.min(), D.max()
            out["lower"][seed, j] = m / (m + 2 * rho_max * d_eff)
            out["upper"][seed, j] = m / (m + rho_min * d_eff)
    return {"m": np.array(cfg.a_m), **out}


def phase_transition(cfg: Config) -> dict:
    r"""Scalar- and fine-corrected bias against :math:`\rho_{\max}` at fixed ``m = pt_m``.

    Sampling :math:`\pi = (1-w)\ell/d_{\rm eff} + w/n` on setting A's data sweeps
    :math:`\rho_{\max}` from 1 (``w = 0``) to the uniform value (``w = 1``).

    Returns
    -------
    dict
        ``w``; ``rho_min``, ``rho_max``, ``none``, ``scalar``, ``fine`` arrays
        ``[n_seeds, len(w)]`` (the mix also lowers ``rho_min``, below Cor. 3.4's 1/2 for
        large ``w``);
        ``floor`` ``[n_seeds]`` (Gaussian sketch, ``m/(m-d-1)``).
    """
    S, W, m = cfg.n_seeds, len(cfg.pt_w), cfg.pt_m
    out = {k: np.zeros((S, W)) for k in ("rho_min", "rho_max", "none", "scalar", "fine")}
    floor = np.zeros(S)
    for seed in progress(range(S), desc="rho_max sweep"):
        rng = _rng(cfg, "phase_transition", seed)
        A = _setting_a(cfg, rng)
        H = A.T @ A
        ell = ridge_leverage(A, 0.0)
        for j, w in enumerate(cfg.pt_w):
            plan = sampling_plan(A, 0.0, m, mixed_probabilities(ell, w), ell)
            out["rho_min"][seed, j], out["rho_max"][seed, j] = rho_factors(ell, plan.pi)
            means = mean_inverses(plan, ("none", "scalar", "fine"), cfg.trials, rng, cfg.batch)
            for c, Q in means.items():
                out[c][seed, j] = inversion_bias(H, Q)
        floor[seed] = _gaussian_floor(A, m, cfg, rng)
    return {"w": np.array(cfg.pt_w), "m": m, "floor": floor, **out}


SSN_VARIANTS = {"debiased": ("fine", "debiased"), "plain": ("none", 1.0), "plain_mu": ("none", "debiased")}


def ssn_local_rates(cfg: Config) -> dict:
    r"""Empirical local rates of SSN with exact ridge-leverage sampling against Thm 4.3.

    From :math:`\beta_0 = \beta_* + \delta` with :math:`\|\delta\| =` ``ssn_start`` ``\|\beta_*\|``,
    run ``ssn_T`` steps ``ssn_runs`` times; the squared rate is
    :math:`(\mathbb E\|\beta_T-\beta_*\|_H^2/\|\beta_0-\beta_*\|_H^2)^{1/T}` with
    :math:`H=\nabla^2F(\beta_*)` and the unsquared one uses
    :math:`\mathbb E\|\cdot\|_H/\|\cdot\|_H`. Variants: de-biased (fine correction, step
    :math:`\mu_t`), plain (step 1), plain with :math:`\mu_t`. Theory: :math:`\rho_{\max}d_{\rm eff}/m`
    with :math:`\rho_{\max}=1`. To vary :math:`\rho_{\max}`, de-biased SSN also samples from
    :math:`(1-w)\ell/d_{\rm eff}+w/n` for each ``w`` in ``ssn_mix`` (where ``m`` is large enough).

    Returns
    -------
    dict
        ``rate_sq[variant]``, ``rate[variant]`` and ``theory``, arrays ``[n_seeds, len(m)]``;
        ``d_eff`` ``[n_seeds]``; ``mix[w]`` with ``rho_max`` ``[n_seeds]`` (at :math:`\beta_*`)
        and ``rate_sq`` ``[n_seeds, len(m)]`` (NaN where ``m`` is too small).
    """
    S, M, T = cfg.n_seeds, len(cfg.ssn_m), cfg.ssn_T
    rate_sq = {v: np.zeros((S, M)) for v in SSN_VARIANTS}
    rate = {v: np.zeros((S, M)) for v in SSN_VARIANTS}
    theory, d_eff = np.zeros((S, M)), np.zeros(S)
    mix_rate_sq = {w: np.full((S, M), np.nan) for w in cfg.ssn_mix}
    mix_rho = {w: np.zeros(S) for w in cfg.ssn_mix}
    for seed in progress(range(S), desc="SSN rates"):
        rng = _rng(cfg, "ssn_local_rates", seed)
        X, y = logistic_data(cfg.ssn_n, cfg.ssn_d, cfg.ssn_df, rng=rng)
        beta_star = newton_solve(X, y, cfg.ssn_lam)
        H = logistic_hessian(X, y, cfg.ssn_lam, beta_star)
        ell = ridge_leverage(hessian_factor(X, beta_star), cfg.ssn_lam)
        d_eff[seed] = effective_dimension(ell)
        theory[seed] = d_eff[seed] / np.array(cfg.ssn_m)
        for w in cfg.ssn_mix:
            mix_rho[w][seed] = rho_factors(ell, mixed_probabilities(ell, w))[1]

        def squared_and_plain_rate(m, correction, step, **plan_options):
            """Mean over ``ssn_runs`` starts at distance ``ssn_start``·‖β*‖ of the T-step contraction."""
            ratios = np.zeros(cfg.ssn_runs)
            for r in range(cfg.ssn_runs):
                u = rng.standard_normal(cfg.ssn_d)
                beta0 = beta_star + cfg.ssn_start * np.linalg.norm(beta_star) * u / np.linalg.norm(u)
                hist = subsampled_newton(X, y, cfg.ssn_lam, beta0, "leverage", m, T, correction, step, rng, **plan_options)
                e0, eT = beta0 - beta_star, hist["betas"][-1] - beta_star
                ratios[r] = (eT @ H @ eT) / (e0 @ H @ e0)
            return np.mean(ratios) ** (1.0 / T), np.mean(np.sqrt(ratios)) ** (1.0 / T)

        for j, m in enumerate(cfg.ssn_m):
            for v, (correction, step) in SSN_VARIANTS.items():
                rate_sq[v][seed, j], rate[v][seed, j] = squared_and_plain_rate(m, correction, step)
            for w in cfg.ssn_mix:
                # the fine correction needs m > rho_max d_eff; leave a margin for beta_t != beta_*
                if m > 1.1 * mix_rho[w][seed] * d_eff[seed]:
                    mix_rate_sq[w][seed, j] = squared_and_plain_rate(m, "fine", "debiased", mix=w)[0]
    return {
        "m": np.array(cfg.ssn_m),
        "T": T,
        "rate_sq": rate_sq,
        "rate": rate,
        "theory": theory,
        "d_eff": d_eff,
        "mix": {w: {"rho_max": mix_rho[w], "rate_sq": mix_rate_sq[w]} for w in cfg.ssn_mix},
    }


#: SSN sampler -> (method name, correction, step) in :func:`error_vs_time`
EVT_SETUP = {
    "arlev": ("ssn-arlev", "fine", "debiased"),
    "slev": ("ssn-slev", "fine", "debiased"),
    "alev": ("ssn-alev", "fine", "debiased"),
    "srht": ("ssn-srht", "scalar", "debiased"),
    "less": ("newton-less", "scalar", 1.0),
}


def error_vs_time(cfg: Config) -> dict:
    r"""Relative error :math:`\|\beta_t-\beta_*\|_H/\|\beta_*\|_H` against iteration and time.

    Logistic regression on :func:`~lab.inversion_bias.data.digits_logistic` from
    :math:`\beta_0 = 0`: de-biased SSN (fine correction and step :math:`\mu_t` for the
    sampling methods, scalar for SRHT), Newton-LESS (scalar, step 1), gradient descent and
    minibatch SGD. From so far out, the SSN methods backtrack (Armijo) from their step; near
    :math:`\beta_*` the step is accepted. Each seed is one run of every method (the data
    are fixed).

    Returns
    -------
    dict
        ``methods[name]`` with ``iters`` ``[k]`` and ``error``, ``time`` ``[n_seeds, k]``;
        ``d_eff`` at :math:`\beta_*`, ``n``, ``d``, ``m``.
    """
    X, y = digits_logistic()
    lam = cfg.evt_lam
    beta_star = newton_solve(X, y, lam)
    H = logistic_hessian(X, y, lam, beta_star)
    scale = np.sqrt(beta_star @ H @ beta_star)
    beta0 = np.zeros(X.shape[1])

    def rel_err(betas):
        diff = betas - beta_star
        return np.sqrt(np.einsum("ti,ij,tj->t", diff, H, diff)) / scale

    names = [EVT_SETUP[s][0] for s in cfg.evt_samplers] + ["gd", "sgd"]
    runs = {name: {"error": [], "time": [], "iters": None} for name in names}
    approx_k = cfg.approx_k_per_d * X.shape[1]
    for seed in progress(range(cfg.n_seeds), desc="error vs time"):
        rng = _rng(cfg, "error_vs_time", seed)
        for s in cfg.evt_samplers:
            name, correction, step = EVT_SETUP[s]
            hist = subsampled_newton(
                X, y, lam, beta0, s, cfg.evt_m, cfg.evt_T, correction, step, rng,
                line_search=True, approx_k=approx_k,
            )
            _record(runs[name], dict(hist, iters=np.arange(cfg.evt_T + 1)), rel_err)
        _record(runs["gd"], gradient_descent(X, y, lam, beta0, cfg.evt_gd_iters, record_every=5), rel_err)
        _record(runs["sgd"], sgd(X, y, lam, beta0, cfg.evt_sgd_epochs, cfg.evt_sgd_batch, rng), rel_err)
    methods = {
        k: {"iters": v["iters"], "error": np.array(v["error"]), "time": np.array(v["time"])}
        for k, v in runs.items()
    }
    d_eff = effective_dimension(ridge_leverage(hessian_factor(X, beta_star), lam))
    return {"methods": methods, "d_eff": d_eff, "n": X.shape[0], "d": X.shape[1], "m": cfg.evt_m, "lam": lam}


def _record(slot: dict, hist: dict, rel_err) -> None:
    slot["iters"] = hist["iters"]
    slot["error"].append(rel_err(hist["betas"]))
    slot["time"].append(hist["times"])
