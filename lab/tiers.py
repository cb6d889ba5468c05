"""Tier presets for a chapter's configuration: one parameter ``scale`` picks a preset.

Each chapter's ``config.py`` declares a frozen dataclass ``Config`` (its defaults are the
``book`` tier) and a dict of presets per tier; :func:`resolve_config` applies the tier's preset,
then every override that is not ``None`` (the chapter's parameters cell, where ``None`` means
"the tier's preset").
"""
from __future__ import annotations

from dataclasses import fields, replace

TIERS = ("smoke", "book", "full")


def resolve_config(config_cls, presets: dict[str, dict], scale: str, overrides: dict):
    """``config_cls(scale=scale)`` with ``presets[scale]`` and the non-``None`` overrides applied.

    papermill passes sequences as lists; the configuration keeps them as (hashable) tuples.

    Raises
    ------
    ValueError
        If ``scale`` is not one of :data:`TIERS`.
    TypeError
        If an override names no field of ``config_cls``.
    """
    if scale not in TIERS:
        raise ValueError(f"unknown scale {scale!r}; choose from {TIERS}")
    known = {f.name for f in fields(config_cls)} - {"scale"}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise TypeError(f"unknown configuration knob(s): {', '.join(unknown)}")
    cfg = replace(config_cls(scale=scale), **presets[scale])
    return replace(cfg, **{k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items() if v is not None})
