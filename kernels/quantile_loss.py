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
grid: the kernel :func:`_quantile_loss_fwd_kernel` writes one partial sum per program and
:func:`_quantile_loss_bwd_kernel` writes the gradient. The module keeps the arc of Triton's
tutorials: kernels, the wrapper :func:`quantile_loss_triton` (an autograd function), the torch
reference :func:`quantile_loss_reference`, the public :func:`quantile_loss` and the benchmark
:func:`bench_quantile_loss`.
"""
from __future__ import annotations

import statistics

import torch
import triton
import triton.language as tl

from kernels import dispatch

#: Grid rows ``(b, t, h)`` one program handles.
BLOCK_ROWS = 256


@triton.jit
def _quantile_loss_fwd_kernel(
    yhat_ptr,  # *[n_rows, Q] forecasts, contiguous
    y_ptr,  # *[n_rows] targets
    mask_ptr,  # *[n_rows] 0/1 weights, same dtype as yhat
    tau_ptr,  # *[Q] quantile levels, float32
    partial_ptr,  # *[n_programs] float32 out: masked pinball sum of this program's rows
    n_rows,  # number of grid rows B*F*H; the last block is masked
    Q: tl.constexpr,  # number of quantile levels
    BLOCK_Q: tl.constexpr,  # next power of two >= Q
    BLOCK: tl.constexpr,  # rows per program
):
    pid = tl.program_id(0)
    rows = pid * BLOCK + tl.arange(0, BLOCK)
    qs = tl.arange(0, BLOCK_Q)
    in_rows, in_q = rows < n_rows, qs < Q
    y = tl.load(y_ptr + rows, mask=in_rows, other=0.0).to(tl.float32)
    m = tl.load(mask_ptr + rows, mask=in_rows, other=0.0).to(tl.float32)
    tau = tl.load(tau_ptr + qs, mask=in_q, other=0.0)
    both = in_rows[:, None] & in_q[None, :]
    yhat = tl.load(yhat_ptr + rows[:, None] * Q + qs[None, :], mask=both, other=0.0).to(tl.float32)
    # rho_tau(u) = u (tau - 1{u<0}), u = y - yhat
    u = y[:, None] - yhat
    rho = u * (tau[None, :] - tl.where(u < 0, 1.0, 0.0))
    rho = tl.where(both, rho * m[:, None], 0.0)
    tl.store(partial_ptr + pid, tl.sum(tl.sum(rho, axis=1), axis=0))


@triton.jit
def _quantile_loss_bwd_kernel(
    yhat_ptr,  # *[n_rows, Q] forecasts
    y_ptr,  # *[n_rows] targets
    mask_ptr,  # *[n_rows] 0/1 weights
    tau_ptr,  # *[Q] quantile levels, float32
    grad_ptr,  # *[n_rows, Q] out: dL/dyhat, dtype of yhat
    scale,  # float: upstream gradient / (Q * max(1, sum m))
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
    y = tl.load(y_ptr + rows, mask=in_rows, other=0.0).to(tl.float32)
    m = tl.load(mask_ptr + rows, mask=in_rows, other=0.0).to(tl.float32)
    tau = tl.load(tau_ptr + qs, mask=in_q, other=0.0)
    offsets = rows[:, None] * Q + qs[None, :]
    yhat = tl.load(yhat_ptr + offsets, mask=both, other=0.0).to(tl.float32)
    # d rho_tau(y - yhat) / d yhat = 1{u<0} - tau
    g = (tl.where(y[:, None] - yhat < 0, 1.0, 0.0) - tau[None, :]) * m[:, None] * scale
    tl.store(grad_ptr + offsets, g.to(grad_ptr.dtype.element_ty), mask=both)


def _check(yhat, y, mask, taus, who: str):
    """Shapes and dtypes; returns ``taus`` as a float64 tensor on yhat's device."""
    for name, t in (("yhat", yhat), ("y", y), ("mask", mask)):
        if not isinstance(t, torch.Tensor):
            raise ValueError(f"{who}: {name} must be a torch.Tensor, got {type(t).__name__}")
    if yhat.dim() < 1 or not yhat.dtype.is_floating_point:
        raise ValueError(f"{who}: yhat must be a floating tensor [..., Q], got {yhat.dtype} of shape {tuple(yhat.shape)}")
    if y.shape != yhat.shape[:-1] or mask.shape != yhat.shape[:-1]:
        raise ValueError(f"{who}: y and mask must have shape yhat.shape[:-1]={tuple(yhat.shape[:-1])}, "
                         f"got {tuple(y.shape)} and {tuple(mask.shape)}")
    # a list of Python floats must not pass through float32 on its way to a float64 reference
    taus = (taus if isinstance(taus, torch.Tensor) else torch.tensor(taus, dtype=torch.float64))
    taus = taus.to(device=yhat.device, dtype=torch.float64).reshape(-1)
    if taus.numel() != yhat.shape[-1]:
        raise ValueError(f"{who}: {taus.numel()} quantile levels for {yhat.shape[-1]} forecast columns")
    if taus.numel() == 0 or not bool(((taus > 0) & (taus < 1)).all()):
        raise ValueError(f"{who}: quantile levels must lie in (0, 1), got {taus.tolist()}")
    return taus


