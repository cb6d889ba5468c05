"""Masked multi-quantile (pinball) loss over the forking-sequences grid, with its gradient.

Forking-sequences (``book/forking_sequences.md``) trains on a grid of forecasts
``yhat[b, t, h, q]``: series ``b``, forecast creation date ``t``, horizon ``h``, quantile
level ``tau_q``. The loss is the pinball loss averaged over the observed targets,

.. math::

    \\mathcal L = \\frac{\\sum_{b,t,h} m_{bth} \\sum_q \\rho_{\\tau_q}(y_{bth} - \\hat y_{bthq})}
                       {|\\mathcal Q| \\, \\max(1, \\sum_{b,t,h} m_{bth})}, \\qquad
    \\rho_\\tau(u) = u\\,(\\tau - \\mathbb 1\\{u < 0\\}),

with ``m`` the mask (0 for padding and targets past the end of the data), and its gradient
``dL/dyhat = m (1{u<0} - tau) / (|Q| max(1, sum m))``. Both passes are one fused read of the
grid: the kernel :func:`_quantile_loss_fwd_kernel` writes one partial pinball sum and one partial
mask count per program, :func:`_quantile_loss_finish_kernel` adds them on the device and keeps
``1/(|Q| max(1, sum m))`` there, and :func:`_quantile_loss_bwd_kernel` writes the gradient
scaled by the upstream gradient it reads from device memory. No step waits on the host, so a
training step can run under ``torch.cuda.set_sync_debug_mode("error")`` and inside a CUDA graph. The module keeps the arc of Triton's
tutorials: kernels, the wrapper :func:`quantile_loss_triton` (an autograd function), the torch
reference :func:`quantile_loss_reference`, the public :func:`quantile_loss` and the benchmark
:func:`bench_quantile_loss`.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from kernels import dispatch

#: Grid rows ``(b, t, h)`` one program handles.
BLOCK_ROWS = 256
#: Partial sums the finishing program adds per loop iteration.
BLOCK_PARTIALS = 1024


@triton.jit
def _quantile_loss_fwd_kernel(
    yhat_ptr,  # *[n_rows, Q] forecasts, contiguous
    y_ptr,  # *[n_rows] targets, any float dtype
    mask_ptr,  # *[n_rows] weights: bool, integer or float (counted here, not by torch)
    tau_ptr,  # *[Q] quantile levels, float32, already on the device
    partial_ptr,  # *[2 * n_programs] float32 out: [pid] masked pinball sum, [n_programs + pid] mask sum
    n_rows,  # number of grid rows B*F*H; the last block is masked
    n_programs,  # number of programs of this launch (offset of the mask sums)
    Q: tl.constexpr,  # number of quantile levels
    BLOCK_Q: tl.constexpr,  # next power of two >= Q
    BLOCK: tl.constexpr,  # rows per program
):
    pid = tl.program_id(0)
    rows = pid * BLOCK + tl.arange(0, BLOCK)
    qs = tl.arange(0, BLOCK_Q)
    in_rows, in_q = rows < n_rows, qs < Q
    y = tl.load(y_ptr + rows, mask=in_rows, other=0.0).to(tl.float32)
    m = tl.load(mask_ptr + rows, mask=in_rows, other=0).to(tl.float32)
    tau = tl.load(tau_ptr + qs, mask=in_q, other=0.0)
    both = in_rows[:, None] & in_q[None, :]
    yhat = tl.load(yhat_ptr + rows[:, None] * Q + qs[None, :], mask=both, other=0.0).to(tl.float32)
    # rho_tau(u) = u (tau - 1{u<0}), u = y - yhat
    u = y[:, None] - yhat
    rho = u * (tau[None, :] - tl.where(u < 0, 1.0, 0.0))
    rho = tl.where(both, rho * m[:, None], 0.0)
    tl.store(partial_ptr + pid, tl.sum(tl.sum(rho, axis=1), axis=0))
    tl.store(partial_ptr + n_programs + pid, tl.sum(tl.where(in_rows, m, 0.0), axis=0))


@triton.jit
def _quantile_loss_finish_kernel(
    partial_ptr,  # *[2 * n_programs] float32 from the forward kernel
    loss_ptr,  # *[1] out: the loss, dtype of yhat
    inv_ptr,  # *[1] float32 out: 1 / (Q max(1, sum m)), kept for the backward pass
    n_programs,
    Q: tl.constexpr,
    BLOCK: tl.constexpr,  # partial sums per iteration
):
    offs = tl.arange(0, BLOCK)
    acc = tl.zeros([BLOCK], dtype=tl.float32)
    cnt = tl.zeros([BLOCK], dtype=tl.float32)
    for start in range(0, n_programs, BLOCK):
        idx = start + offs
        acc += tl.load(partial_ptr + idx, mask=idx < n_programs, other=0.0)
        cnt += tl.load(partial_ptr + n_programs + idx, mask=idx < n_programs, other=0.0)
    inv = 1.0 / (Q * tl.maximum(tl.sum(cnt, axis=0), 1.0))
    tl.store(inv_ptr, inv)
    tl.store(loss_ptr, (tl.sum(acc, axis=0) * inv).to(loss_ptr.dtype.element_ty))


@triton.jit
def _quantile_loss_bwd_kernel(
    yhat_ptr,  # *[n_rows, Q] forecasts
    y_ptr,  # *[n_rows] targets
    mask_ptr,  # *[n_rows] weights
    tau_ptr,  # *[Q] quantile levels, float32
    grad_ptr,  # *[n_rows, Q] out: dL/dyhat, dtype of yhat
    gout_ptr,  # *[1] upstream gradient dL_total/dL (read on the device: no host sync)
    inv_ptr,  # *[1] float32 1 / (Q max(1, sum m)) from the finishing kernel
    n_rows,
    Q: tl.constexpr,
    BLOCK_Q: tl.constexpr,
    BLOCK: tl.constexpr,
):
    pid = tl.program_id(0)
    rows = pid * BLOCK + tl.arange(0, BLOCK)
    qs = tl.arange(0, BLOCK_Q)
    in_rows, in_q = rows < n_rows, qs < Q
    both = in_rows[:, None] & in_q[None, :]
    scale = tl.load(gout_ptr).to(tl.float32) * tl.load(inv_ptr)
    y = tl.load(y_ptr + rows, mask=in_rows, other=0.0).to(tl.float32)
    m = tl.load(mask_ptr + rows, mask=in_rows, other=0).to(tl.float32)
    tau = tl.load(tau_ptr + qs, mask=in_q, other=0.0)
    offsets = rows[:, None] * Q + qs[None, :]
    yhat = tl.load(yhat_ptr + offsets, mask=both, other=0.0).to(tl.float32)
    # d rho_tau(y - yhat) / d yhat = 1{u<0} - tau
    g = (tl.where(y[:, None] - yhat < 0, 1.0, 0.0) - tau[None, :]) * m[:, None] * scale
    tl.store(grad_ptr + offsets, g.to(grad_ptr.dtype.element_ty), mask=both)


def _check_shapes(yhat, y, mask, who: str) -> None:
    for name, t in (("yhat", yhat), ("y", y), ("mask", mask)):
        if not isinstance(t, torch.Tensor):
            raise ValueError(f"{who}: {name} must be a torch.Tensor, got {type(t).__name__}")
    if yhat.dim() < 1 or not yhat.dtype.is_floating_point:
        raise ValueError(f"{who}: yhat must be a floating tensor [..., Q], got {yhat.dtype} of shape {tuple(yhat.shape)}")
    if y.shape != yhat.shape[:-1] or mask.shape != yhat.shape[:-1]:
        raise ValueError(f"{who}: y and mask must have shape yhat.shape[:-1]={tuple(yhat.shape[:-1])}, "
                         f"got {tuple(y.shape)} and {tuple(mask.shape)}")


def _check(yhat, y, mask, taus, who: str):
    """Shapes and dtypes; returns ``taus`` as a float64 tensor on yhat's device (the reference's path)."""
    _check_shapes(yhat, y, mask, who)
    # a list of Python floats must not pass through float32 on its way to a float64 reference
    taus = (taus if isinstance(taus, torch.Tensor) else torch.tensor(taus, dtype=torch.float64))
    taus = taus.to(device=yhat.device, dtype=torch.float64).reshape(-1)
    if taus.numel() != yhat.shape[-1]:
        raise ValueError(f"{who}: {taus.numel()} quantile levels for {yhat.shape[-1]} forecast columns")
    if taus.numel() == 0 or not bool(((taus > 0) & (taus < 1)).all()):
        raise ValueError(f"{who}: quantile levels must lie in (0, 1), got {taus.tolist()}")
    return taus


#: Quantile levels already copied to a device, keyed by (levels, device): one copy, not one per step.
_LEVELS: dict = {}


def _device_levels(taus, q: int, device: torch.device, who: str) -> torch.Tensor:
    """``taus`` as a float32 tensor on ``device`` without a host sync in the steady state.

    A Python sequence is checked in Python and copied to the device once (cached); a tensor
    already on the device is checked there with ``torch._assert_async`` (no sync); a tensor on
    the CPU is checked on the CPU and copied (pass a list, or a tensor on the device, in loops).
    """
    if isinstance(taus, torch.Tensor):
        if taus.numel() != q:
            raise ValueError(f"{who}: {taus.numel()} quantile levels for {q} forecast columns")
        if taus.device.type == "cpu":
            vals = taus.double().reshape(-1)
            if q == 0 or not bool(((vals > 0) & (vals < 1)).all()):
                raise ValueError(f"{who}: quantile levels must lie in (0, 1), got {vals.tolist()}")
            return taus.reshape(-1).to(device=device, dtype=torch.float32)
        levels = taus.reshape(-1).to(device=device, dtype=torch.float32)
        torch._assert_async(((levels > 0) & (levels < 1)).all())
        return levels
    key = (tuple(float(t) for t in taus), str(device))
    if len(key[0]) != q:
        raise ValueError(f"{who}: {len(key[0])} quantile levels for {q} forecast columns")
    if q == 0 or not all(0 < t < 1 for t in key[0]):
        raise ValueError(f"{who}: quantile levels must lie in (0, 1), got {list(key[0])}")
    if key not in _LEVELS:
        if len(_LEVELS) > 64:
            _LEVELS.clear()
        _LEVELS[key] = torch.tensor(key[0], dtype=torch.float32).to(device)
    return _LEVELS[key]


def _launch_args(yhat):
    Q = yhat.shape[-1]
    n_rows = yhat.numel() // Q
    return Q, n_rows, triton.next_power_of_2(Q), triton.cdiv(max(n_rows, 1), BLOCK_ROWS)


def _flat(t: torch.Tensor) -> torch.Tensor:
    """Contiguous, with bool kept as bool (the kernels read any mask dtype)."""
    return t.contiguous()


class _QuantileLossTriton(torch.autograd.Function):
    """Three launches per step (forward, finish, backward), no host sync, capturable in a CUDA graph."""

    @staticmethod
    def forward(ctx, yhat, y, mask, taus):
        Q, n_rows, block_q, programs = _launch_args(yhat)
        yhat_c, y_c, m_c = yhat.contiguous(), _flat(y), _flat(mask)
        partial = torch.empty(2 * programs, dtype=torch.float32, device=yhat.device)
        loss = torch.empty((), dtype=yhat.dtype, device=yhat.device)
        inv = torch.empty((), dtype=torch.float32, device=yhat.device)
        _quantile_loss_fwd_kernel[(programs,)](yhat_c, y_c, m_c, taus, partial, n_rows, programs,
                                               Q=Q, BLOCK_Q=block_q, BLOCK=BLOCK_ROWS)
        _quantile_loss_finish_kernel[(1,)](partial, loss, inv, programs, Q=Q, BLOCK=BLOCK_PARTIALS)
        ctx.save_for_backward(yhat_c, y_c, m_c, taus, inv)
        return loss

    @staticmethod
    def backward(ctx, grad_out):
        yhat, y, m, taus, inv = ctx.saved_tensors
        Q, n_rows, block_q, programs = _launch_args(yhat)
        grad = torch.empty_like(yhat)
        if n_rows:
            _quantile_loss_bwd_kernel[(programs,)](yhat, y, m, taus, grad, grad_out.contiguous(), inv, n_rows,
                                                   Q=Q, BLOCK_Q=block_q, BLOCK=BLOCK_ROWS)
        return grad, None, None, None


def quantile_loss_triton(yhat: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, taus) -> torch.Tensor:
    """Masked mean pinball loss with Triton kernels for the forward and backward pass.

    Parameters
    ----------
    yhat : torch.Tensor, shape (..., Q)
        Quantile forecasts, e.g. the forking grid ``[B, F, H, Q]``; float32/float16/bfloat16
        (accumulated in float32), on a CUDA GPU or on the CPU under ``TRITON_INTERPRET=1``.
    y, mask : torch.Tensor, shape (...)
        Targets and 0/1 (or bool) weights.
    taus : sequence or tensor of Q levels in (0, 1).

    Returns
    -------
    torch.Tensor
        The scalar loss of the module docstring, differentiable in ``yhat``.

    No host sync per step: the mask is counted in the kernel, the levels are copied to the
    device once (see :func:`_device_levels`), the upstream gradient and the normaliser are read
    by the backward kernel from device memory; forward + backward can be captured in a CUDA graph.
    """
    _check_shapes(yhat, y, mask, "quantile_loss_triton")
    if not y.dtype.is_floating_point:
        raise ValueError(f"quantile_loss_triton: y must be floating, got {y.dtype}")
    levels = _device_levels(taus, yhat.shape[-1], yhat.device, "quantile_loss_triton")
    ok, reason = dispatch.triton_available(yhat.device)
    if not ok:
        raise RuntimeError(f"quantile_loss_triton cannot run here: {reason}")
    return _QuantileLossTriton.apply(yhat, y, mask, levels)


def quantile_loss_reference(yhat: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, taus) -> torch.Tensor:
    """The same loss in torch: ``(mask * rho).sum() / (Q * max(1, mask.sum()))``, any device and dtype."""
    taus = _check(yhat, y, mask, taus, "quantile_loss_reference").to(yhat.dtype)
    u = y.to(yhat.dtype).unsqueeze(-1) - yhat
    rho = torch.maximum(taus * u, (taus - 1) * u)
    m = mask.to(yhat.dtype)
    return (rho * m.unsqueeze(-1)).sum() / (yhat.shape[-1] * m.sum().clamp_min(1.0))


def quantile_loss(yhat: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, taus) -> torch.Tensor:
    """Masked multi-quantile loss over a forecast grid: Triton on a GPU, torch elsewhere.

    See the module docstring for the formula; ``kernels.dispatch.explain("quantile_loss")``
    says which implementation ran. float64 input always takes the reference (the kernel
    accumulates in float32).
    """
    if yhat.dtype == torch.float64:
        return quantile_loss_reference(yhat, y, mask, taus)
    return dispatch.pick(quantile_loss_triton, quantile_loss_reference, yhat, name="quantile_loss")(yhat, y, mask, taus)


def _reference_unchecked(yhat, y, m, taus_dev):
    """The reference's arithmetic without its input checks (a fair eager / torch.compile baseline)."""
    u = y.unsqueeze(-1) - yhat
    rho = torch.maximum(taus_dev * u, (taus_dev - 1) * u)
    return (rho * m.unsqueeze(-1)).sum() / (yhat.shape[-1] * m.sum().clamp_min(1.0))


