"""Free decompression (Ameli et al., NeurIPS 2025): lab.free_decompression.

Checks against closed forms (the quadratic Stieltjes transforms of MP and the semicircle, the
exact decompressed laws, Plemelj's formula, Jacobi orthogonality), sampled matrices, finite
differences of the PDE, and the authors' freealg when installed.
"""
import time

import numpy as np
import pytest

from lab.free_decompression import decompress_spectrum, laws, matrices, metrics, peer
from lab.free_decompression.decompress import decompress, outer_bound_edges, support_edges
from lab.free_decompression.estimate import FitSettings, fit_density, sqrt_edge_support
from lab.free_decompression.experiments import closure, pde_residual
from lab.free_decompression.glue import Continuation
from lab.free_decompression.jacobi import JacobiWeight


def _rng(*key):
    return np.random.default_rng([20250611, *key])


# --- Stieltjes transforms of the models --------------------------------------------------

@pytest.mark.parametrize("law", [laws.MarchenkoPastur(0.02), laws.MarchenkoPastur(0.5), laws.Semicircle(0.3)])
def test_model_stieltjes_matches_quadratic_closed_form(law):
    rng = _rng(1)
    lo, hi = law.support
    z = np.concatenate([lo + (hi - lo) * rng.random(20) + 1j * 10.0 ** rng.uniform(-9, 0, 20),   # near the cut
                        rng.uniform(lo - 3, hi + 3, 10) + 1j * rng.uniform(0.5, 5, 10)])      # far away
    np.testing.assert_allclose(law.model().stieltjes(z), law.stieltjes_closed_form(z), rtol=1e-9, atol=1e-10)


def test_plemelj_density_is_imaginary_part_on_the_axis():
    law = laws.MarchenkoPastur(0.1)
    x = np.linspace(*law.support, 53)[1:-1]
    np.testing.assert_allclose(law.model().stieltjes(x + 0j).imag / np.pi, law.density(x), rtol=1e-9)


def test_second_sheet_is_the_other_root_for_mp():
    """m_I + m_II = (1 - l - z)/(l z) for MP: the glue G is that rational function."""
    law = laws.MarchenkoPastur(0.05)
    z = np.array([0.9 - 0.3j, 1.1 - 0.01j, 0.8 - 1.0j])
    model = law.model()
    total = model.second_sheet(z) + np.conj(model.stieltjes(np.conj(z)))
    np.testing.assert_allclose(total, (1 - law.ratio - z) / (law.ratio * z), rtol=1e-9)


@pytest.mark.parametrize("ab", [(0.5, 0.5), (0, 0), (2, 2), (1.5, 0.5)])
def test_jacobi_polynomials_are_orthogonal_with_stated_norms(ab):
    w = JacobiWeight(*ab)
    t, tw = w.nodes(400)  # Gauss rule of the base weight; q is a polynomial, so this is exact
    P = w.polys(12, t)
    G = (P * (tw * w.q(t))) @ P.T
    np.testing.assert_allclose(G, np.diag(w.norms(12)), atol=1e-10 * w.norms(0)[0])


def test_bad_jacobi_exponents_are_refused():
    with pytest.raises(ValueError, match="half-integers"):
        JacobiWeight(0.5, 1.0)


# --- exact closures -----------------------------------------------------------------------

@pytest.mark.parametrize("law,alpha", [(laws.MarchenkoPastur(1 / 50), 32), (laws.Semicircle(1 / 16), 16),
                                       (laws.Wachter(80, 50), 32), (laws.KestenMcKay(16, 1 / 8), 8)])
def test_decompression_maps_law_onto_its_exact_image(law, alpha):
    r = closure(law, alpha, 300)
    assert r["max_err"] < 1e-3, r["max_err"]
    assert r["edge_err"] < 1e-8


def test_pade_glue_is_exact_for_mp_and_semicircle():
    for law in (laws.MarchenkoPastur(0.02), laws.Semicircle(2.0)):
        assert Continuation(law.model(), "pade", 1, 1).glue_residual() < 1e-10
        assert closure(law, 8, 200, "pade")["max_err"] < 1e-3


def test_mp_edges_follow_aspect_ratio_and_old_edge_image_is_outer_bound():
    law, alpha = laws.MarchenkoPastur(0.02), 32
    cont = Continuation(law.model(), "exact")
    lo, hi = support_edges(cont, alpha, law.support)
    np.testing.assert_allclose([lo, hi], [(1 - 0.8) ** 2, (1 + 0.8) ** 2], rtol=1e-9)
    # the images of the old edges enclose the new support, strictly: an outer bound, not the edges
    for each, a in ((law, alpha), (laws.Semicircle(1.0), 4.0)):
        out_lo, out_hi = outer_bound_edges(Continuation(each.model(), "exact"), a, each.support)
        new_lo, new_hi = each.decompressed(a).support
        assert out_lo < new_lo - 0.5 and out_hi > new_hi + 0.5
    lam = 0.02
    lo0, hi0 = (1 - lam ** 0.5) ** 2, (1 + lam ** 0.5) ** 2
    # MP's transform at its edges: m(x) = (1 - λ - x) / (2λx) there (the square root vanishes);
    # at δ = 1e-6 above the edge the square root adds O(√δ), hence the tolerance
    m_edge = [(1 - lam - x) / (2 * lam * x) for x in (lo0, hi0)]
    expect = [x - (alpha - 1) / m for x, m in zip((lo0, hi0), m_edge)]
    np.testing.assert_allclose(outer_bound_edges(Continuation(laws.MarchenkoPastur(lam).model(), "exact"), alpha,
                                                 (lo0, hi0)), expect, atol=(alpha - 1) * 1e-3)


def test_characteristic_solution_satisfies_pde():
    assert pde_residual(laws.MarchenkoPastur(0.02), 8.0) < 1e-6
    assert pde_residual(laws.Semicircle(1.0), 4.0) < 1e-6


# --- fitted densities ---------------------------------------------------------------------

def test_fit_recovers_mp_density_and_has_unit_mass():
    eigs = matrices.wishart_eigs(400, 8000, _rng(2))
    model = fit_density(eigs, FitSettings(K=30, bandwidth=1e-2))
    law = laws.MarchenkoPastur(0.05)
    x = np.linspace(0.5, 1.6, 800)
    assert abs(model.mass() - 1) < 1e-12
    assert metrics.total_variation(x, model.density(x), law.density(x)) < 0.03


def test_sqrt_edge_support_lands_near_true_edges():
    eigs = matrices.wishart_eigs(1000, 20000, _rng(3))
    lo, hi = sqrt_edge_support(eigs)
    true = laws.MarchenkoPastur(0.05).support
    assert abs(lo - true[0]) < 0.01 and abs(hi - true[1]) < 0.01


def test_wigner_submatrix_decompresses_to_semicircle_within_bound():
    n_s, n = 400, 3200
    eigs = matrices.wigner_eigs(n_s, n_s / n, _rng(4))  # submatrix of an n x n Wigner of variance 1
    x = np.linspace(-2.3, 2.3, 400)
    d = decompress_spectrum(eigs, n, x=x, settings=FitSettings(K=30, kernel="gaussian", bandwidth=1e-2, damping=None))
    assert metrics.total_variation(x, d.density, laws.Semicircle(1.0).density(x)) < 0.02


def test_mp_decompression_to_32000_is_accurate_and_under_five_seconds():
    eigs = matrices.wishart_eigs(1000, 50000, _rng(5))
    law = laws.MarchenkoPastur(0.64)
    x = np.linspace(0, 3.4, 500)
    t0 = time.perf_counter()
    d = decompress_spectrum(eigs, 32000, x=x)
    elapsed = time.perf_counter() - t0
    assert elapsed < 5, elapsed
    assert metrics.total_variation(x, d.density, law.density(x)) < 0.05


def test_fd_matches_full_eigendecomposition_of_a_formed_matrix():
    n, n_s = 1200, 300
    X = _rng(6).standard_normal((n, 2 * n))
    A = X @ X.T / (2 * n)
    full = np.linalg.eigvalsh(A)
    sub = matrices.principal_submatrix(A, n_s, _rng(7))
    d = decompress_spectrum(sub, n)
    assert metrics.histogram_distances(d.x, d.density, full, bins=50)["tv"] < 0.06


