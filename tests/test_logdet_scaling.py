"""MEMDET, FLODANCE, the layer-wise NTK and the baselines of ``book/logdet_scaling.md``.

References: numpy's ``slogdet`` (LU in memory), the Jacobian product ``J Jᵀ`` from ``torch.func``,
the authors' ``detkit`` (``memdet``, ``FitLogdet``) and ``imate`` where installed, closed forms.
"""
from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from lab.claims.status import Status
from lab.logdet_scaling import baselines, config, flodance as fl, matrices, ntk
from lab.logdet_scaling.memdet import (NotPositiveDefiniteError, NotSymmetricError, block_edges, memdet,
                                       num_blocks_from_memory)
from lab.tiers import ParameterError

ROOT = Path(__file__).resolve().parents[1]


def _rel(a, b):
    return abs(a - b) / abs(b)


@pytest.fixture(scope="module")
def spd():
    return matrices.wishart(157, p=170, ridge=1e-2, seed=3)


@pytest.mark.parametrize("nb", [1, 2, 3, 4, 7, 13, 157])
def test_memdet_spd_equals_slogdet_for_every_block_count(spd, nb, tmp_path):
    res = memdet(spd, num_blocks=nb, scratch_dir=tmp_path)
    assert _rel(res.logabsdet, np.linalg.slogdet(spd)[1]) < 1e-12
    assert res.num_blocks == nb and res.edges[-1] == 157
    assert list(tmp_path.iterdir()) == []  # scratch removed


@pytest.mark.parametrize("nb", [1, 2, 3, 5, 9])
def test_memdet_symmetric_indefinite_equals_slogdet(nb):
    S = matrices.symmetric_indefinite(101, seed=nb)
    sign, ref = np.linalg.slogdet(S)
    res = memdet(S, num_blocks=nb, assume="sym")
    assert _rel(res.logabsdet, ref) < 1e-12
    assert res.sign == sign
    # block-edge leading log-dets are exact even with pivoting inside blocks
    for k, e in enumerate(res.edges[1:], 1):
        assert abs(res.edge_logdets[k] - np.linalg.slogdet(S[:e, :e])[1]) < 1e-9 * max(1, abs(res.edge_logdets[k]))


def test_memdet_reads_a_memmap_and_an_npy_path(spd, tmp_path):
    path = matrices.write_npy(tmp_path / "A.npy", spd)
    mm = np.load(path, mmap_mode="r")
    a = memdet(mm, num_blocks=5, scratch_dir=tmp_path).logabsdet
    b = memdet(str(path), num_blocks=5, scratch_dir=tmp_path).logabsdet
    assert a == b and _rel(a, np.linalg.slogdet(spd)[1]) < 1e-12
    assert sorted(p.name for p in tmp_path.iterdir()) == ["A.npy"]


def test_leading_logdets_match_slogdet_of_leading_blocks(spd):
    lead = memdet(spd, num_blocks=6).leading_logdets()
    for k in (1, 2, 26, 27, 80, 156, 157):
        ref = np.linalg.slogdet(spd[:k, :k])[1]
        assert abs(lead[k - 1] - ref) <= 1e-10 * max(1.0, abs(ref))


def test_block_rule_matches_the_paper():
    beta = 8
    n = 1000
    c = n * n * beta  # r = 1: fits
    assert num_blocks_from_memory(n, c) == 1
    assert num_blocks_from_memory(n, c * 0.8) == 2  # r = 1.118 ≤ 2/√3
    assert num_blocks_from_memory(n, c / 4) == 4  # r = 2 → ⌈4⌉
    assert num_blocks_from_memory(3000, 30e6) == 4  # the dossier's simulation: 30 MB → 4 × 4
    for cap in (1e5, 1e6, 3e6):
        nb = num_blocks_from_memory(n, cap)
        if nb > 2:
            assert 4 * math.ceil(n / nb) ** 2 * beta <= cap * 1.01


def test_block_edges_are_balanced():
    e = block_edges(300, 7)
    assert e[0] == 0 and e[-1] == 300 and np.diff(e).min() >= 42 and np.diff(e).max() == math.ceil(300 / 7)


