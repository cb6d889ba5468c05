"""Convolutional building blocks of FLEX and its U-Net baseline (``book/flex.md``).

The ResNet block is the ADM one that the FLEX reference code uses: group norm, SiLU and a
3×3 convolution; then the conditioning vector ``e`` (time, Reynolds number) sets a per-channel
scale and shift of the second group norm, **adaptive group norm**,

.. math::

    h \\leftarrow \\mathrm{SiLU}\\big(\\mathrm{GN}(h)\\,(1 + s(e)) + b(e)\\big),

followed by dropout and a zero-initialised 3×3 convolution, so every block starts as the
identity. Up- and down-sampling (nearest neighbour, average pooling) happen inside blocks.
The fused GN + scale/shift + SiLU is ``kernels.groupnorm_silu``; it is used on a GPU when no
gradient is needed (sampling), the torch reference otherwise.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from kernels.groupnorm_silu import groupnorm_silu, groupnorm_silu_reference


def zero_(module: nn.Module) -> nn.Module:
    """Zero a module's parameters in place (the block then starts as the identity)."""
    for p in module.parameters():
        p.detach().zero_()
    return module


def adaptive_groupnorm_silu(h: torch.Tensor, norm: nn.GroupNorm, scale=None, shift=None) -> torch.Tensor:
    """``SiLU(GN(h)(1 + scale) + shift)`` with ``norm``'s groups, eps and affine parameters.

    ``scale`` and ``shift`` are ``[B, C]`` (or None for plain GN + SiLU). The fused Triton
    kernel runs for CUDA tensors outside autograd; it has no backward pass.
    """
    fused = h.is_cuda and not (torch.is_grad_enabled() and h.requires_grad)
    op = groupnorm_silu if fused else groupnorm_silu_reference
    return op(h, norm.num_groups, norm.weight, norm.bias, scale, shift, eps=norm.eps)


class ResBlock(nn.Module):
    """ADM ResNet block with adaptive group norm, optionally resampling by 2.

    Parameters
    ----------
    in_ch, out_ch : channels in and out.
    emb_dim : width of the conditioning vector ``e``.
    groups : group-norm groups (32 in the reference; channels must be multiples of it).
    dropout : dropout before the last convolution.
    resample : None, ``"up"`` (nearest, ×2) or ``"down"`` (average pool, /2).
    """

    def __init__(self, in_ch: int, out_ch: int, emb_dim: int, groups: int = 32, dropout: float = 0.0,
                 resample: str | None = None):
        super().__init__()
        for c in (in_ch, out_ch):
            if c % groups:
                raise ValueError(f"channels {c} are not a multiple of the {groups} group-norm groups")
        if resample not in (None, "up", "down"):
            raise ValueError(f"resample must be None, 'up' or 'down', got {resample!r}")
        self.resample = resample
        self.norm_in = nn.GroupNorm(groups, in_ch)
        self.conv_in = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.emb = nn.Linear(emb_dim, 2 * out_ch)
        self.norm_out = nn.GroupNorm(groups, out_ch)
        self.dropout = nn.Dropout(dropout)
        self.conv_out = zero_(nn.Conv2d(out_ch, out_ch, 3, padding=1))
        self.skip = nn.Identity() if in_ch == out_ch else nn.Conv2d(in_ch, out_ch, 3, padding=1)

    def _resample(self, x: torch.Tensor) -> torch.Tensor:
        if self.resample == "up":
            return F.interpolate(x, scale_factor=2, mode="nearest")
        if self.resample == "down":
            return F.avg_pool2d(x, 2)
        return x

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = adaptive_groupnorm_silu(x, self.norm_in)
        h = self.conv_in(self._resample(h))
        x = self._resample(x)
        scale, shift = self.emb(F.silu(emb)).chunk(2, dim=1)
        # adaptive group norm: GN(h)(1 + s) + b, then SiLU, in one fused op
        h = adaptive_groupnorm_silu(h, self.norm_out, scale, shift)
        return self.skip(x) + self.conv_out(self.dropout(h))


class FourierTimeEmbedding(nn.Module):
    """Random Fourier features of the diffusion time, ``√2 cos(2π(f t + φ))``, fixed at init."""

    def __init__(self, dim: int, bandwidth: float = 1.0):
        super().__init__()
        self.register_buffer("freqs", 2 * math.pi * torch.randn(dim) * bandwidth)
        self.register_buffer("phases", 2 * math.pi * torch.rand(dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return math.sqrt(2) * torch.cos(t.reshape(-1, 1).float() * self.freqs + self.phases)


def mlp_embedding(in_dim: int, dim: int) -> nn.Sequential:
    """``Linear(in, 2d) → SiLU → Linear(2d, d)``: the embedding of time features or of ``Re``."""
    return nn.Sequential(nn.Linear(in_dim, 2 * dim), nn.SiLU(), nn.Linear(2 * dim, dim))


def time_embedding(dim: int) -> nn.Sequential:
    """Fourier features of ``t`` followed by the MLP."""
    return nn.Sequential(FourierTimeEmbedding(dim), mlp_embedding(dim, dim))
