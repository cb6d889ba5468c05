"""Exact bit accounting of quantized caches, relative to an FP16 KV cache.

A stream quantized at :math:`b` bits in groups of :math:`g` with an FP16 scale and zero per
group costs :math:`b + 32/g` bits per value. A cache is a list of streams per token and layer,
``(width, bits, group)`` (``bits=16, group=None`` for FP16 storage). The FP16 KV cache stores
:math:`2 d_{kv}` values of 16 bits per token and layer, so a cache's memory relative to it is

.. math::

    \\frac{\\sum_{\\text{streams}} w\\,(b + 32/g)}{2\\,d_{kv}\\cdot 16}.

KIVI*-b: keys (:math:`d_{kv}`, per channel, :math:`g` tokens) and values (:math:`d_{kv}`, per
token) give :math:`(b + 32/g)/16`; XQuant-b caches :math:`X` (width :math:`d`) and gives
:math:`d\\,(b + 32/g)/(32\\,d_{kv})`, half of KIVI*-b when :math:`d = d_{kv}` (multi-head
attention). See ``book/xquant.md``, Table 1's memory column.
"""
from __future__ import annotations

from fractions import Fraction

META_BITS = 32  # an FP16 scale and an FP16 zero point per group


def bits_per_value(bits: int, group: int | None) -> Fraction:
    """:math:`b + 32/g` (exactly :math:`b` for unquantized storage, ``group=None``)."""
    if group is None:
        return Fraction(bits)
    if group < 1:
        raise ValueError(f"group must be positive, got {group}")
    return Fraction(bits) + Fraction(META_BITS, group)


def bits_per_token(streams: list[tuple[int, int, int | None]]) -> Fraction:
    """Bits one token costs in one layer: :math:`\\sum w\\,(b + 32/g)` over ``(w, b, g)`` streams."""
    return sum((w * bits_per_value(b, g) for w, b, g in streams), Fraction(0))


def memory_ratio(streams: list[tuple[int, int, int | None]], kv_dim: int) -> Fraction:
    """Memory relative to an FP16 KV cache (:math:`2 d_{kv}` values of 16 bits per token)."""
    return bits_per_token(streams) / (2 * kv_dim * 16)
