"""Figures of the ETS chapter (``book/ets.md``); each returns the matplotlib figure."""
from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.ticker import NullFormatter
import numpy as np

from lab.ets.experiments import bootstrap_mean_ci

COLORS = {"REBASE": "C0", "beam": "C1", "DVTS": "C2", "ETS λ=0": "C7", "ETS λs=0": "C4", "ETS": "C3"}
plt.rcParams.update({"font.size": 10})


def pareto(res: dict, n_boot: int = 1000, seed: int = 0):
    """Accuracy (weighted majority vote, 95% bootstrap interval over problems) against mean total KV."""
    widths = res["widths"]
    fig, axes = plt.subplots(1, len(widths), figsize=(5.2 * len(widths), 4.0), squeeze=False)
    for ax, w in zip(axes[0], widths):
        for (width, name), rec in res["methods"].items():
            if width != w:
                continue
            mean, lo, hi = bootstrap_mean_ci(rec["correct"], n_boot, seed)
            kv = rec["kv"].mean()
            ax.errorbar(kv / 1e3, 100 * mean, yerr=[[100 * (mean - lo)], [100 * (hi - mean)]], fmt="o",
                        color=COLORS[name], capsize=3, label=name, ms=7)
        ax.set_xlabel("total KV cache over the search (thousand tokens)")
        ax.set_ylabel("accuracy (%)")
        ax.set_title(f"width {w}")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=9, loc="lower right")
    fig.tight_layout()
    return fig


def heatmap(grid: dict):
    """ETS accuracy and KV reduction (REBASE KV / ETS KV) over lambda_c x lambda_s."""
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 4.0))
    for ax, key, title, cmap in ((axes[0], "accuracy", "accuracy (%)", "viridis"),
                                 (axes[1], "kv_reduction", "KV reduction over REBASE (×)", "magma")):
        values = grid[key] * (100 if key == "accuracy" else 1)
        im = ax.imshow(values, origin="lower", cmap=cmap, aspect="auto")
        ax.set_xticks(range(len(grid["lambda_s"])), [f"{v:g}" for v in grid["lambda_s"]])
        ax.set_yticks(range(len(grid["lambda_c"])), [f"{v:g}" for v in grid["lambda_c"]])
        ax.set_xlabel("λs (coverage bonus)")
        ax.set_ylabel("λc (node cost)")
        ax.set_title(title)
        for i in range(values.shape[0]):
            for j in range(values.shape[1]):
                ax.text(j, i, f"{values[i, j]:.1f}" if key == "accuracy" else f"{values[i, j]:.2f}",
                        ha="center", va="center", color="w" if values[i, j] < values.mean() else "k", fontsize=9)
        fig.colorbar(im, ax=ax, shrink=0.85)
    fig.suptitle(f"ETS at width {grid['width']} on {grid['problems']} problems x {grid['seeds']} seeds "
                 f"(REBASE accuracy {100 * grid['rebase_accuracy']:.1f}%)", fontsize=10)
    fig.tight_layout()
    return fig


def _layout(tree):
    """y position of every node: leaves (deepest nodes) in DFS order, parents at their children's mean."""
    ys, counter = {}, [0]

    def place(node):
        if not node.children:
            ys[node.id] = counter[0]
            counter[0] += 1
        else:
            for c in node.children:
                place(c)
            ys[node.id] = float(np.mean([ys[c.id] for c in node.children]))

    place(tree.root)
    return ys


def draw_trees(trees: dict, names=("REBASE", "ETS")):
    """The search trees of one problem: kept steps coloured by correctness, pruned ones grey."""
    fig, axes = plt.subplots(1, len(names), figsize=(6.0 * len(names), 5.0), squeeze=False)
    for ax, name in zip(axes[0], names):
        result = trees[name]
        tree = result.tree
        ys = _layout(tree)
        for node in tree.nodes[1:]:
            pruned = not node.kept
            color = "0.75" if pruned else ("C2" if node.state.correct else "C3")
            ax.plot([node.depth - 1, node.depth], [ys[node.parent.id], ys[node.id]], color=color,
                    lw=0.8 if pruned else 1.4, zorder=1)
            ax.scatter(node.depth, ys[node.id], s=10 + 40 * node.score, color=color, zorder=2)
        ax.scatter(0, ys[tree.root.id], s=40, color="k", zorder=2)
        ax.set_xlabel("depth (reasoning step)")
        ax.set_yticks([])
        ax.set_title(f"{name}: total KV {result.kv_total:,} tokens, answer {result.answer} "
                     f"({'correct' if result.correct else 'wrong'})", fontsize=10)
    handles = [plt.Line2D([], [], color="C2", marker="o", label="correct so far"),
               plt.Line2D([], [], color="C3", marker="o", label="wrong so far"),
               plt.Line2D([], [], color="0.75", marker="o", label="pruned (no children)")]
    fig.legend(handles=handles, fontsize=9, loc="lower center", ncol=3, frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def kv_by_depth(res: dict):
    """Mean KV the candidates need at each selection step."""
    widths = res["widths"]
    fig, axes = plt.subplots(1, len(widths), figsize=(5.2 * len(widths), 3.8), squeeze=False)
    for ax, w in zip(axes[0], widths):
        for (width, name), rec in res["methods"].items():
            if width == w:
                per_depth = rec["kv_by_depth"].mean(axis=(0, 1))
                steps = np.arange(1, len(per_depth) + 1)
                keep = per_depth > 0
                ax.plot(steps[keep], per_depth[keep] / 1e3, "o-", color=COLORS[name], label=name, ms=4)
        ax.set_xlabel("selection step (depth)")
        ax.set_ylabel("KV of the candidates (thousand tokens)")
        ax.set_title(f"width {w}")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=9)
    fig.tight_layout()
    return fig


def solve_times(times: dict):
    """Seconds per ETS program against its size N + M (candidates plus ancestors)."""
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for i, (w, rows) in enumerate(sorted(times.items())):
        if len(rows):
            ax.scatter(rows[:, 0] + rows[:, 1], 1e3 * rows[:, 3], s=12, color=f"C{i}", label=f"width {w}", alpha=0.7)
    ax.axhline(50, color="k", ls="--", lw=1, label="50 ms target")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("program size N + M (candidates + ancestors)")
    ax.set_ylabel("solve time (ms, wall)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=9)
    fig.tight_layout()
    return fig
