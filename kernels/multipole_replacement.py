"""Multipole Attention's replacement term, and the whole sparse + replacement decode step.

Each cluster :math:`i` not selected by the lookup contributes one term with weight
:math:`N_i e^{\\tau q_\\ell\\cdot Kc_i}` and value :math:`Vc_i`: an :math:`N`-weighted softmax
over the non-selected centroids. The kernel emits it as one more partial
:math:`(o, \\mathrm{lse})` per split of the centroids, with logits
:math:`\\tau q_\\ell\\cdot Kc_i + \\log N_i`, and :func:`multipole_decode_triton` merges these with
the sparse split-KV partials of :mod:`kernels.sparse_decode` in one log-sum-exp reduce.

The torch reference is independent of the merge: one dense softmax over the concatenation of
the exactly attended keys and the non-selected centroids, the centroids' logits raised by
:math:`\\log N_i`. That this equals exact-part + replacement merged by LSE is itself tested.
See ``book/multipole_attention.md``.
"""
from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

from kernels import dispatch
from kernels.sparse_decode import (check_decode_inputs, check_head_dim, gather_tokens, launch_partials, lse_reduce,
                                   online_softmax_step, split_plan, store_split)


@triton.jit
def _replacement_partial_kernel(
    q_ptr,  # *[BH, G, D] lookup queries (windowed RoPE) of the query heads of each KV head
    kc_ptr, vc_ptr,  # *[BH, C, D] key and value centroids
    n_ptr,  # *fp32 [BH, C] cluster sizes N_i
    rep_ptr,  # *int8 [BH, C] 1 where the cluster is replaced (not selected)
    o_ptr,  # *fp32 [BH, P, G, D] out: partial outputs, slots P0 ..
    lse_ptr,  # *fp32 [BH, P, G] out: partial log-sum-exp
    G, C, P, P0, SPLIT_LEN, scale,
    D: tl.constexpr, BLOCK_G: tl.constexpr, BLOCK_C: tl.constexpr,
):
    bh, split = tl.program_id(0).to(tl.int64), tl.program_id(1)  # bh * S * D passes 2³¹ at long contexts
    g = tl.arange(0, BLOCK_G)
    d = tl.arange(0, D)
    g_ok = g < G
    q = tl.load(q_ptr + bh * G * D + g[:, None] * D + d[None, :], mask=g_ok[:, None], other=0.0)
    start = split * SPLIT_LEN
    m = tl.full((BLOCK_G,), -1e30, tl.float32)
    l = tl.zeros((BLOCK_G,), tl.float32)
    acc = tl.zeros((BLOCK_G, D), tl.float32)
    for c0 in range(0, SPLIT_LEN, BLOCK_C):
        c = start + c0 + tl.arange(0, BLOCK_C)
        in_range = (c < C) & (c < start + SPLIT_LEN)
        n = tl.load(n_ptr + bh * C + c, mask=in_range, other=0.0)
        rep = tl.load(rep_ptr + bh * C + c, mask=in_range, other=0)
        ok = in_range & (rep != 0) & (n > 0)
        kc = tl.load(kc_ptr + bh * C * D + c[:, None] * D + d[None, :], mask=ok[:, None], other=0.0)
        # logit of a multipole term: tau q.Kc_i + log N_i
        s = tl.dot(q.to(kc.dtype), tl.trans(kc)).to(tl.float32) * scale + tl.log(tl.where(ok, n, 1.0))[None, :]
        vc = tl.load(vc_ptr + bh * C * D + c[:, None] * D + d[None, :], mask=ok[:, None], other=0.0)
        m, l, acc = online_softmax_step(s, ok, vc, m, l, acc)
    store_split(o_ptr, lse_ptr, bh * P + P0 + split, acc, m, l, g, g_ok, d, G, D)


def _check(q, k, v, idx, lengths, q_r, kc, vc, counts, replaced, who):
    check_decode_inputs(q, k, v, idx, lengths, who)
    if q_r.shape != q.shape:
        raise ValueError(f"{who}: the lookup query {tuple(q_r.shape)} must have the query's shape {tuple(q.shape)}")
    b, hkv = k.shape[:2]
    if kc.dim() != 4 or kc.shape[:2] != (b, hkv) or kc.shape[-1] != q.shape[-1] or vc.shape != kc.shape:
        raise ValueError(f"{who}: centroids must be (B, Hkv, C, D) = ({b}, {hkv}, C, {q.shape[-1]}), value centroids alike; "
                         f"got {tuple(kc.shape)}, {tuple(vc.shape)}")
    if counts.shape != kc.shape[:3] or replaced.shape != kc.shape[:3]:
        raise ValueError(f"{who}: counts and replaced must be (B, Hkv, C) = {tuple(kc.shape[:3])}")
    if replaced.dtype != torch.bool:
        raise ValueError(f"{who}: replaced must be a boolean mask, got {replaced.dtype}")


