"""The experiments of ``book/multipole_attention.md``; each returns plain dicts and arrays.

* :func:`budget_sweep`: relative error of the attention output, attention-mass recall, tokens
  selected and KV bytes touched against the budget, for every method, on clustered synthetic keys.
* :func:`model_keys_sweep`: the same on the keys and decode queries of a trained model,
  stories260K (windowed RoPE for the lookup).
* :func:`stream_study`: online update against full blocked re-clustering over a stream of
  ``I``-token intervals (inertia and Multipole error at a fixed budget).
* :func:`identities`: the exact identities (budget covers everything, singleton clusters, LSE merge).
* :func:`sample_text` and :func:`model_accuracy`: stories260K samples its own text, then decodes
  it again through each cache (teacher-forced); next-token accuracy and perplexity per budget.
* :func:`online_update_time`: CPU time of one online update at the reference benchmark's size.
"""
from __future__ import annotations

import copy
import math
import time

import numpy as np
import torch

from lab.llm.kvcache import KVCache
from lab.multipole_attention import kmeans
from lab.multipole_attention.attention import dense_reference, exact_attention, multipole_output
from lab.multipole_attention.cache import MultipoleCache
from lab.multipole_attention.layout import Layout, prefill_layout
from lab.multipole_attention.methods import METHODS, KVState, errors, mass_recall, run_method
from lab.multipole_attention.rope import cluster_keys, lookup_query
from lab.multipole_attention.synthetic import aligned_queries, mixture
from lab.progress import progress


def synthetic_state(n: int, d: int, heads: int, group: int, n_queries: int, *, sink: int, interval: int,
                    fraction: float, block: int, seed: int, n_mix: int = 64):
    """Clustered synthetic keys in the reference layout, their clusters, and aligned queries."""
    k, v, centres = mixture(n, d, heads, n_mix=n_mix, seed=seed)
    lay = prefill_layout(n, sink, interval)
    cl = kmeans.blocked_kmeans(k[:, lay.start:lay.end], v[:, lay.start:lay.end], fraction=fraction, block=block, seed=seed)
    return KVState(k, v, lay, cl), aligned_queries(centres, n_queries, group, seed=seed)


def sweep(st: KVState, q: torch.Tensor, budgets, methods=METHODS, q_lookup=None) -> dict:
    """error, recall, bytes and the largest selection per (method, budget); mean over queries and heads."""
    ref, _, probs = exact_attention(q, st.k, st.v)
    out = {m: {"error": [], "recall": [], "bytes": [], "selected_max": []} for m in methods}
    for m in methods:
        for b in budgets:
            r = run_method(m, q, st, b, q_lookup=q_lookup)
            out[m]["error"].append(errors(r["out"], ref).mean().item())
            out[m]["recall"].append(mass_recall(probs, r["exact_mask"]).mean().item())
            out[m]["bytes"].append(r["bytes"])
            out[m]["selected_max"].append(int(r["selected"].max()))
    out["dense_bytes"] = 2 * st.k.shape[1] * st.k.shape[2] * 2
    return out


def budget_sweep(cfg, n: int, seeds) -> dict:
    """:func:`sweep` on synthetic keys of ``n`` tokens for each seed; arrays (seeds, budgets)."""
    runs = []
    for s in progress(list(seeds), desc=f"synthetic keys, N={n}"):
        st, q = synthetic_state(n, cfg.head_dim, cfg.kv_heads, cfg.group, cfg.n_queries, sink=cfg.sink,
                                interval=cfg.interval, fraction=cfg.centroid_fraction, block=cfg.block, seed=s)
        runs.append(sweep(st, q, cfg.budgets))
    res = {m: {key: np.array([r[m][key] for r in runs]) for key in runs[0][m]} for m in METHODS}
    res["dense_bytes"] = runs[0]["dense_bytes"]
    res["budgets"] = list(cfg.budgets)
    res["n"] = n
    return res


