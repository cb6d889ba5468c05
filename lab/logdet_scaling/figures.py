"""Figures of ``book/logdet_scaling.md``; each takes an experiment's dict and returns the figure."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import NullFormatter

plt.rcParams.update({"font.size": 10})


def memory_and_time(mem: dict):
    rows = mem["rows"]
    nb = [r["num_blocks"] for r in rows]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.4))
    a.plot(nb, [r["seconds"] for r in rows], "o-", label="ours (memmap, out of core)")
    if mem["peer"]:
        a.plot(nb, [r["detkit_seconds"] for r in rows], "s--", label="detkit.memdet")
    a.axhline(mem["scipy_seconds"], color="k", ls=":", label="scipy.linalg.cholesky (in memory)")
    a.set(xscale="log", xlabel="number of blocks $n_b$", ylabel="time (s)", title=f"n = {mem['n']}, one thread")
    a.set_xticks(nb, [str(x) for x in nb])
    a.xaxis.set_minor_formatter(NullFormatter())
    a.legend(fontsize=9)
    peak_mb = [r["peak_bytes"] / 1e6 for r in rows]
    bound_mb = [6 * r["block_size"] ** 2 * 8 / 1e6 for r in rows]
    b.plot(nb, peak_mb, "o-", label="traced peak")
    b.plot(nb, bound_mb, "k--", label="$6\\,b^2\\beta$")
    b.plot(nb, [r["block_size"] ** 2 * 8 / 1e6 for r in rows], "k:", label="one block $b^2\\beta$")
    b.set(xscale="log", yscale="log", xlabel="number of blocks $n_b$", ylabel="memory (MB)", title="working memory")
    b.set_xticks(nb, [str(x) for x in nb])
    b.xaxis.set_minor_formatter(NullFormatter())
    b.legend(fontsize=9)
    fig.tight_layout()
    return fig


def ratio_power_laws(panels: dict):
    """``panels``: title → a ``_ratio_fit`` dict. Single ratios grey, bin means blue, fit black."""
    fig, axes = plt.subplots(1, len(panels), figsize=(3.3 * len(panels), 3.2))
    for ax, (title, f) in zip(np.atleast_1d(axes), panels.items()):
        ax.plot(np.log(f["k"]), f["log_ratio"], ".", color="0.75", ms=2, label="single $k$")
        ax.plot(f["bin_log_k"], f["bin_log_ratio"], "o", ms=4, label="bin means (tail)")
        x = np.array([f["bin_log_k"].min(), f["bin_log_k"].max()])
        ax.plot(x, f["intercept"] - f["nu"] * x, "k-", label=f"ν = {f['nu']:.2f}, R² = {f['r2']:.2f}")
        ax.set(xlabel="log k", ylabel="log det ratio  $\\ell_k-\\ell_{k-1}$", title=title)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def extrapolation(ell: np.ndarray, fits: dict, title: str):
    """``ℓ_k`` against ``k`` with FLODANCE curves; ``fits``: label → (window, callable)."""
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    k = np.arange(1, len(ell) + 1)
    ax.plot(k, ell, "k-", lw=2, label="exact $\\ell_k$")
    for label, ((n0, ns), f) in fits.items():
        kk = k[k >= n0]  # the x^−i terms are not meant for x below the window
        line, = ax.plot(kk, f(kk), "--", label=label)
        ax.axvspan(n0, ns, color=line.get_color(), alpha=0.08)
    pad = 0.15 * np.ptp(ell)
    ax.set_ylim(ell.min() - pad, ell.max() + pad)
    ax.set(xlabel="leading points k", ylabel="$\\ell_k$ = log det of leading block", title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def heatmap(h: dict):
    err = 100 * h["err"]
    fig, axes = plt.subplots(1, len(h["q"]), figsize=(3.6 * len(h["q"]) + 1.0, 3.4), squeeze=False,
                             layout="constrained")
    vmin, vmax = np.log10(np.nanmin(err) + 1e-6), np.log10(np.nanmax(err))
    for ax, q, e in zip(axes[0], h["q"], err):
        im = ax.imshow(np.log10(e), origin="lower", cmap="viridis", vmin=vmin, vmax=vmax, aspect="auto")
        for (i, j), v in np.ndenumerate(e):
            if np.isfinite(v):
                ax.text(j, i, f"{v:.2g}", ha="center", va="center", fontsize=8,
                        color="w" if np.log10(v) < (vmin + vmax) / 2 else "k")
        ax.set_xticks(range(len(h["ns"])), [str(x) for x in h["ns"]])
        ax.set_yticks(range(len(h["n0"])), [str(x) for x in h["n0"]])
        ax.set(xlabel="$n_s$ (window end)", title=f"q = {q}")
    axes[0, 0].set_ylabel("$n_0$ (window start)")
    fig.colorbar(im, ax=axes[0].tolist(), label="log10 relative error (%)")
    return fig


def baselines(nt: dict):
    names = [(f"FLODANCE ({k.replace('-q', ', q=').replace('-', ', ')})", v) for k, v in nt["flodance"].items()]
    names += [("SLQ (ours)", nt["slq"]), ("SLQ (imate)", nt["imate"]), ("block-diagonal", nt["block_diag"]),
              ("formed in fp16", nt["fp16"]), ("formed in fp32", nt["fp32"])]
    fig, ax = plt.subplots(figsize=(8, 3.8))
    for i, (label, v) in enumerate(names):
        v = 100 * np.asarray(v, dtype=float)
        if np.all(np.isnan(v)):
            continue
        ax.bar(i, np.nanmean(v), color="C0" if label.startswith("FLODANCE") else "C1", alpha=0.7)
        ax.plot(np.full(len(v), i), v, "k.", ms=5)
    ax.set_xticks(range(len(names)), [n for n, _ in names], rotation=30, ha="right")
    ax.set(yscale="log", ylabel="relative error of log det (%)",
           title=f"digits MLP NTK, m = {nt['m']} ({len(nt['exact'])} networks; dots: each network)")
    fig.tight_layout()
    return fig
