"""The model family: scaling → patch embedding → transformer → head, each knob a switch.

Direct decoding (Chronos-Bolt-like): the patch tokens and one learned forecast token go through
a bidirectional encoder; the forecast token's state maps through a ResidualBlock to all ``H``
steps at once. Autoregressive decoding (Chronos-like): a causal encoder predicts the next patch
from every prefix; a forecast appends its own prediction and repeats ``H/k`` times.

Per step the head emits ``Q`` quantiles (``loss="quantile"``), one mean (``"l2"``) or ``n_bins``
logits over the quantizer's bins (``"ce"``). All outputs live in the scaled space of the
context and are mapped back with its ``(loc, scale)``. See ``book/tsfm_biases.md``.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .config import TSFMConfig
from .embedding import ContinuousPatchEmbedding, QuantizedPatchEmbedding, ResidualBlock
from .patching import left_pad
from .scaling import Quantizer, context_stats
from .transformer import Encoder


def as_context(context, mask=None) -> torch.Tensor:
    """A float32 ``[B, C]`` tensor with NaN where missing; checks what the model cannot take.

    ``mask`` (1 observed, 0 missing) marks missing values explicitly; a NaN where ``mask`` says
    observed, an infinite value, or a row with no observed value raises ``ValueError``.
    """
    x = torch.as_tensor(np.asarray(context, dtype=np.float32) if not torch.is_tensor(context) else context)
    x = x.float()
    if x.dim() == 1:
        x = x[None]
    if x.dim() != 2:
        raise ValueError(f"context must be [C] or [B, C], got shape {tuple(x.shape)}")
    if torch.isinf(x).any():
        raise ValueError("context holds infinite values")
    if mask is not None:
        m = torch.as_tensor(mask).reshape(x.shape).bool()
        bad = torch.isnan(x) & m
        if bad.any():
            raise ValueError(f"context has {int(bad.sum())} NaN value(s) where the mask says observed")
        x = torch.where(m, x, torch.full_like(x, float("nan")))
    if (torch.isnan(x).all(dim=1)).any():
        raise ValueError("a context row has no observed value")
    return x


def sinusoidal_positions(n: int, d: int) -> torch.Tensor:
    """``[n, d]`` sin/cos table (frequencies ``n^(-2i/d)``), the learned positions' initial value.

    Tiny patch-1 models with small random positions did not learn to look up recent values in a
    few hundred steps; starting from this table they do.
    """
    pos = torch.arange(n, dtype=torch.float32)[:, None]
    ang = pos / n ** (torch.arange(0, d, 2, dtype=torch.float32) / d)
    pe = torch.zeros(n, d)
    pe[:, 0::2], pe[:, 1::2] = torch.sin(ang), torch.cos(ang[:, : d // 2])
    return pe


class TSFM(nn.Module):
    """One member of the family; ``cfg`` (:class:`~lab.tsfm.config.TSFMConfig`) picks every knob."""

    def __init__(self, cfg: TSFMConfig):
        super().__init__()
        self.cfg = cfg
        d, k = cfg.d_model, cfg.patch
        if cfg.embedding == "residual":
            self.embed = ContinuousPatchEmbedding(k, cfg.d_ff, d)
        else:
            self.embed = QuantizedPatchEmbedding(k, cfg.n_bins, cfg.bin_limit, d)
        self.quantizer = Quantizer(cfg.n_bins, cfg.bin_limit)
        self.n_out = {"quantile": len(cfg.quantiles), "l2": 1, "ce": cfg.n_bins}[cfg.loss]
        self.out_steps = cfg.horizon if cfg.decoding == "direct" else k
        n_tokens = cfg.n_patches + (1 if cfg.decoding == "direct" else cfg.horizon // k)
        self.pos = nn.Parameter(sinusoidal_positions(n_tokens, d))
        self.forecast_token = nn.Parameter(torch.randn(d) * 0.02) if cfg.decoding == "direct" else None
        self.encoder = Encoder(d, cfg.n_layers, cfg.n_heads, cfg.d_ff)
        self.head = ResidualBlock(d, cfg.d_ff, self.out_steps * self.n_out)
        self.register_buffer("taus", torch.tensor(cfg.quantiles, dtype=torch.float32), persistent=False)

    # ------------------------------------------------------------------ raw outputs (scaled space)
    def scale(self, x: torch.Tensor):
        """``(x̃, loc, scale)``: the context scaled by its own statistics."""
        loc, scale = context_stats(x, self.cfg.scaling)
        return (x - loc) / scale, loc, scale

    def outputs(self, xs: torch.Tensor) -> torch.Tensor:
        """Head outputs from a scaled window.

        Direct: ``xs [B, C]`` → ``[B, H, n_out]``. Autoregressive: ``xs [B, L]`` with ``L`` a
        multiple of k → ``[B, L/k, k, n_out]``, entry ``j`` predicting patch ``j + 1``.
        """
        tokens = self.embed(xs)
        B, n, _ = tokens.shape
        if self.cfg.decoding == "direct":
            h = torch.cat([tokens, self.forecast_token.expand(B, 1, -1)], dim=1) + self.pos[: n + 1]
            out = self.head(self.encoder(h)[:, -1])
            return out.view(B, self.cfg.horizon, self.n_out)
        h = self.encoder(tokens + self.pos[:n], causal=True)
        return self.head(h).view(B, n, self.cfg.patch, self.n_out)

    def point_from(self, out: torch.Tensor, point: str, generator=None) -> torch.Tensor:
        """A point value per step from head outputs ``[..., n_out]`` (scaled space)."""
        if self.cfg.loss == "l2":
            return out[..., 0]
        if self.cfg.loss == "quantile":
            taus = self.taus.tolist()
            if point in ("median", "mode", "sample"):
                return out[..., int(np.argmin([abs(t - 0.5) for t in taus]))]
            if point == "mean":
                return out.mean(-1)
            raise ValueError(f"unknown point {point!r}; choose from median, mean, mode, sample")
        centers = self.quantizer.centers.to(out)
        p = out.softmax(-1)
        if point == "mode":
            return centers[out.argmax(-1)]
        if point == "mean":
            return p @ centers
        if point == "median":
            return centers[(p.cumsum(-1) < 0.5).sum(-1).clamp_max(len(centers) - 1)]
        if point == "sample":
            flat = p.reshape(-1, p.shape[-1])
            return centers[torch.multinomial(flat, 1, generator=generator).view(p.shape[:-1])]
        raise ValueError(f"unknown point {point!r}; choose from median, mean, mode, sample")

    def quantiles_from(self, out: torch.Tensor) -> torch.Tensor:
        """``[..., Q]`` quantiles per step from head outputs (scaled space)."""
        if self.cfg.loss == "quantile":
            return out
        if self.cfg.loss == "l2":  # a point forecast has no spread: every level is the mean
            return out.expand(*out.shape[:-1], len(self.cfg.quantiles))
        cdf = out.softmax(-1).cumsum(-1)
        centers = self.quantizer.centers.to(out)
        idx = (cdf[..., None, :] < self.taus[:, None]).sum(-1).clamp_max(len(centers) - 1)
        return centers[idx]

    # ------------------------------------------------------------------ forecasts (original units)
    @torch.no_grad()
    def _rollout(self, xs: torch.Tensor, point: str, generator=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Autoregressive decoding: ``(points [B, H], outputs [B, H, n_out])`` in scaled space."""
        k, steps = self.cfg.patch, self.cfg.horizon // self.cfg.patch
        window, pts, outs = xs, [], []
        for _ in range(steps):
            out = self.outputs(window)[:, -1]  # [B, k, n_out]: the next patch
            nxt = self.point_from(out, point, generator)
            pts.append(nxt)
            outs.append(out)
            window = torch.cat([window, nxt], dim=1)
        return torch.cat(pts, dim=1), torch.cat(outs, dim=1)

    def _prepare(self, context, mask):
        x = as_context(context, mask)
        if x.shape[-1] < self.cfg.patch:
            raise ValueError(f"context of length {x.shape[-1]} is shorter than one patch ({self.cfg.patch})")
        return self.scale(left_pad(x, self.cfg.context).to(self.device))

    @property
    def device(self) -> torch.device:
        """Where the model's weights live (``lab.tsfm.train(..., device=...)`` puts them there)."""
        return self.pos.device

    #: contexts per forward pass on a GPU (a CPU forecast runs the whole batch in one pass, as always)
    cuda_chunk = 8192

    def _chunks(self, n: int):
        keeps = any(b.keep_weights for b in self.encoder.blocks)  # attention read back: one pass
        step = max(n, 1) if self.device.type == "cpu" or keeps else max(1, self.cuda_chunk)
        return [slice(i, i + step) for i in range(0, max(n, 1), step)]

    @torch.no_grad()
    def predict_quantiles(self, context, mask=None) -> torch.Tensor:
        """Quantile forecasts ``[B, H, Q]`` at ``cfg.quantiles`` in the context's units, on the CPU.

        ``context``: ``[B, C]`` or ``[C]`` (numpy or torch; NaN = missing; a context shorter than
        ``cfg.context`` is left-padded with NaN, a longer one keeps its last ``cfg.context``
        values). Autoregressive models feed back their median (quantile head), mean (L2) or
        mode (CE) and report each step's quantiles. A model on a GPU runs there (in chunks of
        :attr:`cuda_chunk` contexts) and hands back a CPU tensor.
        """
        self.eval()
        xs_all, loc_all, scale_all = self._prepare(context, mask)
        parts = []
        for sl in self._chunks(xs_all.shape[0]):
            xs, loc, scale = xs_all[sl], loc_all[sl], scale_all[sl]
            if self.cfg.decoding == "direct":
                out = self.outputs(xs)
            else:
                _, out = self._rollout(xs, "median" if self.cfg.loss != "l2" else "mean")
            q = self.quantiles_from(out)
            q, _ = q.sort(dim=-1)  # crossing quantiles are reordered, as Chronos-Bolt does
            parts.append((q * scale[..., None] + loc[..., None]).cpu())
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    @torch.no_grad()
    def forecast(self, context, mask=None, point: str = "median", seed: int | None = None) -> torch.Tensor:
        """A point forecast ``[B, H]`` on the CPU: ``"median"``, ``"mean"``, ``"mode"`` (CE's argmax) or ``"sample"``.

        ``seed`` seeds a generator on the model's device (``"sample"`` draws with it).
        """
        self.eval()
        xs_all, loc_all, scale_all = self._prepare(context, mask)
        gen = torch.Generator(device=self.device).manual_seed(seed) if seed is not None else None
        parts = []
        for sl in self._chunks(xs_all.shape[0]):
            xs, loc, scale = xs_all[sl], loc_all[sl], scale_all[sl]
            if self.cfg.decoding == "direct":
                pts = self.point_from(self.outputs(xs), point, gen)
            else:
                pts, _ = self._rollout(xs, point, gen)
            parts.append((pts * scale + loc).cpu())
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def build_model(cfg: TSFMConfig, seed: int | None = None, device=None) -> TSFM:
    """An untrained model of configuration ``cfg``, initialised on the CPU from ``seed`` (default
    ``cfg.seed``), then moved to ``device`` (default: stays on the CPU), so every device starts
    from the same weights."""
    torch.manual_seed(cfg.seed if seed is None else seed)
    model = TSFM(cfg)
    return model if device is None else model.to(device)
