"""The latent Transformer of FLEX and the U-ViT baseline (``book/flex.md``).

Pre-LayerNorm blocks with scaled-dot-product attention and a GELU-tanh MLP. A block built
with ``skip=True`` first merges a long (U-ViT) skip connection, ``x ← W[x, skip]``, a linear map
of the concatenation. In FLEX every pixel of the bottleneck is a token (patch size 1) and one
conditioning token is prepended.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class Attention(nn.Module):
    """Multi-head self-attention ``softmax(QKᵀ/√d) V`` on ``[B, L, D]`` tokens."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.0):
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} is not divisible by {heads} heads")
        self.heads, self.dropout = heads, dropout
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, length, dim = x.shape
        q, k, v = self.qkv(x).reshape(b, length, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        return self.proj(out.transpose(1, 2).reshape(b, length, dim))


class TransformerBlock(nn.Module):
    """``x ← x + Attn(LN x)``, ``x ← x + MLP(LN x)``; with ``skip``, ``x ← W[x, skip]`` first."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 2.0, dropout: float = 0.0, skip: bool = False):
        super().__init__()
        self.skip = nn.Linear(2 * dim, dim) if skip else None
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads, dropout)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(approximate="tanh"), nn.Dropout(dropout),
                                 nn.Linear(hidden, dim), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        if self.skip is not None:
            if skip is None:
                raise ValueError("this block merges a long skip connection; pass skip=")
            x = self.skip(torch.cat([x, skip], dim=-1))
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class UViTStack(nn.Module):
    """``depth//2`` blocks whose outputs are kept, one middle block, ``depth//2`` blocks that
    merge them back in reverse order (U-ViT long skips). Input and output ``[B, L, D]``."""

    def __init__(self, dim: int, depth: int, heads: int, mlp_ratio: float = 2.0, dropout: float = 0.0):
        super().__init__()
        self.down = nn.ModuleList(TransformerBlock(dim, heads, mlp_ratio, dropout) for _ in range(depth // 2))
        self.mid = TransformerBlock(dim, heads, mlp_ratio, dropout)
        self.up = nn.ModuleList(TransformerBlock(dim, heads, mlp_ratio, dropout, skip=True) for _ in range(depth // 2))
        self.norm = nn.LayerNorm(dim)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
        return self.mid(x), skips

    def decode(self, x: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
        for block in self.up:
            x = block(x, skips.pop())
        return self.norm(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, skips = self.encode(x)
        return self.decode(x, skips)
