"""Tier presets of the XQuant chapter (``book/xquant.md``); every knob can be overridden.

book: a character-level multi-head model on tinyshakespeare (d=128, 2 layers, 4 heads) and a
word-level grouped-query model on WikiText-2 (d=128, 2 layers, 8 query / 2 KV heads, so X is
twice as wide as [K|V] like Llama-3.1-8B), each trained for about half a minute on 2 CPU cores,
plus the pretrained stories260K. full (one GPU): the same two corpora with d=384/512 and 6/8
layers, and the kernel benchmark. smoke: random-ish tiny models trained for a few steps.
"""
from __future__ import annotations

from dataclasses import dataclass

from lab.tiers import TIERS, Check, ParameterError, at_least, each, greater_than, nonempty, resolve_config


@dataclass(frozen=True)
class Config:
    scale: str = "book"
    seed: int = 0
    group: int = 128  # quantization group: channels per token, or tokens per channel
    seq: int = 128  # training and evaluation window (tokens fed to the model)
    batch: int = 16
    lr: float = 3e-3
    n_eval: int = 16  # evaluation windows per corpus
    char_dim: int = 128
    char_layers: int = 2
    char_heads: int = 4
    char_steps: int = 110
    word_dim: int = 128
    word_layers: int = 2
    word_heads: int = 8
    word_kv_heads: int = 2
    word_vocab: int = 768
    word_steps: int = 70
    stories_samples: int = 8  # sequences stories260K samples itself for its evaluation
    stories_len: int = 256  # tokens per sample (the model's context is 512)
    outlier_channels: int = 4  # channels scaled in the (function-preserving) outlier ablation
    outlier_scale: float = 10.0
    bench: bool = False  # time the dequant-matmul kernel (needs CUDA)
    bench_contexts: tuple = (8192, 16384, 32768, 65536, 131072)


_PRESETS = {
    "smoke": dict(seq=64, batch=8, n_eval=4, char_dim=64, char_layers=2, char_heads=4, char_steps=20,
                  word_dim=64, word_layers=2, word_heads=4, word_kv_heads=1, word_vocab=256, word_steps=12,
                  stories_samples=3, stories_len=128, group=64),
    "book": dict(),
    "full": dict(seq=256, batch=32, lr=1.5e-3, n_eval=64, char_dim=384, char_layers=6, char_heads=6, char_steps=1500,
                 word_dim=512, word_layers=8, word_heads=8, word_kv_heads=2, word_vocab=8192, word_steps=1500,
                 stories_samples=64, stories_len=384, bench=True),
}


#: Each knob's allowed range (checked by :func:`resolve`, so ``lab run`` stops before a run folder).
CHECKS: dict[str, Check] = {
    "seed": at_least(0), "group": at_least(1), "seq": at_least(2), "batch": at_least(1), "lr": greater_than(0),
    "n_eval": at_least(1),
    "char_dim": at_least(2), "char_layers": at_least(1), "char_heads": at_least(1), "char_steps": at_least(1),
    "word_dim": at_least(2), "word_layers": at_least(1), "word_heads": at_least(1),
    "word_kv_heads": at_least(1), "word_vocab": at_least(16), "word_steps": at_least(1),
    "stories_samples": at_least(1), "stories_len": at_least(1) & Check(lambda v: v < 512, "below the model's context 512"),
    "outlier_channels": at_least(1), "outlier_scale": greater_than(0), "bench_contexts": nonempty & each(at_least(1)),
}


def resolve(scale: str = "book", **overrides) -> Config:
    """Configuration of tier ``scale`` with every override that is not ``None`` applied.

    Raises :class:`lab.tiers.ParameterError` for a knob out of its range (:data:`CHECKS`).
    """
    cfg = resolve_config(Config, _PRESETS, scale, overrides, checks=CHECKS)
    if cfg.word_heads % cfg.word_kv_heads:
        raise ParameterError("word_kv_heads", cfg.word_kv_heads, f"a divisor of word_heads = {cfg.word_heads}")
    for name, dim, heads in (("char_heads", cfg.char_dim, cfg.char_heads), ("word_heads", cfg.word_dim, cfg.word_heads)):
        if dim % heads or (dim // heads) % 2:
            raise ParameterError(name, heads, f"a divisor of the model width {dim} leaving an even head width (RoPE)")
    # groups are min(group, width) channels of every stored width: the two models' X and K/V, and
    # stories260K's (dim 64, 8 heads, 4 KV heads: X 64 wide, K and V 32 wide)
    widths = {cfg.char_dim, cfg.word_dim, cfg.word_dim // cfg.word_heads * cfg.word_kv_heads, 64, 32}
    bad = sorted(w for w in widths if w % min(cfg.group, w))
    if bad:
        raise ParameterError("group", cfg.group, f"a size whose min(group, width) divides every stored width "
                                                 f"{sorted(widths)} (fails for {bad}), e.g. a power of two")
    return cfg
