"""The book's "GPU work" page: what is pending for a GPU, generated at build time."""
from __future__ import annotations

from lab.gpu import pending
from lab.paths import book_dir

PAGE = "gpu_work.md"


def render() -> str:
    rows = pending.items()
    n = sum(r.pending for r in rows)
    return "\n".join([
        "# GPU work",
        "",
        "Numbers a CPU cannot make are measured on a lent GPU and committed under `results/`. This page",
        "lists every kernel benchmark and chapter full tier, and whether its committed record is current",
        "(made from the code as it is now) or pending (missing, or made from sources that changed since).",
        "On a GPU machine, `lab gpu --budget SECONDS` (or `make gpu`) runs the pending work, most stale",
        "first, within the budget; `lab gpu --list` prints this table anywhere.",
        "",
        f"**{n} of {len(rows)} pending** when this page was built.",
        "",
        pending.markdown(rows),
        "",
    ])


def write() -> str:
    path = book_dir() / PAGE
    path.write_text(render())
    return str(path)
