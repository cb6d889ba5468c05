"""The differentiable probabilistic projection layer (DPPL) for linear equality constraints.

A backbone predicts a Gaussian ``N(mu, Sigma)`` with ``Sigma = diag(var)``; the DPPL maps it onto
the affine set ``{u : A u = b}`` by the weighted least-squares projection

.. math::

    T(z) = \\arg\\min_{\\hat u} \\|\\hat u - z\\|_Q^2 \\quad \\text{s.t. } A\\hat u = b,

with the **oblique** metric ``Q = Sigma^{-1}`` or the **orthogonal** one ``Q = I``. ``T`` is affine,
so the projected distribution is exactly Gaussian (the delta method is exact):

- oblique:    ``mu_hat = mu - Sigma A^T (A Sigma A^T)^{-1} (A mu - b)``,
              ``Sigma_hat = Sigma - Sigma A^T (A Sigma A^T)^{-1} A Sigma``;
- orthogonal: ``P = I - A^T (A A^T)^{-1} A``, ``mu_hat = P mu + A^T (A A^T)^{-1} b``,
              ``Sigma_hat = P Sigma P^T``;
- one constraint ``a^T u = b``, diagonal Sigma (the rank-1 closed form):
  ``mu_hat_i = mu_i - var_i a_i (a^T mu - b) / sum_j a_j^2 var_j``,
  ``var_hat_i = var_i - var_i^2 a_i^2 / sum_j a_j^2 var_j``.

Shapes: ``mu, var`` are ``[..., n]``; ``A`` is ``[q, n]`` (shared) or ``[..., q, n]``; ``b`` is
``[..., q]`` (or ``[q]``). Everything is plain torch, so gradients flow by autograd. See
``book/probhard_e2e.md``.
"""
from __future__ import annotations

import torch

METRICS = ("oblique", "orthogonal")


class ConstraintError(ValueError):
    """A constraint system the projection cannot honour: rank-deficient or infeasible ``A u = b``."""


def check_gaussian(mu: torch.Tensor, var: torch.Tensor, who: str = "DPPL") -> None:
    """Raise ``ValueError`` for non-finite means or negative / NaN / infinite variances."""
    if mu.shape != var.shape:
        raise ValueError(f"{who}: mu and var must have the same shape, got {tuple(mu.shape)} and {tuple(var.shape)}")
    if not bool(torch.isfinite(mu).all()):
        raise ValueError(f"{who}: mu holds {int((~torch.isfinite(mu)).sum())} NaN or infinite values")
    if not bool(torch.isfinite(var).all()):
        raise ValueError(f"{who}: var holds {int((~torch.isfinite(var)).sum())} NaN or infinite values")
    if bool((var < 0).any()):
        raise ValueError(f"{who}: var holds {int((var < 0).sum())} negative variances (smallest {var.min().item():.3g})")


def check_constraints(A: torch.Tensor, b: torch.Tensor, n: int, who: str = "DPPL") -> None:
    """``A`` must have full row rank ``q <= n``; otherwise say whether ``A u = b`` is infeasible.

    A rank-deficient ``A`` with ``b`` in its range has redundant rows (the projection formulas
    need ``(A A^T)^{-1}``); with ``b`` outside its range no ``u`` satisfies ``A u = b`` at all.
    """
    if A.dim() < 2 or A.shape[-1] != n:
        raise ValueError(f"{who}: A must be [..., q, n] with n = {n}, got {tuple(A.shape)}")
    if b.shape[-1] != A.shape[-2]:
        raise ValueError(f"{who}: b has {b.shape[-1]} entries for {A.shape[-2]} constraints")
    if not (bool(torch.isfinite(A).all()) and bool(torch.isfinite(b).all())):
        raise ValueError(f"{who}: A or b holds NaN or infinite values")
    q = A.shape[-2]
    Ad = A.detach().double()
    rank = torch.linalg.matrix_rank(Ad)
    if bool((rank < q).any()):
        r = int(rank.min())
        # is b in the range of A?  the minimum-norm least-squares solution answers it
        bb = torch.broadcast_to(b.detach().double(), (*torch.broadcast_shapes(A.shape[:-2], b.shape[:-1]), q))
        Ab = torch.broadcast_to(Ad, (*bb.shape[:-1], q, n))
        u = torch.linalg.pinv(Ab) @ bb.unsqueeze(-1)
        resid = (Ab @ u).squeeze(-1) - bb
        worst = resid.abs().max().item()
        scale = max(1.0, bb.abs().max().item())
        if worst > 1e-8 * scale:
            raise ConstraintError(f"{who}: A u = b is infeasible: A ({q}×{n}) has rank {r} < {q} and b is "
                                  f"not in its range (least-squares residual {worst:.3g})")
        raise ConstraintError(f"{who}: A ({q}×{n}) is rank-deficient (rank {r} < {q}): drop the redundant "
                              "constraints; (A Σ Aᵀ)⁻¹ does not exist")


