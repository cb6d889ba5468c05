"""A sweep's folder: ``manifest.json`` and one run folder per combination.

``runs/sweeps/<chapter>/<UTC time>-<scale>/manifest.json`` lists each run's parameters, its
folder and its state (``pending``, ``done``, ``failed``). A run counts as done when its folder
holds ``results.json`` and no ``FAILED`` or ``INTERRUPTED`` marker; resuming runs the others
again, each into a fresh folder, and keeps the finished ones.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from lab.paths import runs_dir
from lab.run import utc_stamp

MANIFEST = "manifest.json"


def create(chapter: str, scale: str, grid: dict, params: list[dict], executor: str) -> Path:
    base = runs_dir() / "sweeps" / chapter
    base.mkdir(parents=True, exist_ok=True)
    stem = f"{utc_stamp()}-{scale}"
    for k in range(1, 1000):
        folder = base / (stem if k == 1 else f"{stem}-{k}")
        try:
            folder.mkdir()
            break
        except FileExistsError:
            continue
    else:
        raise RuntimeError(f"could not make a fresh sweep folder under {base}")
    manifest = {
        "chapter": chapter, "scale": scale, "grid": grid, "executor": executor,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "runs": [{"index": i, "params": p, "dir": None, "state": "pending", "attempts": []}
                 for i, p in enumerate(params)],
    }
    save(folder, manifest)
    return folder


def load(folder: Path) -> dict:
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{folder} is not a sweep folder (no {MANIFEST})")
    return json.loads(path.read_text())


def save(folder: Path, manifest: dict) -> None:
    tmp = Path(folder) / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=1, default=str))
    tmp.replace(Path(folder) / MANIFEST)


def finished(run_dir: str | Path | None) -> bool:
    if not run_dir:
        return False
    d = Path(run_dir)
    return (d / "results.json").is_file() and not (d / "FAILED").exists() and not (d / "INTERRUPTED").exists()


def fresh_run_dir(folder: Path, index: int) -> Path:
    """``run-<index>`` or, for a retry, ``run-<index>-r<k>``; never an existing folder."""
    for k in range(1, 1000):
        path = Path(folder) / (f"run-{index:03d}" if k == 1 else f"run-{index:03d}-r{k}")
        if not path.exists():
            return path
    raise RuntimeError(f"too many attempts at run {index} in {folder}")


def todo(manifest: dict) -> list[dict]:
    """Runs not finished yet (state refreshed from their folders)."""
    for run in manifest["runs"]:
        if finished(run["dir"]):
            run["state"] = "done"
        elif run["state"] == "done":  # its folder was marked FAILED or INTERRUPTED since
            run["state"] = "interrupted"
    return [r for r in manifest["runs"] if r["state"] != "done"]
