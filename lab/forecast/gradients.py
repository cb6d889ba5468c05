"""Minibatch gradient noise of the two training schemes at fixed parameters.

For a model ``theta`` and a scheme, draw ``n`` independent minibatches, compute the gradient
``g_i`` of the training loss on each, and report the total variance

.. math::  \\operatorname{tr}\\widehat{\\operatorname{Cov}}(g) = \\frac{1}{n-1}\\sum_i \\|g_i - \\bar g\\|^2 .

Forking-sequences averages ``F`` correlated per-FCD gradients per series, which lowers this
by at most ``1/F`` (``book/forking_sequences.md``).
"""
from __future__ import annotations

import numpy as np
import torch

from .model import Forecaster
from .panel import Panel
from .train import batch_loss, draw_batch


def minibatch_gradients(model: Forecaster, panel: Panel, scheme: str, *, batch: int, fcds: int,
                        draws: int, seed: int, device="cpu") -> np.ndarray:
    """``[draws, n_params]`` flattened gradients of ``draws`` independent minibatches."""
    rng = np.random.default_rng([seed, 2])
    model = model.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    grads = []
    for _ in range(draws):
        b, f = draw_batch(panel, scheme, batch, fcds, rng)
        g = torch.autograd.grad(batch_loss(model, b, f, device), params)
        grads.append(torch.cat([x.reshape(-1) for x in g]).double())
    return torch.stack(grads).cpu().numpy()


def total_variance(grads: np.ndarray) -> float:
    """Trace of the sample covariance of the rows of ``grads``."""
    return float(((grads - grads.mean(0)) ** 2).sum() / (len(grads) - 1))
