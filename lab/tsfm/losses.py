"""The three training losses, on scaled targets with a mask for missing ones.

- ``quantile`` (Chronos-Bolt): ``Σ_τ mean_{b,h} 2|(y - q̂_τ)(1{y ≤ q̂_τ} - τ)|`` = ``2 Σ_τ mean ρ_τ``,
  computed with :func:`kernels.quantile_loss.quantile_loss` (the masked mean of ``ρ_τ`` over steps
  and levels), times ``2Q``;
- ``l2`` (TimesFM): ``mean (ŷ - y)²``;
- ``ce`` (Chronos): cross-entropy of the target's bin under the predicted distribution over bins.

:func:`window_loss` cuts a window ``[B, C+H]`` into context and target and applies the model's
loss in direct or autoregressive (teacher-forced, next-patch) form. See ``book/tsfm_biases.md``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from kernels.quantile_loss import quantile_loss

from .scaling import Quantizer


def pinball_loss(q: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, taus) -> torch.Tensor:
    """Bolt's loss: ``2 Σ_τ`` (masked mean over steps of ``ρ_τ(y - q̂_τ)``); ``q [..., Q]``, ``y, mask [...]``."""
    y = torch.where(mask > 0, y, torch.zeros_like(y))
    return 2 * q.shape[-1] * quantile_loss(q, y, mask.to(q.dtype), taus)


def l2_loss(pred: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Masked mean squared error."""
    y = torch.where(mask > 0, y, torch.zeros_like(y))
    return ((pred - y).pow(2) * mask).sum() / mask.sum().clamp_min(1)


def ce_loss(logits: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, quantizer: Quantizer) -> torch.Tensor:
    """Masked mean cross-entropy of the targets' bins; ``logits [..., n_bins]``."""
    keep = mask > 0
    if not keep.any():
        return logits.sum() * 0
    return F.cross_entropy(logits[keep], quantizer.quantize(y[keep]))


def head_loss(model, out: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    cfg = model.cfg
    if cfg.loss == "quantile":
        return pinball_loss(out, y, mask, cfg.quantiles)
    if cfg.loss == "l2":
        return l2_loss(out[..., 0], y, mask)
    return ce_loss(out, y, mask, model.quantizer)


def window_loss(model, window: torch.Tensor) -> torch.Tensor:
    """The model's training loss on windows ``[B, C+H]`` (NaN = missing), scaled by the context."""
    cfg = model.cfg
    C = cfg.context
    xs, loc, scale = model.scale(window[:, :C])
    ys = (window[:, C:] - loc) / scale
    if cfg.decoding == "direct":
        out = model.outputs(xs)
        return head_loss(model, out, ys, (~torch.isnan(ys)).float())
    k = cfg.patch
    full = torch.cat([xs, ys], dim=1)
    out = model.outputs(full[:, :-k])  # [B, n-1, k, n_out], entry j predicts patch j+1
    target = full[:, k:].reshape(full.shape[0], -1, k)
    return head_loss(model, out, target, (~torch.isnan(target)).float())
