"""The chapter's experiments (a)–(e) on models of :mod:`lab.tsfm`, and Theorem 1 numerics.

The *mechanism grid* crosses embedding (quantized, continuous) with patch size (``cfg.patches``)
over ``n_seeds`` seeds; every model has the 9-quantile head, direct decoding and the same
scaling, so each comparison changes one knob. The *loss grid* trains L2, quantile and CE heads
on the bimodal periodic walk (patch = period, continuous embedding). Test sets are drawn from
seeds disjoint from training. See ``book/tsfm_biases.md``.
"""
from __future__ import annotations

import numpy as np
import torch

from lab import tsfm
from lab.tsfm import synthetic

from . import config, geometry, metrics, theory

EMBEDDINGS = ("quantized", "residual")
LOSSES = ("l2", "quantile", "ce")
POINT = {"l2": "mean", "quantile": "median", "ce": "mode"}  # each loss's natural point forecast


def device(cfg) -> str:
    """Where the models train and forecast: ``cfg.device`` with ``"auto"`` = CUDA when available."""
    return config.device(cfg)


def _rng(cfg, *tag) -> np.random.Generator:
    return np.random.default_rng([cfg.seed, 10_000, *tag])


# ------------------------------------------------------------------------------------- training


def mechanism_corpus(cfg) -> tsfm.Corpus:
    parts = {f: cfg.corpus_series for f in ("kernel_synth", "mixed_frequency", "multi_scale", "multi_offset", "sine_spikes")}
    corpus = tsfm.mixture(parts, cfg.corpus_length, cfg.seed)
    if cfg.real_series:
        corpus = corpus + tsfm.real_corpus(("m4_hourly", "m4_weekly"), max_series=cfg.real_series, seed=cfg.seed)
    return corpus


def model_config(cfg, embedding: str, patch: int, seed: int) -> tsfm.TSFMConfig:
    return tsfm.TSFMConfig(
        context=cfg.context, horizon=cfg.horizon, patch=patch, scaling=cfg.scaling, embedding=embedding,
        loss="quantile", decoding="direct", n_bins=cfg.n_bins, d_model=cfg.d_model, n_layers=cfg.n_layers,
        n_heads=cfg.n_heads, d_ff=cfg.d_ff, steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr, seed=seed)


def train_grid(cfg, show_progress: bool = True) -> dict:
    """``{(embedding, patch, seed): model}`` for the mechanism grid (cached by configuration)."""
    corpus = mechanism_corpus(cfg)
    dev = device(cfg)
    return {(e, k, s): tsfm.train(model_config(cfg, e, k, cfg.seed + s), corpus, show_progress=show_progress, device=dev)
            for e in EMBEDDINGS for k in cfg.patches for s in range(cfg.n_seeds)}


def walk_config(cfg, loss: str, seed: int) -> tsfm.TSFMConfig:
    return tsfm.TSFMConfig(
        context=cfg.walk_context, horizon=cfg.walk_period, patch=cfg.walk_period, scaling="mean",
        embedding="residual", loss=loss, decoding="direct", n_bins=cfg.n_bins, d_model=cfg.d_model,
        n_layers=cfg.n_layers, n_heads=cfg.n_heads, d_ff=cfg.d_ff, steps=cfg.walk_steps,
        batch_size=cfg.batch_size, lr=cfg.lr, seed=seed)


def train_walk_models(cfg, show_progress: bool = True) -> dict:
    corpus = tsfm.synthetic_corpus("bimodal_walk", cfg.walk_series, 2 * cfg.walk_context, cfg.seed,
                                   p=tuple(cfg.walk_p), period=cfg.walk_period)
    dev = device(cfg)
    return {(loss, s): tsfm.train(walk_config(cfg, loss, cfg.seed + s), corpus, show_progress=show_progress, device=dev)
            for loss in LOSSES for s in range(cfg.n_seeds)}


