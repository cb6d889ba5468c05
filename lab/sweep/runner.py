"""Run a sweep: check every combination, make the folder, execute, summarise; or resume one."""
from __future__ import annotations

from pathlib import Path

from lab.chapters import ChapterError
from lab.sweep import executors, manifest as mf, summary as sm
from lab.sweep.grid import checked


def _execute(folder: Path, man: dict, executor: str, jobs: int, slurm: executors.SlurmOptions,
             log=print) -> dict:
    pending = mf.todo(man)
    tasks, runs = [], []
    for run in pending:
        run_dir = mf.fresh_run_dir(folder, run["index"])
        run["dir"], run["state"] = str(run_dir), "running"
        run["attempts"].append(str(run_dir))
        tasks.append((man["chapter"], run["params"], str(run_dir)))
        runs.append(run)
    mf.save(folder, man)
    log(f"lab sweep: {len(tasks)} run(s) of {man['chapter']} ({man['scale']}) with the {executor} executor"
        + (f", {len(man['runs']) - len(tasks)} already done" if len(tasks) < len(man["runs"]) else ""))

    def done(i: int, outcome: dict) -> None:
        runs[i]["state"] = "done" if outcome["ok"] else "failed"
        runs[i]["seconds"], runs[i]["error"] = outcome["seconds"], outcome["error"]
        mf.save(folder, man)  # written as each run ends, so an interrupted sweep can resume
        params = ", ".join(f"{k}={v!r}" for k, v in runs[i]["params"].items() if k != "scale")
        state = "ok" if outcome["ok"] else f"FAILED ({outcome['error']})"
        log(f"  run {runs[i]['index']} [{params}]: {state} in {outcome['seconds']:.0f} s")

    try:
        if executor == "local":
            executors.run_local(tasks, jobs, done)
        elif executor in ("slurm", "submitit-local"):
            cluster = "slurm" if executor == "slurm" else "local"
            executors.run_submitit(tasks, jobs, done, folder / "submitit", cluster, slurm)
        else:
            raise ChapterError(f"unknown executor {executor!r}; choose from {', '.join(executors.EXECUTORS)}")
    finally:
        for run in runs:
            if run["state"] == "running":
                run["state"] = "interrupted"
        mf.save(folder, man)
    return man


def sweep(chapter: str, scale: str | None, grid: dict[str, list], executor: str = "local", jobs: int = 1,
          slurm: executors.SlurmOptions | None = None, log=print) -> tuple[Path, dict]:
    """Check, create and run a sweep; returns its folder and summary."""
    if executor not in executors.EXECUTORS:
        raise ChapterError(f"unknown executor {executor!r}; choose from {', '.join(executors.EXECUTORS)}")
    if jobs < 1:
        raise ChapterError(f"--jobs must be at least 1, got {jobs}")
    grid, params = checked(chapter, scale, grid)  # every combination checked before any folder exists
    tier = params[0].get("scale") or "book"
    folder = mf.create(chapter, tier, grid, params, executor)
    man = mf.load(folder)
    return folder, _finish(folder, _execute(folder, man, executor, jobs, slurm or executors.SlurmOptions(), log), log)


def resume(folder: Path, executor: str | None = None, jobs: int = 1,
           slurm: executors.SlurmOptions | None = None, log=print) -> tuple[Path, dict]:
    """Run again the runs of ``folder`` that did not finish; finished runs are kept."""
    folder = Path(folder)
    man = mf.load(folder)
    return folder, _finish(folder, _execute(folder, man, executor or man["executor"], jobs,
                                            slurm or executors.SlurmOptions(), log), log)


def _finish(folder: Path, man: dict, log) -> dict:
    summary = sm.summarize(folder, man)
    failed = [r for r in man["runs"] if r["state"] != "done"]
    log(f"lab sweep: {len(man['runs']) - len(failed)} of {len(man['runs'])} runs finished -> {folder}")
    log(sm.table(summary))
    if failed:
        log(f"lab sweep: {len(failed)} run(s) did not finish; `lab sweep --resume {folder}` runs them again")
    return summary