class CaptureCache(KVCache):
    """An exact cache that also keeps, per layer, the keys before RoPE and the last decode query."""

    def __init__(self):
        super().__init__(dtype=None)
        self.k0, self.q = {}, {}

    def update(self, layer, attn, *, x, resid, k, v, positions):
        k0 = attn.wk(x)
        self.k0[layer] = torch.cat((self.k0[layer], k0), 1) if layer in self.k0 else k0
        return super().update(layer, attn, x=x, resid=resid, k=k, v=v, positions=positions)

    def attend(self, layer, attn, q, k, v, positions):
        self.q[layer] = (q, positions)
        return None


@torch.no_grad()
def model_states(model, seqs: torch.Tensor, prefix: int, layer: int, *, sink: int, interval: int, fraction: float,
                 lookup_position: int, seed: int = 0, windowed: bool = True):
    """KVState and (exact, lookup) queries of ``layer`` at the first query of each sequence.

    The sequences (B of them) become B·H_kv "heads" of one state; clusters from keys at position 0.
    """
    cache = CaptureCache()
    model(seqs[:, :prefix + 1], cache=cache)  # prefill the storage phase plus the first query key
    cfg = model.cfg
    b, n_kv, d, hq = seqs.shape[0], cfg.kv_heads, cfg.head_dim, cfg.n_heads
    heads = lambda t: t.view(b, t.shape[1], n_kv, d).transpose(1, 2).reshape(b * n_kv, t.shape[1], d)
    k, v, k0 = heads(cache.k[layer]), heads(cache.v[layer]), heads(cache.k0[layer])
    q_all, pos = cache.q[layer]  # (B, Hq, T, d) from the prefill: take the last position
    q = q_all[:, :, -1]
    p = int(pos[-1])
    flat = q.reshape(b, 1, hq * d)
    ql = model.blocks[layer].attn.rope(flat, torch.tensor([lookup_position - p])).view(b, hq, d) if windowed else q
    if not windowed:
        k0 = k
    lay = prefill_layout(k.shape[1], sink, interval)
    cl = kmeans.blocked_kmeans(k0[:, lay.start:lay.end], v[:, lay.start:lay.end], fraction=fraction, seed=seed)
    g = hq // n_kv
    to_groups = lambda t: t.reshape(b, n_kv, g, d).reshape(1, b * n_kv, g, d)
    return KVState(k, v, lay, cl), to_groups(q), to_groups(ql), k0


def model_keys_sweep(model, seqs: torch.Tensor, cfg, layers, windowed: bool = True) -> dict:
    """:func:`sweep` on the model's keys over whole sequences, one entry per layer; the query is
    the last position's (its attention spans the whole context)."""
    res = {}
    for layer in layers:
        st, q, ql, _ = model_states(model, seqs, seqs.shape[1] - 1, layer, sink=cfg.sink, interval=cfg.model_interval,
                                    fraction=cfg.centroid_fraction, lookup_position=cfg.lookup_position, seed=cfg.seed,
                                    windowed=windowed)
        budgets = [b for b in cfg.model_budgets if b <= st.layout.total]
        res[layer] = sweep(st, q, budgets, q_lookup=ql)
        res[layer]["budgets"] = budgets
        res[layer]["layout"] = st.layout
    return res


