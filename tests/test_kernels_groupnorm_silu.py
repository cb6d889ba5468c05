"""Fused group norm + scale/shift + SiLU: torch reference, Triton kernel (interpreted) and dispatch.

The independent reference is a float64 recomputation from the definition (mean and variance
per (sample, group) with numpy). ``tests/conftest.py`` sets ``TRITON_INTERPRET=1``.
"""
import numpy as np
import pytest
import torch
from compiled import run_without_interpreter

from kernels import dispatch
from kernels import groupnorm_silu as gn
from kernels.groupnorm_silu import (BLOCK, bench_groupnorm_silu, groupnorm_silu, groupnorm_silu_reference,
                                    groupnorm_silu_triton)

needs_triton = pytest.mark.skipif(not dispatch.triton_available("cpu")[0] and not torch.cuda.is_available(),
                                  reason="Triton runs neither interpreted nor on a GPU")


def _definition(x, groups, w, b, s, t, eps=1e-5):
    x = x.detach().double().numpy()
    bsz, c = x.shape[:2]
    g = x.reshape(bsz, groups, -1)
    h = ((g - g.mean(-1, keepdims=True)) / np.sqrt(g.var(-1, keepdims=True) + eps)).reshape(x.shape)
    shape = (1, c) + (1,) * (x.ndim - 2)
    if w is not None:
        h = h * w.double().numpy().reshape(shape) + b.double().numpy().reshape(shape)
    if s is not None:
        bs = (bsz, c) + (1,) * (x.ndim - 2)
        h = h * (1 + s.double().numpy().reshape(bs)) + t.double().numpy().reshape(bs)
    return h / (1 + np.exp(-h))


