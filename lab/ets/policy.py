"""Step proposers for the arithmetic task (``book/ets.md``, "The policy").

A *context* is what the next step depends on: the value the last step wrote and the instruction,
``(a, op, b)``. Both policies hold a **pool** of ``pool_size`` sampled step texts per context;
a search draws a node's children from its context's pool with replacement, with its own seeded
generator. Pools are drawn once, so every method and seed sees the same proposals for the same
context, as if all of them queried one sampling server.

* :class:`LMPolicy`: a small ``lab.llm`` decoder (characters) trained in-process on correct
  solution steps, sampled at temperature 1.0. A line reads ``"17+5:b22"``: the context, then
  what the model writes, a phrasing letter (``a``, ``b``, ``c`` for the three templates) and the
  result; the step's text is that phrasing rendered with the context and the model's result
  (``17 + 5 gives 22``). Its slips (wrong results, unparseable output) are the task's errors.
  Pools for every in-range context are sampled in one batch and cached with the model
  (``lab.cache``).
* :class:`StochasticPolicy`: the smoke tier's stand-in: the correct step with probability
  ``1 - error_rate``, otherwise an off-by-{1, 2, 10} result; the phrasing is uniform.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from lab.cache import cached
from lab.ets.env import OPS, TEMPLATES, VMAX, apply_op, hash_seed, render
from lab.llm.corpora import Corpus
from lab.llm.evaluate import sample
from lab.llm.kvcache import KVCache
from lab.llm.model import ModelConfig
from lab.llm.train import TrainSpec, train

VOCAB = list("\n0123456789+-*:abc")
_INDEX = {c: i for i, c in enumerate(VOCAB)}
MAX_STEP_CHARS = 5  # phrasing letter, up to three digits, newline


def context_prompt(a: int, op: str, b: int) -> str:
    return f"\n{a}{op}{b}:"


class StochasticPolicy:
    """Correct with probability ``1 - error_rate``; see the module docstring."""

    name = "stochastic generator"

    def __init__(self, error_rate: float = 0.25, pool_size: int = 16, seed: int = 0):
        if not 0 <= error_rate <= 1:
            raise ValueError(f"error_rate must be in [0, 1], got {error_rate}")
        if pool_size < 1:
            raise ValueError(f"pool_size must be >= 1, got {pool_size}")
        self.error_rate, self.pool_size, self.seed = error_rate, pool_size, seed
        self._pools: dict = {}

    def pool(self, ctx) -> list[str]:
        if ctx not in self._pools:
            a, op, b = ctx
            rng = np.random.default_rng(hash_seed("stochastic", self.seed, ctx))
            out = []
            for _ in range(self.pool_size):
                c = apply_op(a, op, b)
                if rng.random() < self.error_rate:
                    c += int(rng.choice([-10, -2, -1, 1, 2, 10]))
                out.append(render(int(rng.integers(len(TEMPLATES))), a, op, b, c))
            self._pools[ctx] = out
        return self._pools[ctx]


@dataclass(frozen=True)
class LMSpec:
    """The decoder, its training and its sampling; the cache key of model and pools."""

    dim: int = 64
    n_layers: int = 2
    n_heads: int = 4
    steps: int = 300
    batch: int = 32
    seq: int = 48
    lr: float = 5e-3
    lines: int = 20000
    pool_size: int = 16
    temperature: float = 1.0
    seed: int = 0


def training_corpus(spec: LMSpec) -> Corpus:
    """Correct steps for random in-range contexts, one per line, phrasing uniform."""
    rng = np.random.default_rng([spec.seed, 0x7EC])
    lines = []
    while len(lines) < spec.lines:
        a = int(rng.integers(0, VMAX + 1))
        op, b = OPS[int(rng.integers(len(OPS)))]
        c = apply_op(a, op, b)
        if 0 <= c <= VMAX:
            lines.append(context_prompt(a, op, b) + "abc"[int(rng.integers(len(TEMPLATES)))] + str(c))
    text = "".join(lines) + "\n"
    ids = torch.tensor([_INDEX[ch] for ch in text], dtype=torch.int64)
    cut = int(0.95 * len(ids))
    return Corpus("ets-arithmetic", ids[:cut], ids[cut:], VOCAB)


def written_step(ctx, output: str) -> str:
    """The step text for what the model wrote after the context; unparseable output stays as is."""
    a, op, b = ctx
    body = output.split("\n", 1)[0]
    if len(body) >= 2 and body[0] in "abc" and body[1:].isdigit():
        return render("abc".index(body[0]), a, op, b, int(body[1:]))
    return f"{a} {op} {b} ? {body}"


def _decode(row) -> str:
    return "".join(VOCAB[i] for i in row)


def _sample_pools(model, contexts: list, spec: LMSpec, seed) -> dict:
    """``pool_size`` samples per context, batched by prompt length (prompts must align)."""
    gen = torch.Generator().manual_seed(seed)
    by_len: dict = {}
    for ctx in contexts:
        by_len.setdefault(len(context_prompt(*ctx)), []).append(ctx)
    pools = {}
    for length in sorted(by_len):
        group = by_len[length]
        prompts = torch.tensor([[_INDEX[ch] for ch in context_prompt(*ctx)] for ctx in group])
        prompts = prompts.repeat_interleave(spec.pool_size, dim=0)
        out = sample(model, prompts, MAX_STEP_CHARS, gen, lambda: KVCache(dtype=None), spec.temperature)
        texts = [_decode(row[length:].tolist()) for row in out]
        for i, ctx in enumerate(group):
            pools[ctx] = [written_step(ctx, t) for t in texts[i * spec.pool_size:(i + 1) * spec.pool_size]]
    return pools


def _build(spec: LMSpec) -> dict:
    corpus = training_corpus(spec)
    model_cfg = ModelConfig(vocab=len(VOCAB), dim=spec.dim, n_layers=spec.n_layers, n_heads=spec.n_heads,
                            max_seq=max(spec.seq, 64))
    tspec = TrainSpec(corpus="ets-arithmetic", model=model_cfg, steps=spec.steps, batch=spec.batch,
                      seq=spec.seq, lr=spec.lr, warmup=min(30, spec.steps // 5), seed=spec.seed, device="cpu")
    trained = train(tspec, corpus, show_progress=False)
    from lab.llm.model import Transformer
    model = Transformer(model_cfg)
    model.load_state_dict(trained["state"])
    model.eval()
    contexts = [(a, op, b) for a in range(VMAX + 1) for op, b in OPS]
    with torch.no_grad():
        pools = _sample_pools(model, contexts, spec, spec.seed)
    return {"state": trained["state"], "losses": trained["losses"], "seconds": trained["seconds"],
            "pools": pools, "model_cfg": asdict(model_cfg)}


class LMPolicy:
    """A trained character decoder as the step proposer; see the module docstring."""

    name = "lab.llm decoder"

    def __init__(self, spec: LMSpec = LMSpec()):
        from lab.llm.model import Transformer
        self.spec = spec
        entry = cached("ets-policy", asdict(spec), lambda: _build(spec), version=1)
        self.losses, self.train_seconds = entry["losses"], entry["seconds"]
        self.model = Transformer(ModelConfig(**entry["model_cfg"]))
        self.model.load_state_dict(entry["state"])
        self.model.eval()
        self._pools = dict(entry["pools"])
        self.pool_size = spec.pool_size

    def pool(self, ctx) -> list[str]:
        if ctx not in self._pools:  # an out-of-range value written by a slip: sample it alone
            with torch.no_grad():
                self._pools.update(_sample_pools(self.model, [ctx], self.spec, hash_seed("lm", self.spec.seed, ctx) % 2**62))
        return self._pools[ctx]
