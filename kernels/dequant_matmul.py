"""Dequantize packed low-bit X and multiply by [W_k | W_v] in one pass (XQuant's rematerialization).

XQuant (``book/xquant.md``) caches each token's layer input :math:`x_t \\in \\mathbb R^d` as
:math:`b`-bit codes :math:`q` with an FP16 scale :math:`s` and zero :math:`z` per group of
:math:`g` channels, and rebuilds keys and values at decode time:

.. math::

    [K \\,|\\, V]_{t,:} = \\sum_{c=0}^{d-1} \\big(q_{t,c}\\, s_{t,\\lfloor c/g\\rfloor} + z_{t,\\lfloor c/g\\rfloor}\\big)\\, W_{c,:},
    \\qquad W = [W_k \\,|\\, W_v] \\in \\mathbb R^{d\\times n}.

Codes use the packing of :mod:`lab.quant.packing`: eight consecutive codes of a row form one
little-endian word of :math:`8b` bits, stored as :math:`b` bytes, so code :math:`c` sits at bit
offset :math:`b\\,(c \\bmod 8)` of word :math:`\\lfloor c/8\\rfloor` and spans at most two bytes.
The kernel reads those bytes, shifts and masks in registers, applies the scale and zero, and
feeds ``tl.dot``: X̂ never goes to memory. RoPE on K is left to the caller.

When the group is a power of two of at least 16 channels, :func:`_dequant_matmul_group_kernel`
takes k-blocks of exactly one group, reads each row's group as one run of ``G·b/8`` contiguous
bytes, and folds the scale and zero out of the inner product exactly,

.. math::

    \\sum_{c \\in g} (q_{t,c} s_{t,g} + z_{t,g}) W_{c,:}
      = s_{t,g} \\sum_{c\\in g} q_{t,c} W_{c,:} + z_{t,g} \\sum_{c \\in g} W_{c,:},

so the tensor cores multiply the raw integer codes (exact in FP16/BF16) and each scale and zero
is loaded once per row and group. On a GPU its tiles are autotuned; other groups take
:func:`_dequant_matmul_kernel`.

Arc of Triton's tutorials: :func:`_dequant_matmul_kernel`, the wrapper
:func:`dequant_matmul_triton`, the torch reference :func:`dequant_matmul_reference`, the public
:func:`dequant_matmul` (via :mod:`kernels.dispatch`), and :func:`bench_dequant_matmul`.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from kernels import dispatch


@triton.jit
def _dequant_matmul_kernel(
    codes_ptr,  # *uint8 [T, d * BITS / 8] packed codes, one row per token
    scale_ptr,  # *fp16 [T, d / GROUP] per-group scale
    zero_ptr,  # *fp16 [T, d / GROUP] per-group zero point
    w_ptr,  # *[d, N] the projection [W_k | W_v], any float dtype
    out_ptr,  # *[T, N] output [K | V]
    T, N, D,  # tokens, output width, input width d (a multiple of 8)
    stride_codes, stride_meta, stride_w, stride_out,  # row strides, in elements
    BITS: tl.constexpr,  # code width, 1..8
    GROUP: tl.constexpr,  # channels per scale/zero group
    BLOCK_T: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
):
    pid_t, pid_n = tl.program_id(0), tl.program_id(1)
    rows = pid_t * BLOCK_T + tl.arange(0, BLOCK_T)
    cols = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    row_ok, col_ok = rows < T, cols < N
    row_bytes = D * BITS // 8
    acc = tl.zeros((BLOCK_T, BLOCK_N), dtype=tl.float32)
    for k0 in range(0, D, BLOCK_K):
        c = k0 + tl.arange(0, BLOCK_K)
        c_ok = c < D
        # code c: bit offset BITS * (c % 8) in word c // 8, i.e. byte word*BITS + offset//8, shift offset%8
        bit = BITS * (c % 8)
        byte = (c // 8) * BITS + bit // 8
        shift = bit % 8
        ok = row_ok[:, None] & c_ok[None, :]
        base = codes_ptr + rows[:, None] * stride_codes + byte[None, :]
        lo = tl.load(base, mask=ok, other=0).to(tl.int32)
        spill = ok & ((shift[None, :] + BITS) > 8) & ((byte[None, :] + 1) < row_bytes)
        hi = tl.load(base + 1, mask=spill, other=0).to(tl.int32)
        q = ((lo | (hi << 8)) >> shift[None, :]) & ((1 << BITS) - 1)
        meta = rows[:, None] * stride_meta + (c // GROUP)[None, :]
        s = tl.load(scale_ptr + meta, mask=ok, other=0.0).to(tl.float32)
        z = tl.load(zero_ptr + meta, mask=ok, other=0.0).to(tl.float32)
        # x̂ = q s + z, in registers only
        xhat = q.to(tl.float32) * s + z
        w = tl.load(w_ptr + c[:, None] * stride_w + cols[None, :], mask=c_ok[:, None] & col_ok[None, :], other=0.0)
        acc += tl.dot(xhat.to(w.dtype), w)
    tl.store(out_ptr + rows[:, None] * stride_out + cols[None, :], acc.to(out_ptr.dtype.element_ty),
             mask=row_ok[:, None] & col_ok[None, :])


@triton.jit
def _dequant_matmul_group_kernel(
    codes_ptr,  # *uint8 [T, d * BITS / 8] packed codes
    scale_ptr, zero_ptr,  # *[T, d / GROUP] per-group scale and zero
    w_ptr,  # *[d, N]
    out_ptr,  # *[T, N]
    T, N, D,
    stride_codes, stride_meta, stride_w, stride_out,
    BITS: tl.constexpr,
    GROUP: tl.constexpr,  # channels per group = the k-block, a power of two >= 16
    BLOCK_T: tl.constexpr, BLOCK_N: tl.constexpr,
):
    pid_t, pid_n = tl.program_id(0), tl.program_id(1)
    rows = pid_t * BLOCK_T + tl.arange(0, BLOCK_T)
    cols = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    row_ok, col_ok = rows < T, cols < N
    row_bytes = D * BITS // 8
    kk = tl.arange(0, GROUP)
    # bit position of channel k inside the group's GROUP*BITS/8 contiguous bytes (the group starts on a word)
    bit = BITS * kk
    byte = bit // 8
    shift = bit % 8
    two = (shift + BITS) > 8
    row_base = codes_ptr + rows[:, None].to(tl.int64) * stride_codes
    acc = tl.zeros((BLOCK_T, BLOCK_N), dtype=tl.float32)
    for g in range(0, D // GROUP):
        gbyte = g * (GROUP * BITS // 8)
        lo = tl.load(row_base + gbyte + byte[None, :], mask=row_ok[:, None], other=0).to(tl.int32)
        hi = tl.load(row_base + gbyte + byte[None, :] + 1,
                     mask=row_ok[:, None] & two[None, :] & (gbyte + byte[None, :] + 1 < row_bytes), other=0).to(tl.int32)
        q = ((lo | (hi << 8)) >> shift[None, :]) & ((1 << BITS) - 1)
        c = g * GROUP + kk
        w = tl.load(w_ptr + c[:, None] * stride_w + cols[None, :], mask=col_ok[None, :], other=0.0)
        s = tl.load(scale_ptr + rows.to(tl.int64) * stride_meta + g, mask=row_ok, other=0.0).to(tl.float32)
        z = tl.load(zero_ptr + rows.to(tl.int64) * stride_meta + g, mask=row_ok, other=0.0).to(tl.float32)
        # s * (q W_g) + z * (1ᵀ W_g): codes are exact integers in the dot's dtype
        acc += s[:, None] * tl.dot(q.to(w.dtype), w) + z[:, None] * tl.sum(w.to(tl.float32), axis=0)[None, :]
    tl.store(out_ptr + rows[:, None] * stride_out + cols[None, :], acc.to(out_ptr.dtype.element_ty),
             mask=row_ok[:, None] & col_ok[None, :])


#: Tile configurations autotuned on a GPU (keyed by the problem's size); the interpreter takes the first.
GROUP_CONFIGS = [
    triton.Config({"BLOCK_T": bt, "BLOCK_N": bn}, num_warps=nw, num_stages=ns)
    for bt, bn, nw, ns in ((128, 128, 8, 3), (128, 256, 8, 3), (64, 256, 8, 4), (128, 64, 4, 4), (64, 128, 4, 4),
                           (256, 128, 8, 3))
]
_dequant_matmul_group_autotuned = triton.autotune(GROUP_CONFIGS, key=["T", "N", "D", "BITS", "GROUP"])(
    _dequant_matmul_group_kernel)


def _check(codes, scale, zero, w, bits, group, who):
    for name, t in (("codes", codes), ("scale", scale), ("zero", zero), ("w", w)):
        if not isinstance(t, torch.Tensor) or t.dim() != 2:
            raise ValueError(f"{who}: {name} must be a 2-D tensor")
    if codes.dtype != torch.uint8:
        raise ValueError(f"{who}: codes must be uint8 (packed), got {codes.dtype}")
    if not 1 <= bits <= 8:
        raise ValueError(f"{who}: bits must be in 1..8, got {bits}")
    d = w.shape[0]
    if d % 8 or d % group:
        raise ValueError(f"{who}: input width d={d} must be a multiple of 8 and of the group size {group}")
    t = codes.shape[0]
    if codes.shape[1] != d * bits // 8:
        raise ValueError(f"{who}: codes have {codes.shape[1]} bytes per row, expected d*bits/8 = {d * bits // 8}")
    if scale.shape != (t, d // group) or zero.shape != (t, d // group):
        raise ValueError(f"{who}: scale and zero must have shape ({t}, {d // group})")
    if not w.dtype.is_floating_point:
        raise ValueError(f"{who}: w must be floating point, got {w.dtype}")


def dequant_matmul_triton(codes, scale, zero, w, bits: int, group: int, out_dtype=None) -> torch.Tensor:
    """:math:`\\mathrm{DQ}(q, s, z)\\,W` with the Triton kernel; see the module docstring.

    Parameters
    ----------
    codes : uint8 (T, d*bits/8), packed as :func:`lab.quant.packing.pack` packs each row.
    scale, zero : (T, d/group), FP16.
    w : (d, n) float; ``tl.dot`` runs in its dtype with FP32 accumulation.
    bits, group : code width (1..8) and channels per group.

    Returns
    -------
    torch.Tensor (T, n) in ``out_dtype`` (default ``w.dtype``).
    """
    _check(codes, scale, zero, w, bits, group, "dequant_matmul_triton")
    ok, reason = dispatch.triton_available(codes.device)
    if not ok:
        raise RuntimeError(f"dequant_matmul_triton cannot run here: {reason}")
    t, n = codes.shape[0], w.shape[1]
    out = torch.empty(t, n, dtype=out_dtype or w.dtype, device=codes.device)
    if t == 0 or n == 0:
        return out
    codes, w = codes.contiguous(), w.contiguous()
    scale, zero = scale.contiguous(), zero.contiguous()
    args = (codes, scale, zero, w, out, t, n, w.shape[0], codes.stride(0), scale.stride(0), w.stride(0), out.stride(0))
    if group >= 16 and not group & (group - 1) and w.dtype in (torch.float16, torch.bfloat16, torch.float32):
        if dispatch.interpreter_on():
            block_t, block_n = (32 if t >= 32 else 16), (64 if n >= 64 else 16)
            _dequant_matmul_group_kernel[(triton.cdiv(t, block_t), triton.cdiv(n, block_n))](
                *args, BITS=bits, GROUP=group, BLOCK_T=block_t, BLOCK_N=block_n)
        else:
            grid = lambda meta: (triton.cdiv(t, meta["BLOCK_T"]), triton.cdiv(n, meta["BLOCK_N"]))  # noqa: E731
            _dequant_matmul_group_autotuned[grid](*args, BITS=bits, GROUP=group)
        return out
    block_t = 64 if t >= 64 else 16
    block_n = 128 if n >= 128 else max(16, triton.next_power_of_2(n))
    block_k = 64
    grid = (triton.cdiv(t, block_t), triton.cdiv(n, block_n))
    _dequant_matmul_kernel[grid](*args, BITS=bits, GROUP=group, BLOCK_T=block_t, BLOCK_N=block_n, BLOCK_K=block_k,
                                 num_warps=4)
    return out


def unpack_rows_reference(codes: torch.Tensor, bits: int, d: int) -> torch.Tensor:
    """Unpack each row of ``codes`` into ``d`` integer codes (int64), in torch."""
    t = codes.shape[0]
    by = codes.to(torch.int64).view(t, d // 8, bits)
    word = (by << (8 * torch.arange(bits, device=codes.device))).sum(-1)
    q = (word[..., None] >> (bits * torch.arange(8, device=codes.device))) & (2**bits - 1)
    return q.reshape(t, d)


def dequant_matmul_reference(codes, scale, zero, w, bits: int, group: int, out_dtype=None) -> torch.Tensor:
    """The same product in torch: unpack, :math:`\\hat x = qs + z` in FP32, then ``@ w`` in FP32."""
    _check(codes, scale, zero, w, bits, group, "dequant_matmul_reference")
    d = w.shape[0]
    q = unpack_rows_reference(codes, bits, d).to(torch.float32)
    xhat = q * scale.float().repeat_interleave(group, dim=1) + zero.float().repeat_interleave(group, dim=1)
    return (xhat @ w.float()).to(out_dtype or w.dtype)


def dequant_matmul(codes, scale, zero, w, bits: int, group: int, out_dtype=None) -> torch.Tensor:
    """Rebuild :math:`[K|V] = \\hat X [W_k|W_v]` from packed X: Triton on a GPU, torch elsewhere.

    ``kernels.dispatch.explain("dequant_matmul")`` says which ran. See the module docstring.
    """
    _check(codes, scale, zero, w, bits, group, "dequant_matmul")
    impl = dispatch.pick(dequant_matmul_triton, dequant_matmul_reference, codes, name="dequant_matmul")
    return impl(codes, scale, zero, w, bits, group, out_dtype)


#: What the benchmark is judged against (:func:`kernels.harness.judge_target`, recorded by ``kernels.bench``).
TARGET = {
    "statement": "issue 21: the rebuild reaches ≥ 0.6 of the measured fp16 GEMM rate at ≥ 8K tokens",
    "conditions": [{"metric": "fraction_of_gemm_rate", "at_least": 0.6, "where_min": {"context": 8192}}]}


def bench_dequant_matmul(contexts=(8192, 32768, 131072), d: int = 4096, n_heads: int = 32,
                         n_kv_heads: int = 32, bits: int = 4, group: int = 128, ceil=None) -> list[dict]:
    """One decode step's attention, K and V rebuilt from packed X vs read from an FP16 KV cache.

    Defaults are one Llama-2-7B layer (d = 4096, 32 heads of 128, MHA), batch 1. For each context
    length L, with CUDA events (median of ``repeats``, L2 flushed before each run):

    * ``kv_ms``: ``scaled_dot_product_attention`` of one query over an FP16 K, V cache;
    * ``remat_ms``: :func:`dequant_matmul_triton` rebuilding [K|V] (FP16) from ``bits``-bit X,
      then the same attention on it (unfused: the rebuilt K, V are written and read once);
    * ``remat_only_ms``: the kernel alone;
    * ``unpack_matmul_ms``: the baseline it must beat, unpacking X̂ to FP16 in torch and ``torch.matmul``;
    * ``cublas_ms``: ``torch.matmul`` of an already dense FP16 X̂ by W (the GEMM alone);
    * ``fraction_of_gemm_rate``: the kernel's FLOP/s over the measured fp16 ``torch.matmul`` rate at
      8192³ (``ceil``, issue 21's target ≥ 0.6 at ≥ 8K tokens), and ``fraction_of_roofline``.

Timings are :func:`kernels.harness.time_ms` medians (20th/80th percentiles in ``*_p20_ms``, ``*_p80_ms``).

    Bytes: ``kv_bytes`` = 2·L·d_kv·2 read by the FP16 path; ``x_bytes`` = packed codes, scales and
    zeros plus :math:`W` (d·2d_kv·2) read by the kernel; ``remat_bytes`` adds the unfused write
    and read of the rebuilt K, V. ``flops`` = 2·L·d·2d_kv for the rebuild. RoPE is not applied.

    Raises
    ------
    RuntimeError
        Without a CUDA GPU on which Triton runs.
    """
    if not torch.cuda.is_available():
        raise RuntimeError("bench_dequant_matmul needs a CUDA GPU; torch.cuda.is_available() is False")
    ok, reason = dispatch.triton_available(torch.device("cuda"))
    if not ok:
        raise RuntimeError(f"bench_dequant_matmul cannot run Triton here: {reason}")
    from kernels import harness

    head_dim = d // n_heads
    d_kv = n_kv_heads * head_dim
    dev = "cuda"

    def median_ms(fn, key=None, into=None):
        timing = harness.time_ms(fn)
        if into is not None:
            into[f"{key}_p20_ms"], into[f"{key}_p80_ms"] = timing["p20_ms"], timing["p80_ms"]
        return timing["median_ms"]

    w = torch.randn(d, 2 * d_kv, device=dev, dtype=torch.float16) / d**0.5
    q = torch.randn(1, n_heads, 1, head_dim, device=dev, dtype=torch.float16)
    group_q = n_heads // n_kv_heads
    results = []
    for L in contexts:
        codes = torch.randint(0, 256, (L, d * bits // 8), device=dev, dtype=torch.uint8)
        scale = (torch.rand(L, d // group, device=dev) * 0.1 + 0.01).half()
        zero = (-torch.rand(L, d // group, device=dev)).half()
        k = torch.randn(1, n_kv_heads, L, head_dim, device=dev, dtype=torch.float16)
        v = torch.randn_like(k)

        def attend(kk, vv):
            if group_q > 1:
                kk, vv = kk.repeat_interleave(group_q, 1), vv.repeat_interleave(group_q, 1)
            return torch.nn.functional.scaled_dot_product_attention(q, kk, vv)

        def remat():
            kv = dequant_matmul_triton(codes, scale, zero, w, bits, group)
            kk = kv[:, :d_kv].view(L, n_kv_heads, head_dim).transpose(0, 1)[None]
            vv = kv[:, d_kv:].view(L, n_kv_heads, head_dim).transpose(0, 1)[None]
            return attend(kk, vv)

        def unpack_matmul():
            xq = unpack_rows_reference(codes, bits, d).half()
            xhat = xq * scale.repeat_interleave(group, 1) + zero.repeat_interleave(group, 1)
            return xhat @ w

        xdense = unpack_rows_reference(codes, bits, d).half() * scale.repeat_interleave(group, 1) \
            + zero.repeat_interleave(group, 1)
        sample = slice(0, min(L, 256))
        err = (dequant_matmul_triton(codes[sample], scale[sample], zero[sample], w, bits, group).float()
               - dequant_matmul_reference(codes[sample], scale[sample], zero[sample], w, bits, group).float()).abs().max().item()
        row = {}
        kv_ms = median_ms(lambda: attend(k, v), "kv", row)
        remat_ms = median_ms(remat, "remat", row)
        remat_only_ms = median_ms(lambda: dequant_matmul_triton(codes, scale, zero, w, bits, group), "remat_only", row)
        unpack_ms = median_ms(unpack_matmul, "unpack_matmul", row)
        cublas_ms = median_ms(lambda: xdense @ w, "cublas", row)
        kv_bytes = 2 * L * d_kv * 2
        x_bytes = codes.numel() + 4 * scale.numel() + w.numel() * 2
        flops = 2 * L * d * 2 * d_kv
        out_bytes = L * 2 * d_kv * 2
        row.update(context=L, d=d, d_kv=d_kv, bits=bits, group=group, kv_ms=kv_ms, remat_ms=remat_ms,
                   remat_only_ms=remat_only_ms, unpack_matmul_ms=unpack_ms, cublas_ms=cublas_ms,
                   kv_bytes=kv_bytes, x_bytes=x_bytes, remat_bytes=x_bytes + 2 * kv_bytes, flops=flops,
                   time_ratio=remat_ms / kv_ms, bytes_ratio=x_bytes / kv_bytes, max_abs_err=err,
                   kernel_TFLOPs=flops / (remat_only_ms * 1e-3) / 1e12,
                   vs_unpack_matmul=remat_only_ms / unpack_ms)
        if ceil is not None:
            row["fraction_of_gemm_rate"] = flops / (remat_only_ms * 1e-3) / ceil.matmul("float16")
            row["fraction_of_roofline"] = harness.roofline_ms(x_bytes + out_bytes, flops, ceil) / remat_only_ms
            row["kv_fraction_of_copy_bw"] = kv_bytes / (kv_ms * 1e-3) / ceil.copy_bytes_per_s
        results.append(row)
        del codes, scale, zero, k, v, xdense
        torch.cuda.empty_cache()
    return results