def _launch_args(yhat):
    Q = yhat.shape[-1]
    n_rows = yhat.numel() // Q
    return Q, n_rows, triton.next_power_of_2(Q), triton.cdiv(max(n_rows, 1), BLOCK_ROWS)


class _QuantileLossTriton(torch.autograd.Function):
    @staticmethod
    def forward(ctx, yhat, y, mask, taus):
        Q, n_rows, block_q, programs = _launch_args(yhat)
        yhat_c = yhat.contiguous()
        y_c = y.to(yhat.dtype).contiguous()
        m_c = mask.to(yhat.dtype).contiguous()
        partial = torch.zeros(programs, dtype=torch.float32, device=yhat.device)
        if n_rows:
            _quantile_loss_fwd_kernel[(programs,)](yhat_c, y_c, m_c, taus, partial, n_rows,
                                                   Q=Q, BLOCK_Q=block_q, BLOCK=BLOCK_ROWS)
        count = m_c.sum(dtype=torch.float32).clamp_min(1.0)
        ctx.save_for_backward(yhat_c, y_c, m_c, taus, count)
        return (partial.sum() / (Q * count)).to(yhat.dtype)

    @staticmethod
    def backward(ctx, grad_out):
        yhat, y, m, taus, count = ctx.saved_tensors
        Q, n_rows, block_q, programs = _launch_args(yhat)
        grad = torch.empty_like(yhat)
        if n_rows:
            scale = float(grad_out) / (Q * float(count))
            _quantile_loss_bwd_kernel[(programs,)](yhat, y, m, taus, grad, scale, n_rows,
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
    """
    taus = _check(yhat, y, mask, taus, "quantile_loss_triton")
    ok, reason = dispatch.triton_available(yhat.device)
    if not ok:
        raise RuntimeError(f"quantile_loss_triton cannot run here: {reason}")
    return _QuantileLossTriton.apply(yhat, y, mask, taus.float())


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


def bench_quantile_loss(shapes=((64, 16, 48, 3), (256, 64, 48, 9), (1024, 128, 48, 9)),
                        repeats: int = 50) -> list[dict]:
    """Time forward + backward of the Triton loss against the torch reference on the GPU.

    Medians of ``repeats`` runs with CUDA events after a warm-up. Returns one dict per grid
    shape ``[B, F, H, Q]`` with ``triton_ms``, ``reference_ms``, ``speedup`` and the largest
    gradient difference. Raises ``RuntimeError`` without a CUDA GPU.
    """
    if not torch.cuda.is_available():
        raise RuntimeError("bench_quantile_loss needs a CUDA GPU; torch.cuda.is_available() is False")
    ok, reason = dispatch.triton_available(torch.device("cuda"))
    if not ok:
        raise RuntimeError(f"bench_quantile_loss cannot run Triton here: {reason}")

    def step(fn, yhat, y, mask, taus):
        yhat.grad = None
        fn(yhat, y, mask, taus).backward()
        return yhat.grad

    def median_ms(fn, *args):
        step(fn, *args)
        times = []
        for _ in range(repeats):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            step(fn, *args)
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end))
        return statistics.median(times)

    results = []
    for shape in shapes:
        Q = shape[-1]
        taus = torch.linspace(0.05, 0.95, Q).tolist()
        yhat = torch.randn(shape, device="cuda", requires_grad=True)
        y = torch.randn(shape[:-1], device="cuda")
        mask = (torch.rand(shape[:-1], device="cuda") < 0.8).float()
        g_t = step(quantile_loss_triton, yhat, y, mask, taus).clone()
        g_r = step(quantile_loss_reference, yhat, y, mask, taus).clone()
        t_tri, t_ref = median_ms(quantile_loss_triton, yhat, y, mask, taus), median_ms(quantile_loss_reference, yhat, y, mask, taus)
        results.append(dict(shape=list(shape), triton_ms=t_tri, reference_ms=t_ref, speedup=t_ref / t_tri,
                            max_grad_err=(g_t - g_r).abs().max().item()))
    return results
