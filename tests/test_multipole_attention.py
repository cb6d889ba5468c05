"""Multipole Attention (``lab/multipole_attention``): identities, budget, online update, windowed RoPE, cache."""
import math

import numpy as np
import pytest
import torch

from lab.llm.kvcache import KVCache
from lab.llm.model import ModelConfig, Transformer, apply_rope
from lab.multipole_attention import kmeans
from lab.multipole_attention.attention import dense_reference, exact_attention, merge, multipole_output, partial_softmax
from lab.multipole_attention.cache import MultipoleCache
from lab.multipole_attention.layout import Layout, prefill_layout, tokens_to_fold
from lab.multipole_attention.lookup import centroid_scores, check_budget, select_within_budget
from lab.multipole_attention.methods import METHODS, KVState, errors, run_method
from lab.multipole_attention.rope import cluster_keys, lookup_query
from lab.multipole_attention.synthetic import aligned_queries, mixture


def _state(n=600, d=16, h=2, g=2, m=4, seed=0, interval=64):
    k, v, c = mixture(n, d, h, n_mix=16, seed=seed)
    lay = prefill_layout(n, 10, interval)
    cl = kmeans.blocked_kmeans(k[:, lay.start:lay.end], v[:, lay.start:lay.end], block=256, seed=seed)
    return KVState(k, v, lay, cl), aligned_queries(c, m, g, seed=seed)


# --- layout ------------------------------------------------------------------------------------

def test_prefill_layout_follows_reference_rule():
    lay = prefill_layout(10 + 5 * 128 + 17)
    assert (lay.sink, lay.clustered, lay.window) == (10, 4 * 128, 128 + 17)
    assert prefill_layout(100).clustered == 0
    assert tokens_to_fold(Layout(10, 256, 10 + 256 + 255)) == 0
    assert tokens_to_fold(Layout(10, 256, 10 + 256 + 256)) == 128


# --- k-means -----------------------------------------------------------------------------------

def test_lloyd_centroids_are_means_of_their_tokens_and_counts_sum_to_n():
    k, v, _ = mixture(600, 8, 3, seed=1)
    cl = kmeans.blocked_kmeans(k, v, block=256, seed=1)
    assert [b[:2] for b in cl.blocks] == [(0, 256), (256, 600)]  # a remainder < block/2 joins the last block
    assert torch.all(cl.counts.sum(-1) == 600)
    for h in range(3):
        for i in range(cl.n_clusters):
            members = cl.assign[h] == i
            if members.any():
                assert torch.allclose(cl.centroids[h, i], k[h, members].mean(0), atol=1e-5)
                assert torch.allclose(cl.values[h, i], v[h, members].mean(0), atol=1e-5)
    # assignments never cross blocks
    t0, t1, c0, c1 = cl.blocks[0]
    assert torch.all((cl.assign[:, t0:t1] >= c0) & (cl.assign[:, t0:t1] < c1))


def test_online_update_keeps_counts_and_freezes_earlier_blocks():
    k, v, _ = mixture(1000, 8, 2, seed=2)
    cl = kmeans.blocked_kmeans(k[:, :488], v[:, :488], block=256, seed=0)
    frozen = cl.centroids[:, :cl.blocks[0][3]].clone()
    n = 488
    while n + 64 <= 1000:
        before = cl.n_clusters
        cl = kmeans.online_update(cl, k[:, :n + 64], v[:, :n + 64], 64, block=256, seed=n)
        n += 64
        assert torch.all(cl.counts.sum(-1) == n), "sum N_i = N after every online update"
        assert cl.n_clusters == before + 4  # 6.25% of 64 new tokens
        assert torch.equal(cl.centroids[:, :frozen.shape[1]], frozen)
    assert cl.blocks[-1][1] == n


def test_online_update_rejects_inconsistent_sizes():
    k, v, _ = mixture(300, 8, 1)
    cl = kmeans.blocked_kmeans(k[:, :200], v[:, :200])
    with pytest.raises(ValueError, match="n_new=50"):
        kmeans.online_update(cl, k, v, 50)


# --- lookup and budget -------------------------------------------------------------------------

def test_centroid_scores_match_definition_and_sum_over_group():
    gen = torch.Generator().manual_seed(0)
    q = torch.randn(3, 2, 4, 8, generator=gen)
    c = torch.randn(2, 5, 8, generator=gen)
    n = torch.tensor([[1., 2, 3, 4, 5], [5, 1, 1, 2, 9]])
    s = centroid_scores(q, c, n).double()
    qd, cd, nd = q.double(), c.double(), n.double()
    logit = torch.einsum("mhgd,hcd->mhgc", qd, cd) / math.sqrt(8)
    expect = (torch.exp(logit) / (nd[None, :, None, :] * torch.exp(logit)).sum(-1, keepdim=True)).sum(2)
    assert torch.allclose(s, expect, rtol=1e-5)
    # one token per cluster: the N-weighted scores of a head's query sum to 1 per query head
    assert torch.allclose((s * nd).sum(-1), torch.full((3, 2), 4.0, dtype=torch.float64), rtol=1e-5)