_PEAK_SCRIPT = textwrap.dedent("""
    import json, sys, tempfile, tracemalloc
    import numpy as np
    from lab.logdet_scaling.memdet import memdet
    from lab.logdet_scaling import matrices
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        memdet(np.eye(8), num_blocks=2, scratch_dir=tmp)
        for n in (480, 960):
            path = matrices.write_npy(f"{tmp}/A{n}.npy", matrices.wishart(n, p=n + 5, ridge=1e-3, seed=n))
            mm = np.load(path, mmap_mode="r")
            for b in (60, 120):
                tracemalloc.start(); tracemalloc.reset_peak()
                r = memdet(mm, num_blocks=n // b, scratch_dir=tmp, check_symmetric=False)
                peak = tracemalloc.get_traced_memory()[1]; tracemalloc.stop()
                out.append((n, b, r.block_size, peak))
            del mm
    print(json.dumps(out))
""")


def test_traced_peak_memory_is_a_few_blocks_independent_of_n():
    # a fresh interpreter: no threads of other tests' packages allocating while we trace
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", _PEAK_SCRIPT], capture_output=True, text=True, env=env, check=True)
    import json

    rows = json.loads(out.stdout.strip().splitlines()[-1])
    blocks = {}
    for n, b, bs, peak in rows:
        assert bs == b
        ratio = peak / (b * b * 8)
        assert ratio <= 6.0, (n, b, ratio)
        assert ratio >= 2.0  # three blocks are really held: the trace sees them
        blocks.setdefault(b, []).append(ratio)
    for b, r in blocks.items():  # doubling n leaves the peak (in blocks) unchanged
        assert abs(r[0] - r[1]) < 0.5


def test_non_symmetric_input_is_refused(spd, tmp_path):
    A = spd.copy()
    A[100, 3] += 1.0
    with pytest.raises(NotSymmetricError, match=r"not symmetric.*A\[100, 3\]"):
        memdet(A, num_blocks=3, scratch_dir=tmp_path)


def test_not_positive_definite_names_the_block_and_the_scratch_is_removed(spd, tmp_path):
    A = spd.copy()
    A[90, 90] = -5.0  # leading minor of order 91 goes negative: row 90, in block 90 // 40 = 2 of 4
    with pytest.raises(NotPositiveDefiniteError, match=r"row 90 .*block 2") as err:
        memdet(A, num_blocks=4, scratch_dir=tmp_path)
    assert err.value.block == 2 and err.value.row == 90
    assert list(tmp_path.iterdir()) == []


def test_memory_cap_below_three_blocks_is_refused(spd):
    b = math.ceil(157 / 4)
    with pytest.raises(ValueError, match="smaller than three blocks"):
        memdet(spd, num_blocks=4, max_mem=3 * b * b * 8 - 1)
    memdet(spd, num_blocks=4, max_mem=3 * b * b * 8)
    with pytest.raises(ValueError, match="smaller than three blocks"):
        memdet(spd, max_mem=16)


def test_other_bad_inputs(spd):
    with pytest.raises(ValueError, match="square"):
        memdet(np.ones((3, 4)))
    with pytest.raises(ValueError, match="float64"):
        memdet(spd.astype(np.float32))
    with pytest.raises(ValueError, match="assume"):
        memdet(spd, assume="gen")
    with pytest.raises(ValueError, match="exceeds the matrix size"):
        memdet(spd, num_blocks=200)


def test_memdet_agrees_with_detkit(spd, tmp_path):
    detkit = pytest.importorskip("detkit")
    S = matrices.symmetric_indefinite(90, seed=1)
    for nb in (1, 2, 4):
        ours = memdet(spd, num_blocks=nb).logabsdet
        theirs = detkit.memdet(spd, num_blocks=nb, assume="spd", scratch_dir=str(tmp_path))[0]
        assert _rel(ours, theirs) < 1e-12
        ld, sign, *_ = detkit.memdet(S, num_blocks=nb, assume="sym", scratch_dir=str(tmp_path))
        r = memdet(S, num_blocks=nb, assume="sym")
        assert _rel(r.logabsdet, ld) < 1e-12 and r.sign == sign


# --------------------------------------------------------------------------- FLODANCE


def test_flodance_recovers_a_planted_power_law():
    # ratios exactly c k^−ν: ℓ_k = k log c − ν log k!  (the model with a₀ = 0, q = r = 0)
    k = np.arange(1, 2001)
    nu, logc = 1.7, 0.3
    ell = np.cumsum(logc - nu * np.log(k))
    pred, fit = fl.flodance(ell[:200], 2000, n0=5, ns=200, q=0)
    assert abs(fit.nu - nu) < 1e-8
    assert _rel(pred, ell[-1]) < 1e-10
    # with a planted x^−1 correction, q = 1 recovers it and q = 0 does not
    from scipy.special import gammaln
    ell2 = 2.0 + logc * k + (-nu + 3.0 / k) * gammaln(k + 1)
    p1, _ = fl.flodance(ell2, 2000, n0=10, ns=300, q=1)
    p0, _ = fl.flodance(ell2, 2000, n0=10, ns=300, q=0)
    assert _rel(p1, ell2[-1]) < 1e-9 and _rel(p0, ell2[-1]) > 1e-4


