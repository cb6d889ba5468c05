"""The claims the random-matrix chapter checks: every row of the dossier's table, each decided
by the rule book (:mod:`lab.claims.rules`) with the dossier's tolerance, fixed before any run.

The survey's own figures could not be read, so the "paper value" of each claim is the standard
result it unifies (a closed form or a theorem), never a number read off the survey.
"""
from __future__ import annotations

import numpy as np

from lab.claims import Claims, findings_markdown as summarize, rules

SOURCE = "standard result unified by the survey (its figures could not be read)"
#: claims whose dossier tier is the book only: at the smoke tier their sizes are plumbing checks
BOOK_ONLY = ("ridge-de-risk", "ridge-scaling-law", "ridgeless-double-descent", "rf-theory-matches-sim",
             "ck-linear-equivalent", "gd-risk-curve")


def _judge(claims: Claims, id: str, statement: str, **kw) -> None:
    """``claims.judge``, except that a book-only claim at the smoke tier is not checkable."""
    if claims.tier == "smoke" and id in BOOK_ONLY:
        claims.not_checkable(id, statement, paper_value=kw["paper_value"], paper_source=kw["paper_source"],
                             criterion=kw["criterion"],
                             reason="the criterion is stated at the book tier's sizes; smoke sizes only exercise the code")
        return
    claims.judge(id, statement, **kw)


def mp_claims(claims: Claims, mp: dict) -> None:
    p = mp["p"]
    tol = 0.02 if p >= 1000 else 0.05
    claims.judge(
        "mp-esd-matches-density", "the ESD of XXᵀ/n follows the Marchenko–Pastur law",
        paper_value="MP law, ratio c = p/n", paper_source=SOURCE,
        criterion="KS distance < 0.02 at p = 1000 (< 0.05 at p = 200)",
        verdict=rules.bounds(mp["ks"], upper=tol, strict=True, kind="exact", what=f"KS distance at p = {p}"),
        ours=mp["ks"].ravel(), over="(ratio, seed) pairs",
        ours_text=f"KS over c = {', '.join(map(str, mp['c']))}; Wigner KS {np.mean(mp['wigner_ks']):.4f}")
    if p >= 1000:
        claims.judge(
            "mp-edges", "extreme eigenvalues approach (1 ± √c)²", paper_value="λ± = (1 ± √c)²",
            paper_source=SOURCE, criterion="relative gap < 4% at p = 1000 (both edges, every seed)",
            verdict=rules.bounds(mp["edge_gap"], upper=0.04, strict=True, kind="exact",
                                 what="largest relative edge gap"),
            ours=mp["edge_gap"].ravel(), over="(ratio, seed) pairs",
            ours_text="largest of the two edges' relative gaps")
    else:
        claims.not_checkable("mp-edges", "extreme eigenvalues approach (1 ± √c)²", paper_value="λ± = (1 ± √c)²",
                             paper_source=SOURCE, criterion="relative gap < 4% at p = 1000",
                             reason=f"the criterion is stated at p = 1000; this tier has p = {p}")
    tol = 0.03 if p >= 1000 else 0.1
    claims.judge(
        "resolvent-deterministic-equivalent", "(1/p) tr Q(x + 0.1i) is close to the MP Stieltjes transform m",
        paper_value="(1/p) tr Q(z) − m(z) → 0", paper_source=SOURCE,
        criterion="max abs. error over x < 0.1 at p = 200, < 0.03 at p = 1000",
        verdict=rules.bounds(mp["resolvent_err"], upper=tol, strict=True, kind="exact", what=f"max |(1/p)tr Q − m| at p = {p}"),
        ours=mp["resolvent_err"].ravel(), over="(ratio, seed) pairs")


def ridge_claims(claims: Claims, rr: dict, rl: dict) -> None:
    big = rr["n"] >= 400
    _judge(
        claims, "ridge-de-risk", "the deterministic equivalent predicts ridge's excess risk (Σ_ii = i^−1.5)",
        paper_value="R ≈ [κ²β*ᵀΣ(Σ+κ)⁻²β* + σ²df₂/n]/(1 − df₂/n)", paper_source=SOURCE,
        criterion="relative error < 10% for n ≥ 400",
        verdict=rules.tolerance(rr["rel_err"][big], tol=0.10, kind="exact", what="relative error of the mean risk"),
        ours=rr["rel_err"][big], over="sample sizes n ≥ 400",
        ours_text=f"at n = {', '.join(str(int(v)) for v in rr['n'][big])}")
    _judge(
        claims, "ridge-scaling-law", "the equivalent and the simulation share the same power law in n",
        paper_value="R ∝ n^(−slope)", paper_source=SOURCE, criterion="fitted log-log slopes within 0.1",
        verdict=rules.tolerance(rr["slope_emp"], target=rr["slope_de"], tol=0.1, kind="structural",
                                what="empirical log-log slope (target: the equivalent's)"),
        ours=rr["slope_emp"], over="fit", ours_text=f"empirical slope; equivalent {rr['slope_de']:.3f}")
    far = np.abs(rl["gamma"] - 1) >= 0.2
    peak = float(rl["gamma"][np.argmax(rl["empirical"].mean(0))])
    near = rl["gamma"][np.argsort(np.abs(rl["gamma"] - 1))[:2]]
    _judge(
        claims, "ridgeless-double-descent", "ridgeless risk peaks at p/n = 1 and matches the closed form",
        paper_value="σ²γ/(1−γ); ‖β*‖²(1−1/γ) + σ²/(γ−1)", paper_source="textbook closed form (Hastie et al.)",
        criterion="within 10% wherever |γ − 1| ≥ 0.2; the empirical maximum at a grid point next to γ = 1",
        verdict=rules.all_of(
            rules.tolerance(rl["rel_err"][far], tol=0.10, kind="exact", what="relative error (|γ−1| ≥ 0.2)"),
            rules.bounds(peak, lower=float(near.min()), upper=float(near.max()), kind="exact",
                         what="γ of the empirical maximum")),
        ours=rl["rel_err"][far], over="ratios γ", ours_text=f"relative errors; peak at γ = {peak:g}")


