"""Independent, copula and autoregressive sample paths through one quantile model, with call counts.

``model`` is a :class:`lab.tsfm.TSFM` with a direct multi-step quantile head (or anything with
``predict_quantiles(context) -> [B, H, M]``, ``cfg.quantiles``, ``cfg.horizon``).

- **independent**: one forward pass, ``u_h`` i.i.d. (the copula at ρ = 0);
- **copula**: one forward pass, Toeplitz latent correlation with ρ per series;
- **autoregressive** (AR): commit ``p`` steps drawn from the model's marginals (independent
  ``u`` within the committed block), append them to the context, re-run; ``⌈H/p⌉`` sequential
  calls, each on ``B·N`` sequences when batched over paths (``N⌈H/p⌉`` calls on ``B`` sequences
  each when not): ``N⌈H/p⌉`` sequence evaluations per series either way.
"""
from __future__ import annotations

import math
import time

import numpy as np
import torch

from .copula import estimate_rho, latent_normals, sample_paths
from .iqf import inverse_quantile


class CountingModel:
    """Wraps a model; counts calls of ``predict_quantiles`` and the sequences they evaluate."""

    def __init__(self, model):
        self.model, self.calls, self.sequences = model, 0, 0

    @property
    def cfg(self):
        return self.model.cfg

    def predict_quantiles(self, context):
        x = torch.as_tensor(np.asarray(context, dtype=np.float32)) if not torch.is_tensor(context) else context
        x = x if x.dim() == 2 else x[None]
        self.calls += 1
        self.sequences += x.shape[0]
        return self.model.predict_quantiles(x).to(torch.float64)


def copula_paths(model: CountingModel, context, n_paths: int, *, rho=None, rho_method: str = "rank_gauss",
                 seed: int = 0, tail: str = "linear"):
    """One forward pass, then copula paths ``[B, N, H]``; ``rho=None`` estimates ρ per series."""
    q = model.predict_quantiles(context)
    r = torch.as_tensor(estimate_rho(np.asarray(context), rho_method) if rho is None else rho, dtype=torch.float64)
    return sample_paths(q, model.cfg.quantiles, n_paths, rho=r, seed=seed, tail=tail), q


def independent_paths(model: CountingModel, context, n_paths: int, *, seed: int = 0, tail: str = "linear"):
    """One forward pass, i.i.d. ``u_h``."""
    return copula_paths(model, context, n_paths, rho=0.0, seed=seed, tail=tail)


def ar_paths(model: CountingModel, context, n_paths: int, *, commit: int, horizon: int | None = None,
             seed: int = 0, batched: bool = True, tail: str = "linear") -> torch.Tensor:
    """Autoregressive paths ``[B, N, H]``: ``⌈H/p⌉`` rounds of (predict, draw p steps, append)."""
    if n_paths < 1:
        raise ValueError(f"the number of paths N must be ≥ 1, got {n_paths!r}")
    H = horizon or model.cfg.horizon
    if commit < 1 or commit > model.cfg.horizon:
        raise ValueError(f"steps committed per pass must be in 1..{model.cfg.horizon}, got {commit}")
    ctx = torch.as_tensor(np.asarray(context, dtype=np.float32))
    B = ctx.shape[0]
    levels = model.cfg.quantiles
    g = torch.Generator().manual_seed(int(seed))
    out = torch.empty(B, n_paths, H, dtype=torch.float64)
    rounds = math.ceil(H / commit)
    if batched:
        window = ctx[:, None, :].expand(B, n_paths, ctx.shape[1]).reshape(B * n_paths, -1)
        for r in range(rounds):
            k = min(commit, H - r * commit)
            q = model.predict_quantiles(window)[:, :k]  # [B·N, k, M]
            u = torch.rand(B * n_paths, k, 1, generator=g, dtype=torch.float64)
            draw = inverse_quantile(q, levels, u, tail=tail)[..., 0]  # [B·N, k]
            out[:, :, r * commit:r * commit + k] = draw.reshape(B, n_paths, k)
            window = torch.cat([window, draw.to(window.dtype)], dim=1)
    else:
        for i in range(n_paths):
            window = ctx
            for r in range(rounds):
                k = min(commit, H - r * commit)
                q = model.predict_quantiles(window)[:, :k]
                u = torch.rand(B, k, 1, generator=g, dtype=torch.float64)
                draw = inverse_quantile(q, levels, u, tail=tail)[..., 0]
                out[:, i, r * commit:r * commit + k] = draw
                window = torch.cat([window, draw.to(window.dtype)], dim=1)
    return out


def timed(fn, *args, **kw):
    """``(result, CPU seconds, wall seconds)`` of one call."""
    c0, w0 = time.process_time(), time.perf_counter()
    res = fn(*args, **kw)
    return res, time.process_time() - c0, time.perf_counter() - w0


__all__ = ["CountingModel", "copula_paths", "independent_paths", "ar_paths", "timed", "latent_normals"]
