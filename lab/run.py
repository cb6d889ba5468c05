"""The chapter side of a run: started at a chapter's top, finished at its end.

``finish()`` collects the provenance and the exact ``lab run`` command that reproduces the
page and writes them, with the claims and recorded numbers, to ``results.json`` in the run
folder: the folder ``lab run`` or ``lab book`` made (``LAB_RUN_DIR``), or, when a reader
executes the chapter in Jupyter, a new folder ``runs/<chapter>/<UTC time>-<scale>/``.
Displaying the finished :class:`Run` shows the provenance table at the chapter's end.
"""
from __future__ import annotations

import json
import os
import shlex
import time
from datetime import datetime, timezone
from pathlib import Path

from lab import chapters
from lab.claims import Claims
from lab.paths import runs_dir


def utc_stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def new_run_dir(chapter: str, scale: str) -> Path:
    """A fresh ``runs/<chapter>/<UTC time>-<scale>[-k]/``; never an existing folder."""
    base = runs_dir() / chapter
    base.mkdir(parents=True, exist_ok=True)
    stem = f"{utc_stamp()}-{scale}"
    for k in range(1, 1000):
        path = base / (stem if k == 1 else f"{stem}-{k}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"could not make a fresh run folder under {base}")


def jsonable(x):
    """Arrays and numpy scalars as lists and Python numbers, recursively through dicts and lists."""
    if hasattr(x, "tolist"):
        return x.tolist()
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    return x


def reproduce_command(chapter: str, params: dict) -> str:
    """``lab run`` with the scale and every parameter that differs from its declared default."""
    declared = chapters.parameters(chapter)
    cmd = f"lab run {chapter} --scale {params['scale']}"
    for name, value in params.items():
        if name != "scale" and name in declared and value != declared[name].default:
            cmd += f" -p {name} {shlex.quote(value if isinstance(value, str) else json.dumps(value))}"
    return cmd


class Run:
    """Collects a chapter's parameters, claims and metrics, and writes them at the end.

    Parameters
    ----------
    chapter : the chapter's name (``book/<chapter>.md``).
    namespace : the notebook's ``globals()``; the parameters are read from it by the names
        the chapter's parameters cell declares, so the cell stays the single list of knobs.
    """

    def __init__(self, chapter: str, namespace: dict):
        declared = chapters.parameters(chapter)
        self.chapter = chapter
        self.params = {name: namespace[name] for name in declared}
        self.scale = self.params["scale"]
        if self.scale not in chapters.TIERS:
            raise ValueError(f"scale must be one of {chapters.TIERS}, got {self.scale!r}")
        self.claims = Claims(chapter, self.scale)
        from lab import figures

        figures.install()  # every figure the chapter shows: fonts ≥ 9 pt at the page's width
        self.metrics: dict = {}
        self._t0 = time.perf_counter()
        self._cpu0 = time.process_time()
        self.started_utc = datetime.now(timezone.utc).isoformat(timespec="seconds")

    def record(self, **metrics) -> None:
        """Keep numbers (arrays are converted to lists) for ``results.json``."""
        self.metrics.update(jsonable(metrics))

    def glue(self, name: str, value) -> None:
        """Make ``value`` available to the prose as ``{glue:text}`name```, and keep it for results.

        numpy scalars become Python numbers first: myst-nb formats glued numbers from their
        ``repr``, which for ``np.float64`` is not a number.
        """
        value = value.item() if hasattr(value, "item") else value
        self.metrics[name] = value
        try:
            from myst_nb import glue
        except ImportError:  # executing outside the book's environment (a bare GPU machine)
            return
        glue(name, value, display=False)

    def finish(self) -> dict:
        from lab import provenance

        elapsed = time.perf_counter() - self._t0
        prov = provenance.collect(self.chapter, self.scale, self.params, elapsed, self.started_utc,
                                  cpu_time_s=time.process_time() - self._cpu0)
        results = {
            "chapter": self.chapter,
            "title": chapters.title(self.chapter),
            "scale": self.scale,
            "parameters": self.params,
            "claims": self.claims.to_list(),
            "metrics": self.metrics,
            "provenance": prov,
            "reproduce": reproduce_command(self.chapter, self.params),
        }
        run_dir = Path(os.environ["LAB_RUN_DIR"]) if "LAB_RUN_DIR" in os.environ else new_run_dir(self.chapter, self.scale)
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "results.json").write_text(json.dumps(results, indent=1, default=str))
        self.results, self.run_dir = results, run_dir
        return results

    def _repr_html_(self) -> str | None:
        return provenance_html(self.results) if hasattr(self, "results") else None


def provenance_html(results: dict) -> str:
    import html

    prov = results["provenance"]
    rows = [
        ("reproduce", f"<code>{html.escape(results['reproduce'])}</code>"),
        ("commit", prov["commit"]),
        ("device", prov["device"]),
        ("tier", prov["tier"]),
        ("parameters", ", ".join(f"{k}={v!r}" for k, v in prov["parameters"].items())),
        ("versions", ", ".join(f"{m} {prov[m]}" for m in ("python", "torch", "numpy", "scipy", "triton"))),
        ("started (UTC)", prov["started_utc"]),
        ("wall time", f"{prov['wall_time_s']:.1f} s"),
    ]
    body = "".join(f"<tr><th>{k}</th><td>{v if k in ('reproduce',) else html.escape(str(v))}</td></tr>" for k, v in rows)
    return f'<table class="lab-provenance"><tbody>{body}</tbody></table>'
