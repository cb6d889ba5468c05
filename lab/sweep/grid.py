"""The combinations of a sweep, checked before anything runs."""
from __future__ import annotations

import itertools

from lab.chapters import ChapterError
from lab.execute import prepare


def combinations(grid: dict[str, list[object]]) -> list[dict[str, object]]:
    """Every combination of ``grid``'s values, the first name varying slowest.

    >>> combinations({"seed": [0, 1], "bits": [2, 4]})
    [{'seed': 0, 'bits': 2}, {'seed': 0, 'bits': 4}, {'seed': 1, 'bits': 2}, {'seed': 1, 'bits': 4}]
    """
    for name, values in grid.items():
        if not values:
            raise ChapterError(f"sweep parameter {name!r} has no values")
        if len(set(map(repr, values))) != len(values):
            raise ChapterError(f"sweep parameter {name!r} repeats a value: {values}")
    names = list(grid)
    return [dict(zip(names, combo)) for combo in itertools.product(*(grid[n] for n in names))]


def converted(chapter: str, grid: dict[str, list[object]]) -> dict[str, list[object]]:
    """The grid's values as their declared types (``"3"`` becomes ``3``), names checked."""
    from lab import chapters
    from lab.params import convert

    declared = chapters.parameters(chapter)
    unknown = [name for name in grid if name not in declared]
    if unknown:
        raise ChapterError(f"unknown parameter(s) {', '.join(map(repr, unknown))}; "
                           f"this chapter's parameters: {', '.join(declared)}")
    return {name: [convert(declared[name], v) for v in values] for name, values in grid.items()}


def checked(chapter: str, scale: str | None, grid: dict[str, list[object]]) -> tuple[dict, list[dict]]:
    """The typed grid and each combination as ``lab run`` would check it: all or nothing."""
    if "scale" in grid:
        raise ChapterError("give the tier with --scale; a sweep runs one tier")
    typed = converted(chapter, grid)
    return typed, [prepare(chapter, scale, combo) for combo in combinations(typed)]
