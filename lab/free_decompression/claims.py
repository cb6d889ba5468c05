"""The claims the free-decompression chapter checks (dossier's claims table, thresholds fixed
before any run; ``book/free_decompression.md`` shows them)."""
from __future__ import annotations

import numpy as np

from lab.claims import Claims, findings_markdown as summarize
from lab.claims import rules

# Figures B.2-B.3 show the sampled Kesten-McKay and Wachter runs only visually; we hold them to
# the dossier's bound for the sampled Wigner run of Fig. B.1 (TV < 1% in every seed).
SAMPLED_TV = 0.01


def closure_claims(claims: Claims, clo: dict) -> None:
    """Exact: decompressing each analytic law's own transform gives its image."""
    tol = 0.01
    claims.judge(
        "fd-mp-closure", "characteristics send MP(λ) to MP(αλ)", paper_value="exact", paper_source="App. B.2",
        criterion="max |Δρ| < 0.01 at δ=1e-6 away from ±2% of the edges; edges within 1e-6",
        verdict=rules.all_of(rules.tolerance(clo["mp"]["max_err"], tol=tol, what="max interior |Δρ|"),
                             rules.tolerance(clo["mp"]["edge_err"], tol=1e-6, what="edge error")),
        over="checks", ours=clo["mp"]["max_err"], ours_text=f"max |Δρ|; edge error {clo['mp']['edge_err']:.1e}")
    claims.judge(
        "fd-semicircle-closure", "the semicircle's variance scales by α (radius by √α)", paper_value="exact",
        paper_source="App. B.2", criterion="same tolerance",
        verdict=rules.all_of(rules.tolerance(clo["semicircle"]["max_err"], tol=tol, what="max interior |Δρ|"),
                             rules.tolerance(clo["semicircle"]["edge_err"], tol=1e-6, what="edge error")),
        over="checks", ours=clo["semicircle"]["max_err"], ours_text="max |Δρ|")
    claims.judge(
        "fd-km-wachter-closure", "Kesten–McKay and Wachter families map into themselves (analytic transforms)",
        paper_value="exact (families closed under FD)", paper_source="App. B.2",
        criterion="max |Δρ| < 0.01 (interior) for both, with the exact continuation",
        verdict=rules.tolerance([clo["km"]["max_err"], clo["wachter"]["max_err"]], tol=tol,
                                what="max interior |Δρ| (KM, Wachter)"),
        over="laws", ours=[clo["km"]["max_err"], clo["wachter"]["max_err"]], ours_text="KM, Wachter")
    claims.judge(
        "fd-pde-residual", "the characteristic solution satisfies ∂ₜm = −m + (1/m)∂_z m", paper_value="eq. (1)",
        paper_source="Prop. 3", criterion="relative finite-difference residual < 1e-6",
        verdict=rules.tolerance(list(clo["pde_residual"].values()), tol=1e-6, what="relative PDE residual"),
        over="laws", ours=list(clo["pde_residual"].values()), ours_text="MP, semicircle")


def sampled_laws(claims: Claims, laws_res: dict) -> None:
    """Decompressing sampled submatrices (Figs B.1-B.3), separate from the analytic closures."""
    w = laws_res["semicircle"]
    claims.judge(
        "fd-wigner-tv", f"Wigner submatrix decompressed by ×{w['alpha']:g}", paper_value="visual agreement",
        paper_source="Fig. B.1", criterion="TV < 1% in every seed",
        verdict=rules.bounds(w["tv"], upper=SAMPLED_TV, strict=True, kind="magnitude", what="TV to the semicircle"),
        ours=w["tv"], ours_text="TV to the semicircle")
    for cid, key, fig, what in (("fd-km-sampled-tv", "kesten_mckay", "Fig. B.2", "Kesten–McKay (sum of random matchings)"),
                                ("fd-wachter-sampled-tv", "wachter", "Fig. B.3", "Wachter (MANOVA)")):
        r = laws_res[key]
        claims.judge(
            cid, f"a sampled {what} submatrix decompressed by ×{r['alpha']:g} recovers {r['target']}",
            paper_value="visual agreement", paper_source=f"{fig} (n_s = 1000 → 32,000)",
            criterion="TV < 1% in every seed (the dossier's bound for the Wigner run of Fig. B.1; the paper gives no number)",
            verdict=rules.bounds(r["tv"], upper=SAMPLED_TV, strict=True, kind="magnitude", what=f"TV to {r['target']}"),
            ours=r["tv"], ours_text=f"TV to {r['target']}")
    claims.not_checkable(
        "fd-meixner", "the free Meixner family maps into itself; (0.1, 4, 0.6) decompresses to ≈ (0.566, 253, 0.210)",
        paper_value="visual agreement", paper_source="App. B.2, Fig. B.4",
        criterion="as Figs B.2–B.3: closure max |Δρ| < 0.01 and sampled TV < 1%",
        reason="not attempted: lab.free_decompression.laws has no free Meixner law (its Stieltjes transform, "
               "second sheet and matrix sampler are not implemented) and its Padé [7/8] glue is outside the "
               "degrees we implemented and tested")


