"""The FLEX backbone: a U-Net of ADM ResNet blocks with a latent Transformer and task encoders.

Data flow for one task (``book/flex.md``, section "The backbone"):

1. The **task encoder** (one per task; conv only, no time input) reads the conditioning,
   the bicubic-upsampled field for super-resolution (SR) or the past frames for forecasting
   (FC), and returns one activation per layer and its final feature map.
2. The shared **encoder** reads the noisy residual ``z_t``; after each of its layers it adds
   the task encoder's activation of the same layer (**weak conditioning**). Its conditioning
   vector is an MLP embedding of ``Re`` plus a random-Fourier embedding of ``t``.
3. The bottleneck pixels become tokens (patch size 1) after a prepended conditioning token;
   a **Transformer** with U-ViT long skips processes them.
4. The **decoder** adds the task encoder's final feature map at the bottleneck and, in every
   skip connection, the task encoder's activation to the shared encoder's (**strong
   conditioning**), then mirrors the encoder; a GN–SiLU–zero-conv head outputs ``v̂``.

``use_transformer``, ``weak`` and ``strong`` switch parts off for the ablations.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from .blocks import ResBlock, adaptive_groupnorm_silu, mlp_embedding, time_embedding, zero_
from .transformer import UViTStack

TASKS = ("sr", "fc")


@dataclass(frozen=True)
class BackboneSize:
    """Channels and blocks per level, Transformer depth and heads, group-norm groups."""

    channels: tuple
    res_blocks: tuple
    depth: int
    heads: int
    mlp_ratio: float = 2.0
    groups: int = 32


#: ``small``/``medium``/``big`` are the reference code's sizes; ``tiny`` is ours, for one CPU
#: core (2 levels of 16 and 32 channels, 1 block each, Transformer depth 3, GN with 8 groups
#: because 16 channels cannot form the reference's 32 groups): about 0.4 M parameters.
SIZES = {
    "tiny": BackboneSize((16, 32), (1, 1), depth=3, heads=4, groups=8),
    "small": BackboneSize((64, 128, 128, 256), (2, 3, 3, 3), depth=13, heads=4),
    "medium": BackboneSize((64, 128, 256, 512), (2, 3, 3, 4), depth=13, heads=8),
    "big": BackboneSize((128, 256, 512, 1152), (2, 3, 3, 3), depth=21, heads=16),
}


def get_size(size) -> BackboneSize:
    if isinstance(size, BackboneSize):
        return size
    if size not in SIZES:
        raise ValueError(f"unknown backbone size {size!r}; choose from {sorted(SIZES)}")
    return SIZES[size]


class ConvEncoder(nn.Module):
    """Input conv, then per level ``res_blocks[l]`` ResBlocks and one down-sampling ResBlock.

    ``forward(x, emb, add=None)`` returns ``(h, skips)``: the output after every layer (the
    input conv included); when ``add`` (a list of the same length) is given, ``add[i]`` is
    added after layer ``i`` (FLEX's weak conditioning). Every level halves the resolution.
    """

    def __init__(self, in_ch: int, size: BackboneSize, emb_dim: int, dropout: float = 0.0):
        super().__init__()
        ch = size.channels[0]
        self.stem = nn.Conv2d(in_ch, ch, 3, padding=1)
        self.layers = nn.ModuleList()
        self.skip_channels = [ch]
        for level, out in enumerate(size.channels):
            for _ in range(size.res_blocks[level]):
                self.layers.append(ResBlock(ch, out, emb_dim, size.groups, dropout))
                ch = out
                self.skip_channels.append(ch)
            self.layers.append(ResBlock(ch, ch, emb_dim, size.groups, dropout, resample="down"))
            self.skip_channels.append(ch)
        self.out_channels = ch

    def forward(self, x, emb, add=None):
        h = self.stem(x)
        if add is not None:
            h = h + add[0]
        skips = [h]
        for i, layer in enumerate(self.layers, start=1):
            h = layer(h, emb)
            if add is not None:
                h = h + add[i]
            skips.append(h)
        return h, skips


class ConvDecoder(nn.Module):
    """Mirror of :class:`ConvEncoder`: each block reads ``cat[h, skip]``; the last block of a
    level up-samples; ends with GN–SiLU and a zero-initialised 3×3 conv to ``out_ch``."""

    def __init__(self, skip_channels: list, size: BackboneSize, emb_dim: int, out_ch: int = 1,
                 dropout: float = 0.0):
        super().__init__()
        chans = list(skip_channels)
        ch = chans.pop()
        self.blocks = nn.ModuleList([ResBlock(2 * ch, ch, emb_dim, size.groups, dropout, resample="up")])
        for level in reversed(range(len(size.channels))):
            out = size.channels[level]
            for i in range(size.res_blocks[level] + 1):
                layers = [ResBlock(ch + chans.pop(), out, emb_dim, size.groups, dropout)]
                ch = out
                if level and i == size.res_blocks[level]:
                    layers.append(ResBlock(ch, ch, emb_dim, size.groups, dropout, resample="up"))
                self.blocks.append(nn.ModuleList(layers))
        self.norm = nn.GroupNorm(size.groups, ch)
        self.head = zero_(nn.Conv2d(ch, out_ch, 3, padding=1))

    def forward(self, h, skips, emb):
        """``skips`` is consumed from the end (the list is copied, not modified)."""
        skips = list(skips)
        h = self.blocks[0](torch.cat([h, skips.pop()], dim=1), emb)
        for layers in self.blocks[1:]:
            h = torch.cat([h, skips.pop()], dim=1)
            for layer in layers:
                h = layer(h, emb)
        return self.head(adaptive_groupnorm_silu(h, self.norm))


class FLEX(nn.Module):
    """FLEX for super-resolution (``"sr"``) and forecasting (``"fc"``) of a scalar field.

    Parameters
    ----------
    img_size : side of the (square) input; must be divisible by ``2**len(channels)``.
    size : a name in :data:`SIZES` or a :class:`BackboneSize`.
    cond_frames : past frames the forecasting encoder reads.
    use_transformer, weak, strong : ablation switches (see the module docstring).
    dropout : in ResNet blocks and the Transformer.

    ``forward(z, t, cond, re, task)``: ``z`` ``[B, 1, H, W]`` noisy target, ``t`` ``[B]`` in
    ``[0, 1]``, ``cond`` ``[B, c, H, W]`` (``c = 1`` for SR, ``cond_frames`` for FC), ``re``
    ``[B, 1]`` scaled Reynolds number; returns ``v̂`` ``[B, 1, H, W]``.
    """

    def __init__(self, img_size: int, size="tiny", cond_frames: int = 2, use_transformer: bool = True,
                 weak: bool = True, strong: bool = True, dropout: float = 0.0):
        super().__init__()
        self.size = size = get_size(size)
        levels = len(size.channels)
        if img_size % 2**levels:
            raise ValueError(f"img_size {img_size} is not divisible by 2**{levels} (one halving per level)")
        self.img_size, self.use_transformer, self.weak, self.strong = img_size, use_transformer, weak, strong
        dim = size.channels[-1]
        self.encoder = ConvEncoder(1, size, dim, dropout)
        self.enc_time, self.enc_re = time_embedding(dim), mlp_embedding(1, dim)
        self.task_encoders = nn.ModuleDict({"sr": ConvEncoder(1, size, dim, dropout),
                                            "fc": ConvEncoder(cond_frames, size, dim, dropout)})
        self.task_re = nn.ModuleDict({t: mlp_embedding(1, dim) for t in TASKS})
        self.bottleneck = img_size // 2**levels
        if use_transformer:
            self.pos = nn.Parameter(torch.zeros(1, 1 + self.bottleneck**2, dim))
            nn.init.trunc_normal_(self.pos, std=0.02)
            self.transformer = UViTStack(dim, size.depth, size.heads, size.mlp_ratio, dropout)
        self.dec_time, self.dec_re = time_embedding(dim), mlp_embedding(1, dim)
        self.decoder = ConvDecoder(self.encoder.skip_channels, size, dim, 1, dropout)

    def _task_features(self, segments, re):
        """Run each segment's task encoder; concatenate finals and per-layer skips along the batch."""
        finals, skips, lo = [], [], 0
        for task, cond in segments:
            if task not in TASKS:
                raise ValueError(f"task must be one of {TASKS}, got {task!r}")
            expected = 1 if task == "sr" else self.task_encoders["fc"].stem.in_channels
            if cond.shape[1] != expected:
                raise ValueError(f"task {task!r} expects {expected} conditioning channel(s), got {cond.shape[1]}")
            hi = lo + cond.shape[0]
            final, layer_skips = self.task_encoders[task](cond, self.task_re[task](re[lo:hi]))
            finals.append(final)
            skips.append(layer_skips)
            lo = hi
        if lo != re.shape[0]:
            raise ValueError(f"the conditioning segments hold {lo} samples, the noisy batch {re.shape[0]}")
        return torch.cat(finals), [torch.cat(layer) for layer in zip(*skips)]

    def forward_tasks(self, z, t, re, segments):
        """One pass for a batch whose consecutive segments belong to different tasks.

        ``segments`` is a list of ``(task, cond)``; their batch sizes add up to ``z``'s. Only the
        task encoders run per segment; the shared encoder, Transformer and decoder see the whole
        batch (the reference's multi-task training sends SR and FC halves through them together).
        """
        re = re.reshape(-1, 1).to(z.dtype)
        # task encoders: conditioning only, no time
        c_final, c_skips = self._task_features(segments, re)
        emb = self.enc_re(re) + self.enc_time(t)
        h, skips = self.encoder(z, emb, add=c_skips if self.weak else None)
        b, ch, side, _ = h.shape
        dec_emb = self.dec_re(re) + self.dec_time(t)
        if self.use_transformer:
            tokens = torch.cat([emb[:, None, :], h.flatten(2).transpose(1, 2)], dim=1) + self.pos
            tokens, t_skips = self.transformer.encode(tokens)
            # the decoder's time/Re embedding enters through the conditioning token
            tokens = torch.cat([tokens[:, :1] + dec_emb[:, None], tokens[:, 1:]], dim=1)
            tokens = self.transformer.decode(tokens, t_skips)
            h = tokens[:, 1:].transpose(1, 2).reshape(b, ch, side, side)
        if self.strong:
            h = h + c_final
            skips = [s + c for s, c in zip(skips, c_skips)]
        return self.decoder(h, skips, dec_emb)

    def forward(self, z, t, cond, re, task: str):
        return self.forward_tasks(z, t, re, [(task, cond)])


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
