"""Each claim aggregated over a sweep's runs, decided by the rule book.

For every claim id that the runs report: its status in each run, the run's own value (the mean
of its ``per_seed`` values, when it has any), the mean and standard deviation of those values
over the runs, and one status over the sweep from :func:`lab.claims.rules.fraction` on "this
run reproduced the claim" (reproduced when every run did; partly when at least half and at
least two did; otherwise not). A claim no run could check stays not checkable. The result has
the shape of a run's ``results.json``, so ``lab scorecard --sweep`` can show it in place of a
single run, with a title that says it is a sweep.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from lab.claims import Claim, Status
from lab.claims import rules

SUMMARY = "summary.json"


def _mean_sd(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    m = sum(values) / len(values)
    if len(values) < 2:
        return m, None
    return m, math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1))


def aggregate(results: list[dict]) -> list[dict]:
    """One aggregated claim per id, in the first run's order."""
    order: list[str] = []
    by_id: dict[str, list[Claim]] = {}
    for res in results:
        for d in res["claims"]:
            c = Claim.from_dict(d)
            if c.id not in by_id:
                order.append(c.id)
                by_id[c.id] = []
            by_id[c.id].append(c)
    out = []
    n_runs = len(results)
    for cid in order:
        cs = by_id[cid]
        first = cs[0]
        values = [c.mean for c in cs if c.mean is not None]
        statuses = [c.status.value for c in cs]
        checkable = [c for c in cs if c.status is not Status.NOT_CHECKABLE]
        if not checkable:
            verdict = rules.not_checkable(f"not checkable in any of the {n_runs} runs: {first.note}")
        else:
            v = rules.fraction([c.status is Status.REPRODUCED for c in cs], what="runs")
            verdict = rules.Verdict(v.status, first.kind or "fraction",
                                    f"over the sweep's runs: {v.rule} (each run judged by: {first.rule or 'its own rule'})",
                                    v.note)
        mean, sd = _mean_sd(values)
        agg = Claim(cid, first.statement, first.paper_value, first.paper_source, first.criterion,
                    first.tier, verdict.status, per_seed=values,
                    ours_text=f"run means over {len(values)} runs" if values else first.ours_text,
                    note=verdict.note, over="runs", kind=verdict.kind, rule=verdict.rule).to_dict()
        agg.update({"runs_status": statuses, "runs_mean": mean, "runs_sd": sd})
        out.append(agg)
    return out


def summarize(folder: Path, manifest: dict) -> dict:
    """The sweep's summary (written to ``summary.json``) over its finished runs."""
    runs = [r for r in manifest["runs"] if r["state"] == "done"]
    results = [json.loads((Path(r["dir"]) / "results.json").read_text()) for r in runs]
    if not results:
        raise RuntimeError(f"no run of the sweep in {folder} finished; nothing to summarise")
    first = results[0]
    grid = ", ".join(f"{k} ∈ {{{', '.join(map(str, v))}}}" for k, v in manifest["grid"].items())
    summary = {
        "chapter": manifest["chapter"],
        "title": f"{first['title']}: sweep of {len(results)} runs over {grid}",
        "scale": manifest["scale"],
        "parameters": {"sweep": manifest["grid"]},
        "claims": aggregate(results),
        "metrics": {},
        "provenance": {**first["provenance"], "started_utc": manifest["created_utc"],
                       "sweep_runs": [r["dir"] for r in runs]},
        "reproduce": "lab sweep " + manifest["chapter"] + f" --scale {manifest['scale']} "
                     + " ".join(f"-p {k} " + " ".join(json.dumps(x) for x in v) for k, v in manifest["grid"].items()),
        "sweep": {"folder": str(folder), "runs": len(results), "of": len(manifest["runs"]),
                  "grid": manifest["grid"]},
    }
    (Path(folder) / SUMMARY).write_text(json.dumps(summary, indent=1, default=str))
    return summary


def table(summary: dict) -> str:
    """A plain-text table for the terminal: claim, status over runs, per-run statuses, mean ± sd."""
    lines = []
    for c in summary["claims"]:
        ms = "" if c["runs_mean"] is None else f"{c['runs_mean']:.4g}" + (
            "" if c["runs_sd"] is None else f" ± {c['runs_sd']:.2g}")
        marks = "".join(Status(s).mark for s in c["runs_status"])
        lines.append(f"  {c['id']:<36} {c['status']:<27} runs [{marks}] {ms}")
    return "\n".join(lines)
