"""A small Llama-style decoder with a replaceable per-layer cache and activation hooks.

The architecture is Llama's (and llama2.c's): pre-norm blocks with RMSNorm, rotary position
embeddings (RoPE) on adjacent channel pairs, multi-head or grouped-query attention and a
SwiGLU feed-forward. Block :math:`\\ell` computes

.. math::

    r' = r + W_o\\,\\mathrm{Attn}(XW_q, XW_k, XW_v), \\qquad X = \\mathrm{RMSNorm}_\\ell(r),
    \\qquad r'' = r' + W_2\\big(\\mathrm{silu}(W_1 \\tilde X) \\odot W_3 \\tilde X\\big),

with :math:`r` the residual stream entering the block (the "pre-norm" input) and :math:`X` the
normalised input of the Q/K/V projections (the "post-norm" input). Every attention layer hands
its new keys and values, and both inputs, to a :class:`lab.llm.kvcache.Cache`, which returns
the keys and values to attend over; a method (quantized KV, quantized X, ...) replaces the
cache, not the model. See ``book/xquant.md``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class ModelConfig:
    """Shape of a decoder. ``n_kv_heads < n_heads`` gives grouped-query attention (GQA)."""

    vocab: int
    dim: int = 128
    n_layers: int = 4
    n_heads: int = 4
    n_kv_heads: int | None = None  # None: multi-head attention (n_kv_heads = n_heads)
    hidden: int | None = None  # SwiGLU width; None: Llama's rounding of 8 dim / 3 up to 16
    max_seq: int = 512
    rope_base: float = 10000.0
    norm_eps: float = 1e-5
    tie_embeddings: bool = False

    def __post_init__(self):
        kv = self.kv_heads
        if self.dim % self.n_heads or self.n_heads % kv or self.head_dim % 2:
            raise ValueError(f"dim {self.dim}, n_heads {self.n_heads}, n_kv_heads {kv}: need dim divisible "
                             "by n_heads, n_heads by n_kv_heads, and an even head_dim")

    @property
    def kv_heads(self) -> int:
        return self.n_kv_heads or self.n_heads

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads

    @property
    def kv_dim(self) -> int:
        """Width of K (and of V) per token: n_kv_heads * head_dim."""
        return self.kv_heads * self.head_dim

    @property
    def ffn_hidden(self) -> int:
        return self.hidden or 16 * math.ceil(8 * self.dim / 3 / 16)


class RMSNorm(nn.Module):
    """:math:`x / \\sqrt{\\mathrm{mean}(x^2) + \\epsilon} \\odot g`, over the last dimension."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps, self.weight = eps, nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_tables(head_dim: int, positions: torch.Tensor, base: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of the angles :math:`p\\,\\theta_i`, :math:`\\theta_i = \\mathrm{base}^{-2i/d_h}`, shape (T, d_h/2)."""
    theta = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64, device=positions.device) / head_dim)
    angle = positions.to(torch.float64)[:, None] * theta[None, :]
    return torch.cos(angle), torch.sin(angle)


def apply_rope(x: torch.Tensor, positions: torch.Tensor, head_dim: int, base: float) -> torch.Tensor:
    """Rotate adjacent channel pairs :math:`(x_{2i}, x_{2i+1})` of every head by :math:`p\\,\\theta_i`.

    ``x`` has shape (B, T, n * head_dim) with heads contiguous (llama2.c's convention).
    """
    b, t, width = x.shape
    cos, sin = (c.to(x.dtype) for c in rope_tables(head_dim, positions, base))
    pairs = x.reshape(b, t, width // head_dim, head_dim // 2, 2)
    even, odd = pairs[..., 0], pairs[..., 1]
    cos, sin = cos[None, :, None, :], sin[None, :, None, :]
    rotated = torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1)
    return rotated.reshape(b, t, width)