def check_all(claims: Claims, *, clo: dict, mp: dict, laws_res: dict, real: dict, tim: dict,
              digits: dict | None = None) -> Claims:
    closure_claims(claims, clo)
    tv = mp["tv"][:, -1]
    n_last = int(mp["targets"][-1])
    claims.judge(
        "fd-mp-tv", f"FD of MP(1/50) submatrices to n = {n_last}", paper_value="TV 0.2%, JS 1.867%",
        paper_source="Fig. 1, App. B.2 (n_s=1000 → 32,000, 10 matrices)",
        criterion="mean TV over seeds < 2% (paper: 0.2%), i.e. within 10× of the paper's TV",
        verdict=rules.magnitude(tv, 0.002, factor=10, what="mean TV"),
        ours=tv, ours_text=f"TV; with the true support {100 * mp['tv_oracle'][:, -1].mean():.2f}%; JS {100 * mp['js'][:, -1].mean():.2f}%")
    sampled_laws(claims, laws_res)
    lo, hi = mp["true_edges"]
    rel = np.abs(mp["edges"] - np.array([lo, hi])) / np.array([lo, hi])
    claims.judge(
        "fd-support-edges", "predicted edges of the decompressed support", paper_value="(1 ± √(αλ))²",
        paper_source="Algorithm 1, step 7", criterion="within 2% of (1 ± √(αλ))² (both edges, every seed)",
        verdict=rules.all_of(
            rules.bounds(rel[:, 0], upper=0.02, strict=True, kind="magnitude", what="relative error of the lower edge"),
            rules.bounds(rel[:, 1], upper=0.02, strict=True, kind="magnitude", what="relative error of the upper edge")),
        ours=rel.max(1), ours_text="largest relative edge error")
    r = real["runs"][-1]
    claims.judge(
        "fd-vs-full-spectrum", f"n_s = {real['ns']} → n = {r['n']} against a real eigendecomposition",
        paper_value="Fig. 3 style", paper_source="Fig. 3", criterion="TV vs the 100-bin ESD < 5%",
        verdict=rules.bounds(r["tv"], upper=0.05, strict=True, kind="magnitude", what=f"TV at n = {r['n']}"),
        over="sizes", ours=[x["tv"] for x in real["runs"]], ours_text=f"TV at n = {', '.join(str(x['n']) for x in real['runs'])}")
    err = np.abs(mp["logdet"] - mp["logdet_exact"]) / abs(mp["logdet_exact"])
    claims.judge(
        "fd-logdet-mp", "log-det from the decompressed MP density", paper_value="0.178% error (printed as 1.78%)",
        paper_source="Fig. 1 text", criterion="report: mean relative error vs n∫log x dMP (< 1% counts as reproduced)",
        verdict=rules.bounds(float(err.mean()), upper=0.01, strict=True, kind="magnitude", what="mean relative log-det error"),
        ours=err, ours_text=f"relative error; mean log-det {mp['logdet'].mean():.1f} ± {mp['logdet'].std():.1f} vs {mp['logdet_exact']:.1f}")
    slope = float(np.polyfit(np.log(mp["alpha"]), np.log(mp["tv"].mean(0)), 1)[0])
    claims.judge(
        "fd-error-growth", "error grows at most polynomially in n/n_s", paper_value="‖δm_n‖ ≲ (n/n_s)^ν ‖δm_ns‖",
        paper_source="Prop. 4", criterion="log TV vs log α has slope < 1",
        verdict=rules.bounds(slope, upper=1, strict=True, kind="magnitude", what="fitted slope of log TV on log α"),
        over="checks", ours=slope, ours_text="fitted slope")
    fd, direct = tim["fd_s"], tim["direct_s"]
    claims.judge(
        "fd-runtime-flat", "FD cost barely depends on n; the direct eigensolver's is cubic",
        paper_value="FD 4.2–4.4 s flat vs direct 10 s → 67,331 s", paper_source="Table 2",
        criterion="FD time within 2× across targets; eigvalsh ≥ 4× per doubling at the largest sizes",
        verdict=rules.all_of(
            rules.bounds(float(fd.max() / fd.min()), upper=2, strict=True, kind="magnitude",
                         what="largest / smallest FD time"),
            rules.bounds(float(direct[-1] / direct[-2]), lower=4, kind="magnitude",
                         what="eigvalsh time growth over the last doubling")),
        # timings vary run to run, so they stay out of the per-seed numbers (kept reproducible)
        ours_text=f"direct / FD time at n = {int(tim['n'][-1])}: {direct[-1] / fd[-1]:.2f} ({tim['device']}); "
                  f"FD {fd.min():.2f}–{fd.max():.2f} s")
    if digits is not None:
        tvs = [r["tv"] for r in digits["runs"]]
        best = digits["runs"][int(np.argmin(tvs))]
        ntk = next((r for r in digits["runs"] if r["key"] == "ntk"), None)
        verdict = (rules.bounds(ntk["tv"], upper=0.05, strict=True, kind="magnitude",
                                what="TV with the paper's NTK settings") if ntk is not None
                   else rules.not_checkable("the paper's NTK settings were not run at this tier"))
        claims.judge(
            "fd-digits-kernel", f"FD recovers the spectrum of a real kernel matrix (digits, n_s = {digits['ns']} → {digits['n']})",
            paper_value="TV 1.7–5.9% on the ResNet50 NTK", paper_source="Table 2, §6 (real-data experiments)",
            criterion="TV vs the 100-bin ESD < 5% with the paper's NTK settings (Table H.1); the other settings are reported",
            verdict=verdict, note=f"best setting {best['label']}: TV {100 * best['tv']:.1f}% on linear bins, "
                                  f"{100 * best['log_tv']:.0f}% on log bins",
            over="settings", ours=tvs,
            ours_text=f"TV per setting ({', '.join(r['key'] for r in digits['runs'])}); on log-spaced bins "
                      f"{', '.join('%.0f%%' % (100 * r['log_tv']) for r in digits['runs'])}; FD {best['fd_s']:.1f} s vs "
                      f"eigvalsh {digits['direct_s']:.2f} s at n = {digits['n']}")
    peer_ok = np.isfinite(mp["peer_oracle_tv"]) if mp["peer_used"] else np.array([], bool)
    if peer_ok.any():
        ours_or, theirs = mp["tv_oracle"][:, -1][peer_ok], mp["peer_oracle_tv"][peer_ok]
        failed = int(np.sum(~np.isfinite(mp["peer_tv"])))
        claims.judge(
            "fd-agrees-with-freealg", "our implementation matches the authors' freealg",
            paper_value="freealg 0.12.2", paper_source="reference code",
            criterion="|TV_ours − TV_freealg| < 1 percentage point on average (same submatrix, true support)",
            verdict=rules.bounds(abs(float(ours_or.mean() - theirs.mean())), upper=0.01, strict=True, kind="magnitude",
                                 what="|mean TV ours − mean TV freealg|"),
            ours=theirs, ours_text=f"freealg TV (ours {100 * ours_or.mean():.2f}%); freealg failed on "
                                   f"{failed} of {len(mp['peer_tv'])} seeds with our estimated support")
    else:
        claims.not_checkable("fd-agrees-with-freealg", "our implementation matches the authors' freealg",
                             paper_value="freealg 0.12.2", paper_source="reference code",
                             criterion="|TV_ours − TV_freealg| < 1 percentage point",
                             reason="freealg not installed or peer disabled at this tier")
    claims.not_checkable(
        "fd-ntk-resnet50", "FD of the ResNet50 NTK on CIFAR-10", paper_value="TV 1.7–5.9%", paper_source="Table 2",
        criterion="citation only", reason="the NTK data and CIFAR-10 are not available offline")
    return claims


def findings_markdown(claims: Claims) -> str:
    """The verdicts and our reading of each shortfall (:func:`lab.claims.findings_markdown`)."""
    return summarize(claims)
