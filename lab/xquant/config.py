"""Tier presets of the XQuant chapter (``book/xquant.md``); every knob can be overridden.

book: a character-level multi-head model on tinyshakespeare (d=128, 2 layers, 4 heads) and a
word-level grouped-query model on WikiText-2 (d=128, 2 layers, 8 query / 2 KV heads, so X is
twice as wide as [K|V] like Llama-3.1-8B), each trained for about half a minute on 2 CPU cores,
plus the pretrained stories260K. full (one GPU): the same two corpora with d=384/512 and 6/8
layers, and the kernel benchmark. smoke: random-ish tiny models trained for a few steps.
"""
from __future__ import annotations

from dataclasses import dataclass

from lab.tiers import TIERS, resolve_config


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


def resolve(scale: str = "book", **overrides) -> Config:
    """Configuration of tier ``scale`` with every override that is not ``None`` applied."""
    return resolve_config(Config, _PRESETS, scale, overrides)
