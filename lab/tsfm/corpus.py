"""Training corpora: named collections of 1-d series that windows are cut from.

A :class:`Corpus` has a ``name`` and a content hash (its ``key``), which is what the model cache
hashes, so two corpora with the same series share trained models and any change retrains.
:func:`synthetic_corpus` draws the families of :mod:`lab.tsfm.synthetic`; :func:`real_corpus`
takes the training parts of datasets in :mod:`lab.data` (M1, M3, Tourism, M4 hourly/weekly).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from . import synthetic

FAMILIES = ("kernel_synth", "mixed_frequency", "multi_scale", "multi_offset", "sine_spikes", "bimodal_walk", "lorenz")


@dataclass
class Corpus:
    """Named series (each a float array, any length) to sample training windows from."""

    name: str
    series: list = field(repr=False)

    def __post_init__(self):
        self.series = [np.asarray(s, dtype=np.float32).ravel() for s in self.series]
        if not self.series:
            raise ValueError(f"corpus {self.name!r} holds no series")
        bad = [i for i, s in enumerate(self.series) if np.isinf(s).any()]
        if bad:
            raise ValueError(f"corpus {self.name!r}: series {bad[:5]} hold infinite values")

    @property
    def key(self) -> str:
        h = hashlib.sha256(self.name.encode())
        for s in self.series:
            h.update(np.int64(len(s)).tobytes())
            h.update(s.tobytes())
        return h.hexdigest()[:16]

    def __len__(self) -> int:
        return len(self.series)

    def windows(self, rng: np.random.Generator, batch: int, length: int, min_target: int = 1) -> np.ndarray:
        """``batch`` windows ``[batch, length]`` at random series and ends (NaN-left-padded if short).

        Every window ends inside its series and holds at least ``min_target`` observed values
        at its end, so a series shorter than ``length`` contributes padded windows.
        """
        out = np.full((batch, length), np.nan, dtype=np.float32)
        idx = rng.integers(len(self.series), size=batch)
        for b, i in enumerate(idx):
            s = self.series[i]
            end = rng.integers(min(min_target + 1, len(s)), len(s) + 1) if len(s) < length else rng.integers(length, len(s) + 1)
            piece = s[max(0, end - length):end]
            out[b, length - len(piece):] = piece
        return out

    def __add__(self, other: "Corpus") -> "Corpus":
        return Corpus(f"{self.name}+{other.name}", self.series + other.series)


def synthetic_corpus(family: str, n: int, length: int, seed: int, **knobs) -> Corpus:
    """``n`` series of one family (see :mod:`lab.tsfm.synthetic`); random knobs drawn per series.

    ``multi_scale`` draws ratios log-uniform in [1, 40] and frequencies per series; ``multi_offset``
    gaps uniform in [0, 40]; ``bimodal_walk`` flip probabilities from ``knobs['p']`` (a list);
    ``sine_spikes`` uses ``knobs`` as given.
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; choose from {', '.join(FAMILIES)}")
    rng = np.random.default_rng(seed)
    if family == "kernel_synth":
        x = synthetic.kernel_synth(n, length, rng, **knobs)
    elif family == "mixed_frequency":
        x = synthetic.mixed_frequency(n, length, rng, **knobs)
    elif family == "multi_scale":
        rows = []
        for _ in range(n):
            r = float(np.exp(rng.uniform(0, np.log(40))))
            f_big, f_small = rng.uniform(0.01, 0.08), rng.uniform(0.1, 0.4)
            rows.append(synthetic.multi_scale(1, length, rng, r, f_big, f_small)[0][0])
        x = np.stack(rows)
    elif family == "multi_offset":
        rows = []
        for _ in range(n):
            g = rng.uniform(0, 40)
            rows.append(synthetic.multi_offset(1, length, rng, g, period=int(rng.integers(4, 17)),
                                               block=int(rng.integers(8, 33)))[0][0])
        x = np.stack(rows)
    elif family == "sine_spikes":
        x = synthetic.sine_spikes(n, length, rng, **knobs)[0]
    elif family == "bimodal_walk":
        ps = np.asarray(knobs.pop("p", (0.0, 0.1, 0.2, 0.3, 0.4)))
        x = synthetic.bimodal_walk(n, length, rng, rng.choice(ps, n), **knobs)
    else:
        x = synthetic.lorenz(n, length, rng, **knobs)
    return Corpus(f"{family}(n={n},L={length},seed={seed},{sorted(knobs.items())})", list(x))


def mixture(parts: dict, length: int, seed: int) -> Corpus:
    """One corpus from several families: ``parts = {family: n_series}``, each seeded from ``seed``."""
    corpus = None
    for j, (family, n) in enumerate(sorted(parts.items())):
        c = synthetic_corpus(family, n, length, seed * 100 + j)
        corpus = c if corpus is None else corpus + c
    return corpus


def real_corpus(names=("m4_hourly", "m4_weekly"), max_series: int | None = None, seed: int = 0) -> Corpus:
    """Training parts of datasets in :mod:`lab.data` (offline files under ``LAB_DATA_DIR``)."""
    from lab import data

    series = []
    for name in names:
        ds = data.load(name, download=False)
        series.extend(ds.train)
    if max_series is not None and len(series) > max_series:
        keep = np.random.default_rng(seed).choice(len(series), max_series, replace=False)
        series = [series[i] for i in sorted(keep)]
    return Corpus("real(" + ",".join(names) + f",max={max_series},seed={seed})", series)
