"""Figures of the FLEX chapter (``book/flex.md``); each takes an experiment's result dict."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

LABEL = {"flex": "FLEX, residual target", "flex_raw": "FLEX, raw target", "no_transformer": "no Transformer",
         "no_weak": "no weak conditioning", "no_strong": "no strong conditioning", "unet": "U-Net", "uvit": "U-ViT"}
BASELINE = {"sr": "bicubic", "fc": "persistence"}
TASK = {"sr": "super-resolution", "fc": "forecasting"}


def _mean_std(rows):
    a = np.asarray(rows, dtype=float)
    return a.mean(0), (a.std(0, ddof=1) if a.shape[0] > 1 else np.zeros(a.shape[1:]))


def flow_snapshots(traj: dict, max_re: int = 4):
    """One stored vorticity snapshot per Reynolds number (colour range: 99.5th percentile of |ω|)."""
    w, re = traj["vorticity"], traj["reynolds"].tolist()
    k = min(len(re), max_re)
    fig, axes = plt.subplots(1, k, figsize=(3.0 * k, 3.0))
    for ax, i in zip(np.atleast_1d(axes), range(k)):
        field = w[i, 0, -1].numpy()
        lim = np.percentile(np.abs(field), 99.5)  # robust: one intense vortex must not wash out the rest
        ax.imshow(field, cmap="RdBu_r", vmin=-lim, vmax=lim, origin="lower", extent=(0, 2 * np.pi, 0, 2 * np.pi))
        ax.set_title(f"Re = {re[i]:g}")
        ax.set_xlabel("x")
    np.atleast_1d(axes)[0].set_ylabel("y")
    fig.tight_layout()
    return fig


def target_energy_bars(energy: dict):
    """Energy of residual against raw targets, and of the implied v-targets."""
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    tasks = list(energy)
    x = np.arange(len(tasks))
    ax.bar(x - 0.2, [energy[t]["ratio"] for t in tasks], 0.4, label=r"$\mathbb{E}\|r\|^2/\mathbb{E}\|x\|^2$")
    ax.bar(x + 0.2, [energy[t]["v_ratio"] for t in tasks], 0.4,
           label=r"$\mathbb{E}_t\mathbb{E}\|v\|^2$, residual / raw")
    ax.axhline(1, color="k", lw=0.8)
    ax.set_xticks(x, [TASK[t] for t in tasks])
    ax.set_ylabel("ratio (residual / raw)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig


def rfne_vs_steps(sweep: dict):
    """RFNE against sampling steps, residual and raw, with the interpolation baseline."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, task in zip(axes, ("sr", "fc")):
        for name, style in (("flex", "o-"), ("flex_raw", "s--")):
            if name in sweep:
                mean, std = _mean_std(sweep[name][task])
                ax.errorbar(sweep["steps"], mean, yerr=std, fmt=style, capsize=3, label=LABEL[name])
        ax.axhline(sweep["baseline"][task], color="gray", ls=":", label=BASELINE[task])
        ax.set_xscale("log", base=2)
        ax.set_xlabel("sampling steps $n_T$")
        ax.set_ylabel("RFNE (held-out patches)")
        ax.set_title(TASK[task])
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def fields(show: dict):
    """Truth, base, FLEX (residual), FLEX (raw), error and ensemble std for one SR and one FC patch."""
    cols = ["base", "truth", "flex", "raw", "error", "std"]
    titles = {"base": {"sr": "bicubic input", "fc": "last frame"}, "truth": "truth", "flex": "FLEX (residual)",
              "raw": "FLEX (raw)", "error": "|FLEX - truth|", "std": "ensemble std"}
    fig, axes = plt.subplots(2, len(cols), figsize=(2.2 * len(cols), 4.8))
    for row, task in enumerate(("sr", "fc")):
        d = dict(show[task])
        d["error"] = np.abs(d["flex"] - d["truth"])
        lim = np.abs(d["truth"]).max()
        elim = max(d["error"].max(), d["std"].max())
        for j, c in enumerate(cols):
            ax = axes[row, j]
            ax.set_xticks([]), ax.set_yticks([])
            if c not in d:
                ax.axis("off")
                continue
            pos = c in ("error", "std")
            ax.imshow(d[c], cmap="magma" if pos else "RdBu_r", vmin=0 if pos else -lim, vmax=elim if pos else lim,
                      origin="lower")
            t = titles[c]
            ax.set_title(t[task] if isinstance(t, dict) else t, fontsize=9)
        axes[row, 0].set_ylabel(TASK[task])
    fig.tight_layout()
    return fig


def spectra(show: dict):
    """Energy spectra of whole held-out fields: truth, bicubic, FLEX super-resolved."""
    s = show["spectra"]
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    k = s["k"][1:]
    for name, style in (("truth", "k-"), ("bicubic", "C1--"), ("flex", "C0-")):
        ax.loglog(k, s[name][1:], style, label={"flex": "FLEX (SR, residual)"}.get(name, name))
    ax.set_xlabel("wavenumber $k$")
    ax.set_ylabel("$E(k)$")
    ax.set_title(f"Re = {show['re']:g}")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def reynolds_panel(sweep: dict):
    """FLEX and the interpolation baseline at every Reynolds number; unseen Re hatched."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    x = np.arange(len(sweep["reynolds"]))
    for ax, task in zip(axes, ("sr", "fc")):
        model = np.asarray(sweep[task]["model"]).mean(1)
        bars = ax.bar(x - 0.2, model, 0.4, label="FLEX")
        ax.bar(x + 0.2, sweep[task]["baseline"], 0.4, color="gray", label=BASELINE[task])
        for bar, seen in zip(bars, sweep["seen"]):
            if not seen:
                bar.set_hatch("//")
        ax.set_xticks(x, [f"{r:g}" + ("" if s else "\n(unseen)") for r, s in zip(sweep["reynolds"], sweep["seen"])])
        ax.set_xlabel("Reynolds number")
        ax.set_ylabel("RFNE")
        ax.set_title(TASK[task])
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def variants_panel(table: dict):
    """RFNE of every trained variant, SR and FC, with parameter counts in the labels."""
    names = list(table["rfne"])
    fig, ax = plt.subplots(figsize=(max(5, 1.3 * len(names)), 3.6))
    x = np.arange(len(names))
    for off, task in ((-0.2, "sr"), (0.2, "fc")):
        ax.bar(x + off, [np.mean(table["rfne"][n][task]) for n in names], 0.4, label=TASK[task])
    ax.set_xticks(x, [f"{LABEL.get(n, n)}\n{table['params'][n] / 1e6:.2f} M" for n in names], fontsize=8)
    ax.set_ylabel("RFNE")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
