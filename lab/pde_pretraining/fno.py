"""A Fourier neural operator (FNO) for fields on a periodic grid (``book/pde_pretraining.md``).

Li et al.'s FNO maps an input field ``a`` (channels: source, coefficients, grid coordinates)
to the solution ``u`` through

    v₀ = P(a),   v_{l+1} = GELU( W_l v_l + F⁻¹[ R_l · F[v_l] ]_{modes} ),   u = Q(v_L),

where ``P`` (lifting) and ``Q`` (projection) act pointwise, ``W_l`` is a 1×1 convolution, and
``R_l`` multiplies each retained Fourier mode (``|k_y| < m``, ``0 ≤ k_x < m``: ``2m²`` modes) by
its own complex ``width × width`` matrix (:func:`kernels.spectral_contract.spectral_contract`).
Modes above ``m`` pass only through ``W_l``, which is what makes the operator resolution
invariant: the same weights apply on any grid with at least ``2m`` points per side.
"""
from __future__ import annotations


import torch
from torch import nn

from kernels.spectral_contract import spectral_contract


class SpectralConv2d(nn.Module):
    """``F⁻¹[R · F[v]]`` on the ``2m × m`` retained modes of ``rfft2``."""

    def __init__(self, width: int, modes: int, generator: torch.Generator | None = None):
        super().__init__()
        self.modes = modes
        scale = 1.0 / (width * width)
        w = scale * torch.rand(width, width, 2 * modes * modes, 2, generator=generator)
        self.weight = nn.Parameter(w)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        B, C, H, W = v.shape
        m = self.modes
        if H < 2 * m or W // 2 + 1 < m:
            raise ValueError(f"the grid {H}×{W} holds fewer modes than the layer keeps (modes={m} needs ≥ {2 * m} points per side)")
        vh = torch.fft.rfft2(v)
        kept = torch.cat([vh[:, :, :m, :m], vh[:, :, -m:, :m]], dim=2).reshape(B, C, 2 * m * m)
        out = spectral_contract(kept, torch.view_as_complex(self.weight))
        full = torch.zeros(B, C, H, W // 2 + 1, dtype=vh.dtype, device=v.device)
        out = out.reshape(B, C, 2 * m, m)
        full[:, :, :m, :m] = out[:, :, :m]
        full[:, :, -m:, :m] = out[:, :, m:]
        return torch.fft.irfft2(full, s=(H, W))


class FNO2d(nn.Module):
    """The FNO above with ``layers`` Fourier layers of ``width`` channels and ``modes`` modes.

    Input ``[B, in_channels, n, n]``; the grid coordinates ``(x, y)`` are appended inside, so the
    caller passes the physical channels only. Output ``[B, n, n]``.
    """

    def __init__(self, in_channels: int, width: int = 24, modes: int = 8, layers: int = 4, seed: int = 0,
                 pad: int = 0):
        super().__init__()
        if modes < 1 or width < 1 or layers < 1:
            raise ValueError(f"FNO needs positive width, modes and layers, got {width}, {modes}, {layers}")
        g = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)  # nn.Linear / Conv2d initialisation
        # pointwise maps as Linear layers on channels-last views (1×1 convolutions, but faster on CPU)
        self.lift = nn.Linear(in_channels + 2, width)
        self.spectral = nn.ModuleList(SpectralConv2d(width, modes, g) for _ in range(layers))
        self.pointwise = nn.ModuleList(nn.Linear(width, width) for _ in range(layers))
        self.proj = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, 1))
        self.pad = pad  # zero rows appended along the first spatial axis (time, which is not periodic)
        self.config = dict(in_channels=in_channels, width=width, modes=modes, layers=layers, seed=seed, pad=pad)

    @staticmethod
    def grid(h: int, w: int | None = None, device=None) -> torch.Tensor:
        w = h if w is None else w
        y = torch.arange(h, device=device, dtype=torch.float32) / h
        x = torch.arange(w, device=device, dtype=torch.float32) / w
        return torch.stack(torch.meshgrid(x, y, indexing="xy"))  # [2, h, w]: (x, y)

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        B, _, H, W = a.shape
        a = torch.cat([a, self.grid(H, W, a.device)[None].expand(B, -1, -1, -1)], dim=1)
        v = self.lift(a.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        if self.pad:
            v = nn.functional.pad(v, (0, 0, 0, self.pad))
        for i, (spec, point) in enumerate(zip(self.spectral, self.pointwise)):
            v = spec(v) + point(v.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
            if i < len(self.spectral) - 1:
                v = nn.functional.gelu(v)
        if self.pad:
            v = v[:, :, :H]
        return self.proj(v.permute(0, 2, 3, 1))[..., 0]

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def n_parameters_formula(in_channels: int, width: int, modes: int, layers: int) -> int:
    """Parameter count in closed form (a check on the module): lift, layers, projection."""
    lift = (in_channels + 2) * width + width
    layer = 2 * width * width * 2 * modes * modes + width * width + width
    proj = width * 4 * width + 4 * width + 4 * width + 1
    return lift + layers * layer + proj


