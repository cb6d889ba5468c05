"""Execute a chapter with papermill into a run folder (``lab run`` and ``lab book``).

The chapter is converted from MyST markdown with jupytext, parameters are injected by
papermill after the cell tagged ``parameters``, and the executed notebook, the chapter's
``results.json`` and ``provenance.json`` land in ``runs/<chapter>/<UTC time>-<scale>/``.
Everything is checked before the folder is made, so bad input leaves no folder behind.
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from lab import chapters
from lab.params import resolve_overrides
from lab.paths import book_dir
from lab.run import new_run_dir


class _DropUnknownParameterWarning(logging.Filter):
    """papermill cannot parse ``int | None`` annotations and warns that such knobs are unknown;
    :func:`prepare` has already checked every name against the chapter, so the warning misleads."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Passed unknown parameter")


logging.getLogger("papermill").addFilter(_DropUnknownParameterWarning())


@dataclass
class RunResult:
    chapter: str
    run_dir: Path
    ok: bool
    seconds: float
    error: str = ""

    @property
    def notebook(self) -> Path:
        return self.run_dir / f"{self.chapter}.ipynb"


@contextmanager
def _environment(values: dict[str, str]):
    """Set environment variables for the kernel papermill starts, and restore them afterwards."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def prepare(chapter: str, scale: str | None, overrides: dict[str, object]) -> dict[str, object]:
    """Checked parameters for papermill; raises :class:`lab.chapters.ChapterError` on bad input."""
    declared = chapters.parameters(chapter)
    if scale is not None:
        if "scale" in overrides:
            raise chapters.ChapterError("give the tier either as --scale or as -p scale, not both")
        overrides = {**overrides, "scale": scale}
    return resolve_overrides(declared, overrides)


def execute(chapter: str, params: dict[str, object], progress: bool = True,
            log_output: bool = False, threads: int | None = None,
            run_dir: Path | None = None) -> RunResult:
    """Run the chapter with checked ``params`` into a new run folder; never raises on a cell error.

    ``run_dir`` names the folder (``lab sweep`` groups its runs); it must not exist yet.
    """
    import jupytext
    import papermill as pm

    nb = chapters.read_notebook(chapter)
    scale = params.get("scale", chapters.parameters(chapter)["scale"].default)
    if run_dir is None:
        run_dir = new_run_dir(chapter, scale)
    else:
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True)  # an existing folder is an error: runs are never overwritten
    env = {"LAB_RUN_DIR": str(run_dir)}
    if threads:
        env.update(dict.fromkeys(("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"), str(threads)))
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, _environment(env):
        source = Path(tmp) / f"{chapter}.ipynb"
        jupytext.write(nb, source)
        try:
            pm.execute_notebook(
                str(source), str(run_dir / f"{chapter}.ipynb"), parameters=params,
                kernel_name="python3", progress_bar=progress, log_output=log_output,
                cwd=str(book_dir()),
            )
            error = ""
        except pm.PapermillExecutionError as exc:
            error = f"cell {exc.exec_count}: {exc.ename}: {exc.evalue}"
        except Exception as exc:  # a kernel that died, a timeout: still a failed run, not a crash
            error = f"{type(exc).__name__}: {exc}"
    seconds = time.perf_counter() - t0
    ok = not error and (run_dir / "results.json").exists()
    if not error and not ok:
        error = "the chapter finished without writing results.json (did it call run.finish()?)"
    if ok:
        results = json.loads((run_dir / "results.json").read_text())
        (run_dir / "provenance.json").write_text(json.dumps(results["provenance"], indent=1))
    else:
        (run_dir / "FAILED").write_text(error + "\n")
    return RunResult(chapter, run_dir, ok, seconds, error)


def latest_runs(chapter: str) -> list[Path]:
    """Successful run folders of a chapter, newest first."""
    from lab.paths import runs_dir

    base = runs_dir() / chapter
    if not base.exists():
        return []
    done = [p for p in base.iterdir() if (p / "results.json").exists() and not (p / "FAILED").exists()]
    return sorted(done, key=lambda p: p.name, reverse=True)

