"""The Fourier grid of the periodic square ``[0, 2π]²`` and the operators on it.

Fields live on an ``n × n`` grid with ``x_j = 2πj/n``; arrays are indexed ``[..., y, x]``
(rows are ``y``), and their real FFTs ``torch.fft.rfft2`` have shape ``[..., n, n//2 + 1]``
with integer wavenumbers ``ky`` (full) and ``kx`` (non-negative half). See ``book/flex.md``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class SpectralGrid:
    """Wavenumbers and masks of an ``n × n`` periodic grid on ``[0, 2π]²``.

    Parameters
    ----------
    n : int
        Points per side (even, >= 8).
    device, dtype : where and in which real precision the operators live.

    Attributes (tensors of shape ``[n, n//2 + 1]``)
    ----------
    kx, ky : integer wavenumbers.
    k2 : ``|k|²``, with the mean mode set to 1 so that dividing by it is safe.
    dealias : the 2/3 rule, ``|kx|, |ky| <= K`` with ``K = floor((n - 1)/3)``, so that a
        product of two retained modes aliases only onto discarded ones (``3K < n``).
    """

    n: int
    device: torch.device | str = "cpu"
    dtype: torch.dtype = torch.float64

    def __post_init__(self):
        if self.n < 8 or self.n % 2:
            raise ValueError(f"grid size must be even and at least 8, got n={self.n}")
        ky = torch.fft.fftfreq(self.n, d=1.0 / self.n, dtype=self.dtype, device=self.device)
        kx = torch.fft.rfftfreq(self.n, d=1.0 / self.n, dtype=self.dtype, device=self.device)
        ky, kx = torch.meshgrid(ky, kx, indexing="ij")
        k2 = kx**2 + ky**2
        cutoff = (self.n - 1) // 3
        object.__setattr__(self, "kx", kx)
        object.__setattr__(self, "ky", ky)
        object.__setattr__(self, "k2_raw", k2)
        object.__setattr__(self, "k2", torch.where(k2 == 0, torch.ones_like(k2), k2))
        object.__setattr__(self, "dealias", ((kx.abs() <= cutoff) & (ky.abs() <= cutoff)).to(self.dtype))
        object.__setattr__(self, "cutoff", cutoff)

    @property
    def coords(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(y, x)`` grids of shape ``[n, n]``."""
        x = torch.arange(self.n, dtype=self.dtype, device=self.device) * (2 * torch.pi / self.n)
        return torch.meshgrid(x, x, indexing="ij")

    def fft(self, field: torch.Tensor) -> torch.Tensor:
        return torch.fft.rfft2(field)

    def ifft(self, coeffs: torch.Tensor) -> torch.Tensor:
        return torch.fft.irfft2(coeffs, s=(self.n, self.n))

    def stream_function(self, w_hat: torch.Tensor) -> torch.Tensor:
        """Poisson inversion ``-Δψ = ω``: ``ψ̂ = ω̂/|k|²``, with the mean of ``ψ`` set to 0."""
        psi_hat = w_hat / self.k2
        return torch.where(self.k2_raw == 0, torch.zeros_like(psi_hat), psi_hat)

    def velocity_hat(self, w_hat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(û, v̂)`` with ``u = ∂_y ψ``, ``v = -∂_x ψ``: ``û = i ky ψ̂``, ``v̂ = -i kx ψ̂``."""
        psi_hat = self.stream_function(w_hat)
        return 1j * self.ky * psi_hat, -1j * self.kx * psi_hat

    def velocity(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Velocity ``(u, v)`` on the grid from vorticity ``w`` of shape ``[..., n, n]``."""
        u_hat, v_hat = self.velocity_hat(self.fft(w))
        return self.ifft(u_hat), self.ifft(v_hat)


def resample(field: torch.Tensor, n_out: int) -> torch.Tensor:
    """Spectral resampling of periodic ``[..., n, n]`` fields to ``[..., n_out, n_out]``.

    Keeps the Fourier modes with ``|k_i| < n_out/2`` (the Nyquist mode of the smaller grid is
    dropped), so down-sampling is an ideal low-pass filter and up-sampling is exact for
    band-limited fields.
    """
    n = field.shape[-1]
    if field.shape[-2] != n:
        raise ValueError(f"expected square fields, got shape {tuple(field.shape)}")
    if n_out == n:
        return field.clone()
    coeffs = torch.fft.rfft2(field) / (n * n)
    keep = min(n, n_out) // 2
    out = torch.zeros(*field.shape[:-2], n_out, n_out // 2 + 1, dtype=coeffs.dtype, device=coeffs.device)
    out[..., :keep, :keep] = coeffs[..., :keep, :keep]
    out[..., -keep + 1:, :keep] = coeffs[..., -keep + 1:, :keep]
    return torch.fft.irfft2(out * (n_out * n_out), s=(n_out, n_out))