def throughput(models: dict) -> dict:
    """Samples per CPU second and per wall second of each trained model, by (embedding, patch)."""
    out = {}
    for (e, k, _), m in models.items():
        st = m.train_stats
        out.setdefault(f"{e}/k={k}", []).append((st["samples_per_cpu_s"], st["samples_per_s"], st["from_cache"]))
    return {key: dict(samples_per_cpu_s=float(np.mean([v[0] for v in vals])),
                      samples_per_s=float(np.mean([v[1] for v in vals])),
                      from_cache=all(v[2] for v in vals)) for key, vals in out.items()}


# ------------------------------------------------------------------------------------- Theorem 1


def theorem1(cfg) -> dict:
    widths = theory.stable_rank_vs_bandwidth(cfg.widths, k=cfg.theory_k, n=cfg.theory_n, seed=cfg.seed, draws=cfg.theory_draws)
    bands = theory.stable_rank_vs_bands(cfg.band_counts, k=cfg.theory_k, n=cfg.theory_n, seed=cfg.seed, draws=cfg.theory_draws)
    fits = {name: theory.linear_fit(cfg.widths, widths[name]) for name in ("sr1", "sr2", "sr1_raw", "sr2_raw")}
    return dict(widths=widths, bands=bands, fits=fits)


# ------------------------------------------------------------------------------------- (a) spectral


def _split(x: np.ndarray, C: int):
    return x[:, :C], x[:, C:]


def spectral_experiment(cfg, models: dict) -> dict:
    """Error energy per band (low, mid, high) of median forecasts of mixed-frequency signals."""
    x = synthetic.mixed_frequency(cfg.n_test, cfg.context + cfg.horizon, _rng(cfg, 1))
    ctx, fut = _split(x, cfg.context)
    err = {}
    for (e, k, s), m in models.items():
        pred = m.forecast(ctx, point="median").numpy()
        err.setdefault((e, k), []).append(metrics.band_errors(pred, fut))
    return dict(errors={key: np.array(v) for key, v in err.items()}, bands=metrics.BAND_NAMES)


# ------------------------------------------------------------------------------------- (b) geometry


def geometry_experiment(cfg, models: dict, grid: np.ndarray | None = None) -> dict:
    """θ, d and ‖φ‖ on scalar inputs for the patch-1 models, trained and at initialisation."""
    x = np.linspace(-3, 3, 61) if grid is None else grid
    gaps = np.round(np.arange(0, 3.01, 0.1), 2)
    out = dict(x=x, gaps=gaps, slope={}, theta=[], dist=[], norm=[])
    for e in EMBEDDINGS:
        for trained in (True, False):
            slopes, th, di, no = [], [], [], []
            for s in range(cfg.n_seeds):
                m = models[(e, 1, s)] if trained else tsfm.build_model(model_config(cfg, e, 1, cfg.seed + s))
                D = geometry.diagnostics(geometry.embed_scalars(m, x))
                slopes.append(geometry.locality_slope(x, D["theta"]))
                th.append(geometry.by_gap(x, D["theta"], gaps))
                di.append(geometry.by_gap(x, D["dist"], gaps))
                no.append(D["norm"] / D["norm"].mean())
            key = (e, "trained" if trained else "init")
            out["slope"][key] = np.array(slopes)
            out.setdefault("curves", {})[key] = dict(theta=np.mean(th, 0), dist=np.mean(di, 0), norm=np.mean(no, 0))
    return out


# ------------------------------------------------------------------------------------- (c) small components


