"""Multi-query associative recall, and a small decoder trained on it in-process.

A sequence stores ``n_store`` pairs ``key value`` with distinct keys, then asks ``n_query``
times: a stored key, after which the model must emit its value (the query phase also shows the
right value, so the next query reads a longer context). Recalling a value means attending to
one token far back, exactly what a sparse attention method can lose. The model is
:class:`lab.llm.model.Transformer`, trained with the loss on query-phase values only, cached
by its configuration (:func:`lab.cache.cached`). See ``book/multipole_attention.md``.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from lab.cache import cached
from lab.llm.model import ModelConfig, Transformer
from lab.progress import progress

VERSION = 1


@dataclass(frozen=True)
class RecallTask:
    n_keys: int = 256
    n_values: int = 32
    n_store: int = 100
    n_query: int = 28

    @property
    def vocab(self) -> int:
        return self.n_keys + self.n_values

    @property
    def length(self) -> int:
        return 2 * (self.n_store + self.n_query)

    @property
    def prefix(self) -> int:
        """Tokens of the storage phase (prefilled before decoding the queries)."""
        return 2 * self.n_store

    def sample(self, batch: int, gen: torch.Generator) -> torch.Tensor:
        """Token sequences (batch, length); keys are ``0..n_keys-1``, values ``n_keys..``."""
        if self.n_store > self.n_keys:
            raise ValueError(f"n_store={self.n_store} distinct keys need n_keys ≥ n_store, got {self.n_keys}")
        keys = torch.rand(batch, self.n_keys, generator=gen).argsort(-1)[:, :self.n_store]
        vals = torch.randint(0, self.n_values, (batch, self.n_store), generator=gen) + self.n_keys
        ask = torch.randint(0, self.n_store, (batch, self.n_query), generator=gen)
        qk, qv = keys.gather(1, ask), vals.gather(1, ask)
        pairs = torch.cat((torch.stack((keys, vals), -1), torch.stack((qk, qv), -1)), 1)
        return pairs.reshape(batch, -1)

    def answer_positions(self) -> torch.Tensor:
        """Positions whose next token is a queried value (the query keys)."""
        return torch.arange(self.prefix, self.length, 2)


@dataclass(frozen=True)
class RecallSpec:
    task: RecallTask
    model: ModelConfig
    steps: int = 600
    batch: int = 32
    lr: float = 3e-3
    warmup: int = 50
    seed: int = 0


def train_recall(spec: RecallSpec, show_progress: bool = True) -> dict:
    """AdamW on the cross-entropy of the queried values; returns state, losses, seconds."""
    gen = torch.Generator().manual_seed(spec.seed)
    torch.manual_seed(spec.seed)
    model = Transformer(spec.model).init_weights(gen)
    opt = torch.optim.AdamW(model.parameters(), lr=spec.lr, betas=(0.9, 0.95), weight_decay=0.0)
    pos = spec.task.answer_positions()
    losses, t0 = [], time.perf_counter()
    steps = range(spec.steps)
    for step in (progress(steps, desc="training recall model") if show_progress else steps):
        lr = spec.lr * min(1.0, (step + 1) / spec.warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / spec.steps)))
        for group in opt.param_groups:
            group["lr"] = lr
        seq = spec.task.sample(spec.batch, gen)
        logits = model(seq[:, :-1])
        loss = F.cross_entropy(logits[:, pos].reshape(-1, logits.shape[-1]), seq[:, pos + 1].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
    return {"state": {k: v.detach().clone() for k, v in model.state_dict().items()}, "losses": losses,
            "seconds": time.perf_counter() - t0}


def trained_recall(spec: RecallSpec, show_progress: bool = True) -> tuple[Transformer, dict]:
    """The model ``spec`` describes, trained once, then loaded from the user cache."""
    entry = cached("multipole_recall", {"spec": asdict(spec)}, lambda: train_recall(spec, show_progress), version=VERSION)
    model = Transformer(spec.model)
    model.load_state_dict(entry["state"])
    return model.eval(), {"losses": entry["losses"], "seconds": entry["seconds"]}


@torch.no_grad()
def decode_accuracy(model: Transformer, task: RecallTask, seqs: torch.Tensor, make_cache) -> torch.Tensor:
    """Prefill the storage phase through ``make_cache()``, then decode the query phase token by
    token (teacher-forced); returns per-query correctness (batch, n_query) as floats."""
    cache = make_cache()
    model(seqs[:, :task.prefix], cache=cache)
    correct = []
    for t in range(task.prefix, task.length, 2):
        logits = model(seqs[:, t:t + 1], cache=cache)
        correct.append((logits[:, -1, task.n_keys:].argmax(-1) + task.n_keys == seqs[:, t + 1]).float())
        if t + 1 < task.length - 1:
            model(seqs[:, t + 1:t + 2], cache=cache)
    return torch.stack(correct, 1)
