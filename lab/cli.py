"""The lab command: list, run and re-run chapters, build the book, regenerate the scorecard,
and show the data and the cache.

    lab list
    lab run <chapter> [--scale smoke|book|full] [-p NAME VALUE]...
    lab book [--jobs N] [--force] [--no-html]
    lab scorecard
    lab data [--check]
    lab cache [--clear [CHAPTER ...]]
"""
from __future__ import annotations

import argparse
import sys

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


def _scorecard(_args) -> int:
    from lab import scorecard

    print(f"scorecard -> {scorecard.write()}")
    return 0


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
    sub.add_parser("scorecard", help="regenerate book/scorecard.md from the latest results").set_defaults(fn=_scorecard)
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
