"""The claims the inversion-bias chapter checks, decided from the experiments' results.

Each function evaluates one criterion of the dossier's claims table on the dicts that
:mod:`lab.inversion_bias.experiments` returns and records it in a :class:`lab.claims.Claims`.
The thresholds are the dossier's, fixed before any run; ``book/inversion_bias.md`` shows them.
"""
from __future__ import annotations

import numpy as np

from lab.claims import Claims, findings_markdown as summarize
from lab.claims import rules


def gaussian_inverse_wishart(claims: Claims, bias: dict) -> None:
    gauss = bias["bias"]["A"]["gaussian"]
    m0 = bias["m"]["A"][0]
    claims.judge(
        "gaussian-inverse-wishart", "the Gaussian sketch's inverse is biased by exactly m/(m−d−1)",
        paper_value="E[(AᵀSᵀSA)⁻¹] = m/(m−d−1)·(AᵀA)⁻¹", paper_source="§1 (inverse Wishart)",
        criterion="corrected bias < 0.05 at every m; uncorrected > 2× corrected at the smallest m",
        verdict=rules.all_of(
            rules.bounds(gauss["gaussian_exact"], upper=0.05, strict=True, what="corrected bias at every (seed, m)"),
            rules.bounds(gauss["none"][:, 0] / gauss["gaussian_exact"][:, 0], lower=2, strict=True,
                         what=f"uncorrected / corrected bias at m={m0}")),
        ours=gauss["gaussian_exact"].max(axis=1),
        ours_text=f"largest corrected bias; uncorrected {gauss['none'][:, 0].mean():.3f} at m={m0}",
    )


def fine_equals_scalar(claims: Claims, identity_gap: float) -> None:
    claims.judge(
        "fine-equals-scalar-under-leverage",
        "under exact leverage sampling the fine correction is the scalar m/(m−d_eff)",
        paper_value="implied by Prop. 3.2", paper_source="Prop. 3.2",
        criterion="row weights agree to 1e-12",
        verdict=rules.tolerance(identity_gap, tol=1e-12, what="largest row-weight deviation"),
        ours_text=f"largest deviation {identity_gap:.1e}",
    )


def sampling_inversion_bias(claims: Claims, bias: dict) -> None:
    a, m = bias["bias"]["A"], bias["m"]["A"]
    ratio = a["uniform"]["scalar"] / a["gaussian"]["gaussian_exact"]
    small = m <= 400
    verdict = (rules.fraction(ratio[:, small] > 5, what="(seed, m) points above 5× the floor") if small.any()
               else rules.not_checkable("no sketch size m ≤ 400 at this tier"))
    claims.judge(
        "sampling-inversion-bias", "uniform sampling is biased and the scalar factor cannot fix it",
        paper_value="E[Q] ≈ (AᵀDA+C)⁻¹ with non-constant D", paper_source="Thm 3.1, Remark 2.9",
        criterion="scalar-corrected bias > 5× the Monte-Carlo floor at every m ≤ 400",
        verdict=verdict, ours=ratio[:, 0], ours_text=f"scalar bias / floor at m={m[0]}",
    )


def fine_debias_unbiased(claims: Claims, bias: dict) -> None:
    a = bias["bias"]["A"]
    fine, floor = a["uniform"]["fine"], a["gaussian"]["gaussian_exact"]
    claims.judge(
        "fine-debias-unbiased", "the fine-grained rescaling removes the inversion bias of uniform sampling",
        paper_value="(ε, δ)-unbiased", paper_source="Prop. 3.2",
        criterion="fine bias ≤ max(2.5× floor, 0.015) at every m",
        verdict=rules.fraction(fine <= np.maximum(2.5 * floor, 0.015), what="(seed, m) points"),
        ours=fine.max(axis=1), ours_text="largest fine bias over m",
    )


def thm31_equivalent(claims: Claims, thm: dict) -> None:
    ratio = thm["gap_D"] / thm["floor"]
    # D_ii / bound: the lower bound m/(m+2ρ_max d_eff) and the upper m/(m+ρ_min d_eff), with 1e-12 slack
    below = thm["D_min"] - (thm["lower"] - 1e-12)
    above = (thm["upper"] + 1e-12) - thm["D_max"]
    verdict = rules.all_of(
        rules.fraction(ratio < 2, what="(seed, m) points with the gap below 2× the floor"),
        rules.bounds(np.minimum(below, above), lower=0.0, kind="structural",
                     what="distance of D inside m/(m+2ρ_max d_eff) ≤ D_ii ≤ m/(m+ρ_min d_eff)"),
        kind="fraction")
    claims.judge(
        "thm31-equivalent", "the uncorrected mean inverse is (AᵀDA+C)⁻¹ with Thm 3.1's fixed point D",
        paper_value="E[Q] ≈ (AᵀDA+C)⁻¹", paper_source="Thm 3.1",
        criterion="relative gap to (AᵀDA)⁻¹ < 2× the floor at every m; D within its bounds",
        verdict=verdict, ours=ratio.max(axis=1),
        ours_text=f"largest gap / floor (gap to the naive (AᵀA)⁻¹: {thm['gap_naive'][:, 0].mean():.3f} at m={thm['m'][0]})",
    )


def scalar_suffices(claims: Claims, bias: dict) -> None:
    b, m0 = bias["bias"]["B"], bias["m"]["B"][0]
    drops = {s: b[s]["none"][:, 0] / b[s]["scalar"][:, 0] for s in ("leverage", "srht")}
    claims.judge(
        "scalar-suffices-leverage-srht", "for leverage sampling and SRHT the scalar m/(m−d_eff) removes the bias",
        paper_value="remaining bias O(d_eff^(−3ν/2))", paper_source="Cor. 3.4, Cor. 3.7",
        criterion=f"bias drops ≥ 5× at m={m0} for both, every seed",
        verdict=rules.fraction(np.concatenate([v >= 5 for v in drops.values()]), what="(sketch, seed) pairs"),
        ours=np.minimum(drops["leverage"], drops["srht"]),
        ours_text=f"smaller drop of the two (leverage {drops['leverage'].mean():.1f}×, SRHT {drops['srht'].mean():.1f}×)",
    )


def rho_max_phase_transition(claims: Claims, pt: dict) -> None:
    """Rises: end > 2× start and ≥ 75% of steps up. Saturates: the log-log slope of the
    scalar-corrected bias against rho_max is smaller over the upper half of the (log) range.
    Two parts of one shape: both must hold (one of two is not "partly", by the rule book)."""
    rho, curve = pt["rho_max"].mean(0), pt["scalar"].mean(0)
    rises = bool(curve[-1] > 2 * curve[0] and np.mean(np.diff(curve) > 0) >= 0.75)
    slope = np.diff(np.log(curve)) / np.diff(np.log(rho))
    upper = rho[1:] >= np.sqrt(rho[0] * rho[-1])
    flattens = bool(upper.any() and (~upper).any() and slope[upper].mean() < slope[~upper].mean())
    note = ("" if rises and flattens else
            f"rises but does not saturate (slope {slope[~upper].mean():.2f} then {slope[upper].mean():.2f}); "
            f"the mixture also lowers ρ_min to {pt['rho_min'].mean(0).min():.2f}, below Cor. 3.4's premise ρ_min ≥ 1/2"
            if rises else "does not rise")
    claims.judge(
        "rho-max-phase-transition", "scalar-corrected bias grows with ρ_max, then saturates",
        paper_value="from O(d^(−3ν/2)) up to O(d^(−ν))", paper_source="Cor. 3.4, Fig. 1",
        criterion="bias rises (end > 2× start, ≥ 75% of steps up) and its log-log slope is smaller "
                  "over the upper half of the ρ_max range",
        verdict=rules.fraction([rises, flattens], what="parts of the shape (rise, saturation)"), note=note,
        ours=pt["scalar"][:, -1] / pt["scalar"][:, 0],
        ours_text=f"bias at ρ_max={rho[-1]:.1f} over bias at ρ_max={rho[0]:.1f}",
    )


def ssn_local_rate(claims: Claims, ssn: dict) -> None:
    rel = ssn["rate_sq"]["debiased"] / ssn["theory"]
    claims.judge(
        "ssn-local-rate", "de-biased SSN's squared local rate is ρ_max·d_eff/m",
        paper_value="≤ ρ_max·d_eff/m·(1+ε)", paper_source="Thm 4.3",
        criterion="within 20% of d_eff/m (ρ_max = 1) at every m",
        verdict=rules.fraction(np.abs(rel - 1) < 0.2, what="(seed, m) points within 20%"),
        ours=rel.mean(axis=1), ours_text="rate / theory, averaged over m",
    )


def ssn_rate_bound(claims: Claims, ssn: dict) -> None:
    """Thm 4.3 bounds the rate by ρ_max·d_eff/m·(1+ε); checked where ρ_max > 1 (mixed sampling)."""
    stack = np.array([r["rate_sq"] / (r["rho_max"][:, None] * ssn["theory"]) for r in ssn["mix"].values()])
    feasible = ~np.isnan(stack)  # [mixes, seeds, m]; NaN where m was too small for the fine correction
    rhos = ", ".join(f"{r['rho_max'].mean():.1f}" for r in ssn["mix"].values())
    kw = dict(paper_value="≤ ρ_max·d_eff/m·(1+ε)", paper_source="Thm 4.3",
              criterion="rate ≤ 1.2 × ρ_max·d_eff/m at every feasible m")
    statement = "de-biased SSN's squared rate stays below ρ_max·d_eff/m when ρ_max > 1"
    if not feasible.any():
        claims.not_checkable(
            "ssn-rate-bound-rho-max", statement, **kw,
            reason="no sketch size at this tier exceeds ρ_max·d_eff, which the fine correction needs")
        return
    claims.judge(
        "ssn-rate-bound-rho-max", statement, **kw,
        verdict=rules.fraction(stack[feasible] <= 1.2, what="(mix, seed, m) points below the bound"),
        ours=np.nanmax(stack, axis=(0, 2)),
        ours_text=f"largest rate / bound over m, at ρ_max ≈ {rhos}",
    )


