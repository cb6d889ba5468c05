"""Figures of the inversion-bias chapter (``book/inversion_bias.md``).

Each function takes the dict an experiment in :mod:`lab.inversion_bias.experiments`
returns and draws it with mean ± standard deviation over seeds; the chapter only calls them.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

CORRECTION_STYLE = {"none": ("-", "o"), "scalar": ("--", "s"), "fine": (":", "^")}
LABEL = {
    "none": "no correction",
    "scalar": r"scalar $m/(m-d_{\rm eff})$",
    "fine": r"fine $\check S$ (Prop. 3.2)",
    "gaussian_exact": r"Gaussian, $m/(m-d-1)$ (floor)",
}


def _band(ax, x, per_seed, **kw):
    """Mean line with ±1 std error bars over the first (seed) axis."""
    per_seed = np.atleast_2d(per_seed)
    mean, std = per_seed.mean(0), per_seed.std(0, ddof=1) if len(per_seed) > 1 else 0 * per_seed[0]
    return ax.errorbar(x, mean, yerr=std, capsize=3, **kw)


def _finish(fig, *axes, legend_size=8):
    """Grid and legend on every panel, then a tight layout."""
    for ax in axes:
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=legend_size)
    fig.tight_layout()
    return fig


def bias_vs_m(res: dict):
    """Left: uniform sampling (setting A). Right: leverage, estimated leverage, SRHT (setting B)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), sharey=False)
    a = res["bias"]["A"]
    for c in ("none", "scalar", "fine"):
        ls, mk = CORRECTION_STYLE[c]
        _band(left, res["m"]["A"], a["uniform"][c], ls=ls, marker=mk, label=f"uniform, {LABEL[c]}")
    _band(left, res["m"]["A"], a["gaussian"]["none"], color="grey", ls="-", marker="x", label="Gaussian, no correction")
    _band(left, res["m"]["A"], a["gaussian"]["gaussian_exact"], color="k", ls="-.", marker="", label=LABEL["gaussian_exact"])
    left.set_title("A: uniform sampling, spiked rows ($\\lambda=0$)")
    b = res["bias"]["B"]
    colors = {"leverage": "C0", "approx_leverage": "C1", "srht": "C2"}
    for s, col in colors.items():
        for c in ("none", "scalar", "fine"):
            ls, mk = CORRECTION_STYLE[c]
            _band(right, res["m"]["B"], b[s][c], color=col, ls=ls, marker=mk, label=f"{s}, {c}")
    _band(right, res["m"]["B"], b["gaussian"]["gaussian_exact"], color="k", ls="-.", marker="", label="Gaussian floor")
    right.set_title("B: leverage / estimated leverage / SRHT, $t_4$ rows")
    for ax in (left, right):
        ax.set(xscale="log", yscale="log", xlabel="sketch size $m$",
               ylabel=r"bias $\|H^{1/2}\hat{E}[Q]H^{1/2}-I\|_2$")
        ax.grid(alpha=0.3, which="both")
    left.legend(fontsize=7)
    right.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    return fig


def thm31_gap(res: dict):
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    _band(ax, res["m"], res["gap_naive"], marker="o", label=r"to $(A^\top A)^{-1}$ (naive)")
    _band(ax, res["m"], res["gap_D"], marker="s", label=r"to $(A^\top DA)^{-1}$ (Thm 3.1)")
    _band(ax, res["m"], res["floor"], color="k", ls="-.", label="Monte-Carlo floor (Gaussian)")
    ax.set(xscale="log", yscale="log", xlabel="sketch size $m$", ylabel="relative spectral gap of $\\hat E[Q]$")
    return _finish(fig, ax)


def phase_transition(res: dict):
    fig, ax = plt.subplots(figsize=(6, 4))
    rho = res["rho_max"].mean(0)
    for c in ("none", "scalar", "fine"):
        ls, mk = CORRECTION_STYLE[c]
        _band(ax, rho, res[c], ls=ls, marker=mk, label=LABEL[c])
    floor = res["floor"].mean()
    ax.axhline(floor, color="k", ls="-.", label="Monte-Carlo floor (Gaussian)")
    ax.set(xscale="log", yscale="log", xlabel=r"$\rho_{\max}$ of $\pi=(1-w)\ell/d_{\rm eff}+w/n$",
           ylabel="bias", title=f"bias against $\\rho_{{\\max}}$ at $m={res['m']}$")
    return _finish(fig, ax)


def ssn_rates(res: dict):
    """Left: rates against m at rho_max = 1. Right: de-biased rates against the bound rho_max d_eff/m."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    labels = {"debiased": r"de-biased SSN ($\check S$, $\mu_t$)", "plain": "plain SSN ($\\mu=1$)",
              "plain_mu": r"plain sketch, step $\mu_t$"}
    for v, lab in labels.items():
        _band(left, res["m"], res["rate_sq"][v], marker="o", label=lab)
    left.plot(res["m"], res["theory"].mean(0), "k--", label=r"theory $d_{\rm eff}/m$ ($\rho_{\max}=1$)")
    left.set(xscale="log", yscale="log", xlabel="sketch size $m$",
             ylabel=r"squared local rate $(E\|\beta_T-\beta_*\|_H^2/\|\beta_0-\beta_*\|_H^2)^{1/T}$",
             title="exact leverage sampling")
    bound = res["theory"].mean(0)
    right.plot(bound, res["rate_sq"]["debiased"].mean(0), "o-", label=r"$\rho_{\max}=1$ (exact leverage)")
    for w, r in res["mix"].items():
        rho = r["rho_max"].mean()
        right.plot(rho * bound, np.nanmean(r["rate_sq"], axis=0), "s-", label=rf"mixed, $\rho_{{\max}}\approx{rho:.1f}$")
    lim = [bound.min() / 1.5, 1.0]
    right.plot(lim, lim, "k--", label="rate = bound")
    right.set(xscale="log", yscale="log", xlabel=r"bound $\rho_{\max}d_{\rm eff}/m$ (Thm 4.3)",
              ylabel="de-biased squared local rate", title=r"the rate against $\rho_{\max}d_{\rm eff}/m$")
    return _finish(fig, left, right)


def error_vs_time(res: dict):
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for name, r in res["methods"].items():
        err = np.maximum(np.asarray(r["error"]).mean(0), 1e-16)
        t = np.asarray(r["time"]).mean(0)
        right.plot(t, err, marker="." if len(t) < 60 else None, label=name)
        if name.startswith(("ssn", "newton")):
            left.plot(r["iters"], err, marker="o", ms=3, label=name)
    left.set(yscale="log", xlabel="iteration", ylabel=r"$\|\beta_t-\beta_*\|_H/\|\beta_*\|_H$",
             title="second-order methods, by iteration")
    right.set(xscale="log", yscale="log", xlabel="wall-clock time (s)", ylabel="relative error",
              title="all methods, by wall-clock time")
    return _finish(fig, left, right, legend_size=7)
