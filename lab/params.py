"""Check and convert ``-p NAME VALUE`` overrides against a chapter's declared parameters.

Values are read as Python literals (``3``, ``0.5``, ``[100, 200]``, ``None``, ``True``);
anything that is not a literal is a string. The declared annotation decides what is
accepted: ``int``, ``float`` (an int is accepted), ``bool``, ``str``, ``None`` and
``list[X]`` of those, joined with ``|``.
"""
from __future__ import annotations

import ast

from lab.chapters import TIERS, ChapterError, Parameter

_ATOMS = {"int": int, "float": float, "bool": bool, "str": str, "None": type(None)}


def _matches(value: object, atom: str) -> bool:
    atom = atom.strip()
    if atom.startswith("list[") and atom.endswith("]"):
        return isinstance(value, (list, tuple)) and all(_matches(v, atom[5:-1]) for v in value)
    if atom not in _ATOMS:
        raise ChapterError(f"unsupported parameter annotation {atom!r}")
    if atom == "int":  # bool is a subclass of int; do not let True pass as a count
        return isinstance(value, int) and not isinstance(value, bool)
    if atom == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, _ATOMS[atom])


def convert(param: Parameter, raw: object) -> object:
    """The override ``raw`` as a value of ``param``'s type, or a :class:`ChapterError`."""
    atoms = [a.strip() for a in param.annotation.split("|")]
    value = raw
    if isinstance(raw, str):
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw
        if "str" in atoms and not isinstance(value, str) and not any(
            _matches(value, a) for a in atoms if a != "str"
        ):
            value = raw
    if not any(_matches(value, a) for a in atoms):
        raise ChapterError(
            f"parameter {param.name!r} expects {param.annotation}, got {raw!r} "
            f"({type(value).__name__})"
        )
    if "float" in atoms and "int" not in atoms and isinstance(value, int):
        value = float(value)
    if param.name == "scale" and value not in TIERS:
        raise ChapterError(f"scale must be one of {', '.join(TIERS)}; got {value!r}")
    return value


def resolve_overrides(declared: dict[str, Parameter], overrides: dict[str, object]) -> dict[str, object]:
    """Checked overrides; unknown names raise a :class:`ChapterError` listing the valid ones."""
    unknown = [name for name in overrides if name not in declared]
    if unknown:
        raise ChapterError(
            f"unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
            f"this chapter's parameters: {', '.join(declared)}"
        )
    return {name: convert(declared[name], raw) for name, raw in overrides.items()}
