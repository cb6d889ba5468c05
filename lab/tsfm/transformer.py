"""A pre-norm transformer encoder whose attention weights can be read back (for entropy/locality)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Block(nn.Module):
    """``h + Attn(LN h)``, then ``h + FF(LN h)``; ``attn_weights`` keeps the last weights when asked."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int):
        super().__init__()
        self.n_heads = n_heads
        self.ln1, self.ln2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.ff = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))
        self.keep_weights = False
        self.attn_weights: torch.Tensor | None = None

    def forward(self, h: torch.Tensor, causal: bool) -> torch.Tensor:
        B, T, D = h.shape
        q, k, v = self.qkv(self.ln1(h)).view(B, T, 3, self.n_heads, D // self.n_heads).permute(2, 0, 3, 1, 4)
        if self.keep_weights:
            scores = q @ k.transpose(-1, -2) / (D // self.n_heads) ** 0.5
            if causal:
                scores = scores.masked_fill(torch.ones(T, T, dtype=torch.bool, device=h.device).triu(1), float("-inf"))
            w = scores.softmax(-1)
            self.attn_weights = w.detach()
            a = w @ v
        else:
            a = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        h = h + self.proj(a.transpose(1, 2).reshape(B, T, D))
        return h + self.ff(self.ln2(h))


class Encoder(nn.Module):
    def __init__(self, d_model: int, n_layers: int, n_heads: int, d_ff: int):
        super().__init__()
        self.blocks = nn.ModuleList(Block(d_model, n_heads, d_ff) for _ in range(n_layers))
        self.norm = nn.LayerNorm(d_model)

    def forward(self, h: torch.Tensor, causal: bool = False) -> torch.Tensor:
        for block in self.blocks:
            h = block(h, causal)
        return self.norm(h)
