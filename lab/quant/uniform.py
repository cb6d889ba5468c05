"""Asymmetric uniform quantization in groups, with packed codes and FP16 scales and zeros.

A group of :math:`g` values :math:`x` is stored at :math:`b` bits as

.. math::

    s = \\frac{\\max x - \\min x}{2^b - 1}, \\quad z = \\min x, \\quad
    q = \\mathrm{clamp}\\big(\\mathrm{round}((x - z)/s),\\ 0,\\ 2^b - 1\\big), \\quad
    \\hat x = q\\,s + z,

with :math:`s` and :math:`z` stored in FP16 (so :math:`b + 32/g` bits per value, see
:mod:`lab.quant.accounting`). We round :math:`z` down and :math:`s` up to FP16 so that the grid
still covers the group: no value is clamped and :math:`|x - \\hat x| \\le s/2` holds with the
stored :math:`s`. Groups are ``group`` consecutive values along one axis: along channels
(per-token quantization) or along tokens (per-channel quantization, as KIVI does for keys).
See ``book/xquant.md``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from lab.quant.packing import pack, packed_nbytes, unpack

FP16_MAX = 65504.0


@dataclass
class Quantized:
    """A tensor quantized by :func:`quantize`: packed codes, FP16 scale and zero per group."""

    codes: torch.Tensor  # uint8, the packed codes of the grouped view (..., n_groups, group)
    scale: torch.Tensor  # float16, (..., n_groups)
    zero: torch.Tensor  # float16, (..., n_groups)
    bits: int
    group: int
    axis: int
    shape: tuple  # of the original tensor

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (self.codes, self.scale, self.zero))

    def grouped_codes(self) -> torch.Tensor:
        """Unpacked codes, shape (..., n_groups, group)."""
        n = self.scale.numel() * self.group
        return unpack(self.codes, self.bits, n).view(*self.scale.shape, self.group)


def fp16_next(x: torch.Tensor, up: bool) -> torch.Tensor:
    """The FP16 neighbour of finite FP16 ``x`` towards +inf (``up``) or -inf, by its bit pattern.

    (Same as ``torch.nextafter``, which not every device implements for FP16.) FP16 is
    sign-magnitude: away from zero is +1 on the magnitude bits, towards zero is -1.
    """
    bits = x.view(torch.int16)
    away = (x > 0) if up else (x < 0)
    step = torch.where(away, bits + 1, bits - 1)
    tiny = torch.tensor(1 if up else -32767, dtype=torch.int16, device=x.device)  # ±smallest subnormal
    return torch.where(x == 0, tiny, step).view(torch.float16)


def _fp16_outward(lo: torch.Tensor, hi: torch.Tensor, levels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """FP16 zero <= lo and scale with zero + levels * scale >= hi (both as float32)."""
    z = lo.to(torch.float16)
    z = torch.where(z.float() > lo, fp16_next(z, up=False), z)
    s = ((hi - z.float()) / levels).to(torch.float16)
    for _ in range(4):  # one step up is almost always enough; float32 rounding may need another
        short = z.float() + s.float() * levels < hi
        if not short.any():
            break
        s = torch.where(short, fp16_next(s, up=True), s)
    # a constant group: any positive step represents it exactly at code 0
    s = torch.where(s.float() > 0, s, torch.ones_like(s))
    return z, s


def quantize(x: torch.Tensor, bits: int, group: int, axis: int = -1) -> Quantized:
    """Quantize ``x`` in groups of ``group`` consecutive values along ``axis`` (see module doc).

    Raises
    ------
    ValueError
        If ``bits`` is not in 1..8, ``x.shape[axis]`` is not a multiple of ``group``, or a
        value does not fit FP16's range (the scale and zero are stored in FP16).
    """
    if not 1 <= bits <= 8:
        raise ValueError(f"bits must be in 1..8, got {bits}")
    axis = axis % x.dim()
    n = x.shape[axis]
    if group < 1 or n % group:
        raise ValueError(f"axis {axis} has {n} values, not a multiple of the group size {group}")
    xf = x.detach().float()
    if xf.numel() and xf.abs().max() > FP16_MAX:
        raise ValueError("values beyond FP16's range cannot have FP16 scales and zeros")
    moved = xf.movedim(axis, -1)
    grouped = moved.reshape(*moved.shape[:-1], n // group, group)
    levels = 2**bits - 1
    z, s = _fp16_outward(grouped.amin(-1), grouped.amax(-1), levels)
    # q = clamp(round((x - z) / s), 0, 2^b - 1)
    q = torch.clamp(torch.round((grouped - z.float()[..., None]) / s.float()[..., None]), 0, levels)
    return Quantized(pack(q.to(torch.int64), bits), s, z, bits, group, axis, tuple(x.shape))


def dequantize(q: Quantized, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """:math:`\\hat x = q\\,s + z`, in the original shape."""
    codes = q.grouped_codes().to(torch.float32)
    xhat = codes * q.scale.float()[..., None] + q.zero.float()[..., None]
    moved_shape = list(q.shape)
    moved_shape.append(moved_shape.pop(q.axis))
    return xhat.reshape(moved_shape).movedim(-1, q.axis).to(dtype)


def fake_quantize(x: torch.Tensor, bits: int, group: int, axis: int = -1) -> torch.Tensor:
    """:func:`dequantize` of :func:`quantize`, in ``x``'s dtype."""
    return dequantize(quantize(x, bits, group, axis), x.dtype)


def packed_size(shape: tuple, bits: int, group: int) -> int:
    """Bytes :func:`quantize` stores for a tensor of ``shape``: codes plus two FP16 per group."""
    n = 1
    for s in shape:
        n *= s
    return packed_nbytes(n, bits) + 2 * 2 * (n // group)
