"""Real data files: read from ``$LAB_DATA_DIR`` when present, else a verified download.

Every file the book reads is listed in :data:`FILES` with its canonical source and sha256
(the table of ``../shared/data/README.md``). :func:`data_file` returns a local path:

1. ``$LAB_DATA_DIR/<relpath>`` when that file exists (CI sets ``LAB_DATA_DIR=../shared/data``);
2. otherwise ``<cache>/data/<relpath>`` from an earlier download;
3. otherwise it downloads the canonical source into the cache and checks the sha256.

A file that is neither present nor downloadable raises :class:`MissingData`, which says where
the loader looked and how to get the file. A file whose hash does not match is never used.
"""
from __future__ import annotations

import hashlib
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from lab.cache import cache_dir

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
    """A data file is not under ``$LAB_DATA_DIR`` and could not be downloaded."""


def sha256(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def data_file(relpath: str, *, download: bool = True) -> Path:
    """Local path of the data file ``relpath`` (a key of :data:`FILES`); see the module doc."""
    if relpath not in FILES:
        raise KeyError(f"unknown data file {relpath!r}; known: {', '.join(sorted(FILES))}")
    spec = FILES[relpath]
    looked = []
    root = os.environ.get("LAB_DATA_DIR")
    if root:
        local = Path(root) / relpath
        if local.is_file():
            return local
        looked.append(str(local))
    cached = cache_dir("data") / relpath
    if cached.is_file() and (spec.sha256 is None or sha256(cached) == spec.sha256):
        return cached
    looked.append(str(cached))
    if download:
        try:
            return _download(spec, cached)
        except (OSError, ValueError) as err:
            reason = f"download from {spec.url} failed: {err}"
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
