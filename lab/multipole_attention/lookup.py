"""Centroid lookup: score the clusters, keep the best ones within a token budget (``book/multipole_attention.md``).

For a query :math:`q` and centroids :math:`Kc_i` of sizes :math:`N_i`, with :math:`\\tau = 1/\\sqrt{d}`,

.. math::

    S_i = \\frac{\\exp(\\tau\\,q\\cdot Kc_i)}{\\sum_j N_j \\exp(\\tau\\,q\\cdot Kc_j)},

the attention weight one token of cluster :math:`i` would get if its key were the centroid.
With grouped-query attention the :math:`G` query heads sharing a KV head add their scores.
Clusters are sorted by score and their sizes accumulated until the budget :math:`B` is passed;
clusters scoring *strictly above* the score of the cluster that passes it are selected, so at
most :math:`B` tokens are. :func:`hierarchical_select` adds a coarse level: super-clusters of
the centroids are scored first, and only centroids inside selected super-clusters compete.
Shapes: queries (M, H, G, D) for M queries, H KV heads and G query heads per KV head;
centroids (H, C, D); counts (H, C).
"""
from __future__ import annotations

import math

import torch

from lab.multipole_attention.kmeans import kmeans, cluster_means


def check_budget(budget: int, context: int) -> None:
    """A budget must be a whole number of tokens in ``[1, context]``."""
    if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1 or budget > context:
        raise ValueError(f"token budget B={budget!r} must be an integer in [1, {context}] (the context length)")


def check_groups(q: torch.Tensor, keys: torch.Tensor) -> None:
    """Queries (M, H, G, D) must match keys (H, N, D) in H and D."""
    if q.dim() != 4 or keys.dim() != 3:
        raise ValueError(f"queries must be (M, H, G, D) and keys (H, N, D); got {tuple(q.shape)} and {tuple(keys.shape)}")
    if q.shape[1] != keys.shape[0]:
        raise ValueError(f"mismatched GQA groups: queries have {q.shape[1]} KV-head groups, keys have {keys.shape[0]} KV heads")
    if q.shape[-1] != keys.shape[-1]:
        raise ValueError(f"head_dim of queries ({q.shape[-1]}) and keys ({keys.shape[-1]}) differ")


def centroid_logits(q: torch.Tensor, centroids: torch.Tensor, tau: float | None = None) -> torch.Tensor:
    """:math:`\\tau\\, q\\cdot Kc_i`, shape (M, H, G, C)."""
    tau = tau if tau is not None else 1 / math.sqrt(q.shape[-1])
    return tau * torch.einsum("mhgd,hcd->mhgc", q, centroids)


def centroid_scores(q: torch.Tensor, centroids: torch.Tensor, counts: torch.Tensor, tau: float | None = None) -> torch.Tensor:
    """:math:`S_i` summed over the GQA group, shape (M, H, C)."""
    s = centroid_logits(q, centroids, tau)
    # S_i = exp(s_i) / sum_j N_j exp(s_j), computed with the running max subtracted
    log_den = torch.logsumexp(s + counts.log()[None, :, None, :], dim=-1, keepdim=True)
    return torch.exp(s - log_den).sum(2)


def select_within_budget(scores: torch.Tensor, counts: torch.Tensor, budget: int) -> torch.Tensor:
    """Clusters scoring strictly above the one whose size pushes the running total past ``budget``.

    ``scores`` (M, H, C), ``counts`` (H, C); returns a boolean mask (M, H, C) whose selected
    clusters hold at most ``budget`` tokens.
    """
    order = scores.argsort(-1, descending=True)
    n_sorted = counts.expand_as(scores).gather(-1, order)
    over = n_sorted.cumsum(-1) > budget
    first_over = torch.where(over.any(-1), over.to(torch.int8).argmax(-1), torch.full_like(over[..., 0], -1, dtype=torch.long))
    thr = scores.gather(-1, order).gather(-1, first_over.clamp(min=0)[..., None])[..., 0]
    thr = torch.where(first_over < 0, torch.full_like(thr, -math.inf), thr)
    return (scores > thr[..., None]) & (counts > 0)


def tokens_of(selected: torch.Tensor, assign: torch.Tensor) -> torch.Tensor:
    """Token mask (M, H, n) of the tokens whose cluster is selected; ``assign`` (H, n)."""
    return selected.gather(-1, assign[None].expand(selected.shape[0], -1, -1))


def super_clusters(centroids: torch.Tensor, counts: torch.Tensor, per: int = 16, seed: int = 0):
    """The coarse level: k-means of the centroids into ``ceil(C/per)`` super-clusters.

    Returns ``(super_centroids (H, S, D), super_counts (H, S), parent (H, C))``; a super-centroid
    is the :math:`N`-weighted mean of its centroids, so it is the mean of all its tokens' keys.
    """
    h, c, d = centroids.shape
    k = max(1, math.ceil(c / per))
    _, _, parent = kmeans(centroids, k, seed=seed)
    sums = torch.zeros(h, k, d, dtype=centroids.dtype).scatter_add_(1, parent[..., None].expand(-1, -1, d), centroids * counts[..., None])
    n = torch.zeros(h, k, dtype=counts.dtype).scatter_add_(1, parent, counts)
    return sums / n.clamp(min=1)[..., None], n, parent


def super_values(values: torch.Tensor, counts: torch.Tensor, parent: torch.Tensor, k: int) -> torch.Tensor:
    """:math:`N`-weighted means of the value centroids over each super-cluster, (H, S, D)."""
    h, _, d = values.shape
    sums = torch.zeros(h, k, d, dtype=values.dtype).scatter_add_(1, parent[..., None].expand(-1, -1, d), values * counts[..., None])
    n = torch.zeros(h, k, dtype=counts.dtype).scatter_add_(1, parent, counts)
    return sums / n.clamp(min=1)[..., None]


def hierarchical_select(q: torch.Tensor, centroids, counts, super_c, super_n, parent, budget: int,
                        coarse_factor: int = 4, tau: float | None = None):
    """Two-level lookup: super-clusters within ``coarse_factor · B`` tokens, then centroids within ``B``.

    Returns ``(fine_selected (M, H, C), coarse_selected (M, H, S))``. A fine cluster can only be
    selected inside a selected super-cluster.
    """
    coarse = select_within_budget(centroid_scores(q, super_c, super_n, tau), super_n, coarse_factor * budget)
    inside = coarse.gather(-1, parent[None].expand(q.shape[0], -1, -1))
    scores = torch.where(inside, centroid_scores(q, centroids, counts, tau), torch.full_like(inside, -math.inf, dtype=q.dtype))
    fine = select_within_budget(scores, counts, budget) & inside
    return fine, coarse
