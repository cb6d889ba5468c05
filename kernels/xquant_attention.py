"""Decode attention read straight from XQuant's packed X, with W_k and W_v absorbed (no K, V rebuilt).

XQuant (``book/xquant.md``) caches each token's layer input as :math:`b`-bit codes
:math:`q_{t,c}` with a scale :math:`s_{t,g}` and zero :math:`z_{t,g}` per group :math:`g` of
:math:`G` channels, :math:`\\hat x_{t,c} = q_{t,c} s_{t,g(c)} + z_{t,g(c)}`. Without RoPE,
keys and values are linear in :math:`\\hat x`, so one query head :math:`h` (key/value head
:math:`\\kappa(h)`, grouped-query attention allowed) attends without rebuilding them:

.. math::

    u^h = W_k^{\\kappa(h)} q^h / \\sqrt{d_h}, \\qquad
    \\text{score}_{t}^h = \\hat x_t \\cdot u^h
      = \\sum_g s_{t,g} \\sum_{c \\in g} q_{t,c} u^h_c + \\sum_g z_{t,g} U^h_g, \\quad U^h_g = \\sum_{c\\in g} u^h_c,

.. math::

    p^h = \\mathrm{softmax}_t(\\text{score}^h), \\qquad
    r^h_c = \\sum_t p^h_t \\hat x_{t,c} = \\sum_t (p^h_t s_{t,g(c)})\\, q_{t,c} + \\sum_t p^h_t z_{t,g(c)}, \\qquad
    o^h = r^h W_v^{\\kappa(h)}.

Scales and zeros are folded exactly (the two sums above): the codes are only ever multiplied by
a per-(token, group) weight, and the zeros enter through one sum per group. Two passes over X:
:func:`_scores_kernel` (all heads at once, one read of each token's codes, k-block = group so
each scale and zero is loaded once per token and group) and :func:`_absorb_v_kernel` (one
program per group of channels and split of the tokens). Per token and layer X costs
``d·b/8 + 4·d/G`` bytes per pass against ``2·d_kv·2`` for an FP16 K, V cache.

With RoPE the keys are position-dependent rotations of ``x̂ W_k`` and ``W_k`` no longer folds into
the query; :func:`xquant_attention_rope` rebuilds K (:func:`kernels.dequant_matmul.dequant_matmul`),
rotates it, and still absorbs V. Torch reference for both: dense attention on the dequantized X
(:func:`xquant_attention_reference`).

Arc of Triton's tutorials: the kernels, the wrapper :func:`xquant_attention_triton`, the reference,
the public :func:`xquant_attention` via :mod:`kernels.dispatch`, and :func:`bench_xquant_attention`.
"""
from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

from kernels import dispatch
from kernels.dequant_matmul import dequant_matmul, unpack_rows_reference