@pytest.mark.parametrize("budget", [1, 7, 40, 100, 599])
def test_selection_never_exceeds_budget(budget):
    st, q = _state()
    cl = st.clusters
    sel = select_within_budget(centroid_scores(q, cl.centroids, cl.counts), cl.counts, budget)
    tokens = (sel * cl.counts[None]).sum(-1)
    assert torch.all(tokens <= budget)
    for m in ("lookup", "multipole", "hierarchical"):
        if budget <= st.layout.total:
            assert int(run_method(m, q, st, budget)["selected"].max()) <= budget


def test_selection_is_a_prefix_of_the_score_order():
    scores = torch.tensor([[[0.5, 0.1, 0.9, 0.3]]])
    counts = torch.tensor([[10.0, 10, 10, 10]])
    assert select_within_budget(scores, counts, 25).tolist() == [[[True, False, True, False]]]
    assert select_within_budget(scores, counts, 19).tolist() == [[[False, False, True, False]]]
    assert select_within_budget(scores, counts, 40).all()


@pytest.mark.parametrize("bad", [0, -3, 601, 2.5])
def test_bad_budget_names_the_value(bad):
    st, q = _state()
    with pytest.raises(ValueError, match=f"B={bad}"):
        run_method("multipole", q, st, bad)


def test_mismatched_gqa_groups_are_rejected():
    st, q = _state(h=2)
    with pytest.raises(ValueError, match="mismatched GQA groups"):
        run_method("multipole", q[:, :1].expand(-1, 3, -1, -1), st, 16)


# --- exact identities --------------------------------------------------------------------------

def test_budget_covering_the_region_equals_exact_attention():
    st, q = _state()
    ref, _, _ = exact_attention(q, st.k, st.v)
    for m in ("lookup", "multipole", "hierarchical", "oracle", "quest"):
        out = run_method(m, q, st, st.layout.clustered)["out"]
        assert (out - ref).abs().max() < 1e-5, m


def test_singleton_clusters_make_replacement_exact():
    st, q = _state()
    lay = st.layout
    kr, vr = st.k[:, lay.start:lay.end], st.v[:, lay.start:lay.end]
    n = kr.shape[1]
    single = kmeans.Clusters(kr, vr, torch.ones(kr.shape[:2]), torch.arange(n).expand(kr.shape[0], -1), [(0, n, 0, n)])
    ref, _, _ = exact_attention(q, st.k, st.v)
    for b in (1, 5, 50):
        assert (run_method("multipole", q, KVState(st.k, st.v, lay, single), b)["out"] - ref).abs().max() < 1e-5
        assert (run_method("lookup", q, KVState(st.k, st.v, lay, single), b)["out"] - ref).abs().max() > 1e-3


def test_lse_merge_equals_one_softmax_with_log_counts():
    st, q = _state()
    gen = torch.Generator().manual_seed(3)
    mask = torch.rand(q.shape[0], *st.k.shape[:2], generator=gen) < 0.2
    rep = torch.rand(q.shape[0], 2, st.clusters.n_clusters, generator=gen) < 0.6
    ql = torch.randn(q.shape, generator=gen)
    cl = st.clusters
    o, lse = multipole_output(q, st.k, st.v, mask, ql, cl.centroids, cl.values, cl.counts, rep)
    ref = dense_reference(q.double(), st.k.double(), st.v.double(), mask, ql.double(), cl.centroids.double(),
                          cl.values.double(), cl.counts.double(), rep)
    assert (o.double() - ref).abs().max() < 1e-5
    # splitting the keys in two and merging is one softmax
    logits = torch.einsum("mhgd,hnd->mhgn", q, st.k) / 4
    whole = partial_softmax(logits, st.v)
    a = partial_softmax(logits[..., :100], st.v[:, :100])
    b = partial_softmax(logits[..., 100:], st.v[:, 100:])
    merged = merge([a, b])
    assert (merged[0] - whole[0]).abs().max() < 1e-5 and (merged[1] - whole[1]).abs().max() < 1e-5


