"""Figures of the free-decompression chapter (``book/free_decompression.md``)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np


def closures(res: dict):
    """Exact closures: decompressed analytic laws (lines) on their exact images (dashes)."""
    keys = ("mp", "semicircle", "km", "wachter")
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.4))
    for ax, k in zip(axes, keys):
        r = res[k]
        ax.plot(r["x"], r["density"], lw=2, label="decompressed")
        ax.plot(r["x"], r["truth"], "k--", lw=1, label=r["target"])
        ax.set_title(f"{r['law']} →", fontsize=9)
        ax.set_xlabel("eigenvalue $x$")
        ax.legend(fontsize=7)
    axes[0].set_ylabel("density")
    fig.tight_layout()
    return fig


def characteristic_lines(res: dict):
    """Foot points of the characteristics as alpha grows: they leave the axis into C^-."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for j, x in enumerate(res["x"]):
        z = res["z0"][:, j]
        ax.plot(z.real, z.imag, "-o", ms=2, label=f"x = {x:.2f}")
    lo, hi = res["support"]
    ax.plot([lo, hi], [0, 0], "k", lw=4, alpha=0.4, label="support of $\\rho_0$ (branch cut)")
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlabel(r"Re $z_0$"), ax.set_ylabel(r"Im $z_0$")
    ax.set_title(f"foot points $z_0$ for $\\alpha$ from 1 to {res['alpha_max']:.0f} (MP)", fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def mp_densities(res: dict):
    c = res["curves"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
    left.plot(c["x"], c["truth"], "k--", lw=1.2, label="MP (exact)")
    left.plot(c["x"], c["ours"], lw=2, alpha=0.8, label="ours")
    if "freealg" in c:
        left.plot(c["x"], c["freealg"], ":", lw=2, label="freealg 0.12.2")
    left.set_xlabel("eigenvalue $x$"), left.set_ylabel("density")
    left.set_title(f"$n_s$ = {int(res['targets'][0] / res['alpha'][0])} → $n$ = {int(res['targets'][-1])}, seed 0", fontsize=10)
    left.legend(fontsize=8)
    a = res["alpha"]
    for key, lab in (("tv", "TV, estimated support"), ("tv_oracle", "TV, true support")):
        m, s = res[key].mean(0), res[key].std(0)
        right.errorbar(a, m, yerr=s, capsize=3, marker="o", label=lab)
    slope = np.polyfit(np.log(a), np.log(res["tv"].mean(0)), 1)[0]
    right.set_xscale("log"), right.set_yscale("log")
    right.set_xlabel(r"$\alpha = n/n_s$"), right.set_ylabel("distance to MP(αλ)")
    right.set_title(f"error growth: log-log slope {slope:.2f}", fontsize=10)
    right.legend(fontsize=8)
    for ax in (left, right):
        ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return fig


def other_laws(res: dict):
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.6))
    for ax, (k, r) in zip(axes, res.items()):
        ax.plot(r["x"], r["truth"], "k--", lw=1.2, label=r["target"])
        ax.plot(r["x"], r["ours"], lw=2, alpha=0.8, label=f"FD ×{r['alpha']:g}, TV {r['tv'][0]:.3f}")
        ax.set_title(k.replace("_", "–"), fontsize=10)
        ax.set_xlabel("eigenvalue $x$")
        ax.legend(fontsize=7)
        if k == "kesten_mckay":
            ax.set_ylim(0, 1.2)
    axes[0].set_ylabel("density")
    fig.tight_layout()
    return fig


def real_matrix(res: dict):
    runs = res["runs"]
    fig, axes = plt.subplots(1, len(runs), figsize=(5.5 * len(runs), 3.8), squeeze=False)
    for ax, r in zip(axes[0], runs):
        ax.hist(r["eigs"], bins=100, density=True, alpha=0.35, label=f"eigvalsh, n = {r['n']}")
        ax.plot(r["x"], r["density"], lw=2, label=f"FD from $n_s$ = {res['ns']}")
        ax.set_title(f"Wishart {r['n']}², TV {100 * r['tv']:.2f}% (100 bins)", fontsize=10)
        ax.set_xlabel("eigenvalue $x$"), ax.legend(fontsize=8)
    axes[0][0].set_ylabel("density")
    fig.tight_layout()
    return fig


def timing(res: dict):
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.loglog(res["n"], res["direct_s"], "o-", label=f"eigvalsh ({res['device']}, {res['threads']} thread(s))")
    ax.loglog(res["n"], res["fd_s"], "s-", label="FD: submatrix eig + fit + decompress")
    ax.set_xlabel("matrix size $n$"), ax.set_ylabel("seconds")
    ax.grid(alpha=0.3, which="both"), ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def sensitivity(res: dict):
    fig, ax = plt.subplots(figsize=(5.5, 4))
    im = ax.imshow(100 * res["tv"], cmap="viridis", origin="lower")
    ax.set_xticks(range(len(res["bandwidth"])), [f"{b:g}" for b in res["bandwidth"]])
    ax.set_yticks(range(len(res["K"])), [str(k) for k in res["K"]])
    ax.set_xlabel("Beta-kernel bandwidth $h$"), ax.set_ylabel("Jacobi degree $K$")
    for (i, j), v in np.ndenumerate(100 * res["tv"]):
        ax.text(j, i, f"{v:.2f}", ha="center", va="center", color="w", fontsize=8)
    fig.colorbar(im, label="TV (%) at the largest target")
    fig.tight_layout()
    return fig


def digits_kernel(res: dict):
    """True spectrum of the digits kernel (histogram) against each decompressed density,
    on a linear axis (left) and as a distribution of log10 eigenvalues (right)."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 3.8))
    eigs, x = res["eigs"], res["x"]
    top = eigs.max()
    a1.hist(eigs, bins=np.linspace(0, top, 101), density=True, color="0.8", label=f"true spectrum (n = {res['n']})")
    pos = x > 0
    lb = np.linspace(-5, np.log10(top) + 0.1, 61)
    a2.hist(np.log10(np.clip(eigs, 1e-5, None)), bins=lb, density=True, color="0.8", label="true spectrum")
    for r in res["runs"]:
        a1.plot(x, r["density"], lw=1.5, label=f"FD from n_s = {res['ns']}: {r['label']}")
        cdf = np.concatenate([[0], np.cumsum(0.5 * (r["density"][1:] + r["density"][:-1]) * np.diff(x))])
        cdf /= cdf[-1]
        # density of log10(lambda) from the CDF on the log bins (mass at x <= 0 is not shown)
        c = np.interp(10.0 ** lb, x[pos], cdf[pos])
        a2.stairs(np.diff(c) / np.diff(lb), lb, lw=1.5)
    a1.set_xlim(-0.02 * top, 0.05 * top)
    a1.set_yscale("log")
    a1.set_ylim(1e-6, None)
    a1.set_xlabel("eigenvalue (first 5% of the range)"), a1.set_ylabel("density")
    a2.set_xlabel(r"$\log_{10}$ eigenvalue"), a2.set_ylabel("density")
    a1.legend(fontsize=7)
    a2.legend(fontsize=7)
    fig.tight_layout()
    return fig
