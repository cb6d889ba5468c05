"""Bit-packing of b-bit codes (1 <= b <= 8) into bytes, and back.

Eight consecutive codes :math:`c_0..c_7` form one little-endian word of :math:`8b` bits,
:math:`w = \\sum_i c_i\\,2^{bi}`, stored as its :math:`b` bytes. So 2-bit codes pack four to a
byte (:math:`c_0` in the low bits), 4-bit codes two to a byte, 8-bit codes one to a byte, and
3-bit codes eight to three bytes. A code's bits then sit at bit offset :math:`bi` of its word,
spanning at most two consecutive bytes: the Triton kernel ``kernels/dequant_matmul.py``
unpacks with exactly this rule. See ``book/xquant.md``.
"""
from __future__ import annotations

import torch


def packed_nbytes(n_codes: int, bits: int) -> int:
    """Bytes :func:`pack` produces for ``n_codes`` codes: :math:`b\\lceil n/8\\rceil`."""
    return bits * -(-n_codes // 8)


def pack(codes: torch.Tensor, bits: int) -> torch.Tensor:
    """Pack a 1-D tensor of integer codes in ``[0, 2**bits)`` into a 1-D uint8 tensor.

    The code count is padded with zeros to a multiple of 8; :func:`unpack` needs the count back.
    """
    if not 1 <= bits <= 8:
        raise ValueError(f"bits must be in 1..8, got {bits}")
    codes = codes.reshape(-1).to(torch.int64)
    if codes.numel() and (codes.min() < 0 or codes.max() >= 2**bits):
        raise ValueError(f"codes must lie in [0, {2**bits}) for {bits}-bit packing")
    pad = (-codes.numel()) % 8
    words = torch.nn.functional.pad(codes, (0, pad)).view(-1, 8)
    shifts = bits * torch.arange(8, device=codes.device)
    word = (words << shifts).sum(dim=1)  # 8b <= 64 bits: fits an int64 (the top bit only for b = 8)
    byte_shifts = 8 * torch.arange(bits, device=codes.device)
    return ((word[:, None] >> byte_shifts) & 0xFF).to(torch.uint8).reshape(-1)


def unpack(packed: torch.Tensor, bits: int, n_codes: int) -> torch.Tensor:
    """Inverse of :func:`pack`: the first ``n_codes`` codes, as int64."""
    if not 1 <= bits <= 8:
        raise ValueError(f"bits must be in 1..8, got {bits}")
    if packed.numel() != packed_nbytes(n_codes, bits):
        raise ValueError(f"{packed.numel()} bytes cannot hold exactly {n_codes} codes of {bits} bits")
    by = packed.to(torch.int64).view(-1, bits)
    word = (by << (8 * torch.arange(bits, device=packed.device))).sum(dim=1)
    codes = (word[:, None] >> (bits * torch.arange(8, device=packed.device))) & (2**bits - 1)
    return codes.reshape(-1)[:n_codes]
