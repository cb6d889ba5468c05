"""The grid of cache methods: how to build each one and what it costs, by the accountant.

A :class:`Method` names a family and a bit-width; ``make(model)`` builds a fresh cache and
``streams(cfg)`` lists what it stores per token and layer, ``(width, bits, group)``, for
:func:`lab.quant.accounting.memory_ratio`. Group sizes follow the dossier: ``g = min(group,
width)`` along channels, ``group`` tokens along tokens. See ``book/xquant.md``.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from lab.llm.kvcache import KVCache
from lab.llm.model import ModelConfig
from lab.quant.accounting import memory_ratio
from lab.xquant.caches import KIVICache, LatentCache, XQuantCache
from lab.xquant.crosslayer import XQuantCLCache

FAMILIES = {
    "fp16": "FP16 KV cache",
    "kivi": "KIVI* (keys per channel, values per token)",
    "xquant": "XQuant (cache X, rebuild K and V)",
    "cl-pre": "XQuant-CL, deltas of the residual stream",
    "cl-post": "XQuant-CL, deltas of the normalised X",
    "latent-ch": "XQuant-GQA latents, keys per channel",
    "latent-tok": "XQuant-GQA latents, keys per token",
}


@dataclass(frozen=True)
class Method:
    family: str
    bits: int | None = None
    group: int = 128

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise ValueError(f"unknown method family {self.family!r}; choose from {', '.join(FAMILIES)}")

    @property
    def name(self) -> str:
        label = {"fp16": "FP16", "kivi": "KIVI*", "xquant": "XQuant", "cl-pre": "XQuant-CL(pre)",
                 "cl-post": "XQuant-CL(post)", "latent-ch": "XQuant-lat(ch)", "latent-tok": "XQuant-lat(tok)"}
        return label[self.family] + ("" if self.bits is None else f"-{self.bits}b")

    def make(self, model):
        f, b, g = self.family, self.bits, self.group
        if f == "fp16":
            return KVCache()
        if f == "kivi":
            return KIVICache(b, g)
        if f == "xquant":
            return XQuantCache(model, b, g)
        if f in ("cl-pre", "cl-post"):
            return XQuantCLCache(model, b, g, source=f[3:])
        return LatentCache(model, b, g, key_axis="channel" if f == "latent-ch" else "token")

    def streams(self, cfg: ModelConfig) -> list[tuple[int, int, int | None]]:
        d, kv, b, g = cfg.dim, cfg.kv_dim, self.bits, self.group
        if self.family == "fp16":
            return [(kv, 16, None), (kv, 16, None)]
        if self.family in ("kivi", "latent-ch"):
            return [(kv, b, g), (kv, b, min(g, kv))]
        if self.family == "latent-tok":
            return [(kv, b, min(g, kv)), (kv, b, min(g, kv))]
        return [(d, b, min(g, d))]  # X (XQuant, XQuant-CL at equal bits in every layer)

    def memory(self, cfg: ModelConfig) -> Fraction:
        """Memory relative to an FP16 KV cache of the same model (exact)."""
        return memory_ratio(self.streams(cfg), cfg.kv_dim)


def grid(mha: bool, bits_kivi=(4, 3, 2), bits_x=(8, 4, 3, 2), bits_cl=(4, 3, 2), group: int = 128) -> list[Method]:
    """The chapter's grid: FP16, KIVI*, XQuant, both XQuant-CL variants and, for GQA, the latents."""
    methods = [Method("fp16", group=group)]
    methods += [Method("kivi", b, group) for b in bits_kivi]
    methods += [Method("xquant", b, group) for b in bits_x]
    methods += [Method(f, b, group) for f in ("cl-pre", "cl-post") for b in bits_cl]
    if not mha:
        methods += [Method(f, b, group) for f in ("latent-ch", "latent-tok") for b in bits_kivi]
    return methods
