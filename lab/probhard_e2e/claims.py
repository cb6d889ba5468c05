"""The claims the ProbHardE2E chapter checks, one function per row of the dossier's table.

Every verdict comes from :mod:`lab.claims.rules`. The paper's numbers come from a detailed
paper note, not the PDF, so each ``paper_source`` says "secondary source". Thresholds are the
dossier's, fixed before any run.
"""
from __future__ import annotations

import numpy as np

from lab.claims import Claims, findings_markdown
from lab.claims import rules

SECONDARY = "secondary source (a paper note; not checked against the PDF)"


def feasibility(claims: Claims, exact: dict, pde: dict) -> None:
    fp64 = [v for k, v in exact.items() if k.startswith("rel_ce_fp64")]
    fp32 = [v for k, v in exact.items() if k.startswith("rel_ce_fp32")]
    trained = [pde[t][v]["rel_ce"].max() for t in pde for v in ("oblique", "orthogonal", "oblique_nll", "inference_only")
               if v in pde[t]]
    verdict = rules.all_of(rules.bounds(fp64 + trained, upper=1e-10, kind="exact", what="relative CE (float64)"),
                           rules.bounds(fp32, upper=1e-6, kind="exact", what="relative CE (float32)"))
    claims.judge("dppl-hard-feasibility", "DPPL means and projected samples satisfy Au = b",
                 paper_value="CE = 0", paper_source=f"Tables (PDE, hierarchy); {SECONDARY}",
                 criterion="relative CE < 1e-6 (fp32), < 1e-10 (fp64)", verdict=verdict,
                 ours=fp64 + fp32 + trained, over="cases",
                 ours_text=f"largest fp64 {max(fp64 + trained):.1e}, fp32 {max(fp32):.1e}")


def unconstrained_violates(claims: Claims, pde: dict, hier: dict | None) -> None:
    tasks = dict(pde)
    if hier is not None:
        tasks["hierarchy"] = hier
    vals = [tasks[t][v]["ce"].min() for t in tasks for v in ("unconstrained", "soft") if v in tasks[t]]
    claims.judge("unconstrained-violates", "unconstrained and soft-penalty models have CE > 0",
                 paper_value="CE up to 8398.6 (WIKI, DeepVAR); SoftC 18–182 ×1e-3", paper_source=SECONDARY,
                 criterion="CE > 1e-3 for every unconstrained / soft model",
                 verdict=rules.bounds(vals, lower=1e-3, strict=True, what="max |Aμ − b|"), ours=vals, over="models")


def covariance(claims: Claims, exact: dict) -> None:
    z = [exact["cov"][m]["frob_z"] for m in ("oblique", "orthogonal")]
    mz = [exact["cov"][m]["mean_max_z"] for m in ("oblique", "orthogonal")]
    claims.judge("dppl-cov-formula", "projected-sample covariance equals Σ̂",
                 paper_value="Thm 3.1 (exact for linear constraints)", paper_source="Thm 3.1",
                 criterion="MC error < 3 s.e. (covariance: Frobenius error over its s.e.; mean: largest entry)",
                 verdict=rules.bounds(z + mz, upper=3.0, kind="exact", what="error in standard errors"),
                 ours=z + mz, over="checks",
                 ours_text=f"largest single covariance entry {max(exact['cov'][m]['max_z'] for m in exact['cov']):.2f} s.e.")


def crps_closed_form(claims: Claims, exact: dict, n_samples: int) -> None:
    err = exact["crps_rel_err"]
    verdict = rules.tolerance(err, tol=0.01, what="relative gap closed form vs sample CRPS")
    if n_samples < 100_000:
        verdict = rules.not_checkable(f"only {n_samples} samples at this tier; the criterion needs 1e5")
    claims.judge("crps-closed-form", "closed-form CRPS equals the sample CRPS", paper_value="–",
                 paper_source="closed form (Gneiting et al. 2005)", criterion="rel. err < 1% at N = 1e5",
                 verdict=verdict, ours=err, ours_text=f"largest over 16 Gaussians, N = {n_samples} stratified draws")


def e2e_vs_inference_only(claims: Claims, pde: dict) -> None:
    parts, texts = [], []
    for t in pde:
        a, b = pde[t]["oblique"], pde[t]["inference_only"]
        for met in ("crps", "mse"):
            v = rules.ordering(a[met], b[met], names=(f"DPPL oblique ({t}, {met.upper()})", "inference-only"))
            parts.append(v)
            texts.append(f"{t} {met.upper()} ratio {b[met].mean() / a[met].mean():.2f}×")
    holds = [p for p in parts if p.holds]
    # the dossier's criterion: the ordering on at least one task (CRPS or MSE)
    verdict = holds[0] if holds else parts[0]
    claims.judge("e2e-vs-inference-only", "DPPL in training beats projection only at inference (CRPS/MSE)",
                 paper_value="up to 15–17× MSE, ~2.5× CRPS (nonlinear PME)", paper_source=SECONDARY,
                 criterion="ordering (2 s.e., ≥ 3 seeds) on ≥ 1 task; ratio reported", verdict=verdict,
                 ours=[pde[t]["inference_only"]["mse"].mean() / pde[t]["oblique"]["mse"].mean() for t in pde],
                 over="tasks", ours_text="; ".join(texts) + f"; holds in {len(holds)} of {len(parts)} (task, metric)")


