"""Execute a chapter with papermill into a run folder (``lab run`` and ``lab book``).

The chapter is converted from MyST markdown with jupytext, parameters are injected by
papermill after the cell tagged ``parameters``, and the executed notebook, the chapter's
``results.json`` and ``provenance.json`` land in ``runs/<chapter>/<UTC time>-<scale>/``.
Everything is checked before the folder is made, so bad input leaves no folder behind. A run
that fails is marked by a ``FAILED`` file, one stopped with Ctrl-C by ``INTERRUPTED``; only
complete runs (notebook, results and provenance, no marker) count as runs anywhere else.
"""
from __future__ import annotations

import importlib
import json
import logging
import os
import re
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


class _DropDeadKernelEcho(logging.Filter):
    """A kernel that dies (Ctrl-C reaches it with the rest of the process group, or a crash) is
    reported by ``lab run`` in one line; nbclient's log line and asyncio's "Task exception was never
    retrieved" for the same ``DeadKernelError`` would only repeat it, with a traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        return not (msg.startswith("Kernel died while waiting for execute reply")
                    or (msg.startswith("Task exception was never retrieved") and "DeadKernelError" in msg))


for _name in ("papermill", "nbclient", "traitlets", "asyncio", "NotebookClient"):
    logging.getLogger(_name).addFilter(_DropDeadKernelEcho())


#: Exceptions that describe bad input or missing data, not a bug: shown as their message alone.
USER_ERRORS = ("MissingData", "DataMismatch", "ParameterError", "ChapterError")


@dataclass
class RunResult:
    chapter: str
    run_dir: Path
    ok: bool
    seconds: float
    error: str = ""
    interrupted: bool = False
    #: the error is bad input or missing data (:data:`USER_ERRORS`), not a bug in the chapter
    user_error: bool = False

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
    """Checked parameters for papermill; raises :class:`lab.chapters.ChapterError` on bad input.

    Types are checked against the parameters cell, then every knob (defaults included) goes
    through the chapter's ``lab/<chapter>/config.py`` ``resolve``, whose declared range checks
    (:mod:`lab.tiers`) stop a bad value here, before any run folder exists.
    """
    declared = chapters.parameters(chapter)
    if scale is not None:
        if "scale" in overrides:
            raise chapters.ChapterError("give the tier either as --scale or as -p scale, not both")
        overrides = {**overrides, "scale": scale}
    params = resolve_overrides(declared, overrides)
    check_ranges(chapter, {**{n: p.default for n, p in declared.items()}, **params})
    return params


def check_ranges(chapter: str, knobs: dict[str, object]) -> None:
    """Resolve ``knobs`` (every parameter of the cell) through the chapter's config, if it has one.

    A :class:`lab.tiers.ParameterError` (or the ``ValueError``/``TypeError`` of a ``resolve``)
    becomes a :class:`lab.chapters.ChapterError` naming the parameter, its value and what is allowed.
    """
    import importlib.util

    from lab.tiers import ParameterError

    module = f"lab.{chapter}.config"
    if importlib.util.find_spec(f"lab.{chapter}") is None or importlib.util.find_spec(module) is None:
        return
    config = importlib.import_module(module)
    try:
        config.resolve(**knobs)
    except ParameterError as exc:
        raise chapters.ChapterError(f"{chapter}: {exc}") from None
    except (ValueError, TypeError) as exc:
        raise chapters.ChapterError(f"{chapter}: bad parameters: {exc}") from None


def _kernel_options(socket_prefix: Path) -> dict:
    """papermill options for the chapter's kernel: IPC sockets named ``<socket_prefix>-<n>`` (a
    local kernel needs no TCP port, and over TCP ipykernel prints an encryption warning on every
    run; the prefix must be unique per kernel, or kernels started at once, as ``lab book`` does,
    read each other's messages), and the kernel process's
    own stderr (its log lines, a native library's messages) in ``kernel.log`` of the run folder
    rather than on the terminal. What the cells print is in the notebook either way."""
    from jupyter_client.manager import AsyncKernelManager
    from traitlets.config import Config

    class LoggedKernelManager(AsyncKernelManager):
        async def _async_launch_kernel(self, kernel_cmd, **kw):
            run_dir = os.environ.get("LAB_RUN_DIR")
            if not run_dir or "stderr" in kw:
                return await super()._async_launch_kernel(kernel_cmd, **kw)
            with open(Path(run_dir) / "kernel.log", "ab") as log:
                return await super()._async_launch_kernel(kernel_cmd, **{**kw, "stderr": log})

    return {"kernel_manager_class": LoggedKernelManager,
            "config": Config({"KernelManager": {"transport": "ipc", "ip": str(socket_prefix)}})}


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def describe_failure(exc) -> tuple[str, bool]:
    """One line for a failed cell, and whether it is bad input rather than a bug.

    The exception's message is kept to one line of at most 300 characters; an exception without
    a message is named with the line of code that raised it, so the line is never empty.
    """
    ename, evalue = exc.ename, " ".join(str(exc.evalue).split())
    if len(evalue) > 300:
        evalue = evalue[:297] + "..."
    if ename in USER_ERRORS:
        return f"{ename}: {evalue}", True
    if not evalue:
        frames = [_ANSI.sub("", line) for line in (exc.traceback or [])]
        where = [ln.strip() for fr in frames for ln in fr.splitlines() if ln.strip().startswith(("File ", "Cell "))]
        evalue = f"(no message; raised at {where[-1][:200]})" if where else "(no message)"
    return f"cell {exc.exec_count}: {ename}: {evalue}", False


def execute(chapter: str, params: dict[str, object], progress: bool = True,
            log_output: bool = False, threads: int | None = None,
            run_dir: Path | None = None) -> RunResult:
    """Run the chapter with checked ``params`` into a new run folder; never raises on a cell error.

    ``run_dir`` names the folder (``lab sweep`` groups its runs); it must not exist yet.
    Ctrl-C stops the kernel and marks the folder ``INTERRUPTED`` (``RunResult.interrupted``).
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
    error, interrupted, user_error = "", False, False
    try:
        with tempfile.TemporaryDirectory() as tmp, _environment(env):
            source = Path(tmp) / f"{chapter}.ipynb"
            jupytext.write(nb, source)
            try:
                pm.execute_notebook(
                    str(source), str(run_dir / f"{chapter}.ipynb"), parameters=params,
                    kernel_name="python3", progress_bar=progress, log_output=log_output,
                    cwd=str(book_dir()), **_kernel_options(Path(tmp) / "kernel"),
                )
            except pm.PapermillExecutionError as exc:
                interrupted = exc.ename == "KeyboardInterrupt"
                error, user_error = describe_failure(exc)
            except Exception as exc:  # a kernel that died, a timeout: still a failed run, not a crash
                error = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300] or '(no message)'}"
    except KeyboardInterrupt:
        interrupted = True
    seconds = time.perf_counter() - t0
    if interrupted:
        (run_dir / "INTERRUPTED").write_text(f"stopped with Ctrl-C after {seconds:.0f} s\n")
        return RunResult(chapter, run_dir, False, seconds, "interrupted (Ctrl-C)", interrupted=True)
    ok = not error and (run_dir / "results.json").exists()
    if not error and not ok:
        error = "the chapter finished without writing results.json (did it call run.finish()?)"
    if ok:
        results = json.loads((run_dir / "results.json").read_text())
        (run_dir / "provenance.json").write_text(json.dumps(results["provenance"], indent=1))
    else:
        (run_dir / "FAILED").write_text(error + "\n")
    return RunResult(chapter, run_dir, ok, seconds, error, user_error=user_error)


def is_complete(run_dir: Path, chapter: str) -> bool:
    """A run ``lab run`` or ``lab book`` finished: notebook, results and provenance, no FAILED/INTERRUPTED.

    A ``results.json`` alone (a reader's interactive Jupyter session) is not such a run.
    """
    return (all((run_dir / f).is_file() for f in (f"{chapter}.ipynb", "results.json", "provenance.json"))
            and not any((run_dir / m).exists() for m in ("FAILED", "INTERRUPTED")))


def latest_runs(chapter: str) -> list[Path]:
    """Complete run folders of a chapter (:func:`is_complete`), newest first."""
    from lab.paths import runs_dir

    base = runs_dir() / chapter
    if not base.exists():
        return []
    done = [p for p in base.iterdir() if p.is_dir() and is_complete(p, chapter)]
    return sorted(done, key=lambda p: p.name, reverse=True)

