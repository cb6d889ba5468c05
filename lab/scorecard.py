"""The scorecard page: every chapter's claims and statuses, per tier.

Sources, newest first within each tier: run folders under ``runs/`` (the ``book`` tier counts
only runs made with the chapter's default parameters, the ones the book shows) and committed
``results/<chapter>/*.json`` from ``full``-tier runs on a GPU. The page is generated before
the HTML build, since Sphinx reads pages alphabetically and the scorecard must see every chapter.
"""
from __future__ import annotations

import html
import json
from pathlib import Path

from lab import chapters
from lab.claims import _CLASS, _COLOR, BEFORE_RULE_BOOK, Claim, Status, claims_html
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
    """The claims as a plain markdown table (for text views; the page uses :func:`claims_html`)."""
    lines = ["| claim | paper | ours | criterion | status |", "|---|---|---|---|---|"]
    for c in claims:
        status = c.status.value + (f": {c.note}" if c.note else "")
        lines.append(
            f"| **{_cell(c.id)}**: {_cell(c.statement)} | {_cell(c.paper_value)}; "
            f"{_cell(c.paper_source)} | {_cell(c.ours())} | {_cell(c.criterion)} | {_cell(status)} |"
        )
    return "\n".join(lines)


_ORDER = (Status.REPRODUCED, Status.PARTLY, Status.NOT_REPRODUCED, Status.NOT_CHECKABLE)
_SHORT = {Status.REPRODUCED: "reproduced", Status.PARTLY: "partly", Status.NOT_REPRODUCED: "not reproduced",
          Status.NOT_CHECKABLE: "not checkable"}


def summary_svg(rows: list[tuple[str, dict]]) -> str:
    """A stacked bar per (chapter, tier) row: how many claims have each status, coloured as in the tables."""
    if not rows:
        return ""
    bar_x, width, h, gap = 230, 420, 18, 8
    most = max(sum(n.values()) for _, n in rows) or 1
    out = []
    for i, (label, n) in enumerate(rows):
        y = 30 + i * (h + gap)
        out.append(f'<text x="{bar_x - 8}" y="{y + 13}" text-anchor="end" font-size="13">{html.escape(label)}</text>')
        x = bar_x
        for st in _ORDER:
            if n[st]:
                w = width * n[st] / most
                out.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{h}" fill="{_COLOR[st.value]}" '
                           f'stroke="#555" stroke-width="0.5"><title>{n[st]} {_SHORT[st]}</title></rect>')
                if w > 16:
                    out.append(f'<text x="{x + w / 2:.1f}" y="{y + 13}" text-anchor="middle" font-size="12">{n[st]}</text>')
                x += w
    legend = []
    lx = 10
    for st in _ORDER:
        legend.append(f'<rect x="{lx}" y="6" width="12" height="12" fill="{_COLOR[st.value]}" stroke="#555" stroke-width="0.5"/>'
                      f'<text x="{lx + 16}" y="16" font-size="12">{_SHORT[st]}</text>')
        lx += 16 + 8 * len(_SHORT[st]) + 14
    height = 30 + len(rows) * (h + gap)
    return (f'<svg class="lab-score-figure" role="img" aria-label="claims per status, per chapter and tier" '
            f'viewBox="0 0 {bar_x + width + 10} {height}" width="100%" style="max-width:{bar_x + width + 10}px" '
            f'xmlns="http://www.w3.org/2000/svg" font-family="sans-serif">{"".join(legend + out)}</svg>')


def short_device(device: str) -> str:
    """``CPU`` or the GPU's model, for the summary table (the sections below give it in full)."""
    if device.startswith("GPU:"):
        return device[4:].replace("NVIDIA", "").strip()
    return device.split(":")[0].strip() or device


def render(pinned: dict[str, dict] | None = None) -> str:
    """The scorecard page as MyST markdown: a summary (table and figure), then each chapter's claims."""
    pinned = pinned or {}
    out = [
        "# Scorecard",
        "",
        "Every claim the book checks, chapter by chapter, with the paper's value next to ours.",
        "Statuses: reproduced, partly reproduced (the note says which part), not reproduced, and",
        "not checkable at this tier (the note says why). Numbers at the `book` tier come from small CPU runs and",
        "are never the paper's numbers; `full`-tier rows come from runs on one GPU, committed",
        "under `results/`, with their device and date. Each claim shows the rule-book kind and rule that",
        f"decided it; committed records made before the rule book say \"{BEFORE_RULE_BOOK}\".",
        "Regenerate with `lab scorecard`.",
        "",
        "## Summary",
        "",
    ]
    head = "".join(f"<th>{h}</th>" for h in ("chapter", "tier", *(_SHORT[s] for s in _ORDER), "device", "date"))
    summary, bars, sections = [], [], []
    for name in chapters.available():
        tiers = latest_by_tier(name, pinned.get(name))
        link = f'<a href="{name}.html">{html.escape(name)}</a>'
        if not tiers:
            summary.append(f'<tr><td>{link}</td><td>—</td><td colspan="4">no run yet</td><td></td><td></td></tr>')
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
            counts = "".join(f'<td class="{_CLASS[s.value]}" style="background:{_COLOR[s.value]}">{n[s]}</td>'
                             for s in _ORDER)
            summary.append(f"<tr><td>{link}</td><td>{tier}</td>{counts}<td>{html.escape(short_device(prov['device']))}</td>"
                           f"<td>{date}</td></tr>")
            bars.append((f"{name} ({tier})", n))
            sections += [
                f"### {_cell(res['title'])} ({tier} tier)",
                "",
                f"Chapter {{doc}}`{name}`; {prov['device']}; {prov['started_utc']}; commit "
                f"`{prov['commit']}`; reproduce with `{res['reproduce']}`.",
                "",
                f"<details><summary>{len(claims)} claims: "
                + ", ".join(f"{n[s]} {_SHORT[s]}" for s in _ORDER if n[s])
                + f"</summary>{claims_html(claims)}</details>",
                "",
            ]
    out += [f'<table class="lab-score-summary"><thead><tr>{head}</tr></thead><tbody>{"".join(summary)}</tbody></table>',
            "", summary_svg(bars), "", "## Claims per chapter", ""]
    return "\n".join(out + sections)


def write(pinned: dict[str, dict] | None = None, path: Path | None = None) -> Path:
    path = path or book_dir() / SCORECARD
    path.write_text(render(pinned))
    return path
