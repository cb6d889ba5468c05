"""The scorecard page: every chapter's claims and statuses, per tier.

Sources, newest first within each tier: run folders under ``runs/`` (the ``book`` tier counts
only runs made with the chapter's default parameters, the ones the book shows) and committed
``results/<chapter>/*.json`` from ``full``-tier runs on a GPU. The page is generated before
the HTML build, since Sphinx reads pages alphabetically and the scorecard must see every chapter.
"""
from __future__ import annotations

import json
from pathlib import Path

from lab import chapters
from lab.claims import Claim, Status
from lab.execute import latest_runs
from lab.paths import book_dir, results_dir

SCORECARD = "scorecard.md"
SHOWN_TIERS = ("book", "full")


def _load(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def has_default_parameters(results: dict) -> bool:
    declared = chapters.parameters(results["chapter"])
    params = results.get("parameters", {})
    return all(params.get(n, p.default) == p.default for n, p in declared.items() if n != "scale")


def candidates(chapter: str) -> list[dict]:
    found = [_load(p / "results.json") for p in latest_runs(chapter)]
    found += [_load(p) for p in sorted((results_dir() / chapter).glob("*.json"))]
    return [r for r in found if r and r.get("chapter") == chapter]


def latest_by_tier(chapter: str, pinned: dict | None = None) -> dict[str, dict]:
    """The newest result per shown tier; ``pinned`` (the book build's own run) wins for its tier."""
    best: dict[str, dict] = {}
    for res in candidates(chapter):
        tier = res.get("scale")
        if tier not in SHOWN_TIERS or (tier == "book" and not has_default_parameters(res)):
            continue
        if tier not in best or res["provenance"]["started_utc"] > best[tier]["provenance"]["started_utc"]:
            best[tier] = res
    if pinned is not None:
        best[pinned["scale"]] = pinned
    return best


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def claims_markdown(claims: list[Claim]) -> str:
    lines = ["| claim | paper | ours | criterion | status |", "|---|---|---|---|---|"]
    for c in claims:
        status = c.status.value + (f": {c.note}" if c.note else "")
        lines.append(
            f"| **{_cell(c.id)}**: {_cell(c.statement)} | {_cell(c.paper_value)}; "
            f"{_cell(c.paper_source)} | {_cell(c.ours())} | {_cell(c.criterion)} | {_cell(status)} |"
        )
    return "\n".join(lines)


def render(pinned: dict[str, dict] | None = None) -> str:
    """The scorecard page as MyST markdown."""
    pinned = pinned or {}
    out = [
        "# Scorecard",
        "",
        "Every claim the book checks, chapter by chapter, with the paper's value next to ours.",
        "Statuses: reproduced, partly reproduced (the note says which part), not reproduced, and",
        "not checkable at this tier (the note says why). Numbers at the `book` tier come from small CPU runs and",
        "are never the paper's numbers; `full`-tier rows come from runs on one GPU, committed",
        "under `results/`, with their device and date. Regenerate with `lab scorecard`.",
        "",
    ]
    summary = ["| chapter | tier | reproduced | partly | not | not checkable | device | date |",
               "|---|---|---|---|---|---|---|---|"]
    sections = []
    for name in chapters.available():
        tiers = latest_by_tier(name, pinned.get(name))
        if not tiers:
            summary.append(f"| {{doc}}`{name}` | — | | | | | no run yet | |")
            continue
        # a pinned sweep (`lab scorecard --sweep`) shows at its own tier, even smoke
        for tier in SHOWN_TIERS + tuple(t for t in tiers if t not in SHOWN_TIERS):
            res = tiers.get(tier)
            if res is None:
                continue
            claims = [Claim.from_dict(d) for d in res["claims"]]
            n = {s: sum(c.status is s for c in claims) for s in Status}
            prov = res["provenance"]
            date = prov["started_utc"][:10]
            summary.append(
                f"| {{doc}}`{name}` | {tier} | {n[Status.REPRODUCED]} | {n[Status.PARTLY]} | "
                f"{n[Status.NOT_REPRODUCED]} | {n[Status.NOT_CHECKABLE]} | {_cell(prov['device'])} | {date} |"
            )
            sections += [
                f"## {_cell(res['title'])} ({tier} tier)",
                "",
                f"Chapter {{doc}}`{name}`; {prov['device']}; {prov['started_utc']}; commit "
                f"`{prov['commit']}`; reproduce with `{res['reproduce']}`.",
                "",
                claims_markdown(claims),
                "",
            ]
    return "\n".join(out + summary + [""] + sections)


def write(pinned: dict[str, dict] | None = None, path: Path | None = None) -> Path:
    path = path or book_dir() / SCORECARD
    path.write_text(render(pinned))
    return path
