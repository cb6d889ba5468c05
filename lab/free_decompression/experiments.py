"""What the chapter runs: each function takes a :class:`~lab.free_decompression.config.Config`
and returns plain dicts of numbers for the figures, the claims and ``results.json``."""
from __future__ import annotations

import time

import numpy as np
import torch

from lab.cache import cached
from lab.free_decompression import laws, matrices, metrics, peer
from lab.free_decompression.decompress import characteristic, decompress, solve_characteristics, support_edges
from lab.free_decompression.estimate import FitSettings, fit_density
from lab.free_decompression.glue import Continuation

MP_SETTINGS = FitSettings(K=50, kernel="beta", bandwidth=3e-3, damping="jackson")  # paper Table H.1


def _rng(cfg, *key):
    return np.random.default_rng([cfg.seed, *key])


def _grid(law, points, pad=0.05):
    lo, hi = law.support
    return np.linspace(lo - pad * (hi - lo), hi + pad * (hi - lo), points)


def closure(law, alpha: float, points: int, continuation: str = "exact", pade=(1, 1), delta: float = 1e-6) -> dict:
    """Decompress an analytic law's own Stieltjes transform and compare with its exact image."""
    cont = Continuation(law.model(n_nodes=120), continuation, *pade)
    target = law.decompressed(alpha)
    x = _grid(target, points)
    d = decompress(cont, alpha, x, delta=delta, scale=cont.model.half_span, normalize=False)
    lo, hi = target.support
    interior = (x > lo + 0.02 * (hi - lo)) & (x < hi - 0.02 * (hi - lo))
    err = np.abs(d.density - target.density(x))
    edges = support_edges(cont, alpha, law.support)
    return {"law": law.name, "target": target.name, "x": x, "density": d.density, "truth": target.density(x),
            "max_err": float(err[interior].max()), "edges": edges, "true_edges": target.support,
            "edge_err": float(max(abs(edges[0] - lo), abs(edges[1] - hi)) / (hi - lo))}


def pde_residual(law, alpha: float, z: complex = 0.3 + 0.4j, h: float = 1e-4) -> float:
    """``|d_t m + m - (1/m) d_z m| / |m|`` at one point, ``m`` from the characteristics."""
    cont = Continuation(law.model(n_nodes=120), "exact")
    scale = cont.model.half_span
    zc = law.decompressed(alpha).support[0] + z.real * np.diff(law.decompressed(alpha).support)[0] + 1j * z.imag

    def m(t, zz):
        a = np.exp(t)
        sol = solve_characteristics(cont, np.array([zz.real]), a, zz.imag, scale, tol=1e-14)
        return cont(sol.z0)[0] / a

    t = np.log(alpha)
    mt = m(t, zc)
    dt = (m(t + h, zc) - m(t - h, zc)) / (2 * h)
    dz = (m(t, zc + h * scale) - m(t, zc - h * scale)) / (2 * h * scale)
    return float(abs(dt + mt - dz / mt) / abs(mt))


def closures(cfg) -> dict:
    a = cfg.law_alpha
    km = laws.KestenMcKay(cfg.km_s * a, 1 / a)
    out = {
        "mp": closure(laws.MarchenkoPastur(cfg.mp_ns / cfg.mp_d), a, cfg.grid),
        "semicircle": closure(laws.Semicircle(1 / a), a, cfg.grid),
        "km": closure(km, a, cfg.grid),
        "wachter": closure(laws.Wachter(*cfg.wachter_ab), a, cfg.grid),
        "mp_pade": closure(laws.MarchenkoPastur(cfg.mp_ns / cfg.mp_d), a, cfg.grid, "pade"),
        "km_pade12": closure(km, a, cfg.grid, "pade", (1, 2)),
    }
    out["pde_residual"] = {k: pde_residual(law, a) for k, law in
                           (("mp", laws.MarchenkoPastur(cfg.mp_ns / cfg.mp_d)), ("semicircle", laws.Semicircle(1 / a)))}
    return out


