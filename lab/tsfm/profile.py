"""Where a training step's CPU time goes: the patch embedding and the loss against the whole step.

The chapter uses this profile to choose which fused Triton kernel matters (the patch embedding
or the multi-quantile pinball loss). Each part is timed alone, forward and backward, on the
shapes a training step gives it, with ``time.process_time`` (CPU seconds) and a warm-up.
"""
from __future__ import annotations

import time

import numpy as np
import torch

from .config import TSFMConfig
from .corpus import Corpus
from .losses import window_loss
from .model import build_model


def _cpu_ms(fn, repeats: int) -> float:
    fn()
    t = time.process_time()
    for _ in range(repeats):
        fn()
    return 1e3 * (time.process_time() - t) / repeats


def training_profile(cfg: TSFMConfig, corpus: Corpus, repeats: int = 20) -> dict:
    """CPU milliseconds per step of the whole step, the embedding (fwd+bwd) and the loss (fwd+bwd)."""
    model = build_model(cfg)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    rng = np.random.default_rng(cfg.seed)
    window = torch.from_numpy(corpus.windows(rng, cfg.batch_size, cfg.context + cfg.horizon, cfg.horizon))

    def step():
        loss = window_loss(model, window)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    xs, _, _ = model.scale(window[:, :cfg.context])

    def embed():
        model.embed(xs).sum().backward()

    from .losses import head_loss

    with torch.no_grad():
        out = model.outputs(xs)
    out = out.detach().requires_grad_(True)
    ys = torch.nan_to_num(window[:, cfg.context:])
    ymask = torch.ones_like(ys)

    def loss():
        head_loss(model, out, ys, ymask).backward()

    total, emb, lss = _cpu_ms(step, repeats), _cpu_ms(embed, repeats), _cpu_ms(loss, repeats)
    return dict(step_ms=total, embed_ms=emb, loss_ms=lss, embed_share=emb / total, loss_share=lss / total,
                config=f"{cfg.embedding}, k={cfg.patch}, {cfg.loss}, batch {cfg.batch_size}")
