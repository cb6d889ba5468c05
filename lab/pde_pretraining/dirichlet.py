"""Anisotropic diffusion with zero Dirichlet boundaries, discretised by finite differences.

The non-periodic counterpart of :mod:`lab.pde.steady`'s Poisson problem, for the "Dirichlet
failure mode" of ``book/pde_pretraining.md``. On the unit square with ``u = 0`` on the boundary,

    -∇·(κ K ∇u) = f,    K = R(-θ) diag(1, e) R(θ)  (entries k11, k22, k12),

is discretised on the ``n × n`` interior nodes ``(x_j, y_i) = (j h, i h)``, ``i, j = 1..n``,
``h = 1/(n + 1)``, by the 9-point stencil

    (A u)_ij = -κ [ k11 δ_xx u + k22 δ_yy u + 2 k12 δ_xy u ]_ij,
    δ_xx u = (u_{i,j+1} - 2u_ij + u_{i,j-1}) / h²,   δ_xy u = (u_{i+1,j+1} - u_{i+1,j-1} - u_{i-1,j+1} + u_{i-1,j-1}) / (4h²),

with ``u = 0`` outside the interior (the boundary values). ``A`` is symmetric positive definite
whenever ``K`` is (each Fourier mode's quadratic form is bounded below by ``kᵀ K k`` with
``|cos| ≤ 1`` on the cross term). Solvers:

- :func:`solve_diagonal`: exact by the sine transform (DST-I) when ``k12 = 0``, since the
  sine modes ``sin(pπx) sin(qπy)`` diagonalise ``δ_xx`` and ``δ_yy`` with eigenvalues
  ``-(4/h²) sin²(pπh/2)``;
- :func:`solve`: the general case (``k12 ≠ 0``, where ``δ_xy`` couples sine modes) by conjugate
  gradients preconditioned with that exact diagonal solve, batched in torch (CPU or GPU), run
  until the relative residual is below ``tol`` (1e-12 by default: exact to round-off). The
  preconditioned system's condition number is at most ``e``, so a few dozen iterations suffice;
- :func:`matrix` builds the same ``A`` as a scipy sparse matrix (an independent construction,
  for the tests' direct solve).

:func:`residual` is the finite-difference residual ``A û − f`` a neural operator is trained with;
:func:`relative_residual` its norm relative to ``‖f‖``. Sources are the Gaussian-bump lattice of
:mod:`lab.pde.steady` without periodic images (the domain is not periodic). Arrays are indexed
``[..., y, x]``. The module lives in the chapter's package, not in ``lab/pde/``: the GPU records'
code hash (:mod:`lab.gpu.sources`) counts a ``lab`` subpackage whole, so a new file there would
make the FLEX chapter's full-tier record stale.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from lab.pde.steady import KAPPA, SourceConfig, diffusion_tensor  # noqa: F401 (re-exported)


def spacing(n: int) -> float:
    """``h = 1/(n + 1)`` for ``n`` interior nodes per side."""
    return 1.0 / (n + 1)


def _check_grid(u: torch.Tensor) -> int:
    if u.dim() < 2 or u.shape[-1] != u.shape[-2] or u.shape[-1] < 2:
        raise ValueError(f"Dirichlet fields must be [..., n, n] with n ≥ 2, got {tuple(u.shape)}")
    return u.shape[-1]


def _k(K: torch.Tensor, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    K = torch.as_tensor(K).to(device=like.device, dtype=like.dtype)
    if K.shape[-1] != 3:
        raise ValueError(f"K must hold (k11, k22, k12) in its last axis, got shape {tuple(K.shape)}")
    return tuple(K[..., i, None, None] for i in range(3))


def apply(u: torch.Tensor, K: torch.Tensor, kappa: float = KAPPA) -> torch.Tensor:
    """``A u`` on the interior nodes (zero boundary), batched: ``u`` ``[B, n, n]``, ``K`` ``[B, 3]``.

    Differentiable in ``u`` (the residual loss back-propagates through it); any device or dtype.
    """
    n = _check_grid(u)
    h = spacing(n)
    k11, k22, k12 = _k(K, u)
    p = torch.nn.functional.pad(u, (1, 1, 1, 1))  # the zero boundary
    c = p[..., 1:-1, 1:-1]
    dxx = p[..., 1:-1, 2:] - 2 * c + p[..., 1:-1, :-2]
    dyy = p[..., 2:, 1:-1] - 2 * c + p[..., :-2, 1:-1]
    dxy = (p[..., 2:, 2:] - p[..., 2:, :-2] - p[..., :-2, 2:] + p[..., :-2, :-2]) / 4
    return -kappa * (k11 * dxx + k22 * dyy + 2 * k12 * dxy) / h**2


def residual(u: torch.Tensor, f: torch.Tensor, K: torch.Tensor, kappa: float = KAPPA) -> torch.Tensor:
    """The finite-difference residual ``A u − f``."""
    return apply(u, K, kappa) - f


def relative_residual(u: torch.Tensor, f: torch.Tensor, K: torch.Tensor, kappa: float = KAPPA) -> torch.Tensor:
    """``‖A u − f‖ / ‖f‖`` per sample."""
    r = residual(u, f, K, kappa)
    return r.flatten(-2).norm(dim=-1) / f.flatten(-2).norm(dim=-1).clamp_min(1e-300)


def sine_matrix(n: int, dtype=torch.float64, device=None) -> torch.Tensor:
    """``S[p, i] = sin(π p i / (n + 1))``, ``p, i = 1..n`` (DST-I; ``S S = (n + 1)/2 · I``)."""
    i = torch.arange(1, n + 1, dtype=dtype, device=device)
    return torch.sin(math.pi * i[:, None] * i[None, :] / (n + 1))


def sine_eigenvalues(n: int, dtype=torch.float64, device=None) -> torch.Tensor:
    """Eigenvalues ``(4/h²) sin²(pπh/2)`` of ``-δ_xx`` on the sine modes ``p = 1..n``."""
    h = spacing(n)
    p = torch.arange(1, n + 1, dtype=dtype, device=device)
    return 4 / h**2 * torch.sin(p * math.pi * h / 2) ** 2


def solve_diagonal(f: torch.Tensor, k11: torch.Tensor, k22: torch.Tensor, kappa: float = KAPPA) -> torch.Tensor:
    """Exact solve of ``-κ (k11 δ_xx + k22 δ_yy) u = f`` by the 2-D sine transform (``k12 = 0``)."""
    n = _check_grid(f)
    S = sine_matrix(n, f.dtype, f.device)
    lam = sine_eigenvalues(n, f.dtype, f.device)
    k11 = torch.as_tensor(k11, dtype=f.dtype, device=f.device).reshape(-1, 1, 1)
    k22 = torch.as_tensor(k22, dtype=f.dtype, device=f.device).reshape(-1, 1, 1)
    sym = kappa * (k11 * lam[None, None, :] + k22 * lam[None, :, None])  # [B, q (y), p (x)]
    fh = S @ f @ S
    return (2 / (n + 1)) ** 2 * (S @ (fh / sym) @ S)


def solve(f: torch.Tensor, K: torch.Tensor, kappa: float = KAPPA, tol: float = 1e-12,
          max_iter: int = 500) -> torch.Tensor:
    """``u`` with ``A u = f`` for each sample (float64 recommended): preconditioned CG.

    The preconditioner is the exact sine-transform solve of ``K``'s diagonal part
    (:func:`solve_diagonal`); iterations stop when every sample's ``‖A u − f‖/‖f‖ < tol``.
    Raises ``RuntimeError`` if that does not happen within ``max_iter`` iterations.
    """
    _check_grid(f)
    K = torch.as_tensor(K).to(device=f.device, dtype=f.dtype)
    if torch.any(K[..., 0] * K[..., 1] - K[..., 2] ** 2 <= 0) or torch.any(K[..., 0] <= 0):
        raise ValueError("the diffusion tensor K must be positive definite (k11 > 0, k11 k22 > k12²)")
    pre = lambda r: solve_diagonal(r, K[:, 0], K[:, 1], kappa)  # noqa: E731

    def dot(a, b):
        return (a * b).sum(dim=(-2, -1), keepdim=True)

    fn = f.flatten(-2).norm(dim=-1).clamp_min(1e-300)
    u = pre(f)
    r = f - apply(u, K, kappa)
    z = pre(r)
    p = z
    rz = dot(r, z)
    for _ in range(max_iter):
        if float((r.flatten(-2).norm(dim=-1) / fn).max()) < tol:
            return u
        Ap = apply(p, K, kappa)
        pAp = dot(p, Ap)
        alpha = rz / torch.where(pAp == 0, torch.ones_like(pAp), pAp)
        u = u + alpha * p
        r = r - alpha * Ap
        z = pre(r)
        rz_new = dot(r, z)
        p = z + rz_new / torch.where(rz == 0, torch.ones_like(rz), rz) * p
        rz = rz_new
    if float((relative_residual(u, f, K, kappa)).max()) < 10 * tol:  # round-off plateau
        return u
    raise RuntimeError(f"Dirichlet CG did not reach a relative residual of {tol:g} in {max_iter} iterations")


def matrix(K, n: int, kappa: float = KAPPA):
    """``A`` for one tensor ``K = (k11, k22, k12)`` as a scipy CSC matrix on the row-major
    flattening ``y · n + x`` (Kronecker products of 1-D difference matrices)."""
    import scipy.sparse as sp

    k11, k22, k12 = (float(x) for x in K)
    h = spacing(n)
    one = sp.identity(n, format="csr", dtype=float)
    second = sp.diags([1.0, -2.0, 1.0], [-1, 0, 1], shape=(n, n), dtype=float) / h**2
    first = sp.diags([-1.0, 1.0], [-1, 1], shape=(n, n), dtype=float) / (2 * h)
    A = -kappa * (k11 * sp.kron(one, second) + k22 * sp.kron(second, one) + 2 * k12 * sp.kron(first, first))
    return A.tocsc()


def sources(batch: int, n: int, generator: torch.Generator, cfg: SourceConfig = SourceConfig()) -> torch.Tensor:
    """``[batch, n, n]`` Gaussian-bump sources on the interior nodes (no periodic images), max 1."""
    x = torch.arange(1, n + 1, dtype=torch.float64) * spacing(n)
    offset = (1 - (cfg.grid - 1) * cfg.spacing) / 2
    centres = offset + cfg.spacing * torch.arange(cfg.grid, dtype=torch.float64)
    prof = torch.exp(-((x[None, :] - centres[:, None]) ** 2) / (2 * cfg.width**2))
    v_f = torch.tensor(cfg.sparsities, dtype=torch.float64)[
        torch.randint(len(cfg.sparsities), (batch,), generator=generator)]
    active = torch.rand(batch, cfg.grid, cfg.grid, generator=generator, dtype=torch.float64) >= v_f[:, None, None]
    amp = 1e-3 + (1 - 1e-3) * torch.rand(batch, cfg.grid, cfg.grid, generator=generator, dtype=torch.float64)
    f = torch.einsum("bij,iy,jx->byx", amp * active, prof, prof)
    return f / f.amax(dim=(-2, -1), keepdim=True).clamp_min(1e-12)


@dataclass
class DirichletBatch:
    """Samples of the Dirichlet problem: source, exact discrete solution, tensor entries ``K``."""

    f: torch.Tensor  # [B, n, n] (interior nodes)
    u: torch.Tensor  # [B, n, n]
    K: torch.Tensor  # [B, 3]: (k11, k22, k12)
    system: str = "dirichlet"
    periodic: bool = False

    def __len__(self) -> int:
        return self.f.shape[0]


def generate(batch: int, n: int, seed: int, e_range=(1.0, 5.0), device=None) -> DirichletBatch:
    """``batch`` samples on ``n × n`` interior nodes, seeded; the solve runs on ``device``
    (default CPU) in float64 and the result is returned on the CPU."""
    if n < 4:
        raise ValueError(f"the Dirichlet grid needs at least 4 interior nodes per side, got {n}")
    if e_range[0] <= 0 or e_range[1] < e_range[0]:
        raise ValueError(f"e_range must be positive and increasing, got {e_range}")
    gen = torch.Generator().manual_seed(seed)
    f = sources(batch, n, gen)
    e = e_range[0] + (e_range[1] - e_range[0]) * torch.rand(batch, generator=gen, dtype=torch.float64)
    theta = 2 * math.pi * torch.rand(batch, generator=gen, dtype=torch.float64)
    K = diffusion_tensor(e, theta)
    u = solve(f.to(device or "cpu"), K.to(device or "cpu")).cpu()
    return DirichletBatch(f, u, K)
