"""The per-layer cache interface of :class:`lab.llm.model.Transformer`, and the plain KV cache.

A cache is one object per batch of sequences, spanning all layers. Each attention layer calls

``K, V = cache.update(layer, attn, x=..., resid=..., k=..., v=..., positions=...)``

with, for the ``T`` new tokens: ``x`` the normalised input of the Q/K/V projections (B, T, dim),
``resid`` the residual-stream input of the block (B, T, dim), ``k`` (after RoPE) and ``v``
(B, T, kv_dim), and their ``positions``. It returns the keys (after RoPE) and values of *all*
``S`` cached tokens, new ones included, shape (B, S, kv_dim). ``attn`` gives access to the
layer's weights (``attn.wk``, ``attn.wv``, ``attn.project_kv``, ``attn.rope``), so a cache that
stores something other than K and V can rebuild them. After the last layer the model calls
``advance(T)``. ``nbytes()`` is the storage the cache holds, in bytes.

Chapters subclass :class:`Cache` (quantized KV, quantized X, cross-layer deltas, ...); see
``lab/xquant/caches.py`` and ``book/xquant.md``.
"""
from __future__ import annotations

import torch


class Cache:
    """Base class: tracks the number of cached tokens; subclasses implement :meth:`update`."""

    def __init__(self):
        self.length = 0

    def update(self, layer: int, attn, *, x, resid, k, v, positions) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def attend(self, layer: int, attn, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, positions) -> torch.Tensor | None:
        """Optionally compute the attention output itself (B, H, T, head_dim); ``None``: the model's exact attention.

        ``q`` (B, H, T, head_dim) after RoPE, ``k``, ``v`` (B, H_kv, S, head_dim) as :meth:`update`
        returned them. Multipole Attention (``lab/multipole_attention/cache.py``) overrides it.
        """
        return None

    def advance(self, t: int) -> None:
        self.length += t

    def nbytes(self) -> int:
        raise NotImplementedError


class KVCache(Cache):
    """The standard cache: keys (after RoPE) and values, stored in ``dtype`` (FP16 by default).

    Stored keys and values are rounded to ``dtype`` and returned in the model's dtype; with
    ``dtype=None`` they are kept exactly, so decoding equals the full forward pass.
    """

    def __init__(self, dtype: torch.dtype | None = torch.float16):
        super().__init__()
        self.dtype = dtype
        self.k: dict[int, torch.Tensor] = {}
        self.v: dict[int, torch.Tensor] = {}

    def update(self, layer, attn, *, x, resid, k, v, positions):
        store = (lambda t: t.to(self.dtype)) if self.dtype is not None else (lambda t: t)
        if layer in self.k:
            self.k[layer] = torch.cat((self.k[layer], store(k)), dim=1)
            self.v[layer] = torch.cat((self.v[layer], store(v)), dim=1)
        else:
            self.k[layer], self.v[layer] = store(k), store(v)
        return self.k[layer].to(k.dtype), self.v[layer].to(v.dtype)

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (*self.k.values(), *self.v.values()))
