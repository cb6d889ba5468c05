"""Prefix-shared tree decode attention: the Triton kernels (interpreted on CPU) against the
torch reference, which gathers each leaf's path, and against batched SDPA over copied paths."""
import os
import textwrap

import pytest
import torch
from compiled import run_without_interpreter

from kernels import dispatch
from kernels.tree_attention import (dense_copy_attention, synthetic_layout, tree_attention,
                                    tree_attention_reference, tree_attention_triton)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRITON_DEVICE = next((d for d in ("cpu", "cuda") if dispatch.triton_available(d)[0]), None)
needs_triton = pytest.mark.skipif(TRITON_DEVICE is None, reason="Triton runs neither interpreted nor on a GPU")


def _random_tree_layout(seed, leaves, block, max_nodes=6):
    """Leaves with random paths through a random tree; nodes of 1..2*block+1 tokens, blocks partly filled."""
    g = torch.Generator().manual_seed(seed)
    lens, node_blocks, parents = [], [], []
    for n in range(max_nodes):
        tokens = int(torch.randint(1, 2 * block + 2, (1,), generator=g))
        ids = []
        while tokens:
            take = min(block, tokens)
            ids.append(len(lens)), lens.append(take)
            tokens -= take
        node_blocks.append(ids)
        parents.append(-1 if n == 0 else int(torch.randint(0, n, (1,), generator=g)))
    rows = []
    for _ in range(leaves):
        node, path = int(torch.randint(0, max_nodes, (1,), generator=g)), []
        while node >= 0:
            path = node_blocks[node] + path
            node = parents[node]
        rows.append(path)
    table = torch.full((leaves, max(map(len, rows)) + 1), -1, dtype=torch.int32)  # one spare column
    for i, r in enumerate(rows):
        table[i, :len(r)] = torch.tensor(r, dtype=torch.int32)
    return torch.tensor(lens, dtype=torch.int32), table, torch.tensor([len(r) for r in rows], dtype=torch.int32)


def _inputs(seed, leaves, heads, kv_heads, dim, block, dtype=torch.float32):
    lens, table, nblk = _random_tree_layout(seed, leaves, block)
    g = torch.Generator().manual_seed(seed + 1)
    kp = torch.randn(len(lens), block, kv_heads, dim, generator=g, dtype=torch.float64)
    vp = torch.randn(len(lens), block, kv_heads, dim, generator=g, dtype=torch.float64)
    q = torch.randn(leaves, heads, dim, generator=g, dtype=torch.float64)
    return q.to(dtype), kp.to(dtype), vp.to(dtype), lens, table, nblk


def test_reference_matches_dense_sdpa_over_copied_paths():
    q, kp, vp, lens, table, nblk = _inputs(0, 5, 4, 2, 8, 3, torch.float64)
    ref, lse = tree_attention_reference(q, kp, vp, lens, table, nblk)
    dense = dense_copy_attention(q, kp, vp, lens, table, nblk)
    torch.testing.assert_close(ref, dense, rtol=1e-10, atol=1e-12)
    # the log-sum-exp from first principles for one leaf and head
    ids = table[2, :int(nblk[2])].tolist()
    k = torch.cat([kp[b, :int(lens[b]), 0] for b in ids])
    assert float(lse[2, 0]) == pytest.approx(float(torch.logsumexp(k @ q[2, 0] / 8 ** 0.5, 0)), rel=1e-6)


