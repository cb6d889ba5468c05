"""Windowed RoPE: keys clustered without rotation, the lookup query rotated at a fixed position.

Exact attention uses the usual rotated query :math:`R_m q` and keys :math:`R_n k`, whose product
:math:`q^\\top R_{n-m} k` depends on the distance only. Clustering cannot follow positions that
change at every step, so the reference code clusters keys at position 0 (un-rotated,
:math:`R_0 k = k`) and rotates the lookup query at a fixed position :math:`p_\\ell` (2048):
the lookup logit :math:`(R_{p_\\ell} q)^\\top k = q^\\top R_{-p_\\ell} k` is the logit every key
would have at distance :math:`p_\\ell` from the query. Rotations compose,
:math:`R_a R_b = R_{a+b}`, so a cached key rotated at its position ``n`` is un-rotated by
:math:`R_{-n}`, and a query rotated at ``m`` is moved to :math:`p_\\ell` by :math:`R_{p_\\ell-m}`.
See ``book/multipole_attention.md``.
"""
from __future__ import annotations

import torch

from lab.llm.model import apply_rope

LOOKUP_POSITION = 2048  #: the reference code's fixed position of the lookup query


def rotate(x: torch.Tensor, positions: torch.Tensor, head_dim: int, base: float = 10000.0) -> torch.Tensor:
    """:math:`R_p x` for ``x`` (..., T, n·head_dim) with heads contiguous, one position per row."""
    lead = x.shape[:-2]
    flat = x.reshape(-1, x.shape[-2], x.shape[-1])
    return apply_rope(flat, positions, head_dim, base).reshape(*lead, *x.shape[-2:])


def cluster_keys(k_rotated: torch.Tensor, positions: torch.Tensor, head_dim: int, base: float = 10000.0) -> torch.Tensor:
    """Keys at position 0: :math:`R_{-n} (R_n k) = k`."""
    return rotate(k_rotated, -positions, head_dim, base)


def lookup_query(q_rotated: torch.Tensor, position: int | torch.Tensor, head_dim: int, base: float = 10000.0,
                 lookup_position: int = LOOKUP_POSITION) -> torch.Tensor:
    """The lookup query :math:`R_{p_\\ell - m} (R_m q) = R_{p_\\ell} q` for queries at position ``m``."""
    t = q_rotated.shape[-2]
    pos = torch.as_tensor(position).reshape(-1).expand(t) if torch.as_tensor(position).numel() == 1 else torch.as_tensor(position)
    return rotate(q_rotated, lookup_position - pos, head_dim, base)
