"""The paper's baselines, a U-Net and a U-ViT, with the same interface as :class:`FLEX`.

Both read the noisy target and the conditioning **concatenated as input channels** (no task
encoder); a per-task input layer takes the task's channel count (1 + 1 for SR, 1 + frames
for FC), and the time and ``Re`` embeddings condition every block. ``book/flex.md`` compares
them with FLEX at (approximately) equal parameter counts, chosen by :func:`match_width`.

- :class:`UNet`: the ADM U-Net of the reference code's ``unet.py`` in spirit: the same
  ResNet blocks as FLEX, two ResNet blocks at the bottleneck, no attention.
- :class:`UViT`: patches of side ``patch`` become tokens; one time/``Re`` token is prepended;
  a U-ViT stack with long skips; a linear map back to patches and a final 3×3 conv.
"""
from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn as nn

from .backbone import TASKS, BackboneSize, ConvDecoder, ConvEncoder, count_parameters, get_size
from .blocks import ResBlock, mlp_embedding, time_embedding
from .transformer import UViTStack


def _stem(z, segments, layers, in_channels):
    """Apply each segment's input layer to ``cat[z, cond]`` and concatenate along the batch."""
    out, lo = [], 0
    for task, cond in segments:
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {task!r}")
        if cond.shape[1] + 1 != in_channels[task]:
            raise ValueError(f"task {task!r} expects {in_channels[task] - 1} conditioning channel(s), got {cond.shape[1]}")
        hi = lo + cond.shape[0]
        out.append(layers[task](torch.cat([z[lo:hi], cond], dim=1)))
        lo = hi
    if lo != z.shape[0]:
        raise ValueError(f"the conditioning segments hold {lo} samples, the noisy batch {z.shape[0]}")
    return torch.cat(out)


class UNet(nn.Module):
    """Conv U-Net on ``cat[z_t, cond]``; ``forward(z, t, cond, re, task)`` as :class:`FLEX`."""

    def __init__(self, img_size: int, size="tiny", cond_frames: int = 2, dropout: float = 0.0):
        super().__init__()
        size = get_size(size)
        levels = len(size.channels)
        if img_size % 2**levels:
            raise ValueError(f"img_size {img_size} is not divisible by 2**{levels}")
        dim = size.channels[-1]
        self.in_channels = {"sr": 2, "fc": 1 + cond_frames}
        self.encoder = ConvEncoder(1, size, dim, dropout)
        # per-task input convs replace the shared stem
        self.stems = nn.ModuleDict({t: nn.Conv2d(c, size.channels[0], 3, padding=1) for t, c in self.in_channels.items()})
        self.encoder.stem = nn.Identity()
        self.time, self.re = time_embedding(dim), mlp_embedding(1, dim)
        self.mid = nn.ModuleList([ResBlock(dim, dim, dim, size.groups, dropout) for _ in range(2)])
        self.decoder = ConvDecoder(self.encoder.skip_channels, size, dim, 1, dropout)

    def forward(self, z, t, cond, re, task: str):
        return self.forward_tasks(z, t, re, [(task, cond)])

    def forward_tasks(self, z, t, re, segments):
        """As :meth:`FLEX.forward_tasks`: per-task input convs, the rest shared."""
        emb = self.time(t) + self.re(re.reshape(-1, 1).to(z.dtype))
        h, skips = self.encoder(_stem(z, segments, self.stems, self.in_channels), emb)
        for block in self.mid:
            h = block(h, emb)
        return self.decoder(h, skips, emb)


class UViT(nn.Module):
    """U-ViT on patches of ``cat[z_t, cond]``; ``forward(z, t, cond, re, task)`` as :class:`FLEX`.

    Parameters
    ----------
    img_size, patch : image side and patch side (``img_size % patch == 0``).
    dim, depth, heads : Transformer width, depth (``depth//2`` blocks each side of the middle), heads.
    """

    def __init__(self, img_size: int, patch: int = 4, dim: int = 128, depth: int = 7, heads: int = 4,
                 mlp_ratio: float = 2.0, cond_frames: int = 2, dropout: float = 0.0):
        super().__init__()
        if img_size % patch:
            raise ValueError(f"img_size {img_size} is not divisible by the patch size {patch}")
        self.img_size, self.patch = img_size, patch
        self.in_channels = {"sr": 2, "fc": 1 + cond_frames}
        self.embed = nn.ModuleDict({t: nn.Conv2d(c, dim, patch, stride=patch) for t, c in self.in_channels.items()})
        self.time, self.re = time_embedding(dim), mlp_embedding(1, dim)
        self.pos = nn.Parameter(torch.zeros(1, 1 + (img_size // patch) ** 2, dim))
        nn.init.trunc_normal_(self.pos, std=0.02)
        self.stack = UViTStack(dim, depth, heads, mlp_ratio, dropout)
        self.to_patches = nn.Linear(dim, patch * patch)
        self.final = nn.Conv2d(1, 1, 3, padding=1)

    def forward(self, z, t, cond, re, task: str):
        return self.forward_tasks(z, t, re, [(task, cond)])

    def forward_tasks(self, z, t, re, segments):
        """As :meth:`FLEX.forward_tasks`: per-task patch embeddings, the rest shared."""
        emb = self.time(t) + self.re(re.reshape(-1, 1).to(z.dtype))
        x = _stem(z, segments, self.embed, self.in_channels)
        b, d, gh, gw = x.shape
        tokens = torch.cat([emb[:, None], x.flatten(2).transpose(1, 2)], dim=1) + self.pos
        out = self.to_patches(self.stack(tokens)[:, 1:])  # [B, gh*gw, p*p]
        p = self.patch
        img = out.reshape(b, gh, gw, p, p).permute(0, 1, 3, 2, 4).reshape(b, 1, gh * p, gw * p)
        return self.final(img)


def match_width(build, widths, target: int):
    """The model ``build(w)`` whose parameter count is closest to ``target``, and ``w`` and that count.

    ``widths`` is sorted and the count grows with the width, so a bisection finds the first
    width at or above the target; the closer of it and its predecessor wins.
    """
    widths = sorted(widths)
    lo, hi = 0, len(widths) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if count_parameters(build(widths[mid])) < target:
            lo = mid + 1
        else:
            hi = mid
    candidates = {w: count_parameters(build(w)) for w in widths[max(0, lo - 1): lo + 1]}
    best = min(candidates, key=lambda w: abs(candidates[w] - target))
    return build(best), best, candidates[best]


def unet_like(size: BackboneSize, width: int, level: int = 0) -> BackboneSize:
    """``size`` with every level's channels scaled by ``width / channels[level]`` (rounded to the groups).

    Scaling by the deepest level (``level=-1``) moves the parameter count in finer steps: the
    first full-tier run scaled by level 0 in steps of one group and its U-Net came out at 80 M
    parameters against FLEX's 58 M, the nearest candidate."""
    g = size.groups
    factor = width / size.channels[level]
    return replace(size, channels=tuple(max(g, int(round(c * factor / g)) * g) for c in size.channels))
