"""Steady elliptic problems on the periodic unit square, solved exactly by FFT division.

The generators follow the data sets of Subramanian et al. (2023), the predecessor that
``book/pde_pretraining.md`` reconstructs. On ``[0, 1)²`` with ``n × n`` points and Fourier
wave vectors ``k = 2π (k_x, k_y)``, each operator is diagonal in Fourier space with symbol
``σ(k)``, so ``û = f̂ / σ(k)`` solves it exactly (up to round-off) on the grid:

- Poisson (anisotropic diffusion), ``-∇·(κ K ∇u) = f``:  ``σ = κ kᵀ K k``;
- advection–diffusion, ``-(1-λ) κ ∇·(K ∇u) + λ v·∇u = f``:  ``σ = (1-λ) κ kᵀ K k + i λ v·k``;
- Helmholtz, ``-κ Δu - ω u = f``:  ``σ = κ |k|² - ω``.

``K = R(-θ) diag(1, e) R(θ)`` is a rotated, stretched diffusion tensor. The first two operators
annihilate constants: the mean of ``f`` is removed and the mean of ``u`` is set to 0. Arrays are
indexed ``[..., y, x]``; ``torch.fft.rfft2`` gives ``[..., n, n//2 + 1]``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

KAPPA = 0.01  #: diffusion scale κ of the predecessor's generators


def wave_vectors(n: int, dtype=torch.float64, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(kx, ky)`` of an rfft2 grid on the unit square: ``2π`` times the integer wavenumbers."""
    if n < 4 or n % 2:
        raise ValueError(f"grid size n must be even and at least 4, got {n}")
    ky = torch.fft.fftfreq(n, d=1.0 / n, dtype=dtype, device=device) * 2 * math.pi
    kx = torch.fft.rfftfreq(n, d=1.0 / n, dtype=dtype, device=device) * 2 * math.pi
    return kx[None, :].expand(n, -1), ky[:, None].expand(-1, n // 2 + 1)


def diffusion_tensor(e: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """``K = R(-θ) diag(1, e) R(θ)`` as ``[..., 3]`` entries ``(k11, k22, k12)``.

    With ``R(θ) = [[c, -s], [s, c]]``: ``k11 = c² + e s²``, ``k22 = s² + e c²``, ``k12 = (e-1) c s``
    (up to the sign of ``k12``, which the symbol uses consistently). Eigenvalues 1 and ``e``.
    """
    e, theta = torch.as_tensor(e, dtype=torch.float64), torch.as_tensor(theta, dtype=torch.float64)
    if torch.any(e <= 0):
        raise ValueError(f"the diffusion tensor's stretch e must be positive, got {e.min().item():g}")
    c, s = torch.cos(theta), torch.sin(theta)
    return torch.stack([c * c + e * s * s, s * s + e * c * c, (e - 1) * c * s], dim=-1)


def diffusion_symbol(K: torch.Tensor, n: int, kappa: float = KAPPA) -> torch.Tensor:
    """``κ kᵀ K k`` on the rfft2 grid, ``[..., n, n//2+1]`` for ``K`` of shape ``[..., 3]``."""
    kx, ky = wave_vectors(n, device=K.device)
    k11, k22, k12 = (K[..., i, None, None] for i in range(3))
    return kappa * (k11 * kx**2 + k22 * ky**2 + 2 * k12 * kx * ky)


@dataclass(frozen=True)
class SourceConfig:
    """Gaussian-bump sources: a ``grid × grid`` lattice of bumps of width ``width``.

    Each bump is active with probability ``1 - v_f`` (``v_f`` drawn from ``sparsities``),
    with amplitude ``U[1e-3, 1]``; the sum is normalised to maximum 1.
    """

    grid: int = 12
    width: float = 1 / 32
    spacing: float = 1 / 16
    sparsities: tuple = (0.2, 0.4, 0.6, 0.8)


def gaussian_sources(batch: int, n: int, generator: torch.Generator,
                     cfg: SourceConfig = SourceConfig(), remove_mean: bool = True) -> torch.Tensor:
    """``[batch, n, n]`` sources; periodic images of each bump are summed so that ``f`` is periodic."""
    x = torch.arange(n, dtype=torch.float64) / n
    offset = (1 - (cfg.grid - 1) * cfg.spacing) / 2
    centres = offset + cfg.spacing * torch.arange(cfg.grid, dtype=torch.float64)
    # 1-D periodic Gaussian profiles around each centre: [grid, n]
    d = (x[None, :] - centres[:, None] + 0.5) % 1.0 - 0.5
    prof = torch.exp(-(d**2) / (2 * cfg.width**2))
    v_f = torch.tensor(cfg.sparsities, dtype=torch.float64)[
        torch.randint(len(cfg.sparsities), (batch,), generator=generator)]
    active = torch.rand(batch, cfg.grid, cfg.grid, generator=generator, dtype=torch.float64) >= v_f[:, None, None]
    amp = (1e-3 + (1 - 1e-3) * torch.rand(batch, cfg.grid, cfg.grid, generator=generator, dtype=torch.float64))
    amp = amp * active
    f = torch.einsum("bij,iy,jx->byx", amp, prof, prof)
    f = f / f.amax(dim=(-2, -1), keepdim=True).clamp_min(1e-12)
    f = drop_nyquist(f)
    if remove_mean:
        f = f - f.mean(dim=(-2, -1), keepdim=True)
    return f


def drop_nyquist(f: torch.Tensor) -> torch.Tensor:
    """``f`` without its Nyquist row and column.

    On an even grid the Nyquist mode of a real field is its own mirror image, so an operator with
    an odd symbol (the cross term ``2 k12 kx ky``, advection ``i v·k``) cannot act on it and stay
    real; removing it (a change below the grid's resolution) makes the FFT solve exact.
    """
    n = f.shape[-1]
    fh = torch.fft.rfft2(f)
    fh[..., n // 2, :] = 0
    fh[..., :, n // 2] = 0
    return torch.fft.irfft2(fh, s=f.shape[-2:])


def solve_symbol(f: torch.Tensor, symbol: torch.Tensor, zero_mean: bool) -> torch.Tensor:
    """``u`` with ``û = f̂ / σ``; the mean mode is set to 0 when ``σ(0) = 0`` (``zero_mean``)."""
    fh = torch.fft.rfft2(f)
    sym = symbol.clone()
    if zero_mean:
        sym[..., 0, 0] = 1.0
    uh = fh / sym
    if zero_mean:
        uh[..., 0, 0] = 0.0
    return torch.fft.irfft2(uh, s=f.shape[-2:])


def apply_symbol(u: torch.Tensor, symbol: torch.Tensor) -> torch.Tensor:
    """The operator applied to ``u`` spectrally: ``irfft2(σ · rfft2(u))``."""
    return torch.fft.irfft2(symbol * torch.fft.rfft2(u), s=u.shape[-2:])


# ------------------------------------------------------------------ the three systems


def poisson_symbol(K: torch.Tensor, n: int) -> torch.Tensor:
    return diffusion_symbol(K, n)


def advdiff_symbol(K: torch.Tensor, v: torch.Tensor, lam: torch.Tensor, n: int) -> torch.Tensor:
    kx, ky = wave_vectors(n, device=K.device)
    lam = torch.as_tensor(lam, dtype=torch.float64)[..., None, None]
    adv = 1j * (v[..., 0, None, None] * kx + v[..., 1, None, None] * ky)
    return (1 - lam) * diffusion_symbol(K, n) + lam * adv


def helmholtz_symbol(omega: torch.Tensor, n: int, kappa: float = KAPPA) -> torch.Tensor:
    kx, ky = wave_vectors(n)
    return kappa * (kx**2 + ky**2) - torch.as_tensor(omega, dtype=torch.float64)[..., None, None]


def advection_ratio(f: torch.Tensor, K: torch.Tensor, v: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """``‖λ v·∇u‖ / ‖(1-λ) κ ∇·K∇u‖`` of the solution, computed spectrally (Parseval)."""
    n = f.shape[-1]
    sym = advdiff_symbol(K, v, lam, n)
    sym0 = sym.clone()
    sym0[..., 0, 0] = 1.0
    uh = torch.fft.rfft2(f) / sym0
    uh[..., 0, 0] = 0
    lam = torch.as_tensor(lam, dtype=torch.float64)[..., None, None]
    diff = ((1 - lam) * diffusion_symbol(K, n) * uh).abs().pow(2).sum(dim=(-2, -1))
    adv = ((sym - (1 - lam) * diffusion_symbol(K, n)) * uh).abs().pow(2).sum(dim=(-2, -1))
    return (adv / diff).sqrt()


def lambda_for_ratio(f, K, v, target: torch.Tensor, iters: int = 60) -> torch.Tensor:
    """λ per sample such that :func:`advection_ratio` equals ``target`` (bisection on λ/(1-λ)).

    The ratio grows monotonically with ``t = λ/(1-λ)`` (each Fourier mode's advection-to-
    diffusion ratio is ``t |v·k| / (κ kᵀKk)``), so bisection on ``log t`` converges. This replaces
    the predecessor's lookup tables (``lambda.npy``, ``ads.npy``), which are not offline.
    """
    lo = torch.full(target.shape, -12.0, dtype=torch.float64)
    hi = torch.full(target.shape, 12.0, dtype=torch.float64)
    for _ in range(iters):
        mid = (lo + hi) / 2
        t = mid.exp()
        r = advection_ratio(f, K, v, t / (1 + t))
        lo, hi = torch.where(r < target, mid, lo), torch.where(r < target, hi, mid)
    t = ((lo + hi) / 2).exp()
    return t / (1 + t)


@dataclass
class SteadyBatch:
    """Samples of one steady system: source, solution, and the coefficient channels."""

    system: str
    f: torch.Tensor  # [B, n, n]
    u: torch.Tensor  # [B, n, n]
    coeffs: torch.Tensor  # [B, C]: (k11, k22, k12) for Poisson, + (v1, v2, λ) for AD, (ω,) for Helmholtz
    symbol: torch.Tensor  # [B, n, n//2+1]: the operator, for residuals

    def __len__(self) -> int:
        return self.f.shape[0]


SYSTEMS = ("poisson", "advdiff", "helmholtz")


def generate(system: str, batch: int, n: int, seed: int, e_range=(1.0, 5.0), omega_range=(1, 10),
             ratio_range=(0.2, 1.0), max_abs_u: float = 2.0) -> SteadyBatch:
    """``batch`` exact samples of ``system`` on an ``n × n`` grid, seeded.

    ``e_range`` bounds the diffusion tensor's stretch ``e`` (Poisson, advection–diffusion);
    ``omega_range`` the Helmholtz integer ``ω``, whose samples with ``max|u| > max_abs_u``
    (near resonance) are rejected and redrawn.
    """
    if system not in SYSTEMS:
        raise ValueError(f"unknown system {system!r}; choose from {', '.join(SYSTEMS)}")
    if e_range[0] <= 0 or e_range[1] < e_range[0]:
        raise ValueError(f"e_range must be positive and increasing, got {e_range}")
    gen = torch.Generator().manual_seed(seed)
    if system == "helmholtz":
        fs, us, om, syms = [], [], [], []
        tries = 0
        while sum(len(x) for x in fs) < batch:
            tries += 1
            if tries > 100:
                raise RuntimeError("Helmholtz: too many near-resonant samples rejected; widen omega_range")
            f = gaussian_sources(batch, n, gen, remove_mean=False)
            omega = torch.randint(omega_range[0], omega_range[1] + 1, (batch,), generator=gen).double()
            sym = helmholtz_symbol(omega, n)
            u = solve_symbol(f, sym, zero_mean=False)
            keep = u.abs().amax(dim=(-2, -1)) <= max_abs_u
            fs.append(f[keep]), us.append(u[keep]), om.append(omega[keep]), syms.append(sym[keep])
        f, u, omega, sym = (torch.cat(x)[:batch] for x in (fs, us, om, syms))
        return SteadyBatch(system, f, u, omega[:, None], sym)
    f = gaussian_sources(batch, n, gen)
    e = e_range[0] + (e_range[1] - e_range[0]) * torch.rand(batch, generator=gen, dtype=torch.float64)
    theta = 2 * math.pi * torch.rand(batch, generator=gen, dtype=torch.float64)
    K = diffusion_tensor(e, theta)
    if system == "poisson":
        sym = poisson_symbol(K, n)
        return SteadyBatch(system, f, solve_symbol(f, sym, zero_mean=True), K, sym)
    phi = 2 * math.pi * torch.rand(batch, generator=gen, dtype=torch.float64)
    v = torch.stack([phi.cos(), phi.sin()], dim=-1)
    target = ratio_range[0] + (ratio_range[1] - ratio_range[0]) * torch.rand(batch, generator=gen, dtype=torch.float64)
    lam = lambda_for_ratio(f, K, v, target)
    sym = advdiff_symbol(K, v, lam, n)
    return SteadyBatch(system, f, solve_symbol(f, sym, zero_mean=True),
                       torch.cat([K, v, lam[:, None]], dim=-1), sym)


def relative_residual(batch: SteadyBatch, u: torch.Tensor | None = None) -> torch.Tensor:
    """``‖σ û − f̂‖ / ‖f̂‖`` per sample (the mean mode excluded where σ(0) = 0)."""
    u = batch.u if u is None else u
    fh = torch.fft.rfft2(batch.f)
    r = batch.symbol * torch.fft.rfft2(u) - fh
    if batch.system != "helmholtz":
        r[..., 0, 0] = 0
        fh = fh.clone()
        fh[..., 0, 0] = 0
    return r.abs().pow(2).sum(dim=(-2, -1)).sqrt() / fh.abs().pow(2).sum(dim=(-2, -1)).sqrt()