def stream_study(cfg, seed: int) -> dict:
    """Online update vs blocked k-means from scratch over ``stream_steps`` intervals of I new tokens."""
    n0, step_len = cfg.stream_start, cfg.interval
    total = n0 + (cfg.stream_steps + 1) * step_len  # the last interval stays in the recent window
    k, v, centres = mixture(total, cfg.head_dim, cfg.kv_heads, seed=seed + 100)
    # drift: later tokens come from a slowly shifted mixture, as a generation moves on to new material
    direction = torch.randn(cfg.kv_heads, 1, cfg.head_dim, generator=torch.Generator().manual_seed(seed))
    k = k + cfg.stream_drift * torch.linspace(0, 1, total)[None, :, None] * direction
    q = aligned_queries(centres, cfg.n_queries, cfg.group, seed=seed)
    s0 = cfg.sink
    cl = kmeans.blocked_kmeans(k[:, s0:n0], v[:, s0:n0], fraction=cfg.centroid_fraction, block=cfg.stream_block, seed=seed)
    rows = []
    for step in progress(range(1, cfg.stream_steps + 1), desc="online vs full re-clustering"):
        end = n0 + step * step_len
        t0 = time.process_time()
        cl = kmeans.online_update(cl, k[:, s0:end], v[:, s0:end], step_len, fraction=cfg.centroid_fraction,
                                  block=cfg.stream_block, seed=seed * 1000 + step)
        t_online = time.process_time() - t0
        t0 = time.process_time()
        full = kmeans.blocked_kmeans(k[:, s0:end], v[:, s0:end], fraction=cfg.centroid_fraction, block=cfg.stream_block,
                                     seed=seed * 1000 + step)
        t_full = time.process_time() - t0
        kk, vv = k[:, :end + step_len], v[:, :end + step_len]
        lay = Layout(s0, end - s0, end + step_len)
        ref, _, _ = exact_attention(q, kk, vv)
        err = {name: errors(run_method("multipole", q, KVState(kk, vv, lay, c), cfg.stream_budget)["out"], ref).mean().item()
               for name, c in (("online", cl), ("full", full))}
        rows.append(dict(step=step, tokens=end - s0, clusters=cl.n_clusters,
                         inertia_online=kmeans.inertia(k[:, s0:end], cl.centroids, cl.assign).sum().item(),
                         inertia_full=kmeans.inertia(k[:, s0:end], full.centroids, full.assign).sum().item(),
                         err_online=err["online"], err_full=err["full"],
                         counts_ok=bool(torch.all(cl.counts.sum(-1) == end - s0)), cpu_online_s=t_online, cpu_full_s=t_full))
    return {"rows": rows}


def identities(cfg, seed: int) -> dict:
    """Largest absolute deviations of the exact identities, float32, on synthetic keys."""
    st, q = synthetic_state(cfg.identity_n, cfg.head_dim, cfg.kv_heads, cfg.group, 4, sink=cfg.sink,
                            interval=cfg.interval, fraction=cfg.centroid_fraction, block=cfg.block, seed=seed)
    ref, _, _ = exact_attention(q, st.k, st.v)
    lay = st.layout
    covers = {m: (run_method(m, q, st, lay.clustered)["out"] - ref).abs().max().item() for m in ("lookup", "multipole", "hierarchical")}
    # singleton clusters: every clustered key its own cluster, Kc = k, Vc = v, N = 1
    kr, vr = st.k[:, lay.start:lay.end], st.v[:, lay.start:lay.end]
    single = kmeans.Clusters(kr.clone(), vr.clone(), torch.ones(kr.shape[:2]), torch.arange(kr.shape[1]).expand(kr.shape[0], -1).clone(),
                             [(0, kr.shape[1], 0, kr.shape[1])])
    st1 = KVState(st.k, st.v, lay, single)
    singleton = max((run_method("multipole", q, st1, b)["out"] - ref).abs().max().item() for b in (1, 16, 64))
    # LSE merge of the split computation against one dense softmax with log N_i on the centroid logits
    gen = torch.Generator().manual_seed(seed)
    mask = torch.rand(q.shape[0], *st.k.shape[:2], generator=gen) < 0.3
    rep = torch.rand(q.shape[0], st.k.shape[0], st.clusters.n_clusters, generator=gen) < 0.5
    ql = q + 0.1 * torch.randn(q.shape, generator=gen)
    cl = st.clusters
    o, _ = multipole_output(q, st.k, st.v, mask, ql, cl.centroids, cl.values, cl.counts, rep)
    merged = (o - dense_reference(q, st.k, st.v, mask, ql, cl.centroids, cl.values, cl.counts, rep)).abs().max().item()
    return dict(budget_covers=covers, singleton=singleton, lse_merge=merged)