class Attention(nn.Module):
    """Causal multi-head / grouped-query attention whose keys and values go through a cache."""

    def __init__(self, cfg: ModelConfig, layer: int):
        super().__init__()
        self.cfg, self.layer = cfg, layer
        self.wq = nn.Linear(cfg.dim, cfg.dim, bias=False)
        self.wk = nn.Linear(cfg.dim, cfg.kv_dim, bias=False)
        self.wv = nn.Linear(cfg.dim, cfg.kv_dim, bias=False)
        self.wo = nn.Linear(cfg.dim, cfg.dim, bias=False)

    def rope(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        return apply_rope(x, positions, self.cfg.head_dim, self.cfg.rope_base)

    def project_kv(self, x: torch.Tensor, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """:math:`K = \\mathrm{RoPE}(XW_k)` and :math:`V = XW_v` for normalised inputs ``x`` (B, T, dim)."""
        return self.rope(self.wk(x), positions), self.wv(x)

    def forward(self, x, resid, positions, cache=None):
        b, t, _ = x.shape
        cfg = self.cfg
        q = self.rope(self.wq(x), positions)
        k, v = self.project_kv(x, positions)
        if cache is not None:
            k, v = cache.update(self.layer, self, x=x, resid=resid, k=k, v=v, positions=positions)
        s = k.shape[1]
        q = q.view(b, t, cfg.n_heads, cfg.head_dim).transpose(1, 2)
        k = k.reshape(b, s, cfg.kv_heads, cfg.head_dim).transpose(1, 2)
        v = v.reshape(b, s, cfg.kv_heads, cfg.head_dim).transpose(1, 2)
        attend = getattr(cache, "attend", None)
        out = attend(self.layer, self, q, k, v, positions) if attend is not None else None
        if out is not None:  # the cache computed attention itself (sparse / approximate decoding)
            return self.wo(out.transpose(1, 2).reshape(b, t, cfg.dim))
        group = cfg.n_heads // cfg.kv_heads
        if group > 1:  # query head h reads KV head h // group, as in llama2.c
            k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
        if s == t:
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:  # t new queries at positions s - t .. s - 1 over s keys
            mask = torch.arange(s, device=x.device)[None, :] <= (s - t + torch.arange(t, device=x.device))[:, None]
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.wo(out.transpose(1, 2).reshape(b, t, cfg.dim))


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig, layer: int):
        super().__init__()
        self.attn_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.attn = Attention(cfg, layer)
        self.ffn_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.w1 = nn.Linear(cfg.dim, cfg.ffn_hidden, bias=False)
        self.w2 = nn.Linear(cfg.ffn_hidden, cfg.dim, bias=False)
        self.w3 = nn.Linear(cfg.dim, cfg.ffn_hidden, bias=False)

    def forward(self, r, positions, cache=None, hook=None):
        x = self.attn_norm(r)
        if hook is not None:
            hook(self.attn.layer, r, x)
        r = r + self.attn(x, r, positions, cache)
        h = self.ffn_norm(r)
        return r + self.w2(F.silu(self.w1(h)) * self.w3(h))


Hook = Callable[[int, torch.Tensor, torch.Tensor], None]


class Transformer(nn.Module):
    """The decoder; ``forward(tokens, cache, hook)`` returns logits (B, T, vocab).

    With a cache, ``tokens`` continue the sequence the cache holds (positions start at
    ``cache.length``) and the cache grows by ``T``. ``hook(layer, resid, x)`` sees each layer's
    residual-stream input and its normalised input to the Q/K/V projections.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab, cfg.dim)
        self.blocks = nn.ModuleList(Block(cfg, i) for i in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.head = nn.Linear(cfg.dim, cfg.vocab, bias=False)
        if cfg.tie_embeddings:
            self.head.weight = self.embed.weight

    def init_weights(self, generator: torch.Generator) -> "Transformer":
        """GPT-2 style: N(0, 0.02), output projections scaled by 1/sqrt(2 n_layers), unit norms."""
        for name, p in self.named_parameters():
            if p.dim() == 1:
                nn.init.ones_(p)
            else:
                std = 0.02 / math.sqrt(2 * self.cfg.n_layers) if name.endswith(("wo.weight", "w2.weight")) else 0.02
                with torch.no_grad():
                    p.copy_(torch.randn(p.shape, generator=generator) * std)
        return self

    def forward(self, tokens: torch.Tensor, cache=None, hook: Hook | None = None) -> torch.Tensor:
        start = cache.length if cache is not None else 0
        t = tokens.shape[1]
        if start + t > self.cfg.max_seq:
            raise ValueError(f"sequence of {start + t} tokens exceeds max_seq={self.cfg.max_seq}")
        positions = torch.arange(start, start + t, device=tokens.device)
        r = self.embed(tokens)
        for block in self.blocks:
            r = block(r, positions, cache, hook)
        if cache is not None:
            cache.advance(t)
        return self.head(self.norm(r))
