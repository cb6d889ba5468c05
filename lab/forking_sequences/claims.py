"""The claims the forking-sequences chapter checks, decided from the experiments' results.

Thresholds are fixed here, before any run, and shown in the chapter's claims table. Structural
claims (equal data paths, causal equivalence, EV >= 0, pass counts, gradient variance) are
checked at every tier; the paper's effect sizes are compared by sign only, because our
step budgets and models are far smaller than the paper's (``book/forking_sequences.md``).
"""
from __future__ import annotations

import numpy as np

from lab.claims import Claims, findings_markdown as summarize
from lab.claims import rules

from .summary import LABELS, PAPER, improvements

SOURCE_V1 = "abstract, v1 (arXiv 2510.04487): average over 16 datasets"
SOURCE_V4 = "abstract, v4: median over 16 datasets"
CELLS = "(dataset, seed) cells"


def f1_equals_window(claims: Claims, eq: dict) -> None:
    gaps = [max(v["loss_gap"], v["grad_gap"]) for v in eq.values()]
    claims.judge(
        "fork-f1-equals-window", "with F = 1, forking-sequences is exactly window sampling",
        paper_value="F = 1 is window sampling", paper_source="§ method (reference code's fcd_samples)",
        criterion="loss and every gradient entry agree to 1e-6 for every architecture",
        verdict=rules.tolerance(gaps, tol=1e-6, what="loss or gradient gap per architecture"),
        ours_text=f"largest gap {max(gaps):.1e} over {len(gaps)} architectures",
    )


def causal_equivalence(claims: Claims, eq: dict) -> None:
    bounded = {a: v for a, v in eq.items() if v["receptive_field"] is not None and v["receptive_field"] <= v["context"]}
    recurrent = {a: v["fcd_gap"] for a, v in eq.items() if v["receptive_field"] is None}
    gap = max((v["fcd_gap"] for v in bounded.values()), default=float("nan"))
    verdict = (rules.tolerance([v["fcd_gap"] for v in bounded.values()], tol=1e-5,
                               what="one-pass vs window forecast gap per bounded encoder") if bounded
               else rules.not_checkable("no encoder at this tier has a receptive field that fits its context"))
    claims.judge(
        "fork-causal-equivalence",
        "for encoders whose receptive field fits the context, the forecast at every FCD of one pass "
        "equals a window forward at that FCD",
        paper_value="one pass = F window passes", paper_source="§ method (causal encoders)",
        criterion="max |difference| < 1e-5 for MLP, CNN and Transformer", verdict=verdict,
        ours_text=f"largest gap {gap:.1e} ({', '.join(bounded)}); recurrent nets differ by "
                  + ", ".join(f"{a} {g:.1e}" for a, g in recurrent.items())
                  + " because their state sees the whole block",
    )


def ev_nonnegative(claims: Claims, grid: dict) -> None:
    mins = [min(m[s][t]["ev_min_rel"]) for d in grid["metrics"].values() for m in d.values()
            for s in ("window", "forking") for t in ("raw", "ens")]
    claims.judge(
        "fork-ev-nonneg", "excess volatility is never negative for median forecasts",
        paper_value="EV ≥ 0 (subadditivity of the pinball loss)", paper_source="§ stability metrics (v2+)",
        criterion="every per-pair EV term ≥ −1e-9 relative to |y| + |forecasts|",
        verdict=rules.bounds(mins, lower=-1e-9, kind="exact", what="smallest relative EV term per evaluation"),
        ours_text=f"smallest relative term {min(mins):.1e} over {len(mins)} evaluations",
    )


def inference_passes(claims: Claims, times: dict, horizon: int) -> None:
    """The encoder's forward calls are counted (rows encoded per series), not typed in."""
    one = [t["passes_one"] for t in times.values()]
    windows = [t["passes_windows"] for t in times.values()]
    claims.judge(
        "fork-inference-passes", "all H forecast dates come out of one encoder pass instead of H",
        paper_value=f"1 pass instead of H (H = {horizon} here)", paper_source="§ inference efficiency",
        criterion="counted encoder passes per series: 1 for forking, H for windows, every architecture",
        verdict=rules.all_of(rules.tolerance(one, target=1, tol=0, kind="structural",
                                             what="counted passes per series, one-pass inference"),
                             rules.tolerance(windows, target=horizon, tol=0, kind="structural",
                                             what="counted passes per series, window inference")),
        over="architectures", ours=[w / o for w, o in zip(windows, one)],
        ours_text="counted window passes / one-pass passes per series",
    )
    speed = {a: t["speedup"] for a, t in times.items()}
    claims.judge(
        "fork-inference-speedup", "one pass over all H forecast dates is faster in wall time than H passes",
        paper_value="speed-up ≈ H", paper_source="§ inference efficiency",
        criterion="measured wall-time speed-up > 1 for every architecture (timings: not in the per-seed numbers)",
        verdict=rules.fraction([s > 1 for s in speed.values()], what="architectures faster in one pass"),
        ours_text="wall-time speed-up " + ", ".join(f"{LABELS[a]} {s:.1f}×" for a, s in speed.items()),
    )