def test_replacement_underestimates_cluster_mass_jensen():
    """(1/N) sum_j e^{s_j} >= e^{mean s}: the multipole weight of a cluster never exceeds its exact mass."""
    st, q = _state()
    cl = st.clusters
    lay = st.layout
    s = torch.einsum("mhgd,hnd->mhgn", q, st.k[:, lay.start:lay.end]).double() / 4
    exact_mass = torch.zeros(*s.shape[:3], cl.n_clusters, dtype=torch.float64).scatter_add_(
        -1, cl.assign[None, :, None, :].expand_as(s), torch.exp(s))
    multipole = cl.counts.double()[None, :, None, :] * torch.exp(torch.einsum("mhgd,hcd->mhgc", q.double(), cl.centroids.double()) / 4)
    assert torch.all(multipole <= exact_mass * (1 + 1e-5))  # float32 centroids: equality for singletons


def test_multipole_error_below_lookup_on_clustered_keys():
    st, q = _state(n=1200, m=16)
    ref, _, _ = exact_attention(q, st.k, st.v)
    e = {m: errors(run_method(m, q, st, 64)["out"], ref).mean().item() for m in ("lookup", "multipole")}
    assert e["multipole"] < e["lookup"]


# --- windowed RoPE -----------------------------------------------------------------------------

def test_windowed_rope_identities():
    gen = torch.Generator().manual_seed(0)
    hd, n = 8, 20
    k = torch.randn(1, n, 2 * hd, generator=gen)
    q = torch.randn(1, 1, 2 * hd, generator=gen)
    pos = torch.arange(n)
    kr = apply_rope(k, pos, hd, 10000.0)
    # clustering keys: un-rotating the cached keys gives the keys at position 0 (before RoPE)
    assert torch.allclose(cluster_keys(kr, pos, hd), k, atol=1e-5)
    m = 37
    qr = apply_rope(q, torch.tensor([m]), hd, 10000.0)
    ql = lookup_query(qr, m, hd, lookup_position=2048)
    assert torch.allclose(ql, apply_rope(q, torch.tensor([2048]), hd, 10000.0), atol=1e-4)
    # the lookup logit of every key equals the exact logit of that key at distance 2048
    lookup = (ql.view(1, 2, hd) * k.view(n, 2, hd)).sum(-1)
    at_distance = (apply_rope(q, torch.tensor([2048 + 5]), hd, 10000.0).view(1, 2, hd)
                   * apply_rope(k, torch.full((n,), 5), hd, 10000.0).view(n, 2, hd)).sum(-1)
    assert torch.allclose(lookup, at_distance, atol=1e-4)
    # rotation preserves norms
    assert torch.allclose(kr.norm(dim=-1), k.norm(dim=-1), atol=1e-5)


# --- the cache in lab.llm ----------------------------------------------------------------------

def _model():
    cfg = ModelConfig(vocab=40, dim=32, n_layers=2, n_heads=4, n_kv_heads=2, max_seq=256)
    return Transformer(cfg).init_weights(torch.Generator().manual_seed(0)).eval().double()


@torch.no_grad()
def _decode(model, x, make_cache, prefix=100):
    cache = make_cache()
    rows = [model(x[:, :prefix], cache=cache)[:, -1]]
    for t in range(prefix, x.shape[1]):
        rows.append(model(x[:, t:t + 1], cache=cache)[:, -1])
    return torch.stack(rows, 1), cache


@pytest.mark.parametrize("windowed", [True, False])
def test_cache_decodes_exactly_when_budget_covers_context(windowed):
    model = _model()
    x = torch.randint(0, 40, (2, 180), generator=torch.Generator().manual_seed(1))
    ref, _ = _decode(model, x, lambda: KVCache(None))
    out, cache = _decode(model, x, lambda: MultipoleCache(180, interval=16, lookup_position=64, windowed=windowed))
    assert cache.updates > 0 and cache.counts_ok
    assert (out - ref).abs().max() < 1e-10
    small, cache = _decode(model, x, lambda: MultipoleCache(8, interval=16, lookup_position=64, windowed=windowed))
    assert (small - ref).abs().max() > 1e-6  # a small budget changes the result: the cache is really used
    lay = cache.layout[0]
    assert lay.window < 32 and lay.clustered % 16 == 0
    assert all(torch.all(c.counts.sum(-1) == cache.layout[l].clustered) for l, c in cache.clusters.items())


def test_cache_rejects_bad_arguments():
    with pytest.raises(ValueError, match="B=0"):
        MultipoleCache(0)
    with pytest.raises(ValueError, match="method"):
        MultipoleCache(8, method="exact")


def test_all_methods_run_and_bytes_fall_below_dense():
    st, q = _state(n=1200)
    dense = 2 * 1200 * 16 * 2
    for m in METHODS:
        r = run_method(m, q, st, 64)
        assert r["out"].shape == q.shape
        if m in ("lookup", "multipole", "quest", "hierarchical"):
            assert r["bytes"] < dense
