"""Cutting a scaled context into patches of k values, with NaN padding and the observed mask.

A context shorter than the model's is left-padded with NaN; each patch enters the embedding as
``[patch with NaN → 0, mask]`` of length ``2k`` (Chronos-Bolt's input). See ``book/tsfm_biases.md``.
"""
from __future__ import annotations

import torch


def left_pad(x: torch.Tensor, length: int) -> torch.Tensor:
    """``x [B, C]`` left-padded with NaN to ``[B, length]`` (or cut to its last ``length`` values)."""
    C = x.shape[-1]
    if C >= length:
        return x[..., C - length:]
    pad = torch.full((*x.shape[:-1], length - C), float("nan"), dtype=x.dtype, device=x.device)
    return torch.cat([pad, x], dim=-1)


def patchify(x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``x [B, C]`` (NaN where missing) to ``(values, mask)``, each ``[B, ceil(C/k), k]``.

    A length that is not a multiple of ``k`` is left-padded with NaN first; ``values`` has NaN
    replaced by 0 and ``mask`` is 1 where a value was observed.
    """
    if k < 1:
        raise ValueError(f"patch size must be >= 1, got {k}")
    C = x.shape[-1]
    n = -(-C // k)
    x = left_pad(x, n * k)
    mask = (~torch.isnan(x)).to(x.dtype)
    values = torch.nan_to_num(x, nan=0.0)
    return values.reshape(*x.shape[:-1], n, k), mask.reshape(*x.shape[:-1], n, k)


def patch_tokens(x: torch.Tensor, k: int) -> torch.Tensor:
    """``[B, n, 2k]``: each patch's values followed by its mask (the ResidualBlock's input)."""
    values, mask = patchify(x, k)
    return torch.cat([values, mask], dim=-1)
