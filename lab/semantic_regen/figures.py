"""Figures of ``book/semantic_regen.md``."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

plt.rcParams.update({"font.size": 10})


def detection_bars(tr: dict, wm: dict):
    """TreeRing mean p (log scale, success threshold 0.05) and dwtDct bit accuracy (threshold 0.75)."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    names = list(tr["p"])
    means = [tr["p"][n].mean() for n in names]
    a.bar(range(len(names)), np.maximum(means, 1e-12), color="tab:blue")
    a.axhline(0.05, color="k", ls="--", lw=1, label="removed if p ≥ 0.05")
    a.set_yscale("log")
    a.set_xticks(range(len(names)), names, rotation=45, ha="right")
    a.set_ylabel("mean TreeRing p-value")
    a.set_title("TreeRing, Gaussian fixture")
    a.legend(loc="lower right", fontsize=9)
    names = list(wm["acc"])
    acc = np.array([wm["acc"][n] for n in names])
    b.bar(range(len(names)), acc.mean(1), yerr=acc.std(1) / np.sqrt(acc.shape[1]), color="tab:orange")
    b.axhline(0.75, color="k", ls="--", lw=1, label="removed if ≤ 0.75")
    b.axhline(0.5, color="gray", ls=":", lw=1, label="chance")
    b.set_xticks(range(len(names)), names, rotation=45, ha="right")
    b.set_ylabel("mean bit accuracy")
    b.set_ylim(0, 1)
    b.set_title("dwtDct, photo scenes")
    b.legend(loc="upper right", fontsize=9)
    fig.tight_layout()
    return fig


def quality_scatter(wm: dict):
    """Per image: mSSIM (white-filled background) against strict foreground SSIM, and full SSIM."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    for n in wm["mssim"]:
        if n == "none":
            continue
        a.scatter(wm["strict"][n], wm["mssim"][n], s=14, label=n)
        b.scatter(wm["ssim"][n], wm["mssim"][n], s=14, label=n)
    for ax, xl in ((a, "strict SSIM (foreground pixels only)"), (b, "full-image SSIM")):
        ax.plot([0, 1], [0, 1], color="gray", lw=0.8)
        ax.set_xlabel(xl)
        ax.set_ylabel("mSSIM (reference definition)")
        ax.set_xlim(0.2, 1.01)
        ax.set_ylim(0.8, 1.005)
    a.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def image_panel(panel: dict, tr_example: dict):
    """The first scene: original, repaint mask, each attack; then the fixture's example."""
    att = panel["attacked"]
    fig, axes = plt.subplots(2, 2 + len(att), figsize=(2.3 * (2 + len(att)), 5))
    row = axes[0]
    row[0].imshow(panel["original"])
    row[0].set_title("watermarked")
    row[1].imshow(panel["repaint"], cmap="gray")
    row[1].set_title("repaint mask")
    for ax, (n, y) in zip(row[2:], att.items()):
        ax.imshow(np.clip(y, 0, 1))
        ax.set_title(n, fontsize=9)
    row = axes[1]
    row[0].imshow(tr_example["x"], cmap="gray", vmin=-1, vmax=1)
    row[0].set_title("fixture sample")
    row[1].imshow(tr_example["repaint"], cmap="gray")
    row[1].set_title("repaint mask")
    for ax, (n, y) in zip(row[2:], tr_example["attacked"].items()):
        ax.imshow(y, cmap="gray", vmin=-1, vmax=1)
        ax.set_title(n, fontsize=9)
    for ax in axes.ravel():
        ax.axis("off")
    fig.tight_layout()
    return fig


def paste_back_curve(sweep: dict):
    """dwtDct bit accuracy after paste-back against the repainted fraction (mean ± se over photos)."""
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    acc = sweep["acc"]
    ax.errorbar(sweep["fractions"], acc.mean(0), yerr=acc.std(0) / np.sqrt(len(acc)), marker="o", capsize=3)
    ax.axhline(0.75, color="k", ls="--", lw=1, label="removed if ≤ 0.75")
    ax.axhline(0.5, color="gray", ls=":", lw=1, label="chance")
    ax.set_xlabel("repainted fraction of the image (paste-back)")
    ax.set_ylabel("mean bit accuracy")
    ax.set_ylim(0.3, 1.02)
    ax.legend(fontsize=9)
    fig.tight_layout()
    return fig


def learned_bars(ss: dict | None, dm: dict | None):
    """The learned models: the stand-in's bit accuracy per attack (threshold 0.75) and, when the
    trained DDPM ran, TreeRing-mini's mean p per attack (threshold 0.05)."""
    panels = [x for x in (ss, dm) if x is not None]
    fig, axes = plt.subplots(1, len(panels), figsize=(6.0 * len(panels), 4.2), squeeze=False)
    axes = list(axes[0])
    if ss is not None:
        b = axes.pop(0)
        names = list(ss["acc"])
        acc = np.array([ss["acc"][n] for n in names])
        b.bar(range(len(names)), acc.mean(1), yerr=acc.std(1) / np.sqrt(acc.shape[1]), color="tab:green")
        b.axhline(0.75, color="k", ls="--", lw=1, label="removed if ≤ 0.75")
        b.axhline(0.5, color="gray", ls=":", lw=1, label="chance")
        b.set_xticks(range(len(names)), names, rotation=45, ha="right")
        b.set_ylabel("mean bit accuracy")
        b.set_ylim(0, 1.02)
        b.set_title(f"StegaStamp stand-in, {ss['side']}² scenes")
        b.legend(loc="lower left", fontsize=9)
    if dm is not None:
        a = axes.pop(0)
        names = list(dm["p"])
        means = [dm["p"][n].mean() for n in names]
        a.bar(range(len(names)), np.maximum(means, 1e-12), color="tab:purple")
        a.axhline(0.05, color="k", ls="--", lw=1, label="removed if p ≥ 0.05")
        a.set_yscale("log")
        a.set_xticks(range(len(names)), names, rotation=45, ha="right")
        a.set_ylabel("mean TreeRing p-value")
        a.set_title("TreeRing-mini, trained DDPM")
        a.legend(loc="lower right", fontsize=9)
    fig.tight_layout(w_pad=2.5)
    return fig


def ddpm_panel(example: dict):
    """A watermarked sample of the trained DDPM, its repaint mask and three attacks."""
    att = example["attacked"]
    fig, axes = plt.subplots(1, 2 + len(att), figsize=(2.3 * (2 + len(att)), 2.8))
    axes[0].imshow(example["x"], cmap="gray", vmin=-1, vmax=1)
    axes[0].set_title("DDPM sample", fontsize=10)
    axes[1].imshow(example["repaint"], cmap="gray")
    axes[1].set_title("repaint mask", fontsize=10)
    for ax, (n, y) in zip(axes[2:], att.items()):
        ax.imshow(y, cmap="gray", vmin=-1, vmax=1)
        ax.set_title(n, fontsize=10)
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    return fig
