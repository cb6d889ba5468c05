"""The fused copula path sampler under TRITON_INTERPRET=1 (set by conftest): exact against the
torch reference and lab.copula_sample_paths with injected normals; distributional with Philox."""
import numpy as np
import pytest
import torch
from scipy import stats

from kernels.copula_paths import copula_paths, copula_paths_reference, copula_paths_triton
from lab.copula_sample_paths import sample_paths

LV = [i / 10 for i in range(1, 10)]


def _knots(B, H, M=9, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(B, H, M, generator=g) * 2).sort(-1).values


@pytest.mark.parametrize("B,N,H", [(1, 1, 1), (1, 3, 7), (3, 50, 5), (2, 129, 4), (5, 17, 13)])
def test_kernel_matches_reference_and_library_with_injected_normals(B, N, H):
    q = _knots(B, H, seed=B * 100 + H)
    rho = torch.linspace(0.0, 0.97, B)
    eps = torch.randn(B, N, H, generator=torch.Generator().manual_seed(N))
    tri = copula_paths_triton(q, LV, rho, N, eps=eps)
    ref = copula_paths_reference(q.double(), LV, rho, N, eps=eps.double())
    lib = sample_paths(q.double(), LV, N, rho=rho.double(), eps=eps.double())
    assert torch.allclose(ref, lib, atol=1e-10)
    assert torch.allclose(tri.double(), ref, atol=2e-5 * (1 + q.abs().max()))


def test_kernel_with_three_levels_and_non_contiguous_knots():
    lv = [0.25, 0.5, 0.75]
    q = _knots(4, 6, M=3).transpose(0, 1).contiguous().transpose(0, 1)  # non-contiguous view
    assert not q.is_contiguous()
    eps = torch.randn(4, 9, 6, generator=torch.Generator().manual_seed(1))
    tri = copula_paths_triton(q, lv, 0.6, 9, eps=eps)
    ref = copula_paths_reference(q.double(), lv, 0.6, 9, eps=eps.double())
    assert torch.allclose(tri.double(), ref, atol=1e-4)


def test_philox_paths_have_the_right_law():
    """Knots q_m = α_m make the IQF the identity, so Φ⁻¹(path) is the latent z: check its
    moments, normality (KS) per h and its correlation ρ^|Δh|."""
    B, N, H, rho = 2, 6000, 5, 0.7
    q = torch.tensor(LV).expand(B, H, 9).contiguous()
    y = copula_paths_triton(q, LV, rho, N, seed=123)
    z = torch.special.ndtri(y.double().clamp(1e-12, 1 - 1e-12)).reshape(B * N, H).numpy()
    assert np.abs(z.mean(0)).max() < 0.05 and np.abs(z.std(0) - 1).max() < 0.05
    for h in range(H):
        assert stats.kstest(z[:, h], "norm").pvalue > 0.01 / H
    C = np.corrcoef(z.T)
    lag = np.abs(np.arange(H)[:, None] - np.arange(H)[None])
    assert np.abs(C - rho ** lag).max() < 0.02
    # another seed gives other paths; the same seed the same ones
    assert not torch.equal(y, copula_paths_triton(q, LV, rho, N, seed=124))
    assert torch.equal(y, copula_paths_triton(q, LV, rho, N, seed=123))


def test_kernel_marginals_match_the_reference_distributionally():
    q = _knots(1, 3, seed=5)
    a = copula_paths_triton(q, LV, 0.9, 4000, seed=7)[0]
    b = copula_paths_reference(q.double(), LV, 0.9, 4000, seed=7)[0]
    for h in range(3):
        assert stats.ks_2samp(a[:, h].numpy(), b[:, h].numpy()).pvalue > 0.01 / 3


def test_public_function_and_bad_input():
    q = _knots(2, 3)
    assert copula_paths(q.double(), LV, 0.5, 4, seed=0).dtype == torch.float64  # float64 → reference
    assert copula_paths(q, LV, 0.5, 4, seed=0).shape == (2, 4, 3)
    with pytest.raises(ValueError, match="non-monotone"):
        copula_paths_triton(q.flip(-1), LV, 0.5, 4)
    bad = q.clone()
    bad[1, 2, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        copula_paths_triton(bad, LV, 0.5, 4)
    with pytest.raises(ValueError, match="ρ"):
        copula_paths_triton(q, LV, torch.tensor([0.5, 1.0]), 4)
    with pytest.raises(ValueError, match="median"):
        copula_paths_triton(q[..., :8], LV[:4] + LV[5:], 0.5, 4)
    with pytest.raises(ValueError, match="N"):
        copula_paths_triton(q, LV, 0.5, 0)
    with pytest.raises(ValueError, match="injected"):
        copula_paths_triton(q, LV, 0.5, 4, eps=torch.randn(2, 4, 2))
