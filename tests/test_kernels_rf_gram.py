"""Fused random-feature Gram: Triton kernel (interpreted) against the torch reference and numpy.

The independent reference is a float64 numpy computation of ``σ(WX)ᵀσ(WX)/N`` from the
definition. ``tests/conftest.py`` sets ``TRITON_INTERPRET=1``.
"""
import numpy as np
import pytest
import torch
from scipy.special import erf

from kernels import dispatch
from kernels.rf_gram import rf_gram, rf_gram_reference, rf_gram_triton

needs_triton = pytest.mark.skipif(not dispatch.triton_available("cpu")[0], reason="Triton interpreter unavailable")
ACT = {"relu": lambda a: np.maximum(a, 0), "erf": erf, "tanh": np.tanh}


def _numpy_gram(W, X, act):
    F = ACT[act](W.double().numpy() @ X.double().numpy())
    return F.T @ F / W.shape[0]


def _draw(N, p, n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(N, p, generator=g), 2 * torch.randn(p, n, generator=g) / max(p, 1) ** 0.5


@pytest.mark.parametrize("act", ["relu", "erf", "tanh"])
def test_reference_matches_the_definition(act):
    W, X = _draw(40, 7, 9)
    np.testing.assert_allclose(rf_gram_reference(W.double(), X.double(), act).numpy(), _numpy_gram(W, X, act), rtol=1e-12)


@needs_triton
@pytest.mark.parametrize("shape", [(50, 3, 37), (33, 17, 1), (1, 5, 40), (70, 40, 65), (64, 32, 32)])
@pytest.mark.parametrize("act", ["relu", "erf", "tanh"])
def test_triton_matches_relu_wx_gram_on_awkward_shapes(shape, act):
    W, X = _draw(*shape, seed=sum(shape))
    G = rf_gram_triton(W, X, act).double().numpy()
    ref = _numpy_gram(W, X, act)
    np.testing.assert_allclose(G, ref, rtol=1e-4, atol=1e-5 * np.abs(ref).max())
    np.testing.assert_allclose(G, G.T, atol=1e-5 * np.abs(ref).max())


@needs_triton
def test_triton_takes_non_contiguous_input_and_the_public_function_dispatches():
    W, X = _draw(45, 20, 30)
    Wt = W.T.contiguous().T  # same values, column-major strides
    Xs = torch.cat([X, X], dim=1)[:, ::2]  # strided columns
    G = rf_gram_triton(Wt, Xs, "relu").double().numpy()
    np.testing.assert_allclose(G, _numpy_gram(W, Xs.contiguous(), "relu"),
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(rf_gram(W, X).double().numpy(), _numpy_gram(W, X, "relu"), rtol=1e-4, atol=1e-6)
    assert "rf_gram: Triton kernel" in dispatch.explain("rf_gram")


@pytest.mark.parametrize("bad,match", [
    (lambda: rf_gram_reference(torch.randn(3, 4), torch.randn(5, 2)), "columns must match"),
    (lambda: rf_gram_reference(torch.randn(3, 4), torch.randn(4, 2), "sigmoid"), "unknown activation"),
    (lambda: rf_gram_reference(torch.randn(0, 4), torch.randn(4, 2)), "no rows"),
    (lambda: rf_gram_reference(torch.ones(3, 4, dtype=torch.int64), torch.randn(4, 2)), "floating point"),
    (lambda: rf_gram_reference(torch.randn(3), torch.randn(4, 2)), "2-D"),
])
def test_bad_input_is_refused_with_a_clear_error(bad, match):
    with pytest.raises(ValueError, match=match):
        bad()
