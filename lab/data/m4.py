"""Reading the M4 competition's wide CSV files (one row per series: id, then values).

Rows end in empty cells where a series is shorter than the longest one. Parsing the larger
files takes seconds, so the parsed arrays are kept in :mod:`lab.cache`, keyed by the files'
sha256 (:func:`lab.datafiles.file_hash`), so a changed file is never served from a stale parse.
"""
from __future__ import annotations

import socket
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from lab.cache import cached
from lab.datafiles import FILES, MissingData, data_file, file_hash


def parse_wide_csv(path: Path) -> tuple[list[str], list[np.ndarray]]:
    """``(ids, series)`` from an M4 CSV: header skipped, quotes stripped, trailing blanks dropped."""
    ids, series = [], []
    with open(path, errors="replace") as f:
        if not f.readline():
            raise ValueError(f"{path} is empty: expected a header line, then one row per series")
        for k, line in enumerate(f, start=2):
            cells = line.rstrip("\r\n").replace('"', "").split(",")
            values = [c for c in cells[1:] if c != "" and c != "NA"]
            try:
                series.append(np.array(values, dtype=np.float64))
            except ValueError:
                bad = next(c for c in values if not _is_number(c))
                raise ValueError(f"{path}, line {k} (series {cells[0][:20]!r}): {bad[:20]!r} is not a number; "
                                 "the file is damaged (`lab data --check` compares it with its published sha256)") from None
            ids.append(cells[0])
    return ids, series


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def network_reachable(url: str, timeout: float = 3.0) -> tuple[bool, str]:
    """Whether ``url``'s host accepts a TCP connection within ``timeout`` seconds, and why not.

    Checked (once per host and process) before a download, so that an offline machine fails
    in seconds, not after the download's own one-minute timeout.
    """
    return _host_reachable(urlparse(url).hostname, timeout)


@lru_cache(maxsize=None)
def _host_reachable(host: str, timeout: float) -> tuple[bool, str]:
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True, ""
    except OSError as err:
        return False, f"{host} is not reachable ({err})"


def m4_file(frequency: str, split: str, *, download: bool = True) -> Path:
    """Local path of ``m4/<Frequency>-<split>.csv``; :class:`MissingData` when it cannot be had."""
    relpath = f"m4/{frequency.capitalize()}-{split}.csv"
    try:
        return data_file(relpath, download=False)
    except MissingData as missing:
        if not download:
            raise
        ok, why = network_reachable(FILES[relpath].url)
        if not ok:
            raise MissingData(str(missing).replace("download was not allowed", f"no download tried: {why}")) from None
    return data_file(relpath, download=True)


def load_m4(frequency: str, *, download: bool = True) -> tuple[list[str], list[np.ndarray], list[np.ndarray]]:
    """``(ids, train, test)`` of one M4 frequency, parsed once and cached."""
    paths = {split: m4_file(frequency, split, download=download) for split in ("train", "test")}
    key = {split: file_hash(p) for split, p in paths.items()}

    def build():
        ids, train = parse_wide_csv(paths["train"])
        test_ids, test = parse_wide_csv(paths["test"])
        if ids != test_ids:
            raise ValueError(f"M4 {frequency}: train and test files list different series")
        return {"ids": ids, "train": train, "test": test}

    parsed = cached("m4_parsed", key, build, version=2)
    return parsed["ids"], parsed["train"], parsed["test"]
