"""A three-level hierarchy built from real M4-hourly bottom series, with a **synthetic** grouping.

The paper's hierarchical datasets (LABOUR, TOURISM, WIKI) are downloaded at run time by GluonTS
and are not available offline. We take ``n_bottom`` real hourly series from M4 (the first ones
in file order with at least ``min_length`` training points), scale each by the mean of its
training part, and group them arbitrarily: bottom series ``i`` belongs to group
``i // group_size``, and the total sums every group. The grouping carries no meaning; it only
makes aggregates that are exactly the sums of real series, so coherence holds by construction.

With ``u = [y_a; y_b]`` (aggregates first, ``y_a = S y_b``) the constraint is ``[I, -S] u = 0``.
See ``book/probhard_e2e.md``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lab import data


@dataclass
class Hierarchy:
    """``S [n_agg, n_bottom]``, ``A = [I, -S]``, series ``train [n_all, T]`` and ``test [n_all, H]``."""

    S: np.ndarray
    train: np.ndarray
    test: np.ndarray
    ids: list[str]
    horizon: int

    @property
    def A(self) -> np.ndarray:
        return np.concatenate([np.eye(self.S.shape[0]), -self.S], 1)

    @property
    def n_agg(self) -> int:
        return self.S.shape[0]


def summing_matrix(n_bottom: int, group_size: int) -> np.ndarray:
    """``S``: one row per group of ``group_size`` consecutive bottom series, then the total."""
    if n_bottom < 2 or group_size < 1 or n_bottom % group_size:
        raise ValueError(f"n_bottom={n_bottom} must be a multiple of group_size={group_size} (both >= 1, n_bottom >= 2)")
    n_groups = n_bottom // group_size
    S = np.zeros((n_groups + 1, n_bottom))
    for g in range(n_groups):
        S[g, g * group_size:(g + 1) * group_size] = 1.0
    S[-1] = 1.0
    return S


def m4_hourly_hierarchy(n_bottom: int = 64, group_size: int = 8, length: int = 700) -> Hierarchy:
    """The last ``length`` training hours of ``n_bottom`` M4-hourly series, scaled, with aggregates."""
    ds = data.load("m4_hourly")
    picks = [i for i in range(len(ds)) if len(ds.train[i]) >= length][:n_bottom]
    if len(picks) < n_bottom:
        raise ValueError(f"only {len(picks)} M4-hourly series have >= {length} training hours")
    train = np.stack([ds.train[i][-length:] for i in picks])
    test = np.stack([ds.test[i] for i in picks])
    scale = train.mean(1, keepdims=True)
    train, test = train / scale, test / scale
    S = summing_matrix(n_bottom, group_size)
    return Hierarchy(S, np.concatenate([S @ train, train]), np.concatenate([S @ test, test]),
                     [ds.ids[i] for i in picks], ds.horizon)
