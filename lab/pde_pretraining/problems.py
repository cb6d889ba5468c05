"""The labelled and unlabelled samples the chapter trains on (``book/pde_pretraining.md``).

One operator covers both steady systems of the book tier,

    -κ ∇·(K ∇u) − ω u = f,      σ(k) = κ kᵀ K k − ω,

Poisson with ``ω = 0`` (``K`` rotated and stretched by ``e``) and Helmholtz with ``K = I`` and
``ω > 0``, so one FNO input layout serves pre-training on Poisson and transfer to Helmholtz:
channels ``(f, k11, k22, k12, ω/10)``. Solutions come from :mod:`lab.pde.steady` (exact FFT
solves); the symbol rides along for the residual loss.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from lab.pde import steady


@dataclass
class Samples:
    """Model inputs, targets and operator symbols (float32, CPU)."""

    inputs: torch.Tensor  # [N, 5, n, n]
    u: torch.Tensor  # [N, n, n]
    f: torch.Tensor  # [N, n, n]
    symbol: torch.Tensor  # [N, n, n//2+1] (real: both systems are self-adjoint)
    zero_mean: bool  # Poisson: the operator annihilates constants

    def __len__(self) -> int:
        return self.u.shape[0]

    def subset(self, idx) -> "Samples":
        return Samples(self.inputs[idx], self.u[idx], self.f[idx], self.symbol[idx], self.zero_mean)

    def with_noisy_labels(self, level: float, seed: int) -> "Samples":
        """Labels plus Gaussian noise of ``level`` times each sample's RMS (``level=0.1``: 10%)."""
        g = torch.Generator().manual_seed(seed)
        rms = self.u.pow(2).mean(dim=(-2, -1), keepdim=True).sqrt()
        noisy = self.u + level * rms * torch.randn(self.u.shape, generator=g)
        return Samples(self.inputs, noisy, self.f, self.symbol, self.zero_mean)


def _inputs(f: torch.Tensor, K: torch.Tensor, omega: torch.Tensor) -> torch.Tensor:
    n = f.shape[-1]
    const = torch.cat([K, omega[:, None] / 10.0], dim=1)[:, :, None, None].expand(-1, -1, n, n)
    return torch.cat([f[:, None], const], dim=1).float()


def poisson(count: int, n: int, seed: int, e_range=(1.0, 5.0)) -> Samples:
    b = steady.generate("poisson", count, n, seed, e_range=tuple(e_range))
    omega = torch.zeros(count, dtype=torch.float64)
    return Samples(_inputs(b.f, b.coeffs, omega), b.u.float(), b.f.float(), b.symbol.float(), True)


def helmholtz(count: int, n: int, seed: int, omega_range=(1, 10)) -> Samples:
    b = steady.generate("helmholtz", count, n, seed, omega_range=tuple(omega_range))
    K = torch.tensor([1.0, 1.0, 0.0], dtype=torch.float64).expand(count, 3)
    return Samples(_inputs(b.f, K, b.coeffs[:, 0]), b.u.float(), b.f.float(), b.symbol.float(), False)
