"""Figures of ``book/multipole_attention.md`` (matplotlib, legible at page width)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

from lab.multipole_attention.lookup import centroid_scores, select_within_budget

STYLE = {"oracle": ("k", ":"), "quest": ("tab:purple", "-."), "lookup": ("tab:orange", "--"),
         "multipole": ("tab:blue", "-"), "hierarchical": ("tab:green", "-")}


def _curve(ax, budgets, res, key, m):
    vals = np.atleast_2d(res[m][key])
    mean = vals.mean(0)
    color, ls = STYLE[m]
    ax.plot(budgets, mean, ls, color=color, marker="o", ms=4, label=m)
    if vals.shape[0] > 1:
        se = vals.std(0, ddof=1) / np.sqrt(vals.shape[0])
        ax.fill_between(budgets, mean - 2 * se, mean + 2 * se, color=color, alpha=0.15)


def error_and_recall(panels: dict[str, dict]):
    """Rows: relative error and attention-mass recall against the budget; one column per key set."""
    fig, axes = plt.subplots(2, len(panels), figsize=(4.2 * len(panels), 6.4), squeeze=False)
    for j, (title, res) in enumerate(panels.items()):
        b = res["budgets"]
        for m in STYLE:
            _curve(axes[0, j], b, res, "error", m)
            _curve(axes[1, j], b, res, "recall", m)
        axes[0, j].set(xscale="log", yscale="log", title=title, ylabel="relative error of o")
        axes[1, j].set(xscale="log", xlabel="token budget B (per KV head)", ylabel="attention-mass recall", ylim=(0, 1.02))
        for ax in axes[:, j]:
            ax.set_xticks(b, [str(x) for x in b])
            ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=9)
    fig.tight_layout()
    return fig


def bytes_vs_error(res: dict):
    """KV bytes touched per KV head per decode step against the error, one point per budget."""
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    for m in STYLE:
        color, ls = STYLE[m]
        ax.plot(np.asarray(res[m]["bytes"]).mean(0) / 1024, np.asarray(res[m]["error"]).mean(0), ls, color=color, marker="o", ms=4, label=m)
    ax.axvline(res["dense_bytes"] / 1024, color="gray", lw=1)
    ax.annotate("dense", (res["dense_bytes"] / 1024, 0.95), xycoords=("data", "axes fraction"), color="gray", fontsize=9)
    ax.set(xscale="log", yscale="log", xlabel="KV bytes read per KV head per step (KiB, FP16)", ylabel="relative error of o")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    return fig


def clusters_2d(st, q, budget: int, head: int = 0):
    """Clustered keys of one head in their first two principal components, coloured by cluster;
    the clusters the lookup selects (within ``budget``) for the query that selects the most tokens
    drawn large, centroids as crosses."""
    cl = st.clusters
    kr = st.k[head, st.layout.start:st.layout.end]
    x = kr - kr.mean(0)
    _, _, vt = torch.linalg.svd(x, full_matrices=False)
    xy = (x @ vt[:2].T).numpy()
    cxy = ((cl.centroids[head] - kr.mean(0)) @ vt[:2].T).numpy()
    sel_all = select_within_budget(centroid_scores(q, cl.centroids, cl.counts), cl.counts, budget)[:, head]
    query = int((sel_all * cl.counts[head]).sum(-1).argmax())
    sel = sel_all[query].numpy()
    a = cl.assign[head].numpy()
    fig, ax = plt.subplots(figsize=(5.6, 4.4))
    ax.scatter(xy[:, 0], xy[:, 1], c=a % 20, cmap="tab20", s=4, alpha=0.6, linewidths=0)
    chosen = sel[a]
    ax.scatter(xy[chosen, 0], xy[chosen, 1], c=a[chosen] % 20, cmap="tab20", s=18, edgecolors="k", linewidths=0.4,
               label=f"tokens of selected clusters ({int(chosen.sum())} ≤ B = {budget})")
    ax.scatter(cxy[:, 0], cxy[:, 1], marker="x", c="k", s=14, linewidths=0.8, label="centroids (multipole terms)")
    ax.set(xlabel="principal component 1", ylabel="principal component 2")
    ax.legend(fontsize=9, loc="best")
    fig.tight_layout()
    return fig


def stream(rows: list[dict]):
    """Inertia and Multipole error over the stream, online update against full re-clustering."""
    steps = [r["step"] for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    axes[0].plot(steps, [r["inertia_online"] for r in rows], "-o", ms=4, label="online update")
    axes[0].plot(steps, [r["inertia_full"] for r in rows], "--s", ms=4, label="full re-clustering")
    axes[0].set(xlabel="interval of I new tokens", ylabel="k-means inertia (all heads)")
    axes[1].plot(steps, [r["err_online"] for r in rows], "-o", ms=4, label="online update")
    axes[1].plot(steps, [r["err_full"] for r in rows], "--s", ms=4, label="full re-clustering")
    axes[1].set(xlabel="interval of I new tokens", ylabel="Multipole relative error")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    return fig


def accuracy(acc: dict, budgets, methods, context: int):
    """Next-token accuracy of the model decoded through each cache against the budget, 2-se bars over tokens."""
    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    ex = acc["exact"].ravel()
    se = ex.std(ddof=1) / np.sqrt(ex.size)
    ax.axhspan(ex.mean() - 2 * se, ex.mean() + 2 * se, color="gray", alpha=0.25, label="exact attention (± 2 se)")
    for m in methods:
        vals = [acc[(m, b)].ravel() for b in budgets]
        color, ls = STYLE[m]
        ax.errorbar(budgets, [v.mean() for v in vals], yerr=[2 * v.std(ddof=1) / np.sqrt(v.size) for v in vals],
                    fmt=ls, color=color, marker="o", ms=4, capsize=3, label=m)
    ax.axvspan(0.05 * context, 0.10 * context, color="tab:green", alpha=0.08, label="B = 5–10% of context")
    ax.set(xlabel="token budget B (per KV head)", ylabel="next-token accuracy", ylim=(0, 1.02))
    ax.set_xticks(budgets, [str(b) for b in budgets])
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    return fig
