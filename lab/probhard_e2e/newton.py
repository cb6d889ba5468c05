"""The DPPL for nonlinear equality constraints ``h(u) = 0``: a Newton/KKT solve with implicit gradients.

``T(z) = argmin ||u - z||_Q^2  s.t.  h(u) = 0`` (``Q = diag(1/var)`` oblique, ``Q = I`` orthogonal)
solves the KKT system

.. math::

    F(u, \\lambda) = \\begin{bmatrix} Q(u - z) + G^\\top\\lambda \\\\ h(u) \\end{bmatrix} = 0,
    \\qquad G = \\nabla h(u),

by Newton's method on ``(u, lambda)`` with the KKT matrix ``K = [[H, G^T], [G, 0]]``,
``H = Q + sum_i lambda_i nabla^2 h_i``. The gradient is not back-propagated through the
iterations: at the solution the implicit-function theorem gives
``[du; dlambda] = K^{-1} [Q dz - dQ (u - z); 0]``, so for an upstream gradient ``g``,
``[w; v] = K^{-1} [g; 0]``, ``dL/dz = Q w`` and ``dL/dvar_i = w_i (u_i - z_i) / var_i^2``.

The Jacobian of ``T`` (delta method, ``Sigma_hat = J Sigma J^T``) comes in two forms:

- with curvature: ``J = [H^{-1} - H^{-1} G^T (G H^{-1} G^T)^{-1} G H^{-1}] Q`` (the exact one);
- without: ``J = I - Q^{-1} G^T (G Q^{-1} G^T)^{-1} G`` (the linearised constraint).

``tests/test_probhard_e2e.py`` checks which matches finite differences. Here the projected
variance is ``diag(J Sigma J^T)`` with the curvature form, differentiated through ``Sigma`` with
``J`` held fixed (first order, as the delta method itself). See ``book/probhard_e2e.md``.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch.func import hessian, jacrev, vmap

from lab.probhard_e2e.projection import METRICS, check_gaussian


class NewtonError(RuntimeError):
    """The Newton/KKT solve did not converge; carries the final KKT residual."""

    def __init__(self, residual: float, iters: int, tol: float):
        self.residual, self.iters, self.tol = residual, iters, tol
        super().__init__(f"Newton/KKT projection did not converge in {iters} iterations: KKT residual "
                         f"{residual:.3g} > tolerance {tol:.3g} (is h(u) = 0 reachable from the prediction?)")


def _qdiag(var, metric):
    if metric == "oblique":
        return 1.0 / var
    return torch.ones_like(var)


def _derivatives(h, u, lam, c):
    G = vmap(jacrev(h))(u, c)                                                      # [B, q, n]
    curv = vmap(hessian(lambda x, l, cc: (l * h(x, cc)).sum()))(u, lam, c)         # [B, n, n]
    return G, curv


def _with_context(h, context, B, like):
    """``h(u, c)`` with a per-row context ``c [B, k]`` (a dummy one when ``h`` takes only ``u``)."""
    if context is None:
        return (lambda u, c: h(u)), torch.zeros(B, 1, dtype=like.dtype, device=like.device)
    return h, context.detach()


def _kkt(qd, G, curv):
    B, q, n = G.shape
    H = torch.diag_embed(qd) + curv
    K = torch.zeros(B, n + q, n + q, dtype=qd.dtype, device=qd.device)
    K[:, :n, :n] = H
    K[:, :n, n:] = G.transpose(1, 2)
    K[:, n:, :n] = G
    return K, H


def newton_kkt(z, var, h: Callable, metric: str = "oblique", *, tol: float = 1e-10, max_iter: int = 50,
               context=None):
    """Solve the KKT system for a batch ``z, var [B, n]``; returns ``(u, lambda, iterations)``.

    ``h`` maps one vector ``[n]`` to ``[q]`` (or ``(u [n], c [k]) -> [q]`` with a per-row
    ``context [B, k]``, e.g. each row's right-hand side) and must be written in torch (it is
    differentiated with ``torch.func``). Raises :class:`NewtonError` with the residual when it
    does not converge.
    """
    z, var = z.detach(), var.detach()
    h, c = _with_context(h, context, z.shape[0], z)
    qd = _qdiag(var, metric)
    u = z.clone()
    q = h(z[0], c[0]).shape[-1]
    lam = torch.zeros(z.shape[0], q, dtype=z.dtype, device=z.device)
    scale = 1.0 + z.abs().max().item()

    def resid(u, lam):
        G = vmap(jacrev(h))(u, c)
        top = qd * (u - z) + (G.transpose(1, 2) @ lam.unsqueeze(-1)).squeeze(-1)
        return torch.cat([top, vmap(h)(u, c)], -1)

    F = resid(u, lam)
    for it in range(1, max_iter + 1):
        G, curv = _derivatives(h, u, lam, c)
        K, _ = _kkt(qd, G, curv)
        try:
            step = torch.linalg.solve(K, -F.unsqueeze(-1)).squeeze(-1)
        except RuntimeError as err:  # singular KKT matrix
            raise NewtonError(F.abs().max().item(), it, tol * scale) from err
        t, norm0 = 1.0, F.abs().amax(-1)
        for _ in range(30):  # backtracking on the KKT residual, per batch element
            u_new, lam_new = u + t * step[:, : u.shape[1]], lam + t * step[:, u.shape[1]:]
            F_new = resid(u_new, lam_new)
            if bool((F_new.abs().amax(-1) <= (1 - 1e-4 * t) * norm0 + 0.1 * tol * scale).all()) or t < 1e-6:
                break
            t *= 0.5
        u, lam, F = u_new, lam_new, F_new
        if F.abs().max().item() <= tol * scale:
            return u, lam, it
    raise NewtonError(F.abs().max().item(), max_iter, tol * scale)


def jacobians(u, lam, var, h: Callable, metric: str = "oblique", context=None):
    """Both Jacobian forms of ``T`` at the solution: ``(J_curvature, J_no_curvature)``, each ``[B, n, n]``."""
    qd = _qdiag(var, metric)
    h, c = _with_context(h, context, u.shape[0], u)
    G, curv = _derivatives(h, u, lam, c)
    H = torch.diag_embed(qd) + curv
    Hi = torch.linalg.inv(H)
    HiGt = Hi @ G.transpose(1, 2)
    J_curv = (Hi - HiGt @ torch.linalg.solve(G @ HiGt, HiGt.transpose(1, 2))) @ torch.diag_embed(qd)
    Qi = torch.diag_embed(1.0 / qd)
    QiGt = Qi @ G.transpose(1, 2)
    eye = torch.eye(u.shape[1], dtype=u.dtype, device=u.device)
    J_lin = eye - QiGt @ torch.linalg.solve(G @ QiGt, G)
    return J_curv, J_lin


class _NewtonProjection(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z, var, h, metric, tol, max_iter, context):
        u, lam, _ = newton_kkt(z, var, h, metric, tol=tol, max_iter=max_iter, context=context)
        ctx.h, ctx.metric = _with_context(h, context, z.shape[0], z), metric
        ctx.save_for_backward(z.detach(), var.detach(), u, lam)
        return u

    @staticmethod
    def backward(ctx, g):
        z, var, u, lam = ctx.saved_tensors
        qd = _qdiag(var, ctx.metric)
        h, c = ctx.h
        G, curv = _derivatives(h, u, lam, c)
        K, _ = _kkt(qd, G, curv)
        n = u.shape[1]
        rhs = torch.cat([g, torch.zeros_like(lam)], -1).unsqueeze(-1)
        w = torch.linalg.solve(K, rhs).squeeze(-1)[:, :n]  # K is symmetric: K^{-T} = K^{-1}
        grad_z = qd * w
        grad_var = w * (u - z) / var**2 if ctx.metric == "oblique" else torch.zeros_like(var)
        return grad_z, grad_var, None, None, None, None, None


def project_nonlinear(mu, var, h: Callable, metric: str = "oblique", *, tol: float = 1e-10,
                      max_iter: int = 50, check: bool = True, context=None):
    """Nonlinear DPPL: ``(mu_hat, var_hat)`` for a batch ``mu, var [B, n]`` and ``h: [n] -> [q]``.

    ``mu_hat = T(mu)`` is differentiable (implicit function theorem); ``var_hat = diag(J Sigma J^T)``
    with the curvature Jacobian at ``mu_hat`` (``J`` held fixed in the backward pass).
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose from {METRICS}")
    if check:
        check_gaussian(mu, var, "project_nonlinear")
        if metric == "oblique" and bool((var <= 0).any()):
            raise ValueError("project_nonlinear: the oblique metric needs strictly positive variances")
    u = _NewtonProjection.apply(mu, var, h, metric, tol, max_iter, context)
    J = _jacobian_at(u.detach(), mu.detach(), var.detach(), h, metric, context)
    return u, ((J * J) @ var.unsqueeze(-1)).squeeze(-1)


def _jacobian_at(u, z, var, h, metric, context):
    """Curvature Jacobian at a solution ``u``; the multipliers follow from ``Q(u - z) + G^T lambda = 0``."""
    qd = _qdiag(var, metric)
    hc, c = _with_context(h, context, u.shape[0], u)
    G = vmap(jacrev(hc))(u, c)
    lam = torch.linalg.lstsq(G.transpose(1, 2), (-qd * (u - z)).unsqueeze(-1)).solution.squeeze(-1)
    return jacobians(u, lam, var, h, metric, context)[0]
