"""The REBASE allocation of children to candidate nodes (``book/ets.md``, "REBASE").

Sort candidates by score, descending; with ``w_i = exp(s_i / T)`` and the remaining width ``W``,

.. math::

    n_i = \\Big\\lceil W \\frac{w_i}{\\sum_{j \\ge i} w_j} \\Big\\rceil, \\qquad W \\leftarrow W - n_i ,

sequentially. The last positive-weight candidate gets exactly the width that is left, so the
counts sum to ``W`` whenever a candidate has finite weight. Weights of ``-inf`` (pruned) get 0.
"""
from __future__ import annotations

import math

import numpy as np


def rebase_allocation(scores, width: int, temperature: float = 0.2, keep=None) -> np.ndarray:
    """Children per candidate, in the candidates' original order.

    Parameters
    ----------
    scores : sequence of float
        PRM score of each candidate's last step.
    width : int
        Remaining width ``W`` (>= 0).
    temperature : float
        Softmax temperature ``T`` (> 0); the paper uses 0.2.
    keep : sequence of bool, optional
        Candidates allowed to receive children (ETS re-applies the allocation to the ILP's
        survivors); others get weight ``-inf``.
    """
    s = np.asarray(scores, dtype=float)
    if s.ndim != 1:
        raise ValueError(f"scores must be one-dimensional, got shape {s.shape}")
    if width < 0 or int(width) != width:
        raise ValueError(f"width must be a non-negative integer, got {width}")
    if not temperature > 0:
        raise ValueError(f"softmax temperature must be > 0, got {temperature}")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores must be finite")
    logits = s / temperature
    if keep is not None:
        keep = np.asarray(keep, dtype=bool)
        if keep.shape != s.shape:
            raise ValueError(f"keep has shape {keep.shape}, scores {s.shape}")
        logits = np.where(keep, logits, -np.inf)
    counts = np.zeros(len(s), dtype=int)
    if len(s) == 0 or not np.isfinite(logits).any():
        return counts
    order = np.argsort(-logits, kind="stable")
    # subtract the maximum: the ratios w_i / sum_{j>=i} w_j do not change, overflow does not happen
    w = np.exp(logits[order] - logits[order[0]])
    tail = np.cumsum(w[::-1])[::-1]  # sum_{j >= i} w_j
    left = int(width)
    for rank, i in enumerate(order):
        if left <= 0 or w[rank] == 0:
            break
        # n_i = ceil(W w_i / sum_{j>=i} w_j); the tiny slack keeps 1.0000000002 from becoming 2
        n = min(left, math.ceil(left * w[rank] / tail[rank] - 1e-9))
        counts[i] = n
        left -= n
    return counts
