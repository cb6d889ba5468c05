"""Causal mean ensembling of the overlapping forecasts that forking-sequences produces.

A target date ``d`` is forecast from up to ``H`` FCDs. The operational forecast made at FCD
``k`` for horizon ``h`` (date ``d = k + h``) may pool only forecasts of ``d`` made at FCDs
``k' <= k``, i.e. at horizons ``h' >= h``:

.. math::

    \\bar y_{k,h} = \\frac{1}{\\min(k, H-1-h) + 1} \\sum_{j=0}^{\\min(k,\\,H-1-h)} \\hat y_{k-j,\\,h+j}

(FCDs missing from the grid, NaN, are skipped). In the by-date layout of
:func:`lab.forecast.metrics.regroup_by_date` this is a running mean from the longest horizon
down to ``h``; running it the other way would pool forecasts from later FCDs into earlier ones,
which an operational forecast cannot see. See ``book/forking_sequences.md``.
"""
from __future__ import annotations

import numpy as np

from .metrics import regroup_by_date


def causal_mean_ensemble(grid: np.ndarray) -> np.ndarray:
    """Causal mean of ``grid [..., F, H, Q]`` (or ``[..., F, H]``), same shape; NaN-aware."""
    squeeze = False
    if grid.ndim == 2:
        grid, squeeze = grid[..., None], True
    moved = np.moveaxis(grid, -1, 0)  # [Q, ..., F, H]
    F, H = moved.shape[-2:]
    by_date = regroup_by_date(moved)  # [Q, ..., S, H]
    present = ~np.isnan(by_date)
    # running sums from the longest horizon (earliest FCD) towards horizon h
    sums = np.flip(np.cumsum(np.flip(np.where(present, by_date, 0.0), -1), -1), -1)
    counts = np.flip(np.cumsum(np.flip(present, -1), -1), -1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_by_date = sums / counts
    out = np.stack([mean_by_date[..., h:h + F, h] for h in range(H)], -1)  # back to [.., F, H]
    out = np.where(np.isnan(moved), np.nan, out)
    out = np.moveaxis(out, 0, -1)
    return out[..., 0] if squeeze else out
