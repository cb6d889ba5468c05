"""Radially binned kinetic-energy spectrum of periodic 2D vorticity fields."""
from __future__ import annotations

import torch


def energy_spectrum(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Shell-summed energy spectrum ``E(k)`` of vorticity fields ``[..., n, n]`` on ``[0, 2π]²``.

    .. math::

        E(k) = \\sum_{k-\\frac12 \\le |\\mathbf k| < k+\\frac12} \\tfrac12 |\\hat u_{\\mathbf k}|^2
             = \\sum \\tfrac12 |\\hat\\omega_{\\mathbf k}|^2/|\\mathbf k|^2,

    with ``û`` normalised so that ``Σ_k E(k) = ½⟨|u|²⟩``. Averaged over the leading dims.

    Returns
    -------
    k : ``[n//2]`` integer shell wavenumbers ``0 .. n/2 - 1``.
    E : ``[n//2]`` energy per shell.
    """
    n = w.shape[-1]
    w_hat = torch.fft.fft2(w.double()) / (n * n)
    ky = torch.fft.fftfreq(n, 1.0 / n, dtype=torch.float64, device=w.device)
    ky, kx = torch.meshgrid(ky, ky, indexing="ij")
    k2 = kx**2 + ky**2
    density = 0.5 * w_hat.abs() ** 2 / torch.where(k2 == 0, torch.ones_like(k2), k2)
    density = density.reshape(-1, n, n).mean(0)
    shell = torch.round(k2.sqrt()).long()
    energy = torch.zeros(shell.max().item() + 1, dtype=torch.float64, device=w.device)
    energy.scatter_add_(0, shell.reshape(-1), density.reshape(-1))
    return torch.arange(n // 2), energy[: n // 2].cpu()