def small_component_experiment(cfg, models: dict) -> dict:
    """Relative error of the small-scale and the low-offset component, against ratio and gap.

    Multi-scale: large component at 2 cycles per horizon, small one at 6 (both whole cycles in
    ``H``); the error is projected on the small frequency. Multi-offset: a period-8 wave whose
    level alternates between 0 and the gap every 16 steps; RMSE on the steps at 0. Each is
    divided by its value at ratio (gap) 1 — the paper's normalisation. Phases are shared across
    ratios, so only the ratio changes.
    """
    H, C, L = cfg.horizon, cfg.context, cfg.context + cfg.horizon
    f_big, f_small = 2 / H, 6 / H
    scale_err, offset_err = {}, {}
    for (e, k, s), m in models.items():
        row_s, row_o = [], []
        for r in cfg.ratios:
            x, small = synthetic.multi_scale(cfg.n_test, L, _rng(cfg, 2), r, f_big, f_small)
            pred = m.forecast(x[:, :C], point="median").numpy()
            row_s.append(metrics.projection_error(pred, x[:, C:], small[:, C:], f_small))
        for g in cfg.gaps:
            x, low = synthetic.multi_offset(cfg.n_test, L, _rng(cfg, 3), g, period=8, block=16)
            pred = m.forecast(x[:, :C], point="median").numpy()
            row_o.append(metrics.masked_rmse(pred, x[:, C:], low[:, C:]))
        scale_err.setdefault((e, k), []).append(np.array(row_s) / row_s[0])
        offset_err.setdefault((e, k), []).append(np.array(row_o) / row_o[0])
    return dict(ratios=np.array(cfg.ratios), gaps=np.array(cfg.gaps),
                scale={k: np.array(v) for k, v in scale_err.items()},
                offset={k: np.array(v) for k, v in offset_err.items()})


# ------------------------------------------------------------------------------------- (d) regression to the mean