def _args(shape, groups, affine=True, mod=True, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    b, c = shape[:2]
    x = 3 * torch.randn(shape, generator=g, dtype=dtype) + 1
    w, bias = (torch.randn(c, generator=g, dtype=dtype), torch.randn(c, generator=g, dtype=dtype)) if affine else (None, None)
    s, t = (torch.randn(b, c, generator=g, dtype=dtype), torch.randn(b, c, generator=g, dtype=dtype)) if mod else (None, None)
    return x, groups, w, bias, s, t


@pytest.mark.parametrize("shape,groups", [((2, 8, 5, 7), 4), ((3, 6, 9), 3), ((1, 32, 4, 4), 32), ((2, 4, 1, 1), 1)])
@pytest.mark.parametrize("affine,mod", [(True, True), (False, False), (True, False), (False, True)])
def test_reference_matches_the_definition(shape, groups, affine, mod):
    args = _args(shape, groups, affine, mod)
    np.testing.assert_allclose(groupnorm_silu_reference(*args).numpy(), _definition(*args), rtol=1e-10, atol=1e-10)


@needs_triton
@pytest.mark.parametrize("shape,groups", [
    ((1, 4, 1, 1), 2), ((2, 8, 5, 7), 4), ((3, 6, 33, 17), 3),  # odd pixel counts
    ((2, 2, 40, 40), 1),  # a group of 3200 elements spans four BLOCKs
    ((2, 32, 2, 2), 32),  # one channel per group, as FLEX's GN(32) at 32 channels
])
@pytest.mark.parametrize("affine,mod", [(True, True), (False, False)])
@pytest.mark.parametrize("kernel", ["one read", "loop"])
def test_triton_matches_the_reference(shape, groups, affine, mod, kernel, monkeypatch):
    if kernel == "loop":
        monkeypatch.setattr(gn, "MAX_ON_CHIP", 0)
    args = _args(shape, groups, affine, mod)
    out = groupnorm_silu_triton(*args)
    assert out.shape == args[0].shape and out.dtype == torch.float64
    np.testing.assert_allclose(out.numpy(), _definition(*args), rtol=1e-9, atol=1e-9)


@needs_triton
def test_triton_float32_non_contiguous_and_large_group():
    assert 2 * 64 * 9 > BLOCK
    x, groups, w, b, s, t = _args((2, 64, 3, 3), 1, dtype=torch.float32, seed=4)
    x_nc = x.transpose(2, 3)  # non-contiguous view
    out = groupnorm_silu_triton(x_nc, groups, w, b, s, t)
    torch.testing.assert_close(out, groupnorm_silu_reference(x_nc, groups, w, b, s, t), rtol=1e-4, atol=1e-4)


@needs_triton
def test_public_op_dispatches_and_explains():
    args = _args((2, 8, 4, 4), 4)
    torch.testing.assert_close(groupnorm_silu(*args), groupnorm_silu_reference(*args), rtol=1e-9, atol=1e-9)
    assert dispatch.explain("groupnorm_silu").startswith("groupnorm_silu: ")


def test_bad_inputs_raise_clear_errors():
    x = torch.randn(2, 6, 4, 4)
    with pytest.raises(ValueError, match="divisible"):
        groupnorm_silu_reference(x, 4)
    with pytest.raises(ValueError, match="both weight and bias"):
        groupnorm_silu_reference(x, 3, torch.ones(6), None)
    with pytest.raises(ValueError, match="shape"):
        groupnorm_silu_reference(x, 3, None, None, torch.ones(2, 5), torch.ones(2, 5))
    with pytest.raises(ValueError, match="floating"):
        groupnorm_silu_reference(torch.ones(2, 6, 4, dtype=torch.int64), 3)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only error")
def test_benchmark_needs_a_gpu():
    with pytest.raises(RuntimeError, match="CUDA"):
        bench_groupnorm_silu()


def test_flex_block_uses_the_same_op():
    """The ResNet block's adaptive GN equals the fused op's reference on the block's own parameters."""
    from lab.flex.blocks import ResBlock, adaptive_groupnorm_silu

    block = ResBlock(8, 8, 6, groups=4)
    h, s, t = torch.randn(3, 8, 5, 5), torch.randn(3, 8), torch.randn(3, 8)
    expected = torch.nn.functional.silu(block.norm_out(h) * (1 + s[..., None, None]) + t[..., None, None])
    torch.testing.assert_close(adaptive_groupnorm_silu(h, block.norm_out, s, t), expected, rtol=1e-6, atol=1e-6)


@needs_triton
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_in_and_out(dtype):
    x, groups, w, b, s, t = _args((2, 12, 7, 9), 4, dtype=torch.float32, seed=5)
    xh = x.to(dtype)
    out = groupnorm_silu_triton(xh, groups, w.to(dtype), b.to(dtype), s.to(dtype), t.to(dtype))
    assert out.dtype == dtype
    exact = _definition(xh.float(), groups, w.to(dtype).float(), b.to(dtype).float(), s.to(dtype).float(),
                        t.to(dtype).float())
    tol = 2e-2 if dtype == torch.bfloat16 else 4e-3  # one rounding of the output
    np.testing.assert_allclose(out.double().numpy(), exact, rtol=tol, atol=tol)


def test_flex_groups_fit_on_chip_and_huge_ones_do_not():
    # FLEX small at 128^2: GN(32) over 64 channels at 128x128 is the largest group
    assert gn.onchip_blocks(64 // 32, 128 * 128) == (2, 16384)
    assert gn.onchip_blocks(256 // 32, 16 * 16) == (8, 256)
    assert gn.onchip_blocks(3, 33 * 17) == (4, 1024)
    assert gn.onchip_blocks(4, 128 * 128) is None


def test_one_read_kernel_reads_x_once():
    """The one-read kernel has a single load of x and no loop; the dispatch picks it for FLEX's groups."""
    import inspect

    src = inspect.getsource(gn._groupnorm_silu_onchip_kernel.fn)
    import re

    assert src.count("tl.load(x_ptr") == 1 and not re.search(r"^\s+for ", src, re.M)
    loop = inspect.getsource(gn._groupnorm_silu_kernel.fn)
    assert loop.count("tl.load(x_ptr") == 3  # the fallback for huge groups reads x three times


def test_one_read_kernel_compiles_for_hopper_at_the_largest_flex_group():
    """Compile (no GPU needed) the one-read kernel for sm_90 at [2, 16384] in fp32 and bf16."""
    code = """
        import sys
        import triton
        import triton.language as tl
        try:
            from triton.backends.compiler import GPUTarget
            from triton.compiler import ASTSource
        except ImportError as exc:
            print("SKIP", exc); sys.exit(0)
        from kernels import groupnorm_silu as K
        for ptr in ("*fp32", "*bf16"):
            sig = dict(x_ptr=ptr, y_ptr=ptr, w_ptr=ptr, b_ptr=ptr, s_ptr=ptr, t_ptr=ptr, C="i32", HW="i32", G="i32",
                       eps="fp32", CPG="constexpr", HAS_AFFINE="constexpr", HAS_MOD="constexpr", BLOCK_C="constexpr",
                       BLOCK_HW="constexpr", ACC_DTYPE="constexpr")
            consts = dict(CPG=2, HAS_AFFINE=True, HAS_MOD=True, BLOCK_C=2, BLOCK_HW=16384, ACC_DTYPE=tl.float32)
            triton.compile(ASTSource(K._groupnorm_silu_onchip_kernel, sig, consts), target=GPUTarget("cuda", 90, 32),
                           options=dict(num_warps=32))
            print("compiled", ptr)
    """
    out = run_without_interpreter(code)
    assert out.returncode == 0, out.stderr[-3000:]
    if out.stdout.startswith("SKIP"):
        pytest.skip(out.stdout)
    assert out.stdout.count("compiled") == 2, out.stdout
