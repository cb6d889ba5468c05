"""Fused Gaussian-copula path sampler over ``[B, N, H]`` (``book/copula_sample_paths.md``).

For each series ``b`` with quantile knots ``q[b, h, m]`` at levels ``α_m`` and latent
correlation ``ρ_b``, each of the N paths is

.. math::

    z_1 = ε_1,\\quad z_h = ρ_b z_{h-1} + \\sqrt{1-ρ_b^2}\\,ε_h,\\qquad
    u_h = Φ(z_h) = \\tfrac12\\big(1 + \\operatorname{erf}(z_h/\\sqrt2)\\big),\\qquad
    y_h = q_{h,k} + \\frac{q_{h,k+1}-q_{h,k}}{α_{k+1}-α_k}(u_h - α_k),

with ``k`` the last knot at or below ``u_h`` clamped to ``0..M-2`` (so the tails extend the end
segments linearly, the chapter's default tail rule). One program owns ``BLOCK`` rows
``(b, n)`` and scans ``h`` sequentially: Philox normals (``tl.randn``) or injected ``ε``, the
AR(1) step, Φ via ``erf``, the interpolation against the knots, and one write of each path value.
The module keeps the arc of Triton's tutorials: the kernel, the wrapper
:func:`copula_paths_triton`, the torch reference :func:`copula_paths_reference`, the public
:func:`copula_paths` and the benchmark :func:`bench_copula_paths`.
"""
from __future__ import annotations

import statistics

import torch
import triton
import triton.language as tl

from kernels import dispatch

#: Rows (b, n) one program handles.
BLOCK_ROWS = 128


@triton.jit
def _copula_paths_kernel(
    q_ptr,  # *[B, H, M] float32 quantile knots, contiguous, non-decreasing in m
    lv_ptr,  # *[M] float32 quantile levels, strictly increasing
    rho_ptr,  # *[B] float32 latent lag-1 correlation per series, |ρ| < 1
    eps_ptr,  # *[B, N, H] float32 injected normals (read only when USE_EPS)
    out_ptr,  # *[B, N, H] float32 out: the paths
    seed,  # int: Philox seed of tl.randn (when not USE_EPS)
    n_rows,  # B * N
    N,  # paths per series
    H,  # horizon
    M: tl.constexpr,  # number of quantile levels
    USE_EPS: tl.constexpr,  # read ε from eps_ptr instead of drawing it
    BLOCK: tl.constexpr,  # rows per program
):
    pid = tl.program_id(0)
    rows = pid * BLOCK + tl.arange(0, BLOCK)
    live = rows < n_rows
    b = rows // N
    rho = tl.load(rho_ptr + b, mask=live, other=0.0)
    c = tl.sqrt(1.0 - rho * rho)
    z = tl.zeros([BLOCK], dtype=tl.float32)
    for h in range(0, H):
        off = rows * H + h
        if USE_EPS:
            e = tl.load(eps_ptr + off, mask=live, other=0.0)
        else:
            e = tl.randn(seed, off)
        z = tl.where(h == 0, e, rho * z + c * e)
        u = 0.5 * (1.0 + tl.erf(z * 0.7071067811865476))
        # segment k: number of interior levels α_1..α_{M-2} at or below u (0..M-2)
        k = tl.zeros([BLOCK], dtype=tl.int32)
        for m in tl.static_range(1, M - 1):
            k += (u >= tl.load(lv_ptr + m)).to(tl.int32)
        base = q_ptr + (b * H + h) * M
        q0 = tl.load(base + k, mask=live, other=0.0)
        q1 = tl.load(base + k + 1, mask=live, other=0.0)
        a0 = tl.load(lv_ptr + k, mask=live, other=0.0)
        a1 = tl.load(lv_ptr + k + 1, mask=live, other=1.0)
        y = q0 + (q1 - q0) / (a1 - a0) * (u - a0)
        tl.store(out_ptr + off, y, mask=live)


