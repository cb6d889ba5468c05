"""Real data files: found in one place, verified by sha256 once, recorded in the provenance.

Every file the book reads is listed in :data:`FILES` with its canonical source and sha256
(the table of ``../shared/data/README.md``). :func:`data_file` returns a local path from the
first of these that holds the file:

1. the data folder, :func:`data_root`: ``$LAB_DATA_DIR`` when set, else a ``shared/data``
   folder beside the checkout (``../shared/data``, as CI lays it out), so ``lab`` finds its
   data without the Makefile;
2. ``<cache>/data/<relpath>`` from an earlier download;
3. otherwise it downloads the canonical source into the cache and checks the sha256.

Every file is hashed before its first use and the result remembered by (path, size,
modification time) in ``<cache>/data/verified.json``, so an unchanged file is hashed once; a
file whose sha256 differs from the published one stops the run with :class:`DataMismatch`
(expected and found hashes, and how to fix it). The hash of every file used in a process is in
:data:`USED`, which :func:`lab.provenance.collect` writes to ``provenance.json``.
A file that is neither present nor downloadable raises :class:`MissingData`, which says where
the loader looked and how to get the file. ``lab data`` lists them all (:mod:`lab.datalist`).
"""
from __future__ import annotations

import hashlib
import json
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from lab.cache import cache_dir
from lab.paths import repo_root

_GH = "https://raw.githubusercontent.com"
_M4 = f"{_GH}/Mcompetitions/M4-methods/master/Dataset"


@dataclass(frozen=True)
class DataFile:
    """One real data file: where it comes from and the sha256 it must have (None: unchecked)."""

    url: str
    sha256: str | None
    what: str


FILES: dict[str, DataFile] = {
    "text/tinyshakespeare.txt": DataFile(
        f"{_GH}/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
        "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed", "tinyshakespeare"),
    "text/wikitext-2/valid.txt": DataFile(
        f"{_GH}/pytorch/examples/main/word_language_model/data/wikitext-2/valid.txt",
        "f0737ed31fc1329026e95cb8b98e19c2a182c39c240ab909dc31abf2f8af58e8", "WikiText-2 valid"),
    "text/wikitext-2/test.txt": DataFile(
        f"{_GH}/pytorch/examples/main/word_language_model/data/wikitext-2/test.txt",
        "d790b833ef8cf03a90db7bf1271b7520b83c45ce07ba3c1a9699df81e239eca0", "WikiText-2 test"),
    "models/stories260K.bin": DataFile(
        f"{_GH}/plctlab/rvspoc-s2311-llama2/2fa3f650cf1dc5a21e11c00a9c688be86947b061/stories260K.bin",
        "9414d5a285453a7eab631713d171753232c978f6f97654211469aff8be93c8d6",
        "TinyStories Llama (llama2.c format)"),
    "m4/Hourly-train.csv": DataFile(
        f"{_M4}/Train/Hourly-train.csv",
        "ea59b7783573c49077a835ab6465c7d66f1474783360f310988a9a737fbca62f", "M4 hourly train"),
    "m4/Hourly-test.csv": DataFile(
        f"{_M4}/Test/Hourly-test.csv",
        "71a57fccb15e534d973626ada4fb87febf789e9317715b7cc6dd3b5f90db6f42", "M4 hourly test"),
    "m4/Weekly-train.csv": DataFile(
        f"{_M4}/Train/Weekly-train.csv",
        "d478d3f6ed673e6ed3c2cb0fbed5425f72eedd51318ebebeb0b5ecfcefc37714", "M4 weekly train"),
    "m4/Weekly-test.csv": DataFile(
        f"{_M4}/Test/Weekly-test.csv",
        "3b2bc4be8e636e802260dcd843ca3c5da40536a1fbe1ecb3229a97dae4f44688", "M4 weekly test"),
}
# The larger M4 frequencies are not mirrored in ../shared/data; their hashes are not published
# there, so a download of them is accepted unchecked (and says so in FILES).
for _freq in ("Yearly", "Quarterly", "Monthly", "Daily"):
    for _split, _folder in (("train", "Train"), ("test", "Test")):
        FILES[f"m4/{_freq}-{_split}.csv"] = DataFile(
            f"{_M4}/{_folder}/{_freq}-{_split}.csv", None, f"M4 {_freq.lower()} {_split}")


class MissingData(FileNotFoundError):
    """A data file is not in the data folder nor the cache, and could not be downloaded."""


