"""Figures F1–F5 of the random-matrix chapter, the gap-against-size figure and the digits
illustration (``book/rmt_equivalents.md``). Each returns its matplotlib figure."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from lab.rmt_equivalents import laws

plt.rcParams.update({"font.size": 12, "legend.fontsize": 10})


def f1_mp(mp: dict, two: dict | None = None):
    """F1: ESDs against MP and the semicircle; (1/p) tr Q(x + iη) against m(x + iη)."""
    fig, axes = plt.subplots(2, 2, figsize=(12, 8))
    axes = axes.ravel()
    for ax, c in zip(axes[:2], mp["c"][-2:]):
        e = mp["eigs"][str(c)]
        lo, hi = laws.mp_edges(c)
        ax.hist(e, bins=60, density=True, alpha=0.5, label=f"ESD, p = {mp['p']}")
        x = np.linspace(lo, hi, 400)
        ax.plot(x, laws.mp_density(x, c), "k", lw=1.5, label="MP density")
        ax.set_title(f"Marchenko–Pastur, c = {c}"), ax.set_xlabel("eigenvalue"), ax.legend()
    ax = axes[2]
    ax.hist(mp["wigner_eigs"], bins=60, density=True, alpha=0.5, label=f"Wigner, n = {mp['wigner_n']}")
    x = np.linspace(-2, 2, 400)
    ax.plot(x, laws.semicircle_density(x), "k", lw=1.5, label="semicircle")
    ax.set_title("Wigner semicircle"), ax.set_xlabel("eigenvalue"), ax.legend()
    ax = axes[3]
    c = mp["c"][-1]
    z = mp["z"][str(c)]
    m = laws.mp_stieltjes(z, c)
    emp = laws.empirical_stieltjes(mp["eigs"][str(c)], z)
    ax.plot(z.real, m.real, "k", label="Re m (theory)")
    ax.plot(z.real, m.imag, "k--", label="Im m (theory)")
    ax.plot(z.real, emp.real, "o", ms=3, label="Re (1/p) tr Q")
    ax.plot(z.real, emp.imag, "s", ms=3, label="Im (1/p) tr Q")
    if two is not None:
        ax.plot(two["z"].real / 4, two["m_de"].imag, "C3", lw=1, label="Im m̄, C ∈ {1, 4} (x/4)")
        ax.plot(two["z"].real / 4, two["m_emp"].imag, "C3^", ms=3, label="Im (1/p) tr Q, C ∈ {1, 4}")
    ax.set_title(f"resolvent at x + {z[0].imag:g}i, c = {c}"), ax.set_xlabel("x"), ax.legend(fontsize=9, ncol=2)
    for a in axes[:3]:
        a.set_ylabel("density")
    fig.tight_layout()
    return fig


def f2_ridge(rr: dict, rl: dict):
    """F2: ridge excess risk against n (log-log, power-law Σ) and ridgeless risk against p/n."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.5))
    n = rr["n"]
    e, d = rr["empirical"], rr["de"]
    a.errorbar(n, e.mean(0), yerr=e.std(0), fmt="o", capsize=3, label="simulation (mean ± sd)")
    a.plot(n, d.mean(0), "k-", label=f"equivalent (slope {rr['slope_de']:.2f})")
    a.plot(n, rr["bias"].mean(0), "C2--", label="equivalent: bias")
    a.plot(n, rr["variance"].mean(0), "C3:", label="equivalent: variance")
    a.set_xscale("log"), a.set_yscale("log")
    a.set_xlabel("samples n"), a.set_ylabel("excess risk"), a.set_title(rf"ridge, $\Sigma_{{ii}}=i^{{-{rr['power']:g}}}$, p = {rr['p']}")
    a.legend()
    g = np.linspace(0.05, 3.2, 400)
    from lab.rmt_equivalents.ridge import ridgeless_isotropic_risk
    noise = rl.get("noise", 0.25)
    b.plot(g, ridgeless_isotropic_risk(g, 1.0, noise), "k-", label="closed form")
    b.errorbar(rl["gamma"], rl["empirical"].mean(0), yerr=rl["empirical"].std(0), fmt="o", capsize=3, label="simulation")
    b.axvline(1, color="grey", lw=0.5)
    b.set_yscale("log"), b.set_ylim(0.05, 50)
    b.set_xlabel("γ = p/n"), b.set_ylabel("excess risk"), b.set_title("ridgeless (min-norm), Σ = I, ‖β*‖ = 1")
    b.legend()
    fig.tight_layout()
    return fig


