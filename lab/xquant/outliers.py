"""A function-preserving outlier ablation: give K and V a few large channels, keep X and the output.

Real LLMs have a few key and value channels far larger than the rest; tiny models trained for a
minute may not. Scaling channel pair :math:`(2i, 2i+1)` of a key head by :math:`\\alpha` and the
same pair of every query head that reads it by :math:`1/\\alpha` leaves :math:`q\\cdot k` unchanged
(RoPE rotates each pair, and rotation commutes with scaling a pair). Scaling value channel
:math:`c` by :math:`\\alpha` and column :math:`c` of :math:`W_o` by :math:`1/\\alpha` leaves the
output unchanged. The model computes the same function in exact arithmetic, X is untouched, and
only K and V gain outlier channels. This is a synthetic ablation, labelled as such in
``book/xquant.md``.
"""
from __future__ import annotations

import copy

import torch


@torch.no_grad()
def with_kv_outliers(model, n_channels: int, scale: float, generator: torch.Generator):
    """A copy of ``model`` whose K and V have ``n_channels`` channels (pairs, for K) scaled by ``scale``."""
    out = copy.deepcopy(model)
    cfg = out.cfg
    group = cfg.n_heads // cfg.kv_heads
    for block in out.blocks:
        attn = block.attn
        pairs = torch.randperm(cfg.kv_dim // 2, generator=generator)[:n_channels]
        for p in pairs.tolist():
            rows = [2 * p, 2 * p + 1]
            attn.wk.weight[rows] *= scale
            head, offset = divmod(2 * p, cfg.head_dim)
            for h in range(head * group, (head + 1) * group):  # query heads that read this KV head
                attn.wq.weight[[h * cfg.head_dim + offset, h * cfg.head_dim + offset + 1]] /= scale
        for c in torch.randperm(cfg.kv_dim, generator=generator)[:n_channels].tolist():
            attn.wv.weight[c] *= scale
            head, offset = divmod(c, cfg.head_dim)
            cols = [h * cfg.head_dim + offset for h in range(head * group, (head + 1) * group)]
            attn.wo.weight[:, cols] /= scale
    return out