def rf_claims(claims: Claims, r: dict) -> None:
    psi, gam, rel = r["psi"], r["gamma"], r["rel_err"]
    checks, vals = [], []
    for i, g in enumerate(gam):
        mask = np.ones_like(psi, bool) if g >= 1e-3 else (psi <= 0.5) | (psi >= 2)
        checks.append(rules.tolerance(rel[i, mask], tol=0.05, kind="exact", what=f"relative error at γ = {g:g}"))
        vals.extend(rel[i, mask].tolist())
    _judge(
        claims, "rf-theory-matches-sim", "RF test MSE equals its deterministic equivalent (ReLU, two-class mixture)",
        paper_value="E_test from δ, K̄, Q̄, Θ", paper_source=SOURCE,
        criterion="within 5%: every grid point for γ = 1e-2; N/n ≤ 0.5 or ≥ 2 for γ = 1e-7",
        verdict=rules.all_of(*checks), ours=vals, over="(γ, N/n) points",
        ours_text=f"relative error of the mean over {r['sim_test'].shape[0]} seeds")
    small, large = int(np.argmin(gam)), int(np.argmax(gam))
    test = r["sim_test"]  # seeds × γ × ψ
    at_one = int(np.argmin(np.abs(psi - 1)))
    ratio = test[:, small].max(1) / test[:, small].min(1)
    argmax_psi = psi[np.argmax(test[:, small], axis=1)]
    flat = test[:, large].max(1) / test[:, large].min(1)
    others = np.delete(test[:, small], at_one, axis=1).max(1)
    claims.judge(
        "rf-double-descent-peak", "the test-error peak sits at N = n and vanishes under regularisation",
        paper_value="double descent in N/n", paper_source=SOURCE,
        criterion="γ = 1e-7: argmax at N/n = 1 and peak/min > 10; γ = 1e-2: max/min < 2 (every seed); "
                  "the peak above every other width by 2 se (paired over seeds, in log MSE)",
        verdict=rules.all_of(
            rules.bounds(argmax_psi, lower=1.0, upper=1.0, kind="structural", what="N/n of the maximum (γ = 1e-7)"),
            rules.bounds(ratio, lower=10, strict=True, kind="structural", what="peak/min (γ = 1e-7)"),
            rules.bounds(flat, upper=2, strict=True, kind="structural", what="max/min (γ = 1e-2)"),
            rules.ordering(np.log(test[:, small, at_one]), np.log(others), better="higher",
                           names=("log test MSE at N = n", "at any other width")),
            kind="ordering"),
        ours=ratio, ours_text=f"peak/min per seed at γ = {gam[small]:g}; max/min at γ = {gam[large]:g}: per seed up to "
                                     f"{flat.max():.2f}, on the mean curve {test[:, large].mean(0).max() / test[:, large].mean(0).min():.2f}")


def ck_claims(claims: Claims, c: dict, deep: dict | None) -> None:
    _judge(
        claims, "ck-linear-equivalent", "the ReLU conjugate-kernel spectrum equals its Gaussian equivalent's",
        paper_value="σ(WX) ≍ a₀11ᵀ + a₁WX + √(ν−a₀²−a₁²)Z", paper_source=SOURCE,
        criterion="spikes within 1%; bulk mean quantile gap < 5e-3 (every seed)",
        verdict=rules.all_of(
            rules.bounds(c["spike_rel"], upper=0.01, strict=True, kind="exact", what="relative spike gap"),
            rules.bounds(c["bulk_mean_gap"], upper=5e-3, strict=True, kind="exact", what="bulk mean quantile gap")),
        ours=c["bulk_mean_gap"], ours_text=f"bulk mean gap; spike gap {100 * c['spike_rel'].max():.2f}%")
    statement = "the layer-wise linear equivalent of a 3-layer random ReLU network's CK"
    if deep is None:
        claims.not_checkable("deep-ck-equivalent", statement, paper_value="layer-wise linear equivalent",
                             paper_source=SOURCE, criterion="bulk mean quantile gap < 1e-2 at n = 10⁴",
                             reason="needs n = 10⁴ (the full tier, one GPU); not run: no GPU in this project's run")
    else:
        claims.judge("deep-ck-equivalent", statement, paper_value="layer-wise linear equivalent", paper_source=SOURCE,
                     criterion="bulk mean quantile gap < 1e-2 at n = 10⁴",
                     verdict=rules.bounds(deep["bulk_mean_gap"], upper=1e-2, strict=True, kind="exact",
                                          what=f"bulk mean quantile gap at n = {deep['n']}"),
                     ours=deep["bulk_mean_gap"], over="network")