def characteristic_lines(cfg, xs=(0.3, 1.0, 2.0, 3.0)) -> dict:
    """Foot points ``z0`` of the characteristics reaching ``x + i0`` for MP, as ``alpha`` grows."""
    law = laws.MarchenkoPastur(cfg.mp_ns / cfg.mp_d)
    cont = Continuation(law.model(n_nodes=120), "exact")
    alphas = np.exp(np.linspace(0, np.log(cfg.mp_targets[-1] / cfg.mp_ns), cfg.char_steps))[1:]
    target = law.decompressed(alphas[-1])
    x = np.asarray(xs) * target.support[1] / 3.24
    feet = np.array([solve_characteristics(cont, x, a, 1e-6, cont.model.half_span).z0 for a in alphas])
    return {"x": x, "alpha": alphas, "z0": feet, "support": law.support, "alpha_max": float(alphas[-1])}


def mp_experiment(cfg) -> dict:
    """Own FD (and freealg) of Wishart submatrices, n_s -> every target, per seed."""
    lam = cfg.mp_ns / cfg.mp_d
    targets = np.array(cfg.mp_targets)
    tv, js, tv_oracle, times, logdet, mom = [], [], [], [], [], []
    edges, peer_tv, peer_oracle_tv, peer_time, curves, peer_errors = [], [], [], [], {}, []
    use_peer = cfg.peer and peer.available()
    for s in range(cfg.n_seeds):
        eigs = matrices.wishart_eigs(cfg.mp_ns, cfg.mp_d, _rng(cfg, 1, s))
        t0 = time.perf_counter()
        model = fit_density(eigs, MP_SETTINGS)
        cont = Continuation(model, "pade", 1, 1)
        fit_s = time.perf_counter() - t0
        oracle = Continuation(fit_density(eigs, MP_SETTINGS, support=laws.MarchenkoPastur(lam).support), "pade", 1, 1)
        row_tv, row_js, row_or = [], [], []
        for n in targets:
            law = laws.MarchenkoPastur(n / cfg.mp_d)
            x = _grid(law, cfg.grid)
            t1 = time.perf_counter()
            d = decompress(cont, n / cfg.mp_ns, x, delta=1e-4, scale=model.half_span)
            dec_s = time.perf_counter() - t1
            truth = law.density(x)
            row_tv.append(metrics.total_variation(x, d.density, truth))
            row_js.append(metrics.jensen_shannon(x, d.density, truth))
            d_or = decompress(oracle, n / cfg.mp_ns, x, delta=1e-4, scale=model.half_span)
            row_or.append(metrics.total_variation(x, d_or.density, truth))
            if n == targets[-1]:
                times.append(fit_s + dec_s)
                logdet.append(metrics.log_determinant(x, d.density, int(n)))
                mom.append([metrics.moments(x, d.density)[k] for k in (1, 2)])
                edges.append(support_edges(cont, n / cfg.mp_ns, model.support))
                if s == 0:
                    curves = {"x": x, "ours": d.density, "truth": truth}
                if use_peer:  # the authors' package with the same support, then with the true one
                    for sup, store in ((model.support, peer_tv), (laws.MarchenkoPastur(lam).support, peer_oracle_tv)):
                        try:
                            r = peer.freealg_decompress(eigs, int(n), x, support=sup)
                        except (ValueError, RuntimeError, FloatingPointError) as err:  # freealg's Padé fit can fail
                            store.append(np.nan)  # no density to score; the reason is kept in peer_errors
                            peer_errors.append(f"{type(err).__name__}: {' '.join(str(err).split())[:160]}")
                            continue
                        store.append(metrics.total_variation(x, r["density"], truth))
                        peer_time.append(r["fit_s"] + r["decompress_s"])
                        if s == 0 and "freealg" not in curves:
                            curves["freealg"] = r["density"]
        tv.append(row_tv), js.append(row_js), tv_oracle.append(row_or)
    n_last = int(targets[-1])
    law_last = laws.MarchenkoPastur(n_last / cfg.mp_d)
    return {"targets": targets, "alpha": targets / cfg.mp_ns, "tv": np.array(tv), "js": np.array(js),
            "tv_oracle": np.array(tv_oracle), "time_32k": np.array(times), "logdet": np.array(logdet),
            "logdet_exact": n_last * law_last.log_moment(), "moments": np.array(mom),
            "moments_exact": [1.0, 1.0 + n_last / cfg.mp_d], "edges": np.array(edges),
            "true_edges": law_last.support, "peer_tv": np.array(peer_tv), "peer_oracle_tv": np.array(peer_oracle_tv),
            "peer_time": np.array(peer_time), "peer_used": use_peer, "peer_errors": peer_errors, "curves": curves}


