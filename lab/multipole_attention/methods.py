"""Every attention method of ``book/multipole_attention.md`` on one decode step, with its bytes.

* ``exact``: all tokens.
* ``oracle``: the top-:math:`B` tokens of the clustered region by their true attention weight
  (summed over the GQA group); not realizable (it needs every key's score), an upper reference.
* ``quest``: Quest-style pages of 16 tokens with elementwise key min/max; the page bound
  :math:`\\sum_d \\max(q_d\\,\\mathrm{min}_d,\\ q_d\\,\\mathrm{max}_d)\\ge \\max_{j\\in\\text{page}} q\\cdot k_j`,
  summed over the group, picks the top :math:`\\lfloor B/16\\rfloor` pages.
* ``lookup``: centroid lookup within :math:`B`, the other clusters dropped (the paper's ablation,
  Squeezed-Attention-like).
* ``multipole``: lookup plus one term per non-selected cluster (Multipole Attention).
* ``hierarchical``: two-level lookup plus replacement by fine centroids inside selected
  super-clusters and super-centroids elsewhere.

The sink and the recent window are exact in every method. ``bytes`` counts what one decode step
reads per KV head at FP16 (2 bytes per element): keys and values of exactly attended tokens
plus the method's metadata (centroids, counts, page bounds).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from lab.multipole_attention.attention import merge, multipole_output, tau_of
from lab.multipole_attention.kmeans import Clusters
from lab.multipole_attention.layout import Layout
from lab.multipole_attention.lookup import (centroid_scores, check_budget, check_groups, hierarchical_select,
                                            select_within_budget, super_clusters, super_values, tokens_of)

METHODS = ("exact", "oracle", "quest", "lookup", "multipole", "hierarchical")
BYTES = 2  #: FP16
PAGE = 16  #: Quest page size


@dataclass
class KVState:
    """One decode step's cache: exact keys ``k`` and values ``v`` (H, N, D), the layout and the clusters."""

    k: torch.Tensor
    v: torch.Tensor
    layout: Layout
    clusters: Clusters
    _coarse: tuple | None = field(default=None, repr=False)

    def coarse(self, per: int = 16):
        """Super-clusters of the centroids (computed once): centroids, counts, parent, values."""
        if self._coarse is None:
            cl = self.clusters
            sc, sn, parent = super_clusters(cl.centroids, cl.counts, per)
            self._coarse = (sc, sn, parent, super_values(cl.values, cl.counts, parent, sc.shape[1]))
        return self._coarse


def _frame(q: torch.Tensor, st: KVState) -> torch.Tensor:
    """Exact mask with the sink and the window set, the clustered region empty: (M, H, N)."""
    mask = torch.ones(q.shape[0], st.k.shape[0], st.k.shape[1], dtype=torch.bool)
    mask[..., st.layout.start:st.layout.end] = False
    return mask


