"""Perplexity, sampling and captured layer inputs for :class:`lab.llm.model.Transformer`.

Perplexity is :math:`\\exp\\big(-\\frac1N\\sum_t \\log p(x_{t+1}\\mid x_{\\le t})\\big)` over every
predicted token of a batch of sequences, computed in one forward pass through a fresh cache
from ``make_cache`` (the cache methods of ``lab.xquant`` quantize during that pass exactly as
they do in incremental decoding). See ``book/xquant.md``.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from lab.llm.kvcache import Cache


@torch.no_grad()
def nll(model, sequences: torch.Tensor, make_cache: Callable[[], Cache] | None = None,
        batch: int = 16) -> float:
    """Mean next-token negative log-likelihood (nats) of ``sequences`` (N, T), predicting tokens 2..T."""
    total, count = 0.0, 0
    device = next(model.parameters()).device
    for i in range(0, len(sequences), batch):
        seq = sequences[i:i + batch].to(device)
        logits = model(seq[:, :-1], cache=make_cache() if make_cache else None)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), seq[:, 1:].reshape(-1), reduction="sum")
        total, count = total + loss.item(), count + seq[:, 1:].numel()
    return total / count


def perplexity(model, sequences: torch.Tensor, make_cache: Callable[[], Cache] | None = None,
               batch: int = 16) -> float:
    """:math:`\\exp` of :func:`nll`."""
    return math.exp(nll(model, sequences, make_cache, batch))


@torch.no_grad()
def sample(model, prompt: torch.Tensor, steps: int, generator: torch.Generator,
           make_cache: Callable[[], Cache], temperature: float = 1.0) -> torch.Tensor:
    """Ancestral sampling of ``steps`` tokens after ``prompt`` (B, T0), one token per decode step.

    Each step feeds only the newest token and reads everything else from the cache.
    Returns (B, T0 + steps).
    """
    cache = make_cache()
    logits = model(prompt, cache=cache)[:, -1]
    out = [prompt]
    for _ in range(steps):
        probs = torch.softmax(logits.float() / temperature, dim=-1)
        nxt = torch.multinomial(probs.cpu(), 1, generator=generator).to(prompt.device)
        out.append(nxt)
        logits = model(nxt, cache=cache)[:, -1]
    return torch.cat(out, dim=1)


@torch.no_grad()
def layer_inputs(model, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each layer's residual-stream input and normalised Q/K/V input, each (L, B, T, dim)."""
    resid, normed = [], []
    model(tokens, hook=lambda layer, r, x: (resid.append(r), normed.append(x)))
    return torch.stack(resid), torch.stack(normed)