def _prep(mu, var, A, b, check, who):
    if check:
        check_gaussian(mu, var, who)
    A = A.to(mu.dtype)
    b = torch.as_tensor(b, dtype=mu.dtype, device=mu.device)
    if b.dim() == 0:
        b = b.reshape(1)
    if check:
        check_constraints(A, b, mu.shape[-1], who)
    return A, b


def project_oblique(mu, var, A, b, *, full_cov: bool = False, check: bool = True):
    """Oblique DPPL (``Q = Sigma^{-1}``): ``(mu_hat, var_hat)``, or ``(mu_hat, Sigma_hat)`` with ``full_cov``.

    ``A Sigma A^T`` must be invertible: a constraint whose every coordinate has zero variance
    cannot be corrected in this metric (``ValueError``).
    """
    A, b = _prep(mu, var, A, b, check, "project_oblique")
    K = var.unsqueeze(-1) * A.transpose(-1, -2)            # Sigma A^T      [..., n, q]
    M = A @ K                                              # A Sigma A^T    [..., q, q]
    if check:
        ev = torch.linalg.eigvalsh(M.detach().double())
        if bool((ev[..., 0] <= 1e-14 * ev[..., -1].abs().clamp_min(1e-300)).any()):
            raise ValueError("project_oblique: A Σ Aᵀ is singular (a constraint touches only zero-variance "
                             "coordinates); use the orthogonal metric or floor the variances")
    r = (A @ mu.unsqueeze(-1)).squeeze(-1) - b             # A mu - b       [..., q]
    # mu_hat = mu - Sigma A^T (A Sigma A^T)^{-1} (A mu - b)
    mu_hat = mu - (K @ torch.linalg.solve(M, r.unsqueeze(-1))).squeeze(-1)
    KMinv = torch.linalg.solve(M, K.transpose(-1, -2)).transpose(-1, -2)  # K M^{-1} [..., n, q]
    if full_cov:
        # Sigma_hat = Sigma - Sigma A^T (A Sigma A^T)^{-1} A Sigma
        return mu_hat, torch.diag_embed(var) - KMinv @ K.transpose(-1, -2)
    return mu_hat, (var - (KMinv * K).sum(-1)).clamp_min(0.0)


def orthogonal_projector(A: torch.Tensor) -> torch.Tensor:
    """``P = I - A^T (A A^T)^{-1} A`` (``[..., n, n]``)."""
    n = A.shape[-1]
    return torch.eye(n, dtype=A.dtype, device=A.device) - A.transpose(-1, -2) @ torch.linalg.solve(A @ A.transpose(-1, -2), A)