def gradient_variance(claims: Claims, gv: dict, fcds: int) -> None:
    if fcds not in gv["fcds"]:
        raise ValueError(f"gradient variance was not measured at F = {fcds}; grad_fcds = {gv['fcds']}")
    j = gv["fcds"].index(fcds)
    ratio = {a: r[j] for a, r in gv["ratio"].items()}
    claims.judge(
        "fork-grad-variance", "minibatch gradient variance is lower with forking than with window sampling",
        paper_value="“more stable and consistent gradient updates”; at most 1/F", paper_source="§ 3, benefit (i)",
        criterion=f"variance ratio forking (F = {fcds}) / window < 1 for every architecture, same batch of series",
        verdict=rules.fraction([r < 1 for r in ratio.values()], what="architectures with a ratio below 1"),
        over="architectures", ours=list(ratio.values()),
        ours_text="per architecture " + ", ".join(f"{LABELS[a]} {r:.2f}" for a, r in ratio.items()) + f" (1/F = {1 / fcds:.3f})",
    )


def _better(improvement: np.ndarray, what: str) -> rules.Verdict:
    """Forking better than window sampling: the paired % improvements over (dataset, seed) cells."""
    return rules.ordering_from_differences(np.ravel(improvement), names=("forking", "window sampling"),
                                           better="lower", over=f"{CELLS} ({what})")


def stability_per_arch(claims: Claims, imp: dict) -> None:
    for arch, cells in imp["stability"].items():
        claims.judge(
            f"fork-stability-{arch}", f"forking lowers the sFPC of the {LABELS[arch]} forecaster",
            paper_value=f"{PAPER['stability'][arch]}% lower sFPC", paper_source=SOURCE_V1,
            criterion="sFPC improvement over the (dataset, seed) cells above 2 standard errors (sign only; "
                      "our budgets are far smaller)",
            verdict=_better(cells, "sFPC"), note=f"lower in {int((cells > 0).sum())} of {cells.size} cells",
            ours=cells.mean(axis=0), ours_text="% improvement, mean over datasets, per seed",
        )


def accuracy(claims: Claims, imp: dict) -> None:
    verdicts = {a: _better(v, "sCRPS") for a, v in imp["accuracy"].items()}
    med = {a: float(np.median(v.mean(axis=1))) for a, v in imp["accuracy"].items()}
    held = rules.fraction([v.holds for v in verdicts.values()], what="architectures with an established gain")
    if any(v.status is rules.Status.NOT_CHECKABLE for v in verdicts.values()):
        held = rules.not_checkable("an architecture has too few (dataset, seed) cells for an ordering at this tier")
    claims.judge(
        "fork-accuracy", "forking improves accuracy (sCRPS) for every architecture",
        paper_value=", ".join(f"{LABELS[a]} {PAPER['accuracy'][a]}%" for a in med), paper_source=SOURCE_V4,
        criterion="for every architecture, sCRPS improvement over the (dataset, seed) cells above 2 standard "
                  "errors (sign only)",
        verdict=rules.Verdict(held.status, "fraction", held.rule + "; per architecture: " + "; ".join(
            f"{LABELS[a]}: {v.rule}" for a, v in verdicts.items()), held.note),
        over="architectures", ours=list(med.values()),
        ours_text="median % over datasets per architecture: " + ", ".join(f"{LABELS[a]} {m:.1f}" for a, m in med.items()),
    )


def ensemble_stability(claims: Claims, imp: dict) -> None:
    sfpc = np.concatenate([v.ravel() for v in imp["ensembling"].values()])
    ev = np.concatenate([v.ravel() for v in imp["ev_ensembling"].values()])
    crps = np.concatenate([v.ravel() for v in imp["ensembling_crps"].values()])
    pair = ("forking + causal ensemble", "forking")
    cells = "(dataset, architecture, seed) cells"
    claims.judge(
        "fork-ensemble-stability", "causal mean ensembling of overlapping forecasts lowers sFPC and EV at ≤ 2% sCRPS cost",
        paper_value="10.2–13.2% lower sFPC (median per architecture)", paper_source=SOURCE_V4,
        criterion="over the (dataset, architecture, seed) cells of the forking models: sFPC and EV lower "
                  "(2 standard errors), and sCRPS at most 2% worse in every cell",
        verdict=rules.all_of(
            rules.ordering_from_differences(sfpc, names=pair, over=f"{cells} (sFPC)"),
            rules.ordering_from_differences(ev, names=pair, over=f"{cells} (EV)"),
            rules.fraction(crps > -2, what=f"{cells} with sCRPS at most 2% worse"), kind="ordering"),
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
