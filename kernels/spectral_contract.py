"""FNO spectral contraction on the retained Fourier modes: ``y[b,o,k] = Σ_i x[b,i,k] W[i,o,k]``.

A Fourier layer of an FNO (``lab/pde_pretraining/fno.py``, ``book/pde_pretraining.md``) keeps
``K`` low modes of each channel's FFT and mixes channels with a separate complex matrix per mode.
For each mode ``k`` this is a small complex GEMM ``[B, I] @ [I, O]``, with the complex product
split into real parts,

    Re y = Re x · Re W − Im x · Im W,     Im y = Re x · Im W + Im x · Re W,

reading ``x`` and ``W`` in their interleaved (re, im) layout, so the complex tensors need no
de-interleaving copy. Two designs:

- ``"dot"`` (the default): one program per (mode, block of batch rows, block of output channels)
  and four ``tl.dot``s per channel block; each program gathers one mode, 8 bytes out of every
  32-byte sector;
- ``"modes"`` (up to :data:`UNROLL_MAX_I` input channels): one program per block of 16 modes ×
  8 batch rows × 16 output channels; modes are the contiguous axis, so each load reads whole
  sectors, and the channel sum is an unrolled loop of rank-1 updates on the CUDA cores.

Measured on an H200 at the headline size (batch 32, width 32, 12 modes; 2026-12-04, both in one
run): ``"dot"`` 25.8 µs, ``"modes"`` 56.5 µs, ``torch.einsum`` 12.7 µs, so neither design reaches
the issue's 1.5× over the einsum; ``"dot"``, the faster, is the default. Both are latency-bound
(7 MB move in 1.7 µs at the copy bandwidth). The torch reference is
``torch.einsum("bik,iok->bok", x, W)`` on complex tensors. The backward of the input reuses the
kernel with ``W`` conjugated and transposed (``∂L/∂x = Σ_o ∂L/∂y · conj(W)ᵀ``); the weight's
gradient, a reduction over the batch, uses the einsum.
"""
from __future__ import annotations

import torch

from kernels.dispatch import pick

try:
    import triton
    import triton.language as tl
except ImportError:  # pragma: no cover - the reference still works
    triton = None

