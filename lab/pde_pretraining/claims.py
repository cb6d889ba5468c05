"""The claims the PDE pre-training chapter checks (``book/pde_pretraining.md``).

Every row of the dossier's claims table, decided by the rule book (:mod:`lab.claims.rules`).
The paper's numbers are unknown, so the qualitative rows are orderings over seeds (≥ 3 seeds and
2 standard errors of the paired difference), and no number here is the paper's.
"""
from __future__ import annotations


from lab.claims import Claims, findings_markdown as summarize
from lab.claims import rules

PAPER = "arXiv 2503.19081 (abstract; numbers not available)"


def generator_exact(claims: Claims, residuals: dict[str, float], td: dict[str, float]) -> None:
    worst = max(residuals.values())
    claims.judge(
        "generator-exact", "FFT solutions satisfy the spectral PDE (Poisson, advection–diffusion, Helmholtz)",
        paper_value="—", paper_source="dossier (derived target)",
        criterion="relative residual < 1e-10 for every sample of every system; Burgers against Cole–Hopf < 1e-6",
        verdict=rules.all_of(rules.bounds(list(residuals.values()), upper=1e-10, kind="exact", what="relative residual"),
                             rules.bounds([td["burgers_vs_cole_hopf"]], upper=1e-6, kind="exact",
                                          what="Burgers − Cole–Hopf (max abs)")),
        ours=list(residuals.values()), over="systems",
        ours_text=f"largest {worst:.1e}; Burgers vs Cole–Hopf {td['burgers_vs_cole_hopf']:.1e}",
    )


def residual_zero_at_truth(claims: Claims, r: dict[str, float]) -> None:
    claims.judge(
        "residual-zero-at-truth", "the residual loss vanishes at the true solution and its gradient is right",
        paper_value="—", paper_source="dossier (derived target)",
        criterion="L_PDE(u_true) < 1e-10; autograd gradient within 1e-6 (relative) of finite differences",
        verdict=rules.all_of(rules.bounds([r["loss_at_truth"]], upper=1e-10, kind="exact", what="L_PDE(u_true)"),
                             rules.bounds([r["gradient_gap"]], upper=1e-6, kind="exact", what="gradient gap")),
        ours=[r["loss_at_truth"]], over="values",
        ours_text=f"L_PDE(u_true) = {r['loss_at_truth']:.1e}; gradient gap {r['gradient_gap']:.1e}",
    )


def pde_only_learns(claims: Claims, pre: dict) -> None:
    err = pre["pde"]["id"]
    claims.judge(
        "pde-only-learns", "pre-training on the residual alone gives a usable solver",
        paper_value="claimed", paper_source=PAPER,
        criterion="in-distribution relative L2 < 0.3 (Poisson 32²) at every seed",
        verdict=rules.fraction(err < 0.3, what="seeds"), ours=err,
        ours_text="in-distribution relative L2, residual-only pre-training",
    )


def hybrid_beats_data_new_physics(claims: Claims, pre: dict) -> None:
    h, d = pre["hybrid"]["ood"], pre["data"]["ood"]
    claims.judge(
        "hybrid-beats-data-new-physics", "zero-shot at shifted coefficients (e ∈ [5, 10]): Hybrid below Data",
        paper_value="outperforms … all benchmarks", paper_source=PAPER,
        criterion="mean zero-shot error lower for Hybrid, over ≥ 3 seeds by 2 se of the paired difference",
        verdict=rules.ordering(h, d, names=("Hybrid", "Data")), ours=d - h,
        ours_text=f"Data − Hybrid error (Hybrid {h.mean():.3f}, Data {d.mean():.3f})",
    )


def hybrid_wide_beats_data(claims: Claims, pre: dict, e_wide: float) -> None:
    h, d = pre["hybrid-wide"]["ood"], pre["data"]["ood"]
    claims.judge(
        "hybrid-wide-beats-data-new-physics",
        f"the same with the residual evaluated on unlabelled sources with e ∈ [1, {e_wide:g}] (our design variant)",
        paper_value="not stated (whether the paper widens the residual's range is unknown)", paper_source="dossier, design choice",
        criterion="mean zero-shot error lower for Hybrid-wide, over ≥ 3 seeds by 2 se",
        verdict=rules.ordering(h, d, names=("Hybrid-wide", "Data")), ours=d - h,
        ours_text=f"Data − Hybrid-wide error (Hybrid-wide {h.mean():.3f})",
    )


