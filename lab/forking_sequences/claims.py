"""The claims the forking-sequences chapter checks, decided from the experiments' results.

Thresholds are fixed here, before any run, and shown in the chapter's claims table. Structural
claims (equal data paths, causal equivalence, EV >= 0, pass counts, gradient variance) are
checked at every tier; the paper's effect sizes are compared by sign only, because our
step budgets and models are far smaller than the paper's (``book/forking_sequences.md``).
"""
from __future__ import annotations

import numpy as np

from lab.claims import Claims, findings_markdown as summarize

from .summary import LABELS, PAPER, improvements

SOURCE_V1 = "abstract, v1 (arXiv 2510.04487): average over 16 datasets"
SOURCE_V4 = "abstract, v4: median over 16 datasets"


def f1_equals_window(claims: Claims, eq: dict) -> None:
    gaps = [max(v["loss_gap"], v["grad_gap"]) for v in eq.values()]
    claims.check(
        "fork-f1-equals-window", "with F = 1, forking-sequences is exactly window sampling",
        paper_value="F = 1 is window sampling", paper_source="§ method (reference code's fcd_samples)",
        criterion="loss and every gradient entry agree to 1e-6 for every architecture",
        holds=max(gaps) < 1e-6, ours_text=f"largest gap {max(gaps):.1e} over {len(gaps)} architectures",
    )


def causal_equivalence(claims: Claims, eq: dict) -> None:
    bounded = {a: v for a, v in eq.items() if v["receptive_field"] is not None and v["receptive_field"] <= v["context"]}
    recurrent = {a: v["fcd_gap"] for a, v in eq.items() if v["receptive_field"] is None}
    gap = max((v["fcd_gap"] for v in bounded.values()), default=float("nan"))
    claims.check(
        "fork-causal-equivalence",
        "for encoders whose receptive field fits the context, the forecast at every FCD of one pass "
        "equals a window forward at that FCD",
        paper_value="one pass = F window passes", paper_source="§ method (causal encoders)",
        criterion="max |difference| < 1e-5 for MLP, CNN and Transformer",
        holds=bool(bounded) and gap < 1e-5,
        ours_text=f"largest gap {gap:.1e} ({', '.join(bounded)}); recurrent nets differ by "
                  + ", ".join(f"{a} {g:.1e}" for a, g in recurrent.items())
                  + " because their state sees the whole block",
    )


def ev_nonnegative(claims: Claims, grid: dict) -> None:
    mins = [min(m[s][t]["ev_min_rel"]) for d in grid["metrics"].values() for m in d.values()
            for s in ("window", "forking") for t in ("raw", "ens")]
    claims.check(
        "fork-ev-nonneg", "excess volatility is never negative for median forecasts",
        paper_value="EV ≥ 0 (subadditivity of the pinball loss)", paper_source="§ stability metrics (v2+)",
        criterion="every per-pair EV term ≥ −1e-9 relative to |y| + |forecasts|",
        holds=min(mins) >= -1e-9, ours_text=f"smallest relative term {min(mins):.1e} over {len(mins)} evaluations",
    )


def inference_passes(claims: Claims, times: dict, horizon: int) -> None:
    speed = {a: t["speedup"] for a, t in times.items()}
    exact = all(t["passes_one"] == 1 and t["passes_windows"] == horizon for t in times.values())
    faster = all(s > 1 for s in speed.values())
    claims.check(
        "fork-inference-passes", "all H forecast dates come out of one encoder pass instead of H",
        paper_value=f"1 pass instead of H (H = {horizon} here); speed-up ≈ H", paper_source="§ inference efficiency",
        criterion="pass count 1 vs H exactly; measured wall-time speed-up > 1 for every architecture",
        holds=exact and faster, partly=exact,
        note="" if exact and faster else "the pass count holds; the wall time is not faster for "
             + ", ".join(a for a, s in speed.items() if s <= 1),
        over="checks", ours=[horizon / 1.0],
        ours_text="passes saved; wall-time speed-up " + ", ".join(f"{LABELS[a]} {s:.1f}×" for a, s in speed.items()),
    )


def gradient_variance(claims: Claims, gv: dict, fcds: int) -> None:
    if fcds not in gv["fcds"]:
        raise ValueError(f"gradient variance was not measured at F = {fcds}; grad_fcds = {gv['fcds']}")
    j = gv["fcds"].index(fcds)
    ratio = {a: r[j] for a, r in gv["ratio"].items()}
    below = [a for a, r in ratio.items() if r < 1]
    claims.check(
        "fork-grad-variance", "minibatch gradient variance is lower with forking than with window sampling",
        paper_value="“more stable and consistent gradient updates”; at most 1/F", paper_source="§ 3, benefit (i)",
        criterion=f"variance ratio forking (F = {fcds}) / window < 1 for every architecture, same batch of series",
        holds=len(below) == len(ratio), partly=len(below) >= len(ratio) / 2,
        note="" if len(below) == len(ratio) else f"below 1 for {', '.join(below) or 'none'}",
        over="architectures", ours=list(ratio.values()),
        ours_text="per architecture " + ", ".join(f"{LABELS[a]} {r:.2f}" for a, r in ratio.items()) + f" (1/F = {1 / fcds:.3f})",
    )


