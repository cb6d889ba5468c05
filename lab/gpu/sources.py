"""What a chapter's full tier and a kernel's benchmark are made from, and a hash of it.

A chapter's sources are ``book/<chapter>.md`` and every module under ``lab/`` and ``kernels/``
that its code cells import, followed transitively through the modules' own imports; an import
of a module inside a ``lab`` subpackage counts the whole subpackage (its ``*.py`` files), since
that is the unit a chapter is built from. The spine (``lab/*.py`` at the top level and
``lab/claims/``) is left out: it records and displays results, and a change there re-judges
nothing on a GPU. A kernel's sources are ``kernels/<op>.py`` and ``kernels/dispatch.py``.

:func:`code_hash` is the sha256 of those files' paths and bytes; records written by ``lab run``
and ``python -m kernels.bench`` carry it, so staleness is exact for them.
"""
from __future__ import annotations

import ast
import hashlib
from pathlib import Path

from lab.paths import book_dir, repo_root

SPINE_PACKAGES = ("claims", "gpu", "sweep")  # spine subpackages, like the top-level lab/*.py


def _imports(source: str, package: str | None = None) -> set[str]:
    """Dotted module names imported by ``source`` (relative imports resolved against ``package``)."""
    names: set[str] = set()
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return names
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level and package:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            names.add(mod)
            names.update(f"{mod}.{a.name}" for a in node.names)  # `from lab.x import module`
    return {n for n in names if n.split(".")[0] in ("lab", "kernels")}


def _module_file(name: str) -> Path | None:
    path = repo_root().joinpath(*name.split("."))
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    return None


def _unit(path: Path) -> list[Path]:
    """The files a module stands for: a ``lab`` subpackage whole, anything else alone."""
    rel = path.relative_to(repo_root()).parts
    if rel[0] == "lab" and len(rel) >= 3:
        if rel[1] in SPINE_PACKAGES:
            return []
        return sorted((repo_root() / "lab" / rel[1]).rglob("*.py"))
    if rel[0] == "lab":  # top-level spine module
        return []
    return [path]


def _code_cells(chapter: str) -> str:
    import jupytext

    nb = jupytext.read(book_dir() / f"{chapter}.md")
    return "\n".join(c.source for c in nb.cells if c.cell_type == "code")


def closure(source: str) -> list[Path]:
    """Files under lab/ and kernels/ that ``source`` depends on (see the module docstring)."""
    seen_files: set[Path] = set()
    todo = [(name, None) for name in _imports(source)]
    seen_names: set[str] = set()
    while todo:
        name, _ = todo.pop()
        if name in seen_names:
            continue
        seen_names.add(name)
        path = _module_file(name)
        if path is None:
            continue
        for f in _unit(path):
            if f in seen_files:
                continue
            seen_files.add(f)
            pkg = ".".join(f.relative_to(repo_root()).with_suffix("").parts)
            if f.name == "__init__.py":
                pkg = pkg[: -len(".__init__")]
            else:
                pkg = pkg.rsplit(".", 1)[0]
            todo.extend((n, None) for n in _imports(f.read_text(), pkg))
    return sorted(seen_files)


def chapter_sources(chapter: str) -> list[Path]:
    """The chapter's page and every ``lab`` package and kernel it is made from."""
    return [book_dir() / f"{chapter}.md", *closure(_code_cells(chapter))]


def kernel_sources(op: str) -> list[Path]:
    root = repo_root() / "kernels"
    return [root / f"{op}.py", root / "dispatch.py"]


def code_hash(files: list[Path]) -> str:
    h = hashlib.sha256()
    for path in files:
        h.update(str(path.relative_to(repo_root())).encode())
        h.update(path.read_bytes() if path.exists() else b"<missing>")
    return h.hexdigest()[:16]


def chapter_hash(chapter: str) -> str:
    return code_hash(chapter_sources(chapter))


def kernel_hash(op: str) -> str:
    return code_hash(kernel_sources(op))