def other_laws(cfg) -> dict:
    """Semicircle (Wigner submatrix), Kesten-McKay (random regular graph) and Wachter (MANOVA)."""
    a = cfg.law_alpha
    out = {}
    cases = [
        ("semicircle", lambda r: matrices.wigner_eigs(cfg.law_ns, cfg.law_ns / cfg.wigner_target, r),
         laws.Semicircle(1.0), cfg.wigner_target / cfg.law_ns, (1, 1), FitSettings(K=50, kernel="gaussian", bandwidth=1e-2, damping=None)),
        ("kesten_mckay", lambda r: matrices.matching_sum_eigs(cfg.law_ns, int(round(cfg.km_s * a)), 1 / a, r),
         laws.KestenMcKay(cfg.km_s), a, (1, 2), FitSettings(K=50, kernel="gaussian", bandwidth=1e-3, damping=None)),
        ("wachter", lambda r: matrices.wachter_eigs(cfg.wachter_ns, *cfg.wachter_ab, r),
         laws.Wachter(*cfg.wachter_ab).decompressed(a), a, (1, 2), FitSettings(K=20, kernel="gaussian", bandwidth=1e-3, damping=None)),
    ]
    for i, (name, sample, target, alpha, pq, settings) in enumerate(cases):
        tvs, curve = [], None
        for s in range(cfg.law_seeds):
            eigs = sample(_rng(cfg, 2, i, s))
            cont = Continuation(fit_density(eigs, settings), "pade", *pq)
            x = _grid(target, cfg.grid)
            d = decompress(cont, alpha, x, delta=1e-4, scale=cont.model.half_span)
            tvs.append(metrics.total_variation(x, d.density, target.density(x)))
            if s == 0:
                curve = {"x": x, "ours": d.density, "truth": target.density(x), "sub": eigs}
        out[name] = {"tv": np.array(tvs), "target": target.name, "alpha": alpha, **curve}
    return out


def _wishart_factor(n: int, d: int, seed: int, device: str, dtype) -> torch.Tensor:
    """The ``n x d`` Gaussian factor ``X`` of :func:`wishart_spectrum`, drawn from its seed."""
    g = torch.Generator(device=device).manual_seed(int(seed) * 1_000_003 + n)
    return torch.randn(n, d, generator=g, device=device, dtype=dtype)


def wishart_spectrum(n: int, ratio: float, seed: int, rows: int = 2048) -> dict:
    """Eigenvalues of the ``n x n`` Wishart ``X X^T / d`` (``d = n / ratio``), the first ``rows``
    rows of ``X`` (a submatrix's source) and the solve's time; built with torch (GPU when available).

    Only the eigenvalues and the time are cached (the expensive part; ``n`` numbers): the rows
    are drawn again from the seed, which is cheaper than storing them (hundreds of MB at ``n = 4000``).
    """
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.float32 if device == "cuda" else torch.float64  # float32 on the GPU: 2-3x faster solves
    d = int(round(n / ratio))

    def build():
        X = _wishart_factor(n, d, seed, device, dtype)
        A = X @ X.T / d
        eigs, secs = matrices.eigvalsh(A, device=device, dtype=dtype)
        return {"eigs": eigs, "seconds": secs, "device": device, "dtype": str(dtype).replace("torch.", ""),
                "threads": torch.get_num_threads()}

    spec = cached("free_decompression_wishart", {"n": n, "ratio": ratio, "seed": seed, "device": device}, build,
                  version=2)
    X = _wishart_factor(n, d, seed, device, dtype)
    return {**spec, "rows": X[:rows].double().cpu().numpy()}