def _check(q, levels, rho, n_paths, eps, who: str):
    """Validate the inputs; return (levels [M] float64, rho [B] float64) on q's device."""
    if not isinstance(q, torch.Tensor) or q.dim() != 3 or not q.dtype.is_floating_point:
        raise ValueError(f"{who}: quantiles must be a floating tensor [B, H, M], got "
                         f"{getattr(q, 'dtype', type(q).__name__)} of shape {tuple(getattr(q, 'shape', ()))}")
    B, H, M = q.shape
    if not isinstance(n_paths, int) or n_paths < 1:
        raise ValueError(f"{who}: the number of paths N must be an integer ≥ 1, got {n_paths!r}")
    lv = torch.as_tensor(levels, dtype=torch.float64).reshape(-1).to(q.device)
    if lv.numel() != M or M < 2:
        raise ValueError(f"{who}: {lv.numel()} quantile levels for {M} knots (need ≥ 2)")
    if not bool(((lv > 0) & (lv < 1)).all()) or bool((lv.diff() <= 0).any()):
        raise ValueError(f"{who}: levels must be strictly increasing inside (0, 1), got {lv.tolist()}")
    if not bool(torch.isclose(lv, torch.tensor(0.5, dtype=lv.dtype, device=lv.device)).any()):
        raise ValueError(f"{who}: the quantile grid has no median level 0.5: {lv.tolist()}")
    if not bool(torch.isfinite(q).all()):
        raise ValueError(f"{who}: quantiles hold NaN or infinite values")
    if bool((q.diff(dim=-1) < 0).any()):
        raise ValueError(f"{who}: quantiles decrease in the level (non-monotone grid); sort them first")
    r = torch.as_tensor(rho, dtype=torch.float64).to(q.device)
    r = r.expand(B) if r.dim() == 0 else r.reshape(-1)
    if r.numel() != B:
        raise ValueError(f"{who}: rho must be a scalar or [B] = [{B}], got {r.numel()} values")
    if not bool(torch.isfinite(r).all()) or bool((r.abs() >= 1).any()):
        raise ValueError(f"{who}: the latent correlation ρ must satisfy |ρ| < 1, got {r[:5].tolist()}")
    if eps is not None and tuple(eps.shape) != (B, n_paths, H):
        raise ValueError(f"{who}: injected normals must be [B, N, H] = {(B, n_paths, H)}, got {tuple(eps.shape)}")
    return lv, r


def copula_paths_triton(q: torch.Tensor, levels, rho, n_paths: int, *, seed: int = 0,
                        eps: torch.Tensor | None = None) -> torch.Tensor:
    """Copula paths ``[B, N, H]`` (float32) from knots ``q [B, H, M]`` with the Triton kernel.

    ``rho``: scalar or ``[B]``; ``eps``: optional injected normals ``[B, N, H]`` (otherwise
    Philox normals from ``seed``). Linear tails. On a CUDA GPU or under ``TRITON_INTERPRET=1``.
    """
    lv, r = _check(q, levels, rho, n_paths, eps, "copula_paths_triton")
    ok, reason = dispatch.triton_available(q.device)
    if not ok:
        raise RuntimeError(f"copula_paths_triton cannot run here: {reason}")
    B, H, M = q.shape
    out = torch.empty(B, n_paths, H, dtype=torch.float32, device=q.device)
    n_rows = B * n_paths
    if n_rows == 0 or H == 0:
        return out
    e = eps.to(torch.float32).contiguous() if eps is not None else out  # unused pointer when drawing
    grid = (triton.cdiv(n_rows, BLOCK_ROWS),)
    _copula_paths_kernel[grid](q.to(torch.float32).contiguous(), lv.to(torch.float32), r.to(torch.float32), e, out,
                               int(seed), n_rows, n_paths, H, M=M, USE_EPS=eps is not None, BLOCK=BLOCK_ROWS)
    return out