def test_flodance_agrees_with_detkit_fitlogdet():
    detkit = pytest.importorskip("detkit")
    pts = matrices.random_points(400, seed=1)
    ell = memdet(matrices.matern(pts, length=0.1)).leading_logdets()
    x = np.arange(20, 201)
    ours = fl.fit_logdet(x, ell[x - 1], q=2)
    theirs = detkit.FitLogdet(m=2, n=0)
    theirs.fit(x, ell[x - 1])
    grid = np.array([250.0, 400.0])
    assert np.allclose(ours(grid), theirs.eval(grid), rtol=1e-6)


def test_flodance_window_outside_the_matrix_is_refused():
    ell = np.arange(1.0, 51.0)
    with pytest.raises(ValueError, match="outside the matrix"):
        fl.flodance(ell, 100, n0=1, ns=60)
    with pytest.raises(ValueError, match="1 ≤ n0 < ns"):
        fl.flodance(ell, 100, n0=30, ns=30)
    with pytest.raises(ValueError, match="1 ≤ n0 < ns"):
        fl.flodance(ell, 100, n0=0, ns=30)
    with pytest.raises(ValueError, match="exceeds the target"):
        fl.flodance(ell, 40, n0=1, ns=45)


def test_flop_formulas():
    # the paper's count is Σ_{t<m} t²/2; ours counts lower triangles, Σ t(t+1)/2
    for m in (1, 2, 7, 30):
        assert fl.memdet_fmas(m) == sum(t * t for t in range(m)) / 2
        assert fl.cholesky_fmas(m) == sum(t * (t + 1) // 2 for t in range(m))
    assert round(float(2 * fl.memdet_fmas(500_000)) / 1e12) == 41_667  # Table 1
    assert fl.flop_saving(50_000, 500) == pytest.approx(1e6)


def test_counted_cholesky_multiply_adds_match_the_closed_form():
    # an instrumented scalar right-looking Cholesky, counting the lower-triangle updates
    m = 23
    A = matrices.wishart(m, seed=2)
    W, count = A.copy(), 0
    for k in range(m):
        W[k, k] = math.sqrt(W[k, k])
        W[k + 1:, k] /= W[k, k]
        for j in range(k + 1, m):
            for i in range(j, m):
                W[i, j] -= W[i, k] * W[j, k]
                count += 1
    assert np.allclose(np.tril(W), np.linalg.cholesky(A))
    assert count == fl.cholesky_fmas(m)  # Σ_{t<m} t(t+1)/2 = (m³ − m)/6


# --------------------------------------------------------------------------- NTK and baselines


def test_layerwise_ntk_equals_jacobian_product():
    net = ntk.mlp((64, 13, 9, 10), seed=4)
    X, _ = ntk.digits(1)
    A, B = ntk.ntk_layerwise(net, X[:11]), ntk.ntk_jacobian(net, X[:11])
    assert A.shape == (110, 110)
    assert np.max(np.abs(A - B)) < 1e-12 * np.max(np.abs(B))
    assert np.allclose(A, A.T)


def test_ntk_formed_in_low_precision_is_close_but_not_equal():
    net = ntk.mlp((64, 16, 16, 10), seed=0)
    X, _ = ntk.digits(0)
    K64 = ntk.ntk_layerwise(net, X[:20])
    K32 = ntk.ntk_layerwise(net, X[:20], dtype=__import__("torch").float32)
    K16 = ntk.ntk_layerwise(net, X[:20], dtype=__import__("torch").float16)
    e32, e16 = np.abs(K32 - K64).max(), np.abs(K16 - K64).max()
    scale = np.abs(K64).max()
    assert 0 < e32 < 1e-5 * scale and e32 < e16 < 1e-2 * scale


def test_slq_is_accurate_with_many_probes_and_exact_lanczos():
    A = matrices.wishart(60, seed=5)
    ref = np.linalg.slogdet(A)[1]
    # Lanczos run to m steps is exact for each probe: only the Hutchinson variance is left
    assert _rel(baselines.slq_logdet(A, degree=60, samples=2000, seed=0), ref) < 0.02
    # a single probe of e₁-type quadrature: vᵀ log(A) v exactly
    v = np.random.default_rng(0).choice([-1.0, 1.0], size=60)
    alpha, beta = baselines.lanczos(A, v, 60)
    from scipy.linalg import eigh_tridiagonal, logm
    th, U = eigh_tridiagonal(alpha, beta)
    assert abs(60 * np.sum(U[0] ** 2 * np.log(th)) - v @ logm(A).real @ v) < 1e-8 * 60


def test_block_diagonal_logdet():
    A = matrices.wishart(50, seed=1)
    assert baselines.block_diagonal_logdet(A, 50) == pytest.approx(np.linalg.slogdet(A)[1], rel=1e-12)
    assert baselines.block_diagonal_logdet(A, 1) == pytest.approx(np.log(np.diag(A)).sum(), rel=1e-12)
    assert baselines.block_diagonal_logdet(A, 7) >= np.linalg.slogdet(A)[1]  # Fischer's inequality


def test_imate_peer_is_close_to_ours_on_a_well_conditioned_matrix():
    pytest.importorskip("imate")
    A = matrices.wishart(200, seed=7)
    ref = np.linalg.slogdet(A)[1]
    peer = baselines.imate_slq(A, degree=30, samples=200, seed=0)
    assert _rel(peer, ref) < 0.05


def test_matern_lmc_is_kron_and_spd():
    pts = matrices.random_points(30, seed=0)
    K, B = matrices.matern(pts), matrices.lmc_coregionalisation(3)
    L = matrices.matern_lmc(pts, 3)
    assert np.allclose(L, np.kron(K, B))
    assert np.linalg.eigvalsh(L).min() > 0
    # det(K ⊗ B) = det(K)^d det(B)^n
    assert np.linalg.slogdet(L)[1] == pytest.approx(3 * np.linalg.slogdet(K)[1] + 30 * np.linalg.slogdet(B)[1], rel=1e-9)


# --------------------------------------------------------------------------- configuration and claims


def test_config_rejects_bad_values():
    with pytest.raises(ParameterError):
        config.resolve("smoke", mem_blocks=[2, 1])
    with pytest.raises(ValueError, match="outside the NTK"):
        config.resolve("smoke", table_windows=[[1, 500]])
    with pytest.raises(ValueError, match="exceeds the Matérn"):
        config.resolve("smoke", heat_ns=[100, 5000])
    assert config.resolve("full").gpu_m[-1] == 49152


def test_full_tier_gpu_code_runs_at_smoke_size_on_cpu():
    from lab.logdet_scaling import experiments

    cfg = config.resolve("smoke")
    rows = experiments.gpu_cholesky(cfg, sizes=(40, 97))
    assert all(r["rel_gap"] < 1e-12 for r in rows)


@pytest.fixture(scope="module")
def smoke_claims():
    from lab.claims import Claims
    from lab.logdet_scaling import claims as criteria, experiments

    cfg = config.resolve("smoke")
    mem = experiments.memory_and_time(cfg)
    pl = experiments.power_laws(cfg)
    heat = experiments.window_heatmap(cfg, pl["matern"]["ell"])
    nt = experiments.ntk_comparison(cfg)
    wis = experiments.wishart_slq(cfg)
    return {c.id: c for c in criteria.check_all(Claims("logdet_scaling", "smoke"), mem=mem, pl=pl, heat=heat,
                                                 nt=nt, wis=wis).items}


def test_every_dossier_claim_appears(smoke_claims):
    dossier = {"memdet-exact", "memdet-peak-memory", "prefix-logdets", "memdet-flops", "detratio-power-law",
               "flodance-extrapolates", "flodance-beats-baselines", "low-precision-direct", "slq-conditioning",
               "resnet50-500k", "speedup-100000x"}
    assert dossier <= set(smoke_claims)


def test_exact_claims_reproduce_at_smoke_size(smoke_claims):
    for cid in ("memdet-exact", "prefix-logdets", "memdet-flops"):
        assert smoke_claims[cid].status is Status.REPRODUCED, (cid, smoke_claims[cid].rule)
    if "detkit" in sys.modules or _has("detkit"):
        assert smoke_claims["memdet-matches-detkit"].status is Status.REPRODUCED


def _has(name):
    import importlib.util

    return importlib.util.find_spec(name) is not None
