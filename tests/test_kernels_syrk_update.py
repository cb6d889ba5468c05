"""Trailing Schur update ``tril(A₂₂ − L₂₁L₂₁ᵀ)``: Triton kernel (interpreted on CPU) against the torch
reference and a float64 numpy computation; the blocked Cholesky built on it against LAPACK."""
import numpy as np
import pytest
import torch

from kernels import dispatch
from kernels.syrk_update import (blocked_cholesky, syrk_update, syrk_update_reference,
                                 syrk_update_triton)

TRITON_DEVICE = next((d for d in ("cpu", "cuda") if dispatch.triton_available(d)[0]), None)
needs_triton = pytest.mark.skipif(TRITON_DEVICE is None, reason="Triton runs neither interpreted nor on a GPU")

SHAPES = [(1, 1), (1, 7), (5, 1), (31, 3), (32, 32), (33, 17), (70, 45), (97, 64)]


def _inputs(m, k, dtype, seed=0):
    rng = np.random.default_rng([m, k, seed])
    return (torch.from_numpy(rng.standard_normal((m, m))).to(dtype),
            torch.from_numpy(rng.standard_normal((m, k))).to(dtype))


@pytest.mark.parametrize("m,k", SHAPES)
def test_reference_matches_numpy(m, k):
    c, a = _inputs(m, k, torch.float64)
    want = np.tril(c.numpy() - a.numpy() @ a.numpy().T)
    assert np.allclose(syrk_update_reference(c, a).numpy(), want, rtol=0, atol=1e-12)


@needs_triton
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 2e-5)])
@pytest.mark.parametrize("m,k", SHAPES)
def test_kernel_matches_reference(m, k, dtype, tol):
    c, a = _inputs(m, k, dtype)
    c, a = c.to(TRITON_DEVICE), a.to(TRITON_DEVICE)
    out = syrk_update_triton(c, a)
    ref = syrk_update_reference(c, a)
    scale = max(1.0, float(ref.abs().max()))
    assert float((out - ref).abs().max()) <= tol * scale * max(1, k)
    assert torch.all(torch.triu(out, 1) == 0)  # nothing written above the diagonal


@needs_triton
@pytest.mark.parametrize("design", ["tile", "dot"])
@pytest.mark.parametrize("m,k", [(33, 7), (70, 45)])
def test_both_float64_designs_match_the_reference(design, m, k):
    from kernels.syrk_update import syrk_update_triton as syrk

    c, a = _inputs(m, k, torch.float64, seed=m)
    c, a = c.to(TRITON_DEVICE), a.to(TRITON_DEVICE)
    out, ref = syrk(c, a, design), syrk_update_reference(c, a)
    assert float((out - ref).abs().max()) <= 1e-12 * max(1.0, float(ref.abs().max())) * k
    with pytest.raises(ValueError, match="fp64_design"):
        syrk(c, a, "rank1")


@needs_triton
def test_kernel_on_non_contiguous_views():
    c, a = _inputs(48, 40, torch.float64, seed=1)
    big = torch.zeros(48, 80, dtype=torch.float64)
    big[:, ::2] = a  # a strided panel
    view = big[:, ::2]
    assert not view.is_contiguous()
    ct = c.T  # a transposed trailing block: only its lower triangle matters
    out = syrk_update_triton(ct, view)
    assert torch.allclose(out, syrk_update_reference(ct.contiguous(), a), atol=1e-12)


@needs_triton
@pytest.mark.parametrize("m,block", [(1, 32), (45, 32), (100, 32), (130, 64)])
def test_blocked_cholesky_matches_lapack(m, block):
    rng = np.random.default_rng(m)
    X = rng.standard_normal((m, m + 3))
    A = torch.from_numpy(X @ X.T / m + 1e-3 * np.eye(m))
    L = blocked_cholesky(A, block=block)
    assert torch.allclose(L, torch.linalg.cholesky(A), atol=1e-10)
    assert abs(2 * torch.log(torch.diagonal(L)).sum().item() - np.linalg.slogdet(A.numpy())[1]) < 1e-9 * m


def test_bad_input_is_refused():
    c, a = _inputs(8, 3, torch.float64)
    with pytest.raises(ValueError, match="square"):
        syrk_update(c[:, :5], a)
    with pytest.raises(ValueError, match="8 rows"):
        syrk_update(c, a[:5])
    with pytest.raises(ValueError, match="float32 or float64"):
        syrk_update(c, a.float())
    with pytest.raises(ValueError, match="square"):
        blocked_cholesky(c[:, :5])
