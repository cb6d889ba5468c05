"""Figures of ``book/copula_sample_paths.md`` (matplotlib, legible at page width)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

plt.rcParams.update({"font.size": 10})

COLORS = {"independent": "tab:gray", "autoregressive": "tab:red", "copula": "tab:blue",
          "direct quantiles": "k"}


def hundred_paths(bo: dict, window: int = 0, n_show: int = 100):
    """Three panels: independent, AR and copula paths of one held-out window, with the truth."""
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2), sharey=True)
    ctx, fut = bo["ctx"][window], bo["fut"][window]
    C, H = len(ctx), len(fut)
    tc, tf = np.arange(-min(C, 96), 0), np.arange(H)
    for ax, name in zip(axes, ("independent", "autoregressive", "copula")):
        p = bo["paths"][name][window][:n_show]
        ax.plot(tf, p.T, color=COLORS[name], alpha=0.12, lw=0.7)
        ax.plot(tc, ctx[-len(tc):], color="k", lw=1)
        ax.plot(tf, fut, color="orange", lw=1.5, label="truth")
        ax.set_title(f"{name} ({p.shape[0]} paths)")
        ax.set_xlabel("hours from forecast origin")
    axes[0].set_ylabel("value / mean |context|")
    axes[0].legend(loc="upper left", fontsize=9)
    fig.tight_layout()
    return fig


def crps_vs_h(bo: dict):
    fig, ax = plt.subplots(figsize=(6, 3.4))
    for name in ("independent", "copula", "autoregressive", "direct quantiles"):
        c = bo["scores"][name]["crps"]
        ax.plot(np.arange(1, c.shape[1] + 1), c.mean(0), label=name, color=COLORS[name],
                ls="--" if name == "direct quantiles" else "-")
    ax.set_xlabel("horizon h (hours)")
    ax.set_ylabel("mean CRPS (scaled)")
    ax.legend(fontsize=9)
    fig.tight_layout()
    return fig


def time_vs_n(bo: dict):
    t = bo["time_vs_n"]
    fig, ax = plt.subplots(figsize=(5, 3.4))
    ax.loglog(t["N"], t["copula"], "o-", color=COLORS["copula"], label="copula (1 pass)")
    ax.loglog(t["N"], t["ar_batched"], "s-", color=COLORS["autoregressive"], label="AR, batched over paths")
    ax.set_xlabel("paths N")
    ax.set_ylabel("CPU seconds (one thread)")
    ax.legend(fontsize=9)
    fig.tight_layout()
    return fig


def vs_vs_rho(bo: dict):
    sw = bo["rho_sweep"]
    r = np.array(list(sw))
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for ax, key, label in ((axes[0], "vs", "variogram score"), (axes[1], "agg", "aggregate CRPS")):
        ax.plot(r, [sw[x][key] for x in r], "o-", color=COLORS["copula"], label="copula, fixed ρ")
        ax.axhline(bo["scores"]["copula"][key].mean(), color=COLORS["copula"], ls=":", label="copula, ρ̂ per series")
        ax.axhline(bo["scores"]["autoregressive"][key].mean(), color=COLORS["autoregressive"], ls="--", label="AR")
        ax.set_xlabel("latent ρ")
        ax.set_ylabel(label)
    axes[0].legend(fontsize=9)
    fig.tight_layout()
    return fig


def oracle_corr(orc: dict):
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.1))
    Re, Rt = orc["R_exact"], orc["R_toeplitz"]
    for ax, M, t in ((axes[0], Re, "exact predictive R"), (axes[1], Rt, "Toeplitz φ^|h−h'|")):
        im = ax.imshow(M, vmin=0, vmax=1, cmap="viridis")
        ax.set_title(t)
        ax.set_xlabel("h'")
    axes[0].set_ylabel("h")
    fig.colorbar(im, ax=axes[:2], shrink=0.8)
    im = axes[2].imshow(Re - Rt, cmap="RdBu_r", vmin=-0.3, vmax=0.3)
    axes[2].set_title("exact − Toeplitz")
    fig.colorbar(im, ax=axes[2], shrink=0.8)
    return fig
