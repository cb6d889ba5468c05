"""Time-dependent 1-D problems on the periodic interval ``[0, 1)``: heat, advection, Burgers.

Used by ``book/pde_pretraining.md`` (the time-dependent systems of the full tier) and its tests.
With ``x_j = j/n`` and wavenumbers ``k = 2π m``:

- heat ``u_t = D u_xx``: exact, ``û(t) = û(0) e^{-D k² t}``;
- advection ``u_t + β u_x = 0``: exact, ``û(t) = û(0) e^{-i β k t}`` (a shift by ``βt``);
- viscous Burgers ``u_t + u u_x = ν u_xx``: pseudo-spectral, integrating-factor RK4 with the
  2/3 de-aliasing rule, checked against the Cole–Hopf solution (:func:`burgers_cole_hopf`).

Initial conditions follow PDEBench's ``init_multi``: a sum of two sines ``A sin(k x + φ)`` with
``k = 2π n``, ``n ∈ {1..8}``, ``A ~ U[0, 1]``, ``φ ~ U[0, 2π]``; with probability 0.1 the absolute
value is taken, then a random sign; with probability 0.1 a tanh window multiplies it.
"""
from __future__ import annotations

import math

import torch


def wavenumbers(n: int, dtype=torch.float64) -> torch.Tensor:
    if n < 4 or n % 2:
        raise ValueError(f"grid size n must be even and at least 4, got {n}")
    return torch.fft.rfftfreq(n, d=1.0 / n, dtype=dtype) * 2 * math.pi


def initial_conditions(batch: int, n: int, seed: int, modes: int = 8, p_abs: float = 0.1,
                       p_window: float = 0.1) -> torch.Tensor:
    """``[batch, n]`` PDEBench-style initial conditions (see the module docstring).

    ``p_abs`` and ``p_window`` are the probabilities of the absolute value and of the tanh
    window (0.1 each in PDEBench); both make ``u0`` non-smooth.
    """
    g = torch.Generator().manual_seed(seed)
    x = torch.arange(n, dtype=torch.float64) / n
    k = 2 * math.pi * torch.randint(1, modes + 1, (batch, 2), generator=g).double()
    amp = torch.rand(batch, 2, generator=g, dtype=torch.float64)
    phase = 2 * math.pi * torch.rand(batch, 2, generator=g, dtype=torch.float64)
    u = (amp[..., None] * torch.sin(k[..., None] * x + phase[..., None])).sum(1)
    absolute = torch.rand(batch, generator=g) < p_abs
    u = torch.where(absolute[:, None], u.abs(), u)
    sign = torch.where(torch.rand(batch, generator=g) < 0.5, -1.0, 1.0).double()
    u = u * sign[:, None]
    window = torch.rand(batch, generator=g) < p_window
    x0, x1 = 0.1 + 0.3 * torch.rand(batch, generator=g).double(), 0.6 + 0.3 * torch.rand(batch, generator=g).double()
    w = 0.5 * (torch.tanh((x - x0[:, None]) / 0.02) - torch.tanh((x - x1[:, None]) / 0.02))
    return torch.where(window[:, None], u * w, u)


def heat(u0: torch.Tensor, D: torch.Tensor | float, t: torch.Tensor) -> torch.Tensor:
    """``[batch, len(t), n]``: the exact heat solution at times ``t``."""
    k = wavenumbers(u0.shape[-1])
    D = torch.as_tensor(D, dtype=torch.float64).reshape(-1, 1, 1)
    uh = torch.fft.rfft(u0)[:, None, :] * torch.exp(-D * k**2 * t[None, :, None])
    return torch.fft.irfft(uh, n=u0.shape[-1])


def advection(u0: torch.Tensor, beta: torch.Tensor | float, t: torch.Tensor) -> torch.Tensor:
    """``[batch, len(t), n]``: the exact advected profile ``u0(x - βt)``."""
    k = wavenumbers(u0.shape[-1])
    beta = torch.as_tensor(beta, dtype=torch.float64).reshape(-1, 1, 1)
    uh = torch.fft.rfft(u0)[:, None, :] * torch.exp(-1j * beta * k * t[None, :, None])
    return torch.fft.irfft(uh, n=u0.shape[-1])


