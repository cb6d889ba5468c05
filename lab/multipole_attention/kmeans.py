"""Blocked k-means of the keys, per head, and the fast online update (``book/multipole_attention.md``).

For keys :math:`x_1..x_n` of one head, Lloyd's algorithm alternates

.. math::

    a_j = \\arg\\min_i \\|x_j\\|^2 + \\|c_i\\|^2 - 2\\,x_j\\cdot c_i, \\qquad
    c_i = \\frac{1}{N_i}\\sum_{a_j=i} x_j,\\quad N_i = |\\{j: a_j=i\\}|,

from centroids drawn at random from the data; a cluster left empty is re-seeded with a random
key. The clustered region is cut into blocks of ``block`` tokens (8192 in the reference code; a
remainder shorter than half a block joins the last block, so the final block holds
``block/2 .. 3 block/2`` tokens), each with its share of the centroids, and clustered
independently. :func:`online_update` folds ``I`` new tokens into the **final** block only:
seed ``I · 6.25%`` new centroids from random new tokens, assign the other new tokens one by
one with running-mean updates, then run 3 Lloyd iterations over the final block; earlier
blocks stay frozen. Value centroids :math:`Vc_i` (means of the values) are recomputed after
every (re)clustering. All heads are clustered at once: tensors are (H, n, D).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from lab.multipole_attention.layout import CENTROID_FRACTION, n_centroids

BLOCK = 8192  #: tokens per k-means block in the reference code
ITERS = 10  #: Lloyd iterations of the initial clustering
ONLINE_ITERS = 3  #: Lloyd iterations of the online update (final block only)


@dataclass
class Clusters:
    """Clusters of the clustered region, per head.

    ``centroids`` :math:`Kc` and ``values`` :math:`Vc` (H, C, D); ``counts`` :math:`N_i`
    (H, C), float; ``assign`` (H, n) the cluster of each clustered token; ``blocks`` the
    ``(token_start, token_end, cluster_start, cluster_end)`` of each k-means block.
    """

    centroids: torch.Tensor
    values: torch.Tensor
    counts: torch.Tensor
    assign: torch.Tensor
    blocks: list[tuple[int, int, int, int]] = field(default_factory=list)

    @property
    def n_tokens(self) -> int:
        return self.assign.shape[-1]

    @property
    def n_clusters(self) -> int:
        return self.centroids.shape[-2]


def nearest(x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """Index of the nearest centroid, :math:`\\arg\\min_i \\|x\\|^2+\\|c_i\\|^2-2x\\cdot c_i`; x (H,n,D), c (H,k,D)."""
    d2 = (x * x).sum(-1, keepdim=True) + (c * c).sum(-1)[:, None, :] - 2 * x @ c.transpose(-1, -2)
    return d2.argmin(-1)


def cluster_means(x: torch.Tensor, assign: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sums over clusters divided by sizes (0 for empty clusters), and the sizes; x (H,n,D), assign (H,n)."""
    h, _, d = x.shape
    sums = torch.zeros(h, k, d, dtype=x.dtype, device=x.device).scatter_add_(1, assign[..., None].expand(-1, -1, d), x)
    counts = torch.zeros(h, k, dtype=x.dtype, device=x.device).scatter_add_(1, assign, torch.ones_like(assign, dtype=x.dtype))
    return sums / counts.clamp(min=1)[..., None], counts


def inertia(x: torch.Tensor, centroids: torch.Tensor, assign: torch.Tensor) -> torch.Tensor:
    """:math:`\\sum_j \\|x_j - c_{a_j}\\|^2` per head, shape (H,)."""
    c = centroids.gather(1, assign[..., None].expand(-1, -1, x.shape[-1]))
    return ((x - c) ** 2).sum((-1, -2))


def _draw(h: int, n: int, k: int, gen: torch.Generator) -> torch.Tensor:
    """``k`` distinct random indices in ``[0, n)`` per head, (H, k)."""
    return torch.rand(h, n, generator=gen).argsort(-1)[:, :k]