#: What the benchmark is judged against (:func:`kernels.harness.judge_target`, recorded by ``kernels.bench``).
TARGET = {
    "statement": "set here (the issue gives no number): forward + backward at least as fast as eager torch at every "
                 "shape (speedup_vs_eager = eager median / kernel median)",
    "conditions": [{"metric": "speedup_vs_eager", "at_least": 1.0, "where": {"name": "triton"},
                    "baseline": "eager torch", "match": ("shape",)}]}


def bench_quantile_loss(shapes=((64, 16, 48, 3), (256, 64, 48, 9), (1024, 128, 48, 9), (4096, 128, 48, 9)),
                        ceil=None, compile_shapes=((4096, 128, 48, 9),)) -> list[dict]:
    """Time forward + backward of the Triton loss against eager torch and ``torch.compile`` on the GPU.

    Timings from :func:`kernels.harness.time_ms` (do_bench median and 20th/80th percentiles, in a
    CUDA graph under 50 µs). The least bytes of a step are one read of ``yhat, y, mask`` and one
    write of the gradient; the design reads the inputs twice (forward, backward). Returns one
    record per grid shape ``[B, F, H, Q]`` and variant (:func:`kernels.harness.entry`);
    ``torch.compile`` (a recompilation per shape) only at ``compile_shapes``. Raises
    ``RuntimeError`` without a CUDA GPU.
    """
    from kernels import harness

    if not torch.cuda.is_available():
        raise RuntimeError("bench_quantile_loss needs a CUDA GPU; torch.cuda.is_available() is False")
    ok, reason = dispatch.triton_available(torch.device("cuda"))
    if not ok:
        raise RuntimeError(f"bench_quantile_loss cannot run Triton here: {reason}")
    compiled, why = harness.compiled(_reference_unchecked)
    results = []
    gen = torch.Generator(device="cuda").manual_seed(0)
    for shape in shapes:
        Q = shape[-1]
        taus = [0.05 + 0.9 * i / max(Q - 1, 1) for i in range(Q)]
        taus_dev = torch.tensor(taus, device="cuda")
        yhat = torch.randn(shape, device="cuda", generator=gen).requires_grad_(True)
        y = torch.randn(shape[:-1], device="cuda", generator=gen)
        mask = torch.rand(shape[:-1], device="cuda", generator=gen) < 0.8
        maskf = mask.float()

        def step(loss_fn):
            def run():
                yhat.grad = None
                loss_fn().backward()
            return run

        tri = step(lambda: quantile_loss_triton(yhat, y, mask, taus))
        eager = step(lambda: _reference_unchecked(yhat, y, maskf, taus_dev))
        tri()
        g_t = yhat.grad.clone()
        eager()
        err = (g_t - yhat.grad).abs().max().item()
        n = yhat.numel() // Q
        min_bytes = 2 * yhat.numel() * 4 + n * (4 + 1)
        design = 3 * yhat.numel() * 4 + 2 * n * (4 + 1)
        common = dict(shape=list(shape), ceil=ceil, dtype="float32")
        results.append(harness.entry("triton", harness.time_ms(tri), min_bytes=min_bytes, design_bytes=design,
                                     max_grad_err=err, **common))
        for name, fn in (("eager torch", eager),
                         ("torch.compile", step(lambda: compiled(yhat, y, maskf, taus_dev)) if compiled else None)):
            if name == "torch.compile" and tuple(shape) not in {tuple(c) for c in compile_shapes}:
                continue  # forward + backward recompile for every shape: timed at compile_shapes only (budget)
            if fn is None:
                results.append({"name": name, "shape": list(shape), "error": why})
                continue
            base = harness.time_baseline(name, fn)
            results.append(harness.entry(name, base, min_bytes=min_bytes, **common) if "median_ms" in base
                           else {**base, "shape": list(shape)})
    return results
