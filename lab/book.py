"""``lab book``: execute every chapter at the ``book`` tier, then build the HTML.

Execution is cached by run folder: a chapter is re-executed unless ``runs/<chapter>/`` holds a
successful ``book``-tier run with default parameters whose provenance carries the current
:func:`lab.provenance.source_hash` (the chapter, ``lab/`` and ``kernels/``), so rendered
outputs are never stale. Chapters run in parallel processes, one per core. The build reads a
staged copy of the sources in ``_build/src`` where each chapter is its executed notebook, so
Jupyter Book does not execute anything itself, and its page offers that ``.ipynb`` for download.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import yaml

from lab import chapters, scorecard
from lab.gpu import page as gpu_page
from lab.gpu import kernels_page
from lab.execute import RunResult, execute, latest_runs
from lab.paths import book_dir, repo_root
from lab.provenance import source_hash


def cached_run(chapter: str) -> Path | None:
    """The newest reusable ``book`` run of ``chapter``, if its sources have not changed since."""
    key = source_hash(chapter)
    for run_dir in latest_runs(chapter):
        res = json.loads((run_dir / "results.json").read_text())
        if (res["scale"] == "book" and res["provenance"].get("source_hash") == key
                and scorecard.has_default_parameters(res) and (run_dir / f"{chapter}.ipynb").exists()):
            return run_dir
    return None


def _execute_book_tier(chapter: str, threads: int) -> RunResult:
    os.environ["TQDM_DISABLE"] = "1"  # the rendered page should not carry progress bars
    return execute(chapter, {"scale": "book"}, progress=False, threads=threads)


def execute_all(names: list[str], jobs: int | None = None, force: bool = False) -> dict[str, RunResult | Path]:
    """Run folders for every chapter: reused where cached, executed (in parallel) otherwise."""
    todo, done = [], {}
    for name in names:
        hit = None if force else cached_run(name)
        if hit:
            print(f"  {name}: up to date, reusing {hit.relative_to(repo_root()) if hit.is_relative_to(repo_root()) else hit}")
            done[name] = hit
        else:
            todo.append(name)
    if todo:
        cores = os.cpu_count() or 1
        jobs = max(1, min(jobs or cores, len(todo)))
        # an explicit OMP_NUM_THREADS (the test suite sets 1) wins over one share of the cores
        threads = int(os.environ.get("OMP_NUM_THREADS") or max(1, cores // jobs))
        print(f"  executing {', '.join(todo)} at the book tier ({jobs} at a time, {threads} thread(s) each)")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
            futures = {name: pool.submit(_execute_book_tier, name, threads) for name in todo}
            for name, fut in futures.items():
                res = fut.result()
                state = "ok" if res.ok else f"FAILED ({res.error})"
                print(f"  {name}: {state} in {res.seconds:.0f} s -> {res.run_dir}")
                done[name] = res
    return done


def stage(executed: dict[str, Path]) -> Path:
    """Copy the book's sources to ``_build/src`` with each chapter replaced by its executed notebook."""
    root, src = repo_root(), repo_root() / "_build" / "src"
    shutil.rmtree(src, ignore_errors=True)
    (src / "book").mkdir(parents=True)
    config = yaml.safe_load((root / "_config.yml").read_text())
    config.setdefault("execute", {})["execute_notebooks"] = "off"
    (src / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    shutil.copy(root / "_toc.yml", src / "_toc.yml")
    for path in book_dir().iterdir():
        if path.suffix == ".md" and path.stem in executed:
            continue
        copy = shutil.copytree if path.is_dir() else shutil.copy
        copy(path, src / "book" / path.name)
    for name, run_dir in executed.items():
        hide_injected_parameters(run_dir / f"{name}.ipynb", src / "book" / f"{name}.ipynb")
    return src


def hide_injected_parameters(notebook: Path, dest: Path) -> None:
    """Copy ``notebook`` with papermill's injected-parameters cell tagged ``remove-cell``: the
    page does not show it, the notebook offered for download (this copy) still holds it."""
    nb = json.loads(notebook.read_text())
    for cell in nb.get("cells", []):
        tags = cell.get("metadata", {}).get("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            cell["metadata"]["tags"] = [*tags, "remove-cell"]
    dest.write_text(json.dumps(nb, indent=1, ensure_ascii=False))


_NOISE = re.compile(r"^(\x1b\[[0-9;]*m)*(myst v|myst-nb v|sphinx-multitoc|reading sources|writing output|copying |"
                    r"\[etoc\]|Using jupyter-cache|building \[|updating environment|looking for|pickling|checking |"
                    r"preparing|generating|dumping|parsing bibtex|loading |making output|Running |Source Folder|"
                    r"Config Path|Output Path|\s*$|=+$|\x1b\[9|writing additional|Finished generating|Your book's|"
                    r"You can look|\s+_build/html|Or paste|\s+file://|done$)")


def build_html(src: Path, verbose: bool = False) -> int:
    """Build the HTML; without ``verbose`` only warnings, errors and the outcome are printed
    (Jupyter Book otherwise dumps its parsers' configurations and a line per page)."""
    cmd = [sys.executable, "-m", "jupyter_book", "build", str(src), "--path-output", str(repo_root()),
           "-W", "-n", "--keep-going"]
    jb = shutil.which("jupyter-book", path=str(Path(sys.executable).parent))
    if jb:
        cmd = [jb, *cmd[3:]]
    print("  " + " ".join(cmd))
    if verbose:
        return subprocess.run(cmd).returncode
    proc = subprocess.run(cmd, capture_output=True, text=True)
    lines = (proc.stdout + proc.stderr).splitlines()
    shown = [ln for ln in lines if not _NOISE.match(ln) and "build succeeded" not in ln]
    for line in (shown if proc.returncode == 0 else lines[-60:]):
        print("  " + line)
    print(f"  jupyter-book: {'build succeeded' if proc.returncode == 0 else f'failed (exit {proc.returncode})'}")
    return proc.returncode


def main(jobs: int | None = None, force: bool = False, html: bool = True, verbose: bool = False) -> int:
    names = chapters.available()
    print(f"lab book: {len(names)} chapter(s)")
    runs = execute_all(names, jobs, force)
    failed = [n for n, r in runs.items() if isinstance(r, RunResult) and not r.ok]
    dirs = {n: (r.run_dir if isinstance(r, RunResult) else r) for n, r in runs.items() if n not in failed}
    pinned = {n: json.loads((d / "results.json").read_text()) for n, d in dirs.items()}
    page = scorecard.write(pinned)
    print(f"  scorecard -> {page}")
    print(f"  GPU work -> {gpu_page.write()}")
    print(f"  kernels -> {kernels_page.write()}")
    code = 0
    if html:
        code = build_html(stage(dirs), verbose=verbose)
        if code == 0:
            print(f"lab book: HTML in {repo_root() / '_build' / 'html' / 'index.html'}")
    if failed:
        print(f"lab book: execution failed for {', '.join(failed)}; see the FAILED file in each run folder")
        return 1
    return code