def run_method(method: str, q: torch.Tensor, st: KVState, budget: int, *, q_lookup: torch.Tensor | None = None,
               page: int = PAGE, coarse_factor: int = 4, tau: float | None = None) -> dict:
    """One method's output for queries ``q`` (M, H, G, D) on ``st``.

    Returns ``out`` (M, H, G, D), ``exact_mask`` (M, H, N), ``selected`` tokens of the clustered
    region per (M, H), and ``bytes`` per KV head (mean over queries).
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {METHODS}")
    check_groups(q, st.k)
    lay, cl = st.layout, st.clusters
    d = q.shape[-1]
    tau = tau if tau is not None else tau_of(d)
    ql = q if q_lookup is None else q_lookup
    n_total, n_c = lay.total, lay.clustered
    if method != "exact":
        check_budget(budget, n_total)
    mask = _frame(q, st)
    replaced = None
    meta = 0.0
    rows = slice(lay.start, lay.end)
    if method == "exact":
        mask[:] = True
    elif method == "oracle":
        p = torch.softmax(tau * torch.einsum("mhgd,hnd->mhgn", q, st.k), -1).sum(2)[..., rows]
        top = p.topk(min(budget, n_c), -1).indices
        mask[..., rows] = torch.zeros_like(p, dtype=torch.bool).scatter_(-1, top, True)
        # every key is scored, so K is read in full; V only for the chosen tokens
        meta = (n_total - mask.sum(-1).double().mean().item()) * d * BYTES
    elif method == "quest":
        kr = st.k[:, rows]
        n_pages = math.ceil(n_c / page)
        pad = n_pages * page - n_c
        lo = torch.nn.functional.pad(kr, (0, 0, 0, pad), value=math.inf).view(kr.shape[0], n_pages, page, d).amin(2)
        hi = torch.nn.functional.pad(kr, (0, 0, 0, pad), value=-math.inf).view(kr.shape[0], n_pages, page, d).amax(2)
        bound = torch.maximum(torch.einsum("mhgd,hpd->mhgpd", q, lo), torch.einsum("mhgd,hpd->mhgpd", q, hi)).sum(-1).sum(2)
        top = bound.topk(min(max(budget // page, 0), n_pages), -1).indices if budget >= page else bound[..., :0].long()
        pages = torch.zeros_like(bound, dtype=torch.bool).scatter_(-1, top, True)
        mask[..., rows] = pages.repeat_interleave(page, -1)[..., :n_c]
        meta = 2 * n_pages * d * BYTES
    elif method in ("lookup", "multipole"):
        sel = select_within_budget(centroid_scores(ql, cl.centroids, cl.counts, tau), cl.counts, budget)
        mask[..., rows] = tokens_of(sel, cl.assign)
        meta = cl.n_clusters * (d * BYTES + 4)
        if method == "multipole":
            replaced = ~sel
            meta += cl.n_clusters * d * BYTES
    elif method == "hierarchical":
        sc, sn, parent, sv = st.coarse()
        fine, coarse = hierarchical_select(ql, cl.centroids, cl.counts, sc, sn, parent, budget, coarse_factor, tau)
        mask[..., rows] = tokens_of(fine, cl.assign)
        inside = coarse.gather(-1, parent[None].expand(q.shape[0], -1, -1))
        # fine terms inside selected super-clusters, super terms for the others
        fine_out = multipole_output(q, st.k, st.v, mask, ql, cl.centroids, cl.values, cl.counts, inside & ~fine, tau)
        coarse_part = multipole_output(q, st.k, st.v, torch.zeros_like(mask), ql, sc, sv, sn, ~coarse, tau)
        out, _ = merge([fine_out, coarse_part])
        n_in = inside.to(q.dtype).sum(-1).mean().item()
        meta = 2 * sc.shape[1] * d * BYTES + 2 * n_in * d * BYTES
        return _result(out, mask, lay, meta, d)
    out, _ = multipole_output(q, st.k, st.v, mask, ql, cl.centroids, cl.values, cl.counts, replaced, tau)
    return _result(out, mask, lay, meta, d)


def _result(out, mask, lay, meta, d) -> dict:
    exact_tokens = mask.sum(-1).to(torch.float64)
    selected = mask[..., lay.start:lay.end].sum(-1)
    nbytes = (2 * exact_tokens * d * BYTES).mean().item() + meta
    return dict(out=out, exact_mask=mask, selected=selected, bytes=nbytes)


def errors(out: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Relative :math:`\\ell_2` error :math:`\\|o - o_{exact}\\| / \\|o_{exact}\\|` per (M, H, G)."""
    return (out - ref).norm(dim=-1) / ref.norm(dim=-1).clamp(min=1e-30)


def mass_recall(probs: torch.Tensor, exact_mask: torch.Tensor) -> torch.Tensor:
    """Attention mass of the exactly attended tokens, :math:`\\sum_{j\\in E} p_j`, per (M, H, G)."""
    return (probs * exact_mask[:, :, None, :]).sum(-1)