@torch.no_grad()
def sample_text(model, n: int, length: int, seed: int) -> torch.Tensor:
    """``n`` sequences of ``length`` tokens the model samples itself from BOS (llama2.c's id 1), exact cache."""
    from lab.llm.evaluate import sample
    bos = torch.ones(n, 1, dtype=torch.int64)
    return sample(model, bos, length - 1, torch.Generator().manual_seed(seed), lambda: KVCache(None))


@torch.no_grad()
def decode_through(model, seqs: torch.Tensor, prefix: int, make_cache) -> dict:
    """Prefill ``prefix`` tokens through ``make_cache()``, then decode the rest one token at a time
    (teacher-forced). Returns per-token top-1 correctness and log-likelihood (N, T - prefix), and the cache."""
    cache = make_cache()
    logits = [model(seqs[:, :prefix], cache=cache)[:, -1]]
    for t in range(prefix, seqs.shape[1] - 1):
        logits.append(model(seqs[:, t:t + 1], cache=cache)[:, -1])
    lg = torch.stack(logits, 1)
    target = seqs[:, prefix:]
    return dict(correct=(lg.argmax(-1) == target).float().numpy(),
                loglik=torch.log_softmax(lg, -1).gather(-1, target[..., None])[..., 0].numpy(), cache=cache, logits=lg)


def model_accuracy(model, seqs: torch.Tensor, cfg) -> dict:
    """Next-token accuracy and log-likelihood of exact decoding and of each (method, budget) cache."""
    common = dict(sink=cfg.sink, interval=cfg.model_interval, fraction=cfg.centroid_fraction,
                  lookup_position=cfg.lookup_position, seed=cfg.seed)
    exact = decode_through(model, seqs, cfg.prefix, lambda: KVCache(None))
    out = {"exact": exact}
    counts_ok, updates = [], []
    runs = [(m, b, True) for m in cfg.model_methods for b in cfg.model_budgets]
    runs += [("multipole", b, False) for b in cfg.model_budgets]  # the post-RoPE control
    for method, b, w in progress(runs, desc="decoding through each cache"):
        r = decode_through(model, seqs, cfg.prefix, lambda: MultipoleCache(b, method=method, windowed=w, **common))
        counts_ok.append(r["cache"].counts_ok)
        updates.append(r["cache"].updates)
        out[(method if w else method + " (post-RoPE)", b)] = r
    # a budget that covers the context: decoding must equal exact decoding (float64, so that the
    # comparison is not blurred by float32 rounding differences between two attention routines)
    m64 = copy.deepcopy(model).double()
    exact64 = decode_through(m64, seqs[:2], cfg.prefix, lambda: KVCache(None))
    full = decode_through(m64, seqs[:2], cfg.prefix, lambda: MultipoleCache(seqs.shape[1], **common))
    gap = (full["logits"] - exact64["logits"]).abs().max().item()
    return dict(results=out, counts_ok=all(counts_ok), updates=max(updates) if updates else 0, context=seqs.shape[1],
                cache_gap=gap)


def online_update_time(heads: int, existing: int = 8192, d: int = 128, new: int = 128, seed: int = 0) -> dict:
    """CPU seconds of one online update at the reference benchmark's size (512 centroids, 8 new, 3 iterations)."""
    gen = torch.Generator().manual_seed(seed)
    k = torch.randn(heads, existing + new, d, generator=gen)
    v = torch.randn(heads, existing + new, d, generator=gen)
    cl = kmeans.blocked_kmeans(k[:, :existing], v[:, :existing], iters=2, seed=seed)
    t0 = time.process_time()
    cl2 = kmeans.online_update(cl, k, v, new, seed=seed)
    cpu = time.process_time() - t0
    return dict(heads=heads, existing=existing, d=d, new=new, centroids_before=cl.n_clusters,
                centroids_after=cl2.n_clusters, cpu_s=cpu)