def real_matrices(cfg) -> dict:
    """FD of the leading ``n_s x n_s`` block of a formed Wishart matrix against its full spectrum.

    The rows of ``X`` are i.i.d., so the leading block is a uniformly random principal submatrix.
    """
    out = []
    for n in cfg.real_n:
        spec = wishart_spectrum(int(n), cfg.real_ratio, cfg.seed)
        Xs = spec["rows"][:cfg.real_ns]
        d = int(round(n / cfg.real_ratio))
        t0 = time.perf_counter()
        sub_eigs = np.linalg.eigvalsh(Xs @ Xs.T / d)
        cont = Continuation(fit_density(sub_eigs, MP_SETTINGS), "pade", 1, 1)
        lo, hi = spec["eigs"].min(), spec["eigs"].max()
        x = np.linspace(lo - 0.1 * (hi - lo), hi + 0.1 * (hi - lo), cfg.grid)
        dec = decompress(cont, n / cfg.real_ns, x, delta=1e-4, scale=cont.model.half_span)
        fd_s = time.perf_counter() - t0
        dist = metrics.histogram_distances(x, dec.density, spec["eigs"], bins=100)
        out.append({"n": int(n), "direct_s": spec["seconds"], "device": spec["device"], "dtype": spec["dtype"],
                    "fd_s": fd_s, **dist, "x": x, "density": dec.density, "eigs": spec["eigs"],
                    "logdet_true": float(np.sum(np.log(spec["eigs"]))),
                    "logdet_fd": metrics.log_determinant(x, dec.density, int(n))})
    return {"runs": out, "ns": cfg.real_ns}


def timing(cfg) -> dict:
    """Direct eigensolver time against FD time (fit on ``n_s`` + decompress to ``n``) per size."""
    direct, fd = [], []
    for n in cfg.time_n:
        spec = wishart_spectrum(int(n), cfg.real_ratio, cfg.seed)
        direct.append(spec["seconds"])
        Xs = spec["rows"][:cfg.real_ns]
        t0 = time.perf_counter()
        sub = np.linalg.eigvalsh(Xs @ Xs.T / (n / cfg.real_ratio))
        cont = Continuation(fit_density(sub, MP_SETTINGS), "pade", 1, 1)
        lo, hi = spec["eigs"].min(), spec["eigs"].max()
        decompress(cont, n / cfg.real_ns, np.linspace(lo, hi, cfg.grid), delta=1e-4, scale=cont.model.half_span)
        fd.append(time.perf_counter() - t0)
    return {"n": np.array(cfg.time_n), "direct_s": np.array(direct), "fd_s": np.array(fd),
            "device": "cuda" if torch.cuda.is_available() else "cpu", "threads": torch.get_num_threads()}


def sensitivity(cfg) -> dict:
    """TV at the largest MP target over a grid of (K, bandwidth), seed 0."""
    eigs = matrices.wishart_eigs(cfg.mp_ns, cfg.mp_d, _rng(cfg, 1, 0))
    n = cfg.mp_targets[-1]
    law = laws.MarchenkoPastur(n / cfg.mp_d)
    x = _grid(law, cfg.grid)
    tv = np.full((len(cfg.sweep_K), len(cfg.sweep_bw)), np.nan)
    for i, K in enumerate(cfg.sweep_K):
        for j, bw in enumerate(cfg.sweep_bw):
            try:
                cont = Continuation(fit_density(eigs, FitSettings(K=K, bandwidth=bw)), "pade", 1, 1)
                d = decompress(cont, n / cfg.mp_ns, x, delta=1e-4, scale=cont.model.half_span)
                tv[i, j] = metrics.total_variation(x, d.density, law.density(x))
            except (ValueError, np.linalg.LinAlgError):
                pass
    return {"K": np.array(cfg.sweep_K), "bandwidth": np.array(cfg.sweep_bw), "tv": tv}


