"""The three geometric diagnostics of an embedding ``φ`` on scalar inputs (patch size 1).

- angle (locality): ``θ(x, y) = arccos(|φ(x)·φ(y)| / (‖φ(x)‖‖φ(y)‖))``;
- distance (scale): ``d(x, y) = ‖φ(x) - φ(y)‖ / (‖φ(x)‖ + ‖φ(y)‖)``;
- norm (offset): ``‖φ(x)‖`` against ``x``.

:func:`locality_slope` fits ``θ ≈ a|x - y|`` through the origin over pairs with
``0 < |x - y| ≤ max_gap``: the larger ``a``, the faster the angle opens with distance (the
more local attention on these embeddings can be). See ``book/tsfm_biases.md``.
"""
from __future__ import annotations

import numpy as np
import torch


@torch.no_grad()
def embed_scalars(model, x: np.ndarray) -> np.ndarray:
    """``φ(x)`` of scaled scalar inputs ``x [N]`` through a patch-1 model's embedding: ``[N, d]``."""
    if model.cfg.patch != 1:
        raise ValueError(f"the scalar diagnostics need patch size 1, the model has {model.cfg.patch}")
    dev = next(model.parameters()).device
    v = torch.as_tensor(x, dtype=torch.float32)[:, None].to(dev)
    return model.embed.embed_values(v).double().cpu().numpy()


def diagnostics(E: np.ndarray) -> dict:
    """``θ``, ``d`` (``[N, N]``) and ``‖φ‖`` (``[N]``) of embeddings ``E [N, d]``."""
    norms = np.linalg.norm(E, axis=1)
    cos = np.abs(E @ E.T) / np.outer(norms, norms).clip(1e-12)
    theta = np.arccos(cos.clip(0.0, 1.0))
    dist = np.linalg.norm(E[:, None] - E[None], axis=-1) / (norms[:, None] + norms[None]).clip(1e-12)
    return dict(theta=theta, dist=dist, norm=norms)


def by_gap(x: np.ndarray, M: np.ndarray, gaps: np.ndarray) -> np.ndarray:
    """Mean of ``M[i, j]`` over pairs whose ``|x_i - x_j|`` rounds to each of ``gaps``."""
    g = np.abs(x[:, None] - x[None])
    step = gaps[1] - gaps[0] if len(gaps) > 1 else 1.0
    return np.array([M[np.abs(g - v) < step / 2].mean() for v in gaps])


def locality_slope(x: np.ndarray, theta: np.ndarray, max_gap: float = 1.0) -> float:
    """Least-squares ``a`` in ``θ ≈ a|x - y|`` over pairs with ``0 < |x - y| ≤ max_gap``."""
    g = np.abs(x[:, None] - x[None])
    keep = (g > 0) & (g <= max_gap + 1e-9)
    return float((g[keep] * theta[keep]).sum() / (g[keep] ** 2).sum())
