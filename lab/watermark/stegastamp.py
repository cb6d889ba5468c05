"""A StegaStamp stand-in: a small learned bit watermark trained in-process (``book/semantic_regen.md``).

StegaStamp (Tancik et al. 2020) trains an encoder that adds a residual carrying ``L`` bits to
an image and a decoder that reads them back, with *noise layers* between the two so that the
bits survive distortions. The stand-in keeps that recipe at toy size:

* encoder: the bits go through a linear layer to a coarse ``(8, n/8, n/8)`` map, are upsampled
  to ``n × n`` and concatenated with the image; four 3×3 convolutions plus a 1×1 direct path from the bit map give a residual ``r``;
  the watermarked image is ``clip(x + ε·tanh(r), 0, 1)``;
* decoder: four stride-2 convolutions, then a linear layer to ``L`` logits;
* noise layers, one per training image at random: identity, Gaussian blur (σ ∈ [0.5, 2] px at
  128², scaled), additive Gaussian noise (σ ∈ [0, 0.04]), and a differentiable JPEG-like
  quantisation (8×8 block DCT, coefficients perturbed by uniform noise of half a JPEG
  quantisation step at quality 50, the standard differentiable stand-in for rounding);
* loss: binary cross-entropy of the bits plus ``w·100·MSE(x_w, x)`` for invisibility. As in
  StegaStamp, a curriculum: the bits are trained alone, without distortions, until their loss
  (a running mean) falls below 0.4 or half the steps are spent; then the noise layers are on
  and the image loss is ramped in over 30 % of the steps.

Training is seeded and the weights are cached by configuration hash (:func:`lab.cache.cached`).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

VERSION = 4

# the JPEG luminance quantisation table (quality 50), used for every channel
_Q50 = np.array([[16, 11, 10, 16, 24, 40, 51, 61], [12, 12, 14, 19, 26, 58, 60, 55],
                 [14, 13, 16, 24, 40, 57, 69, 56], [14, 17, 22, 29, 51, 87, 80, 62],
                 [18, 22, 37, 56, 68, 109, 103, 77], [24, 35, 55, 64, 81, 104, 113, 92],
                 [49, 64, 78, 87, 103, 121, 120, 101], [72, 92, 95, 98, 112, 100, 103, 99]], np.float32)


@dataclass(frozen=True)
class StegaConfig:
    """What determines a trained stand-in (its cache key)."""

    side: int = 128
    bits: int = 32
    width: int = 32
    steps: int = 1500
    batch: int = 32
    lr: float = 1e-3
    strength: float = 0.05  # ε: the residual's largest amplitude
    mse_weight: float = 0.5  # weight of 100·MSE, ramped in linearly over the first half
    n_images: int = 256
    seed: int = 0


class Encoder(nn.Module):
    def __init__(self, side: int, bits: int, width: int, strength: float):
        super().__init__()
        self.g, self.strength = side // 8, strength
        self.fc = nn.Linear(bits, 8 * self.g * self.g)
        self.net = nn.Sequential(nn.Conv2d(3 + 8, width, 3, padding=1), nn.ReLU(),
                                 nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
                                 nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
                                 nn.Conv2d(width, 3, 3, padding=1))
        self.direct = nn.Conv2d(8, 3, 1)  # a direct path from the bit map, so training starts with a readable residual

    def forward(self, x, b):
        m = self.fc(b * 2 - 1).view(-1, 8, self.g, self.g)
        m = F.interpolate(m, size=x.shape[-2:], mode="nearest")
        r = self.net(torch.cat([x - 0.5, m], 1)) + self.direct(m)
        return (x + self.strength * torch.tanh(r)).clamp(0, 1)


class Decoder(nn.Module):
    def __init__(self, side: int, bits: int, width: int):
        super().__init__()
        layers, c = [], 3
        for _ in range(4):
            layers += [nn.Conv2d(c, width, 3, stride=2, padding=1), nn.ReLU()]
            c = width
        self.net = nn.Sequential(*layers)
        self.fc = nn.Linear(width * (side // 16) ** 2, bits)

    def forward(self, x):
        return self.fc(self.net(x - 0.5).flatten(1))


def _dct_matrix(n: int = 8, device=None) -> torch.Tensor:
    k = torch.arange(n, dtype=torch.float32, device=device)
    d = torch.cos(math.pi * (2 * k[None] + 1) * k[:, None] / (2 * n)) * math.sqrt(2 / n)
    d[0] /= math.sqrt(2)
    return d


def blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Per-image Gaussian blur (σ per image, 9-tap separable kernel, reflect padding)."""
    r = torch.arange(-4, 5, dtype=x.dtype, device=x.device)
    k = torch.exp(-r[None] ** 2 / (2 * sigma[:, None].clamp_min(1e-3) ** 2))
    k = k / k.sum(1, keepdim=True)  # (B, 9)
    b, c, h, w = x.shape
    y = F.pad(x.reshape(1, b * c, h, w), (4, 4, 4, 4), mode="reflect")
    kk = k.repeat_interleave(c, 0)
    y = F.conv2d(y, kk[:, None, None, :], groups=b * c)
    y = F.conv2d(y, kk[:, None, :, None], groups=b * c)
    return y.reshape(b, c, h, w)


