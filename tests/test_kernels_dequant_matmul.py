"""Fused dequantize + matmul: Triton kernel (interpreted on CPU) against the torch reference and
against lab.quant's independent quantizer followed by a dense float64 product."""
import os
import textwrap

import pytest
import torch

from kernels import dispatch
from kernels.dequant_matmul import (dequant_matmul, dequant_matmul_reference,
                                    dequant_matmul_triton)
from lab.quant import dequantize, quantize
from compiled import run_without_interpreter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRITON_DEVICE = next((d for d in ("cpu", "cuda") if dispatch.triton_available(d)[0]), None)
needs_triton = pytest.mark.skipif(TRITON_DEVICE is None, reason="Triton runs neither interpreted nor on a GPU")


def _case(t, d, n, bits, group, seed=0, wdtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(t, d, generator=g) * (1 + 5 * (torch.rand(1, d, generator=g) < 0.1))  # a few outlier channels
    q = quantize(x, bits, group, axis=-1)
    codes, scale, zero = q.codes.view(t, d * bits // 8), q.scale.view(t, d // group), q.zero.view(t, d // group)
    w = (torch.randn(d, n, generator=g) / d**0.5).to(wdtype)
    dense = dequantize(q).double() @ w.double()  # independent: lab.quant's dequantizer, float64 product
    return codes, scale, zero, w, dense


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
@pytest.mark.parametrize("t, d, n, group", [(1, 64, 16, 64), (17, 96, 40, 32), (70, 128, 130, 128), (5, 8, 3, 8)])
def test_reference_matches_dense_dequantized_product(bits, t, d, n, group):
    codes, scale, zero, w, dense = _case(t, d, n, bits, group, seed=bits)
    out = dequant_matmul_reference(codes, scale, zero, w, bits, group)
    torch.testing.assert_close(out.double(), dense, rtol=1e-5, atol=1e-5)


@needs_triton
@pytest.mark.parametrize("bits", [2, 3, 4, 8])
@pytest.mark.parametrize("t, d, n, group", [(1, 64, 16, 64), (17, 96, 40, 32), (70, 128, 130, 128), (3, 136, 5, 8)])
def test_triton_kernel_matches_dense_dequantized_product(bits, t, d, n, group):
    codes, scale, zero, w, dense = _case(t, d, n, bits, group, seed=10 + bits)
    codes, scale, zero, w = (a.to(TRITON_DEVICE) for a in (codes, scale, zero, w))
    out = dequant_matmul_triton(codes, scale, zero, w, bits, group)
    assert out.shape == (t, n) and out.dtype == torch.float32
    torch.testing.assert_close(out.cpu().double(), dense, rtol=1e-4, atol=1e-4)


@needs_triton
def test_triton_kernel_in_half_precision_and_non_contiguous_weights():
    codes, scale, zero, w, dense = _case(33, 64, 48, 4, 32, seed=3, wdtype=torch.float16)
    w_nc = torch.stack((w, w), dim=2)[:, :, 0]  # same values, column stride 2
    assert not w_nc.is_contiguous()
    out = dequant_matmul_triton(codes, scale, zero, w_nc, 4, 32, out_dtype=torch.float32)
    torch.testing.assert_close(out.double(), dense, rtol=2e-2, atol=2e-2)


@needs_triton
def test_public_function_runs_the_kernel_under_the_interpreter():
    if TRITON_DEVICE != "cpu":
        pytest.skip("TRITON_INTERPRET is not set")
    codes, scale, zero, w, dense = _case(9, 32, 16, 2, 16, seed=4)
    torch.testing.assert_close(dequant_matmul(codes, scale, zero, w, 2, 16).double(), dense, rtol=1e-4, atol=1e-4)
    assert dispatch.explain("dequant_matmul").startswith("dequant_matmul: Triton kernel")


@pytest.mark.parametrize("impl", [dequant_matmul, dequant_matmul_reference, dequant_matmul_triton])
def test_bad_input_raises_value_error_naming_the_problem(impl):
    codes, scale, zero, w, _ = _case(4, 32, 8, 4, 16)
    with pytest.raises(ValueError, match="uint8"):
        impl(codes.to(torch.int32), scale, zero, w, 4, 16)
    with pytest.raises(ValueError, match="bytes per row"):
        impl(codes[:, :-1], scale, zero, w, 4, 16)
    with pytest.raises(ValueError, match="multiple of 8"):
        impl(codes, scale, zero, w[:30], 4, 15)
    with pytest.raises(ValueError, match="scale and zero"):
        impl(codes, scale[:, :1], zero, w, 4, 16)


def test_dispatcher_picks_reference_on_cpu_without_interpreter():
    code = textwrap.dedent("""
        import torch
        from kernels import dispatch
        from kernels.dequant_matmul import dequant_matmul, dequant_matmul_reference
        codes = torch.randint(0, 256, (3, 16), dtype=torch.uint8)
        s, z, w = torch.ones(3, 1).half(), torch.zeros(3, 1).half(), torch.randn(32, 8)
        print("same", torch.equal(dequant_matmul(codes, s, z, w, 4, 32), dequant_matmul_reference(codes, s, z, w, 4, 32)))
        print(dispatch.explain("dequant_matmul"))
    """)
    res = run_without_interpreter(code)
    assert res.returncode == 0, res.stderr
    assert "same True" in res.stdout and "torch reference (no CUDA device" in res.stdout


def test_kernel_compiles_for_hopper():
    """Compile (no GPU needed) the launch configuration the wrapper uses, for sm_90, at every bit-width."""
    code = textwrap.dedent("""
        import sys
        import triton
        try:
            from triton.backends.compiler import GPUTarget
            from triton.compiler import ASTSource
        except ImportError as exc:
            print("SKIP", exc); sys.exit(0)
        from kernels import dequant_matmul as K
        for bits in (2, 3, 4, 8):
            sig = dict(codes_ptr="*u8", scale_ptr="*fp16", zero_ptr="*fp16", w_ptr="*fp16", out_ptr="*fp16",
                       T="i32", N="i32", D="i32", stride_codes="i32", stride_meta="i32", stride_w="i32",
                       stride_out="i32", BITS="constexpr", GROUP="constexpr", BLOCK_T="constexpr",
                       BLOCK_N="constexpr", BLOCK_K="constexpr")
            const = dict(BITS=bits, GROUP=128, BLOCK_T=64, BLOCK_N=128, BLOCK_K=64)
            triton.compile(ASTSource(K._dequant_matmul_kernel, sig, const), target=GPUTarget("cuda", 90, 32),
                           options=dict(num_warps=4))
            print("compiled", bits)
            if bits not in (3, 4):
                continue
            sig = {k: v for k, v in sig.items() if k != "BLOCK_K"}
            for cfg in K.GROUP_CONFIGS:
                const = dict(BITS=bits, GROUP=128, **cfg.kwargs)
                triton.compile(ASTSource(K._dequant_matmul_group_kernel, sig, const), target=GPUTarget("cuda", 90, 32),
                               options=dict(num_warps=cfg.num_warps, num_stages=cfg.num_stages))
            print("compiled group", bits)
    """)
    res = run_without_interpreter(code)
    assert res.returncode == 0, res.stderr[-3000:]
    if res.stdout.startswith("SKIP"):
        pytest.skip(res.stdout)
    assert res.stdout.count("compiled") == 6, res.stdout


@needs_triton
@pytest.mark.parametrize("group, kernel", [(16, "_dequant_matmul_group_kernel"), (64, "_dequant_matmul_group_kernel"),
                                           (8, "_dequant_matmul_kernel"), (24, "_dequant_matmul_kernel")])
def test_group_sized_k_blocks_are_taken_when_the_group_allows(group, kernel, monkeypatch):
    """Power-of-two groups >= 16 take the k-block = group kernel (scale, zero folded out of the dot)."""
    import kernels.dequant_matmul as K

    launched = []
    for name in ("_dequant_matmul_group_kernel", "_dequant_matmul_kernel"):
        jit = getattr(K, name)

        class Spy:
            def __getitem__(self, grid, _jit=jit, _name=name):
                launched.append(_name)
                return _jit[grid]
        monkeypatch.setattr(K, name, Spy())
    codes, scale, zero, w, dense = _case(37, 3 * group if group != 24 else 48, 20, 3, group, seed=group)
    out = dequant_matmul_triton(codes, scale, zero, w, 3, group)
    assert launched == [kernel]
    torch.testing.assert_close(out.double(), dense, rtol=1e-4, atol=1e-4)
