"""Figures of ``book/xquant.md``."""
from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.ticker import FormatStrFormatter
import numpy as np

_STYLE = {"kivi": ("o", "C0"), "xquant": ("s", "C1"), "cl-pre": ("^", "C2"), "cl-post": ("v", "C4"),
          "latent-ch": ("D", "C3"), "latent-tok": ("d", "C5")}


def pareto(grids: dict[str, list[dict]], title_extra: str = ""):
    """Relative ΔPPL (%) against memory (relative to FP16 KV), one panel per model.

    The y axis is symmetric-log, linear within ±0.1%, so that changes at the noise level
    (which can be negative) stay visible next to large ones.
    """
    fig, axes = plt.subplots(1, len(grids), figsize=(5 * len(grids), 4), squeeze=False)
    for ax, (model, rows) in zip(axes[0], grids.items()):
        base = next(r["ppl"] for r in rows if r["family"] == "fp16")
        for family, (marker, color) in _STYLE.items():
            pts = sorted((r["memory"], 100 * r["dppl"] / base, r["bits"]) for r in rows if r["family"] == family)
            if not pts:
                continue
            mem, dppl, bits = zip(*pts)
            ax.plot(mem, dppl, marker=marker, color=color, label=next(r["method"] for r in rows if r["family"] == family).rsplit("-", 1)[0])
            for m_, p_, b_ in pts:
                ax.annotate(f"{b_}", (m_, p_), textcoords="offset points", xytext=(3, 3), fontsize=7, color=color)
        ax.set_xscale("log")
        mems = [r["memory"] for r in rows if r["family"] != "fp16"]
        ticks = [t for t in (0.07, 0.1, 0.14, 0.2, 0.27, 0.4, 0.53, 0.75, 1.0) if min(mems) / 1.15 <= t <= max(mems) * 1.15]
        ax.set_xticks(ticks, minor=False)
        ax.set_xticks([], minor=True)
        ax.xaxis.set_major_formatter(FormatStrFormatter("%.2g"))
        ax.set_yscale("symlog", linthresh=0.1)
        lowest = min(100 * r["dppl"] / base for r in rows)
        ax.set_ylim(bottom=min(-0.2, 2 * lowest))
        ax.axhline(0, color="gray", lw=0.8)
        ax.set_xlabel("memory relative to the FP16 KV cache")
        ax.set_ylabel("perplexity increase over FP16 (%)")
        ax.set_title(f"{model}{title_extra}")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def layers(sim: dict[str, dict]):
    """Left: consecutive-layer cosine similarity; middle: relative delta size; right: channel max-abs of K vs X."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    for i, (model, s) in enumerate(sim.items()):
        c = f"C{i}"
        ell = np.arange(1, len(s["cos_pre"]) + 1)
        axes[0].plot(ell, s["cos_pre"], "-o", color=c, label=f"{model}: residual stream (pre-norm)")
        axes[0].plot(ell, s["cos_post"], "--s", color=c, label=f"{model}: normalised X (post-norm)")
        axes[1].plot(ell, s["delta_pre"], "-o", color=c, label=f"{model} pre-norm")
        axes[1].plot(ell, s["delta_post"], "--s", color=c, label=f"{model} post-norm")
        k = np.sort(np.asarray(s["chan_k"][-1]))[::-1]
        x = np.sort(np.asarray(s["chan_x"][-1]))[::-1]
        axes[2].plot(np.arange(len(k)) / len(k), k, "-", color=c, label=f"{model}: K")
        axes[2].plot(np.arange(len(x)) / len(x), x, ":", color=c, label=f"{model}: X")
    axes[0].set(xlabel="layer ℓ (compared with ℓ−1)", ylabel="mean cosine similarity", title="X across layers")
    axes[1].set(xlabel="layer ℓ", ylabel="‖X(ℓ) − X(ℓ−1)‖ / ‖X(ℓ)‖", title="size of the cross-layer delta")
    axes[2].set(xlabel="channel rank (fraction)", ylabel="max |value| / median channel", title="channel outliers, last layer",
                yscale="log")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    fig.tight_layout()
    return fig


def delta_histogram(sim: dict):
    """Residual-stream values of a layer against its delta to the previous layer."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    x, d = np.asarray(sim["x_sample"]), np.asarray(sim["delta_sample"])
    bins = np.linspace(-np.percentile(np.abs(x), 99.5), np.percentile(np.abs(x), 99.5), 80)
    ax.hist(x, bins=bins, alpha=0.6, label="X(1), residual stream", density=True)
    ax.hist(d, bins=bins, alpha=0.6, label="Δ(1) = X(1) − X(0)", density=True)
    ax.set(xlabel="value", ylabel="density", title="values to quantize: X against its delta")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def bench(rows: list[dict]):
    """Decode-step time and bytes: rebuilt from packed X vs an FP16 KV cache."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    L = [r["context"] for r in rows]
    axes[0].plot(L, [r["kv_ms"] for r in rows], "-o", label="FP16 KV cache")
    axes[0].plot(L, [r["remat_ms"] for r in rows], "-s", label="rebuild K,V from X + attention")
    axes[0].plot(L, [r["remat_only_ms"] for r in rows], ":s", label="rebuild only")
    axes[1].plot(L, [r["kv_bytes"] / 2**20 for r in rows], "-o", label="FP16 KV read")
    axes[1].plot(L, [r["x_bytes"] / 2**20 for r in rows], "-s", label="packed X + W read")
    for ax, ylabel in zip(axes, ("time per decode step (ms)", "MiB moved")):
        ax.set(xscale="log", yscale="log", xlabel="context length (tokens)", ylabel=ylabel)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
