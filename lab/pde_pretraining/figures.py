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


SYSTEM_LABEL = {"poisson": "Poisson", "advdiff": "adv.–diff.", "helmholtz": "Helmholtz"}


def _heat(ax, M, systems, title, cmap, fmt, center=None):
    lim = None if center is None else max(abs(M).max(), 1e-12)
    im = ax.imshow(M, cmap=cmap, vmin=None if lim is None else -lim, vmax=lim)
    labels = [SYSTEM_LABEL.get(s, s) for s in systems]
    ax.set_xticks(range(len(systems)), labels, fontsize=9)
    ax.set_yticks(range(len(systems)), labels, fontsize=9)
    ax.set_xlabel("tested on")
    ax.set_title(title, fontsize=10)
    lo_v, hi_v = float(M.min()), float(M.max())
    span = max(hi_v - lo_v, 1e-12)
    for i in range(M.shape[0]):
        for j in range(M.shape[1]):
            if center is None:  # viridis is dark at its low end
                dark = (M[i, j] - lo_v) / span < 0.5
            else:  # a diverging map is dark at both ends
                dark = abs(M[i, j]) > 0.6 * lim
            ax.text(j, i, format(M[i, j], fmt), ha="center", va="center", fontsize=9,
                    color="white" if dark else "black")
    return im


def benchmark_matrix(mx: dict):
    """The 3×3 benchmark matrix as heat-maps (means over seeds): Hybrid's zero-shot and few-shot
    errors, and the few-shot gap Data − Hybrid (positive: the residual helped)."""
    systems = mx["systems"]
    zero_h = mx["zero_shot"]["hybrid"].mean(0)
    few_h = mx["few_shot"]["hybrid"].mean(0)
    gap = (mx["few_shot"]["data"] - mx["few_shot"]["hybrid"]).mean(0)
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.8))
    for ax, M, title, cmap, fmt, c in (
            (axes[0], zero_h, "Hybrid, zero-shot error", "viridis", ".2f", None),
            (axes[1], few_h, f"Hybrid, few-shot error (N={mx['shots']})", "viridis", ".2f", None),
            (axes[2], gap, "Data − Hybrid, few-shot", "RdBu", "+.3f", 0.0)):
        im = _heat(ax, M, systems, title, cmap, fmt, c)
        fig.colorbar(im, ax=ax, shrink=0.8)
    axes[0].set_ylabel("pre-trained on")
    fig.tight_layout()
    return fig


def dirichlet_gap(pre: dict, dr: dict):
    """Zero-shot error at shifted e per variant, periodic against Dirichlet (±2 se over seeds)."""
    variants = ["data", "pde", "hybrid"]
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    x = np.arange(len(variants))
    for off, res, lab in ((-0.2, pre, "periodic (spectral residual)"), (0.2, dr, "Dirichlet (FD residual)")):
        vals = np.array([res[v]["ood"] for v in variants])
        se = vals.std(1, ddof=1) / np.sqrt(vals.shape[1]) if vals.shape[1] > 1 else None
        ax.bar(x + off, vals.mean(1), 0.4, yerr=None if se is None else 2 * se, capsize=3, label=lab)
    ax.set_xticks(x, [LABEL[v] for v in variants])
    ax.set_ylabel("zero-shot relative L2, e ∈ [5, 10]")
    ax.legend(fontsize=9)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig
