"""The claims of the copula sample-paths chapter, decided by the rule book from the experiments.

One function per row of the dossier's claims table (``book/copula_sample_paths.md``). Our
numbers come from a small in-process mini-Bolt and a synthetic oracle; the paper's come from
Chronos-Bolt, TiRex and TimesFM and are cited as theirs, never set beside ours as comparable.
"""
from __future__ import annotations

import numpy as np

from lab.claims import Claims, rules

SRC = "Baron et al. 2025"


def marginals_preserved(claims: Claims, st: dict, bo: dict) -> None:
    ps = np.concatenate([v for v in st["ks_p"].values()])
    ci, cc = bo["scores"]["independent"]["crps"].mean(1), bo["scores"]["copula"]["crps"].mean(1)
    d = cc - ci
    z = abs(d.mean()) / (d.std(ddof=1) / np.sqrt(len(d)))
    claims.judge(
        "copula-marginals-preserved", "copula paths have exactly the model's marginals",
        paper_value="by construction", paper_source=f"{SRC}, §3",
        criterion="KS test per h passes (p > 0.01 at every h and ρ); marginal CRPS equals independent "
                  "sampling's within 2 Monte-Carlo standard errors (paired over test windows)",
        verdict=rules.all_of(rules.bounds(ps, lower=0.01, strict=True, what="KS p-value per (ρ, h)", kind="exact"),
                             rules.bounds(z, upper=2.0, what="|copula − independent| CRPS in standard errors",
                                          kind="exact"), kind="exact"),
        ours=ps, over="(ρ, h) pairs",
        ours_text=f"smallest KS p {ps.min():.3f} over {len(ps)} (ρ, h); CRPS copula {cc.mean():.4f}, "
                  f"independent {ci.mean():.4f} (difference {z:.2f} se)")


def latent_acf(claims: Claims, st: dict) -> None:
    errs = list(st["corr_err"].values())
    claims.judge(
        "copula-latent-acf", "the latent correlation equals ρ^|h−h'|",
        paper_value="R = ρ^|h−h'| (AR(1) Toeplitz)", paper_source=f"{SRC}, §3",
        criterion="largest |corr(z_h, z_h') − ρ^|h−h'|| ≤ 0.02",
        verdict=rules.tolerance(errs, target=0.0, tol=0.02, what="largest latent-correlation error"),
        ours=errs, over="ρ values",
        ours_text=", ".join(f"ρ={r:g}: {e:.4f}" for r, e in st["corr_err"].items()))


def exact_r_recovery(claims: Claims, orc: dict) -> None:
    a, b = orc["scores"]["copula, exact R"]["es"], orc["scores"]["exact joint"]["es"]
    d = a - b
    z = abs(d.mean()) / (d.std(ddof=1) / np.sqrt(len(d)))
    claims.judge(
        "copula-exact-R-recovery", "exact Gaussian marginals with the exact predictive correlation give the true joint",
        paper_value="–", paper_source="dossier (structural check)",
        criterion="ES of the exact-R copula equals the exact joint's within 2 Monte-Carlo standard errors "
                  "(paired over series)",
        verdict=rules.bounds(z, upper=2.0, what="|ES difference| in standard errors", kind="exact"),
        ours=z, over="oracle",
        ours_text=f"ES {a.mean():.4f} (copula, exact R) vs {b.mean():.4f} (exact joint), {z:.2f} se")


def beats_independent(claims: Claims, orc: dict, bo: dict) -> None:
    vs = []
    txt = []
    for name, res, cop in (("M4 hourly", bo["scores"], "copula"), ("AR(1) oracle", orc["scores"], "Toeplitz, estimated ρ")):
        for key, label in (("es", "ES"), ("vs", "VS"), ("agg", "aggregate CRPS")):
            a, b = res[cop][key], res["independent"][key]
            vs.append(rules.ordering(a, b, better="lower", names=(f"copula {label} ({name})", "independent"),
                                     over="test windows"))
            txt.append(f"{name} {label} {a.mean():.3g} vs {b.mean():.3g}")
    claims.judge(
        "copula-beats-independent", "the copula gives lower ES, VS and aggregate CRPS than independent sampling "
                                    "when the truth is autocorrelated",
        paper_value="realistic correlation structures (qualitative)", paper_source=f"{SRC}, abstract and Fig. 1",
        criterion="ordering (2 se, paired over test windows) for ES, VS and aggregate CRPS, on M4 hourly and on "
                  "the synthetic AR(1)",
        verdict=rules.all_of(*vs, kind="ordering"), ours=[v.status.value == "reproduced" for v in vs],
        over="score × dataset", ours_text="; ".join(txt))


