"""Clustered synthetic keys: a Gaussian mixture with heavy-tailed noise, queries aligned with a few clusters.

Keys of head :math:`h`: :math:`k_j = \\mu_{c_j} + \\sigma\\,t_j` with ``n_mix`` centres
:math:`\\mu \\sim N(0, I)`, Student-t noise :math:`t_j` (``df`` degrees of freedom, heavy tails),
values :math:`N(0, I)`. A query is a sum of ``aligned`` random centres times ``strength`` plus
noise, so its attention concentrates on a few clusters, as decode queries of a trained
model do on a few earlier passages. See ``book/multipole_attention.md``.
"""
from __future__ import annotations

import torch


def mixture(n: int, d: int, heads: int, *, n_mix: int = 64, noise: float = 0.35, df: int = 3,
            seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Keys, values (H, n, d) and the mixture centres (H, n_mix, d)."""
    gen = torch.Generator().manual_seed(seed)
    centres = torch.randn(heads, n_mix, d, generator=gen)
    comp = torch.randint(0, n_mix, (heads, n), generator=gen)
    z = torch.randn(heads, n, d, generator=gen)
    g = torch.randn(heads, n, int(df), generator=gen).pow(2).mean(-1, keepdim=True)  # chi2(df)/df
    keys = centres.gather(1, comp[..., None].expand(-1, -1, d)) + noise * z / g.sqrt()
    values = torch.randn(heads, n, d, generator=gen)
    return keys, values, centres


def aligned_queries(centres: torch.Tensor, m: int, group: int, *, aligned: int = 2, strength: float = 4.0,
                    seed: int = 0) -> torch.Tensor:
    """Queries (m, H, G, d), each a sum of ``aligned`` random centres of its head times ``strength`` plus noise."""
    gen = torch.Generator().manual_seed(seed + 7)
    h, n_mix, d = centres.shape
    pick = torch.randint(0, n_mix, (m, h, aligned), generator=gen)
    base = torch.stack([centres[i].index_select(0, pick[:, i].reshape(-1)).view(m, aligned, d).sum(1) for i in range(h)], 1)
    # q.mu ~ strength sqrt(d) for an aligned centre: logits tau q.k ~ strength above the rest
    return strength * base[:, :, None, :] / d**0.5 + torch.randn(m, h, group, d, generator=gen) / d**0.25
