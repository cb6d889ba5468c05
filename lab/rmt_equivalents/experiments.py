"""The chapter's experiments: each result R1–R5, theory against simulation over seeds.

Every function takes the :class:`~lab.rmt_equivalents.config.Config` and returns a dict of
numbers and arrays (recorded in ``results.json``). Seeds: experiment ``e`` and replicate ``k``
draw from ``seed_of(cfg, e, k)``, so the same configuration gives the same numbers.
"""
from __future__ import annotations

import zlib

import numpy as np

from lab.progress import progress
from lab.rmt_equivalents import conjugate_kernel as ck
from lab.rmt_equivalents import gradient_descent as gd
from lab.rmt_equivalents import laws
from lab.rmt_equivalents import random_features as rf
from lab.rmt_equivalents import ridge
from lab.rmt_equivalents import simulate as sim


def seed_of(cfg, experiment: str, k: int) -> int:
    """A distinct, reproducible seed per (base seed, experiment, replicate)."""
    return (cfg.seed * 1_000_003 + zlib.crc32(experiment.encode()) + 7919 * k) % 2**31


def resolvent_grid(c: float, eta: float, points: int = 60):
    """``x + iη`` for ``x`` across and beyond the MP support of ratio ``c``."""
    lo, hi = laws.mp_edges(c)
    return np.linspace(max(lo - 0.5, -0.5), hi + 0.5, points) + 1j * eta


def mp(cfg) -> dict:
    """R1: ESD of ``XXᵀ/n`` against MP (KS, edges) per ratio; Wigner against the semicircle;
    ``(1/p) tr Q(x + iη)`` against ``m`` and against the general-covariance equivalent."""
    out = {"c": list(cfg.mp_c), "p": cfg.mp_p, "ks": [], "edge_gap": [], "resolvent_err": [], "eigs": {}}
    for c in cfg.mp_c:
        n = int(round(cfg.mp_p / c))
        ks, gaps, errs = [], [], []
        lo, hi = laws.mp_edges(c)
        z = resolvent_grid(c, cfg.resolvent_eta)
        m = laws.mp_stieltjes(z, c)
        for k in range(cfg.n_seeds):
            eigs = sim.wishart_eigs(cfg.mp_p, n, seed_of(cfg, f"mp{c}", k), device=cfg.device)
            ks.append(laws.ks_distance(eigs, lambda x: laws.mp_cdf(x, c)))
            gaps.append(max(abs(eigs.min() - lo) / lo, abs(eigs.max() - hi) / hi))
            errs.append(float(np.max(np.abs(laws.empirical_stieltjes(eigs, z) - m))))
            if k == 0:
                out["eigs"][str(c)] = eigs
        out["ks"].append(ks), out["edge_gap"].append(gaps), out["resolvent_err"].append(errs)
        out.setdefault("z", {})[str(c)] = z
    # the general-covariance equivalent with C = I reproduces m (its fixed point, not the quadratic)
    c0 = cfg.mp_c[-1]
    z0 = out["z"][str(c0)]
    out["de_vs_closed_form"] = float(np.max(np.abs(laws.resolvent_equivalent(np.ones(50), c0, z0)["m"]
                                                   - laws.mp_stieltjes(z0, c0))))
    wig = [sim.wigner_eigs(cfg.wigner_n, seed_of(cfg, "wigner", k), device=cfg.device) for k in range(cfg.n_seeds)]
    out["wigner_ks"] = [laws.ks_distance(e, laws.semicircle_cdf) for e in wig]
    out["wigner_eigs"], out["wigner_n"] = wig[0], cfg.wigner_n
    for key in ("ks", "edge_gap", "resolvent_err"):
        out[key] = np.array(out[key])
    return out