# --- bad input ----------------------------------------------------------------------------

def test_non_symmetric_matrix_is_refused():
    A = _rng(8).standard_normal((50, 50))
    with pytest.raises(ValueError, match="not symmetric"):
        decompress_spectrum(A, 200)


def test_target_smaller_than_submatrix_is_refused():
    eigs = matrices.wishart_eigs(100, 2000, _rng(9))
    with pytest.raises(ValueError, match="smaller than the submatrix"):
        decompress_spectrum(eigs, 50)
    with pytest.raises(ValueError, match="n >= n_s"):
        decompress(Continuation(laws.Semicircle().model()), 0.5, np.linspace(-1, 1, 10))


def test_bad_fit_settings_are_refused():
    with pytest.raises(ValueError, match="kernel"):
        FitSettings(kernel="box")
    with pytest.raises(ValueError, match="outside the support"):
        fit_density(np.linspace(0, 1, 100), support=(0.4, 0.6))


# --- metrics ------------------------------------------------------------------------------

def test_distances_on_known_pairs():
    x = np.linspace(-1, 2, 3001)
    p = np.where((x >= 0) & (x <= 1), 1.0, 0.0)
    q = np.where((x >= 0.5) & (x <= 1.5), 1.0, 0.0)
    assert abs(metrics.total_variation(x, p, q) - 0.5) < 2e-3
    assert abs(metrics.jensen_shannon(x, p, p)) < 1e-12
    assert abs(metrics.jensen_shannon(x, p, q) - 0.5 * np.log(2)) < 5e-3
    law = laws.MarchenkoPastur(0.3)
    xs = np.linspace(*law.support, 20001)
    assert abs(metrics.log_determinant(xs, law.density(xs), 1000) / 1000 - law.log_moment()) < 1e-3


# --- the authors' package -----------------------------------------------------------------

def test_numpy_trapz_shim_is_scoped():
    had = hasattr(np, "trapz")
    with peer.numpy_trapz_shim():
        assert np.trapz is not None
    assert hasattr(np, "trapz") == had


def test_agrees_with_freealg():
    pytest.importorskip("freealg")
    eigs = matrices.wishart_eigs(1000, 50000, _rng(10))
    law = laws.MarchenkoPastur(0.64)
    x = np.linspace(0.01, 3.4, 400)
    support = laws.MarchenkoPastur(0.02).support
    ours = decompress(Continuation(fit_density(eigs, support=support)), 32, x, delta=1e-4, scale=0.15).density
    theirs = peer.freealg_decompress(eigs, 32000, x, support=support)["density"]
    assert metrics.total_variation(x, ours, theirs) < 0.03
    assert metrics.total_variation(x, theirs, law.density(x)) < 0.05


def test_digits_kernel_is_symmetric_psd_with_median_bandwidth():
    from scipy.spatial.distance import pdist

    from lab.free_decompression import matrices

    spec = matrices.digits_kernel(0)
    K = spec["K"]
    assert K.shape == (1797, 1797)
    assert np.array_equal(K, K.T) and np.allclose(np.diag(K), 1.0)
    assert spec["eigs"].min() > -1e-8 * spec["eigs"].max()  # PSD up to rounding
    assert np.isclose(spec["eigs"].sum(), 1797)  # trace = n for a Gaussian kernel
    pts = matrices.digits_points()
    assert np.isclose(spec["bandwidth"], np.median(pdist(pts)))  # permutation-invariant
    assert np.isclose(matrices.median_bandwidth(np.array([[0.0], [1.0], [3.0]])), 2.0)
    with pytest.raises(ValueError):
        matrices.median_bandwidth(np.zeros(3))


def test_digits_kernel_experiment_returns_finite_numbers():
    from lab.free_decompression import config, experiments

    res = experiments.digits_kernel_experiment(config.resolve("smoke"))
    assert res["n"] == 1797 and res["sub_eigs"].size == 500
    for r in res["runs"]:
        for k in ("tv", "ks", "log_tv", "log_ks", "fd_s", "mean_fd"):
            assert np.isfinite(r[k]), k
        assert 0 <= r["tv"] <= 1 and 0 <= r["log_tv"] <= 1