def ssn_debias_helps(claims: Claims, ssn: dict) -> None:
    small = ssn["m"] <= 400
    deb, plain = ssn["rate_sq"]["debiased"][:, small], ssn["rate_sq"]["plain"][:, small]
    kw = dict(paper_value="de-biased below plain", paper_source="Figs 2–3",
              criterion="lower squared rate at m ≤ 400: log(plain / de-biased) > 2 s.e. over (seed, m) pairs")
    statement = "de-biased SSN converges faster than plain SSN at small sketch sizes"
    if not small.any():
        claims.not_checkable("ssn-debias-helps", statement, **kw, reason="no sketch size m ≤ 400 at this tier")
        return
    claims.judge(
        "ssn-debias-helps", statement, **kw,
        verdict=rules.ordering_from_differences(np.log(plain / deb).ravel(), names=("de-biased SSN", "plain SSN"),
                                                over="(seed, m) pairs"),
        ours=(plain / deb).mean(axis=1), ours_text="plain rate / de-biased rate, m ≤ 400",
    )


PAPER_ORDER = ("ssn-arlev", "ssn-slev", "ssn-alev", "ssn-srht", "newton-less")


def sampler_ranking(claims: Claims, evt: dict) -> list[str]:
    """Agreement of our order (by final error) with the paper's, pair by pair; returns ours.

    A random order gets half of the pairwise orderings right, so "partly" needs a count
    significantly above that (:func:`lab.claims.rules.fraction` with chance 1/2)."""
    final = {k: float(np.asarray(evt["methods"][k]["error"])[:, -1].mean()) for k in PAPER_ORDER}
    ours = sorted(PAPER_ORDER, key=final.get)
    pairs = [(a, b) for i, a in enumerate(PAPER_ORDER) for b in PAPER_ORDER[i + 1:]]
    claims.judge(
        "sampler-ranking", "ranking of sketches for SSN: ARLev, then SLev, ALev, SRHT, Newton-LESS",
        paper_value="ARLev > SLev > ALev > SRHT > Newton-LESS", paper_source="Fig. 3 (MNIST, CIFAR-10)",
        criterion="same order by final error on load_digits (a small-scale analogue: MNIST and CIFAR-10 are not offline)",
        verdict=rules.fraction([ours.index(a) < ours.index(b) for a, b in pairs], chance=0.5,
                               what="pairwise orderings"),
        ours_text=" > ".join(ours),
    )
    return ours


def check_all(claims: Claims, *, identity_gap: float, bias: dict, thm: dict, pt: dict, ssn: dict, evt: dict) -> Claims:
    """Every claim of the chapter, in the dossier's order."""
    gaussian_inverse_wishart(claims, bias)
    fine_equals_scalar(claims, identity_gap)
    sampling_inversion_bias(claims, bias)
    fine_debias_unbiased(claims, bias)
    thm31_equivalent(claims, thm)
    scalar_suffices(claims, bias)
    rho_max_phase_transition(claims, pt)
    ssn_local_rate(claims, ssn)
    ssn_rate_bound(claims, ssn)
    ssn_debias_helps(claims, ssn)
    sampler_ranking(claims, evt)
    return claims


# Why a claim can fall short at a small tier: our reading, shown only when that claim is not
# fully reproduced. Hypotheses, labelled as such in the chapter; the numbers are in the table.
WHY_SHORT = {
    "fine-debias-unbiased": (
        "Prop. 3.2 is an (ε, δ)-unbiasedness statement: the fine rescaling removes the bias to "
        "leading order, and what remains shrinks as m grows; at the smallest sketches a residual "
        "of the size of the Monte-Carlo floor can remain."
    ),
    "thm31-equivalent": (
        "The floor is the Gaussian sketch's Monte-Carlo noise; uniform sampling of rows with uneven "
        "leverage is noisier, so part of the measured gap is noise, and Thm 3.1 itself carries an "
        "error term. The gap to the naive (AᵀA)⁻¹ is far larger, so D captures most of the bias."
    ),
    "rho-max-phase-transition": (
        "Cor. 3.4 assumes ρ_min ≥ 1/2, and mixing towards uniform sampling drives ρ_min far below it, "
        "so the sweep leaves the corollary's premise; the saturation level O(d^(−ν)) may also lie "
        "beyond the ρ_max that uniform sampling reaches here."
    ),
    "sampler-ranking": (
        "On the digits data λ barely regularises (d_eff is close to d), so ridge and plain leverage "
        "nearly coincide and ARLev ≈ ALev; the paper's ranking comes from MNIST and CIFAR-10 at far "
        "larger n and d, which this offline book cannot load."
    ),
}


def findings_markdown(claims: Claims) -> str:
    """The verdicts and our reading of each shortfall (:func:`lab.claims.findings_markdown`)."""
    return summarize(claims, WHY_SHORT.get)
