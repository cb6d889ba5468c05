"""Fused DPPL + CRPS kernel (interpreted on CPU) against the dense torch reference, forward and backward."""
import numpy as np
import pytest
import torch

from kernels import dispatch
from kernels.dppl_crps import dppl_crps, dppl_crps_reference, dppl_crps_triton

TRITON_DEVICE = next((d for d in ("cpu", "cuda") if dispatch.triton_available(d)[0]), None)
needs_triton = pytest.mark.skipif(TRITON_DEVICE is None, reason="Triton runs neither interpreted nor on a GPU")


def _inputs(R, n, seed, shared=True):
    rng = np.random.default_rng([3, seed, R, n])
    mu = torch.tensor(rng.standard_normal((R, n)))
    var = torch.tensor(rng.uniform(0.05, 2.0, (R, n)))
    a = torch.tensor(rng.uniform(-1, 1, n if shared else (R, n)))
    b = torch.tensor(rng.standard_normal(R))
    y = torch.tensor(rng.standard_normal((R, n)))
    return mu, var, a, b, y


def test_reference_matches_rank1_closed_form_and_crps():
    from lab.probhard_e2e.projection import project_single
    from lab.probhard_e2e.scores import crps_gaussian

    mu, var, a, b, y = _inputs(4, 9, 0)
    m, v = project_single(mu, var, a, b)
    expected = crps_gaussian(m, v, y).mean()
    assert dppl_crps_reference(mu, var, a, b, y).item() == pytest.approx(expected.item(), rel=1e-12)


@needs_triton
@pytest.mark.parametrize("R,n,shared", [(1, 2, True), (5, 37, True), (3, 130, False), (17, 64, False), (2, 257, True)])
def test_triton_forward_and_backward_match_reference(R, n, shared):
    mu, var, a, b, y = _inputs(R, n, 1, shared)
    mu32 = mu.float().to(TRITON_DEVICE).requires_grad_(True)
    var32 = var.float().to(TRITON_DEVICE).requires_grad_(True)
    loss = dppl_crps_triton(mu32, var32, a.float(), b.float(), y.float())
    loss.backward()
    mu64, var64 = mu.clone().requires_grad_(True), var.clone().requires_grad_(True)
    ref = dppl_crps_reference(mu64, var64, a, b, y)
    ref.backward()
    assert loss.item() == pytest.approx(ref.item(), rel=1e-5, abs=1e-7)
    np.testing.assert_allclose(mu32.grad.double().numpy(), mu64.grad.numpy(), rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(var32.grad.double().numpy(), var64.grad.numpy(), rtol=1e-4, atol=1e-7)


@needs_triton
def test_noncontiguous_input_and_dispatch():
    mu, var, a, b, y = _inputs(6, 40, 2)
    mu_nc = mu.float().T.contiguous().T  # a non-contiguous view with the same values
    assert not mu_nc.is_contiguous()
    out = dppl_crps(mu_nc, var.float(), a.float(), b.float(), y.float())
    assert out.item() == pytest.approx(dppl_crps_reference(mu, var, a, b, y).item(), rel=1e-5)
    assert "dppl_crps" in dispatch.explain("dppl_crps")


@pytest.mark.parametrize("bad", ["shape", "negative", "nan", "zero_constraint", "b_shape"])
def test_bad_input_is_rejected(bad):
    mu, var, a, b, y = _inputs(3, 5, 3)
    if bad == "shape":
        a = torch.ones(4, dtype=torch.float64)
    elif bad == "negative":
        var[0, 0] = -1.0
    elif bad == "nan":
        var[1, 1] = float("nan")
    elif bad == "zero_constraint":
        a = torch.zeros(5, dtype=torch.float64)
    else:
        b = torch.ones(2, dtype=torch.float64)
    with pytest.raises(ValueError):
        dppl_crps_reference(mu, var, a, b, y)
