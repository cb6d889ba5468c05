"""Centroid lookup for Multipole Attention: normalised cluster scores summed over the GQA group.

For each KV head, its :math:`G` query heads :math:`q_g` and centroids :math:`Kc_i` of sizes
:math:`N_i` (``book/multipole_attention.md``):

.. math::

    s_{gi} = \\tau\\, q_g\\cdot Kc_i, \\qquad
    S_i = \\sum_{g} \\frac{e^{s_{gi}}}{\\sum_j N_j e^{s_{gj}}}.

Two passes over the centroids: pass 1 keeps a running max :math:`m_g` and denominator
:math:`\\ell_g = \\sum_j N_j e^{s_{gj}-m_g}` and stores :math:`s_{gi}` for reuse (the replacement
term needs them); pass 2 reloads them and writes :math:`S_i`. The query rows are padded to 16
for ``tl.dot``. Arc: :func:`_centroid_lookup_kernel`, :func:`centroid_lookup_triton`,
:func:`centroid_lookup_reference`, :func:`centroid_lookup`.
"""
from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

from kernels import dispatch

HEAD_DIMS = (16, 32, 64, 128, 256)


@triton.jit
def _centroid_lookup_kernel(
    q_ptr,  # *[BH, G, D] queries of the G query heads sharing each KV head (flattened batch x KV head)
    kc_ptr,  # *[BH, C, D] key centroids
    n_ptr,  # *fp32 [BH, C] cluster sizes N_i
    logit_ptr,  # *fp32 [BH, G, C] out: tau q.Kc, kept for the replacement term
    score_ptr,  # *fp32 [BH, C] out: S_i summed over the group
    G, C, scale,  # group size, centroids, tau
    D: tl.constexpr, BLOCK_G: tl.constexpr, BLOCK_C: tl.constexpr,
):
    bh = tl.program_id(0).to(tl.int64)  # bh * C * D overflows int32 at long contexts
    g = tl.arange(0, BLOCK_G)
    d = tl.arange(0, D)
    g_ok = g < G
    q = tl.load(q_ptr + bh * G * D + g[:, None] * D + d[None, :], mask=g_ok[:, None], other=0.0)
    m = tl.full((BLOCK_G,), -1e30, tl.float32)
    den = tl.zeros((BLOCK_G,), tl.float32)
    # pass 1: running max and denominator sum_j N_j exp(s_j - m)
    for c0 in range(0, C, BLOCK_C):
        c = c0 + tl.arange(0, BLOCK_C)
        c_ok = c < C
        kc = tl.load(kc_ptr + bh * C * D + c[:, None] * D + d[None, :], mask=c_ok[:, None], other=0.0)
        n = tl.load(n_ptr + bh * C + c, mask=c_ok, other=0.0)
        s = tl.dot(q.to(kc.dtype), tl.trans(kc)).to(tl.float32) * scale
        tl.store(logit_ptr + bh * G * C + g[:, None] * C + c[None, :], s, mask=g_ok[:, None] & c_ok[None, :])
        live = c_ok & (n > 0)
        m_new = tl.maximum(m, tl.max(tl.where(live[None, :], s, -1e30), 1))
        w = n[None, :] * tl.exp(tl.where(live[None, :], s - m_new[:, None], -1e30))
        den = den * tl.exp(m - m_new) + tl.sum(w, 1)
        m = m_new
    # pass 2 reads logits that other threads of this program stored in pass 1: make them visible
    tl.debug_barrier()
    # pass 2: S_i = sum_g exp(s_gi - m_g) / den_g
    for c0 in range(0, C, BLOCK_C):
        c = c0 + tl.arange(0, BLOCK_C)
        c_ok = c < C
        s = tl.load(logit_ptr + bh * G * C + g[:, None] * C + c[None, :], mask=g_ok[:, None] & c_ok[None, :], other=-1e30)
        p = tl.where(g_ok[:, None], tl.exp(s - m[:, None]) / den[:, None], 0.0)
        tl.store(score_ptr + bh * C + c, tl.sum(p, 0), mask=c_ok)


def _check(q, kc, counts, who):
    if q.dim() != 3 or kc.dim() != 4 or counts.dim() != 3:
        raise ValueError(f"{who}: q must be (B, Hq, D), centroids (B, Hkv, C, D), counts (B, Hkv, C); "
                         f"got {tuple(q.shape)}, {tuple(kc.shape)}, {tuple(counts.shape)}")
    b, hq, d = q.shape
    if kc.shape[0] != b or kc.shape[-1] != d:
        raise ValueError(f"{who}: centroids {tuple(kc.shape)} do not match queries {tuple(q.shape)} in batch or head_dim")
    hkv = kc.shape[1]
    if hkv == 0 or hq % hkv:
        raise ValueError(f"{who}: mismatched GQA groups: {hq} query heads are not a multiple of {hkv} KV heads")
    if counts.shape != kc.shape[:3]:
        raise ValueError(f"{who}: counts {tuple(counts.shape)} must be (B, Hkv, C) = {tuple(kc.shape[:3])}")


def centroid_lookup_triton(q, kc, counts, scale: float | None = None):
    """Scores (B, Hkv, C) and logits (B, Hq, C) with the Triton kernel; see the module docstring."""
    _check(q, kc, counts, "centroid_lookup_triton")
    b, hq, d = q.shape
    if d not in HEAD_DIMS:
        raise ValueError(f"centroid_lookup_triton: head_dim {d} is not supported; the kernel takes {HEAD_DIMS}")
    ok, reason = dispatch.triton_available(q.device)
    if not ok:
        raise RuntimeError(f"centroid_lookup_triton cannot run here: {reason}")
    hkv, c = kc.shape[1], kc.shape[2]
    g = hq // hkv
    scale = scale if scale is not None else 1 / math.sqrt(d)
    logits = torch.empty(b, hq, c, dtype=torch.float32, device=q.device)
    scores = torch.empty(b, hkv, c, dtype=torch.float32, device=q.device)
    if c == 0:
        return scores, logits
    _centroid_lookup_kernel[(b * hkv,)](
        q.contiguous(), kc.contiguous(), counts.float().contiguous(), logits, scores, g, c, scale,
        D=d, BLOCK_G=max(16, triton.next_power_of_2(g)), BLOCK_C=32 if c <= 32 else 64, num_warps=4)
    return scores, logits


def centroid_lookup_reference(q, kc, counts, scale: float | None = None):
    """The same in torch: ``(N e^{s - m}).sum`` as the denominator, then the normalised scores."""
    _check(q, kc, counts, "centroid_lookup_reference")
    b, hq, d = q.shape
    hkv = kc.shape[1]
    scale = scale if scale is not None else 1 / math.sqrt(d)
    s = scale * torch.einsum("bhgd,bhcd->bhgc", q.float().view(b, hkv, hq // hkv, d), kc.float())
    n = counts.float()[:, :, None, :]
    m = torch.where(n > 0, s, torch.full_like(s, -math.inf)).amax(-1, keepdim=True)
    den = (n * torch.exp(s - m)).sum(-1, keepdim=True)
    scores = (torch.exp(s - m) / den).sum(2)
    return scores, s.reshape(b, hq, -1)


def centroid_lookup(q, kc, counts, scale: float | None = None):
    """Cluster scores :math:`S_i` (summed over the GQA group) and logits: Triton where it runs, torch elsewhere."""
    _check(q, kc, counts, "centroid_lookup")
    impl = dispatch.pick(centroid_lookup_triton, centroid_lookup_reference, q, name="centroid_lookup")
    return impl(q, kc, counts, scale)
