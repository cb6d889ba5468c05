"""Figures of the PDE pre-training chapter (``book/pde_pretraining.md``)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

LABEL = {"data": "Data", "pde": "PDE", "hybrid": "Hybrid", "hybrid-wide": "Hybrid (wide residual)",
         "scratch": "from scratch"}


def _band(ax, x, rows, label):
    m = rows.mean(0)
    s = rows.std(0, ddof=1) / np.sqrt(rows.shape[0]) if rows.shape[0] > 1 else np.zeros_like(m)
    ax.errorbar(x, m, yerr=2 * s, marker="o", capsize=3, label=label)


def few_shot_curves(poisson: dict, helmholtz: dict):
    """Relative L2 against N for each variant, ±2 standard errors over seeds."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=False)
    for ax, fs, title in ((axes[0], poisson, "Poisson, e ∈ [5, 10]"), (axes[1], helmholtz, "Helmholtz")):
        for v, rows in fs["error"].items():
            _band(ax, fs["shots"], rows, LABEL[v])
        ax.set_xscale("log", base=2)
        ax.set_xlabel("fine-tuning samples N")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("relative L2 error")
    axes[1].legend(fontsize=9)
    fig.tight_layout()
    return fig


def noise_bars(nz: dict):
    fig, ax = plt.subplots(figsize=(5, 3.4))
    variants = list(nz["clean"])
    x = np.arange(len(variants))
    for off, key, lab in ((-0.2, "clean", "clean labels"), (0.2, "noisy", f"{100 * nz['level']:.0f}% noise")):
        vals = np.array([nz[key][v] for v in variants])
        ax.bar(x + off, vals.mean(1), 0.4, yerr=vals.std(1, ddof=1) if vals.shape[1] > 1 else None, capsize=3, label=lab)
    ax.set_xticks(x, [LABEL[v] for v in variants])
    ax.set_ylabel("relative L2 error")
    ax.set_title(f"fine-tuning on N={nz['shots']} samples")
    ax.legend(fontsize=9)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig


def sample_fields(s: dict):
    keys = list(s["pred"])
    fig, axes = plt.subplots(1, 2 + len(keys), figsize=(2.4 * (2 + len(keys)), 2.7))
    lim = np.abs(s["u"]).max()
    axes[0].imshow(s["f"], cmap="viridis", origin="lower")
    axes[0].set_title("source f")
    axes[1].imshow(s["u"], cmap="RdBu_r", vmin=-lim, vmax=lim, origin="lower")
    axes[1].set_title("true u")
    for ax, k in zip(axes[2:], keys):
        ax.imshow(s["pred"][k], cmap="RdBu_r", vmin=-lim, vmax=lim, origin="lower")
        ax.set_title(LABEL[k], fontsize=10)
    for ax in axes:
        ax.set_xticks([]), ax.set_yticks([])
    fig.tight_layout()
    return fig


def lambda_choice(lc: dict):
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot(lc["lambdas"], lc["val_error"], "o-")
    ax.set_xscale("log")
    ax.set_xlabel("λ")
    ax.set_ylabel("validation error (in distribution)")
    ax.axvline(lc["chosen"], color="k", ls=":", lw=1)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
