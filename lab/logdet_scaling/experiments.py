"""The experiments of ``book/logdet_scaling.md``; each takes a :class:`~.config.Config` and returns plain dicts.

1. :func:`memory_and_time` — MEMDET on a memory-mapped SPD matrix for each block count: exactness
   against ``slogdet``, traced peak memory against ``b² β``, time, and in-memory
   ``scipy.linalg.cholesky`` on the same matrix in the same run; the block rule from a memory cap;
   symmetric-indefinite input; ``detkit.memdet`` as a peer.
2. :func:`power_laws` — determinant ratios of leading blocks against ``k`` (Matérn, Matérn LMC).
3. :func:`window_heatmap` — FLODANCE's relative error over windows ``(n₀, n_s, q)`` on Matérn.
4. :func:`ntk_comparison` — the Table-2 analogue on the digits NTK: FLODANCE windows, SLQ (ours
   and ``imate``), block-diagonal, the NTK formed in float16/float32; over ``n_nets`` networks.
5. :func:`wishart_slq` — SLQ on a well-conditioned Wishart matrix.
6. :func:`gpu_cholesky` — (full tier) fp64 Cholesky throughput on the device.
"""
from __future__ import annotations

import tempfile
import time
import tracemalloc

import numpy as np
import scipy.linalg
import torch

from lab.logdet_scaling import baselines, flodance as fl, matrices, ntk
from lab.logdet_scaling.memdet import memdet, num_blocks_from_memory


def _rel(est, ref):
    return abs(est - ref) / abs(ref)


def _detkit():
    try:
        import detkit
    except ImportError:
        return None
    return detkit


def _traced(fn):
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        t0 = time.perf_counter()
        out = fn()
        secs = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return out, peak, secs


def memory_and_time(cfg) -> dict:
    n = cfg.mem_n
    A = matrices.wishart(n, p=n + 10, ridge=1e-3, seed=cfg.seed)
    ref = np.linalg.slogdet(A)[1]
    ks = sorted({1, n // 7 + 1, n // 3, n // 2 + 1, n - 1})
    lead_ref = np.array([np.linalg.slogdet(A[:k, :k])[1] for k in ks])
    detkit = _detkit() if cfg.peer else None
    cap = cfg.mem_cap_mb * 1e6
    rows = []
    with tempfile.TemporaryDirectory(prefix="logdet-") as tmp:
        path = matrices.write_npy(f"{tmp}/A.npy", A)
        del A
        mm = np.load(path, mmap_mode="r")
        memdet(mm[:8, :8], num_blocks=2, scratch_dir=tmp)  # first calls allocate scipy's caches: not traced
        # in-memory scipy Cholesky of the same matrix, in the same run
        t0 = time.perf_counter()
        inmem = np.array(mm)
        L = scipy.linalg.cholesky(inmem, lower=True, overwrite_a=True, check_finite=False)
        scipy_s = time.perf_counter() - t0
        del inmem, L
        for nb in cfg.mem_blocks:
            res, peak, secs = _traced(lambda: memdet(mm, num_blocks=nb, scratch_dir=tmp, check_symmetric=False))
            lead = res.leading_logdets()[np.array(ks) - 1]
            row = dict(num_blocks=nb, block_size=res.block_size, seconds=secs, peak_bytes=peak,
                       peak_blocks=peak / (res.block_size ** 2 * 8), rel_err=_rel(res.logabsdet, ref),
                       lead_err=float(np.max(np.abs(lead - lead_ref) / np.maximum(1.0, np.abs(lead_ref)))),
                       blocks_read=res.blocks_read, scratch_mb=res.scratch_bytes / 1e6, fmas=res.fmas)
            rows.append(dict(row, logabsdet=res.logabsdet))
        nb_rule = num_blocks_from_memory(n, cap)
        res, peak, secs = _traced(lambda: memdet(mm, max_mem=cap, scratch_dir=tmp, check_symmetric=False))
        # detkit last: it leaves threads behind whose allocations tracemalloc would count as ours
        for row in rows if detkit is not None else ():
            t0 = time.perf_counter()
            ld = detkit.memdet(mm, num_blocks=row["num_blocks"], assume="spd", scratch_dir=tmp)[0]
            row["detkit_seconds"] = time.perf_counter() - t0
            row["detkit_gap"] = _rel(row["logabsdet"], ld)
        del mm
    S = matrices.symmetric_indefinite(cfg.sym_n, seed=cfg.seed + 1)
    s_sign, s_ref = np.linalg.slogdet(S)
    sym = []
    for nb in cfg.mem_blocks:
        if nb <= cfg.sym_n:
            r = memdet(S, num_blocks=nb, assume="sym")
            sym.append(dict(num_blocks=nb, rel_err=_rel(r.logabsdet, s_ref), sign_ok=bool(r.sign == s_sign),
                            detkit_gap=_rel(r.logabsdet, detkit.memdet(S, num_blocks=nb, assume="sym")[0])
                            if detkit is not None else None))
    return dict(n=n, ref=ref, rows=rows, scipy_seconds=scipy_s, lead_k=ks, cap_bytes=cap, rule_blocks=nb_rule,
                rule_peak_bytes=peak, rule_block_size=res.block_size, rule_rel_err=_rel(res.logabsdet, ref),
                sym=sym, sym_n=cfg.sym_n, peer=detkit is not None,
                fmas_formula=float(fl.memdet_fmas(n)), fmas_lower=fl.cholesky_fmas(n))


def _ratio_fit(ell_points: np.ndarray, tail_from: int, bins: int = 20) -> dict:
    """Power law of the determinant ratios ``log r_k = ℓ_k − ℓ_{k−1}`` against ``log k`` on ``k ≥ tail_from``.

    Single ratios scatter (each is the posterior variance of one random point), so the trend is
    fitted to their means over ``bins`` log-spaced bins of ``k``: ν = −slope and R² of that fit
    (``r2``); ``r2_points`` is the R² of the same line against the single ratios.
    """
    k = np.arange(2, len(ell_points) + 1)
    logr = np.diff(ell_points)
    sel = k >= tail_from
    lk, lr = np.log(k[sel]), logr[sel]
    idx = np.minimum((bins * (lk - lk.min()) / max(np.ptp(lk), 1e-12)).astype(int), bins - 1)
    keep = np.bincount(idx, minlength=bins) > 0
    bx = (np.bincount(idx, lk, minlength=bins)[keep] / np.bincount(idx, minlength=bins)[keep])
    by = (np.bincount(idx, lr, minlength=bins)[keep] / np.bincount(idx, minlength=bins)[keep])
    slope, icpt = np.polyfit(bx, by, 1)

    def r2(x, y):
        return float(1 - np.sum((y - icpt - slope * x) ** 2) / np.sum((y - y.mean()) ** 2))

    return dict(k=k, log_ratio=logr, nu=-slope, intercept=icpt, r2=r2(bx, by), r2_points=r2(lk, lr),
                bin_log_k=bx, bin_log_ratio=by, tail_from=tail_from)


def _points_logdets(A: np.ndarray, d: int = 1) -> np.ndarray:
    """``ℓ(k)`` = log det of the leading ``k d`` rows, for ``k = 1..m/d``, from one Cholesky."""
    lead = memdet(A, num_blocks=1, check_symmetric=False).leading_logdets()
    return lead[d - 1::d]


def power_laws(cfg) -> dict:
    pts = matrices.random_points(cfg.matern_n, seed=cfg.seed)
    ell = _points_logdets(matrices.matern(pts, length=cfg.matern_length))
    lmc_pts = matrices.random_points(cfg.lmc_n, seed=cfg.seed + 2)
    ell_lmc = _points_logdets(matrices.matern_lmc(lmc_pts, cfg.lmc_d, length=cfg.matern_length, seed=cfg.seed),
                              cfg.lmc_d)
    ns_lmc = max(cfg.lmc_n // 10, 10)
    pred, fit = fl.flodance(ell_lmc, cfg.lmc_n, n0=1, ns=ns_lmc, q=cfg.table_qs[0])
    return dict(matern=dict(ell=ell, **_ratio_fit(ell, cfg.matern_n // 10)),
                lmc=dict(ell=ell_lmc, d=cfg.lmc_d, **_ratio_fit(ell_lmc, cfg.lmc_n // 10),
                         flodance_ns=ns_lmc, flodance_err=_rel(pred, ell_lmc[-1])))


def window_heatmap(cfg, ell: np.ndarray) -> dict:
    """FLODANCE error at ``n = len(ell)`` for every window; NaN where the window cannot fit the model."""
    n = len(ell)
    err = np.full((len(cfg.heat_q), len(cfg.heat_n0), len(cfg.heat_ns)), np.nan)
    for a, q in enumerate(cfg.heat_q):
        for b, n0 in enumerate(cfg.heat_n0):
            for c, ns in enumerate(cfg.heat_ns):
                if ns - n0 + 1 >= 3 + q:
                    err[a, b, c] = _rel(fl.flodance(ell, n, n0=n0, ns=ns, q=q)[0], ell[-1])
    best = np.unravel_index(np.nanargmin(err), err.shape)
    naive = _rel(ell[max(cfg.heat_ns) - 1] * n / max(cfg.heat_ns), ell[-1])
    return dict(err=err, q=cfg.heat_q, n0=cfg.heat_n0, ns=cfg.heat_ns, n=n, best_err=float(err[best]),
                best=dict(q=cfg.heat_q[best[0]], n0=cfg.heat_n0[best[1]], ns=cfg.heat_ns[best[2]]),
                naive_err=naive)


def _fit_time(ell_points, n, n0, ns, q, K, d):
    """Seconds to factor the leading ``ns d`` rows and fit: FLODANCE's whole cost."""
    t0 = time.perf_counter()
    lead = memdet(np.ascontiguousarray(K[:ns * d, :ns * d]), check_symmetric=False).leading_logdets()[d - 1::d]
    pred, _ = fl.flodance(lead, n, n0=n0, ns=ns, q=q)
    return pred, time.perf_counter() - t0


def ntk_comparison(cfg) -> dict:
    n, d = cfg.ntk_n, cfg.ntk_widths[-1]
    out = {k: [] for k in ("exact", "exact_seconds", "slq", "imate", "block_diag", "fp16", "fp32", "fp16_sign",
                           "fp32_sign", "nu", "r2", "num_params")}
    keys = [(n0, ns, q, f"{n0}-{ns}-q{q}") for n0, ns in cfg.table_windows for q in cfg.table_qs]
    out["flodance"] = {key: [] for *_, key in keys}
    out["flodance_seconds"] = {key: [] for *_, key in keys}
    ell0 = None
    for s in range(cfg.n_nets):
        net = ntk.train_mlp(cfg.ntk_widths, seed=cfg.seed + s, steps=cfg.ntk_steps)
        X, _ = ntk.digits(cfg.seed + s)
        K = ntk.ntk_layerwise(net, X[:n])
        # unit mean eigenvalue (tr K = m): the relative error of log det is meaningless when ℓ_n ≈ 0,
        # and every estimator here is scale-equivariant, ℓ(cK) = ℓ(K) + m log c
        c = n * d / np.trace(K)
        K *= c
        t0 = time.perf_counter()
        ell = _points_logdets(K, d)
        out["exact_seconds"].append(time.perf_counter() - t0)
        ref = ell[-1]
        ell0 = ell if ell0 is None else ell0
        out["exact"].append(ref)
        out["num_params"].append(ntk.num_params(net))
        fit = _ratio_fit(ell, max(n // 10, 2))
        out["nu"].append(fit["nu"])
        out["r2"].append(fit["r2"])
        for n0, ns, q, key in keys:
            pred, secs = _fit_time(ell, n, n0, ns, q, K, d)
            out["flodance"][key].append(_rel(pred, ref))
            out["flodance_seconds"][key].append(secs)
        out["slq"].append(_rel(baselines.slq_logdet(K, degree=cfg.slq_degree, samples=cfg.slq_samples, seed=s), ref))
        peer = baselines.imate_slq(K, degree=cfg.slq_degree, samples=cfg.slq_samples, seed=s) if cfg.peer else None
        out["imate"].append(np.nan if peer is None else _rel(peer, ref))
        out["block_diag"].append(_rel(baselines.block_diagonal_logdet(K, cfg.bd_points * d), ref))
        del K
        for name, dt in (("fp16", torch.float16), ("fp32", torch.float32)):
            sign, ld = np.linalg.slogdet(c * ntk.ntk_layerwise(net, X[:n], dtype=dt))
            out[name].append(_rel(ld, ref))
            out[f"{name}_sign"].append(float(sign))
    out.update(n=n, d=d, m=n * d, ell0=ell0, windows=[list(w) for w in cfg.table_windows], qs=list(cfg.table_qs),
               flop_ratio={key: fl.flop_saving(n, ns) for n0, ns, q, key in keys},
               ratio0=_ratio_fit(ell0, max(n // 10, 2)))
    return out


def wishart_slq(cfg) -> dict:
    errs, peer = [], []
    for s in range(cfg.n_nets):
        A = matrices.wishart(cfg.wishart_n, seed=cfg.seed + 100 + s)
        A *= cfg.wishart_n / np.trace(A)  # unit mean eigenvalue, as the NTK
        ref = np.linalg.slogdet(A)[1]
        errs.append(_rel(baselines.slq_logdet(A, degree=cfg.slq_degree, samples=cfg.slq_samples, seed=s), ref))
        p = baselines.imate_slq(A, degree=cfg.slq_degree, samples=cfg.slq_samples, seed=s) if cfg.peer else None
        peer.append(np.nan if p is None else _rel(p, ref))
    return dict(n=cfg.wishart_n, slq=errs, imate=peer)


def gpu_cholesky(cfg, sizes=None) -> list[dict]:
    """fp64 ``torch.linalg.cholesky`` on ``cfg.device`` and our blocked Cholesky with the SYRK kernel."""
    from kernels.syrk_update import blocked_cholesky

    rows = []
    dev = torch.device(cfg.device)
    for m in sizes or cfg.gpu_m:
        g = torch.Generator(device="cpu").manual_seed(cfg.seed)
        X = torch.randn(m, m + 16, generator=g, dtype=torch.float64).to(dev)
        A = X @ X.T / m
        del X

        def timed(fn):
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            L = fn(A)
            if dev.type == "cuda":
                torch.cuda.synchronize()
            return L, time.perf_counter() - t0

        L, t_torch = timed(torch.linalg.cholesky)
        ld = 2 * torch.log(torch.diagonal(L)).sum().item()
        del L  # free torch's factor first: at m = 49,152 each fp64 m x m matrix is 19 GB of GPU memory
        L2, t_ours = timed(lambda M: blocked_cholesky(M, block=256 if m >= 1024 else 32))
        ld2 = 2 * torch.log(torch.diagonal(L2)).sum().item()
        flops = m ** 3 / 3
        rows.append(dict(m=m, torch_s=t_torch, ours_s=t_ours, torch_tflops=flops / t_torch / 1e12,
                         ours_tflops=flops / t_ours / 1e12, rel_gap=_rel(ld2, ld)))
        del A, L2
    return rows