def jpeg_like(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Differentiable JPEG stand-in: 8×8 block DCT (of 255·x), uniform noise of ±half a
    quality-50 quantisation step on each coefficient, inverse DCT."""
    b, c, h, w = x.shape
    d = _dct_matrix(8, x.device)
    blocks = (x * 255).reshape(b, c, h // 8, 8, w // 8, 8).permute(0, 1, 2, 4, 3, 5)
    coef = d @ blocks @ d.T
    q = torch.as_tensor(_Q50, device=x.device)
    coef = coef + (torch.rand(coef.shape, generator=gen, device=x.device) - 0.5) * q
    out = (d.T @ coef @ d).permute(0, 1, 2, 4, 3, 5).reshape(b, c, h, w) / 255
    return out


def noise_layer(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """One random distortion per image: identity, blur, Gaussian noise or JPEG-like."""
    b = x.shape[0]
    kind = torch.randint(0, 4, (b,), generator=gen, device=x.device)[:, None, None, None]
    scale = x.shape[-1] / 128
    sig = (0.5 + 1.5 * torch.rand(b, generator=gen, device=x.device)) * scale
    noisy = x + 0.04 * torch.rand(b, 1, 1, 1, generator=gen, device=x.device) * torch.randn(
        x.shape, generator=gen, device=x.device)
    outs = torch.stack([x, blur(x, sig), noisy, jpeg_like(x, gen)])  # (4, B, C, H, W)
    return torch.gather(outs, 0, kind[None].expand(1, *x.shape))[0]


def cover_images(side: int, n: int, seed: int) -> np.ndarray:
    """``n`` RGB random-shapes scenes over photo crops, ``(n, 3, side, side)`` in [0, 1]."""
    from lab.semantic_regen import scenes

    rng = np.random.default_rng([seed, 8])
    photos = [scenes.photo(p) for p in scenes.PHOTOS]
    out = np.empty((n, 3, side, side), np.float32)
    for i in range(n):
        out[i] = scenes.make_scene(side, rng, scenes.crop(photos[i % len(photos)], side, rng)).image.transpose(2, 0, 1)
    return out


def train(cfg: StegaConfig, device: str | torch.device = "cpu") -> dict:
    """Train encoder and decoder jointly through the noise layers; returns state dicts and losses."""
    data = torch.from_numpy(cover_images(cfg.side, cfg.n_images, cfg.seed)).to(device)
    torch.manual_seed(cfg.seed)
    enc, dec = Encoder(cfg.side, cfg.bits, cfg.width, cfg.strength).to(device), Decoder(cfg.side, cfg.bits, cfg.width).to(device)
    opt = torch.optim.Adam(list(enc.parameters()) + list(dec.parameters()), lr=cfg.lr)
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    losses, start, ema = [], None, math.log(2)
    for step in range(cfg.steps):
        idx = torch.randint(0, data.shape[0], (cfg.batch,), generator=gen, device=device)
        x = data[idx]
        b = (torch.rand(cfg.batch, cfg.bits, generator=gen, device=device) < 0.5).float()
        xw = enc(x, b)
        # the curriculum: bits alone until their loss is below 0.4 (or half the steps are spent), then
        # the noise layers on and the image loss ramped in over 30 % of the steps
        if start is None and (ema < 0.4 or step >= cfg.steps // 2):
            start = step
        logits = dec(noise_layer(xw, gen) if start is not None else xw)
        ramp = 0.0 if start is None else min(1.0, (step - start) / max(1, 0.3 * cfg.steps))
        bce = F.binary_cross_entropy_with_logits(logits, b)
        ema = 0.9 * ema + 0.1 * float(bce.detach()) if start is None else ema
        loss = bce + ramp * cfg.mse_weight * 100 * F.mse_loss(xw, x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 10 == 0 or step == cfg.steps - 1:
            losses.append(float(loss.detach()))
    return {"enc": {k: v.detach().cpu() for k, v in enc.state_dict().items()},
            "dec": {k: v.detach().cpu() for k, v in dec.state_dict().items()}, "losses": losses, "noise_from": start}


class StegaStamp:
    """The trained stand-in: :meth:`encode` and :meth:`decode` on float H×W×3 images in [0, 1]."""

    def __init__(self, cfg: StegaConfig, rec: dict, device: str | torch.device = "cpu"):
        self.cfg, self.device = cfg, torch.device(device)
        self.enc = Encoder(cfg.side, cfg.bits, cfg.width, cfg.strength)
        self.enc.load_state_dict(rec["enc"])
        self.dec = Decoder(cfg.side, cfg.bits, cfg.width)
        self.dec.load_state_dict(rec["dec"])
        self.enc.to(self.device).eval()
        self.dec.to(self.device).eval()

    def _t(self, img: np.ndarray) -> torch.Tensor:
        img = np.asarray(img)
        if img.ndim == 3:
            img = img[None]
        if img.ndim != 4 or img.shape[1:] != (self.cfg.side, self.cfg.side, 3):
            raise ValueError(f"the stand-in takes {self.cfg.side}×{self.cfg.side}×3 images, got {img.shape}")
        return torch.from_numpy(np.ascontiguousarray(img.transpose(0, 3, 1, 2), np.float32)).to(self.device)

    @torch.no_grad()
    def encode(self, img: np.ndarray, bits: np.ndarray) -> np.ndarray:
        bits = np.asarray(bits)
        if bits.shape[-1] != self.cfg.bits:
            raise ValueError(f"the stand-in carries {self.cfg.bits} bits, got a payload of {bits.shape[-1]}")
        x = self._t(img)
        b = torch.as_tensor(np.broadcast_to(bits, (x.shape[0], self.cfg.bits)).copy(), dtype=torch.float32, device=self.device)
        out = self.enc(x, b).cpu().numpy().transpose(0, 2, 3, 1).astype(np.float64)
        return out[0] if np.asarray(img).ndim == 3 else out

    @torch.no_grad()
    def decode(self, img: np.ndarray) -> np.ndarray:
        out = (self.dec(self._t(img)) > 0).cpu().numpy().astype(np.uint8)
        return out[0] if np.asarray(img).ndim == 3 else out


def trained(cfg: StegaConfig, device: str | torch.device = "cpu") -> tuple[StegaStamp, dict]:
    """The cached (or freshly trained) stand-in of ``cfg`` on ``device`` and its training record."""
    from lab.cache import cached

    if cfg.side % 16 or cfg.side < 16:
        raise ValueError(f"the stand-in's side must be a multiple of 16, got {cfg.side}")
    rec = cached("semantic_regen/stegastamp", {**asdict(cfg), "device": torch.device(device).type},
                 lambda: train(cfg, device), version=VERSION)
    return StegaStamp(cfg, rec, device), rec
