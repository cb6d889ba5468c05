"""Figures of the forking-sequences chapter (``book/forking_sequences.md``).

Each function takes what :mod:`lab.forking_sequences.experiments` returns and draws it; the
chapter only calls them.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .summary import LABELS

SCHEME_COLOR = {"window": "C0", "forking": "C1", "forking + ensemble": "C2"}


def fan(example: dict):
    """Median forecasts of one series from each test FCD: raw forking (left), causal mean ensemble (right)."""
    y, first, H = example["series"], example["first_fcd"], example["horizon"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
    start = max(0, first - 2 * H)
    t = np.arange(len(y))
    cmap = plt.get_cmap("viridis")
    for ax, key, title in zip(axes, ("raw", "ens"), ("forking, raw", "forking, causal mean ensemble")):
        ax.plot(t[start:], y[start:], "k.-", lw=1, label="data")
        for k in range(H):
            fcd = first + H - 1 + k  # first test FCD is first + H - 1
            ax.plot(np.arange(fcd, fcd + H), example[key][k], color=cmap(k / max(H - 1, 1)), lw=1.2,
                    label="P50 from each test FCD (early → late)" if k == 0 else None)
        ax.axvline(first + H - 1 - 0.5, color="grey", ls=":", lw=1)
        ax.set(title=f"{title} ({LABELS[example['arch']]}, {example['dataset']})", xlabel="time step")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("value")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def metric_bars(grid: dict):
    """sFPC (left) and sCRPS (right) per architecture, relative to window sampling.

    Bars: mean over datasets and seeds of ``metric / metric_window``; dots: one per dataset.
    """
    names = list(grid["metrics"])
    archs = list(grid["metrics"][names[0]])
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    variants = {"window": ("window", "raw"), "forking": ("forking", "raw"), "forking + ensemble": ("forking", "ens")}
    width = 0.27
    for ax, metric, label in zip(axes, ("sfpc", "scrps"), ("sFPC", "sCRPS")):
        for j, (vname, (scheme, tag)) in enumerate(variants.items()):
            rel = np.array([[np.mean(grid["metrics"][n][a][scheme][tag][metric]) /
                             np.mean(grid["metrics"][n][a]["window"]["raw"][metric]) for n in names] for a in archs])
            x = np.arange(len(archs)) + (j - 1) * width
            ax.bar(x, rel.mean(1), width, color=SCHEME_COLOR[vname], label=vname)
            ax.plot(np.repeat(x, len(names)), rel.ravel(), "k.", ms=3)
        ax.axhline(1, color="k", lw=0.8)
        ax.set_xticks(np.arange(len(archs)), [LABELS[a] for a in archs])
        ax.set(ylabel=f"{label} / {label} of window sampling", title=f"{label} (lower is better)")
        ax.grid(alpha=0.3, axis="y")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def grad_variance(gv: dict):
    """Gradient-variance ratio forking / window against the number of FCDs per block."""
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    F = np.array(gv["fcds"])
    for arch, r in gv["ratio"].items():
        ax.plot(F, r, "o-", label=LABELS[arch])
    ax.plot(F, 1 / F, "k--", lw=1, label="1/F (independent FCDs)")
    ax.set(xscale="log", yscale="log", xlabel="FCDs per forking block F",
           ylabel="tr Cov(g) forking / window", title="minibatch gradient variance at fixed θ")
    ax.set_xticks(F, [str(f) for f in F])
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def inference(times: dict, horizon: int):
    """Wall time of forecasting all H test FCDs: one pass against H passes."""
    archs = list(times)
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    x = np.arange(len(archs))
    ax.bar(x - 0.2, [1e3 * times[a]["windows_s"] for a in archs], 0.4, color="C0", label=f"H = {horizon} window passes")
    ax.bar(x + 0.2, [1e3 * times[a]["one_pass_s"] for a in archs], 0.4, color="C1", label="one forking pass")
    for xi, a in zip(x, archs):
        ax.annotate(f"{times[a]['speedup']:.1f}×", (xi, 1e3 * times[a]["windows_s"]), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, [LABELS[a] for a in archs])
    ax.set(ylabel="wall time (ms)", title="inference at all test FCDs")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def training_curves(grid: dict, dataset: str):
    """Training loss per step (smoothed) of both schemes for each architecture on one dataset."""
    losses = grid["losses"][dataset]
    fig, axes = plt.subplots(1, len(losses), figsize=(2.4 * len(losses), 2.8), sharey=True)
    axes = np.atleast_1d(axes)
    for ax, (arch, by_scheme) in zip(axes, losses.items()):
        for scheme, curve in by_scheme.items():
            curve = np.asarray(curve)
            k = max(1, len(curve) // 20)
            smooth = np.convolve(curve, np.ones(k) / k, mode="valid")
            ax.plot(smooth, color=SCHEME_COLOR[scheme], label=scheme)
        ax.set(title=LABELS[arch], xlabel="optimizer step")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("training quantile loss")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig
