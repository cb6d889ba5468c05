"""Figures of ``book/tsfm_biases.md``: one function per experiment, each returning its figure."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

plt.rcParams.update({"font.size": 10})
COLORS = {"quantized": "tab:blue", "residual": "tab:orange", "l2": "tab:red", "quantile": "tab:orange", "ce": "tab:blue"}
LABEL = {"quantized": "quantized", "residual": "continuous (ResidualBlock)"}


def theorem1(th: dict):
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    w, b = th["widths"], th["bands"]
    for name, ls, lab in (("sr2", "-", r"$\|\cdot\|_F^2/\|\cdot\|_2^2$"), ("sr1", "--", r"$\|\cdot\|_F/\|\cdot\|_2$")):
        axes[0].plot(w["width"], w[name], "o" + ls, color="k", label=lab + " (centred)")
        axes[0].plot(w["width"], w[name + "_raw"], "x" + ls, color="0.6", label=lab + " (raw)")
        axes[1].plot(b["bands"], b[name], "o" + ls, color="k", label=lab + " (centred)")
        axes[1].plot(b["bands"], b[name + "_raw"], "x" + ls, color="0.6", label=lab + " (raw)")
    axes[0].set(xlabel="bandwidth ω (cycles per step)", ylabel="stable rank of φ(V)", title="one band")
    axes[1].set(xlabel="number of disjoint bands n", ylabel="stable rank of φ(V)", title="disjoint bands", xscale="log")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def spectral(sp: dict, patches):
    fig, ax = plt.subplots(figsize=(7, 3.4))
    keys = [(e, k) for e in ("residual", "quantized") for k in patches]
    width = 0.8 / len(keys)
    for j, (e, k) in enumerate(keys):
        v = sp["errors"][(e, k)]
        ax.bar(np.arange(3) + j * width, v.mean(0), width, yerr=v.std(0) if len(v) > 1 else None,
               color=COLORS[e], alpha=0.45 if k == min(patches) else 0.95, label=f"{LABEL[e]}, k={k}")
    ax.set_xticks(np.arange(3) + 0.4 - width / 2, [f"{n} band" for n in sp["bands"]])
    ax.set(ylabel="forecast error energy", title="error by frequency band (mixed-frequency test signals)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def geometry(geo: dict):
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.3))
    for (e, state), c in geo["curves"].items():
        ls = "-" if state == "trained" else ":"
        lab = f"{LABEL[e]}, {state}"
        axes[0].plot(geo["gaps"], c["theta"], ls, color=COLORS[e], label=lab)
        axes[1].plot(geo["gaps"], c["dist"], ls, color=COLORS[e], label=lab)
        axes[2].plot(geo["x"], c["norm"], ls, color=COLORS[e], label=lab)
    axes[0].set(xlabel="|x − y| (scaled units)", ylabel="angle θ (rad)", title="locality")
    axes[1].set(xlabel="|x − y| (scaled units)", ylabel="relative distance d", title="scale")
    axes[2].set(xlabel="x (scaled units)", ylabel="‖φ(x)‖ / mean", title="norm")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def small_components(sc: dict):
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, key, xs, xlabel in ((axes[0], "scale", sc["ratios"], "scale ratio r"), (axes[1], "offset", sc["gaps"], "offset gap")):
        for e in ("quantized", "residual"):
            v = sc[key][(e, 1)]
            ax.errorbar(xs, v.mean(0), yerr=v.std(0) if len(v) > 1 else None, marker="o", color=COLORS[e], label=f"{LABEL[e]}, k=1")
        ax.set(xlabel=xlabel, ylabel="relative error (1 at ratio 1)", xscale="log")
    axes[0].set_title("small-scale component")
    axes[1].set_title("low-offset component")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def regression(rg: dict, cf: dict):
    fig, ax = plt.subplots(figsize=(6, 3.4))
    names = {"l2": "L2 (mean)", "quantile": "quantile (median)", "ce": "CE (mode)"}
    for loss, v in rg["scores"].items():
        ax.errorbar(rg["p"], v.mean(0), yerr=v.std(0) if len(v) > 1 else None, marker="o", color=COLORS[loss], label=names[loss] + ", trained")
        ax.plot(cf["p"], cf["scores"][loss], ":", color=COLORS[loss], label=names[loss] + ", exact")
    ax.set(xlabel="flip probability p", ylabel="regression score", title="regression towards the mean")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def outliers(out: dict, models: dict, context: int, patches):
    x, clean = out["example"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.4), gridspec_kw={"width_ratios": [2, 1]})
    t = np.arange(len(x))
    axes[0].plot(t[:context], x[:context], color="0.5", lw=1, label="context (with spikes)")
    axes[0].plot(t[context:], clean[context:], "k", lw=1.5, label="clean continuation")
    for e in ("quantized", "residual"):
        for k in patches:
            f = models[(e, k, 0)].forecast(x[:context]).numpy()[0]
            axes[0].plot(t[context:], f, "-" if k == min(patches) else "--", color=COLORS[e], label=f"{LABEL[e]}, k={k}")
    axes[0].set(xlabel="step", ylabel="value", title="one test series (seed 0 models)")
    axes[0].legend(fontsize=7, ncol=2)
    keys = list(out["mae"])
    v = [out["mae"][k] for k in keys]
    axes[1].bar(range(len(keys)), [a.mean() for a in v], yerr=[a.std() if len(a) > 1 else 0 for a in v],
                color=[COLORS[e] for e, _ in keys])
    axes[1].set_xticks(range(len(keys)), [f"{'Q' if e == 'quantized' else 'C'}, k={k}" for e, k in keys])
    axes[1].set(ylabel="MAE against the clean wave", title="spikes in the context")
    fig.tight_layout()
    return fig