def two_point_covariance(cfg) -> dict:
    """R1 beyond C = I: a covariance with eigenvalues 1 and 4 (half each), ``(1/p) tr Q`` against
    the deterministic equivalent ``Q̄ = (C/(1 + δ) − zI)⁻¹`` at c = 0.5."""
    p, c = cfg.mp_p, 0.5
    s = np.where(np.arange(p) < p // 2, 1.0, 4.0)
    z = np.linspace(-0.5, 12, 60) + 1j * cfg.resolvent_eta
    de = laws.resolvent_equivalent(s, c, z)["m"]
    errs, eigs = [], None
    for k in range(cfg.n_seeds):
        eigs = sim.covariance_wishart_eigs(s, int(p / c), seed_of(cfg, "twopoint", k), device=cfg.device)
        errs.append(float(np.max(np.abs(laws.empirical_stieltjes(eigs, z) - de))))
    return {"z": z, "m_de": de, "m_emp": laws.empirical_stieltjes(eigs, z), "err": np.array(errs), "eigs": eigs}


def size_gap(cfg) -> dict:
    """Theory–simulation gap against size: max |(1/p) tr Q − m| on the grid and the MP KS
    distance, at c = 0.5 for each p of ``gap_p``, averaged over seeds."""
    c = 0.5
    z = resolvent_grid(c, cfg.resolvent_eta)
    m = laws.mp_stieltjes(z, c)
    res, ks = [], []
    for p in cfg.gap_p:
        r, q = [], []
        for k in range(cfg.n_seeds):
            eigs = sim.wishart_eigs(p, int(p / c), seed_of(cfg, f"gap{p}", k), device=cfg.device)
            r.append(float(np.max(np.abs(laws.empirical_stieltjes(eigs, z) - m))))
            q.append(laws.ks_distance(eigs, lambda x: laws.mp_cdf(x, c)))
        res.append(r), ks.append(q)
    res, ks = np.array(res), np.array(ks)
    p = np.array(cfg.gap_p, float)
    return {"p": p, "resolvent_err": res, "ks": ks,
            "slope_resolvent": ridge.loglog_slope(p, res.mean(1)), "slope_ks": ridge.loglog_slope(p, ks.mean(1))}


def ridge_power_law(cfg) -> dict:
    """R2: excess risk of ridge under ``Σ_ii = i^{−a}`` against its deterministic equivalent.

    β* is drawn N(0, I/p) per replicate; the equivalent is evaluated for that β*.
    """
    s = ridge.power_law_spectrum(cfg.ridge_p, cfg.ridge_power)
    emp = np.zeros((cfg.ridge_reps, len(cfg.ridge_n)))
    de = np.zeros_like(emp)
    parts = {"bias": np.zeros_like(emp), "variance": np.zeros_like(emp)}
    for r in range(cfg.ridge_reps):
        rng = np.random.default_rng(seed_of(cfg, "ridge-beta", r))
        beta = rng.standard_normal(cfg.ridge_p) / np.sqrt(cfg.ridge_p)
        for j, n in enumerate(cfg.ridge_n):
            eq = ridge.ridge_risk(s, beta, n, cfg.ridge_lam, cfg.ridge_noise)
            de[r, j] = eq["risk"]
            parts["bias"][r, j], parts["variance"][r, j] = eq["bias"], eq["variance"]
            emp[r, j] = sim.ridge_excess_risk(s, beta, n, cfg.ridge_lam, cfg.ridge_noise,
                                              seed_of(cfg, f"ridge{n}", r), device=cfg.device)
    n = np.array(cfg.ridge_n, float)
    return {"n": n, "p": cfg.ridge_p, "power": cfg.ridge_power, "empirical": emp, "de": de, **parts,
            "rel_err": np.abs(emp.mean(0) - de.mean(0)) / de.mean(0),
            "slope_de": ridge.loglog_slope(n, de.mean(0)), "slope_emp": ridge.loglog_slope(n, emp.mean(0))}


def ridgeless(cfg) -> dict:
    """R2: min-norm least squares with Σ = I, ‖β*‖ = 1, against the closed form over γ = p/n."""
    n = cfg.ridgeless_n
    gam = np.array(cfg.ridgeless_gamma, float)
    emp = np.zeros((cfg.ridge_reps, gam.size))
    for j, g in enumerate(gam):
        p = int(round(g * n))
        for r in range(cfg.ridge_reps):
            rng = np.random.default_rng(seed_of(cfg, f"ridgeless-beta{p}", r))
            beta = rng.standard_normal(p)
            beta /= np.linalg.norm(beta)
            emp[r, j] = sim.ridge_excess_risk(np.ones(p), beta, n, 0.0, cfg.ridgeless_noise,
                                              seed_of(cfg, f"ridgeless{p}", r), device=cfg.device)
    theory = ridge.ridgeless_isotropic_risk(gam, 1.0, cfg.ridgeless_noise)
    return {"gamma": gam, "empirical": emp, "theory": theory, "noise": cfg.ridgeless_noise,
            "rel_err": np.abs(emp.mean(0) - theory) / theory}


def random_features(cfg, activation: str = "relu") -> dict:
    """R3: RF train/test MSE over ``N/n`` and γ on the two-class mixture, theory vs simulation.

    Per seed: fresh data (train and test, ``n = n̂``), the equivalent on that data, and one
    draw of ``W`` per width.
    """
    n, psi, gam = cfg.rf_n, np.array(cfg.rf_psi, float), np.array(cfg.rf_gamma, float)
    shape = (cfg.rf_seeds, gam.size, psi.size)
    out = {k: np.zeros(shape) for k in ("sim_train", "sim_test", "de_train", "de_test")}
    for k in progress(range(cfg.rf_seeds), desc=f"RF {activation}"):
        rng = np.random.default_rng(seed_of(cfg, f"rf-data-{activation}", k))
        X, y = rf.gmm_data(cfg.rf_p, n, rng)
        Xt, yt = rf.gmm_data(cfg.rf_p, n, rng)
        _fill(out, k, X, y, Xt, yt, psi, gam, activation, cfg, f"rf-W-{activation}")
    return _summarise(out, psi, gam, activation)


def rf_more_draws(cfg, psi: float = 0.25, draws: int = 40, gamma: float = 1e-2) -> dict:
    """Is a narrow-width RF gap bias or Monte-Carlo noise? Seed 0's data, ``draws`` draws of W.

    Returns the equivalent's test MSE, the simulated mean and its standard error, and the
    relative gap.
    """
    rng = np.random.default_rng(seed_of(cfg, "rf-data-relu", 0))
    X, y = rf.gmm_data(cfg.rf_p, cfg.rf_n, rng)
    Xt, yt = rf.gmm_data(cfg.rf_p, cfg.rf_n, rng)
    N = max(1, int(round(psi * cfg.rf_n)))
    theory = rf.KernelSystem(X, y, Xt, yt).errors(N, gamma)["test"]
    sims = np.array([sim.rf_errors(X, y, Xt, yt, N, [gamma], seed_of(cfg, "rf-more", k), device=cfg.device)["test"][0]
                     for k in range(draws)])
    return {"psi": psi, "draws": draws, "gamma": gamma, "theory": theory, "mean": float(sims.mean()),
            "se": float(sims.std(ddof=1) / np.sqrt(draws)), "rel_gap": float(abs(sims.mean() - theory) / theory)}


def digits_random_features(cfg) -> dict:
    """R3 on scikit-learn's digits (illustration only: real data is not Gaussian)."""
    psi, gam = np.array(cfg.digits_psi, float), np.array(cfg.rf_gamma, float)
    seeds = min(cfg.rf_seeds, 3)
    shape = (seeds, gam.size, psi.size)
    out = {k: np.zeros(shape) for k in ("sim_train", "sim_test", "de_train", "de_test")}
    for k in range(seeds):
        X, y, Xt, yt = rf.digits_data(cfg.digits_n, cfg.digits_n, seed_of(cfg, "digits-split", k))
        _fill(out, k, X, y, Xt, yt, psi, gam, "relu", cfg, "digits-W")
    return _summarise(out, psi, gam, "relu")


def _fill(out, k, X, y, Xt, yt, psi, gam, activation, cfg, tag):
    n = X.shape[1]
    system = rf.KernelSystem(X, y, Xt, yt, activation)
    for j, ps in enumerate(psi):
        N = max(1, int(round(ps * n)))
        s = sim.rf_errors(X, y, Xt, yt, N, gam, seed_of(cfg, f"{tag}{N}", k), activation, device=cfg.device)
        out["sim_train"][k, :, j], out["sim_test"][k, :, j] = s["train"], s["test"]
        for i, g in enumerate(gam):
            eq = system.errors(N, g)
            out["de_train"][k, i, j], out["de_test"][k, i, j] = eq["train"], eq["test"]


def _summarise(out, psi, gam, activation):
    out.update(psi=psi, gamma=gam, activation=activation,
               rel_err=np.abs(out["sim_test"].mean(0) - out["de_test"].mean(0)) / out["de_test"].mean(0))
    return out


def conjugate_kernel(cfg) -> dict:
    """R4: spectrum of ``(1/N)σ(WX)ᵀσ(WX)`` (ReLU) against its Gaussian equivalent, per seed."""
    coeffs = ck.gaussian_coefficients("relu")
    spikes, gaps, gmax, spike_pred = [], [], [], []
    emp = eq = None
    for k in range(cfg.ck_seeds):
        rng = np.random.default_rng(seed_of(cfg, "ck-data", k))
        X = ck.unit_columns(cfg.ck_p, cfg.ck_n, rng)
        sp = sim.ck_spectra(X, cfg.ck_N, seed_of(cfg, "ck-W", k), coeffs, device=cfg.device)
        emp, eq = sp["empirical"], sp["equivalent"]
        spikes.append(abs(emp[-1] - eq[-1]) / eq[-1])
        g = ck.bulk_quantile_gap(emp, eq)
        gaps.append(g["mean"]), gmax.append(g["max"])
        spike_pred.append(float(np.linalg.eigvalsh(ck.expected_ck(X, coeffs))[-1]))
    return {"coeffs": coeffs, "spike_rel": np.array(spikes), "bulk_mean_gap": np.array(gaps),
            "bulk_max_gap": np.array(gmax), "empirical": emp, "equivalent": eq,
            "n_a0_sq": cfg.ck_n * coeffs["a0"] ** 2, "expected_ck_top": np.array(spike_pred)}


def deep_conjugate_kernel(cfg, n: int | None = None, p: int | None = None, width: int | None = None) -> dict | None:
    """R4, deep: a ``deep_ck_layers``-layer random ReLU network against its layer-wise equivalent.

    Layer ``l``: ``F_l = (σ(W_l F_{l−1}) − a₀)/√(N(ν − a₀²))`` (centred, unit column norms), and the
    equivalent ``(a₁W_l F^lin_{l−1} + √(ν − a₀² − a₁²) Z_l)/√(N(ν − a₀²))``. Returns the bulk
    quantile gap of the last layer's Gram spectra, or None when ``deep_ck_n`` is 0.
    """
    import torch

    n = n or cfg.deep_ck_n
    if not n:
        return None
    p, width = p or n // 2, width or n
    co = ck.gaussian_coefficients("relu")
    g = torch.Generator(device=cfg.device).manual_seed(seed_of(cfg, "deep-ck", 0))
    X = torch.as_tensor(ck.unit_columns(p, n, np.random.default_rng(seed_of(cfg, "deep-ck-data", 0))),
                        device=cfg.device)
    F = L = X
    norm = np.sqrt(width * (co["nu"] - co["a0"] ** 2))
    noise = np.sqrt(co["noise"])
    for _ in range(cfg.deep_ck_layers):
        W = torch.randn(width, F.shape[0], generator=g, device=cfg.device, dtype=X.dtype)
        F = (torch.relu(W @ F) - co["a0"]) / norm
        Z = torch.randn(width, n, generator=g, device=cfg.device, dtype=X.dtype)
        L = (co["a1"] * (W @ L) + noise * Z) / norm
    ef = torch.linalg.eigvalsh(F.T @ F).cpu().numpy()
    el = torch.linalg.eigvalsh(L.T @ L).cpu().numpy()
    gap = ck.bulk_quantile_gap(ef, el, n_spikes=0)
    return {"n": n, "layers": cfg.deep_ck_layers, "bulk_mean_gap": gap["mean"], "bulk_max_gap": gap["max"],
            "empirical": ef, "equivalent": el}


def gradient_descent(cfg) -> dict:
    """R5: ``‖β_t − β*‖²`` of GD over ``gd_reps`` draws against the MP-integral risk curve."""
    c = cfg.gd_p / cfg.gd_n
    curves = np.array([sim.gd_risk_curve(cfg.gd_p, cfg.gd_n, cfg.gd_noise, cfg.gd_eta, cfg.gd_steps,
                                         seed_of(cfg, "gd", r), device=cfg.device) for r in range(cfg.gd_reps)])
    t = np.arange(cfg.gd_steps + 1)
    th = gd.gd_risk(t, c, cfg.gd_noise, cfg.gd_eta)
    emp = curves.mean(0)
    return {"t": t, "empirical": curves, "theory": th["risk"], "bias": th["bias"], "variance": th["variance"],
            "rel_err": np.abs(emp - th["risk"]) / th["risk"], "argmin_emp": int(np.argmin(emp)),
            "argmin_theory": int(np.argmin(th["risk"])), "limit": gd.gd_risk_limit(c, cfg.gd_noise), "c": c}


def peers(cfg) -> dict:
    """The peers: freealg's MP and semicircle densities (R1), scikit-learn's Ridge (R2)."""
    from sklearn.linear_model import Ridge

    from lab.free_decompression import peer as fa

    out = {}
    if fa.available():
        with fa.numpy_trapz_shim():
            from freealg.distributions import MarchenkoPastur, Wigner

            diffs = []
            for c in cfg.mp_c:
                lo, hi = laws.mp_edges(c)
                x = np.linspace(lo, hi, 401)[1:-1]
                diffs.append(float(np.max(np.abs(MarchenkoPastur(c).density(x) - laws.mp_density(x, c)))))
            x = np.linspace(-1.99, 1.99, 401)
            diffs.append(float(np.max(np.abs(Wigner(2.0).density(x) - laws.semicircle_density(x)))))
        out["freealg_max_diff"] = diffs
    rng = np.random.default_rng(seed_of(cfg, "sklearn", 0))
    n, p, lam = 200, 300, 1e-2
    X = rng.standard_normal((n, p))
    y = X @ (rng.standard_normal(p) / np.sqrt(p)) + 0.3 * rng.standard_normal(n)
    ours = np.linalg.solve(X.T @ X / n + lam * np.eye(p), X.T @ y / n)
    skl = Ridge(alpha=n * lam, fit_intercept=False, solver="cholesky").fit(X, y).coef_
    out["sklearn_ridge_max_diff"] = float(np.max(np.abs(ours - skl)))
    return out