def multipole_decode_triton(q, k, v, idx, lengths, q_r, kc, vc, counts, replaced, scale: float | None = None,
                            block_n: int = 64):
    """Sparse exact part over ``idx`` plus replacement over ``replaced`` centroids, merged: ``(o, lse)``.

    q, q_r (B, Hq, D): exact and lookup queries; k, v (B, Hkv, S, D); idx (B, Hkv, n) with
    ``lengths`` (B, Hkv), or ``None`` for all tokens; kc, vc (B, Hkv, C, D); counts, replaced (B, Hkv, C).
    """
    _check(q, k, v, idx, lengths, q_r, kc, vc, counts, replaced, "multipole_decode_triton")
    b, hq, d = q.shape
    check_head_dim(d, "multipole_decode_triton")
    ok, reason = dispatch.triton_available(q.device)
    if not ok:
        raise RuntimeError(f"multipole_decode_triton cannot run here: {reason}")
    hkv, c = k.shape[1], kc.shape[2]
    g = hq // hkv
    scale = scale if scale is not None else 1 / math.sqrt(d)
    n_max = idx.shape[2] if idx is not None else k.shape[2]
    splits, split_len = split_plan(n_max, b * hkv, block_n)
    block_c = 32 if c <= 32 else 64
    c_splits, c_len = split_plan(c, b * hkv, block_c)
    p = splits + c_splits
    o_part = torch.empty(b * hkv, p, g, d, dtype=torch.float32, device=q.device)
    lse_part = torch.empty(b * hkv, p, g, dtype=torch.float32, device=q.device)
    launch_partials(q, k, v, idx, lengths, scale, o_part, lse_part, 0, splits, split_len, block_n)
    _replacement_partial_kernel[(b * hkv, c_splits)](
        q_r.contiguous(), kc.contiguous(), vc.contiguous(), counts.float().contiguous(),
        replaced.to(torch.int8).contiguous(), o_part, lse_part, g, c, p, splits, c_len, scale,
        D=d, BLOCK_G=max(16, triton.next_power_of_2(g)), BLOCK_C=block_c, num_warps=4)
    out, lse = lse_reduce(o_part, lse_part, q.dtype)
    return out.view(b, hq, d), lse.view(b, hq)


def multipole_decode_reference(q, k, v, idx, lengths, q_r, kc, vc, counts, replaced, scale: float | None = None,
                               block_n: int = 64):
    """One dense softmax over ``[k_idx ; Kc_replaced]``, centroid logits raised by :math:`\\log N_i`."""
    _check(q, k, v, idx, lengths, q_r, kc, vc, counts, replaced, "multipole_decode_reference")
    b, hq, d = q.shape
    hkv = k.shape[1]
    g = hq // hkv
    scale = scale if scale is not None else 1 / math.sqrt(d)
    if idx is None:
        kk, vv, valid = k, v, torch.ones(k.shape[:3], dtype=torch.bool, device=k.device)
    else:
        kk, valid = gather_tokens(k, idx, lengths)
        vv, _ = gather_tokens(v, idx, lengths)
    s_exact = scale * torch.einsum("bhgd,bhnd->bhgn", q.float().view(b, hkv, g, d), kk.float())
    s_exact = s_exact.masked_fill(~valid[:, :, None, :], -math.inf)
    live = replaced & (counts > 0)
    s_cent = scale * torch.einsum("bhgd,bhcd->bhgc", q_r.float().view(b, hkv, g, d), kc.float()) \
        + torch.where(live, counts.float(), torch.ones_like(counts, dtype=torch.float32)).log()[:, :, None, :]
    s_cent = s_cent.masked_fill(~live[:, :, None, :], -math.inf)
    s = torch.cat((s_exact, s_cent), -1)
    lse = torch.logsumexp(s, -1)
    p = torch.exp(s - torch.where(torch.isfinite(lse), lse, torch.zeros_like(lse))[..., None])
    out = torch.einsum("bhgn,bhnd->bhgd", p, torch.cat((vv.float(), vc.float()), 2))
    return out.reshape(b, hq, d).to(q.dtype), lse.reshape(b, hq)


def multipole_decode(q, k, v, idx, lengths, q_r, kc, vc, counts, replaced, scale: float | None = None):
    """Sparse + replacement decode: Triton where it runs, torch elsewhere (``dispatch.explain``)."""
    _check(q, k, v, idx, lengths, q_r, kc, vc, counts, replaced, "multipole_decode")
    impl = dispatch.pick(multipole_decode_triton, multipole_decode_reference, q, name="multipole_decode")
    return impl(q, k, v, idx, lengths, q_r, kc, vc, counts, replaced, scale)
