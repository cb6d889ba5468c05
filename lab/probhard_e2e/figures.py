"""Figures of the ProbHardE2E chapter (``book/probhard_e2e.md``); each returns the figure."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

LABEL = {"unconstrained": "unconstrained", "inference_only": "inference-only (ProbConserv)",
         "oblique": "DPPL oblique", "orthogonal": "DPPL orthogonal", "oblique_nll": "DPPL oblique + NLL",
         "soft": "soft penalty"}
plt.rcParams.update({"font.size": 10})


def pme_bands(pde: dict, t_index: int = -1):
    """One test PME solution at one time with mean ± 2σ per variant."""
    ex = pde["example"]
    variants = [v for v in LABEL if v in ex]
    fig, axes = plt.subplots(2, (len(variants) + 1) // 2, figsize=(10, 5.5), sharex=True, sharey=True)
    for ax, v in zip(axes.flat, variants):
        mu, sd = ex[v]["mu"][t_index], np.sqrt(ex[v]["var"][t_index])
        ax.plot(ex["x"], ex["truth"][t_index], "k", lw=1.5, label="truth")
        ax.plot(ex["x"], mu, "C0", label="mean")
        ax.fill_between(ex["x"], mu - 2 * sd, mu + 2 * sd, color="C0", alpha=0.25, label="±2σ")
        ax.set_title(LABEL[v], fontsize=10)
    for ax in axes[-1]:
        ax.set_xlabel("x")
    for ax in axes[:, 0]:
        ax.set_ylabel("u(t, x)")
    axes.flat[0].legend(fontsize=9)
    m, s = ex["params"]
    fig.suptitle(f"PME test function m = {m:.2f}, s = {s:.2f}, t = {ex['t'][t_index]:.2f}", fontsize=11)
    fig.tight_layout()
    return fig


def constraint_errors(results: dict):
    """max |A mu - b| per variant and task, on a log scale (floored at 1e-17 for display)."""
    tasks = list(results)
    variants = [v for v in LABEL if any(v in results[t] for t in tasks)]
    fig, ax = plt.subplots(figsize=(9, 3.8))
    w = 0.8 / len(tasks)
    for j, t in enumerate(tasks):
        vals = [np.maximum(results[t][v]["ce"].max(), 1e-17) if v in results[t] else np.nan for v in variants]
        ax.bar(np.arange(len(variants)) + j * w, vals, w, label=t)
    ax.set_yscale("log")
    ax.set_xticks(np.arange(len(variants)) + w * (len(tasks) - 1) / 2, [LABEL[v] for v in variants],
                  rotation=20, ha="right", fontsize=9)
    ax.set_ylabel("constraint error max |Aμ − b|")
    ax.legend(fontsize=9)
    fig.tight_layout()
    return fig


def score_bars(results: dict, metrics=("crps", "mse")):
    """CRPS and MSE per variant and task (mean ± sd over seeds)."""
    tasks = list(results)
    fig, axes = plt.subplots(len(metrics), len(tasks), figsize=(3.4 * len(tasks), 2.8 * len(metrics)), squeeze=False)
    for i, met in enumerate(metrics):
        for j, t in enumerate(tasks):
            ax = axes[i, j]
            vs = [v for v in LABEL if v in results[t] and met in results[t][v]]
            vals = [results[t][v][met] for v in vs]
            ax.bar(range(len(vs)), [x.mean() for x in vals], yerr=[x.std() for x in vals], color=[f"C{k}" for k in range(len(vs))])
            ax.set_xticks(range(len(vs)), [LABEL[v].split(" (")[0] for v in vs], rotation=35, ha="right", fontsize=9)
            ax.set_title(f"{t}: {met.upper()}", fontsize=10)
    fig.tight_layout()
    return fig


def variance_before_after(spike: dict):
    """Predicted and projected variances for one spike-task sample, oblique against orthogonal."""
    ex = spike["example"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), sharey=True)
    for ax, v in zip(axes, ("oblique", "orthogonal")):
        i = np.arange(len(ex[v]["flags"]))
        ax.bar(i - 0.2, ex[v]["var_before"], 0.4, label="predicted σ²")
        ax.bar(i + 0.2, ex[v]["var_after"], 0.4, label="projected σ̂²")
        for k in np.flatnonzero(ex[v]["flags"]):
            ax.axvspan(k - 0.5, k + 0.5, color="C3", alpha=0.12, lw=0)
        ax.set_yscale("log")
        ax.set_xlabel("coordinate (shaded: spike injected)")
        ax.set_title(LABEL[v], fontsize=10)
    axes[0].set_ylabel("variance")
    axes[0].legend(fontsize=9)
    fig.tight_layout()
    return fig
