"""Improvements of forking-sequences over window sampling, in the paper's format.

For each (dataset, architecture, seed) cell of :func:`lab.forking_sequences.experiments.run_grid`:

* stability improvement ``100 (1 - sFPC_fork / sFPC_window)`` (%),
* accuracy improvement ``100 (1 - sCRPS_fork / sCRPS_window)`` (%),
* extra stability from causal ensembling ``100 (1 - sFPC_fork,ens / sFPC_fork)`` (%).

The paper reports, per architecture, the average (v1 abstract, stability) or the median (v4
abstract) over its 16 datasets; :func:`paper_table` gives both over the datasets that ran.
"""
from __future__ import annotations

import numpy as np

#: Paper values per architecture (``book/forking_sequences.md``, dossier "Results").
PAPER = {
    "stability": {"mlp": 28.8, "rnn": 28.8, "lstm": 37.9, "cnn": 31.3, "transformer": 8.8},
    "accuracy": {"mlp": 29.7, "rnn": 46.2, "lstm": 49.3, "cnn": 28.6, "transformer": 24.7},
    "ensembling": {"mlp": 10.8, "rnn": 13.2, "lstm": 13.0, "cnn": 10.9, "transformer": 10.2},
}
LABELS = {"mlp": "MLP", "rnn": "RNN", "lstm": "LSTM", "cnn": "CNN", "transformer": "Transformer"}


def improvements(grid: dict) -> dict:
    """``{kind: {arch: array [datasets, seeds]}}`` for kind in stability, accuracy, ensembling;
    plus ``datasets``, the row order."""
    names = list(grid["metrics"])
    archs = list(next(iter(grid["metrics"].values()))) if names else []
    out = {"datasets": names}
    for kind in ("stability", "accuracy", "ensembling", "ensembling_crps", "ev_ensembling"):
        out[kind] = {}
        for arch in archs:
            rows = []
            for name in names:
                m = grid["metrics"][name][arch]
                w, f = m["window"]["raw"], m["forking"]["raw"]
                fe = m["forking"]["ens"]
                ratio = {"stability": np.divide(f["sfpc"], w["sfpc"]),
                         "accuracy": np.divide(f["scrps"], w["scrps"]),
                         "ensembling": np.divide(fe["sfpc"], f["sfpc"]),
                         "ensembling_crps": np.divide(fe["scrps"], f["scrps"]),
                         "ev_ensembling": np.divide(fe["ev"], f["ev"])}[kind]
                rows.append(100 * (1 - ratio))
            # seeds that a time guard skipped leave shorter rows: keep the common ones
            k = min(len(r) for r in rows)
            out[kind][arch] = np.array([r[:k] for r in rows])
    return out


def per_arch(imp: dict, kind: str, how: str = "mean") -> dict:
    """Per architecture: mean over seeds, then ``how`` (mean or median) over datasets."""
    agg = np.mean if how == "mean" else np.median
    return {arch: float(agg(v.mean(axis=1))) for arch, v in imp[kind].items()}


def paper_table(imp: dict) -> str:
    """Markdown table: ours (mean and median over datasets) next to the paper's, per architecture."""
    archs = list(imp["stability"])
    head = "| | " + " | ".join(LABELS[a] for a in archs) + " |"
    lines = [head, "|---" * (len(archs) + 1) + "|"]
    rows = [("sFPC improvement, ours (mean over datasets)", "stability", "mean"),
            ("sFPC improvement, paper v1 (average over 16)", "stability", None),
            ("sCRPS improvement, ours (median over datasets)", "accuracy", "median"),
            ("accuracy improvement, paper v4 (median over 16)", "accuracy", None),
            ("sFPC gain from causal ensembling, ours (median)", "ensembling", "median"),
            ("stability gain from ensembling, paper v4 (median)", "ensembling", None)]
    for label, kind, how in rows:
        vals = PAPER[kind] if how is None else per_arch(imp, kind, how)
        lines.append(f"| {label} | " + " | ".join(f"{vals[a]:.1f}%" for a in archs) + " |")
    return "\n".join(lines)


def per_dataset_table(grid: dict, metric: str = "sfpc") -> str:
    """Markdown table of ``metric`` (mean over seeds) per dataset and architecture:
    window / forking / forking + causal ensemble."""
    names = list(grid["metrics"])
    archs = list(grid["metrics"][names[0]]) if names else []
    lines = ["| dataset | " + " | ".join(LABELS[a] for a in archs) + " |", "|---" * (len(archs) + 1) + "|"]
    for name in names:
        cells = []
        for a in archs:
            m = grid["metrics"][name][a]
            w, f, fe = (np.mean(m[s][t][metric]) for s, t in (("window", "raw"), ("forking", "raw"), ("forking", "ens")))
            cells.append(f"{w:.3g} / {f:.3g} / {fe:.3g}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