def sample_free_speed(claims: Claims, timing: dict) -> None:
    r = timing["ratio"]
    claims.judge("sample-free-speed", "closed-form CRPS training step is faster than a 100-sample step",
                 paper_value="3.3–4.6×", paper_source=SECONDARY, criterion="ratio > 1 (CPU seconds, or synchronised GPU wall seconds; one run)",
                 verdict=rules.bounds(r, lower=1.0, strict=True, what="time ratio sample / closed form", kind="magnitude"),
                 # a timing is not reproducible to the bit, so it is shown as text, not as per-seed values
                 ours_text=f"sample-CRPS step / closed-form step: {np.mean(r):.2f}× (range {np.min(r):.2f}–{np.max(r):.2f} "
                           f"over {len(r)} repeats; issue target ≥ 3×)")


def crps_vs_nll(claims: Claims, pde: dict, hier: dict | None = None) -> None:
    cases, oks = [], []
    tasks = [(t, pde[t], ("crps", "mse")) for t in pde]
    if hier is not None and "oblique_nll" in hier and "oblique" in hier:
        tasks.append(("hierarchy", hier, ("scrps", "mse")))
    for t, res, mets in tasks:
        if "oblique_nll" not in res or "oblique" not in res:
            continue
        for met in mets:
            c, n = res["oblique"][met].mean(), res["oblique_nll"][met].mean()
            cases.append(f"{t} {met.upper()}")
            oks.append(c <= n)
    claims.judge("crps-vs-nll", "CRPS training is not worse than NLL in most settings",
                 paper_value="better in ~75% of dataset–model cases", paper_source=SECONDARY,
                 criterion="tally of (task, metric) cases where CRPS-trained ≤ NLL-trained (seed means)",
                 verdict=rules.fraction(oks, chance=0.5, what="(task, metric) cases"),
                 ours=[float(o) for o in oks], over="cases",
                 ours_text=", ".join(f"{c}: {'CRPS' if o else 'NLL'}" for c, o in zip(cases, oks)))


def oblique_vs_orthogonal(claims: Claims, spike: dict) -> None:
    a, b = spike["metrics"]["oblique"]["crps"], spike["metrics"]["orthogonal"]["crps"]
    claims.judge("oblique-vs-orthogonal", "oblique is better than orthogonal on spiky / heteroscedastic data",
                 paper_value="qualitative", paper_source=SECONDARY,
                 criterion="ordering of test CRPS on a spike-injected task (2 s.e., ≥ 3 seeds)",
                 verdict=rules.ordering(a, b, names=("oblique", "orthogonal")), ours=b / a,
                 ours_text="orthogonal CRPS / oblique CRPS per seed")


def hier_coherent(claims: Claims, hier: dict | None, reason: str = "") -> None:
    kw = dict(paper_value="CE = 0", paper_source=f"hierarchical tables; {SECONDARY}",
              criterion="relative CE < 1e-10 (fp64) for every DPPL variant")
    if hier is None:
        claims.not_checkable("hier-coherent", "DPPL forecasts are exactly coherent", reason=reason, **kw)
        return
    vals = [hier["metrics"][v]["rel_ce"].max() for v in ("oblique", "orthogonal", "inference_only") if v in hier["metrics"]]
    claims.judge("hier-coherent", "DPPL forecasts are exactly coherent",
                 verdict=rules.bounds(vals, upper=1e-10, kind="exact", what="relative CE"), ours=vals, over="variants", **kw)


def check_all(claims: Claims, *, exact, pde, hier, timing, spike, crps_samples, hier_reason="") -> Claims:
    pdem = {t: r["metrics"] for t, r in pde.items()}
    feasibility(claims, exact, pdem)
    unconstrained_violates(claims, pdem, hier["metrics"] if hier else None)
    covariance(claims, exact)
    crps_closed_form(claims, exact, crps_samples)
    e2e_vs_inference_only(claims, pdem)
    sample_free_speed(claims, timing)
    crps_vs_nll(claims, pdem, hier["metrics"] if hier else None)
    oblique_vs_orthogonal(claims, spike)
    hier_coherent(claims, hier, hier_reason)
    return claims


WHY = {
    "e2e-vs-inference-only": "the paper's largest gains are for the nonlinear PME constraint with a neural-operator "
                             "backbone; our linear-constraint MLP at a small budget leaves less for training to fix.",
    "crps-vs-nll": "with few seeds and small models, CRPS against NLL is close; the paper's 75% is itself a tally, not a rule.",
    "oblique-vs-orthogonal": "the ordering needs a model that has learned which coordinates are uncertain; "
                             "short training blurs the variances the oblique metric relies on.",
    "unconstrained-violates": "a model can learn to satisfy the mass nearly exactly when the constraint is easy (heat's zero mass).",
}


def findings(claims: Claims) -> str:
    return findings_markdown(claims, lambda cid: WHY.get(cid, ""))
