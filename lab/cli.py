"""The lab command: list, run and re-run chapters, build the book, regenerate the scorecard,
and show the data and the cache.

    lab list
    lab run <chapter> [--scale smoke|book|full] [-p NAME VALUE]...
    lab book [--jobs N] [--force] [--no-html]
    lab scorecard [--sweep DIR]
    lab gpu [--list] [--budget SECONDS] [--jobs N] [--logs DIR] [NAME ...]
    lab sweep <chapter> [--scale S] -p NAME V1 V2 ... [--executor local|slurm] [--jobs N]
    lab sweep --resume DIR
    lab data [--check]
    lab cache [--clear [CHAPTER ...]]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lab import chapters


def _list(_args) -> int:
    for name in chapters.available():
        print(f"{name}: {chapters.title(name)}")
        params = list(chapters.parameters(name).values())
        cols = [(p.name, p.annotation, f"= {p.default!r}", p.help) for p in params]
        widths = [max(len(c[i]) for c in cols) for i in range(3)]
        for c in cols:
            print("    " + "  ".join(f"{c[i]:<{widths[i]}}" for i in range(3)) + "  " + c[3])
    planned = [n for n in chapters.PAPERS if n not in chapters.available()]
    if planned:
        print(f"planned: {', '.join(planned)}")
    return 0


def _run(args) -> int:
    from lab.execute import execute, prepare

    overrides = dict(args.param or [])
    params = prepare(args.chapter, args.scale, overrides)
    print(f"lab run {args.chapter}: " + ", ".join(f"{k}={v!r}" for k, v in params.items()))
    res = execute(args.chapter, params, progress=not args.quiet)
    if res.interrupted:
        print(f"lab run: interrupted; the partial run {res.run_dir} is marked INTERRUPTED and is never used",
              file=sys.stderr)
        return 130
    if not res.ok:
        if res.user_error:
            print(f"lab run: {args.chapter} stopped: {res.error}", file=sys.stderr)
        else:
            print(f"lab run: {args.chapter} failed at {res.error}", file=sys.stderr)
        print(f"lab run: the partly executed notebook is in {res.run_dir}", file=sys.stderr)
        return 1
    print(f"lab run: done in {res.seconds:.1f} s -> {res.run_dir}")
    print(f"    notebook: {res.notebook}\n    results:  {res.run_dir / 'results.json'}")
    return 0


def _book(args) -> int:
    from lab import book

    return book.main(jobs=args.jobs, force=args.force, html=not args.no_html, verbose=args.verbose)


def _scorecard(args) -> int:
    import json
    from pathlib import Path

    from lab import scorecard

    pinned = None
    if args.sweep:
        path = Path(args.sweep) / "summary.json"
        if not path.is_file():
            raise chapters.ChapterError(f"{args.sweep} holds no summary.json (is it a finished `lab sweep` folder?)")
        summary = json.loads(path.read_text())
        pinned = {summary["chapter"]: summary}
        print(f"scorecard: {summary['chapter']} shows {summary['title']}")
    print(f"scorecard -> {scorecard.write(pinned)}")
    return 0


def _gpu(args) -> int:
    from lab.gpu import pending, runner

    rows = pending.items()
    print(pending.table(rows))
    if args.list:
        return 0
    if args.budget is None:
        raise chapters.ChapterError("give --budget SECONDS to run the pending work, or --list to only list it")
    if args.budget <= 0:
        raise chapters.ChapterError(f"--budget must be positive, got {args.budget}")
    try:
        outcomes = runner.run_pending(args.budget, jobs=args.jobs, only=args.names or None,
                                      logs=Path(args.logs) if args.logs else None, try_all=args.try_all)
    except ValueError as exc:
        raise chapters.ChapterError(str(exc)) from exc
    except runner.NoGPU as exc:
        print(f"lab gpu: {exc}", file=sys.stderr)
        return 2
    print(runner.summary(outcomes))
    return 0 if all(o.state in ("wrote", "skipped") for o in outcomes) else 1


def _sweep(args) -> int:
    from lab.sweep import executors, runner

    slurm = executors.SlurmOptions(partition=args.partition, gpus=args.gpus, time_min=args.time,
                                   mem_gb=args.mem, cpus=args.cpus)
    if args.resume:
        if args.chapter or args.param:
            raise chapters.ChapterError("--resume takes the sweep folder only (its manifest has the grid)")
        _, summary = runner.resume(args.resume, args.executor, args.jobs, slurm)
    else:
        if not args.chapter or not args.param:
            raise chapters.ChapterError("give a chapter and at least one -p NAME V1 V2 ...")
        grid = {}
        for name, *values in args.param:
            if not values:
                raise chapters.ChapterError(f"-p {name} needs at least one value")
            if name in grid:
                raise chapters.ChapterError(f"-p {name} is given twice")
            grid[name] = values
        _, summary = runner.sweep(args.chapter, args.scale, grid, args.executor or "local", args.jobs, slurm)
    return 0 if summary["sweep"]["runs"] == summary["sweep"]["of"] else 1


def _data(args) -> int:
    from lab import data_cli

    return data_cli.main(check=args.check)


def _cache(args) -> int:
    from lab import cache_cli

    return cache_cli.main(clear=args.clear)


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="lab", description=__doc__.split("\n\n")[0].replace("\n", " "))
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("list", help="chapters with their parameters, defaults and help").set_defaults(fn=_list)
    run = sub.add_parser("run", help="execute a chapter into a new run folder under runs/")
    run.add_argument("chapter", help="chapter name, as `lab list` prints it")
    run.add_argument("--scale", choices=chapters.TIERS, help="tier: smoke (seconds), book (default), full (one GPU)")
    run.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"),
                     help="override a parameter (repeatable); VALUE is a Python literal")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    run.set_defaults(fn=_run)
    bk = sub.add_parser("book", help="execute every chapter at the book tier and build the HTML")
    bk.add_argument("--jobs", type=int, help="chapters executed at once (default: one per core)")
    bk.add_argument("--force", action="store_true", help="re-execute even when a cached run is up to date")
    bk.add_argument("--no-html", action="store_true", help="execute and write the scorecard only")
    bk.add_argument("-v", "--verbose", action="store_true", help="show Jupyter Book's full output")
    bk.set_defaults(fn=_book)
    sc = sub.add_parser("scorecard", help="regenerate book/scorecard.md from the latest results")
    sc.add_argument("--sweep", metavar="DIR", help="show this finished sweep in place of its chapter's single run")
    sc.set_defaults(fn=_scorecard)
    gpu = sub.add_parser("gpu", help="list the pending GPU work, or run it within a time budget (on a GPU)")
    gpu.add_argument("--list", action="store_true", help="only list what is pending (any machine)")
    gpu.add_argument("--budget", type=float, metavar="SECONDS", help="run pending work until this is spent")
    gpu.add_argument("--jobs", type=int, default=1, help="full tiers run at the same time on the one GPU")
    gpu.add_argument("--logs", metavar="DIR", help="keep each run's log (and a failed run's notebook) here")
    gpu.add_argument("--try-all", action="store_true",
                     help="start every item whatever its expected time (runs still stop at the deadline)")
    gpu.add_argument("names", nargs="*", help="only these kernels and chapters, in this order (pending or not)")
    gpu.set_defaults(fn=_gpu)
    sw = sub.add_parser("sweep", help="run a chapter over a grid of parameters, locally or on Slurm")
    sw.add_argument("chapter", nargs="?", help="chapter name, as `lab list` prints it")
    sw.add_argument("--scale", choices=chapters.TIERS, help="tier of every run")
    sw.add_argument("-p", "--param", nargs="+", action="append", metavar="NAME_AND_VALUES",
                    help="NAME V1 V2 ...: the values to sweep (repeatable; the grid is their product)")
    sw.add_argument("--executor", choices=("local", "slurm", "submitit-local"),
                    help="local processes (default), Slurm through submitit, or submitit's local executor")
    sw.add_argument("--jobs", type=int, default=1, help="runs at a time (local: threads per run = cores // jobs)")
    sw.add_argument("--resume", metavar="DIR", help="run again the unfinished runs of this sweep folder")
    sw.add_argument("--partition", help="Slurm partition")
    sw.add_argument("--gpus", type=int, default=0, help="GPUs per run (Slurm)")
    sw.add_argument("--time", type=int, default=60, help="minutes per run (Slurm time limit)")
    sw.add_argument("--mem", type=float, help="GB of memory per run (Slurm)")
    sw.add_argument("--cpus", type=int, help="CPUs per run (Slurm)")
    sw.set_defaults(fn=_sweep)
    data = sub.add_parser("data", help="list every data file: where it was found, its size, its sha256 state")
    data.add_argument("--check", action="store_true", help="hash every file again; exit 1 on a mismatch")
    data.set_defaults(fn=_data)
    cache = sub.add_parser("cache", help="the user cache's size per chapter; --clear deletes entries")
    cache.add_argument("--clear", nargs="*", metavar="CHAPTER",
                       help="delete the cache of these chapters (all of it without a name)")
    cache.set_defaults(fn=_cache)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.fn(args)
    except chapters.ChapterError as exc:
        print(f"lab: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lab: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `lab list | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
