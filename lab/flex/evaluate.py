"""Sampling predictions and scoring them: RFNE, ensembles, spread against error, target energy.

``book/flex.md``, sections "Few steps" to "Uncertainty". The relative Frobenius norm error
of a prediction is ``RFNE = ‖x̂ - x‖_F / ‖x‖_F`` per sample; tables report its mean.
"""
from __future__ import annotations

import numpy as np
import torch

from .diffusion import ddim_sample


def rfne(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``‖x̂ - x‖_F / ‖x‖_F`` per sample, ``[B]``."""
    return (pred - target).flatten(1).norm(dim=1) / target.flatten(1).norm(dim=1)


@torch.no_grad()
def sample_predictions(model, batch: dict, task: str, target: str, n_steps: int, members: int = 1,
                       seed: int = 0, chunk: int = 64) -> torch.Tensor:
    """``members`` predictions of ``x`` per input, ``[M, B, 1, P, P]``, with ``n_steps`` DDIM steps.

    The residual model's prediction is ``base + r̂``; the raw model's is its sample itself.
    The start noise is drawn from ``seed`` (same seed → same samples).
    """
    device = next(model.parameters()).device
    b = batch["x"].shape[0]
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn((members, *batch["x"].shape), generator=gen)
    out = []
    for m in range(members):
        parts = []
        for lo in range(0, b, chunk):
            sl = slice(lo, lo + chunk)
            cond, re = batch["cond"][sl].to(device), batch["re"][sl].to(device)
            r_hat = ddim_sample(lambda z, t: model(z, t, cond, re, task), noise[m, sl].to(device), n_steps).cpu()
            parts.append(r_hat)
        r_hat = torch.cat(parts)
        out.append(batch["base"] + r_hat if target == "residual" else r_hat)
    return torch.stack(out)


def spread_skill(ensemble: torch.Tensor, truth: torch.Tensor) -> dict:
    """How well the ensemble spread tracks the error of the ensemble mean.

    ``spread/skill = sqrt((M+1)/M · mean var) / RMSE(mean)``: 1 for a calibrated ensemble of
    ``M`` members (the factor corrects for a finite ensemble); Spearman rank correlations of
    the per-pixel std with ``|mean - truth|`` and of the per-sample mean std with the
    per-sample RFNE.
    """
    from scipy.stats import spearmanr

    m = ensemble.shape[0]
    mean, std = ensemble.mean(0), ensemble.std(0, unbiased=True)
    err = (mean - truth).abs()
    ratio = float(np.sqrt((m + 1) / m * std.pow(2).mean().item()) / err.pow(2).mean().sqrt().item())
    pix = spearmanr(std.flatten().numpy(), err.flatten().numpy()).statistic
    per_sample = spearmanr(std.flatten(1).mean(1).numpy(), rfne(mean, truth).numpy()).statistic
    return {"spread_skill": ratio, "spearman_pixel": float(pix), "spearman_sample": float(per_sample),
            "rfne_mean": float(rfne(mean, truth).mean()), "rfne_member": float(rfne(ensemble[0], truth).mean())}


def target_energy(data, task: str, size: int, seed: int) -> dict:
    """``E‖r‖²/E‖x‖²`` per pixel and the implied ratio of the ``v``-target energies.

    With ``ε ⟂ r``, ``E‖v‖² = α²D + σ²E‖r‖²`` for ``D`` pixels (unit-variance noise), so
    residual targets lower ``E‖v‖²`` at every ``t``, most at high noise. Reported: the target
    ratio, and ``E_t E‖v‖²`` for residual over raw with ``t ~ U(0, 1)`` (quadrature on 2001 points).
    """
    from .diffusion import alpha_sigma

    b = data.fixed_set(task, size, seed)
    r2 = (b["x"] - b["base"]).pow(2).mean().item()
    x2 = b["x"].pow(2).mean().item()
    t = torch.linspace(0, 1, 2001, dtype=torch.float64)
    alpha, sigma = (a.flatten() for a in alpha_sigma(t))
    v_res = (alpha**2 + sigma**2 * r2).mean().item()
    v_raw = (alpha**2 + sigma**2 * x2).mean().item()
    return {"r2": r2, "x2": x2, "ratio": r2 / x2, "v_ratio": v_res / v_raw,
            "v_ratio_t1": (alpha[-1]**2 + sigma[-1]**2 * r2).item() / (alpha[-1]**2 + sigma[-1]**2 * x2).item()}