def f3_random_features(res: dict, extra: dict | None = None, title: str = "two-class mixture"):
    """F3: RF train and test MSE against N/n, theory (lines) over simulation (markers), per γ."""
    panels = [res] + ([extra] if extra is not None else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 5), squeeze=False)
    for ax, r in zip(axes[0], panels):
        for i, g in enumerate(r["gamma"]):
            col = f"C{i}"
            ax.plot(r["psi"], r["de_test"][:, i].mean(0), "-", color=col, label=f"test, γ = {g:g}")
            ax.plot(r["psi"], r["sim_test"][:, i].mean(0), "o", color=col, ms=4)
            ax.plot(r["psi"], np.maximum(r["de_train"][:, i].mean(0), 1e-4), "--", color=col, lw=1, label=f"train, γ = {g:g}")
            ax.plot(r["psi"], np.maximum(r["sim_train"][:, i].mean(0), 1e-4), "x", color=col, ms=4)
        ax.axvline(1, color="grey", lw=0.5)
        ax.set_yscale("log"), ax.set_xlabel("N/n"), ax.set_ylabel("MSE")
        ax.set_title(f"RF ridge, {r['activation']}, {title}")
        ax.legend(fontsize=9)
    fig.tight_layout()
    return fig


def f4_ck(ck: dict):
    """F4: the ReLU CK spectrum against its Gaussian equivalent (bulk histogram, spike)."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [3, 1]})
    e, q = ck["empirical"], ck["equivalent"]
    bins = np.linspace(0, np.quantile(e[:-1], 0.999) * 1.05, 70)
    a.hist(e[:-1], bins=bins, density=True, alpha=0.5, label="σ(WX), ReLU")
    a.hist(q[:-1], bins=bins, density=True, histtype="step", lw=1.5, color="k", label="Gaussian equivalent")
    a.set_xlabel("eigenvalue (bulk, spike removed)"), a.set_ylabel("density"), a.legend()
    a.set_title("conjugate kernel (1/N)σ(WX)ᵀσ(WX)")
    b.bar([0, 1, 2], [e[-1], q[-1], ck["n_a0_sq"]], color=["C0", "k", "C2"])
    b.set_xticks([0, 1, 2], ["ReLU", "equiv.", "n a₀²"])
    b.set_ylabel("top eigenvalue"), b.set_ylim(min(e[-1], ck["n_a0_sq"]) * 0.98, max(e[-1], q[-1]) * 1.01)
    b.set_title("spike")
    fig.tight_layout()
    return fig


def f5_gd(g: dict):
    """F5: GD risk against the number of steps, MP-integral theory over simulation."""
    fig, ax = plt.subplots(figsize=(7, 4))
    t, e = g["t"][1:], g["empirical"][:, 1:]
    ax.fill_between(t, e.mean(0) - e.std(0), e.mean(0) + e.std(0), alpha=0.25, label="simulation, mean ± sd")
    ax.plot(t, g["theory"][1:], "k", label="theory R(t)")
    ax.plot(t, g["bias"][1:], "C2--", label="bias")
    ax.plot(t, g["variance"][1:], "C3:", label="variance")
    ax.axhline(g["limit"], color="grey", lw=0.8, label="σ²c/(1−c)")
    ax.axvline(g["argmin_theory"], color="grey", lw=0.5, ls="--")
    ax.set_xscale("log"), ax.set_xlabel("GD step t"), ax.set_ylabel("excess risk ‖β_t − β*‖²")
    ax.set_title(f"gradient descent, c = {g['c']:g}"), ax.legend()
    fig.tight_layout()
    return fig


def size_gap(s: dict):
    """Theory–simulation gap against size (resolvent error and MP KS distance), log-log."""
    fig, ax = plt.subplots(figsize=(7, 4))
    p = s["p"]
    for key, lab, slope in (("resolvent_err", "max |(1/p)tr Q − m|", s["slope_resolvent"]), ("ks", "KS to MP", s["slope_ks"])):
        v = s[key]
        ax.errorbar(p, v.mean(1), yerr=v.std(1), fmt="o-", capsize=3, label=f"{lab} (slope {slope:.2f})")
    ax.plot(p, s["resolvent_err"].mean(1)[0] * p[0] / p, "k:", lw=1, label="1/p")
    ax.set_xscale("log"), ax.set_yscale("log")
    ax.set_xlabel("p (c = 0.5)"), ax.set_ylabel("gap to theory"), ax.set_title("finite-size gap against size")
    ax.legend()
    fig.tight_layout()
    return fig