def stability_per_arch(claims: Claims, imp: dict) -> None:
    for arch, cells in imp["stability"].items():
        positive = cells > 0
        claims.check(
            f"fork-stability-{arch}", f"forking lowers the sFPC of the {LABELS[arch]} forecaster",
            paper_value=f"{PAPER['stability'][arch]}% lower sFPC", paper_source=SOURCE_V1,
            criterion="lower sFPC in every (dataset, seed) cell (sign only; our budgets are far smaller)",
            holds=bool(positive.all()), partly=bool(cells.mean() > 0),
            note="" if positive.all() else f"lower in {int(positive.sum())} of {positive.size} cells; mean {cells.mean():.1f}%",
            ours=cells.mean(axis=0), ours_text="% improvement, mean over datasets, per seed",
        )


def accuracy(claims: Claims, imp: dict) -> None:
    med = {a: float(np.median(v.mean(axis=1))) for a, v in imp["accuracy"].items()}
    better = [a for a, m in med.items() if m > 0]
    claims.check(
        "fork-accuracy", "forking improves accuracy (sCRPS) for every architecture",
        paper_value=", ".join(f"{LABELS[a]} {PAPER['accuracy'][a]}%" for a in med), paper_source=SOURCE_V4,
        criterion="median sCRPS improvement over datasets > 0 for every architecture (sign only)",
        holds=len(better) == len(med), partly=len(better) >= 3,
        note="" if len(better) == len(med) else f"better for {', '.join(better) or 'none'}",
        over="architectures", ours=list(med.values()),
        ours_text="% per architecture: " + ", ".join(f"{LABELS[a]} {m:.1f}" for a, m in med.items()),
    )


def ensemble_stability(claims: Claims, imp: dict) -> None:
    sfpc = np.concatenate([v.ravel() for v in imp["ensembling"].values()])
    ev = np.concatenate([v.ravel() for v in imp["ev_ensembling"].values()])
    crps = np.concatenate([v.ravel() for v in imp["ensembling_crps"].values()])
    lower, ev_lower, within = bool((sfpc > 0).all()), bool((ev > 0).all()), bool((crps > -2).all())
    claims.check(
        "fork-ensemble-stability", "causal mean ensembling of overlapping forecasts lowers sFPC and EV at ≤ 2% sCRPS cost",
        paper_value="10.2–13.2% lower sFPC (median per architecture)", paper_source=SOURCE_V4,
        criterion="in every (dataset, architecture, seed) cell of the forking models: sFPC lower, EV lower, "
                  "sCRPS at most 2% worse",
        holds=lower and ev_lower and within, partly=lower,
        note="" if lower and ev_lower and within else
             f"sFPC lower in {int((sfpc > 0).sum())}/{sfpc.size}, EV lower in {int((ev > 0).sum())}/{ev.size}, "
             f"sCRPS within 2% in {int((crps > -2).sum())}/{crps.size} cells",
        over="checks", ours=[float(np.median(sfpc))],
        ours_text=f"median % sFPC reduction; sCRPS change median {-np.median(crps):+.1f}%",
    )


def check_all(claims: Claims, *, eq: dict, grid: dict, gv: dict, times: dict, horizon: int, fcds: int) -> dict:
    """Every claim of the chapter, in the dossier's order; returns the improvements used."""
    imp = improvements(grid)
    f1_equals_window(claims, eq)
    causal_equivalence(claims, eq)
    ev_nonnegative(claims, grid)
    inference_passes(claims, times, horizon)
    gradient_variance(claims, gv, fcds)
    stability_per_arch(claims, imp)
    ensemble_stability(claims, imp)
    accuracy(claims, imp)
    return imp


# Why a claim can fall short at a small tier: our reading, shown only when that claim is not
# fully reproduced. Hypotheses, labelled as such in the chapter; the numbers are in the table.
WHY_SHORT = {
    "fork-ensemble-stability": (
        "our causal mean pools every earlier forecast of a date (up to H of them), a much stronger "
        "smoother than the paper's reported 10–13% suggests it used; the pooled forecast is then stale, "
        "which costs accuracy on series whose level moves."
    ),
    "fork-accuracy": (
        "with a few hundred optimizer steps, small models and no validation or early stopping, both "
        "schemes are far from converged; presumably the paper's accuracy gains need the longer training "
        "over which forking's lower gradient noise can pay off."
    ),
    "stability": (
        "with few training runs per cell we cannot separate an sFPC difference of this size from "
        "seed-to-seed variation (the full tier runs more seeds and datasets); the gradient-variance "
        "claim measures the mechanism behind it directly."
    ),
}


def findings_markdown(claims: Claims) -> str:
    """The verdicts and our reading of each shortfall (:func:`lab.claims.findings_markdown`)."""
    return summarize(claims, lambda cid: WHY_SHORT.get("stability" if cid.startswith("fork-stability-") else cid, ""))
