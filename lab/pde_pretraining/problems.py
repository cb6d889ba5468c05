"""The labelled and unlabelled samples the chapter trains on (``book/pde_pretraining.md``).

One operator covers the steady systems,

    -κ ∇·(A ∇u) + b·∇u − ω u = f,      σ(k) = κ kᵀ A k + i b·k − ω,

Poisson with ``A = K`` (rotated and stretched by ``e``), Helmholtz with ``A = I`` and ``ω > 0``,
and advection–diffusion with ``A = (1 − λ) K`` and ``b = λ v``. One FNO input layout serves them
all: channels ``(f, A11, A22, A12, ω/10)`` for Poisson and Helmholtz (the book tier's five), and
with ``channels=7`` also ``(b1, b2)``, which the 3×3 benchmark matrix needs for
advection–diffusion. Periodic solutions come from :mod:`lab.pde.steady` (exact FFT solves) and
carry the operator's symbol for the spectral residual; the Dirichlet variant comes from
:mod:`lab.pde_pretraining.dirichlet` (exact finite-difference solves) and carries ``K`` for the
finite-difference residual instead (``boundary="dirichlet"``, ``symbol=None``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from lab.pde import steady

CHANNELS = (5, 7)


def default_device() -> str:
    """``"cuda"`` when a GPU is present, else ``"cpu"``: where the chapter trains."""
    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass
class Samples:
    """Model inputs, targets and operator data (float32; CPU unless moved with :meth:`to`)."""

    inputs: torch.Tensor  # [N, C, n, n]
    u: torch.Tensor  # [N, n, n]
    f: torch.Tensor  # [N, n, n]
    symbol: torch.Tensor | None  # [N, n, n//2+1] (complex for advection–diffusion); None for Dirichlet
    zero_mean: bool  # Poisson, advection–diffusion: the operator annihilates constants
    K: torch.Tensor | None = None  # [N, 3]: the Dirichlet problem's tensor, for the FD residual
    boundary: str = "periodic"  # or "dirichlet"

    def __len__(self) -> int:
        return self.u.shape[0]

    def subset(self, idx) -> "Samples":
        pick = lambda t: None if t is None else t[idx]  # noqa: E731
        return Samples(self.inputs[idx], self.u[idx], self.f[idx], pick(self.symbol), self.zero_mean,
                       pick(self.K), self.boundary)

    def to(self, device) -> "Samples":
        mv = lambda t: None if t is None else t.to(device)  # noqa: E731
        return Samples(mv(self.inputs), mv(self.u), mv(self.f), mv(self.symbol), self.zero_mean, mv(self.K),
                       self.boundary)

    def with_noisy_labels(self, level: float, seed: int) -> "Samples":
        """Labels plus Gaussian noise of ``level`` times each sample's RMS (``level=0.1``: 10%)."""
        g = torch.Generator().manual_seed(seed)
        rms = self.u.pow(2).mean(dim=(-2, -1), keepdim=True).sqrt()
        noise = torch.randn(self.u.shape, generator=g).to(self.u.device)
        return Samples(self.inputs, self.u + level * rms * noise, self.f, self.symbol, self.zero_mean,
                       self.K, self.boundary)


def _inputs(f: torch.Tensor, A: torch.Tensor, omega: torch.Tensor, b: torch.Tensor | None = None,
            channels: int = 5) -> torch.Tensor:
    if channels not in CHANNELS:
        raise ValueError(f"the input layout has 5 or 7 channels, got {channels}")
    n = f.shape[-1]
    parts = [A, omega[:, None] / 10.0]
    if channels == 7:
        parts.append(torch.zeros(len(f), 2, dtype=torch.float64) if b is None else b)
    elif b is not None:
        raise ValueError("advection–diffusion needs the 7-channel layout (its velocity channels)")
    const = torch.cat(parts, dim=1)[:, :, None, None].expand(-1, -1, n, n)
    return torch.cat([f[:, None], const], dim=1).float()


def poisson(count: int, n: int, seed: int, e_range=(1.0, 5.0), channels: int = 5) -> Samples:
    b = steady.generate("poisson", count, n, seed, e_range=tuple(e_range))
    omega = torch.zeros(count, dtype=torch.float64)
    return Samples(_inputs(b.f, b.coeffs, omega, channels=channels), b.u.float(), b.f.float(), b.symbol.float(), True)


def helmholtz(count: int, n: int, seed: int, omega_range=(1, 10), channels: int = 5) -> Samples:
    b = steady.generate("helmholtz", count, n, seed, omega_range=tuple(omega_range))
    K = torch.tensor([1.0, 1.0, 0.0], dtype=torch.float64).expand(count, 3)
    return Samples(_inputs(b.f, K, b.coeffs[:, 0], channels=channels), b.u.float(), b.f.float(),
                   b.symbol.float(), False)