def walk_test(cfg, p: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    x = synthetic.bimodal_walk(n, cfg.walk_context + cfg.walk_period, _rng(cfg, 4, int(p * 1000)), p, period=cfg.walk_period)
    return x[:, :cfg.walk_context], x[:, cfg.walk_context:]


def closed_form_regression(cfg) -> dict:
    """Regression scores of the exact mean, median and mode of the walk's continuation, by p.

    The continuation of a context whose last period has pattern ``w`` is ``w`` (probability
    ``1 - p``) or ``1 - w`` (``p``) plus noise; ``closed_form_samples`` draws of it give the
    predictors of :func:`lab.tsfm_biases.metrics.closed_form_predictors`.
    """
    P = cfg.walk_period
    w = (np.arange(P) < P // 2).astype(float)
    scores = {loss: [] for loss in LOSSES}
    for p in cfg.walk_p:
        rng = _rng(cfg, 5, int(p * 1000))
        flip = rng.random((cfg.closed_form_samples, 1)) < p
        samples = np.where(flip, 1 - w, w) + 0.05 * rng.standard_normal((cfg.closed_form_samples, P))
        pred = metrics.closed_form_predictors(samples)
        for loss in LOSSES:
            scores[loss].append(metrics.regression_score(pred[loss]))
    return dict(p=np.array(cfg.walk_p), scores={k: np.array(v) for k, v in scores.items()},
                theory={"l2": np.minimum(cfg.walk_p, 1 - np.asarray(cfg.walk_p)), "quantile": np.zeros(len(cfg.walk_p)),
                        "ce": np.zeros(len(cfg.walk_p))})


def regression_experiment(cfg, walk_models: dict) -> dict:
    """Regression score by p of each loss's natural point forecast (mean, median, mode), per seed."""
    scores = {loss: np.zeros((cfg.n_seeds, len(cfg.walk_p))) for loss in LOSSES}
    for j, p in enumerate(cfg.walk_p):
        ctx, _ = walk_test(cfg, p, cfg.n_test)
        for (loss, s), m in walk_models.items():
            scores[loss][s, j] = metrics.regression_score(m.forecast(ctx, point=POINT[loss]).numpy())
    return dict(p=np.array(cfg.walk_p), scores=scores)


# ------------------------------------------------------------------------------------- (e) outliers


@torch.no_grad()
def spike_attention(model, ctx: np.ndarray, spikes: np.ndarray) -> float:
    """Attention the forecast token pays to spike tokens, over their share of tokens (1 = no preference).

    Last layer, averaged over heads and series; a token is a spike token when its patch holds a spike.
    """
    block = model.encoder.blocks[-1]
    block.keep_weights = True
    try:
        model.forecast(ctx)
        w = block.attn_weights[:, :, -1, :-1].mean(1).cpu().numpy()  # [B, tokens]: forecast token's row
    finally:
        block.keep_weights, block.attn_weights = False, None
    k = model.cfg.patch
    tok = spikes.reshape(len(spikes), -1, k).any(-1)
    keep = tok.any(1) & ~tok.all(1)
    ratio = (w[keep] * tok[keep]).sum(1) / tok[keep].mean(1)
    return float(ratio.mean())


def outlier_experiment(cfg, models: dict) -> dict:
    """MAE against the clean continuation of sine waves with spikes in the context, per variant."""
    L = cfg.context + cfg.horizon
    rng = _rng(cfg, 6)
    x, clean = synthetic.sine_spikes(cfg.n_test, L, rng, rate=cfg.spike_rate, height=cfg.spike_height)
    x[:, cfg.context:] = clean[:, cfg.context:]  # spikes only in the context: the target is the clean wave
    spikes = np.abs(x - clean)[:, :cfg.context] > 1.0
    x0 = clean.copy()
    mae, mae_clean, attn = {}, {}, {}
    for (e, k, s), m in models.items():
        mae.setdefault((e, k), []).append(float(np.abs(m.forecast(x[:, :cfg.context]).numpy() - clean[:, cfg.context:]).mean()))
        mae_clean.setdefault((e, k), []).append(float(np.abs(m.forecast(x0[:, :cfg.context]).numpy() - clean[:, cfg.context:]).mean()))
        attn.setdefault((e, k), []).append(spike_attention(m, x[:, :cfg.context], spikes))
    arr = lambda d: {k: np.array(v) for k, v in d.items()}  # noqa: E731
    return dict(mae=arr(mae), mae_clean=arr(mae_clean), attention=arr(attn), example=(x[0], clean[0]))


# ------------------------------------------------------------------------------------- attention


@torch.no_grad()
def attention_stats(model, ctx: np.ndarray) -> dict:
    """Entropy (nats) and mean token distance of the patch tokens' attention, all layers and heads.

    Rows are the patch tokens attending over patch tokens (the forecast token's column is left
    out and the rows renormalised). Low entropy and a short distance mean local, peaked attention.
    """
    blocks = model.encoder.blocks
    for b in blocks:
        b.keep_weights = True
    try:
        model.forecast(ctx)
        ent, dist = [], []
        for b in blocks:
            w = b.attn_weights[..., :-1, :-1].cpu()
            w = w / w.sum(-1, keepdim=True)
            n = w.shape[-1]
            ent.append(float(-(w * w.clamp_min(1e-12).log()).sum(-1).mean()))
            gap = (torch.arange(n)[:, None] - torch.arange(n)[None]).abs().float()
            dist.append(float((w * gap).sum(-1).mean()))
    finally:
        for b in blocks:
            b.keep_weights, b.attn_weights = False, None
    return dict(entropy=float(np.mean(ent)), distance=float(np.mean(dist)))


def attention_experiment(cfg, models: dict) -> dict:
    """:func:`attention_stats` on KernelSynth-style test series for every patch-1 model."""
    x = synthetic.kernel_synth(min(cfg.n_test, 64), cfg.context, _rng(cfg, 7))
    out = {}
    for (e, k, s), m in models.items():
        if k == min(cfg.patches):
            st = attention_stats(m, x)
            out.setdefault(e, {"entropy": [], "distance": []})
            out[e]["entropy"].append(st["entropy"])
            out[e]["distance"].append(st["distance"])
    return {e: {k: np.array(v) for k, v in d.items()} for e, d in out.items()}
