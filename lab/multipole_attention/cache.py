"""A :class:`lab.llm.kvcache.Cache` that decodes with Multipole Attention (``book/multipole_attention.md``).

Per layer it keeps the rotated keys and the values (for exact attention), the un-rotated keys
(windowed RoPE: clustering at position 0) and the clusters of the clustered region of every
(sequence, KV head). Prefill is exact and sets the layout (sink, ``⌊P/I⌋ - 1`` blocks, window);
after each update a window of ``2I`` tokens folds its oldest ``I`` into the clustered region by
:func:`lab.multipole_attention.kmeans.online_update`. A decode step (one new token) computes
its attention in :meth:`attend`: centroid lookup with the query rotated at ``lookup_position``,
exact attention over the sink, the selected clusters and the window, and (``replacement=True``)
one term per other cluster, merged by log-sum-exp. ``method="lookup"`` is the ablation without
replacement; ``"oracle"`` and ``"quest"`` decode with those baselines; ``windowed=False`` clusters the cached post-RoPE keys and looks up with the
decode query itself (our control for windowed RoPE, not the paper's setting).
"""
from __future__ import annotations

import torch

from lab.llm.kvcache import Cache
from lab.multipole_attention import kmeans
from lab.multipole_attention.layout import CENTROID_FRACTION, INTERVAL, SINK, Layout, prefill_layout, tokens_to_fold
from lab.multipole_attention.methods import METHODS, KVState, run_method
from lab.multipole_attention.rope import LOOKUP_POSITION


class MultipoleCache(Cache):
    """Exact storage plus clusters; ``budget`` tokens of the clustered region attended exactly per KV head.

    The budget is a cap: while the context is shorter than ``budget``, every cluster is selected.
    """

    def __init__(self, budget: int, *, method: str = "multipole", sink: int = SINK, interval: int = INTERVAL,
                 fraction: float = CENTROID_FRACTION, lookup_position: int = LOOKUP_POSITION,
                 block: int = kmeans.BLOCK, seed: int = 0, windowed: bool = True):
        super().__init__()
        if method not in METHODS or method == "exact":
            raise ValueError(f"method must be one of {METHODS[1:]}, got {method!r}")
        if not isinstance(budget, int) or budget < 1:
            raise ValueError(f"token budget B={budget!r} must be a positive integer")
        self.budget, self.method, self.sink, self.interval = budget, method, sink, interval
        self.fraction, self.lookup_position, self.block, self.seed = fraction, lookup_position, block, seed
        self.windowed = windowed
        self.k: dict[int, torch.Tensor] = {}
        self.v: dict[int, torch.Tensor] = {}
        self.k0: dict[int, torch.Tensor] = {}  # keys at position 0 (before RoPE), (B·Hkv, S, d)
        self.layout: dict[int, Layout] = {}
        self.clusters: dict[int, kmeans.Clusters] = {}
        self.updates = 0  # online updates run (all layers)
        self.counts_ok = True  # sum_i N_i equals the clustered length after every update

    @staticmethod
    def _heads(t: torch.Tensor, n_kv: int) -> torch.Tensor:
        """(B, S, Hkv·d) -> (B·Hkv, S, d)."""
        b, s, w = t.shape
        return t.view(b, s, n_kv, w // n_kv).transpose(1, 2).reshape(b * n_kv, s, w // n_kv)

    def update(self, layer, attn, *, x, resid, k, v, positions):
        n_kv = attn.cfg.kv_heads
        # windowed RoPE clusters the keys before rotation; otherwise the cached (rotated) keys
        k0 = self._heads(attn.wk(x) if self.windowed else k, n_kv)
        if layer in self.k:
            self.k[layer] = torch.cat((self.k[layer], k), 1)
            self.v[layer] = torch.cat((self.v[layer], v), 1)
            self.k0[layer] = torch.cat((self.k0[layer], k0), 1)
            lay = self.layout[layer]
            self.layout[layer] = Layout(lay.sink, lay.clustered, lay.total + k.shape[1])
        else:
            self.k[layer], self.v[layer], self.k0[layer] = k, v, k0
            lay = prefill_layout(k.shape[1], self.sink, self.interval)
            self.layout[layer] = lay
            self.clusters[layer] = kmeans.blocked_kmeans(
                k0[:, lay.start:lay.end], self._heads(v, n_kv)[:, lay.start:lay.end], fraction=self.fraction,
                block=self.block, seed=self.seed)
        self._fold(layer, n_kv)
        return self.k[layer], self.v[layer]

    def _fold(self, layer: int, n_kv: int) -> None:
        lay = self.layout[layer]
        while (n := tokens_to_fold(lay, self.interval)) > 0:
            end = lay.end + n
            vals = self._heads(self.v[layer], n_kv)
            self.clusters[layer] = kmeans.online_update(
                self.clusters[layer], self.k0[layer][:, lay.start:end], vals[:, lay.start:end], n,
                fraction=self.fraction, block=self.block, seed=self.seed * 7919 + self.updates)
            lay = Layout(lay.sink, lay.clustered + n, lay.total)
            self.layout[layer] = lay
            self.updates += 1
            counts = self.clusters[layer].counts.sum(-1)
            self.counts_ok &= bool(torch.all(counts == lay.clustered))

    def attend(self, layer, attn, q, k, v, positions):
        lay = self.layout[layer]
        if q.shape[2] != 1 or lay.clustered == 0:
            return None  # prefill, or nothing clustered yet: exact attention
        b, hq, _, d = q.shape
        n_kv = k.shape[1]
        g = hq // n_kv
        # windowed RoPE: the lookup query R_{p_l} q = R_{p_l - m} (R_m q); otherwise the query itself
        flat = q.transpose(1, 2).reshape(b, 1, hq * d)
        ql = attn.rope(flat, (self.lookup_position - positions).to(positions.device)) if self.windowed else flat
        to_groups = lambda t: t.view(b, n_kv, g, d).reshape(1, b * n_kv, g, d)
        st = KVState(k.reshape(b * n_kv, -1, d), v.reshape(b * n_kv, -1, d), lay, self.clusters[layer])
        res = run_method(self.method, to_groups(q[:, :, 0]), st, min(self.budget, lay.total), q_lookup=to_groups(ql.view(b, hq, d)))
        return res["out"].reshape(b, hq, d)[:, :, None, :]

    def nbytes(self) -> int:
        tensors = [*self.k.values(), *self.v.values(), *self.k0.values()]
        for cl in self.clusters.values():
            tensors += [cl.centroids, cl.values, cl.counts, cl.assign]
        return sum(t.numel() * t.element_size() for t in tensors)
