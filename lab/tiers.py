"""Tier presets for a chapter's configuration: one parameter ``scale`` picks a preset.

Each chapter's ``config.py`` declares a frozen dataclass ``Config`` (its defaults are the
``book`` tier) and a dict of presets per tier; :func:`resolve_config` applies the tier's preset,
then every override that is not ``None`` (the chapter's parameters cell, where ``None`` means
"the tier's preset").

Every knob's allowed range is declared next to the presets, as a dict ``CHECKS`` of
:class:`Check` objects (``at_least(1)``, ``between(0, 1)``, ``one_of(...)``, ``each(...)``,
``nonempty``...), and :func:`resolve_config` checks the resolved configuration against it, so
a bad value stops with a :class:`ParameterError` that names the parameter, the value and what is
allowed. ``lab run`` calls the chapter's ``resolve`` before it makes a run folder.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Callable

TIERS = ("smoke", "book", "full")


class ParameterError(ValueError):
    """A parameter outside its allowed range: names the parameter, the value and what is allowed."""

    def __init__(self, name: str, value, allowed: str):
        self.name, self.value, self.allowed = name, value, allowed
        super().__init__(f"parameter {name!r} = {value!r} is out of range: {allowed}")


@dataclass(frozen=True)
class Check:
    """A predicate on one knob's value, with the words that say what it allows."""

    ok: Callable[[object], bool]
    allowed: str

    def __call__(self, value) -> bool:
        try:
            return bool(self.ok(value))
        except TypeError:
            return False

    def __and__(self, other: "Check") -> "Check":
        return Check(lambda v: self(v) and other(v), f"{self.allowed} and {other.allowed}")


def _num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v


def at_least(lo: float) -> Check:
    return Check(lambda v: _num(v) and v >= lo, f"a number ≥ {lo}")


def greater_than(lo: float) -> Check:
    return Check(lambda v: _num(v) and v > lo, f"a number > {lo}")


def at_most(hi: float) -> Check:
    return Check(lambda v: _num(v) and v <= hi, f"a number ≤ {hi}")


def between(lo: float, hi: float, *, open_lo: bool = False, open_hi: bool = False) -> Check:
    lb, rb = "(" if open_lo else "[", ")" if open_hi else "]"
    return Check(lambda v: _num(v) and (v > lo if open_lo else v >= lo) and (v < hi if open_hi else v <= hi),
                 f"a number in {lb}{lo}, {hi}{rb}")


def one_of(*choices) -> Check:
    return Check(lambda v: v in choices, f"one of {', '.join(map(repr, choices))}")


nonempty = Check(lambda v: len(v) > 0, "a non-empty list")


def each(check: Check) -> Check:
    """Every element of a list or tuple passes ``check``."""
    return Check(lambda v: isinstance(v, (list, tuple)) and all(check(x) for x in v), f"a list of {check.allowed}")


def increasing(v) -> bool:
    return all(a < b for a, b in zip(v, v[1:]))


strictly_increasing = Check(increasing, "strictly increasing")


def check_config(cfg, checks: dict[str, Check]) -> None:
    """Raise :class:`ParameterError` for the first knob of ``cfg`` that fails its check."""
    known = {f.name for f in fields(cfg)}
    for name, check in checks.items():
        if name not in known:
            raise TypeError(f"a check names {name!r}, which is no field of {type(cfg).__name__}")
        value = getattr(cfg, name)
        if not check(value):
            raise ParameterError(name, list(value) if isinstance(value, tuple) else value, check.allowed)


def resolve_config(config_cls, presets: dict[str, dict], scale: str, overrides: dict,
                   checks: dict[str, Check] | None = None):
    """``config_cls(scale=scale)`` with ``presets[scale]`` and the non-``None`` overrides applied.

    papermill passes sequences as lists; the configuration keeps them as (hashable) tuples.

    Raises
    ------
    ValueError
        If ``scale`` is not one of :data:`TIERS`.
    TypeError
        If an override names no field of ``config_cls``.
    ParameterError
        If a knob of the resolved configuration fails its entry in ``checks``.
    """
    if scale not in TIERS:
        raise ValueError(f"unknown scale {scale!r}; choose from {TIERS}")
    known = {f.name for f in fields(config_cls)} - {"scale"}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise TypeError(f"unknown configuration knob(s): {', '.join(unknown)}")
    cfg = replace(config_cls(scale=scale), **presets[scale])
    cfg = replace(cfg, **{k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items() if v is not None})
    check_config(cfg, checks or {})
    return cfg