# Density-estimate settings tried on the digits kernel; all are the paper's (Table H.1) or its defaults.
KERNEL_SETTINGS = {
    # the row the paper uses for its kernel-type matrix (the NTK): Jacobi (2,2), K=50, ridge 1e-2, Padé [3/2]
    "ntk": ("Table H.1 NTK row, Padé [3/2]", FitSettings(K=50, a=2, b=2, reg=1e-2, kernel="gaussian",
                                                          bandwidth=1e-3, damping=None), (3, 2), 1e-6),
    # MP settings with the support taken as the eigenvalues' range (the spectrum has no square-root edge)
    "mp_range": ("MP settings, range support, Padé [2/2]", FitSettings(edges="range"), (2, 2), 1e-4),
    "mp": ("MP settings as in Exp. 1, Padé [1/1]", MP_SETTINGS, (1, 1), 1e-4),
}


def digits_kernel_experiment(cfg) -> dict:
    """FD of a random ``n_s x n_s`` principal block of the digits Gaussian kernel to ``n = 1797``.

    Compared with the full spectrum on 100 linear bins (as Experiment 3) and on log-spaced bins;
    FD time (submatrix eigenvalues + fit + solve) against the direct ``eigvalsh`` of the full matrix.
    """
    spec = matrices.digits_kernel(cfg.seed)
    eigs, n = spec["eigs"], spec["eigs"].size
    ns = cfg.kernel_ns
    if not 2 <= ns <= n:
        raise ValueError(f"kernel_ns must lie in [2, {n}], got {ns}")
    top = eigs.max()
    # linear grid for the bulk's scale plus a geometric one that resolves the decades near zero
    x = np.unique(np.concatenate([np.linspace(-0.1 * top, 1.2 * top, cfg.grid), np.geomspace(1e-6, top, cfg.grid)]))
    runs = []
    for key in cfg.kernel_settings:
        label, settings, pq, delta = KERNEL_SETTINGS[key]
        t0 = time.perf_counter()
        sub = np.linalg.eigvalsh(spec["K"][:ns, :ns])
        cont = Continuation(fit_density(sub, settings), "pade", *pq)
        d = decompress(cont, n / ns, x, delta=delta, scale=cont.model.half_span)
        fd_s = time.perf_counter() - t0
        lin = metrics.histogram_distances(x, d.density, eigs, bins=100)
        log = metrics.log_histogram_distances(x, d.density, eigs)
        try:
            logdet = metrics.log_determinant(x, d.density, n)
        except ValueError:  # more than 5% of the mass at x <= 0: no log-det to read off
            logdet = float("nan")
        runs.append({"key": key, "label": label, "fd_s": fd_s, "tv": lin["tv"], "ks": lin["ks"],
                     "log_tv": log["tv"], "log_ks": log["ks"], "logdet_fd": logdet,
                     "mean_fd": metrics.moments(x, d.density)[1], "density": d.density,
                     "poles": [complex(p) for p in cont.pade.poles()]})
    return {"n": n, "ns": ns, "bandwidth": spec["bandwidth"], "direct_s": spec["direct_s"], "eigs": eigs,
            "sub_eigs": sub, "x": x, "logdet_true": float(np.sum(np.log(eigs))), "mean_true": float(eigs.mean()),
            "frac_below_1e-2": float(np.mean(eigs < 1e-2)), "runs": runs}