def speedup(claims: Claims, bo: dict) -> None:
    c = bo["calls"]
    N, H, p = c["N"], c["H"], c["p"]
    rounds = -(-H // p)
    count_ok = [c["copula"] - 1, c["ar_batched"] - rounds, c["ar_batched_sequences"] - c["B"] * N * rounds,
                c["ar_unbatched"] - N * rounds, c["ar_unbatched_sequences"] - c["B_sub"] * N * rounds]
    cpu = bo["cpu_s"]
    r_b, r_u = cpu["ar_batched_sub"] / cpu["copula_sub"], cpu["ar_unbatched_sub"] / cpu["copula_sub"]
    claims.judge(
        "copula-speedup", "1 forward pass against N⌈H/p⌉ sequence evaluations (⌈H/p⌉ sequential batched calls)",
        paper_value="orders of magnitude faster; up to 100.4× (the latter from a secondary source)",
        paper_source=f"{SRC}, abstract",
        criterion="call and sequence counts exact; CPU-time ratio AR/copula > 1, batched and unbatched",
        verdict=rules.all_of(rules.tolerance(count_ok, target=0, tol=0, what="count − expected", kind="exact"),
                             rules.bounds([r_b, r_u], lower=1, strict=True, what="CPU-time ratio AR / copula",
                                          kind="exact"), kind="exact"),
        ours=[c["copula"], c["ar_batched"], c["ar_unbatched"]], over="model calls: copula, AR batched, AR unbatched",
        ours_text=f"calls: copula 1, AR batched {c['ar_batched']} on {N}·B sequences, unbatched {c['ar_unbatched']}; "
                  f"CPU ratio at N={N}, H={H}, p={p}: batched {r_b:.1f}×, unbatched {r_u:.0f}× "
                  + ("(one CPU thread)" if bo.get("train", {}).get("device", "cpu") == "cpu"
                     else "(CPU seconds of the process; the model ran on the GPU)"))
    claims.not_checkable(
        "copula-speedup-gpu", "wall-time speed-up ≥ 100× over batched AR at N = 1000, H = 48 on a GPU",
        paper_value="up to 100.4×", paper_source=f"{SRC} (secondary source)",
        criterion="measured GPU wall-time ratio ≥ 100",
        reason="needs a GPU; the full tier has not run on one (CPU ratios are in copula-speedup)")


def snowballing(claims: Claims, bo: dict) -> None:
    ar, dq = bo["scores"]["autoregressive"]["crps"], bo["scores"]["independent"]["crps"]
    h = np.arange(ar.shape[1])
    slope = lambda c: np.polyfit(h, c.T, 1)[0]  # noqa: E731  per-window slope of CRPS in h
    sa, sd = slope(ar), slope(dq)
    claims.judge(
        "ar-snowballing", "AR marginal CRPS worsens faster with h than the direct marginals",
        paper_value="mitigating snowballing (qualitative)", paper_source=f"{SRC}, abstract",
        criterion="slope ordering: per-window slope of CRPS against h, direct below AR (2 se over test windows)",
        verdict=rules.ordering(sd, sa, better="lower", names=("direct (copula marginals)", "AR"), over="test windows"),
        ours=sa - sd, ours_text=f"mean slope per step: direct {sd.mean():.2e}, AR {sa.mean():.2e}; "
                                f"CRPS at h=H: direct {dq[:, -1].mean():.4f}, AR {ar[:, -1].mean():.4f}")


def vs_ar(claims: Claims, bo: dict) -> None:
    s = bo["scores"]
    v = [rules.ordering(s["copula"][k], s["autoregressive"][k], better="lower", names=(f"copula {k.upper()}", "AR"),
                        over="test windows") for k in ("es", "vs")]
    claims.judge(
        "copula-vs-ar-quality", "copula ES and VS at or below AR sampling's",
        paper_value="improved sample path quality (qualitative)", paper_source=f"{SRC}, abstract",
        criterion="ordering (2 se over test windows) for ES and VS over the whole horizon",
        verdict=rules.all_of(*v, kind="ordering"), ours=[s["copula"]["es"].mean(), s["autoregressive"]["es"].mean()],
        over="copula, AR (ES)",
        ours_text=f"ES copula {s['copula']['es'].mean():.4f} vs AR {s['autoregressive']['es'].mean():.4f}; "
                  f"VS {s['copula']['vs'].mean():.3f} vs {s['autoregressive']['vs'].mean():.3f}")


def all_claims(claims: Claims, st, orc, bo) -> None:
    marginals_preserved(claims, st, bo)
    latent_acf(claims, st)
    exact_r_recovery(claims, orc)
    beats_independent(claims, orc, bo)
    speedup(claims, bo)
    snowballing(claims, bo)
    vs_ar(claims, bo)


def why(cid: str) -> str:
    """A sentence on why a claim came out as it did (for the findings section)."""
    return {
        "copula-speedup-gpu": "no GPU in this run.",
        "copula-marginals-preserved": "the marginals are equal by construction, and a 2-se test of an exact "
                                      "equality fails about 5% of the time by design; the replication over further "
                                      "sampling seeds in the chapter shows whether this run is such a case.",
        "ar-snowballing": "a small model over a 48-step horizon; the AR rollout feeds its own samples back.",
        "copula-vs-ar-quality": "AR paths carry the model's own dynamics; the copula carries one ρ per series.",
        "copula-beats-independent": "the copula changes only the dependence, which ES, VS and sums score.",
    }.get(cid, "")
