"""The Dirichlet variant of the PDE pre-training chapter: exact FD solves, the FD residual, bad input."""
import math

import numpy as np
import pytest
import torch

from lab.pde_pretraining import dirichlet as fd
from lab.pde_pretraining import losses, problems


def _sparse_solve(f, K):
    import scipy.sparse.linalg as sla

    n = f.shape[-1]
    return torch.from_numpy(sla.spsolve(fd.matrix(K, n), f.numpy().ravel()).reshape(n, n))


def test_stencil_equals_the_sparse_matrix_built_from_kronecker_products():
    g = torch.Generator().manual_seed(0)
    u = torch.randn(3, 7, 7, generator=g, dtype=torch.float64)
    K = fd.diffusion_tensor(torch.tensor([1.5, 3.0, 7.0]), torch.tensor([0.3, 1.1, 2.5]))
    for b in range(3):
        ref = fd.matrix(K[b], 7) @ u[b].numpy().ravel()
        np.testing.assert_allclose(fd.apply(u[b:b + 1], K[b:b + 1])[0].numpy().ravel(), ref, rtol=1e-12, atol=1e-9)


def test_generated_solutions_are_exact_and_match_a_sparse_direct_solve():
    b = fd.generate(4, 24, seed=1, e_range=(1.0, 10.0))
    assert fd.relative_residual(b.u, b.f, b.K).max() < 1e-10
    for i in range(2):
        ref = _sparse_solve(b.f[i], b.K[i])
        assert (b.u[i] - ref).abs().max() < 1e-10 * ref.abs().max()
    assert b.u.shape == b.f.shape == (4, 24, 24) and not b.periodic


def test_sine_transform_solves_the_diagonal_case_exactly():
    g = torch.Generator().manual_seed(2)
    f = torch.rand(2, 12, 12, generator=g, dtype=torch.float64)
    K = torch.tensor([[1.0, 3.0, 0.0], [2.5, 0.7, 0.0]], dtype=torch.float64)
    u = fd.solve_diagonal(f, K[:, 0], K[:, 1])
    assert fd.relative_residual(u, f, K).max() < 1e-12
    torch.testing.assert_close(u[0], _sparse_solve(f[0], K[0]), rtol=1e-10, atol=1e-12)


def test_fd_solution_converges_to_the_continuum_solution_at_second_order():
    """-κΔu = f with u = sin(πx) sin(πy): the error falls by about 4 when h halves."""
    errs = []
    for n in (15, 31):
        h = fd.spacing(n)
        x = torch.arange(1, n + 1, dtype=torch.float64) * h
        exact = torch.sin(math.pi * x)[None, :, None] * torch.sin(math.pi * x)[None, None, :]
        f = fd.KAPPA * 2 * math.pi**2 * exact
        u = fd.solve(f, torch.tensor([[1.0, 1.0, 0.0]], dtype=torch.float64))
        errs.append(float((u - exact).abs().max()))
    assert 3.5 < errs[0] / errs[1] < 4.5


def test_fd_residual_loss_vanishes_at_truth_and_has_the_right_gradient():
    b = fd.generate(3, 16, seed=3)
    assert float(losses.fd_residual_loss(b.u, b.f, b.K)) < 1e-20
    g = torch.Generator().manual_seed(0)
    u = (b.u + 0.01 * torch.randn(b.u.shape, generator=g, dtype=torch.float64)).requires_grad_()
    loss = losses.fd_residual_loss(u, b.f, b.K)
    (grad,) = torch.autograd.grad(loss, u)
    h = 1e-5
    for _ in range(3):
        d = torch.randn(b.u.shape, generator=g, dtype=torch.float64)
        with torch.no_grad():
            num = (losses.fd_residual_loss(u + h * d, b.f, b.K) - losses.fd_residual_loss(u - h * d, b.f, b.K)) / (2 * h)
        assert abs(float(num - (grad * d).sum())) < 1e-6 * abs(float(num))


def test_dirichlet_samples_train_with_the_fd_residual_and_refuse_the_spectral_one():
    s = problems.dirichlet(4, 16, seed=0)
    assert s.boundary == "dirichlet" and s.symbol is None and s.inputs.shape == (4, 5, 16, 16)
    assert float(losses.pde_residual(s.u, s)) < 1e-8  # float32 labels: round-off only
    assert float(losses.loss("hybrid", 1.1 * s.u, s, lam=1.0)) == pytest.approx(0.01 + 0.01, rel=1e-3)
    with pytest.raises(ValueError, match="periodic"):
        losses.spectral_residual(s.u, s)
    with pytest.raises(ValueError, match="periodic"):
        losses.residual_loss(s.u, s.f, s.symbol, zero_mean=False)
    with pytest.raises(ValueError, match="preconditioned"):
        losses.pde_residual(s.u, s, precondition=True)


def test_bad_dirichlet_input_is_named():
    with pytest.raises(ValueError, match="positive definite"):
        fd.solve(torch.ones(1, 8, 8, dtype=torch.float64), torch.tensor([[1.0, 1.0, 2.0]], dtype=torch.float64))
    with pytest.raises(ValueError, match="positive"):
        fd.generate(2, 8, 0, e_range=(-1.0, 2.0))
    with pytest.raises(ValueError, match="n, n"):
        fd.apply(torch.ones(2, 8, 6), torch.ones(2, 3))
    with pytest.raises(ValueError, match="at least 4"):
        fd.generate(2, 2, 0)