if triton is not None:

    @triton.jit
    def _spectral_contract_kernel(
        x_ptr,  # float32 view of complex x [B, I, K] as [B, I, K, 2]
        w_ptr,  # float32 view of complex W [I, O, K] as [I, O, K, 2]
        y_ptr,  # float32 view of complex y [B, O, K] as [B, O, K, 2] (written)
        B, I, O,  # batch, input and output channels
        sxb, sxi, sxk,  # strides of x in float32 elements (the re/im stride is 1)
        swi, swo, swk,  # strides of W
        syb, syo, syk,  # strides of y
        BLOCK_B: tl.constexpr, BLOCK_I: tl.constexpr, BLOCK_O: tl.constexpr,
    ):
        k = tl.program_id(0)
        pb = tl.program_id(1)
        po = tl.program_id(2)
        rb = pb * BLOCK_B + tl.arange(0, BLOCK_B)
        ro = po * BLOCK_O + tl.arange(0, BLOCK_O)
        acc_re = tl.zeros((BLOCK_B, BLOCK_O), dtype=tl.float32)
        acc_im = tl.zeros((BLOCK_B, BLOCK_O), dtype=tl.float32)
        for i0 in range(0, I, BLOCK_I):
            ri = i0 + tl.arange(0, BLOCK_I)
            xm = (rb[:, None] < B) & (ri[None, :] < I)
            xo = x_ptr + rb[:, None] * sxb + ri[None, :] * sxi + k * sxk
            xr = tl.load(xo, mask=xm, other=0.0)
            xi = tl.load(xo + 1, mask=xm, other=0.0)
            wm = (ri[:, None] < I) & (ro[None, :] < O)
            wo = w_ptr + ri[:, None] * swi + ro[None, :] * swo + k * swk
            wr = tl.load(wo, mask=wm, other=0.0)
            wi = tl.load(wo + 1, mask=wm, other=0.0)
            # Re y = Re x Re W − Im x Im W ;  Im y = Re x Im W + Im x Re W
            # IEEE fp32 products (not TF32): the kernel is compared with complex64 einsum, which is exact fp32
            acc_re += tl.dot(xr, wr, input_precision="ieee") - tl.dot(xi, wi, input_precision="ieee")
            acc_im += tl.dot(xr, wi, input_precision="ieee") + tl.dot(xi, wr, input_precision="ieee")
        ym = (rb[:, None] < B) & (ro[None, :] < O)
        yo = y_ptr + rb[:, None] * syb + ro[None, :] * syo + k * syk
        tl.store(yo, acc_re, mask=ym)
        tl.store(yo + 1, acc_im, mask=ym)

    @triton.jit
    def _spectral_contract_modes_kernel(
        x_ptr, w_ptr, y_ptr,  # float32 views of complex x [B, I, K], W [I, O, K], y [B, O, K] (written)
        B, O, K,
        sxb, sxi, swi, swo, syb, syo,  # strides in float32 elements; the mode stride is 2 (contiguous modes)
        I: tl.constexpr, BLOCK_B: tl.constexpr, BLOCK_O: tl.constexpr, BLOCK_K: tl.constexpr,
    ):
        """One program per (block of modes, block of batch rows, block of output channels).

        Modes are the fastest axis in memory, so a block of modes is read as whole sectors (the
        re/im pair of each mode side by side); the channel sum is a loop of rank-1 complex updates
        ``acc[b, o, k] += x[b, i, k] · W[i, o, k]`` on the CUDA cores (no tensor-core tile can use
        a per-mode matrix), unrolled over the ``I`` input channels so the loads can be issued early.
        """
        pk = tl.program_id(0)
        pb = tl.program_id(1)
        po = tl.program_id(2)
        rk = pk * BLOCK_K + tl.arange(0, BLOCK_K)
        rb = pb * BLOCK_B + tl.arange(0, BLOCK_B)
        ro = po * BLOCK_O + tl.arange(0, BLOCK_O)
        xm = (rb[:, None] < B) & (rk[None, :] < K)
        wm = (ro[:, None] < O) & (rk[None, :] < K)
        xo = x_ptr + rb[:, None] * sxb + 2 * rk[None, :]
        wo = w_ptr + ro[:, None] * swo + 2 * rk[None, :]
        acc_re = tl.zeros((BLOCK_B, BLOCK_O, BLOCK_K), dtype=tl.float32)
        acc_im = tl.zeros((BLOCK_B, BLOCK_O, BLOCK_K), dtype=tl.float32)
        for i in tl.static_range(I):
            xr = tl.load(xo + i * sxi, mask=xm, other=0.0)[:, None, :]
            xi = tl.load(xo + i * sxi + 1, mask=xm, other=0.0)[:, None, :]
            wr = tl.load(wo + i * swi, mask=wm, other=0.0)[None, :, :]
            wi = tl.load(wo + i * swi + 1, mask=wm, other=0.0)[None, :, :]
            acc_re += xr * wr - xi * wi
            acc_im += xr * wi + xi * wr
        ym = (rb[:, None, None] < B) & (ro[None, :, None] < O) & (rk[None, None, :] < K)
        yo = y_ptr + rb[:, None, None] * syb + ro[None, :, None] * syo + 2 * rk[None, None, :]
        tl.store(yo, acc_re, mask=ym)
        tl.store(yo + 1, acc_im, mask=ym)


def _check(x: torch.Tensor, w: torch.Tensor) -> None:
    if not (x.is_complex() and w.is_complex()):
        raise ValueError(f"spectral_contract needs complex x and W, got {x.dtype} and {w.dtype}")
    if x.dim() != 3 or w.dim() != 3:
        raise ValueError(f"spectral_contract needs x [B, I, K] and W [I, O, K], got {tuple(x.shape)} and {tuple(w.shape)}")
    if x.shape[1] != w.shape[0] or x.shape[2] != w.shape[2]:
        raise ValueError(f"x {tuple(x.shape)} and W {tuple(w.shape)} disagree on channels I or modes K")


