"""Absorbed attention on packed X (XQuant): the Triton kernels under the interpreter against dense
attention on the dequantized X, with and without RoPE, on awkward shapes; the exact folding of
scales and zeros; the byte and FLOP arithmetic of the roofline."""
import math

import numpy as np
import pytest
import torch

from kernels import dispatch
from kernels import xquant_attention as XA
from lab.quant.packing import pack
from compiled import run_without_interpreter

needs_triton = pytest.mark.skipif(not dispatch.triton_available("cpu")[0] and not torch.cuda.is_available(),
                                  reason="Triton runs neither interpreted nor on a GPU")


def _problem(bsz, t, d, n_heads, n_kv, head_dim, bits, group, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randint(0, 2**bits, (bsz * t, d), generator=g)
    codes = pack(q, bits).reshape(bsz, t, -1)
    scale = (0.05 + 0.1 * torch.rand(bsz, t, d // group, generator=g)).half()
    zero = (-1 + 0.5 * torch.rand(bsz, t, d // group, generator=g)).half()
    w_k = torch.randn(d, n_kv * head_dim, generator=g) / math.sqrt(d)
    w_v = torch.randn(d, n_kv * head_dim, generator=g) / math.sqrt(d)
    query = torch.randn(bsz, n_heads, head_dim, generator=g)
    return query, codes, scale, zero, w_k, w_v, q.reshape(bsz, t, d)


def _dense_numpy(query, qcodes, scale, zero, w_k, w_v, group, n_kv):
    """Independent float64: dequantize, project, attend head by head."""
    x = qcodes.double().numpy() * np.repeat(scale.double().numpy(), group, -1) + np.repeat(zero.double().numpy(), group, -1)
    bsz, n_heads, hd = query.shape
    out = np.zeros((bsz, n_heads, hd))
    for b in range(bsz):
        k, v = x[b] @ w_k.double().numpy(), x[b] @ w_v.double().numpy()
        for h in range(n_heads):
            kv = h // (n_heads // n_kv)
            s = k[:, kv * hd:(kv + 1) * hd] @ query[b, h].double().numpy() / math.sqrt(hd)
            p = np.exp(s - s.max())
            out[b, h] = (p / p.sum()) @ v[:, kv * hd:(kv + 1) * hd]
    return out


def test_pack_layout_matches_the_unpacker():
    query, codes, scale, zero, w_k, w_v, qc = _problem(2, 5, 16, 2, 2, 4, 3, 8)
    back = XA.unpack_rows_reference(codes.reshape(10, -1), 3, 16).reshape(2, 5, 16)
    assert torch.equal(back, qc)


@pytest.mark.parametrize("shape", [(1, 1, 8, 1, 1, 4, 4, 8), (2, 7, 24, 4, 2, 6, 3, 8), (3, 33, 16, 6, 3, 5, 5, 16)])
def test_reference_is_dense_attention_on_dequantized_x(shape):
    bsz, t, d, h, kv, hd, bits, group = shape
    query, codes, scale, zero, w_k, w_v, qc = _problem(*shape)
    got = XA.xquant_attention_reference(query, codes, scale, zero, w_k, w_v, bits, group, kv)
    np.testing.assert_allclose(got.numpy(), _dense_numpy(query, qc, scale, zero, w_k, w_v, group, kv), rtol=1e-4, atol=1e-5)


@needs_triton
@pytest.mark.parametrize("shape", [
    (1, 1, 16, 1, 1, 16, 4, 16),    # one token, one head
    (2, 37, 64, 4, 4, 16, 4, 16),   # MHA, tokens not a multiple of the block
    (3, 45, 64, 8, 2, 8, 3, 32),    # GQA 4:1, 3-bit codes spanning bytes, odd batch
    (1, 70, 32, 3, 1, 8, 2, 8),     # 3 heads (padded to 16), group 8 < 16: the broadcast-sum path
    (2, 20, 48, 2, 1, 24, 8, 16),   # 8-bit codes, d = 3 groups
])
@pytest.mark.parametrize("splits", [None, 3])
def test_absorbed_triton_matches_dense_attention(shape, splits):
    bsz, t, d, h, kv, hd, bits, group = shape
    query, codes, scale, zero, w_k, w_v, qc = _problem(*shape, seed=t)
    got = XA.xquant_attention_triton(query, codes, scale, zero, w_k, w_v, bits, group, kv, splits=splits)
    assert got.shape == (bsz, h, hd) and got.dtype == torch.float32
    ref = XA.xquant_attention_reference(query, codes, scale, zero, w_k, w_v, bits, group, kv)
    np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got.numpy(), _dense_numpy(query, qc, scale, zero, w_k, w_v, group, kv), rtol=1e-4, atol=1e-5)


@needs_triton
def test_scores_fold_scales_and_zeros_exactly():
    """Each pass alone: scores = x̂·u and r = Σ p x̂, with zeros far from 0 (their term matters)."""
    query, codes, scale, zero, w_k, w_v, qc = _problem(2, 19, 64, 4, 4, 16, 4, 16, seed=3)
    zero = zero + 5.0
    xhat = XA.dequantize(codes, scale, zero, 4, 16, 64).double()
    u = XA._fold_query(query, w_k, 4)
    scores = XA._scores_triton(u, codes, scale, zero, 4, 16)
    np.testing.assert_allclose(scores.numpy(), torch.einsum("bhd,btd->bht", u.double(), xhat).numpy(), rtol=1e-5, atol=1e-5)
    p = torch.softmax(torch.randn(2, 4, 19, dtype=torch.float32), -1)
    r = XA._absorb_v_triton(p, codes, scale, zero, 4, 16, 64, splits=2)
    np.testing.assert_allclose(r.numpy(), torch.einsum("bht,btd->bhd", p.double(), xhat).numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("interpret", [True, False])
def test_rope_variant_rebuilds_k_and_matches_dense_rotated_attention(interpret, monkeypatch):
    shape = (2, 21, 32, 4, 2, 8, 4, 16)
    bsz, t, d, h, kv, hd, bits, group = shape
    query, codes, scale, zero, w_k, w_v, qc = _problem(*shape, seed=5)
    if not interpret:
        monkeypatch.setattr(XA.dispatch, "triton_available", lambda device: (False, "test"))
    pos = torch.arange(t) + 100
    got = XA.xquant_attention_rope(query, codes, scale, zero, w_k, w_v, bits, group, kv, pos)
    ref = XA.xquant_attention_reference(query, codes, scale, zero, w_k, w_v, bits, group, kv, positions=pos)
    np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=1e-4, atol=1e-5)
    plain = XA.xquant_attention_reference(query, codes, scale, zero, w_k, w_v, bits, group, kv)
    assert (ref - plain).abs().max() > 1e-3  # RoPE changes the answer: the test can tell


def test_traffic_arithmetic_llama_layer():
    # Llama-2-7B layer, 4-bit X, group 128, FP16 scales/zeros: absorbed reads 2 x (2048 + 128) bytes
    # per token against 2 x 4096 x 2 for FP16 K, V: 0.2656 of the bytes (the weights, read by both, left out)
    c = XA.traffic(32768, 4096, 32, 128, 32, 4, 128)
    per_token = c["absorbed"]["bytes"] / 32768
    assert per_token == 2 * (2048 + 2 * 32 * 2)
    assert per_token / (c["fp16_kv"]["bytes"] / 32768) == pytest.approx(0.2656, abs=1e-4)
    assert c["fp16_kv"]["flops"] == 4 * 32768 * 32 * 128
    assert c["absorbed"]["flops"] == 4 * 32768 * 32 * 4096
    assert c["rope_rebuild_k"]["flops"] > 2 * 32768 * 4096 * 4096


def test_public_op_uses_the_reference_off_gpu_and_bad_input_is_named():
    query, codes, scale, zero, w_k, w_v, qc = _problem(1, 4, 16, 2, 1, 8, 4, 16)
    out = XA.xquant_attention(query, codes, scale, zero, w_k, w_v, 4, 16, 1)
    assert out.shape == (1, 2, 8)
    with pytest.raises(ValueError, match="do not split"):
        XA.xquant_attention_reference(torch.randn(1, 3, 8), codes, scale, zero, torch.randn(16, 16),
                                      torch.randn(16, 16), 4, 16, 2)
    with pytest.raises(ValueError, match="T = 0"):
        XA.xquant_attention_reference(query, codes[:, :0], scale[:, :0], zero[:, :0], w_k, w_v, 4, 16, 1)
    with pytest.raises(ValueError, match="w_k and w_v"):
        XA.xquant_attention_reference(query, codes, scale, zero, w_k, w_v[:, :4], 4, 16, 1)
    with pytest.raises(ValueError, match="uint8"):
        XA.xquant_attention_reference(query, codes.int(), scale, zero, w_k, w_v, 4, 16, 1)
    with pytest.raises(ValueError, match="power of two"):
        XA.xquant_attention_triton(*_problem(1, 4, 24, 2, 1, 8, 4, 24)[:6], 4, 24, 1)


def test_kernels_compile_for_hopper_without_spilling():
    """Compile (no GPU needed) both passes for sm_90 at a Llama-2-7B layer's shape (group 128, 32 heads)."""
    code = f"""
import os, re, subprocess, sys, tempfile
import triton
try:
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource
except ImportError as exc:
    print("SKIP", exc); sys.exit(0)
from kernels import xquant_attention as XA
cuobjdump = os.path.join(os.path.dirname(triton.__file__), "backends/nvidia/bin/cuobjdump")
common = dict(codes_ptr="*u8", scale_ptr="*fp16", zero_ptr="*fp16", T="i32", H="i32", D="i32", BITS="constexpr",
              GROUP="constexpr", BLOCK_T="constexpr", BLOCK_H="constexpr", USE_DOT="constexpr")
consts = dict(BITS=4, GROUP=128, BLOCK_T=32, BLOCK_H=32, USE_DOT=True)
for kernel, extra in ((XA._scores_kernel, dict(u_ptr="*fp32", ug_ptr="*fp32", s_out_ptr="*fp32")),
                      (XA._absorb_v_kernel, dict(p_ptr="*fp32", r_ptr="*fp32", tokens_per_split="i32"))):
    k = triton.compile(ASTSource(kernel, {{**common, **extra}}, consts), target=GPUTarget("cuda", 90, 32))
    with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
        f.write(k.asm["cubin"]); f.flush()
        usage = subprocess.run([cuobjdump, "-res-usage", f.name], capture_output=True, text=True).stdout
    print("compiled", kernel.__name__, "LOCAL", re.search(r"LOCAL:(\\d+)", usage).group(1))
"""
    out = run_without_interpreter(code)
    assert out.returncode == 0, out.stderr[-3000:]
    if out.stdout.startswith("SKIP"):
        pytest.skip(out.stdout)
    lines = [line for line in out.stdout.splitlines() if line.startswith("compiled")]
    assert len(lines) == 2 and all(line.endswith("LOCAL 0") for line in lines), out.stdout
