"""Backbones with a diagonal Gaussian head, the six variants, and their losses.

A variant is a pair (projection during training, projection at evaluation) plus a loss:

==================  =====================  =====================  ===============================
variant             trained through        evaluated through      loss
==================  =====================  =====================  ===============================
``unconstrained``   —                      —                      closed-form CRPS
``inference_only``  — (same model)         oblique (ProbConserv)  closed-form CRPS
``oblique``         DPPL, Q = Σ⁻¹          DPPL, Q = Σ⁻¹          closed-form CRPS
``orthogonal``      DPPL, Q = I            DPPL, Q = I            closed-form CRPS
``oblique_nll``     DPPL, Q = Σ⁻¹          DPPL, Q = Σ⁻¹          Gaussian NLL
``soft``            —                      —                      CRPS + w·mean((Aμ − b)²)
==================  =====================  =====================  ===============================

See ``book/probhard_e2e.md``.
"""
from __future__ import annotations

import torch
from torch import nn

from lab.probhard_e2e.projection import project_orthogonal, project_oblique, project_single
from lab.probhard_e2e.scores import crps_gaussian, nll_gaussian

VARIANTS = ("unconstrained", "inference_only", "oblique", "orthogonal", "oblique_nll", "soft")
TRAIN_METRIC = {"unconstrained": None, "inference_only": None, "oblique": "oblique",
                "orthogonal": "orthogonal", "oblique_nll": "oblique", "soft": None}
EVAL_METRIC = {**TRAIN_METRIC, "inference_only": "oblique"}
#: variants that share a trained model (inference-only projection reuses the unconstrained one)
TRAINED_AS = {v: ("unconstrained" if v == "inference_only" else v) for v in VARIANTS}


class GaussianMLP(nn.Module):
    """MLP ``x -> (mu, var)``, ``var = exp(log sigma^2)`` with ``log sigma^2`` softly kept in [-12, 12].

    ``n_out`` Gaussians per input row; output shapes ``[..., n_out]`` (squeezed when ``n_out = 1``).
    """

    def __init__(self, n_in: int, n_out: int = 1, width: int = 64, depth: int = 2):
        super().__init__()
        layers, d = [], n_in
        for _ in range(depth):
            layers += [nn.Linear(d, width), nn.GELU()]
            d = width
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(d, 2 * n_out)
        self.n_out = n_out
        with torch.no_grad():
            self.head.bias[n_out:].fill_(-2.0)

    def forward(self, x):
        out = self.head(self.body(x))
        mu, raw = out[..., : self.n_out], out[..., self.n_out:]
        logvar = 12.0 * torch.tanh(raw / 12.0)
        if self.n_out == 1:
            mu, logvar = mu.squeeze(-1), logvar.squeeze(-1)
        return mu, torch.exp(logvar)


def dppl(mu, var, A, b, metric: str | None, check: bool = False):
    """Project ``(mu, var) [..., n]`` onto ``A u = b``; one oblique constraint takes the rank-1 form."""
    if metric is None:
        return mu, var
    if metric == "oblique" and A.shape[-2] == 1:
        return project_single(mu, var, A[..., 0, :], b[..., 0], check=check)
    if metric == "oblique":
        return project_oblique(mu, var, A, b, check=check)
    return project_orthogonal(mu, var, A, b, check=check)


def loss_fn(variant: str, mu, var, y, A=None, b=None, soft_weight: float = 1.0, weight=None):
    """The variant's training loss on (projected) ``mu, var`` against ``y`` (optionally weighted)."""
    per = nll_gaussian(mu, var, y) if variant == "oblique_nll" else crps_gaussian(mu, var, y)
    if weight is not None:
        per = per * weight
    loss = per.mean()
    if variant == "soft":
        r = (A.to(mu.dtype) @ mu.unsqueeze(-1)).squeeze(-1) - b
        loss = loss + soft_weight * (r * r).mean()
    return loss
