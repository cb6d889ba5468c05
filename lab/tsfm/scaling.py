"""Scaling of a context window, ignoring missing values (NaN), and the uniform-bin quantizer.

Mean scaling (Chronos): ``x̃ = x / s`` with ``s = mean_t |x_t|`` over the observed context.
Instance norm (Chronos-Bolt): ``x̃ = (x - μ) / σ`` with the context's mean and standard deviation.
Quantization (Chronos): ``n_bins`` uniform bins on ``[-L, L]`` of the scaled value; values
outside are clipped into the edge bins. See ``book/tsfm_biases.md``.
"""
from __future__ import annotations

import torch

EPS = 1e-5


def context_stats(x: torch.Tensor, scaling: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(loc, scale)`` of each row of ``x [B, C]`` over its observed (non-NaN) entries, as ``[B, 1]``.

    ``mean``: ``loc = 0``, ``scale = mean |x|``; ``instance``: ``loc = mean x``, ``scale = std x``.
    A scale of 0 (a constant or all-zero context) becomes 1, so that scaling never divides by 0.
    """
    observed = ~torch.isnan(x)
    n = observed.sum(dim=1, keepdim=True).clamp_min(1)
    filled = torch.where(observed, x, torch.zeros_like(x))
    if scaling == "mean":
        loc = torch.zeros_like(n, dtype=x.dtype)
        scale = filled.abs().sum(dim=1, keepdim=True) / n
    elif scaling == "instance":
        loc = filled.sum(dim=1, keepdim=True) / n
        dev = torch.where(observed, x - loc, torch.zeros_like(x))
        scale = (dev.pow(2).sum(dim=1, keepdim=True) / n).sqrt()
    else:
        raise ValueError(f"unknown scaling {scaling!r}; choose from mean, instance")
    scale = torch.where(scale > EPS, scale, torch.ones_like(scale))
    return loc, scale


class Quantizer:
    """Uniform bins on ``[-limit, limit]``: ``quantize`` gives the bin index, ``centers`` its value.

    ``quantize(dequantize(i)) == i`` for every bin, and ``|dequantize(quantize(x)) - x|`` is at
    most half a bin width inside the range.
    """

    def __init__(self, n_bins: int, limit: float):
        if n_bins < 2 or not limit > 0:
            raise ValueError(f"need n_bins >= 2 and limit > 0, got {n_bins}, {limit}")
        self.n_bins, self.limit = n_bins, float(limit)
        self.width = 2 * self.limit / n_bins
        self.centers = -self.limit + self.width * (torch.arange(n_bins, dtype=torch.float64) + 0.5)

    def quantize(self, x: torch.Tensor) -> torch.Tensor:
        """Bin index (long) of each value; NaN maps to ``n_bins`` (the padding token)."""
        idx = torch.floor((x + self.limit) / self.width).clamp(0, self.n_bins - 1)
        idx = torch.where(torch.isnan(x), torch.full_like(idx, self.n_bins), idx)
        return idx.long()

    def dequantize(self, idx: torch.Tensor, dtype=torch.float32) -> torch.Tensor:
        return self.centers.to(dtype=dtype, device=idx.device)[idx.clamp(0, self.n_bins - 1)]
