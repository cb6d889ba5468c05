"""``lab cache``: the user cache's size per chapter, and clearing it.

The cache (:mod:`lab.cache`, ``$LAB_CACHE_DIR`` or ``~/.cache/labbook``) keeps what is
expensive to recompute and small to store: trained models, simulated flows, eigenvalues of
large matrices, parsed M4 files, downloaded data and the ledger of verified hashes. Each
sub-folder is one kind of entry; :data:`OWNERS` says which chapter it serves. Deleting any of
it is safe: it is rebuilt on the next run.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from lab import chapters
from lab.cache import cache_dir

#: cache kinds whose name does not start with the chapter that uses them
OWNERS = {"llm": "xquant", "pde_kolmogorov": "flex", "m4_parsed": "forking_sequences", "data": "data files"}


def owner(kind: str) -> str:
    if kind in OWNERS:
        return OWNERS[kind]
    return next((c for c in chapters.PAPERS if kind.startswith(c)), "other")


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def usage() -> dict[str, dict[str, int]]:
    """owner -> {kind: bytes}."""
    out: dict[str, dict[str, int]] = {}
    for kind in sorted(p for p in cache_dir().iterdir() if p.is_dir()):
        out.setdefault(owner(kind.name), {})[kind.name] = _du(kind)
    return out


def _mb(n: int) -> str:
    return f"{n / 1e6:8.1f} MB"


def main(clear: list[str] | None = None) -> int:
    root = cache_dir()
    use = usage()
    if clear is not None:
        names = clear or list(use)
        unknown = [n for n in names if n not in use and n not in chapters.PAPERS and n != "data files"]
        if unknown:
            print(f"lab cache: nothing cached for {', '.join(unknown)}; cached: {', '.join(use) or 'nothing'}")
            return 2
        freed = 0
        for name in names:
            for kind, size in use.get(name, {}).items():
                shutil.rmtree(root / kind)
                freed += size
        print(f"lab cache: cleared {', '.join(names) or 'nothing'} ({freed / 1e6:.1f} MB) in {root}")
        return 0
    print(f"cache: {root}")
    total = 0
    for name, kinds in sorted(use.items()):
        size = sum(kinds.values())
        total += size
        print(f"  {name:<20} {_mb(size)}   ({', '.join(f'{k} {v / 1e6:.1f} MB' for k, v in kinds.items())})")
    print(f"  {'total':<20} {_mb(total)}")
    print("`lab cache --clear [CHAPTER ...]` deletes entries (all without a name); they are rebuilt when needed.")
    return 0
