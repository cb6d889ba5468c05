"""A small Llama-style decoder shared by the LLM-inference chapters (XQuant, Multipole Attention, ETS).

* :mod:`lab.llm.model`: :class:`ModelConfig` and :class:`Transformer` (RMSNorm, RoPE, SwiGLU,
  MHA or GQA); ``forward(tokens, cache=None, hook=None)``.
* :mod:`lab.llm.kvcache`: the cache interface a method replaces (:class:`Cache`) and the plain
  :class:`KVCache`. Decoding token by token through a cache gives the full forward's logits.
* :mod:`lab.llm.train`: :class:`TrainSpec` and :func:`trained`, seeded training cached under
  ``$LAB_CACHE_DIR/llm`` (default ``~/.cache/labbook/llm``) by a hash of the spec.
* :mod:`lab.llm.corpora`: tinyshakespeare (characters) and WikiText-2 (words; trained on valid,
  evaluated on test).
* :mod:`lab.llm.llama2c`: the pretrained ``stories260K.bin`` (GQA, 8 query / 4 KV heads).
* :mod:`lab.llm.evaluate`: perplexity, sampling, captured layer inputs.
"""
from lab.llm.kvcache import Cache, KVCache
from lab.llm.model import ModelConfig, Transformer
from lab.llm.train import TrainSpec, trained

__all__ = ["Cache", "KVCache", "ModelConfig", "Transformer", "TrainSpec", "trained"]
