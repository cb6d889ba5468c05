"""Which GPU records are missing or stale: ``lab gpu --list``.

A chapter's full-tier record (``results/<chapter>/*-full.json``) is *current* when the
``code_hash`` in its provenance equals :func:`lab.gpu.sources.chapter_hash` now. Records
written before ``code_hash`` existed name the commit they were made from; for them the
chapter's source files are compared with that commit through git (``+dirty`` records are
taken at their commit, as ``results/README.md`` explains). A kernel's record
(``results/kernels/<op>.json``) is judged the same way against ``kernels/<op>.py`` and the
dispatcher. Anything that cannot be decided (no git, an unknown commit) counts as pending,
with that reason.
"""
from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from lab import chapters
from lab.gpu import sources
from lab.paths import repo_root, results_dir


@dataclass
class Item:
    """One piece of GPU work: a chapter's full tier or a kernel's benchmark."""

    kind: str  # "kernel" or "chapter"
    name: str
    pending: bool
    reason: str
    record_date: str = ""  # UTC date of the current record ("" when there is none)
    last_seconds: float | None = None  # wall time of the last record, when known

    @property
    def command(self) -> str:
        if self.kind == "kernel":
            return f"python -m kernels.bench {self.name}"
        return f"lab run {self.name} --scale full"


def _changed_since(commit: str, files: list[Path]) -> list[str] | None:
    """Paths among ``files`` that differ from ``commit`` (None when git cannot tell)."""
    sha = commit.split("+", 1)[0].strip()
    if not sha or " " in sha:
        return None
    rel = [str(p.relative_to(repo_root())) for p in files]
    try:
        known = subprocess.run(["git", "cat-file", "-e", f"{sha}^{{commit}}"], cwd=repo_root(),
                               capture_output=True, timeout=10)
        if known.returncode != 0:
            return None
        out = subprocess.run(["git", "diff", "--name-only", sha, "--", *rel], cwd=repo_root(),
                             capture_output=True, text=True, timeout=30)
        untracked = subprocess.run(["git", "ls-files", "--others", "--exclude-standard", "--", *rel],
                                   cwd=repo_root(), capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return sorted(set(out.stdout.split()) | set(untracked.stdout.split()))


def _judge(kind: str, name: str, record: dict | None, files: list[Path], now_hash: str,
           date: str, commit: str, recorded_hash: str | None, seconds: float | None) -> Item:
    if record is None:
        what = "full-tier record" if kind == "chapter" else "benchmark record"
        return Item(kind, name, True, f"no committed {what}")
    if recorded_hash:
        if recorded_hash == now_hash:
            return Item(kind, name, False, "current (code hash matches)", date, seconds)
        return Item(kind, name, True, f"sources changed since the record of {date[:10]} (code hash differs)",
                    date, seconds)
    changed = _changed_since(commit, files)
    if changed is None:
        return Item(kind, name, True, f"record of {date[:10]} names commit {commit!r}, which git cannot "
                    "compare here; treated as stale", date, seconds)
    if changed:
        shown = ", ".join(changed[:3]) + (f" and {len(changed) - 3} more" if len(changed) > 3 else "")
        return Item(kind, name, True, f"{shown} changed since the record of {date[:10]}", date, seconds)
    return Item(kind, name, False, f"current (no source changed since commit {commit.split('+')[0]})", date, seconds)


def full_tier_record(chapter: str) -> dict | None:
    found = []
    for path in sorted((results_dir() / chapter).glob("*.json")):
        try:
            res = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if res.get("chapter") == chapter and res.get("scale") == "full":
            found.append(res)
    return max(found, key=lambda r: r["provenance"]["started_utc"]) if found else None


def chapter_item(chapter: str) -> Item:
    rec = full_tier_record(chapter)
    files = sources.chapter_sources(chapter)
    prov = rec["provenance"] if rec else {}
    return _judge("chapter", chapter, rec, files, sources.code_hash(files), prov.get("started_utc", ""),
                  prov.get("commit", ""), prov.get("code_hash"), prov.get("wall_time_s"))


def benchmarked_ops() -> list[str]:
    """Kernel modules that define ``bench_<op>`` (read from the source, without importing torch)."""
    ops = []
    for path in sorted((repo_root() / "kernels").glob("*.py")):
        if path.stem in ("__init__", "bench", "dispatch"):
            continue
        if f"def bench_{path.stem}(" in path.read_text():
            ops.append(path.stem)
    return ops


def kernel_item(op: str) -> Item:
    path = results_dir() / "kernels" / f"{op}.json"
    try:
        rec = json.loads(path.read_text()) if path.is_file() else None
    except json.JSONDecodeError:
        rec = None
    files = sources.kernel_sources(op)
    rec = rec or None
    return _judge("kernel", op, rec, files, sources.code_hash(files), (rec or {}).get("date_utc", ""),
                  (rec or {}).get("commit", ""), (rec or {}).get("code_hash"), (rec or {}).get("wall_time_s"))


def items() -> list[Item]:
    """Every kernel benchmark, then every chapter's full tier; pending ones most stale first."""
    kern = [kernel_item(op) for op in benchmarked_ops()]
    chaps = [chapter_item(c) for c in chapters.available()]
    stale_first = lambda it: (not it.pending, it.record_date or "")  # noqa: E731  missing ("") first
    return sorted(kern, key=stale_first) + sorted(chaps, key=stale_first)


def table(rows: list[Item]) -> str:
    """A plain-text table for the terminal."""
    head = ("what", "name", "state", "why")
    body = [(r.kind, r.name, "PENDING" if r.pending else "current", r.reason) for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head[:3])]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head[:3], widths)) + "  " + head[3]]
    lines += ["  ".join(c.ljust(w) for c, w in zip(b[:3], widths)) + "  " + b[3] for b in body]
    return "\n".join(lines)


def markdown(rows: list[Item]) -> str:
    """The same list as a MyST table, for the book's GPU-work page."""
    lines = ["| what | name | state | why | command |", "|---|---|---|---|---|"]
    for r in rows:
        state = "**pending**" if r.pending else "current"
        lines.append(f"| {r.kind} | `{r.name}` | {state} | {r.reason.replace('|', '/')} | `{r.command}` |")
    return "\n".join(lines)
