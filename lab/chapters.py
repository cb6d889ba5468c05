"""The chapters of the book and the parameters each one declares.

A chapter is a jupytext MyST notebook ``book/<name>.md`` with one code cell tagged
``parameters``. Each line of that cell declares one knob::

    scale: str = "book"        # tier: smoke (seconds), book (default), full (one H100)
    trials: int | None = None  # Monte-Carlo trials per point; None takes the tier's preset

The annotation gives the type that ``lab run -p`` checks, the comment gives the help that
``lab list`` prints. Names of the fourteen chapters are fixed (see :data:`PAPERS`).
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import jupytext
import nbformat

from lab.paths import book_dir

TIERS = ("smoke", "book", "full")

# The fourteen papers, in the parts the book groups them in: (chapter name, short title).
PARTS: dict[str, list[tuple[str, str]]] = {
    "LLM inference": [
        ("xquant", "XQuant: rematerializing the KV cache from quantized X"),
        ("multipole_attention", "Multipole Attention for efficient long-context reasoning"),
        ("ets", "ETS: efficient tree search for inference-time scaling"),
    ],
    "Time series": [
        ("tsfm_biases", "Implicit biases of time-series foundation models"),
        ("forking_sequences", "Forking-sequences for forecasting"),
        ("copula_sample_paths", "Copula sample paths for probabilistic forecasts"),
        ("probhard_e2e", "ProbHardE2E: hard constraints in probabilistic forecasting"),
    ],
    "Random matrices and RandNLA": [
        ("rmt_equivalents", "Random matrix theory beyond eigenvalues"),
        ("free_decompression", "Free decompression of spectra"),
        ("logdet_scaling", "Log-determinants under memory constraints"),
        ("inversion_bias", "Inversion bias of random sampling and sub-sampled Newton"),
    ],
    "Scientific ML": [
        ("flex", "FLEX: few-step diffusion for turbulence"),
        ("pde_pretraining", "PDE-residual pre-training"),
    ],
    "Security": [
        ("semantic_regen", "SemanticRegen: attacking semantic watermarks"),
    ],
}
PAPERS = [name for part in PARTS.values() for name, _ in part]


@dataclass(frozen=True)
class Parameter:
    """One knob of a chapter's parameters cell."""

    name: str
    annotation: str
    default: object
    help: str


class ChapterError(ValueError):
    """A request names a chapter or parameter that does not exist, or a bad value."""


def available() -> list[str]:
    """Chapters that exist as ``book/<name>.md``, in the book's order."""
    return [name for name in PAPERS if (book_dir() / f"{name}.md").exists()]


def chapter_path(name: str) -> Path:
    """The chapter's source file; a :class:`ChapterError` lists the valid names otherwise."""
    if name not in available():
        planned = " (planned, not written yet)" if name in PAPERS else ""
        raise ChapterError(
            f"unknown chapter {name!r}{planned}; available chapters: {', '.join(available())}"
        )
    return book_dir() / f"{name}.md"


def read_notebook(name: str) -> nbformat.NotebookNode:
    """The chapter converted from MyST markdown to a notebook with jupytext."""
    return jupytext.read(chapter_path(name))


def parameters_cell(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise ChapterError(f"a chapter needs exactly one cell tagged 'parameters', found {len(cells)}")
    return cells[0]


def parse_parameters(source: str) -> dict[str, Parameter]:
    """Parse ``name: type = literal  # help`` lines of a parameters cell."""
    lines = source.splitlines()
    params: dict[str, Parameter] = {}
    for node in ast.parse(source).body:
        if not isinstance(node, ast.AnnAssign) or not isinstance(node.target, ast.Name):
            raise ChapterError(
                f"parameters cell line {node.lineno}: declare knobs as `name: type = value  # help`"
            )
        line = lines[node.end_lineno - 1]
        comment = line.split("#", 1)[1].strip() if "#" in line else ""
        params[node.target.id] = Parameter(
            name=node.target.id,
            annotation=ast.unparse(node.annotation),
            default=ast.literal_eval(node.value),
            help=comment,
        )
    if "scale" not in params:
        raise ChapterError("a chapter's parameters cell must declare `scale`")
    return params


@lru_cache(maxsize=None)
def _parameters_cached(name: str, mtime: float) -> dict[str, Parameter]:
    return parse_parameters(parameters_cell(read_notebook(name)).source)


def parameters(name: str) -> dict[str, Parameter]:
    """The chapter's parameters, by name, in declaration order."""
    path = chapter_path(name)
    return _parameters_cached(name, path.stat().st_mtime)


def title(name: str) -> str:
    """The chapter's first markdown heading."""
    for line in chapter_path(name).read_text().splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return name