def gd_claims(claims: Claims, g: dict) -> None:
    emp = g["empirical"].mean(0)
    end = int(g["t"][-1])
    _judge(
        claims, "gd-risk-curve", "the MP-integral risk curve matches gradient descent",
        paper_value="R(t) = ∫(1−ηx)^{2t}dμ + σ²c∫(1−(1−ηx)^t)²x⁻¹dμ; R(∞) = σ²c/(1−c)", paper_source=SOURCE,
        criterion="within 5% at every t; minimum at t ∈ [3, 30]; R(1000) within 2% of σ²c/(1−c)",
        verdict=rules.all_of(
            rules.tolerance(g["rel_err"], tol=0.05, kind="exact", what="relative error of the mean risk at each t"),
            rules.bounds(g["argmin_emp"], lower=3, upper=30, kind="exact", what="t of the empirical minimum"),
            rules.tolerance(emp[-1], target=g["limit"], tol=0.02, relative=True, kind="exact",
                            what=f"empirical R({end})")),
        ours=g["empirical"][:, -1], over="draws",
        ours_text=f"R({end}) per draw; largest error {100 * g['rel_err'].max():.1f}%; minimum at t = {g['argmin_emp']}")


def size_claim(claims: Claims, s: dict) -> None:
    p = s["p"]
    statement = "the theory–simulation gap shrinks with size"
    if p.min() <= 500 and p.max() >= 16000:
        sel = (p >= 500) & (p <= 16000)
        from lab.rmt_equivalents.ridge import loglog_slope
        slope = loglog_slope(p[sel], s["resolvent_err"][sel].mean(1))
        claims.judge("finite-size-rate", statement, paper_value="O(1/p) fluctuations", paper_source=SOURCE,
                     criterion="log-log slope ≤ −0.4 over p ∈ [500, 16000]",
                     verdict=rules.bounds(slope, upper=-0.4, kind="structural", what="log-log slope of the resolvent gap"),
                     ours=slope, over="fit")
    else:
        claims.not_checkable("finite-size-rate", statement, paper_value="O(1/p) fluctuations", paper_source=SOURCE,
                             criterion="log-log slope ≤ −0.4 over p ∈ [500, 16000]",
                             reason=f"needs p up to 16000 (the full tier, one GPU); this tier reaches p = {int(p.max())}, "
                                    f"where the slope is {s['slope_resolvent']:.2f}")


def check_all(claims: Claims, *, mp, ridge_res, ridgeless_res, rf_res, ck_res, deep_res, gd_res, gap_res) -> Claims:
    """Every row of the dossier's claims table, in its order."""
    mp_claims(claims, mp)
    ridge_claims(claims, ridge_res, ridgeless_res)
    rf_claims(claims, rf_res)
    ck_claims(claims, ck_res, deep_res)
    gd_claims(claims, gd_res)
    size_claim(claims, gap_res)
    return claims


READINGS = {
    "mp-edges": "the extreme eigenvalues fluctuate on the Tracy–Widom scale p^(−2/3) around λ±; for c = 0.5 "
                "the lower edge λ₋ ≈ 0.086 is small, so a miss of a few thousandths is several per cent relative.",
    "rf-theory-matches-sim": "Monte-Carlo error: at the narrow widths the standard error of a five-draw mean test MSE "
                             "is itself a few per cent; with 40 draws of W (the check below Figure F3) the gap "
                             "shrinks to about one standard error.",
    "ridgeless-double-descent": "Monte-Carlo error where the dimension is small: at the smallest γ the variance term "
                                "sums only p = γn directions, so each draw fluctuates by about √(2/p) and ten draws "
                                "leave a standard error of a few per cent.",
    "rf-double-descent-peak": "the peak sits at N = n with peak/min far above 10 on every seed; what can miss is the "
                              "per-seed max/min at γ = 1e-2, whose maximum sits at the narrowest width (under-fitting, "
                              "not a peak) — compare the mean curve's ratio in the table.",
    "gd-risk-curve": "the late-time risk is a ridgeless least-squares risk, whose draw-to-draw spread over 20 "
                     "draws is of the order of the 2% tolerance.",
}


def findings_markdown(claims: Claims) -> str:
    return summarize(claims, lambda cid: READINGS.get(cid, ""))