def copula_paths_reference(q: torch.Tensor, levels, rho, n_paths: int, *, seed: int = 0,
                           eps: torch.Tensor | None = None) -> torch.Tensor:
    """The same sampler in torch: ``torch.randn`` (or ``eps``), the AR(1) loop, ``ndtr``,
    ``searchsorted`` and linear interpolation. Output in q's dtype (float64 stays float64)."""
    lv, r = _check(q, levels, rho, n_paths, eps, "copula_paths_reference")
    B, H, M = q.shape
    dt = q.dtype
    if eps is None:
        g = torch.Generator(device=q.device).manual_seed(int(seed))
        eps = torch.randn(B, n_paths, H, generator=g, device=q.device, dtype=dt)
    eps = eps.to(dt)
    rr, cc = r.to(dt)[:, None], torch.sqrt(1 - r * r).to(dt)[:, None]
    z = torch.empty_like(eps)
    if H:
        z[..., 0] = eps[..., 0]
    for h in range(1, H):
        z[..., h] = rr * z[..., h - 1] + cc * eps[..., h]
    u = torch.special.ndtr(z)
    lvd = lv.to(dt)
    k = (torch.searchsorted(lvd, u.contiguous(), right=True) - 1).clamp(0, M - 2)  # [B, N, H]
    qx = q[:, None].expand(B, n_paths, H, M)
    q0, q1 = qx.gather(-1, k[..., None])[..., 0], qx.gather(-1, (k + 1)[..., None])[..., 0]
    a0, a1 = lvd[k], lvd[k + 1]
    return q0 + (q1 - q0) / (a1 - a0) * (u - a0)


def copula_paths(q: torch.Tensor, levels, rho, n_paths: int, *, seed: int = 0,
                 eps: torch.Tensor | None = None) -> torch.Tensor:
    """Copula sample paths: Triton on a capable GPU, the torch reference elsewhere.

    float64 input always takes the reference (the kernel computes in float32). Random streams
    differ between the two (Philox against torch's generator); with ``eps`` they agree.
    """
    if q.dtype == torch.float64:
        return copula_paths_reference(q, levels, rho, n_paths, seed=seed, eps=eps)
    fn = dispatch.pick(copula_paths_triton, copula_paths_reference, q, name="copula_paths")
    return fn(q, levels, rho, n_paths, seed=seed, eps=eps)


#: What the benchmark is judged against (:func:`kernels.harness.judge_target`, recorded by ``kernels.bench``).
TARGET = {
    "statement": "set here (the issue gives no number): the fused sampler at least as fast as the torch reference",
    "conditions": [{"metric": "speedup", "at_least": 1.0}]}


def bench_copula_paths(shapes=((64, 100, 48), (414, 1000, 48), (2048, 1000, 64)), repeats: int = 20) -> list[dict]:
    """Time the Triton sampler against the torch reference on the GPU; the kernel's bandwidth
    counts the paths it writes (4 bytes per value) plus the knots it reads."""
    if not torch.cuda.is_available():
        raise RuntimeError("bench_copula_paths needs a CUDA GPU")
    ok, reason = dispatch.triton_available(torch.device("cuda"))
    if not ok:
        raise RuntimeError(f"bench_copula_paths cannot run Triton here: {reason}")

    def median_ms(fn, *args, **kw):
        fn(*args, **kw)
        times = []
        for _ in range(repeats):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn(*args, **kw)
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end))
        return statistics.median(times)

    levels = [i / 10 for i in range(1, 10)]
    results = []
    for B, N, H in shapes:
        q = torch.randn(B, H, 9, device="cuda").sort(-1).values
        rho = torch.rand(B, device="cuda") * 0.99
        eps = torch.randn(B, N, H, device="cuda")
        err = (copula_paths_triton(q, levels, rho, N, eps=eps) - copula_paths_reference(q, levels, rho, N, eps=eps)).abs().max().item()
        t_tri = median_ms(copula_paths_triton, q, levels, rho, N, seed=1)
        t_ref = median_ms(copula_paths_reference, q, levels, rho, N, seed=1)
        bytes_moved = 4 * (B * N * H + B * H * 9)
        results.append(dict(shape=[B, N, H], triton_ms=t_tri, reference_ms=t_ref, speedup=t_ref / t_tri,
                            gb_per_s=bytes_moved / t_tri / 1e6, max_err_injected=err))
    return results