def lloyd(x: torch.Tensor, c: torch.Tensor, iters: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``iters`` Lloyd iterations from centroids ``c``; empty clusters re-seeded with random keys.

    Returns centroids, counts and assignments that agree: each centroid is the mean of the
    keys assigned to it (an empty cluster after the last assignment keeps its centroid, count 0).
    """
    h, n, d = x.shape
    k = c.shape[1]
    for _ in range(iters):
        a = nearest(x, c)
        means, counts = cluster_means(x, a, k)
        empty = counts == 0
        if empty.any():  # re-seed empty clusters from random keys of their head
            seeds = x.gather(1, torch.randint(0, n, (h, k), generator=gen)[..., None].expand(-1, -1, d))
            means = torch.where(empty[..., None], seeds, means)
        c = means
    a = nearest(x, c)
    means, counts = cluster_means(x, a, k)
    c = torch.where((counts > 0)[..., None], means, c)
    return c, counts, a


def kmeans(x: torch.Tensor, k: int, iters: int = ITERS, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Plain k-means of ``x`` (H, n, D) into ``k`` clusters from random data points."""
    if not 1 <= k <= x.shape[1]:
        raise ValueError(f"k-means needs 1 ≤ k ≤ n, got k={k} for n={x.shape[1]} keys")
    gen = torch.Generator().manual_seed(seed)
    init = x.gather(1, _draw(x.shape[0], x.shape[1], k, gen)[..., None].expand(-1, -1, x.shape[-1]))
    return lloyd(x, init, iters, gen)


def block_bounds(n: int, block: int = BLOCK) -> list[tuple[int, int]]:
    """Token ranges of the blocks: ``block`` each, a remainder < block/2 joins the last block."""
    if n <= 0:
        return []
    cuts = list(range(0, n, block)) + [n]
    bounds = list(zip(cuts[:-1], cuts[1:]))
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < block / 2:
        bounds[-2:] = [(bounds[-2][0], n)]
    return bounds


def blocked_kmeans(keys: torch.Tensor, values: torch.Tensor, *, fraction: float = CENTROID_FRACTION,
                   block: int = BLOCK, iters: int = ITERS, seed: int = 0) -> Clusters:
    """Cluster ``keys`` (H, n, D) block by block; centroids per block ``round(fraction · tokens)``."""
    if keys.dim() != 3 or values.shape[:2] != keys.shape[:2]:
        raise ValueError(f"keys must be (H, n, D) and values (H, n, Dv) with the same H, n; got {tuple(keys.shape)}, {tuple(values.shape)}")
    cents, vals, counts, assigns, blocks = [], [], [], [], []
    c0 = 0
    for b, (t0, t1) in enumerate(block_bounds(keys.shape[1], block)):
        k = n_centroids(t1 - t0, fraction)
        c, nc, a = kmeans(keys[:, t0:t1], k, iters, seed=seed * 1000 + b)
        cents.append(c), counts.append(nc), assigns.append(a + c0)
        vals.append(cluster_means(values[:, t0:t1], a, k)[0])
        blocks.append((t0, t1, c0, c0 + k))
        c0 += k
    h, _, d = keys.shape
    if not blocks:
        empty = keys.new_zeros(h, 0, d)
        return Clusters(empty, values.new_zeros(h, 0, values.shape[-1]), keys.new_zeros(h, 0),
                        torch.zeros(h, 0, dtype=torch.long), [])
    return Clusters(torch.cat(cents, 1), torch.cat(vals, 1), torch.cat(counts, 1), torch.cat(assigns, 1), blocks)


def online_update(cl: Clusters, keys: torch.Tensor, values: torch.Tensor, n_new: int, *,
                  fraction: float = CENTROID_FRACTION, block: int = BLOCK, iters: int = ONLINE_ITERS,
                  seed: int = 0) -> Clusters:
    """Fold the last ``n_new`` of ``keys``/``values`` (H, n, D) into clusters ``cl`` of the first ``n - n_new``.

    1. seed ``round(fraction · n_new)`` new centroids from randomly chosen new tokens;
    2. assign every other new token, in order, to its nearest centroid of the final block,
       moving that centroid by the running mean :math:`c \\leftarrow c + (x - c)/(N+1)`;
    3. run ``iters`` Lloyd iterations over the final block's tokens (earlier blocks frozen).

    When the final block would exceed ``3 block / 2`` tokens the new tokens open a new block.
    """
    h, n, d = keys.shape
    old = cl.n_tokens
    if n_new < 1 or old + n_new != n:
        raise ValueError(f"online update: {n} keys are not the {old} clustered plus n_new={n_new} new ones")
    gen = torch.Generator().manual_seed(seed)
    m = n_centroids(n_new, fraction)
    blocks = list(cl.blocks)
    if not blocks or blocks[-1][1] - blocks[-1][0] + n_new > 1.5 * block:
        blocks.append((old, old, cl.n_clusters, cl.n_clusters))
    t0, _, c0, c1 = blocks[-1]
    xn = keys[:, old:]
    pick = _draw(h, n_new, m, gen)
    # 1. new centroids seeded from random new tokens
    c = torch.cat((cl.centroids[:, c0:c1], xn.gather(1, pick[..., None].expand(-1, -1, d))), 1)
    counts = torch.cat((cl.counts[:, c0:c1], torch.ones(h, m, dtype=keys.dtype)), 1)
    seeded = torch.zeros(h, n_new, dtype=torch.bool).scatter_(1, pick, True)
    rows = torch.arange(h)
    # 2. running-mean assignment of the remaining new tokens, one at a time
    for j in range(n_new):
        x = xn[:, j]
        todo = ~seeded[:, j]
        i = nearest(x[:, None], c)[:, 0]
        w = todo.to(keys.dtype) / (counts[rows, i] + 1)
        c[rows, i] += w[:, None] * (x - c[rows, i])
        counts[rows, i] += todo.to(keys.dtype)
    # 3. Lloyd over the final block window only
    c, counts, a = lloyd(keys[:, t0:], c, iters, gen)
    k_final = c.shape[1]
    vc = cluster_means(values[:, t0:], a, k_final)[0]
    blocks[-1] = (t0, n, c0, c0 + k_final)
    return Clusters(torch.cat((cl.centroids[:, :c0], c), 1), torch.cat((cl.values[:, :c0], vc), 1),
                    torch.cat((cl.counts[:, :c0], counts), 1), torch.cat((cl.assign[:, :t0], a + c0), 1), blocks)