def _orderings(fs: dict, pairs: list[tuple[str, str]], cols) -> tuple[rules.Verdict, list[float]]:
    verdicts, diffs = [], []
    for a, b in pairs:
        for j in cols:
            verdicts.append(rules.ordering(fs["error"][a][:, j], fs["error"][b][:, j],
                                           names=(f"{a} (N={int(fs['shots'][j])})", b)))
            diffs.append(float((fs["error"][b][:, j] - fs["error"][a][:, j]).mean()))
    return rules.all_of(*verdicts), diffs


def constraint_aware_few_shot(claims: Claims, fs: dict) -> None:
    cols = [j for j, n in enumerate(fs["shots"]) if n <= 16]
    if not cols:
        claims.not_checkable("constraint-aware-few-shot", "after few-shot fine-tuning: PDE/Hybrid < Data < scratch",
                             paper_value="claimed", paper_source=PAPER, criterion="holds for N ≤ 16",
                             reason="no fine-tuning size N ≤ 16 at this tier")
        return
    verdict, diffs = _orderings(fs, [("pde", "data"), ("hybrid", "data"), ("data", "scratch")], cols)
    claims.judge(
        "constraint-aware-few-shot", "after few-shot fine-tuning at shifted e: PDE/Hybrid < Data < scratch",
        paper_value="claimed", paper_source=PAPER,
        criterion="each of PDE < Data, Hybrid < Data, Data < scratch at every N ≤ 16 (ordering rule each)",
        verdict=verdict, ours=diffs, over="orderings",
        ours_text="mean error gaps (worse − better) per ordering and N",
    )


def new_pde_transfer(claims: Claims, fs: dict) -> None:
    cols = [j for j, n in enumerate(fs["shots"]) if n <= 64]
    verdict, diffs = _orderings(fs, [("hybrid", "data")], cols)
    claims.judge(
        "new-pde-transfer", "Poisson → Helmholtz after fine-tuning: Hybrid ≤ Data",
        paper_value="claimed", paper_source=PAPER,
        criterion="Hybrid below Data at every N ≤ 64 (the strict ordering rule: no looser than ≤)",
        verdict=verdict, ours=diffs, over="sizes", ours_text="Data − Hybrid error per N",
    )


def noisy_finetune_robust(claims: Claims, nz: dict) -> None:
    h, d = nz["increase"]["hybrid"], nz["increase"]["data"]
    claims.judge(
        "noisy-finetune-robust", f"with {100 * nz['level']:.0f}% label noise, Hybrid degrades less than Data",
        paper_value="claimed", paper_source=PAPER,
        criterion=f"smaller error increase (noisy − clean, N={nz['shots']}) for Hybrid, ordering rule over seeds",
        verdict=rules.ordering(h, d, names=("Hybrid's increase", "Data's")), ours=d - h,
        ours_text=f"increase: Hybrid {h.mean():+.3f}, Data {d.mean():+.3f}",
    )


NONPERIODIC = dict(
    statement="the benefit of the residual (Data − Hybrid zero-shot error at shifted e) shrinks under Dirichlet boundaries",
    paper_value="noted limitation", paper_source="secondary summary (dossier)",
    criterion="gap (Data − Hybrid) smaller than in the periodic case: ordering rule over ≥ 3 seeds, "
              "the Dirichlet gap of seed k paired with the periodic gap of seed k; and (stricter than the "
              "dossier) a periodic benefit to shrink: Hybrid below Data there, ordering rule")


def nonperiodic_bc_harder(claims: Claims, pre: dict, dr: dict | None) -> None:
    """Data − Hybrid zero-shot error (``e ∈ [5, 10]``) per seed, Dirichlet against periodic."""
    if dr is None:
        claims.not_checkable("nonperiodic-bc-harder", **NONPERIODIC,
                             reason="full tier only (dirichlet=True): the Dirichlet variant did not run at this tier")
        return
    per = pre["data"]["ood"] - pre["hybrid"]["ood"]
    dirg = dr["data"]["ood"] - dr["hybrid"]["ood"]
    note = ("the periodic gap is itself not positive on average, so there is no benefit to shrink"
            if per.mean() <= 0 else "")
    verdict = rules.all_of(rules.ordering(pre["hybrid"]["ood"], pre["data"]["ood"], names=("periodic Hybrid", "Data")),
                           rules.ordering(dirg, per, names=("the Dirichlet gap", "the periodic gap")))
    claims.judge("nonperiodic-bc-harder", **NONPERIODIC, verdict=verdict,
                 ours=per - dirg, over="seeds",
                 ours_text=f"gap Data − Hybrid: periodic {per.mean():+.3f}, Dirichlet {dirg.mean():+.3f}",
                 note=note)


