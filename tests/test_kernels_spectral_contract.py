"""FNO spectral contraction: Triton kernel (interpreted on CPU) against the einsum reference."""
import pytest
import torch

from kernels import dispatch
from kernels.spectral_contract import (spectral_contract, spectral_contract_reference,
                                       spectral_contract_triton)

needs_triton = pytest.mark.skipif(not dispatch.triton_available("cpu")[0],
                                  reason="Triton's interpreter is not on (TRITON_INTERPRET=1)")


def _c(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.complex(torch.randn(*shape, generator=g), torch.randn(*shape, generator=g))


def test_reference_matches_a_loop_over_modes_in_float64():
    x, w = _c(3, 4, 5).to(torch.complex128), _c(4, 2, 5, seed=1).to(torch.complex128)
    y = spectral_contract_reference(x, w)
    for k in range(5):
        torch.testing.assert_close(y[:, :, k], x[:, :, k] @ w[:, :, k], rtol=1e-12, atol=1e-12)


@needs_triton
@pytest.mark.parametrize("B,I,O,K", [(1, 3, 5, 2), (17, 16, 16, 3), (5, 33, 7, 4), (20, 20, 40, 1)])
def test_kernel_matches_reference_on_awkward_shapes(B, I, O, K):
    x, w = _c(B, I, K, seed=B), _c(I, O, K, seed=O)
    torch.testing.assert_close(spectral_contract_triton(x, w), spectral_contract_reference(x, w),
                               rtol=1e-4, atol=1e-4)


@needs_triton
@pytest.mark.parametrize("design", ["modes", "dot"])
@pytest.mark.parametrize("B,I,O,K", [(1, 3, 5, 2), (9, 5, 17, 37), (3, 33, 7, 16)])
def test_both_designs_match_the_reference(design, B, I, O, K):
    from kernels.spectral_contract import _launch

    x, w = _c(B, I, K, seed=B + 1), _c(I, O, K, seed=O + 1)
    torch.testing.assert_close(_launch(x, w, design), spectral_contract_reference(x, w), rtol=1e-4, atol=1e-4)


@needs_triton
def test_the_modes_design_refuses_wide_layers_and_unknown_designs_are_named():
    from kernels import spectral_contract as sc

    x, w = _c(2, sc.UNROLL_MAX_I + 1, 3), _c(sc.UNROLL_MAX_I + 1, 4, 3, seed=5)
    torch.testing.assert_close(sc._launch(x, w), spectral_contract_reference(x, w), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="at most"):
        sc._launch(x, w, "modes")
    with pytest.raises(ValueError, match="design"):
        sc._launch(x, w, "fast")


@needs_triton
def test_kernel_reads_non_contiguous_input():
    x = _c(6, 8, 10)[:, :, ::2]  # strided modes
    w = _c(8, 5, 5, seed=2)
    torch.testing.assert_close(spectral_contract_triton(x, w), spectral_contract_reference(x, w),
                               rtol=1e-4, atol=1e-4)


@needs_triton
def test_kernel_gradients_match_the_reference():
    x, w = _c(4, 6, 3).requires_grad_(), _c(6, 5, 3, seed=3).requires_grad_()
    x2, w2 = x.detach().clone().requires_grad_(), w.detach().clone().requires_grad_()
    target = _c(4, 5, 3, seed=4)
    (spectral_contract_triton(x, w) - target).abs().pow(2).sum().backward()
    (spectral_contract_reference(x2, w2) - target).abs().pow(2).sum().backward()
    torch.testing.assert_close(x.grad, x2.grad, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(w.grad, w2.grad, rtol=1e-4, atol=1e-4)


def test_bad_shapes_are_named():
    with pytest.raises(ValueError, match="complex"):
        spectral_contract(torch.randn(2, 3, 4), torch.randn(3, 2, 4))
    with pytest.raises(ValueError, match="disagree"):
        spectral_contract(_c(2, 3, 4), _c(4, 2, 4))
