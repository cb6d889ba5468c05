"""v-prediction diffusion with the cosine log-SNR schedule and the deterministic sampler.

Conventions of the FLEX reference code (``book/flex.md``, section "Diffusion in residual
space"). Time ``t ∈ [0, 1]`` maps to a log signal-to-noise ratio

.. math::

    \\lambda(t) = -2\\log\\big(\\tan(a t + b)\\,\\mathrm{shift}\\big),\\quad
    b = \\arctan e^{-\\lambda_{\\max}/2},\\; a = \\arctan e^{-\\lambda_{\\min}/2} - b,

so ``λ(0) = λ_max = 20`` and ``λ(1) = λ_min = -20`` (shift 1). With
``α² = sigmoid(λ)``, ``σ² = sigmoid(-λ)`` (``α² + σ² = 1``) the noisy target is
``z_t = α r + σ ε`` and the network predicts ``v = α ε - σ r``, from which

.. math::

    \\hat r = \\alpha z_t - \\sigma \\hat v, \\qquad \\hat\\varepsilon = \\alpha \\hat v + \\sigma z_t .

The sampler is DDIM with ``η = 0`` on the grid ``t_k = k/n_T``: from ``z_{t_k}`` it forms
``r̂, ε̂`` and moves to ``z_{t_{k-1}} = α' r̂ + σ' ε̂``; the last step returns ``r̂``.
"""
from __future__ import annotations

import math
from typing import Callable

import torch


def logsnr_cosine(t: torch.Tensor, logsnr_min: float = -20.0, logsnr_max: float = 20.0,
                  shift: float = 1.0) -> torch.Tensor:
    """The cosine log-SNR schedule ``λ(t)`` (see the module docstring)."""
    b = math.atan(math.exp(-0.5 * logsnr_max))
    a = math.atan(math.exp(-0.5 * logsnr_min)) - b
    return -2.0 * torch.log(torch.tan(a * t + b) * shift)


def alpha_sigma(t: torch.Tensor, **schedule) -> tuple[torch.Tensor, torch.Tensor]:
    """``α_t = sqrt(sigmoid λ)``, ``σ_t = sqrt(sigmoid -λ)``, shaped ``[B, 1, 1, 1]`` for ``t`` ``[B]``."""
    lam = logsnr_cosine(t, **schedule).reshape(-1, 1, 1, 1)
    return torch.sigmoid(lam).sqrt(), torch.sigmoid(-lam).sqrt()


def v_target(r: torch.Tensor, eps: torch.Tensor, alpha: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """``v = α ε - σ r``."""
    return alpha * eps - sigma * r


def predict_r_eps(z: torch.Tensor, v: torch.Tensor, alpha: torch.Tensor, sigma: torch.Tensor):
    """``(r̂, ε̂) = (α z - σ v̂, α v̂ + σ z)``: exact inverses of ``z = α r + σ ε``, ``v = α ε - σ r``."""
    return alpha * z - sigma * v, alpha * v + sigma * z


def diffusion_loss(denoise: Callable, r: torch.Tensor, generator: torch.Generator | None = None,
                   criterion: str = "l1") -> torch.Tensor:
    """Training loss ``E_{t, ε} |v̂(z_t, t) - v|`` (L1, the reference default) or its square.

    ``denoise(z, t) -> v̂``; ``t ~ U(0, 1)`` and ``ε ~ N(0, I)`` are drawn from ``generator``.
    """
    t = torch.rand(r.shape[0], generator=generator).to(r.device)
    eps = torch.randn(r.shape, generator=generator).to(r.device, r.dtype)
    alpha, sigma = alpha_sigma(t)
    z = alpha * r + sigma * eps
    err = denoise(z, t) - v_target(r, eps, alpha, sigma)
    if criterion == "l1":
        return err.abs().mean()
    if criterion == "l2":
        return err.pow(2).mean()
    raise ValueError(f"criterion must be 'l1' or 'l2', got {criterion!r}")


def ddim_step(z: torch.Tensor, v: torch.Tensor, t: torch.Tensor, t_next: torch.Tensor):
    """One deterministic step from ``z_t`` to ``z_{t'}`` given ``v̂``; returns ``(z_{t'}, r̂)``.

    ``z_{t'} = α' r̂ + σ' ε̂`` with ``(r̂, ε̂)`` from :func:`predict_r_eps`.
    """
    alpha, sigma = alpha_sigma(t)
    alpha_next, sigma_next = alpha_sigma(t_next)
    r_hat, eps_hat = predict_r_eps(z, v, alpha, sigma)
    return alpha_next * r_hat + sigma_next * eps_hat, r_hat


@torch.no_grad()
def ddim_sample(denoise: Callable, noise: torch.Tensor, n_steps: int) -> torch.Tensor:
    """Deterministic (``η = 0``) sampling from ``z_1 = noise`` in ``n_steps`` network calls.

    Parameters
    ----------
    denoise : ``denoise(z, t) -> v̂`` with ``t`` of shape ``[B]``.
    noise : ``[B, ...]`` standard normal start ``z_1``.
    n_steps : ``n_T >= 1``; the times are ``1, (n_T-1)/n_T, ..., 1/n_T``.

    Returns
    -------
    The last ``r̂ = α z - σ v̂`` (at ``t = 1/n_T``), as the reference code returns it.
    """
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}")
    z = noise
    b = z.shape[0]
    for k in range(n_steps, 0, -1):
        t = torch.full((b,), k / n_steps, device=z.device, dtype=z.dtype)
        t_next = torch.full((b,), (k - 1) / n_steps, device=z.device, dtype=z.dtype)
        # DDIM, eta = 0: move along the predicted (r, eps) pair to the next noise level
        z, r_hat = ddim_step(z, denoise(z, t), t, t_next)
    return r_hat
