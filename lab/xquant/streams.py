"""Growing, quantized per-layer token streams: the storage inside every cache of this chapter.

A stream holds one tensor per cached token, shape (B, S, C), and grows by appending (B, T, C).

* :class:`TokenStream` quantizes each token on arrival, in groups of ``group`` channels (per-token
  quantization: X in XQuant, values in KIVI*). Tokens are independent, so quantizing a prompt at
  once or token by token stores the same codes.
* :class:`ChannelStream` quantizes each channel in groups of ``group`` consecutive *tokens*
  (per-channel quantization: keys in KIVI*, the key latent of the GQA path). A group can only
  be quantized once it is full, so the last ``< group`` tokens wait in FP16 (the "tail").

``bits=None`` keeps tokens unquantized in ``dtype`` (by default their own dtype: the exact
reference). ``values()`` returns everything, dequantized values in FP32; ``nbytes()`` counts packed codes, FP16
scales and zeros, and the tail. See ``book/xquant.md``.
"""
from __future__ import annotations

import torch

from lab.quant.uniform import Quantized, dequantize, quantize


class TokenStream:
    """Per-token groups of ``group`` channels; ``bits=None`` stores tokens as ``dtype``."""

    def __init__(self, bits: int | None, group: int, dtype: torch.dtype | None = None):
        self.bits, self.group, self.dtype = bits, group, dtype
        self.parts: list[Quantized | torch.Tensor] = []

    def append(self, x: torch.Tensor) -> None:
        if self.bits is None:
            self.parts.append(x.detach().to(self.dtype or x.dtype))
        else:
            self.parts.append(quantize(x, self.bits, min(self.group, x.shape[-1]), axis=-1))

    def _merge(self) -> None:
        """Concatenate the packed parts along tokens into one (still packed) tensor.

        Each token's codes fill whole 8-code words when its width is a multiple of 8, so the
        packed bytes of consecutive tokens can be concatenated as they are; one dequantization
        per step then rebuilds everything (instead of one per appended chunk).
        """
        q0 = self.parts[0]
        b, _, width = q0.shape
        if width % 8:
            return
        row = width * q0.bits // 8
        codes = torch.cat([p.codes.view(b, -1, row) for p in self.parts], dim=1)
        scale = torch.cat([p.scale for p in self.parts], dim=1)
        zero = torch.cat([p.zero for p in self.parts], dim=1)
        self.parts = [Quantized(codes.reshape(-1), scale, zero, q0.bits, q0.group, q0.axis,
                                (b, codes.shape[1], width))]

    def values(self) -> torch.Tensor:
        if self.bits is not None and len(self.parts) > 1:
            self._merge()
        return torch.cat([p if isinstance(p, torch.Tensor) else dequantize(p) for p in self.parts], dim=1)

    def nbytes(self) -> int:
        return sum(p.numel() * p.element_size() if isinstance(p, torch.Tensor) else p.nbytes() for p in self.parts)


class ChannelStream:
    """Per-channel groups of ``group`` consecutive tokens; the unfinished group stays in FP16."""

    def __init__(self, bits: int, group: int):
        self.bits, self.group = bits, group
        self.blocks: list[Quantized] = []
        self.tail: torch.Tensor | None = None

    def append(self, x: torch.Tensor) -> None:
        x = x.detach().float()
        pending = x if self.tail is None else torch.cat((self.tail.float(), x), dim=1)
        full = pending.shape[1] // self.group * self.group
        if full:
            self.blocks.append(quantize(pending[:, :full], self.bits, self.group, axis=1))
        self.tail = pending[:, full:].to(torch.float16)

    def values(self) -> torch.Tensor:
        parts = [dequantize(b) for b in self.blocks]
        if self.tail is not None and self.tail.shape[1]:
            parts.append(self.tail.float())
        return torch.cat(parts, dim=1)

    def tail_tokens(self) -> int:
        return 0 if self.tail is None else self.tail.shape[1]

    def nbytes(self) -> int:
        tail = 0 if self.tail is None else self.tail.numel() * 2
        return sum(b.nbytes() for b in self.blocks) + tail
