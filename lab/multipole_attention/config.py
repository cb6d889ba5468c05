"""Tier presets of the Multipole Attention chapter (``book/multipole_attention.md``).

smoke: N = 1024 synthetic keys, D = 16, stories260K on two short samples.
book: N = 4096 and 16384 synthetic keys, D = 64, 2 KV heads with GQA 4, 6.25% centroids,
budgets 64..1024, the reference layout (sink 10, I = 128); the pretrained stories260K decoding
16 of its own 512-token samples, with I scaled to 32. full (one GPU):
the kernel benchmark at 16K–128K context plus the same studies at larger sizes (`lab gpu --list` says whether its run is committed).
"""
from __future__ import annotations

from dataclasses import dataclass

from lab.tiers import at_least, between, each, nonempty, one_of, resolve_config, strictly_increasing

CHOICES = ("multipole", "lookup", "hierarchical", "oracle", "quest")


@dataclass(frozen=True)
class Config:
    scale: str = "book"
    seed: int = 0
    n_seeds: int = 3  # seeds of the synthetic sweep (an ordering needs ≥ 3)
    # attention-level study on synthetic keys
    contexts: tuple = (4096, 16384)
    head_dim: int = 64
    kv_heads: int = 2
    group: int = 4  # query heads per KV head (GQA)
    n_queries: int = 16
    sink: int = 10
    interval: int = 128
    centroid_fraction: float = 0.0625
    block: int = 8192
    budgets: tuple = (64, 128, 256, 512, 1024)
    identity_n: int = 1024
    # online update against full re-clustering
    stream_start: int = 2048
    stream_steps: int = 8
    stream_block: int = 1024
    stream_budget: int = 128
    stream_drift: float = 1.0
    kmeans_bench_heads: int = 1  # heads of the online-update timing (the reference benchmark uses 8)
    # the trained model: stories260K (pretrained, GQA 8 query / 4 KV heads, head_dim 8, 512 tokens)
    n_text: int = 16  # sequences the model samples itself
    text_len: int = 512
    prefix: int = 384  # tokens prefilled (exact); the rest is decoded through each cache
    model_interval: int = 32  # I for the model: its context is 512 tokens
    lookup_position: int = 256  # windowed-RoPE lookup position, inside the model's trained range
    model_budgets: tuple = (32, 48, 128)
    model_methods: tuple = ("multipole", "lookup", "oracle", "quest")
    bench: bool = False  # run the GPU kernel benchmark (needs CUDA)
    bench_contexts: tuple = (16384, 32768, 65536, 131072)


_PRESETS = {
    "smoke": dict(n_seeds=3, contexts=(1024,), head_dim=16, kv_heads=2, group=2, n_queries=8, budgets=(16, 32, 64, 128, 256),
                  identity_n=512, stream_start=512, stream_steps=3, stream_block=256, stream_budget=32,
                  n_text=2, text_len=160, prefix=96, model_interval=16, lookup_position=64, model_budgets=(4, 8, 16)),
    "book": dict(),
    "full": dict(n_seeds=5, contexts=(16384, 65536), head_dim=128, kv_heads=8, group=4, block=8192,
                 budgets=(256, 512, 1024, 2048, 4096), stream_start=8192, stream_steps=16, stream_block=8192,
                 kmeans_bench_heads=8, n_text=64, bench=True),
}

CHECKS = {
    "n_seeds": at_least(1),
    "contexts": nonempty & each(at_least(64)),
    "head_dim": one_of(16, 32, 64, 128, 256),
    "kv_heads": at_least(1),
    "group": at_least(1),
    "n_queries": at_least(1),
    "sink": at_least(0),
    "interval": at_least(1),
    "centroid_fraction": between(0, 1, open_lo=True),
    "block": at_least(16),
    "budgets": nonempty & each(at_least(1)) & strictly_increasing,
    "identity_n": at_least(64),
    "stream_steps": at_least(1),
    "stream_budget": at_least(1),
    "kmeans_bench_heads": at_least(1),
    "model_budgets": nonempty & each(at_least(1)) & strictly_increasing,
    "model_methods": nonempty & each(one_of(*CHOICES)),
    "n_text": at_least(1),
    "text_len": between(32, 512),
    "prefix": at_least(16),
    "model_interval": at_least(1),
}


def resolve(scale: str = "book", **overrides) -> Config:
    """Configuration of tier ``scale`` with every override that is not ``None`` applied.

    Raises :class:`lab.tiers.ParameterError` for a knob out of range (a budget of 0, say), and
    ``ValueError`` when a budget exceeds the context it is applied to.
    """
    cfg = resolve_config(Config, _PRESETS, scale, overrides, CHECKS)
    from lab.tiers import ParameterError

    if max(cfg.budgets) > min(cfg.contexts):
        raise ParameterError("budgets", list(cfg.budgets), f"budgets ≤ the smallest context {min(cfg.contexts)}")
    if cfg.prefix >= cfg.text_len:
        raise ParameterError("prefix", cfg.prefix, f"fewer than text_len = {cfg.text_len} tokens")
    if max(cfg.model_budgets) > cfg.text_len:
        raise ParameterError("model_budgets", list(cfg.model_budgets), f"budgets ≤ the model's context {cfg.text_len}")
    return cfg
