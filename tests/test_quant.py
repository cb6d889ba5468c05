"""lab.quant: the group quantizer, bit-packing and the bit accountant, against first principles."""
from fractions import Fraction

import numpy as np
import pytest
import torch

from lab.quant import accounting, dequantize, pack, quantize, unpack
from lab.quant.packing import packed_nbytes
from lab.quant.uniform import fp16_next, packed_size


def _x(shape, seed=0, scale=3.0):
    return torch.from_numpy(np.random.default_rng(seed).standard_normal(shape) * scale).float()


@pytest.mark.parametrize("bits", [1, 2, 3, 4, 5, 8])
@pytest.mark.parametrize("n", [1, 7, 8, 9, 64, 1001])
def test_pack_unpack_round_trip(bits, n):
    codes = torch.from_numpy(np.random.default_rng(n * bits).integers(0, 2**bits, n))
    packed = pack(codes, bits)
    assert packed.dtype == torch.uint8 and packed.numel() == packed_nbytes(n, bits) == bits * -(-n // 8)
    assert torch.equal(unpack(packed, bits, n), codes)


def test_packing_layout_is_little_endian_within_bytes():
    # 4-bit: two codes per byte, first code in the low nibble; 2-bit: four per byte
    assert pack(torch.tensor([1, 2, 3, 4, 5, 6, 7, 8]), 4).tolist() == [0x21, 0x43, 0x65, 0x87]
    assert pack(torch.tensor([1, 2, 3, 0, 0, 1, 2, 3]), 2).tolist() == [1 | 2 << 2 | 3 << 4, 0 | 1 << 2 | 2 << 4 | 3 << 6]
    # 3-bit: eight codes in three bytes, code i at bit 3i of the 24-bit word
    codes = torch.tensor([7, 0, 5, 1, 2, 6, 3, 4])
    word = sum(int(c) << (3 * i) for i, c in enumerate(codes))
    assert pack(codes, 3).tolist() == [word & 255, (word >> 8) & 255, word >> 16]


def test_pack_rejects_out_of_range_codes():
    with pytest.raises(ValueError, match="codes must lie"):
        pack(torch.tensor([4]), 2)
    with pytest.raises(ValueError, match="bits"):
        pack(torch.tensor([0]), 9)


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
@pytest.mark.parametrize("axis, group", [(-1, 32), (-1, 128), (1, 16), (0, 3)])
def test_round_trip_error_at_most_half_a_step(bits, axis, group):
    x = _x((6, 48, 128), seed=bits)
    q = quantize(x, bits, group, axis)
    err = (dequantize(q) - x).abs()
    # the step of every value's group, broadcast back to x's layout
    step = q.scale.float()[..., None].expand(*q.scale.shape, group)
    moved = list(x.shape)
    moved.append(moved.pop(q.axis))
    step = step.reshape(moved).movedim(-1, q.axis)
    assert torch.all(err <= step / 2 * (1 + 1e-5) + 1e-6)
    assert q.scale.dtype == torch.float16 and q.zero.dtype == torch.float16


def test_codes_span_the_full_range_and_extremes_are_near_exact():
    x = _x((4, 256), seed=1)
    q = quantize(x, 4, 64)
    codes = q.grouped_codes()
    assert codes.min() == 0 and codes.max() == 15
    xh = dequantize(q).view(4, 4, 64)
    xg = x.view(4, 4, 64)
    # the minimum of each group is reproduced up to one FP16 ulp of the zero point (rounded down)
    gap = xg.amin(-1) - xh.amin(-1)
    assert torch.all(gap >= 0) and torch.all(gap <= xg.amin(-1).abs() * 2**-10 + 1e-7)


def test_two_bit_error_is_larger_than_eight_bit_error():
    x = _x((8, 256), seed=2)
    errs = [(dequantize(quantize(x, b, 128)) - x).pow(2).mean().item() for b in (2, 4, 8)]
    assert errs[0] > errs[1] > errs[2] > 0
    # uniform quantization: MSE about step^2 / 12, step ~ range / (2^b - 1)
    rng = (x.view(8, 2, 128).amax(-1) - x.view(8, 2, 128).amin(-1)).pow(2).mean().item()
    assert errs[1] == pytest.approx(rng / 15**2 / 12, rel=0.3)


def test_constant_group_is_exact():
    x = torch.full((2, 64), 0.5)
    assert torch.equal(dequantize(quantize(x, 2, 32)), x)


def test_stored_bytes_match_the_accountant():
    x = _x((3, 40, 256))
    for bits in (2, 3, 4, 8):
        q = quantize(x, bits, 128)
        assert q.nbytes() == packed_size(x.shape, bits, 128)
        assert Fraction(8 * q.nbytes(), x.numel()) == accounting.bits_per_value(bits, 128)


def test_bad_input_raises():
    with pytest.raises(ValueError, match="multiple of the group"):
        quantize(torch.zeros(3, 10), 4, 4)
    with pytest.raises(ValueError, match="FP16"):
        quantize(torch.tensor([[1e6, 0.0]]), 4, 2)


def test_memory_ratios_match_table_1():
    kivi = lambda b: accounting.memory_ratio([(4096, b, 128), (4096, b, 128)], 4096)
    xq = lambda b: accounting.memory_ratio([(4096, b, 128)], 4096)
    assert [float(kivi(b)) for b in (4, 3, 2)] == [0.265625, 0.203125, 0.140625]
    assert [float(xq(b)) for b in (8, 4, 3)] == [0.2578125, 0.1328125, 0.1015625]
    assert all(xq(b) / kivi(b) == Fraction(1, 2) for b in (2, 3, 4))
    assert accounting.bits_per_value(4, 64) == Fraction(9, 2)  # g = 64 costs half a bit
    assert accounting.memory_ratio([(8, 16, None), (8, 16, None)], 8) == 1


def test_fp16_next_matches_nextafter():
    x = torch.tensor([0.0, -0.0, 1.0, -1.0, 6e-8, -6e-8, 3.14, -2.5e-5, 65000.0], dtype=torch.float16)
    for up, target in ((True, float("inf")), (False, -float("inf"))):
        expected = torch.nextafter(x, torch.full_like(x, target))
        got = fp16_next(x, up)
        assert torch.equal(got.view(torch.int16)[x != 0], expected.view(torch.int16)[x != 0])
        assert torch.all((got > x) if up else (got < x))
