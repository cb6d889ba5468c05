"""Series on a common time grid, and the two ways of cutting training examples from them.

A :class:`Panel` stores many scaled series, NaN-padded on both sides, so that any window can
be gathered with one fancy-indexing call. A **forecast creation date** (FCD) ``t`` of a series
means "``t`` points observed": the context is ``y[t-L:t]`` and the targets ``y[t:t+H]``.

* :func:`window_batch` cuts one FCD per example: inputs ``[B, L, 2]``, targets ``[B, 1, H]``.
* :func:`forking_batch` cuts a block covering ``F`` consecutive FCDs ``a, ..., a+F-1``:
  inputs ``[B, L+F-1, 2]`` (encoded once), targets ``[B, F, H]`` with
  ``targets[b, k, h] = y[a+k+h]``. The window of FCD ``a+k`` is the block's slice
  ``[k, k+L)``, so for ``F = 1`` both functions return the same tensors.

Inputs carry two channels: the scaled value (0 where unobserved) and an "observed" flag.
Targets come with a mask that is 0 for padding, for points past the end of the data and for
FCDs outside the valid range ``1 <= t <= max(1, n - H)``. See ``book/forking_sequences.md``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class Batch:
    """Encoder inputs ``x [B, T, 2]``, targets ``y [B, F, H]`` and their 0/1 ``mask [B, F, H]``."""

    x: torch.Tensor
    y: torch.Tensor
    mask: torch.Tensor


class Panel:
    """Series (already scaled) padded onto one array for fast window gathering.

    Parameters
    ----------
    series : list of 1-d arrays, the observed values (no NaN inside).
    context : context length ``L``.
    horizon : forecast horizon ``H``.
    pad : extra NaN columns on each side, so that blocks reaching before a series' start or
        past its end (e.g. ``F`` FCDs) gather NaN instead of failing.
    """

    def __init__(self, series: list[np.ndarray], context: int, horizon: int, pad: int):
        if context < 1 or horizon < 1:
            raise ValueError(f"context and horizon must be >= 1, got L={context}, H={horizon}")
        self.context, self.horizon = context, horizon
        self.lengths = np.array([len(s) for s in series])
        if (self.lengths < 1).any():
            raise ValueError("every series needs at least one point")
        self.left = context + pad
        width = self.left + self.lengths.max() + horizon + pad
        self.values = np.full((len(series), width), np.nan, dtype=np.float32)
        for i, s in enumerate(series):
            self.values[i, self.left:self.left + len(s)] = s

    def __len__(self) -> int:
        return len(self.lengths)

    @property
    def last_fcd(self) -> np.ndarray:
        """Largest valid training FCD of each series, ``max(1, n - H)``."""
        return np.maximum(1, self.lengths - self.horizon)

    def segment(self, rows: np.ndarray, first: np.ndarray, length: int) -> np.ndarray:
        """``[B, length]`` values of series ``rows`` from point ``first`` (may be negative) on."""
        cols = self.left + np.asarray(first)[:, None] + np.arange(length)
        if cols.min() < 0 or cols.max() >= self.values.shape[1]:
            raise IndexError("window reaches past the panel's padding; build the Panel with a larger pad")
        return self.values[np.asarray(rows)[:, None], cols]


def _features(seg: np.ndarray) -> torch.Tensor:
    observed = ~np.isnan(seg)
    return torch.from_numpy(np.stack([np.where(observed, seg, 0.0), observed], -1).astype(np.float32))


def window_batch(panel: Panel, rows: np.ndarray, fcds: np.ndarray) -> Batch:
    """One FCD per example: context ``y[t-L:t]`` and targets ``y[t:t+H]`` (``F = 1``)."""
    L, H = panel.context, panel.horizon
    fcds = np.asarray(fcds)
    seg = panel.segment(rows, fcds - L, L + H)
    y = seg[:, None, L:]
    valid = (fcds >= 1) & (fcds <= panel.last_fcd[rows])
    mask = ~np.isnan(y) & valid[:, None, None]
    return Batch(_features(seg[:, :L]), torch.from_numpy(np.nan_to_num(y)), torch.from_numpy(mask.astype(np.float32)))


def forking_batch(panel: Panel, rows: np.ndarray, starts: np.ndarray, fcds: int, *, train: bool = True) -> Batch:
    """A block of ``F = fcds`` consecutive FCDs ``a, ..., a+F-1`` per example, encoded once.

    With ``train=False`` FCDs past the training range stay unmasked (evaluation on a panel of
    full series uses this); FCDs with no observed point before them are always masked.
    """
    L, H, F = panel.context, panel.horizon, fcds
    starts = np.asarray(starts)
    seg = panel.segment(rows, starts - L, L + F - 1 + H)
    # targets[b, k, h] = y[a + k + h]: a sliding window of length H over the future part
    y = np.lib.stride_tricks.sliding_window_view(seg[:, L:], H, axis=1)[:, :F]
    t = starts[:, None] + np.arange(F)
    valid = (t >= 1) & ((t <= panel.last_fcd[rows][:, None]) if train else True)
    mask = ~np.isnan(y) & valid[:, :, None]
    return Batch(_features(seg[:, :L + F - 1]), torch.from_numpy(np.nan_to_num(y).copy()),
                 torch.from_numpy(mask.astype(np.float32)))


def sample_windows(panel: Panel, batch: int, rng: np.random.Generator) -> Batch:
    """Window sampling: ``batch`` series uniformly, then one FCD uniformly in ``[1, n-H]``."""
    rows = rng.integers(len(panel), size=batch)
    fcds = rng.integers(1, panel.last_fcd[rows] + 1)
    return window_batch(panel, rows, fcds)


def sample_forks(panel: Panel, batch: int, fcds: int, rng: np.random.Generator) -> Batch:
    """Forking-sequences: ``batch`` series uniformly, then a block start ``a`` uniformly in
    ``[2-F, n-H]``; FCDs of the block outside ``[1, n-H]`` are masked. Every valid FCD is then
    covered by exactly ``F`` starts, so each FCD of a block is marginally uniform, as in
    :func:`sample_windows`."""
    rows = rng.integers(len(panel), size=batch)
    starts = rng.integers(2 - fcds, panel.last_fcd[rows] + 1)
    return forking_batch(panel, rows, starts, fcds)
