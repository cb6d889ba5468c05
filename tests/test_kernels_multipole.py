"""Multipole Attention's kernels (centroid lookup, sparse split-KV decode, replacement) in Triton's
interpreter against their torch references and independent dense computations; awkward shapes."""
import os

import pytest
import torch

from kernels import dispatch
from kernels.centroid_lookup import centroid_lookup, centroid_lookup_reference, centroid_lookup_triton
from kernels.multipole_replacement import multipole_decode, multipole_decode_reference, multipole_decode_triton
from kernels.sparse_decode import bench_sparse_decode, sparse_decode, sparse_decode_reference, sparse_decode_triton
from lab.multipole_attention.attention import multipole_output
from lab.multipole_attention.lookup import centroid_scores
from compiled import run_without_interpreter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
needs_triton = pytest.mark.skipif(not dispatch.triton_available("cpu")[0], reason="Triton interpreter not on")


def _inputs(b, hq, hkv, s, d, c, n_idx, seed=0):
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(b, hq, d, generator=gen)
    k = torch.randn(b, hkv, s, d, generator=gen)
    v = torch.randn(b, hkv, s, d, generator=gen)
    idx = torch.stack([torch.stack([torch.randperm(s, generator=gen)[:n_idx] for _ in range(hkv)]) for _ in range(b)]).int()
    lengths = torch.randint(0, n_idx + 1, (b, hkv), generator=gen).int()
    lengths[0, 0] = n_idx
    kc = torch.randn(b, hkv, c, d, generator=gen)
    vc = torch.randn(b, hkv, c, d, generator=gen)
    counts = torch.randint(0, 6, (b, hkv, c), generator=gen).float()
    replaced = torch.rand(b, hkv, c, generator=gen) < 0.6
    q_r = torch.randn(b, hq, d, generator=gen)
    return q, k, v, idx, lengths, q_r, kc, vc, counts, replaced


SHAPES = [(1, 2, 1, 37, 16, 5, 9), (2, 6, 3, 150, 32, 37, 40), (1, 8, 2, 70, 64, 70, 1)]


