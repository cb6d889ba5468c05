"""A user cache for trained models and generated data, keyed by a hash of their configuration.

Chapters that train a model call :func:`cached` with the full configuration that determines
the result (seed included); the first call builds and saves it, later calls load it. The cache
lives in ``$LAB_CACHE_DIR`` when set, otherwise ``~/.cache/labbook`` (``$XDG_CACHE_HOME``
respected). Deleting the folder is always safe; ``lab cache`` shows its size per chapter and
clears it (:mod:`lab.cache_cli`). Cache what is expensive to recompute and small to store.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable


def cache_dir(*parts: str) -> Path:
    """The cache folder (created), or a sub-folder of it."""
    root = os.environ.get("LAB_CACHE_DIR")
    if root:
        base = Path(root)
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "labbook"
    path = base.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _canonical(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        obj = dataclasses.asdict(obj)
    if isinstance(obj, dict):
        return {str(k): _canonical(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v) for v in obj]
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    if hasattr(obj, "item") and getattr(obj, "ndim", 1) == 0:  # numpy / torch scalars
        return obj.item()
    raise TypeError(f"cannot hash a configuration holding {type(obj).__name__}: {obj!r}")


def config_hash(config: Any, length: int = 16) -> str:
    """sha256 (first ``length`` hex digits) of a configuration's canonical JSON."""
    text = json.dumps(_canonical(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def cached(kind: str, config: Any, build: Callable[[], Any], *, version: int = 1) -> Any:
    """Load the object ``kind`` built from ``config``, or ``build()`` it and save it.

    ``build`` must return something :func:`torch.save` can store (a state dict, tensors,
    plain containers). Bump ``version`` when the code that builds it changes its result.
    The file is written atomically, so an interrupted build never leaves a corrupt entry.
    """
    import torch  # here, not at the top: `lab data` and `lab cache` need no torch

    key = config_hash({"kind": kind, "version": version, "config": config})
    path = cache_dir(kind) / f"{key}.pt"
    if path.is_file():
        return torch.load(path, map_location="cpu", weights_only=False)
    obj = build()
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    torch.save(obj, tmp)
    tmp.replace(path)
    return obj
