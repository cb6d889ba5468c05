"""Results measured on a lent GPU and committed under ``results/``, for chapters to show.

- ``results/<chapter>/<UTC date>-full.json``: a chapter's ``full``-tier ``results.json``
  (``lab run <chapter> --scale full`` on one H100), with its executed notebook beside it.
- ``results/kernels/<op>.json``: ``python -m kernels.bench <op>`` (see :mod:`kernels.bench`).

A CPU-only build cannot produce these numbers, so the book shows the committed files with
their device and date, and says plainly when none has been committed yet.
"""
from __future__ import annotations

import html
import json

from lab.claims import Claim, claims_html
from lab.paths import results_dir


def full_tier(chapter: str) -> dict | None:
    """The newest committed ``full``-tier result of ``chapter``, or None."""
    found = []
    for path in sorted((results_dir() / chapter).glob("*.json")):
        res = json.loads(path.read_text())
        if res.get("chapter") == chapter and res.get("scale") == "full":
            found.append(res)
    return max(found, key=lambda r: r["provenance"]["started_utc"]) if found else None


def full_tier_status(chapter: str) -> str:
    """One sentence (Markdown) saying whether ``chapter``'s full tier has a committed GPU run.

    Chapters print it where their prose describes the full tier, so the page stays true before
    and after ``lab gpu`` commits a record (the prose itself never claims either).
    """
    rec = full_tier(chapter)
    if rec is None:
        return ("**It has not run on a GPU yet**: `results/` holds no full-tier record for this chapter "
                "(`lab gpu --list` lists it as pending), so no full-tier number appears on this page.")
    prov = rec["provenance"]
    shared = (rec.get("gpu_run") or {}).get("jobs_beside") or []
    beside = f", beside {len(shared)} other full tier(s) on the same GPU" if shared else ""
    return (f"It ran on **{prov['device'].removeprefix('GPU: ')}** on {prov['started_utc'][:10]} "
            f"({prov['wall_time_s']:.0f} s{beside}); its claims are shown under *At full scale, on one GPU* below.")


def kernel_bench(op: str) -> dict | None:
    """The committed benchmark of kernel ``op``, or None."""
    path = results_dir() / "kernels" / f"{op}.json"
    return json.loads(path.read_text()) if path.is_file() else None


class FullTier:
    """Displays a chapter's committed full-tier claims with where and when they ran."""

    def __init__(self, chapter: str, flags: dict[str, str] | None = None):
        """``flags``: claim id -> why the chapter does not stand behind that committed verdict
        (shown beside it; the committed numbers are left as they are)."""
        self.chapter = chapter
        self.result = full_tier(chapter)
        self.flags = dict(flags or {})
        if self.result is not None:
            unknown = set(self.flags) - {c["id"] for c in self.result["claims"]}
            if unknown:
                raise ValueError(f"flags name claims the committed {chapter} record does not have: {sorted(unknown)}")

    @property
    def judged_before_rule_book(self) -> bool:
        """True when the committed claims carry no kind: decided before :mod:`lab.claims.rules`."""
        return self.result is not None and any(not c.get("kind") for c in self.result["claims"])

    def _repr_html_(self) -> str:
        if self.result is None:
            return (f"<p><em>No full-tier run of this chapter is committed yet: run "
                    f"<code>lab run {self.chapter} --scale full</code> on one GPU and copy its "
                    f"<code>results.json</code> to <code>results/{self.chapter}/</code>.</em></p>")
        prov = self.result["provenance"]
        claims = [Claim.from_dict(c) for c in self.result["claims"]]
        for c in claims:
            if c.id in self.flags:
                c.note = f"FLAGGED, not to be read as a result: {self.flags[c.id]}" + (f"; {c.note}" if c.note else "")
        head = (f"<p>Full tier, run on <strong>{html.escape(prov['device'])}</strong> on "
                f"{html.escape(prov['started_utc'][:10])} (commit {html.escape(prov['commit'])}, "
                f"torch {html.escape(prov['torch'])}, {prov['wall_time_s']:.0f} s):</p>")
        beside = (self.result.get("gpu_run") or {}).get("jobs_beside") or []
        if beside:
            head += (f"<p><em>It ran beside {html.escape(', '.join(beside))} on the same GPU and CPU (<code>lab gpu "
                     "--jobs</code>): its wall time and any timing in it were measured on a shared machine.</em></p>")
        if self.judged_before_rule_book:
            head += ("<p><em>These verdicts were judged before the rule book (lab.claims.rules) existed, by the "
                     "chapter's criteria of that commit; they record no kind or rule, and an ordering among them "
                     "was not held to 2 standard errors over 3 seeds. No GPU was available to re-run them.</em></p>")
        if self.flags:
            head += f"<p><em>{len(self.flags)} committed verdict(s) are flagged below, with the reason.</em></p>"
        return head + claims_html(claims)


class KernelTiming:
    """Displays a committed kernel benchmark as a table, or says that none is committed."""

    def __init__(self, op: str, columns: list[str] | None = None):
        self.op = op
        self.record = kernel_bench(op)
        self.columns = columns

    def _repr_html_(self) -> str:
        if self.record is None:
            return (f"<p><em>No GPU timing of <code>{self.op}</code> is committed yet: run "
                    f"<code>python -m kernels.bench {self.op}</code> on a GPU.</em></p>")
        rows = self.record["results"]
        rows = rows if isinstance(rows, list) else [rows]
        cols = self.columns or list(rows[0])
        fmt = lambda v: f"{v:.4g}" if isinstance(v, float) else html.escape(str(v))  # noqa: E731
        body = "".join("<tr>" + "".join(f"<td>{fmt(r.get(c, ''))}</td>" for c in cols) + "</tr>"
                       for r in rows)
        head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
        target = ""
        if self.record.get("target"):
            met = {True: "met", False: "<strong>not met</strong>", None: "not judged (no row it applies to)"}
            target = (f"<p>Target: {html.escape(self.record['target'])}: "
                      f"{met.get(self.record.get('target_met'), 'not judged')}.</p>")
        return (f"<p>Measured on <strong>{html.escape(self.record['device'])}</strong> on "
                f"{html.escape(self.record['date_utc'][:10])} (torch {self.record['torch']}, "
                f"triton {self.record['triton']}):</p>"
                f'<table class="lab-kernel-timing"><thead><tr>{head}</tr></thead>'
                f"<tbody>{body}</tbody></table>{target}")
