"""Load a llama2.c checkpoint (legacy "v0" format) such as ``models/stories260K.bin``.

The file is seven int32 (dim, hidden, n_layers, n_heads, n_kv_heads, vocab, seq_len), then
float32 arrays in this order: token embedding (vocab, dim); per layer stacked: rms_att (L, dim),
wq (L, dim, dim), wk (L, kv_dim, dim), wv (L, kv_dim, dim), wo (L, dim, dim), rms_ffn (L, dim),
w1 (L, hidden, dim), w2 (L, dim, hidden), w3 (L, hidden, dim); rms_final (dim);
freq_cis_real and freq_cis_imag (seq_len, head_dim/2); then the classifier (vocab, dim) unless
``vocab`` is positive, which means it is shared with the embedding. Matrices are stored
(out, in), the layout of ``torch.nn.Linear.weight``.

stories260K is a 260K-parameter model trained by Karpathy on TinyStories with a 512-token
SentencePiece vocabulary that is not available offline; ``book/xquant.md`` therefore evaluates
it on token sequences it samples itself.
"""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import torch

from lab.datafiles import data_file
from lab.llm.model import ModelConfig, Transformer, rope_tables


def read_llama2c(path: str | Path) -> tuple[Transformer, dict]:
    """The model in ``path`` and a dict of checks: the stored RoPE tables against ours.

    Returns
    -------
    model : Transformer
        In float32, eval mode.
    info : dict
        ``header`` (the seven ints), ``shared_classifier`` and ``rope_max_err``, the largest
        difference between the file's ``freq_cis`` tables and :func:`rope_tables`: a loader
        that read the arrays at wrong offsets would not find them there.
    """
    raw = Path(path).read_bytes()
    header = struct.unpack("7i", raw[:28])
    dim, hidden, n_layers, n_heads, n_kv_heads, vocab, seq_len = header
    shared = vocab > 0
    vocab = abs(vocab)
    cfg = ModelConfig(vocab=vocab, dim=dim, n_layers=n_layers, n_heads=n_heads, n_kv_heads=n_kv_heads,
                      hidden=hidden, max_seq=seq_len, tie_embeddings=shared)
    data = np.frombuffer(raw, dtype=np.float32, offset=28)
    head_dim, kv_dim, offset = dim // n_heads, cfg.kv_dim, 0

    def take(*shape):
        nonlocal offset
        n = int(np.prod(shape))
        if offset + n > data.size:
            raise ValueError(f"{path}: file too short for the header {header}")
        out = torch.from_numpy(data[offset:offset + n].copy()).view(*shape)
        offset += n
        return out

    emb = take(vocab, dim)
    arrays = dict(rms_att=take(n_layers, dim), wq=take(n_layers, dim, dim), wk=take(n_layers, kv_dim, dim),
                  wv=take(n_layers, kv_dim, dim), wo=take(n_layers, dim, dim), rms_ffn=take(n_layers, dim),
                  w1=take(n_layers, hidden, dim), w2=take(n_layers, dim, hidden), w3=take(n_layers, hidden, dim))
    rms_final = take(dim)
    freq_real, freq_imag = take(seq_len, head_dim // 2), take(seq_len, head_dim // 2)
    wcls = emb if shared else take(vocab, dim)
    if offset != data.size:
        raise ValueError(f"{path}: {data.size - offset} float32 values left over after reading header {header}")

    model = Transformer(cfg)
    with torch.no_grad():
        model.embed.weight.copy_(emb)
        model.norm.weight.copy_(rms_final)
        if not shared:
            model.head.weight.copy_(wcls)
        for i, block in enumerate(model.blocks):
            block.attn_norm.weight.copy_(arrays["rms_att"][i])
            block.ffn_norm.weight.copy_(arrays["rms_ffn"][i])
            for name in ("wq", "wk", "wv", "wo"):
                getattr(block.attn, name).weight.copy_(arrays[name][i])
            for name in ("w1", "w2", "w3"):
                getattr(block, name).weight.copy_(arrays[name][i])
    cos, sin = rope_tables(head_dim, torch.arange(seq_len), cfg.rope_base)
    rope_err = max((cos - freq_real.double()).abs().max().item(), (sin - freq_imag.double()).abs().max().item())
    return model.eval(), dict(header=header, shared_classifier=shared, rope_max_err=rope_err)


def stories260k() -> tuple[Transformer, dict]:
    """:func:`read_llama2c` on ``models/stories260K.bin`` (GQA: 8 query heads, 4 KV heads)."""
    return read_llama2c(data_file("models/stories260K.bin"))
