"""The caches compared in ``book/xquant.md``, as :class:`lab.llm.kvcache.Cache` subclasses.

* :class:`KIVICache` (KIVI*-b): keys per channel (groups of ``group`` tokens, an FP16 tail of
  the last ``< group`` tokens), values per token; no full-precision recent window beyond that.
* :class:`XQuantCache` (XQuant-b): caches the quantized layer input :math:`X` and, at every step,
  rebuilds :math:`K = \\mathrm{RoPE}(\\hat X W_k)` and :math:`V = \\hat X W_v` for all cached
  tokens. ``source="post"`` caches the normalised input (the paper's :math:`X`); ``"pre"`` the
  residual stream, renormalised by the layer's RMSNorm before the projections.
* :class:`LatentCache` (XQuant for GQA, the paper's §3.3): offline thin SVDs
  :math:`W_k = U_k\\Sigma_kB_k^\\top`, :math:`W_v = U_v\\Sigma_vB_v^\\top`; caches the latents
  :math:`XU_k` (per channel) and :math:`XU_v` (per token) and rebuilds
  :math:`K = (XU_k)\\Sigma_kB_k^\\top`, :math:`V = (XU_v)\\Sigma_vB_v^\\top`.

Cross-layer XQuant-CL is in :mod:`lab.xquant.crosslayer`. ``bits=None`` stores FP32 (exact).
"""
from __future__ import annotations

import torch

from lab.llm.kvcache import Cache
from lab.xquant.streams import ChannelStream, TokenStream


class KIVICache(Cache):
    """KIVI*-b: keys (after RoPE) per channel, values per token, ``group`` = 128 by default."""

    def __init__(self, bits: int, group: int = 128):
        super().__init__()
        self.bits, self.group = bits, group
        self.keys: dict[int, ChannelStream] = {}
        self.vals: dict[int, TokenStream] = {}

    def update(self, layer, attn, *, x, resid, k, v, positions):
        if layer not in self.keys:
            self.keys[layer] = ChannelStream(self.bits, self.group)
            self.vals[layer] = TokenStream(self.bits, self.group)
        self.keys[layer].append(k)
        self.vals[layer].append(v)
        return self.keys[layer].values().to(k.dtype), self.vals[layer].values().to(v.dtype)

    def tail_tokens(self) -> int:
        return max((s.tail_tokens() for s in self.keys.values()), default=0)

    def nbytes(self) -> int:
        return sum(s.nbytes() for s in (*self.keys.values(), *self.vals.values()))


class XQuantCache(Cache):
    """XQuant-b: cache quantized X per token (groups of ``group`` channels); rebuild K, V each step."""

    def __init__(self, model, bits: int | None, group: int = 128, source: str = "post"):
        super().__init__()
        if source not in ("post", "pre"):
            raise ValueError(f"source must be 'post' (normalised X) or 'pre' (residual stream), got {source!r}")
        self.model, self.bits, self.group, self.source = model, bits, group, source
        self.xs: dict[int, TokenStream] = {}

    def update(self, layer, attn, *, x, resid, k, v, positions):
        stream = self.xs.setdefault(layer, TokenStream(self.bits, self.group))
        stream.append(x if self.source == "post" else resid)
        xhat = stream.values().to(x.dtype)
        if self.source == "pre":
            xhat = self.model.blocks[layer].attn_norm(xhat)
        # rematerialize: K = RoPE(X̂ W_k) at the original positions 0..S-1, V = X̂ W_v
        return attn.project_kv(xhat, torch.arange(xhat.shape[1], device=x.device))

    def nbytes(self) -> int:
        return sum(s.nbytes() for s in self.xs.values())


def svd_factors(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For a projection ``k = x @ weight.T`` (weight (d_kv, d)), the thin SVD split ``(U, ΣBᵀ)``.

    With :math:`W = \\text{weight}^\\top = U\\Sigma B^\\top`, :math:`U` is (d, d_kv) with
    orthonormal columns and :math:`xW = (xU)(\\Sigma B^\\top)` exactly, since :math:`W = UU^\\top W`.
    Computed in float64.
    """
    u, s, bt = torch.linalg.svd(weight.detach().T.double(), full_matrices=False)
    return u.to(weight.dtype), (s[:, None] * bt).to(weight.dtype)


class LatentCache(Cache):
    """XQuant for GQA: cache quantized latents :math:`XU_k`, :math:`XU_v` of width :math:`d_{kv}`.

    ``key_axis`` chooses the keys' latent quantization: ``"channel"`` (groups along tokens, the
    default, as keys in KIVI*) or ``"token"``; values' latent is always per token.
    """

    def __init__(self, model, bits: int | None, group: int = 128, key_axis: str = "channel"):
        super().__init__()
        if key_axis not in ("channel", "token"):
            raise ValueError(f"key_axis must be 'channel' or 'token', got {key_axis!r}")
        self.bits, self.group, self.key_axis = bits, group, key_axis
        self.factors = [(svd_factors(b.attn.wk.weight), svd_factors(b.attn.wv.weight)) for b in model.blocks]
        self.lk: dict[int, ChannelStream | TokenStream] = {}
        self.lv: dict[int, TokenStream] = {}

    def update(self, layer, attn, *, x, resid, k, v, positions):
        (uk, sbk), (uv, sbv) = self.factors[layer]
        if layer not in self.lk:
            per_channel = self.key_axis == "channel" and self.bits is not None
            self.lk[layer] = ChannelStream(self.bits, self.group) if per_channel else TokenStream(self.bits, self.group)
            self.lv[layer] = TokenStream(self.bits, self.group)
        self.lk[layer].append(x @ uk)
        self.lv[layer].append(x @ uv)
        lat_k, lat_v = self.lk[layer].values().to(x.dtype), self.lv[layer].values().to(x.dtype)
        positions_all = torch.arange(lat_k.shape[1], device=x.device)
        # rematerialize from the latents: K = RoPE((X U_k) Σ_k B_kᵀ), V = (X U_v) Σ_v B_vᵀ
        return attn.rope(lat_k @ sbk, positions_all), lat_v @ sbv

    def nbytes(self) -> int:
        return sum(s.nbytes() for s in (*self.lk.values(), *self.lv.values()))
