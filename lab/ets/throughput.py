"""The full tier's GPU demonstration: decode throughput over prefix-shared search trees.

Every node of a recorded search tree gets ``ceil(tokens / block)`` blocks in one pool; the
decode batch at depth ``d`` is that depth's candidates, each reading the blocks of its
root-to-leaf path (:func:`tree_layout`). The blocks a batch touches hold exactly
:func:`lab.ets.tree.kv_size` tokens, the quantity the search accounts. :func:`decode_throughput`
times one decode step of ``kernels.tree_attention`` (random K/V of model-like head sizes) per
batch and reports leaves per second; ETS and REBASE trees of the same searches are compared in
``book/ets.md``. On a CPU the torch reference runs, which says nothing about a GPU.
"""
from __future__ import annotations

import math
import time

import torch

from lab.ets.tree import Tree, kv_size


def tree_layout(tree: Tree, leaves, block: int):
    """``(block_lens, block_table, n_blocks, distinct_tokens)`` for decoding ``leaves`` of ``tree``.

    Only the blocks of nodes on the leaves' paths are placed in the pool, each node once.
    """
    if block < 1:
        raise ValueError(f"block must be >= 1, got {block}")
    if not leaves:
        raise ValueError("a decode batch needs at least one leaf")
    blocks_of: dict = {}
    lens: list[int] = []
    rows = []
    for leaf in leaves:
        row = []
        for node in leaf.path():
            if node.id not in blocks_of:
                ids = []
                for start in range(0, node.tokens, block):
                    ids.append(len(lens))
                    lens.append(min(block, node.tokens - start))
                blocks_of[node.id] = ids
            row.extend(blocks_of[node.id])
        rows.append(row)
    width = max(len(r) for r in rows)
    table = torch.full((len(rows), width), -1, dtype=torch.int32)
    for i, r in enumerate(rows):
        table[i, :len(r)] = torch.tensor(r, dtype=torch.int32)
    lens_t = torch.tensor(lens, dtype=torch.int32)
    return lens_t, table, torch.tensor([len(r) for r in rows], dtype=torch.int32), int(lens_t.sum())


def batches(tree: Tree, final_depth: int) -> list[list]:
    """The candidates of each selection step: the well-formed nodes at depths 1 .. final_depth - 1
    (the last depth's nodes are finished solutions and are never selected among)."""
    by_depth: dict = {}
    for node in tree.nodes[1:]:
        if node.depth < final_depth and node.state is not None and node.state.value is not None:
            by_depth.setdefault(node.depth, []).append(node)
    return [by_depth[d] for d in sorted(by_depth)]


def decode_throughput(tree: Tree, final_depth: int, *, heads: int, kv_heads: int, head_dim: int, block: int,
                      device: str = "cuda", repeats: int = 20, dtype=torch.float16) -> list[dict]:
    """Leaves per second of one tree-attention decode step for each depth's batch of ``tree``."""
    from kernels.tree_attention import tree_attention

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("decode_throughput on 'cuda' needs a CUDA GPU; torch.cuda.is_available() is False")
    if heads % kv_heads:
        raise ValueError(f"{heads} heads cannot share {kv_heads} KV heads")
    gen = torch.Generator(device="cpu").manual_seed(0)
    out = []
    for leaves in batches(tree, final_depth):
        lens, table, nblk, distinct = tree_layout(tree, leaves, block)
        if distinct != kv_size(leaves):
            raise AssertionError(f"layout holds {distinct} tokens, kv_size says {kv_size(leaves)}")
        shape = (len(lens), block, kv_heads, head_dim)
        kp = torch.randn(shape, generator=gen).to(device=device, dtype=dtype)
        vp = torch.randn(shape, generator=gen).to(device=device, dtype=dtype)
        q = torch.randn((len(leaves), heads, head_dim), generator=gen).to(device=device, dtype=dtype)
        args = (q, kp, vp, lens.to(device), table.to(device), nblk.to(device))
        tree_attention(*args)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(repeats):
            tree_attention(*args)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds = (time.perf_counter() - t0) / repeats
        out.append(dict(depth=leaves[0].depth, leaves=len(leaves), distinct_tokens=distinct,
                        seconds=seconds, leaves_per_s=len(leaves) / seconds if seconds > 0 else math.inf))
    return out
