"""XQuant-CL: quantize the cross-layer deltas of X against a running accumulator.

Because of the residual stream, consecutive layers' inputs are similar. For each token,

.. math::

    \\hat X^{(0)} = \\mathrm{DQ}(Q_{b_0}(X^{(0)})), \\qquad
    \\Delta^{(\\ell)} = X^{(\\ell)} - \\hat X^{(\\ell-1)}, \\qquad
    \\hat X^{(\\ell)} = \\hat X^{(\\ell-1)} + \\mathrm{DQ}(Q_b(\\Delta^{(\\ell)})),

so :math:`\\hat X^{(\\ell)} = \\hat X^{(0)} + \\sum_{j\\le\\ell}\\mathrm{DQ}(Q_b(\\Delta^{(j)}))`
(telescoping), and each layer's error is only the error of its own delta: deltas are taken
against the *quantized* accumulator, so errors do not build up across layers. At every
forward step the cache walks the layers in order, keeping the accumulator of all cached
tokens (the buffer the paper's limitations section loads), and rebuilds each layer's K, V from
it. ``source="pre"`` accumulates the residual stream (renormalised by each layer's RMSNorm
before the projections); ``"post"`` the normalised inputs themselves. The first
``base_layers`` layers are quantized directly at ``base_bits``. See ``book/xquant.md``.
"""
from __future__ import annotations

import torch

from lab.llm.kvcache import Cache
from lab.xquant.streams import TokenStream


class XQuantCLCache(Cache):
    """XQuant-CL-b with an accumulator; ``bits=None`` stores FP32 deltas (exact)."""

    def __init__(self, model, bits: int | None, group: int = 128, source: str = "pre",
                 base_layers: int = 1, base_bits: int | None = None):
        super().__init__()
        if source not in ("post", "pre"):
            raise ValueError(f"source must be 'post' or 'pre', got {source!r}")
        if base_layers < 1:
            raise ValueError("at least layer 0 must be stored directly (base_layers >= 1)")
        self.model, self.bits, self.group, self.source = model, bits, group, source
        self.base_layers = base_layers
        self.base_bits = bits if base_bits is None else base_bits
        self.deltas: dict[int, TokenStream] = {}
        self.acc: torch.Tensor | None = None  # X̂^(ℓ) of every cached token, (B, S, d)

    def update(self, layer, attn, *, x, resid, k, v, positions):
        xin = x if self.source == "post" else resid
        t = xin.shape[1]
        if layer not in self.deltas:
            direct = layer < self.base_layers
            self.deltas[layer] = TokenStream(self.base_bits if direct else self.bits, self.group)
        if layer < self.base_layers:
            self.deltas[layer].append(xin)
            self.acc = self.deltas[layer].values()
        else:
            # Δ(ℓ) = X(ℓ) − X̂(ℓ−1) for the new tokens, against the quantized accumulator
            self.deltas[layer].append(xin - self.acc[:, -t:].to(xin.dtype))
            self.acc = self.acc + self.deltas[layer].values().to(self.acc.dtype)
        xhat = self.acc.to(x.dtype)
        if self.source == "pre":
            xhat = self.model.blocks[layer].attn_norm(xhat)
        return attn.project_kv(xhat, torch.arange(xhat.shape[1], device=x.device))

    def nbytes(self) -> int:
        return sum(s.nbytes() for s in self.deltas.values())
