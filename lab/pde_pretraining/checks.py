"""Exactness checks of the generators and the residual (``book/pde_pretraining.md``).

- every steady generator's solution satisfies its spectral operator: ``‖σ û − f̂‖/‖f̂‖``;
- the residual loss vanishes at the true solution, and its gradient (autograd) matches central
  finite differences along random directions, in float64;
- heat and advection are exact in Fourier space, and the pseudo-spectral Burgers solver agrees
  with the independent Cole–Hopf solution.
"""
from __future__ import annotations

import torch

from lab.pde import evolution1d, steady
from lab.pde_pretraining import losses


def generator_residuals(n: int, count: int, seed: int) -> dict[str, float]:
    """Largest relative spectral residual per system."""
    return {s: float(steady.relative_residual(steady.generate(s, count, n, seed)).max()) for s in steady.SYSTEMS}


def residual_at_truth(n: int, count: int, seed: int) -> dict[str, float]:
    """``L_PDE(u_true)`` (float64) and the worst relative gap between autograd and finite differences."""
    b = steady.generate("poisson", count, n, seed)
    at_truth = float(losses.residual_loss(b.u, b.f, b.symbol, zero_mean=True))
    g = torch.Generator().manual_seed(seed)
    u = (b.u + 0.1 * torch.randn(b.u.shape, generator=g, dtype=torch.float64)).requires_grad_()
    loss = losses.residual_loss(u, b.f, b.symbol, zero_mean=True)
    (grad,) = torch.autograd.grad(loss, u)
    worst, h = 0.0, 1e-4
    for _ in range(4):
        d = torch.randn(b.u.shape, generator=g, dtype=torch.float64)
        with torch.no_grad():
            fd = (losses.residual_loss(u + h * d, b.f, b.symbol, True)
                  - losses.residual_loss(u - h * d, b.f, b.symbol, True)) / (2 * h)
        ad = (grad * d).sum()
        worst = max(worst, float(abs(fd - ad) / abs(ad)))
    return {"loss_at_truth": at_truth, "gradient_gap": worst}


def time_dependent(n: int = 128, seed: int = 0) -> dict[str, float]:
    """Burgers against Cole–Hopf (max abs), and the heat/advection residuals relative to ``|u_t|``."""
    u0 = evolution1d.initial_conditions(4, n, seed, modes=3, p_abs=0, p_window=0)
    u0 = u0 - u0.mean(-1, keepdim=True)
    t = torch.tensor([0.0, 0.1, 0.2], dtype=torch.float64)
    burgers_gap = float((evolution1d.burgers(u0, 0.1, t, dt=5e-4)
                         - evolution1d.burgers_cole_hopf(u0, 0.1, t)).abs().max())
    tt = torch.linspace(0, 0.05, 501, dtype=torch.float64)
    dt = float(tt[1] - tt[0])
    out = {"burgers_vs_cole_hopf": burgers_gap}
    for name, sol, c in (("heat", evolution1d.heat(u0, 0.01, tt), 0.01), ("advection", evolution1d.advection(u0, 1.0, tt), 1.0)):
        r = evolution1d.residual(name, sol, torch.full((4,), c, dtype=torch.float64), dt)
        ut = (sol[:, 2:] - sol[:, :-2]) / (2 * dt)
        out[f"{name}_residual"] = float(r.abs().max() / ut.abs().max())
    return out