def spectral_contract_reference(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``y[b,o,k] = Σ_i x[b,i,k] W[i,o,k]`` with ``torch.einsum`` (any device, any complex dtype)."""
    _check(x, w)
    return torch.einsum("bik,iok->bok", x, w)


def _as_real(x: torch.Tensor, w: torch.Tensor):
    B, I, K = x.shape
    O = w.shape[1]
    xr = torch.view_as_real(x.to(torch.complex64).resolve_conj().contiguous())
    wr = torch.view_as_real(w.to(torch.complex64).resolve_conj().contiguous())
    y = torch.empty(B, O, K, dtype=torch.complex64, device=x.device)
    return B, I, O, K, xr, wr, y, torch.view_as_real(y)


#: Input channels up to which the mode-vectorised kernel (unrolled over channels) may be asked for.
UNROLL_MAX_I = 64


def _launch(x: torch.Tensor, w: torch.Tensor, design: str = "auto") -> torch.Tensor:
    """``y = Σ_i x W`` by the per-mode ``tl.dot`` kernel (``"dot"``, the default) or the
    mode-vectorised kernel (``"modes"``, up to :data:`UNROLL_MAX_I` input channels)."""
    B, I, O, K, xr, wr, y, yr = _as_real(x, w)
    if design == "auto":
        design = "dot"
    if design == "modes":
        if I > UNROLL_MAX_I:
            raise ValueError(f"the 'modes' design unrolls over input channels, at most {UNROLL_MAX_I}; got {I}")
        block_k, block_b, block_o = 16, 8, 16
        grid = (triton.cdiv(K, block_k), triton.cdiv(B, block_b), triton.cdiv(O, block_o))
        _spectral_contract_modes_kernel[grid](
            xr, wr, yr, B, O, K,
            xr.stride(0), xr.stride(1), wr.stride(0), wr.stride(1), yr.stride(0), yr.stride(1),
            I=I, BLOCK_B=block_b, BLOCK_O=block_o, BLOCK_K=block_k,
        )
        return y
    if design != "dot":
        raise ValueError(f"design must be 'auto', 'modes' or 'dot', got {design!r}")
    block_b = 16 if B <= 16 else 32
    block_o = 16 if O <= 16 else 32
    grid = (K, triton.cdiv(B, block_b), triton.cdiv(O, block_o))
    _spectral_contract_kernel[grid](
        xr, wr, yr, B, I, O,
        xr.stride(0), xr.stride(1), xr.stride(2),
        wr.stride(0), wr.stride(1), wr.stride(2),
        yr.stride(0), yr.stride(1), yr.stride(2),
        BLOCK_B=block_b, BLOCK_I=16, BLOCK_O=block_o,
    )
    return y


class _Contract(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w):
        ctx.save_for_backward(x, w)
        return _launch(x, w)

    @staticmethod
    def backward(ctx, gy):
        x, w = ctx.saved_tensors
        gx = gw = None
        if ctx.needs_input_grad[0]:
            # torch's convention for complex gradients: ∂L/∂x* = Σ_o ∂L/∂y* · conj(W)
            gx = _launch(gy.contiguous(), w.conj().transpose(0, 1))
        if ctx.needs_input_grad[1]:
            gw = torch.einsum("bik,bok->iok", x.conj(), gy)
        return gx, gw


def spectral_contract_triton(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:  # noqa: D401
    """The Triton kernel (complex64), differentiable in ``x`` and ``W``."""
    _check(x, w)
    if triton is None:
        raise RuntimeError("triton is not installed")
    return _Contract.apply(x, w)


def spectral_contract(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``y[b,o,k] = Σ_i x[b,i,k] W[i,o,k]``: the Triton kernel where it can run, else the einsum."""
    _check(x, w)
    return pick(spectral_contract_triton, spectral_contract_reference, x, "spectral_contract")(x, w)


#: Target: the kernel is at least as fast as ``torch.einsum`` on complex64 (time ratio einsum / kernel ≥ 1).
TARGET_SPEEDUP = 1.5  # issue 19: ≥ 1.5× the einsum reference at 64², batch 32, width 32, 12 modes


#: What the benchmark is judged against (:func:`kernels.harness.judge_target`, recorded by ``kernels.bench``).
TARGET = {
    "statement": "issue 19: the kernel at least 1.5× as fast as torch.einsum on complex64 (batch 32, width 32, 12 modes)",
    "conditions": [{"metric": "speedup", "at_least": TARGET_SPEEDUP, "where": {"name": "triton"}}]}


def bench_spectral_contract(sizes=((32, 32, 32, 12),), device: str = "cuda", ceil=None) -> list[dict]:
    """The kernel against ``torch.einsum`` on complex64, timed with :func:`kernels.harness.time_ms`.

    Each size is (batch, in channels, out channels, modes per side); K = 2·m² retained modes as
    in a 2-D FNO layer with ``m`` modes (the headline: 64² grid, batch 32, width 32, 12 modes).
    Records from :func:`kernels.harness.entry`, one per size and variant; the ``"triton"`` one
    keeps ``batch, in, out, modes, triton_ms, einsum_ms, speedup, max_abs_err`` and states
    ``target`` / ``target_met`` (speedup ≥ 1). Raises ``RuntimeError`` without a GPU.
    """
    from kernels import harness

    if not torch.cuda.is_available():
        raise RuntimeError("bench_spectral_contract needs a CUDA GPU")
    rows = []
    gen = torch.Generator(device=device).manual_seed(0)
    for B, I, O, m in sizes:
        K = 2 * m * m
        x = torch.randn(B, I, K, dtype=torch.complex64, device=device, generator=gen)
        w = torch.randn(I, O, K, dtype=torch.complex64, device=device, generator=gen)
        err = (_launch(x, w) - torch.einsum("bik,iok->bok", x, w)).abs().max().item()
        err_modes = (_launch(x, w, "modes") - torch.einsum("bik,iok->bok", x, w)).abs().max().item()
        t_tri = harness.time_ms(lambda: _launch(x, w))
        t_modes = harness.time_ms(lambda: _launch(x, w, "modes"))
        t_ref = harness.time_baseline("einsum complex64", lambda: torch.einsum("bik,iok->bok", x, w))
        nbytes = 8 * (B * I * K + I * O * K + B * O * K)
        flops = 8 * B * I * O * K
        # element: complex64; the roofline's compute term uses the fp16 rate (memory-bound either way:
        # 75 MFLOP at the H200's ~67 TFLOP/s fp32 is 1.1 µs, its 7 MB at 4.2 TB/s 1.7 µs)
        common = {"batch": B, "in": I, "out": O, "modes": m, "ceil": ceil, "element": "complex64"}
        speed = t_ref["median_ms"] / t_tri["median_ms"] if "median_ms" in t_ref else None
        rows.append(harness.entry("triton", t_tri, min_bytes=nbytes, min_flops=flops, triton_ms=t_tri["median_ms"],
                                  einsum_ms=t_ref.get("median_ms"), speedup=speed, max_abs_err=err,
                                  target=f"speedup over einsum >= {TARGET_SPEEDUP}",
                                  target_met=None if speed is None else speed >= TARGET_SPEEDUP, **common))
        rows.append(harness.entry("triton mode-vectorised", t_modes, min_bytes=nbytes, min_flops=flops,
                                  max_abs_err=err_modes, speedup=(t_ref["median_ms"] / t_modes["median_ms"]
                                                                  if "median_ms" in t_ref else None), **common))
        rows.append(harness.entry(t_ref["name"], t_ref, min_bytes=nbytes, min_flops=flops, **common)
                    if "median_ms" in t_ref else {**t_ref, "batch": B, "modes": m})
    return rows
