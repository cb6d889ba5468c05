"""The claims the free-decompression chapter checks (dossier's claims table, thresholds fixed
before any run; ``book/free_decompression.md`` shows them)."""
from __future__ import annotations

import numpy as np

from lab.claims import Claims, findings_markdown as summarize


def check_all(claims: Claims, *, clo: dict, mp: dict, laws_res: dict, real: dict, tim: dict,
              digits: dict | None = None) -> Claims:
    tol = 0.01
    claims.check(
        "fd-mp-closure", "characteristics send MP(λ) to MP(αλ)", paper_value="exact", paper_source="App. B.2",
        criterion="max |Δρ| < 0.01 at δ=1e-6 away from ±2% of the edges; edges within 1e-6",
        holds=clo["mp"]["max_err"] < tol and clo["mp"]["edge_err"] < 1e-6, over="checks", ours=clo["mp"]["max_err"],
        ours_text=f"max |Δρ|; edge error {clo['mp']['edge_err']:.1e}")
    claims.check(
        "fd-semicircle-closure", "the semicircle's variance scales by α (radius by √α)", paper_value="exact",
        paper_source="App. B.2", criterion="same tolerance",
        holds=clo["semicircle"]["max_err"] < tol and clo["semicircle"]["edge_err"] < 1e-6,
        over="checks", ours=clo["semicircle"]["max_err"], ours_text="max |Δρ|")
    claims.check(
        "fd-km-wachter-closure", "Kesten–McKay and Wachter families map into themselves",
        paper_value="visual agreement", paper_source="Figs B.2–B.3",
        criterion="max |Δρ| < 0.01 (interior) for both, with the exact continuation",
        holds=max(clo["km"]["max_err"], clo["wachter"]["max_err"]) < tol,
        over="laws", ours=[clo["km"]["max_err"], clo["wachter"]["max_err"]], ours_text="KM, Wachter")
    res = max(clo["pde_residual"].values())
    claims.check(
        "fd-pde-residual", "the characteristic solution satisfies ∂ₜm = −m + (1/m)∂_z m", paper_value="eq. (1)",
        paper_source="Prop. 3", criterion="relative finite-difference residual < 1e-6",
        holds=res < 1e-6, over="laws", ours=list(clo["pde_residual"].values()), ours_text="MP, semicircle")
    tv = mp["tv"][:, -1]
    n_last = int(mp["targets"][-1])
    claims.check(
        "fd-mp-tv", f"FD of MP(1/50) submatrices to n = {n_last}", paper_value="TV 0.2%, JS 1.867%",
        paper_source="Fig. 1, App. B.2 (n_s=1000 → 32,000, 10 matrices)",
        criterion="mean TV over seeds < 2% (paper: 0.2%)", holds=bool(tv.mean() < 0.02),
        partly=bool(np.min(tv) < 0.02), note="" if tv.mean() < 0.02 else f"TV < 2% in {int((tv < 0.02).sum())} of {tv.size} seeds",
        ours=tv, ours_text=f"TV; with the true support {100 * mp['tv_oracle'][:, -1].mean():.2f}%; JS {100 * mp['js'][:, -1].mean():.2f}%")
    w = laws_res["semicircle"]
    claims.check(
        "fd-wigner-tv", f"Wigner submatrix decompressed by ×{w['alpha']:g}", paper_value="visual agreement",
        paper_source="Fig. B.1", criterion="TV < 1% in every seed", holds=bool(np.all(w["tv"] < 0.01)),
        ours=w["tv"], ours_text="TV to the semicircle")
    lo, hi = mp["true_edges"]
    rel = np.abs(mp["edges"] - np.array([lo, hi])) / np.array([lo, hi])
    claims.check(
        "fd-support-edges", "predicted edges of the decompressed support", paper_value="(1 ± √(αλ))²",
        paper_source="Algorithm 1, step 7", criterion="within 2% of (1 ± √(αλ))² (both edges, every seed)",
        holds=bool(np.all(rel < 0.02)), partly=bool(np.all(rel[:, 1] < 0.02)),
        note="" if np.all(rel < 0.02) else "upper edge within 2%, lower edge not" if np.all(rel[:, 1] < 0.02) else "edges off",
        ours=rel.max(1), ours_text="largest relative edge error")
    r = real["runs"][-1]
    claims.check(
        "fd-vs-full-spectrum", f"n_s = {real['ns']} → n = {r['n']} against a real eigendecomposition",
        paper_value="Fig. 3 style", paper_source="Fig. 3", criterion="TV vs the 100-bin ESD < 5%",
        holds=r["tv"] < 0.05, over="sizes", ours=[x["tv"] for x in real["runs"]], ours_text=f"TV at n = {', '.join(str(x['n']) for x in real['runs'])}")
    err = np.abs(mp["logdet"] - mp["logdet_exact"]) / abs(mp["logdet_exact"])
    claims.check(
        "fd-logdet-mp", "log-det from the decompressed MP density", paper_value="0.178% error (printed as 1.78%)",
        paper_source="Fig. 1 text", criterion="report: mean relative error vs n∫log x dMP (< 1% counts as reproduced)",
        holds=bool(err.mean() < 0.01), ours=err,
        ours_text=f"relative error; mean log-det {mp['logdet'].mean():.1f} ± {mp['logdet'].std():.1f} vs {mp['logdet_exact']:.1f}")
    slope = float(np.polyfit(np.log(mp["alpha"]), np.log(mp["tv"].mean(0)), 1)[0])
    claims.check(
        "fd-error-growth", "error grows at most polynomially in n/n_s", paper_value="‖δm_n‖ ≲ (n/n_s)^ν ‖δm_ns‖",
        paper_source="Prop. 4", criterion="log TV vs log α has slope < 1", holds=slope < 1, over="checks", ours=slope,
        ours_text="fitted slope")
    fd, direct = tim["fd_s"], tim["direct_s"]
    flat = fd.max() < 2 * fd.min()
    cubic = direct[-1] / direct[-2] >= 4
    claims.check(
        "fd-runtime-flat", "FD cost barely depends on n; the direct eigensolver's is cubic",
        paper_value="FD 4.2–4.4 s flat vs direct 10 s → 67,331 s", paper_source="Table 2",
        criterion="FD time within 2× across targets; eigvalsh ≥ 4× per doubling at the largest sizes",
        holds=bool(flat and cubic), partly=bool(flat or cubic),
        note="" if flat and cubic else ("FD flat; eigvalsh grows less than 4× per doubling at these sizes" if flat else "FD time not flat"),
        # timings vary run to run, so they stay out of the per-seed numbers (kept reproducible)
        ours_text=f"direct / FD time at n = {int(tim['n'][-1])}: {direct[-1] / fd[-1]:.2f} ({tim['device']}); "
                  f"FD {fd.min():.2f}–{fd.max():.2f} s")
    if digits is not None:
        tvs = [r["tv"] for r in digits["runs"]]
        best = digits["runs"][int(np.argmin(tvs))]
        claims.check(
            "fd-digits-kernel", f"FD recovers the spectrum of a real kernel matrix (digits, n_s = {digits['ns']} → {digits['n']})",
            paper_value="TV 1.7–5.9% on the ResNet50 NTK", paper_source="Table 2, §6 (real-data experiments)",
            criterion="TV vs the 100-bin ESD < 5% with the paper's NTK settings (Table H.1); "
                      "partly if another paper setting gets < 5% on linear bins",
            holds=bool(digits["runs"][0]["key"] == "ntk" and digits["runs"][0]["tv"] < 0.05),
            partly=bool(best["tv"] < 0.05), note=f"{best['label']}: TV {100 * best['tv']:.1f}%" if best["tv"] < 0.05 else "",
            over="settings", ours=tvs,
            ours_text=f"TV per setting ({', '.join(r['key'] for r in digits['runs'])}); on log-spaced bins "
                      f"{', '.join('%.0f%%' % (100 * r['log_tv']) for r in digits['runs'])}; FD {best['fd_s']:.1f} s vs "
                      f"eigvalsh {digits['direct_s']:.2f} s at n = {digits['n']}")
    peer_ok = np.isfinite(mp["peer_oracle_tv"]) if mp["peer_used"] else np.array([], bool)
    if peer_ok.any():
        ours_or, theirs = mp["tv_oracle"][:, -1][peer_ok], mp["peer_oracle_tv"][peer_ok]
        failed = int(np.sum(~np.isfinite(mp["peer_tv"])))
        claims.check(
            "fd-agrees-with-freealg", "our implementation matches the authors' freealg",
            paper_value="freealg 0.12.2", paper_source="reference code",
            criterion="|TV_ours − TV_freealg| < 1 percentage point on average (same submatrix, true support)",
            holds=bool(abs(ours_or.mean() - theirs.mean()) < 0.01),
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