@needs_triton
@pytest.mark.parametrize("shape", SHAPES)
def test_centroid_lookup_kernel_matches_reference_and_lab(shape):
    b, hq, hkv, s, d, c, _ = shape
    q, _, _, _, _, _, kc, _, counts, _ = _inputs(*shape)
    counts[..., 0] = 1  # at least one non-empty cluster per head
    scores, logits = centroid_lookup_triton(q, kc, counts)
    ref_s, ref_l = centroid_lookup_reference(q, kc, counts)
    assert torch.allclose(scores, ref_s, rtol=1e-4, atol=1e-6) and torch.allclose(logits, ref_l, atol=1e-4)
    # independent: lab's centroid_scores per batch element
    for i in range(b):
        lab = centroid_scores(q[i].view(1, hkv, hq // hkv, d), kc[i], counts[i])[0]
        assert torch.allclose(scores[i], lab, rtol=1e-4, atol=1e-6)


@needs_triton
@pytest.mark.parametrize("shape", SHAPES)
def test_sparse_decode_kernel_matches_reference(shape):
    q, k, v, idx, lengths, *_ = _inputs(*shape)
    for block_n in (16, 64):
        o, lse = sparse_decode_triton(q, k, v, idx, lengths, block_n=block_n)
        ro, rlse = sparse_decode_reference(q, k, v, idx, lengths)
        assert torch.allclose(o, ro, atol=1e-5)
        assert torch.equal(torch.isinf(lse), torch.isinf(rlse))
        fin = torch.isfinite(rlse)
        assert torch.allclose(lse[fin], rlse[fin], atol=1e-5)
    # dense mode equals softmax attention over all tokens (independent: torch SDPA with GQA repeat)
    o, _ = sparse_decode_triton(q, k, v, block_n=16)
    g = q.shape[1] // k.shape[1]
    sdpa = torch.nn.functional.scaled_dot_product_attention(q[:, :, None], k.repeat_interleave(g, 1), v.repeat_interleave(g, 1))[:, :, 0]
    assert torch.allclose(o, sdpa, atol=1e-5)


@needs_triton
@pytest.mark.parametrize("shape", SHAPES)
def test_multipole_decode_kernel_matches_dense_reference(shape):
    args = _inputs(*shape)
    o, lse = multipole_decode_triton(*args, block_n=16)
    ro, rlse = multipole_decode_reference(*args)
    assert torch.allclose(o, ro, atol=1e-5)
    fin = torch.isfinite(rlse)
    assert torch.allclose(lse[fin], rlse[fin], atol=1e-5)


def test_dense_reference_equals_lab_lse_merge():
    """The kernels' torch reference (one softmax with log N_i) equals lab's exact part + replacement merged by LSE."""
    q, k, v, idx, lengths, q_r, kc, vc, counts, replaced = _inputs(2, 6, 3, 150, 32, 37, 40)
    ro, _ = multipole_decode_reference(q, k, v, idx, lengths, q_r, kc, vc, counts, replaced)
    b, hq, d = q.shape
    hkv = k.shape[1]
    for i in range(b):
        mask = torch.zeros(hkv, k.shape[2], dtype=torch.bool)
        for h in range(hkv):
            mask[h, idx[i, h, :lengths[i, h]].long()] = True
        o, _ = multipole_output(q[i].view(1, hkv, hq // hkv, d), k[i], v[i], mask[None], q_r[i].view(1, hkv, hq // hkv, d),
                                kc[i], vc[i], counts[i], replaced[i][None])
        assert torch.allclose(o.reshape(hq, d), ro[i], atol=1e-5)


def test_public_functions_dispatch_and_agree():
    args = _inputs(1, 4, 2, 40, 16, 8, 10)
    o, _ = multipole_decode(*args)
    assert torch.allclose(o, multipole_decode_reference(*args)[0], atol=1e-5)
    o, _ = sparse_decode(*args[:5])
    assert torch.allclose(o, sparse_decode_reference(*args[:5])[0], atol=1e-5)
    s, _ = centroid_lookup(args[0], args[6], args[8] + 1)
    assert torch.allclose(s, centroid_lookup_reference(args[0], args[6], args[8] + 1)[0], rtol=1e-4)


def test_bad_inputs_name_the_problem():
    q, k, v, idx, lengths, q_r, kc, vc, counts, replaced = _inputs(1, 4, 2, 40, 16, 8, 10)
    with pytest.raises(ValueError, match="mismatched GQA groups"):
        sparse_decode(q[:, :3], k, v, idx, lengths)
    with pytest.raises(ValueError, match="head_dim 24"):
        sparse_decode_triton(torch.randn(1, 4, 24), torch.randn(1, 2, 5, 24), torch.randn(1, 2, 5, 24))
    with pytest.raises(ValueError, match="head_dim 12"):
        centroid_lookup_triton(torch.randn(1, 4, 12), torch.randn(1, 2, 3, 12), torch.ones(1, 2, 3))
    with pytest.raises(ValueError, match="lengths"):
        sparse_decode(q, k, v, idx, lengths + 100)
    with pytest.raises(ValueError, match="boolean"):
        multipole_decode(q, k, v, idx, lengths, q_r, kc, vc, counts, replaced.int())


@needs_triton
def test_benchmark_script_runs_at_tiny_sizes_on_cpu():
    rows = bench_sparse_decode(contexts=(64,), batches=(1,), sparsities=(0.1,), n_heads=4, n_kv_heads=2, head_dim=16,
                               device="cpu", dtype=torch.float32)
    assert len(rows) == 1
    r = rows[0]
    assert r["budget"] == 6 and r["measured_on"] == "cpu"
    assert all(r[key] > 0 for key in ("sdpa_ms", "dense_triton_ms", "multipole_total_ms", "copy_gbps"))
    assert r["sparse_bytes"] < r["dense_bytes"]


def test_benchmark_refuses_without_triton_on_the_device():
    code = """
        import torch
        from kernels.sparse_decode import bench_sparse_decode
        try:
            bench_sparse_decode(contexts=(64,), device="cpu")
        except RuntimeError as e:
            print("refused:", e)
    """
    out = run_without_interpreter(code)
    assert "refused:" in out.stdout, out.stderr


def test_partial_kernels_compile_for_hopper():
    """Compile (no GPU needed) the two split kernels that share the online-softmax step and the
    split store (jit helpers in kernels/sparse_decode.py) for sm_90 with fp16 inputs."""
    code = """
        import sys
        try:
            from triton.backends.compiler import GPUTarget
            from triton.compiler import ASTSource
        except ImportError as exc:
            print("SKIP", exc); sys.exit(0)
        import triton
        from kernels import multipole_replacement as R, sparse_decode as S
        common = dict(o_ptr="*fp32", lse_ptr="*fp32", G="i32", P="i32", P0="i32", SPLIT_LEN="i32", scale="fp32")
        sig = dict(q_ptr="*fp16", k_ptr="*fp16", v_ptr="*fp16", idx_ptr="*i32", len_ptr="*i32", **common,
                   S="i32", N_MAX="i32", USE_IDX="constexpr", D="constexpr", BLOCK_G="constexpr", BLOCK_N="constexpr")
        order = list(S._sparse_partial_kernel.arg_names)
        triton.compile(ASTSource(S._sparse_partial_kernel, {a: sig[a] for a in order},
                                 dict(USE_IDX=True, D=128, BLOCK_G=16, BLOCK_N=64)), target=GPUTarget("cuda", 90, 32))
        print("compiled sparse")
        sig = dict(q_ptr="*fp16", kc_ptr="*fp16", vc_ptr="*fp16", n_ptr="*fp32", rep_ptr="*i8", **common, C="i32",
                   D="constexpr", BLOCK_G="constexpr", BLOCK_C="constexpr")
        order = list(R._replacement_partial_kernel.arg_names)
        triton.compile(ASTSource(R._replacement_partial_kernel, {a: sig[a] for a in order},
                                 dict(D=128, BLOCK_G=16, BLOCK_C=64)), target=GPUTarget("cuda", 90, 32))
        print("compiled replacement")
    """
    out = run_without_interpreter(code)
    assert out.returncode == 0, out.stderr[-3000:]
    if out.stdout.startswith("SKIP"):
        pytest.skip(out.stdout)
    assert out.stdout.count("compiled") == 2, out.stdout
