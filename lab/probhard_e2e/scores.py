"""Scores of a Gaussian forecast: the closed-form CRPS, a sample CRPS, and the Gaussian NLL.

For ``X ~ N(mu, sigma^2)`` and an observation ``y`` (``z = (y - mu)/sigma``)

.. math::

    \\mathrm{CRPS}(\\mathcal N(\\mu,\\sigma^2), y)
        = \\sigma\\Big[z\\,(2\\Phi(z) - 1) + 2\\varphi(z) - \\tfrac{1}{\\sqrt\\pi}\\Big],

and ``CRPS -> |y - mu|`` as ``sigma -> 0``. Projected variances can be exactly zero, so
``sigma_eps = sqrt(var + eps^2)`` is used (``eps = 0`` gives the formula itself). The sample
estimate is ``mean_i |x_i - y| - 1/(2 S^2) sum_ij |x_i - x_j|``, with the pair sum from the sorted
samples, ``sum_ij |x_i - x_j| = 2 sum_k (2k - S - 1) x_(k)``. See ``book/probhard_e2e.md``.
"""
from __future__ import annotations

import math

import torch

EPS = 1e-6  #: default floor on sigma for the CRPS and the NLL
_INV_SQRT_PI = 1.0 / math.sqrt(math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def crps_gaussian(mu: torch.Tensor, var: torch.Tensor, y: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """Closed-form CRPS of ``N(mu, var)`` at ``y``, elementwise (``sigma = sqrt(var + eps^2)``)."""
    sigma = torch.sqrt(var + eps * eps)
    z = (y - mu) / sigma
    cdf = 0.5 * (1.0 + torch.erf(z / math.sqrt(2.0)))
    pdf = _INV_SQRT_2PI * torch.exp(-0.5 * z * z)
    return sigma * (z * (2.0 * cdf - 1.0) + 2.0 * pdf - _INV_SQRT_PI)


def crps_samples(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Sample CRPS ``mean|x - y| - (1/2) mean|x - x'|`` over the last axis of ``x [..., S]``."""
    S = x.shape[-1]
    term1 = (x - y.unsqueeze(-1)).abs().mean(-1)
    xs = torch.sort(x, dim=-1).values
    k = torch.arange(1, S + 1, dtype=x.dtype, device=x.device)
    pair_sum = 2.0 * (xs * (2.0 * k - S - 1.0)).sum(-1)
    return term1 - pair_sum / (2.0 * S * S)


def nll_gaussian(mu: torch.Tensor, var: torch.Tensor, y: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """Gaussian negative log-likelihood ``0.5 log(2 pi var) + (y - mu)^2 / (2 var)``, elementwise."""
    v = var + eps * eps
    return 0.5 * (torch.log(2.0 * math.pi * v) + (y - mu) ** 2 / v)
