"""The ``lab`` command: list, run and re-run chapters, build the book, regenerate the scorecard.

    lab list
    lab run <chapter> [--scale smoke|book|full] [-p NAME VALUE]...
    lab book [--jobs N] [--force] [--no-html]
    lab scorecard
"""
from __future__ import annotations

import argparse
import sys

from lab import chapters


def _list(_args) -> int:
    for name in chapters.available():
        print(f"{name}: {chapters.title(name)}")
        for p in chapters.parameters(name).values():
            print(f"    {p.name:<14} {p.annotation:<18} = {p.default!r:<10} {p.help}")
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
    if not res.ok:
        print(f"lab run: {args.chapter} failed at {res.error}", file=sys.stderr)
        print(f"lab run: the partly executed notebook is in {res.run_dir}", file=sys.stderr)
        return 1
    print(f"lab run: done in {res.seconds:.1f} s -> {res.run_dir}")
    print(f"    notebook: {res.notebook}\n    results:  {res.run_dir / 'results.json'}")
    return 0


def _book(args) -> int:
    from lab import book

    return book.main(jobs=args.jobs, force=args.force, html=not args.no_html)


def _scorecard(_args) -> int:
    from lab import scorecard

    print(f"scorecard -> {scorecard.write()}")
    return 0


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="lab", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
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
    bk.set_defaults(fn=_book)
    sub.add_parser("scorecard", help="regenerate book/scorecard.md from the latest results").set_defaults(fn=_scorecard)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.fn(args)
    except chapters.ChapterError as exc:
        print(f"lab: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