def burgers(u0: torch.Tensor, nu: torch.Tensor | float, t: torch.Tensor, dt: float = 1e-4) -> torch.Tensor:
    """``[batch, len(t), n]``: viscous Burgers by integrating-factor RK4 in Fourier space.

    With ``v̂ = e^{ν k² s} û`` the stiff diffusion is integrated exactly and RK4 steps
    ``v̂_s = -e^{ν k² s} · (i k/2) FFT(u²)`` (de-aliased by the 2/3 rule).
    """
    n = u0.shape[-1]
    k = wavenumbers(n)
    nu = torch.as_tensor(nu, dtype=torch.float64).reshape(-1, 1)
    keep = (torch.arange(k.numel()) <= n // 3).double()

    def nonlinear(uh):
        u = torch.fft.irfft(uh, n=n)
        return -0.5j * k * torch.fft.rfft(u * u) * keep

    out = [u0.clone()] if t[0] == 0 else []
    uh, now = torch.fft.rfft(u0) * keep, 0.0
    targets = [float(s) for s in t if s > 0]
    for target in targets:
        steps = max(1, math.ceil((target - now) / dt - 1e-9))
        h = (target - now) / steps
        E, E2 = torch.exp(-nu * k**2 * h), torch.exp(-nu * k**2 * h / 2)
        for _ in range(steps):
            a = nonlinear(uh)
            b = nonlinear(E2 * (uh + h / 2 * a))
            c = nonlinear(E2 * uh + h / 2 * b)
            d = nonlinear(E * uh + h * E2 * c)
            uh = E * uh + h / 6 * (E * a + 2 * E2 * (b + c) + d)
        now = target
        out.append(torch.fft.irfft(uh, n=n))
    return torch.stack(out, dim=1)


def burgers_cole_hopf(u0: torch.Tensor, nu: float, t: torch.Tensor) -> torch.Tensor:
    """``[batch, len(t), n]``: Burgers through Cole–Hopf, ``u = -2ν φ_x / φ`` with ``φ_t = ν φ_xx``.

    ``φ(0) = exp(-∫₀ˣ u0 / (2ν))`` is periodic when ``u0`` has zero mean (required here); the
    heat equation for ``φ`` is solved exactly in Fourier space, so this is an independent
    reference for :func:`burgers` (accurate while ``φ`` is resolved on the grid).
    """
    n = u0.shape[-1]
    if u0.mean(-1).abs().max() > 1e-10:
        raise ValueError("Cole–Hopf needs zero-mean initial conditions")
    k = wavenumbers(n)
    uh = torch.fft.rfft(u0)
    ik = 1j * k
    ik[0] = 1.0
    integral_h = uh / ik
    integral_h[..., 0] = 0
    integral = torch.fft.irfft(integral_h, n=n)  # ∫ u0 up to a constant (zero-mean antiderivative)
    phi0 = torch.exp(-integral / (2 * nu))
    phih = torch.fft.rfft(phi0)[:, None, :] * torch.exp(-nu * k**2 * t[None, :, None])
    phi = torch.fft.irfft(phih, n=n)
    phix = torch.fft.irfft(1j * k * phih, n=n)
    return -2 * nu * phix / phi


def residual(system: str, u: torch.Tensor, coeff: torch.Tensor, dt: float) -> torch.Tensor:
    """PDE residual of a space–time field ``u [batch, T, n]``: spectral in ``x``, centred in ``t``.

    heat ``u_t - D u_xx``, advection ``u_t + β u_x``, Burgers ``u_t + u u_x - ν u_xx``, at the
    interior times ``1 .. T-2`` (second-order centred differences); ``coeff [batch]``. Runs on
    ``u``'s device.
    """
    n = u.shape[-1]
    k = wavenumbers(n, dtype=u.dtype).to(u.device)
    uh = torch.fft.rfft(u)
    ux = torch.fft.irfft(1j * k * uh, n=n)
    uxx = torch.fft.irfft(-(k**2) * uh, n=n)
    ut = (u[:, 2:] - u[:, :-2]) / (2 * dt)
    c = coeff.reshape(-1, 1, 1).to(u.dtype)
    mid = slice(1, -1)
    if system == "heat":
        return ut - c * uxx[:, mid]
    if system == "advection":
        return ut + c * ux[:, mid]
    if system == "burgers":
        return ut + u[:, mid] * ux[:, mid] - c * uxx[:, mid]
    raise ValueError(f"unknown time-dependent system {system!r}; choose heat, advection or burgers")
