"""The KV layout of Multipole Attention's reference code (``book/multipole_attention.md``).

A sequence of ``n`` cached tokens splits into three regions:

* the **attention sink**, the first ``sink`` (= 10) tokens, always attended exactly;
* the **clustered region**, a multiple of the re-clustering interval ``I`` (= 128) tokens,
  k-means-clustered per KV head;
* the **recent window**, the remaining tokens (between ``I`` and ``2I`` once the region exists),
  always attended exactly.

At prefill the clustered region gets :math:`\\lfloor P/I\\rfloor - 1` blocks of ``I`` tokens,
:math:`P = n - \\text{sink}`; during decoding, once the window reaches :math:`2I` tokens its oldest
``I`` are folded into the clustered region (:func:`tokens_to_fold`).
"""
from __future__ import annotations

from dataclasses import dataclass

SINK = 10  #: tokens of the attention sink in the reference code
INTERVAL = 128  #: re-clustering interval I (``cluster_interval``)
CENTROID_FRACTION = 0.0625  #: one centroid per 16 clustered keys (``--percent_clusters_lst 6.25``)


@dataclass(frozen=True)
class Layout:
    """Token ranges ``[0, sink)``, ``[sink, sink + clustered)`` and ``[sink + clustered, total)``."""

    sink: int
    clustered: int
    total: int

    def __post_init__(self):
        if min(self.sink, self.clustered) < 0 or self.sink + self.clustered > self.total:
            raise ValueError(f"layout sink={self.sink}, clustered={self.clustered} does not fit {self.total} tokens")

    @property
    def start(self) -> int:
        return self.sink

    @property
    def end(self) -> int:
        return self.sink + self.clustered

    @property
    def window(self) -> int:
        return self.total - self.end


def prefill_layout(n: int, sink: int = SINK, interval: int = INTERVAL) -> Layout:
    """The layout after a prefill of ``n`` tokens: :math:`(\\lfloor (n-\\text{sink})/I\\rfloor - 1)\\,I` clustered."""
    if interval < 1 or sink < 0:
        raise ValueError(f"interval must be ≥ 1 and sink ≥ 0, got interval={interval}, sink={sink}")
    blocks = max(0, (n - sink) // interval - 1) if n > sink else 0
    return Layout(min(sink, n), blocks * interval, n)


def tokens_to_fold(layout: Layout, interval: int = INTERVAL) -> int:
    """How many of the oldest window tokens the online update folds in now: ``I`` once the window is ``2I``."""
    return interval if layout.window >= 2 * interval else 0


def n_centroids(tokens: int, fraction: float = CENTROID_FRACTION) -> int:
    """Centroids for ``tokens`` clustered keys: ``round(fraction · tokens)``, at least 1 when tokens > 0."""
    return 0 if tokens == 0 else max(1, int(round(fraction * tokens)))