def project_orthogonal(mu, var, A, b, *, full_cov: bool = False, check: bool = True):
    """Orthogonal DPPL (``Q = I``): ``mu_hat = P mu + A^T (A A^T)^{-1} b``, ``Sigma_hat = P Sigma P^T``."""
    A, b = _prep(mu, var, A, b, check, "project_orthogonal")
    P = orthogonal_projector(A)
    shift = (A.transpose(-1, -2) @ torch.linalg.solve(A @ A.transpose(-1, -2), b.unsqueeze(-1))).squeeze(-1)
    mu_hat = (P @ mu.unsqueeze(-1)).squeeze(-1) + shift
    if full_cov:
        return mu_hat, P @ (var.unsqueeze(-1) * P.transpose(-1, -2))
    # diag(P Sigma P^T)_i = sum_j P_ij^2 var_j
    return mu_hat, ((P * P) @ var.unsqueeze(-1)).squeeze(-1)


def project_single(mu, var, a, b, *, check: bool = True):
    """The rank-1 closed form for one constraint ``a^T u = b`` with diagonal Sigma (oblique).

    ``a`` is ``[n]`` or ``[..., n]``, ``b`` a scalar or ``[...]``. Returns ``(mu_hat, var_hat)``.
    """
    a = a.to(mu.dtype)
    b = torch.as_tensor(b, dtype=mu.dtype, device=mu.device)
    if check:
        _prep(mu, var, a.unsqueeze(-2), b.unsqueeze(-1), True, "project_single")
    s = (a * a * var).sum(-1, keepdim=True)               # a^T Sigma a
    if check and bool((s <= 0).any()):
        raise ValueError("project_single: aᵀ Σ a = 0 (the constraint touches only zero-variance coordinates)")
    r = (a * mu).sum(-1, keepdim=True) - b.unsqueeze(-1) if b.dim() else (a * mu).sum(-1, keepdim=True) - b
    w = var * a                                           # Sigma a
    # mu_hat_i = mu_i - var_i a_i (a^T mu - b) / a^T Sigma a ; var_hat_i = var_i - (var_i a_i)^2 / a^T Sigma a
    return mu - w * r / s, (var - w * w / s).clamp_min(0.0)


def project(mu, var, A, b, metric: str = "oblique", *, full_cov: bool = False, check: bool = True):
    """Dispatch on ``metric`` (``"oblique"`` or ``"orthogonal"``)."""
    if metric == "oblique":
        return project_oblique(mu, var, A, b, full_cov=full_cov, check=check)
    if metric == "orthogonal":
        return project_orthogonal(mu, var, A, b, full_cov=full_cov, check=check)
    raise ValueError(f"unknown metric {metric!r}; choose from {METRICS}")


def project_samples(z, var, A, b, metric: str = "oblique", *, check: bool = True):
    """Apply the same affine map ``T`` to samples ``z [..., S, n]`` drawn from ``N(mu, diag(var))``.

    ``var`` is ``[..., n]`` (the metric of the predicted, not the projected, distribution). The
    projected samples are exactly distributed as ``N(mu_hat, Sigma_hat)``.
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose from {METRICS}")
    v = var.unsqueeze(-2).expand_as(z)
    Ab = A if A.dim() == 2 else A.unsqueeze(-3)
    bb = torch.as_tensor(b, dtype=z.dtype, device=z.device)
    bb = bb if bb.dim() <= 1 else bb.unsqueeze(-2)
    return project(z, v, Ab, bb, metric, check=check)[0]


def constraint_error(u, A, b, relative: bool = False) -> torch.Tensor:
    """``|A u - b|`` per constraint (``[..., q]``); ``relative`` divides by ``|A||u| + |b|``.

    The relative form is the scale on which float rounding acts, so it is what the exactness
    tolerances (1e-10 in float64, 1e-5 in float32) apply to.
    """
    A = A.to(u.dtype)
    b = torch.as_tensor(b, dtype=u.dtype, device=u.device)
    r = (A @ u.unsqueeze(-1)).squeeze(-1) - b
    if not relative:
        return r.abs()
    return r.abs() / ((A.abs() @ u.abs().unsqueeze(-1)).squeeze(-1) + b.abs()).clamp_min(torch.finfo(u.dtype).tiny)