@needs_triton
@pytest.mark.parametrize("leaves, heads, kv_heads, dim, block, split", [
    (1, 1, 1, 4, 1, 1),  # one leaf, one-token blocks
    (5, 4, 2, 24, 3, 2),  # GQA, head dim and block not powers of two
    (7, 6, 3, 16, 5, 1),  # every block its own split
    (4, 4, 1, 8, 4, 3),  # one KV head for all queries, splits of three blocks
])
def test_triton_matches_reference_on_awkward_shapes(leaves, heads, kv_heads, dim, block, split):
    q, kp, vp, lens, table, nblk = _inputs(leaves * 7 + block, leaves, heads, kv_heads, dim, block)
    out, lse = tree_attention_triton(q.to(TRITON_DEVICE), kp.to(TRITON_DEVICE), vp.to(TRITON_DEVICE),
                                     lens, table, nblk, blocks_per_split=split)
    ref, ref_lse = tree_attention_reference(q.double(), kp.double(), vp.double(), lens, table, nblk)
    torch.testing.assert_close(out.cpu().double(), ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(lse.cpu().double(), ref_lse.double(), rtol=1e-5, atol=1e-5)


@needs_triton
def test_shared_prefix_layout_and_half_precision():
    _, lens, table, nblk = synthetic_layout(6, prompt=9, step=5, depth=2, branching=3, block=4)
    g = torch.Generator().manual_seed(3)
    kp = torch.randn(len(lens), 4, 2, 8, generator=g)
    vp = torch.randn(len(lens), 4, 2, 8, generator=g)
    q = torch.randn(len(nblk), 4, 8, generator=g)
    assert len(set(table[:, 0].tolist())) == 1  # the prompt's first block is shared by every leaf
    ref, _ = tree_attention_reference(q.double(), kp.double(), vp.double(), lens, table, nblk)
    half, _ = tree_attention_triton(q.half(), kp.half(), vp.half(), lens, table, nblk, blocks_per_split=2)
    assert half.dtype == torch.float16
    torch.testing.assert_close(half.double(), ref, rtol=2e-2, atol=2e-2)
    pub, _ = tree_attention(q, kp, vp, lens, table, nblk)
    torch.testing.assert_close(pub.double(), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("impl", [tree_attention_reference, tree_attention_triton, tree_attention])
@pytest.mark.parametrize("change, message", [
    (lambda a: {**a, "q": a["q"][0]}, r"\[leaves, H, D\]"),
    (lambda a: {**a, "v_pool": a["v_pool"][:, :, :1]}, "k_pool and v_pool"),
    (lambda a: {**a, "n_blocks": a["n_blocks"] * 0}, "between 1 and"),
    (lambda a: {**a, "block_lens": a["block_lens"] * 0}, "block_lens must lie"),
    (lambda a: {**a, "block_table": a["block_table"] + 100}, "outside the pool"),
    (lambda a: {**a, "q": a["q"][:, :3]}, "cannot share"),
])
def test_bad_input_raises_value_error_naming_the_problem(impl, change, message):
    q, kp, vp, lens, table, nblk = _inputs(1, 3, 4, 2, 8, 3)
    args = dict(q=q, k_pool=kp, v_pool=vp, block_lens=lens, block_table=table, n_blocks=nblk)
    with pytest.raises(ValueError, match=message):
        impl(**change(args))


def test_dispatcher_picks_reference_on_cpu_without_interpreter():
    code = textwrap.dedent("""
        import torch
        from kernels import dispatch
        from kernels.tree_attention import synthetic_layout, tree_attention, tree_attention_reference
        _, lens, table, nblk = synthetic_layout(3, prompt=5, step=3, depth=2, branching=2, block=2)
        kp = torch.randn(len(lens), 2, 1, 4); vp = torch.randn_like(kp); q = torch.randn(len(nblk), 2, 4)
        a = tree_attention(q, kp, vp, lens, table, nblk)[0]
        b = tree_attention_reference(q, kp, vp, lens, table, nblk)[0]
        print("same", torch.equal(a, b))
        print(dispatch.explain("tree_attention"))
    """)
    out = run_without_interpreter(code)
    assert out.returncode == 0, out.stderr
    assert "same True" in out.stdout and "tree_attention: torch reference (no CUDA device" in out.stdout


def test_kernels_compile_for_hopper():
    """Compile (no GPU needed) both kernels for sm_90 with fp16 and fp32 inputs."""
    code = textwrap.dedent("""
        import sys
        try:
            from triton.backends.compiler import GPUTarget
            from triton.compiler import ASTSource
        except ImportError as exc:
            print("SKIP", exc); sys.exit(0)
        import triton
        from kernels import tree_attention as K
        for ptr in ("*fp16", "*fp32"):
            sig = dict(q_ptr=ptr, k_ptr=ptr, v_ptr=ptr, lens_ptr="*i32", table_ptr="*i32", nblk_ptr="*i32",
                       m_ptr="*fp32", l_ptr="*fp32", acc_ptr="*fp32", scale="fp32", H="i32", H_KV="i32", D="i32",
                       S="i32", max_blocks="i32", blocks_per_split="i32", BLOCK="constexpr", BLOCK_SIZE="i32",
                       BLOCK_D="constexpr")
            triton.compile(ASTSource(K._tree_attn_split_kernel, sig, dict(BLOCK=16, BLOCK_D=128)),
                           target=GPUTarget("cuda", 90, 32))
            print("compiled split", ptr)
            sig = dict(m_ptr="*fp32", l_ptr="*fp32", acc_ptr="*fp32", out_ptr=ptr, lse_ptr="*fp32", D="i32", S="i32",
                       BLOCK_S="constexpr", BLOCK_D="constexpr")
            triton.compile(ASTSource(K._tree_attn_merge_kernel, sig, dict(BLOCK_S=8, BLOCK_D=128)),
                           target=GPUTarget("cuda", 90, 32))
            print("compiled merge", ptr)
    """)
    out = run_without_interpreter(code)
    assert out.returncode == 0, out.stderr[-3000:]
    if out.stdout.startswith("SKIP"):
        pytest.skip(out.stdout)
    assert out.stdout.count("compiled") == 4, out.stdout