@triton.jit
def _unpack(codes_ptr, rows, row_ok, row_stride, c, BITS: tl.constexpr, ROW_BYTES):
    """Codes ``[len(rows), len(c)]`` (int32) of channels ``c`` in the packing of ``lab.quant.packing``."""
    bit = BITS * (c % 8)
    byte = (c // 8) * BITS + bit // 8
    shift = bit % 8
    base = codes_ptr + rows[:, None].to(tl.int64) * row_stride + byte[None, :]
    lo = tl.load(base, mask=row_ok[:, None], other=0).to(tl.int32)
    spill = row_ok[:, None] & ((shift[None, :] + BITS) > 8) & ((byte[None, :] + 1) < ROW_BYTES)
    hi = tl.load(base + 1, mask=spill, other=0).to(tl.int32)
    return ((lo | (hi << 8)) >> shift[None, :]) & ((1 << BITS) - 1)


@triton.jit
def _scores_kernel(
    codes_ptr,  # *uint8 [B, T, d*BITS/8] packed codes
    scale_ptr,  # *[B, T, d/GROUP] scales
    zero_ptr,  # *[B, T, d/GROUP] zeros
    u_ptr,  # *fp32 [B, H, d] folded queries u = W_k q / sqrt(d_h)
    ug_ptr,  # *fp32 [B, H, d/GROUP] group sums U of u
    s_out_ptr,  # *fp32 [B, H, T] out: scores
    T, H, D,  # tokens, query heads, width d
    BITS: tl.constexpr, GROUP: tl.constexpr,
    BLOCK_T: tl.constexpr,  # tokens per program
    BLOCK_H: tl.constexpr,  # next power of two >= H (at least 16 for tl.dot)
    USE_DOT: tl.constexpr,  # GROUP >= 16: tensor-core dot; else a broadcast sum
):
    b = tl.program_id(0)
    rows = tl.program_id(1) * BLOCK_T + tl.arange(0, BLOCK_T)
    row_ok = rows < T
    hs = tl.arange(0, BLOCK_H)
    h_ok = hs < H
    n_groups = D // GROUP
    row_bytes = D * BITS // 8
    tok = b * T + rows
    acc = tl.zeros((BLOCK_T, BLOCK_H), dtype=tl.float32)
    for g in range(0, n_groups):
        c = g * GROUP + tl.arange(0, GROUP)
        q = _unpack(codes_ptr, tok, row_ok, row_bytes, c, BITS, row_bytes).to(tl.float32)  # [BLOCK_T, GROUP]
        s = tl.load(scale_ptr + tok.to(tl.int64) * n_groups + g, mask=row_ok, other=0.0).to(tl.float32)
        z = tl.load(zero_ptr + tok.to(tl.int64) * n_groups + g, mask=row_ok, other=0.0).to(tl.float32)
        u = tl.load(u_ptr + (b * H + hs)[None, :] * D + c[:, None], mask=h_ok[None, :], other=0.0)  # [GROUP, BLOCK_H]
        ug = tl.load(ug_ptr + (b * H + hs) * n_groups + g, mask=h_ok, other=0.0)
        if USE_DOT:
            qu = tl.dot(q, u)
        else:
            qu = tl.sum(q[:, :, None] * u[None, :, :], axis=1)
        acc += s[:, None] * qu + z[:, None] * ug[None, :]
    tl.store(s_out_ptr + (b * H + hs)[None, :] * T + rows[:, None], acc, mask=row_ok[:, None] & h_ok[None, :])


@triton.jit
def _absorb_v_kernel(
    codes_ptr,  # *uint8 [B, T, d*BITS/8]
    scale_ptr, zero_ptr,  # *[B, T, d/GROUP]
    p_ptr,  # *fp32 [B, H, T] attention weights
    r_ptr,  # *fp32 [SPLITS, B, H, d] out: partial r = sum_t p_t x̂_t over this split's tokens
    T, H, D, tokens_per_split,
    BITS: tl.constexpr, GROUP: tl.constexpr,
    BLOCK_T: tl.constexpr, BLOCK_H: tl.constexpr, USE_DOT: tl.constexpr,
):
    b, g, split = tl.program_id(0), tl.program_id(1), tl.program_id(2)
    n_batch = tl.num_programs(0)
    hs = tl.arange(0, BLOCK_H)
    h_ok = hs < H
    n_groups = D // GROUP
    row_bytes = D * BITS // 8
    c = g * GROUP + tl.arange(0, GROUP)
    acc = tl.zeros((BLOCK_H, GROUP), dtype=tl.float32)
    zacc = tl.zeros((BLOCK_H,), dtype=tl.float32)
    t_lo = split * tokens_per_split
    for t0 in range(t_lo, t_lo + tokens_per_split, BLOCK_T):
        rows = t0 + tl.arange(0, BLOCK_T)
        row_ok = (rows < T) & (rows < t_lo + tokens_per_split)
        tok = b * T + rows
        q = _unpack(codes_ptr, tok, row_ok, row_bytes, c, BITS, row_bytes).to(tl.float32)  # [BLOCK_T, GROUP]
        s = tl.load(scale_ptr + tok.to(tl.int64) * n_groups + g, mask=row_ok, other=0.0).to(tl.float32)
        z = tl.load(zero_ptr + tok.to(tl.int64) * n_groups + g, mask=row_ok, other=0.0).to(tl.float32)
        p = tl.load(p_ptr + (b * H + hs)[:, None] * T + rows[None, :], mask=h_ok[:, None] & row_ok[None, :],
                    other=0.0)  # [BLOCK_H, BLOCK_T]
        ps = p * s[None, :]
        if USE_DOT:
            acc += tl.dot(ps, q)
        else:
            acc += tl.sum(ps[:, :, None] * q[None, :, :], axis=1)
        zacc += tl.sum(p * z[None, :], axis=1)
    r = acc + zacc[:, None]
    out = r_ptr + ((split * n_batch + b) * H + hs)[:, None].to(tl.int64) * D + c[None, :]
    tl.store(out, r, mask=h_ok[:, None])


def _check(query, codes, scale, zero, w_k, w_v, bits, group, n_kv_heads, who):
    for name, t in (("query", query), ("codes", codes), ("scale", scale), ("zero", zero), ("w_k", w_k), ("w_v", w_v)):
        if not isinstance(t, torch.Tensor):
            raise ValueError(f"{who}: {name} must be a torch.Tensor, got {type(t).__name__}")
    if query.dim() != 3:
        raise ValueError(f"{who}: query must be [B, H, d_h] (one decode step), got shape {tuple(query.shape)}")
    if codes.dtype != torch.uint8 or codes.dim() != 3:
        raise ValueError(f"{who}: codes must be uint8 [B, T, d*bits/8], got {codes.dtype} {tuple(codes.shape)}")
    if not 1 <= bits <= 8:
        raise ValueError(f"{who}: bits must be in 1..8, got {bits}")
    bsz, n_heads, head_dim = query.shape
    d = w_k.shape[0]
    if n_kv_heads < 1 or n_heads % n_kv_heads:
        raise ValueError(f"{who}: {n_heads} query heads do not split into {n_kv_heads} key/value heads")
    if w_k.dim() != 2 or w_v.shape != w_k.shape or w_k.shape[1] != n_kv_heads * head_dim:
        raise ValueError(f"{who}: w_k and w_v must both be [d, n_kv_heads*d_h] = [d, {n_kv_heads * head_dim}], "
                         f"got {tuple(w_k.shape)} and {tuple(w_v.shape)}")
    if d % 8 or group < 1 or d % group:
        raise ValueError(f"{who}: width d={d} must be a multiple of 8 and of the group size {group}")
    if codes.shape[0] != bsz or codes.shape[2] != d * bits // 8:
        raise ValueError(f"{who}: codes must be [{bsz}, T, {d * bits // 8}], got {tuple(codes.shape)}")
    want = (bsz, codes.shape[1], d // group)
    if tuple(scale.shape) != want or tuple(zero.shape) != want:
        raise ValueError(f"{who}: scale and zero must have shape {want}, got {tuple(scale.shape)} and {tuple(zero.shape)}")
    if codes.shape[1] == 0:
        raise ValueError(f"{who}: no cached tokens (T = 0): attention over nothing is undefined")


def dequantize(codes, scale, zero, bits: int, group: int, d: int) -> torch.Tensor:
    """``x̂ = q s + z`` in float32, shape ``[B, T, d]`` (torch)."""
    bsz, t = codes.shape[:2]
    q = unpack_rows_reference(codes.reshape(bsz * t, -1), bits, d).to(torch.float32).reshape(bsz, t, d)
    return q * scale.float().repeat_interleave(group, -1) + zero.float().repeat_interleave(group, -1)


def _fold_query(query, w_k, n_kv_heads):
    """``u^h = W_k^{κ(h)} q^h / sqrt(d_h)``: [B, H, d] float32."""
    bsz, n_heads, head_dim = query.shape
    wk = w_k.float().reshape(w_k.shape[0], n_kv_heads, head_dim).repeat_interleave(n_heads // n_kv_heads, 1)
    return torch.einsum("bhe,dhe->bhd", query.float(), wk) / math.sqrt(head_dim)


def _unfold_output(r, w_v, n_kv_heads, head_dim):
    """``o^h = r^h W_v^{κ(h)}``: [B, H, d_h] float32."""
    n_heads = r.shape[1]
    wv = w_v.float().reshape(w_v.shape[0], n_kv_heads, head_dim).repeat_interleave(n_heads // n_kv_heads, 1)
    return torch.einsum("bhd,dhe->bhe", r, wv)


def _block_h(n_heads: int) -> int:
    return max(16, triton.next_power_of_2(n_heads))


def _scores_triton(u, codes, scale, zero, bits, group, block_t=32):
    bsz, t = codes.shape[:2]
    n_heads, d = u.shape[1], u.shape[2]
    ug = u.reshape(bsz, n_heads, d // group, group).sum(-1).contiguous()
    scores = torch.empty(bsz, n_heads, t, dtype=torch.float32, device=codes.device)
    _scores_kernel[(bsz, triton.cdiv(t, block_t))](codes, scale, zero, u.contiguous(), ug, scores, t, n_heads, d,
                                                   BITS=bits, GROUP=group, BLOCK_T=block_t,
                                                   BLOCK_H=_block_h(n_heads), USE_DOT=group >= 16)
    return scores


def _absorb_v_triton(p, codes, scale, zero, bits, group, d, splits=None, block_t=32):
    bsz, t = codes.shape[:2]
    n_heads = p.shape[1]
    if splits is None:  # enough programs to fill a GPU at batch 1, each with >= 256 tokens
        splits = max(1, min(triton.cdiv(t, 256), triton.cdiv(264, bsz * (d // group))))
    per_split = triton.cdiv(triton.cdiv(t, splits), block_t) * block_t
    splits = triton.cdiv(t, per_split)
    r = torch.empty(splits, bsz, n_heads, d, dtype=torch.float32, device=codes.device)
    _absorb_v_kernel[(bsz, d // group, splits)](codes, scale, zero, p.contiguous(), r, t, n_heads, d, per_split,
                                                BITS=bits, GROUP=group, BLOCK_T=block_t,
                                                BLOCK_H=_block_h(n_heads), USE_DOT=group >= 16)
    return r.sum(0)


def xquant_attention_triton(query, codes, scale, zero, w_k, w_v, bits: int, group: int, n_kv_heads: int,
                            splits: int | None = None) -> torch.Tensor:
    """One decode step of attention on packed X with W_k, W_v absorbed (module docstring), no RoPE.

    Parameters
    ----------
    query : [B, H, d_h] the step's query heads (before any scaling).
    codes : uint8 [B, T, d*bits/8] packed as :func:`lab.quant.packing.pack` packs each row.
    scale, zero : [B, T, d/group].
    w_k, w_v : [d, n_kv_heads*d_h] key and value projections (heads contiguous).
    bits, group, n_kv_heads : code width, channels per group, key/value heads (GQA when < H).
    splits : token splits of the value pass (default: enough programs to fill a GPU).

    Returns
    -------
    torch.Tensor [B, H, d_h] in float32: ``softmax(q Kᵀ/√d_h) V`` with ``K = X̂ W_k``, ``V = X̂ W_v``.
    """
    _check(query, codes, scale, zero, w_k, w_v, bits, group, n_kv_heads, "xquant_attention_triton")
    if group & (group - 1):
        raise ValueError(f"xquant_attention_triton: the group size must be a power of two (a Triton block), got {group}")
    ok, reason = dispatch.triton_available(codes.device)
    if not ok:
        raise RuntimeError(f"xquant_attention_triton cannot run here: {reason}")
    codes, scale, zero = codes.contiguous(), scale.contiguous(), zero.contiguous()
    d, head_dim = w_k.shape[0], query.shape[2]
    u = _fold_query(query, w_k, n_kv_heads)
    p = torch.softmax(_scores_triton(u, codes, scale, zero, bits, group), dim=-1)
    r = _absorb_v_triton(p, codes, scale, zero, bits, group, d, splits)
    return _unfold_output(r, w_v, n_kv_heads, head_dim)


def xquant_attention_reference(query, codes, scale, zero, w_k, w_v, bits: int, group: int, n_kv_heads: int,
                               positions=None, rope_base: float = 10000.0) -> torch.Tensor:
    """Dense attention on the dequantized X in float32: ``K = X̂ W_k`` (rotated when ``positions``), ``V = X̂ W_v``."""
    _check(query, codes, scale, zero, w_k, w_v, bits, group, n_kv_heads, "xquant_attention_reference")
    bsz, n_heads, head_dim = query.shape
    d = w_k.shape[0]
    xhat = dequantize(codes, scale, zero, bits, group, d)
    k, v = xhat @ w_k.float(), xhat @ w_v.float()
    if positions is not None:
        from lab.llm.model import apply_rope

        k = apply_rope(k, positions, head_dim, rope_base)
    rep = n_heads // n_kv_heads
    k = k.reshape(bsz, -1, n_kv_heads, head_dim).repeat_interleave(rep, 2)  # [B, T, H, d_h]
    v = v.reshape(bsz, -1, n_kv_heads, head_dim).repeat_interleave(rep, 2)
    p = torch.softmax(torch.einsum("bhe,bthe->bht", query.float(), k) / math.sqrt(head_dim), dim=-1)
    return torch.einsum("bht,bthe->bhe", p, v)


def xquant_attention_rope(query, codes, scale, zero, w_k, w_v, bits: int, group: int, n_kv_heads: int,
                          positions, rope_base: float = 10000.0, splits: int | None = None) -> torch.Tensor:
    """With RoPE on K: rebuild K = X̂ W_k (dequant_matmul), rotate it, score; absorb V as without RoPE.

    ``query`` is already rotated to the step's position. Rebuilding K costs ``2·T·d·d_kv`` FLOPs
    and writes and reads ``T·d_kv`` values: RoPE is what blocks absorbing W_k.
    """
    _check(query, codes, scale, zero, w_k, w_v, bits, group, n_kv_heads, "xquant_attention_rope")
    from lab.llm.model import apply_rope

    bsz, t = codes.shape[:2]
    n_heads, head_dim = query.shape[1:]
    d = w_k.shape[0]
    k = dequant_matmul(codes.reshape(bsz * t, -1), scale.reshape(bsz * t, -1), zero.reshape(bsz * t, -1),
                       w_k, bits, group, out_dtype=torch.float32).reshape(bsz, t, -1)
    k = apply_rope(k, positions, head_dim, rope_base)
    k = k.reshape(bsz, t, n_kv_heads, head_dim).repeat_interleave(n_heads // n_kv_heads, 2)
    p = torch.softmax(torch.einsum("bhe,bthe->bht", query.float(), k) / math.sqrt(head_dim), dim=-1)
    ok, _ = dispatch.triton_available(codes.device)
    if ok and not group & (group - 1):
        r = _absorb_v_triton(p, codes.contiguous(), scale.contiguous(), zero.contiguous(), bits, group, d, splits)
    else:
        r = torch.einsum("bht,btd->bhd", p, dequantize(codes, scale, zero, bits, group, d))
    return _unfold_output(r, w_v, n_kv_heads, head_dim)


def xquant_attention(query, codes, scale, zero, w_k, w_v, bits: int, group: int, n_kv_heads: int) -> torch.Tensor:
    """Absorbed attention on packed X: Triton on a capable GPU, the dense torch reference elsewhere."""
    impl = dispatch.pick(xquant_attention_triton, xquant_attention_reference, codes, name="xquant_attention")
    return impl(query, codes, scale, zero, w_k, w_v, bits, group, n_kv_heads)


def traffic(context: int, d: int, n_kv_heads: int, head_dim: int, n_heads: int, bits: int, group: int,
            batch: int = 1, meta_bytes: int = 2) -> dict:
    """Bytes and FLOPs of one decode step of one layer, per variant (plain arithmetic, for rooflines).

    * ``fp16_kv``: read K and V, ``2·T·d_kv·2`` bytes, ``4·T·H·d_h`` FLOPs;
    * ``absorbed``: two reads of the codes, scales and zeros (``T·(d·b/8 + 2·(d/G)·meta)`` each),
      ``4·T·H·d`` FLOPs;
    * ``rope_rebuild_k``: the rebuild of K (``2·T·d·d_kv`` FLOPs, codes read once, K written and
      read in FP16) plus the absorbed value pass.

    ``W_k, W_v`` (``2·d·d_kv·2`` bytes) are left out of every variant: each path reads them once
    per step anyway, to project the new token (FP16 path) or to fold the query and output.
    """
    d_kv = n_kv_heads * head_dim
    x_pass = context * (d * bits // 8 + 2 * (d // group) * meta_bytes)
    out = {
        "fp16_kv": {"bytes": batch * 2 * context * d_kv * 2, "flops": batch * 4 * context * n_heads * head_dim},
        "absorbed": {"bytes": batch * 2 * x_pass, "flops": batch * 4 * context * n_heads * d},
        "rope_rebuild_k": {"bytes": batch * (2 * x_pass + 2 * context * d_kv * 2),
                           "flops": batch * (2 * context * d * d_kv + 2 * context * n_heads * head_dim
                                             + 2 * context * n_heads * d)},
    }
    return out


#: What the benchmark is judged against (:func:`kernels.harness.judge_target`, recorded by ``kernels.bench``).
TARGET = {
    "statement": "set here (the issue gives no number): absorbed attention on packed X no slower than SDPA over "
                 "an FP16 KV cache (time_vs_fp16 ≤ 1)",
    "conditions": [{"metric": "time_vs_fp16", "at_most": 1.0, "where": {"name": "absorbed"}}]}


def bench_xquant_attention(contexts=(8192, 131072), batches=(1, 16), d: int = 4096, n_heads: int = 32,
                           n_kv_heads: int = 32, bits: int = 4, group: int = 128, ceil=None) -> list[dict]:
    """One decode step of one Llama-2-7B layer: absorbed attention on packed X against an FP16 KV cache.

    For each context and batch (skipping those whose FP16 cache exceeds 24 GiB), timed with
    :func:`kernels.harness.time_ms`: ``fp16 kv`` (``scaled_dot_product_attention`` over an FP16 K, V),
    ``absorbed`` (:func:`xquant_attention_triton`), ``rope rebuild K`` (:func:`xquant_attention_rope`);
    each record carries its bytes and FLOPs from :func:`traffic`, the time ratio to the FP16 path,
    and the relative error of the absorbed output against the FP16 path on the same X̂.
    Raises ``RuntimeError`` without a CUDA GPU.
    """
    from kernels import harness

    if not torch.cuda.is_available():
        raise RuntimeError("bench_xquant_attention needs a CUDA GPU; torch.cuda.is_available() is False")
    ok, reason = dispatch.triton_available(torch.device("cuda"))
    if not ok:
        raise RuntimeError(f"bench_xquant_attention cannot run Triton here: {reason}")
    head_dim = d // n_heads
    d_kv = n_kv_heads * head_dim
    gen = torch.Generator(device="cuda").manual_seed(0)
    w_k = (torch.randn(d, d_kv, device="cuda", generator=gen) / d**0.5).half()
    w_v = (torch.randn(d, d_kv, device="cuda", generator=gen) / d**0.5).half()
    results = []
    for batch in batches:
        for L in contexts:
            if 2 * batch * L * d_kv * 2 > 24 * 2**30:
                continue
            codes = torch.randint(0, 2**bits, (batch, L, d * bits // 8), device="cuda", dtype=torch.uint8,
                                  generator=gen)
            scale = (torch.rand(batch, L, d // group, device="cuda", generator=gen) * 0.1 + 0.01).half()
            zero = (-torch.rand(batch, L, d // group, device="cuda", generator=gen)).half()
            q = torch.randn(batch, n_heads, head_dim, device="cuda", generator=gen).half()
            pos = torch.arange(L, device="cuda")
            with torch.no_grad():
                k = torch.empty(batch, n_kv_heads, L, head_dim, device="cuda", dtype=torch.float16)
                v = torch.empty_like(k)
                for i in range(batch):  # one sequence at a time: the unpacking's int64 temporaries are large
                    xhat = dequantize(codes[i:i + 1], scale[i:i + 1], zero[i:i + 1], bits, group, d).half()[0]
                    k[i] = (xhat @ w_k).view(L, n_kv_heads, head_dim).transpose(0, 1)
                    v[i] = (xhat @ w_v).view(L, n_kv_heads, head_dim).transpose(0, 1)
                    del xhat
                rep = n_heads // n_kv_heads

                def fp16():
                    kk, vv = (k, v) if rep == 1 else (k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1))
                    return torch.nn.functional.scaled_dot_product_attention(q[:, :, None], kk, vv)[:, :, 0]

                absorbed = lambda: xquant_attention_triton(q, codes, scale, zero, w_k, w_v, bits, group, n_kv_heads)  # noqa: E731
                rope = lambda: xquant_attention_rope(q, codes, scale, zero, w_k, w_v, bits, group, n_kv_heads, pos)  # noqa: E731
                ref = fp16().float()
                rel_err = ((absorbed() - ref).norm() / ref.norm()).item()
                cost = traffic(L, d, n_kv_heads, head_dim, n_heads, bits, group, batch)
                common = dict(context=L, batch=batch, d=d, n_heads=n_heads, n_kv_heads=n_kv_heads, bits=bits,
                              group=group, ceil=ceil)
                base = harness.entry("fp16 kv", harness.time_ms(fp16), min_bytes=cost["fp16_kv"]["bytes"],
                                     min_flops=cost["fp16_kv"]["flops"], **common)
                results.append(base)
                for name, fn, key in (("absorbed", absorbed, "absorbed"), ("rope rebuild K", rope, "rope_rebuild_k")):
                    e = harness.entry(name, harness.time_ms(fn), min_bytes=cost[key]["bytes"],
                                      min_flops=cost[key]["flops"], **common)
                    e.update(time_vs_fp16=e["median_ms"] / base["median_ms"],
                             bytes_vs_fp16=cost[key]["bytes"] / cost["fp16_kv"]["bytes"])
                    if name == "absorbed":
                        e["rel_err_vs_fp16"] = rel_err
                    results.append(e)
            del codes, scale, zero, k, v
            torch.cuda.empty_cache()
    return results