class DataMismatch(ValueError):
    """A data file's sha256 differs from the published one: it is damaged or another version."""


#: relpath -> sha256 of every data file :func:`data_file` returned in this process.
USED: dict[str, str] = {}


def sha256(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def data_root() -> tuple[Path | None, str]:
    """The data folder and how it was found: ``$LAB_DATA_DIR``, else ``shared/data`` beside the checkout."""
    env = os.environ.get("LAB_DATA_DIR")
    if env:
        return Path(env), "LAB_DATA_DIR"
    beside = repo_root().parent / "shared" / "data"
    if beside.is_dir():
        return beside, "../shared/data beside the checkout"
    return None, "no LAB_DATA_DIR and no ../shared/data beside the checkout"


def _ledger_path() -> Path:
    return cache_dir("data") / "verified.json"


def _ledger() -> dict:
    try:
        return json.loads(_ledger_path().read_text())
    except (OSError, ValueError):
        return {}


def file_hash(path: Path, *, fresh: bool = False) -> str:
    """sha256 of ``path``, hashed once per (path, size, mtime) and remembered in the cache.

    ``fresh`` hashes it again whatever the ledger says (``lab data --check``).
    """
    path = Path(path).resolve()
    st = path.stat()
    stamp = [st.st_size, st.st_mtime_ns]
    ledger = _ledger()
    entry = ledger.get(str(path))
    if not fresh and entry and entry[:2] == stamp:
        return entry[2]
    digest = sha256(path)
    ledger[str(path)] = [*stamp, digest]
    tmp = _ledger_path().with_suffix(f".{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(ledger, indent=0, sort_keys=True))
        tmp.replace(_ledger_path())
    except OSError:  # a read-only cache: the check still happened, it is just not remembered
        pass
    return digest


def verify(relpath: str, path: Path, *, fresh: bool = False) -> str:
    """The sha256 of ``path`` (the file ``relpath``); :class:`DataMismatch` if it is not the published one."""
    spec = FILES[relpath]
    got = file_hash(path, fresh=fresh)
    if spec.sha256 is not None and got != spec.sha256:
        raise DataMismatch(
            f"{spec.what} ({path}) is not the published file: expected sha256 {spec.sha256}, found {got}. "
            f"Replace it with a fresh copy of {spec.url} (or delete it to let lab download it); "
            f"`lab data --check` lists every file's state.")
    return got


def locate(relpath: str) -> tuple[Path | None, str]:
    """Where ``relpath`` is now, without downloading or hashing: ``(path, where)`` or ``(None, why)``."""
    root, how = data_root()
    if root is not None and (root / relpath).is_file():
        return root / relpath, how
    cached = cache_dir("data") / relpath
    if cached.is_file():
        return cached, "the user cache"
    return None, "missing"


def data_file(relpath: str, *, download: bool = True) -> Path:
    """Local, verified path of the data file ``relpath`` (a key of :data:`FILES`); see the module doc."""
    if relpath not in FILES:
        raise KeyError(f"unknown data file {relpath!r}; known: {', '.join(sorted(FILES))}")
    spec = FILES[relpath]
    looked = []
    root, how = data_root()
    if root is not None:
        local = root / relpath
        if local.is_file():
            USED[relpath] = verify(relpath, local)
            return local
        looked.append(f"{local} ({how})")
    else:
        looked.append(how)
    cached = cache_dir("data") / relpath
    if cached.is_file():
        USED[relpath] = verify(relpath, cached)
        return cached
    looked.append(str(cached))
    if download:
        try:
            path = _download(spec, cached)
        except (OSError, ValueError) as err:
            reason = f"download from {spec.url} failed: {err}"
        else:
            USED[relpath] = verify(relpath, path)
            return path
    else:
        reason = "download was not allowed"
    raise MissingData(
        f"{spec.what} ({relpath}) is missing: looked in {', '.join(looked)}; {reason}. "
        f"Set LAB_DATA_DIR to a folder holding {relpath} (CI uses ../shared/data), "
        f"or download {spec.url} to {cached}.")


def _download(spec: DataFile, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_suffix(dest.suffix + ".part")
    with urllib.request.urlopen(spec.url, timeout=60) as response, open(partial, "wb") as out:
        while block := response.read(1 << 20):
            out.write(block)
    got = sha256(partial)
    if spec.sha256 is not None and got != spec.sha256:
        partial.unlink()
        raise ValueError(f"sha256 mismatch: expected {spec.sha256}, got {got}")
    partial.replace(dest)
    return dest
