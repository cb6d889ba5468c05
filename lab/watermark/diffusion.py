"""TreeRing-mini's learned model: a tiny pixel-space DDPM (``book/semantic_regen.md``).

A small U-Net predicts the noise, :math:`\\hat\\varepsilon_\\theta(x_t, t)`, trained with the
DDPM objective :math:`\\mathbb E\\,\\lVert\\varepsilon-\\hat\\varepsilon_\\theta(\\sqrt{\\bar\\alpha_t}x_0
+\\sqrt{1-\\bar\\alpha_t}\\varepsilon, t)\\rVert^2` on the DDPM linear schedule (``β`` from 1e-4 to
0.02 over 1000 steps), in-process and seeded, on grayscale random-shapes scenes composited on
photo textures (:func:`training_scenes`); the trained weights are cached by configuration hash
(:func:`lab.cache.cached`). By default the U-Net predicts the *residual* to the exact noise
predictor of a stationary Gaussian fitted to the same scenes (:class:`GaussianBase`,
:class:`Residual`): at high noise, where DDIM inversion divides by ``α_t``, the model then stays
close to a linear, exactly invertible map, and the network learns the non-Gaussian corrections.

With the model, a DDIM step ``t → s`` (``α = √ᾱ``, ``σ = √(1-ᾱ)``) is

.. math::  \\hat x_0 = (x_t - σ_t\\hat\\varepsilon)/α_t,\\qquad x_s = α_s\\hat x_0 + σ_s\\hat\\varepsilon ,

and DDIM *inversion* runs the same update upwards with :math:`\\hat\\varepsilon` evaluated at the
current point (the approximation TreeRing's detector makes; exact only for the analytic
fixture of :mod:`lab.watermark.treering`). RePaint (:meth:`DDPM.repaint`) regenerates the
pixels of a mask: at each step the kept pixels are the original noised to the step's level,
``α_s x_0 + σ_s ε``, and the repainted ones follow an ancestral (η = 1) DDIM step.

Everything runs on ``device`` (CPU or CUDA) with ``torch.Generator`` draws on that device.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from lab.watermark.treering import T, alphas_cumprod, ddim_timesteps

VERSION = 2


def linear_alphas_cumprod(beta_start: float = 1e-4, beta_end: float = 0.02, steps: int = T) -> np.ndarray:
    """ᾱ_t of the DDPM linear schedule (Ho et al. 2020)."""
    return np.cumprod(1.0 - np.linspace(beta_start, beta_end, steps))


def schedule(name: str) -> np.ndarray:
    """ᾱ_t of the named β schedule (1000 steps)."""
    if name == "linear":
        return linear_alphas_cumprod()
    if name == "scaled-linear":
        return alphas_cumprod()
    raise ValueError(f"schedule must be 'linear' or 'scaled-linear', got {name!r}")


def _groups(c: int) -> int:
    return 8 if c % 8 == 0 else 1


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, temb: int):
        super().__init__()
        self.n1, self.c1 = nn.GroupNorm(_groups(cin), cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.t = nn.Linear(temb, cout)
        self.n2, self.c2 = nn.GroupNorm(_groups(cout), cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, e):
        h = self.c1(F.silu(self.n1(x))) + self.t(e)[:, :, None, None]
        return self.skip(x) + self.c2(F.silu(self.n2(h)))


class UNet(nn.Module):
    """A two-level U-Net: ``base`` and ``2·base`` channels at full and half resolution, ``2·base``
    at quarter resolution, skip connections, sinusoidal time embedding added in every block."""

    def __init__(self, channels: int = 1, base: int = 16):
        super().__init__()
        c1, c2 = base, 2 * base
        self.temb = 4 * base
        self.emb = nn.Sequential(nn.Linear(base, self.temb), nn.SiLU(), nn.Linear(self.temb, self.temb))
        self.base = base
        self.inp = nn.Conv2d(channels, c1, 3, padding=1)
        self.d1 = ResBlock(c1, c1, self.temb)
        self.down1 = nn.Conv2d(c1, c1, 3, stride=2, padding=1)
        self.d2 = ResBlock(c1, c2, self.temb)
        self.down2 = nn.Conv2d(c2, c2, 3, stride=2, padding=1)
        self.mid = ResBlock(c2, c2, self.temb)
        self.u2 = ResBlock(2 * c2, c2, self.temb)
        self.u1 = ResBlock(c2 + c1, c1, self.temb)
        self.out = nn.Sequential(nn.GroupNorm(_groups(c1), c1), nn.SiLU(), nn.Conv2d(c1, channels, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def time_embedding(self, t: torch.Tensor) -> torch.Tensor:
        half = self.base // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
        a = t.float()[:, None] * freqs[None]
        return self.emb(torch.cat([a.sin(), a.cos()], 1))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[-1] % 4 or x.shape[-2] % 4:
            raise ValueError(f"the U-Net takes (B, C, H, W) with H and W multiples of 4, got {tuple(x.shape)}")
        e = self.time_embedding(t.expand(x.shape[0]) if t.ndim == 0 else t)
        h1 = self.d1(self.inp(x), e)
        h2 = self.d2(self.down1(h1), e)
        h = self.mid(self.down2(h2), e)
        h = self.u2(torch.cat([F.interpolate(h, scale_factor=2.0, mode="nearest"), h2], 1), e)
        h = self.u1(torch.cat([F.interpolate(h, scale_factor=2.0, mode="nearest"), h1], 1), e)
        return self.out(h)


class GaussianBase(nn.Module):
    r"""The exact noise predictor of a *stationary* Gaussian fitted to the training images:

    .. math::  \hat\varepsilon_G(x_t) = σ_t\,\mathcal F^{-1}\big[(α_t^2P + σ_t^2)^{-1}\,
               \mathcal F(x_t - α_tμ)\big],

    with ``μ`` the mean image, ``P`` the mean power spectrum of ``x - μ`` (orthonormal FFT, so
    the covariance is circulant with eigenvalues ``P``). It is the fixture's formula with Σ
    diagonal in the Fourier basis, cheap at any size and on any device.
    """

    def __init__(self, mu: torch.Tensor, power: torch.Tensor, abar: torch.Tensor):
        super().__init__()
        self.register_buffer("mu", mu.float())
        self.register_buffer("power", power.float())
        self.register_buffer("abar", abar.float())

    @staticmethod
    def fit(x: torch.Tensor, abar: torch.Tensor) -> "GaussianBase":
        """Fit ``μ`` and ``P`` to images ``(N, 1, n, n)``."""
        mu = x.mean(0)
        power = (torch.fft.fft2(x - mu, norm="ortho").abs() ** 2).mean(0)
        return GaussianBase(mu, power, abar)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a = self.abar[t.expand(x.shape[0]) if t.ndim == 0 else t][:, None, None, None]
        at, st = a.sqrt(), (1 - a).sqrt()
        X = torch.fft.fft2(x - at * self.mu, norm="ortho") / (at ** 2 * self.power + st ** 2)
        return st * torch.fft.ifft2(X, norm="ortho").real


class Residual(nn.Module):
    """``ε̂ = ε̂_G + U-Net``: the network learns the correction to the stationary-Gaussian predictor
    (its output layer starts at zero, so the untrained model is the Gaussian one)."""

    def __init__(self, net: UNet, base: GaussianBase):
        super().__init__()
        self.net, self.base = net, base

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.base(x, t) + self.net(x, t)


@dataclass(frozen=True)
class DDPMConfig:
    """What determines a trained model (its cache key)."""

    side: int = 32
    base: int = 16
    steps: int = 600  # optimiser steps
    batch: int = 32
    lr: float = 2e-3
    n_scenes: int = 512
    seed: int = 0
    schedule: str = "scaled-linear"  # "linear" (DDPM: β 1e-4 … 0.02) or "scaled-linear" (SD's, as the fixture)
    gaussian_base: bool = True  # predict the residual to the stationary-Gaussian ε̂ (:class:`Residual`)


def training_scenes(side: int, n: int, seed: int) -> np.ndarray:
    """``n`` grayscale random-shapes scenes in [-1, 1], shapes over crops of bundled photos
    (each photo first scaled so its short side is ``2·side``, so a crop shows texture)."""
    from skimage import color, transform

    from lab.semantic_regen import scenes

    rng = np.random.default_rng([seed, 7])
    photos = []
    for name in scenes.PHOTOS:
        p = scenes.photo(name)
        s = 2 * side / min(p.shape[:2])
        photos.append(transform.resize(p, (max(side, round(p.shape[0] * s)), max(side, round(p.shape[1] * s))),
                                       anti_aliasing=True))
    out = np.empty((n, side, side), np.float32)
    for i in range(n):
        sc = scenes.make_scene(side, rng, scenes.crop(photos[i % len(photos)], side, rng))
        out[i] = color.rgb2gray(sc.image) * 2 - 1
    return out


class DDPM:
    """A trained :class:`UNet` with its schedule: DDIM sampling, inversion, regeneration, RePaint.

    Images are tensors ``(B, 1, n, n)`` (or ``(B, n, n)``) in about [-1, 1] on ``device``.
    """

    def __init__(self, net: UNet, side: int, device: str | torch.device = "cpu", schedule_name: str = "scaled-linear"):
        self.net, self.side, self.device = net.to(device).eval(), side, torch.device(device)
        self.abar = torch.tensor(schedule(schedule_name), dtype=torch.float32, device=self.device)

    def _ab(self, t: int | None) -> tuple[torch.Tensor, torch.Tensor]:
        a = torch.ones((), device=self.device) if t is None else self.abar[t]
        return a.sqrt(), (1 - a).clamp_min(0).sqrt()

    def _x(self, x: torch.Tensor) -> tuple[torch.Tensor, bool]:
        x = torch.as_tensor(x, dtype=torch.float32, device=self.device)
        if x.ndim == 3:
            return x[:, None], True
        if x.ndim != 4 or x.shape[1] != 1 or x.shape[-2:] != (self.side, self.side):
            raise ValueError(f"images must be (B, 1, {self.side}, {self.side}) or (B, {self.side}, {self.side}), "
                             f"got {tuple(x.shape)}")
        return x, False

    @torch.no_grad()
    def eps(self, x: torch.Tensor, t: int, chunk: int = 256) -> torch.Tensor:
        tt = torch.full((), t, device=self.device, dtype=torch.long)
        return torch.cat([self.net(x[i:i + chunk], tt) for i in range(0, x.shape[0], chunk)])

    @torch.no_grad()
    def sample(self, x_t: torch.Tensor, ts: list[int]) -> torch.Tensor:
        """Deterministic DDIM from ``x_{ts[0]}`` through ``ts`` down to ``x̂_0``."""
        x, flat = self._x(x_t)
        for t, s in zip(ts, list(ts[1:]) + [None]):
            at, st = self._ab(t)
            as_, ss = self._ab(s)
            e = self.eps(x, t)
            x = as_ * (x - st * e) / at + ss * e
        return x[:, 0] if flat else x

    @torch.no_grad()
    def invert(self, x0: torch.Tensor, ts: list[int], fixed_point: int = 0) -> torch.Tensor:
        """DDIM inversion: the steps of :meth:`sample` in reverse. Plain (``fixed_point = 0``, as
        TreeRing's detector): ``ε̂`` is taken at the current point ``x_s`` with the target step's
        ``t``. With ``fixed_point = k`` each step then solves ``x_t = α_t(x_s - σ_s ε̂(x_t))/α_s +
        σ_t ε̂(x_t)`` by ``k`` fixed-point iterations, so that the sampler's step maps ``x_t``
        back to ``x_s`` (the accelerated iterative inversion of Pan et al. 2023)."""
        x, flat = self._x(x0)
        up = ts[::-1]
        for s, t in zip([None] + up[:-1], up):
            as_, ss = self._ab(s)
            at, st = self._ab(t)
            e = self.eps(x, t)
            xt = at * (x - ss * e) / as_ + st * e
            for _ in range(fixed_point):
                e = self.eps(xt, t)
                xt = at * (x - ss * e) / as_ + st * e
            x = xt
        return x[:, 0] if flat else x

    def noise(self, shape, gen: torch.Generator) -> torch.Tensor:
        return torch.randn(shape, generator=gen, device=self.device)

    @torch.no_grad()
    def regenerate(self, x0: torch.Tensor, t_star: int, n_steps: int, gen: torch.Generator) -> torch.Tensor:
        """Noise to ``t*`` and DDIM back (the DiffWM regeneration attack)."""
        x, flat = self._x(x0)
        a, s = self._ab(t_star)
        xt = a * x + s * self.noise(x.shape, gen)
        ts = ddim_timesteps(n_steps, t_star) if t_star >= T // n_steps else [t_star]
        out = self.sample(xt, ts)
        return out[:, 0] if flat else out

    @torch.no_grad()
    def repaint(self, x0: torch.Tensor, repaint: torch.Tensor, n_steps: int, gen: torch.Generator,
                jumps: int = 1) -> torch.Tensor:
        """RePaint (Lugmayr et al. 2022) on the DDIM sub-schedule of ``n_steps`` steps.

        ``repaint`` (``(B, n, n)`` or ``(n, n)``, True = regenerate) selects the pixels drawn anew.
        Each step ``t → s``: ancestral DDIM (η = 1) for the whole image, then the kept pixels
        are replaced by ``α_s x_0 + σ_s ε``; with ``jumps > 1`` each step is repeated after
        re-noising ``s → t`` (RePaint's resampling). Returns the final x̂_0 for every pixel;
        the caller pastes back or passes through.
        """
        x0, flat = self._x(x0)
        m = torch.as_tensor(repaint, device=self.device).bool()
        if m.shape[-2:] != x0.shape[-2:]:
            raise ValueError(f"the repaint mask must be {tuple(x0.shape[-2:])}, got {tuple(m.shape)}")
        m = m.reshape(-1, 1, *x0.shape[-2:]).float()
        ts = ddim_timesteps(n_steps)
        x = self.noise(x0.shape, gen)
        for t, s in zip(ts, list(ts[1:]) + [None]):
            at, st = self._ab(t)
            as_, ss = self._ab(s)
            for j in range(jumps):
                e = self.eps(x, t)
                x0_hat = (x - st * e) / at
                if s is None:
                    x_s = x0_hat
                else:  # η = 1: σ² = σ_s²/σ_t² · (1 - ᾱ_t/ᾱ_s)
                    var = (ss ** 2 / st ** 2) * (1 - (at / as_) ** 2)
                    dir_ = (ss ** 2 - var).clamp_min(0).sqrt()
                    x_s = as_ * x0_hat + dir_ * e + var.sqrt() * self.noise(x.shape, gen)
                known = as_ * x0 + ss * self.noise(x.shape, gen) if s is not None else x0
                x_s = m * x_s + (1 - m) * known
                if j < jumps - 1 and s is not None:  # back up to t: q(x_t | x_s)
                    r = (at / as_)
                    x = r * x_s + (1 - r ** 2).clamp_min(0).sqrt() * self.noise(x.shape, gen)
                else:
                    x = x_s
        return x[:, 0] if flat else x


def train(cfg: DDPMConfig, device: str | torch.device = "cpu", progress=None) -> dict:
    """Train the U-Net on :func:`training_scenes` (random flips); returns the state dict and losses."""
    data = torch.from_numpy(training_scenes(cfg.side, cfg.n_scenes, cfg.seed)).to(device)[:, None]
    torch.manual_seed(cfg.seed)
    abar = torch.tensor(schedule(cfg.schedule), dtype=torch.float32, device=device)
    unet = UNet(1, cfg.base).to(device)
    net = Residual(unet, GaussianBase.fit(data, abar)).to(device) if cfg.gaussian_base else unet
    opt = torch.optim.Adam(unet.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.steps, pct_start=0.1)
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    losses = []
    for step in range(cfg.steps):
        idx = torch.randint(0, data.shape[0], (cfg.batch,), generator=gen, device=device)
        x0 = data[idx]
        flip = torch.rand(cfg.batch, 1, 1, 1, generator=gen, device=device) < 0.5
        x0 = torch.where(flip, x0.flip(-1), x0)
        t = torch.randint(0, T, (cfg.batch,), generator=gen, device=device)
        e = torch.randn(x0.shape, generator=gen, device=device)
        a = abar[t][:, None, None, None]
        loss = F.mse_loss(net(a.sqrt() * x0 + (1 - a).sqrt() * e, t), e)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()) if step % 10 == 0 or step == cfg.steps - 1 else float("nan"))
        if progress is not None:
            progress(step)
    return {"state": {k: v.detach().cpu() for k, v in net.state_dict().items()}, "losses": losses}


def trained(cfg: DDPMConfig, device: str | torch.device = "cpu") -> tuple[DDPM, dict]:
    """The cached (or freshly trained) model of ``cfg`` on ``device``, and its training record."""
    from lab.cache import cached

    if cfg.side % 4 or cfg.side < 8:
        raise ValueError(f"the DDPM's side must be a multiple of 4 and at least 8, got {cfg.side}")
    rec = cached("semantic_regen/ddpm", {**asdict(cfg), "device": torch.device(device).type}, lambda: train(cfg, device), version=VERSION)
    net = UNet(1, cfg.base)
    if cfg.gaussian_base:
        n = cfg.side
        net = Residual(net, GaussianBase(torch.zeros(1, n, n), torch.ones(1, n, n), torch.zeros(T)))
    net.load_state_dict(rec["state"])
    return DDPM(net, cfg.side, device, cfg.schedule), rec


def inject(x_t: torch.Tensor, key: np.ndarray, mask: np.ndarray) -> torch.Tensor:
    """:func:`lab.watermark.treering.inject` for a batch of latents on any device (torch FFT)."""
    if key.shape != tuple(x_t.shape[-2:]) or mask.shape != tuple(x_t.shape[-2:]):
        raise ValueError(f"key {key.shape} and mask {mask.shape} must match the latent {tuple(x_t.shape[-2:])}")
    X = torch.fft.fftshift(torch.fft.fft2(x_t.to(torch.float64)), dim=(-2, -1))
    m = torch.as_tensor(mask, device=x_t.device)
    k = torch.as_tensor(key, device=x_t.device)
    X = torch.where(m, k, X)
    return torch.fft.ifft2(torch.fft.ifftshift(X, dim=(-2, -1))).real.to(x_t.dtype)
