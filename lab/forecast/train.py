"""Training a :class:`~lab.forecast.model.Forecaster` by window sampling or by forking-sequences.

Both schemes draw ``batch`` series per optimizer step and minimise the masked multi-quantile
loss of :mod:`kernels.quantile_loss`; they differ only in what is cut from each series
(:mod:`lab.forecast.panel`): one forecast creation date (window sampling) or a block of
``F`` consecutive FCDs encoded in one pass (forking-sequences). The optimizer-step budget,
optimizer (AdamW, gradient clipping) and seed are shared, so any difference comes from the
scheme. See ``book/forking_sequences.md``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from kernels.quantile_loss import quantile_loss
from lab.progress import progress

from .model import QUANTILES, Forecaster
from .panel import Batch, Panel, sample_forks, sample_windows

SCHEMES = ("window", "forking")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a trained model (hashed for :mod:`lab.cache`)."""

    arch: str
    scheme: str
    context: int
    horizon: int
    steps: int = 300
    batch: int = 32
    fcds: int = 16
    hidden: int = 32
    layers: int = 1
    lr: float = 3e-3
    clip: float = 1.0
    seed: int = 0
    quantiles: tuple = QUANTILES


def build_model(cfg: TrainConfig) -> Forecaster:
    """A freshly initialised model, seeded by ``cfg.seed``."""
    torch.manual_seed(cfg.seed)
    return Forecaster(cfg.arch, cfg.context, cfg.horizon, cfg.hidden, cfg.quantiles, cfg.layers)


def draw_batch(panel: Panel, scheme: str, batch: int, fcds: int, rng: np.random.Generator) -> tuple[Batch, int]:
    """A training batch of ``scheme`` and the number of FCDs per example it carries."""
    if scheme == "window":
        return sample_windows(panel, batch, rng), 1
    if scheme == "forking":
        return sample_forks(panel, batch, fcds, rng), fcds
    raise ValueError(f"unknown training scheme {scheme!r}; choose from {SCHEMES}")


def batch_loss(model: Forecaster, b: Batch, fcds: int, device="cpu") -> torch.Tensor:
    """Masked quantile loss of ``model`` on a batch: one encoder pass, ``F`` decoded FCDs."""
    out = model(b.x.to(device), last=fcds)
    return quantile_loss(out, b.y.to(device), b.mask.to(device), model.quantiles)


def train(panel: Panel, cfg: TrainConfig, *, device="cpu", desc: str | None = None) -> tuple[Forecaster, np.ndarray]:
    """Train for ``cfg.steps`` optimizer steps; returns the model (on the CPU) and its losses.

    The batches come from ``np.random.default_rng([cfg.seed, 1])`` and the weights from
    ``torch.manual_seed(cfg.seed)``: the same configuration gives the same model.
    """
    if panel.context != cfg.context or panel.horizon != cfg.horizon:
        raise ValueError(f"panel has L={panel.context}, H={panel.horizon}; config L={cfg.context}, H={cfg.horizon}")
    model = build_model(cfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    rng = np.random.default_rng([cfg.seed, 1])
    losses = np.empty(cfg.steps)
    steps = range(cfg.steps)
    if desc:
        steps = progress(steps, desc=desc, leave=False)
    for step in steps:
        b, fcds = draw_batch(panel, cfg.scheme, cfg.batch, cfg.fcds, rng)
        loss = batch_loss(model, b, fcds, device)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
        opt.step()
        losses[step] = loss.item()
    return model.cpu(), losses