def _lambda_for_ratio(f, K, v, target, iters: int = 60) -> torch.Tensor:
    """:func:`lab.pde.steady.lambda_for_ratio` with the per-mode weights computed once.

    With ``t = λ/(1−λ)``, ``d = κ kᵀKk`` and ``a = v·k``, the ratio of the solution's advective to
    diffusive norm is ``sqrt(Σ t² a² w / Σ d² w)``, ``w = |f̂|² / (d² + t² a²)``: the same sums
    as ``steady.advection_ratio`` (same modes, same weights), but without a new FFT and symbol per
    bisection step, so the generator is about ten times faster. Same bisection, same result to
    round-off (tested against ``steady.generate``).
    """
    n = f.shape[-1]
    kx, ky = steady.wave_vectors(n)
    d = steady.diffusion_symbol(K, n)
    a = v[:, 0, None, None] * kx + v[:, 1, None, None] * ky
    fh2 = torch.fft.rfft2(f).abs().pow(2)
    fh2[..., 0, 0] = 0
    lo = torch.full(target.shape, -12.0, dtype=torch.float64)
    hi = torch.full(target.shape, 12.0, dtype=torch.float64)
    d2, a2 = d**2, a**2
    for _ in range(iters):
        mid = (lo + hi) / 2
        t = mid.exp()[:, None, None]
        den = d2 + t**2 * a2
        den[..., 0, 0] = 1.0
        w = fh2 / den
        r = ((t**2 * a2 * w).sum(dim=(-2, -1)) / (d2 * w).sum(dim=(-2, -1))).sqrt()
        lo, hi = torch.where(r < target, mid, lo), torch.where(r < target, hi, mid)
    t = ((lo + hi) / 2).exp()
    return t / (1 + t)


def advdiff_batch(count: int, n: int, seed: int, e_range=(1.0, 5.0), ratio_range=(0.2, 1.0)) -> steady.SteadyBatch:
    """The samples of ``steady.generate("advdiff", ...)`` (same draws in the same order), with the
    faster λ search above."""
    gen = torch.Generator().manual_seed(seed)
    f = steady.gaussian_sources(count, n, gen)
    e = e_range[0] + (e_range[1] - e_range[0]) * torch.rand(count, generator=gen, dtype=torch.float64)
    theta = 2 * math.pi * torch.rand(count, generator=gen, dtype=torch.float64)
    K = steady.diffusion_tensor(e, theta)
    phi = 2 * math.pi * torch.rand(count, generator=gen, dtype=torch.float64)
    v = torch.stack([phi.cos(), phi.sin()], dim=-1)
    target = ratio_range[0] + (ratio_range[1] - ratio_range[0]) * torch.rand(count, generator=gen, dtype=torch.float64)
    lam = _lambda_for_ratio(f, K, v, target)
    sym = steady.advdiff_symbol(K, v, lam, n)
    return steady.SteadyBatch("advdiff", f, steady.solve_symbol(f, sym, zero_mean=True),
                              torch.cat([K, v, lam[:, None]], dim=-1), sym)


def advdiff(count: int, n: int, seed: int, e_range=(1.0, 5.0), channels: int = 7) -> Samples:
    """Advection–diffusion samples in the 7-channel layout: ``A = (1 − λ) K``, ``b = λ v``."""
    b = advdiff_batch(count, n, seed, e_range=tuple(e_range))
    K, v, lam = b.coeffs[:, :3], b.coeffs[:, 3:5], b.coeffs[:, 5:6]
    omega = torch.zeros(count, dtype=torch.float64)
    return Samples(_inputs(b.f, (1 - lam) * K, omega, lam * v, channels=channels), b.u.float(), b.f.float(),
                   b.symbol.to(torch.complex64), True)


def dirichlet(count: int, n: int, seed: int, e_range=(1.0, 5.0), channels: int = 5, device=None) -> Samples:
    """Poisson with zero Dirichlet boundaries (:mod:`lab.pde_pretraining.dirichlet`), the layout of :func:`poisson`."""
    from lab.pde_pretraining import dirichlet as fd

    b = fd.generate(count, n, seed, e_range=tuple(e_range), device=device)
    omega = torch.zeros(count, dtype=torch.float64)
    return Samples(_inputs(b.f, b.K, omega, channels=channels), b.u.float(), b.f.float(), None, False,
                   K=b.K.float(), boundary="dirichlet")