MATRIX_CLAIM = dict(
    statement="Poisson → advection–diffusion after few-shot fine-tuning (3×3 benchmark matrix): Hybrid below Data",
    paper_value="claimed", paper_source=PAPER,
    criterion="Hybrid below Data at the matrix's N (≤ 64), ordering rule over ≥ 3 seeds (the dossier's "
              "new-pde-transfer row for its second target, advection–diffusion)")


def matrix_transfer(claims: Claims, mx: dict | None) -> None:
    if mx is None:
        claims.not_checkable("new-pde-transfer-advdiff", **MATRIX_CLAIM,
                             reason="full tier only (matrix=True): the benchmark matrix did not run at this tier")
        return
    i, j = mx["systems"].index("poisson"), mx["systems"].index("advdiff")
    h, d = mx["few_shot"]["hybrid"][:, i, j], mx["few_shot"]["data"][:, i, j]
    off = [(a, b) for a in range(len(mx["systems"])) for b in range(len(mx["systems"])) if a != b]
    wins = sum(float((mx["few_shot"]["data"][:, a, b] - mx["few_shot"]["hybrid"][:, a, b]).mean()) > 0 for a, b in off)
    claims.judge("new-pde-transfer-advdiff", **MATRIX_CLAIM,
                 verdict=rules.ordering(h, d, names=(f"Hybrid (N={mx['shots']})", "Data")), ours=d - h,
                 ours_text=f"Data − Hybrid error (Hybrid {h.mean():.3f}, Data {d.mean():.3f})",
                 note=f"Hybrid's mean few-shot error is below Data's in {wins} of {len(off)} off-diagonal cells")


def time_dependent_trio(claims: Claims, trio: dict | None) -> None:
    """Hybrid below Data at shifted coefficients, per system; the rule book's fraction over systems
    (all three for "reproduced"; stricter than the dossier's 2 of 3, which the note reports)."""
    statement = "the same ordering (Hybrid below Data at shifted coefficients) for heat, advection and Burgers"
    criterion = "Hybrid below Data (ordering rule over seeds) for each system; dossier: ≥ 2 of 3"
    if trio is None:
        claims.not_checkable("time-dependent-trio", statement, paper_value="claimed", paper_source=PAPER,
                             criterion=criterion,
                             reason="full tier only (time_dependent=True); no GPU has run the full tier")
        return
    verdicts = {s: rules.ordering(d["hybrid"], d["data"], names=(f"Hybrid ({s})", "Data")) for s, d in trio.items()}
    held = [s for s, v in verdicts.items() if v.holds]
    v = rules.fraction([v.holds for v in verdicts.values()], what="systems")
    claims.judge("time-dependent-trio", statement, paper_value="claimed", paper_source=PAPER, criterion=criterion,
                 verdict=rules.Verdict(v.status, "ordering", v.rule + "; " + "; ".join(x.rule for x in verdicts.values()), v.note),
                 ours=[float((d["data"] - d["hybrid"]).mean()) for d in trio.values()], over="systems",
                 note=f"holds for {', '.join(held) or 'none'} ({len(held)} of 3; the dossier asks ≥ 2)")


WHY_SHORT = {
    "pde-only-learns": "The residual weights high wavenumbers (σ ∝ |k|²), so low-frequency errors are learnt slowly; "
                       "a few hundred CPU steps may not reach 0.3.",
    "hybrid-beats-data-new-physics": "At this size the data loss alone already fits the solution operator well; "
                                     "the residual's advantage may need the wider coefficient range or more steps.",
    "constraint-aware-few-shot": "Several orderings are tested at once; any one within noise makes the claim fail.",
    "new-pde-transfer": "Helmholtz differs from Poisson in its zero-order term; a few fine-tuning steps may "
                        "erase what pre-training brought.",
    "noisy-finetune-robust": "Fine-tuning minimises the data loss alone, so noise reaches both variants the same way.",
    "nonperiodic-bc-harder": "The gap can only shrink where there is one: if Hybrid does not beat Data in the periodic "
                             "case, the comparison has nothing to measure.",
    "new-pde-transfer-advdiff": "Advection adds a first-order term and two input channels the Poisson models never "
                                "saw varying; a few fine-tuning steps may not use what pre-training brought.",
}


def findings_markdown(claims: Claims) -> str:
    return summarize(claims, WHY_SHORT.get)


